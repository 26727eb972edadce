import crypto from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FieldProblem } from '../errors.ts';

/**
 * Software updates (Maintenance > Software Updates): where the repository is and how to sign in
 * to it. The password is kept as given, not hashed, because the appliance must send it to the
 * repository (HTTP basic authentication over HTTPS): a hash cannot be replayed. It is protected
 * like the SMTP password: the configuration database is on the data partition (directory 0700,
 * root only), the password is never logged, never put in audit entries or error messages, and is
 * redacted wherever configurations are shown (show running-config, diffs, System Manager).
 */
export const UpdateSchema = Type.Object(
  {
    repository: Type.String({
      pattern: '^https://[^\\s/?#@]+(/[^\\s?#]*)?$',
      maxLength: 2048,
      description: 'HTTPS URL of the update repository: the folder that holds index.json and the bundles (no user or password in the URL)',
    }),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: '^[^:\\x00-\\x1f]+$', description: 'User name for the repository (HTTP basic authentication); no colon' })),
    password: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Password for the repository; stored because it must be sent (never a hash), never shown or logged' }),
    ),
    caCertificate: Type.Optional(Type.String({ maxLength: 65536, description: "PEM certificate(s) of the CA that issued the repository's HTTPS certificate, when it is not a public CA" })),
  },
  { additionalProperties: false, description: 'Software update repository' },
);
export type UpdateConfig = Static<typeof UpdateSchema>;

/** Cross-field rules: a user name needs a password and the reverse; the CA must parse. */
export function updateProblems(u: UpdateConfig | undefined): FieldProblem[] {
  if (!u) return [];
  const out: FieldProblem[] = [];
  if (u.username && !u.password) out.push({ field: '/update/password', rule: 'required', message: 'a password is required with a user name' });
  if (u.password && !u.username) out.push({ field: '/update/username', rule: 'required', message: 'a user name is required with a password' });
  try {
    new URL(u.repository);
  } catch {
    out.push({ field: '/update/repository', rule: 'url', message: 'not a valid URL' });
  }
  if (u.caCertificate) {
    try {
      new crypto.X509Certificate(u.caCertificate);
    } catch {
      out.push({ field: '/update/caCertificate', rule: 'pem-certificate', message: 'not a PEM certificate' });
    }
  }
  return out;
}

/** The section with its password replaced, for anything shown or logged. */
export function redactUpdate(u: UpdateConfig): UpdateConfig {
  return u.password ? { ...u, password: '<redacted>' } : u;
}
