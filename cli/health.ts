/**
 * Health in the CLI: `show health`, `show platform`, `show environment`, `show raid`,
 * `locate on|off`. Each runs one probe cycle (appliance/health) on demand, so the console shows
 * the machine as it is now, even when System Manager is not running.
 *
 * Configuration mode: `health interval|history|devices|alert|bmc ...` edit the `health` section
 * (the same one System Manager's Health settings edit), checked by the one schema; `show health
 * settings` prints it with the defaults filled in.
 */
import { createHash } from 'node:crypto';
import { collectHealth, type HealthSnapshot } from '../appliance/health/snapshot.ts';
import { HealthStore } from '../appliance/health/monitor.ts';
import { OperationalError } from '../appliance/errors.ts';
import { panelLine } from '../appliance/health/leds.ts';
import { bmcTarget, HealthSchema, HealthEmailSchema, HealthSyslogSchema, HEALTH_DEFAULTS, type HealthConfig } from '../appliance/health/schema.ts';
import { MASKED_PASSWORD } from '../appliance/config/script.ts';
import { keptFor } from '../appliance/config/secrets.ts';
import type { Config } from '../appliance/config/schema.ts';
import type { Finding, Severity } from '../appliance/health/types.ts';
import type { Args, ArgType, Node } from './tree.ts';
import type { Session } from './session.ts';
import { schemaInteger as integer, boundedWord as word } from './args.ts';
import { pastePem } from './paste.ts';
import type { Handler } from './commands.ts';
import type { ConfigHelpers } from './update.ts';

const SEV: Record<Severity, string> = { ok: 'OK', warning: 'WARNING', critical: 'CRITICAL', unknown: 'UNKNOWN' };


/** Waiting for the health monitor's first reading after a start: its cycle takes well under a second. */
const FIRST_READING_WAIT_MS = 20_000;

async function snapshot(s: Session): Promise<HealthSnapshot> {
  // The SSH CLI runs unprivileged (keel-serve as the keel user): it cannot open the BMC or the
  // disks, so it shows what the health monitor (root, a service of its own) recorded last. The
  // console probes live: it shows the machine even when every service is down.
  if (s.host.applier.remote) return recorded(s);
  const c = s.current();
  return collectHealth(s.host, {
    bmc: bmcTarget(c?.health),
    devices: c?.health?.devices,
    expectUp: c ? new Set(c.network.interfaces.filter((i) => i.enabled).map((i) => i.name)) : undefined,
  });
}

async function recorded(s: Session): Promise<HealthSnapshot> {
  const store = new HealthStore(s.store.db);
  const until = Date.now() + FIRST_READING_WAIT_MS;
  for (;;) {
    const h = store.latest();
    if (h) return h;
    if (Date.now() > until) throw new OperationalError('the health monitor has not recorded a reading yet', 'keel-monitor', null, 'it starts with the appliance; try again in a minute, or use the console');
    await new Promise((r) => setTimeout(r, 500));
  }
}

function findingLines(fs: Finding[]): string[] {
  return fs.map((f) => `  ${SEV[f.severity].padEnd(8)} ${f.subject}: ${f.message}`);
}

function problems(h: HealthSnapshot): string[] {
  return h.errors.map((e) => `  (the ${e.probe} probe could not run: ${e.message})`);
}

/** `show health`: the overall state and everything that is not OK. */
export async function showHealth(s: Session): Promise<string> {
  const h = await snapshot(s);
  const bad = h.findings.filter((f) => f.severity !== 'ok');
  const out = [`Overall: ${SEV[h.overall]}   (${h.platform.name}, checked ${h.at.replace('T', ' ').slice(0, 19)} UTC)`];
  out.push(bad.length ? 'Findings:' : 'Every check is OK.', ...findingLines(bad));
  if (h.frontPanel.length) out.push('Front panel:', ...h.frontPanel.map((p) => `  ${panelLine(p)}`));
  out.push(...problems(h));
  return out.join('\n');
}

