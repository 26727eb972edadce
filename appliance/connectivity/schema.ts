import { Type, type Static } from '@sinclair/typebox';
import type { FieldProblem } from '../errors.ts';
import { parsePemBundle } from '../certs/pki.ts';

/** How an endpoint an administrator adds is checked: TCP connect, a TLS handshake, or HTTPS (status line only). */
export const CONNECTIVITY_PROTOCOLS = ['tcp', 'tls', 'https'] as const;
export type ConnectivityProtocol = (typeof CONNECTIVITY_PROTOCOLS)[number];

/** One endpoint the administrator adds to the connectivity checks (Diagnostics > Connectivity). */
export const ConnectivityEndpointSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$', description: 'Name of the endpoint: letters, digits, dot, dash or underscore, up to 32 characters' }),
    host: Type.String({ format: 'server-address', description: 'Host name or IPv4 address to reach (with TLS, the name its certificate must carry)' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'TCP port (1-65535)' }),
    protocol: Type.Union(CONNECTIVITY_PROTOCOLS.map((p) => Type.Literal(p)), { description: 'tcp: connect only; tls: connect and read the certificate chain; https: that and the HTTP status' }),
    path: Type.Optional(Type.String({ pattern: '^/[\\x21-\\x7e]*$', maxLength: 1024, description: 'HTTPS only: the path to request (default /); any HTTP status means reachable' })),
    viaProxy: Type.Boolean({ description: 'Go through the configured outbound proxy (a CONNECT tunnel), as the appliance\'s own HTTPS requests do' }),
    expectedIssuer: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\x00-\\x1f]+$', description: 'TLS/HTTPS only: common name of the CA that must issue (or be in the chain of) the certificate; another issuer is flagged as TLS interception' }),
    ),
    caCertificate: Type.Optional(Type.String({ maxLength: 65536, description: "TLS/HTTPS only: PEM certificate(s) of the CA that issues the endpoint's certificate, when it is not in the system trust store" })),
  },
  { additionalProperties: false, description: 'Connectivity endpoint' },
);
export type ConnectivityEndpointConfig = Static<typeof ConnectivityEndpointSchema>;

/** Connectivity checks (Diagnostics > Connectivity): endpoints added to those derived from the configuration, and the schedule. */
export const ConnectivitySchema = Type.Object(
  {
    intervalMinutes: Type.Integer({ minimum: 0, maximum: 1440, description: 'Minutes between scheduled checks by the health monitor (0: on demand only; default 15)' }),
    endpoints: Type.Array(ConnectivityEndpointSchema, { maxItems: 64, description: 'Endpoints checked besides those the configuration depends on (up to 64)' }),
  },
  { additionalProperties: false, description: 'Connectivity checks' },
);
export type ConnectivityConfig = Static<typeof ConnectivitySchema>;

/** The section when it was never set: derived endpoints only, checked every 15 minutes. */
export const DEFAULT_CONNECTIVITY: ConnectivityConfig = { intervalMinutes: 15, endpoints: [] };

/** Names of the endpoints derived from the configuration (endpoints.ts). */
const RESERVED = /^(all|dns-\d+|ntp-\d+|ldap|ldap-failover|smtp|update-repository|proxy|syslog)$/i;

/** Cross-field rules: names are unique; a path and an expected issuer only go with the protocols that use them. */
export function connectivityProblems(c: ConnectivityConfig | undefined): FieldProblem[] {
  if (!c) return [];
  const out: FieldProblem[] = [];
  const names = new Set<string>();
  c.endpoints.forEach((e, i) => {
    const key = e.name.toLowerCase();
    if (names.has(key)) out.push({ field: `/connectivity/endpoints/${i}/name`, rule: 'unique', message: `endpoint ${e.name} exists twice` });
    names.add(key);
    if (RESERVED.test(e.name)) out.push({ field: `/connectivity/endpoints/${i}/name`, rule: 'reserved', message: `${e.name} names an endpoint derived from the configuration; choose another name` });
    if (e.path !== undefined && e.protocol !== 'https') out.push({ field: `/connectivity/endpoints/${i}/path`, rule: 'https-only', message: 'a path is only used with the https protocol' });
    if (e.caCertificate !== undefined) {
      if (e.protocol === 'tcp') out.push({ field: `/connectivity/endpoints/${i}/caCertificate`, rule: 'tls-only', message: 'a CA certificate needs the tls or https protocol' });
      else
        try {
          parsePemBundle(e.caCertificate);
        } catch (err) {
          out.push({ field: `/connectivity/endpoints/${i}/caCertificate`, rule: 'pem-certificate', message: (err as Error).message });
        }
    }
    if (e.expectedIssuer !== undefined && e.protocol === 'tcp') out.push({ field: `/connectivity/endpoints/${i}/expectedIssuer`, rule: 'tls-only', message: 'an expected issuer needs the tls or https protocol' });
  });
  return out;
}
