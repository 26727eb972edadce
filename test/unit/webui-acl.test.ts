/**
 * Portal ACL, confirm timer and password policy through the System Manager API (fastify.inject
 * with chosen client addresses; the confirm timer runs on mocked timers).
 */
import { test, vi, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyAtBoot } from '../../appliance/config/apply.ts';
import { validate, type Config } from '../../appliance/config/schema.ts';
import { pendingConfirm } from '../../appliance/config/confirm.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { buildServer } from '../../webui/server.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';
const V1 = '/mics/api/v1';
let hash: Promise<string> | null = null;

type Res = { status: number; json: any; text: string; headers: Record<string, unknown> };

async function start(t: TestContext, edit?: (c: Config) => void) {
  const root = tempRoot('keel-acl-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root, { sysfs: fakeSysfs(root, 2) });
  hash ??= hashSecret(PASSWORD);
  const config = sampleConfig();
  config.users.local[0].passwordHash = await hash;
  edit?.(config);
  const s = Store.open(host);
  s.commitRunning(validate(config), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  await applyAtBoot(host, s);
  s.close();
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => { app.close(); });
  const signIn = async (ip: string) => {
    const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username: 'admin', password: PASSWORD }, remoteAddress: ip });
    assert.equal(r.statusCode, 200, r.body);
    const cookie = String(r.headers['set-cookie']).split(';')[0];
    const csrf = JSON.parse(r.body).csrfToken as string;
    return async (method: string, url: string, body?: unknown): Promise<Res> => {
      const headers: Record<string, string> = { cookie };
      if (method !== 'GET') headers['x-csrf-token'] = csrf;
      const res = await app.inject({ method: method as 'GET', url, headers, remoteAddress: ip, ...(body !== undefined ? { payload: body as object } : {}) });
      let json: any = null;
      try {
        json = JSON.parse(res.body);
      } catch {
        /* not JSON */
      }
      return { status: res.statusCode, json, text: res.body, headers: res.headers };
    };
  };
  return { app, host, store: app.keel.store, signIn };
}

const flush = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};
const nftOf = (host: { files: { readText: (p: string) => string | null } }) => host.files.readText('/etc/nftables.conf') ?? '';

test('an ACL that shuts out your own address is refused naming the field, unless forced; forced reverts unless confirmed', async (t) => {
  const env = await start(t);
  const call = await env.signIn('198.51.100.4');
  const acl = { systemManager: ['192.0.2.0/24'], ssh: [], provisioning: [] };

  const plan = await call('POST', `${V1}/config/acl/plan`, acl);
  assert.equal(plan.status, 400, plan.text);
  assert.deepEqual(plan.json.problems.map((p: any) => [p.field, p.rule]), [['/acl/systemManager', 'self-lockout']]);
  assert.match(plan.json.problems[0].message, /198\.51\.100\.4/);
  const refused = await call('PUT', `${V1}/config/acl`, acl);
  assert.equal(refused.status, 400);
  assert.equal(env.store.running()!.revision, 1, 'nothing applied');
  assert.ok(env.store.auditLog().some((e) => /set acl/.test(e.action) && /self-lockout/.test(e.outcome)));

  vi.useFakeTimers({ toFake: ['setTimeout'] });
  t.onTestFinished(() => { vi.useRealTimers(); });
  const forced = await call('PUT', `${V1}/config/acl?force=true`, acl);
  assert.equal(forced.status, 200, forced.text);
  assert.equal(forced.json.revision, 2);
  assert.match(forced.json.confirmReason, /Portal ACL of System Manager/);
  assert.ok(Date.parse(forced.json.confirmBy) - Date.now() > 110_000);
  assert.equal(forced.headers.connection, 'close', 'the change closes its connection: confirming needs a new one');
  assert.match(nftOf(env.host), /ip saddr \{ 192\.0\.2\.0\/24 \} tcp dport 8443 ct state new accept comment "System Manager"/);

  // The application enforces the ACL too: the admin's own address is now refused, even signed in.
  const outside = await call('GET', `${V1}/config/confirm`);
  assert.equal(outside.status, 403);
  assert.match(outside.json.error, /Portal ACL/);
  const inside = await env.app.inject({ method: 'GET', url: '/mics/api/openapi.json', remoteAddress: '192.0.2.9' });
  assert.equal(inside.statusCode, 200);

  vi.advanceTimersByTime(119_000);
  await flush();
  assert.ok(pendingConfirm(), 'still waiting at 119 s');
  vi.advanceTimersByTime(1_000);
  await flush();
  assert.equal(pendingConfirm(), null);
  assert.equal(env.store.running()!.revision, 3, 'reverted as a new revision');
  assert.deepEqual(env.store.running()!.config.acl, undefined, 'the configuration from before returns');
  assert.doesNotMatch(nftOf(env.host), /ip saddr/);
  assert.ok(env.store.auditLog().some((e) => e.source === 'confirm-timer' && /revert unconfirmed change/.test(e.action) && /^ok/.test(e.outcome)));
  assert.equal((await call('GET', `${V1}/config/acl`)).status, 200, 'the admin gets back in by itself');
});

