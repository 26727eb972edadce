/**
 * "Stored secrets follow a changed server", replayed against `keel serve` on loopback: each
 * stored password (LDAP bind, SMTP, proxy, update repository, BMC) with its server changed and
 * the password left out. A listener stands where an attacker's server would; it must get nothing.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { startAppliance, apiSession, PASSWORD, ENABLE, https1, type Appliance } from './appliance.ts';
import { webuiSignIn, SSH_OPTS } from '../helpers/ssh.ts';
import { startSlapd, ldapSectionFor, BIND_PW, type Slapd } from '../system/ldap-slapd.ts';

const V1 = '/mics/api/v1';
const SMTP_PW = 'Smtp-secret-77';
const PROXY_PW = 'Proxy-secret-77';
const REPO_PW = 'Repo-secret-77';
const BMC_PW = 'Bmc-secret77';

/** A TCP listener that records every byte it is sent: where a stolen password would arrive. */
async function listener(): Promise<{ port: number; got: () => string; close: () => void }> {
  let data = '';
  const server = net.createServer((s) => {
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, got: () => data, close: () => server.close() };
}

let slapd: Slapd;
let box: Appliance;
/** The ldap section as the API takes it: without the bind password. */
const ldapSection = (url: string) => {
  const { password: _pw, ...rest } = ldapSectionFor(url);
  return rest;
};

beforeAll(async () => {
  slapd = await startSlapd();
  box = await startAppliance((c) => {
    c.ldap = ldapSectionFor(slapd.url);
    c.email = { from: 'keel@example.com', server: 'smtp.example.com', port: 587, protocol: 'starttls', auth: true, username: 'alerts', password: SMTP_PW };
    c.proxy = { enabled: true, url: 'http://proxy.example.com:3128', username: 'p', password: PROXY_PW, noProxy: [] };
    c.update = { repository: 'https://updates.example.com/keel/', username: 'u', password: REPO_PW };
    c.health = { bmc: { host: '192.0.2.50', user: 'ADMIN', password: BMC_PW } };
  });
});
afterAll(async () => {
  box?.stop();
  await slapd?.remove();
});

test('LDAP: a new server without the bind password is refused; the listener never gets the password, sign-ins keep using the real directory', async () => {
  const evil = await listener();
  try {
    const api = await apiSession(box.httpsPort, 'admin', PASSWORD);
    const r = await api('PUT', `${V1}/ldap`, ldapSection(`ldap://127.0.0.1:${evil.port}`));
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.problems[0].field, '/ldap/password');
    // A directory sign-in now would bind with the stored password: it must go to slapd, not the listener.
    await webuiSignIn(box.httpsPort, 'alice', 'not-her-password');
    await new Promise((res) => setTimeout(res, 500));
    assert.doesNotMatch(evil.got(), new RegExp(BIND_PW));
    assert.equal(evil.got(), '', 'nothing was sent to the new server');
    // With the password typed again the change is the administrator's own.
    const typed = await api('POST', `${V1}/ldap/plan`, { ...ldapSection(`ldap://127.0.0.1:${evil.port}`), password: BIND_PW });
    assert.equal(typed.status, 200, typed.text);
  } finally {
    evil.close();
  }
});

