/**
 * Interface packet capture (CLI `monitor capture`, Diagnostics > Capture, REST
 * /diagnostics/capture): the one place for its argument rules, the capture-filter grammar, the
 * tcpdump argv and a small pcap reader. Capturing needs CAP_NET_RAW, so the applier runs tcpdump
 * (validating the arguments again); the filter is checked against a strict token grammar and handed
 * to tcpdump as separate argv words, never through a shell.
 */
import net from 'node:net';
import { ValidationError, type FieldProblem } from '../errors.ts';

/** Bounds of a capture, shared by the CLI, REST and the page. */
export const CAPTURE_LIMITS = {
  duration: { min: 1, max: 300, default: 30 },
  packets: { min: 1, max: 100000, default: 1000 },
  /** Bytes kept of each packet; by default as many as fit the file bound for the packets asked (see snaplenFor). */
  snaplen: { min: 64, max: 262144 },
  filterLength: 256,
  /** One capture file at most; tcpdump is stopped when the file reaches it. */
  fileBytes: 16 * 1024 * 1024,
  keepFiles: 5,
  keepBytes: 64 * 1024 * 1024,
} as const;

/** A capture's arguments as given by the CLI, REST or the page. */
export interface CaptureRequest {
  interface: string;
  duration?: number;
  packets?: number;
  snaplen?: number;
  filter?: string;
}
/** A checked capture: defaults filled in, the filter split into its words. */
export interface CheckedCapture {
  interface: string;
  duration: number;
  packets: number;
  snaplen: number;
  filter: string[];
}

const KEYWORDS = new Set(['host', 'net', 'port', 'portrange', 'src', 'dst', 'tcp', 'udp', 'icmp', 'icmp6', 'arp', 'ip', 'ip6', 'vlan', 'and', 'or', 'not', '(', ')']);
const PRIMITIVE = new Set(['tcp', 'udp', 'icmp', 'icmp6', 'arp', 'ip', 'ip6', 'vlan']);
const DIR = new Set(['src', 'dst']);
const VALUE_OF: Record<string, 'host' | 'net' | 'port' | 'portrange'> = { host: 'host', net: 'net', port: 'port', portrange: 'portrange' };
/** What a protocol can qualify: ports for TCP and UDP, addresses for IP, IPv6 and ARP. */
const QUALIFIES: Record<string, string[]> = { tcp: ['port', 'portrange'], udp: ['port', 'portrange'], ip: ['host', 'net'], ip6: ['host', 'net'], arp: ['host', 'net'] };

function portOk(s: string): boolean {
  return /^\d{1,5}$/.test(s) && Number(s) >= 0 && Number(s) <= 65535;
}
function cidrOk(s: string): boolean {
  const [a, len, more] = s.split('/');
  if (more !== undefined || !a) return false;
  const v = net.isIPv4(a) ? 4 : net.isIPv6(a) && !a.includes('%') ? 6 : 0;
  if (!v) return false;
  if (len === undefined) return true;
  return /^\d{1,3}$/.test(len) && Number(len) <= (v === 4 ? 32 : 128);
}
function valueOk(kind: 'host' | 'net' | 'port' | 'portrange', w: string): boolean {
  if (kind === 'host') return (net.isIPv4(w) || net.isIPv6(w)) && !w.includes('%');
  if (kind === 'net') return cidrOk(w);
  if (kind === 'port') return portOk(w);
  const [a, b, more] = w.split('-');
  return more === undefined && !!a && !!b && portOk(a) && portOk(b) && Number(a) <= Number(b);
}

/**
 * Split and check a capture filter. The grammar (a subset of pcap-filter):
 *   expr := term (('and'|'or') term)* ; term := 'not' term | '(' expr ')' | primitive
 *   primitive := proto | [proto] [src|dst] (host ADDR | net ADDR[/LEN] | port N | portrange N-M) | vlan [N]
 *   (proto before port/portrange: tcp or udp; before host/net: ip, ip6 or arp)
 * Addresses are IPv4/IPv6 literals (no names: no DNS lookups during a capture). Returns the argv
 * words, or throws a message naming the rule broken.
 */
