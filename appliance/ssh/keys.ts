/**
 * SSH host keys: one Ed25519 and one RSA-3072 key, made once (first boot) and kept in the data
 * partition, so a client's known_hosts entry stays valid across reboots and updates.
 */
import crypto from 'node:crypto';
import ssh2 from 'ssh2';
import type { Host } from '../host/index.ts';
import { log } from '../log.ts';

export const SSH_KEY_DIR = '/var/lib/keel/ssh';
const KINDS = [
  { type: 'ed25519', file: 'ssh_host_ed25519_key', opts: {} },
  { type: 'rsa', file: 'ssh_host_rsa_key', opts: { bits: 3072 } },
] as const;

export interface HostKey {
  type: 'ed25519' | 'rsa';
  /** OpenSSH private key text. */
  privateKey: string;
  /** `ssh-ed25519 AAAA…` as in known_hosts. */
  publicKey: string;
  /** `SHA256:…` as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

/** The `SHA256:…` fingerprint of an OpenSSH public key line. */
export function fingerprintOf(publicKey: string): string {
  const blob = Buffer.from(publicKey.trim().split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * A host key pair that ssh2 can read back. ssh2's generator strips the leading zero bytes of an
 * Ed25519 public key, so about one pair in 256 is malformed (mscdex/ssh2#1390, #1513) and the SSH
 * CLI would never start with it: such a pair is made again (8 tries, each 255 in 256 good).
 */
export function generatePair(type: string, opts: object, generate = () => ssh2.utils.generateKeyPairSync(type as never, { ...opts, comment: 'keel' } as never) as { private: string; public: string }): { private: string; public: string } {
  for (let i = 0; i < 8; i++) {
    const pair = generate();
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error)) return pair;
    log.warn('SSH host key pair made again: the generator made one that does not read back', { type });
  }
  throw new Error(`could not make a readable ${type} SSH host key`);
}

/** Reads the host keys, making any that are missing. Returns them Ed25519 first. */
export function ensureHostKeys(host: Host): HostKey[] {
  host.files.mkdirp(SSH_KEY_DIR, 0o700);
  return KINDS.map((k) => {
    const priv = `${SSH_KEY_DIR}/${k.file}`;
    const pub = `${priv}.pub`;
    if (host.files.exists(priv) && !host.files.exists(pub)) {
      // The private key is the identity clients know: a lost .pub is made again from it, never a new pair.
      const key = ssh2.utils.parseKey(host.files.readText(priv)!);
      if (!(key instanceof Error)) {
        const k1 = Array.isArray(key) ? key[0] : key;
        host.files.writeAtomic(pub, `${k1.type} ${k1.getPublicSSH().toString('base64')} keel\n`, 0o644);
        log.warn('SSH host public key was missing; made again from the private key', { type: k.type });
      }
    }
    if (!host.files.exists(priv) || !host.files.exists(pub)) {
      const started = Date.now();
      const pair = generatePair(k.type, k.opts);
      host.files.writeAtomic(priv, pair.private, 0o600);
      host.files.writeAtomic(pub, `${pair.public}\n`, 0o644);
      log.info('made an SSH host key', { type: k.type, fingerprint: fingerprintOf(pair.public), ms: Date.now() - started });
    }
    const publicKey = host.files.readText(pub)!.trim();
    return { type: k.type, privateKey: host.files.readText(priv)!, publicKey, fingerprint: fingerprintOf(publicKey) };
  });
}

/** The fingerprints of the host keys that exist (none made here), for banners and `show ssh`. */
export function hostKeyFingerprints(host: Host): { type: string; fingerprint: string }[] {
  return KINDS.filter((k) => host.files.exists(`${SSH_KEY_DIR}/${k.file}.pub`)).map((k) => ({
    type: k.type,
    fingerprint: fingerprintOf(host.files.readText(`${SSH_KEY_DIR}/${k.file}.pub`) ?? ''),
  }));
}
