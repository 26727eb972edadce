import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import zlib from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';
import { type Config } from '../../appliance/config/schema.ts';
import { Lockouts } from '../../appliance/users/signin.ts';
import { buildServer } from '../../webui/server.ts';
import { sampleConfig } from '../helpers/config.ts';
import { configuredHost, WEB_PASSWORD, OPERATOR_PASSWORD } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';

const PASSWORD = WEB_PASSWORD;
const OP_PASSWORD = OPERATOR_PASSWORD;
const V1 = '/mics/api/v1';

interface Client {
  call: (method: string, url: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; json: any; text: string; headers: Record<string, unknown>; raw: Buffer }>;
}

async function start(t: TestContext, edit?: (c: Config) => void) {
  const host = await configuredHost(t, { prefix: 'keel-api-', edit });
  (host.proc as SandboxProcesses).recorded.length = 0;
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => { app.close(); });

  const client = (auth: { cookie?: string; csrf?: string; bearer?: string }): Client => ({
    call: async (method, url, body, headers = {}) => {
      const h: Record<string, string> = { ...headers };
      if (auth.cookie) h.cookie = auth.cookie;
      if (auth.csrf && method !== 'GET') h['x-csrf-token'] = auth.csrf;
      if (auth.bearer) h.authorization = `Bearer ${auth.bearer}`;
      const r = await app.inject({ method: method as 'GET', url, headers: h, ...(body !== undefined ? { payload: body as object } : {}) });
      let json: any = null;
      try {
        json = JSON.parse(r.body);
      } catch {
        /* not JSON */
      }
      return { status: r.statusCode, json, text: r.body, headers: r.headers, raw: r.rawPayload };
    },
  });
  const signIn = async (username = 'admin', password = PASSWORD): Promise<Client> => {
    const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username, password } });
    assert.equal(r.statusCode, 200, r.body);
    const cookie = String(r.headers['set-cookie']).split(';')[0];
    return client({ cookie, csrf: JSON.parse(r.body).csrfToken });
  };
  return { app, host, store: app.keel.store, signIn, client, proc: host.proc as SandboxProcesses };
}

test('a section change is planned (diff, nothing applied), applied (new revision, unsaved), then saved', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  const ntp = await a.call('GET', `${V1}/config/ntp`);
  assert.deepEqual(ntp.json, { enabled: true, servers: ['192.0.2.123'] });
  assert.equal(ntp.headers['x-keel-unsaved'], 'false');

  const next = { enabled: true, servers: ['192.0.2.124', 'ntp.example.com'] };
  const plan = await a.call('POST', `${V1}/config/ntp/plan`, next);
  assert.equal(plan.status, 200, plan.text);
  assert.equal(plan.json.changed, true);
  assert.match(plan.json.diff, /^-ntp server 192\.0\.2\.123$/m);
  assert.match(plan.json.diff, /^\+ntp server ntp\.example\.com$/m);
  assert.deepEqual(plan.json.units, ['ntp']);
  assert.deepEqual(plan.json.changes, [{ unit: 'ntp', path: '/etc/chrony/chrony.conf' }]);
  assert.equal(env.store.running()!.revision, 1, 'plan applies nothing');
  assert.equal(env.proc.recorded.length, 0, 'plan runs nothing');

  const put = await a.call('PUT', `${V1}/config/ntp`, next);
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json, { changed: true, revision: 2, units: ['ntp'], unsaved: true });
  assert.equal(put.headers['x-keel-unsaved'], 'true');
  assert.match(fs.readFileSync(env.host.files.real('/etc/chrony/chrony.conf'), 'utf8'), /server ntp\.example\.com iburst/);
  assert.ok(env.proc.recorded.includes('systemctl restart chrony.service'));
  const again = await a.call('PUT', `${V1}/config/ntp`, next);
  assert.deepEqual(again.json, { changed: false, revision: 2, units: [], unsaved: true }, 'the same again changes nothing');

  const status = await a.call('GET', `${V1}/config`);
  assert.equal(status.json.unsaved, true);
  assert.match(status.json.diff, /\+ntp server ntp\.example\.com/);
  const save = await a.call('POST', `${V1}/config/save`, {});
  assert.deepEqual(save.json, { revision: 2, unsaved: false });
  assert.equal(save.headers['x-keel-unsaved'], 'false');
  assert.equal(env.store.startup()!.revision, 2);
  assert.ok(env.store.auditLog().some((e) => e.who === 'admin' && /^apply: webui: set ntp \(ntp server 192\.0\.2\.124; ntp server ntp\.example\.com\) \(revision 2\)$/.test(e.action)));
  assert.ok(env.store.auditLog().some((e) => e.who === 'admin' && /save running-config/.test(e.action)));
});

