/**
 * `ldap ...` in configuration mode: the directory line (bind password masked and kept only for the
 * same bind user and servers), base DN, search timeout, referrals, user attribute, role mappings,
 * health checks, shutdown; refusals by the one schema naming the field and rule, `?` help, and
 * the show running-config round trip with every field set.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { toScript } from '../../appliance/config/script.ts';
import type { Config } from '../../appliance/config/schema.ts';
import { scriptToConfig } from '../../cli/script.ts';
import { rootsFor } from '../../cli/commands.ts';
import { complete, parse } from '../../cli/parse.ts';
import { cliSession, configured } from '../helpers/cli.ts';

process.env.KEEL_LOG = 'silent';

const ldap = (c: Awaited<ReturnType<typeof cliSession>>) => c.store.running()!.config.ldap;
const DIR = 'ldap directory ad domain example.com url ldaps://dc1.example.com:636';
const GROUP = '"CN=Keel Admins,OU=Groups,DC=example,DC=com"';

test('ldap directory and every setting, with their no forms', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.equal(await c.run(`${DIR} bind-dn "EXAMPLE\\\\svc-keel"`), '');
  assert.deepEqual(ldap(c), {
    enabled: false,
    searchTimeout: 30,
    chaseReferrals: false,
    roleMappings: [],
    health: { interval: 60, liveThreshold: 3, deadThreshold: 3 },
    type: 'ad',
    domain: 'example.com',
    url: 'ldaps://dc1.example.com:636',
    bindDn: 'EXAMPLE\\svc-keel',
  }, 'a new directory starts shut down with the defaults');
  assert.equal(await c.run('ldap base-dn "OU=Staff,DC=example,DC=com"'), '');
  assert.equal(await c.run('ldap search-timeout 45'), '');
  assert.equal(await c.run('ldap chase-referrals'), '');
  assert.equal(await c.run('ldap user-attribute userPrincipalName'), '');
  assert.equal(await c.run(`ldap role-mapping ${GROUP} operator`), '');
  assert.equal(await c.run(`ldap role-mapping ${GROUP} admin`), '', 'a new role replaces the old');
  assert.equal(await c.run('ldap role-mapping CN=Ops,DC=example,DC=com operator'), '');
  assert.equal(await c.run('ldap health-check interval 120'), '');
  assert.equal(await c.run('ldap health-check dead-threshold 5'), '');
  assert.equal(await c.run('ldap health-check live-threshold 2 dead-threshold 7'), '');
  let l = ldap(c)!;
  assert.deepEqual(
    [l.baseDn, l.searchTimeout, l.chaseReferrals, l.userAttribute, l.roleMappings, l.health],
    ['OU=Staff,DC=example,DC=com', 45, true, 'userPrincipalName', [{ group: 'CN=Keel Admins,OU=Groups,DC=example,DC=com', role: 'admin' }, { group: 'CN=Ops,DC=example,DC=com', role: 'operator' }], { interval: 120, liveThreshold: 2, deadThreshold: 7 }],
  );
  assert.equal(await c.run(`${DIR} failover-url ldaps://dc2.example.com:636 bind-dn svc-keel@example.com password Bind-Pass1`), '');
  l = ldap(c)!;
  assert.deepEqual([l.failoverUrl, l.bindDn, l.password, l.searchTimeout], ['ldaps://dc2.example.com:636', 'svc-keel@example.com', 'Bind-Pass1', 45], 'the directory line keeps the other settings');
  assert.equal(await c.run('no ldap shutdown'), '');
  assert.equal(ldap(c)!.enabled, true);
  assert.equal(
    await c.run('do show running-config | include ^(no )?ldap'),
    [
      `${DIR} failover-url ldaps://dc2.example.com:636 bind-dn svc-keel@example.com password ********`,
      'ldap base-dn "OU=Staff,DC=example,DC=com"',
      'ldap search-timeout 45',
      'ldap chase-referrals',
      'ldap user-attribute userPrincipalName',
      `ldap role-mapping ${GROUP} admin`,
      'ldap role-mapping "CN=Ops,DC=example,DC=com" operator',
      'ldap health-check interval 120 live-threshold 2 dead-threshold 7',
      'no ldap shutdown',
      '',
    ].join('\n'),
  );
  // The masked password is kept for the same bind user, and for fewer servers; the state stays.
  assert.equal(await c.run(`${DIR} bind-dn svc-keel@example.com password ********`), '');
  assert.deepEqual([ldap(c)!.password, ldap(c)!.failoverUrl, ldap(c)!.enabled], ['Bind-Pass1', undefined, true]);
  assert.equal(await c.run('no ldap base-dn'), '');
  assert.equal(await c.run('no ldap search-timeout'), '');
  assert.equal(await c.run('no ldap chase-referrals'), '');
  assert.equal(await c.run('no ldap user-attribute'), '');
  assert.equal(await c.run('no ldap health-check'), '');
  assert.equal(await c.run('no ldap role-mapping CN=Ops,DC=example,DC=com'), '');
  l = ldap(c)!;
  assert.deepEqual([l.baseDn, l.searchTimeout, l.chaseReferrals, l.userAttribute, l.health, l.roleMappings.length], [undefined, 30, false, undefined, { interval: 60, liveThreshold: 3, deadThreshold: 3 }, 1]);
  assert.equal(await c.run('ldap shutdown'), '');
  assert.equal(await c.run('no ldap role-mapping'), '');
  assert.deepEqual(ldap(c)!.roleMappings, []);
  assert.equal(await c.run('no ldap'), '');
  assert.equal(ldap(c), undefined);
  assert.doesNotMatch(await c.run('do show running-config'), /ldap/);
  for (const a of c.store.auditLog(1000)) assert.ok(!`${a.action} ${a.outcome}`.includes('Bind-Pass1'), a.action);
  for (const r of c.store.revisions(1000)) assert.ok(!`${r.summary} ${r.diff}`.includes('Bind-Pass1'));
  assert.ok(!c.s.history.join('\n').includes('Bind-Pass1'));
});

test('ldap refusals come from the one schema, name the field and rule, and change nothing', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  for (const line of ['ldap base-dn dc=example,dc=com', 'ldap shutdown', `ldap role-mapping ${GROUP} admin`, 'ldap health-check interval 30'])
    assert.match(await c.run(line), /^% Invalid ldap \(required\): set the directory first/, line);
  await c.run(`${DIR} bind-dn svc@example.com password Bind-Pass1`);
  const rev = c.store.running()!.revision;
  const cases: [string, RegExp][] = [
    ['ldap directory ad domain "not a domain" url ldap://dc.example.com bind-dn x', /^% Invalid ldap domain \(fqdn\).*\n% Nothing was changed\.\n$/],
    ['ldap directory ad domain example.com url http://dc.example.com bind-dn x', /% Invalid ldap url \([a-zA-Z]+\)/],
    ['ldap directory ad domain example.com url ldap://dc.example.com failover-url ldap://dc.example.com/ bind-dn x', /% Invalid ldap failover-url \(distinct\): the failover URL must differ/],
    [`${DIR} bind-dn other@example.com password ********`, /% Invalid ldap password \(required\): there is no stored password for other@example.com/],
    ['ldap directory ad domain example.com url ldaps://evil.example.net:636 bind-dn svc@example.com password ********', /% Invalid ldap password \(required\)/],
    [`${DIR} failover-url ldaps://evil.example.net:636 bind-dn svc@example.com password ********`, /% Invalid ldap password \(required\)/],
    ['ldap base-dn example', /% Invalid ldap base-dn \([a-zA-Z]+\)/],
    ['ldap search-timeout 0', /% Invalid ldap search-timeout \([a-zA-Z]+\)/],
    ['ldap search-timeout 301', /% Invalid ldap search-timeout \([a-zA-Z]+\)/],
    ['ldap user-attribute 1uid', /% Invalid ldap user-attribute \([a-zA-Z]+\)/],
    ['ldap role-mapping Admins admin', /% Invalid ldap role-mappings #1 group \([a-zA-Z]+\)/],
    ['no ldap role-mapping CN=None,DC=example,DC=com', /% Invalid ldap role-mappings \(exists\)/],
    ['ldap health-check interval 5', /% Invalid ldap health interval \([a-zA-Z]+\)/],
    ['ldap health-check live-threshold 11', /% Invalid ldap health live-threshold \([a-zA-Z]+\)/],
    ['ldap health-check dead-threshold 1001', /% Invalid ldap health dead-threshold \([a-zA-Z]+\)/],
    ['no ldap shutdown', /% Invalid ldap role-mappings \(required\): map at least one group/],
    ['ldap directory novell domain example.com', /% Invalid input/],
  ];
  for (const [line, re] of cases) assert.match(await c.run(line), re, line);
  await c.run(`ldap role-mapping ${GROUP} admin`);
  assert.match(await c.run(`${DIR} bind-dn svc@example.com`), /^$/, 'shut down, the password may go');
  assert.match(await c.run('no ldap shutdown'), /% Invalid ldap password \(required\): a bind password is required when LDAP is enabled/);
  assert.equal(c.store.running()!.revision, rev + 2, 'only the mapping and the password-less line applied');
  const op = await cliSession(t, { role: 'operator' });
  op.s.mode = 'config';
  assert.match(await op.run('no ldap'), /% Permission denied/);
});

test('ldap help and completion come from the tree', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.match(await c.run('ldap ?'), /base-dn[\s\S]*chase-referrals[\s\S]*directory[\s\S]*health-check[\s\S]*role-mapping[\s\S]*search-timeout[\s\S]*shutdown[\s\S]*user-attribute/);
  assert.match(await c.run('ldap directory ?'), /ad +Active Directory\n +domino +Domino\n +other +Other/);
  assert.match(await c.run(`${DIR} ?`), /bind-dn +Bind user[\s\S]*failover-url +Failover directory URL/);
  assert.doesNotMatch(await c.run(`${DIR} ?`), /<cr>/, 'the bind user is required');
  assert.match(await c.run(`${DIR} bind-dn x ?`), /password[\s\S]*<cr>/);
  assert.match(await c.run('ldap search-timeout ?'), /<1-300> +Seconds/);
  assert.match(await c.run('ldap health-check interval 60 ?'), /dead-threshold[\s\S]*live-threshold[\s\S]*<cr>/);
  const roots = rootsFor('config');
  assert.deepEqual(complete(roots, 'ldap role-mapping CN=A,DC=b ').words, ['admin', 'operator']);
  assert.deepEqual(complete(roots, 'no ldap ').words.sort(), ['base-dn', 'chase-referrals', 'health-check', 'role-mapping', 'search-timeout', 'shutdown', 'user-attribute']);
});

/** Every ldap field set: a Domino directory with failover, base DN, referrals, mappings, health checks. */
function richLdap(): Config {
  const c = configured();
  c.ldap = {
    enabled: true,
    type: 'domino',
    domain: 'corp.example.com',
    baseDn: 'O=Example Corp',
    url: 'ldap://ldap1.corp.example.com:389',
    failoverUrl: 'ldaps://ldap2.corp.example.com:636/',
    bindDn: 'CN=Keel Bind,O=Example Corp',
    password: 'Bind "pass" 1',
    searchTimeout: 12,
    chaseReferrals: true,
    userAttribute: 'mail',
    roleMappings: [
      { group: 'CN=Keel Admins,O=Example Corp', role: 'admin' },
      { group: 'CN=Keel Operators,O=Example Corp', role: 'operator' },
    ],
    health: { interval: 600, liveThreshold: 10, deadThreshold: 1000 },
  };
  return c;
}

