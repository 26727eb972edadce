/**
 * Directory users on the appliance as it runs (`keel serve` on a sandbox root) against a real
 * slapd: they sign in over SSH (real OpenSSH client) and System Manager (real HTTPS) with the
 * role of their mapped groups; wrong passwords and users in no mapped group are refused.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { startSlapd, BIND_DN, BIND_PW, ADMINS, OPERATORS, PASSWORDS, type Slapd } from './ldap-slapd.ts';
import { startServe } from '../helpers/serve.ts';


function quickHash(pw: string): string {
  const salt = crypto.randomBytes(16);
  const k = crypto.scryptSync(pw, salt, 32, { N: 1024, r: 8, p: 1 });
  return `$scrypt$N=1024,r=8,p=1$${salt.toString('base64')}$${k.toString('base64')}`;
}

let root = '';
let slapd: Slapd | null = null;
let serve: ChildProcess | null = null;
let sshPort = 0;
let httpsPort = 0;

before(async () => {
  slapd = await startSlapd();
  root = tempRoot('keel-ldap-ssh-');
  const sysfs = fakeSysfs(root, 2);
  const host = createHost(root, { sysfs });
  const store = Store.open(host);
  const c = sampleConfig();
  c.users.enableSecretHash = quickHash('Enable1');
  c.users.local[0].passwordHash = quickHash('Passw0rd1');
  c.ssh = { enabled: true, port: 22 };
  c.ldap = {
    enabled: true,
    type: 'other',
    domain: 'example.com',
    url: slapd.url,
    bindDn: BIND_DN,
    password: BIND_PW,
    searchTimeout: 5,
    chaseReferrals: false,
    roleMappings: [
      { group: ADMINS, role: 'admin' },
      { group: OPERATORS, role: 'operator' },
    ],
    health: { interval: 10, liveThreshold: 3, deadThreshold: 3 },
  };
  await applyConfig(host, store, c, { who: 'admin', source: 'test' }, 'initial');
  store.saveStartup({ who: 'admin', source: 'test' });
  store.close();
  ({ child: serve, sshPort, httpsPort } = await startServe(root, sysfs));
});

after(async () => {
  serve?.kill('SIGTERM');
  await slapd?.remove();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

const SSH_OPTS = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'NumberOfPasswordPrompts=1', '-o', 'PubkeyAuthentication=no', '-o', 'ConnectTimeout=10'];

function sshRun(args: string[], user: string, password: string): { code: number; out: string } {
  const r = spawnSync('sshpass', ['-e', 'ssh', ...SSH_OPTS, '-p', String(sshPort), `${user}@127.0.0.1`, ...args], { env: { ...process.env, SSHPASS: password }, encoding: 'utf8', timeout: 30000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function webuiSignIn(username: string, password: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ username, password });
    const req = https.request(
      { host: '127.0.0.1', port: httpsPort, path: '/mics/api/session', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('directory users sign in over SSH with their password; wrong passwords and unmapped users are refused', () => {
  const a = sshRun(['show', 'version'], 'alice', PASSWORDS.alice);
  assert.equal(a.code, 0, a.out);
  assert.match(a.out, /Keel/);
  const b = sshRun(['show', 'clock'], 'bob', PASSWORDS.bob);
  assert.equal(b.code, 0, b.out);
  assert.notEqual(sshRun(['show', 'clock'], 'bob', 'wrong-password').code, 0);
  assert.notEqual(sshRun(['show', 'clock'], 'carol', PASSWORDS.carol).code, 0, 'carol is in no mapped group');
});

test('directory users sign in to System Manager over HTTPS', async () => {
  assert.equal((await webuiSignIn('alice', PASSWORDS.alice)).status, 200);
  assert.equal((await webuiSignIn('alice', 'nope-nope')).status, 401);
});
