import path from 'node:path';
import type { Host } from '../appliance/host/index.ts';
import { COUNTER_VARS, ESP_GRUBENV } from '../appliance/update/grub.ts';
import { partitionPath } from './disks.ts';
import { MD_PARTITIONS, MEMBER_PARTITIONS, PARTITIONS, sfdiskScript } from './layout.ts';
import type { InstallPlan, Target } from './plan.ts';

/** One OS command of an install step. */
export interface Command {
  cmd: string;
  args: string[];
  input?: string;
  /** Failure is expected and harmless (stopping an array that is already gone). */
  allowFail?: boolean;
}

/** A named install step: what the console shows and the log records. */
export interface Step {
  name: string;
  commands: Command[];
}

/** The file systems of an installed target, by role. */
export interface Volumes {
  boot: string;
  slotA: string;
  slotB: string;
  data: string;
  /** Every EFI system partition (one per md member). */
  esps: string[];
  /** Disks that get GRUB in their boot sector (every md member). */
  biosDisks: string[];
}

const byName = (parts: readonly { n: number; name: string }[], name: string): number => parts.find((p) => p.name === name)!.n;

/** Where each file system of a target lives (pure). */
export function volumesOf(t: Target): Volumes {
  if (t.kind === 'disk') {
    const p = (name: string) => partitionPath(t.disk.path, byName(PARTITIONS, name));
    return { boot: p('KEEL-BOOT'), slotA: p('KEEL-A'), slotB: p('KEEL-B'), data: p('KEEL-DATA'), esps: [p('KEEL-ESP')], biosDisks: [t.disk.path] };
  }
  const p = (name: string) => partitionPath(t.device, byName(MD_PARTITIONS, name));
  return {
    boot: p('KEEL-BOOT'),
    slotA: p('KEEL-A'),
    slotB: p('KEEL-B'),
    data: p('KEEL-DATA'),
    esps: t.members.map((m) => partitionPath(m.path, byName(MEMBER_PARTITIONS, 'KEEL-ESP'))),
    biosDisks: t.members.map((m) => m.path),
  };
}

const settle: Command = { cmd: 'udevadm', args: ['settle', '--timeout=30'], allowFail: true };
/** Tells the kernel about new partitions where the re-read of sfdisk is not enough (loop devices, a busy disk). */
const partx = (dev: string): Command => ({ cmd: 'partx', args: ['--update', dev], allowFail: true });

/**
 * The disk steps of a plan, in order (pure): release arrays of a previous install, wipe,
 * partition, create the md array and its partitions, make the file systems. Nothing here makes
 * the disks bootable; the bootloader is written last, after the system is copied.
 */
