import type { Finding, Severity } from './types.ts';

/**
 * Parsers for the MegaRAID family CLI (Broadcom storcli, Dell perccli: same JSON) and the
 * findings they give. Each parser takes the text of one `... J` command; all are pure.
 */

export interface RaidController {
  index: number;
  model: string | null;
  serial: string | null;
  firmware: string | null;
  status: string | null;
  /** BBU or CacheVault: model and state (`Optimal`, `Degraded`, `Failed`…); null when there is none. */
  battery: { kind: 'BBU' | 'CacheVault'; model: string | null; state: string; temperature: string | null } | null;
  memoryUncorrectableErrors: number | null;
}

export interface VirtualDrive {
  /** `0/0`: drive group / virtual drive. */
  id: string;
  raid: string;
  /** Short state as storcli prints it: Optl, Dgrd, Pdgd, OfLn, Rec. */
  state: string;
  name: string;
  size: string;
  /** Current cache policy (`RWBD` = read ahead, write back, direct IO). */
  cache: { readAhead: boolean; write: 'WB' | 'AWB' | 'WT' | null; io: 'C' | 'D' | null; raw: string };
  /** What the write policy was set to (VD properties), to see a forced fall-back to write-through. */
  writeCacheSetting: string | null;
  diskCachePolicy: string | null;
  osDrive: string | null;
  drives: string[];
}

export interface PhysicalDrive {
  /** `252:0`: enclosure:slot. */
  slot: string;
  /** Onln, Offln, Rbld, UGood, UBad, GHS, DHS, Failed, Msng, JBOD, Cpybck. */
  state: string;
  dg: string | null;
  size: string;
  interface: string | null;
  media: string | null;
  model: string | null;
  mediaErrors: number | null;
  otherErrors: number | null;
  predictiveFailures: number | null;
  smartAlert: boolean | null;
  temperatureC: number | null;
  serial: string | null;
}

interface StorcliDoc {
  Controllers?: { 'Command Status'?: { Controller?: number | string; Status?: string; Description?: string }; 'Response Data'?: Record<string, unknown> }[];
}

function controllers(text: string): { index: number; status: string; description: string; data: Record<string, unknown> }[] {
  const doc = JSON.parse(text) as StorcliDoc;
  return (doc.Controllers ?? []).map((c, i) => ({
    index: Number(c['Command Status']?.Controller ?? i),
    status: c['Command Status']?.Status ?? 'Unknown',
    description: c['Command Status']?.Description ?? '',
    data: c['Response Data'] ?? {},
  }));
}

const str = (v: unknown): string | null => (v === undefined || v === null || v === '-' || v === '' ? null : String(v).trim());
const int = (v: unknown): number | null => {
  if (v === undefined || v === null || v === '-' || v === 'NA') return null;
  const n = Number.parseInt(String(v), 10);
  return Number.isFinite(n) ? n : null;
};

function parseCache(raw: string): VirtualDrive['cache'] {
  const m = /^(NR|R)?(AWB|WB|WT)?(C|D)?$/.exec(raw);
  return { readAhead: m?.[1] === 'R', write: (m?.[2] as VirtualDrive['cache']['write']) ?? null, io: (m?.[3] as 'C' | 'D') ?? null, raw };
}

/** `storcli /cN show all J`: controller, its battery or CacheVault, and the VD and PD lists. */
export function parseControllerShowAll(text: string): { controller: RaidController; vds: VirtualDrive[]; pds: PhysicalDrive[] }[] {
  return controllers(text).map((c) => {
    const d = c.data;
    const basics = (d.Basics ?? {}) as Record<string, unknown>;
    const version = (d.Version ?? {}) as Record<string, unknown>;
    const status = (d.Status ?? {}) as Record<string, unknown>;
    const bbu = (d.BBU_Info as Record<string, unknown>[] | undefined)?.[0];
    const cv = (d.Cachevault_Info as Record<string, unknown>[] | undefined)?.[0];
    const bat = cv ?? bbu;
    const controller: RaidController = {
      index: c.index,
      model: str(basics.Model ?? d['Product Name']),
      serial: str(basics['Serial Number'] ?? d['Serial Number']),
      firmware: str(version['Firmware Version'] ?? d['FW Version']),
      status: str(status['Controller Status']) ?? (c.status === 'Success' ? 'Optimal' : c.status),
      battery: bat ? { kind: cv ? 'CacheVault' : 'BBU', model: str(bat.Model), state: String(bat.State ?? 'Unknown'), temperature: str(bat.Temp) } : null,
      memoryUncorrectableErrors: int(status['Memory Uncorrectable Errors']),
    };
    const vds = ((d['VD LIST'] ?? []) as Record<string, unknown>[]).map((v) => vdFromRow(v, null));
    const pds = ((d['PD LIST'] ?? []) as Record<string, unknown>[]).map((p) => pdFromRow(p, null));
    return { controller, vds, pds };
  });
}

