import { spawn } from 'node:child_process';
import { OperationalError } from '../errors.ts';
import type { Files } from './files.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}
export interface RunOptions {
  input?: string | Buffer;
  /** Do not throw on a non-zero exit; return it. */
  allowFail?: boolean;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Stream output to this process's stdout/stderr (long installer steps) instead of capturing it. */
  inherit?: boolean;
}

/** Processes adapter: the only place that starts OS commands. */
export interface Processes {
  run(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** True when commands really run (false in a sandbox, where they are only recorded). */
  readonly live: boolean;
}

/** Runs commands for real. */
export class RealProcesses implements Processes {
  readonly live = true;
  run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const line = [cmd, ...args].join(' ');
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn(cmd, args, {
          stdio: [opts.input !== undefined ? 'pipe' : 'ignore', opts.inherit ? 'inherit' : 'pipe', opts.inherit ? 'inherit' : 'pipe'],
          env: opts.env ? { ...process.env, ...opts.env } : process.env,
          timeout: opts.timeoutMs,
        });
      } catch (e) {
        // An exec the kernel refuses (EPERM: a file capability beyond the bounding set) throws here, not as an 'error' event.
        reject(new OperationalError('could not start command', line, null, (e as Error).message));
        return;
      }
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d) => (stdout += d));
      child.stderr?.on('data', (d) => (stderr += d));
      if (opts.input !== undefined) child.stdin!.end(opts.input);
      child.on('error', (e) => reject(new OperationalError('could not start command', line, null, e.message)));
      child.on('close', (code) => {
        const res = { code: code ?? -1, stdout, stderr };
        if (code !== 0 && !opts.allowFail) reject(new OperationalError('command failed', line, code, stderr));
        else resolve(res);
      });
    });
  }
}

/** The sandbox's record of commands keeps about this much (and one older file of the same size). */
export const COMMANDS_LOG_MAX_BYTES = 1024 * 1024;

/**
 * Sandbox: records each command it would run to `/var/log/keel/commands.log` under the sandbox
 * root and reports success, so apply logic runs end to end without root.
 */
export class SandboxProcesses implements Processes {
  readonly live = false;
  readonly files: Files;
  /** Commands recorded in this process, newest last (tests read this). */
  readonly recorded: string[] = [];
  /** Optional scripted failures for tests: a command line prefix → result. */
  failures = new Map<string, RunResult>();
  constructor(files: Files) {
    this.files = files;
  }
  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const line = [cmd, ...args].join(' ');
    this.recorded.push(line);
    this.files.append('/var/log/keel/commands.log', `${new Date().toISOString()} ${line}\n`, 0o640, COMMANDS_LOG_MAX_BYTES);
    for (const [prefix, res] of this.failures) {
      if (line.startsWith(prefix)) {
        if (!opts.allowFail && res.code !== 0) throw new OperationalError('command failed', line, res.code, res.stderr);
        return res;
      }
    }
    return { code: 0, stdout: '', stderr: '' };
  }
}

/** Whether a process with this id exists (a lock file's owner may have died). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
