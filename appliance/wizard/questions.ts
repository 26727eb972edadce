import * as rules from '../config/rules.ts';

/**
 * Every question of the first-boot wizard, in order, as data: its id (also the key in an answers
 * file), the prompt text (stable: the QEMU end-to-end test waits for these over the serial
 * console), the label used in messages, the rule and its short name, and when it is asked.
 * Field rules come from appliance/config/rules.ts, shared with every other entry point.
 */
export interface Question {
  id: string;
  prompt: string;
  /** The field name used in messages: `% Invalid <label>: …`. */
  label: string;
  /** Short rule name reported for an answers file: `% Invalid <id> (<ruleName>): …`. */
  ruleName: string;
  secret?: boolean;
  rule?: rules.Rule;
  /** A blank answer is allowed (and ends a list of servers). */
  optional?: boolean;
  /** When the question is asked, for people (the flow in flow.ts implements it). */
  when?: string;
}

const YES_NO = /^(y|yes|n|no)$/i;
export const isYes = (v: string): boolean => /^(y|yes)$/i.test(v.trim());

/** yes/y/no/n, any case. */
export const yesNo: rules.Rule = (v) => (YES_NO.test(v.trim()) ? null : 'answer yes or no');

/** `HH:MM:SS`, a real time of day. */
export const timeRule: rules.Rule = (v) => {
  const m = /^(\d{1,2}):(\d{2}):(\d{2})$/.exec(v);
  if (!m) return 'time must be HH:MM:SS, like 14:05:00';
  return Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3]) > 59 ? 'time must be a real time of day (00:00:00-23:59:59)' : null;
};

/** `DD MM YYYY`, a date that exists. */
export const dateRule: rules.Rule = (v) => {
  const m = /^(\d{1,2}) (\d{1,2}) (\d{4})$/.exec(v);
  if (!m) return 'date must be DD MM YYYY, like 23 11 2026';
  const [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dt = new Date(Date.UTC(y, mo - 1, d));
  if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) return `date ${v} does not exist`;
  return y < 2024 || y > 2099 ? 'year must be between 2024 and 2099' : null;
};

/** `a` (GigabitEthernet1) or `b` (GigabitEthernet2); whether that NIC is present is checked by the flow. */
export const interfaceLetter: rules.Rule = (v) => (/^[ab]$/i.test(v) ? null : 'type a for GigabitEthernet1 or b for GigabitEthernet2');

const reloadCommand: rules.Rule = (v) => (v === 'reload' ? null : 'type reload (the only command available here)');

