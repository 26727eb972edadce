import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Host } from '../appliance/host/index.ts';
import type { Store } from '../appliance/config/store.ts';
import { listNics, type Nic } from '../appliance/network/nics.ts';
import { readKeelMemory } from '../appliance/host/resources.ts';
import { VERSION } from '../appliance/version.ts';
import { ConfigState } from './state.ts';

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
  memory: { totalBytes: number; freeBytes: number; systemManagerRssBytes: number; keelProcessesBytes: number | null };
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

/** Readings that change while the appliance runs, taken together. */
interface Sample {
  at: number;
  uptimeSeconds: number;
  memory: Health['memory'];
  loadAverage: number[];
  disk: Health['disk'];
  links: Map<string, InterfaceStatus['link']>;
}

/**
 * What the status page and `GET /mics/api/health` show, read cheaply enough for every request:
 * facts that do not change while System Manager runs (CPU model and count) are read once, the NIC
 * inventory (names, PCI addresses, drivers, MACs) at most once a minute (a driver may bind late),
 * and the readings that change (load, memory, disk, link state and speed) at most once per
 * `sampleMs`, shared by all requests. The configuration part is read on every call (from SQLite,
 * parsed once per revision), so a change shows at once.
 */
export class HealthSampler {
  private readonly host: Host;
  private readonly state: ConfigState;
  private readonly now: () => number;
  private readonly sampleMs: number;
  private readonly inventoryMs: number;
  private cpu: { count: number; model: string } | null = null;
  private inventory: { at: number; nics: Nic[] } | null = null;
  private sample: Sample | null = null;
  private json: { sample: Sample; generation: number; text: string } | null = null;

  constructor(host: Host, state: ConfigState, opts: { now?: () => number; sampleMs?: number; inventoryMs?: number } = {}) {
    this.host = host;
    this.state = state;
    this.now = opts.now ?? Date.now;
    this.sampleMs = opts.sampleMs ?? 1000;
    this.inventoryMs = opts.inventoryMs ?? 60_000;
  }

  /** The status now (readings at most `sampleMs` old). */
  read(): Health {
    const s = this.current();
    const nics = this.inventory!.nics;
    const cpu = this.cpu!;

    const config = this.state.config();
    const configured = new Map((config?.network.interfaces ?? []).map((i) => [i.name as string, i]));
    const interfaces: InterfaceStatus[] = nics.map((n) => {
      const c = configured.get(n.name);
      configured.delete(n.name);
      const l = n.ifname ? s.links.get(n.ifname) : undefined;
      return { name: n.name, pci: n.pci, ifname: n.ifname, mac: n.mac, address: c?.address ?? null, netmask: c?.netmask ?? null, link: l ? { ...l } : { state: null, speedMbps: null } };
    });
    // Configured but no such NIC: show it, so a missing controller is visible.
    for (const c of configured.values()) {
      interfaces.push({ name: c.name, pci: null, ifname: null, mac: null, address: c.address, netmask: c.netmask, link: { state: null, speedMbps: null } });
    }
    return {
      hostname: config?.system.hostname ?? os.hostname(),
      version: VERSION,
      uptimeSeconds: s.uptimeSeconds,
      uptimeOf: this.host.sandbox ? 'host' : 'appliance',
      memory: { ...s.memory },
      cpu: { count: cpu.count, model: cpu.model, loadAverage: [...s.loadAverage] },
      disk: s.disk ? { ...s.disk } : null,
      interfaces,
      configuration: this.state.revisions(),
    };
  }

  /**
   * read() as text by `serialize`, made again only when the readings or the configuration changed:
   * `GET /mics/api/health` under load answers the same text many times per `sampleMs`.
   */
  readText(serialize: (h: Health) => string): string {
    const sample = this.current();
    const generation = this.state.generation();
    if (this.json?.sample !== sample || this.json.generation !== generation) this.json = { sample, generation, text: serialize(this.read()) };
    return this.json.text;
  }

  /** An object that is replaced whenever read() would show other readings (for caches of what is drawn from them). */
  readings(): object {
    return this.current();
  }

  /** The current sample, taken again when older than `sampleMs` (and the NIC inventory when older than `inventoryMs`). */
  private current(): Sample {
    const t = this.now();
    this.cpu ??= { count: os.availableParallelism(), model: os.cpus()[0]?.model.trim() ?? 'unknown' };
    let fresh = false;
    if (!this.inventory || t - this.inventory.at >= this.inventoryMs) {
      this.inventory = { at: t, nics: listNics(this.host) };
      fresh = true; // a newly bound interface needs its link read too
    }
    if (fresh || !this.sample || t - this.sample.at >= this.sampleMs) this.sample = this.take(t, this.inventory.nics);
    return this.sample;
  }

  private take(at: number, nics: Nic[]): Sample {
    const links = new Map<string, InterfaceStatus['link']>();
    for (const n of nics) if (n.ifname) links.set(n.ifname, link(this.host, n.ifname));
    return {
      at,
      uptimeSeconds: Math.floor(os.uptime()),
      memory: { totalBytes: os.totalmem(), freeBytes: os.freemem(), systemManagerRssBytes: process.memoryUsage.rss(), keelProcessesBytes: readKeelMemory(this.host.sysfs)?.totalBytes ?? null },
      loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
      disk: disk(this.host),
      links,
    };
  }
}

/** The status read once (support bundle): everything read now. */
export function health(host: Host, store: Store): Health {
  return new HealthSampler(host, new ConfigState(store)).read();
}