export function storageSteps(plan: InstallPlan): Step[] {
  const t = plan.target;
  const steps: Step[] = [];
  const disks = t.kind === 'md' ? t.members.map((m) => m.path) : [t.disk.path];
  const wipe: Command[] = plan.release.map((md) => ({ cmd: 'mdadm', args: ['--stop', md], allowFail: true }));
  // Old members keep their superblocks; a stale one would be assembled again at the next boot.
  for (const m of plan.staleMembers) wipe.push({ cmd: 'mdadm', args: ['--zero-superblock', '--force', m], allowFail: true });
  for (const d of disks) wipe.push({ cmd: 'wipefs', args: ['--all', '--force', d] });
  steps.push({ name: 'wipe', commands: wipe });
  const layout = t.kind === 'md' ? MEMBER_PARTITIONS : PARTITIONS;
  steps.push({
    name: 'partition',
    commands: [...disks.flatMap((d) => [{ cmd: 'sfdisk', args: ['--quiet', '--wipe', 'always', '--wipe-partitions', 'always', d], input: sfdiskScript(layout) }, partx(d)]), settle],
  });
  if (t.kind === 'md') {
    const members = t.members.map((m) => partitionPath(m.path, byName(MEMBER_PARTITIONS, 'KEEL-RAID')));
    steps.push({
      name: 'raid',
      commands: [
        ...members.map((m) => ({ cmd: 'wipefs', args: ['--all', '--force', m] })),
        {
          cmd: 'mdadm',
          // homehost "any": the array keeps its name on the installed system, whatever its hostname.
          args: ['--create', t.device, '--run', '--metadata=1.2', `--level=${t.level === 'raid10' ? '10' : '1'}`, `--raid-devices=${members.length}`, '--name=keel', '--homehost=any', '--bitmap=internal', ...members],
        },
        settle,
        { cmd: 'sfdisk', args: ['--quiet', '--wipe', 'always', '--wipe-partitions', 'always', t.device], input: sfdiskScript(MD_PARTITIONS) },
        partx(t.device),
        settle,
      ],
    });
  }
  const v = volumesOf(t);
  const mkfs = (name: string) => PARTITIONS.find((p) => p.name === name)!.mkfs!;
  const fs: Command[] = [];
  for (const esp of v.esps) fs.push({ cmd: mkfs('KEEL-ESP')[0], args: [...mkfs('KEEL-ESP').slice(1), esp] });
  for (const [name, dev] of [['KEEL-BOOT', v.boot], ['KEEL-A', v.slotA], ['KEEL-B', v.slotB], ['KEEL-DATA', v.data]] as const) fs.push({ cmd: mkfs(name)[0], args: [...mkfs(name).slice(1), dev] });
  steps.push({ name: 'filesystems', commands: fs });
  return steps;
}

/**
 * GRUB for BIOS on every disk (each md member gets its own boot sector and BIOS boot partition)
 * and for UEFI on every EFI system partition, all with the one /boot (pure). `mnt` holds
 * `boot` (mounted) and `efi` (each ESP is mounted there in turn). On md RAID each ESP also gets
 * the try counter's environment block (ESP_GRUBENV, empty counter): GRUB saves the counter there,
 * since it cannot write to the array, and its save_env only rewrites a block that exists.
 */
export function bootloaderCommands(t: Target, mnt: string): Command[] {
  const v = volumesOf(t);
  const out: Command[] = v.biosDisks.map((d) => ({ cmd: 'grub-install', args: ['--target=i386-pc', `--boot-directory=${mnt}/boot`, d] }));
  const env = `${mnt}/efi${ESP_GRUBENV}`;
  for (const esp of v.esps) {
    out.push({ cmd: 'mount', args: ['-t', 'vfat', esp, `${mnt}/efi`] });
    out.push({ cmd: 'grub-install', args: ['--target=x86_64-efi', `--efi-directory=${mnt}/efi`, `--boot-directory=${mnt}/boot`, '--removable', '--no-nvram'] });
    if (t.kind === 'md') {
      out.push({ cmd: 'mkdir', args: ['-p', path.posix.dirname(env)] });
      out.push({ cmd: 'grub-editenv', args: [env, 'create'] });
      out.push({ cmd: 'grub-editenv', args: [env, 'set', ...COUNTER_VARS.map((k) => `${k}=`)] });
    }
    out.push({ cmd: 'umount', args: [`${mnt}/efi`] });
  }
  return out;
}

/**
 * Runs the disk steps of a plan through the host's processes adapter. `timed` wraps each step (the
 * console shows it and a failure names it); `onCommand` sees each command before it runs (the
 * install log records them).
 */
export async function runStorageSteps(
  host: Host,
  plan: InstallPlan,
  timed: (name: string, fn: () => Promise<void>) => Promise<void>,
  onCommand: (c: Command) => void | Promise<void> = () => {},
): Promise<void> {
  for (const s of storageSteps(plan)) {
    await timed(s.name, async () => {
      for (const c of s.commands) {
        await onCommand(c);
        await host.proc.run(c.cmd, c.args, { input: c.input, allowFail: c.allowFail });
      }
    });
  }
}
