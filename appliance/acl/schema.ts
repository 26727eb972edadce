/**
 * Security > Portal ACL: which IPv4 addresses and subnets may reach each component. Enforced twice:
 * in nftables (appliance/firewall/render.ts) and by System Manager itself (webui/server.ts), so a
 * firewall that is flushed by hand does not open System Manager to everyone.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Config } from '../config/schema.ts';
import type { FieldProblem } from '../errors.ts';
import { ipv4, ipToInt } from '../config/rules.ts';

/** The components an ACL can restrict, in the order the pages and the firewall list them. */
export const ACL_COMPONENTS = ['systemManager', 'ssh', 'provisioning'] as const;
export type AclComponent = (typeof ACL_COMPONENTS)[number];

/** How each component is called on the pages and in firewall comments. */
export const ACL_LABELS: Record<AclComponent, string> = { systemManager: 'System Manager', ssh: 'SSH CLI', provisioning: 'Provisioning' };

/** An ACL entry: one IPv4 address (`192.0.2.5`) or a network (`192.0.2.0/24`), host bits zero. */
export function aclEntry(v: string): string | null {
  const [addr, len, ...rest] = v.split('/');
  if (rest.length) return 'must be an IPv4 address or network like 192.0.2.0/24';
  const e = ipv4(addr);
  if (e) return `must be an IPv4 address or network like 192.0.2.0/24 (${e})`;
  if (len === undefined) return null;
  if (!/^(0|[1-9][0-9]?)$/.test(len) || Number(len) > 32) return 'the prefix length after / must be 0-32';
  if (Number(len) === 0) return '0.0.0.0/0 allows everyone: leave the list empty instead';
  const mask = Number(len) === 32 ? 0xffffffff : ~(0xffffffff >>> Number(len)) >>> 0;
  if ((ipToInt(addr) & ~mask) >>> 0 !== 0) return `${v} has host bits set; the network is ${intToNet(ipToInt(addr) & mask, Number(len))}`;
  return null;
}

function intToNet(n: number, len: number): string {
  return `${[24, 16, 8, 0].map((s) => ((n >>> 0) >>> s) & 255).join('.')}/${len}`;
}

const Entries = (what: string) =>
  Type.Array(Type.String({ format: 'acl-entry', description: 'IPv4 address or network (CIDR), like 192.0.2.5 or 192.0.2.0/24' }), {
    maxItems: 64,
    uniqueItems: true,
    description: `Addresses and networks allowed to reach ${what}; empty: anyone`,
  });

export const AclSchema = Type.Object(
  {
    systemManager: Entries('System Manager (its HTTPS port, 8443 by default)'),
    ssh: Entries('the SSH CLI (its port, 22 by default)'),
    provisioning: Entries('the provisioning port (Port Settings: 443 or 8080)'),
  },
  { additionalProperties: false, description: 'Portal ACL: allowed IPv4 addresses and networks per component (the consoles are never restricted)' },
);
export type AclConfig = Static<typeof AclSchema>;

/** No restriction anywhere: what a configuration without an `acl` section means. */
export const DEFAULT_ACL: AclConfig = { systemManager: [], ssh: [], provisioning: [] };

/** The ACL of a configuration (empty lists when it has none). */
export function aclOf(c: Config): AclConfig {
  return { ...DEFAULT_ACL, ...(c.acl ?? {}) };
}

interface Net {
  base: number;
  mask: number;
}
function parse(entry: string): Net {
  const [a, l] = entry.split('/');
  const len = l === undefined ? 32 : Number(l);
  const mask = len === 0 ? 0 : len === 32 ? 0xffffffff : ~(0xffffffff >>> len) >>> 0;
  return { base: (ipToInt(a) & mask) >>> 0, mask };
}

/** The client address as IPv4 (an IPv4-mapped IPv6 address counts as IPv4), or null. */
export function clientIpv4(ip: string): string | null {
  const v = ip.replace(/^::ffff:/i, '');
  return ipv4(v) === null ? v : null;
}

/** A fast allow-check for one list: empty allows everyone; loopback is always allowed (as `iif lo accept`). */
export function allowList(entries: readonly string[]): (ip: string) => boolean {
  if (entries.length === 0) return () => true;
  const nets = entries.map(parse);
  return (ip) => {
    if (ip === '::1') return true;
    const v4 = clientIpv4(ip);
    if (v4 === null) return false;
    const n = ipToInt(v4);
    if (n >>> 24 === 127) return true;
    return nets.some((x) => ((n & x.mask) >>> 0) === x.base);
  };
}

/** Whether `ip` may reach `component` under this configuration's ACL. */
export function allowed(c: Config, component: AclComponent, ip: string): boolean {
  // Parsed once per configuration object (one per revision, never changed in place): System
  // Manager asks on every request.
  let checks = parsedAcls.get(c);
  if (!checks) parsedAcls.set(c, (checks = {}));
  return (checks[component] ??= allowList(aclOf(c)[component]))(ip);
}
const parsedAcls = new WeakMap<Config, Partial<Record<AclComponent, (ip: string) => boolean>>>();

/** The component a change source (`webui:IP`, `api:IP`, `ssh:IP`) reaches the appliance through, and its address. */
export function sourceOf(source: string): { component: AclComponent; ip: string } | null {
  const m = /^(webui|api|ssh):(.+)$/.exec(source);
  if (!m) return null;
  return { component: m[1] === 'ssh' ? 'ssh' : 'systemManager', ip: m[2] };
}

/**
 * The ACL problem of a change made from `source`: the new ACL would shut its maker's own address
 * out of the component they are using. Named by field so the page shows it next to the list.
 */
export function selfLockout(next: Config, source: string): FieldProblem | null {
  const s = sourceOf(source);
  if (!s || allowed(next, s.component, s.ip)) return null;
  return {
    field: `/acl/${s.component}`,
    rule: 'self-lockout',
    message: `your own address ${s.ip} would no longer reach ${ACL_LABELS[s.component]}: add it (or its network) to the list, or force the change (it then reverts unless confirmed within the confirm time)`,
  };
}

/** Why an ACL change could cut off its maker (any change to the list of the component they use), or null. */
export function aclRisk(prev: Config, next: Config, source: string): string | null {
  const s = sourceOf(source);
  if (!s) return null;
  const a = aclOf(prev)[s.component];
  const b = aclOf(next)[s.component];
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  return `the Portal ACL of ${ACL_LABELS[s.component]} changes`;
}
