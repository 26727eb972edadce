import type { Readable, Writable } from 'node:stream';
import { MORE_PROMPT } from './questions.ts';

/** Raised when the person at the console presses Ctrl-C. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'Interrupted';
  }
}
/** Raised at end of input (Ctrl-D, or the pipe closed). */
export class EndOfInput extends Error {
  constructor() {
    super('end of input');
    this.name = 'EndOfInput';
  }
}

type TtyIn = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
type TtyOut = Writable & { isTTY?: boolean; rows?: number; columns?: number };

/**
 * Line input for the wizard on a TTY (serial or VGA console) or a plain pipe. One reader for the
 * whole session, so answers typed ahead or piped in are never lost between questions. On a TTY,
 * secrets are read in raw mode and never echoed; other answers use the terminal's own line editing.
 */
export class Terminal {
  readonly input: TtyIn;
  readonly output: TtyOut;
  private buf = '';
  private ended = false;
  private interrupted = false;
  private wake: (() => void) | null = null;
  private secret = false;
  private secretText = '';
  private secretDone: string | null = null;
  /** Inside an escape sequence (arrow keys...) while reading a secret: 0 no, 1 after ESC, 2 in CSI/SS3. */
  private esc = 0;

  constructor(input: TtyIn, output: TtyOut) {
    this.input = input;
    this.output = output;
    input.setEncoding?.('utf8');
    input.on('data', (d: string | Buffer) => this.onData(String(d)));
    input.on('end', () => {
      this.ended = true;
      this.kick();
    });
    input.on('error', () => {
      this.ended = true;
      this.kick();
    });
  }

  get isTTY(): boolean {
    return Boolean(this.input.isTTY && this.output.isTTY);
  }
  get rows(): number {
    return this.output.rows && this.output.rows > 4 ? this.output.rows : 24;
  }
  get columns(): number {
    return this.output.columns && this.output.columns > 10 ? this.output.columns : 80;
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private onData(d: string): void {
    if (!this.secret) {
      this.buf += d;
      this.kick();
      return;
    }
    for (const ch of d) {
      if (this.secretDone !== null) {
        this.buf += ch;
        continue;
      }
      if (this.esc === 1) {
        this.esc = ch === '[' || ch === 'O' ? 2 : 0;
        continue;
      }
      if (this.esc === 2) {
        if (ch >= '@' && ch <= '~') this.esc = 0;
        continue;
      }
      if (ch === '\x1b') {
        this.esc = 1;
      } else if (ch === '\r' || ch === '\n') {
        this.secretDone = this.secretText;
      } else if (ch === '\x03') {
        this.interrupted = true;
      } else if (ch === '\x04') {
        if (this.secretText === '') this.ended = true;
      } else if (ch === '\x7f' || ch === '\b') {
        this.secretText = [...this.secretText].slice(0, -1).join('');
      } else if (ch === '\x15') {
        this.secretText = '';
      } else if (ch >= ' ') {
        this.secretText += ch;
      }
    }
    this.kick();
  }

  write(text: string): void {
    this.output.write(text);
  }

  private async waitFor<T>(take: () => T | null): Promise<T> {
    for (;;) {
      if (this.interrupted) throw new Interrupted();
      const v = take();
      if (v !== null) return v;
      if (this.ended) throw new EndOfInput();
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private takeLine(): string | null {
    const m = /\r\n|\r|\n/.exec(this.buf);
    if (!m) return null;
    const line = this.buf.slice(0, m.index);
    this.buf = this.buf.slice(m.index + m[0].length);
    if (line.includes('\x03')) {
      this.interrupted = true;
      return null;
    }
    return line;
  }

  /** Prints `prompt` and reads one line; secrets are not echoed on a TTY. */
  async ask(prompt: string, secret = false): Promise<string> {
    if (!secret || !this.isTTY) {
      this.write(prompt);
      const line = await this.waitFor(() => this.takeLine());
      return line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').trim();
    }
    // Raw mode before the prompt, so nothing typed after it is echoed; Enter ends the secret.
    this.secret = true;
    this.secretText = '';
    this.secretDone = null;
    this.esc = 0;
    const pending = this.buf;
    this.buf = '';
    this.input.setRawMode?.(true);
    this.write(prompt);
    try {
      if (pending) this.onData(pending);
      return await this.waitFor(() => this.secretDone);
    } finally {
      this.input.setRawMode?.(false);
      this.secret = false;
      this.write('\n');
    }
  }

  /**
   * Shows long text: on a TTY a screenful at a time (rows and columns of the terminal, long lines
   * counted as they wrap) with a --More-- prompt; on a pipe all at once.
   */
  async page(text: string): Promise<void> {
    if (!this.isTTY) {
      this.write(text.endsWith('\n') ? text : `${text}\n`);
      return;
    }
    const lines = text.replace(/\n$/, '').split('\n');
    const per = this.rows - 1;
    const cols = this.columns;
    let used = 0;
    for (let i = 0; i < lines.length; i++) {
      const h = Math.max(1, Math.ceil([...lines[i]].length / cols));
      if (used > 0 && used + h > per) {
        const a = await this.ask(MORE_PROMPT);
        if (a.toLowerCase() === 'q') return;
        used = 0;
      }
      this.write(`${lines[i]}\n`);
      used += h;
    }
  }

  close(): void {
    this.input.removeAllListeners('data');
    this.input.pause?.();
  }
}
