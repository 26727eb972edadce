import { candidateDisks, seenDevices, isUsb, mdArraysOn, notEmptyReason, tooSmallReason, walk, type BlockDevice } from './disks.ts';
import type { InstallFacts } from './facts.ts';

/** The seed's four boot commands. */
export const MODES = ['vm-install', 'hw-install', 'hw-m2250-m2600-install', 'hw-m2250-m2600-usb-install'] as const;
export type Mode = (typeof MODES)[number];

/** How a preflight finding weighs: ok, warn (stops unless forced), refuse (never installs). */
export type Level = 'ok' | 'warn' | 'refuse';

/** One preflight finding, shown on the console before anything is written. */
export interface Check {
  /** Short stable name: platform, mode, memory, disk, storage.read… */
  check: string;
  level: Level;
  message: string;
}

/** Where Keel goes. */
export type Target =
  | {
      kind: 'disk';
      disk: BlockDevice;
      /** A hardware RAID virtual drive (the controller mirrors it). */
      hardwareRaid: boolean;
    }
  | {
      kind: 'md';
      level: 'raid1' | 'raid10';
      members: BlockDevice[];
      /** The md device the installer creates (`/dev/md0`); the array is named `keel` for any host. */
      device: string;
    };

/** What the installer will do to the disks. */
export interface InstallPlan {
  mode: Mode;
  target: Target;
  /** md arrays the live system assembled from the target disks (a previous install): stopped before the wipe. */
  release: string[];
  /** Partitions (or disks) of the target that carry md superblocks: zeroed so nothing re-assembles them. */
  staleMembers: string[];
  /** The target holds data that will be erased (allowed by wipe). */
  erases: boolean;
}

export interface PlanOptions {
  /** keel.disk / --disk: the disk to install to (a single disk, never an array). */
  disk?: string;
  /** keel.wipe=yes / --wipe: erase a disk that is not empty. */
  wipe: boolean;
}

export interface PlanResult {
  plan: InstallPlan | null;
  checks: Check[];
}

/** SCSI drivers of hardware RAID controllers whose disks are virtual drives. */
const HW_RAID_DRIVERS: Record<string, string> = {
  megaraid_sas: 'MegaRAID',
  hpsa: 'HPE Smart Array',
  smartpqi: 'Microchip Smart Storage',
  aacraid: 'Adaptec',
  arcmsr: 'Areca',
};

/** The driver of the SCSI host a disk hangs off (from its H:C:T:L), or null (virtio, NVMe). */
export function hostDriver(d: BlockDevice, facts: Pick<InstallFacts, 'scsiHosts'>): string | null {
  const h = d.hctl?.split(':')[0];
  return h === undefined ? null : (facts.scsiHosts[h] ?? null);
}

/**
 * True when a disk is a hardware RAID virtual drive: the RAID CLI names it, or it sits on a RAID
 * controller's logical channel (megaraid_sas puts virtual drives on SCSI channels 2-3 and
 * pass-through JBOD disks on 0-1).
 */
export function isVirtualDrive(d: BlockDevice, facts: Pick<InstallFacts, 'scsiHosts' | 'raidVds'>): boolean {
  if (facts.raidVds.some((v) => v.osDrive === d.path)) return true;
  const drv = hostDriver(d, facts);
  if (!drv || !HW_RAID_DRIVERS[drv]) return false;
  if (drv === 'megaraid_sas') return Number(d.hctl?.split(':')[1]) >= 2;
  return true;
}

const gib = (b: number): string => `${(b / 2 ** 30).toFixed(1)} GiB`;

