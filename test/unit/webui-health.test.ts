import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { type Config } from '../../appliance/config/schema.ts';
import { HealthStore } from '../../appliance/health/monitor.ts';
import { frontPanel } from '../../appliance/health/leds.ts';
import type { HealthSnapshot } from '../../appliance/health/snapshot.ts';
import type { Finding } from '../../appliance/health/types.ts';
import { buildServer } from '../../webui/server.ts';
import { setHealthMonitor, seriesOf, ValueSamples, valuesSvg } from '../../webui/health-routes.ts';
import { tempRoot } from '../helpers/config.ts';
import { configuredHost, WEB_PASSWORD, OPERATOR_PASSWORD } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';

const PASSWORD = WEB_PASSWORD;
const OP_PASSWORD = OPERATOR_PASSWORD;
const V1 = '/mics/api/v1';
const HOUR = 3_600_000;

type Res = { status: number; json: any; text: string; headers: Record<string, unknown> };

async function start(t: TestContext, edit?: (c: Config) => void) {
  const host = await configuredHost(t, { prefix: 'keel-health-web-', edit });
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => { app.close(); });
  t.onTestFinished(() => { setHealthMonitor(null); });
  const call = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}, remoteAddress?: string): Promise<Res> => {
    const r = await app.inject({ method: method as 'GET', url, headers, ...(remoteAddress ? { remoteAddress } : {}), ...(body !== undefined ? { payload: body as object } : {}) });
    let json: any = null;
    try {
      json = JSON.parse(r.body);
    } catch {
      /* not JSON */
    }
    return { status: r.statusCode, json, text: r.body, headers: r.headers };
  };
  const signIn = async (username = 'admin', password = PASSWORD) => {
    const r = await call('POST', '/mics/api/session', { username, password });
    assert.equal(r.status, 200, r.text);
    const cookie = String(r.headers['set-cookie']).split(';')[0];
    const csrf = r.json.csrfToken as string;
    return (method: string, url: string, body?: unknown) => call(method, url, body, { cookie, ...(method === 'GET' ? {} : { 'x-csrf-token': csrf }) });
  };
  return { app, host, store: app.keel.store, call, signIn };
}

const cpu = (severity: Finding['severity'], value: number): Finding => ({ key: 'ipmi.sensor.CPU Temp', category: 'temperature', severity, subject: 'CPU Temp', message: `CPU Temp ${value} degrees C${severity === 'ok' ? '' : ` (${severity} threshold crossed)`}`, value });
const fan = (severity: Finding['severity']): Finding => ({ key: 'ipmi.sensor.FAN1', category: 'fan', severity, subject: 'FAN1', message: `FAN1 ${severity === 'ok' ? '5400' : '0'} RPM`, value: severity === 'ok' ? 5400 : 0 });
const link = (up: boolean): Finding => ({ key: 'nic.GigabitEthernet1.link', category: 'nic', severity: up ? 'ok' : 'critical', subject: 'GigabitEthernet1', message: `GigabitEthernet1 link ${up ? 'up, 1000 Mb/s full duplex' : 'down'}` });
const disk: Finding = { key: 'md.md0', category: 'raid', severity: 'ok', subject: 'md0', message: 'md0 raid1 clean, 2 of 2 disks' };

/** A physical M2250 snapshot with a critical CPU temperature (what the monitor would hold). */
function snapshotOf(findings: Finding[], virtual = false): HealthSnapshot {
  return {
    at: new Date().toISOString(),
    overall: findings.some((f) => f.severity === 'critical') ? 'critical' : 'ok',
    platform: { id: virtual ? 'vmware' : 'm2250', kind: virtual ? 'virtual' : 'physical', name: virtual ? 'VMware virtual machine' : 'M2250', supported: true, profile: { frontPanel: virtual ? 'none' : 'm22x0-info' } } as never,
    nics: [{ name: 'GigabitEthernet1', ifname: 'eth0', operstate: 'up', carrier: true, speedMbps: 1000, carrierChanges: 2, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 }] as never,
    md: [],
    raid: [],
    disks: [],
    ipmi: virtual ? null : ({ bmc: 'local BMC', sensors: [{ name: 'CPU Temp', number: '0x01', category: 'temperature', value: 95, severity: 'critical' }, { name: 'FAN1', number: '0x30', category: 'fan', value: 5400, severity: 'ok' }], chassis: { powerOn: true }, sel: [], fru: [], readMs: 60 } as never),
    hypervisor: virtual ? { guestTools: 'vmtoolsd', running: true } : null,
    frontPanel: virtual ? [] : frontPanel({ frontPanel: 'm22x0-info' }, findings),
    findings,
    durations: { nic: 3, ipmi: 60 },
    errors: [],
  };
}

