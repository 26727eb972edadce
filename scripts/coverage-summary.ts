/**
 * Prints coverage per top folder (bin, appliance, cli, webui, installer, image) from vitest's
 * json-summary report, and, with --floors, writes the measured figures minus 2 points as the
 * floors that vitest.config.ts enforces (run once when coverage is deliberately re-based).
 * Usage: node scripts/coverage-summary.ts <coverage-dir> <layer> [--floors]
 */
import fs from 'node:fs';
import path from 'node:path';

type Counts = { total: number; covered: number };
type Entry = { lines: Counts; statements: Counts; functions: Counts; branches: Counts };
const METRICS = ['lines', 'statements', 'functions', 'branches'] as const;
const FOLDERS = ['bin', 'appliance', 'cli', 'webui', 'installer', 'image'];

const [dir = 'coverage', layer = 'unit', flag] = process.argv.slice(2);
const top = path.resolve(import.meta.dirname, '..');
const summary = JSON.parse(fs.readFileSync(path.join(dir, 'coverage-summary.json'), 'utf8')) as Record<string, Entry>;

const sums = new Map<string, Record<(typeof METRICS)[number], Counts>>();
const files = new Map<string, { file: string; pct: number }[]>();
for (const [file, e] of Object.entries(summary)) {
  if (file === 'total') continue;
  const folder = path.relative(top, file).split(path.sep)[0];
  if (!FOLDERS.includes(folder)) continue;
  const s = sums.get(folder) ?? Object.fromEntries(METRICS.map((m) => [m, { total: 0, covered: 0 }])) as Record<(typeof METRICS)[number], Counts>;
  for (const m of METRICS) {
    s[m].total += e[m].total;
    s[m].covered += e[m].covered;
  }
  sums.set(folder, s);
  const list = files.get(folder) ?? [];
  list.push({ file: path.relative(top, file), pct: e.lines.total ? (100 * e.lines.covered) / e.lines.total : 100 });
  files.set(folder, list);
}
const pct = (c: Counts) => (c.total ? (100 * c.covered) / c.total : 100);
console.log(`\ncoverage (${layer}) per folder, %: lines / statements / functions / branches`);
for (const f of FOLDERS) {
  const s = sums.get(f);
  if (!s) {
    console.log(`  ${f.padEnd(10)} not loaded by this suite`);
    continue;
  }
  console.log(`  ${f.padEnd(10)} ${METRICS.map((m) => pct(s[m]).toFixed(1).padStart(5)).join(' / ')}   (${s.lines.covered}/${s.lines.total} lines)`);
}
if (process.env.KEEL_COVERAGE_LEAST) {
  const all = [...files.values()].flat().sort((a, b) => a.pct - b.pct).slice(0, Number(process.env.KEEL_COVERAGE_LEAST));
  console.log('least covered files (lines %):');
  for (const x of all) console.log(`  ${x.pct.toFixed(1).padStart(5)}  ${x.file}`);
}
if (flag === '--floors') {
  const floorsFile = path.join(top, 'test', 'coverage-floors.json');
  const floors = JSON.parse(fs.readFileSync(floorsFile, 'utf8')) as Record<string, unknown>;
  floors[layer] = Object.fromEntries([...sums].map(([f, s]) => [f, Object.fromEntries(METRICS.map((m) => [m, Math.max(0, Math.floor(pct(s[m]) - 2))]))]));
  fs.writeFileSync(floorsFile, JSON.stringify(floors, null, 2) + '\n');
  console.log(`floors for ${layer} written to test/coverage-floors.json`);
}
