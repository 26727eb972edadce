/**
 * LDAP / Active Directory administrators in the CLI (System Manager: Security > LDAP),
 * configuration mode. The words are the schema's field names:
 *
 *   ldap directory ad|domino|other domain D url URL [failover-url URL] bind-dn DN [password P]
 *   ldap base-dn DN | search-timeout N | chase-referrals | user-attribute ATTR
 *   ldap role-mapping GROUP-DN admin|operator
 *   ldap health-check [interval N] [live-threshold N] [dead-threshold N]
 *   ldap shutdown
 *
 * each with a `no` form. They edit the `ldap` section, checked by the one schema (an enabled
 * directory needs the bind password and a role mapping; the failover URL differs from the first).
 * The `directory` line carries every field without a default, so it makes the section; a new one
 * starts shut down.
 */
import type { Config } from '../appliance/config/schema.ts';
import { MASKED_PASSWORD } from '../appliance/config/script.ts';
import { DEFAULT_LDAP_HEALTH, DEFAULT_SEARCH_TIMEOUT, LDAP_TYPE_LABELS, LDAP_TYPES, LdapHealthSchema, LdapSchema, type LdapConfig, type LdapType } from '../appliance/ldap/schema.ts';
import type { Args, ArgType, Node } from './tree.ts';
import type { Session } from './session.ts';
import { schemaInteger as integer, boundedWord as word } from './args.ts';
import type { Handler } from './commands.ts';
import type { ConfigHelpers } from './update.ts';

type N = Node<Handler>;
const kw = (k: string, help: string, more: Partial<N> = {}): N => ({ kw: k, help, ...more });
const arg = (name: string, type: ArgType, help: string, more: Partial<N> = {}): N => ({ arg: { name, type }, help, ...more });

const domainName = word('WORD', 'fqdn', 253);
const ldapUrl = word('URL', 'ldap-url', 2048);
const dn = word('WORD', 'dn', 4096);
const bindPassword = word('LINE', 'ldap-password', 1024, { secret: true });
const attribute = word('WORD', 'attribute', 256);

const P = LdapSchema.properties;
const H = LdapHealthSchema.properties;
const DIRECTORY_REQUIRED = 'set the directory first: ldap directory ad|domino|other domain DOMAIN url URL bind-dn DN';

function existing(h: ConfigHelpers, c: Config): LdapConfig {
  if (!c.ldap) h.refuse('/ldap', 'required', DIRECTORY_REQUIRED);
  return c.ldap;
}

/**
 * The `directory` line: type, domain, servers and bind user. `********` keeps the stored
 * password only for the same bind user and no new server: it is never sent anywhere it was not
 * given for. The other settings of an existing section stay.
 */
function setDirectory(h: ConfigHelpers, c: Config, a: Args, s: Session): void {
  const before = c.ldap ?? s.batchBase?.ldap;
  let password = a.password;
  if (password === MASKED_PASSWORD) {
    const servers = new Set([before?.url, before?.failoverUrl].filter(Boolean));
    if (!before?.password || before.bindDn !== a.bindDn || !servers.has(a.url) || (a.failover !== undefined && !servers.has(a.failover)))
      h.refuse('/ldap/password', 'required', `there is no stored password for ${a.bindDn} on these servers to keep; give the password`);
    password = before.password;
  }
  const cur = c.ldap;
  const { failoverUrl: _f, password: _p, ...rest } = cur ?? ({} as Partial<LdapConfig>);
  c.ldap = {
    enabled: false,
    searchTimeout: DEFAULT_SEARCH_TIMEOUT,
    chaseReferrals: false,
    roleMappings: [],
    health: { ...DEFAULT_LDAP_HEALTH },
    ...rest,
    type: a.type as LdapType,
    domain: a.domain,
    url: a.url,
    ...(a.failover !== undefined ? { failoverUrl: a.failover } : {}),
    bindDn: a.bindDn,
    ...(password !== undefined ? { password } : {}),
  };
}

/** `ldap role-mapping GROUP admin|operator`: one mapping per group; a new role replaces the old. */
function setMapping(h: ConfigHelpers, c: Config, group: string, role: 'admin' | 'operator'): void {
  const l = existing(h, c);
  const i = l.roleMappings.findIndex((m) => m.group === group);
  if (i >= 0) l.roleMappings[i] = { group, role };
  else l.roleMappings.push({ group, role });
}

/** The optional words of `ldap health-check`, in their order: each may be left out. */
function healthTail(h: ConfigHelpers, from: number): N[] {
  const run = h.change((c, a) => {
    const l = existing(h, c);
    for (const k of ['interval', 'liveThreshold', 'deadThreshold'] as const) if (a[k] !== undefined) l.health[k] = Number(a[k]);
  });
  const out: N[] = [];
  if (from <= 0) out.push(kw('interval', `Seconds between health checks of each server (default ${DEFAULT_LDAP_HEALTH.interval})`, { children: [arg('interval', integer(H.interval), 'Seconds', { run, children: healthTail(h, 1) })] }));
  if (from <= 1) out.push(kw('live-threshold', `Successful checks before a dead server is live again (default ${DEFAULT_LDAP_HEALTH.liveThreshold})`, { children: [arg('liveThreshold', integer(H.liveThreshold), 'Checks', { run, children: healthTail(h, 2) })] }));
  if (from <= 2) out.push(kw('dead-threshold', `Failures in a row before a server is marked dead (default ${DEFAULT_LDAP_HEALTH.deadThreshold})`, { children: [arg('deadThreshold', integer(H.deadThreshold), 'Failures', { run })] }));
  return out;
}

