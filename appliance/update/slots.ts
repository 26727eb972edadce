/**
 * The two system slots. On the appliance a slot is a partition (KEEL-A, KEEL-B) holding an ext4
 * file system with `live/` (vmlinuz, initrd.img, base.squashfs, keel.squashfs, keel-version), as
 * the installer writes slot A. In a sandbox root a slot is the directory /slots/<a|b>.
 * Writing goes through host.files (paths) and host.proc (mkfs, mount).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Host } from '../host/index.ts';
import type { VerifiedBundle } from './bundle.ts';
import { UpdateRefusal } from './bundle.ts';
import type { Slot } from './grub.ts';
import { VERITY_ENV, verityEnv, verifySlotImages } from './verity.ts';
import { RUNNING_LIVE_DIR, STAGE_MOUNT, sandboxSlotDir, slotDevice } from './paths.ts';

/** The slot the appliance is running from: `keel.slot=` on the kernel command line (default a). */
export function runningSlot(host: Host): Slot {
  const m = /(?:^|\s)keel\.slot=([ab])(?:\s|$)/.exec(host.files.readText('/proc/cmdline') ?? '');
  return m ? (m[1] as Slot) : 'a';
}

export interface SlotAdapter {
  /** Bytes the slot's file system can hold for the system files. */
  capacity(slot: Slot): Promise<number>;
  /** The `live/` directory of the running slot (appliance path), where carried files come from. */
  runningLiveDir(running: Slot): string;
  /**
   * Replaces the slot's contents with the bundle's files (hashed while copied: a bundle changed
   * after verification is refused), carried files from `carryFrom`, and `keel-version`.
   */
  write(slot: Slot, bundle: VerifiedBundle, carryFrom: string, progress?: (done: number, total: number) => void): Promise<void>;
  /**
   * Why the slot's system images would fail the dm-verity check the initramfs makes (a sentence),
   * or null when they pass: every block against the root hashes in its keel-verity.env.
   */
  verify(slot: Slot): Promise<string | null>;
}

/** verifySlotImages as a sentence or null. */
async function imageProblem(host: Host, live: string): Promise<string | null> {
  try {
    await verifySlotImages(host, live);
    return null;
  } catch (e) {
    return (e as Error).message.replace(`${live}/`, '');
  }
}

/** ext4 keeps about 1.6% for inode tables and a journal; 8% leaves room for both on small slots. */
const FS_OVERHEAD = 0.08;

/** Copies `size` bytes at `offset` of `src` to `dst` (real paths), fsyncs, returns the sha256. */
async function copyRange(src: string, offset: number, size: number, dst: string, tick: (n: number) => void): Promise<string> {
  const h = crypto.createHash('sha256');
  const fin = await fs.promises.open(src, 'r');
  const fout = await fs.promises.open(dst, 'w', 0o644);
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await fin.read(buf, 0, Math.min(buf.length, size - done), offset + done);
      if (bytesRead === 0) throw new UpdateRefusal('size-mismatch', `${src} ended early`);
      const chunk = buf.subarray(0, bytesRead);
      h.update(chunk);
      await fout.write(chunk, 0, bytesRead, done);
      done += bytesRead;
      tick(bytesRead);
    }
    await fout.sync();
  } finally {
    await fin.close();
    await fout.close();
  }
  return h.digest('hex');
}

