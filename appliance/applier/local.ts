/**
 * The applier's operations done in this process, with this process's rights: what the
 * privileged service runs for its clients, and what root processes (console, boot) and tests use
 * directly. Every input is validated here again, whoever sent it.
 */
import type { Host } from '../host/index.ts';
import type { Actor, Store } from '../config/store.ts';
import { validate, type Config } from '../config/schema.ts';
import { osApply, osPlan, osReconcile } from '../config/apply.ts';
import { OperationalError, ValidationError } from '../errors.ts';
import { bmcTarget } from '../health/schema.ts';
import { localBmcPresent } from '../host/ipmi.ts';
import type { BootTimes } from '../system/boot.ts';
import path from 'node:path';
import { listNics } from '../network/nics.ts';
import { SERVICE_USER, userIds } from '../host/users.ts';
import type { CaptureFile, CaptureRequest, CaptureResult } from '../diagnostics/capture.ts';
import type { DiagnoseOptions, DiagnoseResult, Tool } from '../diagnostics/tools.ts';
import { SERVICES, type Applier, type FileChange, type Progress, type ServiceAction, type ServiceName, type Staged, type TimeStatus } from './applier.ts';

const ACTIONS: readonly ServiceAction[] = ['start', 'stop', 'restart', 'status'];

// Updates, guest tools, IPMI and diagnostics load when first asked for: the console's wizard and
// every process start need none of them (issue 15: seconds of the first boot under emulation).
const updates = async () => ({ ...(await import('../update/context.ts')), ...(await import('../update/actions.ts')), ...(await import('../update/stage.ts')) });
const capture = () => import('../diagnostics/capture.ts');

