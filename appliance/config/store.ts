import crypto from 'node:crypto';
import fs from 'node:fs';
import { Sealer } from './sealed.ts';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Host } from '../host/index.ts';
import type { Config } from './schema.ts';

/**
 * Schema migrations, applied in order; `PRAGMA user_version` holds how many ran.
 * Append only: never edit a migration that has shipped.
 */
export const MIGRATIONS: string[] = [
  `CREATE TABLE config_state (
     name TEXT PRIMARY KEY CHECK (name IN ('running','startup')),
     revision INTEGER NOT NULL,
     json TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE revisions (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     who TEXT NOT NULL,
     source TEXT NOT NULL,
     summary TEXT NOT NULL,
     diff TEXT NOT NULL,
     json TEXT NOT NULL
   );
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     who TEXT NOT NULL,
     source TEXT NOT NULL,
     action TEXT NOT NULL,
     outcome TEXT NOT NULL
   );
   CREATE TABLE sessions (
     id TEXT PRIMARY KEY,
     username TEXT NOT NULL,
     csrf TEXT NOT NULL,
     source TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     seen_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // Sign-in lockout shared by SSH and System Manager (appliance/users/signin.ts).
  `CREATE TABLE signin_failures (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     username TEXT NOT NULL,
     source TEXT NOT NULL,
     at INTEGER NOT NULL
   );
   CREATE INDEX signin_failures_user ON signin_failures (username, at);
   CREATE TABLE lockouts (
     username TEXT PRIMARY KEY,
     since INTEGER NOT NULL,
     until INTEGER NOT NULL
   );`,
];

/** Who made a change and from where: recorded with every revision and audit entry. */
export interface Actor {
  who: string;
  /** `wizard`, `cli:ttyS0`, `ssh:192.0.2.5`, `webui:192.0.2.5`, `api`, `boot`, `import`… */
  source: string;
}

export interface Revision {
  id: number;
  at: string;
  who: string;
  source: string;
  summary: string;
  diff: string;
}

export const DB_PATH = '/var/lib/keel/keel.db';
/** The key that seals the stored passwords (appliance/config/sealed.ts): root only, beside the database. */
export const SECRETS_KEY_PATH = '/var/lib/keel/secrets.key';

/**
 * Retention. Revisions: the newest 1,000 (years of normal changes; rollback reaches any of them),
 * never the running or saved one. Audit: the newest 100,000 entries and at most 365 days (a
 * sign-in flood writes one per attempt; it must not fill the data partition). Pruned every
 * PRUNE_EVERY inserts, so the cost is spread thin.
 */
export const MAX_REVISIONS = 1000;
export const MAX_AUDIT_ROWS = 100_000;
export const MAX_AUDIT_DAYS = 365;
const PRUNE_EVERY = 100;

/** The configuration store: running and startup configurations, numbered revisions, audit log. */
export class Store {
  readonly db: Database.Database;
  private readonly sealer: Sealer;
  /**
   * How many times this store changed the running or saved configuration: readers that cache per
   * revision (webui/state.ts) look again at once after a change made through this connection.
   */
  configWrites = 0;
  constructor(file: string, key: Buffer) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.sealer = new Sealer(key);
    this.migrate();
    this.sealPlain();
  }

  /**
   * Opens (creating if needed) the store of a host: `<root>/var/lib/keel/keel.db` and its WAL
   * files, root only (0600) like the secrets key beside them, which is made on first open.
   */
  static open(host: Host): Store {
    host.files.mkdirp(path.dirname(DB_PATH), 0o700);
    // The unprivileged System Manager cannot read the root-only key file: systemd hands it over
    // as a credential (LoadCredential= in keel-serve.service).
    const cred = process.env.CREDENTIALS_DIRECTORY ? path.join(process.env.CREDENTIALS_DIRECTORY, 'secrets-key') : null;
    let key = cred && fs.existsSync(cred) ? fs.readFileSync(cred) : host.files.read(SECRETS_KEY_PATH);
    if (!key || key.length !== 32) {
      key = crypto.randomBytes(32);
      host.files.writeAtomic(SECRETS_KEY_PATH, key, 0o600, { rootOwned: true });
    }
    const file = host.files.real(DB_PATH);
    // Made 0600 before SQLite opens it: its -wal and -shm files take the database file's mode.
    if (!host.files.exists(DB_PATH)) host.files.writeAtomic(DB_PATH, Buffer.alloc(0), 0o600);
    const store = new Store(file, key);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      try {
        fs.chmodSync(f, 0o600);
      } catch {
        // -wal and -shm exist only while a connection has them open
      }
    }
    return store;
  }

  /** Seals secrets stored in the clear before sealing existed (idempotent; old revisions included). */
  private sealPlain(): void {
    const rows = [
      ...(this.db.prepare('SELECT name AS k, json FROM config_state').all() as { k: string; json: string }[]).map((r) => ({ ...r, table: 'config_state', col: 'name' })),
      ...(this.db.prepare('SELECT id AS k, json FROM revisions').all() as { k: string; json: string }[]).map((r) => ({ ...r, table: 'revisions', col: 'id' })),
    ].filter((r) => this.sealer.hasPlain(r.json));
    if (!rows.length) return;
    this.db.transaction(() => {
      for (const r of rows) this.db.prepare(`UPDATE ${r.table} SET json = ? WHERE ${r.col} = ?`).run(this.sealer.toStored(this.sealer.fromStored(r.json)), r.k);
    })();
  }

  private readonly stmts = new Map<string, Database.Statement>();
  /** A prepared statement, prepared once per connection (System Manager reads state on every request). */
  private stmt(sql: string): Database.Statement {
    let st = this.stmts.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.stmts.set(sql, st);
    }
    return st;
  }

  private migrate(): void {
    const have = this.db.pragma('user_version', { simple: true }) as number;
    for (let i = have; i < MIGRATIONS.length; i++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[i]);
        this.db.pragma(`user_version = ${i + 1}`);
      })();
    }
  }

  close(): void {
    this.db.close();
  }

  private state(name: 'running' | 'startup'): { revision: number; config: Config } | null {
    const row = this.stmt('SELECT revision, json FROM config_state WHERE name = ?').get(name) as { revision: number; json: string } | undefined;
    return row ? { revision: row.revision, config: this.sealer.fromStored(row.json) } : null;
  }
  /** The configuration in effect now (lost at reboot unless saved). */
  running(): { revision: number; config: Config } | null {
    return this.state('running');
  }
  /** The saved configuration the appliance boots with. */
  startup(): { revision: number; config: Config } | null {
    return this.state('startup');
  }
  /** True once the first-boot wizard has saved a configuration. */
  configured(): boolean {
    return this.startup() !== null;
  }
  /** True when running and startup differ (System Manager shows "unsaved changes"). */
  unsaved(): boolean {
    const r = this.running();
    const s = this.startup();
    return JSON.stringify(r?.config ?? null) !== JSON.stringify(s?.config ?? null);
  }

  /** Records a new revision and makes it the running configuration, atomically. Returns its number. */
  commitRunning(config: Config, actor: Actor, summary: string, diff: string): number {
    const at = new Date().toISOString();
    const json = this.sealer.toStored(config);
    return this.db.transaction(() => {
      const id = Number(
        this.stmt('INSERT INTO revisions (at, who, source, summary, diff, json) VALUES (?,?,?,?,?,?)')
          .run(at, actor.who, actor.source, summary, diff, json).lastInsertRowid,
      );
      this.stmt('INSERT INTO config_state (name, revision, json, updated_at) VALUES (\'running\',?,?,?) ON CONFLICT(name) DO UPDATE SET revision=excluded.revision, json=excluded.json, updated_at=excluded.updated_at')
        .run(id, json, at);
      if (id % PRUNE_EVERY === 0) this.pruneRevisions();
      this.configWrites++;
      return id;
    })();
  }

  /** Copies the running configuration to startup (`write memory`, Save). */
  saveStartup(actor: Actor): number {
    const r = this.running();
    if (!r) throw new Error('no running configuration to save');
    const at = new Date().toISOString();
    this.stmt('INSERT INTO config_state (name, revision, json, updated_at) VALUES (\'startup\',?,?,?) ON CONFLICT(name) DO UPDATE SET revision=excluded.revision, json=excluded.json, updated_at=excluded.updated_at')
      .run(r.revision, this.sealer.toStored(r.config), at);
    this.configWrites++;
    this.audit(actor, `save running-config to startup-config (revision ${r.revision})`, 'ok');
    return r.revision;
  }

  /** At boot the running configuration starts as the saved one. */
  resetRunningToStartup(): void {
    const s = this.startup();
    if (!s) return;
    this.stmt('INSERT INTO config_state (name, revision, json, updated_at) VALUES (\'running\',?,?,?) ON CONFLICT(name) DO UPDATE SET revision=excluded.revision, json=excluded.json, updated_at=excluded.updated_at')
      .run(s.revision, this.sealer.toStored(s.config), new Date().toISOString());
    this.configWrites++;
  }

  revisions(limit = 100): Revision[] {
    return this.stmt('SELECT id, at, who, source, summary, diff FROM revisions ORDER BY id DESC LIMIT ?').all(limit) as Revision[];
  }
  revisionConfig(id: number): Config | null {
    const row = this.stmt('SELECT json FROM revisions WHERE id = ?').get(id) as { json: string } | undefined;
    return row ? this.sealer.fromStored(row.json) : null;
  }

  /** Appends to the audit log. Never pass secrets in `action`. */
  audit(actor: Actor, action: string, outcome: string): void {
    const id = Number(this.stmt('INSERT INTO audit (at, who, source, action, outcome) VALUES (?,?,?,?,?)').run(new Date().toISOString(), actor.who, actor.source, action, outcome).lastInsertRowid);
    if (id % PRUNE_EVERY === 0) this.pruneAudit(id);
  }
  /** Drops revisions beyond the newest MAX_REVISIONS, keeping the running and the saved one. */
  pruneRevisions(): number {
    return this.stmt("DELETE FROM revisions WHERE id <= (SELECT MAX(id) FROM revisions) - ? AND id NOT IN (SELECT revision FROM config_state)")
      .run(MAX_REVISIONS).changes;
  }
  /** Drops audit entries beyond the newest MAX_AUDIT_ROWS or older than MAX_AUDIT_DAYS. */
  pruneAudit(newest: number, now = Date.now()): number {
    const cutoff = new Date(now - MAX_AUDIT_DAYS * 86400_000).toISOString();
    return this.stmt('DELETE FROM audit WHERE id <= ? OR at < ?').run(newest - MAX_AUDIT_ROWS, cutoff).changes;
  }
  auditLog(limit = 200): { id: number; at: string; who: string; source: string; action: string; outcome: string }[] {
    return this.stmt('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit) as never;
  }
}
