import { grubSlotScript } from '../appliance/update/grub.ts';

/** One GPT partition of a Keel layout. */
export interface Partition {
  readonly n: number;
  readonly name: string;
  /** sfdisk size; null: the rest of the disk. */
  readonly size: string | null;
  readonly type: string;
  readonly mkfs: readonly string[] | null;
}

const LINUX_RAID = 'A19D880F-05FC-4D3B-A006-743F0F84911E';

/**
 * The installed disk: GPT with a BIOS boot partition, an EFI system partition, a boot partition
 * (GRUB and its environment), two system slots A and B (the update mechanism uses B), and data.
 */
export const PARTITIONS = [
  { n: 1, name: 'bios', size: '1MiB', type: '21686148-6449-6E6F-744E-656564454649', mkfs: null },
  { n: 2, name: 'KEEL-ESP', size: '100MiB', type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', mkfs: ['mkfs.vfat', '-F', '32', '-n', 'KEEL-ESP'] },
  { n: 3, name: 'KEEL-BOOT', size: '256MiB', type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', mkfs: ['mkfs.ext4', '-q', '-F', '-L', 'KEEL-BOOT'] },
  { n: 4, name: 'KEEL-A', size: '1536MiB', type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', mkfs: ['mkfs.ext4', '-q', '-F', '-L', 'KEEL-A'] },
  { n: 5, name: 'KEEL-B', size: '1536MiB', type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', mkfs: ['mkfs.ext4', '-q', '-F', '-L', 'KEEL-B'] },
  { n: 6, name: 'KEEL-DATA', size: null, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', mkfs: ['mkfs.ext4', '-q', '-F', '-L', 'KEEL-DATA'] },
] as const satisfies readonly Partition[];

/**
 * Each member disk of a Linux md array: its own BIOS boot partition and EFI system partition (so
 * GRUB is on every member and either disk boots alone), and one RAID partition for the array.
 */
export const MEMBER_PARTITIONS: readonly Partition[] = [
  PARTITIONS[0],
  PARTITIONS[1],
  { n: 3, name: 'KEEL-RAID', size: null, type: LINUX_RAID, mkfs: null },
];

/** The GPT inside the md array: boot, slots A and B, data (found by label, like on a single disk). */
export const MD_PARTITIONS: readonly Partition[] = PARTITIONS.slice(2).map((p, i) => ({ ...p, n: i + 1 }));

/** sfdisk script for a layout (pure); the single-disk layout by default. */
export function sfdiskScript(parts: readonly Partition[] = PARTITIONS): string {
  return (
    'label: gpt\n' +
    parts.map((p) => `${p.size ? `size=${p.size}, ` : ''}type=${p.type}, name="${p.name}"`).join('\n') +
    '\n'
  );
}

/**
 * GRUB configuration of the installed disk: the slot comes from grubenv (`keel_slot`). On md
 * RAID GRUB reads the array itself (mdraid1x), so a lone member still finds its slots.
 */
export function grubConfig(opts: { md?: boolean } = {}): string {
  return `# Keel boot configuration — written by the installer.
insmod part_gpt
${opts.md ? 'insmod mdraid1x\n' : ''}insmod ext2
insmod all_video
if serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1; then
  terminal_input serial console
  terminal_output serial console
fi
set timeout=1
set default=0
${grubSlotScript({ md: opts.md })}search --no-floppy --label --set=sysroot \${keel_label}
# The slot's dm-verity root hashes (appliance/update/verity.ts): only this variable is read.
set keel_verity=
load_env --file (\${sysroot})/live/keel-verity.env keel_verity
# nonetworking: live-boot would trigger udev again and wait for it to settle, only to write an
# /etc/network/interfaces that systemd-networkd never reads (seconds of every boot under emulation).
menuentry "Keel (slot \${keel_boot})" {
  linux (\${sysroot})/live/vmlinuz boot=live dm-verity-root-hash=\${keel_verity} live-media=/dev/disk/by-label/\${keel_label} live-media-path=/live nonetworking keel.slot=\${keel_boot} keel.next=\${keel_next} keel.tries=\${keel_tries} keel.failed=\${keel_failed} panic=10 quiet loglevel=3 systemd.show_status=error console=tty0 console=ttyS0,115200n8
  initrd (\${sysroot})/live/initrd.img
}
`;
}
