/**
 * Client-certificate sign-in: is this certificate valid for client authentication, issued under the
 * uploaded CA chain, and whose identity (UPN or RFC822 name) maps to which local user? Pure; every
 * step is explained, so "test sign-in" can show why a certificate maps to a user or why it does not.
 *
 * Matching (seed 004): with the NT Principal Name, `DOMAIN\userid` and `userid@domain` both match,
 * as long as user id and domain agree (a NetBIOS DOMAIN matches the first label of a DNS domain);
 * when one side has no domain, the user ids alone decide. $EDIPI$ compares the user part of the
 * UPN (CAC: `1234567890@mil`) with the user's EDIPI.
 */
import crypto from 'node:crypto';
import type forge from 'node-forge';
import { createRequire } from 'node:module';
import type { Config, } from '../config/schema.ts';
import type { UserConfig } from '../users/schema.ts';
import { OID_CLIENT_AUTH, hasEku, parsePemBundle, chainToAnchors } from '../certs/pki.ts';
import type { CertificateAuthConfig } from './schema.ts';

// node-forge is loaded at first use: most of System Manager's requests never need it (issue 15).
const requireLazily = createRequire(import.meta.url);
let forgeModule: typeof forge | null = null;
const F = () => (forgeModule ??= requireLazily('node-forge') as typeof forge);


const OID_UPN = '1.3.6.1.4.1.311.20.2.3';

