/**
 * The SSH CLI against the real OpenSSH client (ssh + sshpass) and ssh-audit, on loopback: a
 * `keel serve` process on a sandbox root, as the appliance runs it.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { Expect } from '../helpers/expect.ts';
import { startServe } from '../helpers/serve.ts';
import { quickHash } from '../helpers/cli.ts';
import { SSH_OPTS, sshRun, webuiSignIn } from '../helpers/ssh.ts';
import { updateState } from '../../appliance/update/state.ts';

const MAIN = fileURLToPath(new URL('../../bin/main.ts', import.meta.url));
const PASSWORD = 'Passw0rd1';
const ENABLE = 'Enable1';

let root = '';
let sysfs = '';
let serve: ChildProcess | null = null;
let sshPort = 0;
let httpsPort = 0;

beforeAll(async () => {
  root = tempRoot('keel-ssh-');
  sysfs = fakeSysfs(root, 2);
  const host = createHost(root, { sysfs });
  const store = Store.open(host);
  const c = sampleConfig();
  c.users.enableSecretHash = quickHash(ENABLE);
  c.users.local[0].passwordHash = quickHash(PASSWORD);
  c.users.local.push({ name: 'viewer', passwordHash: quickHash(PASSWORD), passwordChangedAt: c.users.local[0].passwordChangedAt, role: 'operator' });
  c.users.lockout = { attempts: 4, windowMinutes: 15, lockMinutes: 15 };
  c.ssh = { enabled: true, port: 22, banner: 'Authorized use only', idleTimeoutSeconds: 10, maxSessions: 3 };
  await applyConfig(host, store, c, { who: 'admin', source: 'test' }, 'initial');
  store.saveStartup({ who: 'admin', source: 'test' });
  store.close();
  ({ child: serve, sshPort, httpsPort } = await startServe(root, sysfs));
});

afterAll(() => {
  serve?.kill('SIGTERM');
  fs.rmSync(root, { recursive: true, force: true });
});

/** An interactive session (`ssh -tt`), signed in by sshpass. */
function sshShell(user = 'admin', password = PASSWORD, extra: string[] = []): Expect {
  // LogLevel INFO: the OpenSSH client prints the login banner only at INFO and above (the first -o wins).
  return new Expect('sshpass', ['-e', 'ssh', '-tt', '-o', 'LogLevel=INFO', ...SSH_OPTS, ...extra, '-p', String(sshPort), `${user}@127.0.0.1`], { SSHPASS: password });
}

