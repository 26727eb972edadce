/**
 * The walking skeleton end to end: build (or reuse) the ISO, boot it under QEMU/TCG with an empty
 * 8 GiB disk, vm-install, first boot, answer the wizard on the serial console (with wrong answers
 * that must be asked again), reload, then sign in to System Manager through a port forward.
 * Finally the installer must refuse the now non-empty disk. Prints the time of each phase.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import crypto from 'node:crypto';
import https from 'node:https';
import path from 'node:path';
import { Vm, createDisk, freePort, makeSeedIso } from './qemu.ts';
import { Serial, esc, prompt } from './serial.ts';
import { runTestssl, assertTestsslClean, tlsTestCertificate } from '../helpers/testssl.ts';
import { Q } from '../../appliance/wizard/questions.ts';

const TOP = path.resolve(import.meta.dirname, '../..');
const OUT = path.join(TOP, '.cache/e2e');
const VERSION = (JSON.parse(fs.readFileSync(path.join(TOP, 'package.json'), 'utf8')) as { version: string }).version;
const ISO = path.join(TOP, 'dist', `keel-${VERSION}-amd64.iso`);

/** Shared by the tests below (they run in order): the installed and configured disk, and timings. */
const state: { disk: string | null; port: number; rebootToSignIn: number | null } = { disk: null, port: 0, rebootToSignIn: null };

const phases: [string, number][] = [];
let t = Date.now();
function phase(name: string): void {
  const now = Date.now();
  phases.push([name, (now - t) / 1000]);
  console.log(`e2e: ${name}: ${((now - t) / 1000).toFixed(1)} s`);
  t = now;
}

function request(port: number, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      { host: '127.0.0.1', port, method, path: url, rejectUnauthorized: false, agent: false, timeout: 20000, headers: { ...headers, ...(data ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) } : {}) } },
      (res) => {
        // Read while the socket is still attached to the response.
        const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, fingerprint }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

let metrics: Record<string, unknown> = {};

