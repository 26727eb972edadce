import { Type, type Static } from '@sinclair/typebox';

export const DnsSchema = Type.Object(
  {
    servers: Type.Array(Type.String({ format: 'ipv4' }), { minItems: 1, maxItems: 3, description: 'Name servers in order of preference (1 required, up to 3)' }),
    domain: Type.Optional(Type.String({ format: 'dns-domain', description: 'Search domain; defaults to the domain of the hostname' })),
  },
  { additionalProperties: false, description: 'Name resolution' },
);
export type DnsConfig = Static<typeof DnsSchema>;
