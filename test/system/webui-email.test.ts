/**
 * E-mail Test against a real SMTP server on loopback (smtp-server): the message arrives with the
 * configured From, the server's authentication is used, a wrong password fails with the server's
 * answer, and STARTTLS to a server with an untrusted certificate is refused, not downgraded.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { SMTPServer } from 'smtp-server';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { validate } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { makeSelfSigned } from '../../appliance/certs/webui.ts';
import { buildServer } from '../../webui/server.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';

interface Received {
  from: string;
  to: string[];
  user: string | undefined;
  data: string;
  tls: boolean;
}

async function smtp(t: TestContext, opts: { tlsCert?: { certPem: string; keyPem: string } } = {}) {
  const got: Received[] = [];
  const server = new SMTPServer({
    secure: false,
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    ...(opts.tlsCert ? { key: opts.tlsCert.keyPem, cert: opts.tlsCert.certPem } : { disabledCommands: ['STARTTLS'] }),
    onAuth(auth, _session, cb) {
      if (auth.username === 'alerts' && auth.password === 'Smtp-pass1') return cb(null, { user: 'alerts' });
      return cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      let data = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (data += d));
      stream.on('end', () => {
        got.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), user: session.user as string | undefined, data, tls: !!session.secure });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.onTestFinished(() => { new Promise<void>((resolve) => server.close(() => resolve())); });
  const port = (server.server.address() as { port: number }).port;
  return { port, got };
}

async function appliance(t: TestContext) {
  const root = tempRoot('keel-mail-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const c = sampleConfig();
  c.users.local[0].passwordHash = await hashSecret(PASSWORD);
  const s = Store.open(host);
  s.commitRunning(validate(c), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  s.close();
  const app = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => { app.close(); });
  const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username: 'admin', password: PASSWORD } });
  const headers = { cookie: String(r.headers['set-cookie']).split(';')[0], 'x-csrf-token': JSON.parse(r.body).csrfToken };
  const call = async (method: 'PUT' | 'POST', url: string, payload: object) => {
    const x = await app.inject({ method, url, payload, headers });
    return { status: x.statusCode, json: JSON.parse(x.body) };
  };
  return { app, call, store: app.keel.store };
}

test('Test sends a real message through SMTP with authentication; a wrong password fails with the server answer', async (t) => {
  const mail = await smtp(t);
  const { call, store } = await appliance(t);
  const settings = { from: 'alerts@example.com', server: '127.0.0.1', port: mail.port, protocol: 'smtp', auth: true, username: 'alerts', password: 'Smtp-pass1' };

  // The form's settings, before Apply.
  const sent = await call('POST', '/mics/api/v1/email/test', { to: 'admin@example.net', text: 'Hello from the test', settings });
  assert.equal(sent.status, 200, JSON.stringify(sent.json));
  assert.match(sent.json.response, /^250 /);
  assert.equal(mail.got.length, 1);
  const m = mail.got[0];
  assert.equal(m.from, 'alerts@example.com');
  assert.deepEqual(m.to, ['admin@example.net']);
  assert.equal(m.user, 'alerts', 'authenticated as the configured user');
  assert.equal(m.tls, false);
  assert.match(m.data, /^Subject: Keel test e-mail from core\.example\.com/m);
  assert.match(m.data, /Hello from the test/);

  // Applied settings, then a test with the stored password.
  assert.equal((await call('PUT', '/mics/api/v1/config/email', settings)).status, 200);
  const { password: _p, ...noPw } = settings;
  const stored = await call('POST', '/mics/api/v1/email/test', { to: 'ops@example.net', settings: noPw });
  assert.equal(stored.status, 200, JSON.stringify(stored.json));
  assert.deepEqual(mail.got[1].to, ['ops@example.net']);

  const wrong = await call('POST', '/mics/api/v1/email/test', { to: 'admin@example.net', settings: { ...settings, password: 'Wrong-pass1' } });
  assert.equal(wrong.status, 502);
  assert.match(wrong.json.error, /535|Invalid username or password/);
  assert.equal(mail.got.length, 2, 'nothing sent');
  const audit = store.auditLog().filter((e) => e.action.startsWith('send test e-mail'));
  assert.deepEqual(audit.map((e) => e.outcome.slice(0, 6)), ['failed', 'ok', 'ok']);
  assert.ok(!JSON.stringify(store.auditLog()).includes('Smtp-pass1') && !JSON.stringify(store.auditLog()).includes('Wrong-pass1'), 'no password in the audit log');
});

test('STARTTLS: an untrusted server certificate is refused, never silently downgraded; no STARTTLS offered is refused too', async (t) => {
  const tlsMail = await smtp(t, { tlsCert: await makeSelfSigned('smtp.example.com') });
  const plainMail = await smtp(t);
  const { call } = await appliance(t);
  const base = { from: 'alerts@example.com', server: '127.0.0.1', protocol: 'starttls', auth: true, username: 'alerts', password: 'Smtp-pass1' };
  const untrusted = await call('POST', '/mics/api/v1/email/test', { to: 'admin@example.net', settings: { ...base, port: tlsMail.port } });
  assert.equal(untrusted.status, 502);
  assert.match(untrusted.json.error, /certificate|self[- ]signed/i);
  assert.equal(tlsMail.got.length, 0);
  const noTls = await call('POST', '/mics/api/v1/email/test', { to: 'admin@example.net', settings: { ...base, port: plainMail.port } });
  assert.equal(noTls.status, 502);
  assert.match(noTls.json.error, /STARTTLS/i);
  assert.equal(plainMail.got.length, 0, 'no message over a plain connection when STARTTLS was required');
});