function vdFromRow(v: Record<string, unknown>, props: Record<string, unknown> | null): VirtualDrive {
  return {
    id: String(v['DG/VD'] ?? '?'),
    raid: String(v.TYPE ?? '?'),
    state: String(v.State ?? '?'),
    name: String(v.Name ?? ''),
    size: String(v.Size ?? ''),
    cache: parseCache(String(v.Cache ?? '')),
    writeCacheSetting: str(props?.['Write Cache(initial setting)']),
    diskCachePolicy: str(props?.['Disk Cache Policy']),
    osDrive: str(props?.['OS Drive Name']),
    drives: [],
  };
}

function pdFromRow(p: Record<string, unknown>, detail: Record<string, unknown> | null): PhysicalDrive {
  const temp = detail ? /(\d+)C/.exec(String(detail['Drive Temperature'] ?? '')) : null;
  return {
    slot: String(p['EID:Slt'] ?? p['EID:Slot'] ?? '?'),
    state: String(p.State ?? '?'),
    dg: str(p.DG),
    size: String(p.Size ?? ''),
    interface: str(p.Intf),
    media: str(p.Med),
    model: str(p.Model),
    mediaErrors: detail ? int(detail['Media Error Count']) : null,
    otherErrors: detail ? int(detail['Other Error Count']) : null,
    predictiveFailures: detail ? int(detail['Predictive Failure Count']) : null,
    smartAlert: detail ? String(detail['S.M.A.R.T alert flagged by drive'] ?? 'No') === 'Yes' : null,
    temperatureC: temp ? Number(temp[1]) : null,
    serial: null,
  };
}

/** `storcli /cN/vall show all J`: each VD with its properties and member drives. */
export function parseVirtualDrives(text: string): VirtualDrive[] {
  const out: VirtualDrive[] = [];
  for (const c of controllers(text)) {
    for (const [k, v] of Object.entries(c.data)) {
      const m = /^\/c\d+\/v(\d+)$/.exec(k);
      if (!m || !Array.isArray(v) || !v[0]) continue;
      const props = (c.data[`VD${m[1]} Properties`] ?? null) as Record<string, unknown> | null;
      const vd = vdFromRow(v[0] as Record<string, unknown>, props);
      vd.drives = ((c.data[`PDs for VD ${m[1]}`] ?? []) as Record<string, unknown>[]).map((p) => String(p['EID:Slt'] ?? '?'));
      out.push(vd);
    }
  }
  return out;
}

/** `storcli /cN/eall/sall show all J`: each drive with its error counters and SMART flag. */
export function parsePhysicalDrives(text: string): PhysicalDrive[] {
  const out: PhysicalDrive[] = [];
  for (const c of controllers(text)) {
    for (const [k, v] of Object.entries(c.data)) {
      const m = /^Drive (\/c\d+\/e\d+\/s\d+)$/.exec(k);
      if (!m || !Array.isArray(v) || !v[0]) continue;
      const det = (c.data[`Drive ${m[1]} - Detailed Information`] ?? {}) as Record<string, Record<string, unknown>>;
      const pd = pdFromRow(v[0] as Record<string, unknown>, det[`Drive ${m[1]} State`] ?? {});
      pd.serial = str(det[`Drive ${m[1]} Device attributes`]?.SN);
      out.push(pd);
    }
  }
  return out;
}

