import path from 'node:path';
import type { Host } from './index.ts';
import type { RunResult } from './processes.ts';
import { sysinfo } from './sysinfo.ts';
import { runRandomIo, type RandomIoRequest, type RandomIoResult } from './random-io.ts';
import { ValidationError, type FieldProblem } from '../errors.ts';

/** Where the MegaRAID family CLIs install themselves (Broadcom storcli, Dell perccli). */
export const RAID_CLIS = ['/opt/MegaRAID/storcli/storcli64', '/opt/MegaRAID/perccli/perccli64', '/usr/sbin/storcli64', '/usr/sbin/perccli64', '/usr/local/sbin/storcli64', '/usr/sbin/storcli', '/usr/bin/storcli64'];

/** Disks adapter: md, SMART and the hardware RAID CLI through the host's processes, and the built-in random I/O tester. */
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
  /**
   * Random reads or writes on a real file or block device (path as seen by this process), timed
   * per operation: the storage test, without fio (not in the image: it pulls in librados and
   * python3). Not run in a sandbox, whose commands are only recorded: it would load the real disk.
   */
  randomIo(r: RandomIoRequest): Promise<RandomIoResult> {
    const problems: FieldProblem[] = [];
    const int = (field: keyof RandomIoRequest, v: number, min: number, max: number) => {
      if (!Number.isInteger(v) || v < min || v > max) problems.push({ field, rule: 'range', message: `${field} must be an integer from ${min} to ${max} (got ${v})` });
    };
    int('blockSize', r.blockSize, 512, 16 << 20);
    if (r.blockSize % 512) problems.push({ field: 'blockSize', rule: 'multiple-of-512', message: `blockSize must be a multiple of 512 bytes for O_DIRECT (got ${r.blockSize})` });
    int('depth', r.depth, 1, 64);
    int('sizeBytes', r.sizeBytes, r.blockSize, Number.MAX_SAFE_INTEGER);
    if (!(r.seconds > 0 && r.seconds <= 3600)) problems.push({ field: 'seconds', rule: 'range', message: `seconds must be more than 0 and at most 3600 (got ${r.seconds})` });
    if (r.mode !== 'read' && r.mode !== 'write') problems.push({ field: 'mode', rule: 'enum', message: `mode must be read or write (got ${String(r.mode)})` });
    if (!path.isAbsolute(r.file)) problems.push({ field: 'file', rule: 'absolute', message: `file must be an absolute path (got ${r.file})` });
    if (problems.length) return Promise.reject(new ValidationError(problems));
    if (this.host.sandbox) return Promise.reject(new Error(`the storage test loads the real disk, so a sandbox (root ${this.host.root}) does not run it`));
    return runRandomIo(r);
  }
}
