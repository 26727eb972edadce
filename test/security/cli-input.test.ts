/**
 * The CLI's input, attacked over a real SSH session (OpenSSH client + sshpass) to `keel serve`:
 * a catastrophic regular expression in `| include`, and 20 MB lines.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import https from 'node:https';
import { spawn } from 'node:child_process';
import { SSH_OPTS, sshRun } from '../helpers/ssh.ts';
import { startAppliance, rssMiB, OPER_PASSWORD, type Appliance } from './appliance.ts';

let box: Appliance;
beforeAll(async () => {
  box = await startAppliance();
});
afterAll(() => box?.stop());

/** Milliseconds until System Manager answers its sign-in page. */
function webAnswerMs(port: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: '/mics/', rejectUnauthorized: false, timeout: 60_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(Date.now() - t0));
      })
      .on('error', reject);
  });
}

/** `ssh oper@box COMMAND` without blocking this process; resolves with the output and the time it took. */
function sshAsync(port: number, command: string): Promise<{ out: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn('sshpass', ['-e', 'ssh', ...SSH_OPTS, '-p', String(port), 'oper@127.0.0.1', command], { env: { ...process.env, SSHPASS: OPER_PASSWORD } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', () => resolve({ out, ms: Date.now() - t0 }));
  });
}

test('an operator\'s catastrophic pattern (show clock | include ^(.+)+X$) answers at once and System Manager never stalls', async () => {
  const evil = sshAsync(box.sshPort, 'show clock | include ^(.+)+X$');
  // While the pattern runs, System Manager must answer as usual (it froze for ~80 s before).
  await new Promise((r) => setTimeout(r, 300));
  const webMs = await webAnswerMs(box.httpsPort);
  const r = await evil;
  assert.ok(r.ms < 15_000, `the filtered command took ${r.ms} ms`);
  assert.ok(webMs < 5_000, `System Manager answered after ${webMs} ms`);
  // The same filter still works as IOS users expect.
  const ok = sshRun(box.sshPort, 'oper', OPER_PASSWORD, ['show clock | include UTC']);
  assert.match(ok.out, /UTC/);
  console.log(`catastrophic pattern: answered in ${r.ms} ms; System Manager meanwhile in ${webMs} ms`);
});

test('patterns RE2 cannot run in linear time are refused with a reason; overlong patterns and lines too', () => {
  const back = sshRun(box.sshPort, 'oper', OPER_PASSWORD, ['show clock | include (a)\\1']);
  assert.match(back.out, /Bad regular expression/);
  assert.match(back.out, /backreferences and lookaround are not supported/);
  const long = sshRun(box.sshPort, 'oper', OPER_PASSWORD, [`show clock | include ${'a'.repeat(300)}`]);
  assert.match(long.out, /longer than 256 characters/);
});

test('three 20 MB lines in a session: each refused as too long, never held in memory, the session goes on', async () => {
  const pid = box.serve.pid!;
  const before = rssMiB(pid);
  const p = spawn('sshpass', ['-e', 'ssh', '-T', ...SSH_OPTS, '-p', String(box.sshPort), 'oper@127.0.0.1'], { env: { ...process.env, SSHPASS: OPER_PASSWORD } });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  const line = Buffer.alloc(20 * 2 ** 20, 'a');
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
  for (let i = 0; i < 3; i++) {
    if (!p.stdin.write(line)) await new Promise((r) => p.stdin.once('drain', r));
    p.stdin.write('\n');
  }
  p.stdin.end('show clock | include UTC\nexit\n');
  await new Promise((r) => p.on('close', r));
  clearInterval(sampler);
  const after = rssMiB(pid);
  console.log(`keel serve RSS: ${before.toFixed(0)} MiB before, peak ${peak.toFixed(0)} MiB, ${after.toFixed(0)} MiB after three 20 MB lines`);
  assert.equal(out.match(/Line too long/g)?.length, 3, out.slice(-2000));
  assert.match(out, /^\S.*UTC/m, 'the session still runs commands after the long lines');
  assert.ok(peak - before < 128, `RSS grew by ${(peak - before).toFixed(0)} MiB`);
});
