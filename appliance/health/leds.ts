import type { Finding } from './types.ts';
import type { Profile } from './platform.ts';

/** A front-panel LED state, in the words of the appliance's LED table (seed 004 tables 31, 33, 35). */
export interface PanelState {
  /** Which LED: the M2600 `System status LED`, the M2200/M2250 `Informational LED`, or the locate (UID/System ID) LED. */
  led: string;
  color: 'green' | 'amber' | 'red' | 'blue' | 'off';
  pattern: 'solid' | 'blinking' | 'blinking 1 Hz' | 'blinking 0.25 Hz' | 'blinking 300 ms' | 'off';
  /** The table's description, verbatim in spirit: what a technician at the rack sees and reads. */
  meaning: string;
  /** The findings that cause it. */
  causes: string[];
}

function describe(s: Omit<PanelState, 'causes'>, causes: Finding[]): PanelState {
  return { ...s, causes: causes.map((c) => c.message) };
}

const bad = (f: Finding) => f.severity === 'warning' || f.severity === 'critical';

/**
 * What the front panel shows for these findings. Returns the status LED first, then the locate
 * LED when it is on. On VMs and unknown hardware: an empty list (there is no panel).
 */
export function frontPanel(profile: Pick<Profile, 'frontPanel'>, findings: readonly Finding[], opts: { locate?: 'off' | 'local' | 'remote' } = {}): PanelState[] {
  const out: PanelState[] = [];
  if (profile.frontPanel === 'm2600-status') {
    const led = 'System status LED';
    const crit = findings.filter((f) => f.severity === 'critical' && !f.redundancyLost);
    const lostRedundancy = findings.filter((f) => bad(f) && f.redundancyLost);
    const soon = findings.filter((f) => f.severity === 'warning' && !f.redundancyLost && f.category !== 'nic' && f.category !== 'platform' && f.category !== 'storage');
    if (crit.filter((f) => f.category !== 'nic' && f.category !== 'platform').length) out.push(describe({ led, color: 'amber', pattern: 'solid', meaning: 'System failure' }, crit.filter((f) => f.category !== 'nic' && f.category !== 'platform')));
    else if (soon.length) out.push(describe({ led, color: 'amber', pattern: 'blinking', meaning: 'Degraded - system will fail soon' }, soon));
    else if (lostRedundancy.length) out.push(describe({ led, color: 'green', pattern: 'blinking', meaning: 'Degraded - a redundant part has failed' }, lostRedundancy));
    else out.push({ led, color: 'green', pattern: 'solid', meaning: 'OK', causes: [] });
    if (opts.locate && opts.locate !== 'off') out.push({ led: 'System ID LED', color: 'blue', pattern: 'solid', meaning: 'System identification is on (locate)', causes: [] });
    return out;
  }
  if (profile.frontPanel === 'm22x0-info') {
    const led = 'Informational LED';
    const hot = findings.filter((f) => f.category === 'temperature' && f.severity === 'critical');
    const fan = findings.filter((f) => f.category === 'fan' && bad(f));
    const power = findings.filter((f) => f.category === 'power' && f.severity === 'critical');
    // The LED shows one state; overheat is the most urgent, then fan, then power (as the table lists them).
    if (hot.length) out.push(describe({ led, color: 'red', pattern: 'solid', meaning: 'An overheat condition has occurred. This may be caused by cable congestion.' }, hot));
    else if (fan.length) out.push(describe({ led, color: 'red', pattern: 'blinking 1 Hz', meaning: 'A fan failure has occurred. Check for an inoperative fan.' }, fan));
    else if (power.length) out.push(describe({ led, color: 'red', pattern: 'blinking 0.25 Hz', meaning: 'A power failure has occurred. Check for a non-operational power supply.' }, power));
    if (opts.locate === 'local') out.push({ led, color: 'blue', pattern: 'solid', meaning: 'Location UID has been activated. Use this function to locate the server in a rack-mount environment.', causes: [] });
    else if (opts.locate === 'remote') out.push({ led, color: 'blue', pattern: 'blinking 300 ms', meaning: 'Remote UID is on. Use this function to identify the server from a remote location.', causes: [] });
    if (!out.length) out.push({ led, color: 'off', pattern: 'off', meaning: 'No fault indicated', causes: [] });
    return out;
  }
  return out;
}

/** One line for consoles: `Informational LED: blinking 1 Hz red - A fan failure has occurred...`. ASCII only. */
export function panelLine(p: PanelState): string {
  const look = p.color === 'off' ? 'off' : `${p.pattern} ${p.color}`;
  return `${p.led}: ${look} - ${p.meaning}`;
}
