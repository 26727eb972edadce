import crypto from 'node:crypto';
import path from 'node:path';
import type { Host } from '../host/index.ts';
import { UPDATE_KEYS_DIR } from './paths.ts';

/** An Ed25519 public key the appliance accepts update signatures from. */
export interface TrustedKey {
  /** sha256 (hex) of the key's SubjectPublicKeyInfo DER: `openssl pkey -pubin -outform DER | sha256sum`. */
  id: string;
  key: crypto.KeyObject;
  /** Where it came from (file name), for messages. */
  source: string;
}

/** The key id of a public key: sha256 of its SPKI DER, hex. */
export function keyId(key: crypto.KeyObject): string {
  return crypto.createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** Parses a PEM public key (or derives it from a PEM private key); only Ed25519 is accepted. */
export function publicKeyFromPem(pem: string, source = 'key'): TrustedKey {
  let key: crypto.KeyObject;
  try {
    key = /PRIVATE KEY/.test(pem) ? crypto.createPublicKey(crypto.createPrivateKey(pem)) : crypto.createPublicKey(pem);
  } catch (e) {
    throw new Error(`${source}: not a PEM public key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${source}: update keys must be Ed25519, not ${key.asymmetricKeyType}`);
  return { id: keyId(key), key, source };
}

/** Parses a PEM Ed25519 private key (the build's signing key). */
export function privateKeyFromPem(pem: string): crypto.KeyObject {
  const key = crypto.createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`update signing keys must be Ed25519, not ${key.asymmetricKeyType}`);
  return key;
}

/** The trusted update keys of a host: every `*.pub` in /usr/share/keel/update-keys. */
export function loadTrustedKeys(host: Host, dir = UPDATE_KEYS_DIR): TrustedKey[] {
  const out: TrustedKey[] = [];
  for (const f of host.files.list(dir).filter((n) => n.endsWith('.pub')).sort()) {
    out.push(publicKeyFromPem(host.files.readText(path.posix.join(dir, f)) ?? '', f));
  }
  return out;
}

/** A new Ed25519 key pair as PEM (PKCS#8 private, SPKI public). */
export function generateSigningKey(): { privatePem: string; publicPem: string; id: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    id: keyId(publicKey),
  };
}

/** A detached signature of a document (the repository index): `{ keyId, signature }` (base64). */
export interface DetachedSignature {
  keyId: string;
  signature: string;
}

export function signDetached(data: Buffer, privatePem: string): DetachedSignature {
  const key = privateKeyFromPem(privatePem);
  return { keyId: keyId(crypto.createPublicKey(key)), signature: crypto.sign(null, data, key).toString('base64') };
}

/** Which check a detached signature fails, or null when a trusted key made it. */
export function detachedProblem(data: Buffer, sig: DetachedSignature, trusted: TrustedKey[]): 'unknown-key' | 'bad-signature' | null {
  const k = trusted.find((t) => t.id === sig.keyId);
  if (!k) return 'unknown-key';
  const raw = Buffer.from(sig.signature ?? '', 'base64');
  return raw.length === 64 && crypto.verify(null, data, k.key, raw) ? null : 'bad-signature';
}
