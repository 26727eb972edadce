import { plain, type Renderer } from '../config/units.ts';
import type { Config } from '../config/schema.ts';
import { aclOf, ACL_LABELS, type AclComponent } from '../acl/schema.ts';

/** The TCP port each component listens on, or null when it is off (SSH disabled, no Port Settings yet). */
export function componentPorts(c: Config): Record<AclComponent, number | null> {
  return { systemManager: c.webui.port, ssh: c.ssh.enabled ? c.ssh.port : null, provisioning: c.ports?.provisioning ?? null };
}

/** One accept rule: from anyone, or (Portal ACL) only from the listed addresses and networks. */
function acceptRule(port: number, label: string, allow: readonly string[]): string {
  const from = allow.length ? `ip saddr { ${allow.map((a) => plain(a, 'access list entry')).join(', ')} } ` : '';
  return `    ${from}tcp dport ${port} ct state new accept comment "${label}"\n`;
}

/**
 * nftables: default drop; loopback, established traffic, ICMP echo, System Manager, (only when
 * enabled) SSH and (once Port Settings chose one) the provisioning port are allowed in. A Portal
 * ACL list narrows its component to the listed sources; IPv6 then cannot reach it at all (the ACL
 * is IPv4). Loopback stays open: the appliance's own checks use it.
 */
export const render: Renderer = (c) => {
  const acl = aclOf(c);
  const ports = componentPorts(c);
  const rules = (['systemManager', 'ssh', 'provisioning'] as const)
    .filter((k) => ports[k] !== null)
    .map((k) => acceptRule(ports[k]!, ACL_LABELS[k], acl[k]))
    .join('');
  const content =
    `#!/usr/sbin/nft -f\n# written by Keel\nflush ruleset\n\ntable inet keel {\n  chain input {\n    type filter hook input priority filter; policy drop;\n` +
    `    iif "lo" accept\n    ct state established,related accept\n    ct state invalid drop\n` +
    `    icmp type { echo-request, destination-unreachable, time-exceeded } accept\n` +
    `${rules}  }\n` +
    `  chain forward {\n    type filter hook forward priority filter; policy drop;\n  }\n` +
    `  chain output {\n    type filter hook output priority filter; policy accept;\n  }\n}\n`;
  return {
    name: 'firewall',
    files: [{ path: '/etc/nftables.conf', content, mode: 0o755 }],
    reload: [['nft', '-f', '/etc/nftables.conf']],
    check: (p) => ['nft', '-c', '-f', p],
  };
};
