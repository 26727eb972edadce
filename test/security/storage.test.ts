/**
 * Storage an attacker (or years of use) could fill: revisions, audit entries, the sandbox's
 * command log and support bundles are all bounded, the newest kept.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import { Store, MAX_REVISIONS, MAX_AUDIT_ROWS, MAX_AUDIT_DAYS } from '../../appliance/config/store.ts';
import { COMMANDS_LOG_MAX_BYTES } from '../../appliance/host/processes.ts';
import { SUPPORT_DIR, SUPPORT_OPERATOR_FILES, SUPPORT_MAX_FILES } from '../../cli/commands.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';
import { cliSession } from '../helpers/cli.ts';

function store(t: { onTestFinished: (f: () => void) => void }) {
  const root = tempRoot('keel-store-');
  const host = createHost(root);
  const s = Store.open(host);
  t.onTestFinished(() => {
    s.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return { root, host, s };
}

test(`revisions: the newest ${MAX_REVISIONS} are kept, and always the running and the saved one`, (t) => {
  const { s } = store(t);
  const c = sampleConfig();
  s.commitRunning(c, { who: 'admin', source: 'test' }, 'first', '');
  s.saveStartup({ who: 'admin', source: 'test' });
  for (let i = 0; i < MAX_REVISIONS + 250; i++) s.commitRunning(c, { who: 'admin', source: 'test' }, `change ${i}`, '');
  const n = (s.db.prepare('SELECT COUNT(*) AS n FROM revisions').get() as { n: number }).n;
  assert.ok(n <= MAX_REVISIONS + 100, `${n} revisions kept`);
  assert.ok(s.revisionConfig(1), 'the saved revision 1 survives');
  assert.ok(s.revisionConfig(s.running()!.revision), 'the running one survives');
  assert.ok(s.revisionConfig(s.running()!.revision - MAX_REVISIONS + 1), 'the newest 1,000 survive');
});

test(`audit: at most ${MAX_AUDIT_ROWS} entries (a sign-in flood cannot fill the disk) and ${MAX_AUDIT_DAYS} days`, (t) => {
  const { s } = store(t);
  const insert = s.db.transaction((n: number) => {
    for (let i = 0; i < n; i++) s.audit({ who: `guess${i}`, source: 'ssh:203.0.113.9' }, 'sign in (SSH)', 'failed: unknown user');
  });
  insert(MAX_AUDIT_ROWS + 5000);
  const n = (s.db.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n;
  assert.ok(n <= MAX_AUDIT_ROWS + 100, `${n} audit rows kept`);
  assert.equal(s.auditLog(1)[0].who, `guess${MAX_AUDIT_ROWS + 4999}`, 'the newest is kept');
  s.db.prepare('UPDATE audit SET at = ? WHERE id IN (SELECT id FROM audit ORDER BY id LIMIT 10)').run('2000-01-01T00:00:00.000Z');
  const newest = (s.db.prepare('SELECT MAX(id) AS m FROM audit').get() as { m: number }).m;
  assert.ok(s.pruneAudit(newest) >= 1, 'entries older than a year go');
});

test('the sandbox command log rotates at its size cap', (t) => {
  const { root, host } = store(t);
  const line = `${'x'.repeat(1000)}\n`;
  for (let i = 0; i < (3 * COMMANDS_LOG_MAX_BYTES) / line.length; i++) host.files.append('/var/log/keel/commands.log', line, 0o640, COMMANDS_LOG_MAX_BYTES);
  const log = path.join(root, 'var/log/keel/commands.log');
  assert.ok(fs.statSync(log).size <= COMMANDS_LOG_MAX_BYTES);
  assert.ok(fs.statSync(`${log}.1`).size <= COMMANDS_LOG_MAX_BYTES);
});

test(`support bundles: an operator keeps at most ${SUPPORT_OPERATOR_FILES} and cannot push out an administrator's; ${SUPPORT_MAX_FILES} in all`, async (t) => {
  const admin = await cliSession(t);
  await admin.run('show tech-support');
  const adminBundle = admin.host.files.list(SUPPORT_DIR);
  assert.equal(adminBundle.length, 1);
  // An operator session on the same appliance.
  const { Session } = await import('../../cli/session.ts');
  const out: string[] = [];
  const oper = new Session({ host: admin.host, store: admin.store, user: { name: 'oper', role: 'operator' }, source: 'ssh:203.0.113.9', privileged: true, io: { write: (x) => void out.push(x), ask: async () => '' } });
  for (let i = 0; i < 40; i++) {
    await oper.execute('show tech-support');
    await new Promise((r) => setTimeout(r, 2));
  }
  const files = admin.host.files.list(SUPPORT_DIR);
  assert.equal(files.filter((f) => f.includes('-oper-')).length, SUPPORT_OPERATOR_FILES, `${files.join(' ')}\n${out.slice(-3).join('')}`);
  assert.ok(files.includes(adminBundle[0]), 'the administrator\'s bundle is still there');
  for (let i = 0; i < SUPPORT_MAX_FILES + 5; i++) {
    await admin.run('show tech-support');
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.equal(admin.host.files.list(SUPPORT_DIR).length, SUPPORT_MAX_FILES);
});
