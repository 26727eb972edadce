import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { applierSocketPath, createHost } from '../../appliance/host/index.ts';
import { SandboxProcesses } from '../../appliance/host/processes.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig, plan, reconcileApply } from '../../appliance/config/apply.ts';
import { ApplierServer } from '../../appliance/applier/server.ts';
import { RemoteApplier } from '../../appliance/applier/client.ts';
import { OperationalError, ValidationError } from '../../appliance/errors.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';

/** A sandbox root with the privileged side (its own host, as `keel applier` has) and an unprivileged client host. */
async function setup(t: TestContext) {
  const root = tempRoot();
  const sysfs = fakeSysfs(root, 2);
  const priv = createHost(root, { sysfs });
  priv.files.mkdirp('/run/keel', 0o755);
  const socket = applierSocketPath(root);
  const server = new ApplierServer(priv.applier, { path: socket, allowUids: new Set([process.getuid!()]) });
  await server.listen();
  const host = createHost(root, { sysfs, applierSocket: socket });
  const store = Store.open(host);
  t.onTestFinished(async () => {
    store.close();
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return { root, host, priv, store, server, socket, proc: priv.proc as SandboxProcesses };
}
const actor = { who: 'admin', source: 'test' };

test('a change through the socket is validated, rendered and reloaded by the applier, and recorded by the caller', async (t) => {
  const { root, host, store, proc } = await setup(t);
  assert.ok(host.applier instanceof RemoteApplier);
  const r = await applyConfig(host, store, sampleConfig(), actor, 'initial');
  assert.equal(r.revision, 1);
  assert.ok(r.units.includes('network'));
  assert.equal(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8'), 'core.example.com\n');
  // The commands ran in the applier's process, not the caller's.
  assert.ok(proc.recorded.includes('networkctl reload'));
  assert.deepEqual((host.proc as SandboxProcesses).recorded, []);
  const p = await plan(host, store, sampleConfig({ ssh: { enabled: true, port: 22 } }));
  assert.deepEqual(p.units.sort(), ['firewall', 'ssh']);
});

test('the applier validates again: a configuration that skipped the caller\'s checks is refused with the field named', async (t) => {
  const { root, host } = await setup(t);
  const bad = sampleConfig();
  (bad.dns as { domain: string }).domain = 'acme.example\nnameserver 203.0.113.66';
  await assert.rejects(host.applier.apply(bad, null), (e: unknown) => e instanceof ValidationError && /domain/i.test(e.problems.map((p) => p.field).join(' ')));
  assert.equal(fs.existsSync(path.join(root, 'etc/resolv.conf')), false, 'nothing was written');
});

test('an operational failure keeps its command and exit code across the socket, and the previous files stay', async (t) => {
  const { root, host, store, proc } = await setup(t);
  await applyConfig(host, store, sampleConfig(), actor, 'initial');
  const before = fs.readFileSync(path.join(root, 'etc/nftables.conf'), 'utf8');
  proc.failures.set('nft -c -f', { code: 1, stdout: '', stderr: 'Error: syntax error' });
  await assert.rejects(applyConfig(host, store, sampleConfig({ ssh: { enabled: true, port: 22 } }), actor, 'ssh on'), (e: unknown) => e instanceof OperationalError && e.exitCode === 1 && /nft -c -f/.test(e.command));
  assert.equal(fs.readFileSync(path.join(root, 'etc/nftables.conf'), 'utf8'), before);
  assert.equal(store.running()!.revision, 1);
});

test('only named services, and no others, can be controlled', async (t) => {
  const { host, proc } = await setup(t);
  await host.applier.service('restart', 'chrony');
  assert.ok(proc.recorded.includes('systemctl restart chrony.service'));
  await assert.rejects(host.applier.service('restart', 'ssh' as never), ValidationError);
  await assert.rejects(host.applier.service('mask' as never, 'chrony'), ValidationError);
  await host.applier.reboot();
  assert.ok(proc.recorded.includes('systemctl reboot'));
});

test('an interrupted change is reconciled through the applier', async (t) => {
  const { root, host, store } = await setup(t);
  await applyConfig(host, store, sampleConfig(), actor, 'initial');
  fs.writeFileSync(path.join(root, 'etc/hostname'), 'half-written\n');
  fs.writeFileSync(path.join(root, 'etc/hostname.keel-0123abcd.tmp'), 'x');
  store.db.prepare('INSERT OR REPLACE INTO apply_journal (id, pid, started_at, summary) VALUES (1, 999999, 0, ?)').run('killed');
  assert.equal(await reconcileApply(host, store), true);
  assert.equal(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8'), 'core.example.com\n');
  assert.equal(fs.existsSync(path.join(root, 'etc/hostname.keel-0123abcd.tmp')), false);
});

test('a process of another uid is refused by its peer credentials, even when the socket file lets it connect', async (t) => {
  if (process.getuid!() !== 0) return t.skip();
  const { root, server, socket } = await setup(t);
  for (const d of [root, path.join(root, 'run'), path.dirname(socket)]) fs.chmodSync(d, 0o755);
  fs.chmodSync(socket, 0o666);
  const client = `const s=require('net').connect(${JSON.stringify(socket)});s.on('connect',()=>s.write(JSON.stringify({op:'reboot',args:[]})+'\\n'));let got='';s.on('data',d=>got+=d);s.on('close',()=>{process.stdout.write(got?'ANSWERED':'CLOSED')});s.on('error',e=>process.stdout.write('ERR '+e.code));`;
  // Asynchronously: the server answers from this process's event loop.
  const out = await new Promise<string>((resolve) => {
    const c = spawn(process.execPath, ['-e', client], { uid: 65534, gid: 65534, timeout: 10_000 });
    let o = '';
    c.stdout.on('data', (d) => (o += d));
    c.on('close', () => resolve(o));
  });
  assert.match(out, /CLOSED$/, out);
  assert.doesNotMatch(out, /result|error/, 'no answer came back');
  assert.equal(server.refused, 1);
});

test('a line over the limit ends the connection without an answer', async (t) => {
  const { socket } = await setup(t);
  const net = await import('node:net');
  const got = await new Promise<string>((resolve) => {
    const s = net.connect(socket);
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', () => undefined);
    s.on('connect', () => s.write(Buffer.alloc(5 * 1024 * 1024, 'a')));
  });
  assert.equal(got, '');
});

test('root writing into the service user\'s folder leaves files the service user owns; the secrets key stays root\'s', async (t) => {
  if (process.getuid!() !== 0) return t.skip();
  const root = tempRoot();
  t.onTestFinished(() => fs.rmSync(root, { recursive: true, force: true }));
  const host = createHost(root);
  host.files.mkdirp('/var/lib/keel', 0o700);
  fs.chownSync(path.join(root, 'var/lib/keel'), 65534, 65534);
  host.files.writeAtomic('/var/lib/keel/support/x.txt', 'x', 0o600);
  host.files.mkdirp('/var/lib/keel/certs/sub', 0o700);
  host.files.append('/var/lib/keel/log/a.log', 'line\n');
  for (const p of ['support', 'support/x.txt', 'certs', 'certs/sub', 'log', 'log/a.log']) assert.equal(fs.statSync(path.join(root, 'var/lib/keel', p)).uid, 65534, p);
  const store = Store.open(host);
  store.close();
  assert.equal(fs.statSync(path.join(root, 'var/lib/keel/secrets.key')).uid, 0);
  assert.equal(fs.statSync(path.join(root, 'var/lib/keel/keel.db')).uid, 65534);
});

test('the unprivileged CLI shows the health monitor\'s recorded readings instead of probing devices it cannot open', async (t) => {
  const { host, store } = await setup(t);
  await applyConfig(host, store, sampleConfig(), actor, 'initial');
  const { HealthStore } = await import('../../appliance/health/monitor.ts');
  const { collectHealth } = await import('../../appliance/health/snapshot.ts');
  const { Session } = await import('../../cli/session.ts');
  const live = await collectHealth(createHost(host.root, { sysfs: host.sysfs }), {});
  const at = '2026-12-05T10:00:00.000Z';
  new HealthStore(store.db).set('latest', JSON.stringify({ ...live, at }));
  const out: string[] = [];
  const s = new Session({ host, store, user: { name: 'admin', role: 'admin' }, source: 'ssh:192.0.2.5', privileged: true, io: { write: (x) => void out.push(x), ask: async () => '' } });
  await s.execute('show health', 0);
  assert.match(out.join(''), /checked 2026-12-05 10:00:00 UTC/, 'the recorded reading, with its time');
});
