import { spawn, type ChildProcess } from 'node:child_process';

/**
 * An expect-like driver for a child process (the OpenSSH client, a CLI): everything it prints is
 * kept with ANSI escapes and CRs stripped, and `expect` waits for a pattern after the last match.
 */
export class Expect {
  readonly child: ChildProcess;
  private buf = '';
  private mark = 0;
  private waiters: (() => void)[] = [];
  exited: number | null = null;
  readonly done: Promise<number>;

  constructor(cmd: string, args: string[], env: Record<string, string> = {}) {
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const take = (d: Buffer) => {
      this.buf += d.toString('utf8').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
      for (const w of this.waiters.splice(0)) w();
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    this.done = new Promise((resolve) => {
      this.child.on('close', (code) => {
        this.exited = code ?? -1;
        for (const w of this.waiters.splice(0)) w();
        resolve(this.exited);
      });
    });
  }

  /** All output so far. */
  get output(): string {
    return this.buf;
  }

  send(text: string): void {
    this.child.stdin!.write(text);
  }

  /** Waits for `re` after the previous match; returns the match. */
  async expect(re: RegExp, timeoutMs = 15000): Promise<RegExpExecArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.buf.slice(this.mark));
      if (m) {
        this.mark += m.index + m[0].length;
        return m;
      }
      if (this.exited !== null) throw new Error(`process exited (${this.exited}) while waiting for ${re}; output:\n${this.buf.slice(-2000)}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${re}; output:\n${this.buf.slice(-2000)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  kill(): void {
    if (this.exited === null) this.child.kill('SIGKILL');
  }
}
