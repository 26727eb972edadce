/**
 * Certificate checks and requests, pure (no files): parse a PEM bundle, describe a certificate,
 * check an uploaded server certificate (key matches, serverAuth, validity, complete chain), and
 * make a key + CSR or a self-signed certificate with the names the appliance needs.
 */
import crypto from 'node:crypto';
import tls from 'node:tls';
import { promisify } from 'node:util';
import type forge from 'node-forge';
import { createRequire } from 'node:module';
import type { FieldProblem } from '../errors.ts';
import { nativeRsaSigner } from './signer.ts';

// node-forge is loaded at first use: most of System Manager's requests never need it (issue 15).
const requireLazily = createRequire(import.meta.url);
let forgeModule: typeof forge | null = null;
const F = () => (forgeModule ??= requireLazily('node-forge') as typeof forge);


const generateKeyPair = promisify(crypto.generateKeyPair);

export const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const OID_ANY_EKU = '2.5.29.37.0';
/** A certificate closer than this to its end is flagged on the pages and in the API. */
export const EXPIRY_WARNING_DAYS = 30;

/** Every certificate in a PEM text, in order. Throws with a sentence when there is none or one is unreadable. */
export function parsePemBundle(pem: string): crypto.X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate found (expected -----BEGIN CERTIFICATE-----)');
  return blocks.map((b, i) => {
    try {
      return new crypto.X509Certificate(b);
    } catch (e) {
      throw new Error(`certificate ${i + 1} in the file is not readable: ${(e as Error).message}`);
    }
  });
}

/** The PEM text of certificates, leaf first. */
export function toPem(certs: crypto.X509Certificate[]): string {
  return certs.map((c) => c.toString()).join('');
}

export interface CertSummary {
  subject: string;
  issuer: string;
  serial: string;
  names: string[];
  validFrom: string;
  validTo: string;
  daysLeft: number;
  expiresSoon: boolean;
  expired: boolean;
  selfSigned: boolean;
  serverAuth: boolean;
  fingerprint256: string;
  keyType: string;
  keyBits: number | null;
}

/** What the Certificates page shows about one certificate. */
export function describeCert(x: crypto.X509Certificate, now = new Date()): CertSummary {
  const to = Date.parse(x.validTo);
  const daysLeft = Math.floor((to - now.getTime()) / 86400_000);
  const d = x.publicKey.asymmetricKeyDetails;
  return {
    subject: x.subject.replace(/\n/g, ', '),
    issuer: x.issuer.replace(/\n/g, ', '),
    serial: x.serialNumber,
    names: (x.subjectAltName ?? '').split(', ').filter(Boolean),
    validFrom: new Date(x.validFrom).toISOString(),
    validTo: new Date(to).toISOString(),
    daysLeft,
    expiresSoon: daysLeft < EXPIRY_WARNING_DAYS,
    expired: to < now.getTime(),
    selfSigned: x.checkIssued(x) && x.verify(x.publicKey),
    serverAuth: hasEku(x, OID_SERVER_AUTH),
    fingerprint256: x.fingerprint256,
    keyType: x.publicKey.asymmetricKeyType ?? 'unknown',
    keyBits: d?.modulusLength ?? null,
  };
}

/** The certificate allows this extended key usage (listed, or anyExtendedKeyUsage). No EKU extension at all does not count. */
export function hasEku(x: crypto.X509Certificate, oid: string): boolean {
  const eku = x.keyUsage;
  return Array.isArray(eku) && (eku.includes(oid) || eku.includes(OID_ANY_EKU));
}

let roots: crypto.X509Certificate[] | null = null;
/** Node's bundled well-known roots (parsed once): a chain may end at one of them without including it. */
function wellKnownRoots(): crypto.X509Certificate[] {
  roots ??= tls.rootCertificates.map((p) => new crypto.X509Certificate(p));
  return roots;
}

