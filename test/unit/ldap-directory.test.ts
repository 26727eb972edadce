/**
 * Nested groups on Active Directory are resolved by the server with LDAP_MATCHING_RULE_IN_CHAIN
 * (1.2.840.113556.1.4.1941), one base search per mapped group on the user's own entry; slapd has
 * no such rule, so the system tests cover the walk used for other directories, and this test the
 * requests sent to AD (a recording stand-in for the connection: there is no AD server to run here).
 */
import { test, vi } from 'vitest';
import assert from 'node:assert/strict';
import type { Client } from 'ldapts';
import { LdapDirectory, IN_CHAIN } from '../../appliance/ldap/directory.ts';
import type { LdapConfig } from '../../appliance/ldap/schema.ts';

const ADMINS = 'CN=Keel Admins,OU=Groups,DC=corp,DC=example,DC=com';
const OPS = 'CN=Keel Ops (EU),OU=Groups,DC=corp,DC=example,DC=com';
const USER = 'CN=Alice,OU=People,DC=corp,DC=example,DC=com';

test('AD: one in-chain membership search per mapped group, on the user entry, group DN escaped', async () => {
  const cfg: LdapConfig = {
    enabled: true,
    type: 'ad',
    domain: 'corp.example.com',
    url: 'ldap://dc1',
    bindDn: 'keel@corp.example.com',
    password: 'x',
    searchTimeout: 30,
    chaseReferrals: false,
    roleMappings: [
      { group: ADMINS, role: 'admin' },
      { group: OPS, role: 'operator' },
    ],
    health: { interval: 60, liveThreshold: 3, deadThreshold: 3 },
  };
  const seen: { base: string; scope?: string; filter?: unknown }[] = [];
  const client = {
    search: async (base: string, o: { scope?: string; filter?: unknown }) => {
      seen.push({ base, scope: o.scope, filter: o.filter });
      // Alice is in Keel Ops only (through whatever nesting: the server answers for the chain).
      return { searchEntries: String(o.filter).includes('Keel Ops') ? [{ dn: USER }] : [], searchReferences: [] };
    },
  } as unknown as Client;
  const dir = new LdapDirectory(() => cfg);
  assert.deepEqual(await dir.mappedGroups(client, cfg, USER), [OPS]);
  assert.deepEqual(seen, [
    { base: USER, scope: 'base', filter: `(memberOf:${IN_CHAIN}:=${ADMINS})` },
    { base: USER, scope: 'base', filter: `(memberOf:${IN_CHAIN}:=CN=Keel Ops \\28EU\\29,OU=Groups,DC=corp,DC=example,DC=com)` },
  ]);
});

test('the background checks run every interval while LDAP is on, re-time on a new interval, and stop when it is off', (t) => {
  vi.useFakeTimers({ toFake: ['setInterval'] });
  t.onTestFinished(() => { vi.useRealTimers(); });
  const cfg: LdapConfig = {
    enabled: true,
    type: 'other',
    domain: 'example.com',
    url: 'ldap://127.0.0.1:1',
    bindDn: 'cn=x,dc=example,dc=com',
    password: 'x',
    searchTimeout: 1,
    chaseReferrals: false,
    roleMappings: [{ group: 'cn=g,dc=example,dc=com', role: 'admin' }],
    health: { interval: 60, liveThreshold: 3, deadThreshold: 3 },
  };
  const dir = new LdapDirectory(() => cfg);
  let runs = 0;
  dir.checkAll = async () => (runs++, []);
  dir.startMonitor();
  vi.advanceTimersByTime(59_000);
  assert.equal(runs, 0);
  vi.advanceTimersByTime(1_000);
  assert.equal(runs, 1);
  vi.advanceTimersByTime(120_000);
  assert.equal(runs, 3);
  cfg.health.interval = 10;
  vi.advanceTimersByTime(60_000); // the next tick notices the new interval
  assert.equal(runs, 4);
  vi.advanceTimersByTime(30_000);
  assert.equal(runs, 7);
  cfg.enabled = false;
  vi.advanceTimersByTime(100_000);
  assert.equal(runs, 7);
  dir.stopMonitor();
});
