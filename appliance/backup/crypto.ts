/**
 * Configuration backups: the configuration encrypted with AES-256-GCM under a key derived from a
 * passphrase with scrypt. The file is JSON, so it can be read (and decrypted with Node's crypto
 * and this format) even when System Manager is down:
 *
 *   { format: 'keel-config-backup', version: 1, createdAt, keelVersion, revision, hostname,
 *     kdf: { name: 'scrypt', N, r, p, salt }, cipher: 'aes-256-gcm', iv, tag, data }   (base64)
 *
 * The header fields are bound to the ciphertext as GCM additional data, so a changed date or
 * revision is detected, not shown as if true.
 */
import crypto from 'node:crypto';
import { ValidationError } from '../errors.ts';
import { check, type Config } from '../config/schema.ts';

export const BACKUP_FORMAT = 'keel-config-backup';
const KDF = { N: 32768, r: 8, p: 1 };
/** A passphrase must be at least this long: the file may leave the building. */
export const MIN_PASSPHRASE = 10;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: 1;
  createdAt: string;
  keelVersion: string;
  /** Revision of the running configuration that was exported. */
  revision: number | null;
  hostname: string;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: 'aes-256-gcm';
  iv: string;
}
export interface BackupFile extends BackupHeader {
  tag: string;
  data: string;
}

/**
 * The most work a backup file may ask of the key derivation: twice what Keel writes (a file's
 * parameters are the sender's choice, and scrypt's cost is theirs to set otherwise).
 */
export const KDF_LIMIT = { N: 65536, r: 8, p: 1 };

/** The key, derived off the event loop (libuv's thread pool): a restore never stalls System Manager. */
function key(passphrase: string, salt: Buffer, p: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    crypto.scrypt(passphrase.normalize('NFC'), salt, 32, { N: p.N, r: p.r, p: p.p, maxmem: 256 * 1024 * 1024 }, (err, k) => (err ? reject(err) : resolve(k))),
  );
}

function aad(h: BackupHeader): Buffer {
  const { format, version, createdAt, keelVersion, revision, hostname, kdf, cipher, iv } = h;
  return Buffer.from(JSON.stringify({ format, version, createdAt, keelVersion, revision, hostname, kdf, cipher, iv }));
}

function refuse(field: string, rule: string, message: string): never {
  throw new ValidationError([{ field, rule, message }]);
}

/** Encrypts a configuration into a backup file (JSON text). */
export async function encryptBackup(config: Config, passphrase: string, meta: { keelVersion: string; revision: number | null; now?: Date }): Promise<string> {
  if ([...passphrase].length < MIN_PASSPHRASE) refuse('/passphrase', 'min-length', `the passphrase must be at least ${MIN_PASSPHRASE} characters`);
  const salt = crypto.randomBytes(16);
  const iv = crypto.randomBytes(12);
  const header: BackupHeader = {
    format: BACKUP_FORMAT,
    version: 1,
    createdAt: (meta.now ?? new Date()).toISOString(),
    keelVersion: meta.keelVersion,
    revision: meta.revision,
    hostname: config.system.hostname,
    kdf: { name: 'scrypt', ...KDF, salt: salt.toString('base64') },
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64'),
  };
  const c = crypto.createCipheriv('aes-256-gcm', await key(passphrase, salt, KDF), iv);
  c.setAAD(aad(header));
  const data = Buffer.concat([c.update(JSON.stringify({ config }), 'utf8'), c.final()]);
  const file: BackupFile = { ...header, tag: c.getAuthTag().toString('base64'), data: data.toString('base64') };
  return JSON.stringify(file, null, 1) + '\n';
}

/**
 * Reads a backup file: checks its format, decrypts it and validates the configuration with the one
 * schema. A wrong passphrase and a damaged file are told apart only as far as GCM allows (both fail
 * authentication). Throws ValidationError naming the field and rule.
 */
export async function decryptBackup(text: string, passphrase: string): Promise<{ header: BackupHeader; config: Config }> {
  let f: BackupFile;
  try {
    f = JSON.parse(text) as BackupFile;
  } catch {
    refuse('/backup', 'format', 'this is not a Keel configuration backup (not JSON)');
  }
  if (!f || typeof f !== 'object' || f.format !== BACKUP_FORMAT) refuse('/backup', 'format', 'this is not a Keel configuration backup');
  if (f.version !== 1) refuse('/backup', 'version', `backup format version ${String(f.version)} is not supported by this Keel`);
  if (f.cipher !== 'aes-256-gcm' || f.kdf?.name !== 'scrypt') refuse('/backup', 'cipher', 'unsupported cipher or key derivation');
  const { N, r, p } = f.kdf;
  if (![N, r, p].every(Number.isInteger) || N < 2 || N > KDF_LIMIT.N || r < 1 || r > KDF_LIMIT.r || p < 1 || p > KDF_LIMIT.p || (N & (N - 1)) !== 0)
    refuse('/backup', 'kdf', `key derivation parameters out of range (at most N=${KDF_LIMIT.N}, r=${KDF_LIMIT.r}, p=${KDF_LIMIT.p}, as Keel writes them)`);
  let plain: string;
  try {
    const d = crypto.createDecipheriv('aes-256-gcm', await key(passphrase, Buffer.from(f.kdf.salt, 'base64'), f.kdf), Buffer.from(f.iv, 'base64'));
    d.setAAD(aad(f));
    d.setAuthTag(Buffer.from(f.tag, 'base64'));
    plain = Buffer.concat([d.update(Buffer.from(f.data, 'base64')), d.final()]).toString('utf8');
  } catch {
    refuse('/passphrase', 'decrypt', 'wrong passphrase, or the backup file was changed or damaged');
  }
  const config = (JSON.parse(plain) as { config: unknown }).config;
  const problems = check(config);
  if (problems.length) throw new ValidationError(problems.map((x) => ({ ...x, message: `in the backup: ${x.message}` })));
  const { tag: _t, data: _d, ...header } = f;
  return { header, config: config as Config };
}
