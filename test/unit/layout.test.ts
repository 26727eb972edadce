/**
 * The layout the process split rests on: the core (appliance/) imports no surface (cli/,
 * webui/, installer/, bin/); the surfaces and the process entries in bin/ compose it.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const TOP = path.resolve(import.meta.dirname, '../..');
const SURFACES = ['cli', 'webui', 'installer', 'bin'];

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

test('appliance/ imports nothing from cli/, webui/, installer/ or bin/ (static or dynamic imports)', () => {
  const bad: string[] = [];
  for (const f of tsFiles(path.join(TOP, 'appliance'))) {
    const src = fs.readFileSync(f, 'utf8');
    for (const m of src.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = path.relative(TOP, path.resolve(path.dirname(f), m[1])).split(path.sep)[0];
      if (SURFACES.includes(target)) bad.push(`${path.relative(TOP, f)} imports ${m[1]}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('every keel subcommand has its entry file, and bin/ holds only entries', async () => {
  const main = fs.readFileSync(path.join(TOP, 'bin/main.ts'), 'utf8');
  const entries = [...main.matchAll(/load: \(\) => import\('([^']+)'\)/g)].map((m) => path.resolve(TOP, 'bin', m[1]));
  assert.ok(entries.length >= 10, `${entries.length} subcommands`);
  for (const e of entries) assert.ok(fs.existsSync(e), `${path.relative(TOP, e)} is missing`);
  // Nothing in the core or the surfaces imports an entry: entries compose, they are not composed.
  for (const dir of ['appliance', 'cli', 'webui', 'installer']) {
    for (const f of tsFiles(path.join(TOP, dir))) {
      assert.doesNotMatch(fs.readFileSync(f, 'utf8'), /from\s+['"](?:\.\.\/)+bin\//, path.relative(TOP, f));
    }
  }
});
