import { Type, type Static } from '@sinclair/typebox';

/** Appliance interface names, in PCI order of the NICs. */
export const INTERFACE_NAMES = ['GigabitEthernet1', 'GigabitEthernet2', 'GigabitEthernet3', 'GigabitEthernet4', 'GigabitEthernet5', 'GigabitEthernet6'] as const;

export const InterfaceSchema = Type.Object(
  {
    name: Type.Union(INTERFACE_NAMES.map((n) => Type.Literal(n)), { description: 'GigabitEthernetN: the Nth NIC in PCI order' }),
    address: Type.String({ format: 'host-address', description: 'IPv4 address of the interface' }),
    netmask: Type.String({ format: 'netmask', description: 'IPv4 netmask with contiguous one-bits, e.g. 255.255.255.0' }),
    enabled: Type.Boolean({ default: true, description: 'Administratively up (no shutdown) or down (shutdown)' }),
    description: Type.Optional(Type.String({ format: 'display-text', minLength: 1, maxLength: 240, description: 'What the interface is for (IOS description), shown by show interfaces' })),
  },
  { additionalProperties: false },
);

export const RouteSchema = Type.Object(
  {
    destination: Type.String({ format: 'ipv4', description: 'Destination network address' }),
    netmask: Type.String({ format: 'netmask', description: 'Destination netmask' }),
    via: Type.String({ format: 'ipv4', description: 'Next-hop gateway' }),
  },
  { additionalProperties: false },
);

export const NetworkSchema = Type.Object(
  {
    interfaces: Type.Array(InterfaceSchema, { minItems: 1, maxItems: 6, description: 'Configured interfaces; the first is the management interface' }),
    gateway: Type.String({ format: 'ipv4', description: 'Default gateway; must be inside the subnet of a configured interface' }),
    routes: Type.Array(RouteSchema, { default: [], description: 'Static routes' }),
  },
  { additionalProperties: false, description: 'IPv4 networking' },
);
export type NetworkConfig = Static<typeof NetworkSchema>;
export type InterfaceConfig = Static<typeof InterfaceSchema>;
