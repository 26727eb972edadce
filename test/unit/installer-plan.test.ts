import { test } from 'vitest';
import assert from 'node:assert/strict';
import { planInstall, describeTarget, isVirtualDrive, type Mode } from '../../installer/plan.ts';
import fs from 'node:fs';
import { storageSteps, bootloaderCommands, volumesOf, runStorageSteps } from '../../installer/steps.ts';
import { createHost } from '../../appliance/host/index.ts';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';
import { OperationalError } from '../../appliance/errors.ts';
import { tempRoot } from '../helpers/config.ts';
import { candidateDisks } from '../../installer/disks.ts';
import { MD_PARTITIONS, MEMBER_PARTITIONS, sfdiskScript, grubConfig } from '../../installer/layout.ts';
import { installFacts, SHAPES } from '../fixtures/installer/machines.ts';

const plan = (mode: Mode, fixture: string, shape: keyof typeof SHAPES, opts: { disk?: string; wipe?: boolean } = {}) => planInstall(mode, installFacts(fixture, SHAPES[shape]), { wipe: false, ...opts });
const levels = (r: { checks: { level: string; message: string }[] }, level: string) => r.checks.filter((c) => c.level === level).map((c) => c.message);

test('vm-install: one virtio disk, the DVD and the live squashfs are never candidates', () => {
  const r = plan('vm-install', 'kvm-one-disk.json', 'kvm');
  assert.ok(r.plan);
  assert.equal(r.plan.target.kind, 'disk');
  assert.equal(describeTarget(r.plan.target), 'Installing to /dev/vda (8.0 GiB).');
  assert.deepEqual(levels(r, 'warn'), []);
});

test('vm-install: two disks warn and install to the first; keel.disk picks the other', () => {
  const r = plan('vm-install', 'kvm-two-disks.json', 'kvm');
  assert.ok(r.plan && r.plan.target.kind === 'disk' && r.plan.target.disk.path === '/dev/vda');
  assert.match(levels(r, 'warn')[0], /more than one disk found \(\/dev\/vda, \/dev\/vdb\); a virtual Core should have one disk/);
  const b = plan('vm-install', 'kvm-two-disks.json', 'kvm', { disk: '/dev/vdb' });
  assert.ok(b.plan && b.plan.target.kind === 'disk' && b.plan.target.disk.path === '/dev/vdb');
  assert.deepEqual(levels(b, 'warn'), []);
});

test('a KEEL-SEED ISO or disk is never a target', () => {
  const facts = installFacts('kvm-seed-disk.json', SHAPES.kvm);
  assert.deepEqual(candidateDisks(facts.devices).map((d) => d.path), ['/dev/vda']);
});

test('VMware (LSI Logic SAS), Hyper-V: the one disk', () => {
  for (const [fixture, shape] of [['vmware-lsisas.json', 'vmware'], ['hyperv-gen1.json', 'hyperv']] as const) {
    const r = plan('vm-install', fixture, shape);
    assert.ok(r.plan && r.plan.target.kind === 'disk' && r.plan.target.disk.path === '/dev/sda', fixture);
  }
});

test('M2200: the MegaRAID virtual drive (logical channel 2) is the target; the DVD is not', () => {
  const facts = installFacts('m2200-megaraid-vd.json', SHAPES.m2200);
  assert.ok(isVirtualDrive(facts.devices[0], facts));
  const r = planInstall('hw-install', facts, { wipe: false });
  assert.ok(r.plan && r.plan.target.kind === 'disk' && r.plan.target.hardwareRaid);
  assert.equal(describeTarget(r.plan.target), 'Installing to /dev/sda (hardware RAID virtual drive, 558.4 GiB).');
  assert.match(levels(r, 'ok').join('\n'), /hardware RAID virtual drive \/dev\/sda on AVAGO MR9361-8i/);
  const steps = storageSteps(r.plan);
  assert.deepEqual(steps.map((s) => s.name), ['wipe', 'partition', 'filesystems']);
});

test('the RAID CLI naming a virtual drive (and its state) is used when present', () => {
  const facts = installFacts('m2200-megaraid-vd.json', { ...SHAPES.m2200, scsiHosts: {}, raidVds: [{ id: '0/0', raid: 'RAID1', state: 'Dgrd', osDrive: '/dev/sda' }] });
  const r = planInstall('hw-install', facts, { wipe: false });
  assert.ok(r.plan && r.plan.target.kind === 'disk' && r.plan.target.hardwareRaid);
  assert.match(levels(r, 'warn').join('\n'), /virtual drive 0\/0 is not optimal \(state Dgrd\)/);
});

test('M2250 from a USB stick with a virtual drive: the stick is never a target', () => {
  const r = plan('hw-m2250-m2600-usb-install', 'm2250-usb-vd.json', 'm2250');
  assert.ok(r.plan && r.plan.target.kind === 'disk' && r.plan.target.disk.path === '/dev/sda' && r.plan.target.hardwareRaid);
});

