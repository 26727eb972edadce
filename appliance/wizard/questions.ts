import * as rules from '../config/rules.ts';

/**
 * Every question of the first-boot wizard, in order, as data: its id (also the key in an
 * answers file), the prompt text (stable: the QEMU end-to-end test waits for these), and its rule.
 */
export interface Question {
  id: string;
  prompt: string;
  /** The field name used in messages: `% Invalid <label>: …`. */
  label: string;
  secret?: boolean;
  rule?: rules.Rule;
}

const yesNo: rules.Rule = (v) => (/^(y|yes|n|no)$/i.test(v) ? null : 'answer yes or no');
const time: rules.Rule = (v) => {
  const m = /^(\d{1,2}):(\d{2}):(\d{2})$/.exec(v);
  if (!m) return 'time must be HH:MM:SS, like 14:05:00';
  return Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3]) > 59 ? 'time must be a real time of day (00:00:00-23:59:59)' : null;
};
const date: rules.Rule = (v) => {
  const m = /^(\d{1,2}) (\d{1,2}) (\d{4})$/.exec(v);
  if (!m) return 'date must be DD MM YYYY, like 23 11 2026';
  const [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dt = new Date(Date.UTC(y, mo - 1, d));
  if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) return `date ${v} does not exist`;
  return y < 2024 || y > 2099 ? 'year must be between 2024 and 2099' : null;
};

export const Q = {
  showEula: { id: 'showEula', label: 'answer', prompt: 'Type yes to display the End User License Agreement: ', rule: yesNo },
  eula: { id: 'eula', label: 'answer', prompt: 'Do you accept the End User License Agreement? [yes/no]: ', rule: yesNo },
  company: { id: 'company', label: 'company name', prompt: 'Company name: ', rule: rules.displayText },
  contact: { id: 'contact', label: 'contact person', prompt: 'Contact person: ', rule: rules.displayText },
  contactEmail: { id: 'contactEmail', label: 'contact email', prompt: 'Contact email: ', rule: rules.email },
  enableSecret: { id: 'enableSecret', label: 'enable secret', prompt: 'Enter enable secret (6-20 letters and digits): ', secret: true, rule: rules.enableSecret },
  enableSecretConfirm: { id: 'enableSecretConfirm', label: 'enable secret', prompt: 'Confirm enable secret: ', secret: true },
  adminUser: { id: 'adminUser', label: 'administrator user name', prompt: 'Administrator user name: ', rule: rules.userName },
  adminPassword: { id: 'adminPassword', label: 'administrator password', prompt: 'Administrator password: ', secret: true },
  adminPasswordConfirm: { id: 'adminPasswordConfirm', label: 'administrator password', prompt: 'Confirm administrator password: ', secret: true },
  interface: { id: 'interface', label: 'interface', prompt: 'Physical interface for the management network (a: GigabitEthernet1, b: GigabitEthernet2): ', rule: (v: string) => (/^[ab]$/i.test(v) ? null : 'type a for GigabitEthernet1 or b for GigabitEthernet2') },
  address: { id: 'address', label: 'IP address', prompt: 'IP address: ', rule: rules.hostAddress },
  netmask: { id: 'netmask', label: 'netmask', prompt: 'Netmask (e.g. 255.255.255.0): ', rule: rules.netmask },
  gateway: { id: 'gateway', label: 'default gateway', prompt: 'Default gateway: ', rule: rules.ipv4 },
  hostname: { id: 'hostname', label: 'external hostname', prompt: 'External hostname (FQDN): ', rule: rules.fqdn },
  nameServer1: { id: 'nameServer1', label: 'name server', prompt: 'Name server 1: ', rule: rules.ipv4 },
  nameServer2: { id: 'nameServer2', label: 'name server', prompt: 'Name server 2 (blank to skip): ', rule: rules.ipv4 },
  nameServer3: { id: 'nameServer3', label: 'name server', prompt: 'Name server 3 (blank to skip): ', rule: rules.ipv4 },
  ssh: { id: 'ssh', label: 'answer', prompt: 'Enable remote shell via SSH? [yes/no]: ', rule: yesNo },
  ntp: { id: 'ntp', label: 'answer', prompt: 'Configure NTP? [yes/no]: ', rule: yesNo },
  ntpServer1: { id: 'ntpServer1', label: 'NTP server', prompt: 'NTP server 1: ', rule: rules.ntpServer },
  ntpServer2: { id: 'ntpServer2', label: 'NTP server', prompt: 'NTP server 2 (blank to skip): ', rule: rules.ntpServer },
  ntpServer3: { id: 'ntpServer3', label: 'NTP server', prompt: 'NTP server 3 (blank to skip): ', rule: rules.ntpServer },
  setClock: { id: 'setClock', label: 'answer', prompt: 'Set the clock now? [yes/no]: ', rule: yesNo },
  time: { id: 'time', label: 'time', prompt: 'Time (HH:MM:SS, UTC): ', rule: time },
  date: { id: 'date', label: 'date', prompt: 'Date (DD MM YYYY): ', rule: date },
  save: { id: 'save', label: 'answer', prompt: 'Save this configuration? [yes/no]: ', rule: yesNo },
  reload: { id: 'reload', label: 'command', prompt: 'Type reload to restart the appliance with this configuration: ', rule: (v: string) => (v === 'reload' ? null : 'type reload (the only command available here)') },
  reloadSave: { id: 'reloadSave', label: 'answer', prompt: 'System configuration has been modified. Save? [yes/no]: ', rule: yesNo },
  proceed: { id: 'proceed', label: 'answer', prompt: 'Proceed with reload? [yes/no]: ', rule: yesNo },
} satisfies Record<string, Question>;

export const isYes = (v: string): boolean => /^(y|yes)$/i.test(v);
export { yesNo, time as timeRule, date as dateRule };
