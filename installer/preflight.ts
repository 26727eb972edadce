import type { Host } from '../appliance/host/index.ts';
import { Disks } from '../appliance/host/disks.ts';
import { checkProfile, profileFor } from '../appliance/health/platform.ts';
import type { RandomIoRequest } from '../appliance/host/random-io.ts';
import { judgeStorage, summarizeIo, STORAGE_THRESHOLDS, type FioResult } from '../appliance/health/storage-test.ts';
import { notEmptyReason, type BlockDevice } from './disks.ts';
import type { InstallFacts } from './facts.ts';
import { hostDriver, targetDisks, type Check, type Level, type Mode, type PlanResult } from './plan.ts';

/** Which platforms each boot command is for (seed 004 "Installing Core ISO"). */
const MODE_MODELS: Record<Mode, string[]> = {
  'vm-install': [],
  'hw-install': ['M2200', 'M2250', 'M2600'],
  'hw-m2250-m2600-install': ['M2250', 'M2600'],
  'hw-m2250-m2600-usb-install': ['M2250', 'M2600'],
};

/** The boot command that fits a platform, for messages. */
function rightMode(id: string, kind: 'physical' | 'virtual'): string {
  if (kind === 'virtual') return 'vm-install';
  if (id === 'M2200') return 'hw-install';
  if (id === 'M2250' || id === 'M2600') return 'hw-m2250-m2600-install (or hw-m2250-m2600-usb-install from a USB stick)';
  return 'hw-install';
}

/** Does the boot command fit the machine? (pure) */
export function modeChecks(mode: Mode, facts: InstallFacts): Check[] {
  const p = facts.platform;
  const out: Check[] = [];
  const add = (level: Level, message: string) => out.push({ check: 'mode', level, message });
  if (p.id === 'M2500') return out; // refused by the platform check; no second message
  if (mode === 'vm-install') {
    if (p.kind === 'virtual') add('ok', `vm-install on a ${p.name}`);
    else if (p.id === 'physical-other') add('warn', `vm-install on physical hardware that is not a Core appliance (${p.evidence.join('; ')})`);
    else add('refuse', `vm-install is for virtual machines; this is a ${p.name}: use ${rightMode(p.id, p.kind)}`);
    return out;
  }
  if (p.kind === 'virtual') {
    add('refuse', `${mode} is for Core appliances; this is a ${p.name}: use vm-install`);
    return out;
  }
  if (p.id === 'physical-other') add('warn', `${mode} on hardware that is not a recognised Core appliance`);
  else if (!MODE_MODELS[mode].includes(p.id)) add('refuse', `${mode} is for the ${MODE_MODELS[mode].join(' and ')}; this is a ${p.name}: use ${rightMode(p.id, p.kind)}`);
  else if (mode === 'hw-install' && p.id !== 'M2200') add('warn', `hw-install on a ${p.name}: hw-m2250-m2600-install is the command for this model`);
  else add('ok', `${mode} on a ${p.name}`);
  if (mode === 'hw-m2250-m2600-usb-install') out.push(...usbChecks(facts.devices));
  return out;
}

/** The USB install runs from a stick labelled KEEL; it must be one, and it is never a target. */
function usbChecks(devs: BlockDevice[]): Check[] {
  const labelled = devs.filter((d) => d.label === 'KEEL' || (d.children ?? []).some((c) => c.label === 'KEEL'));
  const stick = labelled.find((d) => d.tran === 'usb' || d.rm);
  if (stick && stick.type === 'disk') return [{ check: 'usb', level: 'ok', message: `installing from the USB stick ${stick.path} labelled KEEL${stick.vendor || stick.model ? ` (${[stick.vendor, stick.model].filter(Boolean).join(' ')})` : ''}; it is never written` }];
  if (labelled.length)
    return [{ check: 'usb', level: 'refuse', message: `hw-m2250-m2600-usb-install installs from a USB stick labelled KEEL, but the Keel medium here is ${labelled[0].path} (${labelled[0].type === 'rom' ? 'a DVD or virtual CD' : 'not a USB stick'}): use hw-m2250-m2600-install` }];
  return [{ check: 'usb', level: 'refuse', message: 'no USB stick labelled KEEL was found: write the ISO to a stick (see README, "USB stick") and boot from it' }];
}

const GB = 1024 ** 3;

/**
 * What the installer checks before anything is written (pure): the platform and whether it is
 * supported, the boot command against the platform, CPU, memory, disk against the sizing table,
 * firmware mode, disk controllers, network interfaces, and the disk rules' findings. The storage
 * test is added by `storageChecks`.
 */
