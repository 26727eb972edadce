/**
 * Signed A/B software updates end to end (issue 7), under QEMU/TCG:
 *
 * 1. build (or reuse) the ISO and its bundle (version V1 = package.json's);
 * 2. make two application-only bundles from V1's system image, signed with the TEST-ONLY key the
 *    test image trusts: V2 (only the version differs) and a deliberately broken V3 whose System
 *    Manager never starts (its confirm window is 30 s instead of 600 s, so the test waits less);
 * 3. serve them over HTTPS with basic authentication from the host (the guest reaches the host's
 *    loopback as 10.0.2.2 through QEMU user networking), V2 first, V3 added later;
 * 4. install V1 unattended (KEEL-SEED answers), set the repository in System Manager, change a
 *    setting and save; download, stage, reboot: V2 answers, the setting is kept, V2 is marked good;
 * 5. download and stage V3, reboot: three tries, then V2 again with the reason, in System Manager,
 *    the audit log, the SSH login banner and `show version`.
 *
 *   npm run test:e2e:update        (about 35 minutes under TCG)
 *
 * Timings go to .cache/e2e/update/metrics.json.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { Vm, freePort, makeSeedIso, ZERO_TOUCH_ANSWERS, sshCli } from './qemu.ts';
import { Serial } from './serial.ts';
import { run, withLoop, withRawDisk } from './disk.ts';
import { createBundle, verifyBundle, type Manifest } from '../../appliance/update/bundle.ts';
import { formatVerity } from '../../image/verity.ts';
import { writeIndex } from '../../appliance/update/repository.ts';
import { TEST_KEY, TEST_KEY_PEM } from '../fixtures/update/make.ts';
import { REPO_PASSWORD, REPO_USER, serveRepository } from '../helpers/update-repo.ts';

const TOP = path.resolve(import.meta.dirname, '../..');
const OUT = path.join(TOP, '.cache/e2e/update');
const V1 = (JSON.parse(fs.readFileSync(path.join(TOP, 'package.json'), 'utf8')) as { version: string }).version;
const [MAJ, MIN] = V1.split('.').map(Number);
const V2 = `${MAJ}.${MIN + 1}.0`;
const V3 = `${MAJ}.${MIN + 2}.0`;
const V4 = `${MAJ}.${MIN + 3}.0`;
const ISO = path.join(TOP, 'dist', `keel-${V1}-amd64.iso`);
const BUNDLE = path.join(TOP, 'dist', `keel-${V1}-amd64.kup`);
/** What the guest calls the host's loopback (QEMU user networking). */
const HOST_FROM_GUEST = '10.0.2.2';

const t0 = Date.now();
const metrics: Record<string, number | string> = {};
function lap(name: string, since: number): number {
  const s = Math.round((Date.now() - since) / 100) / 10;
  metrics[name] = s;
  console.log(`update-e2e: ${name}: ${s} s`);
  fs.writeFileSync(path.join(OUT, 'metrics.json'), JSON.stringify({ at: new Date().toISOString(), ...metrics }, null, 2));
  return s;
}

/** Writes each payload file of a bundle to `dir` (name as in the manifest); returns the manifest. */
async function unpackBundle(file: string, dir: string): Promise<Manifest> {
  const { manifest } = await verifyBundle(file, [TEST_KEY], { skipHash: true });
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(12);
  fs.readSync(fd, head, 0, 12, 0);
  const payloadAt = 12 + head.readUInt32BE(8) + 64;
  fs.mkdirSync(dir, { recursive: true });
  const buf = Buffer.allocUnsafe(4 << 20);
  for (const f of manifest.files) {
    assert.ok(f.offset !== undefined, `${f.name} is in ${path.basename(file)}`);
    const out = fs.openSync(path.join(dir, f.name), 'w');
    for (let done = 0; done < f.size; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, f.size - done), payloadAt + f.offset + done);
      fs.writeSync(out, buf, 0, n);
      done += n;
    }
    fs.closeSync(out);
  }
  fs.closeSync(fd);
  return manifest;
}

