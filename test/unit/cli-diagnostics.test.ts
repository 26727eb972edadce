import { test } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import { cliSession } from '../helpers/cli.ts';
import { Net } from '../../appliance/host/net.ts';
import { startDnsServer, closedPort } from '../helpers/netpeers.ts';
import { formatPing, formatTraceroute } from '../../cli/diagnostics.ts';
import { parsePing, parseTraceroute } from '../../appliance/diagnostics/tools.ts';
import fs from 'node:fs';

process.env.KEEL_LOG ??= 'silent';
const fixture = (name: string) => fs.readFileSync(new URL(`../fixtures/diagnostics/${name}`, import.meta.url), 'utf8');

test('nslookup and test tcp as an operator in user EXEC: loopback peers, the rules in the CLI\'s words, audited', async (t) => {
  const dns = await startDnsServer({ 'svc.example.com': '127.0.0.1' });
  const listener = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  t.onTestFinished(async () => {
    await dns.close();
    await new Promise<void>((r) => listener.close(() => r()));
  });
  const { run, host, store } = await cliSession(t, { role: 'operator', privileged: false });
  host.net = new Net({ dnsServers: [`127.0.0.1:${dns.port}`] });
  const port = (listener.address() as net.AddressInfo).port;

  const a = await run('nslookup svc.example.com');
  assert.match(a, new RegExp(`^Server:  127\\.0\\.0\\.1:${dns.port}\\nName:    svc\\.example\\.com\\nType:    A\\n         127\\.0\\.0\\.1\\n1 record in [\\d.]+ ms`));
  assert.match(await run('nslookup nosuch.example.com type aaaa'), /Type:    AAAA\n% nosuch\.example\.com does not exist \(NXDOMAIN\)/);
  assert.match(await run('nslookup svc.example.com type PTR'), /Name must be an IPv4 or IPv6 address for a PTR lookup/);
  assert.match(await run('nslookup svc.example.com server dns.example.com'), /\(ip-address\): must be an IPv4 or IPv6 address/);
  assert.match(await run('nslookup svc.example.com type TXT server 127.0.0.1'), /^Server:  127\.0\.0\.1\n/);

  assert.match(await run(`test tcp svc.example.com ${port}`), new RegExp(`^DNS      svc\\.example\\.com -> 127\\.0\\.0\\.1 \\([\\d.]+ ms\\)\\nOpen: connected to 127\\.0\\.0\\.1 port ${port} in [\\d.]+ ms`));
  assert.match(await run(`test tcp 127.0.0.1 ${await closedPort()}`), /^% refused: nothing listens on 127\.0\.0\.1 port \d+/);
  assert.match(await run('test tcp 127.0.0.1 70000'), /\(port\): must be a number from 1 to 65535/);
  assert.match(await run('test tcp -p 80'), /\(host\)/);

  const log = store.auditLog();
  assert.ok(log.some((e) => e.action === 'cli: nslookup svc.example.com' && e.outcome === 'ok: 1 records'));
  assert.ok(log.some((e) => e.action.startsWith('cli: test tcp 127.0.0.1') && e.outcome.startsWith('failed: refused')));
  assert.match(await run('test ?'), /connectivity +Check the endpoints[\s\S]*tcp +Check that a TCP port answers/);
  assert.match(await run('nslookup svc.example.com type ?'), /A\|AAAA\|PTR\|SRV\|MX\|TXT/);
});

test('ping and traceroute in IOS\'s shape from the parsed output', () => {
  assert.match(formatPing(parsePing(fixture('ping-ok.txt'), '127.0.0.1'), ''), /^Sending 2, ICMP echoes to 127\.0\.0\.1, timeout is 2 seconds:\n!!\nSuccess rate is 100 percent \(2\/2\), round-trip min\/avg\/max = 0\.048\/0\.064\/0\.081 ms$/);
  assert.match(formatPing(parsePing(fixture('ping-loss.txt'), '198.18.0.2'), ''), /\n\.\.\nSuccess rate is 0 percent \(0\/2\)$/);
  assert.equal(formatPing(parsePing(fixture('ping-unknown.txt'), 'nonexistent.invalid'), ''), '% nonexistent.invalid: Name or service not known');
  assert.equal(formatTraceroute(parseTraceroute(fixture('traceroute-ok.txt'), '127.0.0.1')), 'Tracing the route to 127.0.0.1\n  1  127.0.0.1  0.033 ms  0.003 ms  0.003 ms\nReached 127.0.0.1 in 1 hop.');
  assert.equal(formatTraceroute(parseTraceroute(fixture('traceroute-timeout.txt'), '198.18.0.2')), 'Tracing the route to 198.18.0.2\n  1  *  *\n  2  *  *\n198.18.0.2 not reached in 2 hops.');
});

test('monitor capture: administrators only, arguments in the tree, audited; show capture lists', async (t) => {
  const op = await cliSession(t, { role: 'operator', privileged: true });
  assert.match(await op.run('monitor capture interface GigabitEthernet1'), /% Permission denied/);
  assert.ok(op.store.auditLog().some((e) => e.action === 'cli: monitor capture interface GigabitEthernet1' && e.outcome === 'refused: read-only role'));
  const { run, store } = await cliSession(t, { role: 'admin', privileged: true });
  assert.match(await run('monitor capture interface gi1 duration 301'), /\(duration\): must be a number from 1 to 300/);
  assert.match(await run('monitor capture interface gi1 packets 0'), /\(packets\): must be a number from 1 to 100000/);
  assert.match(await run('monitor capture interface gi1 filter port 22; reboot'), /\(capture-filter\): .*port number/);
  assert.match(await run('monitor capture interface gi1 filter -w /etc/passwd'), /\(capture-filter\): has an unknown word "-w"/);
  const out = await run('monitor capture interface gi1 duration 5 packets 10 filter tcp and port 22');
  assert.match(out, /Capturing on GigabitEthernet1 for up to 5 s or 10 packets/);
  assert.match(out, /tcpdump -i ens3 -w \S+\/var\/lib\/keel\/captures\/capture-\d{8}T\d{6}Z-GigabitEthernet1\.pcap -c 10 -s 262144 -n -U -Z root -- tcp and port 22/);
  assert.ok(store.auditLog().some((e) => e.action === 'cli: monitor capture interface gi1 duration 5 packets 10 filter tcp and port 22' && e.outcome === 'ok: recorded, not run (sandbox)'));
  assert.match(await run('show capture'), /^No captures stored\.|^Captures in/);
});
