import { test, expect } from 'vitest';
import crypto from 'node:crypto';
import { check, validate, type Config } from '../../appliance/config/schema.ts';
import { endpointsOf, proxied } from '../../appliance/connectivity/endpoints.ts';
import { chainTrust, commonName, describeError, dnsAnswerCode, dnsQuery, interceptionMessage, parseStatusLine } from '../../appliance/connectivity/check.ts';
import { NetError } from '../../appliance/host/net.ts';
import { fieldLabel } from '../../appliance/config/messages.ts';
import fs from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { ConnectivitySchedule } from '../../appliance/connectivity/schedule.ts';
import { ConnectivityStore, HISTORY_DAYS, HISTORY_MAX } from '../../appliance/connectivity/run.ts';
import { startDnsServer, closedPort } from '../helpers/netpeers.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';
import { makeCert } from '../helpers/pki.ts';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../webui/server.ts';
import { toScript } from '../../appliance/config/script.ts';
import { configuredHost, OPERATOR_PASSWORD, WEB_PASSWORD } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';

const full = (): Config =>
  validate(
    sampleConfig({
      dns: { servers: ['192.0.2.53', '192.0.2.54'] },
      ntp: { enabled: true, servers: ['ntp.example.com', '192.0.2.123'] },
      email: { from: 'core@example.com', server: 'smtp.example.com', port: 465, protocol: 'smtps', auth: false },
      update: { repository: 'https://updates.example.com/keel/', caCertificate: makeCert({ cn: 'Repo CA', ca: true, bits: 1024 }).certPem },
      proxy: { enabled: true, url: 'http://proxy.example.com:3128', noProxy: ['.internal.example.com'] },
      ldap: { enabled: true, type: 'ad', domain: 'example.com', url: 'ldaps://dc1.example.com', failoverUrl: 'ldap://dc2.example.com:3268', bindDn: 'svc@example.com', password: 'x', searchTimeout: 30, chaseReferrals: false, roleMappings: [{ group: 'cn=admins,dc=example,dc=com', role: 'admin' }], health: { interval: 60, liveThreshold: 3, deadThreshold: 3 } },
      health: { syslog: { enabled: true, subscription: 'all', server: 'logs.example.com', port: 6514, transport: 'tls' } },
      connectivity: { intervalMinutes: 15, endpoints: [{ name: 'cloud', host: 'api.cloud.example.net', port: 443, protocol: 'https', path: '/health', viaProxy: true, expectedIssuer: 'DigiCert Global G2 TLS RSA SHA256 2020 CA1' }] },
    }),
  );

test('the endpoint table is derived from every section the appliance depends on, then the administrator\'s', () => {
  const rows = endpointsOf(full()).map((e) => `${e.name} ${e.host}:${e.port} ${e.protocol}${e.viaProxy ? ' proxy' : ''}${e.path ? ` ${e.path}` : ''}${e.caCertificate ? ' ca' : ''}`);
  expect(rows).toEqual([
    'dns-1 192.0.2.53:53 dns',
    'dns-2 192.0.2.54:53 dns',
    'ntp-1 ntp.example.com:123 ntp',
    'ntp-2 192.0.2.123:123 ntp',
    'ldap dc1.example.com:636 tls',
    'ldap-failover dc2.example.com:3268 tcp',
    'smtp smtp.example.com:465 tls',
    'update-repository updates.example.com:443 https proxy /keel/index.json ca',
    'proxy proxy.example.com:3128 tcp',
    'syslog logs.example.com:6514 tls',
    'cloud api.cloud.example.net:443 https proxy /health',
  ]);
  // NTP off, no optional sections: DNS servers only.
  expect(endpointsOf(sampleConfig({ ntp: { enabled: false, servers: [] } })).map((e) => e.name)).toEqual(['dns-1']);
});