test('M2250 with two bare disks: md RAID1 over both, GRUB on both, the GPT layout inside the array', () => {
  const r = plan('hw-m2250-m2600-install', 'm2250-two-bare.json', 'm2250Hba');
  assert.ok(r.plan && r.plan.target.kind === 'md');
  const t = r.plan.target;
  assert.equal(t.level, 'raid1');
  assert.deepEqual(t.members.map((d) => d.path), ['/dev/sda', '/dev/sdb']);
  assert.equal(t.device, '/dev/md0');
  assert.match(describeTarget(t), /^Installing to \/dev\/md0: Linux md RAID1 of \/dev\/sda, \/dev\/sdb/);
  const steps = storageSteps(r.plan);
  assert.deepEqual(steps.map((s) => s.name), ['wipe', 'partition', 'raid', 'filesystems']);
  const raid = steps[2].commands.find((c) => c.cmd === 'mdadm')!;
  assert.deepEqual(raid.args, ['--create', '/dev/md0', '--run', '--metadata=1.2', '--level=1', '--raid-devices=2', '--name=keel', '--homehost=any', '--bitmap=internal', '/dev/sda3', '/dev/sdb3']);
  assert.equal(steps[1].commands.filter((c) => c.cmd === 'sfdisk').length, 2);
  assert.equal(steps[1].commands[0].input, sfdiskScript(MEMBER_PARTITIONS));
  assert.equal(steps[2].commands.find((c) => c.cmd === 'sfdisk')!.input, sfdiskScript(MD_PARTITIONS));
  const v = volumesOf(t);
  assert.deepEqual(v, { boot: '/dev/md0p1', slotA: '/dev/md0p2', slotB: '/dev/md0p3', data: '/dev/md0p4', esps: ['/dev/sda2', '/dev/sdb2'], biosDisks: ['/dev/sda', '/dev/sdb'] });
  const mkfs = steps[3].commands.map((c) => `${c.cmd} ${c.args.at(-1)}`);
  assert.deepEqual(mkfs, ['mkfs.vfat /dev/sda2', 'mkfs.vfat /dev/sdb2', 'mkfs.ext4 /dev/md0p1', 'mkfs.ext4 /dev/md0p2', 'mkfs.ext4 /dev/md0p3', 'mkfs.ext4 /dev/md0p4']);
  const grub = bootloaderCommands(t, '/mnt').filter((c) => c.cmd === 'grub-install').map((c) => c.args.join(' '));
  assert.deepEqual(grub, [
    '--target=i386-pc --boot-directory=/mnt/boot /dev/sda',
    '--target=i386-pc --boot-directory=/mnt/boot /dev/sdb',
    '--target=x86_64-efi --efi-directory=/mnt/efi --boot-directory=/mnt/boot --removable --no-nvram',
    '--target=x86_64-efi --efi-directory=/mnt/efi --boot-directory=/mnt/boot --removable --no-nvram',
  ]);
  assert.match(grubConfig({ md: true }), /insmod mdraid1x/);
  assert.doesNotMatch(grubConfig(), /mdraid/);
});

test('md RAID: every member ESP gets the try counter block (/keel/grubenv, empty counter) while it is mounted; a single disk gets none', () => {
  const md = plan('hw-m2250-m2600-install', 'm2250-two-bare.json', 'm2250Hba').plan!.target;
  const lines = bootloaderCommands(md, '/mnt').map((c) => `${c.cmd} ${c.args.join(' ')}`);
  const perEsp = (dev: string) => [
    `mount -t vfat ${dev} /mnt/efi`,
    'grub-install --target=x86_64-efi --efi-directory=/mnt/efi --boot-directory=/mnt/boot --removable --no-nvram',
    'mkdir -p /mnt/efi/keel',
    'grub-editenv /mnt/efi/keel/grubenv create',
    'grub-editenv /mnt/efi/keel/grubenv set keel_next= keel_tries= keel_failed=',
    'umount /mnt/efi',
  ];
  assert.deepEqual(lines, ['grub-install --target=i386-pc --boot-directory=/mnt/boot /dev/sda', 'grub-install --target=i386-pc --boot-directory=/mnt/boot /dev/sdb', ...perEsp('/dev/sda2'), ...perEsp('/dev/sdb2')]);
  const one = plan('vm-install', 'kvm-one-disk.json', 'kvm').plan!.target;
  assert.deepEqual(bootloaderCommands(one, '/mnt').map((c) => `${c.cmd} ${c.args.join(' ')}`), [
    'grub-install --target=i386-pc --boot-directory=/mnt/boot /dev/vda',
    'mount -t vfat /dev/vda2 /mnt/efi',
    'grub-install --target=x86_64-efi --efi-directory=/mnt/efi --boot-directory=/mnt/boot --removable --no-nvram',
    'umount /mnt/efi',
  ]);
});

test('a MegaRAID presenting its disks as JBOD (physical channel) is not hardware RAID: md RAID1', () => {
  const r = plan('hw-m2250-m2600-install', 'm2250-jbod.json', 'm2250');
  assert.ok(r.plan && r.plan.target.kind === 'md' && r.plan.target.level === 'raid1');
});

