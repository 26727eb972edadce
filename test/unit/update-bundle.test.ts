import { test } from 'vitest';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { verifyBundle, createBundle, buildTime, UpdateRefusal, BUNDLE_MAGIC, type RefusalReason } from '../../appliance/update/bundle.ts';
import { generateSigningKey, publicKeyFromPem, keyId, signDetached, detachedProblem } from '../../appliance/update/keys.ts';
import { compareVersions } from '../../appliance/update/versions.ts';
import { ValidationError } from '../../appliance/errors.ts';
import { tempRoot } from '../helpers/config.ts';
import { createHost } from '../../appliance/host/index.ts';
import { grubConfig } from '../../installer/layout.ts';
import { mountedImages, parseVerityEnv, verificationSummary, verityArg, verityEnv } from '../../appliance/update/verity.ts';
import { makeBundle, fakeSquashfs, TEST_KEY, TEST_KEY_PEM, TEST_PUB_PEM } from '../fixtures/update/make.ts';

async function refusal(p: Promise<unknown>): Promise<UpdateRefusal> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UpdateRefusal, `expected an UpdateRefusal, got ${String(e)}`);
    assert.ok(e instanceof ValidationError, 'refusals are user-facing ValidationErrors');
    return e;
  }
  assert.fail('the bundle was accepted');
}

test('a bundle round-trips: manifest, signature, payload; key id is sha256 of the SPKI DER', async (t) => {
  const dir = tempRoot('keel-upd-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const b = await makeBundle(dir, { payloadBytes: 300_000 });
  const v = await verifyBundle(b.path, [TEST_KEY], { runningVersion: '0.1.0', room: 1 << 30 });
  assert.equal(v.manifest.version, '0.2.0');
  assert.equal(v.manifest.minVersion, '0.1.0');
  assert.equal(v.manifest.size, 300_000);
  assert.equal(v.manifest.files[0].sha256, crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, 'keel-0.2.0.squashfs'))).digest('hex'));
  assert.equal(v.manifest.created, '2026-01-01T00:00:00Z');
  assert.ok(v.manifest.migrations.length >= 1, 'the migrations travel with the bundle');
  assert.equal(v.key.id, '499f7075b90fab112cf200848a8f4c0e6998f3c3f511c5fc5e90b53cee994577');
  assert.equal(keyId(crypto.createPublicKey(TEST_PUB_PEM)), v.key.id);
  assert.equal(b.size, fs.statSync(b.path).size);
  assert.ok(fs.readFileSync(b.path).subarray(0, 8).equals(BUNDLE_MAGIC));
});

