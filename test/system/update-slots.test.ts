/**
 * Writing a slot the way the appliance does: a fresh ext4 labelled KEEL-B on a block device
 * (a loop device here), mounted, filled, synced, unmounted. Needs root, mkfs.ext4 and losetup.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import { partitionSlots } from '../../appliance/update/slots.ts';
import { verifyBundle } from '../../appliance/update/bundle.ts';
import { tempRoot } from '../helpers/config.ts';
import { formatVerity } from '../../image/verity.ts';
import { makeBundle, fakeSquashfs, TEST_KEY } from '../fixtures/update/make.ts';

function sh(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

test('partition slots: mkfs with the slot label, files and keel-version written, unmounted after', async (t) => {
  const dir = tempRoot('keel-slot-');
  const loops: string[] = [];
  const mnt = path.join(dir, 'mnt');
  const check = path.join(dir, 'check');
  t.onTestFinished(() => {
    for (const m of [mnt, check]) spawnSync('umount', [m]);
    for (const l of loops) spawnSync('losetup', ['-d', l]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const s of ['a', 'b']) {
    const img = path.join(dir, `${s}.img`);
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 64 * 2 ** 20);
    loops.push(sh('losetup', '--find', '--show', img));
  }
  // The running slot A: what live-boot shows under /run/live/medium/live.
  const runningLive = path.join(dir, 'running-live');
  const base = fakeSquashfs(path.join(runningLive, 'base.squashfs'), 100_000, 'base');
  const host = createHost('/');
  const slots = partitionSlots(host, (s) => loops[s === 'a' ? 0 : 1], mnt);
  const cap = await slots.capacity('b');
  assert.ok(cap > 50 * 2 ** 20 && cap < 64 * 2 ** 20, `capacity ${cap}`);
  const b = await makeBundle(dir, { version: '0.2.0', payloadBytes: 5 * 2 ** 20, carry: [{ name: 'base.squashfs', path: base }] });
  const v = await verifyBundle(b.path, [TEST_KEY], { room: cap });
  let last = 0;
  await slots.write('b', v, runningLive, (done) => (last = done));
  assert.equal(last, v.slotBytes);
  assert.ok(!fs.readFileSync('/proc/mounts', 'utf8').includes(mnt), 'unmounted after writing');
  assert.equal(sh('blkid', '-s', 'LABEL', '-o', 'value', loops[1]), 'KEEL-B');
  fs.mkdirSync(check);
  sh('mount', '-o', 'ro', loops[1], check);
  assert.equal(fs.readFileSync(path.join(check, 'live/keel-version'), 'utf8'), '0.2.0\n');
  assert.ok(fs.readFileSync(path.join(check, 'live/keel.squashfs')).equals(fs.readFileSync(path.join(dir, 'keel-0.2.0.squashfs'))));
  assert.ok(fs.readFileSync(path.join(check, 'live/base.squashfs')).equals(fs.readFileSync(base)));
  sh('umount', check);
  // A carried file that differs from the one the bundle was built against is refused.
  fs.appendFileSync(base, 'x');
  await assert.rejects(slots.write('b', v, runningLive), /not the one this bundle was built against/);
  assert.ok(!fs.readFileSync('/proc/mounts', 'utf8').includes(mnt), 'unmounted after a failure too');
});

test('partition slots: a slot written from a verified bundle passes the dm-verity check; one changed byte on the device fails it, named', async (t) => {
  const dir = tempRoot('keel-slot-');
  let loop = '';
  const mnt = path.join(dir, 'mnt');
  t.onTestFinished(() => {
    spawnSync('umount', [mnt]);
    if (loop) spawnSync('losetup', ['-d', loop]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const img = path.join(dir, 'b.img');
  fs.writeFileSync(img, '');
  fs.truncateSync(img, 64 * 2 ** 20);
  loop = sh('losetup', '--find', '--show', img);
  const host = createHost('/');
  const slots = partitionSlots(host, () => loop, mnt);
  const app = fakeSquashfs(path.join(dir, 'keel.squashfs'), 3 * 2 ** 20, 'verified');
  const rootHash = formatVerity(app);
  const b = await makeBundle(dir, { version: '0.2.0', files: [{ name: 'keel.squashfs', path: app }, { name: 'keel.squashfs.verity', path: `${app}.verity` }], verity: [{ file: 'keel.squashfs', rootHash }] });
  await slots.write('b', await verifyBundle(b.path, [TEST_KEY]), dir);
  assert.equal(await slots.verify('b'), null);
  assert.ok(!fs.readFileSync('/proc/mounts', 'utf8').includes(mnt), 'unmounted after the check');
  // Flip one byte of the image where it lies on the device (found by its contents).
  const bytes = fs.readFileSync(app);
  const probe = bytes.subarray(2 ** 20, 2 ** 20 + 64);
  const disk = fs.readFileSync(img);
  const at = disk.indexOf(probe);
  assert.ok(at > 0, 'the image is on the device');
  const fd = fs.openSync(img, 'r+');
  fs.writeSync(fd, Buffer.from([disk[at] ^ 0xff]), 0, 1, at);
  fs.closeSync(fd);
  sh('blockdev', '--flushbufs', loop);
  assert.match((await slots.verify('b')) ?? '', /^keel\.squashfs does not match its signed dm-verity root hash/);
});
