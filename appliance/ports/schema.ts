import { Type, type Static } from '@sinclair/typebox';

/** Provisioning ports of the seed's Port Settings: HTTP 8080 (evaluation) or HTTPS 443. */
export const PROVISIONING_PORTS = [443, 8080] as const;

/** Settings > Port Settings: where devices reach the provisioning service. */
export const PortsSchema = Type.Object(
  {
    provisioning: Type.Union(
      PROVISIONING_PORTS.map((p) => Type.Literal(p)),
      { description: 'Provisioning port: 443 (HTTPS) or 8080 (HTTP, for evaluation only); the firewall opens it' },
    ),
  },
  { additionalProperties: false, description: 'Port Settings' },
);
export type PortsConfig = Static<typeof PortsSchema>;