test('M2600 with four bare SSDs: md RAID10 of four; with the RAID10 virtual drive: the drive', () => {
  const r = plan('hw-m2250-m2600-usb-install', 'm2600-four-bare.json', 'm2600Hba');
  assert.ok(r.plan && r.plan.target.kind === 'md');
  assert.equal(r.plan.target.level, 'raid10');
  assert.deepEqual(r.plan.target.members.map((d) => d.path), ['/dev/sda', '/dev/sdb', '/dev/sdc', '/dev/sdd']);
  assert.match(storageSteps(r.plan)[2].commands.find((c) => c.cmd === 'mdadm')!.args.join(' '), /--level=10 --raid-devices=4/);
  assert.equal(volumesOf(r.plan.target).biosDisks.length, 4);
  const vd = plan('hw-m2250-m2600-usb-install', 'm2600-raid10-vd.json', 'm2600');
  assert.ok(vd.plan && vd.plan.target.kind === 'disk' && vd.plan.target.hardwareRaid);
});

test('a previous md install: refused without wipe (naming the disk), with wipe the old array is stopped and its superblocks zeroed', () => {
  const r = plan('hw-m2250-m2600-install', 'm2250-md-reinstall.json', 'm2250Hba');
  assert.equal(r.plan, null);
  assert.match(levels(r, 'refuse')[0], /^disk \/dev\/sda is not empty: it has a gpt table with 3 partitions/);
  const w = plan('hw-m2250-m2600-install', 'm2250-md-reinstall.json', 'm2250Hba', { wipe: true });
  assert.ok(w.plan && w.plan.target.kind === 'md');
  assert.deepEqual(w.plan.release, ['/dev/md127']);
  assert.equal(w.plan.target.device, '/dev/md0');
  const wipe = storageSteps(w.plan)[0].commands.map((c) => [c.cmd, ...c.args].join(' '));
  assert.deepEqual(wipe, ['mdadm --stop /dev/md127', 'mdadm --zero-superblock --force /dev/sda3', 'mdadm --zero-superblock --force /dev/sdb3', 'wipefs --all --force /dev/sda', 'wipefs --all --force /dev/sdb']);
});

test('a virtual drive holding Keel is refused with the e2e wording unless wiped', () => {
  const r = plan('hw-install', 'm2200-megaraid-reinstall.json', 'm2200');
  assert.match(levels(r, 'refuse')[0], /^disk \/dev\/sda is not empty: it has a gpt table with 6 partitions \(sda1, sda2 vfat "KEEL-ESP"/);
  assert.match(levels(r, 'refuse')[0], /keel\.wipe=yes/);
  assert.ok(plan('hw-install', 'm2200-megaraid-reinstall.json', 'm2200', { wipe: true }).plan);
});

test('hardware modes never use USB disks; keel.disk must name an installable disk', () => {
  const r = plan('hw-m2250-m2600-install', 'm2250-two-bare.json', 'm2250Hba', { disk: '/dev/sdc' });
  assert.equal(r.plan, null);
  assert.match(levels(r, 'refuse')[0], /disk \/dev\/sdc is not an installable disk here \(found: \/dev\/sda, \/dev\/sdb; USB disks are never used\)/);
  const one = plan('hw-m2250-m2600-install', 'm2250-two-bare.json', 'm2250Hba', { disk: '/dev/sdb' });
  assert.ok(one.plan && one.plan.target.kind === 'disk' && one.plan.target.disk.path === '/dev/sdb');
  assert.match(levels(one, 'warn')[0], /no RAID, so no redundancy/);
});

test('a failing command stops the steps and names its step (sandbox processes)', async (t) => {
  const root = tempRoot('keel-inst-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const proc = host.proc as SandboxProcesses;
  proc.failures.set('mdadm --create', { code: 1, stdout: '', stderr: 'mdadm: cannot open /dev/sdb3: Device or resource busy' });
  const r = plan('hw-m2250-m2600-install', 'm2250-two-bare.json', 'm2250Hba');
  let step = '';
  const err = await runStorageSteps(host, r.plan!, async (name, fn) => {
    step = name;
    await fn();
  }).catch((e: unknown) => e);
  assert.ok(err instanceof OperationalError);
  assert.equal(step, 'raid');
  assert.match(err.message, /mdadm --create \/dev\/md0 .*exited 1: mdadm: cannot open \/dev\/sdb3/);
  assert.ok(!proc.recorded.some((l) => l.startsWith('mkfs')), 'no file system after a failed step');
});

test('no disk: the refusal says what was seen and why each device is not a target', () => {
  const facts = installFacts('kvm-seed-disk.json', SHAPES.kvm);
  facts.devices = facts.devices.filter((d) => d.path !== '/dev/vda');
  const r = planInstall('vm-install', facts, { wipe: false });
  assert.equal(r.plan, null);
  const refusal = levels(r, 'refuse').join('\n');
  assert.match(refusal, /no disk to install to was found .*; seen: /);
  assert.match(refusal, /sr0: the boot medium/);
  assert.match(refusal, /: the seed medium/);
});
