/**
 * What chrony says about the clock, for `show ntp status` and `show ntp associations`: parses
 * `chronyc -c -n tracking` and `chronyc -c -n sources` (CSV). chronyd answers only on its root
 * socket (the configuration sets `cmdport 0`), so the applier runs chronyc (timeStatus).
 */

/** `chronyc -c tracking`, by field. */
export interface Tracking {
  referenceId: string;
  reference: string;
  stratum: number;
  /** Unix seconds of the last update from the reference. */
  refTime: number;
  /** Seconds the system clock is off (positive: fast). */
  offset: number;
  frequencyPpm: number;
  residualPpm: number;
  skewPpm: number;
  rootDelay: number;
  rootDispersion: number;
  updateInterval: number;
  leap: string;
}

/** One line of `chronyc -c sources`. */
export interface Source {
  mode: 'server' | 'peer' | 'refclock';
  /** chrony's state character: * synced, + combined, - not combined, ? unreachable, x falseticker, ~ too variable. */
  state: string;
  address: string;
  stratum: number;
  /** Polling interval, seconds. */
  poll: number;
  /** Reachability register, octal as chrony prints it. */
  reach: string;
  /** Seconds since the last sample (null: never). */
  lastRx: number | null;
  /** Offset of the last sample, seconds. */
  offset: number;
  /** Error bound of that sample, seconds. */
  error: number;
}

export function parseTracking(csv: string): Tracking | null {
  const f = csv.trim().split('\n')[0]?.split(',') ?? [];
  if (f.length < 14) return null;
  const n = (i: number) => Number(f[i]);
  return {
    referenceId: f[0],
    reference: f[1],
    stratum: n(2),
    refTime: n(3),
    offset: n(4),
    frequencyPpm: n(7),
    residualPpm: n(8),
    skewPpm: n(9),
    rootDelay: n(10),
    rootDispersion: n(11),
    updateInterval: n(12),
    leap: f[13],
  };
}

export function parseSources(csv: string): Source[] {
  const out: Source[] = [];
  for (const line of csv.trim().split('\n')) {
    const f = line.split(',');
    if (f.length < 10) continue;
    const mode = f[0] === '=' ? 'peer' : f[0] === '#' ? 'refclock' : 'server';
    const lastRx = Number(f[6]);
    out.push({ mode, state: f[1], address: f[2], stratum: Number(f[3]), poll: 2 ** Number(f[4]), reach: f[5], lastRx: Number.isFinite(lastRx) && lastRx < 2 ** 31 - 1 ? lastRx : null, offset: Number(f[7]), error: Number(f[9]) });
  }
  return out;
}

const ms = (s: number, digits = 3) => `${(s * 1000).toFixed(digits)} msec`;

/** IOS-style `show ntp status`. */
export function formatStatus(t: Tracking | null): string {
  if (!t) return 'Clock is unsynchronized: chrony did not answer';
  const synced = t.stratum > 0 && t.stratum < 16 && !/not synchron/i.test(t.leap) && t.referenceId !== '00000000';
  const head = synced ? `Clock is synchronized, stratum ${t.stratum}, reference is ${t.reference}` : `Clock is unsynchronized, stratum ${t.stratum || 16}, no reference clock`;
  const ref = t.refTime > 0 ? new Date(t.refTime * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : 'never';
  return [
    head,
    `clock offset is ${ms(t.offset)} (${t.offset >= 0 ? 'fast' : 'slow'}), root delay is ${ms(t.rootDelay, 2)}, root dispersion is ${ms(t.rootDispersion, 2)}`,
    `frequency is ${t.frequencyPpm.toFixed(3)} ppm (residual ${t.residualPpm.toFixed(3)} ppm, skew ${t.skewPpm.toFixed(3)} ppm)`,
    `reference time is ${ref}, updated every ${t.updateInterval.toFixed(1)} s, leap status ${t.leap}`,
  ].join('\n');
}

const MARK: Record<string, string> = { '*': '*', '+': '+', '-': '-', x: 'x', '?': '?', '~': '~' };

/** IOS-style `show ntp associations`. */
export function formatAssociations(sources: Source[]): string {
  const row = (c: string[]) => `${c[0]}${c[1].padEnd(40)}${c[2].padStart(3)}${c[3].padStart(7)}${c[4].padStart(6)}${c[5].padStart(6)}${c[6].padStart(11)}${c[7].padStart(10)}`;
  const lines = [row([' ', '  address', 'st', 'when', 'poll', 'reach', 'offset', 'error'])];
  for (const s of sources) {
    lines.push(row([MARK[s.state] ?? ' ', ` ${s.address}`, String(s.stratum), s.lastRx === null ? '-' : String(s.lastRx), String(s.poll), s.reach, (s.offset * 1000).toFixed(3), (s.error * 1000).toFixed(3)]));
  }
  if (!sources.length) lines.push('  (no time sources)');
  lines.push(' * synchronized to, + combined, - not combined, x falseticker, ? unreachable, ~ too variable; offset and error in msec');
  return lines.join('\n');
}
