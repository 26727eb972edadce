import { test } from 'vitest';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import { Disks } from '../../appliance/host/disks.ts';
import { probeMd, mdFindings } from '../../appliance/health/md.ts';
import { runStorageTest } from '../../appliance/health/storage-test.ts';

const mdSupported = fs.existsSync('/proc/mdstat');

test('mdadm RAID1 on loop devices: clean, degraded after --fail, rebuilding/clean after re-add', async (t) => {
  const skipped = mdSupported ? false : 'kernel has no md support here (/proc/mdstat absent); run in a VM (testbench README: RAID)';
  if (skipped) return t.skip(skipped);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-md-'));
  const loops: string[] = [];
  const md = '/dev/md/keeltest';
  const host = createHost('/');
  const disks = new Disks(host);
  t.onTestFinished(async () => {
    await disks.mdadm(['--stop', md], { allowFail: true });
    for (const l of loops) execFileSync('losetup', ['-d', l], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const n of [0, 1]) {
    const img = path.join(dir, `d${n}.img`);
    fs.writeFileSync(img, Buffer.alloc(0));
    fs.truncateSync(img, 64 << 20);
    loops.push(execFileSync('losetup', ['-f', '--show', img]).toString().trim());
  }
  await disks.mdadm(['--create', md, '--run', '--level=1', '--raid-devices=2', '--metadata=1.2', '--assume-clean', ...loops]);
  const kernel = path.basename(fs.realpathSync(md));
  const find = async () => (await probeMd(host)).find((a) => a.name === kernel)!;
  assert.equal((await find()).state, 'clean');
  await disks.mdadm(['--fail', md, loops[1]]);
  const degraded = await find();
  assert.equal(degraded.state, 'degraded');
  assert.equal(mdFindings([degraded])[0].severity, 'warning');
  await disks.mdadm(['--remove', md, loops[1]]);
  await disks.mdadm(['--add', md, loops[1]]);
  const after = await find();
  assert.ok(['rebuilding', 'clean'].includes(after.state), after.state);
  for (let i = 0; i < 100 && (await find()).state !== 'clean'; i++) await new Promise((r) => setTimeout(r, 200));
  assert.equal((await find()).state, 'clean');
});

test('storage test: built-in random read and write on a real file, judged against the thresholds', async (t) => {
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'keel-storage-'));
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const r = await runStorageTest(createHost('/'), { dir, sizeMB: 32, runtimeSeconds: 1 });
  assert.ok(r.read.iops > 0 && r.write.iops > 0);
  assert.ok(r.read.p90Ms !== null && r.write.p90Ms !== null);
  assert.ok(r.read.direct && r.write.direct, 'O_DIRECT on a disk-backed file system');
  assert.equal(r.findings.length, 2);
  assert.equal(r.pass, r.findings.every((f) => f.severity === 'ok'));
  assert.deepEqual(fs.readdirSync(dir), []); // the test file is removed
  console.log(`storage test: read ${r.read.iops.toFixed(0)} IOPS p90 ${r.read.p90Ms!.toFixed(3)} ms; write ${r.write.iops.toFixed(0)} IOPS p90 ${r.write.p90Ms!.toFixed(3)} ms; pass=${r.pass}`);
});
