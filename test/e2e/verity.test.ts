/**
 * Verified system slots under QEMU: the ISO's own kernel and initramfs (the ones every slot boots)
 * with a small /init added that does what live-boot does for a slot image: util-linux mount with
 * verity.hashdevice / verity.roothash (libmount → libcryptsetup → dm-verity), against a squashfs
 * made here. It must read the good image, refuse a wrong root hash, return I/O errors on read of an
 * image with one flipped byte (on the files of that block only), and the initramfs check (scripts/init-bottom/keel-verity) must pass
 * verified mounts and refuse an image mounted without dm-verity. The host kernel here has no
 * device-mapper, so this runs in a guest (about 20 s under TCG).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { formatVerity } from '../../image/verity.ts';
import { TCG_CPU } from './qemu.ts';

const TOP = path.resolve(import.meta.dirname, '../..');
const OUT = path.join(TOP, '.cache/e2e-verity');
const VERSION = (JSON.parse(fs.readFileSync(path.join(TOP, 'package.json'), 'utf8')) as { version: string }).version;
const ISO = path.join(TOP, 'dist', `keel-${VERSION}-amd64.iso`);

function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr?.toString()}`);
  return r.stdout;
}

const INIT = `#!/bin/sh
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mkdir -p /proc /sys /dev /run /tmp /mnt/wrong /mnt/tampered
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
modprobe -a virtio_pci virtio_blk squashfs dm_verity >/dev/null 2>&1
say() { echo "KEELTEST $*"; }
H=$(sed -n 's/.*keeltest.hash=\\([0-9a-f]*\\).*/\\1/p' /proc/cmdline)
W=$(sed -n 's/.*keeltest.wrong=\\([0-9a-f]*\\).*/\\1/p' /proc/cmdline)
B=/run/live/rootfs/base.squashfs
K=/run/live/rootfs/keel.squashfs
mkdir -p $B $K
if mount -t squashfs -o ro,verity.hashdevice=/dev/vdb,verity.roothash=$H /dev/vda $B 2>/tmp/e; then
  if find $B -type f -exec cat {} + >/dev/null 2>/tmp/e; then say good=read-ok files=$(find $B -type f | wc -l); else say good=read-failed $(head -1 /tmp/e); fi
else say good=mount-failed $(head -1 /tmp/e); fi
/scripts/init-bottom/keel-verity check >/tmp/c 2>&1; say check-verified=$? $(cat /tmp/c)
# libmount names a verity device after its root hash and reuses an open one: the good image goes first.
umount $B
dmsetup remove "$H-verity" >/dev/null 2>&1
if mount -t squashfs -o ro,verity.hashdevice=/dev/vdb,verity.roothash=$W /dev/vda /mnt/wrong 2>/tmp/e; then say wrong=mounted; else say wrong=refused $(head -1 /tmp/e); fi
if mount -t squashfs -o ro,verity.hashdevice=/dev/vdb,verity.roothash=$H /dev/vdc /mnt/tampered 2>/tmp/e; then
  n=0
  for f in $(find /mnt/tampered -type f); do cat $f >/dev/null 2>>/tmp/r || n=$((n+1)); done
  say tampered=mounted read-errors=$n $(head -1 /tmp/r)
