import type { Host } from '../appliance/host/index.ts';

/** A block device as lsblk reports it. */
export interface BlockDevice {
  name: string;
  path: string;
  type: string;
  size: number;
  ro: boolean;
  rm: boolean;
  tran: string | null;
  pttype: string | null;
  fstype: string | null;
  label: string | null;
  mountpoints: (string | null)[];
  /** Vendor and model strings (a RAID virtual drive shows the controller's, e.g. AVAGO MR9361-8i). */
  vendor?: string | null;
  model?: string | null;
  /** SCSI address host:channel:target:lun, null for virtio and NVMe disks. */
  hctl?: string | null;
  children?: BlockDevice[];
}

/** All block devices, with partitions as children. */
export async function listBlockDevices(host: Host): Promise<BlockDevice[]> {
  const r = await host.proc.run('lsblk', ['--json', '--bytes', '--tree', '-o', 'NAME,PATH,TYPE,SIZE,RO,RM,TRAN,PTTYPE,FSTYPE,LABEL,MOUNTPOINTS,VENDOR,MODEL,HCTL']);
  return parseLsblk(r.stdout);
}

/** Parses `lsblk --json` output (kept pure for tests). */
export function parseLsblk(json: string): BlockDevice[] {
  const raw = JSON.parse(json) as { blockdevices: Record<string, unknown>[] };
  const conv = (d: Record<string, unknown>): BlockDevice => ({
    name: String(d.name),
    path: String(d.path ?? `/dev/${d.name}`),
    type: String(d.type),
    size: Number(d.size),
    ro: d.ro === true || d.ro === '1',
    rm: d.rm === true || d.rm === '1',
    tran: (d.tran as string | null) ?? null,
    pttype: (d.pttype as string | null) ?? null,
    fstype: (d.fstype as string | null) ?? null,
    label: (d.label as string | null) ?? null,
    mountpoints: ((d.mountpoints as (string | null)[] | undefined) ?? []).filter((m) => m !== null),
    vendor: typeof d.vendor === 'string' ? d.vendor.trim() : null,
    model: typeof d.model === 'string' ? d.model.trim() : null,
    hctl: typeof d.hctl === 'string' ? d.hctl : null,
    children: (d.children as Record<string, unknown>[] | undefined)?.map(conv),
  });
  return (raw.blockdevices ?? []).map(conv);
}

const MIN_DISK = 6 * 2 ** 30;

/** Volume label of the Keel ISO (DVD, virtual media, or the USB stick it was written to). */
export const BOOT_LABEL = 'KEEL';
/** Volume label of the zero-touch answers medium (second disk, ISO or stick). */
export const SEED_LABEL = 'KEEL-SEED';

/** The device and all its partitions and holders (md arrays), depth first. */
export function walk(d: BlockDevice): BlockDevice[] {
  return [d, ...(d.children ?? []).flatMap(walk)];
}

/** True when the device or anything on it carries the label (a hybrid ISO stick labels the disk and its first partition). */
export function hasLabel(d: BlockDevice, label: string): boolean {
  return walk(d).some((x) => x.label === label);
}

/** Why a device is not a disk Keel could install to, or null when it is one. */
export function notCandidateReason(d: BlockDevice): string | null {
  const inUse = (x: BlockDevice): boolean => x.mountpoints.length > 0 || (x.children ?? []).some(inUse);
  if (/^(loop|zram|ram|fd)/.test(d.name)) return 'not a disk';
  if (hasLabel(d, BOOT_LABEL)) return 'the boot medium';
  if (hasLabel(d, SEED_LABEL)) return 'the seed medium';
  if (d.type !== 'disk' || /^sr/.test(d.name)) return d.type === 'rom' || /^sr/.test(d.name) ? 'an optical drive' : `a ${d.type}`;
  if (d.ro) return 'read-only';
  if (d.size <= 0) return 'no medium';
  if (inUse(d)) return 'in use (mounted)';
  return null;
}

/** Disks Keel could install to: whole, writable disks that are not the boot medium, the seed medium, or in use. */
export function candidateDisks(devs: BlockDevice[]): BlockDevice[] {
  return devs.filter((d) => notCandidateReason(d) === null);
}

/** "sr0: the boot medium, sda: in use (mounted)": what was seen, for the message when no disk is found. */
export function seenDevices(devs: BlockDevice[]): string {
  const seen = devs.filter((d) => !/^(loop|zram|ram)/.test(d.name)).map((d) => `${d.name}: ${notCandidateReason(d) ?? (isUsb(d) ? 'USB or removable' : 'a disk')}`);
  return seen.length ? seen.join(', ') : 'no block devices at all (is the disk controller supported?)';
}

/** A USB or removable-media disk (never a hardware install target). */
export function isUsb(d: BlockDevice): boolean {
  return d.tran === 'usb' || d.rm;
}

/** The top-level device that carries a label (the KEEL boot medium, the KEEL-SEED medium), with the labelled node. */
export function findLabelled(devs: BlockDevice[], label: string): { device: BlockDevice; node: BlockDevice } | null {
  for (const d of devs) {
    const node = walk(d).find((x) => x.label === label);
    if (node) return { device: d, node };
  }
  return null;
}

/** md arrays assembled from a disk's partitions (a previous install the live system found and started). */
export function mdArraysOn(d: BlockDevice): string[] {
  return [...new Set(walk(d).filter((x) => /^raid|^md$/.test(x.type) || (/^md\d+$/.test(x.name) && x !== d)).map((x) => x.path))];
}

/** Why a disk must not be written without an explicit wipe, or null when it is empty. */
export function notEmptyReason(d: BlockDevice): string | null {
  const parts = d.children?.filter((c) => c.type === 'part') ?? [];
  if (parts.length) return `it has a ${d.pttype ?? 'partition'} table with ${parts.length} partition${parts.length > 1 ? 's' : ''} (${parts.map((p) => `${p.name}${p.fstype ? ' ' + p.fstype : ''}${p.label ? ' "' + p.label + '"' : ''}`).join(', ')})`;
  if (d.pttype) return `it has a ${d.pttype} partition table`;
  if (d.fstype) return `it holds a ${d.fstype} file system`;
  return null;
}

/** Why a disk is too small for Keel, or null. */
export function tooSmallReason(d: BlockDevice): string | null {
  return d.size < MIN_DISK ? `it has ${(d.size / 2 ** 30).toFixed(1)} GiB; Keel needs at least ${MIN_DISK / 2 ** 30} GiB` : null;
}

/** The device path of partition `n` of a disk (sda → sda3, nvme0n1 → nvme0n1p3). */
export function partitionPath(disk: string, n: number): string {
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}
