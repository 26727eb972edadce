import { plain, type Renderer } from '../config/units.ts';

/** Hostname and /etc/hosts. */
export const render: Renderer = (c) => {
  const fqdn = plain(c.system.hostname.replace(/\.$/, ''), 'hostname');
  const short = fqdn.split('.')[0];
  const addr = plain(c.network.interfaces[0].address, 'interface address');
  return {
    name: 'hostname',
    files: [
      { path: '/etc/hostname', content: `${fqdn}\n` },
      { path: '/etc/hosts', content: `127.0.0.1\tlocalhost\n${addr}\t${fqdn} ${short}\n::1\tlocalhost ip6-localhost ip6-loopback\n` },
    ],
    reload: [['hostname', fqdn]],
    boot: [['hostname', fqdn]],
  };
};
