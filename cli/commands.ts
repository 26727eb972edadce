/**
 * The command tree of the appliance CLI with its handlers. Configuration commands edit a copy of
 * the running configuration and apply it at once through the same core as the wizard and System
 * Manager (validate → applyConfig: host adapters, restore on failure, numbered revision, audit).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyConfig } from '../appliance/config/apply.ts';
import { keptFor } from '../appliance/config/secrets.ts';
import { armConfirm, confirmChange, lockoutRisk, pendingConfirm } from '../appliance/config/confirm.ts';
import { check, type Config } from '../appliance/config/schema.ts';
import { toScript, redact } from '../appliance/config/script.ts';
import * as rules from '../appliance/config/rules.ts';
import { hashSecret, verifySecret } from '../appliance/users/secrets.ts';
import { listNics } from '../appliance/network/nics.ts';
import { Lockouts, enableLockKey, lockoutPolicy, passwordPolicy } from '../appliance/users/signin.ts';
import { ACL_COMPONENTS, aclOf, selfLockout, type AclComponent } from '../appliance/acl/schema.ts';
import { hostKeyFingerprints } from '../appliance/ssh/keys.ts';
import { SSH_DEFAULTS } from '../appliance/ssh/schema.ts';
import { showHealth, showHealthSettings, showPlatform, showEnvironment, showRaid, locate, healthConfig } from './health.ts';
import { proxyConfig } from './proxy.ts';
import { PING, TRACEROUTE, NSLOOKUP, TEST_TCP, MONITOR, showCapture } from './diagnostics.ts';
import { TEST_CONNECTIVITY, SHOW_CONNECTIVITY, connectivityConfig, showConnectivity } from './connectivity.ts';
import { portsConfig } from './ports.ts';
import { portalAuthConfig } from './portalauth.ts';
import { ldapConfig } from './ldap.ts';
import { LOGGING_NODE, showAuditLog, showSystemLog } from './logging.ts';
import { softwareUpdateConfig, SOFTWARE_UPDATE_EXEC, versionLines, reloadNotice } from './update.ts';
import { EMAIL_PROTOCOLS } from '../appliance/email/schema.ts';
import { MASKED_PASSWORD } from '../appliance/config/script.ts';
import { VERSION } from '../appliance/version.ts';
import { scrub } from '../appliance/log.ts';
import * as A from './args.ts';
import type { Parsed } from './parse.ts';
import { hasNo, type Args, type ArgType, type Mode, type Node } from './tree.ts';
import type { Session } from './session.ts';
import type { ServiceName } from '../appliance/applier/applier.ts';
import { fieldLabel } from '../appliance/config/messages.ts';
import { mountedImages, verificationSummary } from '../appliance/update/verity.ts';
import { kernelRoutes, openPorts, serviceName } from '../appliance/network/sockets.ts';
import { hostnameMismatch } from '../appliance/certs/webui.ts';
import { formatAssociations, formatStatus as formatNtpStatus, parseSources, parseTracking } from '../appliance/ntp/status.ts';
import { formatBoot } from '../appliance/system/boot.ts';

export type Handler = (s: Session, a: Args, p: Parsed<Handler>) => Promise<string | void> | string | void;
type N = Node<Handler>;

const kw = (k: string, help: string, more: Partial<N> = {}): N => ({ kw: k, help, ...more });
const arg = (name: string, type: ArgType, help: string, more: Partial<N> = {}): N => ({ arg: { name, type }, help, ...more });

// ---------------------------------------------------------------------------------------------
// Applying a change

/** A refusal by a CLI-side rule: `% Invalid <field> (<rule>): <message>`; nothing changes. */
class Refusal extends Error {
  readonly field: string;
  readonly rule: string;
  readonly text: string;
  constructor(field: string, rule: string, text: string) {
    super(`% Invalid ${fieldLabel(field)} (${rule}): ${text}`);
    this.field = field;
    this.rule = rule;
    this.text = text;
  }
  /** The line the user sees, the field named in their words with the configuration at hand. */
  shown(config: Config): string {
    return `% Invalid ${fieldLabel(this.field, config)} (${this.rule}): ${this.text}`;
  }
}
function refuse(field: string, rule: string, message: string): never {
  throw new Refusal(field, rule, message);
}

/**
 * Edits a copy of the running configuration and applies it now (or, in batch mode, edits the
 * candidate). A validation failure names the field and rule and changes nothing; an apply
 * failure leaves the previous running configuration. Every outcome is audited.
 */
async function edit(s: Session, p: Parsed<Handler>, fn: (c: Config) => void | Promise<void>): Promise<string> {
  const batch = s.candidate !== null;
  const cur = s.current();
  if (!cur) return '% There is no running configuration yet: run the first-boot wizard.';
  const next = structuredClone(cur);
  try {
    await fn(next);
  } catch (e) {
    if (e instanceof Refusal) {
      if (!batch) s.store.audit(s.actor, `cli: ${p.redacted}`, `refused: ${e.field} (${e.rule}): ${e.text}`);
      return e.shown(next);
    }
    throw e;
  }
  if (batch) {
    s.candidate = next;
    return '';
  }
  if (JSON.stringify(next) === JSON.stringify(cur)) return '';
  const problems = check(next);
  if (problems.length) {
    s.store.audit(s.actor, `cli: ${p.redacted}`, `refused: ${problems.map((x) => `${x.field} (${x.rule})`).join(', ')}`);
    return problems.map((x) => `% Invalid ${fieldLabel(x.field, next)} (${x.rule}): ${x.message}`).join('\n') + '\n% Nothing was changed.';
  }
  try {
    const r = await applyConfig(s.host, s.store, next, s.actor, p.redacted);
    s.store.audit(s.actor, `cli: ${p.redacted}`, `ok (revision ${r.revision})`);
    const risk = lockoutRisk(cur, next, s.source);
    if (!risk) return '';
    const deadline = armConfirm(s.host, s.store, cur, s.actor, risk);
    const secs = Math.round((deadline.getTime() - Date.now()) / 1000);
    return `% Applied, but this could cut off your session: ${risk}.\n% Reconnect if needed and enter "configure confirm" within ${secs} seconds to keep it; otherwise the previous configuration returns by itself.`;
  } catch (e) {
    s.store.audit(s.actor, `cli: ${p.redacted}`, `failed, previous configuration kept: ${(e as Error).message}`);
    return `% Apply failed; the previous configuration is still running.\n% ${(e as Error).message}`;
  }
}

/** Runs a change in configuration mode: `fn` edits the configuration. */
const change =
  (fn: (c: Config, a: Args, s: Session) => void | Promise<void>): Handler =>
  (s, a, p) =>
    edit(s, p, (c) => fn(c, a, s));

function ifaceIndex(c: Config, name: string): number {
  return c.network.interfaces.findIndex((i) => i.name === name);
}

function field(c: Config, name: string): string {
  const i = ifaceIndex(c, name);
  return `/network/interfaces/${i < 0 ? c.network.interfaces.length : i}`;
}

// ---------------------------------------------------------------------------------------------
// Configuration mode

/** CLI words of the Portal ACL components. */
const ACL_KW: Record<AclComponent, string> = { systemManager: 'system-manager', ssh: 'ssh', provisioning: 'provisioning' };
const ACL_HELP: Record<AclComponent, string> = { systemManager: 'System Manager', ssh: 'the SSH CLI', provisioning: 'provisioning' };

/** Sets one component's ACL; over SSH or the API, a list that shuts out its maker is refused. */
function setAcl(c: Config, s: Session, comp: AclComponent, list: string[]): void {
  c.acl = { ...aclOf(c), [comp]: list };
  const p = selfLockout(c, s.source);
  if (p) refuse(p.field, p.rule, p.message.replace(/, or force the change.*$/, ' first'));
}

function setPolicy(c: Config, change: Partial<NonNullable<Config['users']['passwordPolicy']>>): void {
  c.users.passwordPolicy = { ...passwordPolicy(c), ...change };
}

/** `ip ssh idle-timeout MINUTES [SECONDS]` (as IOS exec-timeout); the schema says how short it may be. */
function setIdle(c: Config, minutes: string, seconds: string): void {
  const total = Number(minutes) * 60 + Number(seconds);
  if (total < 10) refuse('/ssh/idleTimeoutSeconds', 'minimum', 'the idle timeout must be at least 10 seconds');
  c.ssh.idleTimeoutSeconds = total;
}

