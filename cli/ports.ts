/**
 * Port Settings in the CLI (System Manager: Settings > Port Settings), configuration mode:
 * `ports provisioning 443|8080` and `no ports [provisioning]` (provisioning closed). The `ports`
 * section is checked by the one schema, so a port it does not offer is refused naming the field.
 */
import { PROVISIONING_PORTS } from '../appliance/ports/schema.ts';
import type { ArgType, Node } from './tree.ts';
import type { Handler } from './commands.ts';
import type { ConfigHelpers } from './update.ts';

type N = Node<Handler>;

// Any whole number gets through: the schema decides which ports are offered, naming the field.
const provisioningPort: ArgType = {
  placeholder: `<${PROVISIONING_PORTS.join('|')}>`,
  rule: 'integer',
  parse: (w) => (/^[0-9]{1,5}$/.test(w) ? { value: String(Number(w)) } : { error: 'must be a whole number' }),
  values: () => PROVISIONING_PORTS.map(String),
};

/** The `ports` configuration node. */
export function portsConfig(h: ConfigHelpers): N {
  const close = h.change((c) => void delete c.ports);
  return {
    kw: 'ports',
    help: 'Port Settings: where devices reach the provisioning service',
    no: close,
    children: [
      {
        kw: 'provisioning',
        help: 'Provisioning port, opened in the firewall (no form: provisioning closed)',
        no: close,
        children: [
          {
            arg: { name: 'port', type: provisioningPort },
            help: '443: HTTPS; 8080: HTTP, for evaluation only',
            run: h.change((c, a) => void (c.ports = { provisioning: Number(a.port) as (typeof PROVISIONING_PORTS)[number] })),
          },
        ],
      },
    ],
  };
}
