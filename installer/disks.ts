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
  children?: BlockDevice[];
}

/** All block devices, with partitions as children. */
export async function listBlockDevices(host: Host): Promise<BlockDevice[]> {
  const r = await host.proc.run('lsblk', ['--json', '--bytes', '--tree', '-o', 'NAME,PATH,TYPE,SIZE,RO,RM,TRAN,PTTYPE,FSTYPE,LABEL,MOUNTPOINTS']);
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
    children: (d.children as Record<string, unknown>[] | undefined)?.map(conv),
  });
  return (raw.blockdevices ?? []).map(conv);
}

const MIN_DISK = 6 * 2 ** 30;

/** Disks Keel could install to: whole, writable disks that are not the boot medium. */
export function candidateDisks(devs: BlockDevice[]): BlockDevice[] {
  const inUse = (d: BlockDevice): boolean => d.mountpoints.length > 0 || (d.children ?? []).some(inUse) || d.label === 'KEEL';
  return devs.filter((d) => d.type === 'disk' && !d.ro && !/^(loop|sr|zram|ram|fd)/.test(d.name) && !inUse(d) && d.size > 0);
}

/** Why a disk must not be written without an explicit wipe, or null when it is empty. */
export function notEmptyReason(d: BlockDevice): string | null {
  const parts = d.children?.filter((c) => c.type === 'part') ?? [];
  if (parts.length) return `it has a ${d.pttype ?? 'partition'} table with ${parts.length} partition${parts.length > 1 ? 's' : ''} (${parts.map((p) => `${p.name}${p.fstype ? ' ' + p.fstype : ''}${p.label ? ' "' + p.label + '"' : ''}`).join(', ')})`;
  if (d.pttype) return `it has a ${d.pttype} partition table`;
  if (d.fstype) return `it holds a ${d.fstype} file system`;
  return null;
}

export function tooSmallReason(d: BlockDevice): string | null {
  return d.size < MIN_DISK ? `it has ${(d.size / 2 ** 30).toFixed(1)} GiB; Keel needs at least ${MIN_DISK / 2 ** 30} GiB` : null;
}

/** The device path of partition `n` of a disk (sda → sda3, nvme0n1 → nvme0n1p3). */
export function partitionPath(disk: string, n: number): string {
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}
