import type Database from 'better-sqlite3';
import type { Host } from '../host/index.ts';
import type { EmailConfig } from '../email/schema.ts';
import { localBmcPresent, type BmcTarget } from '../host/ipmi.ts';
import { log } from '../log.ts';
import { emailChannel, syslogChannel, wanted, type Channel, type Notification } from './channels.ts';
import { IpmiProbe, selSeverity, sensorFindings, type SelEvent } from './ipmi.ts';
import { panelLine } from './leds.ts';
import type { NicList, NicSample } from './nic.ts';
import { HEALTH_DEFAULTS, type HealthConfig } from './schema.ts';
import { collectHealth, type HealthSnapshot } from './snapshot.ts';
import type { Finding, Severity } from './types.ts';
import { prepared, changeMark } from '../config/prepared.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS health_state (key TEXT PRIMARY KEY, category TEXT NOT NULL, severity TEXT NOT NULL, message TEXT NOT NULL, since INTEGER NOT NULL, updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS health_history (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, key TEXT NOT NULL, severity TEXT NOT NULL, previous TEXT, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS health_history_at ON health_history (at);
CREATE TABLE IF NOT EXISTS health_alerts (key TEXT PRIMARY KEY, severity TEXT NOT NULL, message TEXT NOT NULL, raised_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS health_kv (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

export interface HistoryEntry {
  id: number;
  at: number;
  key: string;
  severity: Severity;
  previous: Severity | null;
  message: string;
}

/** Health state, history and open alerts, in the appliance database (tables `health_*`). */
export class HealthStore {
  readonly db: Database.Database;
  private sevStmt: Database.Statement | null = null;
  constructor(db: Database.Database) {
    this.db = db;
    db.exec(SCHEMA);
  }
  state(): { key: string; category: string; severity: Severity; message: string; since: number }[] {
    return prepared(this.db, 'SELECT key, category, severity, message, since FROM health_state ORDER BY key').all() as never;
  }
  severities(): Map<string, Severity> {
    this.sevStmt ??= prepared(this.db, 'SELECT key, severity FROM health_state');
    return new Map((this.sevStmt.all() as { key: string; severity: Severity }[]).map((r) => [r.key, r.severity]));
  }
  history(limit = 200, key?: string): HistoryEntry[] {
    return (key ? prepared(this.db, 'SELECT * FROM health_history WHERE key = ? ORDER BY id DESC LIMIT ?').all(key, limit) : prepared(this.db, 'SELECT * FROM health_history ORDER BY id DESC LIMIT ?').all(limit)) as HistoryEntry[];
  }
  alerts(): { key: string; severity: Severity; message: string; raised_at: number }[] {
    return prepared(this.db, 'SELECT * FROM health_alerts ORDER BY raised_at').all() as never;
  }
  private getStmt: Database.Statement | null = null;
  get(name: string): string | null {
    // Prepared once: System Manager reads the latest snapshot for every dashboard.
    this.getStmt ??= prepared(this.db, 'SELECT value FROM health_kv WHERE name = ?');
    return (this.getStmt.get(name) as { value: string } | undefined)?.value ?? null;
  }
  set(name: string, value: string): void {
    prepared(this.db, 'INSERT INTO health_kv (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value').run(name, value);
    this.latestSeen = -1;
  }
  private latestRaw: string | null = null;
  private latestParsed: HealthSnapshot | null = null;
  /** The database's changeMark when latest() last read the snapshot. */
  private latestSeen = -1;
  /**
   * The snapshot of the monitor's last full cycle, as it recorded it: the monitor runs in its
   * own process (`keel monitor`) and System Manager reads it here. Read again only when the
   * database changed (the snapshot is tens of kilobytes: copying it out for every dashboard cost
   * a tenth of the page's time), parsed again only when it changed.
   */
  latest(): HealthSnapshot | null {
    // Looked for once per event-loop turn (changeMark): even that is a read transaction.
    const mark = changeMark(this.db);
    if (mark === this.latestSeen) return this.latestParsed;
    this.latestSeen = mark;
    const raw = this.get('latest');
    if (raw !== this.latestRaw) {
      this.latestRaw = raw;
      this.latestParsed = raw ? (JSON.parse(raw) as HealthSnapshot) : null;
    }
    return this.latestParsed;
  }

  /**
   * Records findings: state changes go to history; alerts are raised, changed or cleared.
   * Returns the notifications to send. `unknown` neither raises nor clears: a probe that could
   * not run says nothing about the part. `complete` lists the key prefixes this batch covers
   * fully, so keys of those prefixes that disappeared (a removed array) clear.
   */
  record(findings: Finding[], at: number, complete: string[] = []): Notification[] {
    const out: Notification[] = [];
    const prevState = this.severities();
    const alerts = new Map(this.alerts().map((a) => [a.key, a]));
    const { upsert, hist, raise, clear, delState } = this.stmts();
    this.db.transaction(() => {
      this.apply(findings, at, complete, prevState, alerts, out, { upsert, hist, raise, clear, delState });
    })();
    return out;
  }

  private cached: Record<string, Database.Statement> | null = null;
  // Prepared once: a statement per cycle would be compiled 1,440 times a day for nothing.
  private stmts() {
    this.cached ??= {
      upsert: prepared(this.db, 'INSERT INTO health_state (key, category, severity, message, since, updated) VALUES (?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET category=excluded.category, message=excluded.message, updated=excluded.updated, since=CASE WHEN health_state.severity = excluded.severity THEN health_state.since ELSE excluded.since END, severity=excluded.severity'),
      hist: prepared(this.db, 'INSERT INTO health_history (at, key, severity, previous, message) VALUES (?,?,?,?,?)'),
      raise: prepared(this.db, 'INSERT INTO health_alerts (key, severity, message, raised_at) VALUES (?,?,?,?) ON CONFLICT(key) DO UPDATE SET severity=excluded.severity, message=excluded.message'),
      clear: prepared(this.db, 'DELETE FROM health_alerts WHERE key = ?'),
      delState: prepared(this.db, 'DELETE FROM health_state WHERE key = ?'),
    };
    return this.cached as Record<'upsert' | 'hist' | 'raise' | 'clear' | 'delState', Database.Statement>;
  }

  private apply(findings: Finding[], at: number, complete: string[], prevState: Map<string, Severity>, alerts: Map<string, { severity: Severity; message: string }>, out: Notification[], st: Record<'upsert' | 'hist' | 'raise' | 'clear' | 'delState', Database.Statement>): void {
    const { upsert, hist, raise, clear, delState } = st;
    const seen = new Set<string>();
    {
      for (const f of findings) {
        seen.add(f.key);
        const prev = prevState.get(f.key) ?? null;
        upsert.run(f.key, f.category, f.severity, f.message, at, at);
        if (prev !== f.severity) {
          hist.run(at, f.key, f.severity, prev, f.message);
          if (prev !== null) log.info('health state change', { key: f.key, from: prev, to: f.severity });
        }
        const open = alerts.get(f.key);
        if (f.severity === 'warning' || f.severity === 'critical') {
          if (!open) {
            raise.run(f.key, f.severity, f.message, at);
            out.push({ kind: 'raised', key: f.key, subject: f.subject, severity: f.severity, previous: prev, message: f.message, at });
          } else if (open.severity !== f.severity) {
            raise.run(f.key, f.severity, f.message, at);
            out.push({ kind: 'changed', key: f.key, subject: f.subject, severity: f.severity, previous: open.severity, message: f.message, at });
          }
        } else if (f.severity === 'ok' && open) {
          clear.run(f.key);
          out.push({ kind: 'cleared', key: f.key, subject: f.subject, severity: 'ok', previous: open.severity, message: f.message, at });
        }
      }
      for (const [key] of prevState) {
        if (seen.has(key) || !complete.some((p) => key.startsWith(p))) continue;
        delState.run(key);
        hist.run(at, key, 'ok', prevState.get(key)!, `${key}: no longer present`);
        const open = alerts.get(key);
        if (open) {
          clear.run(key);
          out.push({ kind: 'cleared', key, subject: key, severity: 'ok', previous: open.severity, message: `${open.message} (no longer present)`, at });
        }
      }
    }
  }

  /** SEL events that matter, each told once (the last told record id is kept). */
  recordSel(events: SelEvent[], at: number): Notification[] {
    const out: Notification[] = [];
    const hist = prepared(this.db, 'INSERT INTO health_history (at, key, severity, previous, message) VALUES (?,?,?,?,?)');
    for (const e of events) {
      const sev = selSeverity(e);
      if (!sev) continue;
      const msg = `BMC event log: ${e.sensorType} ${e.sensor}: ${e.event}${e.detail ? ` (${e.detail})` : ''}`;
      hist.run(at, `sel.${e.id}`, sev, null, msg);
      out.push({ kind: 'event', key: `sel.${e.id}`, subject: e.sensor, severity: sev, previous: null, message: msg, at });
    }
    if (events.length) this.set('sel.lastId', String(Math.max(...events.map((e) => e.id))));
    return out;
  }

  /** Drops history older than `days` and beyond `max` entries. */
  prune(now: number, days: number, max: number): number {
    this.pruneStmts ??= [prepared(this.db, 'DELETE FROM health_history WHERE at < ?'), prepared(this.db, 'DELETE FROM health_history WHERE id <= (SELECT id FROM health_history ORDER BY id DESC LIMIT 1 OFFSET ?)')];
    return this.pruneStmts[0].run(now - days * 86400_000).changes + this.pruneStmts[1].run(max).changes;
  }
  private pruneStmts: Database.Statement[] | null = null;
}

/** Channels of a configuration: e-mail needs both `health.email` and the SMTP `email` section. */
export function channelsFor(config: { health?: HealthConfig; email?: EmailConfig }): Channel[] {
  const cfg = config.health;
  const out: Channel[] = [];
  if (cfg?.email?.enabled && config.email) out.push(emailChannel(config.email, cfg.email));
  if (cfg?.syslog?.enabled) out.push(syslogChannel(cfg.syslog, { ca: cfg.syslog.caCertificate }));
  return out;
}

export interface MonitorOptions {
  host: Host;
  db: Database.Database;
  config?: HealthConfig;
  /** SMTP settings (the `email` section), for the e-mail channel. */
  email?: EmailConfig;
  /** Appliance host name, for alert texts. */
  hostname: string;
  /** Channels; default from `config`. */
  channels?: Channel[];
  /** BMC to read; default the local one when present. null: no IPMI. */
  bmc?: BmcTarget | null;
  nics?: NicList;
  procfs?: string;
  expectUp?: ReadonlySet<string>;
  smart?: boolean;
  now?: () => number;
}

/**
 * The periodic monitor: a full probe every `intervalSeconds` (default 60) and an IPMI sensor
 * read every `ipmiIntervalSeconds` (default 30). State changes go to the store; alerts go to the
 * channels whose subscription wants them; a failed send is logged and retried with the next batch.
 */
export class HealthMonitor {
  readonly store: HealthStore;
  readonly opts: MonitorOptions;
  channels: Channel[];
  latest: HealthSnapshot | null = null;
  private nicPrev: NicSample[] | undefined;
  private ipmi: IpmiProbe | null;
  private timers: NodeJS.Timeout[] = [];
  private pending: Notification[] = [];
  private busy = false;
  private firstCycle = true;
  locate: 'off' | 'local' | 'remote' = 'off';
  constructor(o: MonitorOptions) {
    this.opts = o;
    this.store = new HealthStore(o.db);
    this.channels = o.channels ?? channelsFor({ health: o.config, email: o.email });
    const bmc = o.bmc === undefined ? (localBmcPresent() && o.host.proc.live ? ({ interface: 'open' } as const) : null) : o.bmc;
    this.ipmi = bmc ? new IpmiProbe(o.host.proc, bmc) : null;
  }
  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }
  /** One full probe cycle; returns the snapshot and what was sent. */
  async cycle(): Promise<{ snapshot: HealthSnapshot; notifications: Notification[] }> {
    const o = this.opts;
    const told = this.store.get('sel.lastId');
    const selLastId = this.firstCycle && told !== null ? Number(told) : undefined;
    this.firstCycle = false;
    const snapshot = await collectHealth(o.host, { bmc: o.bmc === undefined ? undefined : o.bmc, ipmiProbe: this.ipmi ?? undefined, nics: o.nics, nicPrev: this.nicPrev, onNicSample: (s) => (this.nicPrev = s), procfs: o.procfs, expectUp: o.expectUp, devices: o.config?.devices, smart: o.smart, prev: this.store.severities(), locate: this.locate, selLastId });
    const at = this.now();
    const probes = new Set(Object.keys(snapshot.durations));
    const failed = new Set(snapshot.errors.map((e) => e.probe));
    // A probe that ran cleanly covers its keys fully: what it no longer reports has gone.
    const complete = [['md', 'md.'], ['raid', 'raid.'], ['ipmi', 'ipmi.sensor.'], ['nic', 'nic.']].filter(([p]) => probes.has(p) && !failed.has(p)).map(([, k]) => k);
    let notes = this.store.record(snapshot.findings, at, complete);
    if (snapshot.ipmi) {
      if (this.store.get('sel.lastId') === null) this.store.set('sel.lastId', '0');
      notes = notes.concat(this.store.recordSel(snapshot.ipmi.sel, at));
    }
    this.store.prune(at, o.config?.retentionDays ?? HEALTH_DEFAULTS.retentionDays, o.config?.maxHistory ?? HEALTH_DEFAULTS.maxHistory);
    this.latest = snapshot;
    this.store.set('latest', JSON.stringify(snapshot));
    await this.notify(notes, snapshot);
    return { snapshot, notifications: notes };
  }
  /** IPMI sensors only (between full cycles). */
  async ipmiCycle(): Promise<Notification[]> {
    if (!this.ipmi || !this.latest || !this.latest.ipmi) return [];
    const reading = await this.ipmi.readSensors();
    const findings = sensorFindings(reading.sensors, this.store.severities());
    const at = this.now();
    const notes = this.store.record(findings, at, ['ipmi.sensor.']).concat(this.store.recordSel((await this.ipmi.newSelEvents()).events, at));
    await this.notify(notes, this.latest);
    return notes;
  }
  /**
   * Findings of a probe on a schedule of its own (connectivity checks): recorded, alerted and
   * cleared like a cycle's. `complete`: the key prefixes the batch covers fully.
   */
  async report(findings: Finding[], complete: string[]): Promise<Notification[]> {
    const notes = this.store.record(findings, this.now(), complete);
    await this.notify(notes, this.latest);
    return notes;
  }
  private async notify(notes: Notification[], snapshot: HealthSnapshot | null): Promise<void> {
    const batch = this.pending.concat(notes);
    this.pending = [];
    if (!batch.length) return;
    const ctx = { hostname: this.opts.hostname, panel: snapshot ? snapshot.frontPanel.map(panelLine) : [] };
    for (const ch of this.channels) {
      const mine = batch.filter((n) => wanted(ch.subscription, n));
      if (!mine.length) continue;
      try {
        await ch.send(mine, ctx);
        log.info('health alerts sent', { channel: ch.name, count: mine.length });
      } catch (e) {
        log.warn('health alert channel failed', { channel: ch.name, error: (e as Error).message });
        // Keep for the next cycle; a repeated failure must not grow without bound.
        if (this.pending.length < 1000) this.pending.push(...mine.filter((n) => !this.pending.includes(n)));
      }
    }
  }
  /** Starts the timers (a first cycle runs at once). */
  start(): void {
    const c = this.opts.config ?? {};
    const guard = (f: () => Promise<unknown>) => async () => {
      if (this.busy) return;
      this.busy = true;
      try {
        await f();
      } catch (e) {
        log.warn('health cycle failed', { error: (e as Error).message });
      } finally {
        this.busy = false;
      }
    };
    const full = guard(() => this.cycle());
    void full();
    this.timers.push(setInterval(full, (c.intervalSeconds ?? HEALTH_DEFAULTS.intervalSeconds) * 1000));
    if (this.ipmi) this.timers.push(setInterval(guard(() => this.ipmiCycle()), (c.ipmiIntervalSeconds ?? HEALTH_DEFAULTS.ipmiIntervalSeconds) * 1000));
    for (const t of this.timers) t.unref();
  }
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
  /** Locate (chassis identify) on or off through the BMC; remembered for the panel translation. */
  async setLocate(on: boolean, seconds?: number): Promise<{ on: boolean; seconds: number | null }> {
    if (!this.ipmi) throw new Error('no BMC on this platform');
    const r = await this.ipmi.locate(on, seconds);
    this.locate = on ? 'remote' : 'off';
    log.info('locate', { on });
    return r;
  }
}

/** The Test button of a channel: sends one test message now. */
export async function testChannel(ch: Channel, hostname: string): Promise<void> {
  await ch.test(hostname);
}

/**
 * The health monitor as its own process recorded it, for System Manager: the latest snapshot
 * while it is recent (older than `maxAgeMs()`, the monitor is taken to be stopped or stuck and
 * the dashboard collects on demand instead), and the recorded state, history and alerts.
 */
export class RecordedMonitor {
  readonly store: HealthStore;
  readonly maxAgeMs: () => number;
  constructor(db: Database.Database, maxAgeMs: () => number) {
    this.store = new HealthStore(db);
    this.maxAgeMs = maxAgeMs;
  }
  // The time of the snapshot last looked at: the dashboard asks for every request, the snapshot changes once a minute.
  private takenAt: { s: HealthSnapshot; at: number } | null = null;
  get latest(): HealthSnapshot | null {
    const s = this.store.latest();
    if (!s) return null;
    if (this.takenAt?.s !== s) this.takenAt = { s, at: Date.parse(s.at) };
    return Date.now() - this.takenAt.at <= this.maxAgeMs() ? s : null;
  }
}
