/**
 * System Manager's Reporting: the resource history (appliance/reporting) as line charts drawn
 * on the server as SVG (presentation attributes only: no script, no inline style, so the strict
 * CSP holds), over 24 hours, 7 days, 30 days or a year; GET /mics/api/v1/reporting gives the same
 * series. Lines differ by dash pattern as well as colour, so a printed page still reads.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ResourceHistory, RANGES, TIERS, type MetricSeries, type RangeName } from '../appliance/reporting/history.ts';
import { API, ErrorBody, SESSION_OR_TOKEN } from './api.ts';
import { html, Html } from './pages.ts';

export const REPORTING_API = `${API}/reporting`;
export const REPORTING_PAGE = '/mics/reporting';

type Unit = 'percent' | 'load' | 'bytes' | 'bytes/s' | 'per s';
/** The charts: which metrics, in what unit, and each line's name in words. */
export const CHARTS: { id: string; title: string; unit: Unit; metrics: string[]; name: (metric: string) => string }[] = [
  { id: 'cpu', title: 'CPU', unit: 'percent', metrics: ['cpu.busy', 'cpu.iowait'], name: (m) => (m === 'cpu.busy' ? 'busy' : 'waiting for I/O') },
  { id: 'load', title: 'Load average', unit: 'load', metrics: ['load.1', 'load.5', 'load.15'], name: (m) => `${m.slice(5)} min` },
  { id: 'memory', title: 'Memory', unit: 'percent', metrics: ['memory.used_pct'], name: () => 'in use' },
  { id: 'swap', title: 'Swap', unit: 'bytes', metrics: ['swap.used'], name: () => 'in use' },
  { id: 'filesystems', title: 'File system use', unit: 'percent', metrics: ['fs.'], name: (m) => (m.startsWith('fs.') && m.endsWith('.used_pct') ? `${m.slice(3, -9) === 'data' ? 'data partition' : m.slice(3, -9) === 'root' ? 'system (/)' : m.slice(3, -9)}` : '') },
  { id: 'disk-io', title: 'Disk I/O', unit: 'bytes/s', metrics: ['disk.'], name: (m) => (/\.(read|write)$/.test(m) ? `${m.split('.')[1]} ${m.endsWith('.read') ? 'read' : 'written'}` : '') },
  { id: 'disk-busy', title: 'Disk busy', unit: 'percent', metrics: ['disk.'], name: (m) => (m.endsWith('.busy') ? m.split('.')[1] : '') },
  { id: 'traffic', title: 'Network traffic', unit: 'bytes/s', metrics: ['net.'], name: (m) => (/\.(rx|tx)$/.test(m) ? `${m.slice(4, -3)} ${m.endsWith('.rx') ? 'received' : 'sent'}` : '') },
  { id: 'net-errors', title: 'Network errors and drops', unit: 'per s', metrics: ['net.'], name: (m) => (/\.(errors|drops)$/.test(m) ? `${m.slice(4).replace(/\.(errors|drops)$/, '')} ${m.endsWith('.errors') ? 'errors' : 'drops'}` : '') },
];

const COLORS = ['#1f5fbf', '#b3261e', '#1c7a3a', '#7a3fb3', '#d08a00', '#00788a', '#5b6575', '#a0522d'];
const DASHES = ['', '6 3', '2 2', '8 3 2 3', '1 3', '10 4'];

/** A value with its unit, short (axis labels, the legend's last value). */
export function formatValue(v: number, unit: Unit): string {
  if (unit === 'percent') return `${v < 10 ? v.toFixed(1) : Math.round(v)} %`;
  if (unit === 'load' || unit === 'per s') return `${v < 10 ? v.toFixed(2) : Math.round(v)}${unit === 'per s' ? '/s' : ''}`;
  const k = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let x = v;
  while (x >= 1000 && i < k.length - 1) (x /= 1000), i++;
  return `${x < 10 && i ? x.toFixed(1) : Math.round(x)} ${k[i]}${unit === 'bytes/s' ? '/s' : ''}`;
}

/** A round top for the y axis (1, 2 or 5 times a power of ten; percent charts end at 100). */
function niceMax(v: number, unit: Unit): number {
  if (unit === 'percent') return v <= 10 ? 10 : 100;
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((f) => f * p).find((x) => x >= v)!;
}

