import crypto from 'node:crypto';
import tls from 'node:tls';
import type net from 'node:net';
import type { Host } from '../host/index.ts';
import { NetError } from '../host/net.ts';
import type { Config } from '../config/schema.ts';
import { parsePemBundle } from '../certs/pki.ts';
import type { Endpoint } from './endpoints.ts';

/** One certificate as presented, in the words of the page. */
export interface CertView {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  fingerprint256: string;
}

/** The outcome of one endpoint's check. `failed` stops at `stage`; `warning` reached it but something is wrong (trust, name, validity). */
export interface CheckResult {
  name: string;
  role: string;
  host: string;
  port: number;
  protocol: Endpoint['protocol'];
  viaProxy: boolean;
  at: string;
  status: 'ok' | 'warning' | 'failed';
  /** The step that failed, or null. */
  stage: 'config' | 'dns' | 'tcp' | 'proxy' | 'tls' | 'http' | 'ntp' | 'query' | null;
  /** One line: what was found (the interception message when suspected). */
  message: string;
  /** Everything found wrong, first the worst. */
  problems: string[];
  interception: boolean;
  dns: { name: string; addresses: string[]; ms: number } | null;
  tcp: { address: string; port: number; ms: number } | null;
  proxy: { host: string; port: number; status: number } | null;
  tls: {
    ms: number;
    version: string | null;
    chain: CertView[];
    /** Common name of the leaf's issuer. */
    issuer: string;
    sanMatch: boolean;
    /** What the chain leads to: the system trust store, the CA the configuration names, or nothing. */
    trust: 'system' | 'configured' | null;
    expectedIssuer: string | null;
  } | null;
  http: { status: number; ms: number } | null;
  ntp: { stratum: number; ms: number } | null;
  /** A DNS server's answer to a query for the root name servers. */
  query: { rcode: string; ms: number } | null;
  totalMs: number;
}

export interface CheckOptions {
  /** Bound of each step (name lookup, connect, CONNECT, handshake, request); default 5 s. */
  stepMs?: number;
  now?: () => number;
}
export const DEFAULT_STEP_MS = 5000;

/** The common name of a distinguished name as Node prints it (`CN=x\nO=y`), else the whole name on one line. */
export function commonName(dn: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(dn)?.[1] ?? dn.replace(/\n/g, ', ');
}

/** The words shown for a failed step, from the system's error code. */
export function describeError(stage: 'dns' | 'tcp' | 'proxy' | 'tls' | 'http' | 'ntp' | 'query', target: string, e: unknown, stepMs: number): string {
  const code = e instanceof NetError || (e && typeof e === 'object' && 'code' in e) ? String((e as { code: unknown }).code) : '';
  const msg = (e as Error)?.message ?? String(e);
  if (stage === 'dns') {
    if (code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN') return `DNS: ${target} does not resolve (no such name)`;
    if (code === 'ETIMEDOUT' || code === 'ETIMEOUT') return `DNS: no answer from the name servers for ${target} within ${stepMs} ms`;
    if (code === 'EAI_AGAIN') return `DNS: the name servers did not answer for ${target} (EAI_AGAIN)`;
    if (code === 'ECONNREFUSED' || code === 'ESERVFAIL') return `DNS: the name servers failed to answer for ${target} (${code})`;
    return `DNS: ${target} could not be resolved (${code || msg})`;
  }
  if (stage === 'tcp' || stage === 'proxy') {
    const what = stage === 'proxy' ? `Proxy ${target}` : `TCP ${target}`;
    if (code === 'ECONNREFUSED') return `${what}: connection refused (nothing listens, or a firewall rejects)`;
    if (code === 'ETIMEDOUT') return `${what}: no answer within ${stepMs} ms (dropped by a firewall, or the host is down)`;
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `${what}: unreachable (${code}: no route)`;
    if (code === 'ECONNRESET') return `${what}: connection reset`;
    return `${what}: ${msg}`;
  }
  if (stage === 'query') return code === 'ETIMEDOUT' ? `DNS server ${target}: no answer within ${stepMs} ms` : code === 'ECONNREFUSED' ? `DNS server ${target}: refused (port unreachable)` : `DNS server ${target}: ${msg}`;
  if (stage === 'ntp') return code === 'ETIMEDOUT' ? `NTP ${target}: no answer within ${stepMs} ms` : `NTP ${target}: ${msg}`;
  if (stage === 'http') return code === 'ETIMEDOUT' ? `HTTP: no status line within ${stepMs} ms` : `HTTP: ${msg}`;
  return code === 'ETIMEDOUT' ? `TLS: no handshake within ${stepMs} ms` : `TLS: handshake failed (${msg})`;
}

/** The HTTP status code of a status line (`HTTP/1.1 404 Not Found`), or null. */
export function parseStatusLine(b: Buffer | string): number | null {
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})(?: |\r|\n|$)/.exec(b.toString('latin1'));
  return m ? Number(m[1]) : null;
}

