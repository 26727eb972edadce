import path from 'node:path';
import type { Host } from '../host/index.ts';
import { sysinfo } from '../host/sysinfo.ts';
import { listNics } from '../network/nics.ts';
import type { Finding } from './types.ts';

/** Counters of one interface at one moment (from /sys/class/net/IF). */
export interface NicSample {
  name: string;
  ifname: string | null;
  driver: string | null;
  mac: string | null;
  /** Administrative state (IFF_UP in `flags`). */
  adminUp: boolean;
  carrier: boolean | null;
  operstate: string | null;
  speedMbps: number | null;
  duplex: string | null;
  carrierChanges: number | null;
  rxPackets: number;
  txPackets: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
  rxBytes: number;
  txBytes: number;
  /** Milliseconds (monotonic) when read. */
  at: number;
}

/** One interface as the NIC probe reports it. */
export interface NicStatus extends Omit<NicSample, 'at'> {
  link: 'up' | 'down' | 'disabled' | 'absent';
  /** Per second, between the two samples. */
  rates: { rxErrors: number; txErrors: number; rxDropped: number; txDropped: number; rxPackets: number; txPackets: number };
  /** Carrier changes between the two samples (both directions counted by the kernel). */
  carrierChangesDelta: number;
  flapping: boolean;
}

/** Which interfaces to probe: the GigabitEthernetN list, or explicit pairs (tests, veth). */
export type NicList = { name: string; ifname: string | null; driver?: string | null }[];

/** Reads the counters of each interface once. */
export function sampleNics(host: Host, list?: NicList): NicSample[] {
  const nics = list ?? listNics(host);
  const at = performance.now();
  return nics.map((n) => {
    const dir = n.ifname ? path.join(host.sysfs, 'class/net', n.ifname) : null;
    const s = (f: string) => (dir ? sysinfo.num(path.join(dir, 'statistics', f)) ?? 0 : 0);
    const flags = dir ? Number(sysinfo.read(path.join(dir, 'flags')) ?? 0) : 0;
    const carrier = dir ? sysinfo.read(path.join(dir, 'carrier')) : null;
    const speed = dir ? sysinfo.num(path.join(dir, 'speed')) : null;
    const duplex = dir ? sysinfo.read(path.join(dir, 'duplex')) : null;
    return {
      name: n.name,
      ifname: n.ifname,
      driver: n.driver ?? (dir ? sysinfo.linkName(path.join(dir, 'device/driver')) : null),
      mac: dir ? sysinfo.read(path.join(dir, 'address')) : null,
      adminUp: (flags & 1) === 1,
      // `carrier` cannot be read while the interface is administratively down.
      carrier: carrier === null ? null : carrier === '1',
      operstate: dir ? sysinfo.read(path.join(dir, 'operstate')) : null,
      speedMbps: speed !== null && speed > 0 ? speed : null,
      duplex: duplex && duplex !== 'unknown' ? duplex : null,
      carrierChanges: dir ? sysinfo.num(path.join(dir, 'carrier_changes')) : null,
      rxPackets: s('rx_packets'),
      txPackets: s('tx_packets'),
      rxErrors: s('rx_errors'),
      txErrors: s('tx_errors'),
      rxDropped: s('rx_dropped'),
      txDropped: s('tx_dropped'),
      rxBytes: s('rx_bytes'),
      txBytes: s('tx_bytes'),
      at,
    };
  });
}

/** Thresholds of the NIC findings. */
export interface NicLimits {
  /** Errors per second above which a link is `warning`. */
  errorRate: number;
  /** Drops per second above which a link is `warning`. */
  dropRate: number;
  /** Carrier changes between two samples that count as flapping (down+up = 2). */
  flapChanges: number;
}
export const NIC_LIMITS: NicLimits = { errorRate: 1, dropRate: 10, flapChanges: 4 };

