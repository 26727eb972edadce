/**
 * The appliance CLI as a separate `keel cli` process on a pipe, updating a sandbox appliance from
 * a signed repository over real HTTPS on loopback: repository settings with the CA pasted at the
 * prompt, check, download, stage, show version and reload (Reboot to Install); then `keel update
 * status --json` (the same state read by another command) and a second process finding the lock.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { startRepository, prepareAppliance, REPO_USER, REPO_PASSWORD, type TestRepository } from '../helpers/update-repo.ts';

const MAIN = fileURLToPath(new URL('../../bin/main.ts', import.meta.url));
let repo: TestRepository;
beforeAll(async () => {
  repo = await startRepository({ payloadBytes: 8 * 2 ** 20 });
});
afterAll(async () => {
  await repo.close();
});

function quickHash(pw: string): string {
  const salt = crypto.randomBytes(16);
  const k = crypto.scryptSync(pw, salt, 32, { N: 1024, r: 8, p: 1 });
  return `$scrypt$N=1024,r=8,p=1$${salt.toString('base64')}$${k.toString('base64')}`;
}

function keel(args: string[], sysfs: string, input = ''): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, KEEL_SYSFS: sysfs, KEEL_LOG: 'silent' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
    child.stdin.end(input);
  });
}

test('keel cli on a pipe: configure the repository, check, download, stage, show version, reload says Reboot to Install', async (t) => {
  const root = tempRoot('keel-cli-update-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const sysfs = fakeSysfs(root, 2);
  const host = createHost(root, { sysfs });
  const store = Store.open(host);
  const c = sampleConfig();
  c.users.enableSecretHash = quickHash('Enable1');
  c.users.local[0].passwordHash = quickHash('Passw0rd1');
  await applyConfig(host, store, c, { who: 'admin', source: 'test' }, 'initial');
  store.saveStartup({ who: 'admin', source: 'test' });
  store.close();
  await prepareAppliance(host);

  const lines = [
    'admin',
    'Passw0rd1',
    'enable',
    'Enable1',
    'configure terminal',
    `software-update repository ${repo.url} username ${REPO_USER} password ${REPO_PASSWORD}`,
    'software-update ca-certificate',
    ...repo.ca.trim().split('\n'),
    '',
    'end',
    'write memory',
    'software-update check',
    'software-update download',
    'software-update stage',
    'show version',
    'show running-config | include software-update',
    'reload',
    'no',
    'exit',
  ];
  const r = await keel(['cli', '--root', root], sysfs, lines.join('\n') + '\n');
  assert.equal(r.code, 0, r.err);
  const out = r.out;
  assert.doesNotMatch(out, /% (Invalid|Error|Refused|Internal)/, out);
  assert.match(out, /Version 0\.2\.0 is available \(running 0\.1\.0; 8\.0 MiB/);
  assert.match(out, /Downloading keel-0\.2\.0-amd64\.kup \(Keel 0\.2\.0, 8\.0 MiB\)[\s\S]* 100% \(8\.0 of 8\.0 MiB\)\nDownloaded and verified/);
  assert.match(out, /Version 0\.2\.0 is staged on slot B/);
  assert.match(out, /Slot B: +0\.2\.0 \(staged\)\n[\s\S]*Status: +Reboot to Install/);
  assert.match(out, new RegExp(`software-update repository ${repo.url.replace(/[.]/g, '\\.')} username mirror password \\*{8}`));
  assert.match(out, /Reboot to Install: Keel 0\.2\.0 is staged on slot B; this reload installs it/);
  assert.match(out, /Reload cancelled\./);
  // A pipe echoes what is typed (as a terminal would); no command shows the password again.
  assert.equal(out.split(REPO_PASSWORD).length, 2, 'only in the echoed command line');
  assert.equal(fs.readFileSync(path.join(root, 'slots/b/live/keel-version'), 'utf8'), '0.2.0\n');
  assert.ok(repo.requests.some((x) => x.url === '/keel/keel-0.2.0-amd64.kup' && x.status === 200));

  // Another command reads the same state.
  const st = await keel(['update', 'status', '--json', '--root', root], sysfs);
  assert.equal(st.code, 0, st.err);
  const j = JSON.parse(st.out);
  assert.equal(j.label, 'Reboot to Install');
  assert.equal(j.staged.version, '0.2.0');

  // While another process holds the update lock, a second CLI is told who holds it.
  fs.writeFileSync(path.join(root, 'var/lib/keel/updates/busy.lock'), JSON.stringify({ pid: process.pid, kind: 'stage', who: 'admin', source: 'ssh:192.0.2.5', at: '2026-01-01T00:00:00.000Z' }));
  const busy = await keel(['cli', '--root', root], sysfs, ['admin', 'Passw0rd1', 'enable', 'Enable1', 'software-update unstage', 'software-update status', 'exit'].join('\n') + '\n');
  assert.match(busy.out, /% Busy: a software update stage started by admin \(ssh:192\.0\.2\.5\)/);
  assert.match(busy.out, /In progress: +stage started by admin \(ssh:192\.0\.2\.5\)/);
  const shell = await keel(['update', 'unstage', '--root', root], sysfs);
  assert.equal(shell.code, 1);
  assert.match(shell.err, /^keel update: a software update stage started by admin \(ssh:192\.0\.2\.5\)/);
  fs.rmSync(path.join(root, 'var/lib/keel/updates/busy.lock'));
  const un = await keel(['cli', '--root', root], sysfs, ['admin', 'Passw0rd1', 'enable', 'Enable1', 'software-update unstage', 'exit'].join('\n') + '\n');
  assert.match(un.out, /The staged update \(0\.2\.0\) is cancelled/);
});
