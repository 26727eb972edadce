/**
 * Certificates through the System Manager API, with the server listening on loopback: a new
 * System Manager certificate is served to new connections without a restart, after the server
 * checked itself over HTTPS; a failed self-check or a missing confirmation brings the previous back.
 */
import { test, vi, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import tls from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyAtBoot } from '../../appliance/config/apply.ts';
import { validate } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { fingerprint256, WEBUI_CERT_PATH } from '../../appliance/certs/webui.ts';
import { buildServer } from '../../webui/server.ts';
import { pendingCert } from '../../webui/certs.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { makeCaChain, makeCert, signCsr } from '../helpers/pki.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';
const V1 = '/mics/api/v1';
const { root, intermediate } = makeCaChain('Web');

async function start(t: TestContext, probe?: (port: number, fp: string, name: string) => Promise<string | null>) {
  const dir = tempRoot('keel-webcerts-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const host = createHost(dir, { sysfs: fakeSysfs(dir, 1) });
  const config = sampleConfig();
  config.users.local[0].passwordHash = await hashSecret(PASSWORD);
  const s = Store.open(host);
  s.commitRunning(validate(config), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  await applyAtBoot(host, s);
  s.close();
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5, ...(probe ? { certProbe: probe } : {}) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.onTestFinished(() => { app.close(); });
  const port = (app.server.address() as { port: number }).port;
  const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username: 'admin', password: PASSWORD } });
  const cookie = String(r.headers['set-cookie']).split(';')[0];
  const csrf = JSON.parse(r.body).csrfToken;
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await app.inject({ method: method as 'GET', url, headers: { cookie, ...(method === 'GET' ? {} : { 'x-csrf-token': csrf }) }, ...(body !== undefined ? { payload: body as object } : {}) });
    return { status: res.statusCode, json: JSON.parse(res.body), headers: res.headers };
  };
  return { app, host, port, call };
}

/** The fingerprint a new TLS connection to the server is shown. */
function served(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'core.example.com', rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.on('error', reject);
  });
}

test('an uploaded System Manager certificate is served at once without a restart, and kept when confirmed', async (t) => {
  const env = await start(t);
  const before = env.app.keel.certificate.fingerprint256;
  assert.equal(await served(env.port), before);
  const list = await env.call('GET', `${V1}/certificates`);
  assert.deepEqual(list.json.map((v: any) => [v.service, v.port, v.source]), [['webui', 8443, 'automatic'], ['portal', 443, 'none'], ['clientTls', 9997, 'none']]);

  const req = await env.call('POST', `${V1}/certificates/webui/request`, { organization: 'Example' });
  assert.equal(req.status, 200);
  assert.deepEqual(req.json.names, ['core.example.com', 'enterpriseenrollment.example.com']);
  const signed = signCsr(req.json.csrPem, intermediate);
  const bad = await env.call('POST', `${V1}/certificates/webui/upload`, { certificate: signed });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.problems.map((p: any) => [p.field, p.rule]), [['/certificate', 'chain']]);
  assert.equal(await served(env.port), before, 'a refused upload changes nothing');

  const up = await env.call('POST', `${V1}/certificates/webui/upload`, { certificate: signed + intermediate.certPem + root.certPem });
  assert.equal(up.status, 200, JSON.stringify(up.json));
  const fp = fingerprint256(signed);
  assert.equal(up.json.certificate.fingerprint256, fp);
  assert.ok(up.json.confirmBy, 'it needs confirmation like any change that could lock the admin out');
  assert.equal(up.headers.connection, 'close');
  assert.equal(await served(env.port), fp, 'new connections get the new certificate, no restart');
  assert.equal(env.app.keel.certificate.fingerprint256, fp);
  const chainLen = (env.host.files.readText(WEBUI_CERT_PATH)!.match(/BEGIN CERTIFICATE/g) ?? []).length;
  assert.equal(chainLen, 3, 'the server sends the chain');
  const c = await env.call('POST', `${V1}/config/confirm`, {});
  assert.equal(c.status, 200, JSON.stringify(c.json));
  assert.equal(pendingCert(), null);
  assert.equal((await env.call('GET', `${V1}/certificates/webui`)).json.source, 'uploaded');
});

test('when HTTPS does not come back healthy, the previous certificate returns by itself', async (t) => {
  const env = await start(t, async () => 'HTTPS did not answer: test breaks the self-check');
  const before = env.app.keel.certificate.fingerprint256;
  const beforePem = env.host.files.readText(WEBUI_CERT_PATH);
  const leaf = makeCert({ cn: 'core.example.com', issuer: intermediate, dns: ['core.example.com'], eku: ['serverAuth'] });
  const up = await env.call('POST', `${V1}/certificates/webui/upload`, { certificate: leaf.certPem + intermediate.certPem + root.certPem, key: leaf.keyPem });
  assert.equal(up.status, 502);
  assert.match(up.json.error, /previous one is back/);
  assert.equal(await served(env.port), before);
  assert.equal(env.host.files.readText(WEBUI_CERT_PATH), beforePem, 'files restored too');
  assert.equal(pendingCert(), null);
  assert.ok(env.app.keel.store.auditLog().some((e) => /install System Manager certificate/.test(e.action) && /previous certificate restored/.test(e.outcome)));
});

test('an unconfirmed System Manager certificate reverts after the confirm time', async (t) => {
  const env = await start(t);
  const before = env.app.keel.certificate.fingerprint256;
  vi.useFakeTimers({ toFake: ['setTimeout'] });
  t.onTestFinished(() => { vi.useRealTimers(); });
  const up = await env.call('POST', `${V1}/certificates/webui/self-signed`, { names: ['core.example.com', 'enterpriseenrollment.example.com'] });
  assert.equal(up.status, 200, JSON.stringify(up.json));
  assert.notEqual(await served(env.port), before);
  assert.match(pendingCert()!.reason, /certificate changes/);
  vi.advanceTimersByTime(120_000);
  assert.equal(pendingCert(), null);
  assert.equal(await served(env.port), before, 'the previous certificate is back');
  assert.equal(env.app.keel.certificate.fingerprint256, before);
  assert.ok(env.app.keel.store.auditLog().some((e) => e.source === 'confirm-timer' && /certificate changes/.test(e.outcome)));
});
