/**
 * Which slot GRUB boots. Variables in the GRUB environment block (KEEL-BOOT:/grub/grubenv):
 *
 *   keel_slot    the good slot (a|b): booted when nothing is being tried
 *   keel_next    the slot holding a staged update, being tried ('' when none)
 *   keel_tries   boots of keel_next left: staging sets TRIES (3 = the first try and two retries);
 *                GRUB takes one before each boot of keel_next
 *   keel_failed  set by GRUB when keel_next ran out of tries: that slot failed, keel_slot boots again
 *
 * On Linux md RAID the counter (keel_next, keel_tries, keel_failed) is also in ESP_GRUBENV on
 * each member's EFI system partition, where GRUB reads and saves it (it cannot write the array).
 *
 * GRUB script has no arithmetic, so the counter is a ladder of string compares. decideBoot() is
 * the same logic in TypeScript; a unit test runs grubSlotScript() (translated to sh) against it.
 */
import path from 'node:path';
import type { Host } from '../host/index.ts';
import { log } from '../log.ts';
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

/** True when two counters are the same. */
export function sameCounter(a: Counter, b: Counter): boolean {
  return COUNTER_VARS.every((k) => a[k] === b[k]);
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

/** A member ESP's try counter as Linux found it. */
export interface EspCounter {
  device: string;
  counter: Counter;
}

interface LsblkNode {
  name?: string;
  path?: string;
  type?: string;
  partlabel?: string | null;
  children?: LsblkNode[];
}

/**
 * The member ESPs of the md array holding KEEL-BOOT, from `lsblk --json --tree` (pure): each disk
 * under which the array appears contributes its partitions named KEEL-ESP, in lsblk's order.
 * `array` is null when KEEL-BOOT is not on md RAID (a single disk, a hardware RAID drive).
 */
export function memberEspsOf(lsblkJson: string): { array: string | null; devices: string[] } {
  let top: LsblkNode[] = [];
  try {
    top = (JSON.parse(lsblkJson) as { blockdevices?: LsblkNode[] }).blockdevices ?? [];
  } catch {
    return { array: null, devices: [] };
  }
  const bootArray = (n: LsblkNode): string | null => {
    if (n.type?.startsWith('raid') && n.children?.some((c) => c.partlabel === 'KEEL-BOOT')) return n.path ?? `/dev/${n.name}`;
    for (const c of n.children ?? []) {
      const a = bootArray(c);
      if (a) return a;
    }
    return null;
  };
  let array: string | null = null;
  const devices: string[] = [];
  for (const disk of top) {
    const a = bootArray(disk);
    if (!a) continue;
    array ??= a;
    for (const p of disk.children ?? []) if (p.partlabel === ESP_LABEL && p.type === 'part') devices.push(p.path ?? `/dev/${p.name}`);
  }
  return { array, devices };
}

/** Members the array should have, from /proc/mdstat (`[2/1]`: two, one present), or null. */
export function mdMembersExpected(mdstat: string, array: string): number | null {
  const name = array.replace(/^\/dev\//, '');
  const lines = mdstat.split('\n');
  const i = lines.findIndex((l) => l.startsWith(`${name} :`));
  if (i < 0) return null;
  const m = /\[(\d+)\/(\d+)\]/.exec(lines.slice(i, i + 3).join(' '));
  return m ? Number(m[1]) : null;
}

/** Where a member ESP is mounted while its block is read or written (private to root). */
export const ESP_MOUNT_DIR = '/run/keel/esp';

/**
 * The GRUB environment through the host: read from the file, written with grub-editenv.
 *
 * On md RAID the try counter also lives in ESP_GRUBENV on every member's ESP (GRUB reads and
 * saves it there, see grubSlotScript): `set` writes the KEEL-BOOT block and then the counter to
 * every member ESP present, so all copies agree; `espCounters` reads them (the boot check). The
 * ESPs are not mounted in the running system: each is mounted read-write (nodev, nosuid, noexec)
 * at ESP_MOUNT_DIR/<partition> for the write and unmounted again. That needs root and mount
 * rights: keel-boot (boot check), the applier (stage, unstage) and keel update confirm (mark good).
 */
export class GrubEnv {
  readonly host: Host;
  readonly file: string;
  private members: Promise<{ array: string | null; devices: string[] }> | null = null;
  constructor(host: Host, file = GRUBENV_PATH) {
    this.host = host;
    this.file = file;
  }
  /** The KEEL-BOOT block (after the boot check, the member ESPs hold the same counter). */
  read(): Record<string, string> {
    return parseGrubenv(this.host.files.readText(this.file) ?? '');
  }
  /** Sets variables ('' clears one); on md RAID the resulting counter goes to every member ESP too. */
  async set(vars: Record<string, string>): Promise<void> {
    await this.editenv(this.file, vars);
    const { array, devices } = await this.memberEsps();
    if (!array) return;
    const counter = counterOf(this.read());
    let written = 0;
    for (const device of devices) {
      try {
        await this.withEsp(device, (dir) => this.editenv(`${dir}${ESP_GRUBENV}`, counter));
        written++;
      } catch (e) {
        log.warn('software update: the try counter could not be written to an ESP; GRUB may count from an older copy there', { device, error: (e as Error).message });
      }
    }
    this.warnMissing(array, written, 'written');
  }
  /**
   * On md RAID: the try counter of each member ESP present (null: not on md). A block that is
   * missing (a system installed before the ESPs held one) is created from the KEEL-BOOT counter
   * first. An ESP that cannot be read is left out and logged; this never throws for one.
   */
  async espCounters(): Promise<EspCounter[] | null> {
    const { array, devices } = await this.memberEsps();
    if (!array) return null;
    const out: EspCounter[] = [];
    for (const device of devices) {
      try {
        const counter = await this.withEsp(device, async (dir) => {
          const file = `${dir}${ESP_GRUBENV}`;
          if (!this.host.files.exists(file)) {
            const from = counterOf(this.read());
            await this.editenv(file, from);
            log.warn('software update: this ESP had no try counter (installed before GRUB counted on the ESPs); created it from the KEEL-BOOT environment', { device, counter: JSON.stringify(from) });
          }
          return counterOf(parseGrubenv(this.host.files.readText(file) ?? ''));
        });
        out.push({ device, counter });
      } catch (e) {
        log.warn('software update: the try counter on an ESP could not be read', { device, error: (e as Error).message });
      }
    }
    this.warnMissing(array, out.length, 'read');
    return out;
  }
  private warnMissing(array: string, done: number, what: string): void {
    const expected = mdMembersExpected(this.host.files.readText('/proc/mdstat') ?? '', array);
    if (expected !== null && done < expected) log.warn(`software update: try counter ${what} on ${done} of ${expected} member ESPs (a member is missing or failed); a returning member's ESP is brought up to date at the next boot check`, { array });
  }
  /** The md array holding KEEL-BOOT and its members' ESPs (found once; no lsblk without an md array). */
  private memberEsps(): Promise<{ array: string | null; devices: string[] }> {
    this.members ??= (async () => {
      if (!/^md\S* : active/m.test(this.host.files.readText('/proc/mdstat') ?? '')) return { array: null, devices: [] };
      const r = await this.host.proc.run('lsblk', ['--json', '--tree', '-o', 'NAME,PATH,TYPE,PARTLABEL'], { allowFail: true, timeoutMs: 10_000 });
      return memberEspsOf(r.stdout);
    })();
    return this.members;
  }
  /** Mounts an ESP at its private directory (appliance path) while fn runs. */
  private async withEsp<T>(device: string, fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = `${ESP_MOUNT_DIR}/${path.posix.basename(device)}`;
    this.host.files.mkdirp(ESP_MOUNT_DIR, 0o700);
    this.host.files.mkdirp(dir, 0o700);
    const real = this.host.files.real(dir);
    await this.host.proc.run('mount', ['-t', 'vfat', '-o', 'rw,nodev,nosuid,noexec', device, real], { timeoutMs: 30_000 });
    try {
      return await fn(dir);
    } finally {
      await this.host.proc.run('umount', [real], { allowFail: true, timeoutMs: 30_000 });
    }
  }
  /** grub-editenv FILE set …; a sandbox records the command and keeps the file as grub-editenv would. */
  private async editenv(file: string, vars: Record<string, string>): Promise<void> {
    this.host.files.mkdirp(path.posix.dirname(file));
    const args = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
    await this.host.proc.run('grub-editenv', [this.host.files.real(file), 'set', ...args]);
    if (!this.host.proc.live) this.host.files.writeAtomic(file, renderGrubenv({ ...parseGrubenv(this.host.files.readText(file) ?? ''), ...vars }), 0o644);
  }
}

/**
 * How many GRUB boots lead from counter `from` to `to` (decideBoot's steps, at least one), or
 * null when none does: GRUB may have counted several boots on an ESP that never reached Linux
 * (a kernel panic, a slot the initramfs refused) before this one.
 */
export function grubStepsTo(from: Counter, to: Counter): number | null {
  let env: Record<string, string> = { ...from };
  for (let n = 1; n <= TRIES + 1; n++) {
    const d = decideBoot(env);
    if (!d.saved) return null;
    env = { ...env, ...d.saved };
    if (sameCounter(counterOf(env), to)) return n;
  }
  return null;
}

/**
 * The slot variables as GRUB left them for this boot, from the kernel command line
 * (`keel.next= keel.tries= keel.failed=`, written by grub.cfg), or null when the command line does
 * not carry them (a grub.cfg from before they were added): the record of this boot's decision.
 * GRUB cannot save_env to Linux md RAID; on the mirrored models it saves the counter to a member
 * ESP instead (grubSlotScript({ md: true })), and the boot check uses this view to bring
 * KEEL-BOOT and the other ESPs to the same count. A grub.cfg from before the ESP blocks does not
 * save at all there, and this view is the only record of the try GRUB just counted.
 */
export function grubBootView(cmdline: string): Partial<Record<(typeof COUNTER_VARS)[number], string>> | null {
  const out: Partial<Record<(typeof COUNTER_VARS)[number], string>> = {};
  for (const k of COUNTER_VARS) {
    const m = new RegExp(`(?:^|\\s)keel\\.${k.slice(5)}=(\\S*)`).exec(cmdline);
    if (!m) return null;
    out[k] = m[1];
  }
  return out;
}

