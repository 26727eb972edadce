import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createHost } from '../../appliance/host/index.ts';
import { checkProfile, classifyPlatform, identifyPlatform, profileFor, sizingFor } from '../../appliance/health/platform.ts';
import { tempRoot } from '../helpers/config.ts';
import { DMI, makeMachine, type MachineSpec } from '../fixtures/health/sysfs.ts';

async function machine(t: TestContext, spec: MachineSpec) {
  const root = tempRoot('keel-health-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const { sysfs, procfs } = makeMachine(root, spec);
  const host = createHost(root, { sysfs });
  return identifyPlatform(host, { procfs });
}
const sev = (fs: { key: string; severity: string }[], key: string) => fs.find((f) => f.key === key)?.severity;

test('M2600 from DMI: six igb NICs, 128 GB; a missing NIC is critical', async (t) => {
  const nics = Array.from({ length: 6 }, () => ({ driver: 'igb' }));
  const { platform, facts } = await machine(t, { dmi: DMI.m2600, nics, memGB: 128, cpus: 56, storage: ['megaraid_sas'], disks: [{ name: 'sda', gb: 1919 }] });
  assert.equal(platform.id, 'M2600');
  assert.equal(platform.kind, 'physical');
  assert.ok(platform.supported);
  assert.match(platform.evidence[0], /Core M2600/);
  const f = checkProfile(platform, profileFor(platform.id), facts);
  assert.equal(sev(f, 'platform.nics'), 'ok');
  assert.equal(sev(f, 'platform.memory'), 'ok');
  assert.equal(sev(f, 'platform.nic-drivers'), 'ok');
  const five = { ...facts, nics: facts.nics.slice(0, 5) };
  assert.equal(sev(checkProfile(platform, profileFor(platform.id), five), 'platform.nics'), 'critical');
});

test('M2250 from the DMI SKU; M2500 recognised and named unsupported; plain Supermicro is unrecognised', async (t) => {
  const m2250 = await machine(t, { dmi: DMI.m2250, nics: [{ driver: 'igb' }, { driver: 'igb' }], memGB: 32, cpus: 8 });
  assert.equal(m2250.platform.id, 'M2250');
  const m2500 = await machine(t, { dmi: DMI.m2500, nics: [{ driver: 'e1000e' }], memGB: 16, cpus: 4 });
  assert.equal(m2500.platform.id, 'M2500');
  assert.equal(m2500.platform.supported, false);
  const f = checkProfile(m2500.platform, profileFor('M2500'), m2500.facts);
  assert.equal(sev(f, 'platform.supported'), 'critical');
  assert.match(f.find((x) => x.key === 'platform.supported')!.message, /M2500 appliance is no longer supported/);
  const other = await machine(t, { dmi: DMI.supermicro, nics: [{ driver: 'igb' }], memGB: 32, cpus: 8 });
  assert.equal(other.platform.id, 'physical-other');
  // The BMC's FRU can name the model when DMI does not.
  assert.equal(classifyPlatform({ ...other.facts, fru: { productName: 'Core M2200' } }).id, 'M2200');
});

test('VMware: paravirtual SCSI is critical, VMXNET3 fine, UEFI and small memory warned against the sizing table', async (t) => {
  const { platform, facts } = await machine(t, { dmi: DMI.vmware, nics: [{ driver: 'vmxnet3' }, { driver: 'e1000e' }], storage: ['vmw_pvscsi'], disks: [{ name: 'sda', gb: 100 }], uefi: true, memGB: 8, cpus: 2, hypervisor: true });
  assert.equal(platform.id, 'vmware');
  const f = checkProfile(platform, profileFor('vmware', 30000), facts);
  assert.equal(sev(f, 'platform.storage-controller.vmw_pvscsi'), 'critical');
  assert.match(f.find((x) => x.key === 'platform.storage-controller.vmw_pvscsi')!.message, /paravirtual SCSI is not supported/);
  assert.equal(sev(f, 'platform.nic-drivers'), 'warning'); // e1000e is not E1000/VMXNET3
  assert.equal(sev(f, 'platform.firmware'), 'warning');
  assert.equal(sev(f, 'platform.memory'), 'warning'); // 30,000 devices want 32 GB
  assert.equal(sev(f, 'platform.cpus'), 'warning'); // and 8 vCPUs
  const ok = checkProfile(platform, profileFor('vmware', 1000), { ...facts, storageDrivers: ['mptsas'], firmware: 'bios', nics: [facts.nics[0]] });
  assert.deepEqual(ok.filter((x) => x.severity !== 'ok').map((x) => x.key), []);
});

test('Hyper-V and KVM: Generation 1 / BIOS, memory floors, all-zero MAC; CPUID alone means some VM', async (t) => {
  const hv = await machine(t, { dmi: DMI.hyperv, nics: [{ driver: 'hv_netvsc', mac: '00:00:00:00:00:00' }], storage: ['ata_piix'], memGB: 2, cpus: 2, hypervisor: true });
  assert.equal(hv.platform.id, 'hyperv');
  const f = checkProfile(hv.platform, profileFor('hyperv'), hv.facts);
  assert.equal(sev(f, 'platform.memory'), 'critical'); // below the 4 GB floor
  assert.equal(sev(f, 'platform.static-mac'), 'warning');
  const kvm = await machine(t, { dmi: DMI.kvm, nics: [{ driver: 'virtio-pci' }], memGB: 8, cpus: 2, hypervisor: true });
  assert.equal(kvm.platform.id, 'kvm');
  assert.equal(sev(checkProfile(kvm.platform, profileFor('kvm'), kvm.facts), 'platform.memory'), 'ok');
  const bare = await machine(t, { dmi: {}, nics: [], memGB: 4, cpus: 1, hypervisor: true });
  assert.equal(bare.platform.id, 'vm-other');
  assert.ok(bare.platform.evidence.includes('CPUID hypervisor bit set'));
});

test('sizing table rows', () => {
  assert.deepEqual([499, 4999, 19999, 49999, 99999, 150000].map((n) => sizingFor(n).memoryGB), [8, 8, 16, 32, 64, 64]);
  assert.deepEqual([499, 4999, 19999, 49999, 99999].map((n) => sizingFor(n).vcpus), [1, 2, 4, 8, 16]);
});
