import { plain, type Renderer } from '../config/units.ts';

/** chrony: the configured servers, or no sources at all when NTP is off. */
export const render: Renderer = (c) => {
  const servers = c.ntp.enabled ? c.ntp.servers.map((s) => `server ${plain(s, 'NTP server')} iburst\n`).join('') : '# NTP is disabled; the clock is set by hand\n';
  const content = `# written by Keel\n${servers}driftfile /var/lib/chrony/chrony.drift\nmakestep 1.0 3\nrtcsync\ncmdport 0\n`;
  const start: ['systemctl', ...string[]] = c.ntp.enabled ? ['systemctl', 'restart', 'chrony.service'] : ['systemctl', 'stop', 'chrony.service'];
  // At boot chrony starts after this file is written; with NTP off it has no sources and idles.
  return { name: 'ntp', files: [{ path: '/etc/chrony/chrony.conf', content }], reload: [start] };
};
