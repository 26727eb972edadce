import path from 'node:path';
import type { Host } from '../appliance/host/index.ts';
import { Disks } from '../appliance/host/disks.ts';
import { sysinfo } from '../appliance/host/sysinfo.ts';
import { identifyPlatform, type Platform, type PlatformFacts } from '../appliance/health/platform.ts';
import { parseVirtualDrives } from '../appliance/health/storcli.ts';
import { listBlockDevices, type BlockDevice } from './disks.ts';

/** A hardware RAID virtual drive as the controller's CLI reports it. */
export interface RaidVd {
  id: string;
  raid: string;
  /** Short storcli state: Optl, Dgrd, Pdgd, OfLn, Rec. */
  state: string;
  /** The Linux disk it is (`/dev/sda`), when the CLI says. */
  osDrive: string | null;
}

/** Everything the disk rules and the preflight decide on; gathered once, before anything is written. */
export interface InstallFacts {
  devices: BlockDevice[];
  /** SCSI host number → its driver (`/sys/class/scsi_host/hostN/proc_name`): megaraid_sas, mptsas, vmw_pvscsi… */
  scsiHosts: Record<string, string>;
  /** Virtual drives from storcli/perccli; empty when no such CLI is installed. */
  raidVds: RaidVd[];
  platform: Platform;
  machine: PlatformFacts;
}

/** Reads `/sys/class/scsi_host/host*` into a host-number → driver map. */
export function readScsiHosts(sysfs: string): Record<string, string> {
  const out: Record<string, string> = {};
  const dir = path.join(sysfs, 'class/scsi_host');
  for (const h of sysinfo.list(dir)) {
    const m = /^host(\d+)$/.exec(h);
    const name = sysinfo.read(path.join(dir, h, 'proc_name'));
    if (m && name) out[m[1]] = name;
  }
  return out;
}

/** Gathers the install facts: block devices, SCSI host drivers, RAID virtual drives, platform. */
export async function gatherInstallFacts(host: Host): Promise<InstallFacts> {
  const devices = await listBlockDevices(host);
  const { platform, facts } = await identifyPlatform(host);
  const raidVds: RaidVd[] = [];
  const disks = new Disks(host);
  const cli = disks.raidCli();
  if (cli) {
    try {
      for (const v of parseVirtualDrives(await disks.storcli(cli, ['/call/vall', 'show', 'all']))) raidVds.push({ id: v.id, raid: v.raid, state: v.state, osDrive: v.osDrive });
    } catch {
      // No JSON (no controller, old CLI): the driver facts still tell virtual drives apart.
    }
  }
  return { devices, scsiHosts: readScsiHosts(host.sysfs), raidVds, platform, machine: facts };
}
