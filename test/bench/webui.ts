/**
 * System Manager throughput and memory: autocannon against GET /mics/api/health and the dashboard
 * page (signed in), beside a bare fastify hello-world with the same TLS settings, each server in
 * its own child process; RSS of the System Manager process idle, under 50 and 200 connections,
 * and 60 s after the load. `webuiFigures()` returns the figures (npm run bench calls it).
 * Run: npm run bench:webui [-- seconds]
 */
import fs from 'node:fs';
import https from 'node:https';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { validate } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { ensureWebuiCertificateFor } from '../../appliance/certs/webui.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { SERVE_NODE_FLAGS } from '../../appliance/runtime.ts';

process.env.KEEL_LOG ??= 'silent';
export const PASSWORD = 'Passw0rd!x';
const CONNECTIONS = 50;
const MANY = 200;
/** Rounds of the hello-world / health / dashboard comparison. */
const ROUNDS = 3;
/** How long after the load the RSS must be back near idle (issue 15). */
const SETTLE_S = 60;
const MAIN = fileURLToPath(new URL('../../bin/main.ts', import.meta.url));

// Child mode: a bare fastify hello-world over HTTPS with System Manager's TLS settings and certificate.
if (process.argv[2] === '--hello') {
  const { default: Fastify } = await import('fastify');
  const { tlsOptions } = await import('../../webui/server.ts');
  const app = Fastify({ logger: false, https: tlsOptions({ keyPem: fs.readFileSync(process.argv[3], 'utf8'), certPem: fs.readFileSync(process.argv[4], 'utf8') }) });
  app.get('/', async () => ({ hello: 'world' }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  console.log(`hello: port ${(app.server.address() as { port: number }).port}`);
  process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
} else if (import.meta.main) {
  const f = await webuiFigures({ seconds: Number(process.argv[2] ?? 10), print: true });
  if (!f.clean) process.exitCode = 1;
}

/** Starts a child and resolves with the port printed on a line matching `re`. */
function startChild(args: string[], re: RegExp, env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, args, { env: { ...process.env, KEEL_LOG: 'silent', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`did not start:\n${out}`)), 30000);
    const onData = (d: Buffer) => {
      out += d;
      const m = re.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ child, port: Number(m[1]) });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
  });
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
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

interface Row {
  name: string;
  rps: number;
  p99: number;
  non2xx: number;
  errors: number;
  rssPeakKiB?: number;
}

async function load(name: string, url: string, headers: Record<string, string>, seconds: number, pid?: number, connections = CONNECTIONS): Promise<Row> {
  let peak = 0;
  const sampler = pid ? setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 200) : null;
  const r = await autocannon({ url, connections, duration: seconds, headers });
  if (sampler) clearInterval(sampler);
  return { name, rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors, rssPeakKiB: pid ? peak : undefined };
}

