import { test } from 'vitest';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { checkServerCertificate, makeCsr, describeCsr, defaultNames, describeCert, buildChain, parsePemBundle } from '../../appliance/certs/pki.ts';
import { ServiceCertificates } from '../../appliance/certs/services.ts';
import { ensureWebuiCertificate, WEBUI_CERT_PATH } from '../../appliance/certs/webui.ts';
import { ValidationError } from '../../appliance/errors.ts';
import { createHost } from '../../appliance/host/index.ts';
import { makeCaChain, makeCert, signCsr } from '../helpers/pki.ts';
import { tempRoot } from '../helpers/config.ts';

process.env.KEEL_LOG ??= 'silent';
const DAY = 86400_000;
const { root, intermediate } = makeCaChain('Certs');
const rules = (r: { problems: { rule: string }[] }) => r.problems.map((p) => p.rule);

test('a server certificate with its full chain passes; the chain is ordered leaf first', () => {
  const leaf = makeCert({ cn: 'core.example.com', issuer: intermediate, dns: ['core.example.com'], eku: ['serverAuth'] });
  // Uploaded in any order, root included.
  const r = checkServerCertificate(root.certPem + leaf.certPem + intermediate.certPem, leaf.keyPem, { hostname: 'core.example.com' });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.warnings, []);
  const chain = parsePemBundle(r.chainPem).map((c) => c.subject);
  assert.deepEqual(chain, ['CN=core.example.com', 'CN=Certs Issuing CA', 'CN=Certs Root CA']);
});

test('refusals name the rule: chain incomplete, no serverAuth, key mismatch, expired, not yet valid, small key, CA', () => {
  const ok = { issuer: intermediate, dns: ['core.example.com'], eku: ['serverAuth' as const] };
  const leaf = makeCert({ cn: 'core.example.com', ...ok });
  const missing = checkServerCertificate(leaf.certPem, leaf.keyPem);
  assert.deepEqual(rules(missing), ['chain']);
  assert.match(missing.problems[0].message, /Certs Issuing CA" is missing/);
  const clientOnly = makeCert({ cn: 'core.example.com', ...ok, eku: ['clientAuth'] });
  assert.deepEqual(rules(checkServerCertificate(clientOnly.certPem + intermediate.certPem + root.certPem, clientOnly.keyPem)), ['server-auth']);
  const noEku = makeCert({ cn: 'core.example.com', ...ok, eku: [] });
  assert.deepEqual(rules(checkServerCertificate(noEku.certPem + intermediate.certPem + root.certPem, noEku.keyPem)), ['server-auth']);
  const other = makeCert({ cn: 'x', eku: ['serverAuth'] });
  assert.deepEqual(rules(checkServerCertificate(leaf.certPem + intermediate.certPem, other.keyPem)), ['key-match']);
  const expired = makeCert({ cn: 'core.example.com', ...ok, notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - DAY) });
  assert.deepEqual(rules(checkServerCertificate(expired.certPem + intermediate.certPem + root.certPem, expired.keyPem)), ['expired']);
  const future = makeCert({ cn: 'core.example.com', ...ok, notBefore: new Date(Date.now() + 2 * DAY) });
  assert.deepEqual(rules(checkServerCertificate(future.certPem + intermediate.certPem + root.certPem, future.keyPem)), ['not-yet-valid']);
  const small = makeCert({ cn: 'core.example.com', ...ok, bits: 1024 });
  assert.deepEqual(rules(checkServerCertificate(small.certPem + intermediate.certPem + root.certPem, small.keyPem)), ['key-size']);
  assert.ok(rules(checkServerCertificate(intermediate.certPem + root.certPem, intermediate.keyPem)).includes('not-ca'));
  assert.deepEqual(rules(checkServerCertificate('hello', leaf.keyPem)), ['pem']);
  assert.deepEqual(checkServerCertificate(leaf.certPem, 'nope').problems.map((p) => [p.field, p.rule]), [['/key', 'key']]);
});