/** `show platform`: what box this is, how Keel knows, and how it compares with its profile. */
export async function showPlatform(s: Session): Promise<string> {
  const h = await snapshot(s);
  const p = h.platform;
  const prof = p.profile;
  const gib = p.memoryBytes === null ? 'unknown' : `${(p.memoryBytes / 2 ** 30).toFixed(1)} GiB`;
  const out = [
    `Platform: ${p.name} (${p.kind}${p.supported ? '' : ', NOT SUPPORTED'})`,
    `Evidence: ${p.evidence.join('; ') || 'none'}`,
    `Firmware: ${p.firmware.toUpperCase()}   Memory: ${gib}   CPUs: ${p.cpus ?? 'unknown'}`,
    `Expected: ${prof.nics.count ?? 'any number of'} NICs${prof.nics.drivers ? ` (${prof.nics.drivers.join('/')})` : ''}, ` +
      `${prof.disks.count ?? 'any number of'} disks${prof.disks.raidLevel ? ` in ${prof.disks.raidLevel.toUpperCase()}${prof.disks.hardwareRaid ? ' (hardware RAID)' : ''}` : ''}` +
      `${prof.psus !== null ? `, ${prof.psus} power supplies` : ''}${prof.fans !== null ? `, ${prof.fans} fans` : ''}`,
  ];
  const mine = h.findings.filter((f) => f.key.startsWith('platform.'));
  out.push('Checks:', ...(mine.length ? findingLines(mine) : ['  none']));
  if (h.hypervisor) out.push(`Guest tools: ${h.hypervisor.guestTools ?? 'none'}${h.hypervisor.guestTools ? (h.hypervisor.running ? ' (running)' : ' (not running: install guest-tools)') : ''}`);
  out.push(...problems(h));
  return out.join('\n');
}

/** `show environment`: BMC sensors, chassis and the front panel, in a technician's words. */
export async function showEnvironment(s: Session): Promise<string> {
  const h = await snapshot(s);
  if (!h.ipmi) {
    const why = h.platform.kind === 'virtual' ? `${h.platform.name}: the hypervisor watches the virtual hardware; there is no BMC` : 'No BMC was found (/dev/ipmi0)';
    return [why, ...problems(h)].join('\n');
  }
  const out = [`BMC: ${h.ipmi.bmc} (read in ${h.ipmi.readMs} ms)`, '', `${'Sensor'.padEnd(24)} ${'Reading'.padEnd(16)} State`];
  for (const x of h.ipmi.sensors) {
    const reading = x.value !== null ? `${x.value} ${x.unit ?? ''}`.trim() : (x.states ?? 'no reading');
    out.push(`${x.name.slice(0, 24).padEnd(24)} ${reading.slice(0, 16).padEnd(16)} ${SEV[x.severity]}`);
  }
  const c = h.ipmi.chassis;
  if (c) {
    const faults = [c.powerOverload && 'power overload', c.mainPowerFault && 'main power fault', c.powerControlFault && 'power control fault', c.driveFault && 'drive fault', c.fanFault && 'fan fault'].filter(Boolean);
    out.push('', `Chassis: power ${c.powerOn === null ? 'unknown' : c.powerOn ? 'on' : 'off'}, intrusion ${c.intrusion === null ? 'unknown' : c.intrusion ? 'DETECTED' : 'none'}, faults: ${faults.join(', ') || 'none'}`);
  }
  if (h.frontPanel.length) out.push('', 'Front panel:', ...h.frontPanel.map((p) => `  ${panelLine(p)}`));
  out.push(...problems(h));
  return out.join('\n');
}