/** The UPNs (NT Principal Names) and RFC822 names of a certificate's subjectAltName. */
export function sanIdentities(x: crypto.X509Certificate): { upn: string[]; rfc822: string[] } {
  const out = { upn: [] as string[], rfc822: [] as string[] };
  const a = F().asn1;
  const cert = a.fromDer(F().util.createBuffer(x.raw.toString('binary')));
  const tbs = (cert.value as forge.asn1.Asn1[])[0];
  const exts = (tbs.value as forge.asn1.Asn1[]).find((v) => v.tagClass === a.Class.CONTEXT_SPECIFIC && v.type === 3);
  if (!exts) return out;
  for (const ext of (exts.value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[]) {
    const parts = ext.value as forge.asn1.Asn1[];
    if (a.derToOid(F().util.createBuffer(parts[0].value as string)) !== '2.5.29.17') continue;
    const seq = a.fromDer(F().util.createBuffer(parts[parts.length - 1].value as string));
    for (const gn of seq.value as forge.asn1.Asn1[]) {
      if (gn.tagClass !== a.Class.CONTEXT_SPECIFIC) continue;
      if (gn.type === 1) out.rfc822.push(String(gn.value));
      if (gn.type === 0) {
        const [oid, val] = gn.value as forge.asn1.Asn1[];
        if (a.derToOid(F().util.createBuffer(oid.value as string)) !== OID_UPN) continue;
        const inner = (val.value as forge.asn1.Asn1[])[0];
        out.upn.push(F().util.decodeUtf8(String(inner.value)));
      }
    }
  }
  return out;
}

/** `userid@domain` or `DOMAIN\userid` split into its parts (domain null when there is none). */
export function splitIdentity(v: string): { user: string; domain: string | null } {
  const bs = v.indexOf('\\');
  if (bs > 0) return { user: v.slice(bs + 1), domain: v.slice(0, bs) };
  const at = v.lastIndexOf('@');
  if (at > 0) return { user: v.slice(0, at), domain: v.slice(at + 1) };
  return { user: v, domain: null };
}

function domainsAgree(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return true;
  // NetBIOS name (no dot) against a DNS domain: its first label.
  if (!x.includes('.') && y.includes('.')) return y.split('.')[0] === x;
  if (!y.includes('.') && x.includes('.')) return x.split('.')[0] === y;
  return false;
}

/** Whether a certificate identity and a user's value name the same account (the seed's rules). */
export function identitiesMatch(identity: string, value: string): boolean {
  const a = splitIdentity(identity);
  const b = splitIdentity(value);
  if (a.user !== b.user) return false;
  return a.domain === null || b.domain === null || domainsAgree(a.domain, b.domain);
}

export type CertSignIn =
  | { ok: true; user: { name: string; role: 'admin' | 'operator' }; identity: string; steps: string[] }
  | { ok: false; reason: string; steps: string[] };

/** Which local users' field is compared, as the seed names it. */
const VARIABLE = { USERID: '$USERID$', EMAIL: '$EMAIL$', EDIPI: '$EDIPI$' } as const;

function valueOf(u: UserConfig, mapTo: CertificateAuthConfig['mapTo']): string | undefined {
  return mapTo === 'USERID' ? u.name : mapTo === 'EMAIL' ? u.email : u.edipi;
}

/**
 * Checks a client certificate against the configuration and maps it to a local user.
 * `presented` are the intermediates the client sent with it (not trusted by themselves).
 */
export function certificateSignIn(config: Config, leafPem: string | crypto.X509Certificate, presented: crypto.X509Certificate[] = [], now = new Date()): CertSignIn {
  const steps: string[] = [];
  const no = (reason: string): CertSignIn => ({ ok: false, reason, steps: [...steps, `refused: ${reason}`] });
  const ca = config.portalAuth?.certificate;
  if (!ca?.enabled) return no('certificate sign-in is turned off');
  let leaf: crypto.X509Certificate;
  try {
    leaf = typeof leafPem === 'string' ? parsePemBundle(leafPem)[0] : leafPem;
  } catch (e) {
    return no((e as Error).message);
  }
  steps.push(`certificate: ${leaf.subject.replace(/\n/g, ', ')}, issued by ${leaf.issuer.replace(/\n/g, ', ')}`);
  if (Date.parse(leaf.validFrom) > now.getTime()) return no(`the certificate is not valid yet (from ${new Date(leaf.validFrom).toISOString()})`);
  if (Date.parse(leaf.validTo) < now.getTime()) return no(`the certificate expired on ${new Date(leaf.validTo).toISOString()}`);
  steps.push('valid now');
  if (!hasEku(leaf, OID_CLIENT_AUTH)) return no('the certificate is not valid for client authentication (its extended key usage lacks clientAuth)');
  steps.push('extended key usage: clientAuth');
  let anchors: crypto.X509Certificate[];
  try {
    anchors = parsePemBundle(ca.caChain);
  } catch (e) {
    return no(`the uploaded CA chain is unreadable: ${(e as Error).message}`);
  }
  const chain = chainToAnchors(leaf, presented, anchors, now);
  if ('problem' in chain) return no(chain.problem);
  steps.push(`issued under the uploaded CA "${chain.path[chain.path.length - 1].subject.replace(/\n/g, ', ')}"`);
  const names = sanIdentities(leaf);
  const ids = ca.mapFrom === 'upn' ? names.upn : names.rfc822;
  const label = ca.mapFrom === 'upn' ? 'NT Principal Name (UPN)' : 'RFC822 name';
  if (ids.length === 0) return no(`the certificate has no ${label} in its subject alternative names`);
  const identity = ids[0];
  steps.push(`${label}: ${identity}`);
  const users = config.users.local.filter((u) => {
    const v = valueOf(u, ca.mapTo);
    if (!v) return false;
    if (ca.mapTo === 'EDIPI') return splitIdentity(identity).user === v;
    if (ca.mapTo === 'EMAIL' && ca.mapFrom === 'rfc822') return identity.toLowerCase() === v.toLowerCase();
    return identitiesMatch(identity, v);
  });
  if (users.length === 0) return no(`no local user has ${VARIABLE[ca.mapTo]} matching ${identity}`);
  if (users.length > 1) return no(`${identity} matches ${users.length} local users (${users.map((u) => u.name).join(', ')}); it must match exactly one`);
  const u = users[0];
  steps.push(`maps to local user ${u.name} (${VARIABLE[ca.mapTo]} = ${valueOf(u, ca.mapTo)}), role ${u.role}`);
  return { ok: true, user: { name: u.name, role: u.role }, identity, steps };
}
