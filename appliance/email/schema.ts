import { Type, type Static } from '@sinclair/typebox';
import type { FieldProblem } from '../errors.ts';

/** SMTP protocols of the seed's Email Settings: plain SMTP, SMTPS (TLS from the start), SMTP with STARTTLS. */
export const EMAIL_PROTOCOLS = ['smtp', 'smtps', 'starttls'] as const;
export type EmailProtocol = (typeof EMAIL_PROTOCOLS)[number];

/** Outgoing e-mail for alerts and notifications (Settings > Email Settings). */
export const EmailSchema = Type.Object(
  {
    from: Type.String({ format: 'email', description: 'From address of every administrative e-mail' }),
    server: Type.String({ format: 'ntp-server', minLength: 1, maxLength: 253, description: 'SMTP server: IPv4 address or host name' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'SMTP server port (usually 25, 465 for SMTPS, 587 for STARTTLS)' }),
    protocol: Type.Union(EMAIL_PROTOCOLS.map((p) => Type.Literal(p)), { description: 'smtp: no encryption; smtps: TLS from the start; starttls: SMTP upgraded with STARTTLS (required)' }),
    auth: Type.Boolean({ description: 'The server requires authentication' }),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'SMTP user name (when auth is on)' })),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'SMTP password (when auth is on); kept to sign in to the server, never shown or logged' })),
  },
  { additionalProperties: false, description: 'Outgoing e-mail (SMTP)' },
);
export type EmailConfig = Static<typeof EmailSchema>;

/** Cross-field rules of the e-mail settings: authentication needs a user name and a password. */
export function emailProblems(email: EmailConfig | undefined): FieldProblem[] {
  if (!email?.auth) return [];
  const out: FieldProblem[] = [];
  if (!email.username) out.push({ field: '/email/username', rule: 'required', message: 'a user name is required when authentication is required' });
  if (!email.password) out.push({ field: '/email/password', rule: 'required', message: 'a password is required when authentication is required' });
  return out;
}
