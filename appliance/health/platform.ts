import path from 'node:path';
import type { Host } from '../host/index.ts';
import { sysinfo, procRoot } from '../host/sysinfo.ts';
import type { Finding, Severity } from './types.ts';

/** Physical models and virtual platforms Keel knows. */
export type PlatformId = 'M2200' | 'M2250' | 'M2600' | 'M2500' | 'physical-other' | 'vmware' | 'hyperv' | 'kvm' | 'vm-other';

/** Everything platform identification and the profile checks look at; gathered by `readPlatformFacts`. */
export interface PlatformFacts {
  /** SMBIOS strings from /sys/class/dmi/id (empty strings when absent). */
  dmi: { sysVendor: string; productName: string; productVersion: string; productSku: string; boardVendor: string; boardName: string; biosVendor: string; chassisVendor: string };
  /** `systemd-detect-virt --vm` output (`none`, `kvm`, `qemu`, `vmware`, `microsoft`, …), null when not run. */
  virt: string | null;
  /** CPUID hypervisor bit (the `hypervisor` flag in /proc/cpuinfo). */
  cpuHypervisor: boolean;
  /** Product name / part number from the BMC's FRU, when read. */
  fru?: { productName?: string; partNumber?: string; manufacturer?: string; boardProduct?: string };
  memoryBytes: number | null;
  cpus: number | null;
  firmware: 'bios' | 'uefi';
  /** Network controllers in PCI order. */
  nics: { name: string; driver: string | null; mac: string | null }[];
  /** Drivers of PCI mass-storage controllers (class 0x01): mptsas, vmw_pvscsi, megaraid_sas, ahci… */
  storageDrivers: string[];
  /** Whole disks (not partitions, loops, md or dm). */
  disks: { name: string; sizeBytes: number }[];
}

export interface Platform {
  id: PlatformId;
  kind: 'physical' | 'virtual';
  /** What to call it: `Core M2600`, `VMware virtual machine`. */
  name: string;
  supported: boolean;
  /** Which facts decided it, for `show platform`. */
  evidence: string[];
}

const DMI_FIELDS = { sysVendor: 'sys_vendor', productName: 'product_name', productVersion: 'product_version', productSku: 'product_sku', boardVendor: 'board_vendor', boardName: 'board_name', biosVendor: 'bios_vendor', chassisVendor: 'chassis_vendor' } as const;

/** Reads SMBIOS strings, CPU and memory, firmware type, NICs, storage controllers and disks. */
export async function readPlatformFacts(host: Host, opts: { procfs?: string; nics?: PlatformFacts['nics']; detectVirt?: boolean } = {}): Promise<PlatformFacts> {
  const sys = host.sysfs;
  const proc = opts.procfs ?? procRoot();
  const dmi = {} as PlatformFacts['dmi'];
  for (const [k, f] of Object.entries(DMI_FIELDS)) dmi[k as keyof typeof DMI_FIELDS] = sysinfo.read(path.join(sys, 'class/dmi/id', f)) ?? '';
  const cpuinfo = sysinfo.read(path.join(proc, 'cpuinfo')) ?? '';
  const meminfo = sysinfo.read(path.join(proc, 'meminfo')) ?? '';
  const memKb = /^MemTotal:\s+(\d+)\s*kB/m.exec(meminfo);
  const cpus = cpuinfo ? (cpuinfo.match(/^processor\s*:/gm) ?? []).length : null;
  let virt: string | null = null;
  if (opts.detectVirt !== false && host.proc.live) {
    // Exit 1 with "none" on bare metal; --vm ignores the container we may be tested in.
    const r = await host.proc.run('systemd-detect-virt', ['--vm'], { allowFail: true, timeoutMs: 5000 }).catch(() => null);
    virt = r ? r.stdout.trim() || null : null;
  }
  const storageDrivers: string[] = [];
  const nics: PlatformFacts['nics'] = opts.nics ?? [];
  const pci = path.join(sys, 'bus/pci/devices');
  for (const addr of sysinfo.list(pci)) {
    const cls = sysinfo.read(path.join(pci, addr, 'class')) ?? '';
    const driver = sysinfo.linkName(path.join(pci, addr, 'driver'));
    if (cls.startsWith('0x01') && driver) storageDrivers.push(driver);
  }
  if (!opts.nics) {
    const { listNics } = await import('../network/nics.ts');
    for (const n of listNics(host)) nics.push({ name: n.name, driver: n.driver, mac: n.mac });
  }
  const disks: PlatformFacts['disks'] = [];
  for (const b of sysinfo.list(path.join(sys, 'block'))) {
    if (/^(loop|ram|md|dm-|sr|zram|nbd|fd)/.test(b)) continue;
    const sectors = sysinfo.num(path.join(sys, 'block', b, 'size'));
    if (sectors) disks.push({ name: b, sizeBytes: sectors * 512 });
  }
  return {
    dmi,
    virt,
    cpuHypervisor: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo),
    memoryBytes: memKb ? Number(memKb[1]) * 1024 : null,
    cpus,
    firmware: sysinfo.exists(path.join(sys, 'firmware/efi')) ? 'uefi' : 'bios',
    nics,
    storageDrivers,
    disks,
  };
}