/** Fills an (empty) `live/` directory from the bundle; `live` and `carryFrom` are appliance paths. */
async function fill(host: Host, live: string, bundle: VerifiedBundle, carryFrom: string, progress?: (done: number, total: number) => void): Promise<void> {
  const m = bundle.manifest;
  host.files.mkdirp(live);
  let done = 0;
  const tick = (n: number) => {
    done += n;
    progress?.(done, bundle.slotBytes);
  };
  for (const f of m.files) {
    const dst = host.files.real(path.posix.join(live, f.name));
    const sum =
      f.offset !== undefined
        ? await copyRange(bundle.path, bundle.payloadOffset + f.offset, f.size, dst, tick)
        : await (async () => {
            const src = host.files.real(path.posix.join(carryFrom, f.name));
            if (!fs.existsSync(src)) throw new UpdateRefusal('precheck-failed', `${f.name} is not in the bundle and the running slot does not have it`);
            if (fs.statSync(src).size !== f.size) throw new UpdateRefusal('precheck-failed', `the running slot's ${f.name} is not the one this bundle was built against (size)`);
            return copyRange(src, 0, f.size, dst, tick);
          })();
    if (sum !== f.sha256) throw new UpdateRefusal(f.offset !== undefined ? 'sha256-mismatch' : 'precheck-failed', `${f.name} changed after it was verified (sha256 ${sum.slice(0, 16)}...)`);
  }
  // The root hashes come from the signed manifest only, never from the payload.
  if (m.verity?.length) host.files.writeAtomic(path.posix.join(live, VERITY_ENV), verityEnv(m.verity), 0o644);
  // Written last: a slot without it was not finished.
  host.files.writeAtomic(path.posix.join(live, 'keel-version'), `${m.version}\n`);
}

/** Slots as directories under a sandbox root (or a test folder). */
export function directorySlots(host: Host, capacityBytes = 1536 * 2 ** 20 * (1 - FS_OVERHEAD)): SlotAdapter {
  return {
    capacity: async () => capacityBytes,
    runningLiveDir: (running) => `${sandboxSlotDir(running)}/live`,
    async write(slot, bundle, carryFrom, progress) {
      const live = `${sandboxSlotDir(slot)}/live`;
      // Like mkfs: nothing of the slot's previous contents survives.
      fs.rmSync(host.files.real(live), { recursive: true, force: true });
      await fill(host, live, bundle, carryFrom, progress);
    },
    verify: (slot) => imageProblem(host, `${sandboxSlotDir(slot)}/live`),
  };
}

/** Slots as partitions (the appliance): a fresh ext4 with the slot's label, mounted while written. */
export function partitionSlots(host: Host, device: (s: Slot) => string = slotDevice, mountpoint = STAGE_MOUNT): SlotAdapter {
  return {
    async capacity(slot) {
      const r = await host.proc.run('blockdev', ['--getsize64', device(slot)]);
      const bytes = Number(r.stdout.trim());
      if (!Number.isFinite(bytes) || bytes <= 0) throw new UpdateRefusal('precheck-failed', `cannot read the size of ${device(slot)}`);
      return Math.floor(bytes * (1 - FS_OVERHEAD));
    },
    runningLiveDir: () => RUNNING_LIVE_DIR,
    async write(slot, bundle, carryFrom, progress) {
      const dev = device(slot);
      await host.proc.run('umount', [host.files.real(mountpoint)], { allowFail: true });
      await host.proc.run('mkfs.ext4', ['-q', '-F', '-L', `KEEL-${slot.toUpperCase()}`, dev]);
      host.files.mkdirp(mountpoint, 0o700);
      await host.proc.run('mount', ['-t', 'ext4', '-o', 'nodev,nosuid,noexec', dev, host.files.real(mountpoint)]);
      try {
        await fill(host, `${mountpoint}/live`, bundle, carryFrom, progress);
        await host.proc.run('sync', ['-f', host.files.real(mountpoint)]);
      } finally {
        await host.proc.run('umount', [host.files.real(mountpoint)], { allowFail: true });
      }
    },
    async verify(slot) {
      const dev = device(slot);
      await host.proc.run('umount', [host.files.real(mountpoint)], { allowFail: true });
      host.files.mkdirp(mountpoint, 0o700);
      const m = await host.proc.run('mount', ['-t', 'ext4', '-o', 'ro,nodev,nosuid,noexec', dev, host.files.real(mountpoint)], { allowFail: true });
      if (m.code !== 0) return `slot ${slot.toUpperCase()} (${dev}) cannot be mounted: ${m.stderr.trim().split('\n')[0]}`;
      try {
        return await imageProblem(host, `${mountpoint}/live`);
      } finally {
        await host.proc.run('umount', [host.files.real(mountpoint)], { allowFail: true });
      }
    },
  };
}

/** The slots of a host: partitions on the appliance, directories in a sandbox root. */
export function slotsFor(host: Host): SlotAdapter {
  return host.sandbox ? directorySlots(host) : partitionSlots(host);
}