test('refused values name the field and the rule; nothing changes', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  const cases: [string, unknown, string, string][] = [
    ['ssh', { enabled: true, port: 0 }, '/ssh/port', 'minimum'],
    ['ssh', { enabled: true, port: 22, colour: 'red' }, '/ssh/colour', 'additionalProperties'],
    ['ntp', { enabled: true, servers: ['bad host!'] }, '/ntp/servers/0', 'ntp-server'],
    ['ntp', { enabled: true, servers: [] }, '/ntp/servers', 'required'],
    ['system', { ...sampleConfig().system, hostname: 'core.local' }, '/system/hostname', 'fqdn'],
    ['network', { ...sampleConfig().network, gateway: '198.51.100.1' }, '/network/gateway', 'gateway-in-subnet'],
    ['ssh', { enabled: true, port: 8443 }, '/ssh/port', 'port-conflict'],
    ['email', { from: 'alerts@example.com', server: 'smtp.example.com', port: 25, protocol: 'smtp', auth: true, username: 'u' }, '/email/password', 'required'],
    ['email', { from: 'alerts@example.com', server: 'smtp.example.com', port: 25, protocol: 'pigeon', auth: false }, '/email/protocol', 'enum'],
  ];
  for (const [section, body, field, rule] of cases) {
    for (const url of [`${V1}/config/${section}/plan`, `${V1}/config/${section}`]) {
      const r = await a.call(url.endsWith('plan') ? 'POST' : 'PUT', url, body);
      assert.equal(r.status, 400, `${url} ${JSON.stringify(body)}: ${r.text}`);
      const p = r.json.problems.find((x: { field: string }) => x.field === field);
      assert.ok(p, `${url}: names ${field}: ${r.text}`);
      assert.equal(p.rule, rule, `${url}: rule of ${field}`);
      assert.ok(p.message.length > 3);
    }
  }
  assert.equal(env.store.running()!.revision, 1, 'nothing was applied');
  const refused = env.store.auditLog().filter((e) => e.outcome.startsWith('refused'));
  assert.ok(refused.some((e) => e.outcome.includes('/ntp/servers/0 (ntp-server)')), 'check() refusals are audited with field and rule');
});

test('an apply that fails keeps the previous configuration and says why', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  const before = fs.readFileSync(env.host.files.real('/etc/chrony/chrony.conf'), 'utf8').toString();
  env.proc.failures.set('systemctl restart chrony.service', { code: 1, stdout: '', stderr: 'Job for chrony.service failed' });
  const r = await a.call('PUT', `${V1}/config/ntp`, { enabled: true, servers: ['192.0.2.200'] });
  assert.equal(r.status, 502);
  assert.match(r.json.error, /chrony\.service failed/);
  assert.equal(env.store.running()!.revision, 1);
  assert.equal(fs.readFileSync(env.host.files.real('/etc/chrony/chrony.conf'), 'utf8'), before, 'file put back');
  assert.ok(env.store.auditLog().some((e) => /failed, previous configuration kept/.test(e.outcome)));
});

