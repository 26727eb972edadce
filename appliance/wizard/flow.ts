import fs from 'node:fs';
import type { Host } from '../host/index.ts';
import * as rules from '../config/rules.ts';
import { listNics } from '../network/nics.ts';
import { toScript } from '../config/script.ts';
import { Q, isYes, type Question } from './questions.ts';
import type { Terminal } from './terminal.ts';
import { buildConfig, commitWizard, ConfiguredElsewhere, type WizardAnswers } from './commit.ts';
import { VERSION } from '../version.ts';

const EULA = fs.readFileSync(new URL('./eula.txt', import.meta.url), 'utf8');

/** The first host of a subnet (x.x.x.1 in a /24): the usual gateway, suggested, never assumed. */
function firstHost(address: string, netmask: string): string | undefined {
  if (rules.prefixLength(netmask) >= 31) return undefined;
  const net = (rules.ipToInt(address) & rules.ipToInt(netmask)) >>> 0;
  const g = rules.intToIp(net + 1);
  return g === address ? undefined : g;
}

/** An extra check that needs earlier answers (gateway in subnet, NIC present...). */
type Check = (v: string) => string | null;

export interface FlowOptions {
  /**
   * Checked at every step: a reason to stop because another console configured (or is
   * configuring) the appliance, or null. The console passes `configuredElsewhere(host)`.
   */
  elsewhere?: () => string | null;
}

/** The interactive wizard, on a TTY or a pipe. Returns the exit code. */
export class WizardFlow {
  readonly t: Terminal;
  readonly host: Host;
  readonly source: string;
  readonly opts: FlowOptions;
  constructor(t: Terminal, host: Host, source: string, opts: FlowOptions = {}) {
    this.t = t;
    this.host = host;
    this.source = source;
    this.opts = opts;
  }

  /** Stops the wizard when another console got there first. */
  private step(): void {
    const why = this.opts.elsewhere?.();
    if (why) throw new ConfiguredElsewhere(why);
  }

  /** Reads one answer; the "configured elsewhere" check runs before and after. */
  private async read(prompt: string, secret = false): Promise<string> {
    this.step();
    const v = await this.t.ask(prompt, secret);
    this.step();
    return v;
  }

  /**
   * Asks until the answer passes the question's rule and `extra`. Blank takes `def` when there is
   * one, else '' for an optional question; with a default, an optional question takes `none` to clear.
   */
  async ask(q: Question, opts: { def?: string; extra?: Check } = {}): Promise<string> {
    const optional = q.optional === true;
    for (;;) {
      const prompt = opts.def ? q.prompt.replace(/: $/, ` [${opts.def}]: `) : q.prompt;
      let v = await this.read(prompt, q.secret);
      if (v === '' && opts.def) v = opts.def;
      if (optional && (v === '' || (opts.def && v.toLowerCase() === 'none'))) return '';
      if (v === '') {
        this.t.write(`% Invalid ${q.label}: an answer is required\n`);
        continue;
      }
      const err = q.rule?.(v) ?? opts.extra?.(v) ?? null;
      if (!err) return v;
      this.t.write(`% Invalid ${q.label}: ${err}\n`);
    }
  }

  /** A secret and its confirmation; a mismatch asks both again. */
  async askSecret(q: Question, confirm: Question, check: Check): Promise<string> {
    for (;;) {
      const v = await this.read(q.prompt, true);
      const err = v === '' ? 'an answer is required' : check(v);
      if (err) {
        this.t.write(`% Invalid ${q.label}: ${err}\n`);
        continue;
      }
      if ((await this.read(confirm.prompt, true)) === v) return v;
      this.t.write(`% Invalid ${q.label}: the two entries do not match; enter it again\n`);
    }
  }

