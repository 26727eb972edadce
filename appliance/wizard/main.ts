import fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { createHost, type Host } from '../host/index.ts';
import { Store, DB_PATH } from '../config/store.ts';
import * as rules from '../config/rules.ts';
import { listNics } from '../network/nics.ts';
import { ValidationError, OperationalError, isUserFacing, type FieldProblem } from '../errors.ts';
import { Terminal, Interrupted, EndOfInput } from './terminal.ts';
import { WizardFlow } from './flow.ts';
import { Q, QUESTIONS, isYes, yesNo, timeRule, dateRule } from './questions.ts';
import { buildConfig, commitWizard, ConfiguredElsewhere, type WizardAnswers } from './commit.ts';
import { parseOptions, ROOT_OPTION, type OptionTable } from '../options.ts';

/**
 * `keel wizard --root DIR [--answers FILE]`.
 *
 * Exit codes: 0 configured; 1 end of input or the configuration could not be applied; 2 bad
 * usage, bad answers file or already configured; 3 EULA declined; 4 configured on another
 * console; 130 interrupted (Ctrl-C). Nothing is written unless the code is 0 (a failed apply
 * leaves the previous state and an audit entry).
 *
 * The answers file is described in HELP (printed by `keel wizard --help`).
 */
/** The answers file, for `keel wizard --help`. */
export const HELP = `Answers file: a JSON object, one key per question (below), checked with the same rules as
the interactive wizard (every bad field is reported with its rule; nothing is written). Keys and
the questions they answer:
${QUESTIONS.map((q) => `  ${q.id.padEnd(22)} ${q.prompt.replace(/: $/, '')}`).join('\n')}

Example: {"eula": "yes", "company": "Example Corp", "adminUser": "admin", "adminPassword": "…", …}
Which keys go together:
  "eula": "yes" (required)            "company", "contact", "contactEmail"
  "enableSecret" [, "enableSecretConfirm"]  (plain in the file; stored only as a hash)
  "adminUser", "adminPassword" [, "adminPasswordConfirm"]
  "interface": "a" | "b"              "address", "netmask", "gateway", "hostname"
  "nameServer1" [, "nameServer2" [, "nameServer3"]]   or "nameServers": [1-3 addresses]
  "ssh": "yes" | "no"                 "ntp": "yes" | "no"
  NTP yes: "ntpServer1" [, "ntpServer2" [, "ntpServer3"]]   or "ntpServers": [1-3]
  NTP no:  "setClock": "yes" with "time": "HH:MM:SS" (UTC) and "date": "DD MM YYYY",
           or "clock": {"time", "date"}
  "save": "yes" (default; the review question — "no" has no meaning without a second round)
  "reloadSave": "yes" | "no" (default yes: save the startup configuration and mark configured)
  "reload": "yes" | "no" (default no: reboot at the end only when yes), "proceed" (default yes)
yes/no answers may also be JSON booleans; "showEula" is accepted and ignored. Unknown keys are refused.`;

export const OPTIONS = {
  root: ROOT_OPTION,
  answers: { type: 'string', value: 'FILE', help: 'answer every question from a JSON file, unattended (below)' },
  source: { type: 'string', default: 'wizard', value: 'NAME', help: 'where the change is recorded as coming from' },
} satisfies OptionTable;

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions(OPTIONS, argv) as { root: string; answers?: string; source: string };
  const host = createHost(values.root);
  if (isConfigured(host)) {
    console.error('keel wizard: this appliance is already configured; change it with the CLI or System Manager');
    return 2;
  }
  if (values.answers) return runAnswers(host, values.answers, values.source);
  return runInteractive(host, values.source);
}

/** True when a startup configuration is saved. Read-only: does not create the store. */
export function isConfigured(host: Host): boolean {
  if (!host.files.exists(DB_PATH)) return false;
  const store = Store.open(host);
  try {
    return store.configured();
  } finally {
    store.close();
  }
}

