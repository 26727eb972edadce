/**
 * System Manager throughput: autocannon, 50 connections, against GET /mics/api/health and the
 * dashboard page (signed in), beside a bare fastify hello-world with the same TLS settings, each
 * server in its own child process; RSS of the System Manager process idle and under load.
 * Run: npm run bench:webui [-- seconds]
 */
import fs from 'node:fs';
import https from 'node:https';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyAtBoot } from '../../appliance/config/apply.ts';
import { validate } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { ensureWebuiCertificateFor } from '../../appliance/certs/webui.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';
const SECONDS = Number(process.argv[2] ?? 10);
const CONNECTIONS = 50;
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
} else {
  await main();
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

async function load(name: string, url: string, headers: Record<string, string>, pid?: number): Promise<Row> {
  let peak = 0;
  const sampler = pid ? setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 200) : null;
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers });
  if (sampler) clearInterval(sampler);
  return { name, rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors, rssPeakKiB: pid ? peak : undefined };
}

async function main(): Promise<void> {
  const root = tempRoot('keel-bench-webui-');
  const children: ChildProcess[] = [];
  try {
    const sysfs = fakeSysfs(root, 2);
    const host = createHost(root, { sysfs });
    const config = sampleConfig();
    config.users.local[0].passwordHash = await hashSecret(PASSWORD);
    const s = Store.open(host);
    s.commitRunning(validate(config), { who: 'bench', source: 'bench' }, 'initial', '');
    s.saveStartup({ who: 'bench', source: 'bench' });
    await applyAtBoot(host, s);
    s.close();

    const sm = await startChild([MAIN, 'serve', '--root', root, '--https-port', '0', '--listen', '127.0.0.1'], /System Manager: https:\/\/[^:]+:(\d+)\/mics\//, { KEEL_SYSFS: sysfs });
    children.push(sm.child);
    const pid = sm.child.pid!;
    // The certificate System Manager created on start (ensure* only reads it back now).
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
    // Warm-up so JIT and caches do not count against the first target.
    await autocannon({ url: `https://127.0.0.1:${hello.port}/`, connections: 10, duration: 2 });
    await autocannon({ url: `${base}/mics/api/health`, connections: 10, duration: 2, headers: { cookie } });
    rows.push(await load('hello-world (bare fastify, same TLS)', `https://127.0.0.1:${hello.port}/`, {}));
    rows.push(await load('GET /mics/api/health', `${base}/mics/api/health`, { cookie }, pid));
    rows.push(await load('GET /mics/ (dashboard page)', `${base}/mics/`, { cookie }, pid));
    const after = rssKiB(pid);

    const ref = rows[0].rps;
    console.log(`autocannon: ${CONNECTIONS} connections, ${SECONDS} s each, HTTPS (TLS 1.3) on loopback, ${(await import('node:os')).cpus().length} CPUs shared by client and server`);
    for (const r of rows) {
      const extra = r.rssPeakKiB ? `, System Manager RSS peak ${(r.rssPeakKiB / 1024).toFixed(1)} MiB` : '';
      console.log(`  ${r.name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99} ms, ratio to hello-world ${(r.rps / ref).toFixed(3)}, non-2xx ${r.non2xx}, errors ${r.errors}${extra}`);
    }
    console.log(`System Manager RSS: idle ${(idle / 1024).toFixed(1)} MiB, after the load ${(after / 1024).toFixed(1)} MiB`);
    if (rows.some((r) => r.non2xx || r.errors)) process.exitCode = 1;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    fs.rmSync(root, { recursive: true, force: true });
  }
}