/** Picks the target disk of a virtual machine, or says why there is none (vm-install's rules). */
export function chooseDisk(devs: BlockDevice[], wanted: string | undefined, wipe: boolean): { disk: BlockDevice; warnings: string[] } | { error: string } {
  const cands = candidateDisks(devs);
  const warnings: string[] = [];
  let disk: BlockDevice | undefined;
  if (wanted) {
    disk = cands.find((d) => d.path === wanted || d.name === wanted.replace(/^\/dev\//, ''));
    if (!disk) return { error: `disk ${wanted} is not an installable disk here (found: ${cands.map((d) => d.path).join(', ') || 'none'})` };
  } else {
    if (cands.length === 0) return { error: `no disk to install to was found (the boot medium is never used); seen: ${seenDevices(devs)}` };
    disk = cands[0];
    if (cands.length > 1) warnings.push(`more than one disk found (${cands.map((d) => d.path).join(', ')}); a virtual Core should have one disk - installing to ${disk.path}, the others are not touched`);
  }
  const small = tooSmallReason(disk);
  if (small) return { error: `disk ${disk.path} is too small: ${small}` };
  const used = notEmptyReason(disk);
  if (used && !wipe) return { error: notEmptyMessage(disk, used) };
  if (used) warnings.push(`disk ${disk.path} is not empty (${used}); erasing it as told (wipe)`);
  return { disk, warnings };
}

function notEmptyMessage(disk: BlockDevice, used: string): string {
  return (
    `disk ${disk.path} is not empty: ${used}.\n` +
    'Keel will not overwrite it without being told to. To erase it, boot again, press "e" on the install entry, add keel.wipe=yes to the linux line, and press Ctrl-X (or run `keel install --wipe`).'
  );
}

/** The first /dev/mdN that nothing on the machine uses. */
function freeMdDevice(devs: BlockDevice[]): string {
  const used = new Set(devs.flatMap(walk).map((d) => d.name));
  let n = 0;
  while (used.has(`md${n}`)) n++;
  return `/dev/md${n}`;
}

/** `k` disks for an array: the first `k` in name order, preferring disks of one size. */
function pickMembers(bare: BlockDevice[], k: number): BlockDevice[] {
  const bySize = new Map<number, BlockDevice[]>();
  for (const d of bare) bySize.set(d.size, [...(bySize.get(d.size) ?? []), d]);
  const same = [...bySize.values()].find((g) => g.length >= k);
  return (same ?? bare).slice(0, k);
}

/**
 * Hardware rules (hw-install, hw-m2250-m2600-install, hw-m2250-m2600-usb-install): a hardware
 * RAID virtual drive when there is one; else two bare disks become Linux md RAID1, four RAID10;
 * one bare disk installs without redundancy (a warning). USB and removable disks are never used.
 */
function chooseHardwareTarget(facts: InstallFacts, opts: PlanOptions, checks: Check[]): Target | null {
  const add = (level: Level, message: string) => checks.push({ check: 'disk', level, message });
  const cands = candidateDisks(facts.devices).filter((d) => !isUsb(d));
  const vd = (d: BlockDevice) => isVirtualDrive(d, facts);
  if (opts.disk) {
    const want = opts.disk;
    const d = cands.find((x) => x.path === want || x.name === want.replace(/^\/dev\//, ''));
    if (!d) {
      add('refuse', `disk ${want} is not an installable disk here (found: ${cands.map((x) => x.path).join(', ') || 'none'}; USB disks are never used)`);
      return null;
    }
    if (vd(d)) return { kind: 'disk', disk: d, hardwareRaid: true };
    add('warn', `installing to the single disk ${d.path} as told (keel.disk): no RAID, so no redundancy`);
    return { kind: 'disk', disk: d, hardwareRaid: false };
  }
  const vds = cands.filter(vd);
  if (vds.length) {
    const d = vds[0];
    const info = facts.raidVds.find((v) => v.osDrive === d.path);
    add('ok', `hardware RAID virtual drive ${d.path}${info ? ` (${info.raid}, VD ${info.id})` : ''}${d.vendor || d.model ? ` on ${[d.vendor, d.model].filter(Boolean).join(' ')}` : ''}, ${gib(d.size)}`);
    if (vds.length > 1) add('warn', `${vds.length} virtual drives found (${vds.map((x) => x.path).join(', ')}); installing to ${d.path}, the others are not touched`);
    if (info && info.state !== 'Optl') add('warn', `virtual drive ${info.id} is not optimal (state ${info.state}): fix the RAID before relying on it`);
    return { kind: 'disk', disk: d, hardwareRaid: true };
  }
  const bare = [...cands].sort((a, b) => a.name.localeCompare(b.name));
  if (bare.length === 0) {
    add('refuse', `no disk to install to was found (the boot medium, the seed medium and USB disks are never used); seen: ${seenDevices(facts.devices)}`);
    return null;
  }
  if (bare.length === 1) {
    add('warn', `one disk (${bare[0].path}) and no hardware RAID: installing without redundancy (the appliance models have mirrored disks)`);
    return { kind: 'disk', disk: bare[0], hardwareRaid: false };
  }
  const level = bare.length >= 4 ? 'raid10' : 'raid1';
  const members = pickMembers(bare, level === 'raid10' ? 4 : 2);
  const rest = bare.filter((d) => !members.includes(d));
  add('ok', `no hardware RAID: Linux md ${level.toUpperCase()} of ${members.map((d) => d.path).join(', ')} (${gib(Math.min(...members.map((d) => d.size)) * (level === 'raid10' ? 2 : 1))} usable)`);
  if (rest.length) add('warn', `${rest.map((d) => d.path).join(', ')} not used (the array takes ${members.length} disks); they are not touched`);
  const sizes = members.map((d) => d.size);
  if (Math.min(...sizes) < Math.max(...sizes) * 0.99) add('warn', `the array's disks differ in size (${members.map((d) => `${d.path} ${gib(d.size)}`).join(', ')}); the array uses the smallest`);
  return { kind: 'md', level, members, device: freeMdDevice(facts.devices) };
}

/** The disks a target writes. */
export function targetDisks(t: Target): BlockDevice[] {
  return t.kind === 'md' ? t.members : [t.disk];
}

/**
 * The install plan of a boot command on a machine (pure): which disk or disks, which layout, what
 * gets erased, and the disk findings (ok / warn / refuse). `plan` is null when a finding refuses.
 */
export function planInstall(mode: Mode, facts: InstallFacts, opts: PlanOptions): PlanResult {
  const checks: Check[] = [];
  let target: Target | null;
  if (mode === 'vm-install') {
    const r = chooseDisk(facts.devices, opts.disk, opts.wipe);
    if ('error' in r) return { plan: null, checks: [{ check: 'disk', level: 'refuse', message: r.error }] };
    checks.push({ check: 'disk', level: 'ok', message: `disk ${r.disk.path}, ${gib(r.disk.size)}` });
    for (const w of r.warnings) if (!/erasing it as told/.test(w)) checks.push({ check: 'disk', level: 'warn', message: w });
    target = { kind: 'disk', disk: r.disk, hardwareRaid: false };
  } else {
    target = chooseHardwareTarget(facts, opts, checks);
    if (!target) return { plan: null, checks };
  }
  let erases = false;
  for (const d of targetDisks(target)) {
    const small = tooSmallReason(d);
    if (small) checks.push({ check: 'disk', level: 'refuse', message: `disk ${d.path} is too small: ${small}` });
    const used = notEmptyReason(d);
    if (used && !opts.wipe) checks.push({ check: 'disk', level: 'refuse', message: notEmptyMessage(d, used) });
    else if (used) {
      erases = true;
      checks.push({ check: 'disk', level: 'ok', message: `disk ${d.path} is not empty (${used}); erasing it as told (wipe)` });
    }
  }
  if (checks.some((c) => c.level === 'refuse')) return { plan: null, checks };
  const release = [...new Set(targetDisks(target).flatMap(mdArraysOn))];
  const staleMembers = [...new Set(targetDisks(target).flatMap(walk).filter((x) => x.fstype === 'linux_raid_member').map((x) => x.path))];
  return { plan: { mode, target, release, staleMembers, erases }, checks };
}

/** One line for the console: where Keel goes. Starts `Installing to <device>` (the e2e test waits for it). */
export function describeTarget(t: Target): string {
  if (t.kind === 'md') return `Installing to ${t.device}: Linux md ${t.level.toUpperCase()} of ${t.members.map((d) => d.path).join(', ')} (${gib(Math.min(...t.members.map((d) => d.size)) * (t.level === 'raid10' ? 2 : 1))}).`;
  return `Installing to ${t.disk.path} (${t.hardwareRaid ? 'hardware RAID virtual drive, ' : ''}${gib(t.disk.size)}).`;
}
