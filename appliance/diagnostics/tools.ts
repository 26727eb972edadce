/**
 * Diagnostics tools (Diagnostics > Tools, CLI `ping`, `traceroute`, `nslookup`, `test tcp`, REST
 * /diagnostics/*): the one place for their argument rules, the argv of ping and traceroute, and
 * the parsers of their output. DNS lookup and the TCP check run in the calling process through the
 * network adapter; ping and traceroute need raw sockets, so the applier runs them (`diagnose`),
 * validating the arguments again. Every input is bounded, and a target can never be taken for an
 * option: it must be an address or a host name (neither starts with `-`), passed as one argv word.
 */
import net from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { ValidationError, type FieldProblem } from '../errors.ts';
import { ipv4 } from '../config/rules.ts';
import { NetError, type Net } from '../host/net.ts';

/** Bounds of every tool, shared by the CLI, REST and the page. */
export const LIMITS = { pingCount: { min: 1, max: 10, default: 4 }, maxHops: { min: 1, max: 30, default: 30 }, port: { min: 1, max: 65535 }, hostLength: 253 } as const;
/** Seconds ping waits for each reply and traceroute for each probe. */
export const PROBE_WAIT_S = 2;
/** One step of a DNS lookup or TCP check. */
export const NET_TIMEOUT_MS = 5000;
/** Output kept of ping and traceroute. */
export const MAX_OUTPUT_BYTES = 64 * 1024;
export const DNS_TYPES = ['A', 'AAAA', 'PTR', 'SRV', 'MX', 'TXT'] as const;
export type DnsType = (typeof DNS_TYPES)[number];
export const TOOLS = ['ping', 'traceroute'] as const;
export type Tool = (typeof TOOLS)[number];

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;

/**
 * A target of ping, traceroute, a TCP check or a DNS server: an IPv4 or IPv6 address or a host
 * name (letters, digits, hyphens, dot-separated labels of 1-63; `_` allowed for SRV names).
 * Null when fine, else the rule broken.
 */
export function targetRule(v: string): string | null {
  if (typeof v !== 'string' || v.length === 0) return 'is required';
  if (v.length > LIMITS.hostLength) return `must be at most ${LIMITS.hostLength} characters`;
  if (v.includes(':')) return net.isIPv6(v) && !v.includes('%') ? null : 'must be an IPv6 address like 2001:db8::1 (without a zone)';
  if (/^[0-9.]+$/.test(v)) {
    const e = ipv4(v);
    return e ? `must be an IPv4 address, an IPv6 address or a host name: ${e}` : null;
  }
  const labels = v.replace(/\.$/, '').split('.');
  for (const l of labels) if (!LABEL.test(l)) return 'must be an IPv4 address, an IPv6 address or a host name (letters, digits and hyphens in dot-separated labels of 1-63 characters, not starting with a hyphen)';
  return null;
}

const Target = (what: string) => Type.String({ minLength: 1, maxLength: LIMITS.hostLength, description: `${what}: an IPv4 or IPv6 address or a host name` });

export const PingRequestSchema = Type.Object(
  {
    host: Target('Host to ping'),
    count: Type.Optional(Type.Integer({ minimum: LIMITS.pingCount.min, maximum: LIMITS.pingCount.max, description: `Echo requests to send (1-10, default ${LIMITS.pingCount.default}), one a second` })),
  },
  { additionalProperties: false, description: 'Ping' },
);
export const TracerouteRequestSchema = Type.Object(
  {
    host: Target('Host to trace the route to'),
    maxHops: Type.Optional(Type.Integer({ minimum: LIMITS.maxHops.min, maximum: LIMITS.maxHops.max, description: `Most hops (1-30, default ${LIMITS.maxHops.default})` })),
  },
  { additionalProperties: false, description: 'Traceroute' },
);
export const DnsLookupRequestSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: LIMITS.hostLength, description: 'Name to look up (for PTR: an IPv4 or IPv6 address)' }),
    type: Type.Optional(Type.Union(DNS_TYPES.map((t) => Type.Literal(t)), { description: 'Record type (default A)' })),
    server: Type.Optional(Type.String({ minLength: 1, maxLength: 45, description: 'DNS server to ask, an IPv4 or IPv6 address (default: the configured DNS servers)' })),
  },
  { additionalProperties: false, description: 'DNS lookup' },
);
export const TcpCheckRequestSchema = Type.Object(
  {
    host: Target('Host to connect to'),
    port: Type.Integer({ minimum: LIMITS.port.min, maximum: LIMITS.port.max, description: 'TCP port (1-65535)' }),
  },
  { additionalProperties: false, description: 'TCP port check' },
);
export type PingRequest = Static<typeof PingRequestSchema>;
export type TracerouteRequest = Static<typeof TracerouteRequestSchema>;
export type DnsLookupRequest = Static<typeof DnsLookupRequestSchema>;
export type TcpCheckRequest = Static<typeof TcpCheckRequestSchema>;

