/**
 * Password sign-in against the local users, with the lockout shared by SSH and System Manager:
 * after `attempts` failures for one user name within `windowMinutes`, that name is refused for
 * `lockMinutes` (or until an administrator unlocks it), whatever the password. Failures are
 * counted per user name, known or not, so a lockout tells an attacker nothing about which names
 * exist. The serial and VGA consoles are never locked out and do not add to the count: they are
 * the way back in when the network surfaces are locked.
 */
import type { Store, Actor } from '../config/store.ts';
import type { Config } from '../config/schema.ts';
import { verifySecret } from './secrets.ts';
import { DEFAULT_LOCKOUT, DEFAULT_PASSWORD_POLICY_CONFIG, type LockoutConfig, type PasswordPolicyConfig } from './schema.ts';
import { log } from '../log.ts';
import { directoryOf } from '../ldap/directory.ts';
import { prepared } from '../config/prepared.ts';

/** Where a sign-in comes from: the network surfaces are subject to lockout, the console is not. */
export type Surface = 'ssh' | 'webui' | 'console';

export type SignInResult =
  | { ok: true; user: { name: string; role: 'admin' | 'operator' } }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'locked'; until: Date };

/** A valid hash of nothing anyone knows: unknown users cost the same time as known ones. */
const DUMMY_HASH = '$scrypt$N=32768,r=8,p=1$k1zCIKH/UgpBVG0JHF94FQ==$nUxNw6hq6XwkJqFZX5mXDP8GlV5m1iJuVLIazM2QkiU=';

const SURFACE_NAME: Record<Surface, string> = { ssh: 'SSH', webui: 'System Manager', console: 'console' };

/** The lockout policy of a configuration (defaults when it sets none). */
export function lockoutPolicy(config: Config | null | undefined): LockoutConfig {
  return { ...DEFAULT_LOCKOUT, ...(config?.users.lockout ?? {}) };
}

/** The password policy of a configuration (the seed's when it sets none); rules.password() takes it as is. */
export function passwordPolicy(config: Config | null | undefined): PasswordPolicyConfig {
  return { ...DEFAULT_PASSWORD_POLICY_CONFIG, ...(config?.users.passwordPolicy ?? {}) };
}

/** Safe for a log or audit line: printable, bounded (a user name is attacker-chosen text). */
export function printableName(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 64) || '-';
}

/**
 * The name a lockout is kept under: what the directory (and our own comparison) treats as the same
 * user is one name here too, so `ALICE`, `aLice` and `" alice"` share alice's counter and lock.
 * LDAP compares user names case-insensitively with insignificant spaces; so does this.
 */
export function lockKey(username: string): string {
  return username.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

/** The lockout name of the enable secret for a signed-in user (shown as such in `show login`). */
export function enableLockKey(username: string): string {
  return `${lockKey(username)} (enable)`;
}

export interface LockState {
  username: string;
  since: Date;
  until: Date;
}

/** Lockout bookkeeping in the configuration store's database. */
export class Lockouts {
  readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }
  /** The lock on `username`, if one is in force at `now`. */
  lockedUntil(username: string, now = Date.now()): Date | null {
    const row = prepared(this.store.db, 'SELECT until FROM lockouts WHERE username = ? AND until > ?').get(lockKey(username), now) as { until: number } | undefined;
    return row ? new Date(row.until) : null;
  }
  /** Records a failure; returns the lock when this failure reached the limit. */
  fail(name: string, source: string, policy: LockoutConfig, now = Date.now()): Date | null {
    const db = this.store.db;
    const username = lockKey(name);
    return db.transaction(() => {
      prepared(db, 'INSERT INTO signin_failures (username, source, at) VALUES (?,?,?)').run(username, source, now);
      // Old failures are no longer evidence of anything; keep the table small.
      prepared(db, 'DELETE FROM signin_failures WHERE at <= ?').run(now - 24 * 3600_000);
      const n = (prepared(db, 'SELECT COUNT(*) AS n FROM signin_failures WHERE username = ? AND at > ?').get(username, now - policy.windowMinutes * 60_000) as { n: number }).n;
      if (n < policy.attempts) return null;
      const until = now + policy.lockMinutes * 60_000;
      prepared(db, 'INSERT INTO lockouts (username, since, until) VALUES (?,?,?) ON CONFLICT(username) DO UPDATE SET since=excluded.since, until=excluded.until').run(username, now, until);
      prepared(db, 'DELETE FROM signin_failures WHERE username = ?').run(username);
      return new Date(until);
    })();
  }
  /** A successful sign-in forgets earlier failures. */
  succeed(username: string): void {
    prepared(this.store.db, 'DELETE FROM signin_failures WHERE username = ?').run(lockKey(username));
  }
  /** Lifts a lock (an administrator's `clear lockout`, System Manager's Unlock). Returns whether one was in force. */
  unlock(username: string, actor: Actor, now = Date.now()): boolean {
    const had = this.lockedUntil(username, now) !== null;
    prepared(this.store.db, 'DELETE FROM lockouts WHERE username = ?').run(lockKey(username));
    prepared(this.store.db, 'DELETE FROM signin_failures WHERE username = ?').run(lockKey(username));
    this.store.audit(actor, `unlock user ${printableName(username)}`, had ? 'ok' : 'ok (was not locked)');
    if (had) log.info('user unlocked', { user: printableName(username), by: actor.who });
    return had;
  }
  /** Locks in force at `now`, soonest to expire first. */
  list(now = Date.now()): LockState[] {
    const rows = prepared(this.store.db, 'SELECT username, since, until FROM lockouts WHERE until > ? ORDER BY until').all(now) as { username: string; since: number; until: number }[];
    return rows.map((r) => ({ username: r.username, since: new Date(r.since), until: new Date(r.until) }));
  }
}