test('sign in, enable, configure, write memory; a new session sees it in show startup-config', async () => {
  const s = sshShell();
  try {
    await s.expect(/Authorized use only/);
    await s.expect(/core>$/m);
    s.send('enable\n');
    await s.expect(/Password:/);
    s.send(`${ENABLE}\n`);
    await s.expect(/core#/);
    s.send('conf t\n');
    await s.expect(/core\(config\)#/);
    s.send('hostname edge.example.com\n');
    await s.expect(/edge\(config\)#/);
    s.send('end\n');
    await s.expect(/edge#/);
    s.send('wr mem\n');
    await s.expect(/edge#/);
    s.send('exit\n');
    assert.equal(await s.done, 0);
  } finally {
    s.kill();
  }
  const again = sshShell();
  try {
    await again.expect(/edge>/);
    again.send('enable\n');
    await again.expect(/Password:/);
    again.send(`${ENABLE}\n`);
    await again.expect(/edge#/);
    again.send('show startup-config | include hostname\n');
    const m = await again.expect(/^hostname (\S+)$/m);
    assert.equal(m[1], 'edge.example.com');
    again.send('exit\n');
    await again.done;
  } finally {
    again.kill();
  }
  const audit = fs.readFileSync(`${root}/var/lib/keel/keel.db`);
  assert.ok(audit.length > 0);
});

test('typed-ahead input that ends at once (printf ... | ssh -tt) still runs every line', () => {
  const r = spawnSync('sshpass', ['-e', 'ssh', '-tt', ...SSH_OPTS, '-p', String(sshPort), 'admin@127.0.0.1'], {
    input: `enable\n${ENABLE}\nshow running-config | include banner\nexit\n`,
    env: { ...process.env, SSHPASS: PASSWORD },
    encoding: 'utf8',
    timeout: 30000,
  });
  assert.match(r.stdout, /banner login "Authorized use only"/, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /readline was closed|% Error/);
});

test('a rolled-back software update is told in the SSH login banner until acknowledged', async () => {
  const host = createHost(root, { sysfs });
  updateState(host, (st) => void (st.lastResult = { outcome: 'rolled-back', version: '0.2.0', running: '0.1.0', at: '2026-11-23T10:00:00.000Z', reason: 'try 3: System Manager did not answer within 600 s' }));
  try {
    const s = sshShell();
    await s.expect(/Authorized use only[\s\S]*SOFTWARE UPDATE ROLLED BACK at 2026-11-23 10:00:00Z: try 3: System Manager did not answer/);
    await s.expect(/>$/m);
    s.send('exit\n');
    await s.done;
  } finally {
    updateState(host, (st) => void delete st.lastResult);
  }
});

test('a command over ssh runs in the CLI, never a system shell', () => {
  const v = sshRun(sshPort, 'admin', PASSWORD, ['show', 'version']);
  assert.equal(v.code, 0, v.out);
  assert.match(v.out, /Keel/);
  const sh = sshRun(sshPort, 'admin', PASSWORD, ['/bin/sh', '-c', 'id']);
  assert.notEqual(sh.code, 0);
  assert.match(sh.out, /Invalid input|Unrecognized|%/);
  assert.doesNotMatch(sh.out, /uid=/);
});

test('forwarding and subsystems are refused', () => {
  const sftp = sshRun(sshPort, 'admin', PASSWORD, ['-s', 'sftp']);
  assert.notEqual(sftp.code, 0, 'the sftp subsystem is refused');
  const fwd = spawnSync('sshpass', ['-e', 'ssh', ...SSH_OPTS, '-o', 'ExitOnForwardFailure=yes', '-N', '-R', '0:127.0.0.1:9', '-p', String(sshPort), 'admin@127.0.0.1'], { env: { ...process.env, SSHPASS: PASSWORD }, encoding: 'utf8', timeout: 30000 });
  assert.notEqual(fwd.status, 0);
  assert.match(fwd.stderr, /forward/i);
});

test('an operator signs in read only', async () => {
  const r = sshRun(sshPort, 'viewer', PASSWORD, ['show', 'clock']);
  assert.equal(r.code, 0, r.out);
});

test('the session limit refuses one session too many, with a message', async () => {
  const open = [sshShell(), sshShell(), sshShell()];
  try {
    for (const s of open) await s.expect(/>$/m);
    const extra = sshShell();
    await extra.expect(/Too many SSH sessions: at most 3/);
    assert.notEqual(await extra.done, 0);
  } finally {
    for (const s of open) {
      s.send('exit\n');
      await s.done;
    }
  }
});

test('an idle session is closed after the configured idle timeout', async () => {
  const s = sshShell();
  try {
    await s.expect(/core>|edge>/);
    const started = Date.now();
    await s.expect(/Session closed: no input for 10 seconds/, 20000);
    const waited = Date.now() - started;
    assert.ok(waited >= 9000, `closed after ${waited} ms, before the 10 s timeout`);
    await s.done;
  } finally {
    s.kill();
  }
});

test('repeated failures lock the user out of SSH and System Manager; the console unlocks it', async () => {
  for (let i = 0; i < 4; i++) {
    const r = sshRun(sshPort, 'admin', 'wrong-Passw0rd', ['show', 'clock']);
    assert.notEqual(r.code, 0);
  }
  const locked = sshRun(sshPort, 'admin', PASSWORD, ['show', 'clock']);
  assert.notEqual(locked.code, 0, 'the right password is refused while locked out');
  const web = await webuiSignIn(httpsPort, 'admin', PASSWORD);
  assert.equal(web.status, 401);
  assert.match(web.body, /locked out/);
  // The local console is never locked out; an administrator there lifts the lock.
  const cli = spawnSync(process.execPath, [MAIN, 'cli', '--root', root, '--user', 'admin'], {
    input: `${PASSWORD}\nenable\n${ENABLE}\nshow login\nclear lockout admin\nexit\n`,
    env: { ...process.env, KEEL_LOG: 'silent', KEEL_SYSFS: sysfs },
    encoding: 'utf8',
    timeout: 30000,
  });
  assert.equal(cli.status, 0, cli.stdout + cli.stderr);
  assert.match(cli.stdout, /admin\s+locked until/);
  assert.match(cli.stdout, /unlocked/i);
  const back = sshRun(sshPort, 'admin', PASSWORD, ['show', 'clock']);
  assert.equal(back.code, 0, back.out);
});

test('ssh-audit reports no failures and no warnings', () => {
  // scripts/ssh-audit.sh: a current ssh-audit (Debian 12's does not know strict key exchange).
  const audit = fileURLToPath(new URL('../../scripts/ssh-audit.sh', import.meta.url));
  const r = spawnSync('sh', [audit, '-n', '-p', String(sshPort), '127.0.0.1'], { encoding: 'utf8', timeout: 180000 });
  const out = `${r.stdout}${r.stderr}`;
  assert.doesNotMatch(out, /\[fail\]|\(fail\)/, out);
  assert.doesNotMatch(out, /\[warn\]|\(warn\)/, out);
  assert.match(out, /curve25519-sha256/);
  assert.match(out, /kex-strict-s-v00@openssh.com/);
  assert.doesNotMatch(out, /\(key\) ssh-rsa /, 'SHA-1 ssh-rsa is not offered');
  assert.equal(r.status, 0, out);
});

test('IOS staples over OpenSSH: help, sh ip int br, show interfaces, show ip route, show ntp status, sh log audit, | count, | section, --More-- and terminal length', async () => {
  const s = sshShell();
  try {
    await s.expect(/(core|edge)>$/m);
    s.send('help\n');
    await s.expect(/Type \? at any point/);
    s.send('sh ip int br\n');
    await s.expect(/Interface\s+IP-Address\s+OK\? Method Status\s+Protocol[\s\S]*GigabitEthernet1\s+192\.0\.2\.10\s+YES manual/);
    s.send('show interfaces GigabitEthernet1\n');
    await s.expect(/GigabitEthernet1 is \S+, line protocol is \S+/);
    s.send('show ip route\n');
    await s.expect(/Gateway of last resort is 192\.0\.2\.1/);
    s.send('show ntp status\n');
    await s.expect(/Clock is (un)?synchronized/);
    s.send('enable\n');
    await s.expect(/Password:/);
    s.send(`${ENABLE}\n`);
    await s.expect(/(core|edge)#$/m);
    s.send('sh log audit | count ssh\n');
    await s.expect(/Number of lines which match regexp = [1-9]\d*/);
    s.send('show running-config | section interface\n');
    await s.expect(/interface GigabitEthernet1\r?\n ip address 192\.0\.2\.10 255\.255\.255\.0/);
    // The pager: a 10-line screen stops at --More--; space shows the next screen, q ends it.
    s.send('terminal length 10\n');
    await s.expect(/(core|edge)#$/m);
    s.send('show running-config\n');
    await s.expect(/ --More-- /);
    s.send(' ');
    await s.expect(/ --More-- /);
    s.send('q');
    await s.expect(/(core|edge)#$/m);
    s.send('terminal length 0\n');
    await s.expect(/(core|edge)#$/m);
    s.send('show running-config\n');
    await s.expect(/\r?\nend\r?\n/);
    s.send('exit\n');
    assert.equal(await s.done, 0);
  } finally {
    s.child.kill();
  }
});
