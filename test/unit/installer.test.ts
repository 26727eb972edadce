import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseLsblk, candidateDisks, partitionPath } from '../../installer/disks.ts';
import { chooseDisk } from '../../installer/main.ts';
import { sfdiskScript, grubConfig, PARTITIONS } from '../../installer/layout.ts';

// Recorded from `lsblk --json --bytes --tree -o NAME,PATH,TYPE,SIZE,RO,RM,TRAN,PTTYPE,FSTYPE,LABEL,MOUNTPOINTS` on a live ISO guest.
const live = (vdaChildren: string) => `{"blockdevices":[
 {"name":"sr0","path":"/dev/sr0","type":"rom","size":160000000,"ro":false,"rm":true,"tran":"ata","pttype":"dos","fstype":"iso9660","label":"KEEL","mountpoints":["/run/live/medium"]},
 {"name":"loop0","path":"/dev/loop0","type":"loop","size":120000000,"ro":true,"rm":false,"tran":null,"pttype":null,"fstype":"squashfs","label":null,"mountpoints":["/run/live/rootfs/base.squashfs"]},
 {"name":"vda","path":"/dev/vda","type":"disk","size":8589934592,"ro":false,"rm":false,"tran":"virtio","pttype":${vdaChildren ? '"gpt"' : 'null'},"fstype":null,"label":null,"mountpoints":[null]${vdaChildren ? `,"children":[${vdaChildren}]` : ''}}
]}`;

test('the boot medium and loop devices are never candidates', () => {
  const devs = parseLsblk(live(''));
  assert.deepEqual(candidateDisks(devs).map((d) => d.path), ['/dev/vda']);
});

test('an empty disk is chosen', () => {
  const r = chooseDisk(parseLsblk(live('')), undefined, false);
  assert.ok('disk' in r && r.disk.path === '/dev/vda' && r.warnings.length === 0);
});

test('a disk with partitions is refused unless told to wipe', () => {
  const parts = '{"name":"vda1","path":"/dev/vda1","type":"part","size":1000,"ro":false,"rm":false,"tran":null,"pttype":"gpt","fstype":"ext4","label":"old","mountpoints":[null]}';
  const r = chooseDisk(parseLsblk(live(parts)), undefined, false);
  assert.ok('error' in r);
  assert.match(r.error, /disk \/dev\/vda is not empty: it has a gpt table with 1 partition \(vda1 ext4 "old"\)/);
  assert.match(r.error, /keel\.wipe=yes/);
  const w = chooseDisk(parseLsblk(live(parts)), undefined, true);
  assert.ok('disk' in w && /erasing it as told/.test(w.warnings[0]));
});

test('a named disk must exist; a small disk is refused', () => {
  const r = chooseDisk(parseLsblk(live('')), '/dev/sdz', false);
  assert.ok('error' in r && /not an installable disk/.test(r.error));
  const small = parseLsblk(live('').replace('8589934592', '2147483648'));
  const s = chooseDisk(small, undefined, false);
  assert.ok('error' in s && /too small/.test(s.error));
});

test('partition layout: bios, ESP, boot, slots A and B, data', () => {
  const script = sfdiskScript();
  assert.match(script, /^label: gpt\n/);
  assert.deepEqual(PARTITIONS.map((p) => p.name), ['bios', 'KEEL-ESP', 'KEEL-BOOT', 'KEEL-A', 'KEEL-B', 'KEEL-DATA']);
  assert.equal(script.trim().split('\n').length, 7);
  assert.match(script.trim().split('\n').at(-1)!, /^type=.*name="KEEL-DATA"$/);
  assert.equal(partitionPath('/dev/vda', 4), '/dev/vda4');
  assert.equal(partitionPath('/dev/nvme0n1', 4), '/dev/nvme0n1p4');
});

test('the installed GRUB picks the slot from grubenv (with the update boot counter) and keeps both consoles', () => {
  const cfg = grubConfig();
  assert.match(cfg, /load_env/);
  assert.match(cfg, /save_env keel_next keel_tries keel_failed/);
  assert.match(cfg, /keel\.slot=\$\{keel_boot\}/);
  assert.match(cfg, /console=tty0 console=ttyS0,115200n8/);
  assert.match(cfg, /terminal_output serial console/);
});