const MODEL_RE = /\bM?(2200|2250|2500|2600)\b/;
const MODELS: Record<string, PlatformId> = { '2200': 'M2200', '2250': 'M2250', '2500': 'M2500', '2600': 'M2600' };

/**
 * Which platform the facts describe. Pure: the installer's preflight calls it on facts it
 * gathered itself. DMI decides first (an appliance model string, or a hypervisor's vendor
 * strings), then systemd-detect-virt, then the CPUID hypervisor bit.
 */
export function classifyPlatform(f: PlatformFacts): Platform {
  const evidence: string[] = [];
  const d = f.dmi;
  // The model is in the DMI product name or SKU, or in the BMC's FRU product name / part number.
  const modelSources: [string, string | undefined][] = [
    ['DMI product name', d.productName],
    ['DMI product SKU', d.productSku],
    ['BMC FRU product name', f.fru?.productName],
    ['BMC FRU part number', f.fru?.partNumber],
  ];
  for (const [where, v] of modelSources) {
    if (!v || !/\b(core|mobileiron|ivanti|m2\d{3})\b/i.test(v)) continue;
    const m = MODEL_RE.exec(v.toUpperCase());
    if (m) {
      const id = MODELS[m[1]];
      evidence.push(`${where} "${v}"`);
      if (id === 'M2500') return { id, kind: 'physical', name: 'Core M2500', supported: false, evidence: [...evidence, 'M2500 is no longer supported'] };
      return { id, kind: 'physical', name: `Core ${id}`, supported: true, evidence };
    }
  }
  const vendor = `${d.sysVendor} ${d.productName} ${d.biosVendor} ${d.boardVendor}`.toLowerCase();
  const virt = (f.virt ?? '').toLowerCase();
  if (vendor.includes('vmware') || virt === 'vmware') {
    if (vendor.includes('vmware')) evidence.push(`DMI "${d.sysVendor} ${d.productName}"`.trim());
    if (virt === 'vmware') evidence.push('systemd-detect-virt: vmware');
    return { id: 'vmware', kind: 'virtual', name: 'VMware virtual machine', supported: true, evidence };
  }
  if ((d.sysVendor.toLowerCase().includes('microsoft') && /virtual machine/i.test(d.productName)) || virt === 'microsoft') {
    if (d.sysVendor) evidence.push(`DMI "${d.sysVendor} ${d.productName}"`);
    if (virt === 'microsoft') evidence.push('systemd-detect-virt: microsoft');
    return { id: 'hyperv', kind: 'virtual', name: 'Hyper-V virtual machine', supported: true, evidence };
  }
  if (/\b(qemu|kvm|seabios)\b/.test(vendor) || virt === 'kvm' || virt === 'qemu') {
    if (/\b(qemu|kvm|seabios)\b/.test(vendor)) evidence.push(`DMI "${d.sysVendor} ${d.productName}"`);
    if (virt === 'kvm' || virt === 'qemu') evidence.push(`systemd-detect-virt: ${virt}`);
    return { id: 'kvm', kind: 'virtual', name: 'KVM virtual machine', supported: true, evidence };
  }
  if ((virt && virt !== 'none') || f.cpuHypervisor) {
    if (virt && virt !== 'none') evidence.push(`systemd-detect-virt: ${virt}`);
    if (f.cpuHypervisor) evidence.push('CPUID hypervisor bit set');
    return { id: 'vm-other', kind: 'virtual', name: `virtual machine (${virt && virt !== 'none' ? virt : 'unknown hypervisor'})`, supported: false, evidence };
  }
  evidence.push(d.sysVendor || d.productName ? `DMI "${d.sysVendor} ${d.productName}"` : 'no DMI strings');
  return { id: 'physical-other', kind: 'physical', name: 'unrecognised hardware', supported: false, evidence };
}

