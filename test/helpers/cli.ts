/** A CLI session on a configured sandbox root, with scripted answers, for command tests. */
import type { TestContext } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyConfig } from '../../appliance/config/apply.ts';
import type { Config } from '../../appliance/config/schema.ts';
import { Session } from '../../cli/session.ts';
import { sampleConfig, tempRoot, fakeSysfs } from './config.ts';

/** A cheap scrypt hash (N=1024) in the appliance's format, so tests stay fast. */
export function quickHash(pw: string): string {
  const salt = crypto.randomBytes(16);
  const k = crypto.scryptSync(pw, salt, 32, { N: 1024, r: 8, p: 1 });
  return `$scrypt$N=1024,r=8,p=1$${salt.toString('base64')}$${k.toString('base64')}`;
}

export function configured(): Config {
  const c = sampleConfig();
  c.users.enableSecretHash = quickHash('Enable1');
  c.users.local[0].passwordHash = quickHash('Passw0rd1');
  c.users.local[0].passwordChangedAt = '2026-01-01T00:00:00.000Z';
  return c;
}

export async function cliSession(t: TestContext, opts: { role?: 'admin' | 'operator'; privileged?: boolean; source?: string } = {}) {
  const root = tempRoot('keel-cli-');
  const host = createHost(root, { sysfs: fakeSysfs(root, 2) });
  const store = Store.open(host);
  t.onTestFinished(() => {
    store.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  await applyConfig(host, store, configured(), { who: 'admin', source: 'test' }, 'initial');
  store.saveStartup({ who: 'admin', source: 'test' });
  const out: string[] = [];
  const answers: string[] = [];
  const s = new Session({
    host,
    store,
    user: { name: 'admin', role: opts.role ?? 'admin' },
    source: opts.source ?? 'cli:test',
    privileged: opts.privileged ?? true,
    io: {
      write: (x) => void out.push(x),
      ask: async (prompt) => {
        out.push(prompt);
        if (!answers.length) throw new Error('no answer scripted');
        return answers.shift()!;
      },
    },
  });
  const run = async (...lines: string[]): Promise<string> => {
    const n = out.length;
    for (const l of lines) await s.execute(l);
    return out.slice(n).join('');
  };
  const read = (p: string) => fs.readFileSync(path.join(root, p), 'utf8');
  const proc = host.proc as SandboxProcesses;
  const commands = () => read('/var/log/keel/commands.log');
  return { root, host, store, s, run, answers, read, proc, commands };
}

