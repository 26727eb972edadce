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
