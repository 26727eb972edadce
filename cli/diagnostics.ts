/**
 * Diagnostics tools in the CLI (EXEC, operators too; each run is audited): `ping HOST [repeat N]`
 * and `traceroute HOST [max-hops N]`, which the applier runs (raw sockets), `nslookup NAME [type
 * T] [server S]` and `test tcp HOST PORT`, which run here through the network adapter. The
 * argument rules are appliance/diagnostics/tools.ts's, as in System Manager and the REST API.
 */
import { checkDnsLookup, dnsLookup, DNS_TYPES, LIMITS, tcpCheck, targetRule, type DiagnoseResult, type DnsLookupResult, type PingResult, type TcpCheckResult, type Tool, type TracerouteResult } from '../appliance/diagnostics/tools.ts';
import type { Args, ArgType, Node } from './tree.ts';
import type { Parsed } from './parse.ts';
import type { Session } from './session.ts';
import type { Handler } from './commands.ts';
import { interfaceName, intRange, pingHost } from './args.ts';
import { CAPTURE_DIR, CAPTURE_LIMITS, parseFilter, type CaptureResult } from '../appliance/diagnostics/capture.ts';

type N = Node<Handler>;

const dnsType: ArgType = {
  placeholder: DNS_TYPES.join('|'),
  rule: 'dns-type',
  values: () => [...DNS_TYPES],
  parse: (w) => ((DNS_TYPES as readonly string[]).includes(w.toUpperCase()) ? { value: w.toUpperCase() } : { error: `must be one of ${DNS_TYPES.join(', ')}` }),
};
const lookupName: ArgType = {
  placeholder: 'WORD',
  rule: 'dns-name',
  parse: (w) => {
    const e = targetRule(w);
    return e === null ? { value: w } : { error: e };
  },
};
const serverAddress: ArgType = {
  placeholder: 'A.B.C.D|X:X::X',
  rule: 'ip-address',
  parse: (w) => {
    try {
      checkDnsLookup({ name: 'example.com', server: w });
      return { value: w };
    } catch {
      return { error: 'must be an IPv4 or IPv6 address like 192.0.2.53' };
    }
  },
};

/** ping's summary as IOS prints it: `!` per reply, `.` per loss, then the success rate and times. */
export function formatPing(r: PingResult, output: string): string {
  if (r.error) return `% ${r.error}`;
  const lines = [`Sending ${r.transmitted}, ICMP echoes to ${r.target}${r.address && r.address !== r.target ? ` (${r.address})` : ''}, timeout is 2 seconds:`];
  const seqs = new Set(r.replies.map((x) => x.seq));
  lines.push(Array.from({ length: r.transmitted }, (_, i) => (seqs.has(i + 1) ? '!' : '.')).join(''));
  const rate = r.transmitted ? Math.round((100 * r.received) / r.transmitted) : 0;
  lines.push(`Success rate is ${rate} percent (${r.received}/${r.transmitted})${r.rtt ? `, round-trip min/avg/max = ${r.rtt.min}/${r.rtt.avg}/${r.rtt.max} ms` : ''}`);
  if (r.lossPercent === null) lines.push(output.trim());
  return lines.join('\n');
}

/** traceroute's hops: the address of each and the time of each probe, `*` for none. */
export function formatTraceroute(r: TracerouteResult): string {
  if (r.error) return `% ${r.error}`;
  const lines = [`Tracing the route to ${r.target}${r.address && r.address !== r.target ? ` (${r.address})` : ''}`];
  for (const h of r.hops) {
    const parts: string[] = [];
    let last: string | null = null;
    for (const p of h.probes) {
      if (p.address && p.address !== last) parts.push(p.address), (last = p.address);
      parts.push(p.ms === null ? '*' : `${p.ms} ms${p.note ? ` ${p.note}` : ''}`);
    }
    lines.push(`${String(h.hop).padStart(3)}  ${parts.join('  ')}`);
  }
  lines.push(r.reached ? `Reached ${r.address} in ${r.hops.length} hop${r.hops.length === 1 ? '' : 's'}.` : `${r.address ?? r.target} not reached in ${r.hops.length} hops.`);
  return lines.join('\n');
}

export function formatLookup(r: DnsLookupResult): string {
  const lines = [`Server:  ${r.server}`, `Name:    ${r.name}`, `Type:    ${r.type}`];
  if (r.error) lines.push(`% ${r.error} (${r.ms} ms)`);
  else lines.push(...r.records.map((x) => `         ${x}`), `${r.records.length} record${r.records.length === 1 ? '' : 's'} in ${r.ms} ms`);
  return lines.join('\n');
}

