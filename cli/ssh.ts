/**
 * The SSH CLI service (ssh2), run inside `keel serve`. There is no sshd and no system shell on
 * the appliance: a session runs the appliance CLI (cli/shell.ts) and nothing else.
 *
 * - Follows the running configuration by itself: `ip ssh server`, `no ip ssh server` and a port
 *   change take effect within a couple of seconds without restarting System Manager. Sessions
 *   already open when SSH is turned off or moved stay open until they end.
 * - Password sign-in against the local users through the shared sign-in (lockout shared with
 *   System Manager, audited). At most 3 tries per connection, 20 s from connect to signed in.
 * - Connections that have not signed in are bounded per address and in all, so idle or slow
 *   connections from one address never keep an administrator from another out.
 * - Modern algorithms only (curve25519, AES-GCM / ChaCha20-Poly1305 / AES-CTR with
 *   encrypt-then-MAC SHA-2, Ed25519 and RSA-SHA2 host keys, strict key exchange).
 * - Idle timeout, a limit on open sessions, no forwarding, no subsystems (sftp), no agent, no X11.
 */
import ssh2 from 'ssh2';
import net from 'node:net';
import { Writable } from 'node:stream';
import type { Host } from '../appliance/host/index.ts';
import type { Store } from '../appliance/config/store.ts';
import type { Config } from '../appliance/config/schema.ts';
import { signIn } from '../appliance/users/signin.ts';
import { allowed } from '../appliance/acl/schema.ts';
import { rollbackNotice } from '../appliance/update/lifecycle.ts';
import { readState } from '../appliance/update/state.ts';
import { ensureHostKeys } from '../appliance/ssh/keys.ts';
import { SSH_DEFAULTS } from '../appliance/ssh/schema.ts';
import { VERSION } from '../appliance/version.ts';
import { log } from '../appliance/log.ts';
import { runShell } from './shell.ts';
import { Session, type SessionUser } from './session.ts';

/**
 * ssh2 offers SHA-1 `ssh-rsa` for an RSA host key whenever the list lacks it (it treats a missing
 * entry as "lowest priority"); an index of NaN is the one answer its selection skips. ssh-audit in
 * test/system/ssh.test.ts fails if a new ssh2 version offers `ssh-rsa` again.
 */
class HostKeyAlgorithms extends Array<string> {
  override indexOf(s: string, from?: number): number {
    return s === 'ssh-rsa' ? Number.NaN : super.indexOf(s, from);
  }
}

/** What the service offers; nothing older or weaker is negotiable. */
export const SSH_ALGORITHMS = {
  kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org'],
  serverHostKey: HostKeyAlgorithms.from(['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256']),
  cipher: ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-gcm@openssh.com', 'aes256-ctr', 'aes192-ctr', 'aes128-ctr'],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com'],
  compress: ['none'],
};

const MAX_TRIES = 3;
/** From the TCP connect to signed in (the banner exchange included): OpenSSH's LoginGraceTime is 120 s; a person needs far less. */
const LOGIN_GRACE_MS = 20_000;
/** Connections not signed in yet, from one address and in all; signed-in sessions have their own limit. */
const PREAUTH_PER_ADDRESS = 8;
const PREAUTH_TOTAL = 48;
/** Every connection, signed in or not (a bound on sockets and memory). */
const MAX_CONNECTIONS = 128;
const FAIL_DELAY_MS = 1000;

export interface SshServiceOptions {
  host: Host;
  store: Store;
  /** Listen here instead of the configured port (`keel serve --ssh-port N`; 0 = any free port). */
  port?: number;
  /** Default: 0.0.0.0 on the appliance, 127.0.0.1 in a sandbox. */
  listen?: string;
  /** How often the running configuration is re-read (ms). */
  pollMs?: number;
  /** Pause after a wrong password (ms). */
  failDelayMs?: number;
}

interface Live {
  id: number;
  user: string;
  source: string;
  since: Date;
  close: (why: string) => void;
  /** A local user (an LDAP user's password is the directory's business). */
  local: boolean;
  /** When the session last proved its password: opened, or changed its own (Session.renewedAt). */
  renewedAt: () => number;
}

/** Desired listener state from the configuration. */
function wanted(config: Config | undefined, override: number | undefined): { enabled: boolean; port: number } {
  if (!config) return { enabled: false, port: 0 };
  return { enabled: config.ssh.enabled, port: override ?? config.ssh.port };
}