/** History over the last day: all OK 20 h ago, warning 10 h ago, critical 2 h ago; the link flapped 5 h ago. */
function fill(db: Store['db']): HealthStore {
  const hs = new HealthStore(db);
  const now = Date.now();
  hs.record([cpu('ok', 60), fan('ok'), link(true), disk], now - 20 * HOUR);
  hs.record([cpu('warning', 82), fan('ok'), link(false), disk], now - 10 * HOUR);
  hs.record([cpu('warning', 83), fan('ok'), link(true), disk], now - 5 * HOUR);
  hs.record([cpu('critical', 95), fan('ok'), link(true), disk], now - 2 * HOUR);
  return hs;
}

test('health API: snapshot from the running monitor, 24 h history as series, open alerts; OpenAPI lists them', async (t) => {
  const env = await start(t);
  const hs = fill(env.store.db);
  const findings = [cpu('critical', 95), fan('ok'), link(true), disk];
  setHealthMonitor({ latest: snapshotOf(findings), store: hs });
  const a = await env.signIn();

  const now = await a('GET', `${V1}/health`);
  assert.equal(now.status, 200, now.text);
  assert.equal(now.json.source, 'monitor');
  assert.equal(now.json.overall, 'critical');
  assert.equal(now.json.virtual, false);
  assert.deepEqual(now.json.problems.map((f: Finding) => f.key), ['ipmi.sensor.CPU Temp']);
  assert.equal(now.json.frontPanel[0].line, 'Informational LED: solid red - An overheat condition has occurred. This may be caused by cable congestion.');

  const hist = await a('GET', `${V1}/health/history`);
  assert.equal(hist.status, 200, hist.text);
  assert.equal(hist.json.entries.length, 4 + 2 + 1 + 1, 'first states, CPU warning and link down, link up, CPU critical');
  const cpuSeries = hist.json.series.find((s: any) => s.key === 'ipmi.sensor.CPU Temp');
  assert.deepEqual(cpuSeries.segments.map((g: any) => g.severity), ['ok', 'warning', 'critical']);
  assert.equal(cpuSeries.current, 'critical');
  assert.ok(Math.abs(Date.parse(cpuSeries.segments[1].from) - (Date.now() - 10 * HOUR)) < 60_000);
  const linkSeries = hist.json.series.find((s: any) => s.key === 'nic.GigabitEthernet1.link');
  assert.deepEqual(linkSeries.segments.map((g: any) => g.severity), ['ok', 'critical', 'ok']);
  assert.deepEqual(hist.json.values.map((v: any) => [v.key, v.unit, v.points.map((p: any) => p.value)]), [['ipmi.sensor.CPU Temp', 'C', [95]], ['ipmi.sensor.FAN1', 'RPM', [5400]]], 'readings sampled from the snapshot');
  const one = await a('GET', `${V1}/health/history?key=${encodeURIComponent('nic.GigabitEthernet1.link')}&hours=6`);
  assert.deepEqual(one.json.entries.map((e: any) => e.severity), ['ok'], 'only the link coming back is inside 6 h');
  assert.deepEqual(one.json.series[0].segments.map((g: any) => g.severity), ['critical', 'ok']);
  assert.equal((await a('GET', `${V1}/health/history?hours=0`)).status, 400);

  const alerts = await a('GET', `${V1}/health/alerts`);
  assert.deepEqual(alerts.json.alerts.map((x: any) => [x.key, x.severity]), [['ipmi.sensor.CPU Temp', 'critical']], 'the link alert cleared itself');

  const doc = (await env.call('GET', '/mics/api/openapi.json')).json;
  for (const p of ['/mics/api/v1/health', '/mics/api/v1/health/history', '/mics/api/v1/health/alerts', '/mics/api/v1/health/storage-test', '/mics/api/v1/health/channels/{channel}/test', '/mics/api/v1/config/health', '/mics/api/v1/config/health/plan', '/mics/api/v1/health/metrics']) assert.ok(doc.paths[p], `${p} in the OpenAPI document`);
  assert.equal(doc.paths['/metrics'], undefined, 'the alias is described with its API path');
  assert.deepEqual(doc.paths['/mics/api/v1/health/metrics'].get.security, [{ sessionCookie: [] }, { bearerToken: [] }]);
  assert.equal((await env.call('GET', `${V1}/health`)).status, 401, 'not anonymous');
});

