/**
 * LDAP settings: schema rules (base DN from the domain, URL schemes, failover distinct, password and
 * mappings required when enabled), the API's plan/apply with the write-only bind password
 * (kept, never returned, redacted in diffs and the audit), admin-only changes, the OpenAPI
 * document, the page, and a dead directory answering 502 with the failure counted.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { check, validate } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { baseDnOf, effectiveBaseDn, userAttributeOf, type LdapConfig } from '../../appliance/ldap/schema.ts';
import { escapeFilter, LdapDirectory } from '../../appliance/ldap/directory.ts';
import { redactConfig } from '../../webui/redact.ts';
import { buildServer } from '../../webui/server.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';
const OP_PASSWORD = 'Operat0r!x';
const V1 = '/mics/api/v1';
const BIND_PW = 'Bind-secret-42';

function ldap(over: Partial<LdapConfig> = {}): LdapConfig {
  return {
    enabled: true,
    type: 'ad',
    domain: 'corp.example.com',
    url: 'ldaps://dc1.corp.example.com:636',
    failoverUrl: 'ldap://dc2.corp.example.com',
    bindDn: 'CORP\\keel-bind',
    password: BIND_PW,
    searchTimeout: 30,
    chaseReferrals: true,
    roleMappings: [{ group: 'CN=Keel Admins,OU=Groups,DC=corp,DC=example,DC=com', role: 'admin' }],
    health: { interval: 60, liveThreshold: 3, deadThreshold: 3 },
    ...over,
  };
}

test('base DN from the domain, user attribute per directory type, filter escaping', () => {
  assert.equal(baseDnOf('example.com'), 'dc=example,dc=com');
  assert.equal(baseDnOf('corp.example.com.'), 'dc=corp,dc=example,dc=com');
  assert.equal(effectiveBaseDn({ domain: 'example.com', baseDn: 'ou=x,dc=example,dc=com' }), 'ou=x,dc=example,dc=com');
  assert.equal(userAttributeOf({ type: 'ad' }), 'sAMAccountName');
  assert.equal(userAttributeOf({ type: 'domino' }), 'uid');
  assert.equal(userAttributeOf({ type: 'other', userAttribute: 'cn' }), 'cn');
  assert.equal(escapeFilter('a*b(c)\\d\0'), 'a\\2ab\\28c\\29\\5cd\\00');
});

test('schema: valid settings pass; bad URL, same failover, missing password or mappings are named', () => {
  const c = { ...sampleConfig(), ldap: ldap() };
  assert.deepEqual(check(c), []);
  const fields = (l: LdapConfig) => check({ ...sampleConfig(), ldap: l }).map((p) => `${p.field} ${p.rule}`);
  assert.deepEqual(fields(ldap({ url: 'http://dc1' })), ['/ldap/url pattern']);
  assert.deepEqual(fields(ldap({ failoverUrl: 'ldaps://dc1.corp.example.com:636/' })), ['/ldap/failoverUrl distinct']);
  assert.deepEqual(fields(ldap({ password: undefined })), ['/ldap/password required']);
  assert.deepEqual(fields(ldap({ roleMappings: [] })), ['/ldap/roleMappings required']);
  assert.deepEqual(fields(ldap({ enabled: false, password: undefined, roleMappings: [] })), []);
  assert.deepEqual(fields(ldap({ health: { interval: 5, liveThreshold: 3, deadThreshold: 3 } })), ['/ldap/health/interval minimum']);
  assert.deepEqual(fields(ldap({ health: { interval: 60, liveThreshold: 11, deadThreshold: 3 } })), ['/ldap/health/liveThreshold maximum']);
  assert.equal(redactConfig(c).ldap!.password, '<redacted>');
});

test('health thresholds: dead after N failures in a row, live after M successes; a success resets the failures', () => {
  const cfg = ldap({ health: { interval: 60, liveThreshold: 2, deadThreshold: 3 } });
  const d = new LdapDirectory(() => cfg);
  const url = cfg.url;
  d.record(url, false, 'x');
  d.record(url, false, 'x');
  d.record(url, true);
  assert.equal(d.record(url, false, 'x').state, 'live');
  d.record(url, false, 'x');
  assert.equal(d.record(url, false, 'x').state, 'dead');
  assert.equal(d.record(url, true).state, 'dead');
  d.record(url, false, 'x');
  assert.equal(d.record(url, true).state, 'dead');
  assert.equal(d.record(url, true).state, 'live');
  assert.deepEqual(d.servers().map((s) => [s.role, s.state]), [['primary', 'live'], ['failover', 'live']]);
});

async function start(t: TestContext) {
  const root = tempRoot('keel-ldap-api-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const c = sampleConfig();
  c.users.local[0].passwordHash = await hashSecret(PASSWORD);
  c.users.local.push({ name: 'oper', role: 'operator', passwordHash: await hashSecret(OP_PASSWORD), passwordChangedAt: '2020-01-01T00:00:00.000Z' });
  const s = Store.open(host);
  s.commitRunning(validate(c), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  s.close();
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => { app.close(); });
  const as = async (username: string, password: string) => {
    const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username, password } });
    assert.equal(r.statusCode, 200, r.body);
    const headers = { cookie: String(r.headers['set-cookie']).split(';')[0], 'x-csrf-token': JSON.parse(r.body).csrfToken };
    return async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object) => {
      const x = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
      let json: any = null;
      try {
        json = JSON.parse(x.body);
      } catch {
        /* html */
      }
      return { status: x.statusCode, json, text: x.body };
    };
  };
  return { app, store: app.keel.store, admin: await as('admin', PASSWORD), oper: await as('oper', OP_PASSWORD) };
}