/** `show raid`: md arrays, hardware RAID and disk health. */
export async function showRaid(s: Session): Promise<string> {
  const h = await snapshot(s);
  const out: string[] = [];
  for (const a of h.md) {
    const sync = a.sync ? `, ${a.sync.action} ${a.sync.percent ?? '?'}%${a.sync.finishMinutes !== null ? ` (about ${a.sync.finishMinutes} min left)` : ''}` : '';
    out.push(`${a.name}: ${a.level ?? '?'} ${a.state}${sync} ${a.map ?? ''} members ${a.members.map((m) => `${m.device}${m.faulty ? '(F)' : m.spare ? '(S)' : ''}`).join(' ')}`.trimEnd());
  }
  for (const r of h.raid) {
    out.push(`${r.cli} controller ${r.controller.model ?? ''}`.trimEnd());
    for (const v of r.virtualDrives) out.push(`  VD ${v.id}: ${v.raid} ${v.state} cache ${v.cache.raw}`);
    for (const d of r.physicalDrives) out.push(`  PD ${d.slot}: ${d.state}${d.model ? ` ${d.model}` : ''}`);
  }
  for (const d of h.disks) out.push(`${d.device}: SMART ${d.passed === null ? 'unknown' : d.passed ? 'passed' : 'FAILED'}${d.percentUsed !== null ? `, wear ${d.percentUsed}%` : ''}${d.temperatureC !== null ? `, ${d.temperatureC} C` : ''}`);
  if (!out.length) out.push(h.platform.kind === 'virtual' ? `${h.platform.name}: one virtual disk; RAID is the hypervisor's job.` : 'No RAID array, RAID controller or SMART disk was found.');
  const mine = h.findings.filter((f) => /^(md|raid|disk|platform\.raid)/.test(f.key) && f.severity !== 'ok');
  if (mine.length) out.push('Findings:', ...findingLines(mine));
  out.push(...problems(h));
  return out.join('\n');
}

/** `locate on|off`: the chassis identify LED, for a technician looking for this box. */
export async function locate(s: Session, on: boolean): Promise<string> {
  // The BMC is a device only root opens: the applier switches the LED.
  if ((await s.host.applier.locate(on)) === 'no-bmc') return s.host.applier.live ? '% No BMC was found (/dev/ipmi0): this platform has no locate LED.' : '(sandbox: no BMC)';
  s.store.audit(s.actor, `cli: locate ${on ? 'on' : 'off'}`, 'ok');
  return on ? 'Locate LED on (blue): the technician can find this appliance by it.' : 'Locate LED off.';
}

// ---------------------------------------------------------------------------------------------
// Configuration mode: the health section

type N = Node<Handler>;
const kw = (k: string, help: string, more: Partial<N> = {}): N => ({ kw: k, help, ...more });
const arg = (name: string, type: ArgType, help: string, more: Partial<N> = {}): N => ({ arg: { name, type }, help, ...more });

const P = HealthSchema.properties;
const BMC = P.bmc.properties;
const SYSLOG = HealthSyslogSchema.properties;
const EMAIL = HealthEmailSchema.properties;
const TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
type Transport = (typeof TRANSPORTS)[number];

const recipient = word('WORD', 'email', 254);
const serverName = word('WORD', 'server-address', 253);
const bmcHost = word('A.B.C.D', 'host-address', 64);
const bmcUser = word('WORD', 'bmc-user', 64);
const bmcPassword = word('LINE', 'bmc-password', 256, { secret: true });

/** The section to edit, made when missing. */
function section(c: Config): HealthConfig {
  return (c.health ??= {});
}

/** A section left empty by `no` forms goes, so show running-config and the diff stay quiet. */
function tidy(c: Config): void {
  if (c.health && Object.keys(c.health).length === 0) delete c.health;
}

const unset =
  (h: ConfigHelpers, ...keys: (keyof HealthConfig)[]): Handler =>
    h.change((c) => {
      if (!c.health) return;
      for (const k of keys) delete c.health[k];
      tidy(c);
    });

const SYSLOG_REQUIRED = 'set the syslog server first: health alert syslog server HOST [udp|tcp|tls]';
const EMAIL_REQUIRED = 'set the recipients first: health alert email to ADDRESS';

/** `health alert email to A [B ...] [critical]`: a shut-down channel stays shut down. */
function setEmail(c: Config, a: Args): void {
  const to = Object.keys(a)
    .filter((k) => /^to\d+$/.test(k))
    .sort((x, y) => Number(x.slice(2)) - Number(y.slice(2)))
    .map((k) => a[k]);
  const h = section(c);
  h.email = { enabled: h.email?.enabled ?? true, subscription: a.critical ? 'critical' : 'all', to };
}

