/**
 * The CLI over any pair of streams: a local terminal, a serial console, or (later) an SSH
 * channel. On a TTY: readline editing, history, TAB completion from the command tree, `?`
 * answered as soon as it is typed, Ctrl-Z ends configuration mode, secrets never echoed. On a
 * pipe: one command per line, each echoed after its prompt so a transcript reads like a session.
 */
import readline from 'node:readline';
import { Transform, Writable, type Readable } from 'node:stream';
import type { Host } from '../appliance/host/index.ts';
import type { Store } from '../appliance/config/store.ts';
import { signIn } from '../appliance/users/signin.ts';
import { Session, type SessionIO, type SessionUser } from './session.ts';
import { MAX_LINE } from './parse.ts';

type In = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
type Out = Writable & { isTTY?: boolean; columns?: number; rows?: number };

export interface ShellOptions {
  input: In;
  output: Out;
  host: Host;
  store: Store;
  /** The signed-in user; when absent the shell asks for user name and password first. */
  user?: SessionUser;
  /** Recorded with every change: `cli:tty1`, `ssh:192.0.2.5`… */
  source: string;
  /** Line editing and immediate `?`; default: both streams are TTYs. */
  terminal?: boolean;
  /** Start in privileged EXEC (a trusted caller already checked the enable secret). */
  privileged?: boolean;
  /** The user name is known (`keel cli --user NAME`, an SSH user): only the password is asked. */
  loginName?: string;
  /** Sign-in attempts before the shell gives up. */
  loginAttempts?: number;
  /** Pause after a failed sign-in (default 2 s on a terminal, none on a pipe). */
  failDelayMs?: number;
  /** Told of the CLI session once it exists (the SSH server watches its user's password changes). */
  onSession?: (s: Session) => void;
}

class EndOfInput extends Error {}

/** Lines typed ahead and not yet run; more are dropped (a paste of a whole file is not a session). */
const MAX_QUEUED_LINES = 1000;

/**
 * The input with every line cut at `max` characters as the bytes arrive: whatever is sent,
 * no line longer than that is ever held in memory (the parser then refuses the cut line as too long).
 */
export function capLines(input: In, max: number): In {
  let run = 0;
  let dropping = false;
  const t = new Transform({
    transform(chunk: Buffer | string, _enc, cb) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const parts: Buffer[] = [];
      let from = 0;
      for (let i = 0; i < b.length; i++) {
        if (b[i] === 0x0a || b[i] === 0x0d) {
          if (dropping) from = i;
          dropping = false;
          run = 0;
        } else if (++run > max + 1 && !dropping) {
          // One character past the limit stays, so the line is seen as too long; the rest goes.
          parts.push(b.subarray(from, i));
          dropping = true;
        }
      }
      if (!dropping) parts.push(b.subarray(from));
      cb(null, parts.length === 1 ? parts[0] : Buffer.concat(parts));
    },
  }) as Transform & In;
  t.isTTY = input.isTTY;
  if (input.setRawMode) t.setRawMode = (raw: boolean) => input.setRawMode!(raw);
  input.pipe(t);
  return t;
}

/**
 * Runs one CLI session over `input`/`output` until exit, end of input or reload. Returns 0 after
 * a normal end, 1 when sign-in failed.
 */