test('revisions and rollback (plan first), with the diff of each revision', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  await a.call('PUT', `${V1}/config/dns`, { servers: ['192.0.2.54', '192.0.2.55'] });
  await a.call('PUT', `${V1}/config/clock`, { timezone: 'Europe/Berlin' });
  const list = await a.call('GET', `${V1}/config/revisions`);
  assert.deepEqual(list.json.map((r: { id: number }) => r.id), [3, 2, 1]);
  assert.equal(list.json[0].running, true);
  assert.equal(list.json[2].startup, true);
  const two = await a.call('GET', `${V1}/config/revisions/2`);
  assert.match(two.json.diff, /\+ip name-server 192\.0\.2\.54 192\.0\.2\.55/);
  assert.equal((await a.call('GET', `${V1}/config/revisions/99`)).status, 404);
  const plan = await a.call('POST', `${V1}/config/revisions/1/rollback/plan`);
  assert.match(plan.json.diff, /-clock timezone Europe\/Berlin/);
  assert.equal(env.store.running()!.revision, 3);
  const rb = await a.call('POST', `${V1}/config/revisions/1/rollback`);
  assert.equal(rb.status, 200, rb.text);
  assert.equal(rb.json.revision, 4);
  assert.deepEqual(env.store.running()!.config.dns.servers, ['192.0.2.53']);
  assert.equal(rb.json.unsaved, false, 'back to what is saved');
});

test('audit log filters: user, source, time range, text, paging', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  await env.signIn('oper', OP_PASSWORD);
  await a.call('PUT', `${V1}/config/clock`, { timezone: 'Europe/Paris' });
  env.store.audit({ who: 'cliuser', source: 'ssh:192.0.2.9' }, 'cli: hostname x', 'ok');
  const all = (await a.call('GET', `${V1}/audit`)).json;
  assert.ok(all.entries.length >= 5);
  const byUser = (await a.call('GET', `${V1}/audit?user=oper`)).json.entries;
  assert.ok(byUser.length >= 1 && byUser.every((e: { who: string }) => e.who === 'oper'));
  const bySource = (await a.call('GET', `${V1}/audit?source=ssh`)).json.entries;
  assert.deepEqual(bySource.map((e: { who: string }) => e.who), ['cliuser']);
  const byText = (await a.call('GET', `${V1}/audit?q=EUROPE/paris`)).json.entries;
  assert.ok(byText.length >= 1 && byText.every((e: { action: string }) => /Europe\/Paris|set clock/i.test(e.action)));
  const future = (await a.call('GET', `${V1}/audit?since=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`)).json;
  assert.deepEqual(future, { entries: [], more: false });
  const past = (await a.call('GET', `${V1}/audit?until=2000-01-01T00:00:00Z`)).json;
  assert.equal(past.entries.length, 0);
  const page1 = (await a.call('GET', `${V1}/audit?limit=2`)).json;
  assert.equal(page1.entries.length, 2);
  assert.equal(page1.more, true);
  const page2 = (await a.call('GET', `${V1}/audit?limit=2&beforeId=${page1.entries[1].id}`)).json;
  assert.ok(page2.entries[0].id < page1.entries[1].id);
  const bad = await a.call('GET', `${V1}/audit?since=yesterday`);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.problems[0].field, '/since');
});