/** One chart: lines over the window, a y axis from 0, time ticks, and a legend with each line's last, average and highest value. */
export function lineChartSvg(title: string, unit: Unit, lines: { name: string; points: { at: number; value: number }[] }[], since: number, until: number): Html {
  const W = 720;
  const L = 64;
  const R = 10;
  const T = 8;
  const PH = 150;
  const H = T + PH + 20;
  const x = (t: number) => L + ((Math.min(Math.max(t, since), until) - since) / (until - since)) * (W - L - R);
  const top = niceMax(Math.max(0, ...lines.flatMap((l) => l.points.map((p) => p.value))), unit);
  const y = (v: number) => T + PH - (Math.max(0, v) / top) * PH;
  const span = until - since;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const t = since + f * span;
    const lx = x(t).toFixed(1);
    const label = f === 1 ? 'now' : span <= 2 * 86400_000 ? `-${Math.round(((1 - f) * span) / 3600_000)} h` : `-${Math.round(((1 - f) * span) / 86400_000)} d`;
    return html`<line x1="${lx}" y1="${T}" x2="${lx}" y2="${T + PH}" stroke="#e3e7ee"/><text x="${lx}" y="${H - 4}" font-size="10" fill="#5b6575" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}">${label}</text>`;
  });
  const grid = [0, 0.5, 1].map((f) => {
    const gy = y(top * f).toFixed(1);
    return html`<line x1="${L}" y1="${gy}" x2="${W - R}" y2="${gy}" stroke="#e3e7ee"/><text x="${L - 4}" y="${(Number(gy) + 3).toFixed(1)}" font-size="10" fill="#5b6575" text-anchor="end">${formatValue(top * f, unit)}</text>`;
  });
  // A gap of more than three steps (the appliance was off) breaks the line instead of bridging it.
  const paths = lines.map((l, i) => {
    const step = l.points.length > 1 ? Math.min(...l.points.slice(1).map((p, j) => p.at - l.points[j].at)) : 0;
    let d = '';
    l.points.forEach((p, j) => {
      const jump = j === 0 || p.at - l.points[j - 1].at > step * 3;
      d += `${jump ? 'M' : 'L'}${x(p.at).toFixed(1)} ${y(p.value).toFixed(1)} `;
    });
    const dash = DASHES[i % DASHES.length];
    return html`<path d="${d.trim()}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"${dash ? html` stroke-dasharray="${dash}"` : ''}><title>${l.name}</title></path>`;
  });
  const legend = lines.map((l, i) => {
    const vals = l.points.map((p) => p.value);
    const dash = DASHES[i % DASHES.length];
    return html`<li><svg width="28" height="10" viewBox="0 0 28 10" aria-hidden="true"><line x1="0" y1="5" x2="28" y2="5" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"${dash ? html` stroke-dasharray="${dash}"` : ''}/></svg> ${l.name}: <strong>${formatValue(vals[vals.length - 1], unit)}</strong> <span class="muted">(average ${formatValue(vals.reduce((a, b) => a + b, 0) / vals.length, unit)}, highest ${formatValue(Math.max(...vals), unit)})</span></li>`;
  });
  return html`<figure class="report-chart"><figcaption>${title}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${title}">${grid}${ticks}${paths}</svg><ul class="legend">${legend}</ul></figure>`;
}

/** The series of a range from the history (the finest tier that covers it, at most 720 points a line). */
export function reportSeries(h: ResourceHistory, range: RangeName, now = Date.now()): { since: number; until: number; series: MetricSeries[] } {
  // A year is one scan of about 200,000 rows (~0.2 s, synchronous): the long ranges are drawn
  // from a copy at most a minute old, as new points arrive once a minute anyway.
  const key = `${range}`;
  let mine = cache.get(h);
  if (!mine) cache.set(h, (mine = new Map()));
  const hit = mine.get(key);
  if (range !== '24h' && hit && now - hit.at < 60_000 && now >= hit.at) return hit.data;
  const until = now;
  const since = until - RANGES[range] * 1000;
  const data = { since, until, series: h.series([...new Set(CHARTS.flatMap((c) => c.metrics))], since, until, 720, now) };
  mine.set(key, { at: now, data });
  return data;
}
const cache = new WeakMap<ResourceHistory, Map<string, { at: number; data: ReturnType<typeof reportSeries> }>>();

