import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ValidationError } from '../../appliance/errors.ts';
import { createHost, type Host } from '../../appliance/host/index.ts';
import { RealProcesses } from '../../appliance/host/processes.ts';
import { LocalApplier } from '../../appliance/applier/local.ts';
import { tempRoot } from '../helpers/config.ts';
import { CAPTURE_DIR, CAPTURE_LIMITS, CAPTURE_NAME, captureArgv, captureName, capturesToPrune, checkCapture, parseFilter, readPcap, worstBytes } from '../../appliance/diagnostics/capture.ts';

const IFACES = ['GigabitEthernet1', 'GigabitEthernet2'];
function problems(f: () => unknown): { field: string; message: string }[] {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return e.problems;
  }
  assert.fail('expected a ValidationError');
}

test('capture arguments: defaults, bounds, messages naming the field', () => {
  const c = checkCapture({ interface: 'GigabitEthernet1' }, IFACES);
  assert.deepEqual(c, { interface: 'GigabitEthernet1', duration: 30, packets: 1000, snaplen: 16761, filter: [] });
  assert.ok(worstBytes(c.packets, c.snaplen) <= CAPTURE_LIMITS.fileBytes);
  assert.equal(checkCapture({ interface: 'GigabitEthernet1', packets: 1 }, IFACES).snaplen, 262144);
  assert.equal(checkCapture({ interface: 'GigabitEthernet1', packets: 100000 }, IFACES).snaplen, 151);
  const big = problems(() => checkCapture({ interface: 'GigabitEthernet1', packets: 1000, snaplen: 65535 }, IFACES));
  assert.deepEqual([big[0]!.field, big[0]!.message], ['snaplen', 'Snap length × packets must fit 16 MiB: at most 16761 bytes for 1000 packets']);
  assert.match(problems(() => checkCapture({ interface: 'eth0' }, IFACES))[0]!.message, /^Interface must be one of GigabitEthernet1, GigabitEthernet2/);
  assert.match(problems(() => checkCapture({ interface: 'GigabitEthernet1', duration: 301 }, IFACES))[0]!.message, /^Duration must be a whole number from 1 to 300/);
  assert.match(problems(() => checkCapture({ interface: 'GigabitEthernet1', packets: 0 }, IFACES))[0]!.message, /^Packets must be a whole number from 1 to 100000/);
  assert.match(problems(() => checkCapture({ interface: 'GigabitEthernet1', packets: 1.5 }, IFACES))[0]!.message, /^Packets/);
  const p = problems(() => checkCapture({ interface: 'GigabitEthernet1', filter: 'port 22; rm -rf /' }, IFACES));
  assert.equal(p[0]!.field, 'filter');
  assert.match(p[0]!.message, /^Filter /);
  assert.equal(checkCapture({ interface: 'GigabitEthernet2', duration: 300, packets: 100000, filter: '' }, IFACES).filter.length, 0);
});

test('capture filter grammar: accepts the subset, refuses anything else', () => {
  for (const ok of ['tcp', 'host 192.0.2.1', 'src host 2001:db8::1', 'net 10.0.0.0/8', 'dst net 2001:db8::/32', 'port 443', 'portrange 1000-2000',
    'tcp and port 22', 'not (udp or icmp)', '(host 192.0.2.1 and not port 22) or arp', 'vlan 10 and ip6', 'icmp6', 'TCP AND PORT 80',
    'tcp port 22', 'udp dst port 53', 'tcp src portrange 1000-2000', 'ip host 192.0.2.1', 'ip6 src net 2001:db8::/32', 'arp host 192.0.2.1 or tcp port 22'])
    assert.ok(parseFilter(ok).length > 0, ok);
  assert.deepEqual(parseFilter('(tcp and port 22)'), ['(', 'tcp', 'and', 'port', '22', ')']);
  assert.deepEqual(parseFilter('TCP AND PORT 80'), ['tcp', 'and', 'port', '80']);
  assert.deepEqual(parseFilter('tcp port 22'), ['tcp', 'port', '22']);
  const bad: [string, RegExp][] = [
    ['port 70000', /port number/], ['host example.com', /IPv4 or IPv6 address/], ['net 10.0.0.0/33', /CIDR/], ['portrange 2000-1000', /port range/],
    ['tcp and', /ends where/], ['(tcp', /unclosed/], ['tcp host 192.0.2.1', /where and\/or or the end/], ['tcp src host 192.0.2.1', /needs port or portrange after tcp src/], ['ip port 22', /where and\/or/], ['-w /etc/passwd', /unknown word/],
    ['ether host 00:11:22:33:44:55', /unknown word "ether"/], ['src tcp', /after src\/dst/], ['vlan 5000', /4094/], ['tcp $(reboot)', /unknown word|where/],
    ['host 192.0.2.1%eth0', /IPv4 or IPv6/], ['x'.repeat(257), /at most 256/], ['('.repeat(40) + 'tcp' + ')'.repeat(40), /nests/],
  ];
  for (const [f, re] of bad) assert.throws(() => parseFilter(f), re, f);
});

