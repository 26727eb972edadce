/**
 * Connectivity checks against real peers on loopback, each reported for what it is: a TLS server
 * with a certificate from CA A (reachable, HTTP 404 still means reachable, chain to the configured
 * CA); the same name through an SSL-inspecting CONNECT proxy that presents a CA B certificate
 * (interception suspected against the pinned issuer; untrusted chain without a pin); a closed port
 * (refused); a port whose SYNs are dropped (timeout); a name the DNS server does not know, and a
 * name server that does not answer.
 */
import { test, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { createHost, type Host } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { validate, type Config } from '../../appliance/config/schema.ts';
import { runChecks, selectEndpoints, ConnectivityStore, connectivityFindings } from '../../appliance/connectivity/run.ts';
import { checkEndpoint } from '../../appliance/connectivity/check.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import { Session } from '../../cli/session.ts';
import { buildServer } from '../../webui/server.ts';
import { HealthMonitor } from '../../appliance/health/monitor.ts';
import type { Channel, Notification } from '../../appliance/health/channels.ts';
import { ConnectivitySchedule } from '../../appliance/connectivity/schedule.ts';
import { configuredHost, OPERATOR_PASSWORD } from '../helpers/web.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';
import { makeCert } from '../helpers/pki.ts';
import { startDnsServer, startInterceptingProxy, startDroppingPort, startNtpServer, closedPort } from '../helpers/netpeers.ts';
import type { Endpoint } from '../../appliance/connectivity/endpoints.ts';

process.env.KEEL_LOG ??= 'silent';

const caA = makeCert({ cn: 'Keel Test CA A', ca: true });
const caB = makeCert({ cn: 'Keel Test CA B', ca: true });
const leafA = makeCert({ cn: 'repo.keel.test', issuer: caA, dns: ['repo.keel.test'], eku: ['serverAuth'] });
const leafB = makeCert({ cn: 'repo.keel.test', issuer: caB, dns: ['repo.keel.test'], eku: ['serverAuth'] });

let root: string;
let host: Host;
let store: Store;
let config: Config;
let dnsPort: number;
let server: https.Server;
const requests: string[] = [];
const closers: (() => unknown)[] = [];
const STEP_MS = 800;

beforeAll(async () => {
  server = https.createServer({ cert: leafA.certPem, key: leafA.keyPem }, (req, res) => {
    requests.push(req.url ?? '');
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const realPort = (server.address() as net.AddressInfo).port;
  const proxy = await startInterceptingProxy({ certPem: leafB.certPem, keyPem: leafB.keyPem, upstream: () => ({ host: '127.0.0.1', port: realPort }) });
  const drop = await startDroppingPort();
  const closed = await closedPort();
  const dns = await startDnsServer({ 'repo.keel.test': '127.0.0.1', 'proxy.keel.test': '127.0.0.1', 'closed.keel.test': '127.0.0.1', 'dropped.keel.test': '127.0.0.1' });
  dnsPort = dns.port;
  closers.push(() => server.close(), proxy.close, drop.close, dns.close);
  root = tempRoot('keel-connectivity-');
  host = createHost(root, { dnsServers: [`127.0.0.1:${dns.port}`] });
  store = Store.open(host);
  config = validate(
    sampleConfig({
      dns: { servers: ['127.0.0.1'] },
      ntp: { enabled: false, servers: [] },
      proxy: { enabled: true, url: `http://proxy.keel.test:${proxy.port}`, noProxy: [] },
      update: { repository: `https://repo.keel.test:${realPort}/keel/`, caCertificate: caA.certPem },
      connectivity: {
        intervalMinutes: 15,
        endpoints: [
          { name: 'repo-direct', host: 'repo.keel.test', port: realPort, protocol: 'https', viaProxy: false, expectedIssuer: 'Keel Test CA A', caCertificate: caA.certPem },
          { name: 'repo-proxied', host: 'repo.keel.test', port: realPort, protocol: 'https', viaProxy: true, expectedIssuer: 'Keel Test CA A', caCertificate: caA.certPem },
          { name: 'closed', host: 'closed.keel.test', port: closed, protocol: 'tcp', viaProxy: false },
          { name: 'dropped', host: 'dropped.keel.test', port: drop.port, protocol: 'tcp', viaProxy: false },
          { name: 'nx', host: 'nx.keel.test', port: 443, protocol: 'tls', viaProxy: false },
        ],
      },
    }),
  );
}, 20_000);

afterAll(async () => {
  for (const c of closers) await c();
  store?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

test('each scenario is reported for what it is, a row as it arrives, kept with history', async () => {
  const names = ['update-repository', 'repo-direct', 'repo-proxied', 'closed', 'dropped', 'nx'];
  const endpoints = names.flatMap((n) => selectEndpoints(config, n));
  const arrived: string[] = [];
  const t0 = Date.now();
  const results = await runChecks(host, store.db, config, endpoints, { stepMs: STEP_MS, onResult: (r) => arrived.push(r.name) });
  const took = Date.now() - t0;
  const by = Object.fromEntries(results.map((r) => [r.name, r]));
  for (const r of results) console.log(`${r.name.padEnd(18)} ${r.status.padEnd(8)} ${r.totalMs} ms  ${r.message}`);

  // CA A directly: reachable (404 is an answer), chained to the configured CA, the pin holds.
  const direct = by['repo-direct'];
  expect(direct.status).toBe('ok');
  expect(direct.http?.status).toBe(404);
  expect(direct.tls).toMatchObject({ issuer: 'Keel Test CA A', trust: 'configured', sanMatch: true });
  expect(direct.tls?.chain[0].subject).toBe('repo.keel.test');
  expect(direct.dns?.addresses).toEqual(['127.0.0.1']);
  expect(direct.message).toBe('HTTP 404 (reachable), certificate issued by Keel Test CA A');

  // The same name through the inspecting proxy: CA B's certificate against the pinned CA A.
  const proxied = by['repo-proxied'];
  expect(proxied.status).toBe('failed');
  expect(proxied.interception).toBe(true);
  expect(proxied.message).toBe('TLS interception suspected: issued by Keel Test CA B, expected Keel Test CA A');
  expect(proxied.proxy?.status).toBe(200);
  expect(proxied.tls?.trust).toBe(null);
  expect(proxied.dns?.name).toBe('proxy.keel.test');

  // The derived update repository (through the proxy, no pin): the chain does not reach its configured CA.
  const repo = by['update-repository'];
  expect(repo.viaProxy).toBe(true);
  expect(repo.status).toBe('warning');
  expect(repo.message).toBe('TLS: the certificate (issued by Keel Test CA B) chains to neither the system trust store nor the configured CA');
  expect(repo.http?.status).toBe(404);
  expect(requests).toContain('/keel/index.json');

  expect(by.closed).toMatchObject({ status: 'failed', stage: 'tcp' });
  expect(by.closed.message).toMatch(/^TCP 127\.0\.0\.1:\d+: connection refused/);
  expect(by.dropped).toMatchObject({ status: 'failed', stage: 'tcp' });
  expect(by.dropped.message).toMatch(new RegExp(`^TCP 127\\.0\\.0\\.1:\\d+: no answer within ${STEP_MS} ms \\(dropped by a firewall`));
  expect(by.nx).toMatchObject({ status: 'failed', stage: 'dns', message: 'DNS: nx.keel.test does not resolve (no such name)' });

  // Rows arrive as they complete: the dropped one (a full step timeout) is not first.
  expect(arrived).toHaveLength(names.length);
  expect(arrived[0]).not.toBe('dropped');
  expect(took).toBeLessThan(STEP_MS * 3);

  const kept = new ConnectivityStore(store.db);
  expect(kept.latest().get('repo-proxied')?.interception).toBe(true);
  expect(kept.history(10, 'nx')).toHaveLength(1);

  const findings = connectivityFindings(results);
  expect(findings.find((f) => f.key === 'connectivity.repo-proxied')?.severity).toBe('critical');
  expect(findings.find((f) => f.key === 'connectivity.closed')?.severity).toBe('warning');
  expect(findings.find((f) => f.key === 'connectivity.repo-direct')?.severity).toBe('ok');
}, 20_000);

test('a name server that does not answer is a DNS failure, not an unreachable endpoint', async () => {
  const silent = await closedPort();
  const h = createHost(root, { dnsServers: [`127.0.0.1:${silent}`] });
  const [e] = selectEndpoints(config, 'repo-direct');
  const r = await checkEndpoint(h, config, e, { stepMs: STEP_MS });
  console.log(`dns-down ${r.status} ${r.message}`);
  expect(r).toMatchObject({ status: 'failed', stage: 'dns' });
  expect(r.message).toMatch(/^DNS: (the name servers failed to answer|no answer from the name servers) for repo\.keel\.test/);
});

test('CLI: test connectivity prints a row per endpoint as it completes; show connectivity has the chain and history', async () => {
  await applyConfig(host, store, config, { who: 'admin', source: 'test' }, 'connectivity test');
  const out: string[] = [];
  const s = new Session({ host, store, user: { name: 'op', role: 'operator' }, source: 'cli:test', privileged: true, io: { write: (x) => void out.push(x), ask: async () => '' } });
  await s.execute('test connectivity repo-proxied');
  const text = out.join('');
  console.log(text);
  expect(text).toMatch(/^repo-proxied +repo\.keel\.test:\d+ \(proxy\) +https +FAILED .*TLS interception suspected: issued by Keel Test CA B, expected Keel Test CA A$/m);
  expect(text).toContain('0 of 1 OK; TLS interception suspected on 1.');
  out.length = 0;
  await s.execute('show connectivity repo-proxied');
  const shown = out.join('');
  console.log(shown);
  expect(shown).toMatch(/0: repo\.keel\.test, issued by Keel Test CA B/);
  expect(shown).toMatch(/chains to no trusted CA, expected issuer Keel Test CA A/);
  expect(shown.match(/TLS interception suspected/g)!.length).toBeGreaterThanOrEqual(3); // problem line + two history rows
  out.length = 0;
  await s.execute('test connectivity nosuch');
  expect(out.join('')).toMatch(/% there is no endpoint nosuch \(endpoints: dns-1, update-repository, proxy, repo-direct/);
}, 20_000);

test('REST and the page: an operator runs the checks; the page shows the interception, with no inline script', async (t) => {
  const configured = await configuredHost(t, { prefix: 'keel-connectivity-web-', edit: (c) => Object.assign(c, { dns: config.dns, ntp: config.ntp, proxy: config.proxy, update: config.update, connectivity: config.connectivity }) });
  const h = createHost(configured.root, { sysfs: configured.sysfs, dnsServers: [`127.0.0.1:${dnsPort}`] });
  const app = await buildServer({ host: h, failureDelayMs: 5 });
  t.onTestFinished(() => app.close());
  const login = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username: 'oper', password: OPERATOR_PASSWORD } });
  expect(login.statusCode).toBe(200);
  const cookie = String(login.headers['set-cookie']).split(';')[0];
  const csrf = JSON.parse(login.body).csrfToken as string;
  const api = (method: 'GET' | 'POST', url: string, payload?: object) => app.inject({ method, url, headers: { cookie, 'x-csrf-token': csrf }, ...(payload ? { payload } : {}) });

  const before = await api('GET', '/mics/api/v1/connectivity');
  expect(before.statusCode).toBe(200);
  const rows = JSON.parse(before.body).endpoints as { endpoint: { name: string; caConfigured: boolean }; last: unknown }[];
  expect(rows.map((r) => r.endpoint.name)).toEqual(['dns-1', 'update-repository', 'proxy', 'repo-direct', 'repo-proxied', 'closed', 'dropped', 'nx']);
  expect(rows.find((r) => r.endpoint.name === 'repo-direct')?.endpoint.caConfigured).toBe(true);

  const run = await api('POST', '/mics/api/v1/connectivity/run', { name: 'repo-proxied' });
  expect(run.statusCode).toBe(200);
  expect(JSON.parse(run.body).results[0].message).toBe('TLS interception suspected: issued by Keel Test CA B, expected Keel Test CA A');
  expect((await api('POST', '/mics/api/v1/connectivity/run', { name: 'nosuch' })).statusCode).toBe(404);
  expect(JSON.parse((await api('GET', '/mics/api/v1/connectivity/history?name=repo-proxied')).body).results).toHaveLength(1);
  // An operator cannot change the endpoints (the section is configuration).
  expect((await app.inject({ method: 'PUT', url: '/mics/api/v1/config/connectivity', headers: { cookie, 'x-csrf-token': csrf }, payload: { intervalMinutes: 5, endpoints: [] } })).statusCode).toBe(403);

  // The page's form: without the CSRF token refused; with it, runs the one endpoint and comes back.
  const form = (body: string) => app.inject({ method: 'POST', url: '/mics/diagnostics/connectivity/run', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', host: 'core.example.com:8443', origin: 'https://core.example.com:8443' }, payload: body });
  expect((await form('name=closed')).statusCode).toBe(403);
  const posted = await form(`_csrf=${encodeURIComponent(csrf)}&name=closed`);
  expect(posted.statusCode).toBe(303);
  expect(posted.headers.location).toBe('/mics/diagnostics/connectivity');
  const page = await app.inject({ method: 'GET', url: '/mics/diagnostics/connectivity', headers: { cookie } });
  expect(page.statusCode).toBe(200);
  expect(page.body).toContain('TLS interception suspected: issued by Keel Test CA B, expected Keel Test CA A');
  expect(page.body).toMatch(/id="endpoint-closed"[\s\S]*?connection refused/);
  expect(page.body).toMatch(/<form method="post" action="\/mics\/diagnostics\/connectivity\/run"/);
  expect(page.body).not.toMatch(/<script(?! src=)/);
  expect(String(page.headers['content-security-policy'])).toMatch(/script-src 'self'/);
  const audit = app.keel.store.db.prepare("SELECT action, outcome FROM audit WHERE action LIKE 'test connectivity%'").all() as { action: string; outcome: string }[];
  expect(audit.map((a) => a.action)).toEqual(['test connectivity repo-proxied', 'test connectivity closed']);
}, 30_000);

test('health monitor probe: a failing endpoint and suspected interception raise alerts like the others, and clear', async () => {
  const sent: Notification[] = [];
  const channel: Channel = { name: 'syslog', subscription: 'all', send: async (batch) => void sent.push(...batch), test: async () => undefined };
  const monitor = new HealthMonitor({ host, db: store.db, hostname: 'core.example.com', channels: [channel], bmc: null });
  let current: Config = { ...config, connectivity: { intervalMinutes: 15, endpoints: config.connectivity!.endpoints.filter((e) => ['repo-direct', 'repo-proxied', 'closed'].includes(e.name)) } };
  // dns-1 (127.0.0.1:53) answers or not depending on this machine: its finding is left out, as is the proxy's (TCP, no alert expected).
  const schedule = new ConnectivitySchedule({ host, db: store.db, config: () => ({ ...current, update: undefined, proxy: current.proxy, dns: current.dns }), report: (f) => monitor.report(f.filter((x) => !/^connectivity\.(dns-|proxy$)/.test(x.key)), ['connectivity.']), check: { stepMs: STEP_MS } });
  await schedule.runOnce();
  const raised = sent.filter((n) => n.kind === 'raised');
  console.log(raised.map((n) => `${n.severity} ${n.message}`).join('\n'));
  expect(raised.find((n) => n.key === 'connectivity.repo-proxied')).toMatchObject({ severity: 'critical', message: expect.stringContaining('TLS interception suspected: issued by Keel Test CA B, expected Keel Test CA A') });
  expect(raised.find((n) => n.key === 'connectivity.closed')).toMatchObject({ severity: 'warning', message: expect.stringContaining('connection refused') });
  expect(raised.find((n) => n.key === 'connectivity.repo-direct')).toBeUndefined();
  expect(monitor.store.alerts().map((a) => a.key).sort()).toEqual(['connectivity.closed', 'connectivity.repo-proxied']);
  // The administrator removes the pinned endpoint: its alert clears (the probe covers connectivity.* fully).
  current = { ...current, connectivity: { intervalMinutes: 15, endpoints: current.connectivity!.endpoints.filter((e) => e.name !== 'repo-proxied') } };
  sent.length = 0;
  await schedule.runOnce();
  expect(sent.find((n) => n.key === 'connectivity.repo-proxied')?.kind).toBe('cleared');
  expect(monitor.store.alerts().map((a) => a.key)).toEqual(['connectivity.closed']);
}, 20_000);

test('DNS and NTP servers of the configuration are queried, not just dialled', async () => {
  const ntp = await startNtpServer(2);
  const unsynced = await startNtpServer(0);
  closers.push(ntp.close, unsynced.close);
  const silent = await closedPort();
  const ep = (name: string, protocol: Endpoint['protocol'], port: number): Endpoint => ({ name, role: name, source: 'configuration', host: '127.0.0.1', port, protocol, viaProxy: false });
  const [dnsOk, dnsSilent, ntpOk, ntpBad, ntpSilent] = await Promise.all([
    checkEndpoint(host, config, ep('dns-1', 'dns', dnsPort), { stepMs: STEP_MS }),
    checkEndpoint(host, config, ep('dns-2', 'dns', silent), { stepMs: STEP_MS }),
    checkEndpoint(host, config, ep('ntp-1', 'ntp', ntp.port), { stepMs: STEP_MS }),
    checkEndpoint(host, config, ep('ntp-2', 'ntp', unsynced.port), { stepMs: STEP_MS }),
    checkEndpoint(host, config, ep('ntp-3', 'ntp', silent), { stepMs: STEP_MS }),
  ]);
  for (const r of [dnsOk, dnsSilent, ntpOk, ntpBad, ntpSilent]) console.log(`${r.name} ${r.status} ${r.message}`);
  expect(dnsOk).toMatchObject({ status: 'ok', query: { rcode: 'NOERROR' } });
  expect(dnsSilent).toMatchObject({ status: 'failed', stage: 'query' });
  expect(dnsSilent.message).toMatch(new RegExp(`^DNS server 127\\.0\\.0\\.1:${silent}: (no answer within ${STEP_MS} ms|refused)`));
  expect(ntpOk).toMatchObject({ status: 'ok', ntp: { stratum: 2 } });
  expect(ntpBad).toMatchObject({ status: 'warning', message: 'NTP: the server is not synchronized (stratum 0)' });
  expect(ntpSilent).toMatchObject({ status: 'failed', stage: 'ntp' });
}, 20_000);