export interface InteractiveOptions {
  input?: Readable;
  output?: Writable;
  /** A terminal the caller keeps using afterwards (the console); not closed here. */
  terminal?: Terminal;
  /** See FlowOptions.elsewhere (the console checks for another console at every step). */
  elsewhere?: () => string | null;
}

/** The interactive wizard on a TTY or a pipe (this process's stdin/stdout unless given). Returns the exit code. */
export async function runInteractive(host: Host, source: string, opts: InteractiveOptions = {}): Promise<number> {
  const t = opts.terminal ?? new Terminal(opts.input ?? process.stdin, opts.output ?? process.stdout);
  const input = t.input;
  // On a TTY in line mode Ctrl-C arrives as SIGINT; in raw mode (secrets) as \x03 (Interrupted).
  const onSigint = () => {
    t.write('\n% Interrupted: nothing was written.\n');
    process.exit(130);
  };
  const own = input === process.stdin;
  if (own) process.on('SIGINT', onSigint);
  try {
    return await new WizardFlow(t, host, source, { elsewhere: opts.elsewhere }).run();
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
      t.write(`\n% This wizard stops: ${e.message}.\n`);
      return 4;
    }
    if (isUserFacing(e)) {
      t.write(`\n% The configuration could not be applied: ${e.message}\n`);
      if (e instanceof OperationalError) t.write(`%   command: ${e.command}\n%   exit code: ${e.exitCode ?? 'killed by a signal'}\n${e.stderr ? `%   stderr: ${e.stderr.trim().split('\n').slice(-3).join(' | ')}\n` : ''}`);
      t.write('% Nothing was saved; the previous state is unchanged.\n');
      return 1;
    }
    throw e;
  } finally {
    if (own) process.off('SIGINT', onSigint);
    if (!opts.terminal) t.close();
  }
}

const ANSWER_KEYS = new Set([
  ...Object.keys(Q),
  'nameServers',
  'ntpServers',
  'clock',
]);

