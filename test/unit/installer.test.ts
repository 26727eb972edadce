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

test('md RAID grub.cfg: the try counter from and to /keel/grubenv on the first KEEL-ESP GRUB finds; the single-disk grub.cfg has none of it', () => {
  const md = grubConfig({ md: true });
  const one = grubConfig();
  // The md lines come right after KEEL-BOOT's load_env and before the slot choice uses the counter.
  assert.match(md, /\nload_env\nif \[ "\$\{keel_slot\}" != "b" \]; then set keel_slot=a; fi\n# md RAID[^\n]*\nset keel_esp=\nset keel_env=\nsearch --no-floppy --label --set=keel_esp KEEL-ESP\nif \[ -n "\$\{keel_esp\}" \]; then\n {2}if load_env --file \(\$\{keel_esp\}\)\/keel\/grubenv keel_next keel_tries keel_failed; then set keel_env="\(\$\{keel_esp\}\)\/keel\/grubenv"; fi\nfi\nset keel_boot="\$\{keel_slot\}"\n/);
  assert.match(md, /\n {2}if \[ -n "\$\{keel_env\}" \]; then\n {4}save_env --file "\$\{keel_env\}" keel_next keel_tries keel_failed\n {2}else\n {4}save_env keel_next keel_tries keel_failed\n {2}fi\nfi\n/);
  for (const s of ['keel_esp', 'keel_env', '--file (${keel_esp})', 'KEEL-ESP', 'mdraid1x']) assert.ok(!one.includes(s), `single disk: no ${s}`);
  assert.match(one, /\n {2}save_env keel_next keel_tries keel_failed\nfi\n/);
  // Apart from the md lines, the two are the same file.
  const strip = (c: string) => c.replace(/insmod mdraid1x\n/, '').replace(/# md RAID[\s\S]*?\nfi\n(?=set keel_boot)/, '').replace(/ {2}if \[ -n "\$\{keel_env\}" \]; then\n {4}save_env --file[^\n]*\n {2}else\n {4}(save_env[^\n]*)\n {2}fi\n/, '  $1\n');
  assert.equal(strip(md), one);
});
