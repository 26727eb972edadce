/** A configured sandbox appliance served by a real `keel serve` on loopback, for the attack replays. */
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import type { Config } from '../../appliance/config/schema.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { quickHash } from '../helpers/cli.ts';
import { startServe } from '../helpers/serve.ts';

export const PASSWORD = 'Passw0rd1';
export const OPER_PASSWORD = 'Operat0r1';
export const ENABLE = 'Enable1';

export interface Appliance {
  root: string;
  serve: ChildProcess;
  sshPort: number;
  httpsPort: number;
  stop(): void;
}

/** An appliance with `admin` and an operator `oper`, SSH on, served on free loopback ports. */
export async function startAppliance(edit?: (c: Config) => void): Promise<Appliance> {
  const root = tempRoot('keel-sec-');
  const sysfs = fakeSysfs(root, 2);
  const host = createHost(root, { sysfs });
  const store = Store.open(host);
  const c = sampleConfig();
  c.users.enableSecretHash = quickHash(ENABLE);
  c.users.local[0].passwordHash = quickHash(PASSWORD);
  c.users.local.push({ name: 'oper', passwordHash: quickHash(OPER_PASSWORD), passwordChangedAt: c.users.local[0].passwordChangedAt, role: 'operator' });
  c.ssh = { enabled: true, port: 22, banner: 'Authorized use only', idleTimeoutSeconds: 300, maxSessions: 8 };
  edit?.(c);
  await applyConfig(host, store, c, { who: 'admin', source: 'test' }, 'initial');
  store.saveStartup({ who: 'admin', source: 'test' });
  store.close();
  const { child, sshPort, httpsPort } = await startServe(root, sysfs);
  return {
    root,
    serve: child,
    sshPort,
    httpsPort,
    stop() {
      child.kill('SIGKILL');
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Resident memory of a process, in MiB. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
