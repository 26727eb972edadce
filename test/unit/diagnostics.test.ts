import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { applierSocketPath, createHost } from '../../appliance/host/index.ts';
import { Net } from '../../appliance/host/net.ts';
import { SandboxProcesses } from '../../appliance/host/processes.ts';
import { ApplierServer } from '../../appliance/applier/server.ts';
import { LocalApplier } from '../../appliance/applier/local.ts';
import { OperationalError, ValidationError } from '../../appliance/errors.ts';
import { checkDnsLookup, checkPing, checkTcp, checkTraceroute, diagnoseCommand, dnsLookup, parsePing, parseTraceroute, targetRule, tcpCheck } from '../../appliance/diagnostics/tools.ts';
import { startDnsServer, closedPort } from '../helpers/netpeers.ts';
import { tempRoot } from '../helpers/config.ts';

const fixture = (name: string) => fs.readFileSync(new URL(`../fixtures/diagnostics/${name}`, import.meta.url), 'utf8');
const problems = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof ValidationError) return e.problems;
    throw e;
  }
  assert.fail('accepted');
};

test('targets: addresses and host names only, nothing a program could take as an option or a shell as syntax', () => {
  for (const ok of ['192.0.2.1', '2001:db8::1', '::1', 'core.example.com', 'gateway', '_sip._tcp.example.com', 'example.com.']) assert.equal(targetRule(ok), null, ok);
  for (const bad of ['', '-f', '--help', '-c1', '1.2.3.4;reboot', '$(reboot)', 'a b', '`x`', '999.1.1.1', 'x|y', 'fe80::1%eth0', 'host-.example.com', 'a'.repeat(64) + '.com', `${'a.'.repeat(127)}com`, 'a\nb'])
    assert.notEqual(targetRule(bad), null, JSON.stringify(bad));
});

test('each tool\'s arguments: a refusal names the field and the rule in words', () => {
  assert.deepEqual(checkPing({ host: '127.0.0.1' }), { host: '127.0.0.1', count: 4 });
  assert.deepEqual(problems(() => checkPing({ host: '-f', count: 11 })), [
    { field: 'host', rule: 'host', message: 'Host must be an IPv4 address, an IPv6 address or a host name (letters, digits and hyphens in dot-separated labels of 1-63 characters, not starting with a hyphen)' },
    { field: 'count', rule: 'range', message: 'Count must be a whole number from 1 to 10' },
  ]);
  assert.equal(problems(() => checkPing({ host: '10.0.0.1', count: 0 }))[0].field, 'count');
  assert.equal(problems(() => checkPing({ host: '10.0.0.1', count: 2.5 }))[0].rule, 'range');
  assert.equal(checkTraceroute({ host: 'example.com' }).maxHops, 30);
  assert.deepEqual(problems(() => checkTraceroute({ host: 'example.com', maxHops: 31 })).map((p) => `${p.field}:${p.message}`), ['maxHops:Maximum hops must be a whole number from 1 to 30']);
  assert.equal(checkDnsLookup({ name: 'example.com' }).type, 'A');
  assert.equal(checkDnsLookup({ name: 'example.com', type: 'mx' as never }).type, 'MX');
  assert.deepEqual(problems(() => checkDnsLookup({ name: 'example.com', type: 'ANY' as never }))[0], { field: 'type', rule: 'enum', message: 'Record type must be one of A, AAAA, PTR, SRV, MX, TXT' });
  assert.deepEqual(problems(() => checkDnsLookup({ name: 'example.com', type: 'PTR' }))[0], { field: 'name', rule: 'ip-address', message: 'Name must be an IPv4 or IPv6 address for a PTR lookup' });
  assert.equal(checkDnsLookup({ name: '2001:db8::1', type: 'PTR', server: '::1' }).server, '::1');
  assert.deepEqual(problems(() => checkDnsLookup({ name: 'example.com', server: 'dns.example.com' }))[0].field, 'server');
  assert.deepEqual(problems(() => checkTcp({ host: 'example.com', port: 0 }))[0], { field: 'port', rule: 'range', message: 'Port must be a whole number from 1 to 65535' });
  assert.equal(problems(() => checkTcp({ host: 'a b', port: 80 }))[0].field, 'host');
});

