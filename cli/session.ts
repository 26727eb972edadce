/**
 * One CLI session: mode, privilege, the signed-in user, history. `execute(line)` parses a line
 * against the command tree of the current mode and runs its handler; it never throws. I/O goes
 * through `SessionIO` (a console, an SSH channel, or a test script) and the host adapters.
 */
import type { Host } from '../appliance/host/index.ts';
import type { Store, Actor } from '../appliance/config/store.ts';
import type { Config } from '../appliance/config/schema.ts';
import { OperationalError, ValidationError } from '../appliance/errors.ts';
import { applyPipe, complete, help, parse, type ParseError, type Parsed } from './parse.ts';
import type { Args, Mode, Node } from './tree.ts';
import { rootsFor, type Handler } from './commands.ts';
import { fieldLabel } from '../appliance/config/messages.ts';

export interface SessionIO {
  write(text: string): void;
  /** Asks one line (a secret is not echoed on a TTY). Rejects at end of input. */
  ask(prompt: string, secret?: boolean): Promise<string>;
  /**
   * On a terminal: writes `text` a screen at a time (`lines` lines, the last one ` --More-- `),
   * waiting for a key between screens. Absent when the session is not on a terminal.
   */
  page?(text: string, lines: number): Promise<void>;
  /** The terminal's height in lines, when known. */
  rows?(): number | undefined;
}

export interface SessionUser {
  name: string;
  role: 'admin' | 'operator';
}

export interface SessionOptions {
  host: Host;
  store: Store;
  user: SessionUser;
  /** `cli:ttyS0`, `ssh:192.0.2.5`, `cli:pipe`… recorded with every change. */
  source: string;
  io: SessionIO;
  /** Start in privileged EXEC (tests, trusted local use). */
  privileged?: boolean;
}

export class Session {
  readonly host: Host;
  readonly store: Store;
  readonly user: SessionUser;
  readonly source: string;
  readonly io: SessionIO;
  mode: Mode;
  /** The interface being configured in `config-if` mode. */
  iface: string | null = null;
  readonly history: string[] = [];
  /** `terminal length N` of this session (0: never page); null: the terminal's height. */
  terminalLength: number | null = null;
  /** Set by exit/logout/reload: the shell ends the session. */
  closed = false;
  /** Whether the last line was refused or failed (an `ssh box COMMAND` exits non-zero). */
  lastFailed = false;
  /**
   * Batch mode (loading a whole script): commands edit this candidate instead of applying one by
   * one; `commitBatch` validates and applies it once.
   */
  candidate: Config | null = null;
  /** In batch mode, the configuration the script is loaded over (keeps password dates of unchanged hashes). */
  batchBase: Config | null = null;
  /**
   * When this session was opened, or last changed its own user's password: a password change
   * ends the user's SSH sessions opened before it (cli/ssh.ts), but not the one that made it.
   */
  renewedAt = Date.now();

  constructor(o: SessionOptions) {
    this.host = o.host;
    this.store = o.store;
    this.user = o.user;
    this.source = o.source;
    this.io = o.io;
    this.mode = o.privileged ? 'exec' : 'user';
  }

  get actor(): Actor {
    return { who: this.user.name, source: this.source };
  }

  /** The configuration commands act on: the batch candidate, else the running configuration. */
  current(): Config | null {
    return this.candidate ?? this.store.running()?.config ?? null;
  }

  hostname(): string {
    return (this.current()?.system.hostname ?? 'keel').split('.')[0];
  }

  prompt(): string {
    const h = this.hostname();
    switch (this.mode) {
      case 'user':
        return `${h}>`;
      case 'exec':
        return `${h}#`;
      case 'config':
        return `${h}(config)#`;
      case 'config-if':
        return `${h}(config-if)#`;
    }
  }

  roots(mode: Mode = this.mode): Node<Handler>[] {
    return rootsFor(mode);
  }

  /** `?` for a line (without the `?`). */
  help(line: string): string {
    return help(this.roots(), line).join('\n') + '\n';
  }

