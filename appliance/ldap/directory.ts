/**
 * LDAP / Active Directory service: lookups, browsing one level at a time, sign-in of directory
 * users (found with the bind user, then bound as themselves) and their role from group
 * membership, nested groups included. Users are never imported: each sign-in asks the directory.
 * Every server (URL, then failover URL) has a health state after seed 003: dead after
 * `deadThreshold` failures in a row, live again after `liveThreshold` successful checks; dead
 * servers are skipped while another one is live. Passwords are never logged.
 */
import { Client, ResultCodeError, InvalidCredentialsError, type Entry } from 'ldapts';
import type { Store } from '../config/store.ts';
import { log } from '../log.ts';
import { OperationalError } from '../errors.ts';
import { DEFAULT_LDAP_HEALTH, NESTING_DEPTH, effectiveBaseDn, userAttributeOf, type LdapConfig } from './schema.ts';

/** AD's LDAP_MATCHING_RULE_IN_CHAIN: membership through any depth of nested groups, resolved by the server. */
export const IN_CHAIN = '1.2.840.113556.1.4.1941';

export type ServerState = 'live' | 'dead';

/** The health of one directory server as seen from the appliance. */
export interface ServerHealth {
  url: string;
  role: 'primary' | 'failover';
  state: ServerState;
  failures: number;
  successes: number;
  lastCheck: string | null;
  lastError: string | null;
  lastChange: string | null;
}

export interface DirectoryEntry {
  dn: string;
  attributes: Record<string, string[]>;
}

export type LdapSignIn =
  | { ok: true; dn: string; role: 'admin' | 'operator'; groups: string[] }
  | { ok: false; reason: 'invalid' | 'no-role' | 'unavailable'; detail: string };

/** RFC 4515 escaping of a value placed in a search filter (a user name is attacker-chosen text). */
export function escapeFilter(v: string): string {
  return v.replace(/[\\*()\0]/g, (ch) => `\\${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A connection problem (the server is down or unreachable), as opposed to an LDAP answer such as wrong credentials. */
function isConnectionError(e: unknown): boolean {
  return !(e instanceof ResultCodeError);
}

const attrs = (e: Entry): Record<string, string[]> => {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'dn') continue;
    const list = (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('base64') : String(x)));
    out[k] = list;
  }
  return out;
};

const sameDn = (a: string, b: string) => a.replace(/\s*,\s*/g, ',').toLowerCase() === b.replace(/\s*,\s*/g, ',').toLowerCase();

/** Whether `url` has the scheme and host of one of `servers` (the port may differ, as with AD's global catalog). */
export function sameServer(url: string, servers: (string | undefined)[]): boolean {
  const key = (u: string) => {
    try {
      const x = new URL(u);
      return `${x.protocol}//${x.hostname.toLowerCase()}`;
    } catch {
      return null;
    }
  };
  const k = key(url);
  return k !== null && servers.some((s) => s !== undefined && key(s) === k);
}

/** One directory configuration's servers, their health and the operations on them. */
export class LdapDirectory {
  readonly config: () => LdapConfig | undefined;
  readonly health = new Map<string, ServerHealth>();
  /** Directory users signed in since start, with the mapped groups found then: sessions keep their role from these. */
  readonly signedIn = new Map<string, string[]>();
  readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private timerInterval = 0;

  constructor(config: () => LdapConfig | undefined, now: () => number = Date.now) {
    this.config = config;
    this.now = now;
  }

  private cfg(): LdapConfig {
    const c = this.config();
    if (!c) throw new OperationalError('LDAP is not configured', 'ldap', null, 'no ldap section in the running configuration');
    return c;
  }

  /** The configured servers in priority order, with their health (new servers start live). */
  servers(c: LdapConfig | undefined = this.config()): ServerHealth[] {
    if (!c) return [];
    const list: [string, 'primary' | 'failover'][] = [[c.url, 'primary']];
    if (c.failoverUrl) list.push([c.failoverUrl, 'failover']);
    return list.map(([url, role]) => {
      let h = this.health.get(url);
      if (!h) {
        h = { url, role, state: 'live', failures: 0, successes: 0, lastCheck: null, lastError: null, lastChange: null };
        this.health.set(url, h);
      }
      h.role = role;
      return h;
    });
  }

