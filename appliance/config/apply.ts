import { createRequire } from 'node:module';
import type * as Diff from 'diff';
import type { Host } from '../host/index.ts';
import type { Actor, Store } from './store.ts';
import { validate, type Config } from './schema.ts';
import { toScript, redact } from './script.ts';
import type { Facts, Renderer, Unit } from './units.ts';
import { listNics } from '../network/nics.ts';
import { render as system } from '../system/render.ts';
import { render as network } from '../network/render.ts';
import { render as dns } from '../dns/render.ts';
import { render as ntp } from '../ntp/render.ts';
import { render as clock } from '../clock/render.ts';
import { render as ssh } from '../ssh/render.ts';
import { render as firewall } from '../firewall/render.ts';
import { log } from '../log.ts';
import { processAlive } from '../host/processes.ts';
import { TEMP_FILE } from '../host/files.ts';
import { prepared } from './prepared.ts';

// diff is loaded at first use (a plan or a change): `keel boot` renders without it (issue 15).
const requireLazily = createRequire(import.meta.url);
let diffModule: typeof Diff | null = null;
const DIFF = () => (diffModule ??= requireLazily('diff') as typeof Diff);

/**
 * The apply journal: one row while a change is being written into the OS, cleared in the same
 * transaction that commits its revision. A row left behind by a process that died means the OS
 * files may hold a configuration that was never committed; reconcileApply() puts them back.
 */
const JOURNAL_SQL = 'CREATE TABLE IF NOT EXISTS apply_journal (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, started_at INTEGER NOT NULL, summary TEXT NOT NULL)';
/** No apply takes this long: a journal row older than this is stale even if its pid was reused. */
const JOURNAL_STALE_MS = 10 * 60_000;

function journal(store: Store) {
  store.db.exec(JOURNAL_SQL);
  return {
    begin: (summary: string) => prepared(store.db, 'INSERT OR REPLACE INTO apply_journal (id, pid, started_at, summary) VALUES (1, ?, ?, ?)').run(process.pid, Date.now(), summary.slice(0, 200)),
    clear: () => prepared(store.db, 'DELETE FROM apply_journal').run(),
    pending: () => prepared(store.db, 'SELECT pid, started_at AS startedAt, summary FROM apply_journal').get() as { pid: number; startedAt: number; summary: string } | undefined,
  };
}

/** Every setting's renderer, in the order their services should take a change. */
export const RENDERERS: Renderer[] = [system, clock, dns, network, ntp, firewall, ssh];

/** Pure: the files and service actions of a configuration on a machine with these facts. */
export function renderAll(config: Config, facts: Facts): Unit[] {
  return RENDERERS.map((r) => r(config, facts));
}

export function gatherFacts(host: Host): Facts {
  return { nics: listNics(host) };
}

/** A change, computed and shown before it is applied. */
export interface Plan {
  /** Unified diff of the CLI script (password hashes redacted). */
  diff: string;
  /** Files that would change, by unit. */
  changes: { unit: string; path: string }[];
  /** Units whose service would be reloaded. */
  units: string[];
}

function fileChanged(host: Host, f: Unit['files'][number]): boolean {
  if (f.linkTarget !== undefined) return host.files.snapshot(f.path).link !== f.linkTarget;
  const cur = host.files.read(f.path);
  const want = typeof f.content === 'string' ? Buffer.from(f.content) : f.content;
  return cur === null || !cur.equals(want);
}

/** Diff of two configurations as CLI scripts, secrets redacted. */
export function scriptDiff(before: Config | null, after: Config, labels: [string, string] = ['running-config', 'candidate-config']): string {
  const a = before ? redact(toScript(before)).join('\n') + '\n' : '';
  const b = redact(toScript(after)).join('\n') + '\n';
  return a === b ? '' : DIFF().createTwoFilesPatch(labels[0], labels[1], a, b, '', '', { context: 2 });
}

/** Shows what applying `next` would change, without changing anything. */
export async function plan(host: Host, store: Store, next: Config): Promise<Plan> {
  validate(next);
  const changes = await host.applier.plan(next);
  return { diff: scriptDiff(store.running()?.config ?? null, next), changes, units: [...new Set(changes.map((c) => c.unit))] };
}

/** The files of `next` that differ from the OS (privileged side: it reads files only root may). */
export function osPlan(host: Host, next: Config): { unit: string; path: string }[] {
  const units = renderAll(validate(next), gatherFacts(host));
  return units.flatMap((u) => u.files.filter((f) => fileChanged(host, f)).map((f) => ({ unit: u.name, path: f.path })));
}

async function writeUnit(host: Host, u: Unit): Promise<boolean> {
  let changed = false;
  for (const f of u.files) {
    if (u.check && f === u.files[0] && fileChanged(host, f)) {
      // Check the candidate before it replaces the live file.
      const tmp = `${f.path}.keel-check`;
      host.files.writeAtomic(tmp, f.content, f.mode ?? 0o644);
      try {
        const [cmd, ...args] = u.check(tmp);
        await host.proc.run(cmd, args);
      } finally {
        host.files.remove(tmp);
      }
    }
    const did = f.linkTarget !== undefined ? host.files.symlinkAtomic(f.path, f.linkTarget) : host.files.writeAtomic(f.path, f.content, f.mode ?? 0o644);
    changed ||= did;
  }
  return changed;
}

/**
 * The OS half of a change (privileged side): renders `next`, writes its files atomically and
 * reloads the units whose files changed. If anything fails, every file is put back and the units
 * already reloaded are reloaded with `before`, so the previous configuration keeps running.
 * Returns the units reloaded.
 */