function intProblem(field: string, label: string, v: unknown, min: number, max: number): FieldProblem | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : { field, rule: 'range', message: `${label} must be a whole number from ${min} to ${max}` };
}
function targetProblem(field: string, label: string, v: unknown): FieldProblem | null {
  const e = targetRule(v as string);
  return e ? { field, rule: 'host', message: `${label} ${e}` } : null;
}
function check(problems: (FieldProblem | null)[]): void {
  const p = problems.filter((x): x is FieldProblem => x !== null);
  if (p.length) throw new ValidationError(p);
}

/** Ping's arguments, defaults filled in; a ValidationError naming the field and rule otherwise. */
export function checkPing(r: Partial<PingRequest>): Required<PingRequest> {
  const count = r.count ?? LIMITS.pingCount.default;
  check([targetProblem('host', 'Host', r.host), intProblem('count', 'Count', count, LIMITS.pingCount.min, LIMITS.pingCount.max)]);
  return { host: r.host!, count };
}
/** Traceroute's arguments, defaults filled in. */
export function checkTraceroute(r: Partial<TracerouteRequest>): Required<TracerouteRequest> {
  const maxHops = r.maxHops ?? LIMITS.maxHops.default;
  check([targetProblem('host', 'Host', r.host), intProblem('maxHops', 'Maximum hops', maxHops, LIMITS.maxHops.min, LIMITS.maxHops.max)]);
  return { host: r.host!, maxHops };
}
/** A DNS lookup's arguments: PTR takes an address, the others a name; the server an address. */
export function checkDnsLookup(r: Partial<DnsLookupRequest>): DnsLookupRequest & { type: DnsType } {
  const type = (typeof r.type === 'string' ? r.type.toUpperCase() : r.type ?? 'A') as DnsType;
  const problems: (FieldProblem | null)[] = [];
  if (!DNS_TYPES.includes(type)) problems.push({ field: 'type', rule: 'enum', message: `Record type must be one of ${DNS_TYPES.join(', ')}` });
  else if (type === 'PTR') problems.push(typeof r.name === 'string' && net.isIP(r.name) ? null : { field: 'name', rule: 'ip-address', message: 'Name must be an IPv4 or IPv6 address for a PTR lookup' });
  else problems.push(targetProblem('name', 'Name', r.name));
  if (r.server !== undefined && r.server !== '') problems.push(typeof r.server === 'string' && net.isIP(r.server) && !r.server.includes('%') ? null : { field: 'server', rule: 'ip-address', message: 'Server must be an IPv4 or IPv6 address like 192.0.2.53' });
  check(problems);
  return { name: r.name!, type, ...(r.server ? { server: r.server } : {}) };
}
/** A TCP check's arguments. */
export function checkTcp(r: Partial<TcpCheckRequest>): TcpCheckRequest {
  check([targetProblem('host', 'Host', r.host), intProblem('port', 'Port', r.port, LIMITS.port.min, LIMITS.port.max)]);
  return { host: r.host!, port: r.port! };
}

// ---- ping and traceroute (run by the applier) ----

/** The options of `diagnose`: ping's count or traceroute's most hops. */
export interface DiagnoseOptions {
  count?: number;
  maxHops?: number;
}

/** The argv (never a shell line) and the time bound of one run; the arguments are checked again here. */
export function diagnoseCommand(tool: Tool, target: string, options: DiagnoseOptions = {}): { cmd: string; args: string[]; timeoutMs: number } {
  if (!TOOLS.includes(tool)) throw new ValidationError([{ field: 'tool', rule: 'enum', message: `Tool must be one of ${TOOLS.join(', ')}` }]);
  const o = options && typeof options === 'object' ? options : {};
  if (tool === 'ping') {
    const r = checkPing({ host: target, count: o.count });
    // -n: no reverse lookups; -W: seconds to wait for each reply. Sent one a second: bounded by count + wait.
    return { cmd: 'ping', args: ['-n', '-c', String(r.count), '-W', String(PROBE_WAIT_S), r.host], timeoutMs: (r.count + PROBE_WAIT_S + 5) * 1000 };
  }
  const r = checkTraceroute({ host: target, maxHops: o.maxHops });
  // Probes of a hop go out together and 16 at once overall (traceroute's -N default): silent hops
  // cost the wait, so a 30-hop trace of nothing is about 30 x 2 s at worst; 90 s bounds it.
  return { cmd: 'traceroute', args: ['-n', '-m', String(r.maxHops), '-w', String(PROBE_WAIT_S), r.host], timeoutMs: 90_000 };
}

