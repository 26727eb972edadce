import { Ipmitool, type BmcTarget } from '../host/ipmi.ts';
import type { Processes } from '../host/processes.ts';
import { OperationalError } from '../errors.ts';
import type { Category, Finding, Severity } from './types.ts';

/** Thresholds of an analog sensor (null: not set). */
export interface Thresholds {
  lnr: number | null;
  lcr: number | null;
  lnc: number | null;
  unc: number | null;
  ucr: number | null;
  unr: number | null;
}

/** One BMC sensor, named as the BMC names it. */
export interface IpmiSensor {
  name: string;
  /** Sensor number (hex as ipmitool prints it, e.g. `01h`). */
  number: string | null;
  /** Entity id.instance (`10.1` is power supply 1). */
  entity: string | null;
  category: Category;
  /** ipmitool's status: ok, unc, ucr, unr, lnc, lcr, lnr, ns (no reading)… */
  status: string;
  value: number | null;
  unit: string | null;
  /** For discrete sensors: the asserted states (`Presence detected, Failure detected`). */
  states: string | null;
  thresholds: Thresholds | null;
}

const num = (s: string | undefined): number | null => {
  if (s === undefined) return null;
  const t = s.trim();
  if (t === '' || t === 'na') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
};

/** Parses `ipmitool sdr elist` (pure): name | number | status | entity | reading. */
export function parseSdrElist(text: string): IpmiSensor[] {
  const out: IpmiSensor[] = [];
  for (const line of text.split('\n')) {
    const c = line.split('|').map((s) => s.trim());
    if (c.length < 5 || !c[0]) continue;
    const reading = c.slice(4).join('|');
    const m = /^(-?[\d.]+)\s+(.+)$/.exec(reading);
    const analog = m !== null && !/^0x/.test(reading) && /degrees|RPM|Volts|Watts|Amps|percent|CFM|unspecified/i.test(m[2]);
    out.push({
      name: c[0],
      number: c[1] || null,
      entity: c[3] || null,
      category: 'chassis',
      status: c[2],
      value: analog ? Number(m![1]) : null,
      unit: analog ? m![2] : null,
      states: analog ? null : reading === 'No Reading' || reading === '' ? null : reading,
      thresholds: null,
    });
  }
  for (const s of out) s.category = classify(s);
  return out;
}

/** Parses `ipmitool sensor` (pure): name | value | unit | status | lnr | lcr | lnc | unc | ucr | unr. */
export function parseSensorList(text: string): { name: string; value: number | null; unit: string; status: string; thresholds: Thresholds }[] {
  const out: ReturnType<typeof parseSensorList> = [];
  for (const line of text.split('\n')) {
    const c = line.split('|').map((s) => s.trim());
    if (c.length < 10 || !c[0]) continue;
    out.push({ name: c[0], value: num(c[1]), unit: c[2], status: c[3], thresholds: { lnr: num(c[4]), lcr: num(c[5]), lnc: num(c[6]), unc: num(c[7]), ucr: num(c[8]), unr: num(c[9]) } });
  }
  return out;
}

/** Which kind of part a sensor watches: unit first, then entity id, then its name. */
export function classify(s: Pick<IpmiSensor, 'name' | 'unit' | 'entity'>): Category {
  const u = (s.unit ?? '').toLowerCase();
  if (u.includes('degrees')) return 'temperature';
  if (u.includes('rpm')) return 'fan';
  if (u.includes('volts')) return 'voltage';
  if (u.includes('watts') || u.includes('amps')) return 'power';
  const entity = Number((s.entity ?? '').split('.')[0]);
  if (entity === 10) return 'power';
  if (entity === 29) return 'fan';
  if (entity === 3) return 'processor';
  if (entity === 32 || entity === 8) return 'memory';
  if (/\b(PS|PSU|Power ?Supply|PWS)\s*\d*/i.test(s.name)) return 'power';
  if (/fan/i.test(s.name)) return 'fan';
  if (/temp/i.test(s.name)) return 'temperature';
  if (/intru/i.test(s.name)) return 'chassis';
  return 'chassis';
}