/** Reads the facts and classifies them: what `show platform` and the monitor start from. */
export async function identifyPlatform(host: Host, opts: { procfs?: string; fru?: PlatformFacts['fru'] } = {}): Promise<{ platform: Platform; facts: PlatformFacts }> {
  const facts = await readPlatformFacts(host, opts);
  if (opts.fru) facts.fru = opts.fru;
  return { platform: classifyPlatform(facts), facts };
}

/** What a platform should have (SPEC "Hardware" and "Virtual platforms"). null: not specified. */
export interface Profile {
  id: PlatformId;
  nics: { count: number | null; drivers: string[] | null; names?: string[] };
  memoryGB: number | null;
  cpus: number | null;
  disks: { count: number | null; sizeGB: number | null; raidLevel: 'raid1' | 'raid10' | null; hardwareRaid: boolean };
  psus: number | null;
  /** System fans the BMC should report. */
  fans: number | null;
  bmc: boolean;
  /** Which front panel the LED translation speaks for. */
  frontPanel: 'm2600-status' | 'm22x0-info' | null;
  /** Storage controller drivers: allowed and explicitly unsupported. */
  storage?: { allowed: string[]; unsupported: Record<string, string> };
  firmware?: 'bios';
  minMemoryGB?: number;
  devices: number;
}

/** The sizing table (SPEC "Virtual platforms"): memory, vCPUs and disk by device count. */
export const SIZING: { below: number; memoryGB: number; vcpus: number; diskGB: [number, number] | null }[] = [
  { below: 500, memoryGB: 8, vcpus: 1, diskGB: [80, 250] },
  { below: 5000, memoryGB: 8, vcpus: 2, diskGB: [80, 250] },
  { below: 20000, memoryGB: 16, vcpus: 4, diskGB: [250, 250] },
  { below: 50000, memoryGB: 32, vcpus: 8, diskGB: [500, 500] },
  { below: 100000, memoryGB: 64, vcpus: 16, diskGB: [1000, 1000] },
];

/** The row of the sizing table for a device count (the last row above 100,000). */
export function sizingFor(devices: number): (typeof SIZING)[number] {
  return SIZING.find((s) => devices < s.below) ?? SIZING[SIZING.length - 1];
}

