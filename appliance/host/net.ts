import dns from 'node:dns';
import net from 'node:net';
import tls from 'node:tls';
import dgram from 'node:dgram';

/** A failure of one network step, with the system's code (ENOTFOUND, ECONNREFUSED, ETIMEDOUT…) kept for the wording. */
export class NetError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => void, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      onTimeout();
      reject(new NetError('ETIMEDOUT', `no answer to ${what} within ${ms} ms`));
    }, ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}

/**
 * Network adapter for diagnostics: name resolution, TCP connect, TLS handshake and a UDP
 * exchange, each bounded in time. Nothing is sent but what the caller asks for; certificates are
 * read, never trusted here (the caller judges the chain), so a handshake with an unknown CA still
 * shows what was presented. `dnsServers` (tests: a resolver on loopback) replaces the system
 * resolver (getaddrinfo: /etc/hosts and resolv.conf, which the appliance renders from its configuration).
 */
export class Net {
  readonly dnsServers: string[] | null;
  constructor(opts: { dnsServers?: string[] } = {}) {
    this.dnsServers = opts.dnsServers?.length ? opts.dnsServers : null;
  }

  /** IPv4 (then IPv6) addresses of a name; an address literal is returned as is. */
  async resolve(name: string, timeoutMs: number): Promise<string[]> {
    if (net.isIP(name)) return [name];
    if (this.dnsServers) {
      const r = new dns.promises.Resolver({ timeout: timeoutMs, tries: 1 });
      r.setServers(this.dnsServers);
      const v4 = await withTimeout(r.resolve4(name).catch((e: NodeJS.ErrnoException) => (e.code === 'ENODATA' ? [] : Promise.reject(e))), timeoutMs, () => r.cancel(), `the name lookup of ${name}`);
      const v6 = v4.length ? [] : await withTimeout(r.resolve6(name).catch(() => []), timeoutMs, () => r.cancel(), `the name lookup of ${name}`);
      if (!v4.length && !v6.length) throw new NetError('ENODATA', `${name} has no address`);
      return [...v4, ...v6];
    }
    const all = await withTimeout(dns.promises.lookup(name, { all: true, order: 'ipv4first' }), timeoutMs, () => undefined, `the name lookup of ${name}`);
    return [...new Set(all.map((a) => a.address))];
  }

  /** The DNS servers a lookup asks when none is chosen: the adapter's, else the system resolver's (resolv.conf). */
  servers(): string[] {
    return this.dnsServers ?? dns.getServers();
  }

  /**
   * Records of one type for a name (PTR: for an address) from `server` or the default servers,
   * as text lines; no records of the type is an empty list, other failures a NetError-like code.
   */
  async query(name: string, type: 'A' | 'AAAA' | 'PTR' | 'SRV' | 'MX' | 'TXT', server: string | null, timeoutMs: number): Promise<{ server: string; records: string[] }> {
    const r = new dns.promises.Resolver({ timeout: timeoutMs, tries: 1 });
    const servers = server ? [server] : this.servers();
    r.setServers(servers);
    const ask = async (): Promise<string[]> => {
      switch (type) {
        case 'A':
          return r.resolve4(name);
        case 'AAAA':
          return r.resolve6(name);
        case 'PTR':
          return r.reverse(name);
        case 'MX':
          return (await r.resolveMx(name)).sort((a, b) => a.priority - b.priority).map((m) => `${m.priority} ${m.exchange}`);
        case 'SRV':
          return (await r.resolveSrv(name)).map((s) => `${s.priority} ${s.weight} ${s.port} ${s.name}`);
        case 'TXT':
          return (await r.resolveTxt(name)).map((t) => t.join(''));
      }
    };
    const records = await withTimeout(
      ask().catch((e: NodeJS.ErrnoException) => (e.code === 'ENODATA' ? [] : Promise.reject(new NetError(e.code ?? 'ERROR', e.message)))),
      timeoutMs + 500,
      () => r.cancel(),
      `the ${type} lookup of ${name}`,
    );
    return { server: servers.join(', '), records };
  }

  /** A TCP connection to an address; refused, unreachable or silent within the time is an error. */
  connect(address: string, port: number, timeoutMs: number): Promise<net.Socket> {
    const s = net.connect({ host: address, port });
    const p = new Promise<net.Socket>((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('error', (e: NodeJS.ErrnoException) => reject(new NetError(e.code ?? 'ERROR', e.message)));
    });
    return withTimeout(p, timeoutMs, () => s.destroy(), `the TCP connection to ${address}:${port}`);
  }

  /** A TLS handshake over a connected socket (SNI: `servername` unless an address); the certificate is not judged here. */
  handshake(socket: net.Socket, servername: string, timeoutMs: number): Promise<tls.TLSSocket> {
    const t = tls.connect({ socket, servername: net.isIP(servername) ? undefined : servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const p = new Promise<tls.TLSSocket>((resolve, reject) => {
      t.once('secureConnect', () => resolve(t));
      t.once('error', (e: NodeJS.ErrnoException) => reject(new NetError(e.code ?? 'ERROR', e.message)));
      socket.once('close', () => reject(new NetError('ECONNRESET', 'the connection closed during the TLS handshake')));
    });
    return withTimeout(p, timeoutMs, () => t.destroy(), 'the TLS handshake');
  }

  /**
   * Writes `request` and reads until `done(buffer)` says the answer is complete, at most
   * `maxBytes`; the socket is left open (a CONNECT tunnel goes on over it).
   */
  exchange(socket: net.Socket, request: string, timeoutMs: number, done: (b: Buffer) => boolean, maxBytes = 16384): Promise<Buffer> {
    let buf = Buffer.alloc(0);
    let onData: (d: Buffer) => void = () => undefined;
    const p = new Promise<Buffer>((resolve, reject) => {
      onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (done(buf) || buf.length >= maxBytes) {
          socket.off('data', onData);
          socket.pause();
          resolve(buf.subarray(0, maxBytes));
        }
      };
      socket.on('data', onData);
      socket.once('error', (e: NodeJS.ErrnoException) => reject(new NetError(e.code ?? 'ERROR', e.message)));
      socket.once('end', () => (buf.length ? resolve(buf) : reject(new NetError('ECONNRESET', 'the connection closed without an answer'))));
      socket.write(request);
    });
    return withTimeout(p, timeoutMs, () => socket.off('data', onData), 'the request');
  }

  /** One UDP datagram out and the first answer back (NTP). */
  udp(address: string, port: number, payload: Buffer, timeoutMs: number): Promise<Buffer> {
    const s = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    const p = new Promise<Buffer>((resolve, reject) => {
      s.once('message', (m) => resolve(m));
      s.once('error', (e: NodeJS.ErrnoException) => reject(new NetError(e.code ?? 'ERROR', e.message)));
      s.send(payload, port, address);
    });
    return withTimeout(p, timeoutMs, () => undefined, `the UDP request to ${address}:${port}`).finally(() => s.close());
  }
}
