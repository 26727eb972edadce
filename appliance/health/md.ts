import path from 'node:path';
import type { Host } from '../host/index.ts';
import { Disks } from '../host/disks.ts';
import { procRoot } from '../host/sysinfo.ts';
import type { Finding, Severity } from './types.ts';

/** A Linux software RAID array as /proc/mdstat (and `mdadm --detail`) describe it. */
export interface MdArray {
  /** Kernel name: md0, md127. */
  name: string;
  level: string | null;
  active: boolean;
  readOnly: boolean;
  /** Member devices with their role number and flags. */
  members: { device: string; slot: number; faulty: boolean; spare: boolean; replacement: boolean }[];
  /** Raid devices wanted / working (the `[2/1]` of mdstat). */
  raidDisks: number | null;
  workingDisks: number | null;
  /** `[U_]` */
  map: string | null;
  sizeKiB: number | null;
  /** Running sync action: recovery (rebuild), resync, check, repair, reshape. */
  sync: { action: string; percent: number | null; finishMinutes: number | null; speedKiBs: number | null; pending?: boolean } | null;
  state: 'clean' | 'degraded' | 'rebuilding' | 'resyncing' | 'checking' | 'inactive' | 'failed';
  /** The `State :` line of mdadm --detail, when read. */
  detailState?: string;
}

