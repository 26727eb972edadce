import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';
import { Store } from '../../appliance/config/store.ts';
import { CONFIGURED_MARKER } from '../../appliance/wizard/commit.ts';
import { isConfigured } from '../../appliance/wizard/main.ts';
import { parseCmdline, cmdlineAnswers, checkSeedAnswers, checkSeedInstall, readSeedMedium, writeSeedConfig, findSeed, type SeedMedium } from '../../installer/seed.ts';
import { mergeOptions } from '../../installer/main.ts';
import { parseLsblk } from '../../installer/disks.ts';
import { lsblk } from '../fixtures/installer/machines.ts';
import { tempRoot, fakeSysfs } from '../helpers/config.ts';

const GOOD = {
  eula: 'yes', company: 'Example Corp', contact: 'Jane', contactEmail: 'jane@example.com', enableSecret: 'Enable123', adminUser: 'admin', adminPassword: 'Secret123',
  interface: 'a', address: '192.0.2.10', netmask: '255.255.255.0', gateway: '192.0.2.1', hostname: 'core.example.com', nameServers: ['192.0.2.53'], ssh: 'yes', ntp: 'yes', ntpServers: ['pool.example.com'],
};

function setup(t: TestContext) {
  const root = tempRoot('keel-seed-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const sysfs = fakeSysfs(root, 2);
  return { root, sysfs, host: createHost(root, { sysfs }) };
}
const medium = (answers: unknown, extra: Partial<SeedMedium> = {}): SeedMedium => ({ device: '/dev/sr1', answers, install: undefined, unreadable: {}, ...extra });

test('kernel command line: keel.* parameters, quoted values keep spaces, answers by question id', () => {
  const k = parseCmdline('BOOT_IMAGE=/live/vmlinuz boot=live keel.install=hw-install keel.wipe=yes keel.force keel.answer.company="Example Corp" keel.answer.address=192.0.2.20 quiet');
  assert.equal(k.install, 'hw-install');
  assert.equal(k.wipe, 'yes');
  assert.equal(k.force, 'yes');
  assert.deepEqual(cmdlineAnswers(k), { company: 'Example Corp', address: '192.0.2.20' });
});

test('the KEEL-SEED medium is found by label (ISO or disk)', () => {
  assert.equal(findSeed(parseLsblk(lsblk('kvm-seed-disk.json'))), '/dev/sr1');
  assert.equal(findSeed(parseLsblk(lsblk('kvm-one-disk.json'))), null);
});

test('seed answers: the wizard rules, every bad field named with its rule, before anything is written', async (t) => {
  const { host } = setup(t);
  const ok = await checkSeedAnswers(host, medium(GOOD), {});
  assert.ok(ok?.config);
  assert.equal(ok.config.system.hostname, 'core.example.com');
  assert.ok(!JSON.stringify(ok.config).includes('Secret123'), 'secrets are hashed');
  assert.deepEqual(ok.checks.map((c) => c.level), ['ok']);
  assert.match(ok.checks[0].message, /KEEL-SEED \/dev\/sr1: core\.example\.com, GigabitEthernet1 192\.0\.2\.10\/255\.255\.255\.0; the first boot asks nothing/);

  const bad = await checkSeedAnswers(host, medium({ ...GOOD, adminPassword: 'secret', netmask: '255.0.255.0', colour: 'blue' }), {});
  assert.equal(bad?.config, null);
  const msgs = bad!.checks.map((c) => `${c.level} ${c.message}`).join('\n');
  assert.match(msgs, /refuse seed answer colour \(unknown-key\)/);
  assert.match(msgs, /refuse seed answer adminPassword \(password-policy\)/);
  assert.match(msgs, /refuse seed answer netmask \(netmask\)/);
  assert.ok(bad!.checks.every((c) => c.level === 'refuse'));

  const absent = await checkSeedAnswers(host, medium({ ...GOOD, interface: 'b' }), {});
  assert.ok(absent?.config, 'two NICs: b is there');
  const none = await checkSeedAnswers(host, null, {});
  assert.equal(none, null);
});

test('the kernel command line overrides the medium key by key, or seeds alone', async (t) => {
  const { host } = setup(t);
  const r = await checkSeedAnswers(host, medium({ ...GOOD, address: 'nonsense' }), { address: '192.0.2.44', hostname: 'core44.example.com' });
  assert.ok(r?.config, r?.checks.map((c) => c.message).join('\n'));
  assert.equal(r.config.network.interfaces[0].address, '192.0.2.44');
  assert.equal(r.source, 'KEEL-SEED /dev/sr1 + kernel command line');
  const only = await checkSeedAnswers(host, null, Object.fromEntries(Object.entries(GOOD).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v])).valueOf() as Record<string, string>);
  assert.equal(only?.checks.some((c) => c.level === 'refuse'), true, 'list answers must use nameServer1 form on the command line');
  const cl = { ...Object.fromEntries(Object.entries(GOOD).filter(([, v]) => !Array.isArray(v))), nameServer1: '192.0.2.53', ntpServer1: 'pool.example.com' } as Record<string, string>;
  const fromCmdline = await checkSeedAnswers(host, null, cl);
  assert.ok(fromCmdline?.config);
  assert.equal(fromCmdline.source, 'kernel command line');
});

