import fs from 'node:fs';
import type { Host } from '../host/index.ts';
import { Store } from '../config/store.ts';
import { applyConfig } from '../config/apply.ts';
import { validate, type Config } from '../config/schema.ts';
import { hashSecret } from '../users/secrets.ts';
import { INTERFACE_NAMES } from '../network/schema.ts';
import { log } from '../log.ts';
import { processAlive } from '../host/processes.ts';

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
/** Held (O_EXCL) by the console that is writing the first configuration: `<pid> <boot id>`. */
export const WIZARD_LOCK = '/var/lib/keel/wizard.lock';

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

/** Another console finished (or is finishing) the wizard first. */
export class ConfiguredElsewhere extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfiguredElsewhere';
  }
}

function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** The process holding the wizard lock, or null when there is none or it is stale (its process is gone, or it is from an earlier boot). */
export function lockHolder(host: Host): number | null {
  const text = host.files.readText(WIZARD_LOCK);
  if (text === null) return null;
  const [pid, boot] = text.trim().split(/\s+/);
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0 || boot !== bootId() || !processAlive(n)) return null;
  return n;
}

/**
 * Why this console's wizard must stop, or null: the appliance was configured on another console
 * (its marker or startup configuration exists), or another console is writing its configuration.
 * Read-only: checked at every step of the interactive wizard.
 */
export function configuredElsewhere(host: Host): string | null {
  if (host.files.exists(CONFIGURED_MARKER)) return 'the appliance was configured on another console';
  const holder = lockHolder(host);
  if (holder !== null && holder !== process.pid) return 'the appliance is being configured on another console';
  return null;
}

/** Takes the wizard lock (O_EXCL); a stale lock (dead process, earlier boot) is replaced. Returns its fd. */
function takeLock(host: Host): number {
  host.files.mkdirp('/var/lib/keel', 0o700);
  const file = host.files.real(WIZARD_LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, `${process.pid} ${bootId()}\n`);
      return fd;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (lockHolder(host) !== null) break;
      // Left by a process that is gone (power cut, kill): nobody is writing; take it over.
      host.files.remove(WIZARD_LOCK);
    }
  }
  throw new ConfiguredElsewhere('the appliance is being configured on another console');
}

export interface CommitResult {
  code: number;
  revision: number;
  /** Set when the clock could not be set (the configuration was still applied and saved). */
  clockError: string | null;
}

/**
 * The only place the wizard writes: after the final "yes". Exclusive between consoles (an O_EXCL
 * lock file: the first finisher writes, the other is told), applies through the same service as
 * every other entry point, sets the clock when asked, saves when asked, marks the appliance
 * configured (only when saved), and reboots when asked. A failed apply throws (OperationalError)
 * and leaves the previous state: nothing saved, no marker, no reboot.
 */
export async function commitWizard(host: Host, config: Config, a: WizardAnswers, opts: { save: boolean; reboot: boolean; source: string }): Promise<CommitResult> {
  const fd = takeLock(host);
  let store: Store | null = null;
  try {
    if (host.files.exists(CONFIGURED_MARKER)) throw new ConfiguredElsewhere('the appliance was configured on another console');
    store = Store.open(host);
    if (store.configured()) throw new ConfiguredElsewhere('the appliance was configured on another console');
    const actor = { who: config.users.local[0].name, source: opts.source };
    const r = await applyConfig(host, store, config, actor, 'first-boot wizard');
    let clockError: string | null = null;
    if (a.clock) {
      const [d, mo, y] = a.clock.date.split(' ').map(Number);
      const stamp = `${y}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')} ${a.clock.time}`;
      try {
        await host.proc.run('date', ['-u', '-s', stamp]);
        await host.proc.run('hwclock', ['--systohc', '--utc']);
        store.audit(actor, `clock set to ${stamp} UTC`, 'ok');
      } catch (e) {
        // The configuration is applied; a clock that could not be set is reported, not fatal.
        clockError = (e as Error).message;
        store.audit(actor, `clock set to ${stamp} UTC`, `failed: ${clockError}`);
      }
    }
    if (opts.save) {
      store.saveStartup(actor);
      host.files.writeAtomic(CONFIGURED_MARKER, `revision ${r.revision}\n`, 0o600);
    }
    log.info('first-boot configuration applied', { revision: r.revision, saved: opts.save });
    if (opts.reboot) {
      store.audit(actor, 'reload', 'requested');
      store.close();
      store = null;
      await host.proc.run('systemctl', ['reboot']);
    }
    return { code: 0, revision: r.revision, clockError };
  } finally {
    store?.close();
    fs.closeSync(fd);
    host.files.remove(WIZARD_LOCK);
  }
}
