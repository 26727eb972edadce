import crypto from 'node:crypto';
import { promisify } from 'node:util';
import type forge from 'node-forge';
import { createRequire } from 'node:module';
import type { Host } from '../host/index.ts';
import type { Config } from '../config/schema.ts';
import { log } from '../log.ts';
import { nativeRsaSigner } from './signer.ts';

// node-forge is loaded at first use: most of System Manager's requests never need it (issue 15).
const requireLazily = createRequire(import.meta.url);
let forgeModule: typeof forge | null = null;
const F = () => (forgeModule ??= requireLazily('node-forge') as typeof forge);


/** Where System Manager's TLS key and certificate live (appliance paths, through host.files). */
export const WEBUI_KEY_PATH = '/var/lib/keel/certs/webui.key';
export const WEBUI_CERT_PATH = '/var/lib/keel/certs/webui.crt';
const CERT_DIR = '/var/lib/keel/certs';
/** Present when an administrator chose the System Manager certificate (its content says how): then it is never replaced on its own. */
export const WEBUI_SOURCE_PATH = '/var/lib/keel/certs/webui.source';

/** About two years. */
export const VALIDITY_DAYS = 730;
/** A certificate this close to expiry is replaced at the next start. */
const RENEW_BEFORE_DAYS = 30;

export interface WebuiCertificate {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the certificate's DER, as `AA:BB:…` (what the console shows for the first connection). */
  fingerprint256: string;
}

const generateKeyPair = promisify(crypto.generateKeyPair);

/** SHA-256 fingerprint of a PEM certificate's DER, upper-case hex pairs joined by colons. */
export function fingerprint256(certPem: string): string {
  return new crypto.X509Certificate(certPem).fingerprint256;
}

/** The subjectAltName entries the certificate must carry: `DNS:<fqdn>` and, if given, `IP Address:<ip>`. */
function wantedSans(fqdn: string, ip?: string | null): string[] {
  const sans = [`DNS:${fqdn.toLowerCase()}`];
  if (ip) sans.push(`IP Address:${ip}`);
  return sans.sort();
}

/** Why an existing key + certificate cannot be reused, or null when they can. */
function unusable(certPem: string, keyPem: string, fqdn: string, ip: string | null | undefined, now: Date): string | null {
  let x509: crypto.X509Certificate;
  let key: crypto.KeyObject;
  try {
    x509 = new crypto.X509Certificate(certPem);
    key = crypto.createPrivateKey(keyPem);
  } catch {
    return 'unreadable';
  }
  if (!x509.checkPrivateKey(key)) return 'key does not match certificate';
  const have = (x509.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (s.startsWith('DNS:') ? s.toLowerCase().replace(/^dns:/, 'DNS:') : s))
    .sort();
  const want = wantedSans(fqdn, ip);
  if (have.join(',') !== want.join(',')) return `names changed (${have.join(', ') || 'none'} → ${want.join(', ')})`;
  if (new Date(x509.validTo).getTime() - now.getTime() < RENEW_BEFORE_DAYS * 86400_000) return 'expires soon or expired';
  return null;
}

/** Makes an RSA 2048 key and a self-signed SHA-256 server certificate for `fqdn` (built by forge, key and signature by native crypto). */
export async function makeSelfSigned(fqdn: string, ip?: string | null, now = new Date()): Promise<{ certPem: string; keyPem: string }> {
  // Node's native key generation: forge's pure-JS RSA keygen takes far too long under emulation.
  const { privateKey, publicKey } = await generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const fPub = F().pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string) as forge.pki.rsa.PublicKey;

  const cert = F().pki.createCertificate();
  cert.publicKey = fPub;
  // Positive 128-bit serial: clear the top bit so DER does not read it as negative.
  const serial = crypto.randomBytes(16);
  serial[0] &= 0x7f;
  serial[0] |= 0x01;
  cert.serialNumber = serial.toString('hex');
  // Start an hour early so a slightly slow client clock still accepts it.
  cert.validity.notBefore = new Date(now.getTime() - 3600_000);
  cert.validity.notAfter = new Date(now.getTime() + VALIDITY_DAYS * 86400_000);
  const name = [
    { name: 'commonName', value: fqdn.toLowerCase() },
    { name: 'organizationName', value: 'Keel System Manager (self-signed)' },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  const altNames: { type: number; value?: string; ip?: string }[] = [{ type: 2, value: fqdn.toLowerCase() }];
  if (ip) altNames.push({ type: 7, ip });
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(nativeRsaSigner(privateKey) as unknown as forge.pki.rsa.PrivateKey, F().md.sha256.create());
  return { certPem: F().pki.certificateToPem(cert), keyPem };
}

