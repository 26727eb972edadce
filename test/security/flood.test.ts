/**
 * Floods from one address against `keel serve` on loopback, while an administrator signs in from
 * another (Linux routes all of 127.0.0.0/8 to lo, so 127.0.0.2 is a second client address):
 * 200 connections of wrong System Manager passwords, and 70 SSH connections that never speak.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import { sshRun } from '../helpers/ssh.ts';
import { startAppliance, https1, PASSWORD, type Appliance } from './appliance.ts';

let box: Appliance;
beforeAll(async () => {
  box = await startAppliance();
});
afterAll(() => box?.stop());

test('a 200-connection sign-in flood from 127.0.0.2 never keeps the administrator at 127.0.0.1 out', async () => {
  const mix: Record<number, number> = {};
  let stop = false;
  // 200 connections, each sending wrong passwords (for names that do not exist) as fast as answered.
  const flood = Array.from({ length: 200 }, async (_, i) => {
    while (!stop) {
      const r = await https1(box.httpsPort, 'POST', '/mics/api/session', { username: `guess${i % 50}`, password: 'Wrong-pass-1' }, {}, '127.0.0.2').catch(() => ({ status: 0 }));
      mix[r.status] = (mix[r.status] ?? 0) + 1;
    }
  });
  await new Promise((r) => setTimeout(r, 1500));
  const admin: { status: number; ms: number }[] = [];
  for (let i = 0; i < 9; i++) {
    const t0 = Date.now();
    const r = await https1(box.httpsPort, 'POST', '/mics/api/session', { username: 'admin', password: PASSWORD }, {}, '127.0.0.1');
    admin.push({ status: r.status, ms: Date.now() - t0 });
  }
  stop = true;
  await Promise.all(flood);
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  console.log(`sign-in flood: ${total} answers to 127.0.0.2 ${JSON.stringify(mix)}; admin from 127.0.0.1: ${admin.map((a) => `${a.status} in ${a.ms} ms`).join(', ')}`);
  assert.deepEqual(admin.map((a) => a.status), Array(9).fill(200), 'every administrator sign-in succeeded');
  assert.ok(mix[503] > 0, 'the flood itself was held back');
});

test('70 SSH connections from 127.0.0.2 that never start the handshake leave the SSH CLI open to 127.0.0.1', async () => {
  const idle: net.Socket[] = [];
  try {
    for (let i = 0; i < 70; i++) {
      const s = net.connect({ host: '127.0.0.1', port: box.sshPort, localAddress: '127.0.0.2' });
      s.on('error', () => undefined);
      idle.push(s);
    }
    await new Promise((r) => setTimeout(r, 500));
    const r = sshRun(box.sshPort, 'admin', PASSWORD, ['show clock']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /UTC/);
    const open = idle.filter((s) => !s.destroyed).length;
    console.log(`idle SSH connections: ${open} of 70 from 127.0.0.2 still open; admin's ssh from 127.0.0.1 ran`);
    assert.ok(open <= 8, `${open} idle connections from one address were kept`);
  } finally {
    for (const s of idle) s.destroy();
  }
});
