import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { validate, type Config } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { buildServer, run, NotConfiguredError } from '../../webui/server.ts';
import { IDLE_TIMEOUT_MS, ABSOLUTE_TIMEOUT_MS } from '../../webui/sessions.ts';
import { esc } from '../../webui/pages.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';

process.env.KEEL_LOG ??= 'silent';

const PASSWORD = 'Passw0rd!x';
const FQDN = 'core.example.com';
let hash: Promise<string> | null = null;

interface Res {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: () => any;
  cookies: Record<string, string>;
}

interface Env {
  app: FastifyInstance;
  root: string;
  port: number;
  store: Store;
  clock: { now: number };
  /** A client that trusts only the appliance certificate and checks it is for the FQDN. */
  req: (method: string, path: string, opts?: { headers?: Record<string, string>; body?: unknown; cookie?: string }) => Promise<Res>;
  signIn: () => Promise<{ cookie: string; csrf: string }>;
}

/** A sandbox root with a valid saved configuration, and the real server on 127.0.0.1, ephemeral port. */
async function start(
  t: TestContext,
  opts: { edit?: (c: Config) => void; beforeListen?: (app: FastifyInstance) => void } = {},
): Promise<Env> {
  const root = tempRoot('keel-webui-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const sysfs = fakeSysfs(root, 2);
  const host = createHost(root, { sysfs });
  const config = sampleConfig();
  hash ??= hashSecret(PASSWORD);
  config.users.local[0].passwordHash = await hash;
  opts.edit?.(config);
  const setup = Store.open(host);
  setup.commitRunning(validate(config), { who: 'test', source: 'test' }, 'initial', '');
  setup.saveStartup({ who: 'test', source: 'test' });
  setup.close();

  const clock = { now: Date.now() };
  const app = await buildServer({ host, failureDelayMs: 20, now: () => clock.now });
  opts.beforeListen?.(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.onTestFinished(() => { app.close(); });
  const port = (app.server.address() as { port: number }).port;
  const ca = app.keel.certificate.certPem;

  const req: Env['req'] = (method, path, o = {}) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      let body: string | undefined;
      if (o.body !== undefined) {
        body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
        headers['content-type'] ??= 'application/json';
      }
      if (o.cookie) headers.cookie = o.cookie;
      const r = https.request({ host: '127.0.0.1', port, path, method, headers, ca, servername: FQDN, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          const cookies: Record<string, string> = {};
          for (const c of res.headers['set-cookie'] ?? []) cookies[c.slice(0, c.indexOf('='))] = c;
          resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text), cookies });
        });
      });
      r.on('error', reject);
      r.end(body);
    });

  const signIn = async () => {
    const r = await req('POST', '/mics/api/session', { body: { username: 'admin', password: PASSWORD } });
    assert.equal(r.status, 200, r.text);
    const set = r.cookies.keel_session;
    return { cookie: set.split(';')[0], csrf: r.json().csrfToken as string };
  };
  return { app, root, port, store: app.keel.store, clock, req, signIn };
}

test('does not start before the wizard has saved a configuration', async (t) => {
  const root = tempRoot('keel-webui-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  await assert.rejects(buildServer({ root }), NotConfiguredError);
  const errors: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(' '));
  try {
    assert.equal(await run(['--root', root, '--https-port', '0']), 1);
    assert.equal(await run(['--root', root, '--https-port', 'http']), 2);
  } finally {
    console.error = orig;
  }
  assert.match(errors.join('\n'), /not configured yet/);
});