export const Q = {
  showEula: { id: 'showEula', label: 'answer', ruleName: 'yes-no', prompt: 'Type yes to display the End User License Agreement: ', rule: yesNo },
  eula: { id: 'eula', label: 'answer', ruleName: 'eula-accepted', prompt: 'Do you accept the End User License Agreement? (yes/no): ', rule: yesNo, when: 'no ends the wizard' },
  company: { id: 'company', label: 'company name', ruleName: 'display-text', prompt: 'Company name: ', rule: rules.displayText },
  contact: { id: 'contact', label: 'contact person', ruleName: 'display-text', prompt: 'Contact person: ', rule: rules.displayText },
  contactEmail: { id: 'contactEmail', label: 'contact email', ruleName: 'email', prompt: 'Contact email: ', rule: rules.email },
  enableSecret: { id: 'enableSecret', label: 'enable secret', ruleName: 'enable-secret', prompt: 'Enter enable secret (6-20 letters and digits): ', secret: true, rule: rules.enableSecret },
  enableSecretConfirm: { id: 'enableSecretConfirm', label: 'enable secret', ruleName: 'confirmation', prompt: 'Confirm enable secret: ', secret: true, when: 'a mismatch asks both again' },
  adminUser: { id: 'adminUser', label: 'administrator user name', ruleName: 'user-name', prompt: 'Administrator user name: ', rule: rules.userName },
  /** rules.password(value, adminUser): needs the user name, so the flow applies it. */
  adminPassword: { id: 'adminPassword', label: 'administrator password', ruleName: 'password-policy', prompt: `Administrator password (${rules.passwordPolicyText()}): `, secret: true },
  adminPasswordConfirm: { id: 'adminPasswordConfirm', label: 'administrator password', ruleName: 'confirmation', prompt: 'Confirm administrator password: ', secret: true, when: 'a mismatch asks both again' },
  interface: { id: 'interface', label: 'interface', ruleName: 'interface', prompt: 'Physical interface for the management network (a: GigabitEthernet1, b: GigabitEthernet2): ', rule: interfaceLetter, when: 'a letter whose NIC is absent is refused when NICs are found' },
  address: { id: 'address', label: 'IP address', ruleName: 'host-address', prompt: 'IP address: ', rule: rules.hostAddress },
  netmask: { id: 'netmask', label: 'netmask', ruleName: 'netmask', prompt: 'Netmask: ', rule: rules.netmask, when: 'then rules.addressInSubnet with the address: a network or broadcast address asks for the IP address again' },
  gateway: { id: 'gateway', label: 'default gateway', ruleName: 'ipv4', prompt: 'Default gateway: ', rule: rules.ipv4, when: 'then rules.gatewayInSubnet with the address and netmask' },
  hostname: { id: 'hostname', label: 'external hostname', ruleName: 'fqdn', prompt: 'External hostname (FQDN): ', rule: rules.fqdn },
  nameServer1: { id: 'nameServer1', label: 'name server', ruleName: 'ipv4', prompt: 'Name server 1: ', rule: rules.ipv4 },
  nameServer2: { id: 'nameServer2', label: 'name server', ruleName: 'ipv4', prompt: 'Name server 2 (blank to skip): ', rule: rules.ipv4, optional: true, when: 'blank ends the list' },
  nameServer3: { id: 'nameServer3', label: 'name server', ruleName: 'ipv4', prompt: 'Name server 3 (blank to skip): ', rule: rules.ipv4, optional: true, when: 'after a name server 2' },
  ssh: { id: 'ssh', label: 'answer', ruleName: 'yes-no', prompt: 'Enable remote shell via SSH? (yes/no): ', rule: yesNo },
  ntp: { id: 'ntp', label: 'answer', ruleName: 'yes-no', prompt: 'Configure NTP? (yes/no): ', rule: yesNo },
  ntpServer1: { id: 'ntpServer1', label: 'NTP server', ruleName: 'ntp-server', prompt: 'NTP server 1: ', rule: rules.ntpServer, when: 'NTP yes' },
  ntpServer2: { id: 'ntpServer2', label: 'NTP server', ruleName: 'ntp-server', prompt: 'NTP server 2 (blank to skip): ', rule: rules.ntpServer, optional: true, when: 'NTP yes; blank ends the list' },
  ntpServer3: { id: 'ntpServer3', label: 'NTP server', ruleName: 'ntp-server', prompt: 'NTP server 3 (blank to skip): ', rule: rules.ntpServer, optional: true, when: 'after an NTP server 2' },
  setClock: { id: 'setClock', label: 'answer', ruleName: 'yes-no', prompt: 'Set the clock now? (yes/no): ', rule: yesNo, when: 'NTP no' },
  time: { id: 'time', label: 'time', ruleName: 'time', prompt: 'Time (HH:MM:SS, UTC): ', rule: timeRule, when: 'set clock yes' },
  date: { id: 'date', label: 'date', ruleName: 'date', prompt: 'Date (DD MM YYYY): ', rule: dateRule, when: 'set clock yes' },
  save: { id: 'save', label: 'answer', ruleName: 'yes-no', prompt: 'Save this configuration? (yes/no): ', rule: yesNo, when: 'after the command script; no goes back to the company name' },
  reload: { id: 'reload', label: 'command', ruleName: 'reload', prompt: 'Type reload to restart the appliance with this configuration: ', rule: reloadCommand, when: 'after "Configuration complete"' },
  reloadSave: { id: 'reloadSave', label: 'answer', ruleName: 'yes-no', prompt: 'System configuration has been modified. Save? (yes/no): ', rule: yesNo },
  proceed: { id: 'proceed', label: 'answer', ruleName: 'yes-no', prompt: 'Proceed with reload? (yes/no): ', rule: yesNo, when: 'yes is the only point where anything is written' },
} satisfies Record<string, Question>;

export type QuestionId = keyof typeof Q;

/** The questions in the order the wizard asks them (conditions in `when`). */
export const QUESTIONS: readonly Question[] = Object.values(Q);

/** The prompt texts by id, for tests and the serial-console driver. */
export const PROMPTS: Readonly<Record<QuestionId, string>> = Object.fromEntries(Object.entries(Q).map(([k, q]) => [k, q.prompt])) as Record<QuestionId, string>;

/** The --More-- prompt of the EULA pager on a TTY. */
export const MORE_PROMPT = '--More-- (Enter: next page, q: end of agreement) ';
