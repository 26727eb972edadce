import type { Host } from '../host/index.ts';
import { STATE_PATH, UPDATES_DIR } from './paths.ts';
import type { Slot } from './grub.ts';

/** What one system slot holds, as far as the update machinery knows. */
export interface SlotInfo {
  version: string;
  /** good: booted and marked good; staged: written, not booted yet; failed: ran out of tries. */
  state: 'good' | 'staged' | 'failed';
  at: string;
}

/** The outcome of the last update, for the console, the login banner, System Manager and e-mail. */
export interface UpdateResult {
  outcome: 'installed' | 'rolled-back';
  version: string;
  /** The version running after it. */
  running: string;
  at: string;
  /** Why it was rolled back (sentence); for an install, how many tries it took. */
  reason: string;
  notified?: boolean;
  /** Set when an administrator has seen it (the banner stops showing it). */
  acknowledged?: boolean;
}

/** The update state: /var/lib/keel/updates/state.json on the data partition (both slots see it). */
export interface UpdateState {
  downloaded?: { version: string; file: string; size: number; sha256: string; notes: string; at: string };
  staged?: { version: string; slot: Slot; fromVersion: string; fromSlot: Slot; at: string };
  /** A staged slot is being booted: one entry per try, with the reason it failed when known. */
  trial?: { version: string; slot: Slot; fromVersion: string; fromSlot: Slot; attempts: { try: number; at: string; failed?: string }[] };
  slots?: Partial<Record<Slot, SlotInfo>>;
  lastResult?: UpdateResult;
}

export function readState(host: Host): UpdateState {
  const t = host.files.readText(STATE_PATH);
  if (!t) return {};
  try {
    return JSON.parse(t) as UpdateState;
  } catch {
    // A torn file must not stop the appliance booting; the slots and GRUB hold the truth.
    return {};
  }
}

export function writeState(host: Host, s: UpdateState): void {
  host.files.mkdirp(UPDATES_DIR, 0o700);
  host.files.writeAtomic(STATE_PATH, JSON.stringify(s, null, 1) + '\n', 0o600);
}

/** Reads, changes and writes the state; returns the new state. */
export function updateState(host: Host, change: (s: UpdateState) => void): UpdateState {
  const s = readState(host);
  change(s);
  writeState(host, s);
  return s;
}
