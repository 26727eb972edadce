/**
 * `npm run audit:image [ISO]`: the hardening report of a built image, offline. Unpacks both
 * squashfs layers of the ISO (base, then Keel's over it, as the overlay has them) and prints:
 * every enabled unit with its `systemd-analyze security` exposure (Keel's units gated by
 * image/audit-ceilings.json), setuid/setgid files, forbidden files (image/base/trim.txt),
 * enabled timers, Keel's sysctl settings, the data and boot mount options, and the ISO's size;
 * with --lynis, lynis' hardening index chrooted into the root, with its default profile and with
 * Keel's (image/lynis/keel.prf: the tests that cannot apply to the appliance, each with its reason).
 * Exits 1 on any regression. What needs the booted system (open ports, testssl.sh, ssh-audit) is
 * checked against the booted guest by the e2e suite, not here: an unpacked root is not a running appliance.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bashScripts, forbidden, readPolicy, setidFiles } from './trim.ts';
import { createHost } from '../appliance/host/index.ts';
import { loadTrustedKeys } from '../appliance/update/keys.ts';
import { UPDATE_KEYS_DIR } from '../appliance/update/paths.ts';
import { verifySlotImages, verityArg, VERITY_ENV, VERITY_SIG } from '../appliance/update/verity.ts';

const TOP = path.resolve(import.meta.dirname, '..');
const VERSION = (JSON.parse(fs.readFileSync(path.join(TOP, 'package.json'), 'utf8')) as { version: string }).version;

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Units an installed appliance enables: static .wants links plus what keel-generator adds. */
export function enabledUnits(root: string): { services: string[]; timers: string[] } {
  const units = new Set<string>();
  const sys = path.join(root, 'etc/systemd/system');
  for (const d of fs.readdirSync(sys)) {
    if (!d.endsWith('.wants')) continue;
    for (const u of fs.readdirSync(path.join(sys, d))) {
      const target = fs.readlinkSync(path.join(sys, d, u));
      if (target !== '/dev/null') units.add(u);
    }
  }
  const gen = fs.readFileSync(path.join(root, 'usr/lib/systemd/system-generators/keel-generator'), 'utf8');
  const slot = gen.slice(gen.indexOf('keel.slot='), gen.indexOf(';;', gen.indexOf('keel.slot=')));
  for (const m of slot.matchAll(/want \S+ (\S+)(?: (\S+))?/g)) units.add(m[2] ?? m[1]);
  const masked = (u: string) =>
    [u, u.replace(/@[^.]+\./, '@.')].some((n) => {
      try {
        return fs.readlinkSync(path.join(sys, n)) === '/dev/null';
      } catch {
        return false;
      }
    });
  const all = [...units].filter((u) => !masked(u)).sort();
  return { services: all.filter((u) => u.endsWith('.service')), timers: all.filter((u) => u.endsWith('.timer')) };
}

/** Exposure of one unit, offline against the unpacked root. */
export function exposure(root: string, unit: string): number | null {
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', `--root=${root}`, '--no-pager', unit], { encoding: 'utf8' });
  const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : null;
}

/** sysctl settings of Keel's own files (keel in the name), later files winning. */
function sysctls(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const dir of ['usr/lib/sysctl.d', 'etc/sysctl.d']) {
    const d = path.join(root, dir);
    if (!fs.existsSync(d)) continue;
    for (const f of fs.readdirSync(d).sort()) {
      if (!/keel|harden/i.test(f)) continue;
      for (const line of fs.readFileSync(path.join(d, f), 'utf8').split('\n')) {
        const m = /^\s*([\w.-]+(?:\/[\w.-]+)*)\s*=\s*(.*?)\s*$/.exec(line);
        if (m && !line.trim().startsWith('#')) out[m[1]] = m[2];
      }
    }
  }
  return out;
}

function mountOptions(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const sys = path.join(root, 'etc/systemd/system');
  for (const f of fs.readdirSync(sys).filter((x) => x.endsWith('.mount'))) {
    const text = fs.readFileSync(path.join(sys, f), 'utf8');
    out[/^Where=(.*)$/m.exec(text)?.[1] ?? f] = /^Options=(.*)$/m.exec(text)?.[1] ?? '(none)';
  }
  return out;
}