export interface PingReply {
  seq: number;
  ttl: number | null;
  ms: number;
}
export interface PingResult {
  tool: 'ping';
  target: string;
  address: string | null;
  replies: PingReply[];
  transmitted: number;
  received: number;
  lossPercent: number | null;
  rtt: { min: number; avg: number; max: number } | null;
  /** Why ping could not run at all (unknown name, no route), from its own words. */
  error: string | null;
}
export interface TraceHop {
  hop: number;
  /** Each probe: the address that answered and its time, or null for no answer (`*`). */
  probes: { address: string | null; ms: number | null; note?: string }[];
}
export interface TracerouteResult {
  tool: 'traceroute';
  target: string;
  address: string | null;
  hops: TraceHop[];
  reached: boolean;
  error: string | null;
}
/** What `diagnose` answers: the parsed result, the output (bounded) and how ping/traceroute ended. */
export interface DiagnoseResult {
  command: string;
  exitCode: number;
  output: string;
  result: PingResult | TracerouteResult;
}

/** iputils ping's output (`-n`). */
export function parsePing(text: string, target: string): PingResult {
  const out: PingResult = { tool: 'ping', target, address: null, replies: [], transmitted: 0, received: 0, lossPercent: null, rtt: null, error: null };
  const head = /^PING \S+ ?\(([^)]+)\)/m.exec(text);
  if (head) out.address = head[1];
  for (const m of text.matchAll(/^\d+ bytes from (\S+?):? icmp_seq=(\d+)(?: ttl=(\d+))? time=([\d.]+) ms/gm)) {
    out.replies.push({ seq: Number(m[2]), ttl: m[3] ? Number(m[3]) : null, ms: Number(m[4]) });
  }
  const stats = /^(\d+) packets transmitted, (\d+) received.*?, ([\d.]+)% packet loss/m.exec(text);
  if (stats) {
    out.transmitted = Number(stats[1]);
    out.received = Number(stats[2]);
    out.lossPercent = Number(stats[3]);
  }
  const rtt = /^rtt min\/avg\/max\/mdev = ([\d.]+)\/([\d.]+)\/([\d.]+)\//m.exec(text);
  if (rtt) out.rtt = { min: Number(rtt[1]), avg: Number(rtt[2]), max: Number(rtt[3]) };
  if (!stats) {
    const err = /^ping: (.+)$/m.exec(text);
    out.error = err ? err[1].replace(/^connect: /, '').trim() : text.trim().split('\n')[0]?.slice(0, 200) || 'ping gave no answer';
  }
  return out;
}

/** Linux traceroute's output (`-n`): per hop the address and time of each probe, `*` for none. */
export function parseTraceroute(text: string, target: string): TracerouteResult {
  const out: TracerouteResult = { tool: 'traceroute', target, address: null, hops: [], reached: false, error: null };
  const head = /^traceroute to \S+ \(([^)]+)\)/m.exec(text);
  if (head) out.address = head[1];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const hop: TraceHop = { hop: Number(m[1]), probes: [] };
    let address: string | null = null;
    const tokens = m[2].trim().split(/\s+/);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t === '*') hop.probes.push({ address: null, ms: null });
      else if (/^[\d.]+$/.test(t) && tokens[i + 1] === 'ms') {
        hop.probes.push({ address, ms: Number(t) });
        i++;
      } else if (/^![A-Z0-9]*$/.test(t) && hop.probes.length) hop.probes[hop.probes.length - 1].note = t;
      else if (net.isIP(t)) address = t;
    }
    out.hops.push(hop);
  }
  out.reached = out.address !== null && out.hops.some((h) => h.probes.some((p) => p.address === out.address));
  if (!out.hops.length) {
    const err = text.split('\n').find((l) => l.trim() && !l.startsWith('traceroute to '));
    out.error = err ? err.replace(/^(connect|traceroute): /, '').trim().slice(0, 200) : 'traceroute gave no answer';
  }
  return out;
}

