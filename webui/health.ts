import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Host } from '../appliance/host/index.ts';
import type { Store } from '../appliance/config/store.ts';
import { listNics } from '../appliance/network/nics.ts';
import { VERSION } from '../appliance/version.ts';

export interface InterfaceStatus {
  name: string;
  pci: string | null;
  ifname: string | null;
  mac: string | null;
  address: string | null;
  netmask: string | null;
  link: { state: string | null; speedMbps: number | null };
}

export interface Health {
  hostname: string;
  version: string;
  uptimeSeconds: number;
  /** `appliance` on the appliance; `host` in a sandbox root, where the uptime is the machine's running it. */
  uptimeOf: 'appliance' | 'host';
  memory: { totalBytes: number; freeBytes: number; systemManagerRssBytes: number };
  cpu: { count: number; model: string; loadAverage: number[] };
  /** The file system holding the appliance's data (the sandbox folder in a sandbox). */
  disk: { path: string; totalBytes: number; freeBytes: number } | null;
  interfaces: InterfaceStatus[];
  configuration: { runningRevision: number | null; startupRevision: number | null; unsaved: boolean };
}

function readSys(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Operational state and speed of a kernel interface from sysfs (speed is unreadable while down). */
function link(host: Host, ifname: string | null): InterfaceStatus['link'] {
  if (!ifname) return { state: null, speedMbps: null };
  const dir = path.join(host.sysfs, 'class/net', ifname);
  const speed = Number(readSys(path.join(dir, 'speed')));
  return { state: readSys(path.join(dir, 'operstate')), speedMbps: Number.isFinite(speed) && speed > 0 ? speed : null };
}

function disk(host: Host): Health['disk'] {
  const p = host.files.real('/var/lib');
  try {
    const s = fs.statfsSync(fs.existsSync(p) ? p : host.root);
    return { path: host.sandbox ? host.root : '/var/lib', totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  } catch {
    return null;
  }
}

/** What the status page and `GET /mics/api/health` show: real values from the store, sysfs and the OS. */
export function health(host: Host, store: Store): Health {
  const running = store.running();
  const startup = store.startup();
  const config = running?.config ?? startup?.config ?? null;
  const configured = new Map((config?.network.interfaces ?? []).map((i) => [i.name as string, i]));
  const interfaces: InterfaceStatus[] = listNics(host).map((n) => {
    const c = configured.get(n.name);
    configured.delete(n.name);
    return { name: n.name, pci: n.pci, ifname: n.ifname, mac: n.mac, address: c?.address ?? null, netmask: c?.netmask ?? null, link: link(host, n.ifname) };
  });
  // Configured but no such NIC: show it, so a missing controller is visible.
  for (const c of configured.values()) {
    interfaces.push({ name: c.name, pci: null, ifname: null, mac: null, address: c.address, netmask: c.netmask, link: { state: null, speedMbps: null } });
  }
  return {
    hostname: config?.system.hostname ?? os.hostname(),
    version: VERSION,
    uptimeSeconds: Math.floor(os.uptime()),
    uptimeOf: host.sandbox ? 'host' : 'appliance',
    memory: { totalBytes: os.totalmem(), freeBytes: os.freemem(), systemManagerRssBytes: process.memoryUsage.rss() },
    cpu: { count: os.availableParallelism(), model: os.cpus()[0]?.model.trim() ?? 'unknown', loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    disk: disk(host),
    interfaces,
    configuration: { runningRevision: running?.revision ?? null, startupRevision: startup?.revision ?? null, unsaved: store.unsaved() },
  };
}
