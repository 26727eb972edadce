import fs from 'node:fs';
import type { Host } from '../host/index.ts';
import * as rules from '../config/rules.ts';
import { listNics } from '../network/nics.ts';
import { toScript } from '../config/script.ts';
import { Q, isYes, type Question } from './questions.ts';
import type { Terminal } from './terminal.ts';
import { buildConfig, commitWizard, type WizardAnswers } from './commit.ts';
import { VERSION } from '../version.ts';

const EULA = fs.readFileSync(new URL('./eula.txt', import.meta.url), 'utf8');

/** An extra check that needs earlier answers (gateway in subnet, NIC present...). */
type Check = (v: string) => string | null;

/** The interactive wizard, on a TTY or a pipe. Returns the exit code. */
export class WizardFlow {
  readonly t: Terminal;
  readonly host: Host;
  readonly source: string;
  constructor(t: Terminal, host: Host, source: string) {
    this.t = t;
    this.host = host;
    this.source = source;
  }

  /** Asks until the answer passes the question's rule and `extra`; blank returns `def` (or '' when optional). */
  async ask(q: Question, opts: { def?: string; optional?: boolean; extra?: Check } = {}): Promise<string> {
    for (;;) {
      const prompt = opts.def ? q.prompt.replace(/: $/, ` [${opts.def}]: `) : q.prompt;
      let v = await this.t.ask(prompt, q.secret);
      if (v === '' && opts.def !== undefined) v = opts.def;
      if (v === '' && opts.optional) return '';
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
      const v = await this.t.ask(q.prompt, true);
      const err = check(v);
      if (err) {
        this.t.write(`% Invalid ${q.label}: ${err}\n`);
        continue;
      }
      if ((await this.t.ask(confirm.prompt, true)) === v) return v;
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
        t.write('\nLet us go through it again; press Enter to keep an answer.\n\n');
        prev = a;
        continue;
      }
      t.write('\nConfiguration complete.\n\n');
      for (;;) {
        await this.ask(Q.reload);
        const save = isYes(await this.ask(Q.reloadSave));
        if (isYes(await this.ask(Q.proceed))) {
          t.write(save ? '\nSaving the configuration and reloading ...\n' : '\nReloading without saving: the wizard runs again after the restart ...\n');
          return commitWizard(this.host, config, a, { save, reboot: true, source: this.source });
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
      def: p.interface,
      extra: (v) => {
        const n = v.toLowerCase() === 'b' ? 1 : 0;
        return nics.length > 0 && !nics[n] ? `GigabitEthernet${n + 1} is not present on this machine (${nics.length} network interface${nics.length > 1 ? 's' : ''} found)` : null;
      },
    })).toLowerCase() as 'a' | 'b';
    const address = await this.ask(Q.address, { def: p.address });
    const netmask = await this.ask(Q.netmask, { def: p.netmask, extra: (m) => rules.addressInSubnet(address, m) });
    const gateway = await this.ask(Q.gateway, { def: p.gateway, extra: (g) => rules.gatewayInSubnet(g, address, netmask) });
    const hostname = await this.ask(Q.hostname, { def: p.hostname });
    const nameServers = [await this.ask(Q.nameServer1, { def: p.nameServers?.[0] })];
    for (const q of [Q.nameServer2, Q.nameServer3]) {
      const v = await this.ask(q, { optional: true });
      if (!v) break;
      nameServers.push(v);
    }
    const ssh = isYes(await this.ask(Q.ssh, { def: p.ssh === undefined ? undefined : p.ssh ? 'yes' : 'no' }));
    const ntp = isYes(await this.ask(Q.ntp, { def: p.ntp === undefined ? undefined : p.ntp ? 'yes' : 'no' }));
    const ntpServers: string[] = [];
    let clock: WizardAnswers['clock'] = null;
    if (ntp) {
      ntpServers.push(await this.ask(Q.ntpServer1, { def: p.ntpServers?.[0] }));
      for (const q of [Q.ntpServer2, Q.ntpServer3]) {
        const v = await this.ask(q, { optional: true });
        if (!v) break;
        ntpServers.push(v);
      }
    } else if (isYes(await this.ask(Q.setClock))) {
      const time = await this.ask(Q.time);
      const date = await this.ask(Q.date);
      clock = { time, date };
    }
    return { company, contact, contactEmail, enableSecret, adminUser, adminPassword, interface: iface, address, netmask, gateway, hostname, nameServers, ssh, ntp, ntpServers, clock };
  }
}
