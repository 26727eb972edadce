/**
 * System Manager's side of hardware health (issue 5): the JSON API under /mics/api/v1/health,
 * the Prometheus `/metrics` endpoint, the dashboard's health panel (summary, front-panel LEDs in
 * the technician's words, 24-hour state charts as server-side SVG, open alerts) and
 * Settings > Alerts (the `health` section through plan/apply, a Test button per channel).
 *
 * Data: the running HealthMonitor of `keel serve` (setHealthMonitor) gives the latest snapshot
 * and the HealthStore (state, history, alerts); without one, a snapshot is collected on demand
 * (cached 30 s) and history/alerts come from the same tables in the appliance database.
 *
 * `/metrics` (and the same at /mics/api/v1/health/metrics, which the OpenAPI document lists)
 * access rule: the endpoint lists the appliance's hardware (sensor names, disks, NICs), so it is
 * never anonymous. It needs `Authorization: Bearer <API token>` (any role; make an operator token
 * for Prometheus) or a System Manager session, and like every System Manager request it is
 * refused outside the Portal ACL (`acl` systemManager list) before the token is looked at.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { check, type Config } from '../appliance/config/schema.ts';
import { applyConfig, plan } from '../appliance/config/apply.ts';
import { keptFor } from '../appliance/config/secrets.ts';
import { OperationalError, ValidationError } from '../appliance/errors.ts';
import type { ApiTokens } from '../appliance/tokens/store.ts';
import { log } from '../appliance/log.ts';
import { HealthStore, channelsFor, type HistoryEntry } from '../appliance/health/monitor.ts';
import { collectHealth, type HealthSnapshot } from '../appliance/health/snapshot.ts';
import { renderMetrics } from '../appliance/health/metrics.ts';
import { panelLine } from '../appliance/health/leds.ts';
import { healthKeyLabel } from '../appliance/health/labels.ts';
import { ResourceHistory, renderResourceMetrics } from '../appliance/reporting/history.ts';
import { runStorageTest } from '../appliance/health/storage-test.ts';
import { HealthSchema, HEALTH_DEFAULTS, bmcTarget, type HealthConfig } from '../appliance/health/schema.ts';
import { emailChannel, syslogChannel } from '../appliance/health/channels.ts';
import type { Severity } from '../appliance/health/types.ts';
import { API, actorOf, configDiff, HttpError, ErrorBody, SESSION_OR_TOKEN, CHANGE_AUTH, Nullable } from './api.ts';
import { html, Html } from './pages.ts';
import { REDACTED } from './redact.ts';
import { prepared } from '../appliance/config/prepared.ts';

export const HEALTH_API = `${API}/health`;
export const HEALTH_SCRIPT = '/mics/static/health.js';
export const METRICS_PATH = '/metrics';
const DAY_MS = 86_400_000;

/** What the routes need of a running monitor (HealthMonitor satisfies it). */
export interface HealthSource {
  latest: HealthSnapshot | null;
  store: HealthStore;
}

let running: HealthSource | null = null;
/** `keel serve` registers the monitor it runs (null when it stops); the routes read it on each request. */
export function setHealthMonitor(m: HealthSource | null): void {
  running = m;
}

// ---- schemas (the OpenAPI document is made from them) ----

const Sev = Type.Union([Type.Literal('ok'), Type.Literal('warning'), Type.Literal('critical'), Type.Literal('unknown')]);
const FindingView = Type.Object({
  key: Type.String({ description: 'Stable key: ipmi.sensor.<BMC name>, md.<kernel name>, nic.GigabitEthernetN.link, raid.c0.vd0, disk.sda, platform.*' }),
  category: Type.String(),
  severity: Sev,
  subject: Type.String({ description: 'The part, as its source names it' }),
  message: Type.String({ description: 'In the words a datacenter technician uses' }),
  redundancyLost: Type.Optional(Type.Boolean()),
  value: Type.Optional(Type.Number()),
});
const PanelView = Type.Object({
  led: Type.String(),
  color: Type.String(),
  pattern: Type.String(),
  meaning: Type.String(),
  causes: Type.Array(Type.String()),
  line: Type.String({ description: 'One line, as the console and alert e-mails show it' }),
});
const SnapshotView = Type.Object({
  source: Type.Union([Type.Literal('monitor'), Type.Literal('on-demand')], { description: 'monitor: the latest cycle of the running health monitor; on-demand: collected for this request (no monitor runs)' }),
  at: Type.String(),
  overall: Sev,
  platform: Type.Unknown({ description: 'Model or hypervisor, its profile, memory, CPUs, firmware' }),
  virtual: Type.Boolean({ description: 'A VM: the hypervisor watches the virtual hardware; IPMI and RAID do not apply' }),
  frontPanel: Type.Array(PanelView, { description: 'Front-panel LEDs (none on VMs)' }),
  problems: Type.Array(FindingView, { description: 'The findings that are not OK' }),
  findings: Type.Array(FindingView),
  nics: Type.Unknown(),
  md: Type.Unknown(),
  raid: Type.Unknown(),
  disks: Type.Unknown(),
  ipmi: Type.Unknown({ description: 'Sensors, chassis, new SEL events, FRU; null without a BMC' }),
  hypervisor: Type.Unknown({ description: 'On a VM: guest tools' }),
  durations: Type.Record(Type.String(), Type.Number(), { description: 'Milliseconds per probe' }),
  errors: Type.Array(Type.Object({ probe: Type.String(), message: Type.String() }), { description: 'Probes that could not run' }),
});
const Segment = Type.Object({ from: Type.String(), to: Type.String(), severity: Sev });
const SeriesView = Type.Object({
  key: Type.String(),
  category: Type.String(),
  current: Nullable(Sev, 'State now (null: no longer reported)'),
  message: Nullable(Type.String()),
  segments: Type.Array(Segment, { description: 'State over the window, oldest first; time before the first segment is unknown' }),
});
const HistoryView = Type.Object({
  since: Type.String(),
  until: Type.String(),
  entries: Type.Array(Type.Object({ id: Type.Integer(), at: Type.String(), key: Type.String(), severity: Sev, previous: Nullable(Sev), message: Type.String() }), { description: 'State changes and SEL events in the window, oldest first' }),
  series: Type.Array(SeriesView, { description: 'Per key: its state over the window (for charts)' }),
  values: Type.Array(
    Type.Object({ key: Type.String(), category: Type.String(), unit: Type.String({ description: 'C, RPM or V' }), points: Type.Array(Type.Object({ at: Type.String(), value: Type.Number() })) }),
    { description: 'Readings (temperatures, fan speeds, voltages, disk temperatures) sampled from each snapshot since System Manager started, within the window' },
  ),
});
const AlertView = Type.Object({ key: Type.String(), severity: Sev, message: Type.String(), raisedAt: Type.String() });
const JobView = Type.Object(
  {
    running: Type.Boolean(),
    who: Type.String(),
    startedAt: Type.String(),
    finishedAt: Nullable(Type.String()),
    result: Nullable(Type.Unknown(), 'read/write IOPS, MB/s, p90 latency, pass, findings'),
    error: Nullable(Type.String()),
  },
  { description: 'The last on-demand storage test' },
);
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody };
/** A response schema without custom formats: the serializer's ajv does not know them (they are checked on input). */
function noFormats<T>(schema: T): T {
  const walk = (v: unknown): unknown => (Array.isArray(v) ? v.map(walk) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'format').map(([k, x]) => [k, walk(x)])) : v);
  return walk(schema) as T;
}
const HealthView = noFormats(Type.Object({ ...HealthSchema.properties, bmc: Type.Optional(Type.Object({ host: Type.String(), port: Type.Optional(Type.Integer()), user: Type.String(), passwordSet: Type.Boolean({ description: 'A BMC password is stored (it is never returned)' }) })) }, { description: 'Health settings; the BMC password is never returned' }));
const PlanBody = Type.Object({
  changed: Type.Boolean(),
  diff: Type.String({ description: 'CLI script diff (secrets redacted)' }),
  configDiff: Type.String({ description: 'Configuration document diff (secrets redacted)' }),
  changes: Type.Array(Type.Object({ unit: Type.String(), path: Type.String() })),
  units: Type.Array(Type.String()),
});
const ApplyBody = Type.Object({ changed: Type.Boolean(), revision: Type.Integer(), units: Type.Array(Type.String()), unsaved: Type.Boolean() });

