/**
 * The minimal root (image/base/trim.txt): removes what the appliance does not need from the
 * Debian base, masks units nothing uses, clears every setuid/setgid bit, and checks that nothing
 * forbidden is left. Used by the image build (base-trim step) and by `npm run audit:image`.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface TrimPolicy {
  remove: string[];
  mask: string[];
  /** Scripts checked to be plain POSIX sh: their bash shebang becomes /bin/sh. */
  posix: string[];
}

export function readPolicy(file: string): TrimPolicy {
  const p: TrimPolicy = { remove: [], mask: [], posix: [] };
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [verb, arg] = line.split(/\s+/, 2);
    if (verb === 'remove' && arg) p.remove.push(arg);
    else if (verb === 'mask' && arg) p.mask.push(arg);
    else if (verb === 'posix' && arg) p.posix.push(arg);
    else throw new Error(`${file}: cannot read "${line}" (remove GLOB | mask UNIT | posix GLOB)`);
  }
  return p;
}

/** Paths under `root` (relative) matching a policy glob; links are matched, not followed. */
export function matches(root: string, glob: string): string[] {
  return fs.globSync(glob, { cwd: root }).sort();
}

/** Files with a setuid or setgid bit under `root` (relative paths), not crossing into /proc etc. */
export function setidFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) {
        if (!['proc', 'sys', 'dev', 'run'].includes(r)) walk(r);
      } else if (e.isFile() && fs.lstatSync(path.join(root, r)).mode & 0o6000) out.push(r);
    }
  };
  walk('');
  return out.sort();
}

const BASH = /^#!\s*(\/usr)?\/bin\/(env\s+)?bash\b/;

/** Executable scripts that need bash (which the root does not have). */
export function bashScripts(root: string): string[] {
  const out: string[] = [];
  for (const dir of ['usr/bin', 'usr/sbin', 'usr/libexec', 'usr/lib/systemd', 'usr/lib/udev', 'usr/share']) {
    if (!fs.existsSync(path.join(root, dir))) continue;
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })) {
      if (!e.isFile()) continue;
      const p = path.join(e.parentPath, e.name);
      if (!(fs.statSync(p).mode & 0o111)) continue;
      const fd = fs.openSync(p, 'r');
      const head = Buffer.alloc(32);
      fs.readSync(fd, head, 0, 32, 0);
      fs.closeSync(fd);
      if (BASH.test(head.toString('latin1'))) out.push(path.relative(root, p));
    }
  }
  return out.sort();
}

/** What the root still holds that the policy forbids: `remove` matches, set-id files, bash scripts. */
export function forbidden(root: string, policy: TrimPolicy): string[] {
  return [
    ...policy.remove.flatMap((g) => matches(root, g)),
    ...setidFiles(root).map((f) => `${f} (setuid/setgid)`),
    ...bashScripts(root).map((f) => `${f} (a bash script, and there is no bash)`),
  ];
}

/** Trims `root` in place; returns what it did, one line per removed path, mask or cleared bit. */
export function trim(root: string, policy: TrimPolicy): string[] {
  const did: string[] = [];
  for (const g of policy.remove) {
    for (const m of matches(root, g)) {
      fs.rmSync(path.join(root, m), { recursive: true, force: true });
      did.push(`removed ${m}`);
    }
  }
  for (const unit of policy.mask) {
    const link = path.join(root, 'etc/systemd/system', unit);
    fs.rmSync(link, { force: true });
    fs.symlinkSync('/dev/null', link);
    did.push(`masked ${unit}`);
  }
  for (const g of policy.posix) {
    for (const m of matches(root, g)) {
      const p = path.join(root, m);
      const text = fs.readFileSync(p, 'latin1');
      if (BASH.test(text)) {
        fs.writeFileSync(p, text.replace(BASH, '#!/bin/sh'), 'latin1');
        did.push(`made ${m} a /bin/sh script`);
      }
    }
  }
  for (const f of setidFiles(root)) {
    const p = path.join(root, f);
    fs.chmodSync(p, fs.statSync(p).mode & 0o1777);
    did.push(`cleared setuid/setgid on ${f}`);
  }
  // Wants links whose unit went with its package.
  const sys = path.join(root, 'etc/systemd/system');
  for (const d of fs.existsSync(sys) ? fs.readdirSync(sys) : []) {
    if (!d.endsWith('.wants')) continue;
    for (const l of fs.readdirSync(path.join(sys, d))) {
      const p = path.join(sys, d, l);
      const t = fs.readlinkSync(p);
      if (!fs.existsSync(path.join(root, t))) {
        fs.rmSync(p);
        did.push(`removed dangling etc/systemd/system/${d}/${l}`);
      }
    }
  }
  return did;
}