/** Adds the thresholds of `ipmitool sensor` to the elist sensors, by name. */
export function mergeThresholds(sensors: IpmiSensor[], list: ReturnType<typeof parseSensorList>): IpmiSensor[] {
  const byName = new Map(list.map((l) => [l.name, l]));
  for (const s of sensors) {
    const t = byName.get(s.name);
    if (t && t.unit !== 'discrete') s.thresholds = t.thresholds;
  }
  return sensors;
}

export interface SelEvent {
  /** SEL record id (ipmitool prints it in hex). */
  id: number;
  /** `11/23/2026 12:00:01`, or `Pre-Init 0000000814` before the BMC clock was set. */
  time: string;
  sensorType: string;
  sensor: string;
  event: string;
  asserted: boolean;
  detail: string | null;
}

const SENSOR_TYPES = ['Temperature', 'Voltage', 'Current', 'Fan', 'Physical Security', 'Platform Security', 'Processor', 'Power Supply', 'Power Unit', 'Cooling Device', 'Other', 'Memory', 'Drive Slot / Bay', 'Drive Slot', 'POST Memory Resize', 'System Firmware Progress', 'System Firmwares', 'Event Logging Disabled', 'Watchdog1', 'Watchdog2', 'Watchdog', 'System Event', 'Critical Interrupt', 'Button', 'Module / Board', 'Microcontroller', 'Add-in Card', 'Chassis', 'Chip Set', 'Other FRU', 'Cable / Interconnect', 'Terminator', 'System Boot Initiated', 'Boot Error', 'OS Boot', 'OS Critical Stop', 'Slot / Connector', 'System ACPI Power State', 'Platform Alert', 'Entity Presence', 'Monitor ASIC', 'LAN', 'Management Subsystem Health', 'Battery', 'Session Audit', 'Version Change', 'FRU State'];

/** Parses `ipmitool sel elist` (pure). */
export function parseSelElist(text: string): SelEvent[] {
  const out: SelEvent[] = [];
  for (const line of text.split('\n')) {
    const c = line.split('|').map((s) => s.trim());
    if (c.length < 6 || !/^[0-9a-f]+$/i.test(c[0])) continue;
    const sensorField = c[3];
    const type = SENSOR_TYPES.find((t) => sensorField === t || sensorField.startsWith(`${t} `)) ?? sensorField.split(' ')[0];
    out.push({
      id: Number.parseInt(c[0], 16),
      time: `${c[1]} ${c[2]}`,
      sensorType: type,
      sensor: sensorField.slice(type.length).trim(),
      event: c[4],
      asserted: c[5] !== 'Deasserted',
      detail: c[6] ?? null,
    });
  }
  return out;
}

/**
 * Whether a SEL event matters, and how much. Only these raise alerts: deassertions, presence,
 * boot and OEM records are history, not news.
 */
export function selSeverity(e: SelEvent): Severity | null {
  if (!e.asserted) return null;
  const t = `${e.sensorType} ${e.event}`;
  if (/(?<!Non-)Critical going|Non-recoverable|Failure detected|AC lost|Uncorrectable|IERR|Thermal Trip|FRB\d|Drive Fault|Transition to Critical|Transition to Non-recoverable|Machine Check|Bus Fatal|PCI SERR|PCI PERR|Fatal|Power off|Power down|Out of range/i.test(t)) return 'critical';
  if (/Non-critical going|Predictive failure|Correctable ECC|Chassis intrusion|Log area reset|Log full|Log almost full|Transition to Non-Critical|Redundancy Lost|Redundancy Degraded|Config Error|In Failed Array|Rebuild|Timer expired|Hard reset|Power cycle/i.test(t)) return 'warning';
  return null;
}

/** `ipmitool chassis status` as booleans (pure). */
export interface ChassisStatus {
  powerOn: boolean | null;
  intrusion: boolean | null;
  powerOverload: boolean;
  mainPowerFault: boolean;
  powerControlFault: boolean;
  driveFault: boolean;
  fanFault: boolean;
  lastPowerEvent: string | null;
}

export function parseChassisStatus(text: string): ChassisStatus {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const t = (k: string) => kv.get(k) === 'true';
  return {
    powerOn: kv.has('System Power') ? kv.get('System Power') === 'on' : null,
    intrusion: kv.has('Chassis Intrusion') ? kv.get('Chassis Intrusion') === 'active' : null,
    powerOverload: t('Power Overload'),
    mainPowerFault: t('Main Power Fault'),
    powerControlFault: t('Power Control Fault'),
    driveFault: t('Drive Fault'),
    fanFault: t('Cooling/Fan Fault'),
    lastPowerEvent: kv.get('Last Power Event') || null,
  };
}