// ---- history as charts ----

interface Series {
  key: string;
  category: string;
  current: Severity | null;
  message: string | null;
  segments: { from: number; to: number; severity: Severity }[];
}

/** History entries of the window, oldest first (SEL events included). */
function historySince(hs: HealthStore, since: number, key?: string): HistoryEntry[] {
  const sql = `SELECT id, at, key, severity, previous, message FROM health_history WHERE at >= ?${key ? ' AND key = ?' : ''} ORDER BY id LIMIT 5000`;
  return (key ? prepared(hs.db, sql).all(since, key) : prepared(hs.db, sql).all(since)) as HistoryEntry[];
}

/**
 * Each key's state over [since, until]: the history holds only changes, so a key's state before
 * its first change in the window is that change's `previous` (or, without changes, its state now).
 */
export function seriesOf(hs: HealthStore, since: number, until: number, key?: string): Series[] {
  const states = new Map(hs.state().map((s) => [s.key, s]));
  const entries = historySince(hs, since, key).filter((e) => !e.key.startsWith('sel.'));
  const keys = new Set<string>([...(key ? [key].filter((k) => states.has(k)) : states.keys()), ...entries.map((e) => e.key)]);
  const out: Series[] = [];
  for (const k of [...keys].sort()) {
    const mine = entries.filter((e) => e.key === k);
    const st = states.get(k);
    const segs: Series['segments'] = [];
    let from = since;
    let sev: Severity | null = mine.length ? mine[0].previous : (st?.severity ?? null);
    if (!mine.length && st && st.since > since) from = st.since;
    for (const e of mine) {
      if (sev !== null && e.at > from) segs.push({ from, to: e.at, severity: sev });
      from = Math.max(from, e.at);
      sev = e.severity;
    }
    // A key that vanished ends with an "ok ... no longer present" entry and has no state now.
    if (sev !== null && st) segs.push({ from, to: until, severity: sev });
    const category = st?.category ?? (k.startsWith('nic.') ? 'nic' : k.startsWith('md.') || k.startsWith('raid.') ? 'raid' : k.startsWith('disk.') ? 'disk' : 'other');
    out.push({ key: k, category, current: st?.severity ?? null, message: st?.message ?? mine[mine.length - 1]?.message ?? null, segments: segs });
  }
  return out;
}

const COLOR: Record<Severity, string> = { ok: '#1c7a3a', warning: '#d08a00', critical: '#b3261e', unknown: '#9aa3b0' };
const GROUPS: { title: string; match: (s: Series) => boolean }[] = [
  { title: 'Temperatures', match: (s) => s.category === 'temperature' },
  { title: 'Fans', match: (s) => s.category === 'fan' },
  { title: 'Power supplies and voltages', match: (s) => s.category === 'power' || s.category === 'voltage' },
  { title: 'Network links', match: (s) => s.category === 'nic' },
  { title: 'Disks and RAID', match: (s) => ['disk', 'raid', 'storage'].includes(s.category) },
];