function setPassword(c: Config, s: Session, name: string, role: string | undefined, pw: string | undefined, hash: string | undefined): Promise<void> | void {
  const idx = c.users.local.findIndex((u) => u.name === name);
  const existing = idx >= 0 ? c.users.local[idx] : null;
  if (!existing && pw === undefined && hash === undefined) refuse(`username ${name} password`, 'required', `a new user needs a password: username ${name} role ${role ?? 'operator'} password PASSWORD`);
  const now = new Date().toISOString();
  const put = (passwordHash: string, changed: string): void => {
    // The rest of the record (names, e-mail, EDIPI) stays as it was.
    const u = { ...existing, name, passwordHash, passwordChangedAt: changed, role: (role ?? existing?.role ?? 'operator') as 'admin' | 'operator' };
    if (existing) c.users.local[idx] = u;
    else c.users.local.push(u);
  };
  if (pw !== undefined) {
    const policy = passwordPolicy(c);
    const e = rules.password(pw, name, policy);
    if (e) refuse(`username ${name} password`, 'password-policy', e);
    if (existing && name === s.user.name && Date.now() - Date.parse(existing.passwordChangedAt) < policy.minAgeHours * 3600 * 1000 && s.candidate === null)
      refuse(`username ${name} password`, 'password-age', `your own password can be changed at most once per ${policy.minAgeHours} hours`);
    return hashSecret(pw).then((h) => {
      put(h, now);
      if (name === s.user.name) s.renewedAt = Date.now();
    });
  }
  if (hash !== undefined) {
    const same = existing?.passwordHash === hash;
    const base = s.batchBase?.users.local.find((u) => u.name === name && u.passwordHash === hash);
    put(hash, same ? existing!.passwordChangedAt : (base?.passwordChangedAt ?? now));
    return;
  }
  put(existing!.passwordHash, existing!.passwordChangedAt);
}

/** The seed's user fields: `username NAME first-name|last-name|email|edipi VALUE` (and `no` forms). */
type UserField = 'firstName' | 'lastName' | 'email' | 'edipi';
function setUserField(c: Config, name: string, field: UserField, value: string | undefined): void {
  const u = c.users.local.find((x) => x.name === name);
  if (!u) refuse('/users/local', 'exists', `there is no user ${name}: create it first (username ${name} role operator password PASSWORD)`);
  if (value === undefined) delete u[field];
  else u[field] = value;
}
const userFieldNodes = (): N[] =>
  (
    [
      ['first-name', 'firstName', 'First name', A.personName],
      ['last-name', 'lastName', 'Last name', A.personName],
      ['email', 'email', 'E-mail address (certificate sign-in can map to it: $EMAIL$)', A.email],
      ['edipi', 'edipi', 'DoD EDIPI, 10 digits (CAC sign-in maps to it: $EDIPI$)', A.edipi],
    ] as const
  ).map(([word, field, help, type]) =>
    kw(word, help, {
      no: change((c, a) => setUserField(c, a.name, field, undefined)),
      children: [arg(word, type, help, { run: change((c, a) => setUserField(c, a.name, field, a[word])) })],
    }),
  );

const userTail = (): N[] => [
  kw('password', 'Set the password (checked against the password policy)', { children: [arg('password', A.password, 'The password', { run: change((c, a, s) => setPassword(c, s, a.name, a.role, a.password, undefined)) })] }),
  kw('secret', 'Set the password as a stored hash', { children: [kw('9', 'The hash follows (scrypt, as shown by show running-config)', { children: [arg('hash', A.passwordHash, 'The password hash', { run: change((c, a, s) => setPassword(c, s, a.name, a.role, undefined, a.hash)) })] })] }),
];

const roleNode = (role: 'admin' | 'operator', help: string): N => kw(role, help, { run: change((c, a, s) => setPassword(c, s, a.name, role, undefined, undefined)), children: userTail() });
// Handlers read a.role; the role keyword is not an argument, so set it from the path.
function withRole(n: N, role: string): N {
  const wrap = (x: N): N => ({ ...x, run: x.run ? (s, a, p) => x.run!(s, { ...a, role }, p) : undefined, children: x.children?.map(wrap) });
  return wrap(n);
}