export interface SignInRequest {
  username: string;
  password: string;
  /** `ssh:192.0.2.5`, `webui:192.0.2.5`, `cli:ttyS0`… (audited) */
  source: string;
  surface: Surface;
  /** Runs the password check, e.g. through a concurrency gate (System Manager bounds parallel scrypt work). */
  verify?: (run: () => Promise<boolean>) => Promise<boolean>;
  now?: number;
}

/**
 * Checks a user name and password against the running configuration, applies and updates the
 * lockout (network surfaces only), and audits the attempt, never the password. A locked name is
 * refused even with the right password, and the password is still checked, so the answer takes
 * the same time either way.
 */
export async function signIn(store: Store, r: SignInRequest): Promise<SignInResult> {
  const config = store.running()?.config;
  const user = config?.users.local.find((u) => u.name === r.username);
  const name = printableName(r.username);
  const actor: Actor = { who: name, source: r.source };
  const what = `sign in (${SURFACE_NAME[r.surface]})`;
  const lockouts = new Lockouts(store);
  const counted = r.surface !== 'console';
  const now = r.now ?? Date.now();
  const check = () => verifySecret(r.password, user?.passwordHash ?? DUMMY_HASH);
  const ok = (await (r.verify ? r.verify(check) : check())) && user !== undefined;
  const locked = counted ? lockouts.lockedUntil(r.username, now) : null;
  if (locked) {
    store.audit(actor, what, `refused: locked out until ${locked.toISOString()}`);
    log.warn('sign-in refused: user locked out', { user: name, source: r.source, until: locked.toISOString() });
    return { ok: false, reason: 'locked', until: locked };
  }
  if (ok && user) {
    if (counted) lockouts.succeed(r.username);
    store.audit(actor, what, 'ok');
    log.info('sign-in', { user: user.name, source: r.source });
    return { ok: true, user: { name: user.name, role: user.role } };
  }
  // Not a local user: a directory user when LDAP is on (local names always win; the password goes only to the directory bind).
  const dir = !user && config?.ldap?.enabled ? await directoryOf(store).signIn(r.username, r.password) : null;
  if (dir?.ok) {
    if (counted) lockouts.succeed(r.username);
    store.audit(actor, what, `ok (LDAP ${dir.role})`);
    log.info('sign-in', { user: name, source: r.source, via: 'ldap', role: dir.role });
    return { ok: true, user: { name: r.username, role: dir.role } };
  }
  if (dir?.reason === 'unavailable') {
    // The directory being down says nothing about the password: not counted toward the lockout.
    store.audit(actor, what, 'failed: directory unavailable');
    log.warn('sign-in failed: directory unavailable', { user: name, source: r.source, error: dir.detail });
    return { ok: false, reason: 'invalid' };
  }
  store.audit(actor, what, user ? 'failed: wrong password' : dir ? `failed: LDAP ${dir.reason === 'no-role' ? 'user in no mapped group' : dir.detail}` : 'failed: unknown user');
  log.warn('sign-in failed', { user: name, source: r.source });
  if (counted) {
    const until = lockouts.fail(r.username, r.source, lockoutPolicy(config), now);
    if (until) {
      store.audit(actor, `lock out user ${name}`, `locked until ${until.toISOString()} after repeated failed sign-ins`);
      log.warn('user locked out after repeated failed sign-ins', { user: name, source: r.source, until: until.toISOString() });
    }
  }
  return { ok: false, reason: 'invalid' };
}
