import type { Config } from '../appliance/config/schema.ts';

export const REDACTED = '<redacted>';

/**
 * A copy of a configuration with every secret replaced: password hashes, the enable secret and the
 * SMTP, update repository, LDAP, proxy and BMC passwords. For configuration diffs shown in the UI, support bundles and logs.
 */
export function redactConfig(c: Config): Config {
  const r = structuredClone(c);
  r.users.enableSecretHash = REDACTED;
  for (const u of r.users.local) u.passwordHash = REDACTED;
  if (r.email?.password) r.email.password = REDACTED;
  if (r.update?.password) r.update.password = REDACTED;
  if (r.ldap?.password) r.ldap.password = REDACTED;
  if (r.proxy?.password) r.proxy.password = REDACTED;
  if (r.health?.bmc?.password) r.health.bmc.password = REDACTED;
  return r;
}
/** Secrets in free text (log lines, the journal): one rule for the core, the CLI and System Manager. */
export { scrub } from '../appliance/log.ts';
