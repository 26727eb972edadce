import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { cliSession } from '../helpers/cli.ts';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';

/** Gives the fixture's first NIC (ens3) kernel state: up, MTU 1500, 1000 Mb/s full duplex, counters. */
function kernel(sysfs: string): void {
  const dir = path.join(sysfs, 'class/net/ens3');
  fs.mkdirSync(path.join(dir, 'statistics'), { recursive: true });
  const put = (f: string, v: string) => fs.writeFileSync(path.join(dir, f), `${v}\n`);
  put('operstate', 'up');
  put('mtu', '1500');
  put('speed', '1000');
  put('duplex', 'full');
  for (const [f, v] of Object.entries({ rx_packets: 1234, rx_bytes: 567890, rx_errors: 0, rx_dropped: 2, tx_packets: 987, tx_bytes: 65432, tx_errors: 1, tx_dropped: 0 })) put(`statistics/${f}`, String(v));
}

test('show ip interface brief: one line per interface with address, method, status and protocol', async (t) => {
  const { run, host } = await cliSession(t);
  kernel(host.sysfs);
  const out = await run('show ip interface brief');
  const lines = out.trimEnd().split('\n');
  assert.match(lines[0], /^Interface\s+IP-Address\s+OK\? Method Status\s+Protocol$/);
  assert.match(out, /^GigabitEthernet1\s+192\.0\.2\.10\s+YES manual up\s+up$/m);
  assert.match(out, /^GigabitEthernet2\s+unassigned\s+YES unset\s+down\s+down$/m);
  assert.equal(await run('sh ip int br'), out, 'abbreviations as in IOS');
});

test('show interfaces NAME: description, MTU, speed, duplex and counters from the kernel', async (t) => {
  const { run, host } = await cliSession(t);
  kernel(host.sysfs);
  await run('configure terminal');
  await run('interface GigabitEthernet1');
  await run('description uplink to core switch');
  await run('end');
  const out = await run('show interfaces GigabitEthernet1');
  assert.match(out, /^GigabitEthernet1 is up, line protocol is up$/m);
  assert.match(out, /Description: uplink to core switch/);
  assert.match(out, /MTU 1500 bytes, 1000 Mb\/s, full-duplex/);
  assert.match(out, /1234 packets input, 567890 bytes, 0 input errors, 2 dropped/);
  assert.match(out, /987 packets output, 65432 bytes, 1 output errors, 0 dropped/);
  assert.doesNotMatch(out, /GigabitEthernet2/);
  assert.match(await run('show running-config | section interface GigabitEthernet1'), /^interface GigabitEthernet1\n description "?uplink to core switch"?\n ip address 192\.0\.2\.10 255\.255\.255\.0\n no shutdown\n$/);
  await run('configure terminal');
  await run('interface GigabitEthernet1');
  await run('no description');
  await run('end');
  assert.doesNotMatch(await run('show running-config'), /description/);
});

test('| count and | section', async (t) => {
  const { run } = await cliSession(t);
  assert.match(await run('show running-config | count ^interface'), /^Number of lines which match regexp = 1\n$/);
  assert.match(await run('show running-config | count nothing-matches-this'), /= 0/);
  const sec = await run('show running-config | section ^interface');
  assert.match(sec, /^interface GigabitEthernet1\n ip address/);
  assert.doesNotMatch(sec, /hostname|ip default-gateway/);
});

test('show control-plane host open-ports: the kernel\'s listening sockets, which the network can reach', async (t) => {
  const { run, host } = await cliSession(t);
  // Recorded from a booted appliance (header lines as the kernel writes them), plus a connected
  // TCP socket and a connected UDP socket that must not be listed.
  const head = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  host.files.writeAtomic('/proc/net/tcp', `${head}   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n   1: 0F02000A:0016 0202000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n`);
  host.files.writeAtomic('/proc/net/tcp6', `${head}   0: 00000000000000000000000000000000:20FB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   800        0 3 1\n`);
  host.files.writeAtomic('/proc/net/udp', `${head}  10: 0100007F:0143 00000000:0000 07 00000000:00000000 00:00000000 00000000   100        0 4 2\n  11: 0F02000A:A000 0302000A:0035 01 00000000:00000000 00:00000000 00000000   100        0 5 2\n`);
  host.files.writeAtomic('/proc/net/udp6', `${head}  12: 00000000000000000000000001000000:0143 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   100        0 6 2\n`);
  const out = await run('show control-plane host open-ports');
  const rows = out.trimEnd().split('\n');
  assert.equal(rows[0], 'Active internet connections (servers)');
  assert.deepEqual(rows.slice(2).map((r) => r.split(/\s{2,}/)), [
    ['tcp', '*:22', 'SSH-Server', 'network'],
    ['tcp', '*:8443', 'System-Manager', 'network'],
    ['udp', '[::1]:323', 'NTP-Control', 'this host only'],
    ['udp', '127.0.0.1:323', 'NTP-Control', 'this host only'],
  ]);
  assert.equal(await run('sh control-plane host open'), out, 'abbreviations');
});

