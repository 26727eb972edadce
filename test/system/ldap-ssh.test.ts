/**
 * Directory users on the appliance as it runs (`keel serve` on a sandbox root) against a real
 * slapd: they sign in over SSH (real OpenSSH client) and System Manager (real HTTPS) with the
 * role of their mapped groups; wrong passwords and users in no mapped group are refused.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { startSlapd, BIND_DN, BIND_PW, ADMINS, OPERATORS, PASSWORDS, type Slapd } from './ldap-slapd.ts';
import { startServe } from '../helpers/serve.ts';
import { quickHash } from '../helpers/cli.ts';
import { sshRun, webuiSignIn } from '../helpers/ssh.ts';

let root = '';
let slapd: Slapd | null = null;
let serve: ChildProcess | null = null;
let sshPort = 0;
let httpsPort = 0;

beforeAll(async () => {
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

afterAll(async () => {
  serve?.kill('SIGTERM');
  await slapd?.remove();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

test('directory users sign in over SSH with their password; wrong passwords and unmapped users are refused', () => {
  const a = sshRun(sshPort, 'alice', PASSWORDS.alice, ['show', 'version']);
  assert.equal(a.code, 0, a.out);
  assert.match(a.out, /Keel/);
  const b = sshRun(sshPort, 'bob', PASSWORDS.bob, ['show', 'clock']);
  assert.equal(b.code, 0, b.out);
  assert.notEqual(sshRun(sshPort, 'bob', 'wrong-password', ['show', 'clock']).code, 0);
  assert.notEqual(sshRun(sshPort, 'carol', PASSWORDS.carol, ['show', 'clock']).code, 0, 'carol is in no mapped group');
});

test('directory users sign in to System Manager over HTTPS', async () => {
  assert.equal((await webuiSignIn(httpsPort, 'alice', PASSWORDS.alice)).status, 200);
  assert.equal((await webuiSignIn(httpsPort, 'alice', 'nope-nope')).status, 401);
});