test('capture argv and file names: argv only, the filter after --', () => {
  const c = checkCapture({ interface: 'GigabitEthernet1', packets: 5, snaplen: 128, filter: 'not port 22' }, IFACES);
  assert.deepEqual(captureArgv(c, 'ens3', '/var/lib/keel/captures/x.pcap'), ['tcpdump', '-i', 'ens3', '-w', '/var/lib/keel/captures/x.pcap', '-c', '5', '-s', '128', '-n', '-U', '-Z', 'root', '--', 'not', 'port', '22']);
  assert.throws(() => captureArgv(c, '-w', '/tmp/x'), /bad kernel interface/);
  const name = captureName(new Date('2026-12-06T01:02:03.456Z'), 'GigabitEthernet1');
  assert.equal(name, 'capture-20261206T010203Z-GigabitEthernet1.pcap');
  assert.match(name, CAPTURE_NAME);
  for (const bad of ['../etc/passwd', 'capture-20261206T010203Z-x.pcap/../../a', 'capture-20261206T010203Z-.pcap', 'x.pcap']) assert.doesNotMatch(bad, CAPTURE_NAME);
});

function pcap(le: boolean, nano: boolean, records: number[]): Buffer {
  const h = Buffer.alloc(24);
  const w = (b: Buffer, v: number, o: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  w(h, nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  (le ? h.writeUInt16LE.bind(h) : h.writeUInt16BE.bind(h))(2, 4);
  (le ? h.writeUInt16LE.bind(h) : h.writeUInt16BE.bind(h))(4, 6);
  w(h, 65535, 16);
  w(h, 1, 20);
  const parts = [h];
  records.forEach((len, k) => {
    const r = Buffer.alloc(16 + len);
    w(r, 1000 + k, 0);
    w(r, nano ? 500_000_000 : 500_000, 4);
    w(r, len, 8);
    w(r, len + 10, 12);
    parts.push(r);
  });
  return Buffer.concat(parts);
}

test('pcap reader: both byte orders, nanosecond stamps, a truncated last record', () => {
  for (const le of [true, false]) for (const nano of [false, true]) {
    const s = readPcap(pcap(le, nano, [60, 70, 80]));
    assert.deepEqual([s.linkType, s.nanoseconds, s.packets, s.bytes, s.first, s.last], [1, nano, 3, 210, 1000.5, 1002.5]);
    assert.equal(s.records[1]!.length, 80);
  }
  const cut = pcap(true, false, [60, 70]);
  assert.equal(readPcap(cut.subarray(0, cut.length - 5)).packets, 1);
  assert.throws(() => readPcap(Buffer.alloc(10)), /24-byte header/);
  assert.throws(() => readPcap(Buffer.alloc(24)), /bad magic/);
});

const tcpdump = spawnSync('tcpdump', ['--version']).status === 0 && process.getuid?.() === 0;

/** Run tcpdump with our argv on lo while making TCP connections to a loopback listener. */
async function captureLo(packets: number, filter: string, durationS: number): Promise<{ buf: Buffer; ms: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-capture-'));
  const file = path.join(dir, 'c.pcap');
  const c = checkCapture({ interface: 'GigabitEthernet1', packets, snaplen: 256, filter, duration: durationS }, IFACES);
  const [cmd, ...args] = captureArgv(c, 'lo', file);
  const server = net.createServer((s) => s.end('hello'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const start = Date.now();
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const stop = setTimeout(() => child.kill('SIGTERM'), durationS * 1000);
  await new Promise((r) => setTimeout(r, 400)); // tcpdump listening
  const traffic = setInterval(() => net.connect(port, '127.0.0.1').on('data', () => {}).on('error', () => {}), 50);
  await new Promise<void>((r) => child.on('exit', () => r()));
  const ms = Date.now() - start;
  clearTimeout(stop);
  clearInterval(traffic);
  server.close();
  assert.ok(fs.existsSync(file), `tcpdump wrote no file: ${err}`);
  const buf = fs.readFileSync(file);
  fs.rmSync(dir, { recursive: true, force: true });
  return { buf, ms };
}

test.skipIf(!tcpdump)('real capture on lo: the packet limit stops it, a filter keeps other traffic out', { timeout: 15000 }, async () => {
  const byCount = await captureLo(5, 'tcp', 5);
  assert.equal(byCount.buf.readUInt32LE(0), 0xa1b2c3d4, 'pcap magic');
  assert.equal(readPcap(byCount.buf).packets, 5);
  assert.ok(byCount.ms < 4000, `stopped by the packet limit, ${byCount.ms} ms`);
  assert.ok(readPcap(byCount.buf).records.every((r) => r.capturedLength <= 256), 'snaplen bounds each record');
  const byTime = await captureLo(10000, 'port 1', 1);
  assert.equal(readPcap(byTime.buf).packets, 0, 'port 1 filter captured other traffic');
  assert.ok(byTime.ms >= 1000 && byTime.ms < 3000, `stopped by the duration, ${byTime.ms} ms`);
});

test('stored captures: at most 5 and 64 MiB kept, newest first', () => {
  const files = Array.from({ length: 8 }, (_, k) => ({ name: captureName(new Date(Date.UTC(2026, 0, 1, 0, 0, k)), 'GigabitEthernet1'), bytes: 1000 }));
  assert.deepEqual(capturesToPrune(files).sort(), files.slice(0, 3).map((f) => f.name));
  const big = [0, 1, 2].map((k) => ({ name: captureName(new Date(Date.UTC(2026, 0, 1, 0, 0, k)), 'GigabitEthernet1'), bytes: 16 * 1048576 + 1 }));
  big.push({ name: captureName(new Date(Date.UTC(2026, 0, 1, 0, 0, 9)), 'GigabitEthernet1'), bytes: 16 * 1048576 + 1 });
  assert.deepEqual(capturesToPrune(big), [big[0]!.name]);
});

/** A host with a temp root (files) that really runs commands, whose one NIC GigabitEthernet1 is `lo`. */
function loopbackHost(): { host: Host; root: string } {
  const root = tempRoot('keel-capture-');
  const sys = path.join(root, 'sys');
  fs.mkdirSync(path.join(sys, 'bus/pci/devices/0000:00:03.0/net/lo'), { recursive: true });
  fs.writeFileSync(path.join(sys, 'bus/pci/devices/0000:00:03.0/class'), '0x020000\n');
  const host = { ...createHost(root, { sysfs: sys }), proc: new RealProcesses() } as Host;
  return { host, root };
}

test.skipIf(!tcpdump)('applier capture on lo: validated again, one at a time, stopped by packets or duration, stored and listed', { timeout: 15000 }, async () => {
  const { host, root } = loopbackHost();
  const applier = new LocalApplier(host, () => assert.fail('capture needs no store'));
  await assert.rejects(applier.capture({ interface: 'lo' }), (e: unknown) => e instanceof ValidationError && e.problems[0]!.field === 'interface');
  await assert.rejects(applier.capture({ interface: 'GigabitEthernet1', filter: 'tcp; reboot' }), (e: unknown) => e instanceof ValidationError && e.problems[0]!.field === 'filter');
  const server = net.createServer((s) => s.end('hello'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const traffic = setInterval(() => net.connect(port, '127.0.0.1').on('data', () => {}).on('error', () => {}), 50);
  try {
    const first = applier.capture({ interface: 'GigabitEthernet1', packets: 4, duration: 5, filter: `tcp and port ${port}` });
    await assert.rejects(applier.capture({ interface: 'GigabitEthernet1', duration: 1 }), /a capture is running already/);
    const r = await first;
    assert.equal(r.packets, 4);
    assert.equal(r.stoppedBy, 'packets');
    assert.match(r.name, CAPTURE_NAME);
    assert.equal(r.command.split(' ')[2], 'lo');
    const file = path.join(root, CAPTURE_DIR, r.name);
    assert.equal(fs.readFileSync(file).readUInt32LE(0), 0xa1b2c3d4);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal((fs.statSync(path.join(root, CAPTURE_DIR)).mode & 0o777), 0o700);
    assert.deepEqual(await applier.captures(), [{ name: r.name, bytes: r.bytes }]);
    await new Promise((res) => setTimeout(res, 1000)); // a new name (stamps are to the second)
    const t0 = Date.now();
    const quiet = await applier.capture({ interface: 'GigabitEthernet1', duration: 1, filter: 'port 1' });
    const ms = Date.now() - t0;
    assert.deepEqual([quiet.stoppedBy, quiet.packets, quiet.bytes], ['duration', 0, 24]);
    assert.ok(ms >= 1000 && ms < 3000, `stopped by the duration, ${ms} ms`);
    assert.deepEqual((await applier.captures()).map((f) => f.name), [quiet.name, r.name]);
  } finally {
    clearInterval(traffic);
    server.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
