/**
 * The kernel's network tables, read through host.files (a sandbox root can hold recorded ones):
 * listening sockets (/proc/net/tcp, tcp6, udp, udp6) for `show control-plane host open-ports` and
 * the e2e check that the booted appliance listens on nothing but what its configuration opens,
 * and the IPv4 routes (/proc/net/route) for `show ip route`.
 */
import type { Host } from '../host/index.ts';

export interface OpenPort {
  protocol: 'tcp' | 'udp';
  /** Local address as text (IPv4 dotted, IPv6 compressed; `*` for any). */
  address: string;
  port: number;
  /** Whether only this host can reach it (127.0.0.0/8, ::1). */
  loopback: boolean;
}

/** Kernel hex (network order in host-endian 32-bit words) to an address. */
function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    const n = Number.parseInt(hex, 16);
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
  }
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(Number.parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // IPv4-mapped addresses read as IPv4.
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') return bytes.slice(12).join('.');
  // RFC 5952: the longest run of two or more zero groups becomes `::`.
  let best = -1;
  let len = 0;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > len && j - i >= 2) [best, len] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + len).join(':')}`;
}

const ANY = new Set(['0.0.0.0', '::']);

/** Sockets that accept from the network: TCP in LISTEN, UDP bound and unconnected. Sorted, unique. */
export function openPorts(host: Host): OpenPort[] {
  const out = new Map<string, OpenPort>();
  for (const [file, protocol] of [['tcp', 'tcp'], ['tcp6', 'tcp'], ['udp', 'udp'], ['udp6', 'udp']] as const) {
    const text = host.files.readText(`/proc/net/${file}`) ?? '';
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4) continue;
      const [addrHex, portHex] = f[1].split(':');
      const state = f[3];
      // TCP_LISTEN is 0A; an unconnected UDP socket shows TCP_CLOSE (07) with a zero remote.
      if (protocol === 'tcp' ? state !== '0A' : state !== '07' || !/^0+:0000$/.test(f[2])) continue;
      const raw = decodeAddress(addrHex);
      const address = ANY.has(raw) ? '*' : raw;
      const port = Number.parseInt(portHex, 16);
      const loopback = /^127\./.test(address) || address === '::1';
      out.set(`${protocol} ${address} ${port}`, { protocol, address, port, loopback });
    }
  }
  return [...out.values()].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port || a.address.localeCompare(b.address));
}

/** What a port is, for people. */
export function serviceName(p: OpenPort): string {
  const known: Record<string, string> = { 'tcp 22': 'SSH-Server', 'tcp 8443': 'System-Manager', 'tcp 443': 'System-Manager', 'udp 323': 'NTP-Control', 'udp 123': 'NTP', 'udp 68': 'DHCP-Client', 'udp 161': 'SNMP' };
  return known[`${p.protocol} ${p.port}`] ?? '-';
}

/** One IPv4 route of the kernel's main table (/proc/net/route). */
export interface KernelRoute {
  ifname: string;
  destination: string;
  prefix: number;
  /** null: directly connected. */
  gateway: string | null;
  metric: number;
}

/** The kernel's IPv4 routes, or null when its table is not readable (a sandbox). */
export function kernelRoutes(host: Host): KernelRoute[] | null {
  const text = host.files.readText('/proc/net/route');
  if (text === null) return null;
  const out: KernelRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const flags = Number.parseInt(f[3], 16);
    if (!(flags & 0x1)) continue; // RTF_UP
    const mask = Number.parseInt(f[7], 16) >>> 0;
    let prefix = 0;
    for (let m = mask; m; m >>>= 1) prefix += m & 1;
    out.push({ ifname: f[0], destination: decodeAddress(f[1]), prefix, gateway: flags & 0x2 ? decodeAddress(f[2]) : null, metric: Number(f[6]) });
  }
  return out.sort((a, b) => b.prefix - a.prefix || a.destination.localeCompare(b.destination));
}
