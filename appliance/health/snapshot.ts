import path from 'node:path';
import type { Host } from '../host/index.ts';
import { Disks } from '../host/disks.ts';
import { localBmcPresent, describeBmc, type BmcTarget } from '../host/ipmi.ts';
import { sysinfo, procRoot } from '../host/sysinfo.ts';
import { log } from '../log.ts';
import { checkProfile, classifyPlatform, profileFor, readPlatformFacts, type Platform, type PlatformFacts, type Profile } from './platform.ts';
import { nicFindings, probeNics, type NicList, type NicSample, type NicStatus } from './nic.ts';
import { mdFindings, probeMd, type MdArray } from './md.ts';
import { parseControllerShowAll, parsePhysicalDrives, parseVirtualDrives, storcliFindings, type PhysicalDrive, type RaidController, type VirtualDrive } from './storcli.ts';
import { parseSmartctl, smartFindings, type SmartDisk } from './smart.ts';
import { chassisFindings, fruIdentity, IpmiProbe, selSeverity, sensorFindings, type ChassisStatus, type IpmiSensor, type SelEvent } from './ipmi.ts';
import { frontPanel, type PanelState } from './leds.ts';
import { overall, type Finding, type Severity } from './types.ts';

/** Everything `keel health --json` prints, the CLI `show` commands and the dashboard read. */
export interface HealthSnapshot {
  at: string;
  overall: Severity;
  platform: Platform & { profile: Profile; memoryBytes: number | null; cpus: number | null; firmware: 'bios' | 'uefi' };
  nics: NicStatus[];
  md: MdArray[];
  raid: { cli: string; controller: RaidController; virtualDrives: VirtualDrive[]; physicalDrives: PhysicalDrive[] }[];
  disks: SmartDisk[];
  ipmi: { bmc: string; sensors: (IpmiSensor & { severity: Severity })[]; chassis: ChassisStatus | null; sel: (SelEvent & { severity: Severity | null })[]; fru: Record<string, string>[]; readMs: number } | null;
  /** On a VM: the hypervisor's view instead of IPMI and RAID. */
  hypervisor: { guestTools: string | null; running: boolean } | null;
  frontPanel: PanelState[];
  findings: Finding[];
  /** Milliseconds each probe took. */
  durations: Record<string, number>;
  /** Probes that could not run, with why. */
  errors: { probe: string; message: string }[];
}

export interface SnapshotOptions {
  /** Remote BMC; default: the local BMC when /dev/ipmi0 exists, else none. */
  bmc?: BmcTarget | null;
  procfs?: string;
  /** Interfaces to probe instead of the GigabitEthernetN list. */
  nics?: NicList;
  /** Previous NIC sample (the monitor's), so no 1 s wait is needed. */
  nicPrev?: NicSample[];
  nicSampleMs?: number;
  /** GigabitEthernetN names the configuration enables (a down link there is critical). */
  expectUp?: ReadonlySet<string>;
  devices?: number;
  /** Skip SMART (it wakes sleeping disks; the monitor runs it less often). */
  smart?: boolean;
  /** An IPMI probe to reuse (keeps its threshold cache and SEL position). */
  ipmiProbe?: IpmiProbe;
  /** Previous severities by finding key, for hysteresis. */
  prev?: ReadonlyMap<string, Severity>;
  /** Receives this cycle's NIC counters (the monitor passes them back as `nicPrev`). */
  onNicSample?: (s: NicSample[]) => void;
  /** SEL record id already told (restored from the store after a restart). */
  selLastId?: number;
  /** Locate LED state as last set, for the panel translation. */
  locate?: 'off' | 'local' | 'remote';
}

const GUEST_TOOLS: Partial<Record<Platform['id'], string[]>> = { vmware: ['vmtoolsd'], hyperv: ['hv_kvp_daemon', 'hypervkvpd'], kvm: ['qemu-ga'] };

/** Names of running processes (from procfs `comm`). */
function running(procfs: string): Set<string> {
  const names = new Set<string>();
  for (const pid of sysinfo.list(procfs)) if (/^\d+$/.test(pid)) names.add(sysinfo.read(path.join(procfs, pid, 'comm')) ?? '');
  return names;
}

