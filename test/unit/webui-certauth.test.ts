/**
 * Client-certificate sign-in (PIV/CAC): the seed's matching rules on certificates from a test CA
 * (UPN and RFC822 SANs, wrong EKU, expired, not yet valid, another CA), and real TLS sign-ins
 * against System Manager listening on loopback, with password sign-in still working.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { FastifyInstance } from 'fastify';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyAtBoot } from '../../appliance/config/apply.ts';
import { check, validate, type Config } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { certificateSignIn, identitiesMatch, sanIdentities } from '../../appliance/portalauth/match.ts';
import { buildServer } from '../../webui/server.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { makeCaChain, makeCert, type Issued } from '../helpers/pki.ts';

process.env.KEEL_LOG ??= 'silent';
const DAY = 86400_000;
const PASSWORD = 'Passw0rd!x';
const { root, intermediate } = makeCaChain('Smartcard');
const other = makeCaChain('Other');
const caChain = intermediate.certPem + root.certPem;
const client = (o: Partial<Parameters<typeof makeCert>[0]> = {}): Issued => makeCert({ cn: 'Jane Smith', issuer: intermediate, eku: ['clientAuth'], ...o });

function configWith(mapFrom: 'upn' | 'rfc822', mapTo: 'USERID' | 'EMAIL' | 'EDIPI', cardType: 'piv' | 'cac' = 'piv', strict = true): Config {
  const c = sampleConfig();
  c.users.local.push({ name: 'jsmith', role: 'operator', passwordHash: c.users.local[0].passwordHash, passwordChangedAt: '2020-01-01T00:00:00.000Z', email: 'Jane.Smith@example.com', edipi: '1234567890' });
  c.portalAuth = { password: true, certificate: { enabled: true, cardType, mapFrom, mapTo, caChain } };
  return strict ? validate(c) : c;
}

test('the seed\'s matching: DOMAIN\\userid and userid@domain both match when user id and domain agree', () => {
  assert.ok(identitiesMatch('jsmith@example.com', 'jsmith'));
  assert.ok(identitiesMatch('EXAMPLE\\jsmith', 'jsmith@example.com'));
  assert.ok(identitiesMatch('jsmith@example.com', 'EXAMPLE\\jsmith'));
  assert.ok(identitiesMatch('jsmith@Example.COM', 'jsmith@example.com'));
  assert.ok(!identitiesMatch('jsmith@example.com', 'jsmith@example.org'));
  assert.ok(!identitiesMatch('OTHER\\jsmith', 'jsmith@example.com'));
  assert.ok(!identitiesMatch('jsmithx@example.com', 'jsmith'));
});

test('UPN and RFC822 names are read from the SAN; each maps to the one local user it names', () => {
  const c = client({ upn: 'EXAMPLE\\jsmith', email: 'jane.smith@example.com' });
  assert.deepEqual(sanIdentities(new crypto.X509Certificate(c.certPem)), { upn: ['EXAMPLE\\jsmith'], rfc822: ['jane.smith@example.com'] });
  const upn = certificateSignIn(configWith('upn', 'USERID'), c.certPem);
  assert.equal(upn.ok, true, JSON.stringify(upn));
  assert.deepEqual(upn.ok && upn.user, { name: 'jsmith', role: 'operator' });
  assert.ok(upn.steps.some((s) => /NT Principal Name \(UPN\): EXAMPLE\\jsmith/.test(s)));
  assert.ok(upn.steps.some((s) => /maps to local user jsmith \(\$USERID\$ = jsmith\)/.test(s)));
  const mail = certificateSignIn(configWith('rfc822', 'EMAIL'), c.certPem);
  assert.equal(mail.ok && mail.user.name, 'jsmith', 'e-mail compared without case');
  const upnMail = certificateSignIn(configWith('upn', 'EMAIL'), client({ upn: 'jane.smith@example.com' }).certPem);
  assert.equal(upnMail.ok, false, 'user ids are case sensitive: Jane.Smith is not jane.smith');
  const cac = certificateSignIn(configWith('upn', 'EDIPI', 'cac'), client({ upn: '1234567890@mil' }).certPem);
  assert.equal(cac.ok && cac.user.name, 'jsmith');
  const nobody = certificateSignIn(configWith('upn', 'USERID'), client({ upn: 'someone@example.com' }).certPem);
  assert.equal(nobody.ok, false);
  assert.match(!nobody.ok ? nobody.reason : '', /no local user has \$USERID\$ matching someone@example\.com/);
  const noUpn = certificateSignIn(configWith('upn', 'USERID'), client({ email: 'x@example.com' }).certPem);
  assert.match(!noUpn.ok ? noUpn.reason : '', /no NT Principal Name/);
});

test('refused: wrong EKU, expired, not yet valid, another CA, a root the client brings itself; intermediates it sends are used', () => {
  const cfg = configWith('upn', 'USERID');
  const reason = (pem: string, presented: crypto.X509Certificate[] = []) => {
    const r = certificateSignIn(cfg, pem, presented);
    return r.ok ? 'ok' : r.reason;
  };
  assert.match(reason(client({ upn: 'jsmith@example.com', eku: ['serverAuth'] }).certPem), /lacks clientAuth/);
  assert.match(reason(client({ upn: 'jsmith@example.com', eku: [] }).certPem), /lacks clientAuth/);
  assert.match(reason(client({ upn: 'jsmith@example.com', notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - DAY) }).certPem), /expired/);
  assert.match(reason(client({ upn: 'jsmith@example.com', notBefore: new Date(Date.now() + DAY) }).certPem), /not valid yet/);
  const foreign = makeCert({ cn: 'Jane', issuer: other.intermediate, eku: ['clientAuth'], upn: 'jsmith@example.com' });
  assert.match(reason(foreign.certPem, [new crypto.X509Certificate(other.intermediate.certPem), new crypto.X509Certificate(other.root.certPem)]), /not issued under the uploaded CA chain/);
  // Only the root uploaded: the issuing CA the card sends completes the path.
  const rootOnly = configWith('upn', 'USERID');
  rootOnly.portalAuth!.certificate!.caChain = root.certPem;
  const c = client({ upn: 'jsmith@example.com' });
  assert.equal(certificateSignIn(rootOnly, c.certPem).ok, false);
  assert.equal(certificateSignIn(rootOnly, c.certPem, [new crypto.X509Certificate(intermediate.certPem)]).ok, true);
});

test('configuration rules: CAC needs $EDIPI$, some way in must stay, certificate sign-in needs a CA', () => {
  const c = configWith('upn', 'USERID', 'cac', false);
  assert.deepEqual(check(c).map((p) => [p.field, p.rule]), [['/portalAuth/certificate/mapTo', 'cac-edipi']]);
  const d = sampleConfig();
  d.portalAuth = { password: false };
  assert.deepEqual(check(d).map((p) => [p.field, p.rule]), [['/portalAuth/password', 'way-in']]);
  d.portalAuth = { password: true, certificate: { enabled: true, cardType: 'piv', mapFrom: 'upn', mapTo: 'USERID', caChain: '' } };
  assert.deepEqual(check(d).map((p) => [p.field, p.rule]), [['/portalAuth/certificate/caChain', 'required']]);
});

async function serve(t: TestContext, cfg: Config) {
  const dir = tempRoot('keel-certauth-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const host = createHost(dir, { sysfs: fakeSysfs(dir, 1) });
  const h = await hashSecret(PASSWORD);
  for (const u of cfg.users.local) u.passwordHash = h;
  const s = Store.open(host);
  s.commitRunning(validate(cfg), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  await applyAtBoot(host, s);
  s.close();
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.onTestFinished(() => { app.close(); });
  const port = (app.server.address() as { port: number }).port;
  const post = (path: string, body: unknown, id?: Issued): Promise<{ status: number; json: any; cookie: string }> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        { host: '127.0.0.1', port, path, method: 'POST', rejectUnauthorized: false, agent: false, ...(id ? { key: id.keyPem, cert: id.certPem } : {}), headers: data ? { 'content-type': 'application/json' } : {} },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text), cookie: String(res.headers['set-cookie'] ?? '').split(';')[0] }));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  return { app, post };
}

test('over real TLS: a client certificate signs in with its mapped user; no or a wrong certificate is refused; passwords keep working', async (t) => {
  const { app, post } = await serve(t, configWith('upn', 'USERID'));
  const ok = await post('/mics/api/session/certificate', undefined, client({ upn: 'EXAMPLE\\jsmith' }));
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal(ok.json.username, 'jsmith');
  const none = await post('/mics/api/session/certificate', undefined);
  assert.equal(none.status, 401);
  assert.match(none.json.error, /sent no client certificate/);
  const wrong = await post('/mics/api/session/certificate', undefined, client({ upn: 'jsmith@example.com', eku: ['serverAuth'] }));
  assert.equal(wrong.status, 401);
  assert.match(wrong.json.error, /clientAuth/);
  const pw = await post('/mics/api/session', { username: 'admin', password: PASSWORD });
  assert.equal(pw.status, 200, 'password sign-in keeps working while certificate sign-in is on');
  const log = app.keel.store.auditLog();
  assert.ok(log.some((e) => e.who === 'jsmith' && /sign in with certificate/.test(e.action) && /^ok/.test(e.outcome)));
  assert.ok(log.some((e) => /sign in with certificate/.test(e.action) && /clientAuth/.test(e.outcome)));
});

test('password sign-in turned off explicitly: refused; the certificate still signs in; test sign-in explains a mapping', async (t) => {
  const cfg = configWith('upn', 'USERID');
  cfg.portalAuth!.password = false;
  const { post, app } = await serve(t, cfg);
  const pw = await post('/mics/api/session', { username: 'admin', password: PASSWORD });
  assert.equal(pw.status, 401);
  assert.match(pw.json.error, /Password sign-in is turned off/);
  const admin = await post('/mics/api/session/certificate', undefined, client({ upn: 'admin@example.com' }));
  assert.equal(admin.status, 200);
  // Test sign-in, as the administrator signed in with the certificate: explains a mapping and a refusal.
  const call = (pem: string) =>
    app.inject({ method: 'POST', url: '/mics/api/v1/portal-auth/test', headers: { cookie: admin.cookie, 'x-csrf-token': admin.json.csrfToken }, payload: { certificate: pem } });
  const yes = await call(client({ upn: 'jsmith@example.com' }).certPem);
  assert.equal(yes.statusCode, 200, yes.body);
  const y = JSON.parse(yes.body);
  assert.equal(y.ok, true);
  assert.equal(y.user, 'jsmith');
  assert.equal(y.identity, 'jsmith@example.com');
  assert.ok(y.steps.length >= 5);
  const no = JSON.parse((await call(makeCert({ cn: 'x', issuer: other.intermediate, eku: ['clientAuth'], upn: 'jsmith@example.com' }).certPem)).body);
  assert.equal(no.ok, false);
  assert.match(no.reason, /not issued under the uploaded CA chain/);
  const viaInject = await app.inject({ method: 'POST', url: '/mics/api/session/certificate' });
  assert.equal(viaInject.statusCode, 401, 'no TLS, no certificate');
});
