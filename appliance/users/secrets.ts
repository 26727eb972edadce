import crypto from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(crypto.scrypt) as (pw: crypto.BinaryLike, salt: crypto.BinaryLike, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;
// N=2^15 costs about 100 ms and 32 MiB per guess: slow for an attacker, fine for a sign-in.
const PARAMS = { N: 32768, r: 8, p: 1 };

/** Hashes a secret with scrypt and a random salt: `$scrypt$N=…,r=…,p=…$salt$hash` (base64). */
export async function hashSecret(secret: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const key = await scrypt(secret.normalize('NFC'), salt, 32, { ...PARAMS, maxmem: 64 * 1024 * 1024 });
  return `$scrypt$N=${PARAMS.N},r=${PARAMS.r},p=${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Checks a secret against a hash in constant time. */
export async function verifySecret(secret: string, hash: string): Promise<boolean> {
  const m = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([^$]+)\$([^$]+)$/.exec(hash);
  if (!m) return false;
  const want = Buffer.from(m[5], 'base64');
  const key = await scrypt(secret.normalize('NFC'), Buffer.from(m[4], 'base64'), want.length, { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]), maxmem: 256 * 1024 * 1024 });
  return key.length === want.length && crypto.timingSafeEqual(key, want);
}
