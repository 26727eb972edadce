/**
 * The test layers as vitest projects. `npm test` runs `unit`; each slower layer has its own npm
 * script (README). Files run in separate processes (`forks`): better-sqlite3 and the
 * child processes the tests start are safer there than in worker threads.
 */
import { defineConfig } from 'vitest/config';

/** Coverage floors per layer and folder: the figures measured when the suites moved to vitest, minus 2 points. */
import floorsJson from './test/coverage-floors.json' with { type: 'json' };

type Floor = { lines: number; functions: number; branches: number; statements: number };
/** Which layer's floors apply: `npm test` runs unit, `npm run test:system` sets KEEL_LAYER=system. */
const LAYER = process.env.KEEL_LAYER ?? 'unit';
const floors = ((floorsJson as Record<string, Record<string, Floor> | undefined>)[LAYER] ?? {}) as Record<string, Floor | undefined>;

const FOLDERS = ['bin', 'appliance', 'cli', 'webui', 'installer', 'image'] as const;

export default defineConfig({
  test: {
    pool: 'forks',
    // node:test let a test run as long as it needed; the layers that start daemons or VMs set more.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    coverage: {
      provider: 'v8',
      include: FOLDERS.map((f) => `${f}/**/*.ts`),
      exclude: ['**/*.d.ts'],
      reporter: ['text-summary', 'html', 'json-summary'],
      reportsDirectory: `coverage/${LAYER}`,
      thresholds: Object.fromEntries(
        FOLDERS.filter((f) => floors[f]).map((f) => [`${f}/**/*.ts`, floors[f]]),
      ),
    },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], maxWorkers: 2 } },
      { extends: true, test: { name: 'system', include: ['test/system/**/*.test.ts'], fileParallelism: false, testTimeout: 900_000 } },
      { extends: true, test: { name: 'security', include: ['test/security/**/*.test.ts'], fileParallelism: false, testTimeout: 900_000 } },
      { extends: true, test: { name: 'web', include: ['test/web/**/*.test.ts'], fileParallelism: false, testTimeout: 300_000 } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/verity.test.ts', 'test/e2e/skeleton.test.ts', 'test/e2e/update.test.ts'], fileParallelism: false, testTimeout: 90 * 60_000, hookTimeout: 30 * 60_000 } },
      { extends: true, test: { name: 'matrix', include: ['test/e2e/matrix.test.ts'], fileParallelism: false, testTimeout: 90 * 60_000, hookTimeout: 30 * 60_000 } },
    ],
  },
});