/** `ipmitool fru print`: one record per FRU device, fields as printed (pure). */
export function parseFru(text: string): { device: string; fields: Record<string, string> }[] {
  const out: { device: string; fields: Record<string, string> }[] = [];
  let cur: { device: string; fields: Record<string, string> } | null = null;
  for (const line of text.split('\n')) {
    const m = /^\s*([^:]+?)\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'FRU Device Description') {
      cur = { device: m[2], fields: {} };
      out.push(cur);
    } else if (cur) cur.fields[m[1]] = m[2].trim();
  }
  return out;
}

/** Product name and part number of the main board FRU, for platform identification. */
export function fruIdentity(frus: ReturnType<typeof parseFru>): { productName?: string; partNumber?: string; manufacturer?: string; boardProduct?: string } | undefined {
  const f = frus.find((r) => r.fields['Product Name'] || r.fields['Board Product'])?.fields;
  if (!f) return undefined;
  return { productName: f['Product Name'], partNumber: f['Product Part Number'], manufacturer: f['Product Manufacturer'] ?? f['Board Mfg'], boardProduct: f['Board Product'] };
}

/** Hysteresis margins: a sensor leaves a threshold state only this far back inside (units of the sensor). */
export interface Hysteresis {
  /** Fraction of the threshold (0.03 = 3 %). */
  fraction: number;
  /** At least this much, per unit kind. */
  min: { temperature: number; fan: number; voltage: number; other: number };
}
export const HYSTERESIS: Hysteresis = { fraction: 0.03, min: { temperature: 2, fan: 100, voltage: 0.1, other: 0 } };

/**
 * Severity of an analog sensor from its value and thresholds, with hysteresis against `prev`:
 * entering a worse state is immediate; leaving it needs the value `margin` back inside.
 * Without thresholds, the BMC's own status decides.
 */
export function thresholdSeverity(s: IpmiSensor, prev: Severity | undefined, h: Hysteresis = HYSTERESIS): Severity {
  const bmc = bmcStatusSeverity(s.status);
  if (s.value === null || !s.thresholds) return bmc;
  const t = s.thresholds;
  const v = s.value;
  const minKey = s.category === 'temperature' || s.category === 'fan' || s.category === 'voltage' ? s.category : 'other';
  const margin = (th: number) => Math.max(Math.abs(th) * h.fraction, h.min[minKey]);
  const level = (slack: (th: number) => number): Severity => {
    const hi = (th: number | null) => th !== null && v >= th - slack(th);
    const lo = (th: number | null) => th !== null && v <= th + slack(th);
    if (hi(t.ucr) || hi(t.unr) || lo(t.lcr) || lo(t.lnr)) return 'critical';
    if (hi(t.unc) || lo(t.lnc)) return 'warning';
    return 'ok';
  };
  const raw = level(() => 0);
  if (!prev || prev === 'ok' || prev === 'unknown') return raw;
  // Still within `margin` of the threshold that put it in `prev`: keep `prev`.
  const sticky = level(margin);
  const rank = { ok: 0, unknown: 0, warning: 1, critical: 2 } as const;
  return rank[raw] >= rank[prev] ? raw : rank[sticky] >= rank[prev] ? prev : sticky;
}

function bmcStatusSeverity(status: string): Severity {
  const s = status.toLowerCase();
  if (s === 'ok') return 'ok';
  if (s === 'unc' || s === 'lnc' || s === 'nc') return 'warning';
  if (/^(ucr|lcr|cr|unr|lnr|nr)$/.test(s)) return 'critical';
  return 'unknown';
}

/** Severity of a discrete sensor from its asserted states. */
export function discreteSeverity(s: IpmiSensor): Severity {
  const st = s.states ?? '';
  if (/Failure detected|AC lost|input lost|Out-of-Range|Non-recoverable|Transition to Critical|Drive Fault|Uncorrectable|IERR|Thermal Trip/i.test(st)) return 'critical';
  if (/Predictive failure|Config Error|Chassis intrusion|Non-Critical|Correctable|Redundancy (Lost|Degraded)|In Failed Array|Rebuild/i.test(st)) return 'warning';
  // A power supply sensor without "Presence detected" has lost its supply (pulled or dead).
  if (s.category === 'power' && s.status !== 'ns' && s.states !== null && !/Presence detected/i.test(st)) return 'critical';
  return s.status === 'ns' ? 'unknown' : 'ok';
}

