import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import { SandboxProcesses } from '../../appliance/host/processes.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig, applyAtBoot, plan, renderAll } from '../../appliance/config/apply.ts';
import { listNics } from '../../appliance/network/nics.ts';
import { OperationalError, ValidationError } from '../../appliance/errors.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';

function setup(t: TestContext, nics = 2) {
  const root = tempRoot();
  const host = createHost(root, { sysfs: fakeSysfs(root, nics) });
  const store = Store.open(host);
  t.onTestFinished(() => {
    store.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return { root, host, store, proc: host.proc as SandboxProcesses };
}
const actor = { who: 'admin', source: 'test' };

test('NICs are named GigabitEthernetN in PCI order', (t) => {
  const { host } = setup(t, 3);
  const nics = listNics(host);
  assert.deepEqual(nics.map((n) => [n.name, n.pci, n.ifname]), [
    ['GigabitEthernet1', '0000:00:03.0', 'ens3'],
    ['GigabitEthernet2', '0000:00:04.0', 'ens4'],
    ['GigabitEthernet3', '0000:00:05.0', 'ens5'],
  ]);
});

test('apply renders every file under the sandbox root and records reloads', async (t) => {
  const { root, host, store, proc } = setup(t);
  const r = await applyConfig(host, store, sampleConfig(), actor, 'initial');
  assert.equal(r.revision, 1);
  const read = (p: string) => fs.readFileSync(path.join(root, p), 'utf8');
  assert.equal(read('/etc/hostname'), 'core.example.com\n');
  assert.match(read('/etc/hosts'), /192\.0\.2\.10\tcore\.example\.com core/);
  const net = read('/etc/systemd/network/10-keel-GigabitEthernet1.network');
  assert.match(net, /Path=pci-0000:00:03\.0/);
  assert.match(net, /Address=192\.0\.2\.10\/24/);
  assert.match(net, /Gateway=192\.0\.2\.1/);
  assert.match(read('/etc/resolv.conf'), /nameserver 192\.0\.2\.53/);
  assert.match(read('/etc/resolv.conf'), /search example\.com/);
  assert.match(read('/etc/chrony/chrony.conf'), /server 192\.0\.2\.123 iburst/);
  const nft = read('/etc/nftables.conf');
  assert.match(nft, /policy drop/);
  assert.match(nft, /tcp dport 8443/);
  assert.doesNotMatch(nft, /dport 22 /);
  assert.equal(fs.readlinkSync(path.join(root, '/etc/localtime')), '/usr/share/zoneinfo/UTC');
  assert.ok(proc.recorded.includes('nft -c -f /etc/nftables.conf.keel-check'));
  assert.ok(proc.recorded.includes('nft -f /etc/nftables.conf'));
  assert.ok(proc.recorded.includes('networkctl reload'));
  assert.ok(!proc.recorded.some((l) => l.includes('keel-serve')), 'an SSH change never restarts System Manager');
  assert.match(fs.readFileSync(path.join(root, 'var/log/keel/commands.log'), 'utf8'), /hostname core\.example\.com/);
  assert.equal(store.running()!.revision, 1);
  assert.equal(store.startup(), null, 'apply changes only the running configuration');
});

test('only units whose files changed reload', async (t) => {
  const { host, store, proc } = setup(t);
  await applyConfig(host, store, sampleConfig(), actor, 'initial');
  proc.recorded.length = 0;
  const next = sampleConfig({ ssh: { enabled: true, port: 22 } });
  const p = await plan(host, store, next);
  assert.deepEqual(p.units.sort(), ['firewall', 'ssh']);
  assert.match(p.diff, /-no ip ssh server\n\+ip ssh server port 22/);
  const r = await applyConfig(host, store, next, actor, 'ssh on');
  assert.deepEqual(r.units.sort(), ['firewall', 'ssh']);
  assert.ok(!proc.recorded.includes('networkctl reload'));
  assert.match(fs.readFileSync(host.files.real('/etc/nftables.conf'), 'utf8'), /tcp dport 22 ct state new accept/);
  const revs = store.revisions();
  assert.equal(revs[0].id, 2);
  assert.equal(revs[0].source, 'test');
  assert.match(revs[0].diff, /\+ip ssh server port 22/);
  assert.doesNotMatch(revs[0].diff, /\$scrypt\$/);
});

test('a failed reload restores every file and keeps the previous running configuration', async (t) => {
  const { root, host, store, proc } = setup(t);
  await applyConfig(host, store, sampleConfig(), actor, 'initial');
  const before = fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8');
  const beforeNet = fs.readFileSync(path.join(root, 'etc/systemd/network/10-keel-GigabitEthernet1.network'), 'utf8');
  proc.failures.set('networkctl reload', { code: 1, stdout: '', stderr: 'Failed to reload network settings' });
  const next = sampleConfig();
  next.system.hostname = 'other.example.com';
  next.network.interfaces[0].address = '192.0.2.20';
  await assert.rejects(applyConfig(host, store, next, actor, 'break'), (e: unknown) => e instanceof OperationalError && e.exitCode === 1 && /Failed to reload/.test(e.stderr));
  assert.equal(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8'), before);
  assert.equal(fs.readFileSync(path.join(root, 'etc/systemd/network/10-keel-GigabitEthernet1.network'), 'utf8'), beforeNet);
  assert.equal(store.running()!.revision, 1);
  assert.equal(store.running()!.config.system.hostname, 'core.example.com');
  // the previously reloaded unit (hostname) was reloaded again with the old value
  assert.ok(proc.recorded.filter((l) => l === 'hostname core.example.com').length >= 2);
  assert.match(store.auditLog()[0].outcome, /failed, previous configuration kept/);
});

test('a firewall ruleset that fails its check is never written', async (t) => {
  const { root, host, store, proc } = setup(t);
  await applyConfig(host, store, sampleConfig(), actor, 'initial');
  const before = fs.readFileSync(path.join(root, 'etc/nftables.conf'), 'utf8');
  proc.failures.set('nft -c', { code: 1, stdout: '', stderr: 'syntax error' });
  await assert.rejects(applyConfig(host, store, sampleConfig({ ssh: { enabled: true, port: 2222 } }), actor, 'ssh'), OperationalError);
  assert.equal(fs.readFileSync(path.join(root, 'etc/nftables.conf'), 'utf8'), before);
  assert.ok(!fs.existsSync(path.join(root, 'etc/nftables.conf.keel-check')));
});

test('invalid configurations are refused before anything is written', async (t) => {
  const { root, host, store } = setup(t);
  const bad = sampleConfig();
  bad.network.gateway = '10.0.0.1';
  await assert.rejects(applyConfig(host, store, bad, actor, 'bad'), ValidationError);
  assert.ok(!fs.existsSync(path.join(root, 'etc/hostname')));
});

test('an unchanged apply writes nothing and reloads nothing', async (t) => {
  const { host, store, proc } = setup(t);
  await applyConfig(host, store, sampleConfig(), actor, 'initial');
  const mtime = fs.statSync(host.files.real('/etc/hostname')).mtimeMs;
  proc.recorded.length = 0;
  const r = await applyConfig(host, store, sampleConfig(), actor, 'again');
  assert.deepEqual(r.units, []);
  assert.deepEqual(proc.recorded, []);
  assert.equal(fs.statSync(host.files.real('/etc/hostname')).mtimeMs, mtime);
});

test('boot renders the saved configuration, not unsaved changes', async (t) => {
  const { root, host, store } = setup(t);
  assert.equal(await applyAtBoot(host, store), false);
  await applyConfig(host, store, sampleConfig(), actor, 'initial');
  store.saveStartup(actor);
  const next = sampleConfig();
  next.system.hostname = 'unsaved.example.com';
  await applyConfig(host, store, next, actor, 'unsaved');
  assert.ok(store.unsaved());
  // a reboot: /etc is fresh
  fs.rmSync(path.join(root, 'etc'), { recursive: true });
  assert.equal(await applyAtBoot(host, store), true);
  assert.equal(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8'), 'core.example.com\n');
  assert.equal(store.running()!.revision, 1);
  assert.ok(!store.unsaved());
});

test('an interface absent from this machine matches nothing', () => {
  const c = sampleConfig();
  c.network.interfaces[0].name = 'GigabitEthernet2';
  const units = renderAll(c, { nics: [{ name: 'GigabitEthernet1', pci: '0000:00:03.0', ifname: 'ens3', mac: null, driver: null }] });
  const net = units.find((u) => u.name === 'network')!.files[0].content as string;
  assert.match(net, /not present on this machine/);
  assert.match(net, /Name=!\*/);
});