  /** TAB completion for a line. */
  complete(line: string): { words: string[]; partial: string } {
    return complete(this.roots(), line);
  }

  /** The error text for a refused line: a caret under the offending word, then the message. */
  private errorText(err: ParseError, promptLen: number): string {
    const caret = err.caret !== null ? `${' '.repeat(promptLen + err.caret)}^\n` : '';
    return caret + err.lines.map((l) => `${l}\n`).join('');
  }

  /** Parses in the current mode; in interface mode a global command leaves the sub-mode (as IOS does). */
  parseLine(line: string): { parsed: Parsed<Handler>; mode: Mode } | ParseError {
    const p = parse(this.roots(), line);
    if (p.ok) return { parsed: p, mode: this.mode };
    if (this.mode === 'config-if' && (p.kind === 'invalid' || p.kind === 'ambiguous')) {
      const g = parse(this.roots('config'), line);
      if (g.ok) return { parsed: g, mode: 'config' };
    }
    return p;
  }

  /** Runs one line; writes its output; never throws. A line ending in `?` shows help instead. */
  async execute(line: string, promptLen = this.prompt().length): Promise<void> {
    try {
      await this.executeInner(line, promptLen);
    } catch (e) {
      this.io.write(`% Internal error: ${(e as Error)?.message ?? String(e)}\n`);
    }
  }

  private async executeInner(line: string, promptLen: number): Promise<void> {
    this.lastFailed = false;
    const clean = line.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '').replace(/\t/g, ' ');
    const t = clean.trim();
    if (t === '' || t.startsWith('!')) return;
    if (/\?$/.test(clean) && !/\\\?$/.test(clean)) {
      this.io.write(this.help(clean.slice(0, -1)));
      return;
    }
    const r = this.parseLine(clean);
    if ('ok' in r && !r.ok) {
      this.io.write(this.errorText(r, promptLen));
      this.remember(t);
      this.lastFailed = true;
      return;
    }
    const { parsed, mode } = r as { parsed: Parsed<Handler>; mode: Mode };
    this.remember(parsed.redacted);
    if (parsed.changes && this.user.role !== 'admin') {
      this.io.write(`% Permission denied: ${this.user.name} has the ${this.user.role} role (read only)\n`);
      this.store.audit(this.actor, `cli: ${parsed.redacted}`, 'refused: read-only role');
      this.lastFailed = true;
      return;
    }
    if (mode !== this.mode) {
      this.mode = mode;
      this.iface = null;
    }
    let out: string | void;
    try {
      out = await parsed.handler(this, parsed.args, parsed);
    } catch (e) {
      out = errorMessage(e, this.candidate ?? this.current());
      this.lastFailed = true;
      if (parsed.changes) this.store.audit(this.actor, `cli: ${parsed.redacted}`, `failed: ${(e as Error).message}`);
    }
    if (!out) return;
    const text = applyPipe(out.endsWith('\n') ? out : `${out}\n`, parsed.pipe);
    const length = this.screenLength();
    if (this.io.page && length > 1 && text.split('\n').length - 1 > length - 1) await this.io.page(text, length);
    else this.io.write(text);
  }

  /**
   * Lines per screen for the pager: `terminal length N` (0: no paging) for this session, else the
   * terminal's height (24 when it does not say).
   */
  screenLength(): number {
    return this.terminalLength ?? this.io.rows?.() ?? 24;
  }

  private remember(line: string): void {
    this.history.push(line);
    if (this.history.length > 200) this.history.shift();
  }

  /** Batch mode: start from `base` (a copy). */
  beginBatch(base: Config): void {
    this.candidate = structuredClone(base);
  }
}

/** The text for an error a handler threw: field and rule for validation, the command for OS failures. */
export function errorMessage(e: unknown, config?: Config | null): string {
  if (e instanceof ValidationError) return e.problems.map((p) => `% Invalid ${fieldLabel(p.field, config ?? undefined)} (${p.rule}): ${p.message}`).join('\n');
  if (e instanceof OperationalError) return `% ${e.message}`;
  return `% Error: ${(e as Error)?.message ?? String(e)}`;
}

export type { Args };