test('warnings: expiring soon, and names not covering the hostname', () => {
  const soon = makeCert({ cn: 'other.example.com', issuer: intermediate, dns: ['other.example.com'], eku: ['serverAuth'], notAfter: new Date(Date.now() + 10 * DAY) });
  const r = checkServerCertificate(soon.certPem + intermediate.certPem + root.certPem, soon.keyPem, { hostname: 'core.example.com' });
  assert.deepEqual(r.problems, []);
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0], /expires in (9|10) days/);
  assert.match(r.warnings[1], /does not name core\.example\.com/);
  const d = describeCert(new crypto.X509Certificate(soon.certPem));
  assert.equal(d.expiresSoon, true);
  assert.equal(d.serverAuth, true);
  assert.equal(d.selfSigned, false);
  assert.ok(!buildChain(new crypto.X509Certificate(soon.certPem), []).complete);
});

test('a CSR made on the appliance asks for the hostname and enterpriseenrollment.<domain>; its signed certificate installs without uploading a key', async (t) => {
  assert.deepEqual(defaultNames('core.example.com'), ['core.example.com', 'enterpriseenrollment.example.com']);
  const dir = tempRoot('keel-pki-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const host = createHost(dir);
  const store = new ServiceCertificates(host);
  const csrPem = await store.request('portal', { commonName: 'core.example.com', organization: 'Example' }, defaultNames('core.example.com'));
  assert.deepEqual(describeCsr(csrPem), { subject: 'CN=core.example.com, O=Example', names: ['core.example.com', 'enterpriseenrollment.example.com'] });
  assert.equal(fs.statSync(host.files.real('/var/lib/keel/certs/portal.csr.key')).mode & 0o777, 0o600, 'the new key stays private');
  assert.equal(store.view('portal').pendingRequest?.names.length, 2);
  const signed = signCsr(csrPem, intermediate);
  const x = new crypto.X509Certificate(signed);
  assert.equal(x.subjectAltName, 'DNS:core.example.com, DNS:enterpriseenrollment.example.com');
  assert.throws(() => store.prepare('portal', signed, undefined, 'core.example.com'), (e: ValidationError) => e.problems[0].rule === 'chain');
  const r = store.prepare('portal', signed + intermediate.certPem + root.certPem, undefined, 'core.example.com');
  assert.equal(r.usedRequest, true);
  store.install('portal', r.pair, 'uploaded', r.usedRequest);
  const v = store.view('portal');
  assert.equal(v.source, 'uploaded');
  assert.equal(v.port, 443);
  assert.equal(v.certificate?.subject, 'CN=core.example.com, O=Example');
  assert.equal(v.chain.length, 2);
  assert.equal(v.pendingRequest, null, 'the request is used up');
  // A renewal with the same key: no request pending, the current key is used.
  const again = store.prepare('portal', signCsr(csrPem, intermediate, 200) + intermediate.certPem + root.certPem, undefined, 'core.example.com');
  assert.equal(again.usedRequest, false);
  assert.equal(store.view('clientTls').source, 'none');
});

test('System Manager keeps an administrator\'s certificate at the next start, even when it names other hosts', async (t) => {
  const dir = tempRoot('keel-pki-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const host = createHost(dir);
  const auto = await ensureWebuiCertificate(host, 'core.example.com', '192.0.2.10');
  const leaf = makeCert({ cn: 'portal.example.com', issuer: intermediate, dns: ['portal.example.com'], eku: ['serverAuth'] });
  const store = new ServiceCertificates(host);
  const r = store.prepare('webui', leaf.certPem + intermediate.certPem + root.certPem, leaf.keyPem, 'core.example.com');
  assert.match(r.warnings[0], /does not name core\.example\.com/);
  const prev = store.install('webui', r.pair, 'uploaded');
  assert.equal(prev?.certPem, auto.certPem);
  const again = await ensureWebuiCertificate(host, 'core.example.com', '192.0.2.10');
  assert.equal(again.certPem, r.pair.certPem, 'not replaced by a self-signed one');
  assert.equal(host.files.readText(WEBUI_CERT_PATH), r.pair.certPem);
});
