/**
 * `keel serve [--root DIR] [--https-port N] [--listen ADDR] [--ssh-port N] [--applier-socket PATH]
 * [--no-monitor]`: the appliance's network-facing process: System Manager over HTTPS
 * (webui/server.ts) and the SSH CLI (cli/ssh.ts), which follows the `ip ssh server` setting by
 * itself. It changes nothing in the OS itself: every change goes to the applier (`keel applier`)
 * over its socket. On the appliance it runs as the unprivileged `keel` user and the applier and
 * the health monitor are services of their own (--applier-socket, --no-monitor); in a sandbox it
 * starts both as child processes, started again if they end, so the split is the same.
 * System Manager reads what the monitor records in the store.
 */

import { parseArgs } from 'node:util';
import { applierSocketPath, createHost } from '../appliance/host/index.ts';
import { Store } from '../appliance/config/store.ts';
import { reconcileApply } from '../appliance/config/apply.ts';
import { SshService } from '../cli/ssh.ts';
import { RecordedMonitor } from '../appliance/health/monitor.ts';
import { HEALTH_DEFAULTS } from '../appliance/health/schema.ts';
import { Supervised } from '../appliance/host/supervisor.ts';
import { run as runWebui } from '../webui/server.ts';
import { setHealthMonitor } from '../webui/health-routes.ts';
import { ConfigState } from '../webui/state.ts';
import { log } from '../appliance/log.ts';
import { startupSelfTest } from '../appliance/crypto/selftest.ts';
import { ROOT_OPTION, type OptionTable } from '../appliance/options.ts';

/** All of `keel serve`'s options (System Manager's are passed on to it). */
export const OPTIONS = {
  root: ROOT_OPTION,
  'https-port': { type: 'string', value: 'N', help: 'System Manager\'s port (default: the configured one, 8443)' },
  listen: { type: 'string', value: 'ADDR', help: 'the address to listen on (default: all on the appliance, 127.0.0.1 in a sandbox)' },
  'ssh-port': { type: 'string', value: 'N', help: 'the SSH CLI\'s port (default: the configured one)' },
  'applier-socket': { type: 'string', value: 'PATH', help: 'use the applier service on this socket (the appliance) instead of starting one' },
  'no-monitor': { type: 'boolean', help: 'do not start the health monitor (it is a service of its own on the appliance)' },
} satisfies OptionTable;

interface Own {
  port?: string;
  root: string;
  listen?: string;
  applierSocket?: string;
  monitor: boolean;
}

/** Splits our own options off; the rest goes to System Manager unchanged. */
function split(argv: string[]): { ssh: Own; rest: string[] } {
  const rest: string[] = [];
  let port: string | undefined;
  let applierSocket: string | undefined;
  let monitor = true;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--ssh-port') port = argv[++i] ?? '';
    else if (argv[i].startsWith('--ssh-port=')) port = argv[i].slice('--ssh-port='.length);
    else if (argv[i] === '--applier-socket') applierSocket = argv[++i] ?? '';
    else if (argv[i] === '--no-monitor') monitor = false;
    else rest.push(argv[i]);
  }
  const { values } = parseArgs({ args: rest, strict: false, options: { root: { type: 'string' }, listen: { type: 'string' } } });
  return { ssh: { port, root: typeof values.root === 'string' ? values.root : '/', listen: typeof values.listen === 'string' ? values.listen : undefined, applierSocket, monitor }, rest };
}

export async function run(argv: string[]): Promise<number> {
  // Signs users in and serves TLS: not with a crypto library that gives wrong answers.
  if (!startupSelfTest('serve')) return 1;
  const { ssh, rest } = split(argv);
  if (ssh.port !== undefined && !(/^\d+$/.test(ssh.port) && Number(ssh.port) <= 65535)) {
    console.error(`keel serve: --ssh-port must be a port number 0-65535, not "${ssh.port}"`);
    return 2;
  }
  // The applier: the appliance's own service, or (sandbox) a child process of this one.
  let applier: Supervised | null = null;
  if (!ssh.applierSocket) {
    applier = new Supervised('applier', ['applier', '--root', ssh.root]);
    applier.start();
  }
  const host = createHost(ssh.root, { applierSocket: ssh.applierSocket || applierSocketPath(ssh.root) });
  host.files.mkdirp('/var/lib/keel', 0o700);
  const store = Store.open(host);
  await reconcileApply(host, store);
  let service: SshService | null = null;
  let health: Supervised | null = null;
  if (store.running()) {
    if (ssh.monitor) {
      health = new Supervised('health monitor', ['monitor', '--root', ssh.root]);
      health.start();
    }
    // A snapshot older than three cycles (and a minute) means the monitor is not keeping up.
    // Read for every dashboard: the configuration parsed once per revision, not each time.
    const state = new ConfigState(store);
    const maxAge = () => (3 * (state.config()?.health?.intervalSeconds ?? HEALTH_DEFAULTS.intervalSeconds) + 60) * 1000;
    setHealthMonitor(new RecordedMonitor(store.db, maxAge)); // System Manager's dashboard, API and /metrics read it
    service = new SshService({ host, store, port: ssh.port === undefined ? undefined : Number(ssh.port), listen: ssh.listen });
    try {
      await service.start();
    } catch (e) {
      // System Manager still starts: it is how an administrator finds out and fixes it.
      log.error('SSH CLI not started', { error: (e as Error).message });
    }
    if (service.port !== null) console.log(`SSH CLI: port ${service.port}`);
  }
  try {
    return await runWebui(rest, host);
  } finally {
    await service?.stop();
    await health?.stop();
    await applier?.stop();
    setHealthMonitor(null);
    store.close();
  }
}