/** Signs in to System Manager through the port forward, retrying until it answers or `timeoutMs` passes. */
async function signIn(port: number, timeoutMs: number): Promise<Awaited<ReturnType<typeof request>>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await request(port, 'POST', '/mics/api/session', { username: 'admin', password: 'Secret123' });
      if (r.status === 200) return r;
      if (r.status !== 503) assert.fail(`sign-in answered ${r.status}: ${r.body}`);
    } catch (e) {
      if (Date.now() > until) throw e;
    }
    if (Date.now() > until) assert.fail(`System Manager did not accept the sign-in within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 3000));
  }
}

test('ISO → vm-install → wizard on the serial console → System Manager sign-in', { timeout: 60 * 60 * 1000 }, async () => {
  fs.mkdirSync(OUT, { recursive: true });
  for (const f of ['serial.log', 'qemu.log']) fs.rmSync(path.join(OUT, f), { force: true });
  const build = spawnSync(process.execPath, [path.join(TOP, 'image/build.ts')], { stdio: 'inherit' });
  assert.equal(build.status, 0, 'image build failed');
  assert.ok(fs.existsSync(ISO));
  phase('image (build or cache)');

  const disk = path.join(OUT, 'disk.qcow2');
  createDisk(disk, '8G');
  const port = await freePort();
  const sshPort = await freePort();
  const seedIso = makeSeedIso(OUT);
  let vm = new Vm({ dir: OUT, iso: ISO, disk, httpsPort: port, sshPort, seedIso, bootFromCdOnce: true });
  let s = new Serial(path.join(OUT, 'serial.log'));
  try {
    vm.start();
    await s.connect(vm.serialPath);
    await s.expect(/vm-install/, 180000, 'the boot menu');
    phase('power-on to boot menu');
    await new Promise((r) => setTimeout(r, 500));
    s.send('\r');
    await s.expect(/Installing to \/dev\/vda/, 600000, 'the installer');
    phase('live boot to installer');
    await s.expect(/Installation complete in \d+ s/, 900000, 'the end of the installation');
    phase('install');
    await s.expect(/Rebooting into the installed system/, 60000);
    const rebootAt = Date.now();

    // --- first boot: the wizard on ttyS0
    const answer = async (q: { prompt: string }, text: string, timeout = 60000) => {
      await s.expect(prompt(q.prompt), timeout, JSON.stringify(q.prompt));
      s.line(text);
    };
    const wrong = async (q: { prompt: string; label: string }, text: string, rule: RegExp) => {
      await answer(q, text);
      await s.expect(new RegExp(`% Invalid ${esc(q.label)}: ${rule.source}`), 60000, `the rule message for ${q.label}`);
    };
    await s.expect(prompt(Q.showEula.prompt), 600000, 'the first wizard question');
    const bootToWizard = (Date.now() - rebootAt) / 1000;
    phase('reboot to first wizard question');
    s.line('yes');
    // The serial console is a TTY: the agreement is paged.
    for (;;) {
      const m = await s.expect(/--More--|Do you accept the End User License Agreement\?/, 60000);
      if (m[0].startsWith('--More--')) s.line('');
      else break;
    }
    s.line('yes');
    await answer(Q.company, 'Example Corp');
    await answer(Q.contact, 'Jane Admin');
    await answer(Q.contactEmail, 'jane@example.com');
    await wrong(Q.enableSecret, 'abc12', /enable secret must be 6-20 characters/);
    await answer(Q.enableSecret, 'Enable123');
    await answer(Q.enableSecretConfirm, 'Enable123');
    await wrong(Q.adminUser, 'root', /user name "root" is reserved/);
    await answer(Q.adminUser, 'admin');
    await answer(Q.adminPassword, 'Secret123');
    await answer(Q.adminPasswordConfirm, 'Secret123');
    await answer(Q.interface, 'a');
    await wrong(Q.address, '10.0.2.300', /each octet must be 0-255/);
    await answer(Q.address, '10.0.2.15');
    await wrong(Q.netmask, '255.0.255.0', /netmask must have contiguous one-bits/);
    await answer(Q.netmask, '255.255.255.0');
    await wrong(Q.gateway, '10.0.3.2', /default gateway 10\.0\.3\.2 must be inside the subnet/);
    await answer(Q.gateway, '10.0.2.2');
    await wrong(Q.hostname, 'core', /hostname must be fully qualified/);
    await answer(Q.hostname, 'core.example.com');
    await answer(Q.nameServer1, '10.0.2.3');
    await answer(Q.nameServer2, '');
    await answer(Q.ssh, 'yes');
    await answer(Q.ntp, 'no');
    await answer(Q.setClock, 'no');
    await s.expect(/ip address 10\.0\.2\.15 255\.255\.255\.0/, 60000, 'the command script');
    await answer(Q.save, 'yes');
    await s.expect(/Configuration complete/, 60000);
    await answer(Q.reload, 'reload');
    await answer(Q.reloadSave, 'yes');
    await answer(Q.proceed, 'yes');
    phase('wizard');

    // --- after the reload: banner with the certificate fingerprint, then System Manager
    const fp = (await s.expect(/Certificate SHA-256 fingerprint: ([0-9A-F:]{95})/, 600000, 'the console banner'))[1];
    await s.expect(/System Manager: https:\/\/core\.example\.com:8443\/mics/, 5000).catch(() => undefined);
    phase('reboot to console banner');
    const reloadAt = Date.now() - phases.at(-1)![1] * 1000;
    const session = await signIn(port, 300000);
    assert.equal(session.fingerprint, fp, 'the certificate System Manager presents is the one the console showed');
    const cookie = String((session.headers['set-cookie'] as string[])[0]).split(';')[0];
    const bad = await request(port, 'POST', '/mics/api/session', { username: 'admin', password: 'wrong' });
    assert.equal(bad.status, 401);
    const noAuth = await request(port, 'GET', '/mics/api/health');
    assert.equal(noAuth.status, 401);
    const h = await request(port, 'GET', '/mics/api/health', undefined, { cookie });
    assert.equal(h.status, 200, h.body);
    const health = JSON.parse(h.body) as { hostname: string; version: string; uptimeOf: string; memory: { systemManagerRssBytes: number; keelProcessesBytes: number | null }; interfaces: { name: string; address: string | null }[] };
    assert.equal(health.hostname, 'core.example.com');
    assert.equal(health.version, VERSION);
    assert.equal(health.uptimeOf, 'appliance');
    // The appliance's own processes together, from their control groups (the guest has cgroup v2).
    assert.ok(typeof health.memory.keelProcessesBytes === 'number' && health.memory.keelProcessesBytes > 0, `Keel's processes' memory: ${health.memory.keelProcessesBytes}`);
    console.log(`e2e: Keel's processes together ${(health.memory.keelProcessesBytes / 2 ** 20).toFixed(1)} MiB, System Manager RSS ${(health.memory.systemManagerRssBytes / 2 ** 20).toFixed(1)} MiB`);
    assert.deepEqual(health.interfaces.map((i) => [i.name, i.address]), [
      ['GigabitEthernet1', '10.0.2.15'],
      ['GigabitEthernet2', null],
    ]);
    phase('System Manager sign-in');
    // Power-on after the reload to a signed-in System Manager (the tests below compare against it).
    state.rebootToSignIn = (Date.now() - reloadAt) / 1000;

    // --- testssl.sh against the booted guest's System Manager, with a CA-signed certificate for its
    // FQDN uploaded through the API with its chain up to the root, which the appliance does not know
    // (checked, served at once, confirmed from a new connection). It
    // runs in the background while the SSH checks below use the guest, and is awaited before `show boot`.
    const csrf = (JSON.parse(session.body) as { csrfToken: string }).csrfToken;
    const tlsCert = tlsTestCertificate('core.example.com', OUT);
    const up = await request(port, 'POST', '/mics/api/v1/certificates/webui/upload', { certificate: tlsCert.chainPem + tlsCert.rootPem, key: tlsCert.keyPem }, { cookie, 'x-csrf-token': csrf });
    assert.equal(up.status, 200, up.body);
    const confirm = await request(port, 'POST', '/mics/api/v1/config/confirm', {}, { cookie, 'x-csrf-token': csrf });
    assert.equal(confirm.status, 200, confirm.body);
    const served = await request(port, 'GET', '/mics/api/health', undefined, { cookie });
    assert.equal(served.fingerprint, new crypto.X509Certificate(tlsCert.leafPem).fingerprint256, 'System Manager serves the uploaded certificate');
    const testssl = runTestssl({ hostname: 'core.example.com', port, caFile: tlsCert.caFile, dir: OUT, timeoutMs: 900_000 });

    // --- the SSH CLI, with the OpenSSH client: the host key is the one the console showed
    const banner = s.all();
    const sshFp = /SSH host key ED25519: (SHA256:\S+)/.exec(banner)?.[1];
    assert.ok(sshFp, 'the console banner shows the SSH host key fingerprint');
    const scan = spawnSync('sh', ['-c', `ssh-keyscan -t ed25519 -p ${sshPort} 127.0.0.1 2>/dev/null | ssh-keygen -lf -`], { encoding: 'utf8', timeout: 60000 });
    assert.match(scan.stdout, new RegExp(esc(sshFp)), `ssh-keyscan: ${scan.stdout}${scan.stderr}`);
    const sshOpts = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1', '-p', String(sshPort)];
    const sshRun = (cmd: string, pw = 'Secret123') => spawnSync('sshpass', ['-e', 'ssh', ...sshOpts, 'admin@127.0.0.1', cmd], { encoding: 'utf8', timeout: 120000, env: { ...process.env, SSHPASS: pw } });
    const ver = sshRun('show version');
    assert.equal(ver.status, 0, ver.stdout + ver.stderr);
    assert.match(ver.stdout, new RegExp(`Keel appliance software, version ${esc(VERSION)}`));
    // live-boot opened both images of slot A through dm-verity with the signed root hashes.
    assert.match(ver.stdout, /System image: verified on read \(dm-verity: (base|keel)\.squashfs, (base|keel)\.squashfs\)/);
    const shell = spawnSync('sshpass', ['-e', 'ssh', '-tt', ...sshOpts, 'admin@127.0.0.1'], {
      input: 'enable\nEnable123\nshow running-config | include ssh\nexit\n',
      encoding: 'utf8',
      timeout: 120000,
      env: { ...process.env, SSHPASS: 'Secret123' },
    });
    assert.match(shell.stdout, /ip ssh server port 22/, shell.stdout + shell.stderr);
    // The diagnostics tools as the applier runs them inside its systemd sandbox: ping (a raw
    // socket) to the guest's own loopback, then a packet capture on GigabitEthernet1 of SSH
    // sign-ins made while it runs.
    const diag = spawn('sshpass', ['-e', 'ssh', '-tt', ...sshOpts, 'admin@127.0.0.1'], { env: { ...process.env, SSHPASS: 'Secret123' } });
    let diagOut = '';
    diag.stdout.on('data', (d) => (diagOut += d));
    diag.stderr.on('data', (d) => (diagOut += d));
    diag.stdin.end('enable\nEnable123\nping 127.0.0.1 repeat 2\nmonitor capture interface GigabitEthernet1 duration 60 packets 3 filter tcp port 22\nexit\n');
    let diagEnded = false;
    const diagDone = new Promise<void>((resolve) => diag.once('exit', () => ((diagEnded = true), resolve())));
    for (let i = 0; i < 30 && !diagEnded; i++) {
      await new Promise((r) => setTimeout(r, 2000));
      if (/Capturing|Success rate/.test(diagOut)) sshRun('show version');
    }
    await diagDone;
    console.log(`e2e: ping and capture:\n${diagOut}`);
    assert.match(diagOut, /Success rate is 100 percent \(2\/2\)/, diagOut);
    assert.match(diagOut, /Captured 3 packets \(\d+ bytes\) on GigabitEthernet1, stopped by the packet limit/, diagOut);
    assert.notEqual(sshRun('show version', 'wrong').status, 0, 'a wrong password is refused');
    // What the booted appliance listens on, from its kernel's tables: with this configuration (SSH
    // on, NTP off) the network reaches 22 and 8443 and nothing else.
    const ports = sshRun('show control-plane host open-ports');
    assert.equal(ports.status, 0, ports.stdout + ports.stderr);
    const reachable = ports.stdout.split('\n').filter((l) => /\snetwork$/.test(l)).map((l) => l.split(/\s+/).slice(0, 2).join(' ').replace(/ .*:(\d+)$/, ' $1'));
    console.log(`e2e: open ports:\n${ports.stdout}`);
    assert.deepEqual([...new Set(reachable)].sort(), ['tcp 22', 'tcp 8443'], ports.stdout);
    // ssh-audit against the booted guest's SSH server (Keel's own, not OpenSSH), through the port forward.
    const audit = spawnSync('sh', [path.join(TOP, 'scripts/ssh-audit.sh'), '-n', '-p', String(sshPort), '127.0.0.1'], { encoding: 'utf8', timeout: 300000 });
    assert.doesNotMatch(`${audit.stdout}${audit.stderr}`, /\[fail\]|\(fail\)|\[warn\]|\(warn\)/, audit.stdout + audit.stderr);
    assert.equal(audit.status, 0, audit.stdout + audit.stderr);
    metrics.openPorts = reachable;
    const tls = await testssl;
    console.log(`e2e: testssl.sh against the guest ran ${tls.seconds.toFixed(0)} s`);
    assertTestsslClean(tls);
    metrics.testsslSeconds = tls.seconds;
    phase('testssl.sh');
    // systemd-analyze's account of this start (time, blame, critical-chain), kept with the metrics.
    const boot = sshRun('show boot');
    assert.equal(boot.status, 0, boot.stdout + boot.stderr);
    assert.match(boot.stdout, /Start-up took \d+\.\d s/, boot.stdout);
    assert.match(boot.stdout, /Slowest units/, boot.stdout);
    fs.writeFileSync(path.join(OUT, 'boot-analyze.txt'), boot.stdout);
    metrics.bootStages = Object.fromEntries([...boot.stdout.matchAll(/^ {2}(firmware|loader|kernel|initrd|userspace)\s+(\d+\.\d) s$/gm)].map((m) => [m[1], Number(m[2])]));
    console.log(`e2e: show boot\n${boot.stdout}`);
    phase('SSH CLI');
    state.disk = disk;
    state.port = port;

    // --- the installer refuses the disk it just wrote
    await vm.stop();
    s.close();
    vm = new Vm({ dir: OUT, iso: ISO, disk, httpsPort: port, seedIso, bootFromCdOnce: true });
    s = new Serial(path.join(OUT, 'serial-refuse.log'));
    vm.start();
    await s.connect(vm.serialPath);
    await s.expect(/vm-install/, 180000, 'the boot menu');
    await new Promise((r) => setTimeout(r, 500));
    s.send('\r');
    await s.expect(/INSTALLATION REFUSED: disk \/dev\/vda is not empty: it has a gpt table with 6 partitions/, 600000, 'the refusal');
    await s.expect(/Nothing was written/, 10000);
    phase('installer refuses a non-empty disk');
    metrics = { ...metrics, at: new Date().toISOString(), phases, bootToWizardSeconds: bootToWizard, rebootToSignInSeconds: state.rebootToSignIn, systemManagerRssBytes: health.memory.systemManagerRssBytes, keelProcessesBytes: health.memory.keelProcessesBytes, isoBytes: fs.statSync(ISO).size };
    fs.writeFileSync(path.join(OUT, 'metrics.json'), JSON.stringify(metrics, null, 2));
    console.log('e2e: phases\n' + phases.map(([n, x]) => `  ${n.padEnd(40)} ${x.toFixed(1)} s`).join('\n'));
  } finally {
    await vm.stop();
    s.close();
  }
});

