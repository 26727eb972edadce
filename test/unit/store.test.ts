import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createHost } from '../../appliance/host/index.ts';
import { Store, MIGRATIONS } from '../../appliance/config/store.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';
import { hashSecret, verifySecret } from '../../appliance/users/secrets.ts';

test('the store lives under <root>/var/lib/keel and migrates once', (t) => {
  const root = tempRoot();
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  let s = Store.open(host);
  assert.ok(fs.existsSync(`${root}/var/lib/keel/keel.db`));
  assert.equal(s.db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  s.commitRunning(sampleConfig(), { who: 'a', source: 't' }, 'one', '');
  s.close();
  s = Store.open(host);
  assert.equal(s.running()!.revision, 1);
  assert.equal(s.configured(), false);
  s.saveStartup({ who: 'a', source: 't' });
  assert.equal(s.configured(), true);
  assert.equal(s.unsaved(), false);
  assert.equal(s.revisionConfig(1)!.system.hostname, 'core.example.com');
  assert.match(s.auditLog()[0].action, /save running-config to startup-config/);
  s.close();
});

test('secrets are slow salted scrypt hashes', async () => {
  const a = await hashSecret('Secret123');
  const b = await hashSecret('Secret123');
  assert.notEqual(a, b, 'salted');
  assert.match(a, /^\$scrypt\$N=32768,r=8,p=1\$/);
  assert.ok(!a.includes('Secret123'));
  assert.equal(await verifySecret('Secret123', a), true);
  assert.equal(await verifySecret('Secret124', a), false);
  assert.equal(await verifySecret('Secret123', 'garbage'), false);
});