/** Checks an answers file with the wizard's rules; returns every problem, by field (the question id). */
export function checkAnswers(raw: Record<string, unknown>, host: Host): { answers: WizardAnswers | null; problems: FieldProblem[]; save: boolean; reload: boolean } {
  const problems: FieldProblem[] = [];
  const bad = (field: string, rule: string, message: string) => problems.push({ field, rule, message });
  const str = (k: string, from: Record<string, unknown> = raw): string => {
    const v = from[k];
    if (typeof v === 'string') return v.trim();
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (typeof v === 'number') return String(v);
    if (v !== undefined && v !== null) bad(k, 'type', `${k} must be a string`);
    return '';
  };
  /** Checks a required value; returns it (or '' when missing or bad). */
  const need = (field: string, rule: rules.Rule | undefined, ruleName: string, v: string): string => {
    if (v === '') {
      bad(field, 'required', `${field} is required`);
      return '';
    }
    const e = rule?.(v) ?? null;
    if (e) {
      bad(field, ruleName, e);
      return '';
    }
    return v;
  };
  /** A yes/no answer with a default when absent. */
  const yn = (k: string, def: boolean | null): boolean => {
    const v = str(k);
    if (v === '') {
      if (def === null) bad(k, 'required', `${k} is required (yes or no)`);
      return def ?? false;
    }
    if (yesNo(v)) bad(k, 'yes-no', `${k}: answer yes or no`);
    return isYes(v);
  };
  /** A list given as `<key>s: [...]` or as `<key>1`, `<key>2`, `<key>3` (a gap ends the list). */
  const list = (arrayKey: string, prefix: string, rule: rules.Rule, ruleName: string, label: string): string[] => {
    const hasArray = raw[arrayKey] !== undefined;
    const numbered = [1, 2, 3].filter((n) => raw[`${prefix}${n}`] !== undefined && raw[`${prefix}${n}`] !== '');
    if (hasArray && numbered.length) {
      bad(arrayKey, 'one-form', `give ${arrayKey} or ${prefix}1-3, not both`);
      return [];
    }
    let items: { field: string; value: string }[];
    if (hasArray) {
      const a = raw[arrayKey];
      if (!Array.isArray(a)) {
        bad(arrayKey, 'type', `${arrayKey} must be a list`);
        return [];
      }
      items = a.map((v, i) => ({ field: `${arrayKey}/${i}`, value: String(v).trim() }));
    } else {
      items = [];
      for (const n of [1, 2, 3]) {
        const v = str(`${prefix}${n}`);
        if (!v) break;
        items.push({ field: `${prefix}${n}`, value: v });
      }
      const after = numbered.filter((n) => n > items.length + 1);
      if (after.length) bad(`${prefix}${after[0]}`, 'list-order', `${prefix}${after[0]} is given but ${prefix}${items.length + 1} is blank (a blank answer ends the list)`);
    }
    if (items.length < 1 || items.length > 3) bad(hasArray ? arrayKey : `${prefix}1`, items.length ? 'count' : 'required', `give 1 to 3 ${label}s`);
    return items.map((it) => need(it.field, rule, ruleName, it.value)).filter(Boolean);
  };

  for (const k of Object.keys(raw)) if (!ANSWER_KEYS.has(k)) bad(k, 'unknown-key', `"${k}" is not a question id (see the list in appliance/wizard/main.ts)`);
  if (raw.showEula !== undefined) yn('showEula', true);
  if (!isYes(str('eula'))) bad('eula', 'eula-accepted', 'the End User License Agreement must be accepted ("eula": "yes")');
  const company = need('company', Q.company.rule, Q.company.ruleName, str('company'));
  const contact = need('contact', Q.contact.rule, Q.contact.ruleName, str('contact'));
  const contactEmail = need('contactEmail', Q.contactEmail.rule, Q.contactEmail.ruleName, str('contactEmail'));
  const enableSecret = need('enableSecret', rules.enableSecret, Q.enableSecret.ruleName, str('enableSecret'));
  if (raw.enableSecretConfirm !== undefined && str('enableSecretConfirm') !== str('enableSecret')) bad('enableSecretConfirm', 'confirmation', 'enableSecretConfirm does not match enableSecret');
  const adminUser = need('adminUser', rules.userName, Q.adminUser.ruleName, str('adminUser'));
  const adminPassword = need('adminPassword', (v) => rules.password(v, str('adminUser')), Q.adminPassword.ruleName, str('adminPassword'));
  if (raw.adminPasswordConfirm !== undefined && str('adminPasswordConfirm') !== str('adminPassword')) bad('adminPasswordConfirm', 'confirmation', 'adminPasswordConfirm does not match adminPassword');
  const iface = need('interface', Q.interface.rule, Q.interface.ruleName, str('interface').toLowerCase());
  const nics = listNics(host);
  if (iface && nics.length > 0 && !nics[iface === 'b' ? 1 : 0]) bad('interface', 'nic-present', `GigabitEthernet${iface === 'b' ? 2 : 1} is not present on this machine (${nics.length} network interface${nics.length > 1 ? 's' : ''} found)`);
  const address = need('address', rules.hostAddress, Q.address.ruleName, str('address'));
  const netmask = need('netmask', rules.netmask, Q.netmask.ruleName, str('netmask'));
  const gateway = need('gateway', rules.ipv4, Q.gateway.ruleName, str('gateway'));
  if (address && netmask) {
    const e = rules.addressInSubnet(address, netmask);
    if (e) bad('address', 'host-in-subnet', e);
    else if (gateway) {
      const g = rules.gatewayInSubnet(gateway, address, netmask);
      if (g) bad('gateway', 'gateway-in-subnet', g);
    }
  }
  const hostname = need('hostname', rules.fqdn, Q.hostname.ruleName, str('hostname'));
  const nameServers = list('nameServers', 'nameServer', rules.ipv4, Q.nameServer1.ruleName, 'name server');
  const ssh = yn('ssh', null);
  const ntp = yn('ntp', null);
  let ntpServers: string[] = [];
  let clock: WizardAnswers['clock'] = null;
  if (ntp) {
    ntpServers = list('ntpServers', 'ntpServer', rules.ntpServer, Q.ntpServer1.ruleName, 'NTP server');
    for (const k of ['setClock', 'time', 'date', 'clock']) if (raw[k] !== undefined) bad(k, 'ntp-off-only', `${k} is asked only when NTP is off`);
  } else {
    for (const k of ['ntpServers', 'ntpServer1', 'ntpServer2', 'ntpServer3']) if (raw[k] !== undefined) bad(k, 'ntp-on-only', `${k} is asked only when NTP is on`);
    const obj = raw.clock;
    if (obj !== undefined && (typeof obj !== 'object' || obj === null || Array.isArray(obj))) bad('clock', 'type', 'clock must be {"time": "HH:MM:SS", "date": "DD MM YYYY"}');
    const c = typeof obj === 'object' && obj !== null && !Array.isArray(obj) ? (obj as Record<string, unknown>) : null;
    if (c && (raw.setClock !== undefined || raw.time !== undefined || raw.date !== undefined)) bad('clock', 'one-form', 'give clock or setClock/time/date, not both');
    else if (c || yn('setClock', false)) {
      const pre = c ? 'clock/' : '';
      const time = need(`${pre}time`, timeRule, Q.time.ruleName, c ? str('time', c) : str('time'));
      const date = need(`${pre}date`, dateRule, Q.date.ruleName, c ? str('date', c) : str('date'));
      if (time && date) clock = { time, date };
    } else for (const k of ['time', 'date']) if (raw[k] !== undefined) bad(k, 'set-clock-only', `${k} is asked only when setClock is yes`);
  }
  if (!yn('save', true)) bad('save', 'review-accepted', 'save must be yes: "no" goes back to the questions, which an answers file cannot do');
  const save = yn('reloadSave', true);
  const reloadAsked = yn('reload', false);
  const proceed = yn('proceed', true);
  const reload = reloadAsked && proceed;
  if (problems.length) {
    const seen = new Set<string>();
    const unique = problems.filter((p) => (seen.has(`${p.field} ${p.rule}`) ? false : (seen.add(`${p.field} ${p.rule}`), true)));
    return { answers: null, problems: unique, save, reload };
  }
  return {
    answers: { company, contact, contactEmail, enableSecret, adminUser, adminPassword, interface: iface as 'a' | 'b', address, netmask, gateway, hostname, nameServers, ssh, ntp, ntpServers, clock },
    problems,
    save,
    reload,
  };
}

