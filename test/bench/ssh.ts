/**
 * SSH CLI benchmark (issue 3), on loopback in one run:
 * - time from starting the OpenSSH client (TCP connect follows within a millisecond) to the first
 *   prompt, Keel's SSH CLI against OpenSSH's sshd giving a bash shell, both with password sign-in
 *   through sshpass, median of N runs, and the ratio (goal <= 1.5);
 * - RSS of the `keel serve` process (System Manager + SSH CLI) idle and with 20 sessions open.
 * Needs root (a temporary local user for sshd, removed at the end), openssh-server and sshpass.
 *
 *   sh scripts/with-node.sh node test/bench/ssh.ts [runs]
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { Expect } from '../helpers/expect.ts';

const MAIN = fileURLToPath(new URL('../../bin/main.ts', import.meta.url));
const RUNS = Number(process.argv[2] ?? 10);
const PASSWORD = 'Bench-Passw0rd1';
const BENCH_USER = 'keelbench';
const KEEL_PORT = 2201;
const SSHD_PORT = 2202;
const OPTS = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

async function timeToPrompt(port: number, user: string, prompt: RegExp): Promise<number> {
  const started = performance.now();
  const e = new Expect('sshpass', ['-e', 'ssh', '-tt', ...OPTS, '-p', String(port), `${user}@127.0.0.1`], { SSHPASS: PASSWORD });
  try {
    await e.expect(prompt, 20000);
    return performance.now() - started;
  } finally {
    e.send('exit\n');
    await Promise.race([e.done, new Promise((r) => setTimeout(r, 2000))]);
    e.kill();
  }
}

async function startKeel(root: string, sysfs: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--root', root, '--https-port', '0', '--listen', '127.0.0.1', '--ssh-port', String(KEEL_PORT)], {
    env: { ...process.env, KEEL_LOG: 'silent', KEEL_SYSFS: sysfs },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`keel serve did not start:\n${out}`)), 60000);
    const on = (d: Buffer) => {
      out += d;
      if (/SSH CLI: port/.test(out) && /System Manager: https/.test(out)) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (c) => reject(new Error(`keel serve exited ${c}:\n${out}`)));
  });
  return child;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

async function startSshd(dir: string): Promise<ChildProcess> {
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const key = path.join(dir, 'ssh_host_ed25519_key');
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key], { stdio: 'inherit' });
  const conf = path.join(dir, 'sshd_config');
  fs.writeFileSync(conf, [`Port ${SSHD_PORT}`, 'ListenAddress 127.0.0.1', `HostKey ${key}`, 'PasswordAuthentication yes', 'KbdInteractiveAuthentication no', 'UsePAM no', 'PermitRootLogin no', `AllowUsers ${BENCH_USER}`, 'PrintMotd no', 'PrintLastLog no', 'Banner none', `PidFile ${dir}/sshd.pid`, ''].join('\n'));
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  for (let i = 0; i < 50 && !(await canConnect(SSHD_PORT)); i++) await new Promise((r) => setTimeout(r, 100));
  return child;
}

async function main(): Promise<void> {
  const root = tempRoot('keel-bench-ssh-');
  const sysfs = fakeSysfs(root, 2);
  const host = createHost(root, { sysfs });
  const store = Store.open(host);
  const c = sampleConfig();
  // Real hashes (scrypt N=2^15), as the wizard makes them: sign-in costs what it costs on the appliance.
  c.users.local[0].passwordHash = await hashSecret(PASSWORD);
  c.users.enableSecretHash = await hashSecret('Enable1');
  c.ssh = { enabled: true, port: KEEL_PORT, maxSessions: 32 };
  await applyConfig(host, store, c, { who: 'bench', source: 'bench' }, 'bench');
  store.saveStartup({ who: 'bench', source: 'bench' });
  store.close();

  spawnSync('userdel', ['-r', BENCH_USER], { stdio: 'ignore' });
  if (spawnSync('useradd', ['-m', '-s', '/bin/bash', BENCH_USER]).status !== 0) throw new Error('useradd failed (run as root)');
  spawnSync('chpasswd', [], { input: `${BENCH_USER}:${PASSWORD}\n` });
  const keel = await startKeel(root, sysfs);
  const sshd = await startSshd(root);
  try {
    // Warm both (first connection pays for host key loading, page cache).
    await timeToPrompt(KEEL_PORT, 'admin', /core>/);
    await timeToPrompt(SSHD_PORT, BENCH_USER, /\$ $/m);
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      ours.push(await timeToPrompt(KEEL_PORT, 'admin', /core>/));
      theirs.push(await timeToPrompt(SSHD_PORT, BENCH_USER, /\$ $/m));
    }
    const o = median(ours);
    const t = median(theirs);
    console.log(`time to first prompt, median of ${RUNS}: keel ${o.toFixed(0)} ms, OpenSSH sshd + bash ${t.toFixed(0)} ms, ratio ${(o / t).toFixed(2)} (goal <= 1.5)`);
    console.log(`  keel runs: ${ours.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`  sshd runs: ${theirs.map((x) => x.toFixed(0)).join(' ')}`);

    const idle = rssKiB(keel.pid!);
    const sessions: Expect[] = [];
    for (let i = 0; i < 20; i++) {
      const e = new Expect('sshpass', ['-e', 'ssh', '-tt', ...OPTS, '-p', String(KEEL_PORT), 'admin@127.0.0.1'], { SSHPASS: PASSWORD });
      await e.expect(/core>/, 30000);
      sessions.push(e);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const busy = rssKiB(keel.pid!);
    console.log(`keel serve RSS (System Manager + SSH CLI): idle ${(idle / 1024).toFixed(1)} MiB, with 20 SSH sessions open ${(busy / 1024).toFixed(1)} MiB (+${((busy - idle) / 20).toFixed(0)} KiB per session)`);
    for (const e of sessions) {
      e.send('exit\n');
      e.kill();
    }
  } finally {
    keel.kill('SIGTERM');
    sshd.kill('SIGTERM');
    spawnSync('userdel', ['-r', BENCH_USER], { stdio: 'ignore' });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
