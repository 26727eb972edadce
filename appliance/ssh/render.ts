import type { Renderer } from '../config/units.ts';

/** The SSH CLI service (Keel's own ssh2 server; there is no sshd on the appliance). */
export const render: Renderer = (c) => ({
  name: 'ssh',
  files: [{ path: '/etc/keel/ssh.env', content: `# written by Keel\nKEEL_SSH_ENABLED=${c.ssh.enabled ? 'yes' : 'no'}\nKEEL_SSH_PORT=${c.ssh.port}\n` }],
  reload: [c.ssh.enabled ? ['systemctl', 'restart', 'keel-ssh.service'] : ['systemctl', 'stop', 'keel-ssh.service']],
});