test('API tokens: made by an admin, shown once, stored hashed, bearer auth without CSRF, role checked, revocable, audited', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  const made = await a.call('POST', `${V1}/tokens`, { name: 'deploy', role: 'admin' });
  assert.equal(made.status, 201, made.text);
  const token: string = made.json.token;
  assert.match(token, /^keel_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  const secret = token.split('_').slice(2).join('_');
  const dump = JSON.stringify(env.store.db.prepare('SELECT * FROM api_tokens').all());
  assert.ok(!dump.includes(secret), 'the secret is not stored');
  const list = await a.call('GET', `${V1}/tokens`);
  assert.ok(!list.text.includes(secret), 'never shown again');
  assert.equal(list.json[0].name, 'deploy');

  const bot = env.client({ bearer: token });
  assert.equal((await bot.call('GET', `${V1}/config/ntp`)).status, 200);
  const put = await bot.call('PUT', `${V1}/config/clock`, { timezone: 'Asia/Tokyo' });
  assert.equal(put.status, 200, `no CSRF token needed with a bearer token: ${put.text}`);
  assert.ok(env.store.auditLog().some((e) => e.who === 'token:deploy' && /^api:/.test(e.source) && /set clock/.test(e.action)));
  assert.equal((await bot.call('GET', '/mics/settings/ssh')).status, 302, 'tokens do not open pages');

  const ro = (await a.call('POST', `${V1}/tokens`, { name: 'monitor', role: 'operator', expiresDays: 1 })).json;
  const mon = env.client({ bearer: ro.token });
  assert.equal((await mon.call('GET', `${V1}/config`)).status, 200);
  const refused = await mon.call('PUT', `${V1}/config/clock`, { timezone: 'UTC' });
  assert.equal(refused.status, 403);
  assert.equal((await mon.call('GET', `${V1}/tokens`)).status, 403, 'operators do not see tokens');
  assert.equal((await mon.call('POST', `${V1}/tokens`, { name: 'x', role: 'admin' })).status, 403, 'an operator token cannot mint an admin token');

  assert.equal((await a.call('DELETE', `${V1}/tokens/${made.json.id}`)).status, 200);
  assert.equal((await bot.call('GET', `${V1}/config/ntp`)).status, 401, 'revoked at once');
  assert.equal((await env.client({ bearer: `${token.slice(0, -1)}A` }).call('GET', `${V1}/config`)).status, 401);
  assert.equal((await a.call('DELETE', `${V1}/tokens/${made.json.id}`)).status, 404);
  const audit = env.store.auditLog().map((e) => e.action);
  assert.ok(audit.some((x) => x.startsWith(`create API token ${made.json.id} "deploy" role admin`)));
  assert.ok(audit.some((x) => x === `revoke API token ${made.json.id}`));
  assert.ok(!JSON.stringify(env.store.auditLog()).includes(secret));
});

test('operators read only; they may change their own password, at most once per 24 h', async (t) => {
  const env = await start(t);
  const o = await env.signIn('oper', OP_PASSWORD);
  assert.equal((await o.call('GET', `${V1}/config/ssh`)).status, 200);
  assert.equal((await o.call('GET', `${V1}/users`)).status, 200);
  for (const [m, u, b] of [
    ['PUT', `${V1}/config/ssh`, { enabled: true, port: 22 }],
    ['POST', `${V1}/config/save`, {}],
    ['POST', `${V1}/users`, { name: 'x', role: 'admin', password: 'Xx345678a' }],
    ['POST', `${V1}/maintenance/reboot`, { confirm: true }],
    ['PUT', `${V1}/users/admin`, { password: 'Another1pass' }],
    ['PUT', `${V1}/users/oper`, { role: 'admin' }],
  ] as const) {
    const r = await o.call(m, u, b);
    assert.equal(r.status, 403, `${m} ${u}: ${r.text}`);
  }
  assert.equal((await o.call('GET', `${V1}/maintenance/support-bundle`)).status, 403);
  const weak = await o.call('PUT', `${V1}/users/oper`, { password: 'short' });
  assert.equal(weak.status, 400);
  assert.deepEqual([weak.json.problems[0].field, weak.json.problems[0].rule], ['/users/local/1/password', 'password-policy']);
  const ok = await o.call('PUT', `${V1}/users/oper`, { password: 'NewOper4tor' });
  assert.equal(ok.status, 200, ok.text);
  const twice = await o.call('PUT', `${V1}/users/oper`, { password: 'NewOper5tor' });
  assert.equal(twice.status, 400);
  assert.equal(twice.json.problems[0].rule, 'password-age');
});

