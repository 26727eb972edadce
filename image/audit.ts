/**
 * `npm run audit:image [ISO]`: the hardening report of a built image, offline. Unpacks both
 * squashfs layers of the ISO (base, then Keel's over it, as the overlay has them) and prints:
 * every enabled unit with its `systemd-analyze security` exposure (Keel's units gated by
 * image/audit-ceilings.json), setuid/setgid files, forbidden files (image/base/trim.txt),
 * enabled timers, Keel's sysctl settings, the data and boot mount options, and the ISO's size.
 * Exits 1 on any regression. What needs the booted system (open ports, testssl.sh, ssh-audit) is
 * checked by the system and e2e suites, not here: an unpacked root is not a running appliance.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bashScripts, forbidden, readPolicy, setidFiles } from './trim.ts';

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

export async function main(argv: string[]): Promise<number> {
  const iso = path.resolve(argv[0] ?? path.join(TOP, 'dist', `keel-${VERSION}-amd64.iso`));
  if (!fs.existsSync(iso)) {
    console.error(`audit:image: no image at ${iso}: build it first (npm run image)`);
    return 2;
  }
  const ceilings = JSON.parse(fs.readFileSync(path.join(TOP, 'image/audit-ceilings.json'), 'utf8')) as Record<string, number>;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-audit-'));
  const problems: string[] = [];
  try {
    sh('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/live/base.squashfs', path.join(work, 'base.squashfs'), '-extract', '/live/keel.squashfs', path.join(work, 'keel.squashfs')]);
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
    for (const u of Object.keys(ceilings)) if (!services.some((x) => x === u || x.replace(/@[^.]+\./, '@.') === u)) problems.push(`${u} has a ceiling but is not enabled`);
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
    console.log(problems.length ? `\nREGRESSIONS (${problems.length}):\n  ${problems.join('\n  ')}` : '\nNo regressions.');
    return problems.length ? 1 : 0;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) main(process.argv.slice(2)).then((c) => (process.exitCode = c));
