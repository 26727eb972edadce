/**
 * SSH host keys: one Ed25519 and one RSA-3072 key, made once (first boot) and kept in the data
 * partition, so a client's known_hosts entry stays valid across reboots and updates.
 */
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import type ssh2Types from 'ssh2';
import type { Host } from '../host/index.ts';
import { log } from '../log.ts';

// ssh2 is loaded at first use: a boot whose keys exist (every boot but the first) only reads files
// (about 50 ms of module loading natively, a second or more under emulation; issue 15).
const requireLazily = createRequire(import.meta.url);
let ssh2Module: typeof ssh2Types | null = null;
const SSH2 = () => (ssh2Module ??= requireLazily('ssh2') as typeof ssh2Types);

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

type Pair = { private: string; public: string };

/** Whether ssh2 (the SSH CLI's server) reads both halves of a pair back. */
function readsBack(pair: Pair): boolean {
  return !(SSH2().utils.parseKey(pair.private) instanceof Error) && !(SSH2().utils.parseKey(pair.public) instanceof Error);
}

/**
 * A host key pair that ssh2 can read back. ssh2's generator strips the leading zero bytes of an
 * Ed25519 public key, so about one pair in 256 is malformed (mscdex/ssh2#1390, #1513) and the SSH
 * CLI would never start with it: such a pair is made again (8 tries, each 255 in 256 good).
 */
export function generatePair(type: string, opts: object, generate = () => SSH2().utils.generateKeyPairSync(type as never, { ...opts, comment: 'keel' } as never) as Pair): Pair {
  for (let i = 0; i < 8; i++) {
    const pair = generate();
    if (readsBack(pair)) return pair;
    log.warn('SSH host key pair made again: the generator made one that does not read back', { type });
  }
  throw new Error(`could not make a readable ${type} SSH host key`);
}

/** ssh2's generator on libuv's thread pool: the event loop (and the other keys) go on meanwhile. */
function generateInPool(type: string, opts: object): Promise<Pair> {
  return new Promise((resolve, reject) => {
    SSH2().utils.generateKeyPair(type as never, { ...opts, comment: 'keel' } as never, (err: Error | null, pair: Pair) => (err ? reject(err) : resolve(pair)));
  });
}

/** generatePair off the main thread, with the same read-back retries. */
export async function generatePairAsync(type: string, opts: object, generate = () => generateInPool(type, opts)): Promise<Pair> {
  for (let i = 0; i < 8; i++) {
    const pair = await generate();
    if (readsBack(pair)) return pair;
    log.warn('SSH host key pair made again: the generator made one that does not read back', { type });
  }
  throw new Error(`could not make a readable ${type} SSH host key`);
}

type Kind = (typeof KINDS)[number];

/** Makes a lost .pub again from its private key (the identity clients know: never a new pair). */
function repairPublic(host: Host, k: Kind): void {
  const priv = `${SSH_KEY_DIR}/${k.file}`;
  const pub = `${priv}.pub`;
  if (!host.files.exists(priv) || host.files.exists(pub)) return;
  const key = SSH2().utils.parseKey(host.files.readText(priv)!);
  if (key instanceof Error) return;
  const k1 = Array.isArray(key) ? key[0] : key;
  host.files.writeAtomic(pub, `${k1.type} ${k1.getPublicSSH().toString('base64')} keel\n`, 0o644);
  log.warn('SSH host public key was missing; made again from the private key', { type: k.type });
}

function missing(host: Host, k: Kind): boolean {
  const priv = `${SSH_KEY_DIR}/${k.file}`;
  return !host.files.exists(priv) || !host.files.exists(`${priv}.pub`);
}

function store(host: Host, k: Kind, pair: Pair, started: number): void {
  const priv = `${SSH_KEY_DIR}/${k.file}`;
  host.files.writeAtomic(priv, pair.private, 0o600);
  host.files.writeAtomic(`${priv}.pub`, `${pair.public}\n`, 0o644);
  log.info('made an SSH host key', { type: k.type, fingerprint: fingerprintOf(pair.public), ms: Date.now() - started });
}

function load(host: Host, k: Kind): HostKey {
  const priv = `${SSH_KEY_DIR}/${k.file}`;
  const publicKey = host.files.readText(`${priv}.pub`)!.trim();
  return { type: k.type, privateKey: host.files.readText(priv)!, publicKey, fingerprint: fingerprintOf(publicKey) };
}

/** Reads the host keys, making any that are missing. Returns them Ed25519 first. */
export function ensureHostKeys(host: Host): HostKey[] {
  host.files.mkdirp(SSH_KEY_DIR, 0o700);
  return KINDS.map((k) => {
    repairPublic(host, k);
    if (missing(host, k)) {
      const started = Date.now();
      store(host, k, generatePair(k.type, k.opts), started);
    }
    return load(host, k);
  });
}

/**
 * ensureHostKeys for `keel boot`: the missing keys are made at the same time on libuv's thread pool
 * (the RSA key is most of a first boot's CPU time under emulation), so the boot's other work goes
 * on meanwhile. Same files, same checks.
 */
export async function ensureHostKeysAsync(host: Host, generate = generatePairAsync): Promise<HostKey[]> {
  host.files.mkdirp(SSH_KEY_DIR, 0o700);
  for (const k of KINDS) repairPublic(host, k);
  await Promise.all(
    KINDS.filter((k) => missing(host, k)).map(async (k) => {
      const started = Date.now();
      store(host, k, await generate(k.type, k.opts), started);
    }),
  );
  return KINDS.map((k) => load(host, k));
}

/** The fingerprints of the host keys that exist (none made here), for banners and `show ssh`. */
export function hostKeyFingerprints(host: Host): { type: string; fingerprint: string }[] {
  return KINDS.filter((k) => host.files.exists(`${SSH_KEY_DIR}/${k.file}.pub`)).map((k) => ({
    type: k.type,
    fingerprint: fingerprintOf(host.files.readText(`${SSH_KEY_DIR}/${k.file}.pub`) ?? ''),
  }));
}