export async function runShell(o: ShellOptions): Promise<number> {
  const terminal = o.terminal ?? Boolean(o.input.isTTY && o.output.isTTY);
  let muted = false;
  // readline writes through this, so a secret's echo can be suppressed.
  const out = new Writable({
    write(chunk, _enc, cb) {
      if (!muted) o.output.write(chunk);
      cb();
    },
  }) as Out;
  Object.defineProperty(out, 'columns', { get: () => o.output.columns ?? 80 });
  out.isTTY = terminal;
  const onResize = () => out.emit('resize');
  o.output.on?.('resize', onResize);

  let session: Session | null = null;
  const rl = readline.createInterface({
    input: capLines(o.input, MAX_LINE),
    output: out,
    terminal,
    historySize: 100,
    tabSize: 8,
    completer: (line: string): [string[], string] => {
      if (!session || asking) return [[], line];
      const { words, partial } = session.complete(line);
      return [words.length === 1 ? [`${words[0]} `] : words, partial];
    },
  });
  const hist = (rl as unknown as { history: string[] }).history;

  const queue: string[] = [];
  let ended = false;
  let wake: (() => void) | null = null;
  let asking = false;
  let dropped = false;
  rl.on('line', (l) => {
    if (queue.length >= MAX_QUEUED_LINES) {
      if (!dropped) write(`% Too much typed ahead: lines after the first ${MAX_QUEUED_LINES} were dropped\n`);
      dropped = true;
      return;
    }
    dropped = false;
    queue.push(l);
    wake?.();
  });
  rl.on('close', () => {
    ended = true;
    wake?.();
    pagerKey?.('\x04');
  });
  const next = async (): Promise<string> => {
    for (;;) {
      if (queue.length) return queue.shift()!;
      if (ended) throw new EndOfInput();
      await new Promise<void>((r) => (wake = r));
      wake = null;
    }
  };

  const write = (t: string): void => {
    o.output.write(terminal ? t.replace(/\r?\n/g, '\r\n') : t);
  };

  // Typed-ahead input may outlive the stream (`printf '...' | ssh -tt box`): readline is closed
  // then, but the queued lines still run, so prompts are written directly.
  const showPrompt = (prompt: string): void => {
    if (terminal && !ended) {
      rl.setPrompt(prompt);
      rl.prompt();
    } else write(prompt);
  };

  const ask = async (prompt: string, secret = false): Promise<string> => {
    asking = true;
    try {
      if (terminal && !ended) {
        showPrompt(prompt);
        muted = secret;
      } else write(prompt);
      const line = await next();
      if (terminal && hist[0] === line) hist.shift();
      muted = false;
      if (terminal && secret) write('\n');
      if (!terminal) write(secret ? '\n' : `${line}\n`);
      return line;
    } finally {
      muted = false;
      asking = false;
    }
  };
  // The pager: while a screen waits, the next key goes to it instead of the line editor.
  let pagerKey: ((key: string) => void) | null = null;
  const page = async (text: string, lines: number): Promise<void> => {
    const all = text.split('\n');
    if (all[all.length - 1] === '') all.pop();
    let at = 0;
    let take = lines - 1;
    while (at < all.length) {
      // Lines typed ahead (a script fed to `ssh -tt`) or input that has ended: no one reads the
      // screen, so the rest goes out at once instead of waiting for a key that never comes.
      if (queue.length || ended) take = all.length - at;
      write(`${all.slice(at, at + take).join('\n')}\n`);
      at += take;
      if (at >= all.length) return;
      o.output.write(' --More-- ');
      const key = await new Promise<string>((resolve) => (pagerKey = resolve));
      pagerKey = null;
      // IOS erases the prompt with backspaces, so the text continues where it stood.
      o.output.write('\b'.repeat(10) + ' '.repeat(10) + '\b'.repeat(10));
      if (key === 'q' || key === 'Q' || key === '\x03') return;
      take = key === '\r' || key === '\n' ? 1 : lines - 1;
    }
  };
  const io: SessionIO = { write, ask, ...(terminal ? { page, rows: () => o.output.rows } : {}) };

  // On a TTY: `?` shows help at once (the line stays), Ctrl-Z leaves configuration mode.
  // readline dispatches every key through `_ttyWrite` (its documented-by-use extension point);
  // without it, `?` still works at the end of a line followed by Enter.
  type KeyFn = (s: string | undefined, key: { name?: string; ctrl?: boolean; sequence?: string } | undefined) => void;
  const r = rl as unknown as { _ttyWrite?: KeyFn; line: string };
  if (terminal && typeof r._ttyWrite === 'function') {
    const orig = r._ttyWrite.bind(rl);
    const clearLine = () => {
      orig(undefined, { ctrl: true, name: 'e' });
      orig(undefined, { ctrl: true, name: 'u' });
    };
    r._ttyWrite = (s, key) => {
      if (pagerKey) {
        pagerKey(key?.ctrl && key.name === 'c' ? '\x03' : key?.name === 'return' || key?.name === 'enter' ? '\r' : (s ?? ' '));
        return;
      }
      if (session && !asking && s === '?' && !key?.ctrl) {
        const line = r.line;
        write('?\n' + session.help(line));
        rl.prompt(true);
        return;
      }
      if (session && !asking && key?.ctrl && key.name === 'z') {
        clearLine();
        write('^Z\n');
        if (session.mode === 'config' || session.mode === 'config-if') {
          session.mode = 'exec';
          session.iface = null;
        }
        rl.setPrompt(session.prompt());
        rl.prompt();
        return;
      }
      orig(s, key);
    };
    rl.on('SIGINT', () => {
      if (pagerKey) {
        pagerKey('\x03');
        return;
      }
      clearLine();
      write('^C\n');
      if (asking) return;
      rl.setPrompt(session?.prompt() ?? '');
      rl.prompt();
    });
  }

  try {
    let user = o.user;
    if (!user) {
      const cfg = o.store.running()?.config;
      if (!cfg) {
        write('% This appliance is not configured yet: run the first-boot wizard.\n');
        return 1;
      }
      if (cfg.ssh.banner) write(`\n${cfg.ssh.banner}\n\n`);
      for (let i = 0; i < (o.loginAttempts ?? 3) && !user; i++) {
        const name = o.loginName ?? (await ask('Username: ')).trim();
        const pw = await ask('Password: ', true);
        // The consoles and the local CLI are never locked out (surface 'console'); SSH signs in before the shell starts.
        const r = await signIn(o.store, { username: name, password: pw, source: o.source, surface: 'console' });
        if (r.ok) user = r.user;
        else {
          const delay = o.failDelayMs ?? (terminal ? 2000 : 0);
          if (delay > 0) await new Promise((res) => setTimeout(res, delay));
          write('% Login invalid\n\n');
        }
      }
      if (!user) return 1;
    }
    session = new Session({ host: o.host, store: o.store, user, source: o.source, io, privileged: o.privileged });
    o.onSession?.(session);
    while (!session.closed) {
      const prompt = session.prompt();
      if (terminal) showPrompt(prompt);
      else write(prompt);
      const line = await next();
      if (!terminal) write(`${line}\n`);
      const before = session.history.length;
      await session.execute(line, prompt.length);
      // readline's history gets the redacted form (no passwords in Up-arrow history).
      if (terminal && hist[0] === line && session.history.length > before) hist[0] = session.history[session.history.length - 1];
    }
    return 0;
  } catch (e) {
    if (e instanceof EndOfInput) {
      if (!terminal) write('\n');
      return session ? 0 : 1;
    }
    throw e;
  } finally {
    rl.close();
    o.output.off?.('resize', onResize);
  }
}
