import { Type, type Static } from '@sinclair/typebox';
import { parsePemBundle } from '../certs/pki.ts';
import type { FieldProblem } from '../errors.ts';

const Subscription = Type.Union([Type.Literal('all'), Type.Literal('critical')], { description: 'Which alerts this channel gets: all (warnings, critical and their clearing) or critical only' });

/** Who gets alert e-mails; the SMTP server, port, protocol and sign-in are the `email` section (Settings > Email Settings). */
export const HealthEmailSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Send health alerts by e-mail (through the SMTP server of the email settings)' }),
    subscription: Subscription,
    to: Type.Array(Type.String({ format: 'email', description: 'Recipient address' }), { minItems: 1, maxItems: 10, description: 'Who gets the alert e-mails' }),
  },
  { additionalProperties: false, description: 'Alert e-mails' },
);

export const HealthSyslogSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Send health alerts to a remote syslog server' }),
    subscription: Subscription,
    server: Type.String({ format: 'server-address', description: 'Syslog server: a host name or an IPv4 address (with TLS, the name its certificate carries)' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'Syslog server port (514 UDP/TCP, 6514 TLS)' }),
    transport: Type.Union([Type.Literal('udp'), Type.Literal('tcp'), Type.Literal('tls')], { description: 'RFC 5424 over UDP (RFC 5426), TCP (RFC 6587 octet counting) or TLS (RFC 5425)' }),
    facility: Type.Optional(Type.Integer({ minimum: 0, maximum: 23, default: 16, description: 'Syslog facility number (16 = local0)' })),
    caCertificate: Type.Optional(
      Type.String({ maxLength: 65536, description: "TLS only: PEM certificate(s) of the CA that issued the syslog server's certificate, when it is not a public CA (the server's name or IP address must match its certificate)" }),
    ),
  },
  { additionalProperties: false, description: 'Alerts to a remote syslog server' },
);

export const HealthSchema = Type.Object(
  {
    intervalSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 600, default: 60, description: 'Seconds between health probes (NIC, RAID, disks)' })),
    ipmiIntervalSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 600, default: 30, description: 'Seconds between IPMI sensor reads' })),
    retentionDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, default: 90, description: 'Days of health history kept' })),
    maxHistory: Type.Optional(Type.Integer({ minimum: 100, maximum: 1000000, default: 10000, description: 'Most health history entries kept' })),
    devices: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, description: 'Number of managed devices this appliance is sized for (picks the row of the VM sizing table)' })),
    bmc: Type.Optional(
      Type.Object(
        {
          host: Type.String({ format: 'host-address', description: 'Remote BMC address (RMCP+/lanplus); without bmc the local BMC (/dev/ipmi0) is used' }),
          port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 623, description: 'Remote BMC UDP port' })),
          user: Type.String({ minLength: 1, maxLength: 16, description: 'BMC user name' }),
          password: Type.String({ minLength: 1, maxLength: 20, description: 'BMC password (never shown or logged)' }),
        },
        { additionalProperties: false, description: 'A remote BMC to read instead of the local one' },
      ),
    ),
    email: Type.Optional(HealthEmailSchema),
    syslog: Type.Optional(HealthSyslogSchema),
  },
  { additionalProperties: false, description: 'Hardware health probes and alerts' },
);
export type HealthConfig = Static<typeof HealthSchema>;
export type HealthEmail = Static<typeof HealthEmailSchema>;
export type HealthSyslog = Static<typeof HealthSyslogSchema>;

/** Defaults for the optional health fields. */
export const HEALTH_DEFAULTS = { intervalSeconds: 60, ipmiIntervalSeconds: 30, retentionDays: 90, maxHistory: 10000, devices: 4999, syslogFacility: 16 } as const;

/** The configured remote BMC as an ipmitool target; undefined when the local BMC is to be used. */
export function bmcTarget(health: HealthConfig | undefined): import('../host/ipmi.ts').BmcTarget | undefined {
  const b = health?.bmc;
  return b ? { interface: 'lanplus', host: b.host, port: b.port ?? 623, user: b.user, password: b.password } : undefined;
}

/** Cross-field rules: a syslog CA certificate must parse and only goes with TLS. */
export function healthProblems(h: HealthConfig | undefined): FieldProblem[] {
  const ca = h?.syslog?.caCertificate;
  if (ca === undefined) return [];
  if (h!.syslog!.transport !== 'tls') return [{ field: '/health/syslog/caCertificate', rule: 'tls-only', message: 'a CA certificate is only used with the tls transport' }];
  try {
    parsePemBundle(ca);
    return [];
  } catch (e) {
    return [{ field: '/health/syslog/caCertificate', rule: 'pem-certificate', message: (e as Error).message }];
  }
}
