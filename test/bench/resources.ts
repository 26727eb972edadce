// Resource history: `sh scripts/with-node.sh node test/bench/resources.ts [SAMPLES] [--si DIR]`.
// 1. The cost of one sample read from /proc (CPU ms of this process and of any child it ran, RSS),
//    and, when `--si DIR` names a folder where `systeminformation` is installed (it is not a
//    dependency: `npm install --prefix DIR systeminformation`), the same series read with it.
// 2. Recording one sample into SQLite (WAL, as the store opens it).
// 3. A year of one-minute samples pushed through the same record/rollup/prune code with a
//    simulated clock; prints the rows per tier and the database size.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { readResourceCounters, type ResourceCounters } from '../../appliance/host/resources.ts';
import { ResourceHistory, valuesBetween, TIERS } from '../../appliance/reporting/history.ts';

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 200);
const siDir = process.argv.includes('--si') ? process.argv[process.argv.indexOf('--si') + 1] : null;
const mounts = { data: '/var/tmp', root: '/' };

/** CPU ms of this process and of its waited-for children (/proc/self/stat utime+stime, cutime+cstime). */
function cpuMs(): { self: number; children: number } {
  const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  return { self: (Number(f[11]) + Number(f[12])) * tick, children: (Number(f[13]) + Number(f[14])) * tick };
}
async function measure(name: string, fn: () => unknown | Promise<unknown>): Promise<void> {
  for (let i = 0; i < 5; i++) await fn();
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const c0 = cpuMs();
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await fn();
  const wall = (performance.now() - t0) / N;
  const u = process.cpuUsage(u0);
  const c1 = cpuMs();
  const rss1 = process.memoryUsage().rss;
  console.log(
    `${name.padEnd(34)} ${((u.user + u.system) / 1000 / N).toFixed(3).padStart(7)} ms CPU/sample (this process) ${((c1.children - c0.children) / N).toFixed(2).padStart(6)} ms in child processes  ${wall.toFixed(2).padStart(6)} ms wall  RSS ${(rss1 / 2 ** 20).toFixed(1)} MiB (+${((rss1 - rss0) / 2 ** 20).toFixed(1)})`,
  );
}

console.log(`${os.cpus().length} CPUs, ${N} samples each, Node ${process.version}`);
let prev: ResourceCounters | null = null;
await measure('/proc + statfs (Keel)', () => {
  const cur = readResourceCounters(mounts);
  valuesBetween(prev, cur);
  prev = cur;
});

if (siDir) {
  const { createRequire } = await import('node:module');
  const si = createRequire(path.join(path.resolve(siDir), 'x.js'))('systeminformation');
  console.log(`systeminformation ${si.version()}`);
  // The same series: CPU busy, load, memory, file system use, disk I/O, interface traffic and errors.
  await measure('systeminformation (same series)', () => Promise.all([si.currentLoad(), si.mem(), si.fsSize(), si.disksIO(), si.networkStats('*')]));
  await measure('  currentLoad + mem', () => Promise.all([si.currentLoad(), si.mem()]));
  await measure('  fsSize', () => si.fsSize());
  await measure('  disksIO', () => si.disksIO());
  await measure('  networkStats(*)', () => si.networkStats('*'));
}

// ---- recording, and a simulated year ----
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-resources-'));
try {
  const file = path.join(dir, 'r.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  const h = new ResourceHistory(db);
  // A typical appliance: 2 interfaces, 1 disk, the data and root file systems.
  const a = readResourceCounters(mounts, undefined, 0);
  const b = { ...a, at: 60_000 };
  const template = valuesBetween(a, b);
  const names = ['cpu.busy', 'cpu.iowait', 'load.1', 'load.5', 'load.15', 'memory.used', 'memory.used_pct', 'swap.used', 'fs.data.used', 'fs.data.used_pct', 'fs.root.used', 'fs.root.used_pct', 'disk.sda.read', 'disk.sda.write', 'disk.sda.busy', ...['GigabitEthernet1', 'GigabitEthernet2'].flatMap((n) => ['rx', 'tx', 'errors', 'drops'].map((k) => `net.${n}.${k}`))];
  void template;
  const values = (i: number) => Object.fromEntries(names.map((n, j) => [n, Math.abs(Math.sin(i / 97 + j)) * (n.includes('pct') || n.startsWith('cpu') ? 100 : 1e7)]));
  let t = Date.parse('2026-01-01T00:00:00Z');
  await measure('record one sample (WAL, FULL sync)', () => h.record((t += 60_000), values(t / 60_000)));

  db.pragma('synchronous = OFF'); // the simulation only: the size is what it measures
  const minutes = 366 * 24 * 60;
  const t0 = performance.now();
  const start = t;
  for (let i = 1; i <= minutes; i++) h.record(start + i * 60_000, values(i));
  const simS = (performance.now() - t0) / 1000;
  db.pragma('wal_checkpoint(TRUNCATE)');
  const rows = h.rowCounts();
  const bytes = fs.statSync(file).size;
  const q0 = performance.now();
  const end = start + minutes * 60_000;
  const year = h.series(['cpu.busy', 'net.'], end - 365 * 86400_000, end, 720, end);
  const q = performance.now() - q0;
  db.exec('VACUUM');
  const vac = fs.statSync(file).size;
  console.log(`simulated a year: ${minutes} samples of ${names.length} metrics in ${simS.toFixed(1)} s (${((simS * 1000) / minutes).toFixed(3)} ms each)`);
  console.log(`rows: ${TIERS.map((x) => `tier ${x.tier} (${x.label}) ${rows[x.tier] ?? 0}`).join(', ')}`);
  console.log(`database: ${(bytes / 2 ** 20).toFixed(2)} MiB (${(vac / 2 ** 20).toFixed(2)} MiB after VACUUM), ${(vac / names.length / 1024).toFixed(1)} KiB per metric`);
  console.log(`a 1-year query of ${year.length} series: ${q.toFixed(1)} ms, ${year[0]?.points.length} points each`);
  db.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
