/** TypeBox bundled for the image: the same answers from far fewer modules, the same bytes at every build. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BUNDLED_PACKAGES, bundlePackage, esmEntries } from '../../image/bundle.ts';
import { tempRoot } from '../helpers/config.ts';

const TOP = path.resolve(import.meta.dirname, '../..');

/** A node_modules holding a copy of the package, as the image build's `npm ci` leaves it. */
function copyOf(name: string): { root: string; dir: string } {
  const root = tempRoot('keel-bundle-');
  const dir = path.join(root, 'node_modules', name);
  fs.cpSync(fs.realpathSync(path.join(TOP, 'node_modules', name)), dir, { recursive: true });
  return { root, dir };
}

/** Imports TypeBox from `root`'s node_modules in a fresh Node: what it answers and how many of its modules it loaded. */
function probe(root: string): { answers: unknown; modules: number } {
  const script = path.join(root, 'probe.mjs');
  fs.writeFileSync(script, `
import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ load(url, ctx, next) { if (url.includes('/typebox/')) seen.add(url); return next(url, ctx); } });
const { Type, FormatRegistry } = await import('@sinclair/typebox');
const { Value } = await import('@sinclair/typebox/value');
const { TypeCompiler } = await import('@sinclair/typebox/compiler');
FormatRegistry.Set('host', (v) => /^[a-z.]+$/.test(v));
const S = Type.Object({ name: Type.String({ minLength: 1, maxLength: 8 }), port: Type.Integer({ minimum: 1, maximum: 65535 }), host: Type.String({ format: 'host' }), tags: Type.Array(Type.Union([Type.Literal('a'), Type.Literal('b')])) }, { additionalProperties: false });
const bad = { name: '', port: 70000, host: 'X!', tags: ['c'], extra: 1 };
const good = { name: 'core', port: 22, host: 'core.example', tags: ['a'] };
console.log(JSON.stringify({
  check: [Value.Check(S, good), Value.Check(S, bad), TypeCompiler.Compile(S).Check(good)],
  errors: [...Value.Errors(S, bad)].map((e) => [e.path, e.message]),
  defaults: Value.Default(Type.Object({ n: Type.Number({ default: 3 }) }), {}),
  modules: seen.size,
}));
`);
  const r = spawnSync(process.execPath, [script], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { modules: number };
  return { answers: { ...out, modules: undefined }, modules: out.modules };
}

function treeHash(dir: string): string {
  const h = crypto.createHash('sha256');
  for (const f of (fs.readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) h.update(f).update(fs.readFileSync(p));
  }
  return h.digest('hex');
}

test('the image bundles TypeBox: the same answers from a tenth of the modules, and the same bytes at every build', async (t) => {
  assert.deepEqual(BUNDLED_PACKAGES, ['@sinclair/typebox']);
  const a = copyOf('@sinclair/typebox');
  const b = copyOf('@sinclair/typebox');
  t.onTestFinished(() => { for (const r of [a.root, b.root]) fs.rmSync(r, { recursive: true, force: true }); });
  const original = probe(a.root);
  const counts = await bundlePackage(a.dir);
  assert.ok(counts.before > 200 && counts.after < 30, JSON.stringify(counts));
  const bundled = probe(a.root);
  assert.deepEqual(bundled.answers, original.answers);
  assert.ok(original.modules > 200 && bundled.modules <= 20, `modules loaded: ${original.modules} before, ${bundled.modules} bundled`);
  // Reproducible: a second build makes the same files.
  await bundlePackage(b.dir);
  assert.equal(treeHash(b.dir), treeHash(a.dir));
});

test('only the ESM file of each export is an entry; a package with dependencies is refused', async (t) => {
  assert.deepEqual(esmEntries({ exports: { '.': { import: { default: './build/esm/index.mjs' } }, './value': { import: './build/esm/value/index.mjs' }, './package.json': './package.json' } as never }), {
    '.': 'build/esm/index.mjs',
    './value': 'build/esm/value/index.mjs',
  });
  const root = tempRoot('keel-bundle-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'x', dependencies: { y: '1' }, exports: { '.': { import: './esm/index.mjs' } } }));
  await assert.rejects(bundlePackage(root), /x has dependencies: not bundled/);
});
