import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import { runShell } from '../../cli/shell.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';

process.env.KEEL_LOG = 'silent';
const MAIN = fileURLToPath(new URL('../../bin/main.ts', import.meta.url));

function quickHash(pw: string): string {
  const salt = crypto.randomBytes(16);
  const k = crypto.scryptSync(pw, salt, 32, { N: 1024, r: 8, p: 1 });
  return `$scrypt$N=1024,r=8,p=1$${salt.toString('base64')}$${k.toString('base64')}`;
}

async function configuredRoot(t: TestContext) {
  const root = tempRoot('keel-cli-shell-');
  const sysfs = fakeSysfs(root, 2);
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root, { sysfs });
  const store = Store.open(host);
  const c = sampleConfig();
  c.users.enableSecretHash = quickHash('Enable1');
  c.users.local[0].passwordHash = quickHash('Passw0rd1');
  c.ssh.banner = 'Authorized use only';
  await applyConfig(host, store, c, { who: 'admin', source: 'test' }, 'initial');
  store.saveStartup({ who: 'admin', source: 'test' });
  store.close();
  return { root, sysfs, host };
}

function keelCli(root: string, sysfs: string, input: string, args: string[] = []): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'cli', '--root', root, ...args], { env: { ...process.env, KEEL_SYSFS: sysfs, KEEL_LOG: 'silent' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
    child.stdin.end(input);
  });
}