test('seriesOf: a key without changes in the window is its state since it began; a vanished key ends', (t) => {
  const dir = tempRoot('keel-health-series-');
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const host = createHost(dir);
  host.files.mkdirp('/var/lib/keel', 0o700);
  const store = Store.open(host);
  t.onTestFinished(() => { store.close(); });
  const hs = new HealthStore(store.db);
  const now = Date.now();
  hs.record([fan('ok'), disk], now - 48 * HOUR);
  hs.record([fan('ok')], now - 3 * HOUR, ['md.']);
  const s = seriesOf(hs, now - 24 * HOUR, now);
  const f = s.find((x) => x.key === 'ipmi.sensor.FAN1')!;
  assert.deepEqual(f.segments.map((g) => [g.severity, g.from]), [['ok', now - 24 * HOUR]]);
  const md = s.find((x) => x.key === 'md.md0')!;
  assert.equal(md.current, null);
  assert.deepEqual(md.segments.map((g) => [g.severity, g.to]), [['ok', now - 3 * HOUR]]);
});

test('ValueSamples: each snapshot once, 24 h window, drawn as one line per sensor with min/max/now', () => {
  const v = new ValueSamples();
  const now = Date.now();
  const snap = (at: number, temp: number) => ({ ...snapshotOf([cpu('ok', temp)]), at: new Date(at).toISOString(), ipmi: { sensors: [{ name: 'CPU Temp', category: 'temperature', value: temp }, { name: 'PSU1 Status', category: 'power', value: null }] } as never, disks: [{ device: '/dev/sda', temperatureC: 31 }] as never });
  const old = snap(now - 30 * HOUR, 40);
  v.take(old);
  for (let i = 0; i < 5; i++) v.take(snap(now - (5 - i) * HOUR, 60 + i));
  v.take(snap(now - HOUR, 64)); // the same snapshot (same time) again
  const list = v.list(now - 24 * HOUR);
  assert.deepEqual(list.map((x) => x.key), ['disk./dev/sda.temperature', 'ipmi.sensor.CPU Temp']);
  assert.deepEqual(list[1].points.map((p) => p.value), [60, 61, 62, 63, 64], 'older than 24 h dropped, a repeated snapshot not counted twice');
  const svg = valuesSvg('Temperature readings', [list[1]], now - 24 * HOUR, now).text;
  assert.match(svg, /<polyline points="[\d., ]+" fill="none"/);
  assert.match(svg, />64 C <tspan fill="#5b6575">\(60 to 64\)<\/tspan>/);
  assert.equal(svg.match(/<polyline points="([^"]+)"/)![1].split(' ').length, 5);
});

