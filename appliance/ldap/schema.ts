import { Type, type Static } from '@sinclair/typebox';
import type { FieldProblem } from '../errors.ts';

/** Directory kinds of the seed's LDAP settings: they decide the user attribute and how nested groups are resolved. */
export const LDAP_TYPES = ['ad', 'domino', 'other'] as const;
export type LdapType = (typeof LDAP_TYPES)[number];
export const LDAP_TYPE_LABELS: Record<LdapType, string> = { ad: 'Active Directory', domino: 'Domino', other: 'Other' };

const URL_PATTERN = '^ldaps?://[A-Za-z0-9.\\-\\[\\]:]+(:[0-9]{1,5})?/?$';

/** Background health checks of each directory server (seed 003: interval, live and dead thresholds). */
export const LdapHealthSchema = Type.Object(
  {
    interval: Type.Integer({ minimum: 10, maximum: 600, description: 'Seconds between background health checks of each server (10-600, default 60)' }),
    liveThreshold: Type.Integer({ minimum: 1, maximum: 10, description: 'Successful checks in a row before a dead server is marked live again (1-10, default 3)' }),
    deadThreshold: Type.Integer({ minimum: 1, maximum: 1000, description: 'Failed checks or connections in a row before a server is marked dead (1-1000, default 3)' }),
  },
  { additionalProperties: false, description: 'Server health checks' },
);
export type LdapHealthConfig = Static<typeof LdapHealthSchema>;

/** One group-to-role mapping: members of the group (directly or through nested groups) sign in with the role. */
export const LdapRoleMappingSchema = Type.Object(
  {
    group: Type.String({ minLength: 3, maxLength: 1024, pattern: '=', description: 'Distinguished name of the directory group' }),
    role: Type.Union([Type.Literal('admin'), Type.Literal('operator')], { description: 'Role given to its members' }),
  },
  { additionalProperties: false, description: 'Group-to-role mapping' },
);

/** LDAP / Active Directory administrators (Security > LDAP): users stay in the directory, never imported. */
export const LdapSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Admin state: directory users may sign in when on' }),
    type: Type.Union(LDAP_TYPES.map((t) => Type.Literal(t)), { description: 'Directory type: ad (Active Directory), domino or other' }),
    domain: Type.String({ format: 'fqdn', description: 'Directory domain, e.g. example.com; the base DN is derived from it (dc=example,dc=com)' }),
    baseDn: Type.Optional(Type.String({ minLength: 3, maxLength: 1024, pattern: '=', description: 'Search base DN when it is not the one derived from the domain' })),
    url: Type.String({ pattern: URL_PATTERN, maxLength: 300, description: 'Directory URL: ldap://host[:389] or ldaps://host[:636]' }),
    failoverUrl: Type.Optional(Type.String({ pattern: URL_PATTERN, maxLength: 300, description: 'Failover directory URL, used while the first server is dead' })),
    bindDn: Type.String({ minLength: 1, maxLength: 1024, description: 'Bind user: a DN, user@domain or DOMAIN\\user (Active Directory)' }),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Bind password; kept to bind to the directory, never shown or logged' })),
    searchTimeout: Type.Integer({ minimum: 1, maximum: 300, description: 'Search timeout in seconds (default 30)' }),
    chaseReferrals: Type.Boolean({ description: 'Follow referrals to other directory servers' }),
    userAttribute: Type.Optional(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9-]{0,63}$', description: 'Attribute that holds the sign-in name (default: sAMAccountName for Active Directory, uid otherwise)' })),
    roleMappings: Type.Array(LdapRoleMappingSchema, { maxItems: 100, description: 'Groups whose members may sign in, and with which role (admin wins)' }),
    health: LdapHealthSchema,
  },
  { additionalProperties: false, description: 'LDAP / Active Directory administrators' },
);
export type LdapConfig = Static<typeof LdapSchema>;

export const DEFAULT_LDAP_HEALTH: LdapHealthConfig = { interval: 60, liveThreshold: 3, deadThreshold: 3 };
export const DEFAULT_SEARCH_TIMEOUT = 30;
/** How deep nested groups are followed on directories without LDAP_MATCHING_RULE_IN_CHAIN. */
export const NESTING_DEPTH = 8;

/** The base DN a domain stands for: example.com -> dc=example,dc=com. */
export function baseDnOf(domain: string): string {
  return domain
    .replace(/\.$/, '')
    .split('.')
    .filter(Boolean)
    .map((l) => `dc=${l}`)
    .join(',');
}

/** The search base in force: the explicit one, else the domain's. */
export function effectiveBaseDn(c: Pick<LdapConfig, 'domain' | 'baseDn'>): string {
  return c.baseDn ?? baseDnOf(c.domain);
}

/** The attribute users sign in with. */
export function userAttributeOf(c: Pick<LdapConfig, 'type' | 'userAttribute'>): string {
  return c.userAttribute ?? (c.type === 'ad' ? 'sAMAccountName' : 'uid');
}

/** Cross-field rules: an enabled directory needs a password and at least one mapping; the failover differs from the first URL. */
export function ldapProblems(l: LdapConfig | undefined): FieldProblem[] {
  if (!l) return [];
  const out: FieldProblem[] = [];
  if (l.failoverUrl && l.failoverUrl.replace(/\/$/, '') === l.url.replace(/\/$/, '')) out.push({ field: '/ldap/failoverUrl', rule: 'distinct', message: 'the failover URL must differ from the directory URL' });
  if (l.enabled && !l.password) out.push({ field: '/ldap/password', rule: 'required', message: 'a bind password is required when LDAP is enabled' });
  if (l.enabled && l.roleMappings.length === 0) out.push({ field: '/ldap/roleMappings', rule: 'required', message: 'map at least one group to a role, or nobody can sign in from the directory' });
  return out;
}
