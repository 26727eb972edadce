import path from 'node:path';
import { Files } from './files.ts';
import { RealProcesses, SandboxProcesses, type Processes } from './processes.ts';
import type { Applier } from '../applier/applier.ts';
import { LocalApplier } from '../applier/local.ts';
import { RemoteApplier } from '../applier/client.ts';
import { Store } from '../config/store.ts';
import { Net } from './net.ts';

/** Every OS side effect of the appliance goes through one of these adapters. */
export interface Host {
  /** `/` on the appliance; a folder in the sandbox. */
  root: string;
  sandbox: boolean;
  files: Files;
  proc: Processes;
  /** Where NIC facts are read from (sysfs); tests point it at a fixture. */
  sysfs: string;
  /**
   * Changes to the OS (configuration, reboot, services, update slots): done in this process, or,
   * in the unprivileged network-facing processes, by the privileged applier over its socket.
   */
  applier: Applier;
  /** Outbound network diagnostics (connectivity checks), bounded in time; KEEL_DNS_SERVERS (tests) points its resolver at other servers. */
  net: Net;
}

/** The host for `--root DIR` (sandbox: files under DIR, commands recorded) or `/` (real). */
export function createHost(root = '/', opts: { sysfs?: string; applierSocket?: string; dnsServers?: string[] } = {}): Host {
  const abs = path.resolve(root);
  const files = new Files(abs);
  const sandbox = abs !== '/';
  const proc: Processes = sandbox ? new SandboxProcesses(files) : new RealProcesses();
  // KEEL_SYSFS lets a sandbox describe other hardware (tests give it a fixture with N NICs).
  const host = { root: abs, sandbox, files, proc, sysfs: opts.sysfs ?? process.env.KEEL_SYSFS ?? '/sys', net: new Net({ dnsServers: opts.dnsServers ?? process.env.KEEL_DNS_SERVERS?.split(',').filter(Boolean) }) } as Host;
  let store: Store | null = null;
  host.applier = opts.applierSocket ? new RemoteApplier(opts.applierSocket, proc.live) : new LocalApplier(host, () => (store ??= Store.open(host)));
  return host;
}

/** The applier's socket of a host root: `/run/keel/applier.sock` on the appliance. */
export function applierSocketPath(root: string): string {
  return path.join(path.resolve(root), 'run/keel/applier.sock');
}
