/**
 * `npm run bench`: every figure of the performance issue in one run.
 *   ISO size and where its bytes are (the build's size report); image build time cold and after an
 *   application-only change (from the build's own step log, or measured now with --measure-build);
 *   System Manager memory and throughput against a bare fastify (measured now, test/bench/webui.ts);
 *   boot under TCG: power-on of the installed system to the first wizard question and the boot's
 *   systemd-analyze stages (from the last `npm run test:e2e`), and Keel against the reference image
 *   (measured now as root, test/bench/boot.ts; --no-boot skips it).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatSizes, type SizeReport } from '../../image/sizes.ts';
import { figureLines, webuiFigures } from './webui.ts';
import { bootFigures } from './boot.ts';

const TOP = path.resolve(import.meta.dirname, '../..');
const CACHE = path.join(TOP, '.cache');
const VERSION = (JSON.parse(fs.readFileSync(path.join(TOP, 'package.json'), 'utf8')) as { version: string }).version;
const ISO = path.join(TOP, 'dist', `keel-${VERSION}-amd64.iso`);
const MAIN = path.join(TOP, 'bin/main.ts');

interface BuildRecord {
  total: number;
  steps: { step: string; seconds: number; skipped: boolean }[];
}

function builds(): BuildRecord[] {
  const f = path.join(CACHE, 'image/build-times.jsonl');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as BuildRecord) : [];
}
const ran = (b: BuildRecord, step: string) => b.steps.some((s) => s.step === step && !s.skipped);

function build(env: Record<string, string> = {}): number {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(TOP, 'image/build.ts')], { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error('image build failed');
  return (Date.now() - t0) / 1000;
}

async function sandboxRss(): Promise<number> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-'));
  try {
    const answers = path.join(root, 'answers.json');
    fs.writeFileSync(answers, JSON.stringify({ eula: 'yes', company: 'Bench', contact: 'Bench', contactEmail: 'bench@example.com', enableSecret: 'Enable123', adminUser: 'admin', adminPassword: 'Secret123', interface: 'a', address: '192.0.2.10', netmask: '255.255.255.0', gateway: '192.0.2.1', hostname: 'bench.example.com', nameServers: ['192.0.2.53'], ssh: 'no', ntp: 'no' }));
    const env = { ...process.env, KEEL_LOG: 'silent', KEEL_SYSFS: path.join(root, 'no-sys') };
    for (const args of [['wizard', '--root', root, '--answers', answers], ['boot', '--root', root]]) {
      const r = spawnSync(process.execPath, [MAIN, ...args], { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`keel ${args[0]} failed: ${r.stderr}`);
    }
    const child = spawn(process.execPath, [MAIN, 'serve', '--root', root, '--https-port', '0'], { env, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 10000));
    const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
    child.kill('SIGTERM');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  if (process.argv.includes('--measure-build')) {
    fs.rmSync(path.join(CACHE, 'image'), { recursive: true, force: true });
    console.log(`build, cold (measured now): ${build().toFixed(1)} s`);
    console.log(`build, application-only change (measured now): ${build({ KEEL_BUILD_SALT: String(Date.now()) }).toFixed(1)} s`);
  }
  if (fs.existsSync(ISO)) console.log(`ISO size: ${mib(fs.statSync(ISO).size)} (target ≤ 150 MiB, aim 128)`);
  else console.log('ISO size: no ISO built yet (npm run image)');
  const sizes = path.join(CACHE, 'image/size-report.json');
  if (fs.existsSync(sizes)) console.log(formatSizes(JSON.parse(fs.readFileSync(sizes, 'utf8')) as SizeReport));
  const bs = builds();
  const cold = bs.filter((b) => ran(b, 'base-rootfs')).at(-1);
  const app = bs.filter((b) => !ran(b, 'base-rootfs') && ran(b, 'keel-squashfs')).at(-1);
  console.log(`build, cold (last): ${cold ? `${cold.total.toFixed(1)} s (${cold.steps.map((s) => `${s.step} ${s.seconds.toFixed(0)} s`).join(', ')})` : 'not recorded'}`);
  console.log(`build, application-only change (last): ${app ? `${app.total.toFixed(1)} s` : 'not recorded'}`);
  const mf = path.join(CACHE, 'e2e/metrics.json');
  if (fs.existsSync(mf)) {
    const m = JSON.parse(fs.readFileSync(mf, 'utf8')) as { at: string; bootToWizardSeconds: number; rebootToSignInSeconds?: number; noSerialPowerOnToSignInSeconds?: number; systemManagerRssBytes: number; keelProcessesBytes?: number | null; bootStages?: Record<string, number>; phases: [string, number][] };
    console.log(`TCG: reboot after install to the first wizard question: ${m.bootToWizardSeconds.toFixed(1)} s (goal ≤ 70 s; e2e run ${m.at})`);
    if (m.rebootToSignInSeconds) console.log(`TCG: reload after the wizard to System Manager sign-in: ${m.rebootToSignInSeconds.toFixed(1)} s`);
    if (m.noSerialPowerOnToSignInSeconds) console.log(`TCG: power-on without a UART to System Manager sign-in: ${m.noSerialPowerOnToSignInSeconds.toFixed(1)} s`);
    console.log(`System Manager RSS in the guest (after sign-in): ${mib(m.systemManagerRssBytes)}`);
    if (m.keelProcessesBytes) console.log(`All of Keel's processes together in the guest (their services' control groups): ${mib(m.keelProcessesBytes)} (target ≤ 200 MiB)`);
    if (m.bootStages) console.log(`TCG: the configured boot's stages (systemd-analyze): ${Object.entries(m.bootStages).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}`);
    for (const [n, s] of m.phases) console.log(`  e2e phase ${n}: ${s.toFixed(1)} s`);
  } else console.log('TCG boot and guest RSS: run npm run test:e2e first');
  console.log(`System Manager RSS at idle, sandbox on this machine, right after start (measured now): ${mib(await sandboxRss())}`);
  for (const line of figureLines(await webuiFigures())) console.log(line);
  if (process.argv.includes('--no-boot')) return;
  if (process.getuid?.() !== 0) return console.log('boot against the reference image: needs root (QEMU, loop devices)');
  const b = await bootFigures();
  if (!b) console.log('boot against the reference image: needs the disk of npm run test:e2e and an image with the reference layer (npm run image)');
  else {
    console.log(`TCG: power-on to the console, Keel / reference image (same base, no Keel layer) = ${b.ratio.toFixed(2)} × (${b.keelSeconds.toFixed(1)} s / ${b.referenceSeconds.toFixed(1)} s)`);
    console.log(`TCG: power-on of the installed VM to the first wizard question: ${b.wizardSeconds.toFixed(1)} s (goal <= 70), ${(b.wizardSeconds / b.referenceSeconds).toFixed(2)} × the reference image`);
  }
}

await main();