/** One chart: a row per key, its state as coloured bands over the window (SVG presentation attributes only: the CSP forbids inline styles). */
export function chartSvg(title: string, series: Series[], since: number, until: number): Html {
  const W = 720;
  const label = 190;
  const row = 18;
  const plotW = W - label - 10;
  const H = series.length * row + 22;
  const x = (t: number) => label + ((Math.min(Math.max(t, since), until) - since) / (until - since)) * plotW;
  const ticks = [0, 6, 12, 18, 24].map((h) => {
    const t = since + (h / 24) * (until - since);
    const lx = x(t);
    return html`<line x1="${lx.toFixed(1)}" y1="0" x2="${lx.toFixed(1)}" y2="${H - 16}" stroke="#e3e7ee"/><text x="${lx.toFixed(1)}" y="${H - 4}" font-size="10" fill="#5b6575" text-anchor="${h === 0 ? 'start' : h === 24 ? 'end' : 'middle'}">${h === 24 ? 'now' : `-${24 - h} h`}</text>`;
  });
  const rows = series.map((s, i) => {
    const y = i * row;
    const name = healthKeyLabel(s.key);
    return html`<g class="series" data-key="${s.key}"><text x="0" y="${y + 13}" font-size="11" fill="#1d2430">${name.length > 30 ? `${name.slice(0, 29)}...` : name}<title>${name} (${s.key})</title></text><rect x="${label}" y="${y + 3}" width="${plotW}" height="${row - 6}" fill="#f0f2f6"/>${s.segments.map(
      (g) => html`<rect x="${x(g.from).toFixed(1)}" y="${y + 3}" width="${Math.max(1, x(g.to) - x(g.from)).toFixed(1)}" height="${row - 6}" fill="${COLOR[g.severity]}"><title>${g.severity} from ${new Date(g.from).toISOString().slice(0, 16).replace('T', ' ')} UTC</title></rect>`,
    )}</g>`;
  });
  return html`<figure class="health-chart"><figcaption>${title}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${title}: state over the last 24 hours">${ticks}${rows}</svg></figure>`;
}

// ---- measured values (temperatures, fan speeds) ----

/** One measured value over time. */
export interface ValueSeries {
  key: string;
  category: 'temperature' | 'fan' | 'voltage' | 'disk';
  unit: string;
  points: { at: number; value: number }[];
}

/**
 * The last 24 h of readings, sampled from each new snapshot. The monitor's history keeps state
 * changes only, so readings are kept here, in memory: they start again when System Manager restarts.
 */
export class ValueSamples {
  private readonly series = new Map<string, ValueSeries>();
  private lastAt = '';
  private readonly windowMs: number;
  private readonly maxPoints: number;
  constructor(windowMs = DAY_MS, maxPoints = 2880) {
    this.windowMs = windowMs;
    this.maxPoints = maxPoints;
  }
  /** Takes the readings of a snapshot once (a snapshot seen before is ignored). */
  take(s: HealthSnapshot): void {
    if (s.at === this.lastAt) return;
    this.lastAt = s.at;
    const at = Date.parse(s.at);
    const add = (key: string, category: ValueSeries['category'], unit: string, value: number | null) => {
      if (value === null || !Number.isFinite(value)) return;
      let x = this.series.get(key);
      if (!x) this.series.set(key, (x = { key, category, unit, points: [] }));
      x.points.push({ at, value });
      while (x.points.length && (x.points.length > this.maxPoints || x.points[0].at < at - this.windowMs)) x.points.shift();
    };
    for (const x of s.ipmi?.sensors ?? []) {
      if (x.category === 'temperature') add(`ipmi.sensor.${x.name}`, 'temperature', 'C', x.value);
      else if (x.category === 'fan') add(`ipmi.sensor.${x.name}`, 'fan', 'RPM', x.value);
      else if (x.category === 'voltage') add(`ipmi.sensor.${x.name}`, 'voltage', 'V', x.value);
    }
    for (const d of s.disks) add(`disk.${d.device}.temperature`, 'disk', 'C', d.temperatureC);
  }
  /** Series with a point since `since`, by key. */
  list(since: number, key?: string): ValueSeries[] {
    return [...this.series.values()]
      .filter((x) => !key || x.key === key)
      .map((x) => ({ ...x, points: x.points.filter((p) => p.at >= since) }))
      .filter((x) => x.points.length)
      .sort((a, b) => a.key.localeCompare(b.key));
  }
}

/** Readings as small multiples: a row per sensor, a line over the window, min / max / now. */
export function valuesSvg(title: string, series: ValueSeries[], since: number, until: number): Html {
  const W = 720;
  const label = 190;
  const tail = 150;
  const row = 26;
  const plotW = W - label - tail;
  const H = series.length * row + 22;
  const x = (t: number) => label + ((Math.min(Math.max(t, since), until) - since) / (until - since)) * plotW;
  const num = (v: number, unit: string) => (unit === 'V' ? v.toFixed(2) : String(Math.round(v)));
  const fmt = (v: number, unit: string) => `${num(v, unit)} ${unit}`;
  const ticks = [0, 6, 12, 18, 24].map((h) => {
    const lx = x(since + (h / 24) * (until - since)).toFixed(1);
    return html`<line x1="${lx}" y1="0" x2="${lx}" y2="${H - 16}" stroke="#e3e7ee"/><text x="${lx}" y="${H - 4}" font-size="10" fill="#5b6575" text-anchor="${h === 0 ? 'start' : h === 24 ? 'end' : 'middle'}">${h === 24 ? 'now' : `-${24 - h} h`}</text>`;
  });
  const rows = series.map((s, i) => {
    const y0 = i * row + 3;
    const vals = s.points.map((p) => p.value);
    const lo = Math.min(...vals);
    const hi = Math.max(...vals);
    const span = hi - lo || 1;
    const y = (v: number) => y0 + (row - 8) - ((v - lo) / span) * (row - 8);
    const pts = s.points.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    const last = s.points[s.points.length - 1].value;
    const name = healthKeyLabel(s.key);
    return html`<g class="values" data-key="${s.key}"><text x="0" y="${y0 + 13}" font-size="11" fill="#1d2430">${name.length > 28 ? `${name.slice(0, 27)}...` : name}</text><rect x="${label}" y="${y0}" width="${plotW}" height="${row - 8}" fill="#f0f2f6"/>${
      s.points.length > 1 ? html`<polyline points="${pts}" fill="none" stroke="#1f5fbf" stroke-width="1.5"/>` : html`<circle cx="${x(s.points[0].at).toFixed(1)}" cy="${y(last).toFixed(1)}" r="2" fill="#1f5fbf"/>`
    }<text x="${W - tail + 8}" y="${y0 + 13}" font-size="11" fill="#1d2430">${fmt(last, s.unit)} <tspan fill="#5b6575">(${num(lo, s.unit)} to ${num(hi, s.unit)})</tspan></text></g>`;
  });
  return html`<figure class="health-chart"><figcaption>${title}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${title}: readings over the last 24 hours">${ticks}${rows}</svg></figure>`;
}

