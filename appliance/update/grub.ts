/**
 * Which slot GRUB boots. Variables in the GRUB environment block (KEEL-BOOT:/grub/grubenv):
 *
 *   keel_slot    the good slot (a|b): booted when nothing is being tried
 *   keel_next    the slot holding a staged update, being tried ('' when none)
 *   keel_tries   boots of keel_next left: staging sets TRIES (3 = the first try and two retries);
 *                GRUB takes one before each boot of keel_next
 *   keel_failed  set by GRUB when keel_next ran out of tries: that slot failed, keel_slot boots again
 *
 * GRUB script has no arithmetic, so the counter is a ladder of string compares. decideBoot() is
 * the same logic in TypeScript; a unit test runs GRUB_SLOT_SCRIPT (translated to sh) against it.
 */
import type { Host } from '../host/index.ts';
import { GRUBENV_PATH } from './paths.ts';

export type Slot = 'a' | 'b';
export const TRIES = 3;
export const GRUBENV_SIZE = 1024;
const HEADER = '# GRUB Environment Block\n';

export const otherSlot = (s: Slot): Slot => (s === 'a' ? 'b' : 'a');

/** Parses a GRUB environment block (grub-editenv format: header, `name=value` lines, `#` padding). */
export function parseGrubenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).replace(/\\(.)/g, '$1');
  }
  return out;
}

/** Renders a GRUB environment block exactly as grub-editenv writes it: 1024 bytes, `#`-padded. */
export function renderGrubenv(vars: Record<string, string>): Buffer {
  const body = HEADER + Object.entries(vars).map(([k, v]) => `${k}=${v.replace(/([\\\n])/g, '\\$1')}\n`).join('');
  if (Buffer.byteLength(body) > GRUBENV_SIZE) throw new Error('GRUB environment block is full');
  return Buffer.from(body + '#'.repeat(GRUBENV_SIZE - Buffer.byteLength(body)), 'utf8');
}

export interface BootDecision {
  /** The slot GRUB boots. */
  boot: Slot;
  /** Variables GRUB writes back with save_env (null: it writes nothing). */
  saved: { keel_next: string; keel_tries: string; keel_failed: string } | null;
  kind: 'normal' | 'trial' | 'fallback';
  /** On a trial: which try this is (1..TRIES). */
  attempt?: number;
}

/** What GRUB_SLOT_SCRIPT does with an environment (pure). */
export function decideBoot(env: Record<string, string>): BootDecision {
  const good: Slot = env.keel_slot === 'b' ? 'b' : 'a';
  const next = env.keel_next ?? '';
  const failed = env.keel_failed ?? '';
  if (next === '') return { boot: good, saved: null, kind: 'normal' };
  const left = env.keel_tries ?? '';
  for (let n = TRIES; n >= 1; n--) {
    if (left === String(n)) {
      const boot: Slot = next === 'b' ? 'b' : 'a';
      return { boot, saved: { keel_next: next, keel_tries: String(n - 1), keel_failed: failed }, kind: 'trial', attempt: TRIES - n + 1 };
    }
  }
  return { boot: good, saved: { keel_next: '', keel_tries: '', keel_failed: next }, kind: 'fallback' };
}

/** The try counter: the variables GRUB writes back (on md RAID, to a member's ESP). */
export const COUNTER_VARS = ['keel_next', 'keel_tries', 'keel_failed'] as const;
export type Counter = Record<(typeof COUNTER_VARS)[number], string>;

/** The counter of an environment ('' for a variable it does not set). */
export function counterOf(env: Record<string, string | undefined>): Counter {
  return { keel_next: env.keel_next ?? '', keel_tries: env.keel_tries ?? '', keel_failed: env.keel_failed ?? '' };
}

/**
 * The try counter's environment block on each EFI system partition of an md RAID install (FAT,
 * which GRUB can write in place; it cannot write to md). Path inside the ESP.
 */
export const ESP_GRUBENV = '/keel/grubenv';
/** Label (and partition name) of the EFI system partitions. */
export const ESP_LABEL = 'KEEL-ESP';