/**
 * Why browsers would warn about System Manager's certificate for `hostname` (a sentence), or null
 * when the certificate names it. Only an administrator's own certificate can be left behind by a
 * hostname change: the automatic one is made again for the new name when System Manager restarts.
 */
export function hostnameMismatch(host: Host, hostname: string): string | null {
  const pem = host.files.readText(WEBUI_CERT_PATH);
  if (!pem) return null;
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(pem);
  } catch {
    return null;
  }
  if (x509.checkHost(hostname)) return null;
  const names = (x509.subjectAltName ?? '').split(',').map((s) => s.trim()).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
  const own = host.files.readText(WEBUI_SOURCE_PATH) !== null;
  return `System Manager's certificate is for ${names.join(', ') || 'other names'}, not ${hostname}: browsers will warn. ${own ? 'Make or upload one for the new name under Certificates.' : 'A new one is made for the new name when System Manager restarts (service keel-serve restart).'}`;
}

/**
 * System Manager's TLS identity. At first use makes a key and a self-signed certificate for the
 * external hostname (SAN: the FQDN, plus the management IP if given) and stores them at
 * /var/lib/keel/certs/webui.{key,crt} (key 0600) with atomic writes. Later calls reuse them, unless
 * the names changed, the pair does not match, or the certificate expires within 30 days.
 */
export async function ensureWebuiCertificate(host: Host, fqdn: string, managementIp?: string | null, now = new Date()): Promise<WebuiCertificate> {
  const certPem = host.files.readText(WEBUI_CERT_PATH);
  const keyPem = host.files.readText(WEBUI_KEY_PATH);
  let why = 'none yet';
  // An administrator's certificate (uploaded, or self-signed with chosen names) is kept as long as
  // its key matches: its names and its expiry are theirs to manage (the Certificates page warns).
  if (certPem !== null && keyPem !== null && host.files.readText(WEBUI_SOURCE_PATH) !== null) {
    const problem = unusable(certPem, keyPem, fqdn, managementIp, now);
    if (problem === null || !['unreadable', 'key does not match certificate'].includes(problem)) return { certPem, keyPem, fingerprint256: fingerprint256(certPem) };
  }
  if (certPem !== null && keyPem !== null) {
    const problem = unusable(certPem, keyPem, fqdn, managementIp, now);
    if (problem === null) return { certPem, keyPem, fingerprint256: fingerprint256(certPem) };
    why = problem;
  }
  const made = await makeSelfSigned(fqdn, managementIp, now);
  host.files.mkdirp(CERT_DIR, 0o700);
  // Key first: a crash between the two writes leaves a mismatched pair, which the next call replaces.
  host.files.writeAtomic(WEBUI_KEY_PATH, made.keyPem, 0o600);
  host.files.writeAtomic(WEBUI_CERT_PATH, made.certPem, 0o644);
  const fp = fingerprint256(made.certPem);
  log.info('made a new self-signed System Manager certificate', { hostname: fqdn, ip: managementIp ?? null, reason: why, fingerprint256: fp });
  return { ...made, fingerprint256: fp };
}

/**
 * The certificate for a configuration: SAN = system.hostname + the management interface's address
 * (the first configured interface). `keel boot` and `keel serve` both call this, so they agree on
 * the names and neither replaces the other's certificate.
 */
export function ensureWebuiCertificateFor(host: Host, config: Config, now = new Date()): Promise<WebuiCertificate> {
  return ensureWebuiCertificate(host, config.system.hostname, config.network.interfaces[0]?.address ?? null, now);
}
