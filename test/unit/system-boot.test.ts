import { describe, it, expect } from 'vitest';
import { formatBoot, parseBlame, parseStartup, spanSeconds } from '../../appliance/system/boot.ts';

// The shapes systemd-analyze (systemd 257) prints.
const TIME = 'Startup finished in 2.101s (kernel) + 14.562s (initrd) + 1min 3.004s (userspace) = 1min 19.667s \nmulti-user.target reached after 1min 2.990s in userspace.\n';
const BLAME = '41.020s keel-boot.service\n 5.112s systemd-udev-trigger.service\n    812ms chrony.service\n  93us sys-kernel-tracing.mount\n';
const CHAIN = 'The time when unit became active or started is printed after the "@" character.\nThe time the unit took to start is printed after the "+" character.\n\nmulti-user.target @1min 2.990s\n└─keel-console@ttyS0.service @21.901s\n  └─keel-boot.service @21.880s +41.020s\n';

describe('systemd-analyze', () => {
  it('reads time spans as systemd prints them', () => {
    expect(spanSeconds('1min 3.004s')).toBeCloseTo(63.004);
    expect(spanSeconds('812ms')).toBeCloseTo(0.812);
    expect(spanSeconds('93us')).toBeCloseTo(0.000093);
    expect(spanSeconds('1h 2min')).toBe(3720);
    expect(spanSeconds('soon')).toBeNaN();
  });

  it('reads the stages of a start, and nothing while still starting', () => {
    expect(parseStartup(TIME)).toEqual({ kernel: 2.101, initrd: 14.562, userspace: 63.004, total: 79.667 });
    expect(parseStartup('Bootup is not yet finished (org.freedesktop.systemd1.Manager.FinishTimestampMonotonic=0).')).toBeNull();
  });

  it('reads blame, slowest first, and shows the ten slowest units and the chain', () => {
    expect(parseBlame(BLAME)).toEqual([
      [41.02, 'keel-boot.service'],
      [5.112, 'systemd-udev-trigger.service'],
      [0.812, 'chrony.service'],
      [0.000093, 'sys-kernel-tracing.mount'],
    ]);
    const text = formatBoot({ time: TIME, blame: BLAME, criticalChain: CHAIN });
    expect(text).toContain('Start-up took 79.7 s');
    expect(text).toMatch(/initrd\s+14\.6 s/);
    expect(text).toMatch(/41\.02 s {2}keel-boot\.service/);
    expect(text).toContain('└─keel-boot.service @21.880s +41.020s');
    expect(text).not.toContain('The time when');
    expect(formatBoot({ time: '', blame: '', criticalChain: '' })).toBe('systemd-analyze did not answer');
  });
});
