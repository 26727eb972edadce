import { plain, type Renderer } from '../config/units.ts';

/** The resolver: a static /etc/resolv.conf (no local caching daemon on the appliance). */
export const render: Renderer = (c) => {
  const domain = c.dns.domain ?? c.system.hostname.replace(/\.$/, '').split('.').slice(1).join('.');
  return {
    name: 'dns',
    files: [{ path: '/etc/resolv.conf', content: `# written by Keel\nsearch ${plain(domain, 'DNS search domain')}\n${c.dns.servers.map((s) => `nameserver ${plain(s, 'DNS server')}\n`).join('')}options timeout:2 attempts:2\n` }],
    reload: [],
  };
};