function issuedBy(child: crypto.X509Certificate, parent: crypto.X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/**
 * Orders a chain from `leaf` up: each next certificate is the issuer of the one before, found
 * among `pool` (the uploaded chain) and, for the last step only, the well-known roots or `extraRoots`.
 * Returns the path and why it stops short, if it does.
 */
export function buildChain(
  leaf: crypto.X509Certificate,
  pool: crypto.X509Certificate[],
  opts: { extraRoots?: crypto.X509Certificate[]; now?: Date } = {},
): { path: crypto.X509Certificate[]; complete: boolean; problem: string | null } {
  const now = opts.now ?? new Date();
  const path = [leaf];
  for (let cur = leaf; path.length < 10; ) {
    if (issuedBy(cur, cur)) return { path, complete: true, problem: null };
    const parent = pool.find((p) => p !== cur && !path.includes(p) && issuedBy(cur, p));
    if (!parent) {
      const anchor = [...(opts.extraRoots ?? []), ...wellKnownRoots()].find((r) => issuedBy(cur, r));
      if (anchor) return { path, complete: true, problem: null };
      return { path, complete: false, problem: `the chain stops at "${cur.subject.replace(/\n/g, ', ')}": the certificate of its issuer "${cur.issuer.replace(/\n/g, ', ')}" is missing` };
    }
    if (!parent.ca) return { path, complete: false, problem: `"${parent.subject.replace(/\n/g, ', ')}" issued a certificate but is not a CA` };
    if (Date.parse(parent.validTo) < now.getTime() || Date.parse(parent.validFrom) > now.getTime())
      return { path, complete: false, problem: `the CA certificate "${parent.subject.replace(/\n/g, ', ')}" is not valid now (valid ${parent.validFrom} to ${parent.validTo})` };
    path.push(parent);
    cur = parent;
  }
  return { path, complete: false, problem: 'the chain is longer than 10 certificates' };
}

/**
 * Whether `leaf` was issued under one of `anchors` (the uploaded CA certificates), possibly through
 * intermediates the client sent (`presented`). Only anchors end a path: a root the client sends
 * itself counts for nothing. Returns the path (leaf first, anchor last) or why not.
 */
export function chainToAnchors(leaf: crypto.X509Certificate, presented: crypto.X509Certificate[], anchors: crypto.X509Certificate[], now = new Date()): { path: crypto.X509Certificate[] } | { problem: string } {
  const valid = (c: crypto.X509Certificate) => Date.parse(c.validFrom) <= now.getTime() && Date.parse(c.validTo) >= now.getTime();
  const path = [leaf];
  for (let cur = leaf; path.length < 8; ) {
    const anchor = anchors.find((a) => issuedBy(cur, a));
    if (anchor) {
      if (!anchor.ca) return { problem: `"${anchor.subject.replace(/\n/g, ', ')}" is not a CA certificate` };
      if (!valid(anchor)) return { problem: `the CA certificate "${anchor.subject.replace(/\n/g, ', ')}" is not valid now` };
      return { path: [...path, anchor] };
    }
    const next = presented.find((p) => p !== cur && !path.includes(p) && p.ca && valid(p) && issuedBy(cur, p));
    if (!next) return { problem: `it was not issued under the uploaded CA chain (issuer: "${cur.issuer.replace(/\n/g, ', ')}")` };
    path.push(next);
    cur = next;
  }
  return { problem: 'the chain is too long' };
}

/** Loads a private key (PKCS#8 or PKCS#1 PEM), or null with no exception. */
export function readKey(pem: string): crypto.KeyObject | null {
  try {
    return crypto.createPrivateKey(pem);
  } catch {
    return null;
  }
}

export interface ServerCertCheck {
  problems: FieldProblem[];
  warnings: string[];
  /** Leaf then issuers, as the TLS server should send them (the root left out when it is a well-known one). */
  chainPem: string;
  leaf: crypto.X509Certificate | null;
}

/**
 * The server keys System Manager accepts: RSA of 2048 bits or more, or EC on P-256 or P-384 (what
 * every browser and the appliance's TLS settings support with a security margin). Ed25519 has no
 * browser support for server certificates; P-192, P-224 and short RSA keys are too weak.
 */
export function serverKeyProblem(key: crypto.KeyObject): { rule: string; message: string } | null {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return (d?.modulusLength ?? 0) >= 2048 ? null : { rule: 'key-size', message: `the RSA key has ${d?.modulusLength} bits; at least 2048 are needed` };
  if (key.asymmetricKeyType === 'ec') {
    const curve = d?.namedCurve ?? 'unknown';
    return ['prime256v1', 'secp384r1'].includes(curve) ? null : { rule: 'key-type', message: `the EC key is on curve ${curve}; use P-256 or P-384 (or RSA of 2048 bits or more)` };
  }
  return { rule: 'key-type', message: `a ${key.asymmetricKeyType ?? 'unknown'} key is not accepted for the server certificate; use RSA of 2048 bits or more, or EC P-256 or P-384` };
}

/**
 * Checks a server certificate (with its chain) against its private key before it is installed:
 * key matches, at least RSA 2048 / EC 256, serverAuth extended key usage, valid now, chain complete
 * up to a root. Names not covering `hostname` are a warning, not an error (the admin may know better).
 */
export function checkServerCertificate(certPem: string, keyPem: string, opts: { hostname?: string; now?: Date; field?: string } = {}): ServerCertCheck {
  const field = opts.field ?? '/certificate';
  const now = opts.now ?? new Date();
  const problems: FieldProblem[] = [];
  const warnings: string[] = [];
  const out = (rule: string, message: string, f = field) => problems.push({ field: f, rule, message });
  let certs: crypto.X509Certificate[];
  try {
    certs = parsePemBundle(certPem);
  } catch (e) {
    out('pem', (e as Error).message);
    return { problems, warnings, chainPem: '', leaf: null };
  }
  const key = readKey(keyPem);
  if (!key) {
    out('key', 'the private key is missing or not a readable PEM key', '/key');
    return { problems, warnings, chainPem: '', leaf: null };
  }
  // The leaf is the certificate of this key, wherever it is in the file.
  const leaf = certs.find((c) => c.checkPrivateKey(key));
  if (!leaf) {
    out('key-match', 'no certificate in the file matches the private key (was the request made with another key?)');
    return { problems, warnings, chainPem: '', leaf: null };
  }
  const problem = serverKeyProblem(leaf.publicKey);
  if (problem) out(problem.rule, problem.message);
  if (leaf.ca) out('not-ca', 'this is a CA certificate, not a server certificate');
  if (!hasEku(leaf, OID_SERVER_AUTH)) out('server-auth', 'the certificate is not valid for server authentication (its extended key usage lacks serverAuth)');
  if (Date.parse(leaf.validFrom) > now.getTime()) out('not-yet-valid', `the certificate is not valid before ${new Date(leaf.validFrom).toISOString()}`);
  if (Date.parse(leaf.validTo) < now.getTime()) out('expired', `the certificate expired on ${new Date(leaf.validTo).toISOString()}`);
  const chain = buildChain(leaf, certs.filter((c) => c !== leaf), { now });
  if (!chain.complete) out('chain', `the chain is incomplete: ${chain.problem}; upload the intermediate certificates with it`);
  const summary = describeCert(leaf, now);
  if (!summary.expired && summary.expiresSoon) warnings.push(`the certificate expires in ${summary.daysLeft} days`);
  if (opts.hostname && !leaf.checkHost(opts.hostname)) warnings.push(`the certificate does not name ${opts.hostname}; browsers that use that name will warn`);
  return { problems, warnings, chainPem: toPem(chain.path), leaf };
}

/** The names a certificate for this appliance should carry: its hostname and enterpriseenrollment.<domain>. */
export function defaultNames(hostname: string): string[] {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  const domain = h.split('.').slice(1).join('.');
  return domain.includes('.') || domain.length > 0 ? [h, `enterpriseenrollment.${domain}`] : [h];
}

function san(names: string[]): { type: number; value?: string; ip?: string }[] {
  return names.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? { type: 7, ip: n } : { type: 2, value: n.toLowerCase() }));
}