const CONFIG_NODES: N[] = [
  kw('hostname', 'Set the external host name (FQDN) of the appliance', {
    children: [
      arg('hostname', A.fqdn, 'Fully qualified host name, like core.example.com', {
        run: async (s, a, p) => {
          const out = await change((c) => void (c.system.hostname = a.hostname))(s, a, p);
          // The certificate browsers see may still carry the old name: say so where the name changed.
          const note = !out && s.candidate === null ? hostnameMismatch(s.host, a.hostname) : null;
          return note ? `% Note: ${note}` : out;
        },
      }),
    ],
  }),
  kw('company', 'Company identity', {
    children: [
      kw('name', 'Company name', { children: [arg('text', A.displayText, 'Company name', { run: change((c, a) => void (c.system.company = a.text)) })] }),
      kw('contact', 'Contact person', { children: [arg('text', A.displayText, 'Contact person', { run: change((c, a) => void (c.system.contact = a.text)) })] }),
      kw('contact-email', 'E-mail address of the contact person', { children: [arg('email', A.email, 'E-mail address', { run: change((c, a) => void (c.system.contactEmail = a.email)) })] }),
    ],
  }),
  kw('enable', 'Privileged EXEC access', {
    children: [
      kw('secret', 'Set the enable secret (stored as a hash)', {
        children: [
          kw('9', 'The hash follows (scrypt, as shown by show running-config)', { children: [arg('hash', A.passwordHash, 'The hash', { run: change((c, a) => void (c.users.enableSecretHash = a.hash)) })] }),
          arg('secret', A.enableSecret, 'The enable secret: 6-20 letters and digits', { run: change(async (c, a) => void (c.users.enableSecretHash = await hashSecret(a.secret))) }),
        ],
      }),
    ],
  }),
  kw('username', 'Local users', {
    children: [
      arg('name', A.userName, 'User name', {
        no: change((c, a, s) => {
          const i = c.users.local.findIndex((u) => u.name === a.name);
          if (i < 0) refuse('/users/local', 'exists', `there is no user ${a.name}`);
          if (a.name === s.user.name) refuse(`/users/local/${i}`, 'self', 'you cannot remove the user you are signed in as');
          c.users.local.splice(i, 1);
        }),
        children: [
          kw('role', 'Role of the user', { children: [withRole(roleNode('admin', 'Full access'), 'admin'), withRole(roleNode('operator', 'Read-only access'), 'operator')] }),
          ...userTail(),
          ...userFieldNodes(),
        ],
      }),
    ],
  }),
  kw('interface', 'Select an interface to configure', {
    children: [
      arg('interface', A.interfaceName, 'Interface', {
        run: (s, a) => {
          const nics = listNics(s.host);
          if (s.candidate === null && nics.length > 0 && !nics.some((n) => n.name === a.interface))
            return `% Invalid interface (nic-present): ${a.interface} is not present on this machine (it has ${nics.map((n) => n.name).join(', ')})`;
          s.mode = 'config-if';
          s.iface = a.interface;
        },
        no: change((c, a) => {
          const i = ifaceIndex(c, a.interface);
          if (i < 0) return;
          if (i === 0) refuse(`/network/interfaces/0`, 'management', `${a.interface} is the management interface and cannot be removed`);
          c.network.interfaces.splice(i, 1);
        }),
      }),
    ],
  }),
  kw('ip', 'IP settings', {
    children: [
      kw('default-gateway', 'Default gateway', { children: [arg('gateway', A.ipv4, 'Gateway address, inside the subnet of an interface', { run: change((c, a) => void (c.network.gateway = a.gateway)) })] }),
      kw('route', 'Static route', {
        children: [
          arg('destination', A.ipv4, 'Destination network', {
            children: [
              arg('netmask', A.netmask, 'Destination netmask', {
                children: [
                  arg('via', A.ipv4, 'Next-hop gateway', {
                    run: change((c, a) => {
                      const dst = (rules.ipToInt(a.destination) & rules.ipToInt(a.netmask)) >>> 0;
                      const at = `/network/routes/${c.network.routes.length}`;
                      if (dst !== rules.ipToInt(a.destination)) refuse(`${at}/destination`, 'network-address', `${a.destination} has host bits set for netmask ${a.netmask}; use ${rules.intToIp(dst)}`);
                      if (!c.network.interfaces.some((i) => rules.gatewayInSubnet(a.via, i.address, i.netmask) === null))
                        refuse(`${at}/via`, 'gateway-in-subnet', `next hop ${a.via} is not a host in the subnet of a configured interface`);
                      if (c.network.routes.some((r) => r.destination === a.destination && r.netmask === a.netmask && r.via === a.via)) return;
                      c.network.routes.push({ destination: a.destination, netmask: a.netmask, via: a.via });
                    }),
                    no: change((c, a) => {
                      const i = c.network.routes.findIndex((r) => r.destination === a.destination && r.netmask === a.netmask && r.via === a.via);
                      if (i < 0) refuse('/network/routes', 'exists', `there is no route ${a.destination} ${a.netmask} ${a.via}`);
                      c.network.routes.splice(i, 1);
                    }),
                  }),
                ],
              }),
            ],
          }),
        ],
      }),
      kw('name-server', 'Name servers (1 to 3, replaces the list)', {
        children: [
          arg('ns1', A.ipv4, 'Name server 1', {
            run: change((c, a) => void (c.dns.servers = [a.ns1])),
            children: [
              arg('ns2', A.ipv4, 'Name server 2', {
                run: change((c, a) => void (c.dns.servers = [a.ns1, a.ns2])),
                children: [arg('ns3', A.ipv4, 'Name server 3', { run: change((c, a) => void (c.dns.servers = [a.ns1, a.ns2, a.ns3])) })],
              }),
            ],
          }),
        ],
      }),
      kw('domain-name', 'Search domain (default: the domain of the host name)', {
        no: change((c) => void delete c.dns.domain),
        children: [arg('domain', A.domainName, 'Domain name', { run: change((c, a) => void (c.dns.domain = a.domain)), no: change((c) => void delete c.dns.domain) })],
      }),
      kw('ssh', 'Remote CLI over SSH', {
        children: [
          kw('server', 'SSH server on (port 22 unless given)', {
            run: change((c) => void (c.ssh.enabled = true)),
            no: change((c) => void (c.ssh.enabled = false)),
            children: [kw('port', 'TCP port', { children: [arg('port', A.port, 'TCP port', { run: change((c, a) => void (c.ssh = { ...c.ssh, enabled: true, port: Number(a.port) })) })] })],
          }),
          kw('idle-timeout', 'Close SSH sessions without input for this long (default 10 minutes)', {
            no: change((c) => void delete c.ssh.idleTimeoutSeconds),
            children: [
              arg('minutes', A.minutes, 'Minutes', {
                run: change((c, a) => setIdle(c, a.minutes, '0')),
                children: [arg('seconds', A.seconds, 'And seconds', { run: change((c, a) => setIdle(c, a.minutes, a.seconds)) })],
              }),
            ],
          }),
          kw('max-sessions', 'Most SSH sessions open at once (default 8)', {
            no: change((c) => void delete c.ssh.maxSessions),
            children: [arg('sessions', A.sessions, 'Sessions', { run: change((c, a) => void (c.ssh.maxSessions = Number(a.sessions))) })],
          }),
        ],
      }),
      kw('http', 'System Manager (HTTPS)', {
        children: [kw('secure-server', 'System Manager HTTPS server', { children: [kw('port', 'TCP port', { children: [arg('port', A.port, 'TCP port (default 8443)', { run: change((c, a) => void (c.webui.port = Number(a.port))) })] })] })],
      }),
    ],
  }),
  kw('ntp', 'Network time', {
    no: change((c) => void (c.ntp = { enabled: false, servers: [] })),
    children: [
      kw('server', 'Add an NTP server (up to 3)', {
        children: [
          arg('server', A.ntpServer, 'IPv4 address or host name', {
            run: change((c, a) => {
              if (!c.ntp.servers.includes(a.server)) c.ntp.servers.push(a.server);
              c.ntp.enabled = true;
            }),
            no: change((c, a) => {
              if (!c.ntp.servers.includes(a.server)) refuse('/ntp/servers', 'exists', `${a.server} is not an NTP server here`);
              c.ntp.servers = c.ntp.servers.filter((x) => x !== a.server);
              if (c.ntp.servers.length === 0) c.ntp.enabled = false;
            }),
          }),
        ],
      }),
    ],
  }),
  kw('clock', 'Clock', { children: [kw('timezone', 'Time zone', { children: [arg('zone', A.timezone, 'IANA time zone, like UTC or Europe/Berlin', { run: change((c, a) => void (c.clock.timezone = a.zone)) })] })] }),
  kw('email', 'Outgoing e-mail (SMTP) for alerts and notifications', {
    no: change((c) => void delete c.email),
    children: [
      kw('server', 'SMTP server, port and protocol', {
        children: [
          arg('server', A.ntpServer, 'IPv4 address or host name', {
            children: [
              kw('port', 'TCP port', {
                children: [
                  arg('port', A.port, 'Usually 25 (smtp), 465 (smtps) or 587 (starttls)', {
                    children: [
                      kw('protocol', 'Encryption', {
                        children: EMAIL_PROTOCOLS.map((proto) =>
                          kw(proto, proto === 'smtp' ? 'No encryption' : proto === 'smtps' ? 'TLS from the start' : 'SMTP upgraded with STARTTLS (required)', {
                            run: change((c, a) => {
                              const next = { auth: false, from: c.email?.from ?? c.system.contactEmail, ...c.email, server: a.server, port: Number(a.port), protocol: proto };
                              // The stored password is only sent where it was given: a new server needs it again.
                              if (next.password !== undefined) keptFor('email', c.email, next);
                              c.email = next;
                            }),
                          }),
                        ),
                      }),
                    ],
                  }),
                ],
              }),
            ],
          }),
        ],
      }),
      kw('from', 'From address of administrative e-mail', {
        children: [arg('from', A.email, 'E-mail address', { run: change((c, a) => (c.email ? void (c.email.from = a.from) : refuse('/email/server', 'required', 'set the SMTP server first: email server HOST port N protocol smtp|smtps|starttls'))) })],
      }),
      kw('authentication', 'The SMTP server requires a user name and password', {
        no: change((c) => {
          if (!c.email) return;
          c.email.auth = false;
          delete c.email.username;
          delete c.email.password;
        }),
        children: [
          kw('username', 'SMTP user name', {
            children: [
              arg('user', A.smtpUser, 'User name', {
                children: [
                  kw('password', 'SMTP password (********: keep the stored one)', {
                    children: [
                      arg('password', A.smtpPassword, 'Password', {
                        run: change((c, a, s) => {
                          if (!c.email) refuse('/email/server', 'required', 'set the SMTP server first: email server HOST port N protocol smtp|smtps|starttls');
                          const keep = a.password === MASKED_PASSWORD;
                          const { password: _old, ...next } = { ...c.email, auth: true, username: a.user };
                          const stored = keep ? keptFor('email', c.email.password ? c.email : s.batchBase?.email, next) : undefined;
                          if (keep && !stored) refuse('/email/password', 'required', 'there is no stored SMTP password to keep; give the password');
                          c.email = { ...next, password: keep ? stored : a.password };
                        }),
                      }),
                    ],
                  }),
                ],
              }),
            ],
          }),
        ],
      }),
    ],
  }),
  kw('password-policy', 'Password policy for local users (the seed\'s by default)', {
    no: change((c) => void delete c.users.passwordPolicy),
    children: [
      kw('min-length', 'Fewest characters (default 8)', { children: [arg('n', A.minLength, 'Characters', { run: change((c, a) => setPolicy(c, { minLength: Number(a.n) })) })] }),
      kw('max-repeat', 'Most times one character may repeat in a row (default 3)', { children: [arg('n', A.maxRepeat, 'Times', { run: change((c, a) => setPolicy(c, { maxRepeat: Number(a.n) })) })] }),
      kw('min-age', 'Hours before a user may change their own password again (default 24)', { children: [arg('n', A.minAgeHours, 'Hours', { run: change((c, a) => setPolicy(c, { minAgeHours: Number(a.n) })) })] }),
      ...(
        [
          ['require-letter', 'requireLetter', 'At least one letter'],
          ['require-capital', 'requireUpper', 'At least one capital letter'],
          ['require-digit', 'requireDigit', 'At least one digit'],
        ] as const
      ).map(([k, f, h]) => kw(k, `${h} (default on)`, { run: change((c) => setPolicy(c, { [f]: true })), no: change((c) => setPolicy(c, { [f]: false })) })),
    ],
  }),
  kw('access-list', 'Portal ACL: who may reach System Manager, SSH and provisioning (enforced by the firewall)', {
    children: ACL_COMPONENTS.map((comp) =>
      kw(ACL_KW[comp], `Allowed addresses for ${ACL_HELP[comp]} (none: everyone)`, {
        no: change((c, _a, s) => setAcl(c, s, comp, [])),
        children: [
          kw('permit', 'Allow an IPv4 address or network', {
            children: [
              arg('entry', A.aclEntry, 'A.B.C.D or A.B.C.D/N', {
                run: change((c, a, s) => setAcl(c, s, comp, [...new Set([...aclOf(c)[comp], a.entry])])),
                no: change((c, a, s) => {
                  if (!aclOf(c)[comp].includes(a.entry)) refuse(`/acl/${comp}`, 'exists', `${a.entry} is not in the list`);
                  setAcl(c, s, comp, aclOf(c)[comp].filter((x) => x !== a.entry));
                }),
              }),
            ],
          }),
        ],
      }),
    ),
  }),
  kw('login', 'Sign-in policy', {
    children: [
      kw('lockout', 'Lock a user name out of SSH and System Manager after repeated failed sign-ins (the consoles are never locked)', {
        no: change((c) => void delete c.users.lockout),
        children: [
          kw('attempts', 'Failed sign-ins that lock the user name out (default 5)', {
            children: [
              arg('attempts', A.attempts, 'Failures', {
                children: [
                  kw('within', 'Counted within this many minutes (default 15)', {
                    children: [
                      arg('window', A.periodMinutes, 'Minutes', {
                        children: [
                          kw('duration', 'How long the lockout lasts (default 15 minutes)', {
                            children: [
                              arg('duration', A.periodMinutes, 'Minutes', {
                                run: change((c, a) => void (c.users.lockout = { attempts: Number(a.attempts), windowMinutes: Number(a.window), lockMinutes: Number(a.duration) })),
                              }),
                            ],
                          }),
                        ],
                      }),
                    ],
                  }),
                ],
              }),
            ],
          }),
        ],
      }),
    ],
  }),
  kw('banner', 'Banners', {
    children: [
      kw('login', 'Banner shown before sign-in (consoles and SSH)', {
        no: change((c) => void delete c.ssh.banner),
        children: [arg('text', A.bannerText, 'Banner text, in double quotes', { run: change((c, a) => void (c.ssh.banner = a.text)) })],
      }),
    ],
  }),
  softwareUpdateConfig({ change, refuse }),
  healthConfig({ change, refuse }),
  proxyConfig({ change, refuse }),
  connectivityConfig({ change, refuse }),
  portsConfig({ change, refuse }),
  portalAuthConfig({ change, refuse }),
  ldapConfig({ change, refuse }),
];

