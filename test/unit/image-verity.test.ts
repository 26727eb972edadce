import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { formatVerity } from '../../image/verity.ts';
import { createHost } from '../../appliance/host/index.ts';
import { signDetached } from '../../appliance/update/keys.ts';
import { verifySlotImages, verityEnv, VERITY_ENV, VERITY_SIG } from '../../appliance/update/verity.ts';
import { generateSigningKey, publicKeyFromPem } from '../../appliance/update/keys.ts';
import { tempRoot } from '../helpers/config.ts';
import { fakeSquashfs, TEST_KEY, TEST_KEY_PEM } from '../fixtures/update/make.ts';

// veritysetup (cryptsetup-bin) builds and checks hash trees in user space: no device-mapper needed.

test('the hash tree and root hash of an image are reproducible (salt and UUID come from the image)', (t) => {
  const dir = tempRoot('keel-verity-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const img = fakeSquashfs(path.join(dir, 'keel.squashfs'), 300_000, 'a');
  const first = formatVerity(img);
  const tree = fs.readFileSync(`${img}.verity`);
  assert.match(first, /^[0-9a-f]{64}$/);
  assert.equal(formatVerity(img), first);
  assert.ok(fs.readFileSync(`${img}.verity`).equals(tree), 'bit-identical hash tree');
  fakeSquashfs(img, 300_000, 'b');
  assert.notEqual(formatVerity(img), first, 'another image, another root hash');
});

test('a slot is checked as the installer checks it: signed root hashes, every block of every image', async (t) => {
  const dir = tempRoot('keel-verity-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const live = path.join(dir, 'live');
  const base = fakeSquashfs(path.join(live, 'base.squashfs'), 200_000, 'base');
  const app = fakeSquashfs(path.join(live, 'keel.squashfs'), 100_000, 'app');
  const env = verityEnv([{ file: 'base.squashfs', rootHash: formatVerity(base) }, { file: 'keel.squashfs', rootHash: formatVerity(app) }]);
  fs.writeFileSync(path.join(live, VERITY_ENV), env);
  fs.writeFileSync(path.join(live, VERITY_SIG), JSON.stringify(signDetached(env, TEST_KEY_PEM)));
  const host = createHost('/');
  const ok = await verifySlotImages(host, live, { trusted: [TEST_KEY] });
  assert.deepEqual(ok.map((h) => h.file), ['base.squashfs', 'keel.squashfs']);
  // Signed by a key the image does not trust.
  const other = generateSigningKey();
  await assert.rejects(verifySlotImages(host, live, { trusted: [publicKeyFromPem(other.publicPem)] }), /not signed by a trusted key \(unknown-key\)/);
  // One flipped byte in an image.
  const bytes = fs.readFileSync(app);
  bytes[50_000] ^= 0x80;
  fs.writeFileSync(app, bytes);
  await assert.rejects(verifySlotImages(host, live, { trusted: [TEST_KEY] }), /keel\.squashfs does not match its signed dm-verity root hash/);
  // No root hashes at all.
  fs.rmSync(path.join(live, VERITY_ENV));
  await assert.rejects(verifySlotImages(host, live), /keel-verity\.env is missing/);
});