/** The profile of a platform; `devices` (the configured device count) picks the VM sizing row. */
export function profileFor(id: PlatformId, devices = 4999): Profile {
  const base = { id, devices };
  switch (id) {
    case 'M2200':
    case 'M2250':
      return { ...base, nics: { count: 2, drivers: null }, memoryGB: 32, cpus: null, disks: { count: 2, sizeGB: id === 'M2250' ? 600 : 500, raidLevel: 'raid1', hardwareRaid: true }, psus: 2, fans: null, bmc: true, frontPanel: 'm22x0-info' };
    case 'M2600':
      return { ...base, nics: { count: 6, drivers: ['igb'] }, memoryGB: 128, cpus: 56, disks: { count: 4, sizeGB: 960, raidLevel: 'raid10', hardwareRaid: true }, psus: 2, fans: 6, bmc: true, frontPanel: 'm2600-status' };
    case 'vmware': {
      const s = sizingFor(devices);
      return {
        ...base,
        nics: { count: null, drivers: ['e1000', 'vmxnet3'] },
        memoryGB: s.memoryGB,
        cpus: s.vcpus,
        disks: { count: 1, sizeGB: s.diskGB?.[0] ?? null, raidLevel: null, hardwareRaid: false },
        psus: null,
        fans: null,
        bmc: false,
        frontPanel: null,
        storage: { allowed: ['mptsas', 'mpt3sas', 'mptspi', 'ata_piix'], unsupported: { vmw_pvscsi: 'VMware paravirtual SCSI is not supported: use LSI Logic SAS or LSI Logic Parallel' } },
        firmware: 'bios',
      };
    }
    case 'hyperv': {
      const s = sizingFor(devices);
      return { ...base, nics: { count: null, drivers: ['hv_netvsc', 'tulip', 'de2104x'] }, memoryGB: s.memoryGB, cpus: s.vcpus, disks: { count: 1, sizeGB: s.diskGB?.[0] ?? null, raidLevel: null, hardwareRaid: false }, psus: null, fans: null, bmc: false, frontPanel: null, firmware: 'bios', minMemoryGB: 4 };
    }
    case 'kvm': {
      const s = sizingFor(devices);
      return { ...base, nics: { count: null, drivers: null }, memoryGB: Math.max(8, s.memoryGB), cpus: s.vcpus, disks: { count: null, sizeGB: s.diskGB?.[0] ?? null, raidLevel: null, hardwareRaid: false }, psus: null, fans: null, bmc: false, frontPanel: null, firmware: 'bios', minMemoryGB: 8 };
    }
    default:
      return { ...base, nics: { count: null, drivers: null }, memoryGB: null, cpus: null, disks: { count: null, sizeGB: null, raidLevel: null, hardwareRaid: false }, psus: null, fans: null, bmc: false, frontPanel: null };
  }
}

const GB = 1024 ** 3;
// Firmware and the kernel keep part of the RAM: 8 GB configured shows as about 7.6 GiB MemTotal.
const MEM_SLACK = 0.9;

/**
 * Compares what the machine has with its profile. Pure over its inputs, so the installer's
 * preflight can run it before anything is written. Findings key `platform.*`.
 */
