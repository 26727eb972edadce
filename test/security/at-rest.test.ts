/**
 * Secrets at rest: the raw database file (and its WAL) never holds a stored password in the
 * clear, in the running configuration or any revision; keel.db, -wal, -shm and the key are 0600;
 * a database from before sealing is sealed when opened.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createHost } from '../../appliance/host/index.ts';
import { Store, DB_PATH, SECRETS_KEY_PATH } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';

const SECRETS = ['Smtp-at-rest-1', 'Ldap-at-rest-1', 'Proxy-at-rest-1', 'Repo-at-rest-1', 'Bmc-at-rest1'];

function withSecrets(i: number) {
  const c = sampleConfig();
  c.email = { from: 'keel@example.com', server: 'smtp.example.com', port: 587, protocol: 'starttls', auth: true, username: 'alerts', password: `${SECRETS[0]}-${i}` };
  c.ldap = { enabled: true, type: 'other', domain: 'example.com', url: 'ldap://ldap.example.com', bindDn: 'cn=bind,dc=example,dc=com', password: `${SECRETS[1]}-${i}`, searchTimeout: 5, chaseReferrals: false, roleMappings: [{ group: 'cn=admins,dc=example,dc=com', role: 'admin' }], health: { interval: 10, liveThreshold: 3, deadThreshold: 3 } };
  c.proxy = { enabled: true, url: 'http://proxy.example.com:3128', username: 'p', password: `${SECRETS[2]}-${i}`, noProxy: [] };
  c.update = { repository: 'https://updates.example.com/keel/', username: 'u', password: `${SECRETS[3]}-${i}` };
  c.health = { bmc: { host: '192.0.2.50', user: 'ADMIN', password: `${SECRETS[4].slice(0, 10)}${i}` } };
  return c;
}

/** Every file of the database, as bytes. */
function rawDb(root: string): string {
  const f = path.join(root, DB_PATH);
  return [f, `${f}-wal`].filter((x) => fs.existsSync(x)).map((x) => fs.readFileSync(x).toString('latin1')).join('');
}

test('no stored password is in the database files in the clear, in any revision; the files and the key are 0600', async (t) => {
  const root = tempRoot('keel-rest-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root, { sysfs: fakeSysfs(root, 2) });
  const store = Store.open(host);
  for (let i = 0; i < 3; i++) await applyConfig(host, store, withSecrets(i), { who: 'admin', source: 'test' }, `change ${i}`);
  store.saveStartup({ who: 'admin', source: 'test' });
  // The code sees them plain.
  assert.equal(store.running()!.config.email!.password, `${SECRETS[0]}-2`);
  assert.equal(store.revisionConfig(2)!.ldap!.password, `${SECRETS[1]}-1`);
  const raw = rawDb(root);
  for (const s of SECRETS) assert.doesNotMatch(raw, new RegExp(s.slice(0, 10)), `${s} is in keel.db in the clear`);
  for (const f of [DB_PATH, `${DB_PATH}-wal`, `${DB_PATH}-shm`, SECRETS_KEY_PATH]) {
    const real = path.join(root, f);
    if (fs.existsSync(real)) assert.equal(fs.statSync(real).mode & 0o777, 0o600, f);
  }
  store.close();
  // Without the key the database says nothing: another key cannot open the secrets.
  fs.writeFileSync(path.join(root, SECRETS_KEY_PATH), Buffer.alloc(32, 7), { mode: 0o600 });
  assert.throws(() => Store.open(host).running(), /auth|decrypt|Unsupported state/i);
});

test('a database from before sealing is sealed when opened, old revisions included', async (t) => {
  const root = tempRoot('keel-rest-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root, { sysfs: fakeSysfs(root, 2) });
  const first = Store.open(host);
  await applyConfig(host, first, withSecrets(0), { who: 'admin', source: 'test' }, 'initial');
  first.close();
  // Write the secrets back in the clear, as an older Keel stored them.
  const db = new Database(path.join(root, DB_PATH));
  const plain = JSON.stringify(withSecrets(0));
  db.prepare('UPDATE config_state SET json = ?').run(plain);
  db.prepare('UPDATE revisions SET json = ?').run(plain);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  assert.match(rawDb(root), /Smtp-at-rest/);
  const again = Store.open(host);
  assert.equal(again.running()!.config.email!.password, `${SECRETS[0]}-0`);
  again.db.pragma('wal_checkpoint(TRUNCATE)');
  again.db.exec('VACUUM');
  again.close();
  assert.doesNotMatch(rawDb(root), /Smtp-at-rest|Ldap-at-rest|Proxy-at-rest|Repo-at-rest/);
});
