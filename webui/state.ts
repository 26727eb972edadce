import type Database from 'better-sqlite3';
import type { Store } from '../appliance/config/store.ts';
import type { Config } from '../appliance/config/schema.ts';

/**
 * What every request needs to know of the configuration (who may do what, whether running and
 * saved differ), without parsing the whole configuration document each time: the user roles are
 * cached per running revision, and "unsaved" compares the stored documents in SQLite.
 */
export class ConfigState {
  private readonly store: Store;
  private key = '';
  private roles = new Map<string, 'admin' | 'operator'>();
  private cfg: Config | null = null;
  // Prepared once: preparing costs more than running these on every request.
  private readonly current: Database.Statement;
  private readonly compare: Database.Statement;
  constructor(store: Store) {
    this.store = store;
    // A primary-key lookup (running, else startup): a fourth of the cost of one query that sorts both rows.
    this.current = store.db.prepare('SELECT name, revision, updated_at FROM config_state WHERE name = ?');
    this.compare = store.db.prepare(
      "SELECT (SELECT revision FROM config_state WHERE name = 'running') AS running, (SELECT revision FROM config_state WHERE name = 'startup') AS startup, (SELECT json FROM config_state WHERE name = 'running') IS NOT (SELECT json FROM config_state WHERE name = 'startup') AS differ",
    );
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
    const row = (this.current.get('running') ?? this.current.get('startup')) as { name: string; revision: number; updated_at: string } | undefined;
    if (!row) {
      this.key = '';
      this.cfg = null;
      this.roles = new Map();
      return;
    }
    const key = `${row.name}:${row.revision}:${row.updated_at}`;
    if (key !== this.key) {
      const c = row.name === 'running' ? this.store.running()?.config : this.store.startup()?.config;
      this.roles = new Map((c?.users.local ?? []).map((u) => [u.name, u.role]));
      this.cfg = c ?? null;
      this.key = key;
    }
  }

  /** Running and saved differ. Both are stored as JSON.stringify of the same kind of object, so text equality is equality. */
  unsaved(): boolean {
    return this.revisions().unsaved;
  }

  /** The running and saved revisions (null when absent) and whether the two differ, in one query. */
  revisions(): { runningRevision: number | null; startupRevision: number | null; unsaved: boolean } {
    const r = this.compare.get() as { running: number | null; startup: number | null; differ: number };
    return { runningRevision: r.running, startupRevision: r.startup, unsaved: r.differ === 1 };
  }
}