export function checkProfile(platform: Platform, profile: Profile, f: PlatformFacts): Finding[] {
  const out: Finding[] = [];
  const add = (key: string, severity: Severity, subject: string, message: string) => out.push({ key: `platform.${key}`, category: 'platform', severity, subject, message });
  if (!platform.supported) {
    add('supported', platform.id === 'M2500' ? 'critical' : 'warning', platform.name, platform.id === 'M2500' ? 'The M2500 appliance is no longer supported by this software' : `${platform.name} is not a supported platform`);
  } else add('supported', 'ok', platform.name, `${platform.name} (${platform.evidence.join('; ')})`);

  if (profile.nics.count !== null) {
    add('nics', f.nics.length >= profile.nics.count ? 'ok' : 'critical', 'network interfaces', f.nics.length >= profile.nics.count ? `${f.nics.length} network interfaces as expected` : `${profile.nics.count} network interfaces expected, ${f.nics.length} found`);
  }
  if (profile.nics.drivers) {
    const bad = f.nics.filter((n) => n.driver && !profile.nics.drivers!.includes(n.driver));
    if (bad.length) add('nic-drivers', 'warning', 'network adapters', `${bad.map((n) => `${n.name} uses ${n.driver}`).join(', ')}; expected ${profile.nics.drivers.join(' or ')}`);
    else add('nic-drivers', 'ok', 'network adapters', `adapter types as expected (${[...new Set(f.nics.map((n) => n.driver).filter(Boolean))].join(', ') || 'none bound'})`);
  }
  if (platform.id === 'hyperv') {
    const zero = f.nics.filter((n) => n.mac === '00:00:00:00:00:00');
    if (zero.length) add('static-mac', 'warning', 'network adapters', `${zero.map((n) => n.name).join(', ')} has an all-zero MAC address: set a static MAC address in Hyper-V`);
  }
  if (profile.memoryGB !== null && f.memoryBytes !== null) {
    const need = platform.kind === 'virtual' ? profile.memoryGB : profile.memoryGB;
    const have = f.memoryBytes / GB;
    const min = profile.minMemoryGB ?? 0;
    const sev: Severity = have < min * MEM_SLACK ? 'critical' : have < need * MEM_SLACK ? 'warning' : 'ok';
    const what = platform.kind === 'virtual' ? `for ${profile.devices < 100000 ? `fewer than ${sizingFor(profile.devices).below.toLocaleString('en-US')}` : 'more than 100,000'} devices` : `for ${platform.name}`;
    add('memory', sev, 'memory', sev === 'ok' ? `${have.toFixed(1)} GB memory (${need} GB expected ${what})` : `${have.toFixed(1)} GB memory; ${need} GB expected ${what}`);
  }
  if (profile.cpus !== null && f.cpus !== null) {
    const ok = f.cpus >= profile.cpus;
    add('cpus', ok ? 'ok' : 'warning', platform.kind === 'virtual' ? 'vCPUs' : 'CPUs', ok ? `${f.cpus} ${platform.kind === 'virtual' ? 'vCPUs' : 'logical CPUs'}` : `${f.cpus} ${platform.kind === 'virtual' ? 'vCPUs' : 'logical CPUs'}; ${profile.cpus} expected`);
  }
  if (profile.firmware === 'bios') {
    add('firmware', f.firmware === 'bios' ? 'ok' : 'warning', 'boot firmware', f.firmware === 'bios' ? 'boots from BIOS firmware' : `boots with UEFI; ${platform.name === 'Hyper-V virtual machine' ? 'a Generation 1 VM with BIOS' : 'BIOS boot'} is the supported setting`);
  }
  if (profile.storage) {
    for (const drv of f.storageDrivers) {
      if (profile.storage.unsupported[drv]) add(`storage-controller.${drv}`, 'critical', 'disk controller', profile.storage.unsupported[drv]);
    }
    const other = f.storageDrivers.filter((d) => !profile.storage!.allowed.includes(d) && !profile.storage!.unsupported[d]);
    if (other.length) add('storage-controller', 'warning', 'disk controller', `disk controller ${other.join(', ')} is not one of the supported types (LSI Logic SAS, LSI Logic Parallel)`);
    else if (!f.storageDrivers.some((d) => profile.storage!.unsupported[d])) add('storage-controller', 'ok', 'disk controller', `disk controller as expected (${f.storageDrivers.join(', ') || 'none listed'})`);
  }
  if (platform.kind === 'virtual' && profile.disks.sizeGB !== null && f.disks.length) {
    const biggest = Math.max(...f.disks.map((d) => d.sizeBytes)) / 1e9;
    add('disk-size', biggest >= profile.disks.sizeGB * 0.95 ? 'ok' : 'warning', 'disk', `largest disk ${biggest.toFixed(0)} GB; ${profile.disks.sizeGB} GB or more expected for this device count`);
  }
  if (profile.disks.count === 1 && f.disks.length > 1) add('disk-count', 'warning', 'disks', `${f.disks.length} disks attached; one disk per virtual machine is recommended`);
  return out;
}
