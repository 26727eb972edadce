/**
 * Diagnostics > Tools in System Manager (sandbox root): the REST API and the page, as an operator
 * (they change nothing); ping/traceroute go to the applier (recorded here), the DNS lookup and TCP
 * check reach real peers on loopback; refusals name the field; every run is audited.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';
import { Net } from '../../appliance/host/net.ts';
import { Store } from '../../appliance/config/store.ts';
import { buildServer } from '../../webui/server.ts';
import { configuredHost, OPERATOR_PASSWORD } from '../helpers/web.ts';
import { startDnsServer, closedPort } from '../helpers/netpeers.ts';

async function served(t: TestContext) {
  const dns = await startDnsServer({ 'svc.example.com': '127.0.0.1' });
  t.onTestFinished(() => dns.close());
  const host = await configuredHost(t, { prefix: 'keel-diag-' });
  host.net = new Net({ dnsServers: [`127.0.0.1:${dns.port}`] });
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => void app.close());
  const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username: 'oper', password: OPERATOR_PASSWORD } });
  assert.equal(r.statusCode, 200, r.body);
  const cookie = String(r.headers['set-cookie']).split(';')[0];
  const csrf = JSON.parse(r.body).csrfToken as string;
  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object, headers: { cookie, 'x-csrf-token': csrf } });
  const form = (url: string, fields: Record<string, string>) =>
    app.inject({ method: 'POST', url, payload: new URLSearchParams({ ...fields, _csrf: csrf }).toString(), headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' } });
  return { app, host, post, form, get: (url: string) => app.inject({ method: 'GET', url, headers: { cookie } }), proc: host.proc as SandboxProcesses };
}

function audit(host: Awaited<ReturnType<typeof served>>['host']) {
  const s = Store.open(host);
  try {
    return s.auditLog().filter((e) => e.action.startsWith('diagnostics '));
  } finally {
    s.close();
  }
}

test('REST: an operator runs each tool; ping and traceroute through the applier, refusals name the field, each run audited', async (t) => {
  const { host, post, proc } = await served(t);
  const listener = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  t.onTestFinished(() => new Promise<void>((r) => listener.close(() => r())));
  const port = (listener.address() as net.AddressInfo).port;

  const ping = await post('/mics/api/v1/diagnostics/ping', { host: '192.0.2.1', count: 3 });
  assert.equal(ping.statusCode, 200, ping.body);
  assert.equal(JSON.parse(ping.body).command, 'ping -n -c 3 -W 2 192.0.2.1');
  assert.equal(proc.recorded.at(-1), 'ping -n -c 3 -W 2 192.0.2.1');
  const tr = await post('/mics/api/v1/diagnostics/traceroute', { host: 'core.example.com', maxHops: 4 });
  assert.equal(JSON.parse(tr.body).command, 'traceroute -n -m 4 -w 2 core.example.com');

  const bad = await post('/mics/api/v1/diagnostics/ping', { host: '-f', count: 11 });
  assert.equal(bad.statusCode, 400);
  // The schema answers first (the bounds are in the OpenAPI document too), then the rules.
  assert.deepEqual(JSON.parse(bad.body).problems, [{ field: '/count', label: 'count', rule: 'maximum', message: 'must be 10 or less' }]);
  const badHost = await post('/mics/api/v1/diagnostics/ping', { host: '1.2.3.4;reboot' });
  assert.equal(badHost.statusCode, 400);
  assert.deepEqual(JSON.parse(badHost.body).problems[0].field, 'host');
  assert.match(JSON.parse(badHost.body).problems[0].message, /^Host must be an IPv4 address, an IPv6 address or a host name/);
  assert.equal(proc.recorded.filter((c) => c.startsWith('ping')).length, 1, 'nothing refused was run');

  const dns = JSON.parse((await post('/mics/api/v1/diagnostics/dns-lookup', { name: 'svc.example.com', type: 'A' })).body);
  assert.deepEqual([dns.records, dns.error], [['127.0.0.1'], null]);
  const ptr = await post('/mics/api/v1/diagnostics/dns-lookup', { name: 'svc.example.com', type: 'PTR' });
  assert.equal(JSON.parse(ptr.body).problems[0].field, 'name');
  const open = JSON.parse((await post('/mics/api/v1/diagnostics/tcp-check', { host: 'svc.example.com', port })).body);
  assert.equal(open.status, 'open');
  assert.equal(typeof open.dnsMs, 'number');
  const closed = JSON.parse((await post('/mics/api/v1/diagnostics/tcp-check', { host: '127.0.0.1', port: await closedPort() })).body);
  assert.equal(closed.status, 'refused');

  const log = audit(host);
  assert.ok(log.some((e) => e.who === 'oper' && e.action === 'diagnostics ping -n -c 3 -W 2 192.0.2.1' && e.outcome.startsWith('ok')), JSON.stringify(log));
  assert.ok(log.some((e) => e.action === 'diagnostics dns-lookup svc.example.com A' && e.outcome === 'ok: 1 records'));
  assert.ok(log.some((e) => e.action.startsWith('diagnostics tcp-check 127.0.0.1') && e.outcome.startsWith('failed: refused')));
  assert.ok(log.some((e) => e.action === 'diagnostics dns-lookup svc.example.com' && e.outcome === 'refused: name (ip-address)'));
});

test('the Tools page: one form per tool, in the Diagnostics menu; a POST shows the result under its form, or the field\'s problem', async (t) => {
  const { get, form } = await served(t);
  const page = await get('/mics/diagnostics/tools');
  assert.equal(page.statusCode, 200);
  for (const tool of ['ping', 'traceroute', 'dns-lookup', 'tcp-check']) assert.match(page.body, new RegExp(`<form method="post" action="/mics/diagnostics/tools/${tool}"`));
  assert.match(page.body, /<a href="\/mics\/diagnostics\/tools" aria-current="page">Tools<\/a>/);
  assert.doesNotMatch(page.body, /<script>|onclick=/, 'no inline script');

  const dns = await form('/mics/diagnostics/tools/dns-lookup', { name: 'svc.example.com', type: 'A', server: '' });
  assert.equal(dns.statusCode, 200, dns.body);
  assert.match(dns.body, /id="result-dns-lookup"><p>A records of <strong>svc\.example\.com<\/strong>[\s\S]*<li><code>127\.0\.0\.1<\/code><\/li>/);
  assert.match(dns.body, /id="dns-lookup-name" name="name" required maxlength="253" value="svc.example.com"/, 'the values sent stay in the form');

  const bad = await form('/mics/diagnostics/tools/ping', { host: '$(reboot)', count: '12' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.body, /<div class="error" role="alert"><p>Host must be an IPv4 address[^<]*<\/p><p>Count must be a whole number from 1 to 10<\/p><\/div>/);
  assert.match(bad.body, /value="\$\(reboot\)"/, 'escaped, kept to correct');

  const ping = await form('/mics/diagnostics/tools/ping', { host: '127.0.0.1', count: '2' });
  assert.match(ping.body, /id="result-ping"[\s\S]*<summary>ping -n -c 2 -W 2 127\.0\.0\.1<\/summary>/);
  const tcp = await form('/mics/diagnostics/tools/tcp-check', { host: '127.0.0.1', port: String(await closedPort()) });
  assert.match(tcp.body, /<span class="badge err">refused<\/span> refused: nothing listens on 127\.0\.0\.1 port/);
});