test('HTTPS with the appliance certificate, TLS 1.2 and 1.3 only', async (t) => {
  const env = await start(t);
  const connect = (o: tls.ConnectionOptions) =>
    new Promise<{ protocol: string | null; fp: string; cipher: string } | { error: string }>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: env.port, servername: FQDN, ca: env.app.keel.certificate.certPem, ...o }, () => {
        const out = { protocol: s.getProtocol(), fp: s.getPeerCertificate().fingerprint256, cipher: s.getCipher().name };
        s.end();
        resolve(out);
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    const r = await connect({ minVersion: v, maxVersion: v });
    assert.ok('protocol' in r, `${v} accepted: ${JSON.stringify(r)}`);
    assert.equal(r.protocol, v);
    assert.equal(r.fp, env.app.keel.certificate.fingerprint256, 'the certificate whose fingerprint the console shows');
  }
  // The client allows the old protocols (SECLEVEL=0); the server answers with a protocol_version alert.
  for (const v of ['TLSv1', 'TLSv1.1'] as const) {
    const r = await connect({ minVersion: v, maxVersion: v, ciphers: 'DEFAULT@SECLEVEL=0' });
    assert.deepEqual(r, { error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' }, `${v} refused`);
  }
  // TLS 1.2 without forward secrecy / AEAD is refused.
  const weak = await connect({ maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:AES256-GCM-SHA384' });
  assert.ok('error' in weak, 'static-RSA and CBC suites refused');
  // The certificate is for the FQDN: a client that expects another name rejects it.
  const wrong = await connect({ servername: 'other.example.com' });
  assert.deepEqual(wrong, { error: 'ERR_TLS_CERT_ALTNAME_INVALID' });
});

test('security headers, and / goes to /mics/', async (t) => {
  const { req } = await start(t);
  const r = await req('GET', '/');
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, '/mics/');
  assert.equal((await req('GET', '/mics')).headers.location, '/mics/');
  const p = await req('GET', '/mics/');
  assert.equal(p.status, 200);
  assert.equal(p.headers['strict-transport-security'], 'max-age=31536000');
  const csp = String(p.headers['content-security-policy']);
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(p.headers['x-frame-options'], 'DENY');
  assert.equal(p.headers['x-content-type-options'], 'nosniff');
  assert.equal(p.headers['referrer-policy'], 'same-origin', 'no referrer leaves the appliance; own posts keep their Origin');
  assert.equal(p.headers['cache-control'], 'no-store');
  assert.doesNotMatch(p.text, /<script|style=/, 'no inline scripts or styles');
  assert.equal(p.headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(p.headers['cross-origin-resource-policy'], 'same-origin');
  assert.equal(p.headers['x-dns-prefetch-control'], 'off');
  assert.equal(p.headers['origin-agent-cluster'], '?1');
  assert.equal(p.headers['x-permitted-cross-domain-policies'], 'none');
  assert.match(String(p.headers['x-request-id']), /^[0-9a-f]{16}$/);
  // The same security headers on answers that never reach a route: a 404 page, an API 401.
  const SECURITY = ['content-security-policy', 'strict-transport-security', 'x-frame-options', 'x-content-type-options', 'referrer-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'x-xss-protection', 'origin-agent-cluster', 'cache-control'];
  for (const [path, status] of [['/mics/nope', 404], ['/mics/api/health', 401]] as const) {
    const r = await req('GET', path);
    assert.equal(r.status, status);
    for (const h of SECURITY) assert.equal(r.headers[h], p.headers[h], `${h} on the ${status}`);
  }
  const css = await req('GET', '/mics/static/style.css');
  assert.equal(css.status, 200);
  assert.match(String(css.headers['content-type']), /^text\/css/);
  assert.equal(css.headers['cache-control'], 'max-age=3600', 'the style sheet may be cached');
  assert.equal(css.headers['content-security-policy'], p.headers['content-security-policy']);
});

test('API sign-in: good, bad (401, audited without the password, slowed), malformed (400 naming the field)', async (t) => {
  const { req, store } = await start(t);
  const t0 = Date.now();
  const bad = await req('POST', '/mics/api/session', { body: { username: 'admin', password: 'Wrong-pass1' } });
  assert.equal(bad.status, 401);
  assert.ok(Date.now() - t0 >= 20, 'answered after the failure delay');
  assert.deepEqual(Object.keys(bad.json()), ['error']);
  assert.equal(bad.cookies.keel_session, undefined);
  const unknown = await req('POST', '/mics/api/session', { body: { username: 'nobody', password: PASSWORD } });
  assert.equal(unknown.status, 401);
  assert.equal(unknown.json().error, bad.json().error, 'unknown user and wrong password look the same');
  const audit = store.auditLog().filter((a) => a.action.includes('sign in'));
  assert.equal(audit.length, 2);
  assert.match(audit[1].outcome, /^failed/);
  assert.equal(audit[1].who, 'admin');
  assert.match(audit[1].source, /^webui:127\.0\.0\.1$/);
  assert.ok(!JSON.stringify(store.auditLog()).includes('Wrong-pass1'), 'no password in the audit log');

  const missing = await req('POST', '/mics/api/session', { body: { username: 'admin' } });
  assert.equal(missing.status, 400);
  assert.deepEqual(missing.json().problems[0], { field: '/password', label: 'password', rule: 'required', message: 'is required' });
  const wrongType = await req('POST', '/mics/api/session', { body: { username: 'admin', password: { not: 'a string' } } });
  assert.equal(wrongType.status, 400);
  assert.equal(wrongType.json().problems[0].field, '/password');
  const notJson = await req('POST', '/mics/api/session', { body: '{"username":', headers: { 'content-type': 'application/json' } });
  assert.equal(notJson.status, 400);
  const form = await req('POST', '/mics/api/session', { body: `username=admin&password=${PASSWORD}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(form.status, 415, 'the JSON API takes no form posts (a cross-site form could send one)');

  const good = await req('POST', '/mics/api/session', { body: { username: 'admin', password: PASSWORD } });
  assert.equal(good.status, 200);
  assert.equal(good.json().username, 'admin');
  assert.match(good.json().csrfToken, /^[A-Za-z0-9_-]{43}$/);
  const cookie = good.cookies.keel_session;
  assert.match(cookie, /^keel_session=[A-Za-z0-9_-]{43};/, '32 random bytes');
  assert.match(cookie, /; Path=\/mics(;|$)/);
  assert.match(cookie, /; Secure(;|$)/);
  assert.match(cookie, /; HttpOnly(;|$)/);
  assert.match(cookie, /; SameSite=Strict(;|$)/);
  // Only a digest of the id is stored.
  const id = cookie.split(';')[0].split('=')[1];
  const rows = store.db.prepare('SELECT id FROM sessions').all() as { id: string }[];
  assert.equal(rows.length, 1);
  assert.notEqual(rows[0].id, id);
  assert.equal(store.auditLog()[0].outcome, 'ok');
});

test('a cross-site sign-in is refused', async (t) => {
  const { req } = await start(t);
  const r = await req('POST', '/mics/api/session', { body: { username: 'admin', password: PASSWORD }, headers: { origin: 'https://evil.example.net' } });
  assert.equal(r.status, 403);
  const s = await req('POST', '/mics/api/session', { body: { username: 'admin', password: PASSWORD }, headers: { 'sec-fetch-site': 'cross-site' } });
  assert.equal(s.status, 403);
});

test('health and session need a session; sign-out needs the CSRF token', async (t) => {
  const { req, signIn } = await start(t);
  assert.equal((await req('GET', '/mics/api/health')).status, 401);
  assert.equal((await req('GET', '/mics/api/session')).status, 401);
  assert.equal((await req('GET', '/mics/api/health', { cookie: 'keel_session=forged' })).status, 401);
  const { cookie, csrf } = await signIn();

  const h = await req('GET', '/mics/api/health', { cookie });
  assert.equal(h.status, 200);
  const body = h.json();
  assert.equal(body.hostname, FQDN);
  assert.match(body.version, /^\d+\.\d+\.\d+/);
  assert.ok(Number.isInteger(body.uptimeSeconds) && body.uptimeSeconds > 0);
  assert.equal(body.uptimeOf, 'host', 'a sandbox root reports the host uptime, labelled');
  assert.deepEqual(body.configuration, { runningRevision: 1, startupRevision: 1, unsaved: false });
  assert.equal(body.interfaces.length, 2);
  assert.deepEqual(
    { ...body.interfaces[0], link: undefined },
    { name: 'GigabitEthernet1', pci: '0000:00:03.0', ifname: 'ens3', mac: '52:54:00:00:00:00', address: '192.0.2.10', netmask: '255.255.255.0', link: undefined },
  );
  assert.equal(body.interfaces[1].address, null, 'second NIC not configured');

  const s = await req('GET', '/mics/api/session', { cookie });
  assert.deepEqual([s.status, s.json().username, s.json().csrfToken], [200, 'admin', csrf]);

  const noToken = await req('DELETE', '/mics/api/session', { cookie });
  assert.equal(noToken.status, 403);
  assert.match(noToken.json().error, /CSRF/);
  const badToken = await req('DELETE', '/mics/api/session', { cookie, headers: { 'x-csrf-token': csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) } });
  assert.equal(badToken.status, 403);
  assert.equal((await req('GET', '/mics/api/health', { cookie })).status, 200, 'refused requests change nothing');
  const formNoToken = await req('POST', '/mics/logout', { cookie, body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(formNoToken.status, 403);
  assert.equal((await req('DELETE', '/mics/api/session')).status, 401, 'no session: 401 before CSRF');

  const out = await req('DELETE', '/mics/api/session', { cookie, headers: { 'x-csrf-token': csrf } });
  assert.equal(out.status, 204);
  assert.match(out.cookies.keel_session, /Max-Age=0/);
  assert.equal((await req('GET', '/mics/api/health', { cookie })).status, 401, 'the session is gone server-side');
});

test('sessions end after 15 idle minutes and after 8 hours', async (t) => {
  const { req, signIn, clock } = await start(t);
  const a = await signIn();
  clock.now += IDLE_TIMEOUT_MS - 60_000;
  assert.equal((await req('GET', '/mics/api/session', { cookie: a.cookie })).status, 200, 'activity keeps it alive');
  clock.now += IDLE_TIMEOUT_MS - 60_000;
  assert.equal((await req('GET', '/mics/api/session', { cookie: a.cookie })).status, 200);
  clock.now += IDLE_TIMEOUT_MS;
  assert.equal((await req('GET', '/mics/api/session', { cookie: a.cookie })).status, 401, 'idle too long');

  const b = await signIn();
  const end = clock.now + ABSOLUTE_TIMEOUT_MS;
  while (clock.now + 10 * 60_000 < end) {
    clock.now += 10 * 60_000;
    assert.equal((await req('GET', '/mics/api/session', { cookie: b.cookie })).status, 200);
  }
  clock.now = end;
  assert.equal((await req('GET', '/mics/api/session', { cookie: b.cookie })).status, 401, 'absolute limit');
});

test('pages: sign-in form with a pre-session token, status page, sign-out', async (t) => {
  const { req } = await start(t, { edit: (c) => (c.system.company = '<script>alert("x")</script> & Sons') });
  const page = await req('GET', '/mics/');
  assert.equal(page.status, 200);
  assert.match(page.text, /<form method="post" action="\/mics\/login">/);
  const pre = /name="_pre" value="([^"]+)"/.exec(page.text)![1];
  const preCookie = page.cookies.keel_pre;
  assert.match(preCookie, /HttpOnly; Secure; SameSite=Strict/);
  const form = (fields: Record<string, string>, cookie?: string, headers: Record<string, string> = {}) =>
    req('POST', '/mics/login', { body: new URLSearchParams(fields).toString(), cookie, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });

  // Without the matching pre-session cookie (a cross-site form cannot send it): refused.
  const noCookie = await form({ username: 'admin', password: PASSWORD, _pre: pre });
  assert.equal(noCookie.status, 403);
  assert.equal(noCookie.cookies.keel_session, undefined);
  const cross = await form({ username: 'admin', password: PASSWORD, _pre: pre }, preCookie.split(';')[0], { origin: 'https://evil.example.net' });
  assert.equal(cross.status, 403);
  const wrong = await form({ username: 'admin', password: 'nope-nope1', _pre: pre }, preCookie.split(';')[0]);
  assert.equal(wrong.status, 401);
  assert.match(wrong.text, /Wrong user name or password/);
  assert.match(wrong.text, /value="admin"/, 'keeps the user name, never the password');
  assert.doesNotMatch(wrong.text, /nope-nope1/);

  // An Origin that is not exactly this server's (here: without the port) is refused too.
  const otherPort = await form({ username: 'admin', password: PASSWORD, _pre: pre }, preCookie.split(';')[0], { origin: 'https://127.0.0.1' });
  assert.equal(otherPort.status, 403);
  const good = await form({ username: 'admin', password: PASSWORD, _pre: pre }, preCookie.split(';')[0]);
  assert.equal(good.status, 303);
  assert.equal(good.headers.location, '/mics/');
  const cookie = good.cookies.keel_session.split(';')[0];

  const status = await req('GET', '/mics/', { cookie });
  assert.equal(status.status, 200);
  assert.match(status.text, /<dd id="hostname">core\.example\.com<\/dd>/);
  assert.match(status.text, /GigabitEthernet1/);
  assert.match(status.text, /192\.0\.2\.10 \/ 255\.255\.255\.0/);
  assert.match(status.text, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; Sons/, 'escaped');
  assert.doesNotMatch(status.text, /<script>alert/);
  assert.doesNotMatch(status.text, /unsaved changes/i);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(status.text)![1];

  const out = await req('POST', '/mics/logout', { cookie, body: `_csrf=${encodeURIComponent(csrf)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(out.status, 303);
  assert.match((await req('GET', '/mics/', { cookie })).text, /action="\/mics\/login"/, 'signed out: the sign-in page again');
});

test('the status page marks unsaved changes', async (t) => {
  const env = await start(t);
  const { cookie } = await env.signIn();
  const next = structuredClone(env.store.running()!.config);
  next.dns.servers = ['192.0.2.54'];
  env.store.commitRunning(validate(next), { who: 'admin', source: 'test' }, 'dns', '');
  const page = await env.req('GET', '/mics/', { cookie });
  assert.match(page.text, /id="unsaved"/);
  assert.match(page.text, /revision 2\) differs from the saved one \(revision 1\)/);
  assert.match(page.text, /badge warn">unsaved changes/);
  const h = (await env.req('GET', '/mics/api/health', { cookie })).json();
  assert.deepEqual(h.configuration, { runningRevision: 2, startupRevision: 1, unsaved: true });
});

test('openapi.json is an OpenAPI 3 document of the API routes', async (t) => {
  const { req } = await start(t);
  const r = await req('GET', '/mics/api/openapi.json');
  assert.equal(r.status, 200);
  const doc = r.json();
  assert.match(doc.openapi, /^3\.\d+\.\d+$/);
  assert.equal(typeof doc.info.title, 'string');
  assert.equal(typeof doc.info.version, 'string');
  const paths = Object.keys(doc.paths);
  for (const p of ['/mics/api/health', '/mics/api/openapi.json', '/mics/api/session', '/mics/api/v1/config', '/mics/api/v1/config/ntp', '/mics/api/v1/config/ntp/plan', '/mics/api/v1/config/save', '/mics/api/v1/users', '/mics/api/v1/audit', '/mics/api/v1/tokens'])
    assert.ok(paths.includes(p), `${p} is documented`);
  assert.ok(paths.every((p) => p.startsWith('/mics/api/')), 'only API routes (no pages)');
  assert.deepEqual(Object.keys(doc.paths['/mics/api/session']).sort(), ['delete', 'get', 'post']);
  for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, { summary?: string; description?: string; responses?: object }>>)) {
    for (const [m, op] of Object.entries(ops)) {
      assert.ok(op.summary && op.description, `${m} ${p} has a summary and description`);
      assert.ok(op.responses, `${m} ${p} has responses`);
    }
  }
  const post = doc.paths['/mics/api/session'].post;
  assert.deepEqual(post.requestBody.content['application/json'].schema.required, ['username', 'password']);
  assert.ok(doc.paths['/mics/api/health'].get.responses['200'].content['application/json'].schema.properties.interfaces);
  assert.equal(doc.components.securitySchemes.sessionCookie.name, 'keel_session');
});

test('a bug answers 500 with a request id and no internals', async (t) => {
  const { req, signIn } = await start(t, {
    beforeListen: (app) => {
      app.get('/mics/api/test-bug', async () => {
        throw new Error('secret internal detail at /var/lib/keel/keel.db');
      });
      app.get('/mics/test-bug', { config: { public: true } }, async () => {
        throw new TypeError('page internal detail');
      });
    },
  });
  const { cookie } = await signIn();
  const lines: string[] = [];
  const write = process.stderr.write;
  const prev = process.env.KEEL_LOG;
  delete process.env.KEEL_LOG;
  process.stderr.write = ((s: string) => (lines.push(String(s)), true)) as typeof process.stderr.write;
  let r: Res, p: Res;
  try {
    r = await req('GET', '/mics/api/test-bug', { cookie });
    p = await req('GET', '/mics/test-bug');
  } finally {
    process.stderr.write = write;
    process.env.KEEL_LOG = prev;
  }
  assert.equal(r.status, 500);
  const body = r.json();
  assert.match(body.requestId, /^[0-9a-f]{16}$/);
  assert.equal(r.headers['x-request-id'], body.requestId);
  assert.doesNotMatch(r.text, /secret|keel\.db|at .*\.ts|Error/);
  assert.equal(p.status, 500);
  assert.doesNotMatch(p.text, /page internal detail|TypeError|\.ts:/);
  assert.match(p.text, /Request id/);
  // The details are in the log, under the request id.
  const logged = lines.join('');
  assert.match(logged, new RegExp(`requestId="${body.requestId}".*secret internal detail`));
  assert.equal((await req('GET', '/mics/api/nothing-here', { cookie })).status, 404);
});

test('esc escapes everything HTML-significant', () => {
  assert.equal(esc(`<a href="x" onclick='y'>&\``), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;');
  assert.equal(esc(null), '');
});
