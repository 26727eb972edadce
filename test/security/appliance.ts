/** A configured sandbox appliance served by a real `keel serve` on loopback, for the attack replays. */
import fs from 'node:fs';
import { request as httpsRequest } from 'node:https';
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

export interface ApiAnswer {
  status: number;
  json: any;
  text: string;
}

/** One HTTPS request to System Manager on loopback. */
export function https1(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, localAddress?: string): Promise<ApiAnswer & { headers: import('node:http').IncomingHttpHeaders }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, method, localAddress, rejectUnauthorized: false, agent: false, headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json: any = null;
          try {
            json = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, json, text, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Signs in over HTTPS and returns a caller that sends the session cookie and CSRF token. */
export async function apiSession(port: number, username: string, password: string): Promise<(method: string, path: string, body?: unknown) => Promise<ApiAnswer>> {
  const r = await https1(port, 'POST', '/mics/api/session', { username, password });
  if (r.status !== 200) throw new Error(`sign-in as ${username}: ${r.status} ${r.text}`);
  const cookie = String(r.headers['set-cookie']).split(';')[0];
  const csrf = r.json.csrfToken as string;
  return (method, path, body) => https1(port, method, path, body, { cookie, ...(method === 'GET' ? {} : { 'x-csrf-token': csrf }) });
}