const VD_STATE: Record<string, [Severity, string]> = {
  Optl: ['ok', 'optimal'],
  Dgrd: ['warning', 'degraded'],
  Pdgd: ['warning', 'partially degraded'],
  Rec: ['warning', 'recovering'],
  OfLn: ['critical', 'offline'],
};
const PD_STATE: Record<string, [Severity, string]> = {
  Onln: ['ok', 'online'],
  GHS: ['ok', 'global hot spare'],
  DHS: ['ok', 'dedicated hot spare'],
  UGood: ['ok', 'unconfigured good'],
  JBOD: ['ok', 'JBOD'],
  Rbld: ['warning', 'rebuilding'],
  Cpybck: ['warning', 'copyback'],
  Offln: ['critical', 'offline'],
  UBad: ['critical', 'unconfigured bad'],
  Failed: ['critical', 'failed'],
  Msng: ['critical', 'missing'],
};

/** Findings for one controller's VDs, PDs and battery; keys `raid.cN.*`. */
export function storcliFindings(controller: RaidController, vds: VirtualDrive[], pds: PhysicalDrive[]): Finding[] {
  const c = `c${controller.index}`;
  const out: Finding[] = [];
  const status = controller.status ?? 'Unknown';
  out.push({ key: `raid.${c}.controller`, category: 'raid', severity: status === 'Optimal' ? 'ok' : status === 'Needs Attention' ? 'warning' : 'critical', subject: `RAID controller ${controller.index}`, message: `RAID controller ${controller.index} (${controller.model ?? 'unknown model'}): ${status}` });
  for (const v of vds) {
    const [sev, word] = VD_STATE[v.state] ?? ['warning', v.state];
    out.push({ key: `raid.${c}.vd${v.id.split('/')[1] ?? v.id}`, category: 'raid', severity: sev, subject: `virtual drive ${v.id}`, redundancyLost: sev === 'warning', message: `virtual drive ${v.id} (${v.raid}${v.name ? `, ${v.name}` : ''}, ${v.size}): ${word}` });
    if (v.cache.write === 'WT' && v.writeCacheSetting && /WriteBack/i.test(v.writeCacheSetting)) {
      out.push({ key: `raid.${c}.vd${v.id.split('/')[1]}.cache`, category: 'raid', severity: 'warning', subject: `virtual drive ${v.id}`, message: `virtual drive ${v.id}: write cache fell back to write-through (set: ${v.writeCacheSetting}); check the cache battery` });
    } else if (v.cache.write === 'WT') {
      out.push({ key: `raid.${c}.vd${v.id.split('/')[1]}.cache`, category: 'raid', severity: 'warning', subject: `virtual drive ${v.id}`, message: `virtual drive ${v.id}: write-through cache; Write Back with BBU is needed for the random write rate` });
    } else {
      out.push({ key: `raid.${c}.vd${v.id.split('/')[1]}.cache`, category: 'raid', severity: 'ok', subject: `virtual drive ${v.id}`, message: `virtual drive ${v.id}: cache ${v.cache.raw}${v.diskCachePolicy ? `, disk cache ${v.diskCachePolicy}` : ''}` });
    }
  }
  for (const p of pds) {
    const [sev, word] = PD_STATE[p.state] ?? ['warning', p.state];
    let s: Severity = sev;
    let msg = `drive ${p.slot} (${p.model ?? 'unknown'}, ${p.size}): ${word}`;
    if (sev === 'ok' && (p.predictiveFailures || p.smartAlert)) {
      s = 'warning';
      msg += `; predicted to fail (${p.predictiveFailures ?? 0} predictive failures${p.smartAlert ? ', SMART alert' : ''}): replace it`;
    }
    if (p.mediaErrors) msg += `; ${p.mediaErrors} media errors`;
    if (sev === 'critical') msg += `: replace the drive in slot ${p.slot}`;
    out.push({ key: `raid.${c}.pd${p.slot.replace(':', '-')}`, category: 'disk', severity: s, subject: `drive ${p.slot}`, redundancyLost: sev === 'critical', message: msg, value: p.temperatureC ?? undefined });
  }
  if (controller.battery) {
    const b = controller.battery;
    const ok = /^(Optimal|OK)$/i.test(b.state);
    out.push({ key: `raid.${c}.battery`, category: 'raid', severity: ok ? 'ok' : /fail|missing/i.test(b.state) ? 'critical' : 'warning', subject: b.kind, message: `${b.kind} ${b.model ?? ''}: ${b.state}${ok ? '' : ' (write-back cache is not protected)'}`.replace('  ', ' ') });
  }
  return out;
}