/** Parses one run's output by its tool. */
export function parseDiagnose(tool: Tool, text: string, target: string): PingResult | TracerouteResult {
  return tool === 'ping' ? parsePing(text, target) : parseTraceroute(text, target);
}

// ---- DNS lookup and TCP check (in the calling process) ----

export interface DnsLookupResult {
  name: string;
  type: DnsType;
  server: string;
  /** Records as text: an address, `10 mail.example.com` (MX), `0 5 5060 sip.example.com` (SRV). */
  records: string[];
  ms: number;
  /** NXDOMAIN, no records of the type, a timeout… in words; null when it answered records. */
  error: string | null;
}

/** A DNS lookup of one record type, from the configured servers or `server`, bounded in time and records. */
export async function dnsLookup(n: Net, req: Partial<DnsLookupRequest>): Promise<DnsLookupResult> {
  const r = checkDnsLookup(req);
  const started = performance.now();
  try {
    const { server, records } = await n.query(r.name, r.type, r.server ?? null, NET_TIMEOUT_MS);
    return { name: r.name, type: r.type, server, records: records.slice(0, 100).map((x) => x.slice(0, 512)), ms: round(performance.now() - started), error: records.length ? null : `no ${r.type} records` };
  } catch (e) {
    const code = e instanceof NetError || (e as NodeJS.ErrnoException).code ? ((e as NodeJS.ErrnoException).code ?? '') : '';
    if (!code) throw e;
    return { name: r.name, type: r.type, server: r.server ?? n.servers().join(', '), records: [], ms: round(performance.now() - started), error: dnsWords(code, r) };
  }
}

function dnsWords(code: string, r: { name: string; type: string }): string {
  switch (code) {
    case 'ENOTFOUND':
      return `${r.name} does not exist (NXDOMAIN)`;
    case 'ENODATA':
      return `${r.name} has no ${r.type} records`;
    case 'ETIMEOUT':
    case 'ETIMEDOUT':
      return 'the DNS server did not answer in time';
    case 'ECONNREFUSED':
      return 'the DNS server refused the connection';
    case 'ESERVFAIL':
      return 'the DNS server failed to answer (SERVFAIL)';
    case 'EREFUSED':
      return 'the DNS server refused the query (REFUSED)';
    default:
      return `the lookup failed (${code})`;
  }
}

export interface TcpCheckResult {
  host: string;
  port: number;
  addresses: string[];
  dnsMs: number | null;
  address: string | null;
  connectMs: number | null;
  status: 'open' | 'refused' | 'no-answer' | 'unreachable' | 'dns-failed' | 'failed';
  /** One line: "open (connected in 1.2 ms)", "refused: nothing listens on port 81"… */
  message: string;
}

/** Resolves the host and connects to its first address, each step bounded (5 s); says why it failed. */
export async function tcpCheck(n: Net, req: Partial<TcpCheckRequest>): Promise<TcpCheckResult> {
  const r = checkTcp(req);
  const out: TcpCheckResult = { host: r.host, port: r.port, addresses: [], dnsMs: null, address: null, connectMs: null, status: 'failed', message: '' };
  let t = performance.now();
  try {
    out.addresses = (await n.resolve(r.host, NET_TIMEOUT_MS)).slice(0, 16);
    if (!net.isIP(r.host)) out.dnsMs = round(performance.now() - t);
  } catch (e) {
    out.dnsMs = round(performance.now() - t);
    out.status = 'dns-failed';
    out.message = `the name did not resolve: ${(e as Error).message}`;
    return out;
  }
  out.address = out.addresses[0];
  t = performance.now();
  try {
    const s = await n.connect(out.address, r.port, NET_TIMEOUT_MS);
    out.connectMs = round(performance.now() - t);
    s.destroy();
    out.status = 'open';
    out.message = `open: connected to ${out.address} port ${r.port} in ${out.connectMs} ms`;
  } catch (e) {
    const code = (e as NetError).code ?? '';
    if (code === 'ECONNREFUSED') (out.status = 'refused'), (out.message = `refused: nothing listens on ${out.address} port ${r.port} (or a firewall rejects it)`);
    else if (code === 'ETIMEDOUT') (out.status = 'no-answer'), (out.message = `no answer within ${NET_TIMEOUT_MS / 1000} s: a firewall may drop the connection, or the host is down`);
    else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') (out.status = 'unreachable'), (out.message = `unreachable: no route to ${out.address} (${code})`);
    else out.message = `failed: ${(e as Error).message}`;
  }
  return out;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