/**
 * The GRUB script that picks the slot (goes into grub.cfg in place of the installer's
 * `load_env` … `set keel_label` lines). Sets `keel_boot` (the slot to boot) and `keel_label`.
 *
 * `md`: GRUB cannot save_env to Linux md RAID, so the counter (keel_next, keel_tries, keel_failed)
 * is read from and saved to ESP_GRUBENV on the first EFI system partition GRUB finds (each member
 * disk has one; Linux keeps them all equal); keel_slot still comes from KEEL-BOOT. Without a
 * readable ESP block it falls back to the KEEL-BOOT counter (and a save_env that fails, as before).
 */
export function grubSlotScript(opts: { md?: boolean } = {}): string {
  const ladder = [];
  for (let n = TRIES; n >= 1; n--) {
    ladder.push(`  ${n === TRIES ? 'if' : 'elif'} [ "\${keel_tries}" = "${n}" ]; then`, `    set keel_tries=${n - 1}`, '    set keel_boot="${keel_next}"');
  }
  const vars = COUNTER_VARS.join(' ');
  const esp = opts.md
    ? [
        '# md RAID: GRUB cannot write the array, so the try counter is on an ESP (FAT, written in place).',
        'set keel_esp=',
        'set keel_env=',
        `search --no-floppy --label --set=keel_esp ${ESP_LABEL}`,
        'if [ -n "${keel_esp}" ]; then',
        `  if load_env --file (\${keel_esp})${ESP_GRUBENV} ${vars}; then set keel_env="(\${keel_esp})${ESP_GRUBENV}"; fi`,
        'fi',
      ]
    : [];
  const save = opts.md
    ? ['  if [ -n "${keel_env}" ]; then', `    save_env --file "\${keel_env}" ${vars}`, '  else', `    save_env ${vars}`, '  fi']
    : [`  save_env ${vars}`];
  return [
    '# Keel slot choice: a staged slot (keel_next) gets keel_tries boots, then the good slot (keel_slot) again.',
    'load_env',
    'if [ "${keel_slot}" != "b" ]; then set keel_slot=a; fi',
    ...esp,
    'set keel_boot="${keel_slot}"',
    'if [ -n "${keel_next}" ]; then',
    ...ladder,
    '  else',
    '    set keel_failed="${keel_next}"',
    '    set keel_next=',
    '    set keel_tries=',
    '  fi',
    ...save,
    'fi',
    'if [ "${keel_boot}" != "b" ]; then set keel_boot=a; fi',
    'if [ "${keel_boot}" = "b" ]; then set keel_label=KEEL-B; else set keel_label=KEEL-A; fi',
    '',
  ].join('\n');
}

/** The GRUB environment through the host: read from the file, written with grub-editenv. */
export class GrubEnv {
  readonly host: Host;
  readonly file: string;
  constructor(host: Host, file = GRUBENV_PATH) {
    this.host = host;
    this.file = file;
  }
  read(): Record<string, string> {
    return parseGrubenv(this.host.files.readText(this.file) ?? '');
  }
  /** Sets variables ('' clears one). */
  async set(vars: Record<string, string>): Promise<void> {
    const args = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
    await this.host.proc.run('grub-editenv', [this.host.files.real(this.file), 'set', ...args]);
    // A sandbox records the command without running it: keep the file as grub-editenv would.
    if (!this.host.proc.live) this.host.files.writeAtomic(this.file, renderGrubenv({ ...this.read(), ...vars }), 0o644);
  }
}

const BOOT_VARS = ['keel_next', 'keel_tries', 'keel_failed'] as const;

/**
 * The slot variables as GRUB left them for this boot, from the kernel command line
 * (`keel.next= keel.tries= keel.failed=`, written by grub.cfg), or null when the command line does
 * not carry them (a grub.cfg from before they were added). GRUB cannot save its environment on
 * Linux md RAID (save_env refuses RAID), so on the mirrored models this is the only record of the
 * try GRUB just counted.
 */
export function grubBootView(cmdline: string): Partial<Record<(typeof BOOT_VARS)[number], string>> | null {
  const out: Partial<Record<(typeof BOOT_VARS)[number], string>> = {};
  for (const k of BOOT_VARS) {
    const m = new RegExp(`(?:^|\\s)keel\\.${k.slice(5)}=(\\S*)`).exec(cmdline);
    if (!m) return null;
    out[k] = m[1];
  }
  return out;
}

