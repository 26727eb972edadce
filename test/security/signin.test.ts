/**
 * Lockouts an attacker tried to get around, replayed against `keel serve` on loopback: a locked
 * directory user signing in as `ALICE` or `" alice"` (real slapd), and guessing the enable
 * secret over SSH.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { SSH_OPTS, webuiSignIn } from '../helpers/ssh.ts';
import { startSlapd, ldapSectionFor, PASSWORDS, type Slapd } from '../system/ldap-slapd.ts';
import { startAppliance, OPER_PASSWORD, ENABLE, type Appliance } from './appliance.ts';

let slapd: Slapd;
let box: Appliance;
beforeAll(async () => {
  slapd = await startSlapd();
  box = await startAppliance((c) => {
    c.users.lockout = { attempts: 5, windowMinutes: 15, lockMinutes: 15 };
    c.ldap = ldapSectionFor(slapd.url);
  });
});
afterAll(async () => {
  box?.stop();
  await slapd?.remove();
});

test('a locked directory user stays locked under any spelling the directory accepts (ALICE, aLice, " alice")', async () => {
  assert.equal((await webuiSignIn(box.httpsPort, 'alice', PASSWORDS.alice)).status, 200, 'alice signs in before');
  for (let i = 0; i < 5; i++) assert.equal((await webuiSignIn(box.httpsPort, 'alice', 'wrong-pw-1')).status, 401);
  for (const spelling of ['alice', 'aLice', 'ALICE', ' alice', 'alice ', 'Alice']) {
    const r = await webuiSignIn(box.httpsPort, spelling, PASSWORDS.alice);
    assert.notEqual(r.status, 200, `${JSON.stringify(spelling)} signed in while alice is locked: ${r.body}`);
  }
  // Failures under other spellings count toward the same lock, too: bob is locked by mixed case.
  for (const spelling of ['BOB', 'Bob', ' bob', 'bOb', 'bob ']) await webuiSignIn(box.httpsPort, spelling, 'wrong-pw-1');
  assert.notEqual((await webuiSignIn(box.httpsPort, 'bob', PASSWORDS.bob)).status, 200, 'five failures as BOB, Bob, … lock bob');
});

/** Feeds `lines` to `ssh -T oper@box` (the CLI reads one answer per line on a pipe); the output and the time taken. */
function operSession(port: number, lines: string[]): Promise<{ out: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn('sshpass', ['-e', 'ssh', '-T', ...SSH_OPTS, '-p', String(port), 'oper@127.0.0.1'], { env: { ...process.env, SSHPASS: OPER_PASSWORD } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', () => resolve({ out, ms: Date.now() - t0 }));
    p.stdin.end(`${lines.join('\n')}\n`);
  });
}

test('guessing the enable secret over SSH is slowed, then locked for that user, in new sessions too', async () => {
  const guesses = ['Guess01', 'Guess02', 'Guess03', 'Guess04', 'Guess05', 'Guess06'];
  const first = await operSession(box.sshPort, ['enable', ...guesses.slice(0, 3), 'enable', ...guesses.slice(3), 'exit']);
  assert.match(first.out, /Bad secrets/);
  assert.match(first.out, /privileged mode is locked for oper/i);
  const perMinute = (5 / first.ms) * 60_000;
  console.log(`enable guesses: 5 wrong secrets took ${first.ms} ms (${perMinute.toFixed(0)} a minute at most, then locked)`);
  assert.ok(first.ms >= 4_000, `five wrong secrets took only ${first.ms} ms`);
  // A new session, the right secret: still locked.
  const again = await operSession(box.sshPort, ['enable', ENABLE, 'show privilege', 'exit']);
  assert.match(again.out, /Privileged mode is locked for oper/);
  assert.doesNotMatch(again.out, /core#/);
});