test('the creation time honours SOURCE_DATE_EPOCH', () => {
  assert.equal(buildTime({ SOURCE_DATE_EPOCH: '1767225600' }), '2026-01-01T00:00:00Z');
  assert.match(buildTime({}), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('one changed byte anywhere (magic, length, manifest, signature, payload) is refused', async (t) => {
  const dir = tempRoot('keel-upd-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const b = await makeBundle(dir, { payloadBytes: 50_000 });
  const good = fs.readFileSync(b.path);
  const m = good.readUInt32BE(8);
  const sigAt = 12 + m;
  const payAt = sigAt + 64;
  const positions: [string, number, RefusalReason[]][] = [
    ['magic first', 0, ['malformed']],
    ['magic last', 7, ['malformed']],
    ['length high', 8, ['malformed', 'size-mismatch']],
    ['length low', 11, ['malformed', 'unknown-key', 'bad-signature', 'size-mismatch']],
    ['manifest first', 12, ['malformed']],
    ['manifest version', good.indexOf('"0.2.0"') + 3, ['bad-signature']],
    ['manifest keyId', good.indexOf('"keyId"') + 12, ['unknown-key', 'malformed']],
    ['manifest sha256', good.indexOf('"sha256"') + 14, ['bad-signature', 'malformed']],
    ['manifest notes', good.indexOf('test build'), ['bad-signature']],
    ['manifest last', sigAt - 1, ['malformed', 'bad-signature']],
    ['signature first', sigAt, ['bad-signature']],
    ['signature middle', sigAt + 31, ['bad-signature']],
    ['signature last', sigAt + 63, ['bad-signature']],
    ['payload first', payAt, ['sha256-mismatch']],
    ['payload magic', payAt + 2, ['sha256-mismatch']],
    ['payload middle', payAt + 25_000, ['sha256-mismatch']],
    ['payload last', good.length - 1, ['sha256-mismatch']],
  ];
  for (const [name, at, reasons] of positions) {
    for (const flip of [0x01, 0x80]) {
      const bad = Buffer.from(good);
      bad[at] ^= flip;
      const f = path.join(dir, 'bad.kup');
      fs.writeFileSync(f, bad);
      const e = await refusal(verifyBundle(f, [TEST_KEY]));
      // A high bit set in the manifest makes it invalid UTF-8: malformed, before any key lookup.
      const inManifest = at >= 12 && at < sigAt;
      assert.ok(reasons.includes(e.reason) || (flip === 0x80 && inManifest && e.reason === 'malformed'), `${name} (byte ${at} ^ ${flip}): refused as ${e.reason}: ${e.message}`);
    }
  }
  // And a pseudo-random sample of every other position.
  for (let i = 0; i < 40; i++) {
    const at = crypto.randomInt(good.length);
    const bad = Buffer.from(good);
    bad[at] ^= 1 << crypto.randomInt(8);
    const f = path.join(dir, 'bad.kup');
    fs.writeFileSync(f, bad);
    await refusal(verifyBundle(f, [TEST_KEY]));
  }
  // The untouched file still passes.
  await verifyBundle(b.path, [TEST_KEY]);
});

test('truncated or extended files are size mismatches', async (t) => {
  const dir = tempRoot('keel-upd-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const b = await makeBundle(dir);
  const good = fs.readFileSync(b.path);
  const f = path.join(dir, 'x.kup');
  fs.writeFileSync(f, good.subarray(0, good.length - 1));
  assert.equal((await refusal(verifyBundle(f, [TEST_KEY]))).reason, 'size-mismatch');
  fs.writeFileSync(f, Buffer.concat([good, Buffer.from([0])]));
  assert.equal((await refusal(verifyBundle(f, [TEST_KEY]))).reason, 'size-mismatch');
  fs.writeFileSync(f, good.subarray(0, 100));
  assert.equal((await refusal(verifyBundle(f, [TEST_KEY]))).reason, 'size-mismatch');
  fs.writeFileSync(f, Buffer.alloc(0));
  assert.equal((await refusal(verifyBundle(f, [TEST_KEY]))).reason, 'malformed');
  assert.equal((await refusal(verifyBundle(path.join(dir, 'absent.kup'), [TEST_KEY]))).reason, 'malformed');
});

test('an unknown key is refused; a trusted key id on another key signature is a bad signature', async (t) => {
  const dir = tempRoot('keel-upd-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const other = generateSigningKey();
  const b = await makeBundle(dir, { keyPem: other.privatePem });
  const e = await refusal(verifyBundle(b.path, [TEST_KEY]));
  assert.equal(e.reason, 'unknown-key');
  assert.match(e.message, new RegExp(other.id.slice(0, 16)));
  assert.equal((await refusal(verifyBundle(b.path, []))).reason, 'unknown-key');
  // With both keys trusted it passes.
  await verifyBundle(b.path, [TEST_KEY, publicKeyFromPem(other.publicPem)]);
  // Claiming the trusted key's id does not help an attacker.
  const forged = Buffer.from(fs.readFileSync(b.path).toString('latin1').replace(other.id, TEST_KEY.id), 'latin1');
  fs.writeFileSync(b.path, forged);
  assert.equal((await refusal(verifyBundle(b.path, [TEST_KEY]))).reason, 'bad-signature');
});

test('version below the bundle minimum, and not enough room, are refused', async (t) => {
  const dir = tempRoot('keel-upd-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const b = await makeBundle(dir, { version: '1.4.0', minVersion: '1.2.0', payloadBytes: 10_000 });
  const e = await refusal(verifyBundle(b.path, [TEST_KEY], { runningVersion: '1.1.9' }));
  assert.equal(e.reason, 'version-too-old');
  assert.match(e.message, /1\.2\.0 or later; this appliance runs 1\.1\.9/);
  assert.equal((await refusal(verifyBundle(b.path, [TEST_KEY], { runningVersion: '1.2.0-rc.1' }))).reason, 'version-too-old');
  await verifyBundle(b.path, [TEST_KEY], { runningVersion: '1.2.0' });
  assert.equal((await refusal(verifyBundle(b.path, [TEST_KEY], { room: 9_999 }))).reason, 'no-space');
  await verifyBundle(b.path, [TEST_KEY], { room: 10_000 });
});

test('createBundle refuses what it cannot sign or ship', async (t) => {
  const dir = tempRoot('keel-upd-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const notSquash = path.join(dir, 'x.squashfs');
  fs.writeFileSync(notSquash, 'not a squashfs');
  await assert.rejects(makeBundle(dir, { squashfs: notSquash }), /not a squashfs/);
  await assert.rejects(makeBundle(dir, { version: '1.0', minVersion: '0.1.0' }), /not a version/);
  await assert.rejects(makeBundle(dir, { version: '1.0.0', minVersion: '1.1.0' }), /cannot be above/);
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  await assert.rejects(makeBundle(dir, { keyPem: rsa }), /Ed25519/);
  assert.throws(() => publicKeyFromPem('garbage'), /not a PEM public key/);
});

test('a bundle can carry kernel, initramfs and base, or list them as carried from the running slot', async (t) => {
  const dir = tempRoot('keel-upd-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const k = path.join(dir, 'vmlinuz');
  fs.writeFileSync(k, 'kernel');
  const base = fakeSquashfs(path.join(dir, 'base.squashfs'), 5000, 'base');
  const app = fakeSquashfs(path.join(dir, 'keel.squashfs'), 3000, 'app');
  const full = await createBundle({ files: [{ name: 'vmlinuz', path: k }, { name: 'base.squashfs', path: base }, { name: 'keel.squashfs', path: app }], version: '0.3.0', minVersion: '0.1.0', notes: '', keyPem: TEST_KEY_PEM, out: path.join(dir, 'full.kup') });
  const v = await verifyBundle(full.path, [TEST_KEY]);
  assert.deepEqual(v.manifest.files.map((f) => [f.name, f.offset, f.size]), [['vmlinuz', 0, 6], ['base.squashfs', 6, 5000], ['keel.squashfs', 5006, 3000]]);
  const small = await createBundle({ squashfs: app, carry: [{ name: 'base.squashfs', path: base }], version: '0.3.1', minVersion: '0.3.0', notes: '', keyPem: TEST_KEY_PEM, out: path.join(dir, 'small.kup') });
  const s = await verifyBundle(small.path, [TEST_KEY], { room: 8000 });
  assert.equal(s.manifest.size, 3000);
  assert.equal(s.slotBytes, 8000);
  assert.equal(s.manifest.files.find((f) => f.name === 'base.squashfs')!.offset, undefined);
});

test('dm-verity root hashes: signed in the manifest, each with its image and hash tree in the slot', async (t) => {
  const dir = tempRoot('keel-upd-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const app = fakeSquashfs(path.join(dir, 'keel.squashfs'), 3000, 'app');
  const base = fakeSquashfs(path.join(dir, 'base.squashfs'), 5000, 'base');
  fs.writeFileSync(`${app}.verity`, 'tree');
  fs.writeFileSync(`${base}.verity`, 'base tree');
  const h = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
  const ok = await createBundle({
    files: [{ name: 'keel.squashfs', path: app }, { name: 'keel.squashfs.verity', path: `${app}.verity` }],
    carry: [{ name: 'base.squashfs', path: base }, { name: 'base.squashfs.verity', path: `${base}.verity` }],
    verity: [{ file: 'base.squashfs', rootHash: h('b') }, { file: 'keel.squashfs', rootHash: h('k') }],
    version: '0.3.0', minVersion: '0.1.0', notes: '', keyPem: TEST_KEY_PEM, out: path.join(dir, 'ok.kup'),
  });
  assert.deepEqual((await verifyBundle(ok.path, [TEST_KEY])).manifest.verity, [{ file: 'base.squashfs', rootHash: h('b') }, { file: 'keel.squashfs', rootHash: h('k') }]);
  const over = { version: '0.3.0', minVersion: '0.1.0', notes: '', keyPem: TEST_KEY_PEM, out: path.join(dir, 'bad.kup') };
  // A root hash without its hash tree, a hash tree without its root hash, a root hash twice.
  await assert.rejects(createBundle({ ...over, squashfs: app, verity: [{ file: 'keel.squashfs', rootHash: h('k') }] }), (e: unknown) => e instanceof ValidationError && /keel\.squashfs has a root hash but the slot would not have keel\.squashfs\.verity/.test(e.message));
  await assert.rejects(createBundle({ ...over, files: [{ name: 'keel.squashfs', path: app }, { name: 'keel.squashfs.verity', path: `${app}.verity` }] }), /keel\.squashfs\.verity has no root hash/);
  await assert.rejects(createBundle({ ...over, files: [{ name: 'keel.squashfs', path: app }, { name: 'keel.squashfs.verity', path: `${app}.verity` }], verity: [{ file: 'keel.squashfs', rootHash: h('k') }, { file: 'keel.squashfs', rootHash: h('x') }] }), /listed twice/);
});

test('the slot\'s keel-verity.env, the boot entry that reads it, and how the running images are reported', () => {
  const h = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
  const hashes = [{ file: 'base.squashfs' as const, rootHash: h('b') }, { file: 'keel.squashfs' as const, rootHash: h('k') }];
  const env = verityEnv(hashes);
  assert.equal(env.length, 1024);
  assert.deepEqual(parseVerityEnv(env.toString('utf8')), hashes);
  assert.equal(verityArg(hashes), `base.squashfs:${h('b')},keel.squashfs:${h('k')}`);
  assert.equal(parseVerityEnv('# GRUB Environment Block\nkeel_verity=keel.squashfs:xyz\n'), null, 'a malformed hash is not used');
  assert.equal(parseVerityEnv(''), null);
  // GRUB reads only keel_verity from the slot and hands it to live-boot.
  const cfg = grubConfig();
  assert.match(cfg, /set keel_verity=\nload_env --file \(\$\{sysroot\}\)\/live\/keel-verity\.env keel_verity\n/);
  assert.match(cfg, /linux \S+ boot=live dm-verity-root-hash=\$\{keel_verity\} /);
  assert.match(cfg, / panic=10 /, 'a slot the initramfs refuses reboots, and GRUB counts the try');
  // The running images, from mountinfo and the device-mapper UUID libcryptsetup gives verity devices.
  const root = tempRoot('keel-verity-');
  try {
    const host = createHost(root);
    host.files.writeAtomic('/proc/self/mountinfo', [
      '30 25 253:0 / /run/live/rootfs/base.squashfs ro,noatime - squashfs /dev/mapper/libmnt_base ro',
      '31 25 7:1 / /run/live/rootfs/keel.squashfs ro,noatime - squashfs /dev/loop1 ro',
      '32 1 0:30 / / rw - overlay overlay rw',
    ].join('\n'));
    host.files.writeAtomic('/sys/dev/block/253:0/dm/uuid', 'CRYPT-VERITY-8d1f-libmnt_base\n');
    const seen = mountedImages(host);
    assert.deepEqual(seen, [{ file: 'base.squashfs', verified: true }, { file: 'keel.squashfs', verified: false }]);
    assert.equal(verificationSummary(seen), 'NOT verified (keel.squashfs read without dm-verity)');
    host.files.writeAtomic('/sys/dev/block/7:1/dm/uuid', 'CRYPT-VERITY-aa-libmnt_keel');
    assert.equal(verificationSummary(mountedImages(host)), 'verified on read (dm-verity: base.squashfs, keel.squashfs)');
    assert.equal(verificationSummary([]), null, 'nothing to say in a sandbox');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('detached signatures (the repository index)', () => {
  const data = Buffer.from('{"bundles":[]}');
  const sig = signDetached(data, TEST_KEY_PEM);
  assert.equal(sig.keyId, TEST_KEY.id);
  assert.equal(detachedProblem(data, sig, [TEST_KEY]), null);
  assert.equal(detachedProblem(Buffer.from('{"bundles":[1]}'), sig, [TEST_KEY]), 'bad-signature');
  assert.equal(detachedProblem(data, sig, []), 'unknown-key');
  assert.equal(detachedProblem(data, { ...sig, signature: 'AAAA' }, [TEST_KEY]), 'bad-signature');
});

test('versions order like semver', () => {
  const sorted = ['0.1.0-alpha', '0.1.0-alpha.1', '0.1.0-alpha.beta', '0.1.0-beta', '0.1.0-beta.2', '0.1.0-beta.11', '0.1.0-rc.1', '0.1.0', '0.1.1', '0.2.0', '0.10.0', '1.0.0'];
  for (let i = 0; i < sorted.length; i++)
    for (let j = 0; j < sorted.length; j++) assert.equal(Math.sign(compareVersions(sorted[i], sorted[j])), Math.sign(i - j), `${sorted[i]} vs ${sorted[j]}`);
  assert.throws(() => compareVersions('1.0', '1.0.0'), /not a version/);
});