// ---- dashboard panel ----

const BADGE: Record<Severity, string> = { ok: 'ok', warning: 'warn', critical: 'warn', unknown: 'warn' };
const when = (t: number | string) => new Date(t).toISOString().slice(0, 19).replace('T', ' ') + ' UTC';

/** The dashboard's health section: overall, non-OK findings, front panel, 24 h charts, open alerts. */
export function healthPanel(o: { snapshot: HealthSnapshot; source: 'monitor' | 'on-demand'; alerts: ReturnType<HealthStore['alerts']>; series: Series[]; values?: ValueSeries[]; since: number; until: number }): Html {
  const s = o.snapshot;
  const vm = s.platform.kind === 'virtual';
  const problems = s.findings.filter((f) => f.severity !== 'ok');
  const panel = vm
    ? html`<p id="health-vm">This is a virtual machine (${s.platform.name}): there is no front panel, and the hypervisor watches the virtual hardware, so IPMI sensors and RAID do not apply here.${
        s.hypervisor ? html` Guest tools (${s.hypervisor.guestTools ?? 'none known'}): ${s.hypervisor.running ? 'running' : html`<span class="badge warn">not running</span>`}.` : ''
      }</p>`
    : s.frontPanel.length
      ? html`<h3>Front panel</h3><ul id="health-panel-leds">${s.frontPanel.map((p) => html`<li><strong>${p.led}</strong>: ${p.color === 'off' ? 'off' : `${p.pattern} ${p.color}`} - ${p.meaning}${p.causes.length ? html` <span class="muted">(${p.causes.join('; ')})</span>` : ''}</li>`)}</ul>`
      : html`<p class="muted">${s.platform.name}: no front-panel LED table is known for this hardware.</p>`;
  const charts = GROUPS.map((g) => ({ g, list: o.series.filter(g.match).slice(0, 40) }))
    .filter((x) => x.list.length)
    .map((x) => chartSvg(x.g.title, x.list, o.since, o.until));
  const VALUE_GROUPS: [string, ValueSeries['category']][] = [['Temperature readings', 'temperature'], ['Fan speeds', 'fan'], ['Voltages', 'voltage'], ['Disk temperatures', 'disk']];
  const readings = VALUE_GROUPS.map(([title, cat]) => ({ title, list: (o.values ?? []).filter((v) => v.category === cat).slice(0, 40) }))
    .filter((x) => x.list.length)
    .map((x) => valuesSvg(x.title, x.list, o.since, o.until));
  return html`<section id="health">
<h2>Health</h2>
<p id="health-summary"><span class="badge ${BADGE[s.overall]}" id="health-overall">${s.overall.toUpperCase()}</span> ${s.platform.name} <span class="muted">(${o.source === 'monitor' ? 'health monitor' : 'collected now'}, ${when(s.at)})</span></p>
${panel}
${problems.length
  ? html`<table id="health-problems"><thead><tr><th>State</th><th>Part</th><th>Finding</th></tr></thead><tbody>${problems.map((f) => html`<tr><td><span class="badge warn">${f.severity}</span></td><td>${f.subject}</td><td>${f.message}</td></tr>`)}</tbody></table>`
  : html`<p id="health-problems">All ${s.findings.length} checks are OK.</p>`}
${s.errors.length ? html`<p class="muted">Could not run: ${s.errors.map((e) => `${e.probe} (${e.message})`).join('; ')}</p>` : ''}
<h3>Open alerts</h3>
${o.alerts.length
  ? html`<table id="health-alerts"><thead><tr><th>Since</th><th>State</th><th>Alert</th></tr></thead><tbody>${o.alerts.map((a) => html`<tr><td>${when(a.raised_at)}</td><td><span class="badge warn">${a.severity}</span></td><td>${a.message}</td></tr>`)}</tbody></table>`
  : html`<p id="health-alerts">No open alerts.</p>`}
<h3>Last 24 hours</h3>
${readings.length ? html`<div id="health-values">${readings}</div><p class="muted">Readings since System Manager started (at most 24 hours), lowest and highest in brackets.</p>` : ''}
${charts.length ? html`<div id="health-charts">${charts}</div><p class="muted">State: green OK, amber warning, red critical, grey unknown; grey background: no data.</p>` : html`<p id="health-charts" class="muted">No history yet: the health monitor records states as it runs.</p>`}
<h3>Storage test</h3>
<p>Random read and write IOPS and 90th-percentile latency against the requirements (the built-in tester: 4 KiB, 8 operations in flight, direct I/O, about 30 seconds of disk load).</p>
<div id="storage-test" data-api="${HEALTH_API}/storage-test"><button type="button" class="admin-only js-storage-test">Run storage test</button> <output class="result" id="storage-test-result"></output></div>
<p><a href="/mics/settings/alerts">Alert settings</a></p>
</section>
<script src="${HEALTH_SCRIPT}" defer></script>`;
}

