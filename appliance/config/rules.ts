/**
 * Field rules shared by every entry point (wizard, CLI, API, file import). Each returns null when
 * the value is fine, or a sentence that names the rule it broke.
 */
export type Rule = (value: string) => string | null;

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Dotted-quad IPv4 address, each octet 0-255. */
export const ipv4: Rule = (v) => {
  const parts = v.split('.');
  if (parts.length !== 4 || parts.some((p) => !OCTET.test(p))) return 'must be an IPv4 address in dotted form, like 192.0.2.10';
  const bad = parts.find((p) => Number(p) > 255);
  if (bad !== undefined) return `each octet must be 0-255 (${bad} is over 255)`;
  return null;
};

export function ipToInt(v: string): number {
  return v.split('.').reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
}
export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** Netmask: a valid IPv4 address whose one-bits are contiguous (255.255.255.0 yes, 255.0.255.0 no). */
export const netmask: Rule = (v) => {
  const e = ipv4(v);
  if (e) return `netmask ${e}`;
  const n = ipToInt(v);
  const inv = ~n >>> 0;
  if ((inv & (inv + 1)) !== 0) return 'netmask must have contiguous one-bits, like 255.255.255.0';
  if (n === 0) return 'netmask must not be 0.0.0.0';
  return null;
};

export function prefixLength(mask: string): number {
  let n = ipToInt(mask);
  let bits = 0;
  while (n & 0x80000000) {
    bits++;
    n = (n << 1) >>> 0;
  }
  return bits;
}

/** A host address usable on an interface: not network 0, loopback, multicast or broadcast. */
export const hostAddress: Rule = (v) => {
  const e = ipv4(v);
  if (e) return e;
  const first = Number(v.split('.')[0]);
  if (first === 0) return 'must not be in 0.0.0.0/8';
  if (first === 127) return 'must not be a loopback address (127.0.0.0/8)';
  if (first >= 224) return 'must not be a multicast or reserved address (224.0.0.0 and above)';
  return null;
};

/** Cross-field: the address must be a host (not network or broadcast) of its subnet. */
export function addressInSubnet(address: string, mask: string): string | null {
  const a = ipToInt(address);
  const m = ipToInt(mask);
  if (prefixLength(mask) >= 31) return null;
  const hostBits = (a & ~m) >>> 0;
  if (hostBits === 0) return `address ${address} is the network address of its subnet`;
  if (hostBits === ~m >>> 0) return `address ${address} is the broadcast address of its subnet`;
  return null;
}

/** Cross-field: the gateway must be inside the subnet of address/netmask and not the address itself. */
export function gatewayInSubnet(gateway: string, address: string, mask: string): string | null {
  const m = ipToInt(mask);
  if ((ipToInt(gateway) & m) >>> 0 !== (ipToInt(address) & m) >>> 0)
    return `default gateway ${gateway} must be inside the subnet ${intToIp((ipToInt(address) & m) >>> 0)}/${prefixLength(mask)} of the interface address`;
  if (gateway === address) return 'default gateway must not be the interface address itself';
  return addressInSubnet(gateway, mask) ? `default gateway ${gateway} must be a host address of the subnet` : null;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Fully qualified domain name: at least two labels, letters/digits/hyphens, a non-numeric top-level label. */
export const fqdn: Rule = (v) => {
  if (v.length === 0) return 'hostname is required';
  if (v.length > 253) return 'hostname must be at most 253 characters';
  const labels = v.replace(/\.$/, '').split('.');
  if (labels.length < 2) return 'hostname must be fully qualified (like core.example.com), not a short name';
  for (const l of labels) {
    if (!LABEL.test(l)) return `hostname label "${l}" may use only letters, digits and hyphens (not at either end), 1-63 characters`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1])) return 'hostname must end in a top-level domain, not a number';
  const internal = ['local', 'localdomain', 'internal', 'lan', 'home', 'corp', 'invalid', 'localhost'];
  if (internal.includes(labels[labels.length - 1].toLowerCase()))
    return `hostname must be an external name; ".${labels[labels.length - 1]}" is an internal domain`;
  return null;
};

/** A DNS domain (the resolver's search domain): letters, digits and hyphens in dot-separated labels. */
export const dnsDomain: Rule = (v) => {
  if (v.length === 0) return 'must not be empty';
  if (v.length > 253) return 'must be at most 253 characters';
  for (const l of v.replace(/\.$/, '').split('.')) {
    if (!LABEL.test(l)) return `must be a domain like example.com: "${l.slice(0, 64)}" is not a label of letters, digits and hyphens (1-63 characters)`;
  }
  return null;
};

/**
 * A time zone of the zone database (IANA names such as UTC or Europe/Berlin), as the runtime's
 * tzdata knows it: the same names /usr/share/zoneinfo holds on the appliance.
 */
export const timeZone: Rule = (v) => {
  if (v.length === 0) return 'must not be empty';
  if (v.length > 64) return 'must be at most 64 characters (a time zone name like Europe/Berlin)';
  if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(v)) return 'must be a time zone name like UTC or Europe/Berlin';
  try {
    new Intl.DateTimeFormat('en', { timeZone: v });
  } catch {
    return `must be a known time zone (like UTC or Europe/Berlin); "${v}" is not one`;
  }
  return null;
};