test('SMTP, proxy, update repository, BMC: another server, port or user without the password is refused, naming the field; the same one keeps it', async () => {
  const evil = await listener();
  try {
    const api = await apiSession(box.httpsPort, 'admin', PASSWORD);
    const cases: [string, string, unknown, string][] = [
      ['PUT', `${V1}/config/email`, { from: 'keel@example.com', server: '127.0.0.1', port: evil.port, protocol: 'smtp', auth: true, username: 'alerts' }, '/email/password'],
      ['PUT', `${V1}/config/email`, { from: 'keel@example.com', server: 'smtp.example.com', port: 587, protocol: 'starttls', auth: true, username: 'mallory' }, '/email/password'],
      ['PUT', `${V1}/config/proxy`, { enabled: true, url: `http://127.0.0.1:${evil.port}`, username: 'p', noProxy: [] }, '/proxy/password'],
      ['PUT', `${V1}/updates/repository`, { repository: `https://127.0.0.1:${evil.port}/keel/`, username: 'u' }, '/update/password'],
      ['PUT', `${V1}/config/health`, { bmc: { host: '127.0.0.1', port: evil.port, user: 'ADMIN' } }, '/health/bmc/password'],
    ];
    for (const [method, url, body, field] of cases) {
      const r = await api(method, url, body);
      assert.equal(r.status, 400, `${url}: ${r.text}`);
      assert.ok(r.json.problems.some((p: { field: string }) => p.field === field), `${url}: ${r.text}`);
    }
    // The SMTP test message goes to the configured server: still smtp.example.com, never the listener.
    await api('POST', `${V1}/health/channels/email/test`);
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(evil.got(), '', 'nothing reached the listener');
    // Same destination, password left out: kept (a settings change that does not move it).
    const same = await api('PUT', `${V1}/config/email`, { from: 'alerts@example.com', server: 'smtp.example.com', port: 587, protocol: 'starttls', auth: true, username: 'alerts' });
    assert.equal(same.status, 200, same.text);
    const shown = await https1(box.httpsPort, 'GET', `${V1}/config/email`);
    assert.doesNotMatch(shown.text, new RegExp(SMTP_PW));
  } finally {
    evil.close();
  }
});

test('LDAP referrals: to another host (or down from ldaps to ldap) they are followed without the bind password', async (t) => {
  const evil = await listener();
  t.onTestFinished(() => evil.close());
  const { LdapDirectory, sameServer } = await import('../../appliance/ldap/directory.ts');
  const s = await startSlapd(`dn: ou=remote,dc=example,dc=com
objectClass: referral
objectClass: extensibleObject
ou: remote
ref: ldap://localhost:${evil.port}/ou=people,dc=example,dc=com
`);
  t.onTestFinished(() => { s.remove(); });
  const dir = new LdapDirectory(() => ({ ...ldapSectionFor(s.url), chaseReferrals: true }));
  // The listener never answers: the lookup gives up on it after the search timeout, never with the password.
  await dir.lookup('dave').catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  assert.doesNotMatch(evil.got(), new RegExp(BIND_PW), 'the bind password went to the referral');
  assert.doesNotMatch(evil.got(), /keel-bind/, 'not even the bind user');
  assert.equal(sameServer('ldap://ldap.example.com:3268', ['ldap://LDAP.example.com']), true, 'same scheme and host');
  assert.equal(sameServer('ldap://ldap.example.com', ['ldaps://ldap.example.com']), false, 'no downgrade to ldap://');
  assert.equal(sameServer('ldap://other.example.com', ['ldap://ldap.example.com']), false);
});

test('the CLI over SSH: another SMTP server, or another update repository, without the password is refused and the listener gets nothing', async () => {
  const l = await listener();
  try {
    const script = [
      'enable',
      ENABLE,
      'configure terminal',
      `email server 127.0.0.1 port ${l.port} protocol smtp`,
      `software-update repository https://127.0.0.1:${l.port}/keel/ username u password ********`,
      'end',
      'show running-config | include ^email server|^software-update repository',
      'exit',
    ].join('\n');
    const p = spawn('sshpass', ['-e', 'ssh', '-T', ...SSH_OPTS, '-p', String(box.sshPort), 'admin@127.0.0.1'], { env: { ...process.env, SSHPASS: PASSWORD } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.stdin.end(`${script}\n`);
    await new Promise((r) => p.on('close', r));
    assert.match(out, /type the SMTP password again/, out.slice(-1500));
    assert.equal(out.match(/the stored one is only sent to/g)?.length, 2, out.slice(-1500));
    assert.match(out, /^email server smtp\.example\.com port 587/m, 'the running configuration keeps the real server');
    assert.match(out, /^software-update repository https:\/\/updates\.example\.com\/keel\//m);
    // Let anything that would have been sent arrive.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(l.got(), '', 'nothing reached the listener');
  } finally {
    l.close();
  }
});