else say tampered=mount-refused $(head -1 /tmp/e); fi
mount -t squashfs -o ro /dev/vdd $K 2>/tmp/e || say plain=mount-failed $(head -1 /tmp/e)
/scripts/init-bottom/keel-verity check >/tmp/c 2>&1; say check-unverified=$? $(cat /tmp/c)
say done
sync
poweroff -f
`;

test('dm-verity in the Keel initramfs: good image read, wrong root hash refused, flipped byte an I/O error, unverified mount refused', { timeout: 20 * 60_000 }, async () => {
  if (!fs.existsSync(ISO) || process.env.KEEL_E2E_REBUILD) {
    const build = spawnSync(process.execPath, [path.join(TOP, 'image/build.ts')], { stdio: 'inherit' });
    assert.equal(build.status, 0, 'image build failed');
  }
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  // The kernel and initramfs exactly as they ship.
  run('xorriso', ['-osirrox', 'on', '-indev', ISO, '-extract', '/live/vmlinuz', path.join(OUT, 'vmlinuz'), '-extract', '/live/initrd.img', path.join(OUT, 'initrd.img')]);
  // A test image: 200 files of 16 KiB (deterministic bytes), its hash tree, and a copy with one byte flipped mid-image.
  const tree = path.join(OUT, 'tree');
  fs.mkdirSync(tree);
  let block = crypto.createHash('sha256').update('keel-verity').digest();
  for (let i = 0; i < 200; i++) {
    const b = Buffer.alloc(16384);
    for (let at = 0; at < b.length; at += 32) {
      block = crypto.createHash('sha256').update(block).digest();
      block.copy(b, at);
    }
    fs.writeFileSync(path.join(tree, `f${i}`), b);
  }
  const good = path.join(OUT, 'good.squashfs');
  // One block per file (no fragments): the flipped byte spoils exactly one file.
  run('mksquashfs', [tree, good, '-noappend', '-no-progress', '-quiet', '-comp', 'gzip', '-no-fragments']);
  const rootHash = formatVerity(good);
  const tampered = path.join(OUT, 'tampered.squashfs');
  const bytes = fs.readFileSync(good);
  const at = Math.floor(bytes.length / 2);
  bytes[at] ^= 0x01;
  fs.writeFileSync(tampered, bytes);
  const plain = path.join(OUT, 'plain.squashfs');
  fs.copyFileSync(good, plain);
  const wrong = crypto.createHash('sha256').update(rootHash).digest('hex');
  // The Keel initramfs with /init replaced (a second, uncompressed cpio after it; the kernel unpacks both).
  const extra = path.join(OUT, 'extra');
  fs.mkdirSync(extra);
  fs.writeFileSync(path.join(extra, 'init'), INIT, { mode: 0o755 });
  const cpio = run('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: extra, input: Buffer.from('init\n') });
  const base = fs.readFileSync(path.join(OUT, 'initrd.img'));
  const pad = Buffer.alloc((512 - (base.length % 512)) % 512);
  fs.writeFileSync(path.join(OUT, 'test-initrd.img'), Buffer.concat([base, pad, cpio]));

  const serial = path.join(OUT, 'serial.log');
  const drive = (f: string) => ['-drive', `file=${f},format=raw,if=virtio,readonly=on`];
  const t0 = Date.now();
  const child = spawn('qemu-system-x86_64', [
    '-accel', 'tcg', '-machine', 'pc', '-cpu', TCG_CPU, '-smp', '2', '-m', '1024', '-display', 'none', '-no-reboot',
    '-kernel', path.join(OUT, 'vmlinuz'), '-initrd', path.join(OUT, 'test-initrd.img'),
    '-append', `console=ttyS0,115200n8 panic=-1 keeltest.hash=${rootHash} keeltest.wrong=${wrong}`,
    ...drive(good), ...drive(`${good}.verity`), ...drive(tampered), ...drive(plain),
    '-serial', `file:${serial}`, '-net', 'none',
  ], { stdio: 'ignore' });
  const exited = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(false);
    }, 10 * 60_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  const log = fs.readFileSync(serial, 'utf8');
  const lines = log.split('\n').filter((l) => l.startsWith('KEELTEST ')).map((l) => l.slice(9).trim());
  console.log(`verity: guest ran in ${((Date.now() - t0) / 1000).toFixed(1)} s (image ${(bytes.length / 2 ** 20).toFixed(1)} MiB, byte ${at} flipped)\n  ${lines.join('\n  ')}`);
  assert.ok(exited, `the guest did not finish; serial log:\n${log.slice(-3000)}`);
  const said = (k: string) => lines.find((l) => l.startsWith(`${k}=`)) ?? `${k}=(nothing)`;
  assert.match(said('good'), /^good=read-ok files=200$/);
  assert.match(said('check-verified'), /^check-verified=0$/);
  assert.match(said('wrong'), /^wrong=refused/);
  assert.doesNotMatch(said('wrong'), /already mounted|busy/i, 'refused for its root hash, not for the device');
  // The flipped byte is caught when its block is read: the files sharing that 4 KiB block fail (squashfs
  // packs file data without alignment, so one or two), and no other.
  assert.match(said('tampered'), /^tampered=mounted read-errors=[12]\b.*(I\/O error|Input\/output error)/i);
  assert.match(said('check-unverified'), /^check-unverified=1 Keel: the system image keel\.squashfs is not verified/);
  assert.ok(lines.includes('done'));
});
