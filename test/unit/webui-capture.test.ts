/**
 * Diagnostics > Capture in System Manager (sandbox root): administrators start a capture (the
 * applier's tcpdump argv is recorded), list and download stored pcap files; operators get 403;
 * names are strictly checked; starts and downloads are audited.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';
import { Store } from '../../appliance/config/store.ts';
import { buildServer } from '../../webui/server.ts';
import { CAPTURE_DIR, readPcap } from '../../appliance/diagnostics/capture.ts';
import { configuredHost, OPERATOR_PASSWORD, WEB_PASSWORD } from '../helpers/web.ts';

async function served(t: TestContext) {
  const host = await configuredHost(t, { prefix: 'keel-capture-web-' });
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => void app.close());
  const signIn = async (username: string, password: string) => {
    const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username, password } });
    assert.equal(r.statusCode, 200, r.body);
    const cookie = String(r.headers['set-cookie']).split(';')[0]!;
    const csrf = JSON.parse(r.body).csrfToken as string;
    return {
      post: (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object, headers: { cookie, 'x-csrf-token': csrf } }),
      form: (url: string, fields: Record<string, string>) => app.inject({ method: 'POST', url, payload: new URLSearchParams({ ...fields, _csrf: csrf }).toString(), headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' } }),
      get: (url: string) => app.inject({ method: 'GET', url, headers: { cookie } }),
    };
  };
  return { host, admin: await signIn('admin', WEB_PASSWORD), oper: await signIn('oper', OPERATOR_PASSWORD), proc: host.proc as SandboxProcesses };
}

/** A two-packet pcap as tcpdump writes it (little endian, microseconds, Ethernet). */
function pcapFile(): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(262144, 16);
  h.writeUInt32LE(1, 20);
  const rec = (len: number) => {
    const r = Buffer.alloc(16 + len);
    r.writeUInt32LE(1_765_000_000, 0);
    r.writeUInt32LE(len, 8);
    r.writeUInt32LE(len, 12);
    return r;
  };
  return Buffer.concat([h, rec(60), rec(42)]);
}

test('REST: administrators capture, list and download; operators get 403; names strictly checked; audited', async (t) => {
  const { host, admin, oper, proc } = await served(t);
  const start = await admin.post('/mics/api/v1/diagnostics/capture', { interface: 'GigabitEthernet2', duration: 5, packets: 10, filter: 'tcp and port 443' });
  assert.equal(start.statusCode, 200, start.body);
  const r = JSON.parse(start.body);
  assert.match(proc.recorded.at(-1)!, /^tcpdump -i ens4 -w \S+\/var\/lib\/keel\/captures\/capture-\d{8}T\d{6}Z-GigabitEthernet2\.pcap -c 10 -s 262144 -n -U -Z root -- tcp and port 443$/);
  assert.equal(r.command, proc.recorded.at(-1));

  const bad = await admin.post('/mics/api/v1/diagnostics/capture', { interface: 'GigabitEthernet1', filter: 'port 22; reboot' });
  assert.equal(bad.statusCode, 400);
  assert.equal(JSON.parse(bad.body).problems[0].field, 'filter');
  assert.match(JSON.parse(bad.body).problems[0].message, /^Filter needs a port number/);
  const noIface = await admin.post('/mics/api/v1/diagnostics/capture', { interface: 'GigabitEthernet6' });
  assert.match(JSON.parse(noIface.body).problems[0].message, /^Interface must be one of GigabitEthernet1, GigabitEthernet2/);

  const name = 'capture-20261206T010203Z-GigabitEthernet1.pcap';
  host.files.mkdirp(CAPTURE_DIR, 0o700);
  host.files.writeAtomic(`${CAPTURE_DIR}/${name}`, pcapFile(), 0o600);
  const list = await admin.get('/mics/api/v1/diagnostics/captures');
  assert.deepEqual(JSON.parse(list.body), [{ name, bytes: 24 + 16 + 60 + 16 + 42 }]);
  const dl = await admin.get(`/mics/api/v1/diagnostics/captures/${name}`);
  assert.equal(dl.statusCode, 200);
  assert.equal(dl.headers['content-type'], 'application/vnd.tcpdump.pcap');
  assert.equal(dl.headers['content-disposition'], `attachment; filename="${name}"`);
  assert.equal(readPcap(dl.rawPayload).packets, 2);
  for (const evil of ['..%2F..%2Fetc%2Fpasswd', 'capture-20261206T010203Z-GigabitEthernet1.pcap.bak', '.%2Fcapture-20261206T010203Z-x.pcap', 'capture-20261206T010203Z-Gi9.pcap'])
    assert.equal((await admin.get(`/mics/api/v1/diagnostics/captures/${evil}`)).statusCode, 404, evil);

  assert.equal((await oper.get(`/mics/api/v1/diagnostics/captures/${name}`)).statusCode, 403);
  assert.equal((await oper.get('/mics/api/v1/diagnostics/captures')).statusCode, 403);
  assert.equal((await oper.post('/mics/api/v1/diagnostics/capture', { interface: 'GigabitEthernet1' })).statusCode, 403);
  assert.equal((await oper.get('/mics/diagnostics/capture')).statusCode, 403);
  assert.equal((await oper.form('/mics/diagnostics/capture', { interface: 'GigabitEthernet1' })).statusCode, 403);

  const s = Store.open(host);
  try {
    const log = s.auditLog();
    assert.ok(log.some((e) => e.action === 'diagnostics capture GigabitEthernet2 filter tcp and port 443' && e.outcome === 'ok: recorded, not run (sandbox)'));
    assert.ok(log.some((e) => e.action === 'diagnostics capture GigabitEthernet1 filter port 22; reboot' && e.outcome === 'refused: filter (filter)'));
    assert.ok(log.some((e) => e.action === `download capture ${name}` && e.outcome === 'ok'));
  } finally {
    s.close();
  }
});

test('page: the capture form and stored captures with download links; a bad filter shown under the form', async (t) => {
  const { admin } = await served(t);
  const page = await admin.get('/mics/diagnostics/capture');
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<option value="GigabitEthernet1">GigabitEthernet1<\/option><option value="GigabitEthernet2">/);
  assert.match(page.body, /No captures stored\./);
  assert.doesNotMatch(page.body, /<script(?![^>]*src=)/);
  const bad = await admin.form('/mics/diagnostics/capture', { interface: 'GigabitEthernet1', duration: '30', packets: '1000', filter: 'tcp or' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.body, /Filter ends where a condition is expected/);
  assert.match(bad.body, /value="tcp or"/);
  const ok = await admin.form('/mics/diagnostics/capture', { interface: 'GigabitEthernet1', duration: '3', packets: '5', filter: '' });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.match(ok.body, /id="result-capture"/);
});