test('local users: add, change, unlock (shared lockout), delete; never a hash in answers', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  const bad = await a.call('POST', `${V1}/users`, { name: 'root', role: 'admin', password: 'Good1password' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.problems[0].rule, 'user-name');
  const dup = await a.call('POST', `${V1}/users`, { name: 'oper', role: 'admin', password: 'Good1password' });
  assert.equal(dup.json.problems[0].rule, 'unique');
  const plan = await a.call('POST', `${V1}/users/plan`, { name: 'jane', role: 'admin', password: 'Good1password' });
  assert.match(plan.json.diff, /\+username jane role admin secret 9 <redacted>/);
  assert.doesNotMatch(plan.text, /\$scrypt\$/);
  assert.equal((await a.call('POST', `${V1}/users`, { name: 'jane', role: 'admin', password: 'Good1password' })).status, 200);
  const users = await a.call('GET', `${V1}/users`);
  assert.deepEqual(users.json.users.map((u: { name: string }) => u.name), ['admin', 'oper', 'jane']);
  assert.doesNotMatch(users.text, /scrypt|passwordHash/);
  assert.equal(users.json.passwordPolicy.minLength, 8);

  const lockouts = new Lockouts(env.store);
  for (let i = 0; i < 5; i++) lockouts.fail('jane', 'ssh:192.0.2.7', { attempts: 5, windowMinutes: 15, lockMinutes: 15 });
  assert.ok((await a.call('GET', `${V1}/users`)).json.users[2].lockedUntil);
  const un = await a.call('POST', `${V1}/users/jane/unlock`);
  assert.deepEqual(un.json, { wasLocked: true });
  assert.equal(lockouts.lockedUntil('jane'), null);
  assert.ok(env.store.auditLog().some((e) => e.action === 'unlock user jane' && e.who === 'admin'));

  const lo = await a.call('PUT', `${V1}/config/users/lockout`, { attempts: 3, windowMinutes: 10, lockMinutes: 30 });
  assert.equal(lo.status, 200, lo.text);
  assert.equal((await a.call('PUT', `${V1}/config/users/lockout`, { attempts: 0, windowMinutes: 10, lockMinutes: 30 })).json.problems[0].field, '/users/lockout/attempts');

  const j = await env.signIn('jane', 'Good1password');
  assert.equal((await a.call('PUT', `${V1}/users/jane`, { role: 'operator' })).status, 200);
  assert.equal((await j.call('PUT', `${V1}/config/clock`, { timezone: 'UTC' })).status, 403, 'a demotion takes effect at once');
  assert.equal((await a.call('DELETE', `${V1}/users/admin`)).json.problems[0].rule, 'self');
  assert.equal((await a.call('DELETE', `${V1}/users/jane`)).status, 200);
  assert.equal((await j.call('GET', `${V1}/config`)).status, 401, 'a deleted user is signed out');
  assert.equal((await a.call('DELETE', `${V1}/users/nobody`)).status, 404);
});