const IF_NODES: N[] = [
  kw('ip', 'Interface IP settings', {
    children: [
      kw('address', 'IPv4 address and netmask', {
        no: change((c, _a, s) => {
          const i = ifaceIndex(c, s.iface!);
          if (i === 0) refuse(`/network/interfaces/0`, 'management', `${s.iface} is the management interface and needs an address`);
          if (i > 0) c.network.interfaces.splice(i, 1);
        }),
        children: [
          arg('address', A.hostAddress, 'IPv4 address', {
            children: [
              arg('netmask', A.netmask, 'Netmask, like 255.255.255.0', {
                run: change((c, a, s) => {
                  const e = rules.addressInSubnet(a.address, a.netmask);
                  if (e) refuse(`${field(c, s.iface!)}/address`, 'host-in-subnet', e);
                  const i = ifaceIndex(c, s.iface!);
                  if (i < 0) c.network.interfaces.push({ name: s.iface as Config['network']['interfaces'][number]['name'], address: a.address, netmask: a.netmask, enabled: true });
                  else c.network.interfaces[i] = { ...c.network.interfaces[i], address: a.address, netmask: a.netmask };
                }),
                children: [
                  kw('default-gateway', 'Change the default gateway in the same step (moving the management subnet)', {
                    children: [
                      arg('gateway', A.ipv4, 'Default gateway in the new subnet', {
                        run: change((c, a, s) => {
                          const i = ifaceIndex(c, s.iface!);
                          if (i < 0) c.network.interfaces.push({ name: s.iface as Config['network']['interfaces'][number]['name'], address: a.address, netmask: a.netmask, enabled: true });
                          else c.network.interfaces[i] = { ...c.network.interfaces[i], address: a.address, netmask: a.netmask };
                          c.network.gateway = a.gateway;
                        }),
                      }),
                    ],
                  }),
                ],
              }),
            ],
          }),
        ],
      }),
    ],
  }),
  kw('description', 'What the interface is for (no description: remove it)', {
    children: [arg('text', A.displayText, 'Description (up to 240 characters)', { run: change((c, a, s) => setDescription(c, s, a.text as string)) })],
    no: change((c, _a, s) => setDescription(c, s, undefined)),
  }),
  kw('shutdown', 'Shut the interface down (no shutdown: bring it up)', {
    run: change((c, _a, s) => setEnabled(c, s, false)),
    no: change((c, _a, s) => setEnabled(c, s, true)),
  }),
];

function setDescription(c: Config, s: Session, text: string | undefined): void {
  const i = ifaceIndex(c, s.iface!);
  if (i < 0) refuse(field(c, s.iface!), 'configured', `${s.iface} has no address yet; set one with ip address A.B.C.D MASK first`);
  if (text === undefined) delete c.network.interfaces[i].description;
  else c.network.interfaces[i].description = text;
}

function setEnabled(c: Config, s: Session, on: boolean): void {
  const i = ifaceIndex(c, s.iface!);
  if (i < 0) {
    if (s.candidate !== null && on) return;
    refuse(field(c, s.iface!), 'configured', `${s.iface} has no address yet; set one with ip address A.B.C.D MASK first`);
  }
  c.network.interfaces[i].enabled = on;
}

// ---------------------------------------------------------------------------------------------
// EXEC mode

const pad = (s: string, n: number): string => s.padEnd(n);

function showRunning(s: Session, which: 'running' | 'startup'): string {
  const st = which === 'running' ? s.store.running() : s.store.startup();
  if (!st) return which === 'startup' ? '% startup-config is not present' : '% There is no running configuration yet';
  let lines = toScript(st.config);
  if (s.user.role !== 'admin') lines = redact(lines);
  const unsaved = which === 'running' && s.store.unsaved() ? ', not saved' : '';
  return [`! ${which}-config, revision ${st.revision}${unsaved}`, ...lines].join('\n');
}

function readSys(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
}

/** One NIC's state as the kernel reports it (sysfs): link, MTU, speed, duplex, counters. */
function kernelState(s: Session, ifname: string) {
  const at = (f: string) => readSys(path.join(s.host.sysfs, 'class/net', ifname, f));
  const num = (f: string) => {
    const v = at(f);
    return v !== null && /^-?\d+$/.test(v) ? Number(v) : null;
  };
  return {
    oper: at('operstate') ?? 'unknown',
    mtu: num('mtu'),
    speed: num('speed'),
    duplex: at('duplex'),
    rx: { packets: num('statistics/rx_packets'), bytes: num('statistics/rx_bytes'), errors: num('statistics/rx_errors'), dropped: num('statistics/rx_dropped') },
    tx: { packets: num('statistics/tx_packets'), bytes: num('statistics/tx_bytes'), errors: num('statistics/tx_errors'), dropped: num('statistics/tx_dropped') },
  };
}

