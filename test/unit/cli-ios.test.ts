import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { cliSession } from '../helpers/cli.ts';

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