/** Settings > Alerts: the `health` section (plan/apply through app.js) and a Test button per channel. */
export function alertsPage(c: Config, f: { field: (o: any) => Html; sectionForm: (section: string, body: Html, opts?: { title?: string; get?: boolean; url?: string }) => Html }): Html {
  const h: HealthConfig = c.health ?? {};
  const url = `${API}/config/health`;
  const D = HEALTH_DEFAULTS;
  return html`${f.sectionForm(
    'health',
    html`<fieldset><legend>Monitor</legend>
${f.field({ label: 'Probe interval (seconds)', name: 'intervalSeconds', value: h.intervalSeconds ?? D.intervalSeconds, kind: 'int', help: 'NIC, RAID and disk probes; 10 to 600' })}
${f.field({ label: 'IPMI sensor interval (seconds)', name: 'ipmiIntervalSeconds', value: h.ipmiIntervalSeconds ?? D.ipmiIntervalSeconds, kind: 'int', help: '10 to 600' })}
${f.field({ label: 'History kept (days)', name: 'retentionDays', value: h.retentionDays ?? D.retentionDays, kind: 'int', help: '1 to 3650' })}
${f.field({ label: 'Most history entries', name: 'maxHistory', value: h.maxHistory ?? D.maxHistory, kind: 'int', help: '100 to 1000000' })}
</fieldset>
<fieldset><legend>E-mail</legend>
${f.field({ label: 'Send alerts by e-mail', name: 'email.enabled', value: h.email?.enabled ?? false, kind: 'bool', help: c.email ? `Through ${c.email.server}:${c.email.port} (Settings > Email)` : 'Set up the SMTP server under Settings > Email first' })}
${f.field({ label: 'Which alerts', name: 'email.subscription', value: h.email?.subscription ?? 'all', options: ['all', 'critical'], help: 'all: warnings, critical and their clearing; critical: critical only' })}
${f.field({ label: 'Recipients', name: 'email.to', value: h.email?.to ?? [], kind: 'list', help: 'Up to 10 addresses, separated by commas' })}
</fieldset>
<fieldset><legend>Syslog (RFC 5424)</legend>
${f.field({ label: 'Send alerts to a syslog server', name: 'syslog.enabled', value: h.syslog?.enabled ?? false, kind: 'bool' })}
${f.field({ label: 'Which alerts', name: 'syslog.subscription', value: h.syslog?.subscription ?? 'all', options: ['all', 'critical'] })}
${f.field({ label: 'Server', name: 'syslog.server', value: h.syslog?.server ?? '', help: 'Host name or IPv4 address' })}
${f.field({ label: 'Transport', name: 'syslog.transport', value: h.syslog?.transport ?? 'udp', options: ['udp', 'tcp', 'tls'] })}
${f.field({ label: 'Port', name: 'syslog.port', value: h.syslog?.port ?? 514, kind: 'int', help: '514 for UDP/TCP, 6514 for TLS' })}
${f.field({ label: 'Facility', name: 'syslog.facility', value: h.syslog?.facility ?? D.syslogFacility, kind: 'int', help: '0 to 23; 16 = local0' })}
${f.field({ label: 'CA certificate (TLS)', name: 'syslog.caCertificate', value: h.syslog?.caCertificate ?? '', type: 'textarea', help: "PEM of the CA that issued the syslog server's certificate, when it is not a public CA; empty: the public CAs" })}
</fieldset>`,
    { title: 'Health monitor and alerts', url },
  )}
<section id="channel-tests" data-api="${HEALTH_API}/channels">
<h2>Test</h2>
<p>Sends one test message through the applied settings of a channel.</p>
<button type="button" class="admin-only js-channel-test" data-channel="email">Test e-mail</button>
<button type="button" class="admin-only js-channel-test" data-channel="syslog">Test syslog</button>
<output class="result" id="channel-test-result"></output>
</section>
<section><h2>Prometheus</h2><p>Metrics in the Prometheus text format are at <code>${METRICS_PATH}</code> on this port. Create an operator API token (Security > API Tokens) and give it to Prometheus as <code>authorization: { credentials: TOKEN }</code>; the Portal ACL applies.</p></section>
<script src="${HEALTH_SCRIPT}" defer></script>`;
}

// ---- storage test job (one at a time per process) ----

interface Job {
  running: boolean;
  who: string;
  startedAt: string;
  finishedAt: string | null;
  result: unknown;
  error: string | null;
}
let job: Job | null = null;