  /** Counts one check or connection result against a server and moves it between live and dead. */
  record(url: string, ok: boolean, error?: string): ServerHealth {
    const c = this.config();
    const th = c?.health ?? DEFAULT_LDAP_HEALTH;
    const h = this.servers(c).find((s) => s.url === url) ?? this.health.get(url);
    if (!h) throw new Error(`unknown LDAP server ${url}`);
    const at = new Date(this.now()).toISOString();
    h.lastCheck = at;
    if (ok) {
      h.successes++;
      h.failures = 0;
      h.lastError = null;
      if (h.state === 'dead' && h.successes >= th.liveThreshold) {
        h.state = 'live';
        h.lastChange = at;
        log.info('LDAP server live again', { url, successes: h.successes });
      }
    } else {
      h.failures++;
      h.successes = 0;
      h.lastError = (error ?? 'failed').slice(0, 300);
      if (h.state === 'live' && h.failures >= th.deadThreshold) {
        h.state = 'dead';
        h.lastChange = at;
        log.warn('LDAP server marked dead', { url, failures: h.failures, error: h.lastError });
      }
    }
    return h;
  }

  private client(c: LdapConfig, url: string): Client {
    const ms = c.searchTimeout * 1000;
    return new Client({ url, timeout: ms, connectTimeout: Math.min(ms, 10_000), strictDN: false });
  }

  /**
   * Runs `fn` on a connection bound as the bind user, on the first live server (dead ones only
   * when none is live). Connection failures count against the server and move on to the next.
   */
  async withBound<T>(fn: (client: Client, url: string, c: LdapConfig) => Promise<T>): Promise<T> {
    const c = this.cfg();
    const all = this.servers(c);
    const live = all.filter((s) => s.state === 'live');
    const order = live.length ? live : all;
    let last: unknown = null;
    for (const s of order) {
      const client = this.client(c, s.url);
      try {
        await client.bind(c.bindDn, c.password ?? '');
        const r = await fn(client, s.url, c);
        this.record(s.url, true);
        return r;
      } catch (e) {
        last = e;
        if (!isConnectionError(e)) throw e;
        this.record(s.url, false, (e as Error).message);
      } finally {
        await client.unbind().catch(() => undefined);
      }
    }
    throw new DirectoryUnavailable(`no directory server answered: ${(last as Error | null)?.message ?? 'none configured'}`);
  }

