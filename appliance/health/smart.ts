import type { Finding, Severity } from './types.ts';

/** What the health probe keeps of `smartctl --json -a`. */
export interface SmartDisk {
  device: string;
  protocol: string | null;
  model: string | null;
  serial: string | null;
  /** Overall SMART self-assessment; null when smartctl could not read it. */
  passed: boolean | null;
  temperatureC: number | null;
  /** Endurance used, 0-100+ (NVMe percentage_used, SAS endurance indicator, ATA wear attributes). */
  percentUsed: number | null;
  reallocatedSectors: number | null;
  pendingSectors: number | null;
  powerOnHours: number | null;
  /** NVMe critical warning bits (non-zero: the controller reports trouble). */
  nvmeCriticalWarning: number | null;
  /** smartctl's exit status bit mask (bit 3: disk failing; bit 2: command failed). */
  exitStatus: number | null;
  messages: string[];
}

interface AtaAttr {
  id: number;
  name: string;
  value: number;
  raw: { value: number };
}

// Normalized value of these counts down from 100 as the flash wears (percent of life left).
const ATA_LIFE_LEFT = [231, 233, 177, 202, 169];

/** Parses `smartctl --json -a` output (ATA, SCSI/SAS and NVMe). Pure. */
export function parseSmartctl(text: string): SmartDisk {
  const j = JSON.parse(text) as Record<string, any>;
  const attrs: AtaAttr[] = j.ata_smart_attributes?.table ?? [];
  const attr = (id: number) => attrs.find((a) => a.id === id);
  const nvme = j.nvme_smart_health_information_log;
  let percentUsed: number | null = null;
  if (nvme && typeof nvme.percentage_used === 'number') percentUsed = nvme.percentage_used;
  else if (typeof j.scsi_percentage_used_endurance_indicator === 'number') percentUsed = j.scsi_percentage_used_endurance_indicator;
  else if (typeof j.endurance_used?.current_percent === 'number') percentUsed = j.endurance_used.current_percent;
  else {
    for (const id of ATA_LIFE_LEFT) {
      const a = attr(id);
      if (a && a.value <= 100) {
        percentUsed = 100 - a.value;
        break;
      }
    }
  }
  const realloc = attr(5)?.raw.value ?? (typeof j.scsi_grown_defect_list === 'number' ? j.scsi_grown_defect_list : null);
  return {
    device: j.device?.name ?? '?',
    protocol: j.device?.protocol ?? null,
    model: j.model_name ?? j.scsi_model_name ?? j.scsi_product ?? null,
    serial: j.serial_number ?? null,
    passed: typeof j.smart_status?.passed === 'boolean' ? j.smart_status.passed : null,
    temperatureC: typeof j.temperature?.current === 'number' ? j.temperature.current : typeof nvme?.temperature === 'number' ? nvme.temperature : null,
    percentUsed,
    reallocatedSectors: realloc,
    pendingSectors: attr(197)?.raw.value ?? null,
    powerOnHours: typeof j.power_on_time?.hours === 'number' ? j.power_on_time.hours : null,
    nvmeCriticalWarning: typeof nvme?.critical_warning === 'number' ? nvme.critical_warning : null,
    exitStatus: typeof j.smartctl?.exit_status === 'number' ? j.smartctl.exit_status : null,
    messages: (j.smartctl?.messages ?? []).map((m: { string: string }) => m.string),
  };
}

/** SMART limits (warning, critical). */
export const SMART_LIMITS = { percentUsed: [90, 100], temperatureC: [60, 70], reallocated: [10, 100], pending: [1, 10] } as const;

/** Findings for one disk, key `disk.<name>`: the worst of health, wear, sectors and temperature. */
export function smartFindings(d: SmartDisk): Finding[] {
  const name = d.device.replace(/^\/dev\//, '');
  const problems: [Severity, string][] = [];
  if (d.passed === false) problems.push(['critical', 'SMART overall health FAILED: replace the disk']);
  if (d.nvmeCriticalWarning) problems.push(['critical', `NVMe critical warning 0x${d.nvmeCriticalWarning.toString(16)}`]);
  const lvl = (v: number | null, [w, c]: readonly [number, number]): Severity => (v === null ? 'ok' : v >= c ? 'critical' : v >= w ? 'warning' : 'ok');
  const wear = lvl(d.percentUsed, SMART_LIMITS.percentUsed);
  if (wear !== 'ok') problems.push([wear, `${d.percentUsed}% of rated endurance used: plan a replacement`]);
  const re = lvl(d.reallocatedSectors, SMART_LIMITS.reallocated);
  if (re !== 'ok') problems.push([re, `${d.reallocatedSectors} reallocated sectors`]);
  const pe = lvl(d.pendingSectors, SMART_LIMITS.pending);
  if (pe !== 'ok') problems.push([pe, `${d.pendingSectors} sectors pending reallocation`]);
  const te = lvl(d.temperatureC, SMART_LIMITS.temperatureC);
  if (te !== 'ok') problems.push([te, `${d.temperatureC} C: too hot`]);
  const sev: Severity = d.passed === null && problems.length === 0 ? 'unknown' : problems.reduce<Severity>((s, [p]) => (p === 'critical' || s === 'critical' ? 'critical' : p === 'warning' ? 'warning' : s), 'ok');
  const facts = [d.model, d.temperatureC !== null ? `${d.temperatureC} C` : null, d.percentUsed !== null ? `${d.percentUsed}% worn` : null, d.powerOnHours !== null ? `${d.powerOnHours} h` : null].filter(Boolean).join(', ');
  const msg = `${name} (${facts}): ${problems.length ? problems.map((p) => p[1]).join('; ') : d.passed === null ? 'SMART data not available' : 'SMART health passed'}`;
  return [{ key: `disk.${name}`, category: 'disk', severity: sev, subject: name, message: msg, value: d.percentUsed ?? undefined }];
}
