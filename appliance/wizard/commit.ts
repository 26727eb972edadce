import fs from 'node:fs';
import type { Host } from '../host/index.ts';
import { Store } from '../config/store.ts';
import { applyConfig } from '../config/apply.ts';
import { validate, type Config } from '../config/schema.ts';
import { hashSecret } from '../users/secrets.ts';
import { INTERFACE_NAMES } from '../network/schema.ts';
import { log } from '../log.ts';

/** What the wizard gathered. Secrets in plain only until they are hashed here. */
export interface WizardAnswers {
  company: string;
  contact: string;
  contactEmail: string;
  enableSecret: string;
  adminUser: string;
  adminPassword: string;
  interface: 'a' | 'b';
  address: string;
  netmask: string;
  gateway: string;
  hostname: string;
  nameServers: string[];
  ssh: boolean;
  ntp: boolean;
  ntpServers: string[];
  /** Set the clock to this UTC time when NTP is off: `HH:MM:SS` and `DD MM YYYY`. */
  clock: { time: string; date: string } | null;
}

export const CONFIGURED_MARKER = '/var/lib/keel/configured';
const LOCK = '/var/lib/keel/wizard.lock';

/** The configuration the answers describe (hashes the secrets). */
export async function buildConfig(a: WizardAnswers, now = new Date()): Promise<Config> {
  const at = now.toISOString();
  return validate({
    schemaVersion: 1,
    system: { hostname: a.hostname, company: a.company, contact: a.contact, contactEmail: a.contactEmail, eulaAcceptedAt: at },
    users: {
      enableSecretHash: await hashSecret(a.enableSecret),
      local: [{ name: a.adminUser, passwordHash: await hashSecret(a.adminPassword), passwordChangedAt: at, role: 'admin' }],
    },
    network: {
      interfaces: [{ name: a.interface === 'b' ? INTERFACE_NAMES[1] : INTERFACE_NAMES[0], address: a.address, netmask: a.netmask, enabled: true }],
      gateway: a.gateway,
      routes: [],
    },
    dns: { servers: a.nameServers },
    ntp: { enabled: a.ntp, servers: a.ntp ? a.ntpServers : [] },
    clock: { timezone: 'UTC' },
    ssh: { enabled: a.ssh, port: 22 },
    webui: { port: 8443 },
  });
}

/** Another console finished the wizard first. */
export class ConfiguredElsewhere extends Error {}

/**
 * The only place the wizard writes: after the final "yes". Exclusive between consoles (a lock
 * file), applies through the same service as every other entry point, saves when asked, marks
 * the appliance configured, and reboots.
 */
export async function commitWizard(host: Host, config: Config, a: WizardAnswers, opts: { save: boolean; reboot: boolean; source: string }): Promise<number> {
  host.files.mkdirp('/var/lib/keel', 0o700);
  let fd: number;
  try {
    fd = fs.openSync(host.files.real(LOCK), 'wx', 0o600);
  } catch {
    throw new ConfiguredElsewhere('another console is saving the configuration');
  }
  const store = Store.open(host);
  try {
    if (store.configured()) throw new ConfiguredElsewhere('the appliance was configured on another console');
    const actor = { who: config.users.local[0].name, source: opts.source };
    const r = await applyConfig(host, store, config, actor, 'first-boot wizard');
    if (a.clock) {
      const [d, mo, y] = a.clock.date.split(' ').map(Number);
      const stamp = `${y}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')} ${a.clock.time}`;
      await host.proc.run('date', ['-u', '-s', stamp]);
      await host.proc.run('hwclock', ['--systohc', '--utc'], { allowFail: true });
      store.audit(actor, `clock set to ${stamp} UTC`, 'ok');
    }
    if (opts.save) {
      store.saveStartup(actor);
      host.files.writeAtomic(CONFIGURED_MARKER, `revision ${r.revision}\n`, 0o600);
    }
    log.info('first-boot configuration applied', { revision: r.revision, saved: opts.save });
    if (opts.reboot) {
      store.audit(actor, 'reload', 'requested');
      store.close();
      await host.proc.run('systemctl', ['reboot']);
      return 0;
    }
    return 0;
  } finally {
    try {
      store.close();
    } catch {
      /* already closed */
    }
    fs.closeSync(fd);
    host.files.remove(LOCK);
  }
}
