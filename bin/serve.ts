/**
 * `keel serve [--root DIR] [--https-port N] [--listen ADDR] [--ssh-port N]`: the appliance's
 * network service, one process: System Manager over HTTPS (webui/server.ts) and the SSH CLI
 * (cli/ssh.ts), which follows the `ip ssh server` setting by itself. The health
 * monitor runs beside it as a child process (`keel monitor`, appliance/monitor.ts), started again
 * if it ends, so a hung or crashed probe never stalls the management plane; System Manager reads
 * what it records in the store.
 */

import { parseArgs } from 'node:util';
import { createHost } from '../appliance/host/index.ts';
import { Store } from '../appliance/config/store.ts';
import { reconcileApply } from '../appliance/config/apply.ts';
import { SshService } from '../cli/ssh.ts';
import { RecordedMonitor } from '../appliance/health/monitor.ts';
import { HEALTH_DEFAULTS } from '../appliance/health/schema.ts';
import { Supervised } from '../appliance/host/supervisor.ts';
import { run as runWebui } from '../webui/server.ts';
import { setHealthMonitor } from '../webui/health-routes.ts';
import { log } from '../appliance/log.ts';

/** Splits our own options off; the rest goes to System Manager unchanged. */
function split(argv: string[]): { ssh: { port?: string; root: string; listen?: string }; rest: string[] } {
  const rest: string[] = [];
  let port: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--ssh-port') port = argv[++i] ?? '';
    else if (argv[i].startsWith('--ssh-port=')) port = argv[i].slice('--ssh-port='.length);
    else rest.push(argv[i]);
  }
  const { values } = parseArgs({ args: rest, strict: false, options: { root: { type: 'string' }, listen: { type: 'string' } } });
  return { ssh: { port, root: typeof values.root === 'string' ? values.root : '/', listen: typeof values.listen === 'string' ? values.listen : undefined }, rest };
}

export async function run(argv: string[]): Promise<number> {
  const { ssh, rest } = split(argv);
  if (ssh.port !== undefined && !(/^\d+$/.test(ssh.port) && Number(ssh.port) <= 65535)) {
    console.error(`keel serve: --ssh-port must be a port number 0-65535, not "${ssh.port}"`);
    return 2;
  }
  const host = createHost(ssh.root);
  host.files.mkdirp('/var/lib/keel', 0o700);
  const store = Store.open(host);
  await reconcileApply(host, store);
  let service: SshService | null = null;
  let health: Supervised | null = null;
  if (store.running()) {
    health = new Supervised('health monitor', ['monitor', '--root', ssh.root]);
    health.start();
    // A snapshot older than three cycles (and a minute) means the monitor is not keeping up.
    const maxAge = () => (3 * (store.running()?.config.health?.intervalSeconds ?? HEALTH_DEFAULTS.intervalSeconds) + 60) * 1000;
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
    return await runWebui(rest);
  } finally {
    await service?.stop();
    await health?.stop();
    setHealthMonitor(null);
    store.close();
  }
}