export function formatTcp(r: TcpCheckResult): string {
  const lines: string[] = [];
  if (r.dnsMs !== null) lines.push(`DNS      ${r.host} -> ${r.addresses.join(', ') || '(none)'} (${r.dnsMs} ms)`);
  lines.push(r.status === 'open' ? `O${r.message.slice(1)}` : `% ${r.message}`);
  return lines.join('\n');
}

function outcome(r: DiagnoseResult['result']): string {
  if (r.error) return `failed: ${r.error}`.slice(0, 300);
  return r.tool === 'ping' ? `ok: ${r.received}/${r.transmitted} replies` : `ok: ${r.hops.length} hops${r.reached ? ', reached' : ''}`;
}

async function run(s: Session, p: Parsed<Handler>, tool: Tool, a: Args): Promise<string> {
  const options = tool === 'ping' ? { count: a.count ? Number(a.count) : LIMITS.pingCount.default } : { maxHops: a.hops ? Number(a.hops) : LIMITS.maxHops.default };
  if (tool === 'traceroute') s.io.write(`Tracing up to ${options.maxHops} hops (at most 90 s)...\n`);
  let r: DiagnoseResult;
  try {
    r = await s.host.applier.diagnose(tool, a.host, options);
  } catch (e) {
    s.store.audit(s.actor, `cli: ${p.redacted}`, `failed: ${(e as Error).message}`.slice(0, 300));
    throw e;
  }
  s.store.audit(s.actor, `cli: ${p.redacted}`, s.host.applier.live ? outcome(r.result) : 'ok: recorded, not run (sandbox)');
  if (!s.host.applier.live) return r.output;
  return tool === 'ping' ? formatPing(r.result as PingResult, r.output) : formatTraceroute(r.result as TracerouteResult);
}

async function lookup(s: Session, a: Args, p: Parsed<Handler>): Promise<string> {
  const r = await dnsLookup(s.host.net, { name: a.name, type: (a.type ?? 'A') as DnsLookupResult['type'], ...(a.server ? { server: a.server } : {}) });
  s.store.audit(s.actor, `cli: ${p.redacted}`, r.error ? `failed: ${r.error}` : `ok: ${r.records.length} records`);
  return formatLookup(r);
}

async function tcp(s: Session, a: Args, p: Parsed<Handler>): Promise<string> {
  const r = await tcpCheck(s.host.net, { host: a.host, port: Number(a.port) });
  s.store.audit(s.actor, `cli: ${p.redacted}`, `${r.status === 'open' ? 'ok' : 'failed'}: ${r.message}`.slice(0, 300));
  return formatTcp(r);
}

/** A tool run by the applier on a host, with one optional bounded count (`KW HOST [OPTION N]`). */
function hostTool(tool: 'ping' | 'traceroute', help: string, option: { kw: string; help: string; name: string; label: string; limit: { min: number; max: number } }): N {
  const go = (s: Session, a: Args, p: Parsed<Handler>) => run(s, p, tool, a);
  return {
    kw: tool,
    help,
    children: [
      {
        arg: { name: 'host', type: pingHost },
        help: 'IPv4 or IPv6 address or host name',
        run: go,
        children: [{ kw: option.kw, help: option.help, children: [{ arg: { name: option.name, type: intRange(option.limit.min, option.limit.max, option.kw === 'repeat' ? 'count' : option.kw) }, help: option.label, run: go }] }],
      },
    ],
  };
}

/** `ping HOST [repeat N]`. */
export const PING: N = hostTool('ping', 'Send ICMP echo requests', { kw: 'repeat', help: `Echo requests to send (default ${LIMITS.pingCount.default})`, name: 'count', label: 'Count', limit: LIMITS.pingCount });

/** `traceroute HOST [max-hops N]`. */
export const TRACEROUTE: N = hostTool('traceroute', 'Trace the route to a host', { kw: 'max-hops', help: `Most hops (default ${LIMITS.maxHops.default})`, name: 'hops', label: 'Hops', limit: LIMITS.maxHops });

const serverNode: N = { kw: 'server', help: 'Ask this DNS server instead of the configured ones', children: [{ arg: { name: 'server', type: serverAddress }, help: 'DNS server address', run: lookup }] };

/** `nslookup NAME [type T] [server S]`. */
export const NSLOOKUP: N = {
  kw: 'nslookup',
  help: 'Look up a DNS name (A, AAAA, PTR, SRV, MX, TXT records)',
  children: [
    {
      arg: { name: 'name', type: lookupName },
      help: 'Name, or an address for type PTR',
      run: lookup,
      children: [{ kw: 'type', help: 'Record type (default A)', children: [{ arg: { name: 'type', type: dnsType }, help: 'Record type', run: lookup, children: [serverNode] }] }, serverNode],
    },
  ],
};