export async function osApply(host: Host, next: Config, before: Config | null): Promise<string[]> {
  const cfg = validate(next);
  const prev = before ? validate(before) : null;
  const facts = gatherFacts(host);
  const units = renderAll(cfg, facts);
  const snaps = new Map(units.flatMap((u) => u.files.map((f) => [f.path, host.files.snapshot(f.path)] as const)));
  const reloaded: string[] = [];
  try {
    for (const u of units) {
      if (!(await writeUnit(host, u))) continue;
      for (const [cmd, ...args] of u.reload) await host.proc.run(cmd, args);
      reloaded.push(u.name);
    }
  } catch (err) {
    for (const [p, s] of snaps) host.files.restore(p, s);
    if (prev) {
      for (const u of renderAll(prev, facts).filter((x) => reloaded.includes(x.name))) {
        for (const [cmd, ...args] of u.reload) await host.proc.run(cmd, args, { allowFail: true });
      }
    }
    throw err;
  }
  return reloaded;
}

/**
 * The OS half of reconciling (privileged side): `running` rendered again, our leftover temporary
 * files removed, and the units whose files this changed reloaded. Returns those units.
 */
export async function osReconcile(host: Host, running: Config): Promise<string[]> {
  const reloaded: string[] = [];
  for (const u of renderAll(validate(running), gatherFacts(host))) {
    for (const f of u.files) sweepTemps(host, f.path);
    if (!(await writeUnit(host, u))) continue;
    for (const [cmd, ...args] of u.reload) await host.proc.run(cmd, args, { allowFail: true });
    reloaded.push(u.name);
  }
  return reloaded;
}

/**
 * Applies a configuration to the running system and records it as a new revision.
 * The OS side goes through the host's applier (the privileged service on the appliance): files
 * written atomically, only units whose files changed reloaded, everything put back if anything
 * fails, so the previous configuration keeps running.
 */
export async function applyConfig(host: Host, store: Store, next: Config, actor: Actor, summary: string): Promise<{ revision: number; units: string[] }> {
  validate(next);
  const before = store.running()?.config ?? null;
  // The revision's record: what it changed in the running configuration.
  const diff = scriptDiff(before, next, ['before', 'after']);
  const j = journal(store);
  j.begin(summary);
  let reloaded: string[];
  try {
    reloaded = await host.applier.apply(next, before);
  } catch (err) {
    j.clear();
    store.audit(actor, `apply: ${summary}`, `failed, previous configuration kept: ${(err as Error).message}`);
    log.warn('apply failed; previous configuration restored', { summary, error: (err as Error).message });
    throw err;
  }
  // The revision and the end of the journal are one transaction: a crash leaves either both or neither.
  const revision = store.db.transaction(() => {
    const r = store.commitRunning(next, actor, summary, diff);
    j.clear();
    return r;
  })();
  store.audit(actor, `apply: ${summary} (revision ${revision})`, 'ok');
  log.info('configuration applied', { revision, who: actor.who, source: actor.source, units: reloaded });
  return { revision, units: reloaded };
}

/**
 * At boot: the running configuration becomes the saved one and is rendered into the OS
 * (whose /etc is fresh each boot); boot-time commands run, service reloads do not.
 */
export async function applyAtBoot(host: Host, store: Store): Promise<boolean> {
  const s = store.startup();
  if (!s) return false;
  store.resetRunningToStartup();
  // Everything is rendered from startup now: a change interrupted before this boot is moot.
  journal(store).clear();
  const cfg = validate(s.config);
  for (const u of renderAll(cfg, gatherFacts(host))) {
    for (const f of u.files) sweepTemps(host, f.path);
    await writeUnit(host, u);
    for (const [cmd, ...args] of u.boot ?? []) await host.proc.run(cmd, args, { allowFail: true });
  }
  log.info('startup configuration rendered', { revision: s.revision });
  return true;
}

/**
 * At the start of every process that can change the configuration: if a change was being
 * written into the OS by a process that is gone (killed, power cut), the OS files may be ahead
 * of running-config. They are rendered again from running-config, the services whose files this
 * changes are reloaded, and the writer's leftover temporary files are removed. Returns whether
 * anything had to be done. A change in progress in a live process is left alone.
 */
export async function reconcileApply(host: Host, store: Store): Promise<boolean> {
  const j = journal(store);
  const p = j.pending();
  if (!p) return false;
  if (p.pid !== process.pid && processAlive(p.pid) && Date.now() - p.startedAt < JOURNAL_STALE_MS) return false;
  const running = store.running();
  if (running) await host.applier.reconcile(running.config);
  j.clear();
  store.audit({ who: 'keel', source: 'start' }, `undo an interrupted change: ${p.summary}`, `ok: the OS files match running-config${running ? ` (revision ${running.revision})` : ''} again`);
  log.warn('a change was interrupted before it was committed; the OS files were put back to running-config', { summary: p.summary, revision: running?.revision ?? null });
  return true;
}

/** Removes the temporary files our writer left beside `path` (only ours: `.keel-XXXXXXXX.tmp`, `.keel-check`). */
function sweepTemps(host: Host, path: string): void {
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  const base = path.slice(path.lastIndexOf('/') + 1);
  for (const name of host.files.list(dir)) {
    if ((name.startsWith(`${base}.keel-`) && TEMP_FILE.test(name)) || name === `${base}.keel-check`) host.files.remove(`${dir}/${name}`);
  }
}
