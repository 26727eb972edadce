/**
 * Configuration-file injection and unchecked values through System Manager's API of a real
 * `keel serve`: a newline in the DNS search domain, time zones that do not exist.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { check } from '../../appliance/config/schema.ts';
import { renderAll } from '../../appliance/config/apply.ts';
import { sampleConfig } from '../helpers/config.ts';
import { startAppliance, apiSession, PASSWORD, type Appliance } from './appliance.ts';

const V1 = '/mics/api/v1';
let box: Appliance;
beforeAll(async () => {
  box = await startAppliance();
});
afterAll(() => box?.stop());

test('a name server smuggled into resolv.conf through the search domain is refused, naming the field; nothing is written', async () => {
  const api = await apiSession(box.httpsPort, 'admin', PASSWORD);
  const resolv = path.join(box.root, 'etc/resolv.conf');
  const before = fs.readFileSync(resolv, 'utf8');
  for (const domain of ['acme.example\nnameserver 203.0.113.66', 'acme.example\rnameserver 203.0.113.66', 'acme.example nameserver', 'a'.repeat(300), '-x.example', '']) {
    const r = await api('PUT', `${V1}/config/dns`, { servers: ['192.0.2.53'], domain });
    assert.equal(r.status, 400, `${JSON.stringify(domain)}: ${r.text}`);
    assert.match(r.text, /domain/i);
    assert.doesNotMatch(r.text, /\^\[|\\\\|\/dns\/domain must match/, 'no regex or schema wording in the message');
  }
  assert.equal(fs.readFileSync(resolv, 'utf8'), before);
  assert.doesNotMatch(before, /203\.0\.113\.66/);
  const good = await api('PUT', `${V1}/config/dns`, { servers: ['192.0.2.53'], domain: 'acme.example' });
  assert.equal(good.status, 200, good.text);
  assert.match(fs.readFileSync(resolv, 'utf8'), /^search acme\.example$/m);
});

test('time zones are checked against the zone database: Mars/Olympus and a 5,000-character zone answer 400, never 500', async () => {
  const api = await apiSession(box.httpsPort, 'admin', PASSWORD);
  for (const timezone of ['Mars/Olympus', 'X'.repeat(5000), 'Europe/../../etc/passwd', 'Europe/Berlin\nx']) {
    const r = await api('PUT', `${V1}/config/clock`, { timezone });
    assert.equal(r.status, 400, `${timezone.slice(0, 40)}: ${r.text.slice(0, 300)}`);
    assert.match(r.text, /time zone/i);
  }
  const ok = await api('PUT', `${V1}/config/clock`, { timezone: 'Europe/Berlin' });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(fs.readlinkSync(path.join(box.root, 'etc/localtime')), '/usr/share/zoneinfo/Europe/Berlin');
});

test('every free-text field that reaches a rendered file refuses a line break (one validate() for every surface)', () => {
  const evil = 'x.example\nnameserver 203.0.113.66';
  const cases: [string, (c: ReturnType<typeof sampleConfig>) => void][] = [
    ['/dns/domain', (c) => void (c.dns.domain = evil)],
    ['/system/hostname', (c) => void (c.system.hostname = evil)],
    ['/ntp/servers/0', (c) => void (c.ntp.servers = [evil])],
    ['/clock/timezone', (c) => void (c.clock.timezone = 'UTC\nx')],
    ['/dns/servers/0', (c) => void (c.dns.servers = [evil])],
    ['/network/gateway', (c) => void (c.network.gateway = evil)],
  ];
  for (const [field, edit] of cases) {
    const c = sampleConfig();
    edit(c);
    assert.ok(check(c).some((p) => p.field === field), `${field} accepted a line break`);
  }
});

test('renderers refuse a control character even if validation were bypassed (defence in depth)', () => {
  const c = sampleConfig();
  c.dns.domain = 'acme.example\nnameserver 203.0.113.66';
  assert.throws(() => renderAll(c, { nics: [] }), /DNS search domain: the value holds a control character/);
  const d = sampleConfig();
  d.ntp.servers = ['ntp.example\nserver 203.0.113.66'];
  assert.throws(() => renderAll(d, { nics: [] }), /NTP server/);
});

test('server certificate keys: RSA >= 2048 and EC P-256/P-384 only; P-192, P-224, Ed25519 and RSA-1024 are refused', async () => {
  const crypto = await import('node:crypto');
  const { serverKeyProblem, checkServerCertificate } = await import('../../appliance/certs/pki.ts');
  const pub = (type: string, opts: object) => (crypto.generateKeyPairSync as (t: string, o: object) => { publicKey: import('node:crypto').KeyObject })(type, opts).publicKey;
  assert.equal(serverKeyProblem(pub('rsa', { modulusLength: 2048 })), null);
  assert.equal(serverKeyProblem(pub('ec', { namedCurve: 'prime256v1' })), null);
  assert.equal(serverKeyProblem(pub('ec', { namedCurve: 'secp384r1' })), null);
  assert.match(serverKeyProblem(pub('ec', { namedCurve: 'prime192v1' }))!.message, /curve prime192v1; use P-256 or P-384/);
  assert.match(serverKeyProblem(pub('ec', { namedCurve: 'secp224r1' }))!.message, /P-256 or P-384/);
  assert.match(serverKeyProblem(pub('ed25519', {}))!.message, /ed25519 key is not accepted/);
  assert.match(serverKeyProblem(pub('rsa', { modulusLength: 1024 }))!.message, /1024 bits; at least 2048/);
  // The whole upload check, with a real certificate on P-192 made by OpenSSL.
  const { spawnSync } = await import('node:child_process');
  const dir = fs.mkdtempSync(path.join((await import('node:os')).tmpdir(), 'keel-p192-'));
  try {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime192v1', '-nodes', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`, '-days', '30', '-subj', '/CN=core.example.com', '-addext', 'extendedKeyUsage=serverAuth', '-addext', 'subjectAltName=DNS:core.example.com'], { encoding: 'utf8' });
    if (r.status === 0) {
      const check = checkServerCertificate(fs.readFileSync(`${dir}/c.pem`, 'utf8'), fs.readFileSync(`${dir}/k.pem`, 'utf8'), { hostname: 'core.example.com' });
      assert.ok(check.problems.some((p) => p.rule === 'key-type' && /prime192v1/.test(p.message)), JSON.stringify(check.problems));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
