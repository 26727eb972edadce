import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

/** A file the appliance owns, as produced by a pure `render()`. */
export interface FileSpec {
  path: string;
  content: string | Buffer;
  mode?: number;
  /** When set, the path is a symbolic link to this target and `content` is ignored. */
  linkTarget?: string;
}

/** The temporary files writeAtomic and symlinkAtomic make beside their target (and leave only if killed mid-write). */
export const TEMP_FILE = /\.keel-[0-9a-f]{8}\.tmp$/;

/** fsyncs a directory, so a rename in it survives a power cut (the file's own fsync does not cover its name). */
function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** mkdir -p of a real path; each folder made takes the owner of the folder it is in (inheritOwner). */
function makeDirs(real: string, mode = 0o755): void {
  const first = fs.mkdirSync(real, { recursive: true, mode });
  if (!first || !runningAsRoot()) return;
  const made: string[] = [];
  for (let d = real; d.length >= first.length; d = path.dirname(d)) made.unshift(d);
  for (const d of made) inheritOwner(d, path.dirname(d));
}

function runningAsRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * A file or folder that root makes in a folder owned by someone else takes that folder's owner:
 * on the appliance the data partition belongs to the unprivileged `keel` user, and what the root
 * processes (console, boot, applier) write there must stay readable by System Manager.
 */
function inheritOwner(target: number | string, dir: string): void {
  if (!runningAsRoot()) return;
  const st = fs.statSync(dir);
  if (st.uid === 0 && st.gid === 0) return;
  if (typeof target === 'number') fs.fchownSync(target, st.uid, st.gid);
  else fs.lchownSync(target, st.uid, st.gid);
}

/**
 * Files adapter: every read and write of OS files goes through here. All paths are absolute
 * appliance paths (`/etc/hostname`); `root` maps them into a sandbox folder when it is not `/`.
 */
export class Files {
  readonly root: string;
  constructor(root: string) {
    this.root = path.resolve(root);
  }
  /** The real path of an appliance path. */
  real(p: string): string {
    if (!path.isAbsolute(p)) throw new Error(`appliance path must be absolute: ${p}`);
    return this.root === '/' ? p : path.join(this.root, p);
  }
  exists(p: string): boolean {
    return fs.existsSync(this.real(p));
  }
  read(p: string): Buffer | null {
    try {
      return fs.readFileSync(this.real(p));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }
  /** Sets a file's mode (permission bits). */
  chmod(p: string, mode: number): void {
    fs.chmodSync(this.real(p), mode);
  }
  /** A file's size in bytes, or null when it does not exist. */
  size(p: string): number | null {
    try {
      return fs.statSync(this.real(p)).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }
  readText(p: string): string | null {
    return this.read(p)?.toString('utf8') ?? null;
  }
  list(p: string): string[] {
    try {
      return fs.readdirSync(this.real(p));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }
  mkdirp(p: string, mode = 0o755): void {
    makeDirs(this.real(p), mode);
  }
  /**
   * Gives a tree to a user (files and folders; `except` paths keep root as owner): the data
   * partition handed to the service user at boot.
   */
  chownTree(p: string, uid: number, gid: number, except: string[] = []): void {
    const top = this.real(p);
    const skip = new Set(except.map((e) => this.real(e)));
    const walk = (d: string) => {
      fs.lchownSync(d, uid, gid);
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const q = path.join(d, e.name);
        if (skip.has(q)) fs.lchownSync(q, 0, 0);
        else if (e.isDirectory()) walk(q);
        else fs.lchownSync(q, uid, gid);
      }
    };
    walk(top);
  }
  /**
   * Writes temp + fsync + rename so a crash never leaves half a file.
   * Returns false (and touches nothing) when the content and mode are already as wanted.
   */
  writeAtomic(p: string, content: string | Buffer, mode = 0o644, opts: { rootOwned?: boolean } = {}): boolean {
    const target = this.real(p);
    const buf = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    try {
      const st = fs.statSync(target);
      if ((st.mode & 0o7777) === mode && st.size === buf.length && fs.readFileSync(target).equals(buf)) return false;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    makeDirs(path.dirname(target));
    const tmp = `${target}.keel-${crypto.randomBytes(4).toString('hex')}.tmp`;
    const fd = fs.openSync(tmp, 'w', mode);
    try {
      fs.writeSync(fd, buf);
      if (!opts.rootOwned) inheritOwner(fd, path.dirname(target));
      fs.fchmodSync(fd, mode);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
    syncDir(path.dirname(target));
    return true;
  }
  /** Points `p` at `target` (atomically, via rename); false when it already does. */
  symlinkAtomic(p: string, target: string): boolean {
    const real = this.real(p);
    try {
      if (fs.readlinkSync(real) === target) return false;
    } catch {
      /* absent or not a link */
    }
    makeDirs(path.dirname(real));
    const tmp = `${real}.keel-${crypto.randomBytes(4).toString('hex')}.tmp`;
    fs.symlinkSync(target, tmp);
    fs.renameSync(tmp, real);
    syncDir(path.dirname(real));
    return true;
  }
  /** The current state of a file, for restoring it if an apply fails. */
  snapshot(p: string): { content: Buffer | null; mode: number; link: string | null } {
    const real = this.real(p);
    try {
      return { content: null, mode: 0, link: fs.readlinkSync(real) };
    } catch {
      /* not a link */
    }
    try {
      const st = fs.statSync(real);
      return { content: fs.readFileSync(real), mode: st.mode & 0o7777, link: null };
    } catch {
      return { content: null, mode: 0, link: null };
    }
  }
  /** Puts back what `snapshot` saw. */
  restore(p: string, snap: { content: Buffer | null; mode: number; link: string | null }): void {
    if (snap.link !== null) this.symlinkAtomic(p, snap.link);
    else if (snap.content !== null) this.writeAtomic(p, snap.content, snap.mode);
    else this.remove(p);
  }
  /**
   * Copies a large file in chunks, calling `progress(doneBytes, totalBytes)` as it goes, and
   * fsyncs it (installer: the system image onto its slot).
   */
  async copyWithProgress(src: string, dst: string, progress: (done: number, total: number) => void): Promise<void> {
    const from = this.real(src);
    const to = this.real(dst);
    const total = fs.statSync(from).size;
    makeDirs(path.dirname(to));
    const fin = await fs.promises.open(from, 'r');
    const fout = await fs.promises.open(to, 'w', 0o644);
    inheritOwner(fout.fd, path.dirname(to));
    try {
      const buf = Buffer.allocUnsafe(4 << 20);
      let done = 0;
      for (;;) {
        const { bytesRead } = await fin.read(buf, 0, buf.length, done);
        if (bytesRead === 0) break;
        await fout.write(buf, 0, bytesRead, done);
        done += bytesRead;
        progress(done, total);
      }
      await fout.sync();
    } finally {
      await fin.close();
      await fout.close();
    }
  }
  remove(p: string): boolean {
    try {
      fs.unlinkSync(this.real(p));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }
  /**
   * Appends to a log file. With `maxBytes`, a file that would grow past it is first moved to
   * `<name>.1` (replacing the previous one): the log keeps between maxBytes and twice that.
   */
  append(p: string, line: string, mode = 0o640, maxBytes?: number): void {
    const target = this.real(p);
    makeDirs(path.dirname(target));
    if (maxBytes !== undefined) {
      try {
        if (fs.statSync(target).size + Buffer.byteLength(line) > maxBytes) fs.renameSync(target, `${target}.1`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    const isNew = !fs.existsSync(target);
    fs.appendFileSync(target, line, { mode });
    if (isNew) inheritOwner(target, path.dirname(target));
  }
}