/** Status from two samples (pure). Without `prev`, rates are 0 and flapping is false. */
export function nicStatus(prev: NicSample[] | null, cur: NicSample[], limits: NicLimits = NIC_LIMITS): NicStatus[] {
  return cur.map((c) => {
    const p = prev?.find((x) => x.name === c.name && x.ifname === c.ifname);
    const secs = p ? Math.max((c.at - p.at) / 1000, 0.001) : 0;
    // Counters reset when a driver reloads: a negative delta counts as 0.
    const rate = (k: 'rxErrors' | 'txErrors' | 'rxDropped' | 'txDropped' | 'rxPackets' | 'txPackets') => (p && secs ? Math.max(0, c[k] - p[k]) / secs : 0);
    const changes = p && c.carrierChanges !== null && p.carrierChanges !== null ? Math.max(0, c.carrierChanges - p.carrierChanges) : 0;
    const link: NicStatus['link'] = c.ifname === null ? 'absent' : !c.adminUp ? 'disabled' : c.carrier ? 'up' : 'down';
    const { at: _at, ...rest } = c;
    return {
      ...rest,
      link,
      rates: { rxErrors: rate('rxErrors'), txErrors: rate('txErrors'), rxDropped: rate('rxDropped'), txDropped: rate('txDropped'), rxPackets: rate('rxPackets'), txPackets: rate('txPackets') },
      carrierChangesDelta: changes,
      flapping: changes >= limits.flapChanges,
    };
  });
}

/** Samples twice, `sampleMs` apart (default 1 s), and returns the status of every interface. */
export async function probeNics(host: Host, opts: { list?: NicList; sampleMs?: number; prev?: NicSample[] } = {}): Promise<{ nics: NicStatus[]; sample: NicSample[] }> {
  let prev = opts.prev ?? null;
  if (!prev) {
    prev = sampleNics(host, opts.list);
    if (!prev.length) return { nics: [], sample: [] };
    await new Promise((r) => setTimeout(r, opts.sampleMs ?? 1000));
  }
  const sample = sampleNics(host, opts.list);
  return { nics: nicStatus(prev, sample), sample };
}

/**
 * Findings per interface. `expectUp` names the interfaces the configuration enables: a down
 * link there is critical; elsewhere a down link is only reported.
 */
export function nicFindings(nics: NicStatus[], expectUp: ReadonlySet<string> | null = null, limits: NicLimits = NIC_LIMITS): Finding[] {
  const out: Finding[] = [];
  for (const n of nics) {
    const key = `nic.${n.name}`;
    const wanted = expectUp ? expectUp.has(n.name) : n.adminUp;
    if (n.link === 'absent') {
      out.push({ key: `${key}.link`, category: 'nic', severity: expectUp?.has(n.name) ? 'critical' : 'unknown', subject: n.name, message: `${n.name}: no driver bound` });
      continue;
    }
    if (n.link === 'up') {
      const speed = n.speedMbps ? `${n.speedMbps >= 1000 ? `${n.speedMbps / 1000} Gb/s` : `${n.speedMbps} Mb/s`}` : 'speed unknown';
      const half = n.duplex === 'half';
      const slow = n.speedMbps !== null && n.speedMbps < 1000;
      out.push({ key: `${key}.link`, category: 'nic', severity: half || slow ? 'warning' : 'ok', subject: n.name, message: `${n.name}: link up, ${speed}${n.duplex ? ` ${n.duplex} duplex` : ''}${half ? ' (check the switch port: half duplex)' : slow ? ' (below 1 Gb/s: check the cable and switch port)' : ''}` });
    } else {
      out.push({ key: `${key}.link`, category: 'nic', severity: wanted ? 'critical' : 'ok', subject: n.name, message: n.link === 'disabled' ? `${n.name}: administratively down` : `${n.name}: no link (check the cable and the switch port)` });
    }
    const errs = n.rates.rxErrors + n.rates.txErrors;
    const drops = n.rates.rxDropped + n.rates.txDropped;
    out.push({ key: `${key}.errors`, category: 'nic', severity: errs > limits.errorRate ? 'warning' : 'ok', subject: n.name, value: errs, message: `${n.name}: ${errs.toFixed(1)} errors/s (rx ${n.rates.rxErrors.toFixed(1)}, tx ${n.rates.txErrors.toFixed(1)})` });
    out.push({ key: `${key}.drops`, category: 'nic', severity: drops > limits.dropRate ? 'warning' : 'ok', subject: n.name, value: drops, message: `${n.name}: ${drops.toFixed(1)} drops/s` });
    out.push({ key: `${key}.flapping`, category: 'nic', severity: n.flapping ? 'warning' : 'ok', subject: n.name, value: n.carrierChangesDelta, message: n.flapping ? `${n.name}: link flapping (${n.carrierChangesDelta} carrier changes)` : `${n.name}: link stable` });
  }
  return out;
}
