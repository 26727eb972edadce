/**
 * `keel monitor [--root DIR]`: the health monitor in a process of its own. `keel serve` starts
 * and supervises it, so a probe that hangs or crashes, or a busy cycle, never stalls System
 * Manager or the SSH CLI; System Manager reads what this process records in the store
 * (HealthStore: state, history, alerts and the latest snapshot), and the resource history it
 * samples every minute (appliance/reporting).
 */
import { createHost, type Host } from './host/index.ts';
import { Store } from './config/store.ts';
import { HealthMonitor } from './health/monitor.ts';
import { bmcTarget } from './health/schema.ts';
import { log } from './log.ts';
import { ConnectivitySchedule } from './connectivity/schedule.ts';
import { endpointsOf } from './connectivity/endpoints.ts';
import { parseOptions, ROOT_OPTION, type OptionTable } from './options.ts';
import { ResourceHistory, ResourceSampler, SAMPLE_INTERVAL_MS } from './reporting/history.ts';

/** How often the running configuration is looked at for changed health settings. */
const FOLLOW_MS = 10_000;

/** Runs the health monitor with the settings of the running configuration, following changes. */
export class HealthFollower {
  private monitor: HealthMonitor | null = null;
  private key = '';
  private connectivity: ConnectivitySchedule | null = null;
  private connectivityKey = '';
  private timer: NodeJS.Timeout | null = null;
  readonly host: Host;
  readonly store: Store;
  constructor(host: Host, store: Store) {
    this.host = host;
    this.store = store;
  }
  start(): void {
    this.follow();
    this.timer = setInterval(() => this.follow(), FOLLOW_MS);
  }
  private follow(): void {
    const c = this.store.running()?.config;
    if (!c) return;
    this.followConnectivity(c);
    const key = JSON.stringify([c.health ?? null, c.email ?? null, c.system.hostname, c.network.interfaces]);
    if (key === this.key) return;
    this.key = key;
    this.monitor?.stop();
    this.monitor = new HealthMonitor({ host: this.host, db: this.store.db, config: c.health, email: c.email, hostname: c.system.hostname, bmc: bmcTarget(c.health), expectUp: new Set(c.network.interfaces.filter((i) => i.enabled).map((i) => i.name)) });
    this.monitor.start();
    log.info('health monitor (re)started', { intervalSeconds: c.health?.intervalSeconds ?? 60 });
  }
  /** The scheduled connectivity checks, restarted when the endpoints or their schedule change; alerts go through the health monitor. */
  private followConnectivity(c: NonNullable<ReturnType<Store['running']>>['config']): void {
    const key = JSON.stringify([c.connectivity?.intervalMinutes ?? null, endpointsOf(c), c.proxy ?? null]);
    if (key === this.connectivityKey) return;
    this.connectivityKey = key;
    this.connectivity?.stop();
    this.connectivity = new ConnectivitySchedule({
      host: this.host,
      db: this.store.db,
      config: () => this.store.running()?.config ?? null,
      report: async (findings) => this.monitor?.report(findings, ['connectivity.']),
    });
    this.connectivity.start();
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.monitor?.stop();
    this.connectivity?.stop();
  }
}

export const OPTIONS = { root: ROOT_OPTION } satisfies OptionTable;

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions(OPTIONS, argv) as { root: string };
  const host = createHost(values.root!);
  const store = Store.open(host);
  const follower = new HealthFollower(host, store);
  follower.start();
  // The resource history (Reporting) is sampled here too: a slow read never stalls System Manager.
  const resources = new ResourceSampler(host, new ResourceHistory(store.db));
  // Tests sample faster (KEEL_RESOURCE_INTERVAL_MS, 1 s to 10 min); the appliance every minute.
  const every = Number(process.env.KEEL_RESOURCE_INTERVAL_MS);
  resources.start(Number.isInteger(every) && every >= 1000 && every <= 600_000 ? every : SAMPLE_INTERVAL_MS);
  await new Promise<void>((resolve) => {
    const end = () => resolve();
    process.once('SIGTERM', end);
    process.once('SIGINT', end);
    // The supervisor (keel serve) closed our channel: it is gone, so are we.
    process.once('disconnect', end);
  });
  follower.stop();
  resources.stop();
  store.close();
  return 0;
}
