import type Database from 'better-sqlite3';
import type { Host } from '../host/index.ts';
import type { Config } from '../config/schema.ts';
import { log } from '../log.ts';
import { checkEndpoint, type CheckOptions, type CheckResult } from './check.ts';
import { endpointsOf, type Endpoint } from './endpoints.ts';
import type { Finding } from '../health/types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS connectivity_results (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS connectivity_results_name ON connectivity_results (name, id);
`;

/** History kept: the newest 5,000 results and none older than 30 days (about 5 endpoints every 15 minutes for a week, at a few kB each). */
export const HISTORY_MAX = 5000;
export const HISTORY_DAYS = 30;

/** Connectivity results with history, in the appliance database (table `connectivity_results`). */
export class ConnectivityStore {
  readonly db: Database.Database;
  constructor(db: Database.Database) {
    this.db = db;
    db.exec(SCHEMA);
  }
  private stmts: Database.Statement[] | null = null;
  private prepared(): Database.Statement[] {
    // Prepared once: a run records up to 64 results.
    return (this.stmts ??= [
      this.db.prepare('INSERT INTO connectivity_results (at, name, status, json) VALUES (?,?,?,?)'),
      this.db.prepare('DELETE FROM connectivity_results WHERE at < ?'),
      this.db.prepare('DELETE FROM connectivity_results WHERE id <= (SELECT id FROM connectivity_results ORDER BY id DESC LIMIT 1 OFFSET ?)'),
    ]);
  }
  /** Keeps one result (runChecks prunes once per run). */
  record(r: CheckResult): void {
    this.prepared()[0].run(Date.parse(r.at), r.name, r.status, JSON.stringify(r));
  }
  /** Drops results older than HISTORY_DAYS before `now` and beyond the newest HISTORY_MAX; returns how many. */
  prune(now: number): number {
    const [, old, over] = this.prepared();
    return this.db.transaction(() => old.run(now - HISTORY_DAYS * 86400_000).changes + over.run(HISTORY_MAX).changes)();
  }
  /** The newest result of each endpoint by name. */
  latest(): Map<string, CheckResult> {
    const rows = this.db.prepare('SELECT json FROM connectivity_results WHERE id IN (SELECT MAX(id) FROM connectivity_results GROUP BY name)').all() as { json: string }[];
    return new Map(rows.map((x) => JSON.parse(x.json) as CheckResult).map((r) => [r.name, r]));
  }
  /** Results newest first, of one endpoint or all. */
  history(limit = 100, name?: string): CheckResult[] {
    const rows = (name ? this.db.prepare('SELECT json FROM connectivity_results WHERE name = ? ORDER BY id DESC LIMIT ?').all(name, limit) : this.db.prepare('SELECT json FROM connectivity_results ORDER BY id DESC LIMIT ?').all(limit)) as { json: string }[];
    return rows.map((x) => JSON.parse(x.json) as CheckResult);
  }
}

/** Endpoints of `names` (all when empty); an unknown name is an error naming the known ones. */
export function selectEndpoints(config: Config, name?: string): Endpoint[] {
  const all = endpointsOf(config);
  if (!name || name === 'all') return all;
  const one = all.filter((e) => e.name.toLowerCase() === name.toLowerCase());
  if (!one.length) throw new UnknownEndpoint(name, all.map((e) => e.name));
  return one;
}

/** A name that is not in the table. */
export class UnknownEndpoint extends Error {
  constructor(name: string, known: string[]) {
    super(`there is no endpoint ${name}${known.length ? ` (endpoints: ${known.join(', ')})` : ' (the table is empty)'}`);
  }
}

/** At most this many checks at once: a run of 64 endpoints that time out at every step (5 steps of 5 s) takes at most 8 × 25 s, inside the web server's 300 s request bound. */
export const CONCURRENCY = 8;

/**
 * Checks endpoints, at most CONCURRENCY at once; each result is recorded and handed to
 * `onResult` as it arrives (the CLI prints a row per endpoint). Results come back in table order.
 */
export async function runChecks(host: Host, db: Database.Database, config: Config, endpoints: Endpoint[], opts: CheckOptions & { onResult?: (r: CheckResult) => void } = {}): Promise<CheckResult[]> {
  const store = new ConnectivityStore(db);
  const out: CheckResult[] = new Array(endpoints.length);
  let next = 0;
  const worker = async () => {
    while (next < endpoints.length) {
      const i = next++;
      const r = await checkEndpoint(host, config, endpoints[i], opts);
      out[i] = r;
      store.record(r);
      if (r.status !== 'ok') log.info('connectivity check', { endpoint: r.name, status: r.status, stage: r.stage, message: r.message });
      opts.onResult?.(r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, endpoints.length) }, worker));
  store.prune(opts.now?.() ?? Date.now());
  return out;
}

/**
 * Health findings of connectivity results (key `connectivity.NAME`): suspected interception is
 * critical, an unreachable endpoint or a certificate problem a warning.
 */
export function connectivityFindings(results: CheckResult[]): Finding[] {
  return results.map((r) => ({
    key: `connectivity.${r.name}`,
    category: 'connectivity' as const,
    severity: r.interception ? ('critical' as const) : r.status === 'ok' ? ('ok' as const) : ('warning' as const),
    subject: `${r.role} ${r.host}:${r.port}`,
    message: r.status === 'ok' ? `Connectivity to ${r.name} (${r.host}:${r.port}): ${r.message}` : `Connectivity to ${r.name} (${r.host}:${r.port}) ${r.status}: ${r.message}`,
  }));
}