test('local users carry the seed\'s record: names, e-mail, EDIPI (10 digits); an empty value removes one; operators cannot set them', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  const bad = await a.call('POST', `${V1}/users`, { name: 'jdoe', role: 'operator', password: 'Good1password', edipi: '12345', email: 'not-an-address' });
  assert.equal(bad.status, 400);
  const byField = Object.fromEntries(bad.json.problems.map((p: { field: string; message: string }) => [p.field, p.message]));
  assert.match(byField['/users/local/2/edipi'], /must be exactly 10 digits, like 1234567890/);
  assert.match(byField['/users/local/2/email'], /e-mail address/);
  assert.doesNotMatch(bad.text, /pattern|\^\[0-9\]/, 'no schema wording or regex in the answer');
  const ok = await a.call('POST', `${V1}/users`, { name: 'jdoe', role: 'operator', password: 'Good1password', firstName: 'John', lastName: 'Doe', email: 'john.doe@example.mil', edipi: '1234567890' });
  assert.equal(ok.status, 200, ok.text);
  const view = (await a.call('GET', `${V1}/users`)).json.users.find((u: { name: string }) => u.name === 'jdoe');
  assert.deepEqual([view.firstName, view.lastName, view.email, view.edipi], ['John', 'Doe', 'john.doe@example.mil', '1234567890']);
  assert.equal((await a.call('PUT', `${V1}/users/jdoe`, { edipi: '', lastName: 'Doe-Smith' })).status, 200);
  const after = env.store.running()!.config.users.local.find((u) => u.name === 'jdoe')!;
  assert.equal(after.edipi, undefined);
  assert.equal(after.lastName, 'Doe-Smith');
  const j = await env.signIn('jdoe', 'Good1password');
  assert.equal((await j.call('PUT', `${V1}/users/jdoe`, { email: 'me@example.com' })).status, 403, 'operators change only their own password');
});

test('e-mail settings: the password is kept, never returned', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  assert.equal((await a.call('GET', `${V1}/config/email`)).status, 404);
  const e = { from: 'alerts@example.com', server: 'smtp.example.com', port: 587, protocol: 'starttls', auth: true, username: 'alerts', password: 'S3cret-smtp' };
  assert.equal((await a.call('PUT', `${V1}/config/email`, e)).status, 200);
  const got = await a.call('GET', `${V1}/config/email`);
  assert.deepEqual(got.json, { from: e.from, server: e.server, port: 587, protocol: 'starttls', auth: true, username: 'alerts', passwordSet: true });
  const { password: _p, ...noPw } = e;
  const again = await a.call('PUT', `${V1}/config/email`, { ...noPw, from: 'keel@example.com' });
  assert.equal(again.status, 200, again.text);
  assert.equal(env.store.running()!.config.email!.password, 'S3cret-smtp', 'left out, same server, port, protocol and user: kept');
  // Another port and protocol (or server, or user): the stored password is not sent there unless typed again.
  const moved = await a.call('PUT', `${V1}/config/email`, { ...noPw, port: 465, protocol: 'smtps' });
  assert.equal(moved.status, 400, moved.text);
  assert.equal(moved.json.problems[0].field, '/email/password');
  assert.equal(env.store.running()!.config.email!.port, 587, 'nothing changed');
  assert.equal((await a.call('PUT', `${V1}/config/email`, { ...e, port: 465, protocol: 'smtps' })).status, 200, 'with the password typed again');
  const plan = await a.call('POST', `${V1}/config/email/plan`, { ...e, password: 'Other-pass' });
  assert.doesNotMatch(plan.text, /S3cret|Other-pass/);
  assert.match(plan.json.configDiff, /"password": "<redacted>"/);
  assert.ok(!JSON.stringify(env.store.auditLog()).includes('S3cret'));
});

