/**
 * Resource history: CPU, load, memory, file system use, disk I/O and per-interface traffic and
 * errors, sampled every minute into the store's SQLite database and downsampled so its size is
 * bounded: 1-minute values kept 48 hours, 15-minute averages 30 days, hourly averages a year
 * (about 14,500 rows per metric at most; README "Resource history" has the measured size).
 *
 * One row per (tier, metric, time) with the metric as a small integer: the averages of the
 * coarser tiers are one INSERT … SELECT … GROUP BY each, made when a bucket closes.
 */
import type Database from 'better-sqlite3';
import type { Host } from '../host/index.ts';
import { readResourceCounters, type ResourceCounters } from '../host/resources.ts';
import { listNics } from '../network/nics.ts';
import { log } from '../log.ts';

/** The tiers: step and how long each keeps its values. */
export const TIERS = [
  { tier: 0, stepS: 60, keepS: 48 * 3600, label: '1 minute, 48 hours' },
  { tier: 1, stepS: 15 * 60, keepS: 30 * 86400, label: '15 minutes, 30 days' },
  { tier: 2, stepS: 3600, keepS: 366 * 86400, label: '1 hour, 1 year' },
] as const;
/** How often the sampler reads the counters. */
export const SAMPLE_INTERVAL_MS = 60_000;
/** The ranges the Reporting page and the API offer. */
export const RANGES = { '24h': 86400, '7d': 7 * 86400, '30d': 30 * 86400, '1y': 365 * 86400 } as const;
export type RangeName = keyof typeof RANGES;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS resource_metric (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS resource_sample (tier INTEGER NOT NULL, metric INTEGER NOT NULL, at INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (tier, at, metric)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS resource_rollup (tier INTEGER PRIMARY KEY, done INTEGER NOT NULL);
`;

/**
 * Values per metric between two counter readings (pure). Names: `cpu.busy`, `cpu.iowait` (%),
 * `load.1|5|15`, `memory.used` (bytes), `memory.used_pct`, `swap.used`, `fs.<name>.used_pct`,
 * `fs.<name>.used`, `disk.<dev>.read|write` (bytes/s), `disk.<dev>.busy` (%),
 * `net.<if>.rx|tx` (bytes/s), `net.<if>.errors|drops` (per s). A counter that went back (a
 * reset, a device replaced) gives no value for that interval.
 */
export function valuesBetween(prev: ResourceCounters | null, cur: ResourceCounters, ifName: (kernel: string) => string = (k) => k): Record<string, number> {
  const v: Record<string, number> = {};
  v['load.1'] = cur.load[0];
  v['load.5'] = cur.load[1];
  v['load.15'] = cur.load[2];
  const m = cur.memory;
  if (m.total > 0) {
    v['memory.used'] = m.total - m.available;
    v['memory.used_pct'] = ((m.total - m.available) / m.total) * 100;
  }
  v['swap.used'] = m.swapTotal - m.swapFree;
  for (const [name, f] of Object.entries(cur.filesystems)) {
    v[`fs.${name}.used`] = f.used;
    if (f.size > 0) v[`fs.${name}.used_pct`] = (f.used / f.size) * 100;
  }
  if (!prev) return v;
  const secs = (cur.at - prev.at) / 1000;
  if (secs <= 0) return v;
  const rate = (a: number, b: number) => (b >= a ? (b - a) / secs : null);
  const put = (k: string, x: number | null) => x !== null && Number.isFinite(x) && (v[k] = x);
  const dt = cur.cpu.total - prev.cpu.total;
  if (dt > 0 && cur.cpu.busy >= prev.cpu.busy) {
    v['cpu.busy'] = ((cur.cpu.busy - prev.cpu.busy) / dt) * 100;
    v['cpu.iowait'] = (Math.max(0, cur.cpu.iowait - prev.cpu.iowait) / dt) * 100;
  }
  for (const [dev, d] of Object.entries(cur.disks)) {
    const p = prev.disks[dev];
    if (!p) continue;
    put(`disk.${dev}.read`, rate(p.readBytes, d.readBytes));
    put(`disk.${dev}.write`, rate(p.writeBytes, d.writeBytes));
    const io = rate(p.ioMs, d.ioMs);
    put(`disk.${dev}.busy`, io === null ? null : Math.min(100, io / 10));
  }
  for (const [k, n] of Object.entries(cur.interfaces)) {
    const p = prev.interfaces[k];
    if (!p) continue;
    const name = ifName(k);
    put(`net.${name}.rx`, rate(p.rxBytes, n.rxBytes));
    put(`net.${name}.tx`, rate(p.txBytes, n.txBytes));
    const e0 = p.rxErrors + p.txErrors;
    const e1 = n.rxErrors + n.txErrors;
    put(`net.${name}.errors`, rate(e0, e1));
    put(`net.${name}.drops`, rate(p.rxDropped + p.txDropped, n.rxDropped + n.txDropped));
  }
  return v;
}

export interface Point {
  /** Milliseconds since the epoch (the start of the bucket). */
  at: number;
  value: number;
}
export interface MetricSeries {
  metric: string;
  points: Point[];
}

/** The resource history tables on a store's database handle. */
export class ResourceHistory {
  readonly db: Database.Database;
  private readonly ids = new Map<string, number>();
  private readonly insert: Database.Statement;
  constructor(db: Database.Database) {
    this.db = db;
    db.exec(SCHEMA);
    this.loadNames();
    this.insert = db.prepare('INSERT OR REPLACE INTO resource_sample (tier, metric, at, value) VALUES (0, ?, ?, ?)');
  }
  /** Metric names another process (keel monitor) added since. */
  private loadNames(): void {
    for (const r of this.db.prepare('SELECT id, name FROM resource_metric').all() as { id: number; name: string }[]) this.ids.set(r.name, r.id);
  }
  private idOf(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = Number(this.db.prepare('INSERT INTO resource_metric (name) VALUES (?) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id').pluck().get(name));
      this.ids.set(name, id);
    }
    return id;
  }
  /** Records one minute's values, then closes any finished 15-minute and hourly buckets and drops what is past its tier's age. */
  record(atMs: number, values: Record<string, number>): void {
    const at = Math.floor(atMs / 1000 / 60) * 60;
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(values)) if (Number.isFinite(v)) this.insert.run(this.idOf(k), at, v);
      this.rollup(at);
    })();
  }
  private readonly stmts = new Map<string, Database.Statement>();
  private stmt(sql: string): Database.Statement {
    let st = this.stmts.get(sql);
    if (!st) this.stmts.set(sql, (st = this.db.prepare(sql)));
    return st;
  }
  /** Averages tier 0 into each coarser tier up to the bucket `at` falls in, and prunes every tier. */
  private rollup(at: number): void {
    const done = new Map((this.stmt('SELECT tier, done FROM resource_rollup').all() as { tier: number; done: number }[]).map((r) => [r.tier, r.done]));
    for (const t of TIERS.slice(1)) {
      const open = Math.floor(at / t.stepS) * t.stepS;
      const last = done.get(t.tier);
      if (last === open) continue;
      const from = last ?? (this.stmt('SELECT MIN(at) FROM resource_sample WHERE tier = 0').pluck().get() as number | null) ?? open;
      const start = Math.floor(from / t.stepS) * t.stepS;
      if (start < open) {
        // The step is written into the statement: a bound JavaScript number is a REAL, and at / 900.0 would not bucket.
        this.stmt(`INSERT OR REPLACE INTO resource_sample (tier, metric, at, value) SELECT ${t.tier}, metric, (at / ${t.stepS}) * ${t.stepS}, AVG(value) FROM resource_sample WHERE tier = 0 AND at >= ? AND at < ? GROUP BY metric, at / ${t.stepS}`).run(start, open);
      }
      this.stmt('INSERT OR REPLACE INTO resource_rollup (tier, done) VALUES (?, ?)').run(t.tier, open);
      this.stmt('DELETE FROM resource_sample WHERE tier = ? AND at < ?').run(t.tier, at - t.keepS);
    }
    this.stmt('DELETE FROM resource_sample WHERE tier = 0 AND at < ?').run(at - TIERS[0].keepS);
  }
  /** Metric names with values in the window. */
  metrics(): string[] {
    this.loadNames();
    return [...this.ids.keys()].sort();
  }
  /**
   * The series of these metrics (or of every metric starting with a prefix ending in `.`) over
   * [since, until): from the finest tier that still covers `since`, averaged to at most `maxPoints`.
   */
  series(metrics: string[], sinceMs: number, untilMs: number, maxPoints = 720, nowMs = Date.now()): MetricSeries[] {
    const since = Math.floor(sinceMs / 1000);
    const until = Math.ceil(untilMs / 1000);
    const now = Math.floor(nowMs / 1000);
    this.loadNames();
    const t = TIERS.find((x) => since >= now - x.keepS) ?? TIERS[TIERS.length - 1];
    const span = Math.round((untilMs - sinceMs) / 1000);
    const step = Math.max(t.stepS, Math.ceil(span / maxPoints / t.stepS) * t.stepS);
    const names = [...this.ids.keys()].filter((n) => metrics.some((m) => (m.endsWith('.') ? n.startsWith(m) : n === m))).sort();
    if (!names.length) return [];
    const byId = new Map(names.map((n) => [this.ids.get(n)!, { metric: n, points: [] as Point[] }]));
    const rows = this.db
      .prepare(`SELECT metric, (at / ${step}) * ${step} AS t, AVG(value) AS v FROM resource_sample WHERE tier = ? AND at >= ? AND at < ? AND metric IN (${names.map(() => '?').join(',')}) GROUP BY metric, at / ${step} ORDER BY metric, t`)
      .all(t.tier, since, until, ...byId.keys()) as { metric: number; t: number; v: number }[];
    for (const r of rows) byId.get(r.metric)!.points.push({ at: r.t * 1000, value: r.v });
    return [...byId.values()].filter((x) => x.points.length);
  }
  /** The newest minute's values (for /metrics), or null before the first sample. */
  latest(): { at: number; values: Record<string, number> } | null {
    const at = this.db.prepare('SELECT MAX(at) FROM resource_sample WHERE tier = 0').pluck().get() as number | null;
    if (at === null) return null;
    const rows = this.db.prepare('SELECT m.name AS name, s.value AS value FROM resource_sample s JOIN resource_metric m ON m.id = s.metric WHERE s.tier = 0 AND s.at = ?').all(at) as { name: string; value: number }[];
    return { at: at * 1000, values: Object.fromEntries(rows.map((r) => [r.name, r.value])) };
  }
  /** Rows per tier (the bench and the README's size table). */
  rowCounts(): Record<number, number> {
    return Object.fromEntries((this.db.prepare('SELECT tier, COUNT(*) AS n FROM resource_sample GROUP BY tier').all() as { tier: number; n: number }[]).map((r) => [r.tier, r.n]));
  }
}

/**
 * Samples the counters every minute into a ResourceHistory (in `keel monitor`, so a slow disk
 * never stalls System Manager). Interfaces are named as everywhere else (GigabitEthernetN).
 */
export class ResourceSampler {
  readonly host: Host;
  readonly history: ResourceHistory;
  private prev: ResourceCounters | null = null;
  private timer: NodeJS.Timeout | null = null;
  private names = new Map<string, string>();
  private namesAt = 0;
  constructor(host: Host, history: ResourceHistory) {
    this.host = host;
    this.history = history;
  }
  private ifName(kernel: string): string {
    if (Date.now() - this.namesAt > 600_000) {
      this.names = new Map(listNics(this.host).filter((n) => n.ifname).map((n) => [n.ifname!, n.name]));
      this.namesAt = Date.now();
    }
    return this.names.get(kernel) ?? kernel;
  }
  /** One reading: recorded when there is a previous one to make rates from (the first only primes). */
  sample(now = Date.now()): Record<string, number> {
    const cur = readResourceCounters({ data: this.host.files.real('/var/lib/keel'), root: this.host.files.real('/') }, undefined, now);
    const values = valuesBetween(this.prev, cur, (k) => this.ifName(k));
    if (this.prev) this.history.record(now, values);
    this.prev = cur;
    return values;
  }
  start(intervalMs = SAMPLE_INTERVAL_MS): void {
    const tick = () => {
      try {
        this.sample();
      } catch (e) {
        log.warn('resource sample failed', { error: (e as Error).message });
      }
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Each metric's Prometheus family: name, help, and the label its middle part becomes. */
const FAMILIES: { re: RegExp; name: string; help: string; label?: string }[] = [
  { re: /^cpu\.busy$/, name: 'keel_cpu_busy_percent', help: 'CPU time not idle nor waiting for I/O over the last minute, percent of all CPUs.' },
  { re: /^cpu\.iowait$/, name: 'keel_cpu_iowait_percent', help: 'CPU time waiting for I/O over the last minute, percent.' },
  { re: /^load\.1$/, name: 'node_load1', help: '1m load average.' },
  { re: /^load\.5$/, name: 'node_load5', help: '5m load average.' },
  { re: /^load\.15$/, name: 'node_load15', help: '15m load average.' },
  { re: /^memory\.used$/, name: 'keel_memory_used_bytes', help: 'Memory in use (total less available), bytes.' },
  { re: /^memory\.used_pct$/, name: 'keel_memory_used_percent', help: 'Memory in use, percent of total.' },
  { re: /^swap\.used$/, name: 'keel_swap_used_bytes', help: 'Swap in use, bytes.' },
  { re: /^fs\.(.+)\.used$/, name: 'keel_filesystem_used_bytes', help: 'File system space in use, bytes.', label: 'filesystem' },
  { re: /^fs\.(.+)\.used_pct$/, name: 'keel_filesystem_used_percent', help: 'File system space in use, percent.', label: 'filesystem' },
  { re: /^disk\.(.+)\.read$/, name: 'keel_disk_read_bytes_per_second', help: 'Bytes read per second over the last minute.', label: 'device' },
  { re: /^disk\.(.+)\.write$/, name: 'keel_disk_written_bytes_per_second', help: 'Bytes written per second over the last minute.', label: 'device' },
  { re: /^disk\.(.+)\.busy$/, name: 'keel_disk_busy_percent', help: 'Time the device was busy with I/O over the last minute, percent.', label: 'device' },
  { re: /^net\.(.+)\.rx$/, name: 'keel_network_receive_bytes_per_second', help: 'Bytes received per second over the last minute.', label: 'interface' },
  { re: /^net\.(.+)\.tx$/, name: 'keel_network_transmit_bytes_per_second', help: 'Bytes sent per second over the last minute.', label: 'interface' },
  { re: /^net\.(.+)\.errors$/, name: 'keel_network_errors_per_second', help: 'Receive and transmit errors per second over the last minute.', label: 'interface' },
  { re: /^net\.(.+)\.drops$/, name: 'keel_network_drops_per_second', help: 'Receive and transmit drops per second over the last minute.', label: 'interface' },
];

/** The newest minute of the resource history in the Prometheus text format 0.0.4 (gauges). */
export function renderResourceMetrics(latest: { at: number; values: Record<string, number> } | null): string {
  if (!latest) return '';
  const out: string[] = [];
  for (const f of FAMILIES) {
    const hits = Object.entries(latest.values)
      .map(([k, v]) => ({ m: f.re.exec(k), v }))
      .filter((x) => x.m && Number.isFinite(x.v))
      .sort((a, b) => a.m![0].localeCompare(b.m![0]));
    if (!hits.length) continue;
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} gauge`);
    for (const h of hits) out.push(`${f.name}${f.label ? `{${f.label}="${h.m![1].replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"}` : ''} ${h.v}`);
  }
  out.push('# HELP keel_resource_sample_timestamp_seconds When the newest resource sample was taken.', '# TYPE keel_resource_sample_timestamp_seconds gauge', `keel_resource_sample_timestamp_seconds ${latest.at / 1000}`);
  return out.join('\n') + '\n';
}
