/**
 * The SSH transport of the CLI in process (cli/ssh.ts), with ssh2's own client: sign-in, a command,
 * the lockout on wrong passwords, and the admission limits on connections that never sign in.
 * (test/system/ssh.test.ts and test/security/flood.test.ts drive it with OpenSSH through keel serve.)
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import ssh2 from 'ssh2';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import { SshService } from '../../cli/ssh.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { quickHash } from '../helpers/cli.ts';

const PASSWORD = 'Passw0rd1';

async function service(t: TestContext) {
  const root = tempRoot('keel-sshsvc-');
  const host = createHost(root, { sysfs: fakeSysfs(root, 2) });
  const store = Store.open(host);
  const c = sampleConfig();
  c.users.local[0].passwordHash = quickHash(PASSWORD);
  c.users.lockout = { attempts: 3, windowMinutes: 15, lockMinutes: 15 };
  c.ssh = { enabled: true, port: 22, banner: 'Authorized use only', idleTimeoutSeconds: 60, maxSessions: 4 };
  await applyConfig(host, store, c, { who: 'admin', source: 'test' }, 'initial');
  const svc = new SshService({ host, store, port: 0, listen: '127.0.0.1', failDelayMs: 10, pollMs: 60_000 });
  await svc.start();
  t.onTestFinished(async () => {
    await svc.stop();
    store.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return { svc, store, port: svc.port! };
}

/** Signs in with ssh2's client and runs one command; the output, or the error's message. */
function exec(port: number, password: string, command: string, localAddress?: string): Promise<string> {
  return new Promise((resolve) => {
    const c = new ssh2.Client();
    let out = '';
    c.on('ready', () =>
      c.exec(command, (err, ch) => {
        if (err) return resolve(`exec error: ${err.message}`);
        ch.on('data', (d: Buffer) => (out += d));
        ch.stderr.on('data', (d: Buffer) => (out += d));
        ch.on('close', () => (c.end(), resolve(out)));
      }),
    );
    c.on('error', (e) => resolve(`error: ${e.message}`));
    c.connect({ host: '127.0.0.1', port, username: 'admin', password, localAddress, readyTimeout: 10_000, tryKeyboard: false });
  });
}

test('sign in with a password, run a command in the CLI; wrong passwords lock the user out', async (t) => {
  const { port, store } = await service(t);
  assert.match(await exec(port, PASSWORD, 'show clock'), /UTC/);
  for (let i = 0; i < 3; i++) assert.match(await exec(port, 'wrong-1', 'show clock'), /error: All configured authentication methods failed/);
  assert.match(await exec(port, PASSWORD, 'show clock'), /error: All configured authentication methods failed/, 'locked: the right password is refused too');
  assert.ok(store.auditLog(50).some((e) => /lock out user admin/.test(e.action)));
});

test('connections that never sign in: at most 8 per address are kept; another address still gets in', async (t) => {
  const { port } = await service(t);
  const idle: net.Socket[] = [];
  t.onTestFinished(() => { for (const s of idle) s.destroy(); });
  for (let i = 0; i < 20; i++) {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.3' });
    s.on('error', () => undefined);
    idle.push(s);
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(idle.filter((s) => !s.destroyed).length, 8);
  assert.match(await exec(port, PASSWORD, 'show clock', '127.0.0.1'), /UTC/);
});