async function runAnswers(host: Host, file: string, source: string): Promise<number> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`keel wizard: cannot read answers file ${file}: ${(e as Error).message}`);
    return 2;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    console.error(`keel wizard: answers file ${file} must hold a JSON object keyed by question id`);
    return 2;
  }
  const r = checkAnswers(raw as Record<string, unknown>, host);
  if (!r.answers) {
    for (const p of r.problems) console.error(`% Invalid ${p.field} (${p.rule}): ${p.message}`);
    console.error('keel wizard: the answers file was refused; nothing was written');
    return 2;
  }
  try {
    const config = await buildConfig(r.answers);
    const res = await commitWizard(host, config, r.answers, { save: r.save, reboot: r.reload, source: `${source}:answers` });
    if (res.clockError) console.error(`% Warning: the clock could not be set: ${res.clockError}`);
    console.log(`Configuration complete (revision ${res.revision}${r.save ? ', saved' : ', not saved'}${r.reload ? ', reloading' : ''}).`);
    return res.code;
  } catch (e) {
    if (e instanceof ValidationError) {
      for (const p of e.problems) console.error(`% Invalid ${p.field} (${p.rule}): ${p.message}`);
      console.error('keel wizard: nothing was written');
      return 2;
    }
    if (e instanceof ConfiguredElsewhere) {
      console.error(`keel wizard: ${e.message}`);
      return 4;
    }
    if (e instanceof OperationalError) {
      console.error(`% The configuration could not be applied: ${e.message}`);
      console.error('% Nothing was saved; the previous state is unchanged.');
      return 1;
    }
    throw e;
  }
}
