import path from 'node:path';
import { Files } from './files.ts';
import { RealProcesses, SandboxProcesses, type Processes } from './processes.ts';

/** Every OS side effect of the appliance goes through one of these adapters. */
export interface Host {
  /** `/` on the appliance; a folder in the sandbox. */
  root: string;
  sandbox: boolean;
  files: Files;
  proc: Processes;
  /** Where NIC facts are read from (sysfs); tests point it at a fixture. */
  sysfs: string;
}

/** The host for `--root DIR` (sandbox: files under DIR, commands recorded) or `/` (real). */
export function createHost(root = '/', opts: { sysfs?: string } = {}): Host {
  const abs = path.resolve(root);
  const files = new Files(abs);
  const sandbox = abs !== '/';
  const proc: Processes = sandbox ? new SandboxProcesses(files) : new RealProcesses();
  // KEEL_SYSFS lets a sandbox describe other hardware (tests give it a fixture with N NICs).
  return { root: abs, sandbox, files, proc, sysfs: opts.sysfs ?? process.env.KEEL_SYSFS ?? '/sys' };
}
