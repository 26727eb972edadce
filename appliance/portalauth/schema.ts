/**
 * Security > Advanced > Portal Authentication: password and/or client-certificate (PIV or CAC
 * smart card) sign-in to System Manager. Password sign-in stays on unless turned off explicitly,
 * and cannot be turned off while certificate sign-in is off (there would be no way in).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FieldProblem } from '../errors.ts';
import type { Config } from '../config/schema.ts';

export const CARD_TYPES = ['piv', 'cac'] as const;
export const MAP_FROM = ['upn', 'rfc822'] as const;
export const MAP_TO = ['USERID', 'EMAIL', 'EDIPI'] as const;
export type MapFrom = (typeof MAP_FROM)[number];
export type MapTo = (typeof MAP_TO)[number];

const choice = <T extends string>(list: readonly T[], description: string) => Type.Union(list.map((v) => Type.Literal(v)), { description });

export const CertificateAuthSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Certificate sign-in to System Manager' }),
    cardType: choice(CARD_TYPES, 'piv: personal identity verification card; cac: common access card (requires mapTo EDIPI)'),
    mapFrom: choice(MAP_FROM, 'The certificate name that identifies the user: upn (NT Principal Name in the SAN) or rfc822 (e-mail in the SAN)'),
    mapTo: choice(MAP_TO, 'The local user field it must match: USERID ($USERID$), EMAIL ($EMAIL$) or EDIPI ($EDIPI$)'),
    caChain: Type.String({ maxLength: 60000, description: 'PEM: the issuing CA certificate or its chain; client certificates must be issued under it' }),
  },
  { additionalProperties: false, description: 'Client-certificate sign-in (PIV/CAC)' },
);
export type CertificateAuthConfig = Static<typeof CertificateAuthSchema>;

export const PortalAuthSchema = Type.Object(
  {
    password: Type.Boolean({ description: 'Password sign-in to System Manager (default on; turning it off needs certificate sign-in on)' }),
    certificate: Type.Optional(CertificateAuthSchema),
  },
  { additionalProperties: false, description: 'Portal Authentication: how administrators sign in to System Manager' },
);
export type PortalAuthConfig = Static<typeof PortalAuthSchema>;

export const DEFAULT_PORTAL_AUTH: PortalAuthConfig = { password: true };

/** Cross-field rules: some way in must stay; CAC maps to EDIPI; certificate sign-in needs a CA. */
export function portalAuthProblems(p: PortalAuthConfig | undefined): FieldProblem[] {
  if (!p) return [];
  const out: FieldProblem[] = [];
  const c = p.certificate;
  if (!p.password && !c?.enabled) out.push({ field: '/portalAuth/password', rule: 'way-in', message: 'password sign-in cannot be turned off while certificate sign-in is off: nobody could sign in' });
  if (c?.enabled && !/-----BEGIN CERTIFICATE-----/.test(c.caChain)) out.push({ field: '/portalAuth/certificate/caChain', rule: 'required', message: 'upload the issuing CA certificate or chain (PEM) to turn certificate sign-in on' });
  if (c && c.cardType === 'cac' && c.mapTo !== 'EDIPI') out.push({ field: '/portalAuth/certificate/mapTo', rule: 'cac-edipi', message: 'CAC cards identify users by their EDIPI: map to $EDIPI$' });
  return out;
}

/** Why changing sign-in methods from `source` could lock its maker out (password sign-in turned off), or null. */
export function portalAuthRisk(prev: Config, next: Config, source: string): string | null {
  if (!/^(webui|api):/.test(source)) return null;
  const a = prev.portalAuth ?? DEFAULT_PORTAL_AUTH;
  const b = next.portalAuth ?? DEFAULT_PORTAL_AUTH;
  if (a.password && !b.password) return 'password sign-in to System Manager is turned off';
  if (!b.password && JSON.stringify(a.certificate) !== JSON.stringify(b.certificate)) return 'certificate sign-in, the only way in, changes';
  return null;
}
