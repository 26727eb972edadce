/**
 * Loading a whole command script (what `show running-config` prints) as one configuration: the
 * lines run in configuration mode against a candidate, in batch (nothing applied line by line),
 * and the result is validated once. The script describes the whole configuration, so the lists
 * (users, interfaces, routes, name and NTP servers) start empty and the script fills them.
 */
import type { Host } from '../appliance/host/index.ts';
import type { Store } from '../appliance/config/store.ts';
import { check, type Config } from '../appliance/config/schema.ts';
import { Session, type SessionUser } from './session.ts';
import { fieldLabel } from '../appliance/config/messages.ts';

export interface ScriptResult {
  /** The configuration, when every line was accepted and the result is valid. */
  config: Config | null;
  /** `line N: TEXT` followed by what the CLI answered, for each refused line; then schema problems. */
  errors: string[];
}

/** Runs `lines` over `base` in batch mode and returns the candidate configuration. Never applies anything. */
export async function scriptToConfig(host: Host, store: Store, lines: string[], base: Config, user: SessionUser = { name: 'import', role: 'admin' }, source = 'import'): Promise<ScriptResult> {
  let buf = '';
  const s = new Session({
    host,
    store,
    user,
    source,
    privileged: true,
    io: {
      write: (t) => void (buf += t),
      ask: () => Promise.reject(new Error('a script cannot answer questions')),
    },
  });
  const start = structuredClone(base);
  start.users.local = [];
  start.network.interfaces = [];
  start.network.routes = [];
  start.dns.servers = [];
  delete start.dns.domain;
  start.ntp = { enabled: false, servers: [] };
  delete start.ssh.banner;
  delete start.ssh.idleTimeoutSeconds;
  delete start.ssh.maxSessions;
  delete start.users.lockout;
  delete start.email;
  delete start.users.passwordPolicy;
  delete start.acl;
  delete start.update;
  delete start.health;
  delete start.proxy;
  delete start.ports;
  delete start.portalAuth;
  delete start.ldap;
  delete start.connectivity;
  s.beginBatch(start);
  s.batchBase = base;
  s.mode = 'config';
  const errors: string[] = [];
  for (const [i, line] of lines.entries()) {
    if (/^\s*end\s*$/i.test(line)) break;
    buf = '';
    await s.execute(line, 0);
    if (buf.trim()) errors.push(`line ${i + 1}: ${line.trim()}\n${buf.trimEnd()}`);
  }
  const problems = check(s.candidate);
  for (const p of problems) errors.push(`% Invalid ${fieldLabel(p.field, s.candidate)} (${p.rule}): ${p.message}`);
  return { config: errors.length ? null : s.candidate, errors };
}
