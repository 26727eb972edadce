import type Database from 'better-sqlite3';

const cache = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/**
 * The statement for `sql` on this connection, prepared once. better-sqlite3 keeps every prepared
 * statement (about 4 KiB of native memory) until its database is closed, garbage or not, so
 * preparing per call makes a long-running process (System Manager, the health monitor) grow
 * without bound: 9 MiB per 1,000 monitor cycles before (test/bench/soak.ts). Only for SQL from a
 * bounded set of texts (never one with values written into it).
 */
export function prepared(db: Database.Database, sql: string): Database.Statement {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let st = m.get(sql);
  if (!st) m.set(sql, (st = db.prepare(sql)));
  return st;
}

// The real one, taken before any test's fake timers could replace it.
const immediate = globalThis.setImmediate;
interface Mark {
  version: number;
  changes: number;
  mark: number;
  /** Read in this event-loop turn. */
  turn: boolean;
  endTurn: () => void;
  versionSql: Database.Statement;
  changesSql: Database.Statement;
}
const marks = new WeakMap<Database.Database, Mark>();
// Two plain statements: together about 2.8 µs against 4.2 µs for one select of both from the
// pragma's table-valued function (System Manager runs them once per event-loop turn under load).
const VERSION_SQL = 'PRAGMA data_version';
const CHANGES_SQL = 'SELECT total_changes()';

/**
 * A number that changes whenever the database may have changed for this connection: another
 * connection committed (SQLite's data_version) or this one wrote (total_changes()). Read at most
 * once per event-loop turn and shared by every cache on the connection that is checked per
 * request (sessions, the configuration in effect, the health snapshot): one read transaction per
 * turn, not one per cache. A write through this connection shows on the next turn.
 */
export function changeMark(db: Database.Database): number {
  let m = marks.get(db);
  if (!m) {
    const fresh: Mark = { version: -1, changes: -1, mark: 0, turn: false, endTurn: () => (fresh.turn = false), versionSql: db.prepare(VERSION_SQL).pluck(), changesSql: db.prepare(CHANGES_SQL).pluck() };
    marks.set(db, (m = fresh));
  }
  if (m.turn) return m.mark;
  m.turn = true;
  immediate(m.endTurn).unref();
  const v = m.versionSql.get() as number;
  const c = m.changesSql.get() as number;
  if (v !== m.version || c !== m.changes) {
    m.version = v;
    m.changes = c;
    m.mark++;
  }
  return m.mark;
}
