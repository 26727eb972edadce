/**
 * Verified system slots (dm-verity). Each squashfs of a slot has a hash tree beside it
 * (`base.squashfs.verity`, `keel.squashfs.verity`) and a root hash that comes only from signed
 * metadata: the update bundle's manifest, or the ISO's `keel-verity.env.sig`. The slot keeps the
 * root hashes in `live/keel-verity.env`, a GRUB environment block GRUB reads with
 * `load_env --file … keel_verity` (only that variable) and passes to live-boot as
 * `dm-verity-root-hash=`; live-boot then mounts each squashfs through dm-verity, and the
 * initramfs (image/base/files/etc/initramfs-tools/scripts/init-bottom/keel-verity) refuses to go
 * on when one is not. A block that does not match its hash reads as an I/O error.
 */
import type { Host } from '../host/index.ts';
import { parseGrubenv, renderGrubenv } from './grub.ts';
import { detachedProblem, type DetachedSignature, type TrustedKey } from './keys.ts';

/** The squashfs images of a slot that carry a hash tree. */
export const VERITY_IMAGES = ['base.squashfs', 'keel.squashfs'] as const;
export type VerityImage = (typeof VERITY_IMAGES)[number];
/** The slot file with the root hashes (GRUB environment block). */
export const VERITY_ENV = 'keel-verity.env';
/** The ISO's detached signature of VERITY_ENV (JSON DetachedSignature, the update signing key). */
export const VERITY_SIG = 'keel-verity.env.sig';

/** One image's root hash. */
export interface RootHash {
  file: VerityImage;
  rootHash: string;
}

/** live-boot's `dm-verity-root-hash=` value: `image:hash,image:hash`. */
export function verityArg(hashes: readonly RootHash[]): string {
  return hashes.map((h) => `${h.file}:${h.rootHash}`).join(',');
}

/** The slot's `keel-verity.env` (1024-byte GRUB environment block). */
export function verityEnv(hashes: readonly RootHash[]): Buffer {
  return renderGrubenv({ keel_verity: verityArg(hashes) });
}

/** The root hashes in a `keel-verity.env`, or null when it has none or a malformed one. */
export function parseVerityEnv(text: string): RootHash[] | null {
  const v = parseGrubenv(text).keel_verity;
  if (!v) return null;
  const out: RootHash[] = [];
  for (const part of v.split(',')) {
    const m = /^(base\.squashfs|keel\.squashfs):([0-9a-f]{64})$/.exec(part);
    if (!m) return null;
    out.push({ file: m[1] as VerityImage, rootHash: m[2] });
  }
  return out;
}

/** How one mounted system image is read: through dm-verity or not. */
export interface MountedImage {
  file: string;
  verified: boolean;
}

/**
 * The system images live-boot mounted (`/run/live/rootfs/<name>.squashfs`) and whether each is a
 * dm-verity device (device-mapper UUID `CRYPT-VERITY-…`, as libcryptsetup names them). Empty in a
 * sandbox or on a system not booted by live-boot.
 */
export function mountedImages(host: Host): MountedImage[] {
  const out: MountedImage[] = [];
  for (const line of (host.files.readText('/proc/self/mountinfo') ?? '').split('\n')) {
    const f = line.split(' ');
    const mountpoint = f[4] ?? '';
    const m = /\/run\/live\/rootfs\/([^/]+\.squashfs)$/.exec(mountpoint);
    if (!m) continue;
    const uuid = host.files.readText(`/sys/dev/block/${f[2]}/dm/uuid`) ?? '';
    out.push({ file: m[1], verified: uuid.startsWith('CRYPT-VERITY-') });
  }
  return out;
}

/** One line for `show version` and the dashboard: how the running system image is checked. */
export function verificationSummary(images: MountedImage[]): string | null {
  if (!images.length) return null;
  const bad = images.filter((i) => !i.verified).map((i) => i.file);
  return bad.length ? `NOT verified (${bad.join(', ')} read without dm-verity)` : `verified on read (dm-verity: ${images.map((i) => i.file).join(', ')})`;
}

/**
 * Checks a slot's `live/` directory (appliance path) as GRUB and the initramfs will see it: the
 * root hashes in `keel-verity.env` (signed by a trusted update key when `sig` is given: the ISO's
 * detached signature), and every image against its hash tree and root hash (`veritysetup verify`
 * reads each image whole). Throws a sentence naming the file; returns the root hashes.
 */
export async function verifySlotImages(host: Host, live: string, opts: { trusted?: TrustedKey[]; sigFrom?: string } = {}): Promise<RootHash[]> {
  const env = host.files.readText(`${live}/${VERITY_ENV}`);
  if (env === null) throw new Error(`${live}/${VERITY_ENV} is missing: the system image has no dm-verity root hashes`);
  if (opts.trusted) {
    let sig: DetachedSignature;
    try {
      sig = JSON.parse(host.files.readText(`${opts.sigFrom ?? live}/${VERITY_SIG}`) ?? 'null') as DetachedSignature;
    } catch {
      throw new Error(`${VERITY_SIG} is unreadable`);
    }
    const bad = sig ? detachedProblem(Buffer.from(env, 'utf8'), sig, opts.trusted) : 'bad-signature';
    if (bad) throw new Error(`the dm-verity root hashes are not signed by a trusted key (${bad})`);
  }
  const hashes = parseVerityEnv(env);
  if (!hashes) throw new Error(`${VERITY_ENV} holds no valid root hashes`);
  for (const h of hashes) {
    const data = host.files.real(`${live}/${h.file}`);
    const r = await host.proc.run('veritysetup', ['verify', data, `${data}.verity`, h.rootHash], { allowFail: true });
    if (r.code !== 0) throw new Error(`${h.file} does not match its signed dm-verity root hash (${(r.stderr || r.stdout).trim().split('\n')[0] || `exit ${r.code}`})`);
  }
  return hashes;
}