/** The interception message when the pinned issuer is neither the leaf's issuer nor any CA on its path; null when it matches. */
export function interceptionMessage(expected: string | undefined, leafIssuer: string, pathNames: string[]): string | null {
  if (!expected) return null;
  const want = expected.trim().toLowerCase();
  if ([leafIssuer, ...pathNames].some((n) => n.trim().toLowerCase() === want)) return null;
  return `TLS interception suspected: issued by ${leafIssuer}, expected ${expected}`;
}

/** A recursive query for the root's name servers (`. NS`), the smallest question every resolver can answer. */
export function dnsQuery(id: number): Buffer {
  const b = Buffer.alloc(17);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(0x0100, 2); // recursion desired
  b.writeUInt16BE(1, 4); // one question
  b[12] = 0; // the root name
  b.writeUInt16BE(2, 13); // NS
  b.writeUInt16BE(1, 15); // IN
  return b;
}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
/** The response code of a DNS reply to query `id`, or null when it is not one. */
export function dnsAnswerCode(b: Buffer, id: number): string | null {
  if (b.length < 12 || b.readUInt16BE(0) !== id || !(b[2] & 0x80)) return null;
  const rc = b[3] & 0x0f;
  return RCODES[rc] ?? `RCODE ${rc}`;
}

let systemAnchors: crypto.X509Certificate[] | null = null;
/** The system trust store (and Node's bundled roots), parsed once. */
function systemStore(): crypto.X509Certificate[] {
  if (!systemAnchors) {
    const pems = new Set<string>();
    for (const kind of ['system', 'bundled'] as const) {
      try {
        for (const p of (tls as unknown as { getCACertificates(k: string): string[] }).getCACertificates(kind)) pems.add(p);
      } catch {
        // An older runtime without getCACertificates: fall back to the bundled roots.
        for (const p of tls.rootCertificates) pems.add(p);
      }
    }
    systemAnchors = [...pems].flatMap((p) => {
      try {
        return [new crypto.X509Certificate(p)];
      } catch {
        return [];
      }
    });
  }
  return systemAnchors;
}

