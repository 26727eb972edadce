import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../appliance/config/schema.ts';

/** A valid configuration for tests; the hash is a real scrypt hash of "Passw0rd!x". */
export function sampleConfig(over: Partial<Config> = {}): Config {
  const hash = '$scrypt$N=1024,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA==$Lq9hVJGm7pDeYlYyr3nM7qO2N9pZB6nQdV2k3jM8oXs=';
  return {
    schemaVersion: 1,
    system: { hostname: 'core.example.com', company: 'Example Corp', contact: 'Jane Admin', contactEmail: 'jane@example.com', eulaAcceptedAt: '2026-11-23T08:00:00.000Z' },
    users: { enableSecretHash: hash, local: [{ name: 'admin', passwordHash: hash, passwordChangedAt: '2026-11-23T08:00:00.000Z', role: 'admin' }] },
    network: { interfaces: [{ name: 'GigabitEthernet1', address: '192.0.2.10', netmask: '255.255.255.0', enabled: true }], gateway: '192.0.2.1', routes: [] },
    dns: { servers: ['192.0.2.53'] },
    ntp: { enabled: true, servers: ['192.0.2.123'] },
    clock: { timezone: 'UTC' },
    ssh: { enabled: false, port: 22 },
    webui: { port: 8443 },
    ...over,
  };
}

/** A fresh temporary sandbox root, removed by the caller's `t.after`. */
export function tempRoot(prefix = 'keel-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A fake sysfs with `n` Ethernet controllers in PCI order, for NIC naming tests. */
export function fakeSysfs(root: string, n: number): string {
  const sys = path.join(root, 'fixture-sys');
  for (let i = 0; i < n; i++) {
    const dev = path.join(sys, 'bus/pci/devices', `0000:00:0${3 + i}.0`);
    fs.mkdirSync(path.join(dev, 'net', `ens${3 + i}`), { recursive: true });
    fs.writeFileSync(path.join(dev, 'class'), '0x020000\n');
    fs.mkdirSync(path.join(sys, 'class/net', `ens${3 + i}`), { recursive: true });
    fs.writeFileSync(path.join(sys, 'class/net', `ens${3 + i}`, 'address'), `52:54:00:00:00:0${i}\n`);
  }
  const other = path.join(sys, 'bus/pci/devices', '0000:00:01.0');
  fs.mkdirSync(other, { recursive: true });
  fs.writeFileSync(path.join(other, 'class'), '0x060100\n');
  return sys;
}
