import type { Store } from '../appliance/config/store.ts';
import { prepared } from '../appliance/config/prepared.ts';

export interface AuditEntry {
  id: number;
  at: string;
  who: string;
  source: string;
  action: string;
  outcome: string;
}

export interface AuditFilter {
  /** Exact user name (`admin`, `token:deploy`). */
  user?: string;
  /** Source prefix: `webui` matches every `webui:<address>`. */
  source?: string;
  /** ISO time range, inclusive start, exclusive end. */
  since?: string;
  until?: string;
  /** Text in the action or the outcome (case-insensitive). */
  text?: string;
  /** Older than this entry id (paging). */
  beforeId?: number;
  limit?: number;
}

const like = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Audit entries, newest first, matching every given filter; `more` when older ones match too. */
export function queryAudit(store: Store, f: AuditFilter): { entries: AuditEntry[]; more: boolean } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (f.user) (where.push('who = ?'), args.push(f.user));
  if (f.source) (where.push("(source = ? OR source LIKE ? ESCAPE '\\')"), args.push(f.source, `${f.source.replace(/[\\%_]/g, (c) => `\\${c}`)}:%`));
  if (f.since) (where.push('at >= ?'), args.push(new Date(f.since).toISOString()));
  if (f.until) (where.push('at < ?'), args.push(new Date(f.until).toISOString()));
  if (f.text) (where.push("(action LIKE ? ESCAPE '\\' OR outcome LIKE ? ESCAPE '\\')"), args.push(like(f.text), like(f.text)));
  if (f.beforeId) (where.push('id < ?'), args.push(f.beforeId));
  const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
  const sql = `SELECT id, at, who, source, action, outcome FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
  const rows = prepared(store.db, sql).all(...args, limit + 1) as AuditEntry[];
  return { entries: rows.slice(0, limit), more: rows.length > limit };
}
