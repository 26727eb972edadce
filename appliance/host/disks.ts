import path from 'node:path';
import type { Host } from './index.ts';
import type { RunResult } from './processes.ts';
import { sysinfo } from './sysinfo.ts';

/** Where the MegaRAID family CLIs install themselves (Broadcom storcli, Dell perccli). */
export const RAID_CLIS = ['/opt/MegaRAID/storcli/storcli64', '/opt/MegaRAID/perccli/perccli64', '/usr/sbin/storcli64', '/usr/sbin/perccli64', '/usr/local/sbin/storcli64', '/usr/sbin/storcli', '/usr/bin/storcli64'];

/** Disks adapter: md, SMART, the hardware RAID CLI and fio, all through the host's processes. */
export class Disks {
  readonly host: Host;
  constructor(host: Host) {
    this.host = host;
  }
  /** /proc/mdstat, or null when the kernel has no md support. */
  mdstat(procfs: string): string | null {
    return sysinfo.read(path.join(procfs, 'mdstat'));
  }
  async mdadmDetail(dev: string): Promise<string> {
    return (await this.host.proc.run('mdadm', ['--detail', dev], { timeoutMs: 10000 })).stdout;
  }
  /** `mdadm ARGS` (tests fail and re-add members with it). */
  mdadm(args: string[], opts: { allowFail?: boolean } = {}): Promise<RunResult> {
    return this.host.proc.run('mdadm', args, { timeoutMs: 30000, allowFail: opts.allowFail });
  }
  /** `smartctl --json -a DEV [-d TYPE]`; smartctl's exit code is a bit mask, so it never throws on it. */
  async smartctl(dev: string, type?: string): Promise<string> {
    const args = ['--json', '-a', ...(type ? ['-d', type] : []), dev];
    return (await this.host.proc.run('smartctl', args, { allowFail: true, timeoutMs: 30000 })).stdout;
  }
  /** `smartctl --scan-open --json`: the disks smartctl can reach, with their -d types. */
  async smartScan(): Promise<string> {
    return (await this.host.proc.run('smartctl', ['--scan-open', '--json'], { allowFail: true, timeoutMs: 30000 })).stdout;
  }
  /** The installed storcli/perccli binary, or null. */
  raidCli(): string | null {
    return RAID_CLIS.find((p) => sysinfo.exists(this.host.files.real(p))) ?? null;
  }
  /** `storcli ARGS J` (JSON output). */
  async storcli(cli: string, args: string[]): Promise<string> {
    return (await this.host.proc.run(cli, [...args, 'J'], { allowFail: true, timeoutMs: 60000 })).stdout;
  }
  /** `fio ARGS --output-format=json`. */
  async fio(args: string[], timeoutMs: number): Promise<string> {
    return (await this.host.proc.run('fio', [...args, '--output-format=json'], { timeoutMs })).stdout;
  }
}