test('round trip: the ldap lines of show running-config load back to the same section', async (t) => {
  const { host, store } = await cliSession(t);
  const rich = richLdap();
  const script = toScript(rich);
  const mine = script.filter((l) => /^(no )?ldap /.test(l));
  assert.deepEqual(mine, [
    'ldap directory domino domain corp.example.com url ldap://ldap1.corp.example.com:389 failover-url ldaps://ldap2.corp.example.com:636/ bind-dn "CN=Keel Bind,O=Example Corp" password ********',
    'ldap base-dn "O=Example Corp"',
    'ldap search-timeout 12',
    'ldap chase-referrals',
    'ldap user-attribute mail',
    'ldap role-mapping "CN=Keel Admins,O=Example Corp" admin',
    'ldap role-mapping "CN=Keel Operators,O=Example Corp" operator',
    'ldap health-check interval 600 live-threshold 10 dead-threshold 1000',
    'no ldap shutdown',
  ]);
  for (const line of mine) assert.ok(parse(rootsFor('config'), line).ok, line);
  const r = await scriptToConfig(host, store, script, rich);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config!.ldap, rich.ldap);
  assert.deepEqual(toScript(r.config!), script);
  // Over a configuration without the password, the masked one cannot be made up.
  const bare = await scriptToConfig(host, store, script, configured());
  assert.equal(bare.config, null);
  assert.match(bare.errors.join('\n'), /ldap directory .*\n% Invalid ldap password \(required\)/);
  // A script naming another server does not carry the stored password to it.
  const moved = await scriptToConfig(host, store, script.map((l) => l.replace('ldap1.corp', 'rogue.corp')), rich);
  assert.equal(moved.config, null);
  // A shut-down directory with defaults only comes back the same.
  const plain = configured();
  plain.ldap = { enabled: false, type: 'other', domain: 'example.org', url: 'ldap://ds.example.org', bindDn: 'uid=keel,dc=example,dc=org', searchTimeout: 30, chaseReferrals: false, roleMappings: [], health: { interval: 60, liveThreshold: 3, deadThreshold: 3 } };
  assert.deepEqual(toScript(plain).filter((l) => /ldap/.test(l)), ['ldap directory other domain example.org url ldap://ds.example.org bind-dn "uid=keel,dc=example,dc=org"', 'ldap shutdown']);
  const p = await scriptToConfig(host, store, toScript(plain), configured());
  assert.deepEqual(p.errors, []);
  assert.deepEqual(p.config!.ldap, plain.ldap);
  // A script without ldap lines leaves no ldap section (the script is the whole configuration).
  const none = await scriptToConfig(host, store, toScript(configured()), rich);
  assert.deepEqual(none.errors, []);
  assert.equal(none.config!.ldap, undefined);
});
