import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { changeMark } from '../appliance/config/prepared.ts';

/** Sessions kept in memory (the live ones of a handful of administrators; beyond this the oldest is forgotten). */
const CACHE_MAX = 256;

/** Signed-in sessions end after 15 minutes without a request… */
export const IDLE_TIMEOUT_MS = 15 * 60_000;
/** …and 8 hours after sign-in whatever happens. */
export const ABSOLUTE_TIMEOUT_MS = 8 * 3600_000;
/** Last use is recorded at most this often (the idle timeout is exact to within this). */
export const SEEN_GRANULARITY_MS = 10_000;

export interface Session {
  /** The bearer id from the cookie (only its SHA-256 is stored). */
  id: string;
  username: string;
  /** Per-session CSRF token: forms carry it in `_csrf`, JSON clients in `X-CSRF-Token`. */
  csrf: string;
  source: string;
  createdAt: number;
  seenAt: number;
  expiresAt: number;
}

interface Row {
  id: string;
  username: string;
  csrf: string;
  source: string;
  created_at: number;
  seen_at: number;
  expires_at: number;
}

/** The store keeps a digest of the id, so a copy of the database does not hand out live sessions. */
function digest(id: string): string {
  return crypto.createHash('sha256').update(id).digest('hex');
}

/** Compares two tokens in constant time (false for different lengths or missing values). */
export function tokensEqual(a: string | undefined | null, b: string | undefined | null): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length === 0) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/**
 * Server-side sessions in the store's `sessions` table (migration 1).
 *
 * touch() runs on every request, so the rows of live sessions are also kept in memory, by cookie id
 * (no digest, no query on a hit). The table stays the truth: every change made here updates or drops
 * the cached row at once, and any other change to the database, by another connection (SQLite's
 * data_version) or through this one (total_changes(), which counts this object's own writes too),
 * drops them all; both are read at most once per event-loop turn (changeMark, shared with the
 * other per-request caches of the connection).
 */
export class Sessions {
  private readonly now: () => number;
  // Prepared once: touch() runs on every request, and preparing costs more than the query.
  private readonly sql: Record<'insert' | 'get' | 'remove' | 'seen' | 'removeUser' | 'renew' | 'purge', Database.Statement>;
  private readonly db: Database.Database;
  private readonly cache = new Map<string, Row>();
  /** The database's changeMark when the cached rows were last known good. */
  private mark = -1;
  constructor(db: Database.Database, now: () => number = Date.now) {
    this.now = now;
    this.db = db;
    this.sql = {
      insert: db.prepare('INSERT INTO sessions (id, username, csrf, source, created_at, seen_at, expires_at) VALUES (?,?,?,?,?,?,?)'),
      get: db.prepare('SELECT * FROM sessions WHERE id = ?'),
      remove: db.prepare('DELETE FROM sessions WHERE id = ?'),
      seen: db.prepare('UPDATE sessions SET seen_at = ? WHERE id = ?'),
      removeUser: db.prepare('DELETE FROM sessions WHERE username = ?'),
      renew: db.prepare('UPDATE sessions SET created_at = ? WHERE id = ?'),
      purge: db.prepare('DELETE FROM sessions WHERE expires_at <= ? OR seen_at <= ?'),
    };
  }

  /** Starts a session: a random 32-byte id and CSRF token. */
  create(username: string, source: string): Session {
    const id = crypto.randomBytes(32).toString('base64url');
    const csrf = crypto.randomBytes(32).toString('base64url');
    const t = this.now();
    const s: Session = { id, username, csrf, source, createdAt: t, seenAt: t, expiresAt: t + ABSOLUTE_TIMEOUT_MS };
    this.sql.insert.run(digest(id), username, csrf, source, s.createdAt, s.seenAt, s.expiresAt);
    return s;
  }

  /** The live session with this id (and marks it used), or null when unknown, idle too long or too old. */
  touch(id: string | undefined): Session | null {
    if (!id || id.length > 128) return null;
    this.sync();
    let row = this.cache.get(id);
    if (!row) {
      row = this.sql.get.get(digest(id)) as Row | undefined;
      if (!row) return null;
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(id, row);
    }
    const t = this.now();
    if (t >= row.expires_at || t - row.seen_at >= IDLE_TIMEOUT_MS) {
      this.destroy(id);
      return null;
    }
    // A write (and its fsync) per request would bound throughput; the idle clock needs no finer grain.
    if (t - row.seen_at >= SEEN_GRANULARITY_MS) {
      this.sql.seen.run(t, digest(id));
      row.seen_at = t;
    }
    return { id, username: row.username, csrf: row.csrf, source: row.source, createdAt: row.created_at, seenAt: t, expiresAt: row.expires_at };
  }

  /** Ends a session (sign-out). */
  destroy(id: string): void {
    this.cache.delete(id);
    this.sql.remove.run(digest(id));
  }

  /** Forgets the cached rows when another connection has changed the database since the last look. */
  private sync(): void {
    const mark = changeMark(this.db);
    if (mark !== this.mark) {
      this.cache.clear();
      this.mark = mark;
    }
  }

  /** Marks a session as opened now (it survives the password change its own user just made in it). */
  renew(id: string): void {
    const t = this.now();
    const row = this.cache.get(id);
    if (row) row.created_at = t;
    this.sql.renew.run(t, digest(id));
  }

  /** Ends every session of a user (e.g. when the user is removed). Returns how many. */
  destroyUser(username: string): number {
    for (const [id, row] of this.cache) if (row.username === username) this.cache.delete(id);
    return this.sql.removeUser.run(username).changes;
  }

  /** Forgets expired sessions. Returns how many. */
  purge(): number {
    const t = this.now();
    this.cache.clear();
    return this.sql.purge.run(t, t - IDLE_TIMEOUT_MS).changes;
  }
}
