/**
 * Stored secrets and where they are sent. The appliance keeps the SMTP, LDAP bind, proxy,
 * update repository and BMC passwords because it must send them; a change that leaves a password
 * out keeps the stored one, but only while it still goes to the same place: the same server,
 * port and scheme, as the same user. A change that points it anywhere else must carry the
 * password again, on every surface (API, CLI, System Manager pages), so a stored password can never
 * be sent to a server an attacker (or a typo) names.
 */
import type { Config } from './schema.ts';
import { ValidationError } from '../errors.ts';

export type SecretKind = 'email' | 'ldap' | 'proxy' | 'update' | 'bmc';

interface Spec {
  /** The field of the secret, as validation names it. */
  field: string;
  /** What it is, for people. */
  label: string;
  secret(c: Config): string | undefined;
  /** Where the secret goes and as whom, as one comparable string (null: the section is absent). */
  destination(c: Config): string | null;
}

/** scheme://host:port of a URL, lower-case, default ports made explicit; the path does not matter. */
function origin(url: string | undefined): string {
  if (!url) return '';
  try {
    const u = new URL(url);
    const port = u.port || ({ 'http:': '80', 'https:': '443', 'ldap:': '389', 'ldaps:': '636' } as Record<string, string>)[u.protocol] || '';
    return `${u.protocol}//${u.hostname.toLowerCase()}:${port}`;
  } catch {
    return url;
  }
}

const SPECS: Record<SecretKind, Spec> = {
  email: {
    field: '/email/password',
    label: 'SMTP password',
    secret: (c) => c.email?.password,
    destination: (c) => (c.email ? JSON.stringify([c.email.server.toLowerCase(), c.email.port, c.email.protocol, c.email.username ?? null]) : null),
  },
  ldap: {
    field: '/ldap/password',
    label: 'LDAP bind password',
    secret: (c) => c.ldap?.password,
    destination: (c) => (c.ldap ? JSON.stringify([origin(c.ldap.url), origin(c.ldap.failoverUrl), c.ldap.bindDn.replace(/\s*,\s*/g, ',').toLowerCase()]) : null),
  },
  proxy: {
    field: '/proxy/password',
    label: 'proxy password',
    secret: (c) => c.proxy?.password,
    destination: (c) => (c.proxy ? JSON.stringify([origin(c.proxy.url), c.proxy.username ?? null]) : null),
  },
  update: {
    field: '/update/password',
    label: 'update repository password',
    secret: (c) => c.update?.password,
    destination: (c) => (c.update ? JSON.stringify([origin(c.update.repository), c.update.username ?? null]) : null),
  },
  bmc: {
    field: '/health/bmc/password',
    label: 'BMC password',
    secret: (c) => c.health?.bmc?.password,
    destination: (c) => (c.health?.bmc ? JSON.stringify([c.health.bmc.host.toLowerCase(), c.health.bmc.port ?? 623, c.health.bmc.user]) : null),
  },
};

/**
 * The stored secret that `next` (a change that leaves the secret out) may keep: the one `stored`
 * holds, if it goes to the same destination as in `next`. Undefined when nothing is stored;
 * a ValidationError naming the field when something is stored for another destination.
 */
export function keepSecret(kind: SecretKind, stored: Config | null | undefined, next: Config): string | undefined {
  const s = SPECS[kind];
  const secret = stored ? s.secret(stored) : undefined;
  if (!stored || !secret) return undefined;
  if (s.destination(stored) !== s.destination(next)) {
    throw new ValidationError([{ field: s.field, rule: 'secret-destination', message: `type the ${s.label} again: the stored one is only sent to the server, port and user it was given for` }]);
  }
  return secret;
}

/**
 * For a change that edits a section around its secret (a new server, port or user, the
 * password untouched): refuses when the secret that `before` holds would now go elsewhere.
 */
export function checkSecretDestinations(before: Config | null | undefined, next: Config, kinds: readonly SecretKind[] = Object.keys(SPECS) as SecretKind[]): void {
  if (!before) return;
  for (const k of kinds) {
    const s = SPECS[k];
    const secret = s.secret(next);
    if (secret !== undefined && secret === s.secret(before)) keepSecret(k, before, next);
  }
}

type Sections = {
  email: NonNullable<Config['email']>;
  ldap: NonNullable<Config['ldap']>;
  proxy: NonNullable<Config['proxy']>;
  update: NonNullable<Config['update']>;
  bmc: NonNullable<NonNullable<Config['health']>['bmc']>;
};

function wrap<K extends SecretKind>(kind: K, section: Sections[K] | undefined): Config | null {
  if (!section) return null;
  return (kind === 'bmc' ? { health: { bmc: section } } : { [kind]: section }) as unknown as Config;
}

/** keepSecret for one section, as stored and as the change makes it (the secret left out). */
export function keptFor<K extends SecretKind>(kind: K, stored: Sections[K] | undefined, next: Sections[K]): string | undefined {
  return keepSecret(kind, wrap(kind, stored), wrap(kind, next)!);
}
