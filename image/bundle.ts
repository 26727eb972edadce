/**
 * Dependencies shipped as hundreds of small ES modules are bundled at image build into one file
 * per entry point (plus shared chunks): TypeBox's ESM build is 247 modules, which every keel
 * process loads (the configuration schema) for about 150 ms natively and seconds under emulation,
 * against about 11 ms as a bundle (issue 15). The code is the same; only the file layout changes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rolldown } from 'rolldown';

/** Packages bundled in the image's node_modules (ESM, no dependencies of their own). */
export const BUNDLED_PACKAGES = ['@sinclair/typebox'];

type ExportTarget = string | { import?: string | { default?: string }; default?: string } | null;

/** The ESM file of each `exports` entry of a package (relative to the package), by subpath. */
export function esmEntries(pkg: { exports?: Record<string, ExportTarget> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
    const imp = typeof target === 'object' && target !== null ? target.import : undefined;
    const file = typeof imp === 'string' ? imp : imp?.default;
    if (file && /\.m?js$/.test(file)) out[sub] = file.replace(/^\.\//, '');
  }
  return out;
}

/**
 * Replaces the ESM build of the package in `dir` by a bundle: each `exports` entry's file becomes
 * a bundled module at the same path, sharing chunks beside them, so each original module is still
 * evaluated once (TypeBox's Value and Type share their internals). Returns the module counts.
 */
export async function bundlePackage(dir: string): Promise<{ before: number; after: number }> {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name: string; exports?: Record<string, ExportTarget>; dependencies?: Record<string, string> };
  if (Object.keys(pkg.dependencies ?? {}).length) throw new Error(`${pkg.name} has dependencies: not bundled`);
  const entries = esmEntries(pkg);
  const files = Object.values(entries);
  if (!files.length) throw new Error(`${pkg.name} has no ESM exports to bundle`);
  // Every entry must live under one folder (TypeBox: build/esm), which the bundle replaces.
  const base = files.map((f) => path.posix.dirname(f)).reduce((a, b) => {
    while (!(b + '/').startsWith(a + '/')) a = path.posix.dirname(a);
    return a;
  });
  if (base === '.' || base === '') throw new Error(`${pkg.name}: its ESM entries share no build folder`);
  const input = Object.fromEntries(files.map((f) => [path.posix.relative(base, f).replace(/\.m?js$/, ''), path.join(dir, f)]));
  const countModules = (d: string): number => fs.readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && /\.m?js$/.test(e.name)).length;
  const before = countModules(path.join(dir, base));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bundle-'));
  try {
    const bundle = await rolldown({ input, cwd: dir, platform: 'node', logLevel: 'silent', external: (id) => id.startsWith('node:') });
    await bundle.write({ dir: out, format: 'esm', entryFileNames: '[name].mjs', chunkFileNames: 'keel-chunk-[name].mjs', sourcemap: false });
    await bundle.close();
    for (const f of files) if (!fs.existsSync(path.join(out, path.posix.relative(base, f)))) throw new Error(`${pkg.name}: the bundle lacks ${f}`);
    fs.rmSync(path.join(dir, base), { recursive: true });
    fs.cpSync(out, path.join(dir, base), { recursive: true });
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
  return { before, after: countModules(path.join(dir, base)) };
}