/**
 * `health alert syslog server HOST [udp|tcp|tls] [port N] [facility N] [critical]`: the line is
 * the whole channel but its on/off state; the pasted CA (not on the line) stays while the
 * transport stays TLS, the only transport that uses it.
 */
function setSyslog(c: Config, a: Args, s: Session): void {
  const h = section(c);
  const before = h.syslog ?? s.batchBase?.health?.syslog;
  const transport = (a.transport ?? 'udp') as Transport;
  h.syslog = {
    enabled: h.syslog?.enabled ?? true,
    subscription: a.critical ? 'critical' : 'all',
    server: a.server,
    port: a.port !== undefined ? Number(a.port) : transport === 'tls' ? 6514 : 514,
    transport,
    ...(a.facility !== undefined ? { facility: Number(a.facility) } : {}),
    ...(transport === 'tls' && before?.caCertificate ? { caCertificate: before.caCertificate } : {}),
  };
}

/** `health bmc HOST user U password P [port N]`; `********` keeps the stored password of the same BMC and user. */
function setBmc(h: ConfigHelpers, c: Config, a: Args, s: Session): void {
  let password = a.password;
  if (password === MASKED_PASSWORD) {
    const stored = c.health?.bmc ?? s.batchBase?.health?.bmc;
    // The stored password belongs to that BMC: never hand it to another address, port or user.
    const kept = keptFor('bmc', stored, { host: a.host, ...(a.port !== undefined ? { port: Number(a.port) } : {}), user: a.user, password: '' });
    if (!kept) h.refuse('/health/bmc/password', 'required', `there is no stored password for user ${a.user} on ${a.host} to keep; give the password`);
    password = kept;
  }
  section(c).bmc = { host: a.host, ...(a.port !== undefined ? { port: Number(a.port) } : {}), user: a.user, password };
}

/** Turns an alert channel off (kept, as System Manager's switch does) or on again. */
function channelSwitch(h: ConfigHelpers, which: 'email' | 'syslog', enabled: boolean): Handler {
  return h.change((c) => {
    const ch = c.health?.[which];
    if (!ch) h.refuse(`/health/${which}`, 'required', which === 'email' ? EMAIL_REQUIRED : SYSLOG_REQUIRED);
    ch.enabled = enabled;
  });
}


/** Recipient `i` of the e-mail list; the chain goes one past the schema's limit so the schema refuses, naming the field. */
function recipients(h: ConfigHelpers, i: number): N {
  const run = h.change((c, a) => setEmail(c, a));
  return arg(`to${i}`, recipient, i === 1 ? 'Recipient address' : 'Another recipient address', {
    run,
    children: [
      kw('critical', 'Critical alerts only (default: all, with warnings and their clearing)', { run: h.change((c, a) => setEmail(c, { ...a, critical: '1' })) }),
      ...(i <= EMAIL.to.maxItems! ? [recipients(h, i + 1)] : []),
    ],
  });
}

/** The optional words after the syslog server, in their order: each may be left out. */
function syslogTail(h: ConfigHelpers, from: number, fixed: Args): N[] {
  const run = (more: Args = {}): Handler => h.change((c, a, s) => setSyslog(c, { ...a, ...fixed, ...more }, s));
  const out: N[] = [];
  if (from <= 0)
    for (const t of TRANSPORTS)
      out.push(kw(t, t === 'udp' ? 'UDP, RFC 5426 (default; port 514)' : t === 'tcp' ? 'TCP, RFC 6587 octet counting (port 514)' : 'TLS, RFC 5425 (port 6514); the server name must match its certificate', { run: run({ transport: t }), children: syslogTail(h, 1, { ...fixed, transport: t }) }));
  if (from <= 1) out.push(kw('port', 'Server port (default 514, 6514 with tls)', { children: [arg('port', integer(SYSLOG.port), 'Port', { run: run(), children: syslogTail(h, 2, fixed) })] }));
  if (from <= 2) out.push(kw('facility', `Syslog facility (default ${HEALTH_DEFAULTS.syslogFacility} = local0)`, { children: [arg('facility', integer(SYSLOG.facility), 'Facility number', { run: run(), children: syslogTail(h, 3, fixed) })] }));
  if (from <= 3) out.push(kw('critical', 'Critical alerts only (default: all, with warnings and their clearing)', { run: run({ critical: '1' }) }));
  return out;
}

