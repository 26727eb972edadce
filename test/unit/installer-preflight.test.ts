import { test } from 'vitest';
import assert from 'node:assert/strict';
import { planInstall, type Mode } from '../../installer/plan.ts';
import { preflightChecks, decide, storageChecks, storageIo, formatChecks } from '../../installer/preflight.ts';
import { installFacts, SHAPES, type Shape } from '../fixtures/installer/machines.ts';

function pre(mode: Mode, fixture: string, shape: Shape, opts: { wipe?: boolean } = {}) {
  const facts = installFacts(fixture, shape);
  return preflightChecks(mode, facts, planInstall(mode, facts, { wipe: opts.wipe ?? false }));
}
const at = (checks: { check: string; level: string; message: string }[], level: string) => checks.filter((c) => c.level === level);

test('a well-sized KVM guest passes with no warning; its platform, mode, CPU, memory, NICs and firmware are shown', () => {
  const c = pre('vm-install', 'kvm-two-disks.json', { ...SHAPES.kvm, memGB: 8 });
  assert.deepEqual(at(c, 'refuse'), []);
  const names = new Set(c.map((x) => x.check));
  for (const n of ['platform', 'mode', 'cpu', 'memory', 'network', 'firmware', 'disk']) assert.ok(names.has(n), n);
  assert.match(c.find((x) => x.check === 'platform')!.message, /KVM virtual machine/);
  assert.deepEqual(at(c, 'warn').map((x) => x.check), ['disk'], 'only the second disk warns');
});

test('the e2e-sized VM (2 GiB, 8 GiB disk) warns on memory and disk size: stops unless forced', () => {
  const c = pre('vm-install', 'kvm-one-disk.json', SHAPES.kvmSmall);
  assert.deepEqual(at(c, 'refuse'), []);
  assert.deepEqual(at(c, 'warn').map((x) => x.check).sort(), ['disk', 'memory']);
  assert.equal(decide(c, false).install, false);
  assert.equal(decide(c, true).install, true);
});

test('M2500 is refused with a clear message, even forced', () => {
  const c = pre('hw-install', 'm2200-megaraid-vd.json', SHAPES.m2500);
  const r = at(c, 'refuse');
  assert.equal(r.length, 1);
  assert.match(r[0].message, /Core M2500: the M2500 is no longer supported/);
  assert.equal(decide(c, true).install, false);
});

test('the boot command must fit the platform', () => {
  assert.match(at(pre('vm-install', 'm2200-megaraid-vd.json', SHAPES.m2200), 'refuse')[0].message, /vm-install is for virtual machines; this is a Core M2200: use hw-install/);
  assert.match(at(pre('hw-install', 'kvm-one-disk.json', SHAPES.kvm), 'refuse')[0].message, /hw-install is for Core appliances; this is a KVM virtual machine: use vm-install/);
  assert.match(at(pre('hw-m2250-m2600-install', 'm2200-megaraid-vd.json', SHAPES.m2200), 'refuse')[0].message, /for the M2250 and M2600; this is a Core M2200: use hw-install/);
  assert.match(at(pre('hw-install', 'm2600-raid10-vd.json', SHAPES.m2600), 'warn')[0].message, /hw-m2250-m2600-install is the command for this model/);
  assert.deepEqual(at(pre('hw-m2250-m2600-install', 'm2600-raid10-vd.json', SHAPES.m2600), 'refuse'), []);
  assert.deepEqual(at(pre('hw-install', 'm2200-megaraid-vd.json', SHAPES.m2200), 'warn'), []);
});

test('USB install: the stick labelled KEEL is found and never written; a DVD or no stick refuses', () => {
  const ok = pre('hw-m2250-m2600-usb-install', 'm2250-usb-vd.json', SHAPES.m2250);
  assert.match(ok.find((c) => c.check === 'usb')!.message, /USB stick \/dev\/sdb labelled KEEL \(SanDisk Cruzer Blade\); it is never written/);
  assert.deepEqual(at(ok, 'refuse'), []);
  const dvd = pre('hw-m2250-m2600-usb-install', 'm2200-megaraid-vd.json', SHAPES.m2250);
  assert.match(at(dvd, 'refuse')[0].message, /the Keel medium here is \/dev\/sr0 \(a DVD or virtual CD\): use hw-m2250-m2600-install/);
});