async function newRsaKey(): Promise<{ keyPem: string; fPriv: forge.pki.rsa.PrivateKey; fPub: forge.pki.rsa.PublicKey }> {
  // Native key generation: forge's pure-JS RSA keygen is far too slow.
  const { privateKey, publicKey } = await generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    // Signed by native crypto (signer.ts): forge only builds the structures.
    fPriv: nativeRsaSigner(privateKey) as unknown as forge.pki.rsa.PrivateKey,
    fPub: F().pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string) as forge.pki.rsa.PublicKey,
  };
}

export interface SubjectFields {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
  locality?: string;
  state?: string;
  country?: string;
}

function subjectAttrs(s: SubjectFields): forge.pki.CertificateField[] {
  const a: forge.pki.CertificateField[] = [{ name: 'commonName', value: s.commonName }];
  if (s.organization) a.push({ name: 'organizationName', value: s.organization });
  if (s.organizationalUnit) a.push({ shortName: 'OU', value: s.organizationalUnit });
  if (s.locality) a.push({ name: 'localityName', value: s.locality });
  if (s.state) a.push({ shortName: 'ST', value: s.state });
  if (s.country) a.push({ name: 'countryName', value: s.country });
  return a;
}

/** A new RSA 2048 key and a SHA-256 CSR asking for these names (SAN) and serverAuth. */
export async function makeCsr(subject: SubjectFields, names: string[]): Promise<{ keyPem: string; csrPem: string }> {
  const k = await newRsaKey();
  const csr = F().pki.createCertificationRequest();
  csr.publicKey = k.fPub;
  csr.setSubject(subjectAttrs(subject));
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [
        { name: 'subjectAltName', altNames: san(names) },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
      ],
    },
  ]);
  csr.sign(k.fPriv, F().md.sha256.create());
  return { keyPem: k.keyPem, csrPem: F().pki.certificationRequestToPem(csr) };
}

/** A new key and a self-signed SHA-256 serverAuth certificate for these names, valid `days`. */
export async function makeSelfSignedFor(subject: SubjectFields, names: string[], days: number, now = new Date()): Promise<{ keyPem: string; certPem: string }> {
  const k = await newRsaKey();
  const cert = F().pki.createCertificate();
  cert.publicKey = k.fPub;
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x01;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(now.getTime() - 3600_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86400_000);
  cert.setSubject(subjectAttrs(subject));
  cert.setIssuer(subjectAttrs(subject));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: san(names) },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(k.fPriv, F().md.sha256.create());
  return { keyPem: k.keyPem, certPem: F().pki.certificateToPem(cert) };
}

/** The subject and names a CSR asks for (to show it back). */
export function describeCsr(csrPem: string): { subject: string; names: string[] } {
  const csr = F().pki.certificationRequestFromPem(csrPem);
  const ext = (csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: { name: string; altNames?: { value?: string; ip?: string }[] }[] } | null)?.extensions ?? [];
  const alt = ext.find((e) => e.name === 'subjectAltName')?.altNames ?? [];
  return { subject: csr.subject.attributes.map((a) => `${a.shortName ?? a.name}=${a.value}`).join(', '), names: alt.map((a) => a.ip ?? a.value ?? '') };
}
