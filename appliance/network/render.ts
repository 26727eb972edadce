import { plain, type Renderer } from '../config/units.ts';
import { prefixLength, gatewayInSubnet } from '../config/rules.ts';

/** systemd-networkd: one .network per configured interface, matched by PCI path. */
export const render: Renderer = (c, facts) => {
  const files = c.network.interfaces.map((i) => {
    const nic = facts.nics.find((n) => n.name === i.name);
    const match = nic ? `Path=pci-${nic.pci}` : `# ${i.name} is not present on this machine\nName=!*`;
    const gw = gatewayInSubnet(c.network.gateway, i.address, i.netmask) === null ? `Gateway=${plain(c.network.gateway, 'gateway')}\n` : '';
    const routes = c.network.routes
      .filter((r) => gatewayInSubnet(r.via, i.address, i.netmask) === null)
      .map((r) => `\n[Route]\nDestination=${plain(r.destination, 'route destination')}/${prefixLength(r.netmask)}\nGateway=${plain(r.via, 'route gateway')}\n`)
      .join('');
    return {
      path: `/etc/systemd/network/10-keel-${i.name}.network`,
      content:
        `# ${i.name} — written by Keel; change it with the CLI or System Manager.\n[Match]\n${match}\n\n` +
        `[Link]\nActivationPolicy=${i.enabled ? 'up' : 'down'}\nRequiredForOnline=${i.enabled ? 'yes' : 'no'}\n\n` +
        `[Network]\nAddress=${plain(i.address, 'interface address')}/${prefixLength(i.netmask)}\n${gw}LinkLocalAddressing=no\nIPv6AcceptRA=no\nLLDP=yes\n${routes}`,
    };
  });
  return { name: 'network', files, reload: [['networkctl', 'reload']] };
};
