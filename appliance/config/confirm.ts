/**
 * Changes that could cut off the administrator who makes them (SSH turned off or moved while
 * signed in over SSH, the management address or gateway changed from the network) apply with a
 * confirm timer: unless confirmed in time (`configure confirm`, System Manager's Confirm), the
 * configuration from before the change returns by itself. The timer lives in the service process
 * (keel serve), so it fires even when the change did cut the session off.
 */
import type { Host } from '../host/index.ts';
import type { Store, Actor } from './store.ts';
import type { Config } from './schema.ts';
import { applyConfig } from './apply.ts';
import { aclRisk } from '../acl/schema.ts';
import { log } from '../log.ts';

/** Seconds to confirm a change that could lock the administrator out. */
export const CONFIRM_SECONDS = 120;

/**
 * Why a change made from `source` could lock its maker out, or null. Console changes never do
 * (the console is the way back in); SSH and System Manager changes do when they touch the path
 * their own session uses.
 */
export function lockoutRisk(prev: Config, next: Config, source: string): string | null {
  const remote = source.startsWith('ssh:') ? 'ssh' : source.startsWith('webui:') || source.startsWith('api:') ? 'webui' : null;
  if (!remote) return null;
  const a = prev.network.interfaces[0];
  const b = next.network.interfaces[0];
  if (a.address !== b.address || a.netmask !== b.netmask || a.enabled !== b.enabled) return `the management interface ${a.name} changes`;
  if (prev.network.gateway !== next.network.gateway) return 'the default gateway changes';
  if (remote === 'ssh' && prev.ssh.enabled && !next.ssh.enabled) return 'SSH is turned off';
  if (remote === 'ssh' && prev.ssh.enabled && prev.ssh.port !== next.ssh.port) return `SSH moves to port ${next.ssh.port}`;
  if (remote === 'webui' && prev.webui.port !== next.webui.port) return `System Manager moves to port ${next.webui.port}`;
  return aclRisk(prev, next, source);
}

interface Pending {
  previous: Config;
  reason: string;
  deadline: Date;
  actor: Actor;
  timer: NodeJS.Timeout;
}

let pending: Pending | null = null;

/** The change waiting for confirmation, if any. */
export function pendingConfirm(): { reason: string; deadline: Date; who: string } | null {
  return pending ? { reason: pending.reason, deadline: pending.deadline, who: pending.actor.who } : null;
}

/**
 * Starts (or restarts) the revert timer after a risky change was applied. A second risky change
 * before confirmation keeps the first one's `previous`: the revert goes back to the last
 * configuration known to let the administrator in.
 */
export function armConfirm(host: Host, store: Store, previous: Config, actor: Actor, reason: string, seconds = CONFIRM_SECONDS): Date {
  const keep = pending?.previous ?? previous;
  if (pending) clearTimeout(pending.timer);
  const deadline = new Date(Date.now() + seconds * 1000);
  const timer = setTimeout(() => void revert(host, store), seconds * 1000);
  pending = { previous: keep, reason, deadline, actor, timer };
  store.audit(actor, `change needs confirmation within ${seconds} s`, reason);
  log.warn('change applied with a confirm timer', { reason, who: actor.who, source: actor.source, deadline: deadline.toISOString() });
  return deadline;
}

/** Keeps the pending change. Returns false when nothing was waiting. */
export function confirmChange(store: Store, actor: Actor): boolean {
  if (!pending) return false;
  clearTimeout(pending.timer);
  store.audit(actor, 'confirm change', `kept: ${pending.reason}`);
  log.info('change confirmed', { reason: pending.reason, who: actor.who });
  pending = null;
  return true;
}

async function revert(host: Host, store: Store): Promise<void> {
  const p = pending;
  if (!p) return;
  pending = null;
  const actor: Actor = { who: p.actor.who, source: 'confirm-timer' };
  try {
    const r = await applyConfig(host, store, p.previous, actor, `revert: not confirmed (${p.reason})`);
    store.audit(actor, 'revert unconfirmed change', `ok (revision ${r.revision}): ${p.reason}`);
    log.warn('unconfirmed change reverted', { reason: p.reason, revision: r.revision });
  } catch (e) {
    store.audit(actor, 'revert unconfirmed change', `failed: ${(e as Error).message}`);
    log.error('could not revert an unconfirmed change', { reason: p.reason, error: (e as Error).message });
  }
}
