/**
 * Outbound HTTP proxy: the `proxy` section (schema and rules), its System Manager API (password never
 * returned, kept when left out, redacted in plans), and the update repository client going through a
 * real CONNECT proxy on loopback (authentication, no-proxy list, refusal).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyAtBoot } from '../../appliance/config/apply.ts';
import { check, validate } from '../../appliance/config/schema.ts';
import { makeSelfSigned } from '../../appliance/certs/webui.ts';
import { OperationalError } from '../../appliance/errors.ts';
import { proxyEnv, type ProxyConfig } from '../../appliance/proxy/schema.ts';
import { fetchIndex, repositoryOptions } from '../../appliance/update/repository.ts';
import type { UpdateContext } from '../../appliance/update/context.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { redactConfig, REDACTED } from '../../webui/redact.ts';
import { buildServer } from '../../webui/server.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';
const PROXY_PASSWORD = 'Pr0xy-S3cret!';

const proxy = (over: Partial<ProxyConfig> = {}): ProxyConfig => ({ enabled: true, url: 'http://proxy.example.com:3128', noProxy: [], ...over });

test('proxy section: valid settings pass; bad URL, port, lone user name or password are refused by field', () => {
  assert.deepEqual(check({ ...sampleConfig(), proxy: proxy({ username: 'svc', password: PROXY_PASSWORD, noProxy: ['.example.com', '192.0.2.7'] }) }), []);
  assert.deepEqual(check(sampleConfig()), [], 'the section is optional');
  const fields = (p: unknown) => check({ ...sampleConfig(), proxy: p }).map((x) => `${x.field} ${x.rule}`);
  assert.deepEqual(fields(proxy({ url: 'https://proxy.example.com:3128' })), ['/proxy/url pattern']);
  assert.deepEqual(fields(proxy({ url: 'http://user:pw@proxy.example.com:3128' })), ['/proxy/url pattern']);
  assert.deepEqual(fields(proxy({ url: 'http://proxy.example.com:99999' })), ['/proxy/url port']);
  assert.deepEqual(fields(proxy({ username: 'svc' })), ['/proxy/password required']);
  assert.deepEqual(fields(proxy({ password: 'x' })), ['/proxy/username required']);
  assert.deepEqual(fields(proxy({ noProxy: ['bad host!'] })), ['/proxy/noProxy/0 pattern']);
  assert.equal(proxyEnv(proxy({ enabled: false })), null, 'off: direct');
  assert.deepEqual(proxyEnv(proxy({ username: 'svc', password: 'p@ss:w', noProxy: ['a', '.b'] })), {
    HTTPS_PROXY: 'http://svc:p%40ss%3Aw@proxy.example.com:3128/',
    HTTP_PROXY: 'http://svc:p%40ss%3Aw@proxy.example.com:3128/',
    NO_PROXY: 'a,.b',
  });
  const r = redactConfig(validate({ ...sampleConfig(), proxy: proxy({ username: 'svc', password: PROXY_PASSWORD }) }));
  assert.equal(r.proxy?.password, REDACTED);
});

test('System Manager API: /config/proxy plans and applies; the password is never returned, kept when left out, redacted in the plan', async (t) => {
  const root = tempRoot('keel-proxy-api-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root, { sysfs: fakeSysfs(root, 1) });
  const config = sampleConfig();
  config.users.local[0].passwordHash = await hashSecret(PASSWORD);
  const s = Store.open(host);
  s.commitRunning(validate(config), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  await applyAtBoot(host, s);
  s.close();
  const app = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => { app.close(); });
  const r0 = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username: 'admin', password: PASSWORD } });
  assert.equal(r0.statusCode, 200, r0.body);
  const headers = { cookie: String(r0.headers['set-cookie']).split(';')[0], 'x-csrf-token': JSON.parse(r0.body).csrfToken };
  const call = async (method: 'GET' | 'PUT' | 'POST', url: string, payload?: object) => {
    const r = await app.inject({ method, url: `/mics/api/v1${url}`, headers, ...(payload ? { payload } : {}) });
    return { status: r.statusCode, json: JSON.parse(r.body), body: r.body };
  };

  assert.equal((await call('GET', '/config/proxy')).status, 404, 'none configured yet');
  const wanted = proxy({ username: 'svc', password: PROXY_PASSWORD, noProxy: ['.example.com'] });
  const plan = await call('POST', '/config/proxy/plan', wanted);
  assert.equal(plan.status, 200, plan.body);
  assert.ok(plan.json.changed);
  assert.match(plan.json.configDiff, /proxy\.example\.com:3128/);
  assert.ok(!plan.body.includes(PROXY_PASSWORD), 'the plan never shows the password');
  const put = await call('PUT', '/config/proxy', wanted);
  assert.equal(put.status, 200, put.body);
  assert.deepEqual(app.keel.store.running()!.config.proxy, wanted);
  const got = await call('GET', '/config/proxy');
  assert.deepEqual(got.json, { enabled: true, url: wanted.url, username: 'svc', noProxy: ['.example.com'], passwordSet: true });
  assert.ok(!got.body.includes(PROXY_PASSWORD));

  // Left out: kept. Another user name without a password: refused, naming the field.
  assert.equal((await call('PUT', '/config/proxy', { ...wanted, password: undefined, noProxy: [] })).status, 200);
  assert.equal(app.keel.store.running()!.config.proxy?.password, PROXY_PASSWORD);
  const bad = await call('PUT', '/config/proxy', { ...wanted, username: 'other', password: undefined });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.problems.map((p: { field: string }) => p.field), ['/proxy/password']);
  const audit = app.keel.store.db.prepare('SELECT * FROM audit').all();
  assert.ok(!JSON.stringify(audit).includes(PROXY_PASSWORD), 'never in the audit log');
  const page = await app.inject({ method: 'GET', url: '/mics/settings/proxy', headers: { cookie: headers.cookie } });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /Outbound HTTP proxy/);
  assert.match(page.body, /A password is stored; leave empty to keep it/);
  assert.ok(!page.body.includes(PROXY_PASSWORD));
});

test('update repository client: through a CONNECT proxy with its password; direct for a no-proxy host; a refused proxy is an OperationalError', async (t) => {
  const tls = await makeSelfSigned('127.0.0.1', '127.0.0.1');
  let repoHits = 0;
  const repo = https.createServer({ key: tls.keyPem, cert: tls.certPem }, (_req, res) => {
    repoHits++;
    res.writeHead(418).end(); // any answer proves the request arrived
  });
  await new Promise<void>((r) => repo.listen(0, '127.0.0.1', r));
  t.onTestFinished(() => { new Promise<void>((r) => (repo.closeAllConnections(), repo.close(() => r()))); });
  const repoPort = (repo.address() as AddressInfo).port;

  const tunnels: { target: string; auth: string | undefined }[] = [];
  const px = http.createServer((_req, res) => res.writeHead(405).end());
  px.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const auth = req.headers['proxy-authorization'];
    tunnels.push({ target: req.url ?? '', auth });
    if (auth !== `Basic ${Buffer.from(`svc:${PROXY_PASSWORD}`).toString('base64')}`) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="px"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [h, p] = (req.url ?? '').split(':');
    const up = net.connect(Number(p), h, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => px.listen(0, '127.0.0.1', r));
  t.onTestFinished(() => { new Promise<void>((r) => (px.closeAllConnections(), px.close(() => r()))); });
  const pxUrl = `http://127.0.0.1:${(px.address() as AddressInfo).port}`;

  const ctx = { trustedKeys: [] } as unknown as UpdateContext;
  const update = { repository: `https://127.0.0.1:${repoPort}/keel/`, caCertificate: tls.certPem };
  const answered = async (p: ProxyConfig | undefined): Promise<OperationalError> => {
    const e = await fetchIndex(ctx, repositoryOptions(update, p)).then(
      () => assert.fail('the test repository answers 418'),
      (x: unknown) => x,
    );
    assert.ok(e instanceof OperationalError, String(e));
    // index.json and its signature are fetched together; the first refusal ends the call before the second arrives.
    await new Promise((r) => setTimeout(r, 200));
    return e;
  };

  const e1 = await answered(proxy({ url: pxUrl, username: 'svc', password: PROXY_PASSWORD }));
  assert.match(e1.message, /answered HTTP 418/);
  assert.ok(tunnels.length >= 1 && tunnels.every((x) => x.target === `127.0.0.1:${repoPort}`), JSON.stringify(tunnels));
  assert.equal(repoHits, 2, 'index.json and its signature, both through the tunnel');

  tunnels.length = 0;
  const e2 = await answered(proxy({ url: pxUrl, username: 'svc', password: PROXY_PASSWORD, noProxy: ['127.0.0.1'] }));
  assert.match(e2.message, /answered HTTP 418/);
  assert.equal(tunnels.length, 0, 'a no-proxy host is reached directly');
  assert.equal(repoHits, 4);

  const e3 = await answered(proxy({ url: pxUrl, username: 'svc', password: 'wrong-password' }));
  assert.match(e3.message, /cannot be reached/);
  assert.ok(!JSON.stringify({ m: e3.message, c: e3.command, s: e3.stderr }).includes('wrong-password'), 'the proxy password is not in the error');
  assert.equal(repoHits, 4, 'refused by the proxy: nothing reached the repository');

  tunnels.length = 0;
  const e4 = await answered(proxy({ url: pxUrl, enabled: false }));
  assert.match(e4.message, /answered HTTP 418/);
  assert.equal(tunnels.length, 0, 'proxy off: direct');
});
