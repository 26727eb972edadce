import path from 'node:path';
import type { Host } from '../host/index.ts';
import { Disks } from '../host/disks.ts';
import type { LatencyBucket, RandomIoResult } from '../host/random-io.ts';
import { ValidationError } from '../errors.ts';
import type { Finding } from './types.ts';

/** SPEC "Virtual platforms" storage requirements (seed 004 table 19). */
export const STORAGE_THRESHOLDS = {
  read: { minIops: 400, minMBps: 3, p90MaxMs: 10 },
  write: { minIops: 900, minMBps: 15, p90MaxMs: 4 },
} as const;

/** One side of the storage test (the name is from when fio measured it). */
export interface FioResult {
  iops: number;
  /** MB/s (10^6 bytes). */
  mbps: number;
  p90Ms: number | null;
  /** False when the file system refused O_DIRECT (tmpfs): buffered, so reads may come from memory. */
  direct?: boolean;
}

/**
 * The p-th percentile (0-100) of a latency histogram in ms: the middle of the bucket where the
 * running count reaches p % of all operations (as fio reports it), or null without samples (pure).
 */
export function percentileMs(latency: LatencyBucket[], p: number): number | null {
  const total = latency.reduce((a, b) => a + b.count, 0);
  if (!total) return null;
  const want = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const b of latency) {
    seen += b.count;
    if (seen >= want) return (b.lowNs + b.highNs) / 2 / 1e6;
  }
  return null;
}

/** IOPS, MB/s and 90th percentile of one random I/O run (pure). */
export function summarizeIo(r: RandomIoResult): FioResult {
  const s = r.elapsedNs / 1e9;
  return { iops: s > 0 ? r.ops / s : 0, mbps: s > 0 ? r.bytes / s / 1e6 : 0, p90Ms: percentileMs(r.latency, 90), direct: r.direct };
}

/** `4k`, `64K`, `1m` or `4096` as bytes (k and m are 1024 and 1024², as fio reads them) (pure). */
export function parseBlockSize(text: string): number {
  const m = /^\s*(\d+)\s*([km]?)i?b?\s*$/i.exec(text);
  const n = m ? Number(m[1]) * (m[2].toLowerCase() === 'k' ? 1024 : m[2].toLowerCase() === 'm' ? 1 << 20 : 1) : NaN;
  if (!Number.isInteger(n) || n < 512 || n % 512) throw new ValidationError([{ field: 'blockSize', rule: 'block-size', message: `blockSize must be a multiple of 512 bytes such as 4k (got ${JSON.stringify(text)})` }]);
  return n;
}

export interface StorageTestResult {
  read: FioResult;
  write: FioResult;
  pass: boolean;
  findings: Finding[];
}

/** Compares both sides with the thresholds (pure). */
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
      message: `random ${side}: ${r.iops.toFixed(0)} IOPS, ${r.mbps.toFixed(1)} MB/s, 90% < ${r.p90Ms?.toFixed(2) ?? '?'} ms${fails.length ? ` (below requirement: ${fails.join(', ')})` : ' (meets requirement)'}${r.direct === false ? `; buffered I/O (the file system refused O_DIRECT${side === 'read' ? ': reads may have come from memory' : ''})` : ''}`,
    });
  }
  return { read, write, pass, findings };
}

export interface StorageTestOptions {
  /** Folder on the disk under test, as a real path (default /var/lib/keel of the host). */
  dir?: string;
  sizeMB?: number;
  runtimeSeconds?: number;
  /** Like fio's --bs: `4k` (default), `64k`, `4096`. */
  blockSize?: string;
  /** Operations in flight (default 8). */
  iodepth?: number;
  /** O_DIRECT (default true); a file system that refuses it (tmpfs) is measured buffered, and the result says so. */
  direct?: boolean;
}

/** Runs the on-demand storage test: random read, then random write, on one file it lays out first and removes after. */
export async function runStorageTest(host: Host, o: StorageTestOptions = {}): Promise<StorageTestResult> {
  const disks = new Disks(host);
  const file = path.join(o.dir ?? host.files.real('/var/lib/keel'), 'keel-storage-test.tmp');
  const io = { file, sizeBytes: (o.sizeMB ?? 256) * 2 ** 20, blockSize: parseBlockSize(o.blockSize ?? '4k'), depth: o.iodepth ?? 8, seconds: o.runtimeSeconds ?? 10, direct: o.direct };
  try {
    const read = summarizeIo(await disks.randomIo({ ...io, mode: 'read' }));
    const write = summarizeIo(await disks.randomIo({ ...io, mode: 'write' }));
    return judgeStorage(read, write);
  } finally {
    host.files.remove(file.startsWith(host.root) && host.root !== '/' ? file.slice(host.root.length) : file);
  }
}
