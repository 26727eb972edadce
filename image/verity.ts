/**
 * Build side of verified slots: a dm-verity hash tree for a squashfs image, made by
 * `veritysetup format` (cryptsetup-bin). The salt and UUID are derived from the image, so the same
 * image always gives the same tree and root hash (reproducible builds).
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';

/** Writes `<image>.verity` and returns the root hash (hex). */
export function formatVerity(image: string, hashTree = `${image}.verity`): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(image, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  const salt = h.digest('hex');
  const uuid = `${salt.slice(0, 8)}-${salt.slice(8, 12)}-4${salt.slice(13, 16)}-8${salt.slice(17, 20)}-${salt.slice(20, 32)}`;
  const tmp = `${hashTree}.tmp`;
  fs.rmSync(tmp, { force: true });
  const r = spawnSync('veritysetup', ['format', `--salt=${salt}`, `--uuid=${uuid}`, image, tmp], { encoding: 'utf8' });
  if (r.error) throw new Error(`veritysetup: ${r.error.message} (install cryptsetup-bin)`);
  if (r.status !== 0) throw new Error(`veritysetup format ${image} exited ${r.status}: ${r.stderr.trim()}`);
  const m = /Root hash:\s+([0-9a-f]{64})/.exec(r.stdout);
  if (!m) throw new Error(`veritysetup format ${image}: no root hash in its output`);
  fs.renameSync(tmp, hashTree);
  return m[1];
}