/** The IPv4 address the kernel has on an interface (not in a sandbox, whose NICs are a fixture). */
function kernelAddress(s: Session, ifname: string): string | null {
  if (s.host.sandbox) return null;
  return os.networkInterfaces()[ifname]?.find((a) => a.family === 'IPv4')?.address ?? null;
}

function showInterfaces(s: Session, a: Args = {}): string {
  const c = s.current();
  const nics = listNics(s.host);
  const only = a.interface as string | undefined;
  const names = [...new Set([...nics.map((n) => n.name), ...(c?.network.interfaces.map((i) => i.name) ?? [])])].sort().filter((n) => !only || n === only);
  if (names.length === 0) return only ? `% ${only} is not present and not configured` : '% No interfaces found';
  const out: string[] = [];
  const n = (v: number | null) => (v === null ? '?' : String(v));
  for (const name of names) {
    const nic = nics.find((x) => x.name === name);
    const cfg = c?.network.interfaces.find((i) => i.name === name);
    const admin = cfg ? (cfg.enabled ? 'up' : 'administratively down') : 'not configured';
    const k = nic?.ifname ? kernelState(s, nic.ifname) : null;
    const oper = k ? k.oper : nic ? 'no driver' : 'not present';
    out.push(`${name} is ${admin}, line protocol is ${oper}`);
    if (nic) out.push(`  Hardware: PCI ${nic.pci}, driver ${nic.driver ?? 'none'}, address ${nic.mac ?? 'unknown'}${nic.ifname ? `, kernel name ${nic.ifname}` : ''}`);
    else out.push('  Hardware: not present on this machine');
    if (cfg?.description) out.push(`  Description: ${cfg.description}`);
    if (cfg) out.push(`  Internet address is ${cfg.address}/${rules.prefixLength(cfg.netmask)} (netmask ${cfg.netmask})`);
    if (k) {
      const speed = k.speed !== null && k.speed > 0 ? `${k.speed} Mb/s` : 'unknown speed';
      out.push(`  MTU ${n(k.mtu)} bytes, ${speed}, ${k.duplex && k.duplex !== 'unknown' ? `${k.duplex}-duplex` : 'unknown duplex'}`);
      out.push(`  ${n(k.rx.packets)} packets input, ${n(k.rx.bytes)} bytes, ${n(k.rx.errors)} input errors, ${n(k.rx.dropped)} dropped`);
      out.push(`  ${n(k.tx.packets)} packets output, ${n(k.tx.bytes)} bytes, ${n(k.tx.errors)} output errors, ${n(k.tx.dropped)} dropped`);
    }
  }
  return out.join('\n');
}

/** `show ip interface brief`: one line per interface, as IOS prints it. */
function showIpInterfaceBrief(s: Session): string {
  const c = s.current();
  const nics = listNics(s.host);
  const names = [...new Set([...nics.map((x) => x.name), ...(c?.network.interfaces.map((i) => i.name) ?? [])])].sort();
  const row = (cols: string[]) => `${cols[0].padEnd(23)}${cols[1].padEnd(16)}${cols[2].padEnd(4)}${cols[3].padEnd(7)}${cols[4].padEnd(22)}${cols[5]}`.trimEnd();
  const out = [row(['Interface', 'IP-Address', 'OK?', 'Method', 'Status', 'Protocol'])];
  for (const name of names) {
    const nic = nics.find((x) => x.name === name);
    const cfg = c?.network.interfaces.find((i) => i.name === name);
    const kernel = nic?.ifname ? kernelAddress(s, nic.ifname) : null;
    const address = kernel ?? cfg?.address ?? 'unassigned';
    const ok = cfg ? (kernel === null || kernel === cfg.address ? 'YES' : 'NO') : 'YES';
    // One sysfs read per interface: the link state is both the status and the protocol.
    const protocol = nic?.ifname && readSys(path.join(s.host.sysfs, 'class/net', nic.ifname, 'operstate')) === 'up' ? 'up' : 'down';
    const status = !nic ? 'not present' : cfg && !cfg.enabled ? 'administratively down' : protocol;
    out.push(row([name, address, ok, cfg ? 'manual' : 'unset', status, protocol]));
  }
  return out.join('\n');
}

function showOpenPorts(s: Session): string {
  const ports = openPorts(s.host);
  if (!ports.length) return '% No listening sockets (the kernel\'s tables are not readable here)';
  const row = (c: string[]) => `${c[0].padEnd(6)}${c[1].padEnd(46)}${c[2].padEnd(16)}${c[3]}`.trimEnd();
  return [
    'Active internet connections (servers)',
    row(['Prot', 'Local Address', 'Service', 'Reachable from']),
    ...ports.map((p) => row([p.protocol, `${p.address.includes(':') ? `[${p.address}]` : p.address}:${p.port}`, serviceName(p), p.loopback ? 'this host only' : 'network'])),
  ].join('\n');
}

function showRoute(s: Session): string {
  const routes = kernelRoutes(s.host);
  if (routes) {
    // The kernel's table, with each Linux interface under its appliance name.
    const names = new Map(listNics(s.host).filter((n) => n.ifname).map((n) => [n.ifname!, n.name]));
    const def = routes.find((r) => r.prefix === 0 && r.gateway);
    const out = ['Codes: C - connected, S - static, * - candidate default', '', def ? `Gateway of last resort is ${def.gateway} to network 0.0.0.0` : 'Gateway of last resort is not set', ''];
    for (const r of routes.filter((x) => x.ifname !== 'lo')) {
      const via = names.get(r.ifname) ?? r.ifname;
      if (r.gateway) out.push(`S${r.prefix === 0 ? '*' : ' '}    ${r.destination}/${r.prefix} [1/${r.metric}] via ${r.gateway}, ${via}`);
      else out.push(`C     ${r.destination}/${r.prefix} is directly connected, ${via}`);
    }
    return out.join('\n');
  }
  return configuredRoutes(s);
}

/** The routes the configuration asks for (where the kernel's table cannot be read: a sandbox). */
function configuredRoutes(s: Session): string {
  const c = s.current();
  if (!c) return '% There is no running configuration yet';
  const out = ['Codes: C - connected, S - static, * - candidate default', ''];
  out.push(`Gateway of last resort is ${c.network.gateway} to network 0.0.0.0`, '');
  out.push(`S*    0.0.0.0/0 [1/0] via ${c.network.gateway}`);
  for (const i of c.network.interfaces) {
    const net = rules.intToIp((rules.ipToInt(i.address) & rules.ipToInt(i.netmask)) >>> 0);
    out.push(`C     ${net}/${rules.prefixLength(i.netmask)} is directly connected, ${i.name}${i.enabled ? '' : ' (shutdown)'}`);
  }
  for (const r of c.network.routes) out.push(`S     ${r.destination}/${rules.prefixLength(r.netmask)} [1/0] via ${r.via}`);
  return out.join('\n');
}

async function showNtp(s: Session): Promise<string> {
  const c = s.current();
  if (!c) return '% There is no running configuration yet';
  const out = [c.ntp.enabled ? `NTP is enabled (chrony); servers: ${c.ntp.servers.join(', ')}` : 'NTP is disabled'];
  if (c.ntp.enabled) {
    const st = await s.host.applier.timeStatus();
    out.push('', formatNtpStatus(parseTracking(st.tracking)), '', formatAssociations(parseSources(st.sources)));
  }
  return out.join('\n');
}

export function formatClock(d: Date, tz: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: tz, hour12: false, weekday: 'short', month: 'short', day: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  const ms = String(d.getUTCMilliseconds()).padStart(3, '0');
  return `${parts.hour === '24' ? '00' : parts.hour}:${parts.minute}:${parts.second}.${ms} ${parts.timeZoneName} ${parts.weekday} ${parts.month} ${parts.day} ${parts.year}`;
}

function showClock(s: Session): string {
  const tz = s.current()?.clock.timezone ?? 'UTC';
  return `${formatClock(new Date(), tz)}${tz !== 'UTC' ? ` (${tz})` : ''}`;
}

