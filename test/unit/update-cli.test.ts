import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { makeSelfSigned, WEBUI_CERT_PATH } from '../../appliance/certs/webui.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';
import { makeBundle, fakeSquashfs, TEST_PUB_PEM } from '../fixtures/update/make.ts';

const MAIN = fileURLToPath(new URL('../../bin/main.ts', import.meta.url));
const KEY = fileURLToPath(new URL('../fixtures/update/TEST-ONLY-signing-key.pem', import.meta.url));
const PUB = fileURLToPath(new URL('../fixtures/update/TEST-ONLY-signing-key.pub', import.meta.url));

function keel(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, KEEL_LOG: 'silent' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('keel update verify exits 0 for a good bundle and 1 with the reason otherwise', async (t) => {
  const dir = tempRoot('keel-updcli-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const b = await makeBundle(dir, { version: '0.2.0', minVersion: '0.1.0' });
  let r = keel('update', 'verify', b.path, '--key', PUB, '--running', '0.1.0');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^OK: Keel 0\.2\.0 \(upgrades from 0\.1\.0\)/);
  const bytes = fs.readFileSync(b.path);
  bytes[bytes.readUInt32BE(8) + 12 + 5] ^= 1;
  const bad = path.join(dir, 'bad.kup');
  fs.writeFileSync(bad, bytes);
  r = keel('update', 'verify', bad, '--key', PUB);
  assert.equal(r.code, 1);
  assert.match(r.err, /^REFUSED \(bad-signature\): the signature does not match/);
  r = keel('update', 'verify', b.path, '--key', PUB, '--running', '0.0.9');
  assert.equal(r.code, 1);
  assert.match(r.err, /REFUSED \(version-too-old\)/);
  // Keys from the image's key directory under --root: none there, so the key is unknown.
  r = keel('update', 'verify', b.path, '--root', dir, '--running', '0.1.0');
  assert.equal(r.code, 1);
  assert.match(r.err, /REFUSED \(unknown-key\): .*trusted: none/);
  fs.mkdirSync(path.join(dir, 'usr/share/keel/update-keys'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'usr/share/keel/update-keys/test.pub'), TEST_PUB_PEM);
  r = keel('update', 'verify', b.path, '--root', dir, '--running', '0.1.0');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /signed by key 499f7075b90fab11.* \(test\.pub\)/);
  assert.equal(keel('update', 'verify').code, 2);
  assert.equal(keel('update', 'nonsense').code, 2);
});

test('keel update sign builds a bundle that verify accepts; index writes a signed index', async (t) => {
  const dir = tempRoot('keel-updcli-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const sq = fakeSquashfs(path.join(dir, 'keel.squashfs'), 10_000);
  fs.writeFileSync(path.join(dir, 'vmlinuz'), 'kernel');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'Fixes.\n');
  const out = path.join(dir, 'repo/keel-0.5.0-amd64.kup');
  fs.mkdirSync(path.dirname(out));
  let r = keel('update', 'sign', '--key', KEY, '--squashfs', sq, '--file', `vmlinuz=${path.join(dir, 'vmlinuz')}`, '--version', '0.5.0', '--min-version', '0.1.0', '--notes-file', path.join(dir, 'notes.txt'), '--out', out);
  assert.equal(r.code, 0, r.err);
  r = keel('update', 'verify', out, '--key', PUB, '--running', '0.4.0');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /payload: vmlinuz, keel\.squashfs/);
  r = keel('update', 'index', path.join(dir, 'repo'), '--key', KEY);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'repo/index.json'), 'utf8')).bundles.map((b: { version: string }) => b.version), ['0.5.0']);
  assert.ok(fs.existsSync(path.join(dir, 'repo/index.json.sig')));
  r = keel('update', 'sign', '--key', KEY, '--squashfs', path.join(dir, 'notes.txt'), '--min-version', '0.1.0', '--out', path.join(dir, 'x.kup'));
  assert.equal(r.code, 1);
  assert.match(r.err, /not a squashfs/);
});

test('keel update stage and status on a sandbox root', async (t) => {
  const root = tempRoot('keel-updcli-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const store = Store.open(host);
  store.commitRunning(sampleConfig(), { who: 'admin', source: 't' }, 'wizard', '');
  store.saveStartup({ who: 'admin', source: 't' });
  store.close();
  host.files.writeAtomic(WEBUI_CERT_PATH, (await makeSelfSigned('core.example.com')).certPem);
  host.files.writeAtomic('/usr/share/keel/update-keys/test.pub', TEST_PUB_PEM);
  const running = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;
  const b = await makeBundle(root, { version: '99.0.0', minVersion: running });
  let r = keel('update', 'status', '--root', root);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`Running version: +${running.replace(/\./g, '\\.')} \\(slot A\\)`));
  assert.match(r.out, /Status: +Up to Date/);
  r = keel('update', 'stage', b.path, '--root', root, '--user', 'admin');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Version 99\.0\.0 staged on slot B/);
  r = keel('update', 'status', '--root', root);
  assert.match(r.out, /Staged: +99\.0\.0 on slot B/);
  assert.match(r.out, /Status: +Reboot to Install/);
  const json = JSON.parse(keel('update', 'status', '--root', root, '--json').out);
  assert.equal(json.phase, 'reboot-to-install');
  r = keel('update', 'check', '--root', root);
  assert.equal(r.code, 1);
  assert.match(r.err, /no update repository is configured/);
  const s = Store.open(host);
  assert.equal(s.auditLog()[0].who, 'admin');
  s.close();
});