test('keel cli --root over a pipe: sign in, enable, configure, write memory, show startup-config', async (t) => {
  const { root, sysfs } = await configuredRoot(t);
  const r = await keelCli(root, sysfs, ['admin', 'Passw0rd1', 'show version', 'show ?', 'enable', 'Enable1', 'conf t', 'hostname piped.example.com', 'hostnme x', 'end', 'write memory', 'show startup-config | include ^hostname', 'exit', 'show version'].join('\n') + '\n');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^\nAuthorized use only\n\nUsername: admin\nPassword: \ncore>show version\nKeel appliance software/);
  assert.doesNotMatch(r.out, /Passw0rd1|Enable1/, 'secrets are never echoed');
  assert.match(r.out, /core>show \?\n {2}boot +How long this start took and what took longest \(systemd-analyze\)\n {2}clock +Date and time\n/, '? on a pipe: at the end of a line');
  assert.doesNotMatch(r.out.split('core>show ?')[1].split('core>')[0], /running-config/, 'user EXEC offers no privileged show commands');
  assert.match(r.out, /core>enable\nPassword: \ncore#conf t\n/);
  assert.match(r.out, /piped\(config\)#hostnme x\n {14}\^\n% Invalid input detected at '\^' marker\.\n/);
  assert.match(r.out, /piped#write memory\nBuilding configuration\.\.\.\n\[OK\]\npiped#show startup-config \| include \^hostname\nhostname piped\.example\.com\npiped#exit\n$/);
  // a new session sees the saved configuration
  const r2 = await keelCli(root, sysfs, 'Passw0rd1\nenable\nEnable1\nshow startup-config | include hostname\n', ['--user', 'admin']);
  assert.equal(r2.code, 0);
  assert.match(r2.out, /hostname piped\.example\.com/);
  assert.doesNotMatch(r2.out, /Username:/);
});

test('keel cli: a wrong password three times ends with exit code 1 and is audited', async (t) => {
  const { root, sysfs, host } = await configuredRoot(t);
  const r = await keelCli(root, sysfs, 'admin\nnope\nadmin\nnope\nghost\nnope\nshow version\n');
  assert.equal(r.code, 1);
  assert.equal(r.out.match(/% Login invalid/g)?.length, 3);
  assert.doesNotMatch(r.out, /Keel appliance software/);
  const store = Store.open(host);
  t.onTestFinished(() => { store.close(); });
  assert.equal(store.auditLog().filter((e) => e.action === 'sign in (console)' && e.outcome.startsWith('failed')).length, 3);
});

test('keel cli refuses an unconfigured appliance', async (t) => {
  const root = tempRoot('keel-cli-empty-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const r = await keelCli(root, fakeSysfs(root, 1), '');
  assert.equal(r.code, 2);
  assert.match(r.err, /not configured yet/);
});

test('on a terminal: TAB completes, ? answers at once keeping the line, secrets are not echoed', async (t) => {
  const { root, host } = await configuredRoot(t);
  void root;
  const store = Store.open(host);
  t.onTestFinished(() => { store.close(); });
  const input = new PassThrough();
  const output = new PassThrough();
  let out = '';
  output.on('data', (d) => (out += d));
  const done = runShell({ input, output, host, store, source: 'cli:test', terminal: true });
  const plain = () => out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  const until = async (re: RegExp) => {
    for (let i = 0; i < 200 && !re.test(plain()); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(plain(), re);
  };
  await until(/Username: $/);
  input.write('admin\r');
  await until(/Password: $/);
  input.write('Passw0rd1\r');
  await until(/core>$/);
  assert.doesNotMatch(out, /Passw0rd1/);
  out = '';
  input.write('sh');
  input.write('\t');
  input.write('ver');
  input.write('\t');
  await until(/show version $/);
  input.write('?');
  await until(/\?\r?\n {2}<cr>/);
  await until(/core>show version $/);
  input.write('\r');
  await until(/Keel appliance software/);
  out = '';
  input.write('enable\r');
  await until(/Password: $/);
  input.write('Enable1\r');
  await until(/core#$/);
  assert.doesNotMatch(out, /Enable1/);
  input.write('configure terminal\r');
  await until(/core\(config\)#$/);
  input.write('\x1a');
  await until(/\^Z\r?\ncore#$/);
  input.write('exit\r');
  assert.equal(await done, 0);
});

test('on a terminal: long output stops at --More-- (space: a screen, Enter: a line, q: stop); terminal length 0 turns it off', async (t) => {
  const { host } = await configuredRoot(t);
  const store = Store.open(host);
  t.onTestFinished(() => { store.close(); });
  const input = new PassThrough();
  const output = Object.assign(new PassThrough(), { rows: 8 });
  let out = '';
  output.on('data', (d) => (out += d));
  const done = runShell({ input, output, host, store, source: 'cli:test', terminal: true });
  const plain = () => out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/[\b]+ +[\b]+/g, '');
  const until = async (re: RegExp) => {
    for (let i = 0; i < 300 && !re.test(plain()); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(plain(), re);
  };
  await until(/Username: $/);
  input.write('admin\r');
  await until(/Password: $/);
  input.write('Passw0rd1\r');
  await until(/core>$/);
  input.write('enable\r');
  await until(/Password: $/);
  input.write('Enable1\r');
  await until(/core#$/);
  const full = await (async () => {
    input.write('terminal length 0\r');
    await until(/core#terminal length 0\r?\ncore#$/);
    out = '';
    input.write('show running-config\r');
    await until(/core#$/);
    return plain().split(/\r?\n/).slice(1, -1);
  })();
  assert.ok(full.length > 20, `a long configuration (${full.length} lines)`);
  assert.doesNotMatch(plain(), /--More--/, 'length 0: no pager');
  input.write('terminal length 8\r');
  await until(/core#$/);
  out = '';
  input.write('show running-config\r');
  await until(/ --More-- $/);
  const screen = plain().split(/\r?\n/);
  assert.equal(screen.length, 1 + 7 + 1, 'the command line, 7 lines of text, the --More-- line');
  assert.deepEqual(screen.slice(1, 8), full.slice(0, 7));
  out = '';
  input.write('\r');
  await until(/ --More-- $/);
  assert.equal(plain().split(/\r?\n/)[0], full[7], 'Enter: one more line');
  out = '';
  input.write(' ');
  await until(/ --More-- $/);
  assert.deepEqual(plain().split(/\r?\n/).slice(0, 7), full.slice(8, 15), 'space: one more screen');
  out = '';
  input.write('q');
  await until(/core#$/);
  assert.doesNotMatch(plain(), new RegExp(full[full.length - 1].replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '\\r?\\ncore#$'), 'q: the rest is not shown');
  // Typed ahead (a script fed to ssh -tt): nobody reads the screens, so nothing waits at --More--.
  out = '';
  input.write('show running-config\rshow clock\r');
  await until(/\nend\r?\ncore#\d\d:\d\d:\d\d[^\n]*\r?\ncore#$/);
  assert.doesNotMatch(plain(), /--More--/);
  assert.ok(plain().includes(full[full.length - 1]), 'all of it');
  input.write('exit\r');
  assert.equal(await done, 0);
});