function showVersion(s: Session): string {
  const c = s.current();
  const up = readSys(s.host.files.real('/proc/uptime'));
  const secs = up ? Math.floor(Number(up.split(' ')[0])) : null;
  const uptime = secs === null ? 'unknown' : `${Math.floor(secs / 86400)} days, ${Math.floor((secs % 86400) / 3600)} hours, ${Math.floor((secs % 3600) / 60)} minutes`;
  const product = s.host.files.readText('/sys/class/dmi/id/product_name')?.trim();
  return [
    `Keel appliance software, version ${VERSION}`,
    `Node.js ${process.version}`,
    '',
    `${c?.system.hostname ?? 'unconfigured'} uptime is ${uptime}`,
    product ? `Platform: ${product}` : null,
    ((v) => (v ? `System image: ${v}` : null))(verificationSummary(mountedImages(s.host))),
    `Running configuration revision ${s.store.running()?.revision ?? '-'}, startup revision ${s.store.startup()?.revision ?? '-'}${s.store.unsaved() ? ' (unsaved changes)' : ''}`,
    '',
    ...versionLines(s),
  ]
    .filter((x) => x !== null)
    .join('\n');
}

function showUsers(s: Session): string {
  const c = s.current();
  if (!c) return '% There is no running configuration yet';
  const rows = c.users.local.map((u) => `${u.name === s.user.name ? '*' : ' '} ${pad(u.name, 32)} ${pad(u.role, 9)} ${u.passwordChangedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`);
  return [`  ${pad('User', 32)} ${pad('Role', 9)} Password changed (UTC)`, ...rows].join('\n');
}

function showArchive(s: Session, a: Args): string {
  if (a.revision) {
    const id = Number(a.revision);
    const r = s.store.revisions(100000).find((x) => x.id === id);
    if (!r) return `% There is no revision ${id}`;
    return [`Revision ${r.id}, ${r.at} by ${r.who} (${r.source}): ${r.summary}`, '', r.diff || '(no change)'].join('\n');
  }
  const run = s.store.running()?.revision;
  const start = s.store.startup()?.revision;
  const revs = s.store.revisions(50);
  if (!revs.length) return 'The archive is empty';
  return [
    `${pad('   Rev', 9)} ${pad('When (UTC)', 20)} ${pad('Who', 16)} ${pad('Source', 16)} Summary`,
    ...revs.map((r) => `${r.id === run ? 'R' : ' '}${r.id === start ? 'S' : ' '} ${String(r.id).padStart(6)} ${pad(r.at.replace('T', ' ').slice(0, 19), 20)} ${pad(r.who, 16)} ${pad(r.source, 16)} ${r.summary}`),
    '',
    'R: running configuration, S: startup configuration. Roll back with: rollback N',
  ].join('\n');
}

async function rollback(s: Session, a: Args, p: Parsed<Handler>): Promise<string> {
  const id = Number(a.revision);
  const old = s.store.revisionConfig(id);
  if (!old) return `% There is no revision ${id}`;
  const out = await edit(s, p, (c) => {
    for (const k of Object.keys(c) as (keyof Config)[]) delete c[k];
    Object.assign(c, structuredClone(old));
  });
  return out || `Configuration replaced with revision ${id} (now running as revision ${s.store.running()?.revision}); save it with write memory.`;
}

function save(s: Session, p: Parsed<Handler>): string {
  if (!s.store.running()) return '% There is no running configuration yet';
  const rev = s.store.saveStartup(s.actor);
  s.store.audit(s.actor, `cli: ${p.redacted}`, `ok (revision ${rev})`);
  return 'Building configuration...\n[OK]';
}

async function reload(s: Session, _a: Args, p: Parsed<Handler>): Promise<string> {
  if (s.store.unsaved()) {
    const ans = (await s.io.ask('System configuration has been modified. Save? [yes/no]: ')).trim().toLowerCase();
    if (ans === 'y' || ans === 'yes') s.io.write(save(s, p) + '\n');
    else if (ans !== 'n' && ans !== 'no') {
      s.store.audit(s.actor, `cli: ${p.redacted}`, 'cancelled');
      return '% Please answer yes or no. Reload cancelled.';
    }
  }
  const install = reloadNotice(s);
  if (install) s.io.write(`${install}\n`);
  const ok = (await s.io.ask('Proceed with reload? [confirm]')).trim().toLowerCase();
  if (ok !== '' && ok !== 'y' && ok !== 'yes') {
    s.store.audit(s.actor, `cli: ${p.redacted}`, 'cancelled');
    return 'Reload cancelled.';
  }
  s.store.audit(s.actor, `cli: ${p.redacted}`, 'ok: rebooting');
  await s.host.applier.reboot();
  s.closed = true;
  return s.host.applier.live ? 'Reloading...' : 'Reloading... (sandbox: systemctl reboot recorded, not run)';
}

async function service(s: Session, a: Args, p: Parsed<Handler>, action: 'start' | 'stop' | 'restart' | 'status'): Promise<string> {
  const name = a.service as ServiceName;
  if (action === 'status') return s.host.applier.service('status', name);
  try {
    await s.host.applier.service(action, name);
  } catch (e) {
    s.store.audit(s.actor, `cli: ${p.redacted}`, `failed: ${(e as Error).message}`);
    throw e;
  }
  s.store.audit(s.actor, `cli: ${p.redacted}`, 'ok');
  return '';
}

/** `configure confirm`: keeps a change applied with a confirm timer. */
function confirm(s: Session): string {
  const p = pendingConfirm();
  if (!confirmChange(s.store, s.actor)) return '% No change is waiting for confirmation.';
  return `Change kept (${p!.reason}).`;
}

/** `install guest-tools`: the detected hypervisor's agent (audited). */
async function guestTools(s: Session, _a: Args, p: Parsed<Handler>): Promise<string> {
  try {
    const r = await s.host.applier.installGuestTools();
    s.store.audit(s.actor, `cli: ${p.redacted}`, `ok: ${r.package} ${r.changed ? 'enabled' : 'already enabled'}`);
    return `${r.hypervisor} detected: ${r.package} is ${r.changed ? 'now enabled and running' : 'already enabled and running'}.`;
  } catch (e) {
    s.store.audit(s.actor, `cli: ${p.redacted}`, `failed: ${(e as Error).message}`);
    throw e;
  }
}

/** Pause after each wrong enable secret on a network session (with the lockout, it makes guessing slow). */
export const ENABLE_FAIL_DELAY_MS = 1_000;

/**
 * `enable`: three tries at the enable secret. Over SSH each wrong secret costs a pause and counts
 * toward a lock of `enable` for that user (the sign-in lockout's policy, kept in the store so a
 * new session does not reset it); the consoles are never locked, as for sign-in.
 */
async function enable(s: Session): Promise<string> {
  const c = s.current();
  if (!c) return '% There is no configuration yet';
  const counted = s.actor.source.startsWith('ssh:');
  const lockouts = new Lockouts(s.store);
  const key = enableLockKey(s.user.name);
  const locked = counted ? lockouts.lockedUntil(key) : null;
  if (locked) {
    s.store.audit(s.actor, 'cli: enable', `refused: locked out until ${locked.toISOString()}`);
    return `% Privileged mode is locked for ${s.user.name} after repeated wrong enable secrets, until ${locked.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
  }
  for (let i = 0; i < 3; i++) {
    const pw = await s.io.ask('Password: ', true);
    if (await verifySecret(pw, c.users.enableSecretHash)) {
      if (counted) lockouts.succeed(key);
      s.mode = 'exec';
      s.store.audit(s.actor, 'cli: enable', 'ok');
      return '';
    }
    if (!counted) continue;
    s.store.audit(s.actor, 'cli: enable', 'refused: bad secret');
    const until = lockouts.fail(key, s.actor.source, lockoutPolicy(c));
    if (until) {
      s.store.audit(s.actor, `lock out enable for ${s.user.name}`, `locked until ${until.toISOString()} after repeated wrong enable secrets`);
      return `% Bad secrets: privileged mode is locked for ${s.user.name} until ${until.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
    }
    await new Promise((r) => setTimeout(r, ENABLE_FAIL_DELAY_MS));
  }
  if (!counted) s.store.audit(s.actor, 'cli: enable', 'refused: bad secret');
  return '% Bad secrets';
}

/** Where `show tech-support` writes its bundles. */
export const SUPPORT_DIR = '/var/lib/keel/support';
/**
 * Support bundles kept: the newest 20 and at most 100 MiB in all; an operator keeps at most 3 of
 * their own (a read-only user must not be able to fill the data partition, nor push out the
 * bundles an administrator made). The oldest go first.
 */