/** Hardware RAID through storcli/perccli, when installed. */
export async function probeHardwareRaid(host: Host): Promise<HealthSnapshot['raid']> {
  const disks = new Disks(host);
  const cli = disks.raidCli();
  if (!cli) return [];
  const all = parseControllerShowAll(await disks.storcli(cli, ['/c0', 'show', 'all']));
  const vds = parseVirtualDrives(await disks.storcli(cli, ['/c0/vall', 'show', 'all']));
  const pds = parsePhysicalDrives(await disks.storcli(cli, ['/c0/eall/sall', 'show', 'all']));
  return all.map((c) => ({ cli, controller: c.controller, virtualDrives: vds.length ? vds : c.vds, physicalDrives: pds.length ? pds : c.pds }));
}

/** SMART of every disk smartctl finds (including drives behind MegaRAID, `-d megaraid,N`). */
export async function probeSmart(host: Host): Promise<SmartDisk[]> {
  const disks = new Disks(host);
  const scan = await disks.smartScan();
  let devs: { name: string; type?: string }[] = [];
  try {
    devs = (JSON.parse(scan) as { devices?: { name: string; type?: string }[] }).devices ?? [];
  } catch {
    return [];
  }
  const out: SmartDisk[] = [];
  for (const d of devs) {
    try {
      const disk = parseSmartctl(await disks.smartctl(d.name, d.type));
      if (d.type?.startsWith('megaraid')) disk.device = `${d.name}:${d.type}`;
      out.push(disk);
    } catch {
      /* a disk smartctl cannot read gives no JSON: skipped, the RAID probe still sees it */
    }
  }
  return out;
}

