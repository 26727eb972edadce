import type { Config } from '../config/schema.ts';
import { DEFAULT_CONNECTIVITY, type ConnectivityProtocol } from './schema.ts';

/** What is checked: the administrator's protocols, plus a DNS query, an NTP query and name-only (UDP syslog) for derived endpoints. */
export type CheckProtocol = ConnectivityProtocol | 'dns' | 'ntp' | 'udp';

/** One row of the connectivity table. */
export interface Endpoint {
  /** Unique in the table: `dns-1`, `ntp-2`, `ldap`, `update-repository`… or the administrator's name. */
  name: string;
  /** Why the appliance depends on it, in words (`DNS server 1`, `Update repository`), or `Added by an administrator`. */
  role: string;
  source: 'configuration' | 'administrator';
  host: string;
  port: number;
  protocol: CheckProtocol;
  /** HTTPS: the path requested. */
  path?: string;
  /** Reached through the configured outbound proxy (CONNECT). */
  viaProxy: boolean;
  expectedIssuer?: string;
  /** PEM of the CA the configuration trusts for this endpoint (update repository, syslog over TLS). */
  caCertificate?: string;
}

function ldapEndpoint(name: string, role: string, url: string): Endpoint {
  const u = new URL(url);
  const tls = u.protocol === 'ldaps:';
  return { name, role, source: 'configuration', host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) || (tls ? 636 : 389), protocol: tls ? 'tls' : 'tcp', viaProxy: false };
}

/** True when the proxy is used for `host` (not on the no-proxy list: exact name, address, or a `.suffix` / `*.suffix`). */
export function proxied(c: Config, host: string): boolean {
  const p = c.proxy;
  if (!p?.enabled) return false;
  const h = host.toLowerCase();
  return !p.noProxy.some((n) => {
    const x = n.toLowerCase().replace(/^\*/, '');
    return x === '*' || h === x || (x.startsWith('.') && (h.endsWith(x) || h === x.slice(1)));
  });
}

/**
 * The endpoints the configuration depends on, then the administrator's, in that order: DNS
 * servers (a query over UDP 53), NTP servers (an NTP query over UDP 123), LDAP servers, the SMTP server
 * (SMTPS: TLS; SMTP and STARTTLS: TCP), the update repository (HTTPS, through the proxy when one
 * is in use), the outbound proxy itself (TCP) and the syslog alert target.
 */
export function endpointsOf(c: Config): Endpoint[] {
  const out: Endpoint[] = [];
  const conf = (e: Omit<Endpoint, 'source' | 'viaProxy'> & { viaProxy?: boolean }) => out.push({ viaProxy: false, source: 'configuration', ...e });
  c.dns.servers.forEach((s, i) => conf({ name: `dns-${i + 1}`, role: `DNS server ${i + 1}`, host: s, port: 53, protocol: 'dns' }));
  if (c.ntp.enabled) c.ntp.servers.forEach((s, i) => conf({ name: `ntp-${i + 1}`, role: `NTP server ${i + 1}`, host: s, port: 123, protocol: 'ntp' }));
  if (c.ldap?.enabled) {
    out.push(ldapEndpoint('ldap', 'LDAP server', c.ldap.url));
    if (c.ldap.failoverUrl) out.push(ldapEndpoint('ldap-failover', 'LDAP failover server', c.ldap.failoverUrl));
  }
  if (c.email) conf({ name: 'smtp', role: `SMTP server (${c.email.protocol})`, host: c.email.server, port: c.email.port, protocol: c.email.protocol === 'smtps' ? 'tls' : 'tcp' });
  if (c.update) {
    const u = new URL(c.update.repository);
    const path = u.pathname.endsWith('/') ? `${u.pathname}index.json` : u.pathname;
    conf({ name: 'update-repository', role: 'Update repository', host: u.hostname, port: Number(u.port) || 443, protocol: 'https', path, viaProxy: proxied(c, u.hostname), ...(c.update.caCertificate ? { caCertificate: c.update.caCertificate } : {}) });
  }
  if (c.proxy?.enabled) {
    const u = new URL(c.proxy.url);
    conf({ name: 'proxy', role: 'Outbound proxy', host: u.hostname, port: Number(u.port), protocol: 'tcp' });
  }
  const sl = c.health?.syslog;
  if (sl?.enabled) conf({ name: 'syslog', role: `Syslog alerts (${sl.transport})`, host: sl.server, port: sl.port, protocol: sl.transport === 'udp' ? 'udp' : sl.transport, ...(sl.caCertificate ? { caCertificate: sl.caCertificate } : {}) });
  for (const e of (c.connectivity ?? DEFAULT_CONNECTIVITY).endpoints) {
    out.push({ name: e.name, role: 'Added by an administrator', source: 'administrator', host: e.host, port: e.port, protocol: e.protocol, viaProxy: e.viaProxy, ...(e.path ? { path: e.path } : {}), ...(e.expectedIssuer ? { expectedIssuer: e.expectedIssuer } : {}), ...(e.caCertificate ? { caCertificate: e.caCertificate } : {}) });
  }
  return out;
}