/**
 * Findings per sensor, key `ipmi.sensor.<BMC name>`. `prev` holds the previous severities
 * by key (the monitor's state) for hysteresis. A failed PSU or fan whose siblings still work
 * is marked `redundancyLost` (the M2600 panel blinks green for it).
 */
export function sensorFindings(sensors: IpmiSensor[], prev: ReadonlyMap<string, Severity> = new Map(), h: Hysteresis = HYSTERESIS): Finding[] {
  const out: Finding[] = sensors.map((s) => {
    const key = `ipmi.sensor.${s.name}`;
    const sev = s.value !== null ? thresholdSeverity(s, prev.get(key), h) : discreteSeverity(s);
    const reading = s.value !== null ? `${s.value} ${s.unit}` : s.states ?? 'no reading';
    const what = WORDS[s.category] ?? '';
    let msg = `${s.name}: ${reading}`;
    if (sev !== 'ok' && sev !== 'unknown') msg += ` (${s.status !== 'ok' ? `${s.status}; ` : ''}${what || 'check the part'})`;
    return { key, category: s.category, severity: sev, subject: s.name, message: msg, value: s.value ?? undefined };
  });
  for (const cat of ['power', 'fan'] as const) {
    const set = out.filter((f) => f.category === cat);
    const working = set.filter((f) => f.severity === 'ok').length;
    for (const f of set) if (f.severity === 'critical' && working > 0) f.redundancyLost = true;
  }
  return out;
}

const WORDS: Partial<Record<Category, string>> = {
  temperature: 'overheat: check airflow, cabling and the room temperature',
  fan: 'fan failure: check for an inoperative fan',
  power: 'power failure: check for a non-operational power supply',
  voltage: 'voltage out of range',
  chassis: 'check the chassis',
};

/** Findings for chassis status, key `ipmi.chassis.*`. */
export function chassisFindings(c: ChassisStatus): Finding[] {
  const f = (k: string, cat: Category, bad: boolean, sev: Severity, okMsg: string, badMsg: string): Finding => ({ key: `ipmi.chassis.${k}`, category: cat, severity: bad ? sev : 'ok', subject: 'chassis', message: bad ? badMsg : okMsg });
  return [
    f('intrusion', 'chassis', c.intrusion === true, 'warning', 'chassis closed', 'chassis intrusion: the cover has been opened'),
    f('power-fault', 'power', c.mainPowerFault || c.powerControlFault || c.powerOverload, 'critical', 'no power faults', `power fault (${[c.mainPowerFault && 'main power', c.powerControlFault && 'power control', c.powerOverload && 'overload'].filter(Boolean).join(', ')})`),
    f('fan-fault', 'fan', c.fanFault, 'critical', 'no cooling faults', 'cooling/fan fault reported by the BMC'),
    f('drive-fault', 'disk', c.driveFault, 'critical', 'no drive faults', 'drive fault reported by the BMC'),
  ];
}

/** What one IPMI read gives. */
export interface IpmiReading {
  sensors: IpmiSensor[];
  /** Wall time of the read (ms). */
  ms: number;
}

/**
 * IPMI probe: reads sensors with one `sdr elist` per call (thresholds from `ipmitool sensor`,
 * cached for `thresholdTtlMs` because they do not change), the SEL incrementally (only when
 * `sel info` says it grew), chassis status, FRU, and turns the locate LED on and off.
 */
