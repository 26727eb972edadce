import fs from 'node:fs';
import path from 'node:path';

/**
 * Read-only access to kernel pseudo-files (sysfs, procfs). Their roots come from the host
 * (`host.sysfs`) or a probe option, so tests point them at fixture folders.
 */
export const sysinfo = {
  /** Trimmed text of a pseudo-file, or null when it is absent or unreadable (e.g. speed of a down link). */
  read(p: string): string | null {
    try {
      return fs.readFileSync(p, 'utf8').trim();
    } catch {
      return null;
    }
  },
  /** A pseudo-file as a number, or null. */
  num(p: string): number | null {
    const t = sysinfo.read(p);
    if (t === null || t === '') return null;
    const n = Number(t);
    return Number.isFinite(n) ? n : null;
  },
  list(p: string): string[] {
    try {
      return fs.readdirSync(p).sort();
    } catch {
      return [];
    }
  },
  /** Last path element of a symbolic link target (`driver` links), or null. */
  linkName(p: string): string | null {
    try {
      return path.basename(fs.readlinkSync(p));
    } catch {
      return null;
    }
  },
  exists(p: string): boolean {
    return fs.existsSync(p);
  },
};

/** Where procfs is read from: `KEEL_PROCFS` (tests, sandbox) or `/proc`. */
export function procRoot(): string {
  return process.env.KEEL_PROCFS ?? '/proc';
}
