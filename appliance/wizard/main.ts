import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { createHost, type Host } from '../host/index.ts';
import { Store } from '../config/store.ts';
import * as rules from '../config/rules.ts';
import { listNics } from '../network/nics.ts';
import { ValidationError, type FieldProblem } from '../errors.ts';
import { Terminal, Interrupted, EndOfInput } from './terminal.ts';
import { WizardFlow } from './flow.ts';
import { Q, isYes, yesNo, timeRule, dateRule } from './questions.ts';
import { buildConfig, commitWizard, ConfiguredElsewhere, type WizardAnswers } from './commit.ts';

/**
 * `keel wizard --root DIR [--answers FILE]`.
 *
 * Answers file (JSON), same rules as the interactive wizard:
 * `{ "eula": "yes", "company", "contact", "contactEmail", "enableSecret", "adminUser",
 *    "adminPassword", "interface": "a"|"b", "address", "netmask", "gateway", "hostname",
 *    "nameServers": [1-3], "ssh": "yes"|"no", "ntp": "yes"|"no", "ntpServers": [1-3],
 *    "clock": {"time": "HH:MM:SS", "date": "DD MM YYYY"} (optional, NTP off only),
 *    "save": "yes"|"no" (default yes), "reload": "yes"|"no" (default no) }`
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { root: { type: 'string', default: '/' }, answers: { type: 'string' }, source: { type: 'string', default: 'wizard' } } });
  const host = createHost(values.root);
  host.files.mkdirp('/var/lib/keel', 0o700);
  const store = Store.open(host);
  const configured = store.configured();
  store.close();
  if (configured) {
    console.error('keel wizard: this appliance is already configured; change it with the CLI or System Manager');
    return 2;
  }
  if (values.answers) return runAnswers(host, values.answers, values.source);
  return runInteractive(host, values.source);
}

/** The interactive wizard on this process's stdin/stdout (TTY or pipe). */
export async function runInteractive(host: Host, source: string, input = process.stdin, output = process.stdout): Promise<number> {
  const t = new Terminal(input, output);
  const onSigint = () => {
    t.write('\n% Interrupted: nothing was written.\n');
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
  try {
    return await new WizardFlow(t, host, source).run();
  } catch (e) {
    if (e instanceof Interrupted) {
      t.write('\n% Interrupted: nothing was written.\n');
      return 130;
    }
    if (e instanceof EndOfInput) {
      t.write('\n% End of input before the configuration was confirmed: nothing was written.\n');
      return 1;
    }
    if (e instanceof ConfiguredElsewhere) {
      t.write(`\n% ${e.message}.\n`);
      return 4;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    t.close();
  }
}

/** Checks an answers file with the wizard's rules; returns every problem, by field. */
export function checkAnswers(raw: Record<string, unknown>, host: Host): { answers: WizardAnswers | null; problems: FieldProblem[]; save: boolean; reload: boolean } {
  const problems: FieldProblem[] = [];
  const str = (k: string): string => (typeof raw[k] === 'string' ? (raw[k] as string).trim() : typeof raw[k] === 'boolean' ? (raw[k] ? 'yes' : 'no') : '');
  const list = (k: string): string[] => (Array.isArray(raw[k]) ? (raw[k] as unknown[]).map(String) : typeof raw[k] === 'string' && raw[k] ? [raw[k] as string] : []);
  const need = (field: string, rule: rules.Rule | undefined, v: string, ruleName: string): void => {
    if (v === '') problems.push({ field, rule: 'required', message: `${field} is required` });
    else {
      const e = rule?.(v);
      if (e) problems.push({ field, rule: ruleName, message: e });
    }
  };
  if (!isYes(str('eula'))) problems.push({ field: 'eula', rule: 'eula-accepted', message: 'the End User License Agreement must be accepted ("eula": "yes")' });
  need('company', Q.company.rule, str('company'), 'display-text');
  need('contact', Q.contact.rule, str('contact'), 'display-text');
  need('contactEmail', Q.contactEmail.rule, str('contactEmail'), 'email');
  need('enableSecret', rules.enableSecret, str('enableSecret'), 'enable-secret');
  need('adminUser', rules.userName, str('adminUser'), 'user-name');
  need('adminPassword', (v) => rules.password(v, str('adminUser')), str('adminPassword'), 'password-policy');
  const iface = str('interface').toLowerCase();
  need('interface', Q.interface.rule, iface, 'interface');
  const nics = listNics(host);
  if (/^[ab]$/.test(iface) && nics.length > 0 && !nics[iface === 'b' ? 1 : 0]) problems.push({ field: 'interface', rule: 'nic-present', message: `GigabitEthernet${iface === 'b' ? 2 : 1} is not present on this machine` });
  const address = str('address');
  const netmask = str('netmask');
  const gateway = str('gateway');
  need('address', rules.hostAddress, address, 'host-address');
  need('netmask', rules.netmask, netmask, 'netmask');
  need('gateway', rules.ipv4, gateway, 'ipv4');
  if (!rules.hostAddress(address) && !rules.netmask(netmask)) {
    const e = rules.addressInSubnet(address, netmask);
    if (e) problems.push({ field: 'address', rule: 'host-in-subnet', message: e });
    else if (!rules.ipv4(gateway)) {
      const g = rules.gatewayInSubnet(gateway, address, netmask);
      if (g) problems.push({ field: 'gateway', rule: 'gateway-in-subnet', message: g });
    }
  }
  need('hostname', rules.fqdn, str('hostname'), 'fqdn');
  const ns = list('nameServers');
  if (ns.length < 1 || ns.length > 3) problems.push({ field: 'nameServers', rule: 'count', message: 'give 1 to 3 name servers' });
  ns.forEach((s, i) => need(`nameServers/${i}`, rules.ipv4, s, 'ipv4'));
  for (const k of ['ssh', 'ntp']) need(k, yesNo, str(k), 'yes-no');
  const ntp = isYes(str('ntp'));
  const ntpServers = ntp ? list('ntpServers') : [];
  if (ntp && (ntpServers.length < 1 || ntpServers.length > 3)) problems.push({ field: 'ntpServers', rule: 'count', message: 'give 1 to 3 NTP servers when NTP is on' });
  ntpServers.forEach((s, i) => need(`ntpServers/${i}`, rules.ntpServer, s, 'ntp-server'));
  let clock: WizardAnswers['clock'] = null;
  if (raw.clock && !ntp) {
    const c = raw.clock as Record<string, unknown>;
    need('clock/time', timeRule, String(c.time ?? ''), 'time');
    need('clock/date', dateRule, String(c.date ?? ''), 'date');
    clock = { time: String(c.time ?? ''), date: String(c.date ?? '') };
  }
  const save = raw.save === undefined ? true : isYes(str('save'));
  const reload = raw.reload === undefined ? false : isYes(str('reload'));
  if (problems.length) return { answers: null, problems, save, reload };
  return {
    answers: {
      company: str('company'),
      contact: str('contact'),
      contactEmail: str('contactEmail'),
      enableSecret: str('enableSecret'),
      adminUser: str('adminUser'),
      adminPassword: str('adminPassword'),
      interface: iface as 'a' | 'b',
      address,
      netmask,
      gateway,
      hostname: str('hostname'),
      nameServers: ns,
      ssh: isYes(str('ssh')),
      ntp,
      ntpServers,
      clock,
    },
    problems,
    save,
    reload,
  };
}

async function runAnswers(host: Host, file: string, source: string): Promise<number> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    console.error(`keel wizard: cannot read answers file ${file}: ${(e as Error).message}`);
    return 2;
  }
  const r = checkAnswers(raw, host);
  if (!r.answers) {
    for (const p of r.problems) console.error(`% Invalid ${p.field} (${p.rule}): ${p.message}`);
    console.error('keel wizard: the answers file was refused; nothing was written');
    return 2;
  }
  const config = await buildConfig(r.answers);
  try {
    const code = await commitWizard(host, config, r.answers, { save: r.save, reboot: r.reload, source: `${source}:answers` });
    console.log('Configuration complete.');
    return code;
  } catch (e) {
    if (e instanceof ValidationError) {
      for (const p of e.problems) console.error(`% Invalid ${p.field} (${p.rule}): ${p.message}`);
      return 2;
    }
    throw e;
  }
}
