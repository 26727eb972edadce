/**
 * The health monitor runs in its own process beside `keel serve`: stopping it (a hung probe) or
 * killing it (a crash) leaves System Manager answering, and serve starts a new one.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import Database from 'better-sqlite3';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { startServe } from '../helpers/serve.ts';

/** Child processes of `pid` whose command line holds `word`. */
function children(pid: number, word: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(word)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function until<T>(what: string, f: () => T | null | undefined | false, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** System Manager's sign-in page answers within `ms`. */
function answers(port: number, ms = 5_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/mics/', rejectUnauthorized: false, timeout: ms }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ms} ms`)));
    req.on('error', reject);
  });
}

test('the health monitor is a separate process: hung or killed, System Manager answers and a new monitor starts; it samples the resource history', async (t) => {
  const root = tempRoot('keel-monitor-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const sysfs = fakeSysfs(root, 2);
  const host = createHost(root, { sysfs });
  const store = Store.open(host);
  const c = sampleConfig();
  c.ssh = { enabled: true, port: 22, banner: 'Authorized use only', idleTimeoutSeconds: 10, maxSessions: 3 };
  await applyConfig(host, store, c, { who: 'admin', source: 'test' }, 'initial');
  store.saveStartup({ who: 'admin', source: 'test' });
  store.close();
  const { child, httpsPort } = await startServe(root, sysfs, { KEEL_RESOURCE_INTERVAL_MS: '1000' });
  t.onTestFinished(() => { child.kill('SIGKILL'); });

  const first = await until('the monitor child', () => children(child.pid!, 'monitor')[0]);
  assert.notEqual(first, child.pid);
  // What the monitor records is what System Manager reads.
  const db = new Database(`${root}/var/lib/keel/keel.db`, { readonly: true });
  t.onTestFinished(() => { db.close(); });
  const latest = await until('a recorded snapshot', () => db.prepare("SELECT value FROM health_kv WHERE name = 'latest'").get() as { value: string } | undefined);
  assert.match(JSON.parse(latest.value).overall, /^(ok|warning|critical|unknown)$/);
  // The resource history: the first reading primes, the next (a second later here) is recorded.
  const { busy } = await until('a recorded resource sample', () => {
    try {
      const v = db.prepare("SELECT s.value FROM resource_sample s JOIN resource_metric m ON m.id = s.metric WHERE s.tier = 0 AND m.name = 'cpu.busy'").pluck().get() as number | undefined;
      return v === undefined ? undefined : { busy: v };
    } catch {
      return undefined; // the tables are made by the monitor's first open
    }
  });
  assert.ok(busy >= 0 && busy <= 100, String(busy));

  // Hung: the monitor stops dead; System Manager is untouched.
  process.kill(first, 'SIGSTOP');
  assert.equal(await answers(httpsPort), 200);
  process.kill(first, 'SIGCONT');

  // Crashed: gone without a word; serve stays up and starts another.
  process.kill(first, 'SIGKILL');
  assert.equal(await answers(httpsPort), 200);
  const second = await until('a new monitor child', () => children(child.pid!, 'monitor').find((p) => p !== first));
  assert.ok(second > 0);
  assert.equal(child.exitCode, null, 'keel serve is still running');

  // serve ending takes its monitor with it.
  child.kill('SIGTERM');
  await until('the monitor to end', () => !fs.existsSync(`/proc/${second}`) || fs.readFileSync(`/proc/${second}/stat`, 'utf8').includes(') Z '), 15_000);
});
