/**
 * Real network peers on loopback for the connectivity checks: a tiny DNS server (A records from a
 * table, NXDOMAIN for anything else), a TLS-intercepting HTTP CONNECT proxy (it answers the
 * tunnel with its own certificate and relays to the real server, like an SSL-inspecting proxy),
 * and a port whose SYNs the kernel drops. For tests only.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { spawn, type ChildProcess } from 'node:child_process';

/** Answers A queries for `names` (lower case → IPv4), NXDOMAIN for the rest; on 127.0.0.1, a free UDP port. */
export async function startDnsServer(names: Record<string, string>): Promise<{ port: number; queries: string[]; close: () => Promise<void> }> {
  const s = dgram.createSocket('udp4');
  const queries: string[] = [];
  s.on('message', (m, rinfo) => {
    if (m.length < 17) return;
    // Question: labels from offset 12, then QTYPE and QCLASS.
    let i = 12;
    const labels: string[] = [];
    while (i < m.length && m[i] !== 0 && labels.length < 64) {
      labels.push(m.subarray(i + 1, i + 1 + m[i]).toString('latin1'));
      i += m[i] + 1;
    }
    const qEnd = i + 5;
    const qtype = m.readUInt16BE(i + 1);
    const name = labels.join('.').toLowerCase();
    queries.push(name);
    const ip = names[name];
    const header = Buffer.alloc(12);
    m.copy(header, 0, 0, 2);
    // The root (`. NS`, the appliance's check of a DNS server) exists, with nothing to tell.
    const rcode = ip === undefined && name !== '' ? 3 : 0;
    const answer = ip !== undefined && qtype === 1;
    header.writeUInt16BE(0x8180 | rcode, 2); // response, recursion desired + available
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answer ? 1 : 0, 6);
    const question = m.subarray(12, qEnd);
    const parts = [header, question];
    if (answer) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      rr.writeUInt16BE(1, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
      parts.push(rr);
    }
    s.send(Buffer.concat(parts), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { port: s.address().port, queries, close: () => new Promise((r) => s.close(() => r())) };
}

/**
 * An HTTP CONNECT proxy that intercepts TLS: the client's tunnel is answered with `cert` (issued
 * by the proxy's own CA) and the cleartext relayed over a new TLS connection to the real server.
 * `upstream` maps the requested host:port to where the real server listens.
 */
export async function startInterceptingProxy(o: { certPem: string; keyPem: string; upstream: (hostPort: string) => { host: string; port: number } }): Promise<{ port: number; tunnels: string[]; close: () => Promise<void> }> {
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      c.off('data', onData);
      const m = /^CONNECT (\S+) HTTP\/1\.[01]\r\n/.exec(head.toString('latin1'));
      if (!m) return void c.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      tunnels.push(m[1]);
      c.write('HTTP/1.1 200 Connection established\r\n\r\n');
      const [host, port] = m[1].split(':');
      const inner = new tls.TLSSocket(c, { isServer: true, cert: o.certPem, key: o.keyPem });
      const to = o.upstream(m[1]);
      const up = tls.connect({ host: to.host, port: to.port, servername: host, rejectUnauthorized: false });
      sockets.add(up);
      up.on('close', () => sockets.delete(up));
      inner.on('error', () => up.destroy());
      up.on('error', () => inner.destroy());
      inner.pipe(up).pipe(inner);
      void port;
    };
    c.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    tunnels,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * A loopback port whose new connections the kernel drops: a listener (python3, which can listen
 * without ever accepting, unlike Node) with a backlog of 0, its accept queue filled by two
 * connections; Linux then drops further SYNs (ListenOverflows), so a connect gets no answer at
 * all, as behind a firewall DROP rule. Used because nft (and tc netem) are not on this machine.
 */
export async function startDroppingPort(): Promise<{ port: number; close: () => void }> {
  const py: ChildProcess = spawn('python3', ['-c', "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)"], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
    py.once('error', reject);
  });
  const fill: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fill.push(s);
    await new Promise((r) => setTimeout(r, 30));
  }
  return {
    port,
    close: () => {
      for (const s of fill) s.destroy();
      py.kill();
    },
  };
}

/** Answers NTP client requests as a stratum-`stratum` server (mode 4), on 127.0.0.1, a free UDP port. */
export async function startNtpServer(stratum = 2): Promise<{ port: number; close: () => Promise<void> }> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, rinfo) => {
    if (m.length < 48) return;
    const a = Buffer.alloc(48);
    a[0] = 0x24; // LI 0, version 4, mode 4 (server)
    a[1] = stratum;
    m.copy(a, 24, 40, 48); // originate timestamp = the client's transmit timestamp
    s.send(a, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { port: s.address().port, close: () => new Promise((r) => s.close(() => r())) };
}

/** A port on loopback where nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
