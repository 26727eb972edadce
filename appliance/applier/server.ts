/**
 * The applier's socket: accepts a connection only from a process whose uid (SO_PEERCRED, as the
 * kernel recorded it at connect) is allowed, runs one named operation per connection, and runs
 * operations one at a time so that two changes never interleave in the OS (diagnostics, which change
 * nothing, run beside them, a few at once).
 */
import net from 'node:net';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { log } from '../log.ts';
import { LineReader, OPS, toWire, type Answer, type Request } from './protocol.ts';
import type { Applier } from './applier.ts';
import { OperationalError } from '../errors.ts';

const peercred = createRequire(import.meta.url)('keel-peercred') as (fd: number) => { uid: number; gid: number; pid: number };

/** Connections at once; more wait in the kernel's backlog. */
const MAX_CONNECTIONS = 32;
/** A client must send its request this soon after connecting. */
const REQUEST_MS = 10_000;
/** ping/traceroute runs at once (they run beside the queue of changes). */
const MAX_DIAGNOSE = 4;

/** The peer of a connected UNIX socket, or null if the kernel cannot say. */
export function peerOf(sock: net.Socket): { uid: number; gid: number; pid: number } | null {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return null;
  try {
    return peercred(fd);
  } catch {
    return null;
  }
}

export interface ApplierServerOptions {
  /** Socket path (the directory must exist). */
  path: string;
  /** uids allowed to connect: root, the service user, this process's own. */
  allowUids: ReadonlySet<number>;
  /** Group that may connect through the socket file's mode (0660); null: the owner only (0600). */
  gid?: number | null;
}

export class ApplierServer {
  private readonly server: net.Server;
  private queue: Promise<unknown> = Promise.resolve();
  private diagnosing = 0;
  /** Connections refused for their peer (tests read this). */
  refused = 0;
  private readonly applier: Applier;
  private readonly opts: ApplierServerOptions;
  constructor(applier: Applier, opts: ApplierServerOptions) {
    this.applier = applier;
    this.opts = opts;
    this.server = net.createServer((sock) => this.accept(sock));
    this.server.maxConnections = MAX_CONNECTIONS;
  }

  async listen(): Promise<void> {
    fs.rmSync(this.opts.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.path, () => (this.server.off('error', reject), resolve()));
    });
    if (this.opts.gid !== undefined && this.opts.gid !== null) fs.chownSync(this.opts.path, 0, this.opts.gid);
    fs.chmodSync(this.opts.path, this.opts.gid !== undefined && this.opts.gid !== null ? 0o660 : 0o600);
    log.info('applier listening', { socket: this.opts.path, uids: [...this.opts.allowUids] });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(sock: net.Socket): void {
    const peer = peerOf(sock);
    if (!peer || !this.opts.allowUids.has(peer.uid)) {
      this.refused++;
      log.warn('applier: connection refused', { uid: peer?.uid ?? null, pid: peer?.pid ?? null });
      sock.destroy();
      return;
    }
    const timer = setTimeout(() => sock.destroy(), REQUEST_MS);
    let taken = false;
    const send = (a: Answer) => {
      if (!sock.destroyed) sock.write(`${JSON.stringify(a)}\n`);
    };
    const reader = new LineReader((line) => {
      if (taken) return;
      taken = true;
      clearTimeout(timer);
      let req: Request;
      try {
        req = JSON.parse(line) as Request;
      } catch {
        send({ error: { kind: 'bug', message: 'the request is not JSON' } });
        sock.end();
        return;
      }
      const run = () => this.run(req, peer, (done, total) => send({ progress: [done, total] }));
      let p: Promise<unknown>;
      if (req && (req.op === 'capture' || req.op === 'captures')) {
        // A capture changes no configuration and takes up to 300 s: outside the change queue; the
        // applier itself refuses a second one at once.
        p = run();
      } else if (req && req.op === 'diagnose') {
        // ping and traceroute change nothing and take up to 90 s: they do not wait for (or hold up)
        // changes, and only a few run at once.
        if (this.diagnosing >= MAX_DIAGNOSE) p = Promise.reject(new OperationalError(`${MAX_DIAGNOSE} diagnostics are running already; try again when one has finished`, 'diagnose', null, ''));
        else {
          this.diagnosing++;
          p = run().finally(() => this.diagnosing--);
        }
      } else {
        p = this.queue.then(run, run);
        this.queue = p.catch(() => undefined);
      }
      p.then(
        (result) => send({ result: result ?? null }),
        (e) => send({ error: toWire(e) }),
      ).finally(() => sock.end());
    });
    sock.on('data', (d) => {
      if (!reader.push(d)) sock.destroy();
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => clearTimeout(timer));
  }

  private async run(req: Request, peer: { uid: number; pid: number }, progress: (d: number, t: number) => void): Promise<unknown> {
    if (!req || typeof req !== 'object' || !OPS.includes(req.op) || !Array.isArray(req.args)) throw new Error('unknown operation');
    const a = req.args;
    const started = Date.now();
    try {
      switch (req.op) {
        case 'apply':
          return await this.applier.apply(a[0] as never, (a[1] ?? null) as never);
        case 'plan':
          return await this.applier.plan(a[0] as never);
        case 'reconcile':
          return await this.applier.reconcile(a[0] as never);
        case 'reboot':
          return await this.applier.reboot();
        case 'service':
          return await this.applier.service(a[0] as never, a[1] as never);
        case 'stageUpdate':
          return await this.applier.stageUpdate(actorArg(a[0]), progress);
        case 'unstageUpdate':
          return await this.applier.unstageUpdate(actorArg(a[0]));
        case 'installGuestTools':
          return await this.applier.installGuestTools();
        case 'locate':
          return await this.applier.locate(a[0] === true);
        case 'timeStatus':
          return await this.applier.timeStatus();
        case 'bootTimes':
          return await this.applier.bootTimes();
        case 'diagnose':
          return await this.applier.diagnose(a[0] as never, a[1] as never, (a[2] ?? {}) as never);
        case 'capture':
          return await this.applier.capture((a[0] ?? {}) as never);
        case 'captures':
          return await this.applier.captures();
      }
    } finally {
      log.info('applier: operation done', { op: req.op, uid: peer.uid, pid: peer.pid, ms: Date.now() - started });
    }
  }
}

/** The operator an update step is audited as: two short strings, nothing else. */
function actorArg(v: unknown): { who: string; source: string } {
  const o = (v ?? {}) as { who?: unknown; source?: unknown };
  const str = (x: unknown) => (typeof x === 'string' ? x.slice(0, 128) : '?');
  return { who: str(o.who), source: str(o.source) };
}