/** The `health` configuration node. */
export function healthConfig(h: ConfigHelpers): N {
  const set = (fn: (x: HealthConfig, a: Args) => void): Handler => h.change((c, a) => fn(section(c), a));
  const ipmi = (withProbes: boolean): N =>
    kw('ipmi', `Seconds between IPMI sensor reads (default ${HEALTH_DEFAULTS.ipmiIntervalSeconds})`, {
      children: [
        arg('ipmi', integer(P.ipmiIntervalSeconds), 'Seconds', {
          run: set((x, a) => Object.assign(x, { ...(withProbes ? { intervalSeconds: Number(a.seconds) } : {}), ipmiIntervalSeconds: Number(a.ipmi) })),
        }),
      ],
    });
  const maxEntries = (withDays: boolean): N =>
    kw('max-entries', `Most health history entries kept (default ${HEALTH_DEFAULTS.maxHistory})`, {
      children: [
        arg('entries', integer(P.maxHistory), 'Entries', {
          run: set((x, a) => Object.assign(x, { ...(withDays ? { retentionDays: Number(a.days) } : {}), maxHistory: Number(a.entries) })),
        }),
      ],
    });
  const bmcPort = kw('port', 'Remote BMC UDP port (default 623)', { children: [arg('port', integer(BMC.port), 'Port', { run: h.change((c, a, s) => setBmc(h, c, a, s)) })] });

  return kw('health', 'Hardware health: probe intervals, history, alerts, remote BMC', {
    no: h.change((c) => void delete c.health),
    children: [
      kw('interval', `Seconds between health probes (NIC, RAID, disks; default ${HEALTH_DEFAULTS.intervalSeconds})`, {
        no: unset(h, 'intervalSeconds', 'ipmiIntervalSeconds'),
        children: [arg('seconds', integer(P.intervalSeconds), 'Seconds', { run: set((x, a) => void (x.intervalSeconds = Number(a.seconds))), children: [ipmi(true)] }), ipmi(false)],
      }),
      kw('history', 'How much health history is kept', {
        no: unset(h, 'retentionDays', 'maxHistory'),
        children: [
          kw('days', `Days of health history kept (default ${HEALTH_DEFAULTS.retentionDays})`, {
            children: [arg('days', integer(P.retentionDays), 'Days', { run: set((x, a) => void (x.retentionDays = Number(a.days))), children: [maxEntries(true)] })],
          }),
          maxEntries(false),
        ],
      }),
      kw('devices', `Managed devices this appliance is sized for: picks the row of the VM sizing check (default ${HEALTH_DEFAULTS.devices})`, {
        no: unset(h, 'devices'),
        children: [arg('devices', integer(P.devices), 'Managed devices', { run: set((x, a) => void (x.devices = Number(a.devices))) })],
      }),
      kw('alert', 'Where health alerts go', {
        children: [
          kw('email', 'Alert e-mails, through the SMTP server of the email settings (email server ...)', {
            no: unset(h, 'email'),
            children: [
              kw('to', `Recipients (up to ${EMAIL.to.maxItems}), replaces the list`, { children: [recipients(h, 1)] }),
              kw('shutdown', 'Stop sending alert e-mails (the recipients are kept)', { run: channelSwitch(h, 'email', false), no: channelSwitch(h, 'email', true) }),
            ],
          }),
          kw('syslog', 'Alerts to a remote syslog server (RFC 5424)', {
            no: unset(h, 'syslog'),
            children: [
              kw('server', 'The syslog server and how to reach it', {
                children: [arg('server', serverName, 'Host name or IPv4 address (with tls, the name its certificate carries)', { run: h.change((c, a, s) => setSyslog(c, a, s)), children: syslogTail(h, 0, {}) })],
              }),
              kw('ca-certificate', "CA certificate for the syslog server's TLS certificate (when not a public CA); asks for the PEM", {
                run: h.change(async (c, _a, s) => {
                  const y = c.health?.syslog;
                  if (!y) h.refuse('/health/syslog/server', 'required', SYSLOG_REQUIRED);
                  if (y.transport !== 'tls') h.refuse('/health/syslog/caCertificate', 'tls-only', 'a CA certificate is only used with the tls transport: health alert syslog server HOST tls');
                  if (s.candidate !== null) h.refuse('/health/syslog/caCertificate', 'interactive', 'the CA certificate is pasted interactively, not loaded from a script');
                  y.caCertificate = await pastePem(s, "Paste the PEM certificate(s) of the CA that issued the syslog server's certificate.", 2000);
                }),
                no: h.change((c) => void (c.health?.syslog && delete c.health.syslog.caCertificate)),
              }),
              kw('shutdown', 'Stop sending alerts to syslog (the settings are kept)', { run: channelSwitch(h, 'syslog', false), no: channelSwitch(h, 'syslog', true) }),
            ],
          }),
        ],
      }),
      kw('bmc', 'Read a remote BMC (IPMI over LAN, RMCP+) instead of the local one', {
        no: unset(h, 'bmc'),
        children: [
          arg('host', bmcHost, 'BMC IPv4 address', {
            children: [
              kw('user', 'BMC user name', {
                children: [
                  arg('user', bmcUser, 'User name', {
                    children: [
                      kw('password', `BMC password (${MASKED_PASSWORD}: keep the stored one)`, {
                        children: [arg('password', bmcPassword, 'Password', { run: h.change((c, a, s) => setBmc(h, c, a, s)), children: [bmcPort] })],
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
  });
}

/** A short fingerprint of a pasted PEM, as show running-config names it. */
function pemDigest(pem: string): string {
  return createHash('sha256').update(pem).digest('hex').slice(0, 16);
}

/** `show health settings`: the health section with the defaults filled in; never the BMC password. */
export function showHealthSettings(s: Session): string {
  const c = s.current();
  const h = c?.health ?? {};
  const D = HEALTH_DEFAULTS;
  const val = (v: number | undefined, d: number, unit: string): string => `${v ?? d} ${unit}${v === undefined ? ' (default)' : ''}`;
  const out = [
    `Probe interval:    ${val(h.intervalSeconds, D.intervalSeconds, 'seconds')}; IPMI sensors ${val(h.ipmiIntervalSeconds, D.ipmiIntervalSeconds, 'seconds')}`,
    `History:           ${val(h.retentionDays, D.retentionDays, 'days')}, at most ${val(h.maxHistory, D.maxHistory, 'entries')}`,
    `Sized for:         ${val(h.devices, D.devices, 'managed devices')}`,
  ];
  const sub = (x: 'all' | 'critical'): string => (x === 'critical' ? 'critical alerts only' : 'all alerts');
  const e = h.email;
  out.push(`Alert e-mail:      ${e ? `${e.enabled ? '' : 'SHUT DOWN, '}${sub(e.subscription)} to ${e.to.join(', ')}` : 'not configured'}`);
  if (e && !c?.email) out.push('                   (no SMTP server is set: email server HOST port N protocol ...)');
  const y = h.syslog;
  out.push(
    `Alert syslog:      ${y ? `${y.enabled ? '' : 'SHUT DOWN, '}${sub(y.subscription)} to ${y.server}:${y.port}/${y.transport}, facility ${y.facility ?? D.syslogFacility}` : 'not configured'}`,
  );
  if (y?.caCertificate) out.push(`                   CA certificate sha256 ${pemDigest(y.caCertificate)}`);
  out.push(`BMC:               ${h.bmc ? `remote ${h.bmc.host}:${h.bmc.port ?? 623}, user ${h.bmc.user}` : 'local (/dev/ipmi0)'}`);
  return out.join('\n');
}