/** `test tcp HOST PORT` (under `test`, beside `test connectivity`). */
export const TEST_TCP: N = {
  kw: 'tcp',
  help: 'Check that a TCP port answers: DNS time, connect time, or why not (refused, no answer, unreachable)',
  children: [{ arg: { name: 'host', type: pingHost }, help: 'IPv4 or IPv6 address or host name', children: [{ arg: { name: 'port', type: intRange(1, 65535, 'port') }, help: 'TCP port', run: tcp }] }],
};

const captureFilter: ArgType = {
  placeholder: 'LINE',
  rule: 'capture-filter',
  rest: true,
  parse: (w) => {
    try {
      parseFilter(w);
      return { value: w };
    } catch (e) {
      return { error: (e as Error).message };
    }
  },
};

/** A capture's summary: what ended it, the count and size, the first records, where to download it. */
export function formatCapture(r: CaptureResult): string {
  const lines = [`Captured ${r.packets} packet${r.packets === 1 ? '' : 's'} (${r.bytes} bytes) on ${r.interface}, stopped by the ${r.stoppedBy === 'packets' ? 'packet limit' : 'duration'}.`, `File: ${r.name}`];
  const t0 = r.records[0]?.time ?? 0;
  for (const [k, x] of r.records.entries()) lines.push(`${String(k + 1).padStart(4)}  +${(x.time - t0).toFixed(6)} s  ${x.length} bytes${x.capturedLength < x.length ? ` (${x.capturedLength} kept)` : ''}`);
  if (r.packets > r.records.length) lines.push(`  ... ${r.packets - r.records.length} more`);
  lines.push('Download it from System Manager (Diagnostics > Capture) or GET /mics/api/v1/diagnostics/captures/' + r.name);
  return lines.join('\n');
}

async function capture(s: Session, a: Args, p: Parsed<Handler>): Promise<string> {
  const request = { interface: a.iface, ...(a.duration ? { duration: Number(a.duration) } : {}), ...(a.packets ? { packets: Number(a.packets) } : {}), ...(a.filter ? { filter: a.filter } : {}) };
  s.io.write(`Capturing on ${a.iface} for up to ${request.duration ?? CAPTURE_LIMITS.duration.default} s or ${request.packets ?? CAPTURE_LIMITS.packets.default} packets...\n`);
  // A failure is audited by the session (the node is marked `changes`, which also keeps operators out).
  const r = await s.host.applier.capture(request);
  s.store.audit(s.actor, `cli: ${p.redacted}`, s.host.applier.live ? `ok: ${r.packets} packets, ${r.bytes} bytes, ${r.name}` : 'ok: recorded, not run (sandbox)');
  return s.host.applier.live ? formatCapture(r) : r.output;
}

/** `show capture`: the stored captures, newest first. */
export async function showCapture(s: Session): Promise<string> {
  const files = await s.host.applier.captures();
  if (!files.length) return 'No captures stored.';
  return [`Captures in ${CAPTURE_DIR} (newest first; the last ${CAPTURE_LIMITS.keepFiles} and ${CAPTURE_LIMITS.keepBytes / 1048576} MiB kept):`, ...files.map((f) => `  ${f.name}  ${f.bytes} bytes`)].join('\n');
}

const L = CAPTURE_LIMITS;
const filterNode: N = { kw: 'filter', help: 'Capture filter: host/net/port/portrange, src/dst, tcp/udp/icmp/icmp6/arp/ip/ip6/vlan, and/or/not, ( )', children: [{ arg: { name: 'filter', type: captureFilter }, help: `Filter words (at most ${L.filterLength} characters)`, run: capture }] };
const packetsNode: N = { kw: 'packets', help: `Stop after this many packets (default ${L.packets.default})`, children: [{ arg: { name: 'packets', type: intRange(L.packets.min, L.packets.max, 'packets') }, help: 'Packets', run: capture, children: [filterNode] }] };
const durationNode: N = { kw: 'duration', help: `Stop after this many seconds (default ${L.duration.default})`, children: [{ arg: { name: 'duration', type: intRange(L.duration.min, L.duration.max, 'duration') }, help: 'Seconds', run: capture, children: [packetsNode, filterNode] }] };

/** `monitor capture interface IFACE [duration N] [packets N] [filter WORDS...]` (administrators: `changes` refuses operators). */
export const MONITOR: N = {
  kw: 'monitor',
  help: 'Watch the appliance at work',
  changes: true,
  children: [
    {
      kw: 'capture',
      help: `Capture packets on an interface into a pcap file (at most ${L.duration.max} s, ${L.packets.max} packets, ${L.fileBytes / 1048576} MiB)`,
      children: [{ kw: 'interface', help: 'Interface to capture on', children: [{ arg: { name: 'iface', type: interfaceName }, help: 'Interface', run: capture, children: [durationNode, packetsNode, filterNode] }] }],
    },
  ],
};
