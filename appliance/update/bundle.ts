/**
 * Update bundles: one file, `keel-<version>-amd64.kup`, laid out as
 *
 *   offset 0        8 bytes   magic "KEELUPD1"
 *   offset 8        4 bytes   M = manifest length, unsigned big-endian (at most 1 MiB)
 *   offset 12       M bytes   manifest, UTF-8 JSON (see Manifest)
 *   offset 12+M     64 bytes  Ed25519 signature over bytes [0, 12+M) (magic, length, manifest)
 *   offset 76+M     payload   the slot files, concatenated in manifest order
 *   end of file  =  76 + M + manifest.size exactly
 *
 * The signature covers the manifest; the manifest carries the sha256 and size of the payload
 * and of every file in it, so every byte of the file is covered. A single file is easy to
 * download with HTTP Range, to copy, and to check with `keel update verify`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ValidationError } from '../errors.ts';
import { MIGRATIONS } from '../config/store.ts';
import { keyId, privateKeyFromPem, type TrustedKey } from './keys.ts';
import { compareVersions, isVersion } from './versions.ts';
import { VERITY_IMAGES, type RootHash } from './verity.ts';

export const BUNDLE_MAGIC = Buffer.from('KEELUPD1', 'ascii');
export const BUNDLE_FORMAT = 'keel-update-bundle';
const HEADER = 12;
const SIG = 64;
const MAX_MANIFEST = 1 << 20;

/** The files a system slot holds (its `live/` directory); keel-version is written from the manifest. */
export const SLOT_FILES = ['vmlinuz', 'initrd.img', 'base.squashfs', 'keel.squashfs', 'base.squashfs.verity', 'keel.squashfs.verity'] as const;

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256, lower-case hex' });
const VersionString = Type.String({ maxLength: 64, description: 'MAJOR.MINOR.PATCH[-prerelease]' });

/** One slot file: in the payload at `offset`, or (no offset) carried over unchanged from the running slot. */
export const BundleFileSchema = Type.Object(
  {
    name: Type.Union(SLOT_FILES.map((n) => Type.Literal(n)), { description: 'file name in the slot live/ directory' }),
    size: Type.Integer({ minimum: 0, description: 'bytes' }),
    sha256: Sha256,
    offset: Type.Optional(Type.Integer({ minimum: 0, description: 'byte offset in the payload; absent: the file is carried over from the running slot and must match sha256' })),
  },
  { additionalProperties: false },
);