/** Registers the health API, /metrics and the page script. `tokens` verifies /metrics bearers. */
export function registerHealthApi(app: FastifyInstance, deps: { tokens: ApiTokens }): { panel: () => Promise<Html> } {
  const { host, store } = app.keel;
  let own: HealthStore | null = null;
  let resources: ResourceHistory | null = null;
  const hstore = () => running?.store ?? (own ??= new HealthStore(store.db));
  const config = (): Config | null => store.running()?.config ?? store.startup()?.config ?? null;
  let cache: { at: number; snap: Promise<HealthSnapshot> } | null = null;
  const samples = new ValueSamples();
  // Readings are sampled from each new monitor snapshot, whether or not anyone looks.
  const sampler = setInterval(() => running?.latest && samples.take(running.latest), 15_000);
  sampler.unref();
  app.addHook('onClose', async () => clearInterval(sampler));

  async function current(): Promise<{ snapshot: HealthSnapshot; source: 'monitor' | 'on-demand' }> {
    if (running?.latest) {
      samples.take(running.latest);
      return { snapshot: running.latest, source: 'monitor' };
    }
    if (!cache || Date.now() - cache.at > 30_000) {
      const c = config();
      const snap = collectHealth(host, { smart: false, nicSampleMs: 200, devices: c?.health?.devices, bmc: bmcTarget(c?.health), expectUp: c ? new Set(c.network.interfaces.filter((i) => i.enabled).map((i) => i.name)) : undefined });
      cache = { at: Date.now(), snap };
      snap.catch(() => (cache = null));
    }
    const snapshot = await cache.snap;
    samples.take(snapshot);
    return { snapshot, source: 'on-demand' };
  }

  const view = (s: HealthSnapshot, source: 'monitor' | 'on-demand') => ({
    ...s,
    source,
    virtual: s.platform.kind === 'virtual',
    frontPanel: s.frontPanel.map((p) => ({ ...p, line: panelLine(p) })),
    problems: s.findings.filter((f) => f.severity !== 'ok'),
  });

  app.get(HEALTH_API, {
    schema: {
      tags: ['health'],
      summary: 'Hardware health now',
      description: 'The latest snapshot of the health monitor (platform, NICs, md and hardware RAID, disks, IPMI sensors, chassis and SEL, or on a VM the hypervisor view), the front-panel LEDs in the technician\'s words, and the findings that are not OK. Without a running monitor it is collected on demand (cached 30 s).',
      security: SESSION_OR_TOKEN,
      response: { 200: SnapshotView, ...errors },
    },
    handler: async () => {
      const { snapshot, source } = await current();
      return view(snapshot, source);
    },
  });

  app.get<{ Querystring: { key?: string; hours?: number } }>(`${HEALTH_API}/history`, {
    schema: {
      tags: ['health'],
      summary: 'Health history',
      description: 'State changes (and BMC event log entries) of the last hours, oldest first, and per key its state over the window for charts. The monitor stores changes, not every reading; history is pruned by health.retentionDays and health.maxHistory.',
      security: SESSION_OR_TOKEN,
      querystring: Type.Object({
        key: Type.Optional(Type.String({ maxLength: 200, description: 'Only this finding key (e.g. ipmi.sensor.FAN1)' })),
        hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 720, default: 24, description: 'Window, hours back from now' })),
      }),
      response: { 200: HistoryView, ...errors },
    },
    handler: async (req) => {
      const until = Date.now();
      const since = until - (req.query.hours ?? 24) * 3_600_000;
      const hs = hstore();
      const iso = (t: number) => new Date(t).toISOString();
      return {
        since: iso(since),
        until: iso(until),
        entries: historySince(hs, since, req.query.key).map((e) => ({ ...e, at: iso(e.at) })),
        series: seriesOf(hs, since, until, req.query.key).map((s) => ({ ...s, segments: s.segments.map((g) => ({ from: iso(g.from), to: iso(g.to), severity: g.severity })) })),
        values: samples.list(since, req.query.key).map((v) => ({ ...v, points: v.points.map((p) => ({ at: iso(p.at), value: p.value })) })),
      };
    },
  });

  app.get(`${HEALTH_API}/alerts`, {
    schema: {
      tags: ['health'],
      summary: 'Open health alerts',
      description: 'Alerts raised and not yet cleared; an alert clears itself when its condition clears.',
      security: SESSION_OR_TOKEN,
      response: { 200: Type.Object({ alerts: Type.Array(AlertView) }), ...errors },
    },
    handler: async () => ({ alerts: hstore().alerts().map((a) => ({ key: a.key, severity: a.severity, message: a.message, raisedAt: new Date(a.raised_at).toISOString() })) }),
  });

  // ---- storage test ----

  app.get(`${HEALTH_API}/storage-test`, {
    schema: {
      tags: ['health'],
      summary: 'Storage test status',
      description: 'The last on-demand storage test: running, or its result (poll this after starting one).',
      security: SESSION_OR_TOKEN,
      response: { 200: Type.Object({ job: Nullable(JobView) }), ...errors },
    },
    handler: async () => ({ job }),
  });

  app.post<{ Body: { runtimeSeconds?: number; sizeMB?: number } | undefined }>(`${HEALTH_API}/storage-test`, {
    schema: {
      tags: ['health'],
      summary: 'Run the storage test',
      description: 'Random read, then random write (the built-in tester: 4 KiB, 8 operations in flight, direct I/O) on the data disk: IOPS, MB/s and 90th-percentile latency against the requirements of SPEC.md "Virtual platforms". Answers 202 at once; poll GET /health/storage-test. 409 while one runs. Administrators only; audited.',
      security: CHANGE_AUTH,
      body: Type.Optional(
        Type.Object(
          {
            runtimeSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 120, default: 10, description: 'Seconds per side' })),
            sizeMB: Type.Optional(Type.Integer({ minimum: 16, maximum: 4096, default: 256, description: 'Size of the test file' })),
          },
          { additionalProperties: false },
        ),
      ),
      response: { 202: Type.Object({ job: JobView }), ...errors, 409: ErrorBody },
    },
    handler: async (req, reply) => {
      if (job?.running) throw new HttpError(409, `a storage test started by ${job.who} at ${job.startedAt} is still running`);
      const actor = actorOf(req);
      const mine: Job = { running: true, who: actor.who, startedAt: new Date().toISOString(), finishedAt: null, result: null, error: null };
      job = mine;
      store.audit(actor, 'run storage test', 'started');
      runStorageTest(host, { runtimeSeconds: req.body?.runtimeSeconds, sizeMB: req.body?.sizeMB }).then(
        (r) => {
          Object.assign(mine, { running: false, finishedAt: new Date().toISOString(), result: r });
          log.info('storage test finished', { pass: r.pass, readIops: Math.round(r.read.iops), writeIops: Math.round(r.write.iops) });
        },
        (e: unknown) => {
          Object.assign(mine, { running: false, finishedAt: new Date().toISOString(), error: (e as Error).message });
          log.warn('storage test failed', { error: (e as Error).message });
        },
      );
      return reply.code(202).send({ job: mine });
    },
  });

  // ---- channel tests ----

  app.post<{ Params: { channel: 'email' | 'syslog' } }>(`${HEALTH_API}/channels/:channel/test`, {
    schema: {
      tags: ['health'],
      summary: 'Test an alert channel',
      description: 'Sends one test message through the applied settings of the e-mail (health.email with the SMTP server of the email section) or syslog (health.syslog) channel, enabled or not. 400 when the channel is not set up; 502 with why when sending failed. Audited.',
      security: CHANGE_AUTH,
      params: Type.Object({ channel: Type.Union([Type.Literal('email'), Type.Literal('syslog')]) }),
      response: { 200: Type.Object({ sent: Type.Boolean(), channel: Type.String(), to: Type.String({ description: 'Recipients or server:port/transport' }) }), ...errors, 502: ErrorBody },
    },
    handler: async (req) => {
      const c = config();
      const h = c?.health;
      const name = req.params.channel;
      let ch;
      let to: string;
      if (name === 'email') {
        if (!h?.email) throw new ValidationError([{ field: '/health/email', rule: 'required', message: 'no alert e-mail recipients are set: apply them first' }]);
        if (!c?.email) throw new ValidationError([{ field: '/email', rule: 'required', message: 'the SMTP server is not set up (Settings > Email)' }]);
        ch = emailChannel(c.email, h.email);
        to = h.email.to.join(', ');
      } else {
        if (!h?.syslog) throw new ValidationError([{ field: '/health/syslog', rule: 'required', message: 'no syslog server is set: apply one first' }]);
        ch = syslogChannel(h.syslog, { ca: h.syslog.caCertificate });
        to = `${h.syslog.server}:${h.syslog.port}/${h.syslog.transport}`;
      }
      const actor = actorOf(req);
      try {
        await ch.test(c!.system.hostname);
      } catch (e) {
        store.audit(actor, `test health ${name} channel (${to})`, `failed: ${(e as Error).message.slice(0, 200)}`);
        throw new OperationalError(`the ${name} test message was not sent`, `${name} ${to}`, null, (e as Error).message);
      }
      store.audit(actor, `test health ${name} channel (${to})`, 'ok');
      return { sent: true, channel: name, to };
    },
  });

  // ---- the health section (Settings > Alerts) ----

  app.get(`${API}/config/health`, {
    schema: {
      tags: ['configuration'],
      summary: 'health settings',
      description: 'Probe intervals, history retention, alert e-mail and syslog. The BMC password is never returned.',
      security: SESSION_OR_TOKEN,
      response: { 200: HealthView, ...errors },
    },
    handler: async () => {
      const h = structuredClone(config()?.health ?? {}) as Record<string, unknown> & HealthConfig;
      if (h.bmc) {
        const { password, ...rest } = h.bmc;
        return { ...h, bmc: { ...rest, passwordSet: !!password } };
      }
      return h;
    },
  });

  /** What the form sends, made into the section: channels that are off and empty go, the BMC password is kept. */
  function normalise(body: Record<string, any>, prev: HealthConfig | undefined): HealthConfig {
    const b = structuredClone(body);
    for (const k of ['email', 'syslog'] as const) {
      const ch = b[k];
      if (ch && ch.enabled === false && (k === 'email' ? !(ch.to ?? []).length : !ch.server)) delete b[k];
    }
    if (b.syslog && b.syslog.facility === undefined) delete b.syslog.facility;
    if (b.syslog && !b.syslog.caCertificate) delete b.syslog.caCertificate;
    if (b.bmc) {
      delete b.bmc.passwordSet;
      if (b.bmc.password === undefined) b.bmc.password = keptFor('bmc', prev?.bmc, b.bmc);
    }
    return b as HealthConfig;
  }

  async function change(req: FastifyRequest<{ Body: Record<string, unknown> }>, reply: FastifyReply, dry: boolean) {
    const cur = store.running();
    if (!cur) throw new HttpError(409, 'there is no running configuration yet');
    const next = structuredClone(cur.config);
    next.health = normalise(req.body ?? {}, cur.config.health);
    const actor = actorOf(req);
    const problems = check(next);
    if (problems.length) {
      if (!dry) store.audit(actor, `${actor.source.startsWith('api:') ? 'api' : 'webui'}: set health`, `refused: ${problems.map((p) => `${p.field} (${p.rule})`).join(', ')}`);
      throw new ValidationError(problems);
    }
    const changed = JSON.stringify(next) !== JSON.stringify(cur.config);
    if (dry) {
      const p = await plan(host, store, next);
      // redactConfig does not know the BMC password (yet): hide it here before diffing.
      const hide = (c: Config) => {
        const x = structuredClone(c);
        if (x.health?.bmc?.password) x.health.bmc.password = REDACTED;
        return x;
      };
      return { changed, diff: p.diff, configDiff: configDiff(hide(cur.config), hide(next)), changes: p.changes, units: p.units };
    }
    if (!changed) return reply.send({ changed: false, revision: cur.revision, units: [], unsaved: store.unsaved() });
    const r = await applyConfig(host, store, next, actor, `${actor.source.startsWith('api:') ? 'api' : 'webui'}: set health`);
    return { changed: true, revision: r.revision, units: r.units, unsaved: store.unsaved() };
  }
  // The body is checked as part of the whole configuration (check()), after the form's empty, disabled channels are dropped.
  const Body = Type.Object({}, { additionalProperties: true, description: 'The health section (see GET /config/health); checked against the configuration schema' });
  app.put<{ Body: Record<string, unknown> }>(`${API}/config/health`, {
    schema: { tags: ['configuration'], summary: 'Change health settings', description: 'Replaces the health section (send the whole section; GET it first). A disabled channel without recipients/server is dropped; leave out bmc.password to keep the stored one. Applied now to the running configuration; Save makes it persistent; the monitor restarts with it within 10 s.', security: CHANGE_AUTH, body: Body, response: { 200: ApplyBody, ...errors, 409: ErrorBody } },
    handler: (req, reply) => change(req, reply, false),
  });
  app.post<{ Body: Record<string, unknown> }>(`${API}/config/health/plan`, {
    schema: { tags: ['configuration'], summary: 'Plan: change health settings', description: 'What PUT /config/health would change; nothing changes.', security: CHANGE_AUTH, body: Body, response: { 200: PlanBody, ...errors } },
    handler: (req, reply) => change(req, reply, true),
  });

  // ---- /metrics ----

  const metrics = async (reply: FastifyReply) => {
    const { snapshot } = await current();
    // The resource history's newest minute (sampled by keel monitor) follows the health families.
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(renderMetrics(snapshot) + renderResourceMetrics((resources ??= new ResourceHistory(store.db)).latest()));
  };
  app.get(`${HEALTH_API}/metrics`, {
    schema: {
      tags: ['health'],
      summary: 'Prometheus metrics',
      description: `The latest health snapshot and the newest minute of the resource history (CPU, load, memory, file systems, disk I/O, interface traffic and errors) in the Prometheus text format 0.0.4 (node_exporter, IPMI and smartctl exporter names where they exist, keel_* otherwise). Also served at ${METRICS_PATH}, the path Prometheus scrapes by default, with the same rule: an API token as Bearer (any role; an operator token is enough) or a session, from inside the Portal ACL. Never anonymous: the metrics list the hardware.`,
      security: SESSION_OR_TOKEN,
      response: { 200: Type.String({ description: 'text/plain; version=0.0.4' }), ...errors },
    },
    handler: async (_req, reply) => metrics(reply),
  });
  // The session/token hook reads bearer tokens on /mics/api only: this path checks its own.
  app.get(METRICS_PATH, {
    config: { public: true },
    schema: { hide: true },
    handler: async (req, reply) => {
      const bearer = /^Bearer /i.test(req.headers.authorization ?? '') ? req.headers.authorization!.slice(7).trim() : undefined;
      const ok = req.principal ?? (bearer ? deps.tokens.verify(bearer) : null);
      if (!ok) {
        if (bearer) log.warn('refused /metrics: unknown, revoked or expired API token', { source: `api:${req.ip}` });
        return reply.code(401).header('www-authenticate', 'Bearer realm="keel"').type('text/plain; charset=utf-8').send('401 an API token (Authorization: Bearer TOKEN) is required\n');
      }
      return metrics(reply);
    },
  });

  app.get(HEALTH_SCRIPT, { config: { public: true }, schema: { hide: true } }, (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=3600').send(HEALTH_JS),
  );

  // The rendered panel, shared by the dashboards of one second (history and charts are several
  // queries and SVGs); a new snapshot or health store is drawn at once.
  let drawn: { at: number; snapshot: HealthSnapshot; hs: HealthStore; panel: Html } | null = null;
  return {
    panel: async () => {
      const until = Date.now();
      const since = until - DAY_MS;
      try {
        const { snapshot, source } = await current();
        const hs = hstore();
        if (drawn && drawn.snapshot === snapshot && drawn.hs === hs && until - drawn.at < 1000) return drawn.panel;
        const panel = healthPanel({ snapshot, source, alerts: hs.alerts(), series: seriesOf(hs, since, until), values: samples.list(since), since, until });
        drawn = { at: until, snapshot, hs, panel };
        return panel;
      } catch (e) {
        log.warn('health panel failed', { error: (e as Error).message });
        return html`<section id="health"><h2>Health</h2><p id="health-summary" class="error">Health could not be read: ${(e as Error).message}</p></section>`;
      }
    },
  };
}

