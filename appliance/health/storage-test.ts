import path from 'node:path';
import type { Host } from '../host/index.ts';
import { Disks } from '../host/disks.ts';
import type { Finding } from './types.ts';

/** SPEC "Virtual platforms" storage requirements (seed 004 table 19). */
export const STORAGE_THRESHOLDS = {
  read: { minIops: 400, minMBps: 3, p90MaxMs: 10 },
  write: { minIops: 900, minMBps: 15, p90MaxMs: 4 },
} as const;

export interface FioResult {
  iops: number;
  /** MB/s (10^6 bytes). */
  mbps: number;
  p90Ms: number | null;
}

/** Parses `fio --output-format=json` for one job's read or write side (pure). */
export function parseFio(text: string, side: 'read' | 'write'): FioResult {
  // fio may print warnings before the JSON document.
  const j = JSON.parse(text.slice(text.indexOf('{'))) as { jobs: Record<string, any>[] };
  const r = j.jobs[0][side];
  const pct = r.clat_ns?.percentile ?? r.lat_ns?.percentile ?? {};
  const key = Object.keys(pct).find((k) => Math.abs(Number(k) - 90) < 1e-6);
  return { iops: r.iops, mbps: (r.bw_bytes ?? r.bw * 1024) / 1e6, p90Ms: key ? pct[key] / 1e6 : null };
}

export interface StorageTestResult {
  read: FioResult;
  write: FioResult;
  pass: boolean;
  findings: Finding[];
}

/** Compares fio results with the thresholds (pure). */
export function judgeStorage(read: FioResult, write: FioResult): StorageTestResult {
  const findings: Finding[] = [];
  let pass = true;
  for (const [side, r] of [['read', read], ['write', write]] as const) {
    const t = STORAGE_THRESHOLDS[side];
    const fails: string[] = [];
    if (r.iops < t.minIops) fails.push(`${r.iops.toFixed(0)} IOPS < ${t.minIops}`);
    if (r.mbps < t.minMBps) fails.push(`${r.mbps.toFixed(1)} MB/s < ${t.minMBps}`);
    if (r.p90Ms === null || r.p90Ms >= t.p90MaxMs) fails.push(`90% of operations ${r.p90Ms === null ? 'not measured' : `under ${r.p90Ms.toFixed(2)} ms, need < ${t.p90MaxMs} ms`}`);
    if (fails.length) pass = false;
    findings.push({
      key: `storage.random-${side}`,
      category: 'storage',
      severity: fails.length ? 'warning' : 'ok',
      subject: `random ${side}`,
      value: r.iops,
      message: `random ${side}: ${r.iops.toFixed(0)} IOPS, ${r.mbps.toFixed(1)} MB/s, 90% < ${r.p90Ms?.toFixed(2) ?? '?'} ms${fails.length ? ` (below requirement: ${fails.join(', ')})` : ' (meets requirement)'}`,
    });
  }
  return { read, write, pass, findings };
}

export interface StorageTestOptions {
  /** Folder on the disk under test (default /var/lib/keel). */
  dir?: string;
  sizeMB?: number;
  runtimeSeconds?: number;
  blockSize?: string;
  iodepth?: number;
  /** O_DIRECT (default true; tmpfs does not support it). */
  direct?: boolean;
}

/** Runs the on-demand storage test: random read, then random write, with fio; removes its file. */
export async function runStorageTest(host: Host, o: StorageTestOptions = {}): Promise<StorageTestResult> {
  const disks = new Disks(host);
  const file = path.join(o.dir ?? host.files.real('/var/lib/keel'), 'keel-storage-test.fio');
  const runtime = o.runtimeSeconds ?? 10;
  const common = [`--filename=${file}`, `--size=${o.sizeMB ?? 256}M`, `--bs=${o.blockSize ?? '4k'}`, `--iodepth=${o.iodepth ?? 8}`, '--ioengine=libaio', `--direct=${o.direct === false ? 0 : 1}`, `--runtime=${runtime}`, '--time_based', '--percentile_list=90', '--randrepeat=0', '--group_reporting'];
  try {
    const r = await disks.fio(['--name=randread', '--rw=randread', ...common], (runtime + 60) * 1000);
    const w = await disks.fio(['--name=randwrite', '--rw=randwrite', ...common], (runtime + 60) * 1000);
    return judgeStorage(parseFio(r, 'read'), parseFio(w, 'write'));
  } finally {
    host.files.remove(file.startsWith(host.root) && host.root !== '/' ? file.slice(host.root.length) : file);
  }
}
