/**
 * Secrets at rest: the passwords the appliance must send (SMTP, LDAP bind, proxy, update
 * repository, BMC) are stored in the configuration database sealed with AES-256-GCM, in the
 * running and startup configurations and in every revision. The key is 32 random bytes in a
 * root-only (0600) file beside the database on the data partition: a copy of keel.db alone
 * (a backup of the disk image, a support bundle, a stolen file) holds no password in the clear.
 * The configuration the rest of the code sees is always plain.
 */
import crypto from 'node:crypto';
import type { Config } from './schema.ts';

/** Where each sealed secret sits in a configuration document. */
const PATHS: readonly (readonly string[])[] = [
  ['email', 'password'],
  ['ldap', 'password'],
  ['proxy', 'password'],
  ['update', 'password'],
  ['health', 'bmc', 'password'],
];
const PREFIX = 'sealed:v1:';

function walk(doc: Record<string, unknown>, path: readonly string[], f: (v: string) => string): void {
  let o: Record<string, unknown> | undefined = doc;
  for (const k of path.slice(0, -1)) {
    const next: unknown = o?.[k];
    o = next && typeof next === 'object' ? (next as Record<string, unknown>) : undefined;
  }
  const last = path[path.length - 1];
  if (o && typeof o[last] === 'string') o[last] = f(o[last] as string);
}

export class Sealer {
  private readonly key: Buffer;
  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('the secrets key must be 32 bytes');
    this.key = key;
  }
  seal(plain: string): string {
    if (plain.startsWith(PREFIX)) return plain;
    const iv = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return PREFIX + Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64');
  }
  open(sealed: string): string {
    if (!sealed.startsWith(PREFIX)) return sealed;
    const b = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    const d = crypto.createDecipheriv('aes-256-gcm', this.key, b.subarray(0, 12));
    d.setAuthTag(b.subarray(12, 28));
    return Buffer.concat([d.update(b.subarray(28)), d.final()]).toString('utf8');
  }
  /** A configuration as stored: JSON with every secret sealed. */
  toStored(config: Config | unknown): string {
    const doc = structuredClone(config) as Record<string, unknown>;
    if (doc && typeof doc === 'object') for (const p of PATHS) walk(doc, p, (v) => this.seal(v));
    return JSON.stringify(doc);
  }
  /** A stored configuration made plain again (plain ones, from before sealing, read as they are). */
  fromStored(json: string): Config {
    const doc = JSON.parse(json) as Record<string, unknown>;
    if (doc && typeof doc === 'object') for (const p of PATHS) walk(doc, p, (v) => this.open(v));
    return doc as unknown as Config;
  }
  /** Whether a stored configuration still holds a secret in the clear (from before sealing). */
  hasPlain(json: string): boolean {
    const doc = JSON.parse(json) as Record<string, unknown>;
    let plain = false;
    if (doc && typeof doc === 'object') for (const p of PATHS) walk(doc, p, (v) => ((plain ||= !v.startsWith(PREFIX)), v));
    return plain;
  }
}
