/**
 * How long this start took and what took longest: systemd-analyze's `time`, `blame` and
 * `critical-chain`, which the applier runs (bootTimes) for `show boot`, the support bundle and the
 * e2e run's boot metrics.
 */

/** systemd-analyze's answers as text, each bounded by the applier. */
export interface BootTimes {
  time: string;
  blame: string;
  criticalChain: string;
}

/** The stages of `systemd-analyze time`, in seconds (absent: not reported, e.g. no initrd). */
export interface Startup {
  firmware?: number;
  loader?: number;
  kernel?: number;
  initrd?: number;
  userspace?: number;
  total: number;
}

const UNIT_SECONDS: Record<string, number> = { y: 31557600, month: 2629800, w: 604800, d: 86400, h: 3600, min: 60, s: 1, ms: 1e-3, us: 1e-6, 'µs': 1e-6 };

/** A systemd time span ("1min 2.345s", "345ms") in seconds; NaN when it is not one. */
export function spanSeconds(text: string): number {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)\s*(month|min|ms|us|µs|y|w|d|h|s)\b/g)];
  if (!parts.length) return NaN;
  return parts.reduce((sum, m) => sum + Number(m[1]) * UNIT_SECONDS[m[2]], 0);
}

/** Parses `systemd-analyze time`; null while the system is still starting (no "Startup finished"). */
export function parseStartup(text: string): Startup | null {
  const line = /Startup finished in (.*?)= ([^\n]+)/.exec(text);
  if (!line) return null;
  const out: Startup = { total: spanSeconds(line[2]) };
  for (const m of line[1].matchAll(/([^+]+?)\s*\((firmware|loader|kernel|initrd|userspace)\)/g)) out[m[2] as Exclude<keyof Startup, 'total'>] = spanSeconds(m[1]);
  return Number.isFinite(out.total) ? out : null;
}

/** `systemd-analyze blame`: the slowest units first, as [seconds, unit]. */
export function parseBlame(text: string): [number, string][] {
  const out: [number, string][] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(.+?)\s+(\S+\.(?:service|mount|socket|device|target|timer|swap|path|slice|scope))\s*$/.exec(line);
    if (m && Number.isFinite(spanSeconds(m[1]))) out.push([spanSeconds(m[1]), m[2]]);
  }
  return out;
}

/** `show boot`: the stages, the ten slowest units, and the chain that decided when startup ended. */
export function formatBoot(b: BootTimes, slowest = 10): string {
  const st = parseStartup(b.time);
  const lines: string[] = [];
  if (!st) lines.push(b.time.trim() || 'systemd-analyze did not answer');
  else {
    const f = (n?: number) => (n === undefined ? '' : `${n.toFixed(1)} s`);
    lines.push(`Start-up took ${f(st.total)}`);
    for (const k of ['firmware', 'loader', 'kernel', 'initrd', 'userspace'] as const) if (st[k] !== undefined) lines.push(`  ${k.padEnd(10)} ${f(st[k]).padStart(9)}`);
  }
  const blame = parseBlame(b.blame).slice(0, slowest);
  if (blame.length) {
    lines.push('', `Slowest units (of ${parseBlame(b.blame).length}):`);
    for (const [s, u] of blame) lines.push(`  ${`${s.toFixed(2)} s`.padStart(9)}  ${u}`);
  }
  if (b.criticalChain.trim()) lines.push('', 'Critical chain (@ when the unit became active, + how long it took to start):', ...b.criticalChain.trimEnd().split('\n').filter((l) => !/^The time|^The time when/.test(l)).map((l) => `  ${l}`));
  return lines.join('\n');
}