test('API: plan shows a redacted diff, apply keeps the password write-only, operators cannot change, OpenAPI lists the routes', async (t) => {
  const { app, store, admin, oper } = await start(t);
  assert.deepEqual((await admin('GET', `${V1}/ldap`)).json, { settings: null, baseDn: null, userAttribute: null, servers: [] });
  assert.equal((await admin('GET', `${V1}/ldap/settings`)).status, 404);
  assert.equal((await admin('POST', `${V1}/ldap/lookup`, { name: 'x' })).status, 409);

  const body = ldap();
  const plan = await admin('POST', `${V1}/ldap/plan`, body);
  assert.equal(plan.status, 200, plan.text);
  assert.equal(plan.json.changed, true);
  assert.match(plan.json.configDiff, /"ldap"/);
  assert.ok(!plan.text.includes(BIND_PW), 'plan never shows the password');
  assert.equal(store.running()!.config.ldap, undefined, 'plan changes nothing');

  assert.equal((await oper('PUT', `${V1}/ldap`, body)).status, 403);
  const put = await admin('PUT', `${V1}/ldap`, body);
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.changed, true);
  assert.equal(store.running()!.config.ldap!.password, BIND_PW);

  const got = await oper('GET', `${V1}/ldap`);
  assert.equal(got.json.settings.passwordSet, true);
  assert.equal(got.json.baseDn, 'dc=corp,dc=example,dc=com');
  assert.equal(got.json.userAttribute, 'sAMAccountName');
  assert.deepEqual(got.json.servers.map((s: { url: string; state: string }) => [s.url, s.state]), [[body.url, 'live'], [body.failoverUrl, 'live']]);
  assert.ok(!got.text.includes(BIND_PW));

  // Sent back without the password (as the page does): kept; same settings again change nothing.
  const { password: _p, ...noPw } = body;
  assert.equal((await admin('PUT', `${V1}/ldap`, noPw)).json.changed, false);
  assert.equal(store.running()!.config.ldap!.password, BIND_PW);
  // Another bind user without a password: refused, not silently reusing the old one.
  const other = await admin('PUT', `${V1}/ldap`, { ...noPw, bindDn: 'CORP\\someone-else' });
  assert.equal(other.status, 400);
  assert.equal(other.json.problems[0].field, '/ldap/password');

  const audit = JSON.stringify(store.db.prepare('SELECT * FROM audit').all()) + JSON.stringify(store.db.prepare('SELECT summary, diff FROM revisions').all());
  assert.ok(audit.includes('set ldap enabled Active Directory corp.example.com'));
  assert.ok(!audit.includes(BIND_PW), 'no password in the audit log or revisions');

  const doc = (await app.inject({ method: 'GET', url: '/mics/api/openapi.json' })).json();
  for (const p of ['/mics/api/v1/ldap', '/mics/api/v1/ldap/plan', '/mics/api/v1/ldap/lookup', '/mics/api/v1/ldap/browse', '/mics/api/v1/ldap/health/check']) assert.ok(doc.paths[p], p);

  const page = await admin('GET', '/mics/security/ldap');
  assert.equal(page.status, 200);
  assert.match(page.text, /Group-to-role mappings/);
  assert.match(page.text, /admin CN=Keel Admins,OU=Groups/);
  assert.ok(!page.text.includes(BIND_PW));

  assert.equal((await oper('DELETE', `${V1}/ldap`)).status, 403);
  assert.equal((await admin('DELETE', `${V1}/ldap`)).json.changed, true);
  assert.equal(store.running()!.config.ldap, undefined);
});

test('API: a directory nobody answers gives 502 and counts against each server', async (t) => {
  const { admin } = await start(t);
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const put = await admin('PUT', `${V1}/ldap`, ldap({ type: 'other', url: `ldap://127.0.0.1:${port}`, failoverUrl: undefined, searchTimeout: 2 }));
  assert.equal(put.status, 200, put.text);
  const r = await admin('POST', `${V1}/ldap/lookup`, { name: 'alice' });
  assert.equal(r.status, 502);
  assert.match(r.json.error, /no directory server answered/);
  const h = await admin('POST', `${V1}/ldap/health/check`, {});
  assert.equal(h.status, 200);
  assert.equal(h.json[0].failures, 2);
  assert.match(h.json[0].lastError, /ECONNREFUSED/);
  assert.equal((await admin('GET', `${V1}/ldap/browse`)).status, 502);
});
