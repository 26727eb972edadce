/**
 * Security > LDAP through System Manager against a real slapd on loopback: the administrator
 * configures the directory (plan, then apply), tests a lookup, browses one level at a time, and a
 * directory user signs in to System Manager with the role of a nested group; a wrong password is
 * refused; the failover server answers while the first URL is dead.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { validate } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { buildServer } from '../../webui/server.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';
import { startSlapd, freePort, BIND_DN, BIND_PW, ADMINS, OPERATORS, PASSWORDS, BASE } from './ldap-slapd.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';
const V1 = '/mics/api/v1';

test('System Manager: configure LDAP, lookup, browse, directory users sign in with their mapped roles', async (t) => {
  const s = await startSlapd();
  t.onTestFinished(() => { s.remove(); });
  const root = tempRoot('keel-ldap-webui-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const c = sampleConfig();
  c.users.local[0].passwordHash = await hashSecret(PASSWORD);
  const st = Store.open(host);
  st.commitRunning(validate(c), { who: 'test', source: 'test' }, 'initial', '');
  st.saveStartup({ who: 'test', source: 'test' });
  st.close();
  const app = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => { app.close(); });
  const session = async (username: string, password: string) => app.inject({ method: 'POST', url: '/mics/api/session', payload: { username, password } });
  const r = await session('admin', PASSWORD);
  const headers = { cookie: String(r.headers['set-cookie']).split(';')[0], 'x-csrf-token': JSON.parse(r.body).csrfToken };
  const call = async (method: 'GET' | 'PUT' | 'POST', url: string, payload?: object) => {
    const x = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    return { status: x.statusCode, json: JSON.parse(x.body), text: x.body };
  };

  const dead = await freePort();
  const settings = {
    enabled: true,
    type: 'other',
    domain: 'example.com',
    url: `ldap://127.0.0.1:${dead}`,
    failoverUrl: s.url,
    bindDn: BIND_DN,
    password: BIND_PW,
    searchTimeout: 5,
    chaseReferrals: false,
    roleMappings: [
      { group: ADMINS, role: 'admin' },
      { group: OPERATORS, role: 'operator' },
    ],
    health: { interval: 10, liveThreshold: 2, deadThreshold: 1 },
  };
  const plan = await call('POST', `${V1}/ldap/plan`, settings);
  assert.equal(plan.status, 200, plan.text);
  assert.equal(plan.json.changed, true);
  assert.equal((await call('PUT', `${V1}/ldap`, settings)).status, 200);

  // Before any traffic both servers are presumed live; the first lookup finds the first one dead (threshold 1).
  const look = await call('POST', `${V1}/ldap/lookup`, { name: 'bob' });
  assert.equal(look.status, 200, look.text);
  assert.equal(look.json.server, s.url);
  assert.deepEqual(look.json.entries.map((e: { dn: string }) => e.dn), [`uid=bob,ou=people,${BASE}`]);
  const status = await call('GET', `${V1}/ldap`);
  assert.deepEqual(status.json.servers.map((x: { role: string; state: string }) => `${x.role} ${x.state}`), ['primary dead', 'failover live']);
  assert.equal(status.json.baseDn, BASE);

  const top = await call('GET', `${V1}/ldap/browse`);
  assert.deepEqual(top.json.children.map((x: { rdn: string }) => x.rdn), ['ou=groups', 'ou=people', 'ou=service']);
  const groups = await call('GET', `${V1}/ldap/browse?dn=${encodeURIComponent(`ou=groups,${BASE}`)}`);
  assert.deepEqual(groups.json.children.map((x: { rdn: string }) => x.rdn), ['cn=helpdesk', 'cn=keel-admins', 'cn=keel-operators']);

  const alice = await session('alice', PASSWORDS.alice);
  assert.equal(alice.statusCode, 200, alice.body);
  const bob = await session('bob', PASSWORDS.bob);
  assert.equal(bob.statusCode, 200);
  assert.equal((await session('bob', 'wrong-password')).statusCode, 401);
  assert.equal((await session('carol', PASSWORDS.carol)).statusCode, 401, 'in no mapped group');

  // alice (admin through the nested group) may change settings; bob (operator) reads but cannot change them.
  const ah = { cookie: String(alice.headers['set-cookie']).split(';')[0], 'x-csrf-token': JSON.parse(alice.body).csrfToken };
  const ap = await app.inject({ method: 'POST', url: `${V1}/ldap/plan`, headers: ah, payload: { ...settings, searchTimeout: 6 } });
  assert.equal(ap.statusCode, 200, ap.body);
  assert.equal(JSON.parse(ap.body).changed, true);
  const bh = { cookie: String(bob.headers['set-cookie']).split(';')[0], 'x-csrf-token': JSON.parse(bob.body).csrfToken };
  assert.equal((await app.inject({ method: 'POST', url: `${V1}/ldap/plan`, headers: bh, payload: settings })).statusCode, 403);
  assert.equal((await app.inject({ method: 'GET', url: `${V1}/ldap`, headers: bh })).statusCode, 200);
  assert.equal((await app.inject({ method: 'PUT', url: `${V1}/ldap`, headers: bh, payload: settings })).statusCode, 403);

  // Mappings change: bob's session loses its role at once (removed mapping), without signing in again.
  const { password: _pw, ...noPw } = settings;
  assert.equal((await call('PUT', `${V1}/ldap`, { ...noPw, roleMappings: [settings.roleMappings[0]] })).status, 200);
  assert.equal((await app.inject({ method: 'GET', url: `${V1}/ldap`, headers: bh })).statusCode, 401);

  const page = await app.inject({ method: 'GET', url: '/mics/security/ldap', headers });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<span class="badge bad">dead<\/span>/);
  assert.ok(!page.body.includes(BIND_PW));
});
