/**
 * A sandbox appliance installed on md RAID1 (two member disks, each with its KEEL-ESP): the
 * /proc/mdstat of the array and the `lsblk --json --tree` answer the sandbox's processes give.
 * The ESP of member `sdX2` is the sandbox directory /run/keel/esp/sdX2 (where it is mounted).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Host } from '../../appliance/host/index.ts';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';
import { parseGrubenv, renderGrubenv } from '../../appliance/update/grub.ts';

/** `lsblk --json --tree -o NAME,PATH,TYPE,PARTLABEL` of an installed md RAID1 with these members present. */
export function mdLsblk(members: string[]): string {
  const md = { name: 'md127', path: '/dev/md127', type: 'raid1', partlabel: null, children: ['KEEL-BOOT', 'KEEL-A', 'KEEL-B', 'KEEL-DATA'].map((l, i) => ({ name: `md127p${i + 1}`, path: `/dev/md127p${i + 1}`, type: 'part', partlabel: l })) };
  return JSON.stringify({
    blockdevices: [
      { name: 'sr0', path: '/dev/sr0', type: 'rom', partlabel: null },
      ...members.map((d) => ({
        name: d,
        path: `/dev/${d}`,
        type: 'disk',
        partlabel: null,
        children: [
          { name: `${d}1`, path: `/dev/${d}1`, type: 'part', partlabel: 'bios' },
          { name: `${d}2`, path: `/dev/${d}2`, type: 'part', partlabel: 'KEEL-ESP' },
          { name: `${d}3`, path: `/dev/${d}3`, type: 'part', partlabel: 'KEEL-RAID', children: [md] },
        ],
      })),
    ],
  });
}

/** Makes the sandbox host an md RAID1 install of sda and sdb, `present` of them there. */
export function asMdInstall(host: Host, present = ['sda', 'sdb']): void {
  const map = present.length === 2 ? '[2/2] [UU]' : '[2/1] [U_]';
  host.files.writeAtomic('/proc/mdstat', `Personalities : [raid1]\nmd127 : active raid1 ${present.map((d, i) => `${d}3[${i}]`).join(' ')}\n      4190208 blocks super 1.2 ${map}\n      bitmap: 0/1 pages [0KB], 65536KB chunk\n\nunused devices: <none>\n`);
  (host.proc as SandboxProcesses).failures.set('lsblk --json --tree', { code: 0, stdout: mdLsblk(present), stderr: '' });
}

/** The ESP block of a member partition (null: none), as GRUB would read it. */
export function espEnv(host: Host, part: string): Record<string, string> | null {
  const f = path.join(host.root, 'run/keel/esp', part, 'keel/grubenv');
  return fs.existsSync(f) ? parseGrubenv(fs.readFileSync(f, 'utf8')) : null;
}

/** Writes an ESP block as GRUB's save_env (or a stale member) would leave it. */
export function writeEspEnv(host: Host, part: string, vars: Record<string, string>): void {
  host.files.writeAtomic(`/run/keel/esp/${part}/keel/grubenv`, renderGrubenv(vars));
}