/** The ISO's dm-verity metadata checked as the installer checks it. */
async function verityReport(work: string, root: string): Promise<{ lines: string[]; problems: string[] }> {
  const lines: string[] = [];
  const problems: string[] = [];
  // The build machine's tools (veritysetup) on the extracted files; the keys the image trusts.
  const host = createHost('/');
  const keys = loadTrustedKeys(host, path.join(root, UPDATE_KEYS_DIR));
  try {
    const t = Date.now();
    const hashes = await verifySlotImages(host, work, { trusted: keys });
    lines.push(`keel-verity.env signed by ${keys.map((k) => k.source).join(', ')}; ${hashes.map((h) => `${h.file} ${h.rootHash.slice(0, 16)}...`).join(', ')}: every block matches (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    const arg = verityArg(hashes);
    const grub = fs.readFileSync(path.join(work, 'grub.cfg'), 'utf8');
    if (grub.includes(`dm-verity-root-hash=${arg}`)) lines.push('the boot menu passes the same root hashes to live-boot');
    else problems.push('the ISO boot menu does not pass the signed root hashes');
  } catch (e) {
    problems.push(`verity: ${(e as Error).message}`);
  }
  const initrdHook = path.join(root, 'etc/initramfs-tools/scripts/init-bottom/keel-verity');
  if (!fs.existsSync(initrdHook)) problems.push('the initramfs check for unverified images is missing');
  return { lines, problems };
}

/** One test Keel's lynis profile skips, with the reason written above it. */
export interface LynisSkip {
  test: string;
  reason: string;
}

/**
 * The skip-test lines of a lynis profile, each with its reason: the comment line `# ID: reason`
 * directly above it. A skip without its reason is an error: every skip must say why it cannot apply.
 */
export function readLynisProfile(text: string): LynisSkip[] {
  const lines = text.split('\n').map((l) => l.trim());
  const out: LynisSkip[] = [];
  lines.forEach((line, i) => {
    const m = /^skip-test=([A-Z]+-\d+)(?::\S+)?$/.exec(line);
    if (!m) return;
    const reason = new RegExp(`^#\\s*${m[1]}:\\s*(.+)$`).exec(lines[i - 1] ?? '')?.[1];
    if (!reason) throw new Error(`lynis profile: skip-test=${m[1]} has no "# ${m[1]}: reason" line above it`);
    if (out.some((s) => s.test === m[1])) throw new Error(`lynis profile: ${m[1]} is skipped twice`);
    out.push({ test: m[1], reason });
  });
  return out;
}

/** lynis' expected Linux sysctl values (`config-data=sysctl;KEY;VALUE|VALUE;...` in its default profile). */
export function lynisSysctls(profile: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of profile.split('\n')) {
    const f = line.split(';');
    if (f[0] === 'config-data=sysctl' && /^(kernel|net|fs|dev)\./.test(f[1] ?? '')) out.set(f[1], f[2].split('|'));
  }
  return out;
}

/**
 * Keel's sysctl files against lynis' expected values (what KRNL-6000 would check on the booted
 * appliance; in a chroot it reads the build machine's kernel). Only keys this Linux has (`known`).
 * A key Keel sets to another value is a conflict; one it leaves alone is listed, not failed.
 */
export function sysctlGaps(expected: Map<string, string[]>, keel: Record<string, string>, known: (key: string) => boolean): { conflicts: string[]; unset: string[] } {
  const conflicts: string[] = [];
  const unset: string[] = [];
  for (const [k, want] of expected) {
    if (!known(k)) continue;
    if (keel[k] === undefined) unset.push(`${k} (lynis: ${want.join(' or ')})`);
    else if (!want.includes(keel[k])) conflicts.push(`${k} = ${keel[k]} (lynis: ${want.join(' or ')})`);
  }
  return { conflicts, unset };
}

interface LynisRun {
  version: string;
  index: number | null;
  tests: number | null;
  warnings: string[];
  suggestions: string[];
}

/** Runs lynis (from the build machine) chrooted into the unpacked root, with an extra profile or none; its report's figures. */
function lynis(root: string, profile?: string): LynisRun {
  const bin = '/usr/sbin/lynis';
  if (!fs.existsSync(bin)) throw new Error('lynis is not installed (apt-get install lynis)');
  fs.mkdirSync(path.join(root, 'usr/share/lynis'), { recursive: true });
  fs.mkdirSync(path.join(root, 'etc/lynis'), { recursive: true });
  sh('cp', ['-a', '/usr/share/lynis/.', path.join(root, 'usr/share/lynis/')]);
  sh('cp', ['-a', '/etc/lynis/.', path.join(root, 'etc/lynis/')]);
  fs.copyFileSync(bin, path.join(root, 'usr/sbin/lynis'));
  const args = ['audit', 'system', '--quick', '--no-colors', '--no-log', '--report-file', '/tmp/lynis-report.dat'];
  if (profile) {
    fs.copyFileSync(profile, path.join(root, 'etc/lynis/keel.prf'));
    args.push('--profile', '/etc/lynis/keel.prf');
  }
  fs.rmSync(path.join(root, 'tmp/lynis-report.dat'), { force: true });
  fs.mkdirSync(path.join(root, 'proc'), { recursive: true });
  sh('mount', ['-t', 'proc', 'proc', path.join(root, 'proc')]);
  let out: string;
  try {
    const r = spawnSync('chroot', [root, '/usr/sbin/lynis', ...args], { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 600_000 });
    out = `${r.stdout}${r.stderr}`;
  } finally {
    spawnSync('umount', ['-l', path.join(root, 'proc')]);
  }
  const report = fs.existsSync(path.join(root, 'tmp/lynis-report.dat')) ? fs.readFileSync(path.join(root, 'tmp/lynis-report.dat'), 'utf8') : '';
  const field = (k: string) => report.split('\n').filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
  const items = (k: string) => field(`${k}[]`).map((v) => v.split('|').slice(0, 2).join(' '));
  const idx = field('hardening_index')[0];
  const tests = /Tests performed\s*:\s*(\d+)/.exec(out)?.[1];
  return { version: field('lynis_version')[0] ?? '?', index: idx ? Number(idx) : null, tests: tests ? Number(tests) : null, warnings: items('warning'), suggestions: items('suggestion') };
}

export async function main(argv: string[]): Promise<number> {
  const opts = { lynis: argv.includes('--lynis') };
  argv = argv.filter((a) => a !== '--lynis');
  const iso = path.resolve(argv[0] ?? path.join(TOP, 'dist', `keel-${VERSION}-amd64.iso`));
  if (!fs.existsSync(iso)) {
    console.error(`audit:image: no image at ${iso}: build it first (npm run image)`);
    return 2;
  }
  const ceilings = JSON.parse(fs.readFileSync(path.join(TOP, 'image/audit-ceilings.json'), 'utf8')) as Record<string, number>;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-audit-'));
  const problems: string[] = [];
  try {
    const live = ['base.squashfs', 'keel.squashfs', 'base.squashfs.verity', 'keel.squashfs.verity', VERITY_ENV, VERITY_SIG];
    sh('xorriso', ['-osirrox', 'on', '-indev', iso, ...live.flatMap((f) => ['-extract', `/live/${f}`, path.join(work, f)]), '-extract', '/boot/grub/grub.cfg', path.join(work, 'grub.cfg')]);
    const root = path.join(work, 'root');
    sh('unsquashfs', ['-q', '-n', '-d', root, path.join(work, 'base.squashfs')]);
    sh('unsquashfs', ['-q', '-n', '-f', '-d', root, path.join(work, 'keel.squashfs')]);
    const sizes = Object.fromEntries(['base.squashfs', 'keel.squashfs'].map((f) => [f, fs.statSync(path.join(work, f)).size]));

    console.log(`Keel image hardening report: ${path.relative(process.cwd(), iso)} (${(fs.statSync(iso).size / 2 ** 20).toFixed(1)} MiB; base.squashfs ${(sizes['base.squashfs'] / 2 ** 20).toFixed(1)} MiB, keel.squashfs ${(sizes['keel.squashfs'] / 2 ** 20).toFixed(1)} MiB)\n`);
    const { services, timers } = enabledUnits(root);
    console.log('Enabled services: systemd-analyze security --offline exposure (lower is better)');
    for (const u of services) {
      const score = exposure(root, u.replace(/@\.service$/, '@x.service'));
      const max = ceilings[u] ?? ceilings[u.replace(/@[^.]+\./, '@.')];
      const verdict = max === undefined ? '' : score !== null && score <= max ? `ok (ceiling ${max.toFixed(1)})` : `OVER the ceiling ${max.toFixed(1)}`;
      if (max !== undefined && (score === null || score > max)) problems.push(`${u} exposure ${score ?? '?'} > ${max}`);
      console.log(`  ${u.padEnd(36)} ${score === null ? '  ?' : score.toFixed(1).padStart(4)}  ${verdict}`);
    }
    for (const u of Object.keys(ceilings).filter((k) => k.endsWith('.service'))) if (!services.some((x) => x === u || x.replace(/@[^.]+\./, '@.') === u)) problems.push(`${u} has a ceiling but is not enabled`);
    console.log(`\nEnabled timers: ${timers.join(', ') || 'none'}`);
    const setid = setidFiles(root);
    console.log(`\nsetuid/setgid files: ${setid.length}${setid.length ? `\n  ${setid.join('\n  ')}` : ''}`);
    const left = forbidden(root, readPolicy(path.join(TOP, 'image/base/trim.txt')));
    console.log(`Forbidden files (image/base/trim.txt): ${left.length}${left.length ? `\n  ${left.join('\n  ')}` : ''}`);
    problems.push(...left.map((f) => `forbidden: ${f}`));
    for (const tool of ['bash', 'perl', 'python3', 'apt', 'dpkg', 'su', 'passwd', 'gcc']) {
      const found = ['usr/bin', 'usr/sbin'].some((d) => fs.existsSync(path.join(root, d, tool)));
      console.log(`  ${tool.padEnd(8)} ${found ? 'PRESENT' : 'absent'}`);
    }
    const bash = bashScripts(root);
    if (bash.length) console.log(`  bash scripts: ${bash.join(', ')}`);
    console.log('\nsysctl (Keel\'s files):');
    for (const [k, v] of Object.entries(sysctls(root))) console.log(`  ${k} = ${v}`);
    console.log('\nMount options:');
    for (const [k, v] of Object.entries(mountOptions(root))) console.log(`  ${k.padEnd(16)} ${v}`);
    // Verified slots: the ISO's root hashes are signed by a key the image trusts, each image
    // matches its hash tree, and the boot menu hands the same hashes to live-boot.
    console.log('\nVerified system images (dm-verity):');
    const verity = await verityReport(work, root);
    for (const l of verity.lines) console.log(`  ${l}`);
    problems.push(...verity.problems);
    if (opts.lynis) {
      // Twice: lynis' own default profile, then with Keel's (image/lynis/keel.prf), whose skipped
      // tests cannot apply to the appliance; the floor gates Keel's index.
      const prf = path.join(TOP, 'image/lynis/keel.prf');
      const skips = readLynisProfile(fs.readFileSync(prf, 'utf8'));
      const plain = lynis(root);
      const keel = lynis(root, prf);
      const floor = ceilings['lynis-index-floor'];
      console.log(`\nLynis ${keel.version} against the unpacked root. A chroot is not the booted appliance: lynis' kernel, process, network and service tests see the build machine or nothing.`);
      console.log(`  hardening index, lynis' default profile: ${plain.index ?? '?'} (${plain.tests ?? '?'} tests, ${plain.warnings.length} warnings, ${plain.suggestions.length} suggestions)`);
      console.log(`  hardening index, Keel's profile:         ${keel.index ?? '?'} (${keel.tests ?? '?'} tests, ${keel.warnings.length} warnings, ${keel.suggestions.length} suggestions)${floor === undefined ? '' : `; floor ${floor}`}`);
      console.log(`  Tests Keel's profile skips (${path.relative(TOP, prf)}), each cannot apply to the appliance:`);
      for (const s of skips) console.log(`    ${s.test.padEnd(10)} ${s.reason}`);
      for (const w of keel.warnings) console.log(`  warning    ${w}`);
      for (const w of keel.suggestions) console.log(`  suggestion ${w}`);
      // What KRNL-6000 checks on the booted system, read from Keel's files instead of the build machine's kernel.
      const gaps = sysctlGaps(lynisSysctls(fs.readFileSync('/etc/lynis/default.prf', 'utf8')), sysctls(root), (k) => fs.existsSync(path.join('/proc/sys', k.replaceAll('.', '/'))));
      console.log(`  sysctl (KRNL-6000 against Keel's files): ${gaps.conflicts.length} set otherwise than lynis expects${gaps.unset.length ? `; left at the kernel's default: ${gaps.unset.join(', ')}` : ''}`);
      problems.push(...gaps.conflicts.map((c) => `sysctl ${c}`));
      if (keel.index === null || plain.index === null) problems.push('lynis did not report a hardening index');
      else if (floor !== undefined && keel.index < floor) problems.push(`lynis hardening index (Keel's profile) ${keel.index} < ${floor}`);
    }
    console.log(problems.length ? `\nREGRESSIONS (${problems.length}):\n  ${problems.join('\n  ')}` : '\nNo regressions.');
    return problems.length ? 1 : 0;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) main(process.argv.slice(2)).then((c) => (process.exitCode = c));