/** The SSH CLI service; `start()` it once, `stop()` at shutdown. */
export class SshService {
  readonly o: SshServiceOptions;
  private server: net.Server | null = null;
  /** Connections not signed in yet, by address. */
  private readonly preauth = new Map<string, number>();
  private preauthTotal = 0;
  private connections = 0;
  /** What to call when the connection from ip:port signs in (its grace timer and pre-auth count end). */
  private readonly pending = new Map<string, () => void>();
  private listening: { port: number } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reconciling: Promise<void> = Promise.resolve();
  private readonly sessions = new Map<number, Live>();
  private nextId = 1;
  private readonly cfg: ssh2.ServerConfig;
  /** The bound port while listening (tests pass port 0). */
  port: number | null = null;

  constructor(o: SshServiceOptions) {
    this.o = o;
    const keys = ensureHostKeys(o.host);
    const store = o.store;
    this.cfg = {
      hostKeys: keys.map((k) => k.privateKey),
      ident: `Keel_${VERSION}`,
      algorithms: SSH_ALGORITHMS as unknown as ssh2.Algorithms,
    };
    // ssh2 reads `banner` when each connection starts: a getter keeps it current. A software
    // update that was rolled back is said here too, until it is acknowledged.
    Object.defineProperty(this.cfg, 'banner', {
      enumerable: true,
      get: () => {
        const notice = rollbackNotice(readState(o.host).lastResult);
        return [store.running()?.config.ssh.banner, notice].filter(Boolean).join('\r\n\r\n') || undefined;
      },
    });
  }

  /** Open sessions, oldest first (for `show ssh` and System Manager). */
  list(): { id: number; user: string; source: string; since: Date }[] {
    return [...this.sessions.values()].map(({ id, user, source, since }) => ({ id, user, source, since }));
  }

  /** Starts following the configuration; resolves once the first reconcile is done. */
  async start(): Promise<void> {
    await this.reconcile();
    this.timer = setInterval(() => void this.reconcile(), this.o.pollMs ?? 2000);
    this.timer.unref();
  }

  /** Stops listening and closes every session. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.reconciling;
    for (const s of this.sessions.values()) s.close('the SSH service is stopping');
    await this.close();
  }

  /** Brings the listener in line with the running configuration (serialised). */
  reconcile(): Promise<void> {
    this.reconciling = this.reconciling.then(() => this.reconcileNow()).catch((e: unknown) => {
      log.error('SSH service could not follow the configuration', { error: (e as Error).message });
    });
    return this.reconciling;
  }

  /**
   * Ends the sessions of a local user whose password changed after the session signed in (the
   * session that changed it excepted), or who was removed, as System Manager ends its sessions.
   */
  private endStale(): void {
    const users = this.o.store.running()?.config.users.local;
    if (!users) return;
    for (const s of this.sessions.values()) {
      if (!s.local) continue;
      const u = users.find((x) => x.name === s.user);
      const why = !u ? 'the user was removed' : Date.parse(u.passwordChangedAt) > s.renewedAt() ? 'the password was changed' : null;
      if (!why) continue;
      log.info('SSH session ended', { user: s.user, source: s.source, reason: why });
      this.sessions.delete(s.id);
      s.close(why);
    }
  }

  private async reconcileNow(): Promise<void> {
    this.endStale();
    const want = wanted(this.o.store.running()?.config, this.o.port);
    const have = this.listening;
    if (want.enabled && have && have.port === want.port) return;
    if (!want.enabled && !have) return;
    if (have) {
      await this.close();
      log.info('SSH service stopped listening', { port: this.port, reason: want.enabled ? 'port changed' : 'SSH turned off' });
    }
    if (want.enabled) await this.open(want.port);
  }

  private async close(): Promise<void> {
    const srv = this.server;
    this.server = null;
    this.listening = null;
    if (srv) await new Promise<void>((res) => srv.close(() => res()));
  }