export function parseFilter(text: string): string[] {
  if (text.length > CAPTURE_LIMITS.filterLength) throw new Error(`must be at most ${CAPTURE_LIMITS.filterLength} characters`);
  const words = text.replace(/[()]/g, ' $& ').trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  let i = 0;
  const peek = () => words[i];
  const fail = (why: string): never => {
    throw new Error(`${why} (allowed: host/net/port/portrange with addresses, CIDR or numbers, src/dst, tcp/udp/icmp/icmp6/arp/ip/ip6/vlan, and/or/not, parentheses)`);
  };
  const primitive = (): void => {
    let w = words[i++];
    if (w === undefined) fail('ends where a condition is expected');
    w = w!.toLowerCase();
    if (!KEYWORDS.has(w)) fail(`has an unknown word "${w.slice(0, 40)}"`);
    if (w === 'vlan') {
      if (peek() !== undefined && /^\d+$/.test(peek()!)) {
        if (Number(peek()) > 4094) fail('has a VLAN id above 4094');
        i++;
      }
      return;
    }
    if (PRIMITIVE.has(w)) {
      // A protocol may qualify what follows, as in pcap-filter: `tcp port 22`, `udp dst port 53`,
      // `ip host 192.0.2.1`, `ip6 net 2001:db8::/32`.
      const next = peek()?.toLowerCase();
      const qualifies = QUALIFIES[w];
      if (!qualifies || next === undefined || !(DIR.has(next) || qualifies.includes(next))) return;
      w = next;
      i++;
      if (DIR.has(w)) {
        w = (words[i++] ?? '').toLowerCase();
        if (!qualifies.includes(w)) fail(`needs ${qualifies.join(' or ')} after ${words[i - 3]!.toLowerCase()} ${words[i - 2]!.toLowerCase()}`);
      }
    } else if (DIR.has(w)) {
      w = (words[i++] ?? '').toLowerCase();
      if (!VALUE_OF[w]) fail('needs host, net, port or portrange after src/dst');
    }
    const kind = VALUE_OF[w];
    if (!kind) fail(`has "${w}" where a condition is expected`);
    const v = words[i++];
    if (v === undefined || !valueOk(kind!, v)) fail(`needs ${kind === 'host' ? 'an IPv4 or IPv6 address' : kind === 'net' ? 'an address or CIDR like 192.0.2.0/24' : kind === 'port' ? 'a port number 0-65535' : 'a port range like 1000-2000'} after ${kind}`);
  };
  const term = (depth: number): void => {
    if (depth > 16) fail('nests too deeply');
    const w = peek()?.toLowerCase();
    if (w === 'not') { i++; term(depth + 1); return; }
    if (w === '(') {
      i++;
      expr(depth + 1);
      if (words[i++] !== ')') fail('has an unclosed parenthesis');
      return;
    }
    primitive();
  };
  const expr = (depth: number): void => {
    term(depth);
    while (peek() !== undefined && ['and', 'or'].includes(peek()!.toLowerCase())) {
      i++;
      term(depth);
    }
  };
  expr(0);
  if (i < words.length) fail(`has "${words[i]!.slice(0, 40)}" where and/or or the end is expected`);
  return words.map((w) => (KEYWORDS.has(w.toLowerCase()) ? w.toLowerCase() : w));
}

/** Largest file a capture can write: pcap header plus, per packet, a 16-byte record header and snaplen. */
export function worstBytes(packets: number, snaplen: number): number {
  return 24 + packets * (16 + snaplen);
}
/**
 * The default snap length for `packets`: the most that keeps the file within the bound, so the
 * bound holds by arithmetic (tcpdump's -C would rotate, not stop) and no size watch is needed.
 */
export function snaplenFor(packets: number): number {
  const L = CAPTURE_LIMITS;
  return Math.max(L.snaplen.min, Math.min(L.snaplen.max, Math.floor((L.fileBytes - 24) / packets) - 16));
}

function intProblem(field: string, label: string, v: unknown, min: number, max: number): FieldProblem | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : { field, rule: 'range', message: `${label} must be a whole number from ${min} to ${max}` };
}

/**
 * A capture's arguments, defaults filled in; a ValidationError naming the field and rule otherwise.
 * `interfaces` are the names allowed here (GigabitEthernetN of the present NICs).
 */
export function checkCapture(r: Partial<CaptureRequest>, interfaces: readonly string[]): CheckedCapture {
  const L = CAPTURE_LIMITS;
  const duration = r.duration ?? L.duration.default;
  const packets = r.packets ?? L.packets.default;
  const snaplen = r.snaplen ?? snaplenFor(typeof packets === 'number' && packets > 0 ? packets : 1);
  const problems: (FieldProblem | null)[] = [
    typeof r.interface === 'string' && interfaces.includes(r.interface) ? null : { field: 'interface', rule: 'enum', message: interfaces.length ? `Interface must be one of ${interfaces.join(', ')}` : 'Interface: no network interface is present' },
    intProblem('duration', 'Duration', duration, L.duration.min, L.duration.max),
    intProblem('packets', 'Packets', packets, L.packets.min, L.packets.max),
    intProblem('snaplen', 'Snap length', snaplen, L.snaplen.min, L.snaplen.max),
  ];
  if (!problems.some(Boolean) && worstBytes(packets, snaplen) > L.fileBytes)
    problems.push({ field: 'snaplen', rule: 'file-size', message: `Snap length × packets must fit ${L.fileBytes / 1048576} MiB: at most ${snaplenFor(packets)} bytes for ${packets} packets` });
  let filter: string[] = [];
  if (r.filter !== undefined && r.filter !== '') {
    if (typeof r.filter !== 'string') problems.push({ field: 'filter', rule: 'filter', message: 'Filter must be text' });
    else {
      try {
        filter = parseFilter(r.filter);
      } catch (e) {
        problems.push({ field: 'filter', rule: 'filter', message: `Filter ${(e as Error).message}` });
      }
    }
  }
  const p = problems.filter((x): x is FieldProblem => x !== null);
  if (p.length) throw new ValidationError(p);
  return { interface: r.interface!, duration, packets, snaplen, filter };
}