test('an ACL that keeps your address applies with the confirm timer; Confirm from a new connection keeps it', async (t) => {
  const env = await start(t);
  const call = await env.signIn('192.0.2.50');
  vi.useFakeTimers({ toFake: ['setTimeout'] });
  t.onTestFinished(() => { vi.useRealTimers(); });
  const acl = { systemManager: ['192.0.2.0/24'], ssh: ['192.0.2.0/24'], provisioning: [] };
  const plan = await call('POST', `${V1}/config/acl/plan`, acl);
  assert.equal(plan.status, 200, plan.text);
  assert.match(plan.json.confirmNeeded, /Portal ACL of System Manager/);
  const put = await call('PUT', `${V1}/config/acl`, acl);
  assert.equal(put.status, 200, put.text);
  assert.ok(put.json.confirmBy);
  const pending = await call('GET', `${V1}/config/confirm`);
  assert.equal(pending.json.pending.reason, 'the Portal ACL of System Manager changes');
  assert.ok(pending.json.pending.secondsLeft > 100);
  const ok = await call('POST', `${V1}/config/confirm`, {});
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json, { confirmed: true, reason: 'the Portal ACL of System Manager changes' });
  assert.equal((await call('POST', `${V1}/config/confirm`, {})).status, 409, 'nothing is waiting any more');
  vi.advanceTimersByTime(200_000);
  await flush();
  assert.equal(env.store.running()!.revision, 2, 'kept');
  assert.deepEqual(env.store.running()!.config.acl, acl);
  assert.ok(env.store.auditLog().some((e) => e.action === 'confirm change' && /kept: the Portal ACL/.test(e.outcome)));
  // A change that does not touch the admin's own path needs no confirmation.
  const ntp = await call('PUT', `${V1}/config/ntp`, { enabled: true, servers: ['192.0.2.124'] });
  assert.equal(ntp.status, 200);
  assert.equal(ntp.json.confirmBy, undefined);
  assert.equal(pendingConfirm(), null);
});

test('moving System Manager or the management address applies with the confirm timer', async (t) => {
  const env = await start(t);
  const call = await env.signIn('192.0.2.50');
  vi.useFakeTimers({ toFake: ['setTimeout'] });
  t.onTestFinished(() => { vi.useRealTimers(); });
  const put = await call('PUT', `${V1}/config/webui`, { port: 9443 });
  assert.equal(put.status, 200, put.text);
  assert.match(put.json.confirmReason, /System Manager moves to port 9443/);
  const net = structuredClone(env.store.running()!.config.network);
  net.interfaces[0].address = '192.0.2.11';
  const put2 = await call('PUT', `${V1}/config/network`, net);
  assert.equal(put2.status, 200, put2.text);
  assert.match(put2.json.confirmReason, /management interface/);
  vi.advanceTimersByTime(CONFIRM_MS);
  await flush();
  const c = env.store.running()!.config;
  assert.equal(c.webui.port, 8443, 'both changes revert to the last configuration that let the admin in');
  assert.equal(c.network.interfaces[0].address, '192.0.2.10');
});
const CONFIRM_MS = 120_000;

test('the password policy is adjustable; new passwords follow it; the defaults stay the seed\'s', async (t) => {
  const env = await start(t);
  const call = await env.signIn('192.0.2.50');
  const before = await call('GET', `${V1}/password-policy`);
  assert.deepEqual(before.json, { minLength: 8, requireLetter: true, requireUpper: true, requireDigit: true, maxRepeat: 3, minAgeHours: 24, adjusted: false });
  assert.equal((await call('POST', `${V1}/users/plan`, { name: 'bob', role: 'operator', password: 'Abcdefg1x' })).status, 200, '9 characters pass the seed policy');
  const bad = await call('PUT', `${V1}/config/users/password-policy`, { minLength: 6, requireLetter: true, requireUpper: true, requireDigit: true, maxRepeat: 3, minAgeHours: 24 });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.problems.map((p: any) => [p.field, p.rule]), [['/users/passwordPolicy/minLength', 'minimum']]);
  const put = await call('PUT', `${V1}/config/users/password-policy`, { minLength: 12, requireLetter: true, requireUpper: false, requireDigit: true, maxRepeat: 2, minAgeHours: 48 });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.confirmBy, undefined);
  const short = await call('POST', `${V1}/users`, { name: 'bob', role: 'operator', password: 'Abcdefg1x' });
  assert.equal(short.status, 400);
  assert.equal(short.json.problems[0].rule, 'password-policy');
  assert.match(short.json.problems[0].message, /at least 12 characters/);
  const repeat = await call('POST', `${V1}/users`, { name: 'bob', role: 'operator', password: 'abcdefgh111x' });
  assert.match(repeat.json.problems[0].message, /more than 2 times/);
  const good = await call('POST', `${V1}/users`, { name: 'bob', role: 'operator', password: 'abcdefgh12xy' });
  assert.equal(good.status, 200, 'no capital letter needed any more');
  assert.equal((await call('GET', `${V1}/password-policy`)).json.adjusted, true);
});