test('the no-proxy list decides which endpoints go through the proxy', () => {
  const c = full();
  expect(proxied(c, 'updates.example.com')).toBe(true);
  expect(proxied(c, 'repo.internal.example.com')).toBe(false);
  expect(proxied(c, 'internal.example.com')).toBe(false);
  expect(proxied({ ...c, proxy: { ...c.proxy!, enabled: false } }, 'updates.example.com')).toBe(false);
});

test('the connectivity section is checked by the one schema, messages naming the field and rule', () => {
  const c = full();
  const bad = structuredClone(c);
  bad.connectivity!.endpoints.push(
    { name: 'cloud', host: 'b.example.com', port: 443, protocol: 'tcp', viaProxy: false, expectedIssuer: 'X', path: '/' },
    { name: 'smtp', host: 'c.example.com', port: 443, protocol: 'tls', viaProxy: false, caCertificate: 'not a pem' },
  );
  const p = check(bad).map((x) => `${x.field} ${x.rule}: ${x.message}`);
  expect(p).toEqual([
    '/connectivity/endpoints/1/name unique: endpoint cloud exists twice',
    '/connectivity/endpoints/1/path https-only: a path is only used with the https protocol',
    '/connectivity/endpoints/1/expectedIssuer tls-only: an expected issuer needs the tls or https protocol',
    '/connectivity/endpoints/2/name reserved: smtp names an endpoint derived from the configuration; choose another name',
    expect.stringMatching(/^\/connectivity\/endpoints\/2\/caCertificate pem-certificate: /),
  ]);
  const shape = structuredClone(c) as unknown as { connectivity: { endpoints: Record<string, unknown>[] } };
  Object.assign(shape.connectivity.endpoints[0], { port: 70000, protocol: 'ftp', name: 'bad name' });
  const fields = check(shape).map((x) => x.field);
  expect(fields).toEqual(expect.arrayContaining(['/connectivity/endpoints/0/port', '/connectivity/endpoints/0/protocol', '/connectivity/endpoints/0/name']));
  expect(check(shape).every((x) => !/\^|\[A-Z/.test(x.message))).toBe(true);
  expect(fieldLabel('/connectivity/endpoints/0/expectedIssuer', c)).toBe('connectivity endpoint cloud expected-issuer');
});

test('issuer pinning: the leaf issuer or any CA on the path matches, case-insensitively; anything else is interception', () => {
  expect(interceptionMessage(undefined, 'Proxy CA', [])).toBe(null);
  expect(interceptionMessage('Issuing CA', 'issuing ca', [])).toBe(null);
  expect(interceptionMessage('Corp Root', 'Issuing CA', ['Issuing CA', 'Corp Root'])).toBe(null);
  expect(interceptionMessage('DigiCert Global G2', 'Zscaler Intermediate Root CA', ['Zscaler Root CA'])).toBe('TLS interception suspected: issued by Zscaler Intermediate Root CA, expected DigiCert Global G2');
});

test('chain trust: the configured CA, then the system store, through presented intermediates; otherwise none', () => {
  const rootA = makeCert({ cn: 'Root A', ca: true, bits: 1024 });
  const inter = makeCert({ cn: 'Issuing A', ca: true, issuer: rootA, bits: 1024 });
  const leaf = makeCert({ cn: 'svc.example.com', issuer: inter, dns: ['svc.example.com'], bits: 1024 });
  const other = makeCert({ cn: 'Root B', ca: true, bits: 1024 });
  const x = (p: string) => new crypto.X509Certificate(p);
  expect(chainTrust([x(leaf.certPem), x(inter.certPem)], [x(rootA.certPem)], [])).toEqual({ trust: 'configured', path: ['Issuing A', 'Root A'] });
  expect(chainTrust([x(leaf.certPem), x(inter.certPem)], [], [x(rootA.certPem)])).toEqual({ trust: 'system', path: ['Issuing A', 'Root A'] });
  expect(chainTrust([x(leaf.certPem), x(inter.certPem)], [x(other.certPem)], [])).toEqual({ trust: null, path: ['Issuing A'] });
  // The intermediate itself configured (pinned) is enough.
  expect(chainTrust([x(leaf.certPem)], [x(inter.certPem)], []).trust).toBe('configured');
  expect(commonName(x(leaf.certPem).issuer)).toBe('Issuing A');
  expect(commonName('O=No CN\nC=US')).toBe('O=No CN, C=US');
});

test('status lines, DNS answers and errors in words', () => {
  expect(parseStatusLine('HTTP/1.1 404 Not Found\r\n')).toBe(404);
  expect(parseStatusLine('HTTP/2 200\r\n')).toBe(200);
  expect(parseStatusLine('SSH-2.0-OpenSSH\r\n')).toBe(null);
  const q = dnsQuery(0x1234);
  expect(q.length).toBe(17);
  const a = Buffer.from(q);
  a[2] |= 0x80;
  a[3] = 0x05;
  expect(dnsAnswerCode(a, 0x1234)).toBe('REFUSED');
  expect(dnsAnswerCode(a, 0x1235)).toBe(null);
  expect(dnsAnswerCode(q, 0x1234)).toBe(null); // a query, not an answer
  expect(describeError('dns', 'x.example', new NetError('ENOTFOUND', 'x'), 5000)).toBe('DNS: x.example does not resolve (no such name)');
  expect(describeError('tcp', '192.0.2.1:443', new NetError('ETIMEDOUT', 'x'), 3000)).toBe('TCP 192.0.2.1:443: no answer within 3000 ms (dropped by a firewall, or the host is down)');
  expect(describeError('tcp', '192.0.2.1:443', new NetError('ECONNREFUSED', 'x'), 3000)).toBe('TCP 192.0.2.1:443: connection refused (nothing listens, or a firewall rejects)');
  expect(describeError('proxy', 'p:3128', new NetError('EHOSTUNREACH', 'x'), 3000)).toBe('Proxy p:3128: unreachable (EHOSTUNREACH: no route)');
  expect(describeError('tls', 'h', new NetError('ECONNRESET', 'socket hang up'), 3000)).toBe('TLS: handshake failed (socket hang up)');
});

test('the scheduled run over loopback: a pinned issuer that differs, a refused port, the findings handed on and kept', async (t) => {
  const ca = makeCert({ cn: 'Unit CA', ca: true, bits: 1024 });
  const leaf = makeCert({ cn: 'svc.keel.test', issuer: ca, dns: ['svc.keel.test'] });
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_q, r) => r.writeHead(503).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dns = await startDnsServer({ 'svc.keel.test': '127.0.0.1' });
  const root = tempRoot('keel-connectivity-unit-');
  const host = createHost(root, { dnsServers: [`127.0.0.1:${dns.port}`] });
  const store = Store.open(host);
  t.onTestFinished(async () => {
    server.close();
    await dns.close();
    store.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  const port = (server.address() as net.AddressInfo).port;
  const closed = await closedPort();
  const config = validate(
    sampleConfig({
      dns: { servers: ['127.0.0.1'] },
      ntp: { enabled: false, servers: [] },
      connectivity: {
        intervalMinutes: 1,
        endpoints: [
          { name: 'svc', host: 'svc.keel.test', port, protocol: 'https', viaProxy: false, expectedIssuer: 'Public CA', caCertificate: ca.certPem },
          { name: 'svc-ok', host: 'svc.keel.test', port, protocol: 'tls', viaProxy: false, expectedIssuer: 'unit ca', caCertificate: ca.certPem },
          { name: 'shut', host: 'svc.keel.test', port: closed, protocol: 'tcp', viaProxy: false },
        ],
      },
    }),
  );
  const reported: string[] = [];
  // dns-1 (127.0.0.1:53) depends on this machine: left out of what is compared.
  const schedule = new ConnectivitySchedule({ host, db: store.db, config: () => config, report: async (f) => void reported.push(...f.filter((x) => x.key !== 'connectivity.dns-1').map((x) => `${x.key} ${x.severity}`)), check: { stepMs: 500 } });
  const results = await schedule.runOnce();
  const by = Object.fromEntries(results.map((r) => [r.name, r]));
  expect(by.svc).toMatchObject({ status: 'failed', interception: true, message: 'TLS interception suspected: issued by Unit CA, expected Public CA', http: { status: 503 } });
  expect(by['svc-ok']).toMatchObject({ status: 'ok', message: expect.stringMatching(/^TLS TLSv1\.3, certificate issued by Unit CA$/), tls: { trust: 'configured', sanMatch: true } });
  expect(by.shut).toMatchObject({ status: 'failed', stage: 'tcp', message: expect.stringContaining('connection refused') });
  expect(reported).toEqual(['connectivity.svc critical', 'connectivity.svc-ok ok', 'connectivity.shut warning']);
  expect(new ConnectivityStore(store.db).history(10).length).toBe(4);
});

test('history is bounded: the newest results, none older than the retention', async () => {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(':memory:');
  const store = new ConnectivityStore(db);
  const base = Date.parse('2026-12-01T00:00:00Z');
  const result = (name: string, at: number) => ({ name, at: new Date(at).toISOString(), status: 'ok' }) as never;
  db.transaction(() => {
    store.record(result('old', base - (HISTORY_DAYS + 1) * 86400_000));
    for (let i = 0; i < HISTORY_MAX + 10; i++) store.record(result(`e${i % 7}`, base + i * 1000));
  })();
  expect(store.prune(base + 86400_000)).toBe(11);
  expect(db.prepare('SELECT COUNT(*) AS n FROM connectivity_results').get()).toEqual({ n: HISTORY_MAX });
  expect(store.latest().has('old')).toBe(false);
  expect(store.latest().size).toBe(7);
  expect(store.history(3, 'e0').map((r) => r.at)).toEqual([5005, 4998, 4991].map((i) => new Date(base + i * 1000).toISOString()));
  db.close();
});

test('System Manager: an administrator adds, changes and removes an endpoint through the one change path; an operator only looks', async (t) => {
  const host = await configuredHost(t, { prefix: 'keel-conn-edit-', edit: (c) => void (c.connectivity = { intervalMinutes: 0, endpoints: [] }) });
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => void app.close());
  const signIn = async (username: string, password: string) => {
    const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username, password } });
    expect(r.statusCode, r.body).toBe(200);
    const cookie = String(r.headers['set-cookie']).split(';')[0];
    const csrf = JSON.parse(r.body).csrfToken as string;
    return {
      send: (method: 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) => app.inject({ method, url, ...(payload ? { payload } : {}), headers: { cookie, 'x-csrf-token': csrf } }),
      page: async () => (await app.inject({ method: 'GET', url: '/mics/diagnostics/connectivity', headers: { cookie } })).body,
    };
  };
  const admin = await signIn('admin', WEB_PASSWORD);
  const oper = await signIn('oper', OPERATOR_PASSWORD);
  const E = '/mics/api/v1/config/connectivity/endpoints';
  const cloud = { name: 'cloud', host: 'cloud.example.com', port: 443, protocol: 'https', viaProxy: false, path: '/health', expectedIssuer: 'Example CA' };
  const before = app.keel.store.running()!.revision;

  // The plan shows the diff and changes nothing; the apply makes a numbered revision saying who and from where.
  const plan = await admin.send('POST', `${E}/plan`, cloud);
  expect(plan.statusCode, plan.body).toBe(200);
  expect(JSON.parse(plan.body).configDiff).toMatch(/^\+ +"name": "cloud",$/m);
  expect(app.keel.store.running()!.revision).toBe(before);
  const add = await admin.send('POST', E, cloud);
  expect(add.statusCode, add.body).toBe(200);
  const rev = app.keel.store.revisions(1)[0];
  expect(rev.id).toBe(JSON.parse(add.body).revision);
  expect(rev).toMatchObject({ who: 'admin', source: expect.stringMatching(/^webui:/), summary: expect.stringMatching(/^webui: add connectivity endpoint cloud/) });
  expect(app.keel.store.running()!.config.connectivity!.endpoints).toEqual([cloud]);
  expect(toScript(app.keel.store.running()!.config).join('\n')).toMatch(/connectivity endpoint cloud/);
  // In the table, with its change and remove forms (prefilled) for administrators; read-only for operators.
  const adminPage = await admin.page();
  expect(adminPage).toMatch(/<tr id="endpoint-cloud"[^>]*data-source="administrator"/);
  expect(adminPage).toMatch(/data-method="PUT" data-url="\/mics\/api\/v1\/config\/connectivity\/endpoints\/cloud"/);
  expect(adminPage).toMatch(/name="host"[^>]*value="cloud\.example\.com"/);
  expect(adminPage).toContain('id="add-endpoint"');
  expect(adminPage).not.toMatch(/<script>|<script [^>]*>[^<]|style=|on(click|submit|load|change)=/i);
  expect(adminPage).toMatch(/id="endpoint-dns-1"[\s\S]*?From the configuration: set on <a href="\/mics\/settings\/network">/);
  const operPage = await oper.page();
  expect(operPage).toContain('id="endpoint-cloud"');
  expect(operPage).not.toContain('id="add-endpoint"');
  expect(operPage).not.toMatch(/data-method="(PUT|DELETE|POST)"/);

  // Refusals name the field and its rule; nothing changes.
  const badPort = await admin.send('POST', E, { ...cloud, name: 'other', port: 70000 });
  expect(badPort.statusCode).toBe(400);
  expect(JSON.parse(badPort.body).problems).toEqual([expect.objectContaining({ field: '/connectivity/endpoints/new/port', rule: 'maximum' })]);
  const badHost = await admin.send('POST', E, { ...cloud, name: 'other', host: 'bad host!' });
  expect(badHost.statusCode).toBe(400);
  expect(JSON.parse(badHost.body).problems).toEqual([expect.objectContaining({ field: '/connectivity/endpoints/new/host' })]);
  const twice = await admin.send('POST', E, { ...cloud, name: 'CLOUD' });
  expect(JSON.parse(twice.body).problems).toEqual([expect.objectContaining({ field: '/connectivity/endpoints/1/name', rule: 'unique' })]);
  const derived = await admin.send('POST', E, { ...cloud, name: 'dns-1' });
  expect(JSON.parse(derived.body).problems).toEqual([expect.objectContaining({ field: '/connectivity/endpoints/1/name', rule: 'reserved' })]);
  expect(app.keel.store.revisions(1)[0].id).toBe(rev.id);

  // Operators: 403 on every change, planned or not.
  for (const [method, url, body] of [['POST', E, { ...cloud, name: 'x' }], ['POST', `${E}/plan`, { ...cloud, name: 'x' }], ['PUT', `${E}/cloud`, cloud], ['DELETE', `${E}/cloud`, undefined]] as const)
    expect((await oper.send(method, url, body)).statusCode, `${method} ${url}`).toBe(403);

  // Change (a rename too), then remove; an unknown name is a 404.
  const changed = await admin.send('PUT', `${E}/cloud`, { ...cloud, name: 'cloud2', protocol: 'tls', path: undefined, port: 8443 });
  expect(changed.statusCode, changed.body).toBe(200);
  expect(app.keel.store.running()!.config.connectivity!.endpoints).toEqual([{ name: 'cloud2', host: 'cloud.example.com', port: 8443, protocol: 'tls', viaProxy: false, expectedIssuer: 'Example CA' }]);
  expect((await admin.send('DELETE', `${E}/cloud`)).statusCode).toBe(404);
  const removed = await admin.send('DELETE', `${E}/cloud2`);
  expect(removed.statusCode, removed.body).toBe(200);
  expect(app.keel.store.running()!.config.connectivity!.endpoints).toEqual([]);
  expect(app.keel.store.revisions(1)[0].summary).toMatch(/^webui: remove connectivity endpoint cloud2/);
  expect(await admin.page()).not.toContain('id="endpoint-cloud2"');
});
