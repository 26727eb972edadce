/**
 * Keel's own helper processes: a `keel` subcommand run as a child of the process that needs it,
 * started again when it ends (a crash of the child never takes its parent down). The child gets
 * an IPC channel only so that it notices when its parent is gone and ends too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { log } from '../log.ts';

/**
 * The `keel` entry this process was started with (bin/main.ts in a checkout, bin/main.js on the
 * appliance, where the sources are compiled): the child runs the same code the same way.
 */
const MAIN = process.argv[1];
/** Restart delay after an exit; doubled for each exit within a minute of its start, up to the cap. */
const RESTART_MS = 1_000;
const RESTART_MAX_MS = 30_000;

export class Supervised {
  readonly name: string;
  readonly args: string[];
  private child: ChildProcess | null = null;
  private stopped = false;
  private delay = RESTART_MS;
  private timer: NodeJS.Timeout | null = null;
  /** How many times the child was started (1 after start()). */
  starts = 0;
  constructor(name: string, args: string[]) {
    this.name = name;
    this.args = args;
  }
  /** The running child's process id, if one runs. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }
  start(): void {
    if (this.stopped) return;
    const startedAt = Date.now();
    const child = spawn(process.execPath, [MAIN, ...this.args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    this.starts++;
    child.on('error', (e) => log.error(`${this.name} could not start`, { error: e.message }));
    child.once('exit', (code, signal) => {
      this.child = null;
      if (this.stopped) return;
      this.delay = Date.now() - startedAt < 60_000 ? Math.min(this.delay * 2, RESTART_MAX_MS) : RESTART_MS;
      log.warn(`${this.name} ended; starting it again`, { code, signal, inMs: this.delay });
      this.timer = setTimeout(() => this.start(), this.delay);
      this.timer.unref();
    });
  }
  /** Ends the child (SIGTERM, then SIGKILL after 5 s) and does not start it again. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => (clearTimeout(kill), resolve()));
      child.kill('SIGTERM');
    });
  }
}
