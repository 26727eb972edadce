import type { Renderer } from '../config/units.ts';

/**
 * nftables: default drop; loopback, established traffic, ICMP echo, System Manager and
 * (only when enabled) SSH are allowed in.
 */
export const render: Renderer = (c) => {
  const ssh = c.ssh.enabled ? `    tcp dport ${c.ssh.port} ct state new accept comment "SSH CLI"\n` : '';
  const content =
    `#!/usr/sbin/nft -f\n# written by Keel\nflush ruleset\n\ntable inet keel {\n  chain input {\n    type filter hook input priority filter; policy drop;\n` +
    `    iif "lo" accept\n    ct state established,related accept\n    ct state invalid drop\n` +
    `    icmp type { echo-request, destination-unreachable, time-exceeded } accept\n` +
    `    tcp dport ${c.webui.port} ct state new accept comment "System Manager"\n${ssh}  }\n` +
    `  chain forward {\n    type filter hook forward priority filter; policy drop;\n  }\n` +
    `  chain output {\n    type filter hook output priority filter; policy accept;\n  }\n}\n`;
  return {
    name: 'firewall',
    files: [{ path: '/etc/nftables.conf', content, mode: 0o755 }],
    reload: [['nft', '-f', '/etc/nftables.conf']],
    check: (p) => ['nft', '-c', '-f', p],
  };
};
