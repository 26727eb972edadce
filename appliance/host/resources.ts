/**
 * Resource counters straight from procfs (and statfs for file system use): CPU time, load,
 * memory, block device I/O, network traffic and errors. Five small reads, no process started:
 * the resource history samples them every minute (appliance/reporting). The roots come from
 * `procRoot()` / the host, so tests point them at fixture folders.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sysinfo, procRoot } from './sysinfo.ts';

/** Cumulative counters at one instant (rates come from two of them). */
export interface ResourceCounters {
  /** Milliseconds since the epoch. */
  at: number;
  /** /proc/stat `cpu` line, in clock ticks. */
  cpu: { busy: number; iowait: number; total: number };
  cpus: number;
  load: [number, number, number];
  /** Bytes. */
  memory: { total: number; available: number; swapTotal: number; swapFree: number };
  /** Whole block devices (no partitions, loop, ram or device-mapper): bytes read and written, ms spent doing I/O. */
  disks: Record<string, { readBytes: number; writeBytes: number; ioMs: number }>;
  /** Mounted file systems asked for: bytes in all and used. */
  filesystems: Record<string, { size: number; used: number }>;
  /** Kernel interface names (no loopback). */
  interfaces: Record<string, { rxBytes: number; txBytes: number; rxErrors: number; txErrors: number; rxDropped: number; txDropped: number }>;
}

/** Parses the aggregate `cpu` line of /proc/stat (pure). */
export function parseProcStat(text: string): { busy: number; iowait: number; total: number; cpus: number } {
  const lines = text.split('\n');
  const f = (lines.find((l) => l.startsWith('cpu ')) ?? 'cpu').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, iowait, total, cpus: lines.filter((l) => /^cpu\d+ /.test(l)).length || 1 };
}

/** Parses /proc/meminfo into bytes (pure). */
export function parseMeminfo(text: string): ResourceCounters['memory'] {
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) * 1024;
  const total = kb('MemTotal');
  return { total, available: kb('MemAvailable') || kb('MemFree') + kb('Cached'), swapTotal: kb('SwapTotal'), swapFree: kb('SwapFree') };
}

/** Parses /proc/diskstats: whole disks only, 512-byte sectors (pure). */
export function parseDiskstats(text: string): ResourceCounters['disks'] {
  const out: ResourceCounters['disks'] = {};
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const name = f[2];
    // Partitions (sda1, nvme0n1p1, vda2), loop, ram, zram, device-mapper and md are not disks of their own.
    if (/^(loop|ram|zram|dm-|md|sr|fd)/.test(name) || /^(sd|vd|xvd|hd)[a-z]+\d+$/.test(name) || /^(nvme\d+n\d+|mmcblk\d+)p\d+$/.test(name)) continue;
    out[name] = { readBytes: Number(f[5]) * 512, writeBytes: Number(f[9]) * 512, ioMs: Number(f[12]) };
  }
  return out;
}

/** Parses /proc/net/dev (pure); loopback left out. */
export function parseNetDev(text: string): ResourceCounters['interfaces'] {
  const out: ResourceCounters['interfaces'] = {};
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    out[m[1]] = { rxBytes: f[0], rxErrors: f[2], rxDropped: f[3], txBytes: f[8], txErrors: f[10], txDropped: f[11] };
  }
  return out;
}

/** Reads every counter once. `mounts` are real paths (the data partition, the root). */
export function readResourceCounters(mounts: Record<string, string>, procfs = procRoot(), now = Date.now()): ResourceCounters {
  const read = (f: string) => sysinfo.read(path.join(procfs, f)) ?? '';
  const stat = parseProcStat(read('stat'));
  const la = read('loadavg').split(/\s+/).slice(0, 3).map(Number);
  const filesystems: ResourceCounters['filesystems'] = {};
  for (const [name, p] of Object.entries(mounts)) {
    try {
      const s = fs.statfsSync(p);
      filesystems[name] = { size: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize };
    } catch {
      /* not mounted here */
    }
  }
  return {
    at: now,
    cpu: { busy: stat.busy, iowait: stat.iowait, total: stat.total },
    cpus: stat.cpus,
    load: [la[0] || 0, la[1] || 0, la[2] || 0],
    memory: parseMeminfo(read('meminfo')),
    disks: parseDiskstats(read('diskstats')),
    filesystems,
    interfaces: parseNetDev(read('net/dev')),
  };
}

/** Memory of Keel's own services (all of Keel's processes), from their control groups. */
export interface KeelMemory {
  /** Bytes resident per unit (keel-serve.service, keel-console@ttyS0.service, ...). */
  units: Record<string, number>;
  /** Their sum: pages shared by several units (Node's binary) are counted once. */
  totalBytes: number;
}

/** Resident bytes of one control group from its memory.stat (pure): anonymous memory plus mapped files. */
export function parseCgroupResident(stat: string): number {
  const v = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0);
  // Like a process's RSS (anonymous + file pages mapped in), but a file page is charged to one
  // control group only, so shared library and binary pages count once in a sum, not once per process.
  return v('anon') + v('file_mapped') + v('shmem');
}

/**
 * Keel's services as systemd placed them (cgroup v2): every `keel-*.service` under system.slice,
 * also inside template slices (the consoles). Null without a unified hierarchy (a sandbox).
 */
export function readKeelMemory(sysfs = '/sys'): KeelMemory | null {
  const slice = path.join(sysfs, 'fs/cgroup/system.slice');
  if (!sysinfo.exists(path.join(slice, 'cgroup.procs'))) return null;
  const units: Record<string, number> = {};
  const visit = (dir: string, depth: number) => {
    for (const name of sysinfo.list(dir)) {
      if (/^keel-.+\.service$/.test(name)) {
        const stat = sysinfo.read(path.join(dir, name, 'memory.stat'));
        if (stat !== null) units[name] = parseCgroupResident(stat);
      } else if (depth === 0 && /^system-keel.*\.slice$/.test(name)) visit(path.join(dir, name), 1);
    }
  };
  visit(slice, 0);
  return { units, totalBytes: Object.values(units).reduce((a, b) => a + b, 0) };
}
