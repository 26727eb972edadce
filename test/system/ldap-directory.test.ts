/**
 * The LDAP service against a real OpenLDAP slapd on loopback: a lookup, browsing one level,
 * sign-in of a directory user with the role of a nested group, a wrong password refused and
 * counted by the shared lockout, failover while the first server is dead, and the health
 * transitions dead after N failures / live again after M successes (seed 003).
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { validate, type Config } from '../../appliance/config/schema.ts';
import { LdapDirectory, directoryOf } from '../../appliance/ldap/directory.ts';
import type { LdapConfig } from '../../appliance/ldap/schema.ts';
import { signIn, Lockouts } from '../../appliance/users/signin.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';
import { startSlapd, freePort, BIND_DN, BIND_PW, ADMINS, OPERATORS, PASSWORDS, BASE, type Slapd, ldapSectionFor } from './ldap-slapd.ts';

process.env.KEEL_LOG ??= 'silent';

function ldapConfig(url: string, over: Partial<LdapConfig> = {}): LdapConfig {
  const base = ldapSectionFor(url);
  return { ...base, health: { ...base.health, liveThreshold: 2 }, ...over };
}

async function slapd(t: TestContext): Promise<Slapd> {
  const s = await startSlapd();
  t.onTestFinished(() => { s.remove(); });
  return s;
}

function storeWith(t: TestContext, ldap: LdapConfig): Store {
  const root = tempRoot('keel-ldap-');
  const host = createHost(root);
  const store = Store.open(host);
  t.onTestFinished(() => {
    directoryOf(store).stopMonitor();
    store.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  const c: Config = { ...sampleConfig(), ldap };
  store.commitRunning(validate(c), { who: 'test', source: 'test' }, 'initial', '');
  return store;
}

test('lookup finds users and groups; browse lists one level at a time', async (t) => {
  const s = await slapd(t);
  const dir = new LdapDirectory(() => ldapConfig(s.url));
  const r = await dir.lookup('alice');
  assert.equal(r.server, s.url);
  assert.deepEqual(r.entries.map((e) => e.dn), [`uid=alice,ou=people,${BASE}`]);
  assert.deepEqual(r.entries[0].attributes.mail, ['alice@example.com']);
  const g = await dir.lookup('keel-admins');
  assert.deepEqual(g.entries.map((e) => e.dn), [ADMINS]);
  assert.deepEqual((await dir.lookup('nobody-here')).entries, []);
  // A filter injection is a literal name, not a wildcard.
  assert.deepEqual((await dir.lookup('*)(uid=*')).entries, []);

  const top = await dir.browse();
  assert.equal(top.base, BASE);
  assert.deepEqual(top.children.map((c) => c.rdn), ['ou=groups', 'ou=people', 'ou=service']);
  const people = await dir.browse(`ou=people,${BASE}`);
  assert.deepEqual(people.children.map((c) => c.rdn), ['uid=alice', 'uid=bob', 'uid=carol']);
  assert.ok(people.children[0].objectClass.includes('inetOrgPerson'));
});

test('a wrong bind password is an error, not a dead server', async (t) => {
  const s = await slapd(t);
  const dir = new LdapDirectory(() => ldapConfig(s.url, { password: 'wrong-one' }));
  await assert.rejects(dir.lookup('alice'), /Invalid Credentials|0x31/i);
  assert.equal(dir.servers()[0].state, 'live');
  for (let i = 0; i < 4; i++) await dir.check(s.url);
  const h = await dir.check(s.url);
  assert.equal(h.state, 'live', 'the server answered: reachable');
  assert.match(h.lastError ?? '', /Invalid Credentials|0x31/i);
});

test('sign-in: nested group gives admin, direct group operator, no group refused; wrong password counted by the lockout', async (t) => {
  const s = await slapd(t);
  const store = storeWith(t, ldapConfig(s.url));
  const req = (username: string, password: string) => signIn(store, { username, password, source: 'webui:127.0.0.1', surface: 'webui' });

  assert.deepEqual(await req('alice', PASSWORDS.alice), { ok: true, user: { name: 'alice', role: 'admin' } });
  assert.deepEqual(await req('bob', PASSWORDS.bob), { ok: true, user: { name: 'bob', role: 'operator' } });
  assert.deepEqual(await req('carol', PASSWORDS.carol), { ok: false, reason: 'invalid' });
  assert.deepEqual(await req('alice', ''), { ok: false, reason: 'invalid' });

  // Five failures (the default policy; the empty password above was the first) lock alice out, even with the right one after.
  for (let i = 0; i < 3; i++) assert.deepEqual(await req('alice', 'not-her-password'), { ok: false, reason: 'invalid' });
  assert.equal(new Lockouts(store).lockedUntil('alice'), null);
  assert.deepEqual(await req('alice', 'not-her-password'), { ok: false, reason: 'invalid' });
  assert.ok(new Lockouts(store).lockedUntil('alice'));
  const locked = await req('alice', PASSWORDS.alice);
  assert.equal(locked.ok, false);
  assert.equal(!locked.ok && locked.reason, 'locked');

  const audit = store.db.prepare("SELECT who, outcome AS result FROM audit WHERE action LIKE 'sign in%' ORDER BY id").all() as { who: string; result: string }[];
  assert.ok(audit.some((a) => a.who === 'alice' && a.result === 'ok (LDAP admin)'));
  assert.ok(audit.some((a) => a.who === 'carol' && /no mapped group/.test(a.result)));
  assert.ok(audit.some((a) => a.who === 'alice' && /wrong password/.test(a.result)));
  const all = JSON.stringify(store.db.prepare('SELECT * FROM audit').all());
  for (const pw of [...Object.values(PASSWORDS), BIND_PW, 'not-her-password']) assert.ok(!all.includes(pw), 'no password in the audit log');

  // LDAP off: directory users cannot sign in.
  const c = structuredClone(store.running()!.config);
  c.ldap!.enabled = false;
  store.commitRunning(validate(c), { who: 'test', source: 'test' }, 'ldap off', '');
  assert.deepEqual(await req('bob', PASSWORDS.bob), { ok: false, reason: 'invalid' });
});

test('failover: with the first URL dead, lookups and sign-in go to the failover server', async (t) => {
  const s = await slapd(t);
  const deadPort = await freePort();
  const store = storeWith(t, ldapConfig(`ldap://127.0.0.1:${deadPort}`, { failoverUrl: s.url }));
  const dir = directoryOf(store);
  const r = await dir.lookup('bob');
  assert.equal(r.server, s.url);
  assert.equal(r.entries.length, 1);
  const primary = dir.servers()[0];
  assert.equal(primary.failures, 1);
  assert.equal(primary.state, 'live', 'one failure is not yet dead');
  await dir.lookup('bob');
  await dir.lookup('bob');
  assert.equal(dir.servers()[0].state, 'dead');
  assert.match(dir.servers()[0].lastError ?? '', /ECONNREFUSED/);
  // Dead: skipped, no more failures counted against it by normal traffic.
  const res = await signIn(store, { username: 'alice', password: PASSWORDS.alice, source: 'ssh:127.0.0.1', surface: 'ssh' });
  assert.deepEqual(res, { ok: true, user: { name: 'alice', role: 'admin' } });
  assert.equal(dir.servers()[0].failures, 3);
  assert.equal(dir.servers()[1].state, 'live');
});

test('health: dead after the dead threshold of failed checks, live again after the live threshold of successes', async (t) => {
  const s = await slapd(t);
  const cfg = ldapConfig(s.url, { health: { interval: 10, liveThreshold: 2, deadThreshold: 3 } });
  const dir = new LdapDirectory(() => cfg);
  assert.equal((await dir.check(s.url)).state, 'live');
  await s.stop();
  assert.equal((await dir.check(s.url)).state, 'live');
  assert.equal((await dir.check(s.url)).state, 'live');
  const dead = await dir.check(s.url);
  assert.equal(dead.state, 'dead');
  assert.equal(dead.failures, 3);
  // All servers dead: still tried (and still failing) rather than refusing outright.
  await assert.rejects(dir.lookup('alice'), /no directory server answered/);
  await s.start();
  assert.equal((await dir.check(s.url)).state, 'dead', 'one success is not enough');
  const live = await dir.check(s.url);
  assert.equal(live.state, 'live');
  assert.equal(live.successes, 2);
  assert.ok(live.lastChange);
  assert.equal((await dir.lookup('alice')).entries.length, 1);
});

test('chase referrals: a referral to another server is followed only when turned on', async (t) => {
  const other = await startSlapd(`dn: uid=dave,ou=people,${BASE}
objectClass: inetOrgPerson
uid: dave
cn: Dave Elsewhere
sn: Elsewhere
mail: dave@example.com
`);
  t.onTestFinished(() => { other.remove(); });
  const s = await startSlapd(`dn: ou=remote,${BASE}
objectClass: referral
objectClass: extensibleObject
ou: remote
ref: ${other.url}/ou=people,${BASE}
`);
  t.onTestFinished(() => { s.remove(); });
  const off = new LdapDirectory(() => ldapConfig(s.url));
  assert.deepEqual((await off.lookup('dave')).entries, []);
  const on = new LdapDirectory(() => ldapConfig(s.url, { chaseReferrals: true }));
  assert.deepEqual((await on.lookup('dave')).entries.map((e) => e.dn), [`uid=dave,ou=people,${BASE}`]);
});
