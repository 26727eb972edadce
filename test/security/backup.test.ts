/**
 * A restore file chooses its own key-derivation parameters: they are capped at what Keel writes,
 * and the derivation runs off the event loop, so a crafted file can neither stall System Manager
 * nor make it do unbounded work.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { encryptBackup, decryptBackup, KDF_LIMIT } from '../../appliance/backup/crypto.ts';
import { sampleConfig } from '../helpers/config.ts';

const PASS = 'correct horse battery';

test('crafted scrypt parameters (N=2^30, r=32, p=16) are refused at once, naming the rule', async () => {
  const good = JSON.parse(await encryptBackup(sampleConfig(), PASS, { keelVersion: '0.1.0', revision: 1 }));
  for (const kdf of [{ N: 2 ** 30, r: 8, p: 1 }, { N: 2 ** 17, r: 8, p: 16 }, { N: 32768, r: 32, p: 1 }, { N: 2 ** 20, r: 8, p: 1 }, { N: 1, r: 8, p: 1 }, { N: 3000, r: 8, p: 1 }]) {
    const t0 = Date.now();
    await assert.rejects(decryptBackup(JSON.stringify({ ...good, kdf: { ...good.kdf, ...kdf } }), PASS), (e: Error & { problems?: { rule: string }[] }) => e.problems?.[0]?.rule === 'kdf');
    assert.ok(Date.now() - t0 < 200, `${JSON.stringify(kdf)} took ${Date.now() - t0} ms to refuse`);
  }
  assert.deepEqual(KDF_LIMIT, { N: 65536, r: 8, p: 1 });
});

test('a restore derives its key off the event loop: timers keep firing while it runs', async () => {
  const file = await encryptBackup(sampleConfig(), PASS, { keelVersion: '0.1.0', revision: 1 });
  let worst = 0;
  let last = Date.now();
  const tick = setInterval(() => {
    const n = Date.now();
    worst = Math.max(worst, n - last);
    last = n;
  }, 5);
  try {
    for (let i = 0; i < 3; i++) assert.equal((await decryptBackup(file, PASS)).config.system.hostname, sampleConfig().system.hostname);
  } finally {
    clearInterval(tick);
  }
  console.log(`restore: the event loop's longest pause during three key derivations was ${worst} ms`);
  assert.ok(worst < 80, `the event loop stalled for ${worst} ms`);
});