  /** One health check of one server: connect and bind as the bind user within the search timeout. */
  async check(url: string): Promise<ServerHealth> {
    const c = this.cfg();
    const client = this.client(c, url);
    try {
      await client.bind(c.bindDn, c.password ?? '');
      return this.record(url, true);
    } catch (e) {
      if (isConnectionError(e)) return this.record(url, false, (e as Error).message);
      // The server answered (e.g. invalid bind credentials): reachable, so live, but say why the bind failed.
      const h = this.record(url, true);
      h.lastError = (e as Error).message.slice(0, 300);
      return h;
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  /** Checks every configured server once. */
  async checkAll(): Promise<ServerHealth[]> {
    const c = this.config();
    if (!c) return [];
    for (const s of this.servers(c)) await this.check(s.url);
    return this.servers(c);
  }

  /** Starts (or re-times) the background checks; follows the configured interval; a no-op while LDAP is off. */
  startMonitor(): void {
    const c = this.config();
    const every = c?.enabled ? c.health.interval * 1000 : 0;
    if (every === this.timerInterval) return;
    this.stopMonitor();
    if (!every) return;
    this.timerInterval = every;
    this.timer = setInterval(() => {
      const cur = this.config();
      if (!cur?.enabled) return this.stopMonitor();
      if (cur.health.interval * 1000 !== this.timerInterval) {
        this.stopMonitor();
        this.startMonitor();
      }
      this.checkAll().catch((e) => log.warn('LDAP health check failed', { error: (e as Error).message }));
    }, every);
    this.timer.unref();
  }

  stopMonitor(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.timerInterval = 0;
  }

  /** Searches with the configured base, size and time limits; with chase referrals on, follows referrals one hop. */
  private async search(client: Client, c: LdapConfig, base: string, opts: { scope: 'base' | 'one' | 'sub'; filter: string; attributes?: string[]; sizeLimit?: number }): Promise<Entry[]> {
    const r = await client.search(base, { scope: opts.scope, filter: opts.filter, attributes: opts.attributes, sizeLimit: opts.sizeLimit ?? 0, timeLimit: c.searchTimeout });
    const out = [...r.searchEntries];
    if (c.chaseReferrals) {
      for (const ref of r.searchReferences.slice(0, 5)) {
        const m = /^(ldaps?:\/\/[^/]+)\/?(.*)$/.exec(ref);
        if (!m) continue;
        const other = this.client(c, m[1]);
        try {
          // The bind password goes only where it was given: the same scheme and host as a
          // configured server. Anywhere else (or ldap:// for an ldaps:// server) is asked anonymously.
          if (sameServer(m[1], [c.url, c.failoverUrl])) await other.bind(c.bindDn, c.password ?? '');
          else log.info('LDAP referral to another server followed without credentials', { referral: m[1] });
          const rr = await other.search(decodeURIComponent(m[2].split('?')[0]) || base, { scope: opts.scope, filter: opts.filter, attributes: opts.attributes, sizeLimit: opts.sizeLimit ?? 0, timeLimit: c.searchTimeout });
          out.push(...rr.searchEntries);
        } catch (e) {
          log.warn('LDAP referral not followed', { referral: m[1], error: (e as Error).message });
        } finally {
          await other.unbind().catch(() => undefined);
        }
      }
    }
    return out;
  }

  /** Test a lookup: users or groups whose sign-in name, cn or mail is `name` (wildcards allowed by the caller via `*`). */
  async lookup(name: string, limit = 50): Promise<{ server: string; entries: DirectoryEntry[] }> {
    return this.withBound(async (client, url, c) => {
      const v = escapeFilter(name).replace(/\\2a/g, '*');
      const ua = userAttributeOf(c);
      const filter = `(|(${ua}=${v})(cn=${v})(mail=${v})${c.type === 'ad' ? `(userPrincipalName=${v})` : ''})`;
      const found = await this.search(client, c, effectiveBaseDn(c), { scope: 'sub', filter, attributes: ['objectClass', 'cn', ua, 'mail', 'memberOf', 'member', 'uniqueMember', 'displayName'], sizeLimit: limit });
      return { server: url, entries: found.slice(0, limit).map((e) => ({ dn: e.dn, attributes: attrs(e) })) };
    });
  }

  /** Browse the tree one level at a time: the children of `dn` (the base DN when empty). */
  async browse(dn?: string, limit = 500): Promise<{ server: string; base: string; children: { dn: string; rdn: string; objectClass: string[] }[] }> {
    return this.withBound(async (client, url, c) => {
      const base = dn || effectiveBaseDn(c);
      const found = await this.search(client, c, base, { scope: 'one', filter: '(objectClass=*)', attributes: ['objectClass'], sizeLimit: limit });
      const children = found
        .map((e) => ({ dn: e.dn, rdn: e.dn.split(/(?<!\\),/)[0], objectClass: attrs(e).objectClass ?? [] }))
        .sort((a, b) => a.rdn.localeCompare(b.rdn));
      return { server: url, base, children };
    });
  }

  /** The DN of the user who signs in as `username`, or null. */
  async findUser(client: Client, c: LdapConfig, username: string): Promise<string | null> {
    const ua = userAttributeOf(c);
    const v = escapeFilter(username);
    const filter = c.type === 'ad' ? `(&(objectClass=user)(|(${ua}=${v})(userPrincipalName=${v})))` : `(&(${ua}=${v})(!(objectClass=groupOfNames))(!(objectClass=groupOfUniqueNames)))`;
    const found = await this.search(client, c, effectiveBaseDn(c), { scope: 'sub', filter, attributes: ['dn'], sizeLimit: 2 });
    return found.length === 1 ? found[0].dn : null;
  }

  /**
   * The mapped groups `dn` belongs to, nested groups included. Active Directory resolves the chain
   * itself (LDAP_MATCHING_RULE_IN_CHAIN); other directories are walked upwards through
   * member/uniqueMember and memberOf, at most NESTING_DEPTH levels, loops ignored.
   */
  async mappedGroups(client: Client, c: LdapConfig, dn: string): Promise<string[]> {
    const wanted = c.roleMappings.map((m) => m.group);
    if (c.type === 'ad') {
      const hits: string[] = [];
      for (const g of wanted) {
        const r = await this.search(client, c, dn, { scope: 'base', filter: `(memberOf:${IN_CHAIN}:=${escapeFilter(g)})`, attributes: ['dn'] });
        if (r.length) hits.push(g);
      }
      return hits;
    }
    const seen = new Set<string>();
    let frontier = [dn];
    for (let depth = 0; depth < NESTING_DEPTH && frontier.length; depth++) {
      const next: string[] = [];
      for (const member of frontier) {
        const v = escapeFilter(member);
        const parents = await this.search(client, c, effectiveBaseDn(c), { scope: 'sub', filter: `(|(member=${v})(uniqueMember=${v}))`, attributes: ['dn'] });
        const self = await this.search(client, c, member, { scope: 'base', filter: '(objectClass=*)', attributes: ['memberOf'] }).catch(() => []);
        const via = [...parents.map((p) => p.dn), ...self.flatMap((e) => attrs(e).memberOf ?? [])];
        for (const p of via) {
          const key = p.toLowerCase();
          if (seen.has(key)) continue;
          seen.add(key);
          next.push(p);
        }
      }
      frontier = next;
    }
    return wanted.filter((g) => [...seen].some((s) => sameDn(s, g)));
  }

  /** Signs in a directory user: find the DN with the bind user, bind as the user, then the role from the mapped groups. */
  async signIn(username: string, password: string): Promise<LdapSignIn> {
    // An empty password would be an unauthenticated bind, which servers accept: never a sign-in.
    if (!password || !username) return { ok: false, reason: 'invalid', detail: 'empty user name or password' };
    let found: { dn: string | null; url: string; groups: string[] };
    try {
      found = await this.withBound(async (client, url, c) => {
        const dn = await this.findUser(client, c, username);
        return { dn, url, groups: dn ? await this.mappedGroups(client, c, dn) : [] };
      });
    } catch (e) {
      return { ok: false, reason: 'unavailable', detail: (e as Error).message };
    }
    if (!found.dn) return { ok: false, reason: 'invalid', detail: 'unknown directory user' };
    const c = this.cfg();
    const client = this.client(c, found.url);
    try {
      await client.bind(found.dn, password);
    } catch (e) {
      if (e instanceof InvalidCredentialsError || !isConnectionError(e)) return { ok: false, reason: 'invalid', detail: 'wrong password' };
      this.record(found.url, false, (e as Error).message);
      return { ok: false, reason: 'unavailable', detail: (e as Error).message };
    } finally {
      await client.unbind().catch(() => undefined);
    }
    const roles = c.roleMappings.filter((m) => found.groups.some((g) => sameDn(g, m.group))).map((m) => m.role);
    if (!roles.length) return { ok: false, reason: 'no-role', detail: 'not a member of a mapped group' };
    this.signedIn.set(username, found.groups);
    return { ok: true, dn: found.dn, role: roles.includes('admin') ? 'admin' : 'operator', groups: found.groups };
  }

  /**
   * The role of a signed-in directory user under the mappings in force now (null when LDAP is off,
   * the user's groups are no longer mapped, or the user did not sign in through this process).
   * Group membership itself is read again at the next sign-in.
   */
  roleOf(username: string): 'admin' | 'operator' | null {
    const c = this.config();
    const groups = this.signedIn.get(username);
    if (!c?.enabled || !groups) return null;
    const roles = c.roleMappings.filter((m) => groups.some((g) => sameDn(g, m.group))).map((m) => m.role);
    return roles.includes('admin') ? 'admin' : roles.length ? 'operator' : null;
  }
}

/** No configured directory server could be reached. */
export class DirectoryUnavailable extends Error {}

const directories = new WeakMap<Store, LdapDirectory>();

/** The directory of a configuration store (one per store, so health is shared by sign-in, the API and the monitor). */
export function directoryOf(store: Store): LdapDirectory {
  let d = directories.get(store);
  if (!d) {
    d = new LdapDirectory(() => store.running()?.config.ldap);
    directories.set(store, d);
  }
  return d;
}