export function preflightChecks(mode: Mode, facts: InstallFacts, plan: PlanResult): Check[] {
  const p = facts.platform;
  const f = facts.machine;
  const out: Check[] = [];
  if (p.id === 'M2500') out.push({ check: 'platform', level: 'refuse', message: 'this is a Core M2500: the M2500 is no longer supported, and this software was never tested on it. Keel does not install on an M2500' });
  else if (!p.supported) out.push({ check: 'platform', level: 'warn', message: `${p.name} is not a supported platform (${p.evidence.join('; ')})` });
  else out.push({ check: 'platform', level: 'ok', message: `${p.name} (${p.evidence.join('; ')})` });
  out.push(...modeChecks(mode, facts));

  const profile = profileFor(p.id);
  const targets = plan.plan ? targetDisks(plan.plan.target) : [];
  const targetDrivers = new Set(targets.map((d) => hostDriver(d, facts)).filter(Boolean));
  for (const h of checkProfile(p, profile, f)) {
    const key = h.key.replace(/^platform\./, '');
    if (key === 'supported' || key === 'firmware' || key === 'disk-count') continue; // said above / below
    let level: Level = h.severity === 'ok' ? 'ok' : 'warn';
    if (key.startsWith('storage-controller.') && h.severity === 'critical') {
      // An unsupported controller under the system disk refuses; elsewhere on the machine it warns.
      const drv = key.slice('storage-controller.'.length);
      level = targetDrivers.has(drv) ? 'refuse' : 'warn';
      out.push({ check: 'controller', level, message: `${h.message}${level === 'refuse' ? ` (the install disk ${targets.map((d) => d.path).join(', ')} is on it)` : ''}` });
      continue;
    }
    const check = key === 'nics' || key === 'nic-drivers' || key === 'static-mac' ? 'network' : key === 'disk-size' ? 'disk' : key === 'storage-controller' ? 'controller' : key === 'cpus' ? 'cpu' : key;
    out.push({ check, level, message: h.message });
  }
  if (profile.cpus === null && f.cpus !== null) out.push({ check: 'cpu', level: 'ok', message: `${f.cpus} logical CPUs` });
  if (profile.memoryGB === null && f.memoryBytes !== null) out.push({ check: 'memory', level: 'ok', message: `${(f.memoryBytes / GB).toFixed(1)} GB memory` });
  if (f.nics.length === 0) out.push({ check: 'network', level: 'refuse', message: 'no network interface was found: the appliance is managed over the network (GigabitEthernet1)' });
  else if (profile.nics.count === null) out.push({ check: 'network', level: 'ok', message: `${f.nics.length} network interface${f.nics.length > 1 ? 's' : ''} (GigabitEthernet1${f.nics.length > 1 ? `-${f.nics.length}` : ''})` });
  // The seed asks for BIOS boot on every platform; Keel's disk boots with either, so this only informs.
  out.push({ check: 'firmware', level: 'ok', message: f.firmware === 'bios' ? 'BIOS boot' : `UEFI boot (the seed documents BIOS; Keel installs GRUB for both)` });
  out.push(...plan.checks);
  return out;
}

/** One side of the short storage test on a raw device: 4 KiB, 8 in flight, O_DIRECT, the first sizeMB (pure). */
export function storageIo(device: string, side: 'read' | 'write', o: { runtimeSeconds?: number; sizeMB?: number } = {}): RandomIoRequest {
  // raw: the device is never created or laid out, and the read side opens it read-only.
  return { file: device, raw: true, mode: side, sizeBytes: (o.sizeMB ?? 256) * 2 ** 20, blockSize: 4096, depth: 8, seconds: o.runtimeSeconds ?? 5, direct: true };
}

/** The storage test's findings as preflight checks: below SPEC's thresholds warns, never refuses (pure). */
export function storageChecks(read: FioResult, write: FioResult | null, device: string): Check[] {
  const j = judgeStorage(read, write ?? { iops: STORAGE_THRESHOLDS.write.minIops, mbps: STORAGE_THRESHOLDS.write.minMBps, p90Ms: 0 });
  const out: Check[] = [{ check: 'storage.read', level: j.findings[0].severity === 'ok' ? 'ok' : 'warn', message: `${device} ${j.findings[0].message}` }];
  if (write) out.push({ check: 'storage.write', level: j.findings[1].severity === 'ok' ? 'ok' : 'warn', message: `${device} ${j.findings[1].message}` });
  return out;
}

/**
 * Runs the short storage test on the first target disk through the disks adapter: random
 * read always (read-only), random write only when the disk is empty (nothing to lose). A disk that
 * holds data is measured for writes after it is wiped (see main.ts), never before.
 */
export async function runStorageTest(host: Host, disk: BlockDevice, o: { runtimeSeconds?: number; sizeMB?: number } = {}): Promise<{ checks: Check[]; writeDeferred: boolean }> {
  const disks = new Disks(host);
  try {
    const read = summarizeIo(await disks.randomIo(storageIo(disk.path, 'read', o)));
    const empty = notEmptyReason(disk) === null;
    const write = empty ? summarizeIo(await disks.randomIo(storageIo(disk.path, 'write', o))) : null;
    const checks = storageChecks(read, write, disk.path);
    if (!empty) checks.push({ check: 'storage.write', level: 'ok', message: `${disk.path} random write: measured after the wipe (the disk holds data until then)` });
    return { checks, writeDeferred: !empty };
  } catch (e) {
    return { checks: [{ check: 'storage', level: 'warn', message: `the storage test could not run on ${disk.path}: ${(e as Error).message}` }], writeDeferred: false };
  }
}

/** Refusals always stop; warnings stop unless forced (pure). */
export function decide(checks: Check[], force: boolean): { install: boolean; refusals: Check[]; warnings: Check[] } {
  const refusals = checks.filter((c) => c.level === 'refuse');
  const warnings = checks.filter((c) => c.level === 'warn');
  return { install: refusals.length === 0 && (warnings.length === 0 || force), refusals, warnings };
}

/** The preflight as console lines: `  [ OK ] …`, `  [WARN] …`, `  [STOP] …`. */
export function formatChecks(checks: Check[]): string[] {
  const tag: Record<Level, string> = { ok: '[ OK ]', warn: '[WARN]', refuse: '[STOP]' };
  return checks.map((c) => `  ${tag[c.level]} ${c.check.padEnd(13)} ${c.message.split('\n')[0]}`);
}