  async run(): Promise<number> {
    const t = this.t;
    t.write(`\nWelcome to Keel ${VERSION}\n\nThis wizard configures the appliance. Nothing is written until you confirm at the end.\n\n`);
    while (!isYes(await this.ask(Q.showEula))) t.write('The End User License Agreement must be displayed before you can continue.\n');
    await t.page(EULA);
    if (!isYes(await this.ask(Q.eula))) {
      t.write('\nThe End User License Agreement was not accepted. The wizard ends; nothing was written.\n');
      return 3;
    }
    let prev: Partial<WizardAnswers> = {};
    for (;;) {
      const a = await this.gather(prev);
      const config = await buildConfig(a);
      t.write('\nThe configuration as a command script:\n\n');
      t.write(toScript(config).join('\n') + '\n\n');
      if (!isYes(await this.ask(Q.save))) {
        t.write('\nLet us go through it again: press Enter to keep the answer shown in [brackets]\n(type none to remove an optional server); secrets must be typed again.\n\n');
        prev = a;
        continue;
      }
      t.write('\nConfiguration complete.\n\n');
      for (;;) {
        await this.ask(Q.reload);
        const save = isYes(await this.ask(Q.reloadSave));
        if (isYes(await this.ask(Q.proceed))) {
          this.step();
          t.write(save ? '\nApplying and saving the configuration, then reloading ...\n' : '\nApplying without saving, then reloading: the wizard runs again after the restart ...\n');
          const r = await commitWizard(this.host, config, a, { save, reboot: true, source: this.source });
          if (r.clockError) t.write(`% Warning: the clock could not be set: ${r.clockError}\n`);
          return r.code;
        }
        t.write('Reload cancelled; nothing was written.\n');
      }
    }
  }

  /** The questions from company name to the clock. */
  async gather(p: Partial<WizardAnswers>): Promise<WizardAnswers> {
    const company = await this.ask(Q.company, { def: p.company });
    const contact = await this.ask(Q.contact, { def: p.contact });
    const contactEmail = await this.ask(Q.contactEmail, { def: p.contactEmail });
    const enableSecret = await this.askSecret(Q.enableSecret, Q.enableSecretConfirm, rules.enableSecret);
    const adminUser = await this.ask(Q.adminUser, { def: p.adminUser });
    const adminPassword = await this.askSecret(Q.adminPassword, Q.adminPasswordConfirm, (v) => rules.password(v, adminUser));
    const nics = listNics(this.host);
    const iface = (await this.ask(Q.interface, {
      def: p.interface ?? (nics.length === 0 || nics[0] ? 'a' : undefined),
      extra: (v) => {
        const n = v.toLowerCase() === 'b' ? 1 : 0;
        return nics.length > 0 && !nics[n] ? `GigabitEthernet${n + 1} is not present on this machine (${nics.length} network interface${nics.length > 1 ? 's' : ''} found)` : null;
      },
    })).toLowerCase() as 'a' | 'b';
    // A network or broadcast address only shows as such with the netmask: then the address is asked again.
    let address = '';
    let netmask = p.netmask ?? '255.255.255.0';
    for (let again = false; ; again = true) {
      address = await this.ask(Q.address, { def: again ? undefined : p.address });
      netmask = await this.ask(Q.netmask, { def: netmask });
      const e = rules.addressInSubnet(address, netmask);
      if (!e) break;
      this.t.write(`% Invalid IP address: ${e} (${netmask}); enter the IP address again\n`);
    }
    const gateway = await this.ask(Q.gateway, { def: p.gateway ?? firstHost(address, netmask), extra: (g) => rules.gatewayInSubnet(g, address, netmask) });
    const hostname = await this.ask(Q.hostname, { def: p.hostname });
    const nameServers = [await this.ask(Q.nameServer1, { def: p.nameServers?.[0] })];
    for (const [i, q] of [Q.nameServer2, Q.nameServer3].entries()) {
      const v = await this.ask(q, { def: p.nameServers?.[i + 1] });
      if (!v) break;
      nameServers.push(v);
    }
    // Suggested on the first pass: SSH on (the CLI's way in), NTP on (certificates and logs need the time).
    const ssh = isYes(await this.ask(Q.ssh, { def: p.ssh === false ? 'no' : 'yes' }));
    const ntp = isYes(await this.ask(Q.ntp, { def: p.ntp === false ? 'no' : 'yes' }));
    const ntpServers: string[] = [];
    let clock: WizardAnswers['clock'] = null;
    if (ntp) {
      ntpServers.push(await this.ask(Q.ntpServer1, { def: p.ntpServers?.[0] }));
      for (const [i, q] of [Q.ntpServer2, Q.ntpServer3].entries()) {
        const v = await this.ask(q, { def: p.ntpServers?.[i + 1] });
        if (!v) break;
        ntpServers.push(v);
      }
    } else if (isYes(await this.ask(Q.setClock, { def: p.ntp === false ? (p.clock ? 'yes' : 'no') : undefined }))) {
      // No default for the time: it has moved on since the first round.
      const time = await this.ask(Q.time);
      const date = await this.ask(Q.date);
      clock = { time, date };
    }
    return { company, contact, contactEmail, enableSecret, adminUser, adminPassword, interface: iface, address, netmask, gateway, hostname, nameServers, ssh, ntp, ntpServers, clock };
  }
}
