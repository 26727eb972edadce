/**
 * Argument types of the command tree, each backed by the field rules in appliance/config/rules.ts
 * so the CLI refuses exactly what the wizard, System Manager and the schema refuse.
 */
import * as rules from '../appliance/config/rules.ts';
import { aclEntry as aclEntryRule } from '../appliance/acl/schema.ts';
import { INTERFACE_NAMES } from '../appliance/network/schema.ts';
import type { ArgType } from './tree.ts';
import { targetRule } from '../appliance/diagnostics/tools.ts';
import { SERVICES } from '../appliance/applier/applier.ts';

function fromRule(placeholder: string, rule: string, fn: rules.Rule, extra: Partial<ArgType> = {}): ArgType {
  return {
    placeholder,
    rule,
    parse: (w) => {
      const e = fn(w);
      return e === null ? { value: w } : { error: e };
    },
    ...extra,
  };
}

export const ipv4 = fromRule('A.B.C.D', 'ipv4', rules.ipv4);
export const hostAddress = fromRule('A.B.C.D', 'host-address', rules.hostAddress);
export const netmask = fromRule('A.B.C.D', 'netmask', rules.netmask);
export const fqdn = fromRule('WORD', 'fqdn', rules.fqdn);
export const email = fromRule('WORD', 'email', rules.email);
export const edipi = fromRule('<10 digits>', 'edipi', rules.edipi);
export const personName = fromRule('LINE', 'person-name', rules.personName, { rest: true });
/** An SMTP password: printable ASCII; `********` (as show running-config prints it) keeps the stored one. */
export const smtpPassword: ArgType = {
  placeholder: 'LINE',
  rule: 'smtp-password',
  secret: true,
  parse: (w) => (/^[\x20-\x7e]{1,256}$/.test(w) ? { value: w } : { error: 'must be 1-256 printable ASCII characters' }),
};
/** SMTP user name. */
export const smtpUser: ArgType = {
  placeholder: 'WORD',
  rule: 'smtp-username',
  parse: (w) => (/^[\x21-\x7e]{1,256}$/.test(w) ? { value: w } : { error: 'must be 1-256 printable characters without spaces' }),
};
export const ntpServer = fromRule('WORD', 'ntp-server', rules.ntpServer);
export const userName = fromRule('WORD', 'user-name', rules.userName);
export const enableSecret = fromRule('LINE', 'enable-secret', rules.enableSecret, { secret: true });
export const displayText = fromRule('LINE', 'display-text', rules.displayText, { rest: true });

/** A password: the policy needs the user name too, so the handler checks `rules.password`; here only printable ASCII. */
export const password: ArgType = {
  placeholder: 'LINE',
  rule: 'password-policy',
  secret: true,
  // Spaces only inside double quotes (a quoted word may hold them).
  parse: (w) => (/^[\x20-\x7e]+$/.test(w) ? { value: w } : { error: 'password for CLI access may contain only printable ASCII characters' }),
};

/** A stored hash (`secret 9 HASH` in the script). */
export const passwordHash: ArgType = {
  placeholder: 'HASH',
  rule: 'password-hash',
  secret: true,
  parse: (w) => (/^\$scrypt\$N=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(w) ? { value: w } : { error: 'must be a scrypt password hash as shown by show running-config' }),
};

/** Host for ping, traceroute and the TCP check (the diagnostics rule): an IPv4 or IPv6 address or a host name; never anything a program could take as an option. */
export const pingHost: ArgType = {
  placeholder: 'WORD',
  rule: 'host',
  parse: (w) => {
    const e = targetRule(w);
    return e === null ? { value: w } : { error: e };
  },
};

/** IANA time zone: the schema's rule (the zone database). */
export const timezone: ArgType = {
  placeholder: 'WORD',
  rule: 'time-zone',
  parse: (w) => {
    const e = rules.timeZone(w);
    return e === null ? { value: w } : { error: e };
  },
};

