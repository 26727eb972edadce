/**
 * API tokens for automation: made by an administrator, shown once, stored only as a SHA-256
 * digest (the secret is 32 random bytes, so a fast digest is enough), sent as
 * `Authorization: Bearer keel_<id>_<secret>`, revocable. Every change is audited.
 */
import crypto from 'node:crypto';
import type { Store, Actor } from '../config/store.ts';
import { printableName } from '../users/signin.ts';
import { log } from '../log.ts';
import { prepared } from '../config/prepared.ts';

export type TokenRole = 'admin' | 'operator';

export interface TokenInfo {
  id: string;
  name: string;
  role: TokenRole;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface Row {
  id: string;
  name: string;
  role: TokenRole;
  digest: string;
  created_by: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

const TOKEN = /^keel_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A token made without an expiry lasts this long: a forgotten automation secret does not live for ever. */
export const DEFAULT_TOKEN_DAYS = 90;

function digest(secret: string): Buffer {
  return crypto.createHash('sha256').update(secret).digest();
}

function info(r: Row): TokenInfo {
  return { id: r.id, name: r.name, role: r.role, createdBy: r.created_by, createdAt: r.created_at, expiresAt: r.expires_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at };
}

/** API tokens in the configuration store's database (own table, created on first use). */
export class ApiTokens {
  readonly store: Store;
  private readonly now: () => number;
  private readonly creatorAllowed: (name: string, role: TokenRole) => boolean;
  /**
   * `creatorAllowed` says whether the user who made a token may still hold it (still there, still
   * an administrator): a token never outlives its maker's account or role.
   */
  constructor(store: Store, now: () => number = Date.now, creatorAllowed: (name: string, role: TokenRole) => boolean = () => true) {
    this.store = store;
    this.now = now;
    this.creatorAllowed = creatorAllowed;
    store.db.exec(`CREATE TABLE IF NOT EXISTS api_tokens (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('admin','operator')),
      digest TEXT NOT NULL,
      created_by TEXT NOT NULL,
      created_at TEXT NOT NULL,
      expires_at TEXT,
      last_used_at TEXT,
      revoked_at TEXT
    )`);
  }

  /** Makes a token; the returned secret is the only copy (shown once). */
  create(name: string, role: TokenRole, actor: Actor, expiresDays?: number): { token: string; info: TokenInfo } {
    const id = crypto.randomBytes(8).toString('hex');
    const secret = crypto.randomBytes(32).toString('base64url');
    const at = new Date(this.now());
    const expires = new Date(at.getTime() + (expiresDays ?? DEFAULT_TOKEN_DAYS) * 86400_000).toISOString();
    prepared(this.store.db, 'INSERT INTO api_tokens (id, name, role, digest, created_by, created_at, expires_at) VALUES (?,?,?,?,?,?,?)')
      .run(id, name, role, digest(secret).toString('hex'), actor.who, at.toISOString(), expires);
    this.store.audit(actor, `create API token ${id} "${printableName(name)}" role ${role} expires ${expires}`, 'ok');
    log.info('API token created', { id, role, by: actor.who });
    return { token: `keel_${id}_${secret}`, info: this.get(id)! };
  }

  get(id: string): TokenInfo | null {
    const r = prepared(this.store.db, 'SELECT * FROM api_tokens WHERE id = ?').get(id) as Row | undefined;
    return r ? info(r) : null;
  }

  list(): TokenInfo[] {
    return (prepared(this.store.db, 'SELECT * FROM api_tokens ORDER BY created_at DESC').all() as Row[]).map(info);
  }

  /** Revokes a token at once. Returns false when there is no such live token. */
  revoke(id: string, actor: Actor): boolean {
    const n = prepared(this.store.db, 'UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(new Date(this.now()).toISOString(), id).changes;
    this.store.audit(actor, `revoke API token ${printableName(id)}`, n ? 'ok' : 'refused: no such live token');
    if (n) log.info('API token revoked', { id, by: actor.who });
    return n > 0;
  }

  /** Revokes every live token a user made (the user was deleted or is no longer an administrator). */
  revokeMadeBy(username: string, why: string): number {
    const rows = prepared(this.store.db, 'SELECT id FROM api_tokens WHERE created_by = ? AND revoked_at IS NULL').all(username) as { id: string }[];
    for (const r of rows) this.revokeRow(r.id, why);
    return rows.length;
  }
  private revokeRow(id: string, why: string): void {
    const n = prepared(this.store.db, 'UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(new Date(this.now()).toISOString(), id).changes;
    if (!n) return;
    this.store.audit({ who: 'keel', source: 'tokens' }, `revoke API token ${id}`, `ok: ${why}`);
    log.info('API token revoked', { id, why });
  }
  /** The live token a bearer value names, or null (unknown, wrong secret, revoked or expired). */
  verify(bearer: string | undefined): TokenInfo | null {
    const m = TOKEN.exec(bearer ?? '');
    if (!m) return null;
    const r = prepared(this.store.db, 'SELECT * FROM api_tokens WHERE id = ?').get(m[1]) as Row | undefined;
    const want = r ? Buffer.from(r.digest, 'hex') : crypto.randomBytes(32);
    const ok = crypto.timingSafeEqual(digest(m[2]), want);
    if (!r || !ok || r.revoked_at) return null;
    const t = this.now();
    if (r.expires_at && Date.parse(r.expires_at) <= t) return null;
    if (!this.creatorAllowed(r.created_by, r.role)) {
      this.revokeRow(r.id, `its maker ${printableName(r.created_by)} is no longer an administrator`);
      return null;
    }
    // Last use to the minute is enough, and keeps the database quiet under load.
    if (!r.last_used_at || t - Date.parse(r.last_used_at) > 60_000) {
      r.last_used_at = new Date(t).toISOString();
      prepared(this.store.db, 'UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(r.last_used_at, r.id);
    }
    return info(r);
  }
}
