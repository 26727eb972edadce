import { createTwoFilesPatch } from 'diff';
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
export function scriptDiff(before: Config | null, after: Config): string {
  const a = before ? redact(toScript(before)).join('\n') + '\n' : '';
  const b = redact(toScript(after)).join('\n') + '\n';
  return a === b ? '' : createTwoFilesPatch('running-config', 'candidate-config', a, b, '', '', { context: 2 });
}

/** Shows what applying `next` would change, without changing anything. */
export function plan(host: Host, store: Store, next: Config, facts = gatherFacts(host)): Plan {
  validate(next);
  const units = renderAll(next, facts);
  const changes = units.flatMap((u) => u.files.filter((f) => fileChanged(host, f)).map((f) => ({ unit: u.name, path: f.path })));
  return { diff: scriptDiff(store.running()?.config ?? null, next), changes, units: [...new Set(changes.map((c) => c.unit))] };
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
 * Applies a configuration to the running system and records it as a new revision.
 * Files are written atomically; only units whose files changed reload. If anything fails, every
 * file is put back and the previous units reloaded, so the previous configuration keeps running.
 */
export async function applyConfig(host: Host, store: Store, next: Config, actor: Actor, summary: string): Promise<{ revision: number; units: string[] }> {
  validate(next);
  const facts = gatherFacts(host);
  const units = renderAll(next, facts);
  const before = store.running()?.config ?? null;
  const diff = scriptDiff(before, next);
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
    if (before) {
      for (const u of renderAll(before, facts).filter((x) => reloaded.includes(x.name))) {
        for (const [cmd, ...args] of u.reload) await host.proc.run(cmd, args, { allowFail: true });
      }
    }
    store.audit(actor, `apply: ${summary}`, `failed, previous configuration kept: ${(err as Error).message}`);
    log.warn('apply failed; previous configuration restored', { summary, error: (err as Error).message });
    throw err;
  }
  const revision = store.commitRunning(next, actor, summary, diff);
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
  const cfg = validate(s.config);
  for (const u of renderAll(cfg, gatherFacts(host))) {
    await writeUnit(host, u);
    for (const [cmd, ...args] of u.boot ?? []) await host.proc.run(cmd, args, { allowFail: true });
  }
  log.info('startup configuration rendered', { revision: s.revision });
  return true;
}