test('ping and traceroute become an argv with bounded options and time; anything else is refused again', () => {
  assert.deepEqual(diagnoseCommand('ping', '127.0.0.1', { count: 2 }), { cmd: 'ping', args: ['-n', '-c', '2', '-W', '2', '127.0.0.1'], timeoutMs: 9000 });
  assert.deepEqual(diagnoseCommand('traceroute', '::1', { maxHops: 3 }).args, ['-n', '-m', '3', '-w', '2', '::1']);
  assert.equal(diagnoseCommand('traceroute', 'example.com').args[2], '30');
  assert.ok(diagnoseCommand('traceroute', 'example.com').timeoutMs <= 90_000);
  assert.throws(() => diagnoseCommand('sh' as never, '127.0.0.1'), (e: unknown) => e instanceof ValidationError && e.problems[0].field === 'tool');
  assert.throws(() => diagnoseCommand('ping', '-f'), ValidationError);
  assert.throws(() => diagnoseCommand('ping', '127.0.0.1', { count: 1000 }), ValidationError);
  assert.throws(() => diagnoseCommand('traceroute', '127.0.0.1', { maxHops: 64 }), ValidationError);
});

test('ping output (recorded from this machine\'s iputils ping): replies, loss, round trip, failures in its words', () => {
  const ok = parsePing(fixture('ping-ok.txt'), '127.0.0.1');
  assert.deepEqual(ok.replies, [
    { seq: 1, ttl: 64, ms: 0.081 },
    { seq: 2, ttl: 64, ms: 0.048 },
  ]);
  assert.equal(ok.transmitted, 2);
  assert.equal(ok.received, 2);
  assert.equal(ok.lossPercent, 0);
  assert.deepEqual(ok.rtt, { min: 0.048, avg: 0.064, max: 0.081 });
  assert.equal(ok.address, '127.0.0.1');
  assert.equal(ok.error, null);
  const v6 = parsePing(fixture('ping6-ok.txt'), '::1');
  assert.equal(v6.address, '::1');
  assert.deepEqual(v6.replies.map((r) => r.ms), [0.059, 0.061]);
  const loss = parsePing(fixture('ping-loss.txt'), '198.18.0.2');
  assert.deepEqual([loss.replies.length, loss.transmitted, loss.received, loss.lossPercent, loss.rtt, loss.error], [0, 2, 0, 100, null, null]);
  assert.equal(parsePing(fixture('ping-unknown.txt'), 'nonexistent.invalid').error, 'nonexistent.invalid: Name or service not known');
  assert.equal(parsePing(fixture('ping-unreachable.txt'), '203.0.113.9').error, 'Network is unreachable');
});

test('traceroute output (recorded): per hop the address and each probe\'s time, * for none', () => {
  const ok = parseTraceroute(fixture('traceroute-ok.txt'), '127.0.0.1');
  assert.deepEqual(ok.hops, [{ hop: 1, probes: [0.033, 0.003, 0.003].map((ms) => ({ address: '127.0.0.1', ms })) }]);
  assert.equal(ok.reached, true);
  const silent = parseTraceroute(fixture('traceroute-timeout.txt'), '198.18.0.2');
  assert.deepEqual(silent.hops, [1, 2].map((hop) => ({ hop, probes: [{ address: null, ms: null }, { address: null, ms: null }] })));
  assert.equal(silent.reached, false);
  assert.equal(silent.error, null);
  assert.equal(parseTraceroute(fixture('traceroute-unreachable.txt'), '203.0.113.9').error, 'Network is unreachable');
  // Several routers answering one hop, and an annotation (these lines are traceroute's documented format).
  const multi = parseTraceroute('traceroute to 10.9.9.9 (10.9.9.9), 30 hops max, 60 byte packets\n 1  10.0.0.1  0.5 ms  10.0.0.2  0.7 ms *\n 2  10.9.9.9  1.2 ms !H  1.1 ms  1.0 ms\n', '10.9.9.9');
  assert.deepEqual(multi.hops[0].probes, [{ address: '10.0.0.1', ms: 0.5 }, { address: '10.0.0.2', ms: 0.7 }, { address: null, ms: null }]);
  assert.equal(multi.hops[1].probes[0].note, '!H');
  assert.equal(multi.reached, true);
});

test('DNS lookup against a DNS server on loopback: records, NXDOMAIN, no records of the type, a server that does not answer', async (t) => {
  const dns = await startDnsServer({ 'svc.example.com': '192.0.2.44' });
  t.onTestFinished(() => dns.close());
  const n = new Net({ dnsServers: [`127.0.0.1:${dns.port}`] });
  const a = await dnsLookup(n, { name: 'svc.example.com' });
  assert.deepEqual(a.records, ['192.0.2.44']);
  assert.equal(a.error, null);
  assert.equal(a.server, `127.0.0.1:${dns.port}`);
  assert.ok(a.ms >= 0 && a.ms < 5000);
  assert.equal((await dnsLookup(n, { name: 'nosuch.example.com' })).error, 'nosuch.example.com does not exist (NXDOMAIN)');
  const aaaa = await dnsLookup(n, { name: 'svc.example.com', type: 'AAAA' });
  assert.deepEqual([aaaa.records, aaaa.error], [[], 'no AAAA records']);
  assert.ok(dns.queries.filter((q) => q === 'svc.example.com').length >= 2);
  // A chosen server where nothing listens (loopback port 53 here): refused or silent, said in words, bounded.
  const started = Date.now();
  const none = await dnsLookup(n, { name: 'svc.example.com', server: '127.0.0.1' });
  assert.equal(none.server, '127.0.0.1');
  assert.match(none.error ?? '', /refused|did not answer|failed/);
  assert.ok(Date.now() - started < 7000);
  await assert.rejects(dnsLookup(n, { name: 'x;y' }), ValidationError);
});

