/**
 * Soak: does Keel's long-running code hold on to memory? (issue 15)
 * 1. 10,000 cycles of the health monitor's full probe cycle (HealthMonitor.cycle(): collect,
 *    record state and history, prune, store the snapshot), in this process, on a sandbox root
 *    with fixture NICs; RSS of this process every 1,000 cycles.
 * 2. 100,000 API requests (session-authenticated GETs of the health, configuration, audit,
 *    users and health-history routes in turn, 10 keep-alive connections) against System Manager running as on the appliance
 *    (its V8 limits) in a child process; its RSS every 1,000 requests.
 * Each series prints its samples, the growth after warm-up (least-squares slope × span, which
 * one noisy sample does not move) and exits non-zero when either grows more than 5 MiB.
 * Run: npm run bench:soak [-- cycles requests]   (about 2-4 minutes on 2 shared CPUs)
 */
import fs from 'node:fs';
import https from 'node:https';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { HealthMonitor } from '../../appliance/health/monitor.ts';
import { SERVE_NODE_FLAGS } from '../../appliance/runtime.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { PASSWORD, preparedSandbox } from './webui.ts';

process.env.KEEL_LOG = 'silent';
const CYCLES = Number(process.argv[2] ?? 10_000);
const REQUESTS = Number(process.argv[3] ?? 100_000);
const EVERY = 1000;
/** Samples before this fraction of a run are warm-up (JIT, caches, pools filling). */
const WARMUP = 0.3;
const LIMIT_MIB = 5;
const MAIN = fileURLToPath(new URL('../../bin/main.ts', import.meta.url));

const rssMiB = (pid: number | 'self' = 'self') => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** Growth after warm-up: the least-squares slope over the samples after it, times their span. */
export function growth(samples: number[]): { warm: number; growthMiB: number; slopePer1000: number } {
  const warm = Math.min(samples.length - 2, Math.ceil(samples.length * WARMUP));
  const ys = samples.slice(warm);
  const n = ys.length;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  ys.forEach((y, i) => {
    sxy += (i - mx) * (y - my);
    sxx += (i - mx) ** 2;
  });
  const slope = sxx ? sxy / sxx : 0;
  return { warm, growthMiB: slope * (n - 1), slopePer1000: slope };
}

function report(name: string, unit: string, samples: number[]): boolean {
  const g = growth(samples);
  console.log(`${name}: RSS (MiB) every ${EVERY} ${unit}: ${samples.map((x) => x.toFixed(1)).join(' ')}`);
  const ok = g.growthMiB <= LIMIT_MIB;
  console.log(`  after warm-up (${g.warm} samples): slope ${g.slopePer1000.toFixed(3)} MiB per ${EVERY} ${unit}, growth ${g.growthMiB.toFixed(2)} MiB (limit ${LIMIT_MIB}) ${ok ? 'flat' : 'GROWS'}`);
  return ok;
}

async function probeCycles(root: string): Promise<number[]> {
  const sysfs = fakeSysfs(root, 2);
  const host = createHost(root, { sysfs });
  const store = Store.open(host);
  try {
    const config = sampleConfig();
    // Small retention, so history is pruned during the run as on a long-running appliance.
    const monitor = new HealthMonitor({ host, db: store.db, hostname: config.system.hostname, bmc: null, smart: false, channels: [], config: { maxHistory: 100 } });
    const samples: number[] = [];
    for (let i = 1; i <= CYCLES; i++) {
      await monitor.cycle();
      if (i % EVERY === 0) samples.push(rssMiB());
    }
    return samples;
  } finally {
    store.close();
  }
}

function startServe(root: string, sysfs: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...SERVE_NODE_FLAGS, MAIN, 'serve', '--root', root, '--https-port', '0', '--listen', '127.0.0.1', '--no-monitor'], { env: { ...process.env, KEEL_SYSFS: sysfs }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`System Manager did not start:\n${out}`)), 30000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /System Manager: https:\/\/[^:]+:(\d+)\/mics\//.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ child, port: Number(m[1]) });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`System Manager exited ${code}:\n${out}`)));
  });
}

function signIn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ username: 'admin', password: PASSWORD });
    const req = https.request({ host: '127.0.0.1', port, path: '/mics/api/session', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      const c = (res.headers['set-cookie'] ?? []).find((x) => x.startsWith('keel_session='));
      if (res.statusCode !== 200 || !c) reject(new Error(`sign-in answered ${res.statusCode}`));
      else resolve(c.split(';')[0]);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function apiRequests(root: string): Promise<{ samples: number[]; bad: number }> {
  const { sysfs } = await preparedSandbox(root);
  const sm = await startServe(root, sysfs);
  try {
    const cookie = await signIn(sm.port);
    const paths = ['/mics/api/health', '/mics/api/v1/config', '/mics/api/v1/audit?limit=20', '/mics/api/v1/health/history?hours=1', '/mics/api/v1/users'];
    // One run (connections stay open, as a browser's do); RSS read at every 1,000th answer.
    const samples: number[] = [];
    let answered = 0;
    const run = autocannon({ url: `https://127.0.0.1:${sm.port}`, connections: 10, amount: REQUESTS, headers: { cookie }, requests: paths.map((path) => ({ method: 'GET', path })) });
    run.on('response', () => {
      if (++answered % EVERY === 0) samples.push(rssMiB(sm.child.pid!));
    });
    const r = await run;
    const bad = r.non2xx + r.errors;
    return { samples, bad };
  } finally {
    sm.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
  }
}

const root = tempRoot('keel-bench-soak-');
for (const d of ['monitor', 'serve']) fs.mkdirSync(`${root}/${d}`);
try {
  const t0 = performance.now();
  const cycles = await probeCycles(`${root}/monitor`);
  const t1 = performance.now();
  const okCycles = report(`health monitor, ${CYCLES} probe cycles in ${((t1 - t0) / 1000).toFixed(0)} s`, 'cycles', cycles);
  const api = await apiRequests(`${root}/serve`);
  const t2 = performance.now();
  const okApi = report(`System Manager, ${REQUESTS} API requests in ${((t2 - t1) / 1000).toFixed(0)} s (${api.bad} non-2xx or errors)`, 'requests', api.samples);
  console.log(`soak: ${((t2 - t0) / 1000).toFixed(0)} s in all`);
  if (!okCycles || !okApi || api.bad) process.exitCode = 1;
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