/** The Reporting page body. */
export function reportingPage(h: ResourceHistory, rangeParam: string | undefined, now = Date.now()): Html {
  const range: RangeName = rangeParam && rangeParam in RANGES ? (rangeParam as RangeName) : '24h';
  const { since, until, series } = reportSeries(h, range, now);
  const tabs = (Object.keys(RANGES) as RangeName[]).map((r) => html`<a href="${REPORTING_PAGE}?range=${r}"${r === range ? html` aria-current="true" class="button"` : ''}>${{ '24h': '24 hours', '7d': '7 days', '30d': '30 days', '1y': '1 year' }[r]}</a> `);
  const charts = CHARTS.map((c) => {
    const lines = series.filter((s) => c.metrics.some((m) => (m.endsWith('.') ? s.metric.startsWith(m) : s.metric === m)) && c.name(s.metric)).map((s) => ({ name: c.name(s.metric), points: s.points }));
    return lines.length ? html`<div id="chart-${c.id}">${lineChartSvg(c.title, c.unit, lines, since, until)}</div>` : '';
  });
  const any = series.length > 0;
  return html`<section>
<p class="ranges" id="report-ranges">${tabs}</p>
${any ? html`<div id="report-charts">${charts}</div>` : html`<p id="report-charts" class="muted">No samples yet: the health monitor records one a minute.</p>`}
<p class="muted">Sampled every minute from the kernel (/proc); kept ${TIERS.map((t) => t.label).join('; ')}. Values are averages over each point's interval. The same series, newest minute: <a href="/metrics">/metrics</a> (Prometheus).</p>
</section>`;
}

/** The dashboard's resource section: CPU, memory and network traffic over 24 hours, and a link to Reporting. */
export function dashboardResources(h: ResourceHistory, now = Date.now()): Html {
  const { since, until, series } = reportSeries(h, '24h', now);
  const charts = CHARTS.filter((c) => ['cpu', 'memory', 'traffic'].includes(c.id)).map((c) => {
    const lines = series.filter((s) => c.metrics.some((m) => (m.endsWith('.') ? s.metric.startsWith(m) : s.metric === m)) && c.name(s.metric)).map((s) => ({ name: c.name(s.metric), points: s.points }));
    return lines.length ? lineChartSvg(c.title, c.unit, lines, since, until) : '';
  });
  return html`<section id="resources">
<h2>Resources, last 24 hours</h2>
${series.length ? charts : html`<p class="muted">No samples yet: the health monitor records one a minute.</p>`}
<p><a href="${REPORTING_PAGE}">Reporting</a>: disks, load and longer ranges.</p>
</section>`;
}

/** GET /mics/api/v1/reporting. */
export function registerReportingApi(app: FastifyInstance): ResourceHistory {
  const h = new ResourceHistory(app.keel.store.db);
  app.get<{ Querystring: { range?: RangeName } }>(REPORTING_API, {
    schema: {
      tags: ['reporting'],
      summary: 'Resource history',
      description: `CPU, load, memory, file system use, disk I/O and per-interface traffic and errors over a range, averaged to at most 720 points per series. Kept ${TIERS.map((t) => t.label).join('; ')}.`,
      security: SESSION_OR_TOKEN,
      querystring: Type.Object({ range: Type.Optional(Type.Union((Object.keys(RANGES) as RangeName[]).map((r) => Type.Literal(r)), { default: '24h' })) }),
      response: {
        200: Type.Object({
          range: Type.String(),
          since: Type.String(),
          until: Type.String(),
          series: Type.Array(Type.Object({ metric: Type.String({ description: 'cpu.busy, load.1, memory.used_pct, fs.data.used_pct, disk.sda.read, net.GigabitEthernet1.rx…' }), points: Type.Array(Type.Object({ at: Type.String(), value: Type.Number() })) })),
        }),
        400: ErrorBody,
        401: ErrorBody,
        403: ErrorBody,
      },
    },
    handler: async (req) => {
      const range = req.query.range ?? '24h';
      const r = reportSeries(h, range);
      return { range, since: new Date(r.since).toISOString(), until: new Date(r.until).toISOString(), series: r.series.map((s) => ({ metric: s.metric, points: s.points.map((p) => ({ at: new Date(p.at).toISOString(), value: p.value })) })) };
    },
  });
  return h;
}