test('/metrics: Prometheus text with an API token or a session; 401 without, with a revoked token; Portal ACL first', async (t) => {
  const env = await start(t);
  setHealthMonitor({ latest: snapshotOf([cpu('critical', 95), fan('ok'), link(true)]), store: new HealthStore(env.store.db) });
  const anon = await env.call('GET', '/metrics');
  assert.equal(anon.status, 401);
  assert.match(String(anon.headers['www-authenticate']), /^Bearer/);
  assert.doesNotMatch(anon.text, /ipmi_/);
  assert.equal((await env.call('GET', '/metrics', undefined, { authorization: 'Bearer nonsense' })).status, 401);

  const a = await env.signIn();
  const made = await a('POST', `${V1}/tokens`, { name: 'prometheus', role: 'operator' });
  assert.equal(made.status, 201, made.text);
  const m = await env.call('GET', '/metrics', undefined, { authorization: `Bearer ${made.json.token}` });
  assert.equal(m.status, 200, m.text);
  assert.match(String(m.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(m.text, /^# TYPE ipmi_temperature_celsius gauge$/m);
  assert.match(m.text, /^ipmi_temperature_celsius\{id="0x01",name="CPU Temp"\} 95$/m);
  assert.match(m.text, /^node_network_up\{device="eth0",name="GigabitEthernet1"\} 1$/m);
  assert.match(m.text, /^keel_health_overall 3$/m);
  assert.equal((await a('GET', '/metrics')).status, 200, 'a session works too');
  const api = await env.call('GET', `${V1}/health/metrics`, undefined, { authorization: `Bearer ${made.json.token}` });
  assert.equal(api.status, 200);
  assert.equal(api.text, m.text, 'the same text under the API path');
  assert.equal((await env.call('GET', `${V1}/health/metrics`)).status, 401);

  assert.equal((await a('DELETE', `${V1}/tokens/${made.json.id}`)).status, 200);
  assert.equal((await env.call('GET', '/metrics', undefined, { authorization: `Bearer ${made.json.token}` })).status, 401, 'revoked');
});

test('/metrics outside the Portal ACL is refused before any token is looked at', async (t) => {
  const env = await start(t, (c) => void (c.acl = { systemManager: ['192.0.2.0/24'], ssh: [], provisioning: [] }));
  const r = await env.call('GET', '/metrics', undefined, { authorization: 'Bearer whatever' }, '198.51.100.7');
  assert.equal(r.status, 403);
  assert.doesNotMatch(r.text, /ipmi_|node_/);
  assert.equal((await env.call('GET', '/metrics', undefined, { authorization: 'Bearer whatever' }, '192.0.2.77')).status, 401, 'inside the ACL the token decides');
});

test('without a monitor the snapshot is collected on demand (and the dashboard still renders)', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  const r = await a('GET', `${V1}/health`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.source, 'on-demand');
  assert.ok(Array.isArray(r.json.findings));
  assert.ok(r.json.nics.length >= 1, 'the fake sysfs NICs are probed');
  const page = await a('GET', '/mics/');
  assert.equal(page.status, 200);
  assert.match(page.text, /id="health-overall"/);
  assert.match(page.text, /collected now/);
});

test('dashboard: overall, non-OK findings, LED wording, open alerts and 24 h SVG charts; a VM names the hypervisor', async (t) => {
  const env = await start(t);
  const hs = fill(env.store.db);
  setHealthMonitor({ latest: snapshotOf([cpu('critical', 95), fan('ok'), link(true), disk]), store: hs });
  const a = await env.signIn();
  const page = await a('GET', '/mics/');
  assert.equal(page.status, 200);
  assert.doesNotMatch(page.text, /not part of this build/);
  assert.match(page.text, /id="health-overall">CRITICAL</);
  assert.match(page.text, /<strong>Informational LED<\/strong>: solid red - An overheat condition has occurred/);
  assert.match(page.text, /<table id="health-alerts">[\s\S]*CPU Temp 95 degrees C/);
  assert.match(page.text, /<figcaption>Temperatures<\/figcaption><svg /);
  assert.match(page.text, /<figcaption>Network links<\/figcaption>/);
  assert.match(page.text, /<figcaption>Disks and RAID<\/figcaption>/);
  assert.match(page.text, /data-key="ipmi.sensor.CPU Temp"/);
  // The timeline names each row in words; the key stays only in data-key and the tooltip.
  assert.match(page.text, /<g class="series" data-key="nic.GigabitEthernet1.link"><text [^>]*>Link on GigabitEthernet1<title>Link on GigabitEthernet1 \(nic.GigabitEthernet1.link\)<\/title>/);
  assert.doesNotMatch(page.text.replace(/data-key="[^"]*"|<title>[^<]*<\/title>/g, ''), />[^<]*GigabitEthernet1\.link/);
  assert.match(page.text, /<div id="health-values"><figure class="health-chart"><figcaption>Temperature readings<\/figcaption>/);
  assert.match(page.text, /<figcaption>Fan speeds<\/figcaption>/);
  assert.doesNotMatch(page.text, /style=/, 'no inline styles (CSP)');
  assert.match(page.text, /<script src="\/mics\/static\/health.js" defer><\/script>/);
  const js = await env.call('GET', '/mics/static/health.js');
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /javascript/);

  setHealthMonitor({ latest: snapshotOf([link(true)], true), store: hs });
  const vm = await a('GET', '/mics/');
  assert.match(vm.text, /id="health-vm">This is a virtual machine \(VMware virtual machine\): there is no front panel, and the hypervisor watches the virtual hardware/);
  assert.match(vm.text, /Guest tools \(vmtoolsd\): running/);
  assert.doesNotMatch(vm.text, /Informational LED/);
});

test('Settings > Alerts: the health section through plan/apply; disabled empty channels drop; BMC password write-only; operators read only', async (t) => {
  const env = await start(t, (c) => void (c.health = { bmc: { host: '192.0.2.50', user: 'ADMIN', password: 'bmcSecret1' } }));
  const a = await env.signIn();
  const got = await a('GET', `${V1}/config/health`);
  assert.deepEqual(got.json.bmc, { host: '192.0.2.50', user: 'ADMIN', passwordSet: true });
  assert.equal(got.json.intervalSeconds, 60, 'defaults filled in');
  assert.doesNotMatch(got.text, /bmcSecret1/);

  // What app.js sends from the form: the GET overlaid with the fields.
  const form = { ...got.json, intervalSeconds: 30, ipmiIntervalSeconds: 30, retentionDays: 30, maxHistory: 5000, email: { enabled: false, subscription: 'all', to: [] }, syslog: { enabled: true, subscription: 'critical', server: '192.0.2.9', transport: 'tcp', port: 514, facility: 16 } };
  const plan = await a('POST', `${V1}/config/health/plan`, form);
  assert.equal(plan.status, 200, plan.text);
  assert.equal(plan.json.changed, true);
  assert.match(plan.json.configDiff, /"intervalSeconds": 30/);
  assert.doesNotMatch(plan.json.configDiff, /bmcSecret1/);
  assert.equal(env.store.running()!.revision, 1, 'plan applies nothing');
  const put = await a('PUT', `${V1}/config/health`, form);
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.changed, true);
  const h = env.store.running()!.config.health!;
  assert.equal(h.email, undefined, 'a disabled channel without recipients is dropped');
  assert.deepEqual(h.syslog, { enabled: true, subscription: 'critical', server: '192.0.2.9', transport: 'tcp', port: 514, facility: 16 });
  assert.equal(h.bmc?.password, 'bmcSecret1', 'the stored BMC password is kept');
  assert.equal((await a('PUT', `${V1}/config/health`, form)).json.changed, false, 'the same again changes nothing');
  assert.ok(env.store.auditLog().some((e) => e.who === 'admin' && /webui: set health/.test(e.action)));

  const bad = await a('PUT', `${V1}/config/health`, { ...form, syslog: { ...form.syslog, port: 0 }, intervalSeconds: 5 });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.problems.map((p: any) => p.field).sort(), ['/health/intervalSeconds', '/health/syslog/port']);
  const noTo = await a('PUT', `${V1}/config/health`, { ...form, email: { enabled: true, subscription: 'all', to: [] } });
  assert.equal(noTo.status, 400);
  assert.equal(noTo.json.problems[0].field, '/health/email/to');

  const op = await env.signIn('oper', OP_PASSWORD);
  assert.equal((await op('GET', `${V1}/config/health`)).status, 200);
  assert.equal((await op('PUT', `${V1}/config/health`, form)).status, 403);
  const pg = await a('GET', '/mics/settings/alerts');
  assert.equal(pg.status, 200);
  assert.match(pg.text, /data-url="\/mics\/api\/v1\/config\/health"/);
  assert.match(pg.text, /name="syslog.server"[^>]*value="192.0.2.9"/);
  assert.match(pg.text, /data-channel="email"/);
  assert.match(pg.text, /href="\/mics\/settings\/alerts" aria-current="page">Alerts</);
});