/** What a bundle says about itself; signed. */
export const ManifestSchema = Type.Object(
  {
    format: Type.Literal(BUNDLE_FORMAT, { description: 'always keel-update-bundle' }),
    formatVersion: Type.Literal(1, { description: 'version of this layout' }),
    product: Type.Literal('keel', { description: 'product the bundle is for' }),
    version: VersionString,
    minVersion: { ...VersionString, description: 'lowest running version this bundle upgrades from' },
    created: Type.String({ description: 'build time, ISO 8601 UTC (SOURCE_DATE_EPOCH when set)' }),
    notes: Type.String({ maxLength: 65536, description: 'release notes, plain text' }),
    keyId: Sha256,
    size: Type.Integer({ minimum: 0, description: 'payload bytes' }),
    sha256: { ...Sha256, description: 'sha256 of the whole payload' },
    files: Type.Array(BundleFileSchema, { minItems: 1, maxItems: SLOT_FILES.length }),
    migrations: Type.Array(Type.String(), { description: 'the configuration database migrations of this version (appliance/config/store.ts), for the dry run before staging' }),
    verity: Type.Optional(
      Type.Array(
        Type.Object(
          {
            file: Type.Union(VERITY_IMAGES.map((n) => Type.Literal(n)), { description: 'the squashfs image' }),
            rootHash: { ...Sha256, description: 'dm-verity root hash of the image (its hash tree is the file `<image>.verity`)' },
          },
          { additionalProperties: false },
        ),
        { maxItems: VERITY_IMAGES.length, description: 'dm-verity root hashes of the slot images: the slot boots only when each image matches' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Manifest = Static<typeof ManifestSchema>;
export type BundleFile = Static<typeof BundleFileSchema>;

/** Why a bundle (or an update step) is refused; each has a fixed code for audit and tests. */
export type RefusalReason =
  | 'malformed'
  | 'unknown-key'
  | 'bad-signature'
  | 'size-mismatch'
  | 'sha256-mismatch'
  | 'version-too-old'
  | 'not-newer'
  | 'no-space'
  | 'precheck-failed';

/** An update refused before anything was written. A ValidationError of the field `/bundle`, rule = reason. */
export class UpdateRefusal extends ValidationError {
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason, message: string) {
    super([{ field: '/bundle', rule: reason, message }]);
    this.name = 'UpdateRefusal';
    this.reason = reason;
  }
}

/** The time to stamp a new bundle with: SOURCE_DATE_EPOCH when set (reproducible builds), else now. */
export function buildTime(env: NodeJS.ProcessEnv = process.env): string {
  const e = env.SOURCE_DATE_EPOCH;
  return (e && /^\d+$/.test(e) ? new Date(Number(e) * 1000) : new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const h = crypto.createHash('sha256');
  let size = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

const SQUASHFS_MAGIC = Buffer.from('hsqs', 'ascii');

export interface CreateBundleOptions {
  /** The system squashfs (`keel.squashfs` of the slot). Shorthand for `files: [{ name: 'keel.squashfs', path }]`. */
  squashfs?: string;
  /** Slot files to put in the payload. */
  files?: { name: (typeof SLOT_FILES)[number]; path: string }[];
  /** Slot files not in the payload that the running slot must already have, identical (an application-only update). */
  carry?: { name: (typeof SLOT_FILES)[number]; path: string }[];
  version: string;
  minVersion: string;
  notes: string;
  /** PEM PKCS#8 Ed25519 private key. */
  keyPem: string;
  /** Output file; default `keel-<version>-amd64.kup` in the current directory. */
  out?: string;
  /** Migrations of the version being bundled; default: this tree's. */
  migrations?: string[];
  /** Default buildTime(). */
  created?: string;
  /** dm-verity root hashes of the squashfs images (their `.verity` hash trees are among files or carry). */
  verity?: RootHash[];
}

/** Builds and signs a bundle (build machine side). Returns its path, manifest and size in bytes. */
export async function createBundle(o: CreateBundleOptions): Promise<{ path: string; manifest: Manifest; size: number }> {
  if (!isVersion(o.version)) throw new ValidationError([{ field: '/version', rule: 'version', message: `not a version: ${o.version}` }]);
  if (!isVersion(o.minVersion)) throw new ValidationError([{ field: '/minVersion', rule: 'version', message: `not a version: ${o.minVersion}` }]);
  if (compareVersions(o.minVersion, o.version) > 0) throw new ValidationError([{ field: '/minVersion', rule: 'order', message: 'the lowest upgradable version cannot be above the version' }]);
  const inputs = [...(o.files ?? []), ...(o.squashfs ? [{ name: 'keel.squashfs' as const, path: o.squashfs }] : [])];
  const names = new Set([...inputs, ...(o.carry ?? [])].map((f) => f.name));
  if (names.size !== inputs.length + (o.carry?.length ?? 0)) throw new ValidationError([{ field: '/files', rule: 'unique', message: 'a slot file is given twice' }]);
  if (!inputs.some((f) => f.name === 'keel.squashfs')) throw new ValidationError([{ field: '/squashfs', rule: 'required', message: 'the bundle must contain keel.squashfs' }]);
  for (const f of inputs) {
    if (f.name.endsWith('.squashfs')) {
      const head = Buffer.alloc(4);
      const fd = fs.openSync(f.path, 'r');
      fs.readSync(fd, head, 0, 4, 0);
      fs.closeSync(fd);
      if (!head.equals(SQUASHFS_MAGIC)) throw new ValidationError([{ field: '/squashfs', rule: 'squashfs', message: `${f.path} is not a squashfs image` }]);
    }
  }
  const key = privateKeyFromPem(o.keyPem);
  const files: BundleFile[] = [];
  const whole = crypto.createHash('sha256');
  let offset = 0;
  for (const f of inputs) {
    // The whole-payload hash is computed in the same pass as the per-file ones.
    const h = crypto.createHash('sha256');
    let size = 0;
    for await (const chunk of fs.createReadStream(f.path, { highWaterMark: 4 << 20 })) {
      h.update(chunk as Buffer);
      whole.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    files.push({ name: f.name, size, sha256: h.digest('hex'), offset });
    offset += size;
  }
  for (const c of o.carry ?? []) files.push({ name: c.name, ...(await hashFile(c.path)) });
  const manifest: Manifest = {
    format: BUNDLE_FORMAT,
    formatVersion: 1,
    product: 'keel',
    version: o.version,
    minVersion: o.minVersion,
    created: o.created ?? buildTime(),
    notes: o.notes,
    keyId: keyId(crypto.createPublicKey(key)),
    size: offset,
    sha256: whole.digest('hex'),
    files,
    migrations: o.migrations ?? MIGRATIONS,
    ...(o.verity?.length ? { verity: o.verity } : {}),
  };
  const vp = verityProblem(manifest);
  if (vp) throw new ValidationError([{ field: '/verity', rule: 'verity', message: vp }]);
  const json = Buffer.from(JSON.stringify(manifest, null, 1) + '\n', 'utf8');
  if (json.length > MAX_MANIFEST) throw new ValidationError([{ field: '/notes', rule: 'size', message: 'the manifest is larger than 1 MiB' }]);
  const head = Buffer.alloc(HEADER);
  BUNDLE_MAGIC.copy(head, 0);
  head.writeUInt32BE(json.length, 8);
  const signed = Buffer.concat([head, json]);
  const sig = crypto.sign(null, signed, key);
  const out = o.out ?? path.resolve(`keel-${o.version}-amd64.kup`);
  const tmp = `${out}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, signed);
    fs.writeSync(fd, sig);
    const buf = Buffer.allocUnsafe(4 << 20);
    for (const f of inputs) {
      const inFd = fs.openSync(f.path, 'r');
      try {
        for (;;) {
          const n = fs.readSync(inFd, buf, 0, buf.length, null);
          if (n === 0) break;
          fs.writeSync(fd, buf, 0, n);
        }
      } finally {
        fs.closeSync(inFd);
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, out);
  // The inputs must not have changed while they were copied.
  const size = fs.statSync(out).size;
  if (size !== HEADER + json.length + SIG + manifest.size) throw new Error(`bundle ${out}: an input changed while it was written`);
  return { path: out, manifest, size };
}

/** A bundle that passed every check: its manifest, the key that signed it and where its payload starts. */
export interface VerifiedBundle {
  path: string;
  manifest: Manifest;
  key: TrustedKey;
  payloadOffset: number;
  /** Bytes the slot needs: every slot file, in the payload or carried. */
  slotBytes: number;
}

export interface VerifyOptions {
  /** The version running now: refused when below the bundle's minVersion. Unset: not checked. */
  runningVersion?: string;
  /** Bytes available where the slot files go: refused when they do not fit. Unset: not checked. */
  room?: number;
  /** Skip the payload hash (already checked while downloading or copying). Default false. */
  skipHash?: boolean;
}

/** Reads and checks the signed header of a bundle; the payload is not read. */
async function readSigned(file: string, trusted: TrustedKey[]): Promise<{ manifest: Manifest; key: TrustedKey; payloadOffset: number; fileSize: number }> {
  // Looked at before it is opened: opening a FIFO (or a device) would wait, or read, for ever.
  const st = await fs.promises.stat(file).catch((e: NodeJS.ErrnoException) => {
    throw new UpdateRefusal('malformed', `cannot read ${file}: ${e.code ?? e.message}`);
  });
  if (!st.isFile()) throw new UpdateRefusal('malformed', `${file} is not a regular file`);
  const fh = await fs.promises.open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new UpdateRefusal('malformed', `cannot read ${file}: ${e.code ?? e.message}`);
  });
  try {
    const fileSize = (await fh.stat()).size;
    const head = Buffer.alloc(HEADER);
    if ((await fh.read(head, 0, HEADER, 0)).bytesRead < HEADER || !head.subarray(0, 8).equals(BUNDLE_MAGIC)) throw new UpdateRefusal('malformed', 'not a Keel update bundle (bad magic)');
    const m = head.readUInt32BE(8);
    if (m < 2 || m > MAX_MANIFEST) throw new UpdateRefusal('malformed', `bad manifest length ${m}`);
    if (fileSize < HEADER + m + SIG) throw new UpdateRefusal('size-mismatch', `the file is truncated (${fileSize} bytes, the header alone needs ${HEADER + m + SIG})`);
    const rest = Buffer.alloc(m + SIG);
    await fh.read(rest, 0, rest.length, HEADER);
    const json = rest.subarray(0, m);
    const sig = rest.subarray(m);
    let manifest: unknown;
    try {
      manifest = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
    } catch {
      throw new UpdateRefusal('malformed', 'the manifest is not valid JSON');
    }
    const keyIdOf = (manifest as { keyId?: unknown } | null)?.keyId;
    if (!Value.Check(ManifestSchema, manifest)) {
      const e = [...Value.Errors(ManifestSchema, manifest)][0];
      throw new UpdateRefusal('malformed', `the manifest is invalid at ${e?.path || '/'}: ${e?.message ?? 'schema'}`);
    }
    const key = trusted.find((k) => k.id === keyIdOf);
    if (!key) throw new UpdateRefusal('unknown-key', `signed by an unknown key ${String(keyIdOf).slice(0, 16)}...; trusted: ${trusted.map((k) => k.id.slice(0, 16)).join(', ') || 'none'}`);
    if (!crypto.verify(null, Buffer.concat([head, json]), key.key, sig)) throw new UpdateRefusal('bad-signature', `the signature does not match the manifest (key ${key.id.slice(0, 16)}...)`);
    return { manifest, key, payloadOffset: HEADER + m + SIG, fileSize };
  } finally {
    await fh.close();
  }
}

/** Checks of the manifest's own consistency (signed, so these catch a bad build, not an attacker). */
function layoutProblem(m: Manifest): string | null {
  let at = 0;
  for (const f of m.files) {
    if (f.offset === undefined) continue;
    if (f.offset !== at) return `file ${f.name} is not where the manifest's layout puts it`;
    at += f.size;
  }
  if (at !== m.size) return `the payload files add up to ${at} bytes, the manifest says ${m.size}`;
  if (!m.files.some((f) => f.name === 'keel.squashfs' && f.offset !== undefined)) return 'the payload has no keel.squashfs';
  if (new Set(m.files.map((f) => f.name)).size !== m.files.length) return 'a slot file is listed twice';
  if (!isVersion(m.version) || !isVersion(m.minVersion)) return 'bad version string';
  return verityProblem(m);
}

/** A root hash needs its image and hash tree in the slot, and a hash tree needs its root hash. */
export function verityProblem(m: Manifest): string | null {
  const names = new Set(m.files.map((f) => f.name));
  const hashed = new Set((m.verity ?? []).map((v) => v.file));
  if (hashed.size !== (m.verity ?? []).length) return 'a root hash is listed twice';
  for (const v of hashed) if (!names.has(v) || !names.has(`${v}.verity`)) return `${v} has a root hash but the slot would not have ${names.has(v) ? `${v}.verity` : v}`;
  for (const n of names) if (n.endsWith('.verity') && !hashed.has(n.slice(0, -'.verity'.length) as RootHash['file'])) return `${n} has no root hash in the manifest`;
  return null;
}

/**
 * Verifies a bundle file against the trusted keys and throws UpdateRefusal with the reason when it
 * must be refused: malformed, unknown key, bad signature, size mismatch, version below the
 * bundle's minimum, not enough room, sha256 mismatch (checked in that order, cheapest first).
 */
export async function verifyBundle(file: string, trustedKeys: TrustedKey[], opts: VerifyOptions = {}): Promise<VerifiedBundle> {
  const { manifest: m, key, payloadOffset, fileSize } = await readSigned(file, trustedKeys);
  const bad = layoutProblem(m);
  if (bad) throw new UpdateRefusal('malformed', bad);
  if (fileSize !== payloadOffset + m.size) throw new UpdateRefusal('size-mismatch', `the file has ${fileSize} bytes, the manifest says ${payloadOffset + m.size}`);
  if (opts.runningVersion !== undefined && compareVersions(opts.runningVersion, m.minVersion) < 0)
    throw new UpdateRefusal('version-too-old', `version ${m.version} upgrades from ${m.minVersion} or later; this appliance runs ${opts.runningVersion}`);
  const slotBytes = m.files.reduce((s, f) => s + f.size, 0);
  if (opts.room !== undefined && slotBytes > opts.room) throw new UpdateRefusal('no-space', `the system files need ${mib(slotBytes)} MiB, the slot has ${mib(opts.room)} MiB`);
  if (!opts.skipHash) {
    const bad = await payloadHashProblem(file, payloadOffset, m);
    if (bad) throw new UpdateRefusal('sha256-mismatch', bad);
  }
  return { path: file, manifest: m, key, payloadOffset, slotBytes };
}

const mib = (n: number) => (n / 2 ** 20).toFixed(1);

/** Hashes the payload (whole and per file) in one pass; a sentence naming what differs, or null. */
async function payloadHashProblem(file: string, start: number, m: Manifest): Promise<string | null> {
  const whole = crypto.createHash('sha256');
  const inPayload = m.files.filter((f) => f.offset !== undefined);
  const per = inPayload.map(() => crypto.createHash('sha256'));
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    let pos = 0;
    while (pos < m.size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, m.size - pos), start + pos);
      if (bytesRead === 0) return 'the payload ends early';
      const chunk = buf.subarray(0, bytesRead);
      whole.update(chunk);
      // Feed each file's hash the part of this chunk that belongs to it.
      inPayload.forEach((f, i) => {
        const a = Math.max(f.offset!, pos);
        const b = Math.min(f.offset! + f.size, pos + bytesRead);
        if (a < b) per[i].update(chunk.subarray(a - pos, b - pos));
      });
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  const bad = inPayload.filter((f, i) => per[i].digest('hex') !== f.sha256).map((f) => f.name);
  if (whole.digest('hex') !== m.sha256 || bad.length) return `the payload sha256 does not match the manifest${bad.length ? ` (${bad.join(', ')})` : ''}`;
  return null;
}
