import { createHash } from 'node:crypto';
import type { Config } from './schema.ts';
import { DEFAULT_LDAP_HEALTH, DEFAULT_SEARCH_TIMEOUT } from '../ldap/schema.ts';

/** What `show running-config` prints in place of a password the appliance must keep in clear (SMTP). */
export const MASKED_PASSWORD = '********';

function q(s: string): string {
  return /^[A-Za-z0-9@._:/+-]+$/.test(s) ? s : `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * The CLI command script that reproduces a configuration (`show running-config`). The wizard shows
 * it for review, revisions diff it, and the CLI reads the same commands back.
 */
export function toScript(c: Config): string[] {
  const out: string[] = [];
  out.push(`hostname ${c.system.hostname}`);
  out.push(`company name ${q(c.system.company)}`);
  out.push(`company contact ${q(c.system.contact)}`);
  out.push(`company contact-email ${q(c.system.contactEmail)}`);
  out.push('!');
  out.push(`enable secret 9 ${c.users.enableSecretHash}`);
  for (const u of c.users.local) {
    out.push(`username ${u.name} role ${u.role} secret 9 ${u.passwordHash}`);
    // The seed's user record: names, e-mail and EDIPI (certificate sign-in maps to the last two).
    if (u.firstName !== undefined) out.push(`username ${u.name} first-name ${q(u.firstName)}`);
    if (u.lastName !== undefined) out.push(`username ${u.name} last-name ${q(u.lastName)}`);
    if (u.email !== undefined) out.push(`username ${u.name} email ${u.email}`);
    if (u.edipi !== undefined) out.push(`username ${u.name} edipi ${u.edipi}`);
  }
  out.push('!');
  for (const i of c.network.interfaces) {
    out.push(`interface ${i.name}`);
    if (i.description) out.push(` description ${q(i.description)}`);
    out.push(` ip address ${i.address} ${i.netmask}`);
    out.push(i.enabled ? ' no shutdown' : ' shutdown');
    out.push('!');
  }
  out.push(`ip default-gateway ${c.network.gateway}`);
  for (const r of c.network.routes) out.push(`ip route ${r.destination} ${r.netmask} ${r.via}`);
  out.push(`ip name-server ${c.dns.servers.join(' ')}`);
  if (c.dns.domain) out.push(`ip domain-name ${c.dns.domain}`);
  out.push('!');
  if (c.ntp.enabled) for (const s of c.ntp.servers) out.push(`ntp server ${s}`);
  else out.push('no ntp');
  out.push(`clock timezone ${c.clock.timezone}`);
  out.push('!');
  out.push(c.ssh.enabled ? `ip ssh server port ${c.ssh.port}` : 'no ip ssh server');
  if (c.ssh.idleTimeoutSeconds !== undefined) out.push(`ip ssh idle-timeout ${Math.floor(c.ssh.idleTimeoutSeconds / 60)} ${c.ssh.idleTimeoutSeconds % 60}`);
  if (c.ssh.maxSessions !== undefined) out.push(`ip ssh max-sessions ${c.ssh.maxSessions}`);
  if (c.users.passwordPolicy) {
    const p = c.users.passwordPolicy;
    out.push(`password-policy min-length ${p.minLength}`, `password-policy max-repeat ${p.maxRepeat}`, `password-policy min-age ${p.minAgeHours}`);
    out.push(`${p.requireLetter ? '' : 'no '}password-policy require-letter`, `${p.requireUpper ? '' : 'no '}password-policy require-capital`, `${p.requireDigit ? '' : 'no '}password-policy require-digit`);
  }
  if (c.acl) {
    const words = { systemManager: 'system-manager', ssh: 'ssh', provisioning: 'provisioning' } as const;
    for (const [comp, list] of Object.entries(c.acl) as [keyof typeof words, string[]][]) for (const e of list) out.push(`access-list ${words[comp]} permit ${e}`);
  }
  if (c.users.lockout) out.push(`login lockout attempts ${c.users.lockout.attempts} within ${c.users.lockout.windowMinutes} duration ${c.users.lockout.lockMinutes}`);
  if (c.ssh.banner) out.push(`banner login ${q(c.ssh.banner)}`);
  if (c.email) {
    out.push(`email server ${c.email.server} port ${c.email.port} protocol ${c.email.protocol}`);
    out.push(`email from ${c.email.from}`);
    // The SMTP password is never shown; loading the script back keeps the stored one.
    if (c.email.auth) out.push(`email authentication username ${q(c.email.username ?? '')} password ${MASKED_PASSWORD}`);
  }
  if (c.update) {
    // Like the SMTP password: never shown; loading the script back keeps the stored one.
    out.push(`software-update repository ${q(c.update.repository)}${c.update.username ? ` username ${q(c.update.username)} password ${MASKED_PASSWORD}` : ''}`);
    // A PEM does not fit on a line: a comment (kept on load) names it, so a change shows in diffs.
    if (c.update.caCertificate) out.push(`! software-update ca-certificate sha256 ${createHash('sha256').update(c.update.caCertificate).digest('hex').slice(0, 16)} (paste a new one with: software-update ca-certificate)`);
  }
  if (c.health) out.push(...healthLines(c.health));
  if (c.ports) out.push(`ports provisioning ${c.ports.provisioning}`);
  if (c.portalAuth) {
    const x = c.portalAuth.certificate;
    if (x) {
      out.push(`portal-authentication certificate card ${x.cardType} map-from ${x.mapFrom} map-to ${x.mapTo}`);
      // Like the update CA: a PEM does not fit on a line; the comment names it and loading keeps it.
      if (x.caChain) out.push(`! portal-authentication certificate ca-chain sha256 ${createHash('sha256').update(x.caChain).digest('hex').slice(0, 16)} (paste a new one with: portal-authentication certificate ca-chain)`);
      out.push(`${x.enabled ? 'no ' : ''}portal-authentication certificate shutdown`);
    }
    out.push(`${c.portalAuth.password ? '' : 'no '}portal-authentication password`);
  }
  if (c.ldap) out.push(...ldapLines(c.ldap));
  if (c.proxy) {
    const p = c.proxy;
    // Like the SMTP password: never shown; loading the script back keeps the stored one (same proxy and user).
    out.push(`proxy url ${q(p.url)}${p.username !== undefined ? ` username ${q(p.username)} password ${MASKED_PASSWORD}` : ''}`);
    for (const h of p.noProxy) out.push(`proxy no-proxy ${q(h)}`);
    if (!p.enabled) out.push('proxy shutdown');
  }
  if (c.connectivity) {
    const k = c.connectivity;
    out.push(`connectivity interval ${k.intervalMinutes}`);
    for (const e of k.endpoints) {
      out.push(`connectivity endpoint ${e.name} host ${e.host} port ${e.port} protocol ${e.protocol}`);
      if (e.viaProxy) out.push(`connectivity endpoint ${e.name} via-proxy`);
      if (e.path !== undefined) out.push(`connectivity endpoint ${e.name} path ${q(e.path)}`);
      if (e.expectedIssuer !== undefined) out.push(`connectivity endpoint ${e.name} expected-issuer ${e.expectedIssuer}`);
      // Like the update CA: a PEM does not fit on a line; the comment names it and loading keeps it (same host).
      if (e.caCertificate) out.push(`! connectivity endpoint ${e.name} ca-certificate sha256 ${createHash('sha256').update(e.caCertificate).digest('hex').slice(0, 16)} (paste a new one with: connectivity endpoint ${e.name} ca-certificate)`);
    }
  }
  out.push(`ip http secure-server port ${c.webui.port}`);
  out.push('end');
  return out;
}

/** The `health` section as CLI lines (cli/health.ts reads them back). */
function healthLines(h: NonNullable<Config['health']>): string[] {
  const out: string[] = [];
  const opt = (word: string, v: number | undefined): string => (v === undefined ? '' : ` ${word} ${v}`);
  if (h.intervalSeconds !== undefined || h.ipmiIntervalSeconds !== undefined) out.push(`health interval${h.intervalSeconds !== undefined ? ` ${h.intervalSeconds}` : ''}${opt('ipmi', h.ipmiIntervalSeconds)}`);
  if (h.retentionDays !== undefined || h.maxHistory !== undefined) out.push(`health history${opt('days', h.retentionDays)}${opt('max-entries', h.maxHistory)}`);
  if (h.devices !== undefined) out.push(`health devices ${h.devices}`);
  const critical = (x: { subscription: string }): string => (x.subscription === 'critical' ? ' critical' : '');
  if (h.email) {
    out.push(`health alert email to ${h.email.to.map(q).join(' ')}${critical(h.email)}`);
    if (!h.email.enabled) out.push('health alert email shutdown');
  }
  const y = h.syslog;
  if (y) {
    out.push(`health alert syslog server ${q(y.server)} ${y.transport} port ${y.port}${opt('facility', y.facility)}${critical(y)}`);
    if (!y.enabled) out.push('health alert syslog shutdown');
    // Like the update CA: a PEM does not fit on a line; the comment names it and loading keeps it.
    if (y.caCertificate) out.push(`! health alert syslog ca-certificate sha256 ${createHash('sha256').update(y.caCertificate).digest('hex').slice(0, 16)} (paste a new one with: health alert syslog ca-certificate)`);
  }
  // The BMC password is never shown; loading the script back keeps the stored one (same BMC and user).
  if (h.bmc) out.push(`health bmc ${q(h.bmc.host)} user ${q(h.bmc.user)} password ${MASKED_PASSWORD}${opt('port', h.bmc.port)}`);
  return out;
}

/** The `ldap` section as CLI lines (cli/ldap.ts reads them back); defaults are left out. */
function ldapLines(l: NonNullable<Config['ldap']>): string[] {
  // The bind password is never shown; loading the script back keeps the stored one (same bind user and servers).
  const out = [
    `ldap directory ${l.type} domain ${q(l.domain)} url ${q(l.url)}${l.failoverUrl ? ` failover-url ${q(l.failoverUrl)}` : ''} bind-dn ${q(l.bindDn)}${l.password ? ` password ${MASKED_PASSWORD}` : ''}`,
  ];
  if (l.baseDn) out.push(`ldap base-dn ${q(l.baseDn)}`);
  if (l.searchTimeout !== DEFAULT_SEARCH_TIMEOUT) out.push(`ldap search-timeout ${l.searchTimeout}`);
  if (l.chaseReferrals) out.push('ldap chase-referrals');
  if (l.userAttribute) out.push(`ldap user-attribute ${q(l.userAttribute)}`);
  for (const m of l.roleMappings) out.push(`ldap role-mapping ${q(m.group)} ${m.role}`);
  const h = l.health;
  const d = DEFAULT_LDAP_HEALTH;
  if (h.interval !== d.interval || h.liveThreshold !== d.liveThreshold || h.deadThreshold !== d.deadThreshold) out.push(`ldap health-check interval ${h.interval} live-threshold ${h.liveThreshold} dead-threshold ${h.deadThreshold}`);
  out.push(`${l.enabled ? 'no ' : ''}ldap shutdown`);
  return out;
}

/** A script with password hashes replaced, for logs and support bundles. */
export function redact(lines: string[]): string[] {
  return lines.map((l) => l.replace(/(secret 9 )\S+/, '$1<redacted>'));
}
