/**
 * `keel serve [--root DIR] [--https-port N] [--listen ADDR] [--ssh-port N]`: the appliance's
 * network service, one process: System Manager over HTTPS (webui/server.ts) and the SSH CLI
 * (appliance/ssh/service.ts), which follows the `ip ssh server` setting by itself, and the health
 * monitor (appliance/health/monitor.ts), restarted when its settings change.
 */

/** Runs the health monitor with the settings of the running configuration, following changes. */
class HealthFollower {
  private monitor: HealthMonitor | null = null;
  private key = '';
  private timer: NodeJS.Timeout | null = null;
  readonly host: ReturnType<typeof createHost>;
  readonly store: Store;
  constructor(host: ReturnType<typeof createHost>, store: Store) {
    this.host = host;
    this.store = store;
  }
  start(): void {
    this.follow();
    this.timer = setInterval(() => this.follow(), 10_000);
    this.timer.unref();
  }
  private follow(): void {
    const c = this.store.running()?.config;
    if (!c) return;
    const key = JSON.stringify([c.health ?? null, c.email ?? null, c.system.hostname, c.network.interfaces]);
    if (key === this.key) return;
    this.key = key;
    this.monitor?.stop();
    this.monitor = new HealthMonitor({ host: this.host, db: this.store.db, config: c.health, email: c.email, hostname: c.system.hostname, bmc: bmcTarget(c.health), expectUp: new Set(c.network.interfaces.filter((i) => i.enabled).map((i) => i.name)) });
    this.monitor.start();
    setHealthMonitor(this.monitor); // System Manager's dashboard, API and /metrics read it
    log.info('health monitor (re)started', { intervalSeconds: c.health?.intervalSeconds ?? 60 });
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.monitor?.stop();
    setHealthMonitor(null);
  }
}

import { parseArgs } from 'node:util';
import { createHost } from './host/index.ts';
import { Store } from './config/store.ts';
import { SshService } from './ssh/service.ts';
import { HealthMonitor } from './health/monitor.ts';
import { bmcTarget } from './health/schema.ts';
import { run as runWebui } from '../webui/server.ts';
import { setHealthMonitor } from '../webui/health-routes.ts';
import { log } from './log.ts';

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
  let service: SshService | null = null;
  let health: HealthFollower | null = null;
  if (store.running()) {
    health = new HealthFollower(host, store);
    try {
      health.start();
    } catch (e) {
      log.error('health monitor not started', { error: (e as Error).message });
    }
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
    health?.stop();
    store.close();
  }
}
