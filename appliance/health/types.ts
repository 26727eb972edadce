/** How bad something is. `unknown`: the probe could not tell (tool missing, no answer). */
export type Severity = 'ok' | 'warning' | 'critical' | 'unknown';

/** What kind of part a finding is about; the front-panel translation and alert wording use it. */
export type Category =
  | 'platform'
  | 'temperature'
  | 'fan'
  | 'power'
  | 'voltage'
  | 'chassis'
  | 'memory'
  | 'processor'
  | 'raid'
  | 'disk'
  | 'storage'
  | 'nic'
  | 'bmc'
  | 'event'
  | 'connectivity';

/**
 * One statement about the machine, in the words a datacenter technician uses.
 * `key` is stable across probes (`ipmi.sensor.FAN1`, `md.md0`, `nic.GigabitEthernet1.link`):
 * the monitor keeps state, history and alerts per key.
 */
export interface Finding {
  key: string;
  category: Category;
  severity: Severity;
  /** The part, as named by its source (BMC sensor name, md device, GigabitEthernetN…). */
  subject: string;
  message: string;
  /** True when the part is one of a redundant set and others still work (a lost PSU of two). */
  redundancyLost?: boolean;
  /** A measured value, when there is one (for hysteresis and /metrics). */
  value?: number;
}

const ORDER: Record<Severity, number> = { ok: 0, unknown: 1, warning: 2, critical: 3 };

/** The worse of two severities (`unknown` ranks above ok, below warning). */
export function worst(a: Severity, b: Severity): Severity {
  return ORDER[a] >= ORDER[b] ? a : b;
}

/** The worst severity of a list of findings; `ok` for none. */
export function overall(findings: readonly Finding[]): Severity {
  return findings.reduce<Severity>((s, f) => worst(s, f.severity), 'ok');
}

/** Numeric rank of a severity (0 ok … 3 critical), for metrics and sorting. */
export function rank(s: Severity): number {
  return ORDER[s];
}