/** Several runs of one load as one row: mean requests per second, the highest p99 and RSS peak, errors and non-2xx summed. */
function mean(runs: Row[]): Row {
  const avg = (f: (r: Row) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
  const peaks = runs.map((r) => r.rssPeakKiB).filter((x): x is number => x !== undefined);
  return { name: runs[0].name, rps: avg((r) => r.rps), p99: Math.max(...runs.map((r) => r.p99)), non2xx: runs.reduce((a, r) => a + r.non2xx, 0), errors: runs.reduce((a, r) => a + r.errors, 0), rssPeakKiB: peaks.length ? Math.max(...peaks) : undefined };
}

/** The issue 15 figures of System Manager (RSS in MiB, throughput as a ratio to bare fastify). */
export interface WebuiFigures {
  rssIdleMiB: number;
  rssPeak50MiB: number;
  rssPeak200MiB: number;
  /** RSS 60 s after the load ended, and how long it took to be back at ≤ 1.1 × idle (null: never). */
  rssAfter60sMiB: number;
  backWithinS: number | null;
  helloRps: number;
  healthRps: number;
  dashboardRps: number;
  healthRatio: number;
  dashboardRatio: number;
  /** No non-2xx answers and no errors in any run. */
  clean: boolean;
}

/** The issue's table rows, as `npm run bench` prints them. */
export function figureLines(f: WebuiFigures): string[] {
  const m = (x: number) => `${x.toFixed(1)} MiB`;
  return [
    `System Manager RSS idle (sandbox): ${m(f.rssIdleMiB)} (target ≤ 120 MiB)`,
    `RSS under load: ${CONNECTIONS} conns ${m(f.rssPeak50MiB)}; ${MANY} conns ${m(f.rssPeak200MiB)}; ${SETTLE_S} s after ${m(f.rssAfter60sMiB)} = ${(f.rssAfter60sMiB / f.rssIdleMiB).toFixed(2)} × idle${f.backWithinS === null ? '' : `, ≤ 1.1 × idle after ${f.backWithinS} s`} (target ≤ 200 MiB peak, ≤ 1.1 × idle within ${SETTLE_S} s)`,
    `GET /mics/api/health vs bare fastify: ${f.healthRatio.toFixed(2)} × (${f.healthRps.toFixed(0)} vs ${f.helloRps.toFixed(0)} req/s) (target ≥ 0.5 ×)`,
    `dashboard page vs bare fastify: ${f.dashboardRatio.toFixed(2)} × (${f.dashboardRps.toFixed(0)} vs ${f.helloRps.toFixed(0)} req/s) (target ≥ 0.3 ×)`,
  ];
}

/**
 * A configured sandbox root for the benches (sample configuration, admin password PASSWORD, then
 * `keel boot` as on the appliance): its fake sysfs, host and configuration. As on the appliance, System Manager starts from V8's compile
 * cache (scripts/with-node.sh sets it; warmed here so no TypeScript stripper is measured either).
 */
export async function preparedSandbox(root: string): Promise<{ sysfs: string; host: ReturnType<typeof createHost>; config: ReturnType<typeof sampleConfig> }> {
  const sysfs = fakeSysfs(root, 2);
  const host = createHost(root, { sysfs });
  const config = sampleConfig();
  config.users.local[0].passwordHash = await hashSecret(PASSWORD);
  const s = Store.open(host);
  s.commitRunning(validate(config), { who: 'bench', source: 'bench' }, 'initial', '');
  s.saveStartup({ who: 'bench', source: 'bench' });
  s.close();
  // `keel boot`, as on the appliance before System Manager starts: it renders the configuration
  // and makes the host keys and System Manager's certificate (which System Manager then only reads).
  const boot = spawnSync(process.execPath, [MAIN, 'boot', '--root', root], { env: { ...process.env, KEEL_SYSFS: sysfs, KEEL_LOG: 'silent' }, encoding: 'utf8' });
  if (boot.status !== 0) throw new Error(`keel boot exited ${boot.status}: ${boot.stderr}`);
  process.env.NODE_COMPILE_CACHE ??= fileURLToPath(new URL('../../node_modules/.cache/keel-node', import.meta.url));
  spawnSync(process.execPath, [MAIN, 'serve', '--help'], { stdio: 'ignore' });
  return { sysfs, host, config };
}

/**
 * Runs the whole measurement in a temporary sandbox root: each load lasts `seconds`, then RSS is
 * sampled each second for 60 s. About 5.5 × seconds + 70 s in all (the comparison in three interleaved rounds of seconds / 2).
 */
export async function webuiFigures(opts: { seconds?: number; print?: boolean } = {}): Promise<WebuiFigures> {
  const SECONDS = opts.seconds ?? 10;

  const root = tempRoot('keel-bench-webui-');
  const children: ChildProcess[] = [];
  try {
    const { sysfs, host, config } = await preparedSandbox(root);
    // System Manager with the V8 limits it has on the appliance (KEEL_BENCH_NODE_FLAGS overrides them: experiments).
    const flags = process.env.KEEL_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [...SERVE_NODE_FLAGS];
    const sm = await startChild([...flags, MAIN, 'serve', '--root', root, '--https-port', '0', '--listen', '127.0.0.1'], /System Manager: https:\/\/[^:]+:(\d+)\/mics\//, { KEEL_SYSFS: sysfs });
    children.push(sm.child);
    const pid = sm.child.pid!;
    // The certificate keel boot made (ensure* only reads it back now).
    const pair = await ensureWebuiCertificateFor(host, config);
    fs.writeFileSync(`${root}/bench-key.pem`, pair.keyPem, { mode: 0o600 });
    fs.writeFileSync(`${root}/bench-cert.pem`, pair.certPem);
    const hello = await startChild([fileURLToPath(import.meta.url), '--hello', `${root}/bench-key.pem`, `${root}/bench-cert.pem`], /hello: port (\d+)/);
    children.push(hello.child);

    const cookie = await signIn(sm.port);
    await new Promise((r) => setTimeout(r, 2000)); // let start-up work settle before the idle sample
    const idle = rssKiB(pid);
    const base = `https://127.0.0.1:${sm.port}`;
    const rows: Row[] = [];
    const rounds: { health: number; dashboard: number }[] = [];
    const roundSeconds = Math.max(2, Math.round(SECONDS / 2));
    // Warm-up so JIT and caches do not count against the first target.
    await autocannon({ url: `https://127.0.0.1:${hello.port}/`, connections: 10, duration: 2 });
    await autocannon({ url: `${base}/mics/api/health`, connections: 10, duration: 2, headers: { cookie } });
    // Interleaved rounds (hello, health, dashboard; again and again), each figure their mean: the
    // machine's speed drifts (a shared VM), and one long run of each would put the drift in the ratio.
    const hellos: Row[] = [];
    const healths: Row[] = [];
    const dashboards: Row[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      hellos.push(await load('hello-world (bare fastify, same TLS)', `https://127.0.0.1:${hello.port}/`, {}, roundSeconds));
      healths.push(await load('GET /mics/api/health', `${base}/mics/api/health`, { cookie }, roundSeconds, pid));
      dashboards.push(await load('GET /mics/ (dashboard page)', `${base}/mics/`, { cookie }, roundSeconds, pid));
    }
    rows.push(mean(hellos), mean(healths), mean(dashboards));
    rounds.push(...hellos.map((h, i) => ({ health: healths[i].rps / h.rps, dashboard: dashboards[i].rps / h.rps })));
    rows.push(await load(`GET /mics/api/health, ${MANY} connections`, `${base}/mics/api/health`, { cookie }, SECONDS, pid, MANY));
    // After the load: does the memory come back?
    const samples: number[] = [];
    for (let s = 1; s <= SETTLE_S; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push(rssKiB(pid));
    }
    const after = samples[samples.length - 1];
    const back = samples.findIndex((x, i) => samples.slice(i).every((y) => y <= 1.1 * idle));

    const ref = rows[0].rps;
    const mib = (k: number) => k / 1024;
    const f: WebuiFigures = {
      rssIdleMiB: mib(idle),
      rssPeak50MiB: mib(Math.max(rows[1].rssPeakKiB!, rows[2].rssPeakKiB!)),
      rssPeak200MiB: mib(rows[3].rssPeakKiB!),
      rssAfter60sMiB: mib(after),
      backWithinS: back < 0 ? null : back + 1,
      helloRps: ref,
      healthRps: rows[1].rps,
      dashboardRps: rows[2].rps,
      healthRatio: rows[1].rps / ref,
      dashboardRatio: rows[2].rps / ref,
      clean: !rows.some((r) => r.non2xx || r.errors),
    };
    if (opts.print) {
      console.log(`autocannon: hello-world, health and dashboard in ${ROUNDS} interleaved rounds of ${roundSeconds} s (their mean), then ${MANY} connections for ${SECONDS} s; HTTPS (TLS 1.3) on loopback, ${(await import('node:os')).cpus().length} CPUs shared by client and server`);
      for (const r of rows) {
        const extra = r.rssPeakKiB ? `, System Manager RSS peak ${(r.rssPeakKiB / 1024).toFixed(1)} MiB` : '';
        console.log(`  ${r.name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99} ms, ratio to hello-world ${(r.rps / ref).toFixed(3)}, non-2xx ${r.non2xx}, errors ${r.errors}${extra}`);
      }
      console.log(`  ratio per round (health, dashboard): ${rounds.map((r) => `${r.health.toFixed(2)}/${r.dashboard.toFixed(2)}`).join(', ')}`);
      console.log(`RSS after the load (MiB, every 10 s): ${samples.filter((_, i) => i % 10 === 9).map((k) => mib(k).toFixed(1)).join(', ')}`);
      console.log('');
      for (const l of figureLines(f)) console.log(l);
    }
    return f;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    fs.rmSync(root, { recursive: true, force: true });
  }
}