test('backup: encrypted export, restore with a diff first; wrong passphrase and tampering refused', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  assert.equal((await a.call('POST', `${V1}/maintenance/backup`, { passphrase: 'short' })).json.problems[0].field, '/passphrase');
  const exp = await a.call('POST', `${V1}/maintenance/backup`, { passphrase: 'correct horse battery' });
  assert.equal(exp.status, 200);
  assert.match(String(exp.headers['content-disposition']), /attachment; filename="keel-config-core\.example\.com-.*\.json"/);
  const file = JSON.parse(exp.text);
  assert.equal(file.format, 'keel-config-backup');
  assert.equal(file.cipher, 'aes-256-gcm');
  assert.doesNotMatch(exp.text, /scrypt\$|core\.example\.com.*192\.0\.2\.10|192\.0\.2\.123/, 'the configuration is not readable');

  await a.call('PUT', `${V1}/config/ntp`, { enabled: false, servers: [] });
  const wrong = await a.call('POST', `${V1}/maintenance/restore/plan`, { backup: exp.text, passphrase: 'wrong horse battery' });
  assert.equal(wrong.status, 400);
  assert.deepEqual([wrong.json.problems[0].field, wrong.json.problems[0].rule], ['/passphrase', 'decrypt']);
  const tampered = JSON.stringify({ ...file, createdAt: '2030-01-01T00:00:00.000Z' });
  assert.equal((await a.call('POST', `${V1}/maintenance/restore/plan`, { backup: tampered, passphrase: 'correct horse battery' })).json.problems[0].rule, 'decrypt', 'a changed date is detected');
  assert.equal((await a.call('POST', `${V1}/maintenance/restore/plan`, { backup: '{"hello":1}', passphrase: 'x' })).json.problems[0].rule, 'format');

  const plan = await a.call('POST', `${V1}/maintenance/restore/plan`, { backup: exp.text, passphrase: 'correct horse battery' });
  assert.equal(plan.status, 200, plan.text);
  assert.equal(plan.json.backup.revision, 1);
  assert.equal(plan.json.backup.hostname, 'core.example.com');
  assert.match(plan.json.diff, /^\+ntp server 192\.0\.2\.123$/m);
  assert.equal(env.store.running()!.config.ntp.enabled, false, 'plan changes nothing');
  const r = await a.call('POST', `${V1}/maintenance/restore`, { backup: exp.text, passphrase: 'correct horse battery' });
  assert.equal(r.status, 200, r.text);
  assert.equal(env.store.running()!.config.ntp.enabled, true);
  assert.ok(env.store.auditLog().some((e) => /restore backup of/.test(e.action)));
});

test('support bundle has no secrets; reboot needs confirmation and goes through the processes adapter', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  await a.call('PUT', `${V1}/config/email`, { from: 'alerts@example.com', server: 'smtp.example.com', port: 25, protocol: 'smtp', auth: true, username: 'u', password: 'Sm7p-secret' });
  const r = await a.call('GET', `${V1}/maintenance/support-bundle`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/gzip');
  const tar = zlib.gunzipSync(r.raw).toString('latin1');
  assert.match(tar, /running-config\.txt/);
  assert.match(tar, /audit\.txt/);
  assert.match(tar, /ntp server 192\.0\.2\.123/);
  assert.doesNotMatch(tar, /\$scrypt\$|Sm7p-secret/);
  assert.equal(env.store.auditLog()[0].action, 'download support bundle');

  assert.equal((await a.call('POST', `${V1}/maintenance/reboot`, {})).status, 400);
  const rb = await a.call('POST', `${V1}/maintenance/reboot`, { confirm: true });
  assert.equal(rb.status, 202);
  assert.deepEqual(rb.json, { rebooting: true, unsavedLost: true });
  await new Promise((res) => setTimeout(res, 500));
  assert.ok(env.proc.recorded.includes('systemctl reboot'));
  const up = await a.call('GET', `${V1}/updates`);
  assert.equal(up.json.repository, null);
  assert.equal(up.json.label, 'Up to Date');
});

test('changes page: unsaved changes are startup-config -> running-config, each revision has its own diff, lines marked for colour', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  assert.equal((await a.call('PUT', `${V1}/config/ntp`, { enabled: true, servers: ['192.0.2.124'] })).status, 200);
  const page = (await a.call('GET', '/mics/changes')).text;
  assert.match(page, /<pre class="diff" id="unsaved-diff"><span class="file">=+<\/span>\n<span class="file">--- startup-config<\/span>\n<span class="file">\+\+\+ running-config<\/span>/);
  assert.match(page, /<span class="del">-ntp server 192\.0\.2\.123<\/span>/);
  assert.match(page, /<span class="add">\+ntp server 192\.0\.2\.124<\/span>/);
  assert.match(page, /<details class="revision-diff"><summary>Diff<\/summary><pre class="diff">[\s\S]*?\+ntp server 192\.0\.2\.124/);
  assert.doesNotMatch(page, /candidate-config/);
});

