/**
 * The update repository over real HTTPS on loopback (node:https, a throwaway certificate made by
 * openssl): signed index, basic authentication, a download interrupted midway and resumed with
 * HTTP Range, verification, then staging of what was downloaded.
 */
import { test, beforeAll, afterAll, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { makeSelfSigned, WEBUI_CERT_PATH } from '../../appliance/certs/webui.ts';
import { OperationalError } from '../../appliance/errors.ts';
import { updateContext } from '../../appliance/update/context.ts';
import { writeIndex, checkUpdates, downloadUpdate, pickUpdate, type RepositoryOptions } from '../../appliance/update/repository.ts';
import { UpdateRefusal } from '../../appliance/update/bundle.ts';
import { generateSigningKey, signDetached } from '../../appliance/update/keys.ts';
import { stage } from '../../appliance/update/stage.ts';
import { status } from '../../appliance/update/lifecycle.ts';
import { GrubEnv } from '../../appliance/update/grub.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';
import { makeBundle, TEST_KEY, TEST_KEY_PEM } from '../fixtures/update/make.ts';

const USER = 'mirror';
const PASSWORD = 'Repo-S3cret!';
let dir = '';
let repo = '';
let server: https.Server;
let ca = '';
let port = 0;
/** How the server misbehaves for the next bundle request. */
let mode: 'normal' | 'cut' | 'no-range' | 'corrupt' = 'normal';
const requests: { url: string; range?: string; status: number }[] = [];

beforeAll(async () => {
  dir = tempRoot('keel-repo-');
  repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'tls.key'), '-out', path.join(dir, 'tls.crt'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  ca = fs.readFileSync(path.join(dir, 'tls.crt'), 'utf8');
  await makeBundle(repo, { version: '0.2.0', minVersion: '0.1.0', payloadBytes: 3 * 2 ** 20 });
  await makeBundle(repo, { version: '0.3.0', minVersion: '0.2.0', payloadBytes: 4096 });
  for (const f of fs.readdirSync(repo)) if (f.endsWith('.squashfs')) fs.rmSync(path.join(repo, f));
  server = https.createServer({ key: fs.readFileSync(path.join(dir, 'tls.key')), cert: ca }, (req, res) => {
    const want = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    const done = (status: number) => requests.push({ url: req.url ?? '', range: req.headers.range, status });
    if (req.headers.authorization !== want) {
      done(401);
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="updates"' }).end();
      return;
    }
    const file = path.join(repo, path.basename(decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname)));
    if (!fs.existsSync(file)) {
      done(404);
      res.writeHead(404).end();
      return;
    }
    let body = fs.readFileSync(file);
    if (file.endsWith('.kup') && mode === 'corrupt') {
      body = Buffer.from(body);
      body[body.length - 1] ^= 1;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && mode !== 'no-range' && file.endsWith('.kup')) {
      const start = Number(m[1]);
      done(206);
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}`, 'Content-Length': body.length - start });
      res.end(body.subarray(start));
      return;
    }
    done(200);
    res.writeHead(200, { 'Content-Length': body.length, 'Accept-Ranges': 'bytes' });
    if (mode === 'cut' && file.endsWith('.kup')) {
      // Half of the file, then the connection drops.
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => req.socket.destroy(), 50));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((res) => server.close(() => res()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function appliance(t: TestContext) {
  const root = tempRoot('keel-upd-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const store = Store.open(host);
  t.onTestFinished(() => { store.close(); });
  store.commitRunning(sampleConfig(), { who: 'admin', source: 'test' }, 'wizard', '');
  store.saveStartup({ who: 'admin', source: 'test' });
  host.files.writeAtomic(WEBUI_CERT_PATH, (await makeSelfSigned('core.example.com')).certPem);
  host.files.writeAtomic('/proc/cmdline', 'keel.slot=a\n');
  await new GrubEnv(host).set({ keel_slot: 'a' });
  const ctx = updateContext(host, store, { who: 'admin', source: 'test' }, { trustedKeys: [TEST_KEY], runningVersion: '0.1.0', raidProblem: async () => null });
  return { root, host, store, ctx };
}

const opts = (over: Partial<RepositoryOptions> = {}): RepositoryOptions => ({ url: `https://127.0.0.1:${port}/keel/`, username: USER, password: PASSWORD, ca, ...over });

test('the repository index is signed and lists the bundles; check picks the newest that upgrades from here', async (t) => {
  await writeIndex(repo, TEST_KEY_PEM, '2026-01-02T00:00:00Z');
  const { ctx, store } = await appliance(t);
  const r = await checkUpdates(ctx, opts());
  assert.deepEqual(r.index.bundles.map((b) => b.version), ['0.2.0', '0.3.0']);
  assert.equal(r.available?.version, '0.2.0', '0.3.0 only upgrades from 0.2.0');
  assert.equal(pickUpdate(r.index, '0.2.0')?.version, '0.3.0');
  assert.equal(pickUpdate(r.index, '0.3.0'), null);
  assert.match(store.auditLog()[0].outcome, /0\.2\.0 available/);
});

test('wrong credentials, an unknown CA, a changed index and an index signed by another key are refused; the password is never shown', async (t) => {
  await writeIndex(repo, TEST_KEY_PEM);
  const { ctx, store } = await appliance(t);
  // writeIndex lists only bundles its key signed.
  await assert.rejects(writeIndex(repo, generateSigningKey().privatePem), /unknown key/);
  await assert.rejects(checkUpdates(ctx, opts({ password: 'wrong-password' })), (e: unknown) => e instanceof OperationalError && /refused the user name or password/.test(e.message) && !e.message.includes('wrong-password'));
  await assert.rejects(checkUpdates(ctx, opts({ ca: undefined })), (e: unknown) => e instanceof OperationalError && /cannot be reached/.test(e.message));
  await assert.rejects(checkUpdates(ctx, opts({ url: `http://127.0.0.1:${port}/` })), /must be an https/);
  await assert.rejects(checkUpdates(ctx, opts({ url: `https://u:p@127.0.0.1:${port}/` })), /not in the URL/);
  const index = fs.readFileSync(path.join(repo, 'index.json'), 'utf8');
  fs.writeFileSync(path.join(repo, 'index.json'), index.replace('"0.2.0"', '"0.2.1"'));
  await assert.rejects(checkUpdates(ctx, opts()), (e: unknown) => e instanceof UpdateRefusal && e.reason === 'bad-signature');
  await writeIndex(repo, TEST_KEY_PEM);
  const json = fs.readFileSync(path.join(repo, 'index.json'));
  fs.writeFileSync(path.join(repo, 'index.json.sig'), JSON.stringify(signDetached(json, generateSigningKey().privatePem)));
  await assert.rejects(checkUpdates(ctx, opts()), (e: unknown) => e instanceof UpdateRefusal && e.reason === 'unknown-key');
  await writeIndex(repo, TEST_KEY_PEM);
  for (const a of store.auditLog()) assert.ok(!`${a.action} ${a.outcome}`.includes(PASSWORD) && !`${a.action} ${a.outcome}`.includes('wrong-password'));
});

test('an interrupted download resumes with HTTP Range, is verified, and can be staged', async (t) => {
  await writeIndex(repo, TEST_KEY_PEM);
  const { root, ctx } = await appliance(t);
  const entry = (await checkUpdates(ctx, opts())).available!;
  requests.length = 0;
  mode = 'cut';
  await assert.rejects(downloadUpdate(ctx, opts(), entry), (e: unknown) => e instanceof OperationalError && /download stopped at \d+ of \d+ bytes; download again to resume/.test(e.message));
  const part = path.join(root, 'var/lib/keel/updates', `${entry.file}.part`);
  const partial = fs.statSync(part).size;
  assert.ok(partial > 0 && partial < entry.size, `partial ${partial} of ${entry.size}`);
  assert.equal(status(ctx).downloaded, null);
  mode = 'normal';
  const progress: number[] = [];
  const d = await downloadUpdate(ctx, opts(), entry, (done) => progress.push(done));
  assert.equal(d.resumedFrom, partial);
  assert.equal(requests.at(-1)!.range, `bytes=${partial}-`);
  assert.equal(requests.at(-1)!.status, 206);
  assert.equal(progress.at(-1), entry.size);
  assert.ok(progress[0] > partial, 'the resumed transfer starts where the first stopped');
  assert.ok(!fs.existsSync(part));
  assert.ok(fs.readFileSync(path.join(root, d.file)).equals(fs.readFileSync(path.join(repo, entry.file))));
  assert.equal(status(ctx).downloaded?.version, '0.2.0');
  assert.equal(status(ctx).label, 'Ready to Stage');
  const s = await stage(ctx, ctx.host.files.real(d.file));
  assert.equal(s.slot, 'b');
  assert.equal(status(ctx).label, 'Reboot to Install');
});

test('a server that ignores Range restarts the download; a corrupt bundle is refused and deleted', async (t) => {
  await writeIndex(repo, TEST_KEY_PEM);
  const { root, ctx, store } = await appliance(t);
  const entry = (await checkUpdates(ctx, opts())).available!;
  mode = 'cut';
  await assert.rejects(downloadUpdate(ctx, opts(), entry));
  mode = 'no-range';
  const d = await downloadUpdate(ctx, opts(), entry);
  assert.ok(fs.readFileSync(path.join(root, d.file)).equals(fs.readFileSync(path.join(repo, entry.file))));
  fs.rmSync(path.join(root, d.file));
  mode = 'corrupt';
  await assert.rejects(downloadUpdate(ctx, opts(), entry), (e: unknown) => e instanceof UpdateRefusal && e.reason === 'sha256-mismatch');
  assert.ok(!fs.existsSync(path.join(root, 'var/lib/keel/updates', `${entry.file}.part`)));
  assert.match(store.auditLog()[0].outcome, /^refused \(sha256-mismatch\)/);
  mode = 'normal';
  const old = updateContext(ctx.host, store, ctx.actor, { trustedKeys: [TEST_KEY], runningVersion: '0.0.1' });
  await assert.rejects(downloadUpdate(old, opts(), entry), (e: unknown) => e instanceof UpdateRefusal && e.reason === 'version-too-old');
});