  private async open(port: number): Promise<void> {
    const listen = this.o.listen ?? (this.o.host.sandbox ? '127.0.0.1' : '0.0.0.0');
    const ssh = new ssh2.Server(this.cfg, (client, info) => this.onClient(client, info));
    // Our own listener admits each TCP connection (bounds per address, the grace timer from the
    // first byte on) before ssh2 sees it: ssh2 would wait for a client's banner forever.
    const srv = net.createServer((socket) => this.admit(socket, ssh));
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, listen, () => {
        srv.off('error', reject);
        resolve();
      });
    }).catch((e: NodeJS.ErrnoException) => {
      log.error('SSH service cannot listen', { listen, port, error: e.code ?? e.message });
      throw e;
    });
    srv.on('error', (e: Error) => log.error('SSH service error', { error: e.message }));
    this.server = srv;
    this.listening = { port };
    this.port = (srv.address() as { port: number }).port;
    log.info('SSH service listening', { listen, port: this.port });
  }

  /** Admits a TCP connection, or drops it when its address or everyone has too many not signed in. */
  private admit(socket: net.Socket, ssh: ssh2.Server): void {
    const ip = socket.remoteAddress ?? '?';
    const mine = this.preauth.get(ip) ?? 0;
    if (mine >= PREAUTH_PER_ADDRESS || this.preauthTotal >= PREAUTH_TOTAL || this.connections >= MAX_CONNECTIONS) {
      log.warn('SSH connection dropped: too many not signed in', { source: `ssh:${ip}`, fromAddress: mine, total: this.preauthTotal });
      socket.destroy();
      return;
    }
    this.connections++;
    this.preauth.set(ip, mine + 1);
    this.preauthTotal++;
    const key = `${ip}:${socket.remotePort}`;
    let signedIn = false;
    const release = () => {
      if (signedIn) return;
      signedIn = true;
      clearTimeout(grace);
      this.pending.delete(key);
      const n = (this.preauth.get(ip) ?? 1) - 1;
      if (n > 0) this.preauth.set(ip, n);
      else this.preauth.delete(ip);
      this.preauthTotal--;
    };
    const grace = setTimeout(() => {
      log.warn('SSH sign-in timed out', { source: `ssh:${ip}` });
      socket.destroy();
    }, LOGIN_GRACE_MS);
    grace.unref();
    this.pending.set(key, release);
    socket.once('close', () => {
      release();
      this.connections--;
    });
    ssh.injectSocket(socket);
  }

  private onClient(client: ssh2.Connection, info: ssh2.ClientInfo): void {
    const source = `ssh:${info.ip}`;
    const store = this.o.store;
    // The Portal ACL is enforced by nftables too; this keeps it true in a sandbox and if the
    // firewall is ever out of step.
    const config = store.running()?.config;
    if (config && !allowed(config, 'ssh', info.ip)) {
      log.warn('SSH connection refused by the Portal ACL', { source });
      client.end();
      return;
    }
    let user: SessionUser | null = null;
    let tries = 0;
    const signedIn = this.pending.get(`${info.ip}:${info.port}`);
    client.on('error', (e: Error) => log.warn('SSH connection error', { source, error: e.message }));

    client.on('authentication', (ctx) => {
      if (ctx.method !== 'password') return ctx.reject(['password']);
      void (async () => {
        const r = await signIn(store, { username: ctx.username, password: ctx.password, source, surface: 'ssh' });
        if (r.ok) {
          user = r.user;
          signedIn?.();
          return ctx.accept();
        }
        tries++;
        await new Promise((res) => setTimeout(res, this.o.failDelayMs ?? FAIL_DELAY_MS));
        if (tries >= MAX_TRIES) {
          ctx.reject([]);
          client.end();
        } else ctx.reject(['password']);
      })().catch((e: unknown) => {
        log.error('SSH sign-in failed (bug)', { source, error: (e as Error).stack ?? String(e) });
        ctx.reject([]);
      });
    });

    client.on('ready', () => {
      const u = user!;
      client.on('session', (accept) => this.onSession(accept(), client, u, source));
      // Forwarding of any kind is refused: the appliance is not a jump host.
      client.on('tcpip', (_a, reject) => reject());
      client.on('openssh.streamlocal', (_a, reject) => reject());
      client.on('request', (_a, reject) => reject?.());
    });
  }

  private onSession(session: ssh2.Session, client: ssh2.Connection, user: SessionUser, source: string): void {
    let pty: { cols: number; rows: number } | null = null;
    let out: (Writable & { columns?: number; rows?: number; isTTY?: boolean }) | null = null;
    session.on('pty', (accept, _reject, info) => {
      pty = { cols: info.cols || 80, rows: info.rows || 24 };
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      if (pty) {
        pty.cols = info.cols || pty.cols;
        pty.rows = info.rows || pty.rows;
      }
      if (out) {
        out.columns = pty?.cols;
        out.rows = pty?.rows;
        out.emit('resize');
      }
      accept?.();
    });
    session.on('env', (_a, reject) => reject?.());
    session.on('x11', (_a, reject) => reject?.());
    session.on('auth-agent', (_a, reject) => reject?.());
    session.on('subsystem', (_a, reject) => {
      log.warn('SSH subsystem refused', { user: user.name, source });
      reject?.();
    });
    session.on('signal', (accept) => accept?.());

    const limit = this.o.store.running()?.config.ssh.maxSessions ?? SSH_DEFAULTS.maxSessions;
    const admit = (stream: ssh2.ServerChannel): Live | null => {
      if (this.sessions.size >= limit) {
        stream.stderr.write(`% Too many SSH sessions: at most ${limit} may be open at once. Try again later.\r\n`);
        this.o.store.audit({ who: user.name, source }, 'ssh: open session', `refused: ${limit} sessions already open`);
        stream.exit(1);
        stream.end();
        return null;
      }
      const opened = Date.now();
      const live: Live = { id: this.nextId++, user: user.name, source, since: new Date(opened), close: () => stream.end(), renewedAt: () => opened, local: this.o.store.running()?.config.users.local.some((u) => u.name === user.name) ?? false };
      this.sessions.set(live.id, live);
      // A channel does not always report its own close when the whole connection goes away.
      const release = () => this.sessions.delete(live.id);
      stream.once('close', release);
      client.once('close', release);
      return live;
    };

    session.on('shell', (accept) => {
      const stream = accept();
      const live = admit(stream);
      if (!live) return;
      const terminal = pty !== null;
      // A terminal in raw mode needs CR LF; the CLI writes LF.
      const w = new Writable({
        write(chunk: Buffer | string, _enc, cb) {
          const text = String(chunk);
          if (stream.writable) stream.write(terminal ? text.replace(/\r?\n/g, '\r\n') : text);
          cb();
        },
      }) as Writable & { columns?: number; rows?: number; isTTY?: boolean };
      w.columns = pty?.cols ?? 80;
      w.rows = pty?.rows ?? 24;
      w.isTTY = terminal;
      out = w;
      const idleMs = (this.o.store.running()?.config.ssh.idleTimeoutSeconds ?? SSH_DEFAULTS.idleTimeoutSeconds) * 1000;
      let reason = 'ended';
      let finished = false;
      const finish = (code: number) => {
        if (finished) return;
        finished = true;
        stream.exit(code);
        stream.end();
      };
      const idle = setTimeout(() => {
        reason = 'idle timeout';
        w.write(`\n% Session closed: no input for ${fmtDuration(idleMs / 1000)}.\n`);
        finish(0);
      }, idleMs);
      stream.on('data', () => idle.refresh());
      live.close = (why: string) => {
        reason = why;
        w.write(`\n% Session closed: ${why}.\n`);
        finish(0);
      };
      log.info('SSH session opened', { user: user.name, source, terminal });
      runShell({ input: stream, output: w, host: this.o.host, store: this.o.store, user, source, terminal, onSession: (cli) => (live.renewedAt = () => cli.renewedAt) })
        .catch((e: unknown) => log.error('SSH session failed (bug)', { user: user.name, source, error: (e as Error).stack ?? String(e) }))
        .finally(() => {
          clearTimeout(idle);
          log.info('SSH session closed', { user: user.name, source, reason });
          this.o.store.audit({ who: user.name, source }, 'ssh: session closed', reason);
          // One shell per connection: when it ends, so does the connection (as with sshd), once
          // the client has the exit status and has closed its side of the channel.
          const bye = setTimeout(() => client.end(), 2000);
          bye.unref();
          stream.once('close', () => {
            clearTimeout(bye);
            client.end();
          });
          finish(0);
        });
    });

    // `ssh box show version`: one CLI command in user EXEC, never a system shell.
    session.on('exec', (accept, _reject, info) => {
      const stream = accept();
      const live = admit(stream);
      if (!live) return;
      const s = new Session({
        host: this.o.host,
        store: this.o.store,
        user,
        source,
        io: { write: (t) => void stream.write(t), ask: () => Promise.reject(new Error('a command run over ssh cannot answer questions; open an interactive session')) },
      });
      s.execute(info.command, 0)
        .then(() => stream.exit(s.lastFailed ? 1 : 0))
        .catch((e: unknown) => {
          log.error('SSH command failed (bug)', { user: user.name, source, error: (e as Error).stack ?? String(e) });
          stream.exit(70);
        })
        .finally(() => stream.end());
    });
  }
}

function fmtDuration(sec: number): string {
  if (sec % 60 === 0) return `${sec / 60} minute${sec === 60 ? '' : 's'}`;
  return `${sec} seconds`;
}