test('after a hostname change the dashboard says that System Manager\'s certificate names the old one', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  assert.doesNotMatch((await a.call('GET', '/mics/')).text, /id="cert-hostname"/);
  const system = (await a.call('GET', `${V1}/config/system`)).json;
  assert.equal((await a.call('PUT', `${V1}/config/system`, { ...system, hostname: 'renamed.example.com' })).status, 200);
  assert.match((await a.call('GET', '/mics/')).text, /id="cert-hostname"[^>]*>System Manager&#39;s certificate is for core\.example\.com, not renamed\.example\.com: browsers will warn/);
});

test('API explorer at /mics/api/: signed in only, every operation with its fields, no script, under the strict CSP', async (t) => {
  const env = await start(t);
  const anon = await env.app.inject({ method: 'GET', url: '/mics/api/' });
  assert.ok([302, 401].includes(anon.statusCode), `not signed in: ${anon.statusCode}`);
  assert.doesNotMatch(anon.body, /details class="op"/);
  const a = await env.signIn();
  const r = await a.call('GET', '/mics/api/');
  assert.equal(r.status, 200, r.text);
  assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
  assert.doesNotMatch(r.text, /<script(?![^>]*\bsrc=)/, 'no inline script');
  assert.match(r.text, /<span class="badge method-post">POST<\/span> <code>\/mics\/api\/v1\/users<\/code> Add a local user/);
  assert.match(r.text, /<td><code>edipi<\/code><\/td><td>string \(at most 10\)<\/td><td><\/td><td>DoD EDIPI, 10 digits/);
  assert.match(r.text, /<a href="\/mics\/api\/v1\/users">open<\/a>/, 'a GET without parameters links to its JSON');
  const ops = (r.text.match(/<details class="op"/g) ?? []).length;
  const doc = (await a.call('GET', '/mics/api/openapi.json')).json as { paths: Record<string, Record<string, unknown>> };
  const expected = Object.values(doc.paths).reduce((n, p) => n + Object.keys(p).filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m)).length, 0);
  assert.equal(ops, expected, 'every operation of the OpenAPI document is listed');
});

test('pages render for admin and operator, with the unsaved marker in the header and no inline script', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  for (const p of ['/mics/', '/mics/settings/network', '/mics/settings/time', '/mics/settings/ssh', '/mics/settings/email', '/mics/security/users', '/mics/security/password-policy', '/mics/security/tokens', '/mics/maintenance', '/mics/maintenance/updates', '/mics/changes', '/mics/diagnostics/tools', '/mics/audit?user=admin&since=2020-01-01T00:00']) {
    const r = await a.call('GET', p);
    assert.equal(r.status, 200, `${p}: ${r.text.slice(0, 300)}`);
    assert.doesNotMatch(r.text, /<script>|<script [^>]*>[^<]|style=|on(click|submit|load)=/i, `${p}: no inline script or style`);
    assert.match(r.text, /<script src="\/mics\/static\/app\.js" defer><\/script>/);
    assert.match(r.text, /id="saved-flag"/);
  }
  await a.call('PUT', `${V1}/config/clock`, { timezone: 'Europe/Berlin' });
  const page = await a.call('GET', '/mics/settings/time');
  assert.match(page.text, /id="unsaved-flag"/);
  assert.match(page.text, /id="save-config"/);
  const o = await env.signIn('oper', OP_PASSWORD);
  const op = await o.call('GET', '/mics/settings/time');
  assert.match(op.text, /data-role="operator"/);
  assert.doesNotMatch(op.text, /id="save-config"/, 'operators cannot save');
  assert.equal((await o.call('GET', '/mics/security/tokens')).status, 403);
  const js = await a.call('GET', '/mics/static/app.js');
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /javascript/);
});