test('the installed appliance boots as fast without a serial port (VGA console only)', { timeout: 20 * 60 * 1000 }, async (t) => {
  if (!state.disk || state.rebootToSignIn === null) return t.skip('needs the installed and configured disk of the test above');
  const vm = new Vm({ dir: OUT, disk: state.disk, httpsPort: state.port, serial: false });
  const start = Date.now();
  try {
    vm.start();
    const r = await signIn(state.port, 900000);
    const seconds = (Date.now() - start) / 1000;
    await vm.screendump(path.join(OUT, 'vga-no-serial.ppm')).catch(() => undefined);
    console.log(`e2e: power-on to System Manager sign-in without a UART: ${seconds.toFixed(1)} s (with one, after the reload: ${state.rebootToSignIn.toFixed(1)} s)`);
    assert.equal(r.status, 200);
    // A console setting for a UART that is not there must not slow the boot (the classic failure is minutes).
    assert.ok(seconds <= state.rebootToSignIn + 90, `booting without a serial port took ${seconds.toFixed(0)} s, ${state.rebootToSignIn.toFixed(0)} s with one`);
    metrics = { ...metrics, noSerialPowerOnToSignInSeconds: seconds };
    fs.writeFileSync(path.join(OUT, 'metrics.json'), JSON.stringify(metrics, null, 2));
  } finally {
    await vm.stop();
  }
});

