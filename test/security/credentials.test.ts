/**
 * Credentials that outlived their user, replayed against `keel serve`: an API token of a deleted
 * or demoted administrator, sessions across a password change, tokens without an expiry.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { SSH_OPTS } from '../helpers/ssh.ts';
import { startAppliance, apiSession, https1, PASSWORD, type Appliance } from './appliance.ts';

const V1 = '/mics/api/v1';
let box: Appliance;
beforeAll(async () => {
  box = await startAppliance();
});
afterAll(() => box?.stop());

const bearer = (token: string) => https1(box.httpsPort, 'GET', `${V1}/config/ntp`, undefined, { authorization: `Bearer ${token}` });

async function adminWithToken(admin: Awaited<ReturnType<typeof apiSession>>, name: string): Promise<string> {
  assert.equal((await admin('POST', `${V1}/users`, { name, role: 'admin', password: 'Sec0nd-Admin-pw' })).status, 200);
  const them = await apiSession(box.httpsPort, name, 'Sec0nd-Admin-pw');
  const t = await them('POST', `${V1}/tokens`, { name: `${name}-automation`, role: 'admin' });
  assert.equal(t.status, 201, t.text);
  assert.equal((await bearer(t.json.token)).status, 200, 'the token works while its maker is an administrator');
  return t.json.token as string;
}

test('a deleted administrator\'s API token stops working at once, and stays dead if the name comes back', async () => {
  const admin = await apiSession(box.httpsPort, 'admin', PASSWORD);
  const token = await adminWithToken(admin, 'ops');
  assert.equal((await admin('DELETE', `${V1}/users/ops`)).status, 200);
  assert.equal((await bearer(token)).status, 401);
  // The same name made again is a new person: the old token does not come back to life.
  assert.equal((await admin('POST', `${V1}/users`, { name: 'ops', role: 'admin', password: 'Sec0nd-Admin-pw' })).status, 200);
  assert.equal((await bearer(token)).status, 401);
});

test('an administrator made operator loses the tokens they made', async () => {
  const admin = await apiSession(box.httpsPort, 'admin', PASSWORD);
  const token = await adminWithToken(admin, 'ops2');
  assert.equal((await admin('PUT', `${V1}/users/ops2`, { role: 'operator' })).status, 200);
  assert.equal((await bearer(token)).status, 401);
});

test('a password change ends the user\'s other sessions; the session that made it goes on; a reset by an administrator ends them all', async () => {
  const admin = await apiSession(box.httpsPort, 'admin', PASSWORD);
  assert.equal((await admin('POST', `${V1}/users`, { name: 'ops3', role: 'admin', password: 'Th1rd-Admin-pw' })).status, 200);
  const a = await apiSession(box.httpsPort, 'ops3', 'Th1rd-Admin-pw');
  const b = await apiSession(box.httpsPort, 'ops3', 'Th1rd-Admin-pw');
  assert.equal((await b('GET', `${V1}/config/ntp`)).status, 200);
  // The password policy's minimum age is counted from the last change; the test users are new.
  const changed = await a('PUT', `${V1}/users/ops3`, { password: 'N3w-Admin-pw-x' });
  if (changed.status === 400 && /at most once/.test(changed.text)) {
    // A minimum age forbids a change this soon: an administrator's reset shows the same rule.
    assert.equal((await admin('PUT', `${V1}/users/ops3`, { password: 'N3w-Admin-pw-x' })).status, 200);
    assert.equal((await a('GET', `${V1}/config/ntp`)).status, 401);
  } else {
    assert.equal(changed.status, 200, changed.text);
    assert.equal((await a('GET', `${V1}/config/ntp`)).status, 200, 'the session that changed the password goes on');
  }
  assert.equal((await b('GET', `${V1}/config/ntp`)).status, 401, 'the other session ended');
  // An administrator's reset ends every session of that user.
  const c = await apiSession(box.httpsPort, 'ops3', 'N3w-Admin-pw-x');
  assert.equal((await admin('PUT', `${V1}/users/ops3`, { password: 'Re5et-Admin-pw' })).status, 200);
  assert.equal((await c('GET', `${V1}/config/ntp`)).status, 401);
});

test('a token made without an expiry expires after 90 days', async () => {
  const admin = await apiSession(box.httpsPort, 'admin', PASSWORD);
  const t = await admin('POST', `${V1}/tokens`, { name: 'no-expiry', role: 'operator' });
  assert.equal(t.status, 201, t.text);
  const days = (Date.parse(t.json.expiresAt) - Date.now()) / 86400_000;
  assert.ok(days > 89.9 && days <= 90, `expires in ${days} days`);
});

test('a password reset ends the user\'s open SSH sessions too (OpenSSH client), within a few seconds', async () => {
  const admin = await apiSession(box.httpsPort, 'admin', PASSWORD);
  assert.equal((await admin('POST', `${V1}/users`, { name: 'ops4', role: 'operator', password: 'F0urth-Oper-pw' })).status, 200);
  const p = spawn('sshpass', ['-e', 'ssh', '-T', ...SSH_OPTS, '-p', String(box.sshPort), 'ops4@127.0.0.1'], { env: { ...process.env, SSHPASS: 'F0urth-Oper-pw' } });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  const closed = new Promise<number>((r) => p.on('close', (code) => r(code ?? -1)));
  p.stdin.write('show clock\n');
  const until = Date.now() + 20_000;
  while (!/UTC/.test(out) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /UTC/, 'the session is open and runs commands');
  const t0 = Date.now();
  assert.equal((await admin('PUT', `${V1}/users/ops4`, { password: 'F1fth-Oper-pw-x' })).status, 200);
  const ended = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
  if (!ended) p.kill();
  console.log(`SSH session of ops4 ended ${Date.now() - t0} ms after the reset`);
  assert.ok(ended, `the SSH session was still open 15 s after the reset: ${out.slice(-500)}`);
  assert.match(out, /Session closed: the password was changed/);
});