test('TCP check: open with DNS and connect times, refused on a closed port, a name that does not resolve', async (t) => {
  const dns = await startDnsServer({ 'svc.example.com': '127.0.0.1' });
  const listener = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  t.onTestFinished(async () => {
    await dns.close();
    await new Promise((r) => listener.close(r));
  });
  const port = (listener.address() as net.AddressInfo).port;
  const n = new Net({ dnsServers: [`127.0.0.1:${dns.port}`] });
  const open = await tcpCheck(n, { host: 'svc.example.com', port });
  assert.equal(open.status, 'open');
  assert.deepEqual(open.addresses, ['127.0.0.1']);
  assert.ok(open.dnsMs !== null && open.connectMs !== null && open.connectMs < 5000);
  const lit = await tcpCheck(n, { host: '127.0.0.1', port });
  assert.equal(lit.dnsMs, null);
  const closed = await tcpCheck(n, { host: '127.0.0.1', port: await closedPort() });
  assert.equal(closed.status, 'refused');
  assert.match(closed.message, /^refused: nothing listens on 127\.0\.0\.1 port \d+/);
  assert.equal(closed.connectMs, null);
  assert.equal((await tcpCheck(n, { host: 'nosuch.example.com', port })).status, 'dns-failed');
});

test('the applier runs the real ping and traceroute against 127.0.0.1 (a LocalApplier with live processes)', async () => {
  const applier = new LocalApplier(createHost('/'), () => assert.fail('diagnose needs no store'));
  const p = await applier.diagnose('ping', '127.0.0.1', { count: 2 });
  assert.equal(p.command, 'ping -n -c 2 -W 2 127.0.0.1');
  assert.equal(p.exitCode, 0, p.output);
  assert.equal(p.result.tool, 'ping');
  if (p.result.tool === 'ping') assert.deepEqual([p.result.transmitted, p.result.received, p.result.lossPercent], [2, 2, 0]);
  const tr = await applier.diagnose('traceroute', '127.0.0.1', { maxHops: 3 });
  assert.equal(tr.result.tool === 'traceroute' && tr.result.reached, true, tr.output);
  await assert.rejects(applier.diagnose('ping', '--help'), ValidationError);
});

test('a ping the applier may not start (no CAP_NET_RAW in its bounding set) says which right is missing', async () => {
  const host = createHost('/');
  // What RealProcesses reports when exec fails so (measured: setpriv --bounding-set=-net_raw --no-new-privs, as root).
  host.proc = { live: true, run: async (cmd, args) => Promise.reject(new OperationalError('could not start command', [cmd, ...args].join(' '), null, 'spawn EPERM')) };
  await assert.rejects(new LocalApplier(host, () => assert.fail()).diagnose('ping', '127.0.0.1'), (e: unknown) => e instanceof OperationalError && /^ping could not start: the applier lacks the raw-socket right \(CAP_NET_RAW\)/.test(e.message) && e.command === 'ping -n -c 4 -W 2 127.0.0.1');
});

test('over the applier\'s socket: the arguments are checked again on the privileged side', async (t: TestContext) => {
  const root = tempRoot();
  const priv = createHost(root);
  priv.files.mkdirp('/run/keel', 0o755);
  const socket = applierSocketPath(root);
  const server = new ApplierServer(priv.applier, { path: socket, allowUids: new Set([process.getuid!()]) });
  await server.listen();
  t.onTestFinished(async () => {
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  const client = createHost(root, { applierSocket: socket }).applier;
  const r = await client.diagnose('ping', '192.0.2.1', { count: 3 });
  assert.equal(r.command, 'ping -n -c 3 -W 2 192.0.2.1');
  assert.deepEqual((priv.proc as SandboxProcesses).recorded, ['ping -n -c 3 -W 2 192.0.2.1']);
  await assert.rejects(client.diagnose('ping', '-f 192.0.2.1'), (e: unknown) => e instanceof ValidationError && e.problems[0].field === 'host');
  await assert.rejects(client.diagnose('traceroute', '192.0.2.1', { maxHops: 255 }), (e: unknown) => e instanceof ValidationError && e.problems[0].field === 'maxHops');
  await assert.rejects(client.diagnose('sh' as never, '192.0.2.1'), ValidationError);
  assert.equal((priv.proc as SandboxProcesses).recorded.length, 1, 'nothing refused was run');
});
