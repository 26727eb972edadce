import { test } from 'vitest';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import { Disks } from '../../appliance/host/disks.ts';
import type { RandomIoRequest } from '../../appliance/host/random-io.ts';
import { summarizeIo, type FioResult } from '../../appliance/health/storage-test.ts';

// The appliance measures storage with its own tester (fio is not in the image); this machine has
// fio, so the two are run on the same file with the same block size, queue depth and O_DIRECT.

const hasFio = spawnSync('fio', ['--version']).status === 0;
const TMPFS = 0x01021994;
const disk = fs.statfsSync('/var/tmp').type !== TMPFS;
const SECONDS = 2;

/** fio on the same file: libaio with iodepth (direct) or psync with O_DSYNC (buffered), one side. */
function fio(file: string, r: Omit<RandomIoRequest, 'file'>): FioResult {
  const engine = r.direct === false ? ['--ioengine=psync', `--numjobs=${r.depth}`, ...(r.mode === 'write' ? ['--sync=dsync'] : [])] : ['--ioengine=libaio', `--iodepth=${r.depth}`];
  const args = [`--name=rand${r.mode}`, `--filename=${file}`, `--rw=rand${r.mode}`, `--size=${r.sizeBytes}`, `--bs=${r.blockSize}`, ...engine, `--direct=${r.direct === false ? 0 : 1}`, `--runtime=${r.seconds}`, '--time_based', '--percentile_list=90', '--randrepeat=0', '--group_reporting', '--output-format=json'];
  const out = execFileSync('fio', args, { encoding: 'utf8' });
  const side = JSON.parse(out.slice(out.indexOf('{'))).jobs[0][r.mode];
  const pct = side.clat_ns.percentile as Record<string, number>;
  return { iops: side.iops, mbps: side.bw_bytes / 1e6, p90Ms: pct[Object.keys(pct).find((k) => Math.abs(Number(k) - 90) < 1e-6)!] / 1e6 };
}

const show = (r: FioResult) => `${r.iops.toFixed(0)} IOPS, ${r.mbps.toFixed(1)} MB/s, p90 ${r.p90Ms!.toFixed(3)} ms`;

test('built-in storage tester vs fio on the same file: IOPS within 0.3x-3x', async (t) => {
  const skipped = !hasFio ? 'fio is not installed on this machine (apt-get install fio)' : !disk ? '/var/tmp is tmpfs: no disk to measure' : false;
  if (skipped) return t.skip(skipped);
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'keel-vsfio-'));
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const file = path.join(dir, 'io.bin');
  const disks = new Disks(createHost('/'));
  const base = { sizeBytes: 64 << 20, blockSize: 4096, depth: 8, seconds: SECONDS };
  const lines: string[] = [];
  for (const direct of [true, false]) {
    for (const mode of ['read', 'write'] as const) {
      // Ours first: it lays the file out with data, and fio then finds it the right size and reuses it.
      const r = await disks.randomIo({ ...base, file, mode, direct });
      assert.equal(r.direct, direct);
      const ours = summarizeIo(r);
      const theirs = fio(file, { ...base, mode, direct });
      const ratio = ours.iops / theirs.iops;
      lines.push(`${direct ? 'O_DIRECT' : 'buffered'} random ${mode} 4 KiB depth 8: ours ${show(ours)} | fio ${show(theirs)} | ratio ${ratio.toFixed(2)}`);
      // Buffered reads come from the page cache for both: only the direct ones and the O_DSYNC writes measure the disk.
      if (direct || mode === 'write') assert.ok(ratio > 0.3 && ratio < 3, lines.at(-1));
    }
  }
  console.log(lines.join('\n'));
});

test('built-in storage tester on a block device: read-only for reads, clamped to the device size, writes land', async (t) => {
  const skipped = process.getuid?.() !== 0 ? 'needs root for losetup' : spawnSync('losetup', ['--version']).status !== 0 ? 'losetup is missing' : !disk ? '/var/tmp is tmpfs' : false;
  if (skipped) return t.skip(skipped);
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'keel-rawio-'));
  const loops: string[] = [];
  t.onTestFinished(() => {
    for (const l of loops) spawnSync('losetup', ['-d', l]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const img = path.join(dir, 'disk.img');
  fs.writeFileSync(img, crypto.randomBytes(32 << 20));
  const attach = (ro: boolean) => {
    const r = spawnSync('losetup', [...(ro ? ['-r'] : []), '-f', '--show', img], { encoding: 'utf8' });
    if (r.status !== 0) return null;
    loops.push(r.stdout.trim());
    return r.stdout.trim();
  };
  const ro = attach(true);
  if (!ro) return t.skip('no loop device could be attached here');
  const disks = new Disks(createHost('/'));
  // 256 MiB asked of a 32 MiB device: offsets stay inside it (a short read would fail the run).
  const io = { raw: true, sizeBytes: 256 << 20, blockSize: 4096, depth: 4, seconds: 1 };
  const read = await disks.randomIo({ ...io, file: ro, mode: 'read' });
  assert.ok(read.ops > 0 && read.direct);
  await assert.rejects(disks.randomIo({ ...io, file: ro, mode: 'write' }), /EROFS|EACCES|EPERM|read-only/i, 'a read-only device refuses the write side');
  await assert.rejects(disks.randomIo({ ...io, file: img, mode: 'read' }), /is not a block device/);
  const rw = attach(false)!;
  const before = crypto.createHash('sha256').update(fs.readFileSync(img)).digest('hex');
  const write = await disks.randomIo({ ...io, file: rw, mode: 'write' });
  assert.ok(write.ops > 0);
  spawnSync('losetup', ['-d', rw]);
  loops.splice(loops.indexOf(rw), 1);
  assert.notEqual(crypto.createHash('sha256').update(fs.readFileSync(img)).digest('hex'), before, 'the writes reached the device');
  assert.equal(fs.statSync(img).size, 32 << 20, 'the device was not grown or laid out');
  console.log(`loop device: read ${show(summarizeIo(read))}; write ${show(summarizeIo(write))}`);
});
