import { createHost } from './host/index.ts';
import { Store } from './config/store.ts';
import { applyAtBoot } from './config/apply.ts';
import { ensureWebuiCertificateFor } from './certs/webui.ts';
import { ensureHostKeysAsync } from './ssh/keys.ts';
import { log } from './log.ts';
import { SERVICE_USER, handOverDataPartition } from './host/users.ts';
import { parseOptions, ROOT_OPTION, type OptionTable } from './options.ts';

/**
 * `keel boot`: runs the update boot check, renders the saved configuration into the OS and makes sure System Manager has a
 * certificate for the configured hostname and SSH host keys (made once, at the first boot after
 * the wizard).
 * Nothing to do before the wizard has run.
 */
export const OPTIONS = { root: ROOT_OPTION } satisfies OptionTable;

/**
 * Where a boot's time goes (issue 15), for the one `boot finished` line: wall-clock laps in order,
 * plus how long the work that ran beside them (keys, certificate) took on its own.
 */
export class BootTimes {
  readonly ms: Record<string, number> = {};
  private last = performance.now();
  constructor() {
    // performance.now() counts from the process start: Node's start and the module loading.
    this.ms.start = Math.round(this.last);
  }
  /** Ends the lap `name` (from the end of the previous one). */
  lap(name: string): void {
    const now = performance.now();
    this.ms[name] = Math.round(now - this.last);
    this.last = now;
  }
  /** Times a task of its own (it may overlap laps). */
  async task<T>(name: string, work: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      this.ms[name] = Math.round(performance.now() - t0);
    }
  }
  get total(): number {
    return Math.round(performance.now());
  }
}

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions(OPTIONS, argv) as { root: string };
  const times = new BootTimes();
  const host = createHost(values.root);
  // The update boot check comes first, before anything opens keel.db. On the appliance only
  // (a sandbox has no boot loader); its failure never stops the boot.
  if (host.proc.live) {
    try {
      const { updateBootCheck } = await import('./update/main.ts');
      await updateBootCheck(host);
    } catch (e) {
      log.error('update boot check failed; booting on', { error: (e as Error).message });
    }
    times.lap('updateCheck');
  }
  const store = Store.open(host);
  // Started before the configuration is rendered and awaited after it: the key generation runs on
  // libuv's thread pool and the certificate's between the render's file writes and commands, so a
  // first boot takes about the time of its slowest part instead of the sum.
  let keys: Promise<unknown> | null = null;
  let cert: ReturnType<typeof ensureWebuiCertificateFor> | null = null;
  try {
    const startup = store.startup();
    if (startup) {
      keys = times.task('hostKeys', () => ensureHostKeysAsync(host));
      cert = times.task('certificate', () => ensureWebuiCertificateFor(host, startup.config));
      // Until awaited below: a failure of the render must not leave an unhandled rejection.
      keys.catch(() => {});
      cert.catch(() => {});
    }
    times.lap('open');
    if (!(await applyAtBoot(host, store))) {
      log.info('not configured yet; the first-boot wizard runs on the console');
      return 0;
    }
    times.lap('render');
    const c = await cert!;
    log.info('System Manager certificate ready', { fingerprint256: c.fingerprint256 });
    // Made here, before the console banner, so the banner can show their fingerprints.
    await keys;
    times.lap('waitKeysAndCertificate');
    if (handOverDataPartition(host)) log.info('data partition handed to the service user', { user: SERVICE_USER });
    times.lap('handOver');
    log.info('boot finished', { ms: { ...times.ms, total: times.total } });
    return 0;
  } finally {
    await Promise.allSettled([keys, cert]);
    store.close();
  }
}