// UEFI under TCG adds about 15 minutes; CI runs the BIOS path, `npm run test:e2e:uefi` adds this one.
test('UEFI: ISO → vm-install → the installed disk boots (UEFI) to the first wizard question', { timeout: 40 * 60 * 1000 }, async (t) => {
  const skipped = process.env.KEEL_E2E_UEFI === '1' ? false : 'UEFI run: npm run test:e2e:uefi';
  if (skipped) return t.skip(skipped);
  const dir = path.join(OUT, 'uefi');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const disk = path.join(dir, 'disk.qcow2');
  createDisk(disk, '8G');
  const vm = new Vm({ dir, iso: ISO, disk, httpsPort: await freePort(), uefi: true, seedIso: makeSeedIso(dir) });
  const s = new Serial(path.join(dir, 'serial.log'));
  const start = Date.now();
  const lap = (what: string) => console.log(`e2e: UEFI ${what}: ${((Date.now() - start) / 1000).toFixed(1)} s after power-on`);
  try {
    vm.start();
    await s.connect(vm.serialPath);
    await s.expect(/vm-install/, 300000, 'the boot menu (UEFI)');
    lap('boot menu');
    await new Promise((r) => setTimeout(r, 500));
    s.send('\r');
    await s.expect(/Installation complete in \d+ s/, 1200000, 'the end of the installation (UEFI)');
    lap('installation complete');
    await s.expect(prompt(Q.showEula.prompt), 900000, 'the first wizard question after a UEFI boot of the installed disk');
    lap('first wizard question');
    assert.ok(fs.statSync(path.join(dir, 'OVMF_VARS.fd')).size > 0);
  } finally {
    await vm.stop();
    s.close();
  }
});