/**
 * Changes one byte of a file inside a slot partition of a (powered-off) guest disk, as corruption
 * or tampering on the disk would: the qcow2 is flattened to raw, the partition found by its GPT
 * name, the file's block located with debugfs (ext4), the byte flipped, and the disk rewritten.
 */
function tamperSlotFile(disk: string, partition: string, file: string, offset: number): void {
  withRawDisk(disk, (raw, find) => {
    const part = find(partition);
    assert.ok(part, `the disk has a ${partition} partition`);
    const at = withLoop(raw, part, false, (loop) => {
      const bs = Number(/Block size:\s+(\d+)/.exec(run('dumpe2fs', ['-h', loop]))?.[1]);
      const blk = Number(run('debugfs', ['-R', `bmap /${file} ${Math.floor(offset / bs)}`, loop]).trim());
      assert.ok(bs > 0 && blk > 0, `${file} block ${Math.floor(offset / bs)} is at ${blk} (block size ${bs})`);
      return part.offset + blk * bs + (offset % bs);
    });
    const fd = fs.openSync(raw, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] ^= 0xff;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
  });
}

/** V1's manifest (its root hashes are carried by the application-only bundles). */
let v1Manifest: Manifest | undefined;

/** V1's keel.squashfs with `edit` applied to its tree, as an application-only bundle for `version`. */
async function variantBundle(v1: string, version: string, notes: string, edit: (root: string) => void): Promise<string> {
  const root = path.join(OUT, `root-${version}`);
  fs.rmSync(root, { recursive: true, force: true });
  run('unsquashfs', ['-no-progress', '-quiet', '-d', root, path.join(v1, 'keel.squashfs')]);
  const pkg = path.join(root, 'opt/keel/app/package.json');
  fs.writeFileSync(pkg, fs.readFileSync(pkg, 'utf8').replace(`"version": "${V1}"`, `"version": "${version}"`));
  assert.match(fs.readFileSync(pkg, 'utf8'), new RegExp(`"version": "${version.replace(/\./g, '\\.')}"`), 'the image has the version');
  edit(root);
  const squash = path.join(OUT, `keel-${version}.squashfs`);
  // Level 3: the bundle is for this test; the release build uses level 19.
  run('mksquashfs', [root, squash, '-noappend', '-no-progress', '-quiet', '-comp', 'zstd', '-Xcompression-level', '3', '-b', '128K', '-no-exports']);
  fs.rmSync(root, { recursive: true, force: true });
  const out = path.join(OUT, 'staging', `keel-${version}-amd64.kup`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // Verified slots: the new image's hash tree and root hash; V1's base image (and its hash tree and
  // root hash) are carried over.
  const rootHash = formatVerity(squash);
  await createBundle({
    files: [
      { name: 'keel.squashfs', path: squash },
      { name: 'keel.squashfs.verity', path: `${squash}.verity` },
    ],
    carry: (['vmlinuz', 'initrd.img', 'base.squashfs', 'base.squashfs.verity'] as const).map((name) => ({ name, path: path.join(v1, name) })),
    verity: [...(v1Manifest?.verity ?? []).filter((v) => v.file === 'base.squashfs'), { file: 'keel.squashfs', rootHash }],
    version,
    minVersion: V1,
    notes,
    keyPem: TEST_KEY_PEM,
    out,
  });
  fs.rmSync(squash);
  fs.rmSync(`${squash}.verity`);
  return out;
}

type Answer = { status: number; body: string; json: () => any };
/** HTTPS to System Manager through the port forward (self-signed: this is a freshly installed box). */
function request(port: number, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer & { headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      { host: '127.0.0.1', port, method, path: url, rejectUnauthorized: false, agent: false, timeout: 30000, headers: { ...headers, ...(data ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

/** A signed-in System Manager session (cookie + CSRF token), waiting until it answers. */
async function session(port: number, timeoutMs: number): Promise<(method: string, url: string, body?: unknown) => Promise<Answer>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await request(port, 'POST', '/mics/api/session', { username: 'admin', password: ZERO_TOUCH_ANSWERS.adminPassword }).catch(() => null);
    if (r?.status === 200) {
      const cookie = String((r.headers['set-cookie'] as string[])[0]).split(';')[0];
      const csrf = r.json().csrfToken as string;
      return (method, url, body) => request(port, method, url, body, { cookie, 'x-csrf-token': csrf });
    }
    if (r && r.status !== 503) assert.fail(`sign-in answered ${r.status}: ${r.body}`);
    if (Date.now() > until) assert.fail(`System Manager did not accept the sign-in within ${timeoutMs / 1000} s`);
    await new Promise((res) => setTimeout(res, 3000));
  }
}

/** Starts a download or staging and waits for its job to end; returns the status with the job. */
async function job(api: Awaited<ReturnType<typeof session>>, step: 'download' | 'stage', timeoutMs: number): Promise<any> {
  const r = await api('POST', `/mics/api/v1/updates/${step}`);
  assert.equal(r.status, 202, `${step}: ${r.body}`);
  const until = Date.now() + timeoutMs;
  for (;;) {
    await new Promise((res) => setTimeout(res, 2000));
    const st = (await api('GET', '/mics/api/v1/updates')).json();
    if (st.job?.kind === step && !st.job.running) {
      assert.equal(st.job.error, null, `${step} failed: ${st.job.error} (${st.job.reason})`);
      return st;
    }
    if (Date.now() > until) assert.fail(`${step} did not end within ${timeoutMs / 1000} s: ${JSON.stringify(st.job)}`);
  }
}

test(`install ${V1}, update to ${V2} keeping the configuration, then a broken ${V3} rolls back to ${V2}`, { timeout: 90 * 60 * 1000 }, async () => {
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  const build = spawnSync(process.execPath, [path.join(TOP, 'image/build.ts')], { stdio: 'inherit' });
  assert.equal(build.status, 0, 'image build failed');
  assert.ok(!process.env.KEEL_UPDATE_KEY, 'this test signs with the TEST-ONLY key, which only an image built without KEEL_UPDATE_KEY trusts');

  // --- the bundles and the repository
  let t = Date.now();
  const v1 = path.join(OUT, 'v1');
  v1Manifest = await unpackBundle(BUNDLE, v1);
  assert.deepEqual(v1Manifest.verity?.map((v) => v.file).sort(), ['base.squashfs', 'keel.squashfs'], 'the release bundle carries dm-verity root hashes');
  const v2 = await variantBundle(v1, V2, `Keel ${V2}: test build (V1's system, new version).`, () => {});
  const v3 = await variantBundle(v1, V3, `Keel ${V3}: deliberately broken test build (System Manager does not start).`, (root) => {
    const unit = path.join(root, 'etc/systemd/system/keel-serve.service');
    fs.writeFileSync(unit, fs.readFileSync(unit, 'utf8').replace(/^ExecStart=.*$/m, "ExecStart=/bin/sh -c 'echo keel serve: deliberately broken test build >&2; exit 1'"));
    const confirm = path.join(root, 'etc/systemd/system/keel-update-confirm.service');
    fs.writeFileSync(confirm, fs.readFileSync(confirm, 'utf8').replace('--timeout 600', '--timeout 30'));
    assert.match(fs.readFileSync(confirm, 'utf8'), /--timeout 30\b/);
  });
  const v4 = await variantBundle(v1, V4, `Keel ${V4}: test build (V1's system, new version), altered on the disk after staging.`, () => {});
  metrics.v2BundleMiB = Math.round(fs.statSync(v2).size / 2 ** 20 * 10) / 10;
  metrics.fullBundleMiB = Math.round(fs.statSync(BUNDLE).size / 2 ** 20 * 10) / 10;
  const repo = path.join(OUT, 'repo');
  fs.mkdirSync(repo);
  fs.copyFileSync(v2, path.join(repo, path.basename(v2)));
  await writeIndex(repo, TEST_KEY_PEM);
  const tls = path.join(OUT, 'tls');
  fs.mkdirSync(tls);
  run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(tls, 'key.pem'), '-out', path.join(tls, 'cert.pem'), '-days', '2', '-subj', `/CN=${HOST_FROM_GUEST}`, '-addext', `subjectAltName=IP:${HOST_FROM_GUEST}`]);
  const ca = fs.readFileSync(path.join(tls, 'cert.pem'), 'utf8');
  const requests: { url: string; status: number }[] = [];
  const server = await serveRepository({ dir: repo, key: fs.readFileSync(path.join(tls, 'key.pem')), cert: ca, requests });
  lap('bundlesAndRepositorySeconds', t);

  // --- V1, installed without anyone at the console
  const disk = path.join(OUT, 'disk.qcow2');
  // KEEL_E2E_UPDATE_FROM: a disk already installed with ZERO_TOUCH_ANSWERS (e.g. the matrix's kvm
  // disk0.qcow2) saves the install while working on this test; it is used read-only, as a backing file.
  const from = process.env.KEEL_E2E_UPDATE_FROM;
  if (from) run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.resolve(from), '-F', 'qcow2', disk]);
  else run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '8G']);
  const seedIso = makeSeedIso(OUT, { 'keel-answers.json': ZERO_TOUCH_ANSWERS, 'keel-install.json': { force: true, storageTest: false } });
  const port = await freePort();
  const sshPort = await freePort();
  const vm = new Vm({ dir: OUT, ...(from ? {} : { iso: ISO, seedIso, bootFromCdOnce: true }), disk, httpsPort: port, sshPort });
  const s = new Serial(path.join(OUT, 'serial.log'));
  const ssh = (cmd: string) => sshCli(sshPort, cmd);
  try {
    t = Date.now();
    vm.start();
    await s.connect(vm.serialPath);
    if (!from) {
      await s.expect(/vm-install/, 300000, 'the boot menu');
      await new Promise((r) => setTimeout(r, 500));
      s.send('\r');
      await s.expect(/Installation complete in \d+ s/, 1800000, 'the end of the installation');
    }
    await s.expect(/SSH host key ED25519: SHA256:\S+/, 1200000, 'the first boot');
    lap(from ? 'bootInstalledV1Seconds' : 'installV1Seconds', t);
    let api = await session(port, 600000);
    let st = (await api('GET', '/mics/api/v1/updates')).json();
    assert.equal(st.running.version, V1);
    assert.equal(st.running.slot, 'a');

    // --- the repository and a setting that must survive the update, saved
    const url = `https://${HOST_FROM_GUEST}:${server.port}/keel/`;
    let r = await api('PUT', '/mics/api/v1/updates/repository', { repository: url, username: REPO_USER, password: REPO_PASSWORD, caCertificate: ca });
    assert.equal(r.status, 200, r.body);
    const system = (await api('GET', '/mics/api/v1/config/system')).json();
    r = await api('PUT', '/mics/api/v1/config/system', { ...system, contact: 'Update Tester' });
    assert.equal(r.status, 200, r.body);
    r = await api('POST', '/mics/api/v1/config/save');
    assert.equal(r.status, 200, r.body);

    // --- V2: download, stage, reboot
    t = Date.now();
    st = await job(api, 'download', 1200000);
    assert.equal(st.downloaded?.version, V2, JSON.stringify(st));
    assert.ok(requests.some((x) => x.url.endsWith(`keel-${V2}-amd64.kup`) && x.status === 200), 'the bundle came from the repository');
    lap('downloadV2Seconds', t);
    t = Date.now();
    st = await job(api, 'stage', 1200000);
    lap('stageV2Seconds', t);
    assert.equal(st.staged?.version, V2);
    assert.equal(st.staged?.slot, 'b');
    assert.equal(st.label, 'Reboot to Install');
    assert.match(ssh('show version'), new RegExp(`Reboot to Install|${V2.replace(/\./g, '\\.')}`));
    r = await api('POST', '/mics/api/v1/maintenance/reboot', { confirm: true });
    assert.equal(r.status, 202, r.body);
    t = Date.now();
    await new Promise((res) => setTimeout(res, 20000));
    api = await session(port, 1200000);
    const health = (await api('GET', '/mics/api/health')).json();
    assert.equal(health.version, V2, 'System Manager answers from the new version');
    lap('rebootToV2SystemManagerSeconds', t);
    for (;;) {
      st = (await api('GET', '/mics/api/v1/updates')).json();
      if (st.lastResult?.outcome === 'installed' && st.lastResult.version === V2) break;
      if (Date.now() - t > 1200000) assert.fail(`V2 was not marked good: ${JSON.stringify(st)}`);
      await new Promise((res) => setTimeout(res, 5000));
    }
    lap('rebootToV2MarkedGoodSeconds', t);
    assert.equal(st.running.slot, 'b');
    assert.equal(st.slots.b.state, 'good');
    assert.equal(st.repository?.repository, url, 'the repository setting is kept');
    assert.equal((await api('GET', '/mics/api/v1/config/system')).json().contact, 'Update Tester', 'the saved configuration is kept');
    const v2ver = ssh('show version');
    assert.match(v2ver, new RegExp(`version ${V2.replace(/\./g, '\\.')}`));
    // Slot B was written from the signed manifest's root hashes and boots verified.
    assert.match(v2ver, /System image: verified on read \(dm-verity/);

    // --- V3 (broken): download, stage, reboot; three tries, then V2 again
    fs.copyFileSync(v3, path.join(repo, path.basename(v3)));
    await writeIndex(repo, TEST_KEY_PEM);
    st = await job(api, 'download', 1200000);
    assert.equal(st.downloaded?.version, V3);
    st = await job(api, 'stage', 1200000);
    assert.equal(st.staged?.version, V3);
    s.skip();
    assert.equal(st.staged?.slot, 'a', 'the inactive slot (V1 was there) is written');
    r = await api('POST', '/mics/api/v1/maintenance/reboot', { confirm: true });
    assert.equal(r.status, 202, r.body);
    t = Date.now();
    // GRUB boots the new slot (A) three times (a try and two retries), then the good one (B).
    for (let i = 1; i <= 3; i++) {
      await s.expect(/Booting `Keel \(slot (\w)\)'/, 1200000, `try ${i} of ${V3}`).then((m) => assert.equal(m[1], 'a', `try ${i} boots slot A`));
      const tried = await s.expect(/trying the new version[^\n]*version="([\d.]+)"[^\n]*attempt=(\d)/, 900000, `the boot check of try ${i}`);
      assert.deepEqual([tried[1], Number(tried[2])], [V3, i]);
      lap(`v3Try${i}BootSeconds`, t);
    }
    const back = await s.expect(/Booting `Keel \(slot (\w)\)'/, 1200000, 'the boot after the third try');
    assert.equal(back[1], 'b', 'after three tries GRUB boots the good slot again');
    lap('v3ThreeTriesSeconds', t);
    await new Promise((res) => setTimeout(res, 20000));
    api = await session(port, 1200000);
    lap('rebootToRollbackSystemManagerSeconds', t);
    st = (await api('GET', '/mics/api/v1/updates')).json();
    assert.equal(st.running.version, V2, 'the previous version runs again');
    assert.equal(st.running.slot, 'b');
    assert.equal(st.lastResult?.outcome, 'rolled-back', JSON.stringify(st.lastResult));
    assert.equal(st.lastResult?.version, V3);
    assert.match(st.lastResult.reason, /System Manager/, st.lastResult.reason);
    assert.match(st.notice ?? '', /SOFTWARE UPDATE ROLLED BACK/);
    assert.equal((await api('GET', '/mics/api/v1/config/system')).json().contact, 'Update Tester', "V2's configuration is back");
    const audit = (await api('GET', `/mics/api/v1/audit?q=${encodeURIComponent('rolled back')}`)).json();
    assert.ok(JSON.stringify(audit).includes(`software update ${V3} rolled back`), JSON.stringify(audit).slice(0, 500));
    const banner = spawnSync('sshpass', ['-e', 'ssh', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'PubkeyAuthentication=no', '-p', String(sshPort), 'admin@127.0.0.1', 'show version'], { encoding: 'utf8', timeout: 120000, env: { ...process.env, SSHPASS: ZERO_TOUCH_ANSWERS.adminPassword } });
    assert.match(banner.stderr, /SOFTWARE UPDATE ROLLED BACK/, 'the SSH login banner tells');
    assert.match(banner.stdout, new RegExp(`version ${V2.replace(/\./g, '\\.')}`));

    // --- V4 (good) staged, then slot A altered on the disk before it boots (one byte of the top
    // level of keel.squashfs's hash tree): the initramfs cannot mount it at any try, GRUB returns
    // to slot B, and the rollback names the image that failed its dm-verity check.
    fs.copyFileSync(v4, path.join(repo, path.basename(v4)));
    await writeIndex(repo, TEST_KEY_PEM);
    st = await job(api, 'download', 1200000);
    assert.equal(st.downloaded?.version, V4);
    st = await job(api, 'stage', 1200000);
    assert.equal(st.staged?.slot, 'a');
    s.skip();
    r = await api('POST', '/mics/api/v1/maintenance/reboot', { confirm: true });
    assert.equal(r.status, 202, r.body);
    t = Date.now();
    // GRUB counted the first try before its menu entry starts: the machine is stopped there.
    await s.expect(/Booting `Keel \(slot (\w)\)'/, 1200000, `try 1 of ${V4}`).then((m) => assert.equal(m[1], 'a'));
    await vm.stop();
    tamperSlotFile(disk, 'KEEL-A', 'live/keel.squashfs.verity', 4096 + 100);
    lap('v4TamperSeconds', t);
    const s4 = new Serial(path.join(OUT, 'serial-v4.log'));
    try {
      vm.opts.bootFromCdOnce = false; // from the disk, as after the reboot
      vm.start();
      await s4.connect(vm.serialPath);
      for (let i = 2; i <= 3; i++) {
        await s4.expect(/Booting `Keel \(slot (\w)\)'/, 1200000, `try ${i} of ${V4}`).then((m) => assert.equal(m[1], 'a', `try ${i} boots slot A`));
        const why = await s4.expect(/Can not mount[^\n]*keel\.squashfs[^\n]*/, 900000, `the initramfs refusing try ${i}`);
        console.log(`update-e2e: try ${i} of ${V4}: ${why[0].trim()}`);
        await s4.expect(/Rebooting automatically due to panic= boot argument/, 120000, `the reboot after try ${i}`);
      }
      const fellBack = await s4.expect(/Booting `Keel \(slot (\w)\)'/, 1200000, 'the boot after the third try');
      assert.equal(fellBack[1], 'b', 'after three refused tries GRUB boots the good slot again');
      lap('v4RefusedTriesSeconds', t);
      api = await session(port, 1200000);
      st = (await api('GET', '/mics/api/v1/updates')).json();
      assert.equal(st.running.version, V2);
      assert.equal(st.lastResult?.outcome, 'rolled-back', JSON.stringify(st.lastResult));
      assert.equal(st.lastResult?.version, V4);
      assert.match(st.lastResult.reason, /did not start: its system image failed the dm-verity check \(keel\.squashfs does not match its signed dm-verity root hash/, st.lastResult.reason);
      assert.match(ssh('show version'), /System image: verified on read/);
      lap('v4RollbackSeconds', t);
    } finally {
      s4.close();
    }
    metrics.totalSeconds = Math.round((Date.now() - t0) / 1000);
    lap('totalSeconds', t0);
  } finally {
    await vm.stop();
    s.close();
    await server.close();
  }
});
