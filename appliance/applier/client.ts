/**
 * The applier as an unprivileged process sees it: each operation is one connection to the
 * privileged service's socket (server.ts), which validates and runs it.
 */
import net from 'node:net';
import type { Config } from '../config/schema.ts';
import type { Actor } from '../config/store.ts';
import { OperationalError } from '../errors.ts';
import { LineReader, fromWire, type Answer, type Op } from './protocol.ts';
import type { BootTimes } from '../system/boot.ts';
import type { CaptureFile, CaptureRequest, CaptureResult } from '../diagnostics/capture.ts';
import type { DiagnoseOptions, DiagnoseResult, Tool } from '../diagnostics/tools.ts';
import type { Applier, FileChange, Progress, ServiceAction, ServiceName, Staged, TimeStatus } from './applier.ts';

/** While the applier starts (or restarts), connecting is retried this long. */
const CONNECT_WAIT_MS = 15_000;

export class RemoteApplier implements Applier {
  readonly remote = true;
  readonly path: string;
  readonly live: boolean;
  constructor(path: string, live: boolean) {
    this.path = path;
    this.live = live;
  }
  apply(next: Config, before: Config | null): Promise<string[]> {
    return this.call('apply', [next, before]) as Promise<string[]>;
  }
  plan(next: Config): Promise<FileChange[]> {
    return this.call('plan', [next]) as Promise<FileChange[]>;
  }
  reconcile(running: Config): Promise<string[]> {
    return this.call('reconcile', [running]) as Promise<string[]>;
  }
  async reboot(): Promise<void> {
    await this.call('reboot', []);
  }
  service(action: ServiceAction, name: ServiceName): Promise<string> {
    return this.call('service', [action, name]) as Promise<string>;
  }
  stageUpdate(actor: Actor, progress?: Progress): Promise<Staged> {
    return this.call('stageUpdate', [{ who: actor.who, source: actor.source }], progress) as Promise<Staged>;
  }
  unstageUpdate(actor: Actor): Promise<boolean> {
    return this.call('unstageUpdate', [{ who: actor.who, source: actor.source }]) as Promise<boolean>;
  }

  locate(on: boolean): Promise<'done' | 'no-bmc'> {
    return this.call('locate', [on === true]) as Promise<'done' | 'no-bmc'>;
  }
  timeStatus(): Promise<TimeStatus> {
    return this.call('timeStatus', []) as Promise<TimeStatus>;
  }
  bootTimes(): Promise<BootTimes> {
    return this.call('bootTimes', []) as Promise<BootTimes>;
  }
  diagnose(tool: Tool, target: string, options: DiagnoseOptions = {}): Promise<DiagnoseResult> {
    return this.call('diagnose', [tool, target, options]) as Promise<DiagnoseResult>;
  }
  capture(request: CaptureRequest): Promise<CaptureResult> {
    return this.call('capture', [request]) as Promise<CaptureResult>;
  }
  captures(): Promise<CaptureFile[]> {
    return this.call('captures', []) as Promise<CaptureFile[]>;
  }
  installGuestTools(): Promise<{ hypervisor: string; package: string; changed: boolean }> {
    return this.call('installGuestTools', []) as Promise<{ hypervisor: string; package: string; changed: boolean }>;
  }

  private async connect(): Promise<net.Socket> {
    const until = Date.now() + CONNECT_WAIT_MS;
    for (;;) {
      try {
        return await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(this.path);
          s.once('connect', () => (s.off('error', reject), resolve(s)));
          s.once('error', reject);
        });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > until) {
          throw new OperationalError('the applier (the privileged service that changes the OS) is not reachable', `connect ${this.path}`, null, (e as Error).message);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private async call(op: Op, args: unknown[], progress?: Progress): Promise<unknown> {
    const sock = await this.connect();
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void) => {
        if (!settled) (settled = true), f();
      };
      const reader = new LineReader((line) => {
        const a = JSON.parse(line) as Answer;
        if ('progress' in a) progress?.(a.progress[0], a.progress[1]);
        else if ('result' in a) settle(() => resolve(a.result));
        else settle(() => reject(fromWire(a.error)));
      });
      sock.on('data', (d) => {
        if (!reader.push(d)) sock.destroy();
      });
      sock.on('error', () => undefined);
      sock.on('close', () => settle(() => reject(new OperationalError('the applier ended the connection before answering', op, null, ''))));
      sock.write(`${JSON.stringify({ op, args })}\n`);
    });
  }
}