test('VMware paravirtual SCSI under the install disk refuses; LSI Logic SAS passes', () => {
  const pv = pre('vm-install', 'vmware-pvscsi.json', SHAPES.vmwarePv);
  const r = at(pv, 'refuse');
  assert.equal(r.length, 1);
  assert.equal(r[0].check, 'controller');
  assert.match(r[0].message, /paravirtual SCSI is not supported.*install disk \/dev\/sda is on it/);
  const lsi = pre('vm-install', 'vmware-lsisas.json', SHAPES.vmware);
  assert.deepEqual(at(lsi, 'refuse'), []);
  assert.equal(lsi.find((c) => c.check === 'controller')?.level, 'ok');
});

test('UEFI is shown, not held against the machine; Hyper-V and the models check their NICs', () => {
  const uefi = pre('vm-install', 'kvm-one-disk.json', { ...SHAPES.kvm, firmware: 'uefi' });
  assert.match(uefi.find((c) => c.check === 'firmware')!.message, /^UEFI boot/);
  assert.equal(uefi.find((c) => c.check === 'firmware')!.level, 'ok');
  const m2600 = pre('hw-m2250-m2600-install', 'm2600-raid10-vd.json', { ...SHAPES.m2600, nics: 4 });
  assert.match(at(m2600, 'warn').map((c) => c.message).join('\n'), /6 network interfaces expected, 4 found/);
  const none = pre('vm-install', 'hyperv-gen1.json', { ...SHAPES.hyperv, nics: 0 });
  assert.match(at(none, 'refuse')[0].message, /no network interface was found/);
});

test('storage test: the built-in tester on the raw device (never laid out, read-only for reads), judged against SPEC thresholds: warns, never refuses', () => {
  const r = storageIo('/dev/sda', 'read');
  assert.deepEqual(r, { file: '/dev/sda', raw: true, mode: 'read', sizeBytes: 256 << 20, blockSize: 4096, depth: 8, seconds: 5, direct: true });
  assert.deepEqual([storageIo('/dev/sda', 'write').mode, storageIo('/dev/sda', 'write', { runtimeSeconds: 2, sizeMB: 64 }).sizeBytes, storageIo('/dev/sda', 'write', { runtimeSeconds: 2 }).seconds], ['write', 64 << 20, 2]);
  const read = { iops: 9000, mbps: 36.9, p90Ms: 0.5 };
  const write = { iops: 12000, mbps: 49.2, p90Ms: 0.4 };
  const good = storageChecks(read, write, '/dev/vda');
  assert.deepEqual(good.map((c) => [c.check, c.level]), [['storage.read', 'ok'], ['storage.write', 'ok']]);
  const slow = storageChecks({ iops: 150, mbps: 0.6, p90Ms: 25 }, { iops: 300, mbps: 1.2, p90Ms: 12 }, '/dev/vda');
  assert.deepEqual(slow.map((c) => c.level), ['warn', 'warn']);
  assert.match(slow[0].message, /\/dev\/vda random read: 150 IOPS.*below requirement: 150 IOPS < 400/);
  assert.match(slow[1].message, /90% of operations under 12\.00 ms, need < 4 ms/);
  assert.equal(storageChecks(read, null, '/dev/vda').length, 1);
});

test('console lines: a tag per level, first line of a message', () => {
  const lines = formatChecks([{ check: 'platform', level: 'ok', message: 'KVM' }, { check: 'memory', level: 'warn', message: 'low' }, { check: 'disk', level: 'refuse', message: 'full\nsecond line' }]);
  assert.deepEqual(lines, ['  [ OK ] platform      KVM', '  [WARN] memory        low', '  [STOP] disk          full']);
});