/** One full probe cycle: platform, NICs, md, hardware RAID, SMART, IPMI, panel translation. */
export async function collectHealth(host: Host, o: SnapshotOptions = {}): Promise<HealthSnapshot> {
  const durations: Record<string, number> = {};
  const errors: HealthSnapshot['errors'] = [];
  const timed = async <T>(name: string, f: () => Promise<T>, fallback: T): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } catch (e) {
      errors.push({ probe: name, message: (e as Error).message });
      log.warn('health probe failed', { probe: name, error: (e as Error).message });
      return fallback;
    } finally {
      durations[name] = Math.round((performance.now() - t0) * 10) / 10;
    }
  };
  const procfs = o.procfs ?? procRoot();
  const isVm = (p: Platform) => p.kind === 'virtual';

  const bmc = o.bmc === undefined ? (localBmcPresent() && host.proc.live ? { interface: 'open' as const } : null) : o.bmc;
  const probe = o.ipmiProbe ?? (bmc ? new IpmiProbe(host.proc, bmc) : null);

  const facts: PlatformFacts = await timed('platform', () => readPlatformFacts(host, { procfs }), null as never);
  let fruFields: Record<string, string>[] = [];
  if (probe) {
    const frus = await timed('ipmi-fru', () => probe.fru(), []);
    fruFields = frus.map((f) => ({ device: f.device, ...f.fields }));
    facts.fru = fruIdentity(frus);
  }
  const platform = classifyPlatform(facts);
  const profile = profileFor(platform.id, o.devices);
  const findings: Finding[] = checkProfile(platform, profile, facts);

  const [nicRes, md, raid, disks] = await Promise.all([
    timed('nic', () => probeNics(host, { list: o.nics, prev: o.nicPrev, sampleMs: o.nicSampleMs }), { nics: [], sample: [] }),
    timed('md', () => probeMd(host, { procfs }), [] as MdArray[]),
    isVm(platform) ? Promise.resolve([]) : timed('raid', () => probeHardwareRaid(host), [] as HealthSnapshot['raid']),
    // A virtual disk has no SMART of its own (smartctl reports "not available" and a 0 C reading):
    // the hypervisor watches the real disks, as it does the RAID.
    isVm(platform) || o.smart === false || !host.proc.live ? Promise.resolve([]) : timed('smart', () => probeSmart(host), [] as SmartDisk[]),
  ]);
  if (nicRes.sample.length) o.onNicSample?.(nicRes.sample);
  findings.push(...nicFindings(nicRes.nics, o.expectUp ?? null));
  findings.push(...mdFindings(md));
  for (const r of raid) findings.push(...storcliFindings(r.controller, r.virtualDrives, r.physicalDrives));
  for (const d of disks) findings.push(...smartFindings(d));
  if (profile.disks.raidLevel && !raid.length && !md.some((a) => a.level === profile.disks.raidLevel)) {
    findings.push({ key: 'platform.raid', category: 'raid', severity: 'warning', subject: 'RAID', message: `${profile.disks.raidLevel.toUpperCase()} expected on ${platform.name}, but no RAID controller CLI (storcli/perccli) or md array was found` });
  }

  let ipmi: HealthSnapshot['ipmi'] = null;
  // An explicitly given BMC is read even from a VM (a management station watching an appliance).
  if (probe && (!isVm(platform) || o.bmc || o.ipmiProbe)) {
    // One session at a time: BMCs have few session slots, and ipmi_sim measured no gain in parallel.
    const reading = await timed('ipmi', () => probe.readSensors(), null);
    const chassis = await timed('ipmi-chassis', () => probe.chassis(), null);
    const sel = await timed('ipmi-sel', () => probe.newSelEvents(o.selLastId), { events: [], lastId: 0 });
    if (reading) {
      const sf = sensorFindings(reading.sensors, o.prev);
      findings.push(...sf);
      const bySensor = new Map(sf.map((f) => [f.subject, f.severity]));
      if (profile.psus !== null) {
        const n = reading.sensors.filter((s) => s.category === 'power' && s.value === null).length;
        if (n < profile.psus) findings.push({ key: 'platform.psus', category: 'power', severity: 'warning', subject: 'power supplies', message: `${profile.psus} power supplies expected, the BMC reports ${n}` });
      }
      if (profile.fans !== null) {
        const n = reading.sensors.filter((s) => s.category === 'fan' && s.value !== null).length;
        if (n < profile.fans) findings.push({ key: 'platform.fans', category: 'fan', severity: 'warning', subject: 'fans', message: `${profile.fans} system fans expected, the BMC reports ${n}` });
      }
      ipmi = {
        bmc: describeBmc(probe.ipmi.target),
        sensors: reading.sensors.map((s) => ({ ...s, severity: bySensor.get(s.name) ?? 'unknown' })),
        chassis,
        sel: sel.events.map((e) => ({ ...e, severity: selSeverity(e) })),
        fru: fruFields,
        readMs: Math.round(reading.ms * 10) / 10,
      };
    }
    if (chassis) findings.push(...chassisFindings(chassis));
  } else if (profile.bmc && !probe) {
    findings.push({ key: 'platform.bmc', category: 'bmc', severity: 'warning', subject: 'BMC', message: `${platform.name} should have a BMC, but /dev/ipmi0 is absent (is the ipmi_si module loaded?)` });
  }

  let hypervisor: HealthSnapshot['hypervisor'] = null;
  if (isVm(platform)) {
    const tools = GUEST_TOOLS[platform.id];
    if (tools) {
      const names = running(procfs);
      const found = tools.find((t) => names.has(t)) ?? null;
      hypervisor = { guestTools: found ?? tools[0], running: found !== null };
      findings.push({ key: 'platform.guest-tools', category: 'platform', severity: found ? 'ok' : 'warning', subject: 'guest tools', message: found ? `${found} (guest tools) running` : `guest tools (${tools.join(' or ')}) not running: install them (CLI) so the hypervisor can see and shut down this VM` });
    }
  }

  return {
    at: new Date().toISOString(),
    overall: overall(findings),
    platform: { ...platform, profile, memoryBytes: facts.memoryBytes, cpus: facts.cpus, firmware: facts.firmware },
    nics: nicRes.nics,
    md,
    raid,
    disks,
    ipmi,
    hypervisor,
    frontPanel: frontPanel(profile, findings, { locate: o.locate }),
    findings,
    durations,
    errors,
  };
}
