import net from 'node:net';
import fs from 'node:fs';

/** `s` as a regular expression that matches it literally. */
export const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A wizard question's prompt on the console, with or without a suggested default in brackets before the colon. */
export const prompt = (p: string) => new RegExp(`${esc(p.replace(/: $/, ''))}(?: \\[[^\\]\\n]*\\])?:`);

/**
 * An expect-like driver for a QEMU serial console on a unix socket. Everything the guest prints
 * is kept (ANSI escapes stripped for matching) and appended to a log file for debugging.
 */
export class Serial {
  private buf = '';
  private sock: net.Socket | null = null;
  private waiters: (() => void)[] = [];
  private readonly log: fs.WriteStream;
  /** Where the next `expect` starts looking. */
  private mark = 0;
  closed = false;
  constructor(logFile: string) {
    this.log = fs.createWriteStream(logFile, { flags: 'a' });
  }
  async connect(path: string, timeoutMs = 20000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        this.sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(path, () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch (e) {
        if (Date.now() > until) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    this.sock.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      this.log.write(text);
      this.buf += text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][A-Z0-9]/g, '').replace(/\r/g, '');
      for (const w of this.waiters.splice(0)) w();
    });
    this.sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  /** The next `expect` only looks at what is printed from now on. */
  skip(): void {
    this.mark = this.buf.length;
  }
  /** Everything printed so far (escapes stripped). */
  all(): string {
    return this.buf;
  }
  /** Waits for `re` in output after the last match; returns the match. */
  async expect(re: RegExp, timeoutMs: number, what = re.source): Promise<RegExpExecArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.buf.slice(this.mark));
      if (m) {
        this.mark += m.index + m[0].length;
        return m;
      }
      if (this.closed) throw new Error(`serial closed while waiting for ${what}; last output:\n${this.tail()}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; last output:\n${this.tail()}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  send(text: string): void {
    this.log.write(`\n<<SENT ${JSON.stringify(text)}>>\n`);
    this.sock!.write(text);
  }
  /** Sends one answer line (carriage return, as a terminal does). */
  line(text: string): void {
    this.send(`${text}\r`);
  }
  tail(n = 1500): string {
    return this.buf.slice(-n);
  }
  close(): void {
    this.sock?.destroy();
    this.log.end();
  }
}