/** This machine's own non-loopback IPv4 (the syslog server setting refuses 127/8); traffic to it stays on this machine. */
const localAddress = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

test('channel Test: syslog over UDP and TCP reaches a listener on this machine; unset channels 400; a dead server 502; audited', async (t) => {
  const skipped = localAddress ? false : 'no non-loopback IPv4 address';
  if (skipped) return t.skip(skipped);
  const ip = localAddress!;
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, ip, r));
  t.onTestFinished(() => { udp.close(); });
  const udpGot = new Promise<string>((r) => udp.once('message', (m) => r(m.toString())));
  const tcpGot: string[] = [];
  const tcp = net.createServer((s) => s.on('data', (d) => tcpGot.push(d.toString())));
  await new Promise<void>((r) => tcp.listen(0, ip, r));
  t.onTestFinished(() => { tcp.close(); });
  const udpPort = (udp.address() as { port: number }).port;
  const env = await start(t, (c) => void (c.health = { syslog: { enabled: true, subscription: 'all', server: ip, port: udpPort, transport: 'udp' } }));
  const a = await env.signIn();

  assert.equal((await a('POST', `${V1}/health/channels/email/test`, {})).status, 400, 'no e-mail recipients set');
  assert.equal((await a('POST', `${V1}/health/channels/pager/test`, {})).status, 400);
  const r = await a('POST', `${V1}/health/channels/syslog/test`, {});
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.to, `${ip}:${udpPort}/udp`);
  assert.match(await udpGot, /^<133>1 \S+ core\.example\.com keel-health \d+ EVENT \[keel@32473 key="test"[^\]]*\] Keel health alert test from core\.example\.com$/);

  const tcpPort = (tcp.address() as { port: number }).port;
  const c = env.store.running()!.config;
  const form = { ...c.health, syslog: { ...c.health!.syslog!, transport: 'tcp', port: tcpPort } };
  assert.equal((await a('PUT', `${V1}/config/health`, form)).status, 200);
  assert.equal((await a('POST', `${V1}/health/channels/syslog/test`, {})).status, 200);
  await new Promise((res) => setTimeout(res, 100));
  assert.match(tcpGot.join(''), /^\d+ <133>1 .* Keel health alert test from core\.example\.com$/, 'RFC 6587 octet counting');

  // A port nobody listens on: the TCP connection is refused.
  const dead = net.createServer();
  await new Promise<void>((res) => dead.listen(0, ip, res));
  const deadPort = (dead.address() as { port: number }).port;
  await new Promise((res) => dead.close(res));
  assert.equal((await a('PUT', `${V1}/config/health`, { ...form, syslog: { ...form.syslog, port: deadPort } })).status, 200);
  const fail = await a('POST', `${V1}/health/channels/syslog/test`, {});
  assert.equal(fail.status, 502, fail.text);
  assert.match(fail.json.error, /ECONNREFUSED/);
  const op = await env.signIn('oper', OP_PASSWORD);
  assert.equal((await op('POST', `${V1}/health/channels/syslog/test`, {})).status, 403);
  const audit = env.store.auditLog().filter((e) => /test health syslog channel/.test(e.action));
  assert.deepEqual(audit.map((e) => e.outcome.split(':')[0]).sort(), ['failed', 'ok', 'ok']);
});

test('storage test: admin only, 202 then polled to its outcome, audited', async (t) => {
  const env = await start(t);
  const op = await env.signIn('oper', OP_PASSWORD);
  assert.equal((await op('POST', `${V1}/health/storage-test`, {})).status, 403);
  const a = await env.signIn();
  assert.deepEqual((await a('GET', `${V1}/health/storage-test`)).json, { job: null });
  assert.equal((await a('POST', `${V1}/health/storage-test`, { runtimeSeconds: 0 })).status, 400);
  const r = await a('POST', `${V1}/health/storage-test`, { runtimeSeconds: 1, sizeMB: 16 });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.json.job.running, true);
  assert.equal(r.json.job.who, 'admin');
  let job = r.json.job;
  for (let i = 0; i < 50 && job.running; i++) {
    await new Promise((res) => setTimeout(res, 50));
    job = (await a('GET', `${V1}/health/storage-test`)).json.job;
  }
  assert.equal(job.running, false);
  // In the sandbox fio only records its command line and prints nothing: the outcome is an error, told as such.
  assert.ok(job.error, 'the job ends with why it failed');
  assert.ok(job.finishedAt);
  assert.ok(env.store.auditLog().some((e) => e.action === 'run storage test' && e.outcome === 'started'));
});
