import type Database from 'better-sqlite3';
import type { Host } from '../host/index.ts';
import type { Config } from '../config/schema.ts';
import type { Finding } from '../health/types.ts';
import { log } from '../log.ts';
import type { CheckOptions, CheckResult } from './check.ts';
import { endpointsOf } from './endpoints.ts';
import { connectivityFindings, runChecks } from './run.ts';
import { DEFAULT_CONNECTIVITY } from './schema.ts';

/**
 * The scheduled connectivity checks of the health monitor: every `intervalMinutes` (default 15,
 * 0: off) all endpoints are checked, recorded with history, and their findings
 * (`connectivity.NAME`) handed to `report`, which raises and clears alerts like every probe.
 */
export class ConnectivitySchedule {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  readonly o: { host: Host; db: Database.Database; config: () => Config | null; report: (findings: Finding[]) => Promise<unknown>; check?: CheckOptions };
  constructor(o: ConnectivitySchedule['o']) {
    this.o = o;
  }
  /** One run over every endpoint; nothing when a run is still going or there is no configuration. */
  async runOnce(): Promise<CheckResult[]> {
    const c = this.o.config();
    if (!c || this.busy) return [];
    this.busy = true;
    try {
      const results = await runChecks(this.o.host, this.o.db, c, endpointsOf(c), this.o.check);
      await this.o.report(connectivityFindings(results));
      return results;
    } finally {
      this.busy = false;
    }
  }
  /**
   * Starts the schedule of the configuration (a first run at once). A sandbox root (`npm start`,
   * tests) runs it only when the connectivity section is set: its sample servers are not to be dialled unasked.
   */
  start(): void {
    const c = this.o.config();
    if (this.o.host.sandbox && !c?.connectivity) return;
    const minutes = (c?.connectivity ?? DEFAULT_CONNECTIVITY).intervalMinutes;
    if (!minutes) return;
    const tick = () => void this.runOnce().catch((e) => log.warn('connectivity checks failed', { error: (e as Error).message }));
    tick();
    this.timer = setInterval(tick, minutes * 60_000);
    this.timer.unref();
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