export const SUPPORT_MAX_FILES = 20;
export const SUPPORT_MAX_BYTES = 100 * 2 ** 20;
export const SUPPORT_OPERATOR_FILES = 3;

function pruneSupport(s: Session, keep: string): void {
  const all = s.host.files
    .list(SUPPORT_DIR)
    .filter((n) => /^tech-support-.*\.txt$/.test(n))
    .map((n) => ({ path: `${SUPPORT_DIR}/${n}`, name: n, bytes: s.host.files.read(`${SUPPORT_DIR}/${n}`)?.length ?? 0 }))
    // Oldest first, by the time stamp that ends every name (2026-12-05T09-20-00-123Z.txt).
    .sort((a, b) => a.name.slice(-28).localeCompare(b.name.slice(-28)));
  const mine = `tech-support-${s.user.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-`;
  const drop = new Set<string>();
  if (s.user.role !== 'admin') {
    const own = all.filter((f) => f.name.startsWith(mine));
    for (const f of own.slice(0, Math.max(0, own.length - SUPPORT_OPERATOR_FILES))) drop.add(f.path);
  }
  let left = all.filter((f) => !drop.has(f.path));
  let bytes = left.reduce((n, f) => n + f.bytes, 0);
  while (left.length > 1 && (left.length > SUPPORT_MAX_FILES || bytes > SUPPORT_MAX_BYTES)) {
    const oldest = left.find((f) => f.path !== keep)!;
    drop.add(oldest.path);
    bytes -= oldest.bytes;
    left = left.filter((f) => f !== oldest);
  }
  for (const p of drop) s.host.files.remove(p);
}

/**
 * `show tech-support`: the state an engineer needs, in one text file with every secret redacted
 * (hashes, and nothing else secret is stored), written through the files adapter.
 */
/** `show login`: the lockout policy and the user names locked out now. */
function showLogin(s: Session): string {
  const p = lockoutPolicy(s.current());
  const out = [`Lockout: ${p.attempts} failed sign-ins within ${p.windowMinutes} minutes lock a user name out of SSH and System Manager for ${p.lockMinutes} minutes.`, 'The serial and VGA consoles are never locked out.', ''];
  const locks = new Lockouts(s.store).list();
  if (!locks.length) out.push('No user is locked out.');
  else {
    out.push(`${pad('User', 33)} State`);
    for (const l of locks) out.push(`${pad(l.username, 33)} locked until ${l.until.toISOString().replace('T', ' ').slice(0, 19)} UTC (since ${l.since.toISOString().replace('T', ' ').slice(0, 19)})`);
  }
  return out.join('\n');
}

/** `show ssh`: the SSH CLI's settings and host key fingerprints. */
function showSsh(s: Session): string {
  const c = s.current();
  if (!c) return '% No configuration';
  const idle = c.ssh.idleTimeoutSeconds ?? SSH_DEFAULTS.idleTimeoutSeconds;
  const out = [
    `SSH ${c.ssh.enabled ? `enabled, port ${c.ssh.port}` : 'disabled'}`,
    `Idle timeout: ${Math.floor(idle / 60)} minutes ${idle % 60} seconds`,
    `Most sessions at once: ${c.ssh.maxSessions ?? SSH_DEFAULTS.maxSessions}`,
    'Algorithms: curve25519-sha256; chacha20-poly1305, aes-gcm, aes-ctr with hmac-sha2 (encrypt-then-MAC); strict key exchange',
  ];
  const keys = hostKeyFingerprints(s.host);
  out.push(keys.length ? 'Host keys:' : 'Host keys: not made yet (made when the SSH service first starts)');
  for (const k of keys) out.push(`  ${pad(k.type.toUpperCase(), 8)} ${k.fingerprint}`);
  return out.join('\n');
}

/** `clear lockout USER`: lifts a lockout before it expires (audited). */
function clearLockout(s: Session, a: Args): string {
  const had = new Lockouts(s.store).unlock(a.name, s.actor);
  return had ? `User ${a.name} unlocked.` : `User ${a.name} was not locked out.`;
}

/** The system log for a support bundle: a failure to read it is a line of the bundle, not its end. */
async function systemLog(s: Session): Promise<string> {
  try {
    return await showSystemLog(s, { last: '500' });
  } catch (e) {
    return `% The system log could not be read: ${(e as Error).message}`;
  }
}

async function techSupport(s: Session, _a: Args, p: Parsed<Handler>): Promise<string> {
  const section = (title: string, body: string): string => `\n------------------ ${title} ------------------\n\n${body.trimEnd()}\n`;
  const cfg = (which: 'running' | 'startup'): string => {
    const st = which === 'running' ? s.store.running() : s.store.startup();
    return st ? [`! ${which}-config, revision ${st.revision}`, ...redact(toScript(st.config))].join('\n') : `% ${which}-config is not present`;
  };
  const cmdLog = (s.host.files.readText('/var/log/keel/commands.log') ?? '').split('\n').slice(-200).join('\n');
  const body =
    `Keel tech-support bundle, ${new Date().toISOString()}, by ${s.user.name} (${s.source})\n` +
    section('show version', showVersion(s)) +
    section('show clock', showClock(s)) +
    section('show running-config', cfg('running')) +
    section('show startup-config', cfg('startup')) +
    section('show interfaces', showInterfaces(s)) +
    section('show ip route', showRoute(s)) +
    section('show ntp', await showNtp(s)) +
    section('show archive', showArchive(s, {})) +
    section('show logging last 500', await systemLog(s)) +
    section('show logging audit', showAuditLog(s)) +
    section('show connectivity', showConnectivity(s, {})) +
    section('commands run by Keel (last 200)', cmdLog || '(none)');
  const file = `${SUPPORT_DIR}/tech-support-${s.user.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${new Date().toISOString().replace(/[:.]/g, '-')}.txt`;
  s.host.files.mkdirp(SUPPORT_DIR, 0o700);
  const redacted = scrub(body);
  s.host.files.writeAtomic(file, redacted, 0o600);
  pruneSupport(s, file);
  s.store.audit(s.actor, `cli: ${p.redacted}`, `ok: ${file}`);
  // As on IOS it is shown in the session too (a screen at a time on a terminal), and kept as a file.
  return `${redacted.trimEnd()}\n\nSupport bundle written to ${file} (${Buffer.byteLength(redacted)} bytes, secrets redacted)`;
}

const SHOW_COMMON: N[] = [
  kw('version', 'System software and hardware', { run: showVersion }),
  kw('clock', 'Date and time', { run: showClock }),
  kw('boot', 'How long this start took and what took longest (systemd-analyze)', { run: async (s) => (s.host.proc.live ? formatBoot(await s.host.applier.bootTimes()) : 'No boot record: this is a sandbox, not a booted appliance') }),
  kw('interfaces', 'Interfaces: hardware, configuration, link, MTU, speed and counters', {
    run: (s) => showInterfaces(s),
    children: [arg('interface', A.interfaceName, 'Interface', { run: (s, a) => showInterfaces(s, a) })],
  }),
  kw('ip', 'IP information', {
    children: [
      kw('route', 'Routing table (the kernel\'s)', { run: showRoute }),
      kw('interface', 'IP interfaces', { children: [kw('brief', 'One line per interface: address, status, protocol', { run: showIpInterfaceBrief })] }),
    ],
  }),
  kw('ntp', 'Network time', {
    run: showNtp,
    children: [
      kw('status', 'Whether the clock is synchronized, to what, and how closely (chrony)', { run: async (s) => formatNtpStatus(parseTracking((await s.host.applier.timeStatus()).tracking)) }),
      kw('associations', 'The time sources and how each is doing (chrony)', { run: async (s) => formatAssociations(parseSources((await s.host.applier.timeStatus()).sources)) }),
    ],
  }),
  kw('control-plane', 'The appliance\'s own services', {
    children: [kw('host', 'Services of this host', { children: [kw('open-ports', 'Listening TCP and UDP ports, from the kernel', { run: showOpenPorts })] })],
  }),
  kw('health', 'Overall health and everything that is not OK', { run: showHealth, children: [kw('settings', 'Health probe, history, alert and BMC settings', { run: showHealthSettings })] }),
  kw('platform', 'The hardware or virtual platform and its expected profile', { run: showPlatform }),
  kw('environment', 'BMC sensors, chassis and front panel LEDs', { run: showEnvironment }),
  kw('raid', 'RAID arrays, RAID controller and disk health', { run: showRaid }),
  SHOW_CONNECTIVITY,
  kw('history', 'Commands of this session', { run: (s) => s.history.map((h, i) => `${String(i + 1).padStart(4)}  ${h}`).join('\n') }),
];
const SHOW_PRIV: N[] = [
  ...SHOW_COMMON,
  kw('running-config', 'The configuration in effect now', { run: (s) => showRunning(s, 'running') }),
  kw('startup-config', 'The saved configuration the appliance boots with', { run: (s) => showRunning(s, 'startup') }),
  kw('users', 'Configured local users', { run: showUsers }),
  kw('login', 'Sign-in lockout policy and locked-out users', { run: showLogin }),
  kw('ssh', 'SSH CLI settings and host key fingerprints', { run: showSsh }),
  LOGGING_NODE,
  kw('capture', 'Stored packet captures (monitor capture)', { run: showCapture }),
  kw('tech-support', 'Show the support bundle and keep it as a file (secrets redacted)', { run: techSupport }),
  kw('archive', 'Configuration revisions', { run: showArchive, children: [arg('revision', A.revision, 'Show the change of one revision', { run: showArchive })] }),
];

