/** `keel update verify` on bundles that are genuine but not updates, and on things that are not files. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempRoot } from '../helpers/config.ts';
import { makeBundle } from '../fixtures/update/make.ts';

const MAIN = fileURLToPath(new URL('../../bin/main.ts', import.meta.url));
const PUB = fileURLToPath(new URL('../fixtures/update/TEST-ONLY-signing-key.pub', import.meta.url));
const keel = (...args: string[]) => {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, KEEL_LOG: 'silent' }, timeout: 20_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, ms: Date.now() - t0 };
};

test('an older or the same version is not "OK": verify says older than running / same version and exits 1', async (t) => {
  const dir = tempRoot('keel-verify-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const b = await makeBundle(dir, { version: '0.2.0', minVersion: '0.1.0' });
  const older = keel('update', 'verify', b.path, '--key', PUB, '--running', '0.3.0');
  assert.equal(older.code, 1, older.out);
  assert.match(older.out, /^Older than running: Keel 0\.2\.0 .*this appliance runs 0\.3\.0, so it will not be installed/m);
  assert.doesNotMatch(older.out, /^OK/m);
  const same = keel('update', 'verify', b.path, '--key', PUB, '--running', '0.2.0');
  assert.equal(same.code, 1, same.out);
  assert.match(same.out, /^Same version as running: Keel 0\.2\.0/m);
  assert.equal(keel('update', 'verify', b.path, '--key', PUB, '--running', '0.1.0').code, 0);
});

test('a FIFO or a directory is refused at once, never waited on', (t) => {
  const dir = tempRoot('keel-verify-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const fifo = path.join(dir, 'update.kup');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const r = keel('update', 'verify', fifo, '--key', PUB);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /REFUSED \(malformed\): .*is not a regular file/);
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
  assert.match(keel('update', 'verify', dir, '--key', PUB).out, /is not a regular file/);
});