export class LocalApplier implements Applier {
  readonly remote = false;
  private readonly host: Host;
  private readonly store: () => Store;
  private capturing = false;
  constructor(host: Host, store: () => Store) {
    this.host = host;
    this.store = store;
  }
  get live(): boolean {
    return this.host.proc.live;
  }
  apply(next: Config, before: Config | null): Promise<string[]> {
    return osApply(this.host, validate(next), before === null ? null : validate(before));
  }
  async plan(next: Config): Promise<FileChange[]> {
    return osPlan(this.host, validate(next));
  }
  reconcile(running: Config): Promise<string[]> {
    return osReconcile(this.host, validate(running));
  }
  async reboot(): Promise<void> {
    await this.host.proc.run('systemctl', ['reboot']);
  }
  async service(action: ServiceAction, name: ServiceName): Promise<string> {
    if (!ACTIONS.includes(action)) throw new ValidationError([{ field: 'action', rule: 'enum', message: `Action must be one of ${ACTIONS.join(', ')}` }]);
    if (!(SERVICES as readonly string[]).includes(name)) throw new ValidationError([{ field: 'service', rule: 'enum', message: `Service must be one of ${SERVICES.join(', ')}` }]);
    const unit = `${name}.service`;
    if (action === 'status') {
      const r = await this.host.proc.run('systemctl', ['status', '--no-pager', '--lines=5', unit], { allowFail: true, timeoutMs: 10000 });
      return (r.stdout + r.stderr).trimEnd() || (this.live ? `% systemctl exited ${r.code}` : `(sandbox: systemctl status ${unit} recorded, not run)`);
    }
    await this.host.proc.run('systemctl', [action, unit], { timeoutMs: 60000 });
    return '';
  }
  async stageUpdate(actor: Actor, progress?: Progress): Promise<Staged> {
    const { stageDownloaded, updateContext } = await updates();
    const r = await stageDownloaded(updateContext(this.host, this.store(), actor), progress);
    return { version: r.version, slot: r.slot, seconds: r.seconds };
  }
  async installGuestTools(): Promise<{ hypervisor: string; package: string; changed: boolean }> {
    const { installGuestTools } = await import('../guest/tools.ts');
    const r = await installGuestTools(this.host);
    return { hypervisor: r.agent.hypervisor, package: r.agent.package, changed: r.changed };
  }
  async locate(on: boolean): Promise<'done' | 'no-bmc'> {
    const target = bmcTarget(this.store().running()?.config.health) ?? (localBmcPresent() && this.host.proc.live ? ({ interface: 'open' } as const) : null);
    if (!target) return 'no-bmc';
    const { IpmiProbe } = await import('../health/ipmi.ts');
    await new IpmiProbe(this.host.proc, target).locate(Boolean(on));
    return 'done';
  }
  async timeStatus(): Promise<TimeStatus> {
    // chronyd answers only on its root socket (cmdport 0); -n: no DNS lookups, 5 s at most each.
    const ask = async (what: string) => (await this.host.proc.run('chronyc', ['-c', '-n', what], { allowFail: true, timeoutMs: 5000 })).stdout.slice(0, 65536);
    return { tracking: await ask('tracking'), sources: await ask('sources') };
  }
  async bootTimes(): Promise<BootTimes> {
    // systemd-analyze asks PID 1 over its private socket as root; blame asks about every unit,
    // which took over 10 s in an emulated guest: 30 s and 64 KiB at most each, side by side.
    const ask = async (...args: string[]) => (await this.host.proc.run('systemd-analyze', [...args, '--no-pager'], { allowFail: true, timeoutMs: 30000 })).stdout.slice(0, 65536);
    const [time, blame, criticalChain] = await Promise.all([ask('time'), ask('blame'), ask('critical-chain')]);
    return { time, blame, criticalChain };
  }
  async diagnose(tool: Tool, target: string, options: DiagnoseOptions = {}): Promise<DiagnoseResult> {
    // Checked again here, whoever asked: the target is an address or host name, the options in range.
    const { diagnoseCommand, parseDiagnose, MAX_OUTPUT_BYTES } = await import('../diagnostics/tools.ts');
    const { cmd, args, timeoutMs } = diagnoseCommand(tool, target, options);
    const r = await this.host.proc.run(cmd, args, { allowFail: true, timeoutMs }).catch((e: unknown) => {
      // ping carries the file capability cap_net_raw; a process whose bounding set lacks it
      // (a unit's CapabilityBoundingSet) cannot even start it: say which right is missing.
      if (e instanceof OperationalError && /EPERM|EACCES/.test(e.stderr)) throw new OperationalError(`${cmd} could not start: the applier lacks the raw-socket right (CAP_NET_RAW)`, e.command, null, e.stderr);
      throw e;
    });
    const output = (r.stdout + r.stderr).slice(0, MAX_OUTPUT_BYTES);
    const command = [cmd, ...args].join(' ');
    if (!this.live) return { command, exitCode: r.code, output: `(sandbox: ${command} recorded, not run)`, result: parseDiagnose(tool, '', target) };
    return { command, exitCode: r.code, output, result: parseDiagnose(tool, output, target) };
  }
  async capture(request: CaptureRequest): Promise<CaptureResult> {
    // Checked again here, whoever asked: the interface one of ours (mapped to its kernel name), the
    // numbers in range, the filter in the grammar; tcpdump gets an argv, never a shell line.
    const { CAPTURE_DIR, captureArgv, captureName, capturesToPrune, checkCapture, readPcap } = await capture();
    const { MAX_OUTPUT_BYTES } = await import('../diagnostics/tools.ts');
    const nics = listNics(this.host).filter((n) => n.ifname);
    const c = checkCapture(request, nics.map((n) => n.name));
    if (this.capturing) throw new OperationalError('a capture is running already; try again when it has finished', 'capture', null, '');
    this.capturing = true;
    try {
      const f = this.host.files;
      f.mkdirp(CAPTURE_DIR, 0o700);
      const name = captureName(new Date(), c.interface);
      const rel = path.posix.join(CAPTURE_DIR, name);
      const [cmd, ...args] = captureArgv(c, nics.find((n) => n.name === c.interface)!.ifname!, f.real(rel));
      const command = [cmd, ...args].join(' ');
      // The duration bound: spawn's timeout sends SIGTERM, on which tcpdump flushes and exits.
      const r = await this.host.proc.run(cmd!, args, { allowFail: true, timeoutMs: c.duration * 1000 });
      const buf = f.read(rel);
      if (buf) {
        // Packets are private: 0600, owned (with the folder) by the service user whose System
        // Manager offers them for download; root's where there is no such user (tests, sandbox).
        f.chmod(rel, 0o600);
        const svc = userIds(this.host, SERVICE_USER);
        if (svc && this.live && process.getuid?.() === 0) f.chownTree(CAPTURE_DIR, svc.uid, svc.gid);
      }
      const pcap = buf && buf.length >= 24 ? readPcap(buf) : null;
      for (const old of capturesToPrune(await this.captures())) f.remove(path.posix.join(CAPTURE_DIR, old));
      const output = (r.stderr + r.stdout).slice(0, MAX_OUTPUT_BYTES);
      if (!this.live) return { name, command, interface: c.interface, packets: 0, bytes: 0, stoppedBy: 'duration', output: `(sandbox: ${command} recorded, not run)`, records: [] };
      const packets = pcap?.packets ?? 0;
      const stoppedBy = !pcap ? 'error' : packets >= c.packets ? 'packets' : 'duration';
      if (stoppedBy === 'error') throw new OperationalError('the capture failed', command, r.code, output);
      return { name, command, interface: c.interface, packets, bytes: buf!.length, stoppedBy, output, records: pcap!.records };
    } finally {
      this.capturing = false;
    }
  }
  async captures(): Promise<CaptureFile[]> {
    const { CAPTURE_DIR, CAPTURE_NAME } = await capture();
    const f = this.host.files;
    return f
      .list(CAPTURE_DIR)
      .filter((n) => CAPTURE_NAME.test(n))
      .sort()
      .reverse()
      .map((name) => ({ name, bytes: f.size(path.posix.join(CAPTURE_DIR, name)) ?? 0 }));
  }
  async unstageUpdate(actor: Actor): Promise<boolean> {
    const { unstage, updateContext } = await updates();
    return unstage(updateContext(this.host, this.store(), actor, { trustedKeys: [] }));
  }
}