/** Parses /proc/mdstat (pure). */
export function parseMdstat(text: string): MdArray[] {
  const out: MdArray[] = [];
  let cur: MdArray | null = null;
  for (const line of text.split('\n')) {
    const head = /^(md[\w\d_]+)\s*:\s*(active|inactive)(?:\s+\(([^)]*)\))?\s*(.*)$/.exec(line);
    if (head) {
      const rest = head[4].trim().split(/\s+/).filter(Boolean);
      const level = rest[0] && !/\[/.test(rest[0]) ? rest.shift()! : null;
      const members = rest.map((m) => {
        const mm = /^([^\[]+)\[(\d+)\]((?:\([A-Z]\))*)$/.exec(m);
        return mm
          ? { device: mm[1], slot: Number(mm[2]), faulty: mm[3].includes('(F)'), spare: mm[3].includes('(S)'), replacement: mm[3].includes('(R)') }
          : { device: m, slot: -1, faulty: false, spare: false, replacement: false };
      });
      cur = { name: head[1], level, active: head[2] === 'active', readOnly: /read-only/.test(head[3] ?? ''), members, raidDisks: null, workingDisks: null, map: null, sizeKiB: null, sync: null, state: 'clean' };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    if (/^\s*$/.test(line)) continue;
    const blocks = /^\s+(\d+) blocks/.exec(line);
    if (blocks) cur.sizeKiB = Number(blocks[1]);
    const status = /\[(\d+)\/(\d+)\]\s+\[([U_]+)\]/.exec(line);
    if (status) {
      cur.raidDisks = Number(status[1]);
      cur.workingDisks = Number(status[2]);
      cur.map = status[3];
    }
    const sync = /\b(recovery|resync|check|repair|reshape)\s*=\s*([\d.]+)%.*?(?:finish=([\d.]+)min)?\s*(?:speed=(\d+)K\/sec)?\s*$/.exec(line);
    if (sync) cur.sync = { action: sync[1], percent: Number(sync[2]), finishMinutes: sync[3] ? Number(sync[3]) : null, speedKiBs: sync[4] ? Number(sync[4]) : null };
    const pending = /\b(resync|recovery)\s*=\s*(DELAYED|PENDING)/.exec(line);
    if (pending) cur.sync = { action: pending[1], percent: null, finishMinutes: null, speedKiBs: null, pending: true };
  }
  for (const a of out) a.state = mdState(a);
  return out;
}

function mdState(a: MdArray): MdArray['state'] {
  if (!a.active) return 'inactive';
  if (a.raidDisks !== null && a.workingDisks !== null) {
    if (a.workingDisks === 0) return 'failed';
    // RAID0/linear have no redundancy: a missing member means the array has failed.
    if (a.workingDisks < a.raidDisks && (a.level === 'raid0' || a.level === 'linear')) return 'failed';
    if (a.workingDisks < a.raidDisks) return a.sync?.action === 'recovery' ? 'rebuilding' : 'degraded';
  }
  if (a.sync?.action === 'recovery' || a.sync?.action === 'reshape') return 'rebuilding';
  if (a.sync?.action === 'resync') return 'resyncing';
  if (a.sync?.action === 'check' || a.sync?.action === 'repair') return 'checking';
  return 'clean';
}

/** The fields of `mdadm --detail /dev/mdX` (pure). */
export interface MdDetail {
  state: string | null;
  level: string | null;
  raidDevices: number | null;
  activeDevices: number | null;
  failedDevices: number | null;
  spareDevices: number | null;
  rebuildPercent: number | null;
  resyncPercent: number | null;
  devices: { device: string; raidDevice: number | null; state: string }[];
}

export function parseMdadmDetail(text: string): MdDetail {
  const field = (name: string) => new RegExp(`^\\s*${name}\\s*:\\s*(.*?)\\s*$`, 'm').exec(text)?.[1] ?? null;
  const num = (name: string) => {
    const v = field(name);
    return v === null ? null : Number.parseInt(v, 10);
  };
  const devices: MdDetail['devices'] = [];
  let inTable = false;
  for (const line of text.split('\n')) {
    if (/^\s*Number\s+Major\s+Minor\s+RaidDevice\s+State/.test(line)) {
      inTable = true;
      continue;
    }
    if (!inTable) continue;
    const m = /^\s*(?:\d+|-)\s+\d+\s+\d+\s+(\d+|-)\s+(.*?)\s+(\/dev\/\S+)\s*$/.exec(line);
    if (m) devices.push({ device: m[3], raidDevice: m[1] === '-' ? null : Number(m[1]), state: m[2].replace(/\s+/g, ' ') });
  }
  const pct = (v: string | null) => (v ? Number.parseInt(v, 10) : null);
  return {
    state: field('State'),
    level: field('Raid Level'),
    raidDevices: num('Raid Devices'),
    activeDevices: num('Active Devices'),
    failedDevices: num('Failed Devices'),
    spareDevices: num('Spare Devices'),
    rebuildPercent: pct(field('Rebuild Status')),
    resyncPercent: pct(field('Resync Status')),
    devices,
  };
}

/** Reads /proc/mdstat and, for each array, `mdadm --detail`. No md support: an empty list. */
export async function probeMd(host: Host, opts: { procfs?: string; detail?: boolean } = {}): Promise<MdArray[]> {
  const disks = new Disks(host);
  const text = disks.mdstat(opts.procfs ?? procRoot());
  if (text === null) return [];
  const arrays = parseMdstat(text);
  if (opts.detail !== false && host.proc.live) {
    for (const a of arrays) {
      const d = await disks.mdadmDetail(path.join('/dev', a.name)).catch(() => null);
      if (!d) continue;
      const det = parseMdadmDetail(d);
      a.detailState = det.state ?? undefined;
      // mdstat can lag a freshly failed member by a moment; mdadm asks the kernel directly.
      if (det.state && /degraded/.test(det.state) && a.state === 'clean') a.state = /recovering/.test(det.state) ? 'rebuilding' : 'degraded';
    }
  }
  return arrays;
}

/** Findings per array, key `md.<name>`. */
export function mdFindings(arrays: MdArray[]): Finding[] {
  return arrays.map((a) => {
    const sev: Severity = a.state === 'failed' || a.state === 'inactive' ? 'critical' : a.state === 'degraded' || a.state === 'rebuilding' ? 'warning' : 'ok';
    const failed = a.members.filter((m) => m.faulty).map((m) => m.device);
    let msg = `${a.name} (${a.level ?? 'unknown level'}): ${a.state}`;
    if (a.map) msg += ` [${a.workingDisks}/${a.raidDisks}] [${a.map}]`;
    if (failed.length) msg += `; failed member ${failed.join(', ')}: replace the disk`;
    if (a.sync?.percent !== null && a.sync?.percent !== undefined) msg += `; ${a.sync.action} ${a.sync.percent}%${a.sync.finishMinutes !== null ? `, about ${Math.ceil(a.sync.finishMinutes)} min left` : ''}`;
    return { key: `md.${a.name}`, category: 'raid', severity: sev, subject: a.name, message: msg, redundancyLost: sev === 'warning', value: a.sync?.percent ?? undefined } satisfies Finding;
  });
}
