import type Database from 'better-sqlite3';
import type { Store } from '../appliance/config/store.ts';
import type { Config } from '../appliance/config/schema.ts';
import { changeMark } from '../appliance/config/prepared.ts';

interface Revisions {
  runningRevision: number | null;
  startupRevision: number | null;
  unsaved: boolean;
}

/**
 * What every request needs to know of the configuration (who may do what, whether running and
 * saved differ), without parsing the whole configuration document each time. Everything is
 * derived once per configuration revision: which revisions are in effect is read from SQLite only
 * when the database changed (changeMark, looked at once per event-loop turn: another process's
 * change shows on the next turn), and again at once after a change made through this process's store.
 */
export class ConfigState {
  private readonly store: Store;
  private key = '';
  private roles = new Map<string, 'admin' | 'operator'>();
  private cfg: Config | null = null;
  private revs: Revisions = { runningRevision: null, startupRevision: null, unsaved: false };
  private gen = 0;
  /** Looked at with the database at this changeMark, after this many configuration writes of the store. */
  private mark = -1;
  private seenWrites = -1;
  // Prepared once: preparing costs more than running these.
  private readonly current: Database.Statement;
  private readonly compare: Database.Statement;
  constructor(store: Store) {
    this.store = store;
    this.current = store.db.prepare('SELECT name, revision, updated_at FROM config_state');
    this.compare = store.db.prepare("SELECT (SELECT json FROM config_state WHERE name = 'running') IS NOT (SELECT json FROM config_state WHERE name = 'startup') AS differ");
  }

  /** The role of a local user in the running configuration (saved one before the first apply), or null. */
  roleOf(username: string): 'admin' | 'operator' | null {
    this.refresh();
    return this.roles.get(username) ?? null;
  }

  /** The configuration in effect (running, else saved), parsed once per revision. Do not modify it. */
  config(): Config | null {
    this.refresh();
    return this.cfg;
  }

  private refresh(): void {
    const mark = changeMark(this.store.db);
    const writes = this.store.configWrites;
    if (mark === this.mark && writes === this.seenWrites) return;
    this.mark = mark;
    this.seenWrites = writes;
    const rows = this.current.all() as { name: 'running' | 'startup'; revision: number; updated_at: string }[];
    const running = rows.find((r) => r.name === 'running');
    const startup = rows.find((r) => r.name === 'startup');
    const key = rows.map((r) => `${r.name}:${r.revision}:${r.updated_at}`).sort().join('|');
    if (key === this.key) return;
    const c = running ? this.store.running()?.config : startup ? this.store.startup()?.config : null;
    this.roles = new Map((c?.users.local ?? []).map((u) => [u.name, u.role]));
    this.cfg = c ?? null;
    // Both are stored as JSON.stringify of the same kind of object, so text equality is equality.
    const differ = running && startup ? (this.compare.get() as { differ: number }).differ === 1 : !!(running || startup);
    this.revs = { runningRevision: running?.revision ?? null, startupRevision: startup?.revision ?? null, unsaved: differ };
    this.key = key;
    this.gen++;
  }

  /** A number that changes whenever the configuration or revisions in effect change (for caches derived from them). */
  generation(): number {
    this.refresh();
    return this.gen;
  }

  /** Running and saved differ. */
  unsaved(): boolean {
    this.refresh();
    return this.revs.unsaved;
  }

  /** The running and saved revisions (null when absent) and whether the two differ. */
  revisions(): Revisions {
    this.refresh();
    return { ...this.revs };
  }
}
