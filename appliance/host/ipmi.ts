import fs from 'node:fs';
import { ValidationError } from '../errors.ts';
import type { Processes, RunResult } from './processes.ts';

/** Which BMC to talk to: the local one through the kernel driver, or a remote one over RMCP+. */
export interface BmcTarget {
  interface: 'open' | 'lanplus';
  host?: string;
  port?: number;
  user?: string;
  /** Never logged, never put on a command line (passed to ipmitool through IPMI_PASSWORD / -E). */
  password?: string;
  /** RMCP+ cipher suite; 3 (HMAC-SHA1, AES-128) avoids ipmitool's slow cipher discovery. */
  cipherSuite?: number;
}

/** `lanplus://USER:PASS@HOST:PORT` (port defaults to 623) or `open` / `local` for /dev/ipmi0. */
export function parseBmcUrl(url: string): BmcTarget {
  if (url === 'open' || url === 'local') return { interface: 'open' };
  const m = /^lanplus:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(url);
  if (!m) throw new ValidationError([{ field: '--bmc', rule: 'bmc-url', message: 'must be lanplus://USER:PASS@HOST[:PORT] or open' }]);
  const port = m[4] ? Number(m[4]) : 623;
  if (port < 1 || port > 65535) throw new ValidationError([{ field: '--bmc', rule: 'port', message: 'port must be 1-65535' }]);
  return {
    interface: 'lanplus',
    host: m[3].replace(/^\[|\]$/g, ''),
    port,
    user: m[1] ? decodeURIComponent(m[1]) : undefined,
    password: m[2] !== undefined ? decodeURIComponent(m[2]) : undefined,
  };
}

/** A BMC target for logs and the UI: no password. */
export function describeBmc(t: BmcTarget): string {
  return t.interface === 'open' ? 'local BMC (/dev/ipmi0)' : `lanplus://${t.user ? `${t.user}@` : ''}${t.host}:${t.port ?? 623}`;
}

/** True when the kernel IPMI driver exposes a local BMC. */
export function localBmcPresent(dev = '/dev/ipmi0'): boolean {
  return fs.existsSync(dev) || fs.existsSync('/dev/ipmi/0') || fs.existsSync('/dev/ipmidev/0');
}

/**
 * IPMI adapter: every BMC command goes through ipmitool here. The password travels in the
 * environment (`-E` reads IPMI_PASSWORD), so it never shows in `ps` or in error messages.
 */
export class Ipmitool {
  readonly proc: Processes;
  readonly target: BmcTarget;
  readonly timeoutMs: number;
  constructor(proc: Processes, target: BmcTarget, opts: { timeoutMs?: number } = {}) {
    this.proc = proc;
    this.target = target;
    this.timeoutMs = opts.timeoutMs ?? 15000;
  }
  /** The argv before the command: interface, host, port, user, cipher suite, -E. */
  baseArgs(): string[] {
    const t = this.target;
    if (t.interface === 'open') return ['-I', 'open'];
    const a = ['-I', 'lanplus', '-H', t.host ?? '127.0.0.1', '-p', String(t.port ?? 623), '-C', String(t.cipherSuite ?? 3)];
    if (t.user !== undefined) a.push('-U', t.user);
    a.push('-E');
    // One try per call: the monitor has its own retry rhythm, and a dead BMC must not stall a cycle.
    a.push('-N', '2', '-R', '2');
    return a;
  }
  /** Runs `ipmitool <base> <args>`; throws OperationalError on failure unless allowFail. */
  run(args: string[], opts: { allowFail?: boolean } = {}): Promise<RunResult> {
    const env: Record<string, string> = { IPMI_PASSWORD: this.target.password ?? '' };
    return this.proc.run('ipmitool', [...this.baseArgs(), ...args], { env, timeoutMs: this.timeoutMs, allowFail: opts.allowFail });
  }
}
