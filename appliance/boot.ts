import { createHost } from './host/index.ts';
import { Store } from './config/store.ts';
import { applyAtBoot } from './config/apply.ts';
import { ensureWebuiCertificateFor } from './certs/webui.ts';
import { ensureHostKeys } from './ssh/keys.ts';
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

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions(OPTIONS, argv) as { root: string };
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
  }
  const store = Store.open(host);
  try {
    if (!(await applyAtBoot(host, store))) {
      log.info('not configured yet; the first-boot wizard runs on the console');
      return 0;
    }
    const cert = await ensureWebuiCertificateFor(host, store.running()!.config);
    log.info('System Manager certificate ready', { fingerprint256: cert.fingerprint256 });
    // Made here, before the console banner, so the banner can show their fingerprints.
    ensureHostKeys(host);
    if (handOverDataPartition(host)) log.info('data partition handed to the service user', { user: SERVICE_USER });
    return 0;
  } finally {
    store.close();
  }
}