/** The `ldap` configuration node. */
export function ldapConfig(h: ConfigHelpers): N {
  const directory = h.change((c, a, s) => setDirectory(h, c, a, s));
  const password = kw('password', `Bind password (required when enabled; ${MASKED_PASSWORD}: keep the stored one)`, { children: [arg('password', bindPassword, 'Password', { run: directory })] });
  const bind = kw('bind-dn', 'Bind user: a DN, user@domain or DOMAIN\\user (Active Directory)', { children: [arg('bindDn', dn, 'Bind user', { run: directory, children: [password] })] });
  const set = (fn: (l: LdapConfig, a: Args) => void): Handler => h.change((c, a) => fn(existing(h, c), a));
  return kw('ldap', 'LDAP / Active Directory administrators: directory users sign in with a mapped role', {
    no: h.change((c) => void delete c.ldap),
    children: [
      kw('directory', 'The directory: type, domain, servers and bind user (makes the LDAP settings; a new one starts shut down)', {
        children: LDAP_TYPES.map((t) =>
          kw(t, LDAP_TYPE_LABELS[t], {
            children: [
              kw('domain', 'Directory domain, e.g. example.com; the base DN is derived from it', {
                children: [
                  arg('domain', domainName, 'Domain', {
                    children: [
                      kw('url', 'Directory URL: ldap://host[:389] or ldaps://host[:636]', {
                        children: [
                          arg('url', ldapUrl, 'URL', {
                            children: [
                              kw('failover-url', 'Failover directory URL, used while the first server is dead', { children: [arg('failover', ldapUrl, 'URL', { children: [bind] })] }),
                              bind,
                            ],
                          }),
                        ],
                      }),
                    ],
                  }),
                ],
              }),
            ],
          }),
          // The type is a keyword, not an argument: its handlers get it as `a.type`.
        ).map((n) => withType(n, n.kw!)),
      }),
      kw('base-dn', 'Search base DN when it is not the one derived from the domain', {
        no: set((l) => void delete l.baseDn),
        children: [arg('baseDn', dn, 'Base DN, like ou=Staff,dc=example,dc=com', { run: set((l, a) => void (l.baseDn = a.baseDn)) })],
      }),
      kw('search-timeout', `Search timeout in seconds (default ${DEFAULT_SEARCH_TIMEOUT})`, {
        no: set((l) => void (l.searchTimeout = DEFAULT_SEARCH_TIMEOUT)),
        children: [arg('seconds', integer(P.searchTimeout), 'Seconds', { run: set((l, a) => void (l.searchTimeout = Number(a.seconds))) })],
      }),
      kw('chase-referrals', 'Follow referrals to other directory servers (default off)', {
        run: set((l) => void (l.chaseReferrals = true)),
        no: set((l) => void (l.chaseReferrals = false)),
      }),
      kw('user-attribute', 'Attribute that holds the sign-in name (default: sAMAccountName for Active Directory, uid otherwise)', {
        no: set((l) => void delete l.userAttribute),
        children: [arg('attribute', attribute, 'Attribute name', { run: set((l, a) => void (l.userAttribute = a.attribute)) })],
      }),
      kw('role-mapping', `A directory group whose members may sign in, and with which role (up to ${P.roleMappings.maxItems}; admin wins)`, {
        no: set((l) => void (l.roleMappings = [])),
        children: [
          arg('group', dn, 'Distinguished name of the group', {
            no: set((l, a) => {
              if (!l.roleMappings.some((m) => m.group === a.group)) h.refuse('/ldap/roleMappings', 'exists', `there is no role mapping for ${a.group}`);
              l.roleMappings = l.roleMappings.filter((m) => m.group !== a.group);
            }),
            children: [
              kw('admin', 'Members sign in as administrators', { run: h.change((c, a) => setMapping(h, c, a.group, 'admin')) }),
              kw('operator', 'Members sign in read-only', { run: h.change((c, a) => setMapping(h, c, a.group, 'operator')) }),
            ],
          }),
        ],
      }),
      kw('health-check', 'Background health checks of each directory server', {
        no: set((l) => void (l.health = { ...DEFAULT_LDAP_HEALTH })),
        children: healthTail(h, 0),
      }),
      kw('shutdown', 'Turn directory sign-in off (the settings are kept)', {
        run: set((l) => void (l.enabled = false)),
        no: set((l) => void (l.enabled = true)),
      }),
    ],
  });
}

/** Gives every handler under a directory-type keyword that type as `a.type`. */
function withType(n: N, type: string): N {
  const wrap = (fn: Handler | undefined): Handler | undefined => fn && ((s, a, p) => fn(s, { ...a, type }, p));
  return { ...n, run: wrap(n.run), no: wrap(n.no), children: n.children?.map((c) => withType(c, type)) };
}