/** The health script (served from /mics/static/health.js: the CSP allows only 'self' scripts). */
export const HEALTH_JS = `// System Manager: storage test (started, then polled) and alert channel Test buttons.
'use strict';
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
  async function call(method, url) {
    const init = { method, credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf, Accept: 'application/json' } };
    if (method === 'POST') {
      init.headers['Content-Type'] = 'application/json';
      init.body = '{}';
    }
    const res = await fetch(url, init);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || ('error ' + res.status));
    return data;
  }
  const st = document.getElementById('storage-test');
  if (st) {
    const out = st.querySelector('output');
    const btn = st.querySelector('.js-storage-test');
    const side = (n, r) => n + ': ' + Math.round(r.iops) + ' IOPS, ' + r.mbps.toFixed(1) + ' MB/s, 90% under ' + (r.p90Ms === null ? '?' : r.p90Ms.toFixed(2)) + ' ms';
    const show = (job) => {
      if (!job) return false;
      if (job.running) { out.textContent = 'Running since ' + job.startedAt + ' ...'; return true; }
      if (job.error) out.textContent = 'The storage test failed: ' + job.error;
      else if (job.result) out.textContent = (job.result.pass ? 'PASS' : 'BELOW REQUIREMENTS') + ' - ' + side('read', job.result.read) + '; ' + side('write', job.result.write);
      btn.disabled = false;
      return false;
    };
    const poll = async () => {
      try {
        const r = await call('GET', st.dataset.api);
        if (show(r.job)) setTimeout(poll, 2000);
      } catch (e) { out.textContent = e.message; btn.disabled = false; }
    };
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try { show((await call('POST', st.dataset.api)).job); setTimeout(poll, 2000); }
      catch (e) { out.textContent = e.message; btn.disabled = false; }
    });
    poll();
  }
  const tests = document.getElementById('channel-tests');
  if (tests) {
    const out = document.getElementById('channel-test-result');
    for (const b of tests.querySelectorAll('.js-channel-test')) {
      b.addEventListener('click', async () => {
        b.disabled = true;
        out.textContent = 'Sending ...';
        try { const r = await call('POST', tests.dataset.api + '/' + b.dataset.channel + '/test'); out.textContent = 'Sent the test message to ' + r.to + '.'; }
        catch (e) { out.textContent = e.message; }
        b.disabled = false;
      });
    }
  }
})();
`;
