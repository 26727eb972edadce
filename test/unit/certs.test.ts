import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createHost } from '../../appliance/host/index.ts';
import { ensureWebuiCertificate, fingerprint256, WEBUI_CERT_PATH, WEBUI_KEY_PATH } from '../../appliance/certs/webui.ts';
import { nativeRsaSigner } from '../../appliance/certs/signer.ts';
import { tempRoot } from '../helpers/config.ts';

process.env.KEEL_LOG ??= 'silent';

function sandbox(t: TestContext) {
  const root = tempRoot('keel-certs-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  return { root, host: createHost(root) };
}

test('makes a self-signed serverAuth certificate for the FQDN and the management IP', async (t) => {
  const { root, host } = sandbox(t);
  const now = new Date();
  const c = await ensureWebuiCertificate(host, 'core.example.com', '192.0.2.10', now);
  const x = new crypto.X509Certificate(c.certPem);
  assert.equal(x.subjectAltName, 'DNS:core.example.com, IP Address:192.0.2.10');
  assert.match(x.subject, /CN=core\.example\.com/);
  assert.equal(x.issuer, x.subject, 'self-signed');
  assert.ok(x.verify(x.publicKey), 'signed by its own key');
  assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: serverAuth only');
  assert.equal(x.ca, false);
  assert.ok(x.checkPrivateKey(crypto.createPrivateKey(c.keyPem)), 'key matches');
  assert.equal(crypto.createPrivateKey(c.keyPem).asymmetricKeyDetails?.modulusLength, 2048);
  const days = (Date.parse(x.validTo) - now.getTime()) / 86400_000;
  assert.ok(days > 700 && days < 740, `about two years, got ${days}`);
  assert.ok(Date.parse(x.validFrom) <= now.getTime(), 'valid from now');
  // SHA-256 signature, checked from the DER: the signatureAlgorithm OID 1.2.840.113549.1.1.11.
  assert.ok(x.raw.includes(Buffer.from('06092a864886f70d01010b', 'hex')), 'sha256WithRSAEncryption');
  assert.equal(c.fingerprint256, x.fingerprint256);
  assert.match(c.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(c.fingerprint256, crypto.createHash('sha256').update(x.raw).digest('hex').toUpperCase().match(/../g)!.join(':'));
  // Stored through host.files under the sandbox root, key private.
  assert.equal(fs.readFileSync(`${root}${WEBUI_CERT_PATH}`, 'utf8'), c.certPem);
  assert.equal(fs.readFileSync(`${root}${WEBUI_KEY_PATH}`, 'utf8'), c.keyPem);
  assert.equal(fs.statSync(`${root}${WEBUI_KEY_PATH}`).mode & 0o777, 0o600);
  assert.equal(fs.readdirSync(`${root}/var/lib/keel/certs`).length, 2, 'no temporary files left');
});

test('without an IP the SAN is the FQDN alone', async (t) => {
  const { host } = sandbox(t);
  const c = await ensureWebuiCertificate(host, 'mics.example.org');
  assert.equal(new crypto.X509Certificate(c.certPem).subjectAltName, 'DNS:mics.example.org');
});

test('is idempotent: an existing matching pair is reused untouched', async (t) => {
  const { root, host } = sandbox(t);
  const a = await ensureWebuiCertificate(host, 'core.example.com', '192.0.2.10');
  const before = fs.statSync(`${root}${WEBUI_CERT_PATH}`).mtimeMs;
  const b = await ensureWebuiCertificate(host, 'core.example.com', '192.0.2.10');
  assert.equal(b.fingerprint256, a.fingerprint256);
  assert.equal(b.keyPem, a.keyPem);
  assert.equal(fs.statSync(`${root}${WEBUI_CERT_PATH}`).mtimeMs, before);
  assert.equal(fingerprint256(b.certPem), a.fingerprint256);
});

test('makes a new certificate when the hostname or IP changes, the key does not match, or it expires soon', async (t) => {
  const { root, host } = sandbox(t);
  const a = await ensureWebuiCertificate(host, 'core.example.com', '192.0.2.10');
  const b = await ensureWebuiCertificate(host, 'core2.example.com', '192.0.2.10');
  assert.notEqual(b.fingerprint256, a.fingerprint256);
  assert.equal(new crypto.X509Certificate(b.certPem).subjectAltName, 'DNS:core2.example.com, IP Address:192.0.2.10');
  assert.equal(fs.readFileSync(`${root}${WEBUI_CERT_PATH}`, 'utf8'), b.certPem);

  const c = await ensureWebuiCertificate(host, 'core2.example.com', '192.0.2.20');
  assert.notEqual(c.fingerprint256, b.fingerprint256, 'management IP changed');

  // A crash between the key and certificate writes leaves a mismatched pair: replaced.
  const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  fs.writeFileSync(`${root}${WEBUI_KEY_PATH}`, other, { mode: 0o600 });
  const d = await ensureWebuiCertificate(host, 'core2.example.com', '192.0.2.20');
  assert.notEqual(d.fingerprint256, c.fingerprint256);
  assert.ok(new crypto.X509Certificate(d.certPem).checkPrivateKey(crypto.createPrivateKey(d.keyPem)));

  // Two years on, it is renewed.
  const later = new Date(Date.now() + 729 * 86400_000);
  const e = await ensureWebuiCertificate(host, 'core2.example.com', '192.0.2.20', later);
  assert.notEqual(e.fingerprint256, d.fingerprint256);
});

test('an unreadable certificate file is replaced', async (t) => {
  const { root, host } = sandbox(t);
  await ensureWebuiCertificate(host, 'core.example.com');
  fs.writeFileSync(`${root}${WEBUI_CERT_PATH}`, 'garbage');
  const c = await ensureWebuiCertificate(host, 'core.example.com');
  assert.equal(new crypto.X509Certificate(c.certPem).subjectAltName, 'DNS:core.example.com');
});

test('the native signer makes the PKCS#1 v1.5 SHA-256 signature OpenSSL makes, and refuses what it cannot sign', async () => {
  const forge = (await import('node-forge')).default;
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  for (const data of [crypto.randomBytes(300), Buffer.alloc(0)]) {
    const md = forge.md.sha256.create();
    md.update(data.toString('binary'));
    const sig = Buffer.from(nativeRsaSigner(privateKey).sign(md), 'binary');
    // PKCS#1 v1.5 is deterministic: byte for byte what crypto.sign makes.
    assert.deepEqual(sig, crypto.sign('sha256', data, privateKey));
    assert.ok(crypto.verify('sha256', data, publicKey, sig));
  }
  const sha1 = forge.md.sha1.create();
  sha1.update('x');
  assert.throws(() => nativeRsaSigner(privateKey).sign(sha1), /SHA-256 digests only/);
  assert.throws(() => nativeRsaSigner(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), /needs an RSA key, not ec/);
});
