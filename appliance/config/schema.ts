import { Type, FormatRegistry, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SystemSchema } from '../system/schema.ts';
import { NetworkSchema } from '../network/schema.ts';
import { DnsSchema } from '../dns/schema.ts';
import { NtpSchema } from '../ntp/schema.ts';
import { ClockSchema } from '../clock/schema.ts';
import { SshSchema } from '../ssh/schema.ts';
import { UsersSchema } from '../users/schema.ts';
import { WebuiSchema } from '../webui/schema.ts';
import { EmailSchema, emailProblems } from '../email/schema.ts';
import { HealthSchema, healthProblems } from '../health/schema.ts';
import { AclSchema, aclEntry } from '../acl/schema.ts';
import { PortsSchema } from '../ports/schema.ts';
import { PortalAuthSchema, portalAuthProblems } from '../portalauth/schema.ts';
import { UpdateSchema, updateProblems } from '../update/schema.ts';
import { LdapSchema, ldapProblems } from '../ldap/schema.ts';
import { ProxySchema, proxyProblems } from '../proxy/schema.ts';
import { ConnectivitySchema, connectivityProblems } from '../connectivity/schema.ts';
import * as rules from './rules.ts';
import { ValidationError, type FieldProblem } from '../errors.ts';
import { keywordOfTypeBox, sentence } from './messages.ts';

/** Named string formats used by the schema, each backed by a rule in rules.ts. */
export const FORMATS: Record<string, rules.Rule> = {
  ipv4: rules.ipv4,
  netmask: rules.netmask,
  'host-address': rules.hostAddress,
  'server-address': rules.serverAddress,
  fqdn: rules.fqdn,
  'dns-domain': rules.dnsDomain,
  'time-zone': rules.timeZone,
  email: rules.email,
  edipi: rules.edipi,
  'person-name': rules.personName,
  'display-text': rules.displayText,
  'ntp-server': rules.ntpServer,
  'user-name': rules.userName,
  'acl-entry': aclEntry,
  'password-hash': (v) => (/^\$scrypt\$/.test(v) ? null : 'must be a password hash, never a password'),
  'date-time': (v) => (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v) && !Number.isNaN(Date.parse(v)) ? null : 'must be an ISO 8601 UTC time'),
};
for (const [name, rule] of Object.entries(FORMATS)) if (!FormatRegistry.Has(name)) FormatRegistry.Set(name, (v) => rule(v) === null);

/** The whole appliance configuration: one document, one schema, checked at every entry point. */
export const ConfigSchema = Type.Object(
  {
    schemaVersion: Type.Literal(1, { description: 'Version of this document format' }),
    system: SystemSchema,
    users: UsersSchema,
    network: NetworkSchema,
    dns: DnsSchema,
    ntp: NtpSchema,
    clock: ClockSchema,
    ssh: SshSchema,
    webui: WebuiSchema,
    email: Type.Optional(EmailSchema),
    health: Type.Optional(HealthSchema),
    acl: Type.Optional(AclSchema),
    ports: Type.Optional(PortsSchema),
    portalAuth: Type.Optional(PortalAuthSchema),
    update: Type.Optional(UpdateSchema),
    ldap: Type.Optional(LdapSchema),
    proxy: Type.Optional(ProxySchema),
    connectivity: Type.Optional(ConnectivitySchema),
  },
  { additionalProperties: false, description: 'Keel appliance configuration' },
);
export type Config = Static<typeof ConfigSchema>;

function get(obj: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

/** Problems with a configuration document: schema, field formats and cross-field rules. Empty when valid. */
export function check(config: unknown): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const e of Value.Errors(ConfigSchema, config)) {
    const fmt = (e.schema as { format?: string }).format;
    const value = get(config, e.path);
    if (fmt && FORMATS[fmt] && typeof value === 'string') {
      problems.push({ field: e.path || '/', rule: fmt, message: FORMATS[fmt](value) ?? e.message });
    } else {
      // In words, never the library's: the limit is taken from the schema (messages.ts).
      const keyword = keywordOfTypeBox(e.type, e.schema as Record<string, unknown>);
      problems.push({ field: e.path || '/', rule: keyword === 'other' ? 'schema' : keyword, message: sentence({ keyword, schema: e.schema as Record<string, unknown> }) });
    }
  }
  if (problems.length) return dedupe(problems);
  const c = config as Config;
  const names = new Set<string>();
  c.network.interfaces.forEach((i, n) => {
    if (names.has(i.name)) problems.push({ field: `/network/interfaces/${n}/name`, rule: 'unique', message: `interface ${i.name} is configured twice` });
    names.add(i.name);
    const e = rules.addressInSubnet(i.address, i.netmask);
    if (e) problems.push({ field: `/network/interfaces/${n}/address`, rule: 'host-in-subnet', message: e });
  });
  const gwOk = c.network.interfaces.some((i) => rules.gatewayInSubnet(c.network.gateway, i.address, i.netmask) === null);
  if (!gwOk) {
    const i = c.network.interfaces[0];
    problems.push({ field: '/network/gateway', rule: 'gateway-in-subnet', message: rules.gatewayInSubnet(c.network.gateway, i.address, i.netmask)! });
  }
  if (c.ntp.enabled && c.ntp.servers.length === 0) problems.push({ field: '/ntp/servers', rule: 'required', message: 'at least one NTP server is required when NTP is enabled' });
  const users = new Set<string>();
  c.users.local.forEach((u, n) => {
    if (users.has(u.name)) problems.push({ field: `/users/local/${n}/name`, rule: 'unique', message: `user ${u.name} exists twice` });
    users.add(u.name);
  });
  if (!c.users.local.some((u) => u.role === 'admin')) problems.push({ field: '/users/local', rule: 'admin-required', message: 'at least one user must have the admin role' });
  problems.push(...emailProblems(c.email));
  problems.push(...portalAuthProblems(c.portalAuth));
  problems.push(...updateProblems(c.update));
  problems.push(...ldapProblems(c.ldap));
  problems.push(...proxyProblems(c.proxy));
  problems.push(...healthProblems(c.health));
  problems.push(...connectivityProblems(c.connectivity));
  if (c.ssh.enabled && c.ssh.port === c.webui.port) problems.push({ field: '/ssh/port', rule: 'port-conflict', message: 'SSH and System Manager cannot share a port' });
  return problems;
}

function dedupe(p: FieldProblem[]): FieldProblem[] {
  const seen = new Set<string>();
  return p.filter((x) => (seen.has(x.field) ? false : (seen.add(x.field), true)));
}

/** Returns the configuration typed when valid; throws ValidationError naming every bad field otherwise. */
export function validate(config: unknown): Config {
  const problems = check(config);
  if (problems.length) throw new ValidationError(problems);
  return config as Config;
}
