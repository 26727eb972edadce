/**
 * Resource history: the /proc parsers (on this machine's real /proc too), rates between two
 * readings, the downsampling tiers over simulated days, the Prometheus text, and the Reporting
 * page and API on a real server.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { parseProcStat, parseMeminfo, parseDiskstats, parseNetDev, readResourceCounters, type ResourceCounters } from '../../appliance/host/resources.ts';
import { ResourceHistory, ResourceSampler, valuesBetween, renderResourceMetrics, TIERS } from '../../appliance/reporting/history.ts';
import { reportingPage, lineChartSvg, formatValue } from '../../webui/reporting.ts';
import { buildServer } from '../../webui/server.ts';
import { configuredHost, WEB_PASSWORD } from '../helpers/web.ts';

const STAT = 'cpu  1000 10 500 8000 200 0 40 0 0 0\ncpu0 500 5 250 4000 100 0 20 0 0 0\ncpu1 500 5 250 4000 100 0 20 0 0 0\nintr 1\n';
const MEMINFO = 'MemTotal:        8000000 kB\nMemFree:          100000 kB\nMemAvailable:    6000000 kB\nCached:          3000000 kB\nSwapTotal:       1000000 kB\nSwapFree:         750000 kB\n';
const DISKSTATS = [
  '   8       0 sda 1000 0 20480 100 500 0 40960 200 0 300 300 0 0 0 0',
  '   8       1 sda1 900 0 18000 90 400 0 30000 150 0 250 240 0 0 0 0',
  ' 259       0 nvme0n1 10 0 16 1 0 0 0 0 0 1 1 0 0 0 0',
  ' 259       1 nvme0n1p1 10 0 16 1 0 0 0 0 0 1 1 0 0 0 0',
  '   7       0 loop0 5 0 10 0 0 0 0 0 0 0 0 0 0 0 0',
  ' 253       0 dm-0 5 0 10 0 0 0 0 0 0 0 0 0 0 0 0',
].join('\n');
const NETDEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0       0          0
  eth0: 1000000    2000    3    4    0     0          0         0  500000    1500    1    2    0     0       0          0
`;

test('procfs parsers: the cpu line, meminfo in bytes, whole disks only, interfaces without loopback', () => {
  assert.deepEqual(parseProcStat(STAT), { busy: 1550, iowait: 200, total: 9750, cpus: 2 });
  assert.deepEqual(parseMeminfo(MEMINFO), { total: 8000000 * 1024, available: 6000000 * 1024, swapTotal: 1000000 * 1024, swapFree: 750000 * 1024 });
  assert.deepEqual(parseDiskstats(DISKSTATS), { sda: { readBytes: 20480 * 512, writeBytes: 40960 * 512, ioMs: 300 }, nvme0n1: { readBytes: 16 * 512, writeBytes: 0, ioMs: 1 } });
  assert.deepEqual(parseNetDev(NETDEV), { eth0: { rxBytes: 1000000, rxErrors: 3, rxDropped: 4, txBytes: 500000, txErrors: 1, txDropped: 2 } });
});

test('this machine\'s real /proc and statfs read as counters', () => {
  const c = readResourceCounters({ root: '/' });
  assert.ok(c.cpus >= 1 && c.cpu.total > 0 && c.memory.total > 0, JSON.stringify(c));
  assert.ok(c.filesystems.root.size > 0 && c.filesystems.root.used > 0);
  assert.ok(!('lo' in c.interfaces));
});

function counters(at: number, k: number): ResourceCounters {
  return {
    at,
    cpu: { busy: 1000 + 30 * k, iowait: 100 + 6 * k, total: 10000 + 120 * k },
    cpus: 2,
    load: [0.5, 0.4, 0.3],
    memory: { total: 1000, available: 250, swapTotal: 100, swapFree: 100 },
    disks: { sda: { readBytes: 60_000 * k, writeBytes: 120_000 * k, ioMs: 6000 * k } },
    filesystems: { data: { size: 200, used: 50 } },
    interfaces: { eth0: { rxBytes: 6_000_000 * k, txBytes: 600 * k, rxErrors: k, txErrors: k, rxDropped: 0, txDropped: 0 } },
  };
}

test('values between two readings: percentages, rates per second, interface names; a counter that went back gives nothing', () => {
  const v = valuesBetween(counters(0, 1), counters(60_000, 2), (k) => (k === 'eth0' ? 'GigabitEthernet1' : k));
  assert.deepEqual(v, {
    'load.1': 0.5, 'load.5': 0.4, 'load.15': 0.3,
    'memory.used': 750, 'memory.used_pct': 75, 'swap.used': 0,
    'fs.data.used': 50, 'fs.data.used_pct': 25,
    'cpu.busy': 25, 'cpu.iowait': 5,
    'disk.sda.read': 1000, 'disk.sda.write': 2000, 'disk.sda.busy': 10,
    'net.GigabitEthernet1.rx': 100_000, 'net.GigabitEthernet1.tx': 10, 'net.GigabitEthernet1.errors': 2 / 60, 'net.GigabitEthernet1.drops': 0,
  });
  const reset = valuesBetween(counters(0, 5), counters(60_000, 1));
  assert.equal(reset['disk.sda.read'], undefined);
  assert.equal(reset['net.eth0.rx'], undefined);
  assert.equal(reset['cpu.busy'], undefined);
  assert.equal(valuesBetween(null, counters(0, 1))['cpu.busy'], undefined, 'the first reading has no rates');
});

test('downsampling over 3 simulated days: 1-minute rows kept 48 h, 15-minute and hourly averages, the tier chosen by range', () => {
  const db = new Database(':memory:');
  const h = new ResourceHistory(db);
  const t0 = Date.parse('2026-11-01T00:00:00Z');
  const minutes = 3 * 24 * 60;
  // value = minute index: the average of a 15-minute bucket is its middle.
  for (let i = 0; i < minutes; i++) h.record(t0 + i * 60_000, { 'cpu.busy': i, 'net.G1.rx': 2 * i });
  const rows = h.rowCounts();
  assert.equal(rows[0], 2 * (48 * 60 + 1), '48 hours (and the boundary minute) of two metrics');
  assert.equal(rows[1], 2 * (minutes / 15 - 1), 'every closed 15-minute bucket');
  assert.equal(rows[2], 2 * (minutes / 60 - 1), 'every closed hour');
  const now = t0 + (minutes - 1) * 60_000;
  const q15 = db.prepare("SELECT at, value FROM resource_sample s JOIN resource_metric m ON m.id = s.metric WHERE tier = 1 AND m.name = 'cpu.busy' ORDER BY at LIMIT 2").all() as { at: number; value: number }[];
  assert.deepEqual(q15, [{ at: t0 / 1000, value: 7 }, { at: t0 / 1000 + 900, value: 22 }]);
  const hour = db.prepare("SELECT value FROM resource_sample s JOIN resource_metric m ON m.id = s.metric WHERE tier = 2 AND m.name = 'net.G1.rx' ORDER BY at LIMIT 1").pluck().get();
  assert.equal(hour, 59, 'the average of 2 * (0..59)');

  const day = h.series(['cpu.busy'], now - 86400_000, now + 1, 720, now);
  assert.equal(day.length, 1);
  assert.ok(day[0].points.length <= 721 && day[0].points.length >= 719, `${day[0].points.length} points`);
  assert.equal(day[0].points[1].at - day[0].points[0].at, 120_000, '1-minute tier, two minutes a point');
  const week = h.series(['net.'], now - 7 * 86400_000, now, 720, now);
  assert.deepEqual(week.map((s) => s.metric), ['net.G1.rx']);
  assert.equal(week[0].points[1].at - week[0].points[0].at, 900_000, 'the 15-minute tier for 7 days');
  const year = h.series(['cpu.busy'], now - 365 * 86400_000, now, 720, now);
  assert.equal(year[0].points[1].at - year[0].points[0].at, 13 * 3600_000, 'hourly tier, 13 hours a point for 720 points a year');
  assert.deepEqual(h.latest(), { at: now, values: { 'cpu.busy': minutes - 1, 'net.G1.rx': 2 * (minutes - 1) } });
  assert.deepEqual(TIERS.map((t) => [t.stepS, t.keepS / 3600]), [[60, 48], [900, 720], [3600, 366 * 24]]);
});

test('Prometheus text: one gauge family each, labels for file systems, disks and interfaces', () => {
  const text = renderResourceMetrics({ at: 1_800_000_000_000, values: { 'cpu.busy': 12.5, 'load.1': 0.5, 'fs.data.used_pct': 40, 'disk.sda.read': 100, 'net.GigabitEthernet1.rx': 2000, 'net.GigabitEthernet1.errors': 0 } });
  assert.match(text, /^# HELP keel_cpu_busy_percent .*\n# TYPE keel_cpu_busy_percent gauge\nkeel_cpu_busy_percent 12.5$/m);
  assert.match(text, /^node_load1 0.5$/m);
  assert.match(text, /^keel_filesystem_used_percent\{filesystem="data"\} 40$/m);
  assert.match(text, /^keel_disk_read_bytes_per_second\{device="sda"\} 100$/m);
  assert.match(text, /^keel_network_receive_bytes_per_second\{interface="GigabitEthernet1"\} 2000$/m);
  assert.match(text, /^keel_network_errors_per_second\{interface="GigabitEthernet1"\} 0$/m);
  assert.match(text, /^keel_resource_sample_timestamp_seconds 1800000000$/m);
  assert.equal(renderResourceMetrics(null), '');
});

test('charts: SVG paths with a y axis from 0, a gap breaks the line, legends in words, no script or inline style', () => {
  assert.deepEqual([formatValue(12.34, 'percent'), formatValue(1_500_000, 'bytes/s'), formatValue(0.25, 'load'), formatValue(950, 'bytes')], ['12 %', '1.5 MB/s', '0.25', '950 B']);
  const since = 0;
  const until = 10 * 60_000;
  const svg = lineChartSvg('CPU', 'percent', [{ name: 'busy', points: [0, 1, 2, 7, 8].map((m) => ({ at: m * 60_000, value: m * 5 })) }], since, until).text;
  const d = /<path d="([^"]+)"/.exec(svg)![1];
  assert.equal(d.match(/M/g)!.length, 2, 'a 5-minute gap starts a new line');
  assert.match(svg, />100 %<\/text>/);
  assert.match(svg, /busy: <strong>40 %<\/strong>/);
  assert.doesNotMatch(svg, /style=|<script/);
});

async function served(t: TestContext) {
  const host = await configuredHost(t, { prefix: 'keel-reporting-' });
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => void app.close());
  const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username: 'admin', password: WEB_PASSWORD } });
  const cookie = String(r.headers['set-cookie']).split(';')[0];
  return { app, host, get: (url: string) => app.inject({ method: 'GET', url, headers: { cookie } }) };
}

test('Reporting page, API and /metrics on a server, with two real samples of this machine', async (t) => {
  const { app, host, get } = await served(t);
  const empty = await get('/mics/reporting');
  assert.equal(empty.statusCode, 200);
  assert.match(empty.body, /No samples yet/);

  const sampler = new ResourceSampler(host, new ResourceHistory(app.keel.store.db));
  const t0 = Date.now() - 120_000;
  sampler.sample(t0);
  // The kernel counts CPU time in 10 ms ticks: the second reading must be a few ticks later.
  await new Promise((r) => setTimeout(r, 200));
  sampler.sample(t0 + 60_000);
  const page = await get('/mics/reporting?range=24h');
  assert.match(page.body, /<title>Reporting · System Manager<\/title>/);
  assert.match(page.body, /<div id="chart-cpu"><figure class="report-chart"><figcaption>CPU<\/figcaption><svg /);
  assert.match(page.body, /id="chart-memory"/);
  assert.match(page.body, /id="chart-filesystems"[\s\S]*data partition/);
  assert.doesNotMatch(page.body, /style=|<script>/);
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  const dash = await get('/mics/');
  assert.match(dash.body, /<section id="resources">\n<h2>Resources, last 24 hours<\/h2>\n<figure class="report-chart"><figcaption>CPU<\/figcaption>[\s\S]*<figcaption>Memory<\/figcaption>/);
  for (const r of ['7d', '30d', '1y']) assert.equal((await get(`/mics/reporting?range=${r}`)).statusCode, 200);

  const api = await get('/mics/api/v1/reporting?range=24h');
  assert.equal(api.statusCode, 200, api.body);
  const metrics = JSON.parse(api.body).series.map((s: { metric: string }) => s.metric);
  for (const m of ['cpu.busy', 'load.1', 'memory.used_pct', 'fs.data.used_pct', 'fs.root.used_pct']) assert.ok(metrics.includes(m), `${m} in ${metrics}`);
  assert.equal((await get('/mics/api/v1/reporting?range=2y')).statusCode, 400);

  const prom = await get('/mics/api/v1/health/metrics');
  assert.equal(prom.statusCode, 200);
  assert.match(prom.body, /^keel_cpu_busy_percent \d/m);
  assert.match(prom.body, /^keel_filesystem_used_percent\{filesystem="data"\} \d/m);
  // Each family once: the exposition format wants a family's samples together.
  const types = prom.body.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
  assert.equal(new Set(types).size, types.length);
});
