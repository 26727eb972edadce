import { test } from 'vitest';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { cryptoSelfTest, SELF_TESTED } from '../../appliance/crypto/selftest.ts';

test('the known-answer tests pass with Node\'s crypto, quickly', () => {
  const r = cryptoSelfTest();
  assert.deepEqual(r.failed, []);
  assert.deepEqual(SELF_TESTED, ['SHA-256', 'HMAC-SHA-256', 'AES-256-GCM', 'Ed25519', 'scrypt']);
  assert.ok(r.ms < 2000, `${r.ms} ms`);
});

test('each primitive that answers wrongly is named', () => {
  // A library that returns a wrong digest, accepts a forged GCM tag, and verifies any signature.
  const broken = {
    ...crypto,
    createHash: (alg: string) => crypto.createHash(alg === 'sha256' ? 'sha512' : alg),
    createDecipheriv: ((alg: string, key: Buffer, iv: Buffer) => {
      const d = crypto.createDecipheriv(alg as 'aes-256-gcm', key, iv);
      return Object.assign(Object.create(d), { setAuthTag: () => d, update: (b: Buffer) => d.update(b), final: () => Buffer.alloc(0) });
    }) as unknown as typeof crypto.createDecipheriv,
    verify: () => true,
  };
  assert.deepEqual(cryptoSelfTest(broken as typeof crypto).failed, ['SHA-256', 'AES-256-GCM', 'Ed25519']);
});

test('keel serve refuses to start when the self-test fails, saying which primitive', () => {
  const main = path.resolve(import.meta.dirname, '../../bin/main.ts');
  const r = spawnSync(process.execPath, [main, 'serve', '--root', '/nonexistent-keel-root'], { encoding: 'utf8', env: { ...process.env, KEEL_SELFTEST_BREAK: 'SHA-256' }, timeout: 30_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /crypto self-test failed: SHA-256/);
});

test('the console refuses to start too, with the reason on its terminal', () => {
  const main = path.resolve(import.meta.dirname, '../../bin/main.ts');
  const r = spawnSync(process.execPath, [main, 'console', '--root', '/nonexistent-keel-root'], { encoding: 'utf8', env: { ...process.env, KEEL_SELFTEST_BREAK: 'scrypt', KEEL_SELFTEST_PAUSE_MS: '0' }, timeout: 30_000, input: '' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /crypto self-test failed: scrypt/);
});