/** Domain name (search domain): the schema's rule. */
export const domainName: ArgType = {
  placeholder: 'WORD',
  rule: 'dns-domain',
  parse: (w) => {
    const e = rules.dnsDomain(w);
    return e === null ? { value: w.replace(/\.$/, '') } : { error: e };
  },
};

export function intRange(min: number, max: number, rule = 'range'): ArgType {
  return {
    placeholder: `<${min}-${max}>`,
    rule,
    parse: (w) => (/^[0-9]{1,6}$/.test(w) && Number(w) >= min && Number(w) <= max ? { value: String(Number(w)) } : { error: `must be a number from ${min} to ${max}` }),
  };
}
export const port = intRange(1, 65535, 'port');
export const revision = intRange(1, 999999, 'revision');
export const minutes = intRange(0, 1440, 'minutes');
export const seconds = intRange(0, 59, 'seconds');
export const sessions = intRange(1, 64, 'max-sessions');
export const attempts = intRange(1, 100, 'attempts');
export const periodMinutes = intRange(1, 1440, 'minutes');
export const minLength = intRange(8, 128, 'min-length');
export const maxRepeat = intRange(1, 10, 'max-repeat');
export const minAgeHours = intRange(0, 720, 'min-age');
/** A Portal ACL entry: an IPv4 address or network (A.B.C.D or A.B.C.D/N, no host bits). */
export const aclEntry = fromRule('A.B.C.D[/N]', 'acl-entry', aclEntryRule);

/** `GigabitEthernet1`…`6`, abbreviated as IOS allows: `gi1`, `g 1` is not, `Gig1`, `gigabitethernet1`. */
export const interfaceName: ArgType = {
  placeholder: 'GigabitEthernet<1-6>',
  rule: 'interface',
  values: () => [...INTERFACE_NAMES],
  parse: (w) => {
    const m = /^([a-z]+)([1-9][0-9]*)$/i.exec(w);
    if (m && 'gigabitethernet'.startsWith(m[1].toLowerCase()) && Number(m[2]) >= 1 && Number(m[2]) <= INTERFACE_NAMES.length) return { value: INTERFACE_NAMES[Number(m[2]) - 1] };
    return { error: `must be an interface GigabitEthernet1 to GigabitEthernet${INTERFACE_NAMES.length}` };
  },
};

/** Keel's own services that `service NAME ...` may control (the applier checks the same list). */
export { SERVICES };
export const serviceName: ArgType = {
  placeholder: 'WORD',
  rule: 'service',
  values: () => [...SERVICES],
  parse: (w) => {
    const hits = SERVICES.filter((s) => s.startsWith(w.toLowerCase()));
    const exact = SERVICES.find((s) => s === w.toLowerCase());
    if (exact) return { value: exact };
    if (hits.length === 1) return { value: hits[0] };
    return { error: `must be one of Keel's services: ${SERVICES.join(', ')}` };
  },
};

/** A free text line (banner). */
export const bannerText = fromRule('LINE', 'display-text', rules.displayText, { rest: true });

// Argument types for settings the schema checks: they only keep a word a word (a number a number),
// so a refusal comes from check() and names the field and its rule, as System Manager's does.

/** A whole number; `?` shows the schema's range. */
export function schemaInteger(s: { minimum?: number; maximum?: number }): ArgType {
  return {
    placeholder: `<${s.minimum}-${s.maximum}>`,
    rule: 'integer',
    parse: (w) => (/^[0-9]{1,9}$/.test(w) ? { value: String(Number(w)) } : { error: 'must be a whole number' }),
  };
}

/** One word of 1..max characters, checked further by the schema's `rule`. */
export function boundedWord(placeholder: string, rule: string, max: number, extra: Partial<ArgType> = {}): ArgType {
  return { placeholder, rule, parse: (w) => (w.length >= 1 && w.length <= max ? { value: w } : { error: `must be 1-${max} characters` }), ...extra };
}