const PROBES: N[] = [
  PING,
  TRACEROUTE,
  NSLOOKUP,
  { ...TEST_CONNECTIVITY, children: [...TEST_CONNECTIVITY.children!, TEST_TCP] },
];

const leave: Handler = (s) => {
  if (s.mode === 'config-if') {
    s.mode = 'config';
    s.iface = null;
  } else if (s.mode === 'config') s.mode = 'exec';
  else s.closed = true;
};
const end: Handler = (s) => {
  s.mode = 'exec';
  s.iface = null;
};

/** `help`: how the CLI's own help works (IOS has the same command). */
const HELP: N = kw('help', 'How to get help in this CLI', {
  run: () =>
    [
      'Type ? at any point of a command to see what may come next:',
      "  show ?       every word that can follow 'show', with one line on each",
      "  show ver?    the words that start with 'ver' (here: version)",
      'Words can be shortened to any unique start: sh ip int br is show ip interface brief.',
      'TAB completes a word; Up and Down recall earlier commands (show history lists them).',
      'Long output stops at --More--: space shows the next screen, Enter the next line, q stops;',
      "'terminal length 0' turns this off for the session.",
      "Filter output with '| include', '| exclude', '| begin', '| section' or '| count'.",
      "'no' in front of a configuration command undoes it; 'end' or Ctrl-Z leaves configuration mode.",
    ].join('\n'),
});

/** `terminal length N`: this session's screen length (IOS; 0 turns the --More-- pager off). */
const TERMINAL: N = kw('terminal', 'Settings of this terminal session', {
  children: [
    kw('length', 'Lines per screen before --More-- (0: never stop)', {
      children: [
        arg('lines', A.intRange(0, 512, 'terminal-length'), 'Lines per screen, 0 for no paging', {
          run: (s, a) => {
            s.terminalLength = Number(a.lines);
          },
        }),
      ],
    }),
  ],
});

const USER_NODES: N[] = [
  kw('enable', 'Turn on privileged commands', { run: enable }),
  TERMINAL,
  HELP,
  kw('show', 'Show running system information', { children: SHOW_COMMON }),
  ...PROBES,
  kw('exit', 'End this session', { run: leave }),
  kw('logout', 'End this session', { run: leave }),
];

const EXEC_NODES: N[] = [
  kw('show', 'Show running system information', { children: SHOW_PRIV }),
  TERMINAL,
  HELP,
  kw('configure', 'Enter configuration mode', {
    children: [
      kw('terminal', 'Configure from the terminal', {
        changes: true,
        run: (s) => {
          s.mode = 'config';
          return 'Enter configuration commands, one per line.  End with CNTL/Z.';
        },
      }),
      kw('confirm', 'Keep a change that was applied with a confirm timer', { changes: true, run: confirm }),
      kw('replace', 'Replace the running configuration', {
        changes: true,
        children: [kw('revision', 'With a revision from the archive', { children: [arg('revision', A.revision, 'Revision number (show archive)', { run: rollback })] })],
      }),
    ],
  }),
  kw('rollback', 'Apply an archived revision again (as a new revision)', { changes: true, children: [arg('revision', A.revision, 'Revision number (show archive)', { run: rollback })] }),
  kw('copy', 'Copy a configuration', {
    changes: true,
    children: [kw('running-config', 'The running configuration', { children: [kw('startup-config', 'To the startup configuration', { run: (s, _a, p) => save(s, p) })] })],
  }),
  kw('write', 'Save the running configuration', { changes: true, run: (s, _a, p) => save(s, p), children: [kw('memory', 'To the startup configuration', { run: (s, _a, p) => save(s, p) })] }),
  kw('reload', 'Restart the appliance', { changes: true, run: reload }),
  ...PROBES,
  MONITOR,
  kw('service', "Control one of Keel's services", {
    children: [
      arg('service', A.serviceName, `One of ${A.SERVICES.join(', ')}`, {
        children: [
          kw('start', 'Start the service', { changes: true, run: (s, a, p) => service(s, a, p, 'start') }),
          kw('stop', 'Stop the service', { changes: true, run: (s, a, p) => service(s, a, p, 'stop') }),
          kw('restart', 'Restart the service', { changes: true, run: (s, a, p) => service(s, a, p, 'restart') }),
          kw('status', 'Show the state of the service', { run: (s, a, p) => service(s, a, p, 'status') }),
        ],
      }),
    ],
  }),
  kw('locate', 'The chassis locate (identify) LED', {
    children: [kw('on', 'Turn the locate LED on', { changes: true, run: (s) => locate(s, true) }), kw('off', 'Turn the locate LED off', { changes: true, run: (s) => locate(s, false) })],
  }),
  kw('install', 'Install software', {
    children: [kw('guest-tools', "The hypervisor's guest agent (VMware Tools, Hyper-V daemons, QEMU guest agent)", { changes: true, run: guestTools })],
  }),
  kw('clear', 'Reset state', {
    children: [kw('lockout', 'Unlock a user name locked out after failed sign-ins', { changes: true, children: [arg('name', A.userName, 'User name', { run: clearLockout })] })],
  }),
  SOFTWARE_UPDATE_EXEC,
  kw('disable', 'Leave privileged EXEC', { run: (s) => void (s.mode = 'user') }),
  kw('exit', 'End this session', { run: leave }),
  kw('logout', 'End this session', { run: leave }),
];

/** `do COMMAND`: an EXEC command from configuration mode. */
const DO: N = kw('do', 'Run an EXEC command', { children: EXEC_NODES.filter((n) => !['configure', 'exit', 'logout', 'disable'].includes(n.kw!)) });

function withNo(nodes: N[]): N[] {
  return [kw('no', 'Negate a command or set its defaults', { children: nodes.filter(hasNo) }), ...nodes];
}

function markChanges(nodes: N[]): N[] {
  return nodes.map((n) => ({ ...n, changes: true }));
}

const MODE_NODES: Record<Mode, N[]> = {
  user: USER_NODES,
  exec: EXEC_NODES,
  config: [...withNo(markChanges(CONFIG_NODES)), DO, HELP, kw('confirm', 'Keep a change that was applied with a confirm timer', { changes: true, run: confirm }), kw('exit', 'Leave configuration mode', { run: leave }), kw('end', 'Leave configuration mode', { run: end })],
  'config-if': [...withNo(markChanges(IF_NODES)), DO, HELP, kw('exit', 'Leave interface configuration', { run: leave }), kw('end', 'Leave configuration mode', { run: end })],
};
// `no` itself changes things in configuration modes.
for (const m of ['config', 'config-if'] as const) MODE_NODES[m][0].changes = true;

/** The top-level nodes of a mode. */
export function rootsFor(mode: Mode): N[] {
  return MODE_NODES[mode];
}

/** Every mode's tree, for tests and documentation. */
export const MODES: Record<Mode, N[]> = MODE_NODES;