test('a seed that would not be saved, or sets a stale clock, is refused / warned', async (t) => {
  const { host } = setup(t);
  const nosave = await checkSeedAnswers(host, medium({ ...GOOD, reloadSave: 'no' }), {});
  assert.match(nosave!.checks[0].message, /reloadSave \(install-saves\)/);
  const clock = await checkSeedAnswers(host, medium({ ...GOOD, ntp: 'no', ntpServers: undefined, setClock: 'yes', time: '10:00:00', date: '01 02 2027' }), {});
  assert.ok(clock?.config);
  assert.equal(clock.answers?.clock, null);
  assert.match(clock.checks.find((c) => c.level === 'warn')!.message, /clock .* is not applied/);
  const unreadable = await checkSeedAnswers(host, medium(undefined, { unreadable: { 'keel-answers.json': 'Unexpected token' } }), {});
  assert.match(unreadable!.checks[0].message, /keel-answers\.json is not valid JSON/);
});

test('keel-install.json: schema-checked; the kernel command line wins key by key', () => {
  assert.deepEqual(checkSeedInstall({ wipe: true, force: false, disk: '/dev/sda' }), []);
  const p = checkSeedInstall({ wipe: 'yes', mode: 'vm-install' });
  assert.deepEqual(p.map((x) => x.field).sort(), ['keel-install.json/mode', 'keel-install.json/wipe']);
  assert.deepEqual(mergeOptions({ mode: 'hw-install', wipe: undefined, force: true }, { wipe: true, force: false, storageTest: false }), { mode: 'hw-install', disk: undefined, wipe: true, force: true, storageTest: false });
  assert.deepEqual(mergeOptions({ mode: 'vm-install' }, null), { mode: 'vm-install', disk: undefined, wipe: false, force: false, storageTest: true });
});

test('the seed medium is mounted read-only, read and unmounted', async (t) => {
  const { root, host } = setup(t);
  fs.mkdirSync(path.join(root, 'run/keel-seed'), { recursive: true });
  fs.writeFileSync(path.join(root, 'run/keel-seed/keel-answers.json'), JSON.stringify(GOOD));
  fs.writeFileSync(path.join(root, 'run/keel-seed/keel-install.json'), '{"wipe": tru');
  const m = await readSeedMedium(host, '/dev/sr1');
  assert.deepEqual(m.answers, GOOD);
  assert.equal(m.install, undefined);
  assert.match(m.unreadable['keel-install.json'], /JSON/);
  assert.deepEqual((host.proc as SandboxProcesses).recorded, ['mount -o ro /dev/sr1 /run/keel-seed', 'umount /run/keel-seed']);
});

test('install-time write: the same store and commit as the wizard; the first boot asks nothing', async (t) => {
  const { root, sysfs, host } = setup(t);
  const target = path.join(root, 'target');
  const seed = await checkSeedAnswers(host, medium(GOOD), {});
  const rev = await writeSeedConfig(target, seed!, { sysfs });
  assert.ok(rev > 0);
  const installed = createHost(target, { sysfs });
  assert.ok(installed.files.exists(CONFIGURED_MARKER));
  assert.ok(isConfigured(installed));
  const store = Store.open(installed);
  try {
    assert.equal(store.startup()?.config.system.hostname, 'core.example.com');
    assert.equal(store.startup()?.config.ssh.enabled, true);
    assert.ok(store.auditLog().some((a) => a.source === 'installer:seed'));
  } finally {
    store.close();
  }
  // Only var/lib/keel is the data partition; nothing may need to exist elsewhere for the first boot.
  assert.ok(fs.existsSync(path.join(target, 'var/lib/keel/keel.db')));
});
