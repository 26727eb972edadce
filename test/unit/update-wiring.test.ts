/**
 * Where the update core shows up outside its own commands: the console banner (rollback notice),
 * the configuration schema (the optional `update` section, checked everywhere), the CLI script
 * (password masked) and System Manager's redaction.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createHost } from '../../appliance/host/index.ts';
import { banner } from '../../bin/console.ts';
import { check } from '../../appliance/config/schema.ts';
import { toScript } from '../../appliance/config/script.ts';
import { updateState } from '../../appliance/update/state.ts';
import { redactConfig } from '../../webui/redact.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';

const rolledBack = { outcome: 'rolled-back' as const, version: '0.3.0', running: '0.1.0', at: '2026-02-01T10:00:00.000Z', reason: 'version 0.3.0 was not healthy after 3 tries' };

test('the console banner shows the rollback notice until it is acknowledged', async (t) => {
  const root = tempRoot('keel-banner-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const c = sampleConfig();
  assert.doesNotMatch(await banner(host, c, 0), /ROLLED BACK/);
  updateState(host, (s) => void (s.lastResult = { ...rolledBack }));
  const b = await banner(host, c, 0);
  assert.match(b, /^\nKeel \S+ - core\.example\.com\nSOFTWARE UPDATE ROLLED BACK at 2026-02-01 10:00:00Z: version 0\.3\.0 was not healthy after 3 tries\.\n\(Acknowledge: software-update acknowledge, or in System Manager\.\)\nSystem Manager: /);
  assert.match(b, /^[\x09\x0a\x20-\x7e]*$/, 'ASCII only');
  updateState(host, (s) => void (s.lastResult!.acknowledged = true));
  assert.doesNotMatch(await banner(host, c, 0), /ROLLED BACK/);
  updateState(host, (s) => void (s.lastResult = { ...rolledBack, outcome: 'installed', reason: 'installed on slot b at the first try' }));
  assert.doesNotMatch(await banner(host, c, 0), /ROLLED BACK|installed/);
});

test('the update section: optional, checked by check() with field and rule, masked in the script and in System Manager', () => {
  const c = sampleConfig();
  assert.deepEqual(check(c), [], 'configurations without it stay valid');
  c.update = { repository: 'https://updates.example.com/keel/', username: 'mirror', password: 'Repo-S3cret!' };
  assert.deepEqual(check(c), []);
  assert.ok(toScript(c).includes('software-update repository https://updates.example.com/keel/ username mirror password ********'));
  assert.ok(!toScript(c).join('\n').includes('Repo-S3cret!'));
  assert.equal(redactConfig(c).update!.password, '<redacted>');
  assert.equal(c.update.password, 'Repo-S3cret!', 'redaction works on a copy');
  assert.deepEqual(check({ ...c, update: { repository: 'https://updates.example.com/', username: 'mirror' } }).map((p) => `${p.field} ${p.rule}`), ['/update/password required']);
  assert.deepEqual(check({ ...c, update: { repository: 'ftp://updates.example.com/' } }).map((p) => p.field), ['/update/repository']);
  assert.deepEqual(check({ ...c, update: { repository: 'https://x.example.com/', extra: 1 } }).map((p) => p.field), ['/update/extra']);
  c.update = { repository: 'https://updates.example.com/keel/' };
  assert.ok(toScript(c).includes('software-update repository https://updates.example.com/keel/'));
});
