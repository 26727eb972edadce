import type { Host } from '../host/index.ts';
import type { Actor, Store } from '../config/store.ts';
import { VERSION } from '../version.ts';
import { log } from '../log.ts';
import { loadTrustedKeys, type TrustedKey } from './keys.ts';
import { GrubEnv, type Slot } from './grub.ts';
import { runningSlot, slotsFor, type SlotAdapter } from './slots.ts';

/** Everything an update operation works with; tests replace parts (slots, keys, version, clock). */
export interface UpdateContext {
  host: Host;
  store: Store;
  actor: Actor;
  trustedKeys: TrustedKey[];
  runningVersion: string;
  runningSlot: Slot;
  slots: SlotAdapter;
  grub: GrubEnv;
  /** Why the storage is not healthy (degraded RAID), or null. Default: software RAID from /proc/mdstat. */
  raidProblem: () => Promise<string | null>;
  now: () => Date;
}

/** `[U_]`-style maps in /proc/mdstat: an underscore is a missing member (pure). */
export function mdstatProblem(text: string): string | null {
  const bad: string[] = [];
  let name = '';
  for (const line of text.split('\n')) {
    const h = /^(md\S+)\s*:/.exec(line);
    if (h) name = h[1];
    const m = /\[\d+\/\d+\]\s+\[([U_]+)\]/.exec(line);
    if (m && m[1].includes('_')) bad.push(name);
    if (/recovery|resync/.test(line) && name && !bad.includes(name)) bad.push(name);
  }
  return bad.length ? `RAID not healthy (degraded or rebuilding): ${bad.join(', ')}` : null;
}

/** The context of a host with defaults for everything not given. */
export function updateContext(host: Host, store: Store, actor: Actor, over: Partial<UpdateContext> = {}): UpdateContext {
  return {
    host,
    store,
    actor,
    trustedKeys: over.trustedKeys ?? loadTrustedKeys(host),
    runningVersion: over.runningVersion ?? VERSION,
    runningSlot: over.runningSlot ?? runningSlot(host),
    slots: over.slots ?? slotsFor(host),
    grub: over.grub ?? new GrubEnv(host),
    raidProblem: over.raidProblem ?? (async () => mdstatProblem(host.files.readText('/proc/mdstat') ?? '')),
    now: over.now ?? (() => new Date()),
  };
}

/** Audits an update step (and logs it). Messages never carry secrets: bundle names, versions, reasons. */
export function audit(ctx: UpdateContext, action: string, outcome: string): void {
  ctx.store.audit(ctx.actor, action, outcome);
  (outcome === 'ok' ? log.info : log.warn)(`software update: ${action}`, { outcome });
}