export class IpmiProbe {
  readonly ipmi: Ipmitool;
  thresholdTtlMs: number;
  private thresholds: { at: number; list: ReturnType<typeof parseSensorList> } | null = null;
  private sel: { lastAdd: string; entries: number; lastId: number } | null = null;
  constructor(proc: Processes, target: BmcTarget, opts: { thresholdTtlMs?: number; timeoutMs?: number } = {}) {
    this.ipmi = new Ipmitool(proc, target, { timeoutMs: opts.timeoutMs });
    this.thresholdTtlMs = opts.thresholdTtlMs ?? 600_000;
  }
  async readSensors(): Promise<IpmiReading> {
    const t0 = performance.now();
    if (!this.thresholds || performance.now() - this.thresholds.at > this.thresholdTtlMs) {
      const [list, elist] = await Promise.all([this.ipmi.run(['sensor']), this.ipmi.run(['sdr', 'elist'])]);
      this.thresholds = { at: performance.now(), list: parseSensorList(list.stdout) };
      return { sensors: mergeThresholds(parseSdrElist(elist.stdout), this.thresholds.list), ms: performance.now() - t0 };
    }
    const elist = await this.ipmi.run(['sdr', 'elist']);
    return { sensors: mergeThresholds(parseSdrElist(elist.stdout), this.thresholds.list), ms: performance.now() - t0 };
  }
  /** Forgets cached thresholds (next read fetches them). */
  refreshThresholds(): void {
    this.thresholds = null;
  }
  /**
   * SEL events newer than the last call (or than `lastId`, e.g. restored from the store).
   * The first call without `lastId` returns nothing new: old entries are history, not news.
   */
  async newSelEvents(lastId?: number): Promise<{ events: SelEvent[]; lastId: number }> {
    const info = (await this.ipmi.run(['sel', 'info'])).stdout;
    const entries = Number(/^Entries\s*:\s*(\d+)/m.exec(info)?.[1] ?? 0);
    const lastAdd = /^Last Add Time\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? '';
    if (this.sel && lastId === undefined && this.sel.lastAdd === lastAdd && this.sel.entries === entries) return { events: [], lastId: this.sel.lastId };
    const known = lastId ?? this.sel?.lastId;
    if (entries === 0) {
      this.sel = { lastAdd, entries, lastId: known ?? 0 };
      return { events: [], lastId: known ?? 0 };
    }
    const grew = this.sel && entries > this.sel.entries ? entries - this.sel.entries : null;
    const text = (await this.ipmi.run(grew ? ['sel', 'elist', 'last', String(grew)] : ['sel', 'elist'])).stdout;
    const all = parseSelElist(text);
    const maxId = all.reduce((m, e) => Math.max(m, e.id), known ?? 0);
    let events: SelEvent[];
    if (known === undefined) events = [];
    else if (all.some((e) => e.id === known) || grew) events = all.filter((e) => e.id > known);
    else events = all.filter((e) => e.id > known).length ? all.filter((e) => e.id > known) : all; // SEL was cleared: ids restart
    this.sel = { lastAdd, entries, lastId: maxId };
    return { events, lastId: maxId };
  }
  async chassis(): Promise<ChassisStatus> {
    return parseChassisStatus((await this.ipmi.run(['chassis', 'status'])).stdout);
  }
  private fruCache: ReturnType<typeof parseFru> | null = null;
  /** FRU inventory; read once per probe (it does not change while the machine runs). */
  async fru(): Promise<ReturnType<typeof parseFru>> {
    // Exit 1 when one of several FRU devices is absent; what it printed is still valid.
    this.fruCache ??= parseFru((await this.ipmi.run(['fru', 'print'], { allowFail: true })).stdout);
    return this.fruCache;
  }
  /**
   * Locate (chassis identify): on until turned off (`force`), or for `seconds`. BMCs that
   * refuse `force` get the longest timed interval (255 s) instead.
   */
  async locate(on: boolean, seconds?: number): Promise<{ on: boolean; seconds: number | null }> {
    if (!on) {
      await this.ipmi.run(['chassis', 'identify', '0']);
      return { on: false, seconds: null };
    }
    if (seconds !== undefined) {
      await this.ipmi.run(['chassis', 'identify', String(Math.min(255, Math.max(1, seconds)))]);
      return { on: true, seconds: Math.min(255, seconds) };
    }
    const r = await this.ipmi.run(['chassis', 'identify', 'force'], { allowFail: true });
    if (r.code === 0) return { on: true, seconds: null };
    try {
      await this.ipmi.run(['chassis', 'identify', '255']);
    } catch (e) {
      if (e instanceof OperationalError) throw new OperationalError('the BMC does not support chassis identify', e.command, e.exitCode, e.stderr);
      throw e;
    }
    return { on: true, seconds: 255 };
  }
}