/** A capture file's name: `capture-<UTC stamp>-<interface>.pcap`; anything else is refused. */
export const CAPTURE_NAME = /^capture-\d{8}T\d{6}Z-[A-Za-z0-9]{1,32}\.pcap$/;
/** The file name of a capture started at `at` on `iface`. */
export function captureName(at: Date, iface: string): string {
  return `capture-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${iface.replace(/[^A-Za-z0-9]/g, '').slice(0, 32)}.pcap`;
}

/**
 * tcpdump's argv for a checked capture on kernel interface `ifname` into `file`. `-n`: no DNS;
 * `-U`: each packet written at once, so the size watch and a stop on time lose nothing;
 * `-Z root`: keep the file owned as the applier made it (no drop to user tcpdump); `--`: the
 * filter words can never be taken for options.
 */
export function captureArgv(c: CheckedCapture, ifname: string, file: string): string[] {
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(ifname) || ifname.startsWith('-')) throw new Error(`bad kernel interface name ${JSON.stringify(ifname)}`);
  return ['tcpdump', '-i', ifname, '-w', file, '-c', String(c.packets), '-s', String(c.snaplen), '-n', '-U', '-Z', 'root', '--', ...c.filter];
}

/** Where the applier keeps captures (under the host root). */
export const CAPTURE_DIR = '/var/lib/keel/captures';

/** A stored capture. */
export interface CaptureFile {
  name: string;
  bytes: number;
}
/** What `capture` answers. */
export interface CaptureResult {
  name: string;
  command: string;
  interface: string;
  packets: number;
  bytes: number;
  /** What ended it: the packet limit, the duration, or tcpdump itself (an error; see output). */
  stoppedBy: 'packets' | 'duration' | 'error';
  /** tcpdump's messages (bounded). */
  output: string;
  /** First records (time, lengths) for a short summary. */
  records: PcapSummary['records'];
}

/**
 * Which stored captures to delete so at most `keepFiles` and `keepBytes` remain, newest kept
 * (names sort by their UTC stamp).
 */
export function capturesToPrune(files: CaptureFile[]): string[] {
  const L = CAPTURE_LIMITS;
  const newest = [...files].sort((a, b) => (a.name < b.name ? 1 : -1));
  const drop: string[] = [];
  let total = 0;
  newest.forEach((f, k) => {
    total += f.bytes;
    if (k >= L.keepFiles || total > L.keepBytes) drop.push(f.name);
  });
  return drop;
}

/** A pcap file's summary: format, link type, packets and bytes captured, first/last time. */
export interface PcapSummary {
  linkType: number;
  nanoseconds: boolean;
  packets: number;
  bytes: number;
  first: number | null;
  last: number | null;
  records: { time: number; capturedLength: number; length: number }[];
}

/**
 * Read a classic pcap file (either byte order, micro- or nanosecond stamps). A file cut short in
 * the middle of a record (a capture stopped hard) counts the whole records only. Keeps at most
 * `maxRecords` record headers.
 */
export function readPcap(buf: Buffer, maxRecords = 20): PcapSummary {
  if (buf.length < 24) throw new Error('not a pcap file: shorter than its 24-byte header');
  const magicLE = buf.readUInt32LE(0);
  let le: boolean;
  let nanoseconds: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) [le, nanoseconds] = [true, magicLE === 0xa1b23c4d];
  else if (buf.readUInt32BE(0) === 0xa1b2c3d4 || buf.readUInt32BE(0) === 0xa1b23c4d) [le, nanoseconds] = [false, buf.readUInt32BE(0) === 0xa1b23c4d];
  else throw new Error('not a pcap file: bad magic number');
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const s: PcapSummary = { linkType: u32(20) & 0x0fffffff, nanoseconds, packets: 0, bytes: 0, first: null, last: null, records: [] };
  for (let o = 24; o + 16 <= buf.length; ) {
    const time = u32(o) + u32(o + 4) / (nanoseconds ? 1e9 : 1e6);
    const capturedLength = u32(o + 8);
    const length = u32(o + 12);
    if (o + 16 + capturedLength > buf.length) break;
    s.packets++;
    s.bytes += capturedLength;
    s.first ??= time;
    s.last = time;
    if (s.records.length < maxRecords) s.records.push({ time, capturedLength, length });
    o += 16 + capturedLength;
  }
  return s;
}