test('show ntp status and show ntp associations: chrony\'s tracking and sources, as IOS shows them', async (t) => {
  const { run, host } = await cliSession(t);
  const proc = host.proc as SandboxProcesses;
  assert.match(await run('show ntp status'), /^Clock is unsynchronized: chrony did not answer/);
  // Recorded from chronyc 4.6 (`chronyc -c -n tracking`, `chronyc -c -n sources`).
  proc.failures.set('chronyc -c -n tracking', { code: 0, stderr: '', stdout: 'C0000201,192.0.2.1,3,1764936000.123456789,0.000012345,0.000001000,0.000020000,-12.345,0.001,0.050,0.012345678,0.000456000,64.5,Normal\n' });
  proc.failures.set('chronyc -c -n sources', { code: 0, stderr: '', stdout: '^,*,192.0.2.1,2,6,377,33,0.000012,0.000010,0.001234\n^,+,192.0.2.2,2,6,17,12,-0.000350,-0.000340,0.002000\n^,?,198.51.100.9,0,6,0,4294967295,0.000000,0.000000,0.000000\n' });
  const status = await run('show ntp status');
  assert.match(status, /^Clock is synchronized, stratum 3, reference is 192\.0\.2\.1$/m);
  assert.match(status, /clock offset is 0\.012 msec \(fast\), root delay is 12\.35 msec, root dispersion is 0\.46 msec/);
  assert.match(status, /frequency is -12\.345 ppm/);
  assert.match(status, /reference time is 2025-12-05 12:00:00 UTC, updated every 64\.5 s, leap status Normal/);
  const assoc = (await run('sh ntp assoc')).trimEnd().split('\n');
  assert.match(assoc[0], /address\s+st\s+when\s+poll\s+reach\s+offset\s+error$/);
  assert.match(assoc[1], /^\* 192\.0\.2\.1\s+2\s+33\s+64\s+377\s+0\.012\s+1\.234$/);
  assert.match(assoc[2], /^\+ 192\.0\.2\.2\s+2\s+12\s+64\s+17\s+-0\.350\s+2\.000$/);
  assert.match(assoc[3], /^\? 198\.51\.100\.9\s+0\s+-\s+64\s+0\s/);
  assert.match(assoc.at(-1)!, /\* synchronized to/);
  proc.failures.set('chronyc -c -n tracking', { code: 0, stderr: '', stdout: '00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised\n' });
  assert.match(await run('show ntp status'), /^Clock is unsynchronized, stratum 16, no reference clock/);
});

test('show ip route: the kernel\'s table, interfaces by their appliance names', async (t) => {
  const { run, host } = await cliSession(t);
  // Recorded /proc/net/route of a booted appliance (ens3 is GigabitEthernet1 in the fixture).
  host.files.writeAtomic('/proc/net/route', [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'ens3\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'ens3\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'ens3\t00000A0A\tFE0200C0\t0003\t0\t0\t10\t0000FFFF\t0\t0\t0',
    'ens9\t0000A8C0\t00000000\t0000\t0\t0\t0\t0000FFFF\t0\t0\t0',
  ].join('\n') + '\n');
  const out = await run('show ip route');
  assert.match(out, /^Gateway of last resort is 192\.0\.2\.1 to network 0\.0\.0\.0$/m);
  const routes = out.trimEnd().split('\n').slice(4);
  assert.deepEqual(routes, [
    'C     192.0.2.0/24 is directly connected, GigabitEthernet1',
    'S     10.10.0.0/16 [1/10] via 192.0.2.254, GigabitEthernet1',
    'S*    0.0.0.0/0 [1/0] via 192.0.2.1, GigabitEthernet1',
  ], 'longest prefix first; a route that is not up is not shown');
});

test('help in every mode, and the everyday abbreviation sh log is show logging', async (t) => {
  const { run } = await cliSession(t);
  assert.match(await run('help'), /Type \? at any point/);
  assert.equal(await run('sh log'), await run('show logging'));
  assert.equal(await run('show logi'), await run('show login'), 'a longer start still reaches login');
  await run('configure terminal');
  assert.match(await run('help'), /'no' in front of a configuration command/);
  await run('end');
});
