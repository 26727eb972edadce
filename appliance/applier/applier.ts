/**
 * The applier: the one place that changes the OS on behalf of the management plane. Network-facing
 * processes (System Manager, the SSH CLI) run unprivileged and reach it over a UNIX socket
 * (client.ts → server.ts); root processes (console, boot) and tests use the local one directly.
 * Every operation is named and takes only validated input: there is no "run this command" or
 * "write this file".
 */
import type { Config } from '../config/schema.ts';
import type { Actor } from '../config/store.ts';
import type { BootTimes } from '../system/boot.ts';
import type { CaptureFile, CaptureRequest, CaptureResult } from '../diagnostics/capture.ts';
import type { DiagnoseOptions, DiagnoseResult, Tool } from '../diagnostics/tools.ts';

/** A file that a change would write, by the unit (setting) it belongs to. */
export interface FileChange {
  unit: string;
  path: string;
}

/**
 * Keel's services the CLI may start, stop or restart (`service NAME ...`). keel-serve is System
 * Manager and the SSH CLI together; keel-monitor the health monitor.
 */
export const SERVICES = ['keel-serve', 'keel-monitor', 'chrony', 'systemd-networkd', 'nftables'] as const;
export type ServiceName = (typeof SERVICES)[number];
export type ServiceAction = 'start' | 'stop' | 'restart' | 'status';

/** What a staged update says of itself (appliance/update/stage.ts StageResult, as sent over the socket). */
export interface Staged {
  version: string;
  slot: string;
  seconds: number;
}

export type Progress = (done: number, total: number) => void;

/** chronyc's CSV answers, parsed by appliance/ntp/status.ts. */
export interface TimeStatus {
  tracking: string;
  sources: string;
}

/** The privileged operations, each validated again on the privileged side. */
export interface Applier {
  /** Renders `next` into the OS and reloads the units whose files changed; all put back on failure. */
  apply(next: Config, before: Config | null): Promise<string[]>;
  /** The files `next` would change. */
  plan(next: Config): Promise<FileChange[]>;
  /** Renders `running` again after an interrupted change, removing leftover temporary files. */
  reconcile(running: Config): Promise<string[]>;
  /** `systemctl reboot`. */
  reboot(): Promise<void>;
  /** `systemctl ACTION UNIT.service` for one of SERVICES; status answers its text. */
  service(action: ServiceAction, name: ServiceName): Promise<string>;
  /** Verifies the downloaded update bundle again and writes it to the other system slot. */
  stageUpdate(actor: Actor, progress?: Progress): Promise<Staged>;
  /** Cancels a staged update; false when nothing was staged. */
  unstageUpdate(actor: Actor): Promise<boolean>;
  /** `install guest-tools`: enables the detected hypervisor's agent. */
  installGuestTools(): Promise<{ hypervisor: string; package: string; changed: boolean }>;
  /** `locate on|off`: the chassis identify LED through the local or configured BMC. */
  locate(on: boolean): Promise<'done' | 'no-bmc'>;
  /** chrony's view of the clock (`chronyc -c -n tracking` and `sources`, CSV; '' when it does not answer). */
  timeStatus(): Promise<TimeStatus>;
  /** systemd-analyze's account of this start (time, blame, critical-chain; '' when it does not answer). */
  bootTimes(): Promise<BootTimes>;
  /**
   * `ping` or `traceroute` (raw sockets: root) to a checked target with bounded options, as an
   * argv, bounded in time and output; the parsed result with the output. Changes nothing.
   */
  diagnose(tool: Tool, target: string, options?: DiagnoseOptions): Promise<DiagnoseResult>;
  /**
   * A packet capture (raw sockets: root) on one of the appliance's interfaces with checked, bounded
   * arguments, into a pcap file under CAPTURE_DIR; one at a time; the oldest captures pruned.
   */
  capture(request: CaptureRequest): Promise<CaptureResult>;
  /** The stored captures, newest first. */
  captures(): Promise<CaptureFile[]>;
  /** True when operations really change the OS (false in a sandbox). */
  readonly live: boolean;
  /**
   * True in the unprivileged processes (the applier is another process): they cannot open the
   * BMC or the disks, so they show the health monitor's recorded readings instead of probing.
   */
  readonly remote: boolean;
}