function issuedBy(cert: crypto.X509Certificate, ca: crypto.X509Certificate): boolean {
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/**
 * Follows the presented chain from the leaf to an anchor of the configured CA(s), then of the
 * system store: which one it reaches, and the common names along the way (for issuer pinning).
 */
export function chainTrust(presented: crypto.X509Certificate[], configured: crypto.X509Certificate[], system: crypto.X509Certificate[] = systemStore()): { trust: 'system' | 'configured' | null; path: string[] } {
  const path: string[] = [];
  let cur = presented[0];
  for (let depth = 0; cur && depth < 10; depth++) {
    for (const [trust, anchors] of [['configured', configured], ['system', system]] as const) {
      const a = anchors.find((x) => x.fingerprint256 === cur.fingerprint256 || issuedBy(cur, x));
      if (a) {
        path.push(commonName(a.subject));
        return { trust, path };
      }
    }
    const next = presented.find((x) => x !== cur && x.fingerprint256 !== cur.fingerprint256 && issuedBy(cur, x));
    if (!next) break;
    path.push(commonName(next.subject));
    cur = next;
  }
  return { trust: null, path };
}

/** The presented chain, leaf first (getPeerCertificate(true) links each to its issuer; a root links to itself). */
function presentedChain(s: tls.TLSSocket): { x509: crypto.X509Certificate[]; peer: tls.DetailedPeerCertificate } {
  const peer = s.getPeerCertificate(true);
  const out: crypto.X509Certificate[] = [];
  const seen = new Set<string>();
  let c: tls.DetailedPeerCertificate | undefined = peer;
  while (c && c.raw && !seen.has(c.fingerprint256) && out.length < 10) {
    seen.add(c.fingerprint256);
    out.push(new crypto.X509Certificate(c.raw));
    c = c.issuerCertificate;
  }
  return { x509: out, peer };
}

function view(c: crypto.X509Certificate): CertView {
  return { subject: commonName(c.subject), issuer: commonName(c.issuer), validFrom: new Date(c.validFrom).toISOString(), validTo: new Date(c.validTo).toISOString(), fingerprint256: c.fingerprint256 };
}

const ms = (t0: number) => Math.round(performance.now() - t0);

/** Checks one endpoint through the host's network adapter; never throws (a bug is reported as the endpoint's failure). */
export async function checkEndpoint(host: Host, config: Config, e: Endpoint, opts: CheckOptions = {}): Promise<CheckResult> {
  const stepMs = opts.stepMs ?? DEFAULT_STEP_MS;
  const start = performance.now();
  const r: CheckResult = {
    name: e.name, role: e.role, host: e.host, port: e.port, protocol: e.protocol, viaProxy: e.viaProxy,
    at: new Date(opts.now?.() ?? Date.now()).toISOString(), status: 'ok', stage: null, message: '', problems: [], interception: false,
    dns: null, tcp: null, proxy: null, tls: null, http: null, ntp: null, query: null, totalMs: 0,
  };
  const fail = (stage: NonNullable<CheckResult['stage']>, message: string): CheckResult => {
    r.status = 'failed';
    r.stage = stage;
    r.message = message;
    r.problems.unshift(message);
    r.totalMs = ms(start);
    return r;
  };
  let sock: net.Socket | null = null;
  try {
    // Through the proxy, the proxy resolves the target: the name looked up here is the proxy's.
    const proxy = e.viaProxy ? (config.proxy?.enabled ? new URL(config.proxy.url) : null) : null;
    if (e.viaProxy && !proxy) return fail('config', 'the endpoint goes through the outbound proxy, but no proxy is enabled');
    const dialHost = proxy ? proxy.hostname : e.host;
    const dialPort = proxy ? Number(proxy.port) : e.port;
    let t0 = performance.now();
    let addresses: string[];
    try {
      addresses = await host.net.resolve(dialHost, stepMs);
    } catch (err) {
      return fail('dns', describeError('dns', dialHost, err, stepMs));
    }
    r.dns = { name: dialHost, addresses: addresses.slice(0, 16), ms: ms(t0) };
    // The first address, as a client would: the others are listed, not all dialled (each could cost a full timeout).
    const address = addresses[0];
    if (e.protocol === 'udp') {
      r.message = `${dialHost} resolves; UDP gets no answer to check, so only the name was checked`;
      r.totalMs = ms(start);
      return r;
    }
    if (e.protocol === 'dns') {
      t0 = performance.now();
      const id = crypto.randomInt(0, 65536);
      let ans: Buffer;
      try {
        ans = await host.net.udp(address, e.port, dnsQuery(id), stepMs);
      } catch (err) {
        return fail('query', describeError('query', `${address}:${e.port}`, err, stepMs));
      }
      const rcode = dnsAnswerCode(ans, id);
      if (rcode === null) return fail('query', `DNS server ${address}:${e.port}: the answer is not a DNS reply to the query`);
      r.query = { rcode, ms: ms(t0) };
      if (rcode === 'SERVFAIL' || rcode === 'REFUSED') {
        r.status = 'warning';
        r.problems.push(`DNS server ${address}:${e.port} answers ${rcode}: it does not resolve for this appliance`);
        r.message = r.problems[0];
      } else r.message = `DNS server answers (${rcode}) in ${r.query.ms} ms`;
      r.totalMs = ms(start);
      return r;
    }
    if (e.protocol === 'ntp') {
      t0 = performance.now();
      const req = Buffer.alloc(48);
      req[0] = 0x23; // LI 0, version 4, mode 3 (client)
      let ans: Buffer;
      try {
        ans = await host.net.udp(address, e.port, req, stepMs);
      } catch (err) {
        return fail('ntp', describeError('ntp', `${address}:${e.port}`, err, stepMs));
      }
      if (ans.length < 48 || (ans[0] & 7) !== 4) return fail('ntp', `NTP ${address}:${e.port}: the answer is not an NTP server reply`);
      r.ntp = { stratum: ans[1], ms: ms(t0) };
      if (ans[1] === 0 || ans[1] > 15) {
        r.status = 'warning';
        r.problems.push(`NTP: the server is not synchronized (stratum ${ans[1]})`);
        r.message = r.problems[0];
      } else r.message = `NTP answers (stratum ${ans[1]}) in ${r.ntp.ms} ms`;
      r.totalMs = ms(start);
      return r;
    }
    t0 = performance.now();
    try {
      sock = await host.net.connect(address, dialPort, stepMs);
    } catch (err) {
      return fail(proxy ? 'proxy' : 'tcp', describeError(proxy ? 'proxy' : 'tcp', `${address}:${dialPort}`, err, stepMs));
    }
    r.tcp = { address, port: dialPort, ms: ms(t0) };
    if (proxy) {
      const target = `${e.host}:${e.port}`;
      const auth = config.proxy?.username ? `Proxy-Authorization: Basic ${Buffer.from(`${config.proxy.username}:${config.proxy.password ?? ''}`).toString('base64')}\r\n` : '';
      let head: Buffer;
      try {
        head = await host.net.exchange(sock, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`, stepMs, (b) => b.includes('\r\n\r\n'));
      } catch (err) {
        return fail('proxy', describeError('proxy', `${proxy.hostname}:${dialPort}`, err, stepMs));
      }
      const status = parseStatusLine(head);
      r.proxy = { host: proxy.hostname, port: dialPort, status: status ?? 0 };
      if (status !== 200) return fail('proxy', `Proxy ${proxy.hostname}:${dialPort} refused the tunnel to ${target}: ${status === null ? 'not an HTTP answer' : head.toString('latin1').split('\r\n')[0]}`);
    }
    if (e.protocol === 'tcp') {
      r.message = proxy ? `reachable through the proxy` : `TCP connect in ${r.tcp.ms} ms`;
      r.totalMs = ms(start);
      return r;
    }
    t0 = performance.now();
    let t: tls.TLSSocket;
    try {
      t = await host.net.handshake(sock, e.host, stepMs);
    } catch (err) {
      return fail('tls', describeError('tls', e.host, err, stepMs));
    }
    sock = t;
    const { x509, peer } = presentedChain(t);
    if (!x509.length) return fail('tls', 'TLS: the server presented no certificate');
    const configured = e.caCertificate ? parsePemBundle(e.caCertificate) : [];
    const { trust, path } = chainTrust(x509, configured);
    const leaf = x509[0];
    const issuer = commonName(leaf.issuer);
    const sanMatch = tls.checkServerIdentity(e.host, peer) === undefined;
    r.tls = { ms: ms(t0), version: t.getProtocol(), chain: x509.map(view), issuer, sanMatch, trust, expectedIssuer: e.expectedIssuer ?? null };
    const intercepted = interceptionMessage(e.expectedIssuer, issuer, path);
    if (intercepted) {
      r.interception = true;
      r.status = 'failed';
      r.stage = 'tls';
      r.problems.push(intercepted);
    }
    const now = opts.now?.() ?? Date.now();
    if (now > Date.parse(leaf.validTo)) r.problems.push(`TLS: the certificate expired on ${new Date(leaf.validTo).toISOString().slice(0, 10)}`);
    if (now < Date.parse(leaf.validFrom)) r.problems.push(`TLS: the certificate is not valid before ${new Date(leaf.validFrom).toISOString().slice(0, 10)}`);
    if (!sanMatch) r.problems.push(`TLS: the certificate does not name ${e.host}`);
    if (!trust) r.problems.push(`TLS: the certificate (issued by ${issuer}) chains to neither the system trust store nor the configured CA`);
    if (r.problems.length && r.status === 'ok') r.status = 'warning';
    if (e.protocol === 'https') {
      t0 = performance.now();
      const hostHeader = e.port === 443 ? e.host : `${e.host}:${e.port}`;
      try {
        const head = await host.net.exchange(t, `GET ${e.path ?? '/'} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: Keel-connectivity-check\r\nAccept: */*\r\nConnection: close\r\n\r\n`, stepMs, (b) => b.includes('\r\n'), 4096);
        const status = parseStatusLine(head);
        if (status === null) r.problems.push('HTTP: the answer is not HTTP');
        else r.http = { status, ms: ms(t0) };
      } catch (err) {
        r.problems.push(describeError('http', e.host, err, stepMs));
      }
      if (!r.http && r.status === 'ok') r.status = 'warning';
    }
    r.message = r.problems[0] ?? (r.http ? `HTTP ${r.http.status} (reachable), certificate issued by ${issuer}` : `TLS ${r.tls.version ?? ''}, certificate issued by ${issuer}`.replace('  ', ' '));
    r.totalMs = ms(start);
    return r;
  } catch (err) {
    return fail('config', `the check could not run: ${(err as Error).message}`);
  } finally {
    sock?.destroy();
  }
}
