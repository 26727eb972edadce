// Storage tester vs fio: `sh scripts/with-node.sh node test/bench/storage.ts [DIR] [SECONDS] [DEPTH]`.
// Same file, 4 KiB random read then write, O_DIRECT; prints both (fio's side is skipped when it is missing).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import { Disks } from '../../appliance/host/disks.ts';
import { summarizeIo, type FioResult } from '../../appliance/health/storage-test.ts';

const dir = fs.mkdtempSync(path.join(process.argv[2] ?? '/var/tmp', 'keel-bench-storage-'));
const seconds = Number(process.argv[3] ?? 5);
const depth = Number(process.argv[4] ?? 8);
const file = path.join(dir, 'io.bin');
const io = { file, sizeBytes: 256 << 20, blockSize: 4096, depth, seconds };
const hasFio = spawnSync('fio', ['--version']).status === 0;
const show = (r: FioResult) => `${r.iops.toFixed(0).padStart(7)} IOPS ${r.mbps.toFixed(1).padStart(6)} MB/s  p90 ${r.p90Ms?.toFixed(3)} ms`;

/** fio with libaio at iodepth (what the appliance used to run) or psync with one job per slot (our model). */
function fio(mode: 'read' | 'write', engine: 'libaio' | 'psync'): FioResult {
  const queue = engine === 'libaio' ? ['--ioengine=libaio', `--iodepth=${depth}`] : ['--ioengine=psync', `--numjobs=${depth}`, '--group_reporting'];
  const out = execFileSync('fio', [`--name=rand${mode}`, `--filename=${file}`, `--rw=rand${mode}`, `--size=${io.sizeBytes}`, '--bs=4k', ...queue, '--direct=1', `--runtime=${seconds}`, '--time_based', '--percentile_list=90', '--randrepeat=0', '--output-format=json'], { encoding: 'utf8' });
  const s = JSON.parse(out.slice(out.indexOf('{'))).jobs[0][mode];
  const pct = s.clat_ns.percentile as Record<string, number>;
  return { iops: s.iops, mbps: s.bw_bytes / 1e6, p90Ms: pct[Object.keys(pct).find((k) => Math.abs(Number(k) - 90) < 1e-6)!] / 1e6 };
}

try {
  const disks = new Disks(createHost('/'));
  console.log(`${file}: 4 KiB random, depth ${depth}, ${seconds} s per run, O_DIRECT`);
  for (const mode of ['read', 'write'] as const) {
    const t0 = performance.now();
    const ours = summarizeIo(await disks.randomIo({ ...io, mode }));
    console.log(`${mode.padEnd(5)} keel ${show(ours)}  (${((performance.now() - t0) / 1000).toFixed(1)} s with start-up${mode === 'read' ? ' and layout' : ''})`);
    if (hasFio) for (const e of ['libaio', 'psync'] as const) console.log(`${mode.padEnd(5)} fio  ${show(fio(mode, e))}  (${e === 'libaio' ? `libaio, iodepth ${depth}` : `psync, ${depth} jobs`})`);
  }
  if (!hasFio) console.log('fio is not installed: only our numbers');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
