/**
 * Health in the CLI: `show health`, `show platform`, `show environment`, `show raid`,
 * `locate on|off`. Each runs one probe cycle (appliance/health) on demand, so the console shows
 * the machine as it is now, even when System Manager is not running.
 */
import { collectHealth, type HealthSnapshot } from '../appliance/health/snapshot.ts';
import { panelLine } from '../appliance/health/leds.ts';
import { IpmiProbe } from '../appliance/health/ipmi.ts';
import { localBmcPresent } from '../appliance/host/ipmi.ts';
import { bmcTarget } from '../appliance/health/schema.ts';
import type { Finding, Severity } from '../appliance/health/types.ts';
import type { Session } from './session.ts';

const SEV: Record<Severity, string> = { ok: 'OK', warning: 'WARNING', critical: 'CRITICAL', unknown: 'UNKNOWN' };


async function snapshot(s: Session): Promise<HealthSnapshot> {
  const c = s.current();
  return collectHealth(s.host, {
    bmc: bmcTarget(c?.health),
    devices: c?.health?.devices,
    expectUp: c ? new Set(c.network.interfaces.filter((i) => i.enabled).map((i) => i.name)) : undefined,
  });
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
  const target = bmcTarget(s.current()?.health) ?? (localBmcPresent() && s.host.proc.live ? ({ interface: 'open' } as const) : null);
  if (!target) return s.host.proc.live ? '% No BMC was found (/dev/ipmi0): this platform has no locate LED.' : '(sandbox: no BMC)';
  await new IpmiProbe(s.host.proc, target).locate(on);
  s.store.audit(s.actor, `cli: locate ${on ? 'on' : 'off'}`, 'ok');
  return on ? 'Locate LED on (blue): the technician can find this appliance by it.' : 'Locate LED off.';
}