/** E-mail address: one @, a local part and a domain with a dot. */
export const email: Rule = (v) =>
  /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v) ? null : 'must be an e-mail address like admin@example.com';

/** Free text shown in mail and on the console: 1-128 printable characters. */
export const displayText: Rule = (v) => {
  if (v.trim().length === 0) return 'must not be empty';
  if (v.length > 128) return 'must be at most 128 characters';
  if (/[\u0000-\u001f\u007f]/.test(v)) return 'must not contain control characters';
  return null;
};

/** A DoD EDIPI: the 10-digit number CAC certificates carry (`1234567890@mil` in the UPN). */
export const edipi: Rule = (v) => (/^[0-9]{10}$/.test(v) ? null : 'must be exactly 10 digits, like 1234567890 (the DoD ID number on the CAC)');

/** A person's first or last name: display text of at most 64 characters. */
export const personName: Rule = (v) => displayText(v) ?? (v.length > 64 ? 'must be at most 64 characters' : null);

/** NTP server: an IPv4 address or a DNS name. */
export const ntpServer: Rule = (v) => {
  if (/^[0-9.]+$/.test(v)) return ipv4(v);
  const labels = v.split('.');
  return labels.every((l) => LABEL.test(l)) ? null : 'must be an IPv4 address or a host name';
};

/** A server the appliance connects to (syslog): a usable IPv4 address (as host-address) or a DNS host name. */
export const serverAddress: Rule = (v) => {
  if (/^[0-9.]+$/.test(v)) return hostAddress(v);
  if (v.length > 253) return 'host name must be at most 253 characters';
  return v.split('.').every((l) => LABEL.test(l)) ? null : 'must be an IPv4 address or a host name';
};

/** Administrator user name: 1-32 of letters, digits, `.`, `_`, `-`, starting with a letter; not a reserved name. */
export const userName: Rule = (v) => {
  if (!/^[A-Za-z][A-Za-z0-9._-]{0,31}$/.test(v)) return 'user name must start with a letter and use 1-32 letters, digits, ".", "_" or "-"';
  if (['root', 'ha_admin'].includes(v.toLowerCase())) return `user name "${v}" is reserved by the system; choose another`;
  return null;
};

/** Enable secret: 6-20 characters, letters and digits (seed 004). */
export const enableSecret: Rule = (v) => {
  if (v.length < 6 || v.length > 20) return `enable secret must be 6-20 characters (this one has ${v.length})`;
  if (!/^[A-Za-z0-9]+$/.test(v)) return 'enable secret may contain only letters and digits';
  return null;
};

/** The password policy (seed 004); adjustable later under Security > Password Policy. */
export interface PasswordPolicy {
  minLength: number;
  requireLetter: boolean;
  requireUpper: boolean;
  requireDigit: boolean;
  maxRepeat: number;
}
export const DEFAULT_PASSWORD_POLICY: PasswordPolicy = { minLength: 8, requireLetter: true, requireUpper: true, requireDigit: true, maxRepeat: 3 };

/** Checks a password against the policy; `cli` forbids non-ASCII (the CLI cannot type it everywhere). */
export function password(pw: string, user: string, policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY, cli = true): string | null {
  const broken = passwordProblems(pw, user, policy, cli);
  // Every rule the password breaks, in one sentence: nobody should learn the policy one try at a time.
  return broken.length ? `password ${broken.join('; ')}` : null;
}

/** The rules of the policy a password breaks, each as "must …" (empty when it passes). */
export function passwordProblems(pw: string, user: string, policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY, cli = true): string[] {
  const out: string[] = [];
  if ([...pw].length < policy.minLength) out.push(`must be at least ${policy.minLength} characters`);
  if (policy.requireLetter && !/\p{L}/u.test(pw)) out.push('must contain at least one letter');
  if (policy.requireUpper && !/\p{Lu}/u.test(pw)) out.push('must contain at least one capital letter');
  if (policy.requireDigit && !/[0-9]/.test(pw)) out.push('must contain at least one digit');
  const run = new RegExp(`(.)\\1{${policy.maxRepeat}}`, 'u');
  if (run.test(pw)) out.push(`must not repeat a character more than ${policy.maxRepeat} times in a row`);
  if (pw.toLowerCase() === user.toLowerCase()) out.push('must not be the same as the user name');
  if (cli && /[^\x20-\x7e]/.test(pw)) out.push('may contain only printable ASCII characters (for CLI access)');
  return out;
}

/** The policy in a few words, for a prompt: "at least 8 characters, with a capital letter and a digit". */
export function passwordPolicyText(policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY): string {
  const need = [policy.requireUpper ? 'a capital letter' : policy.requireLetter ? 'a letter' : null, policy.requireDigit ? 'a digit' : null].filter(Boolean);
  return `at least ${policy.minLength} characters${need.length ? `, with ${need.join(' and ')}` : ''}, not the user name`;
}
