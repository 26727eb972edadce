import type { Renderer } from '../config/units.ts';

/**
 * The SSH CLI is served by Keel's own service (ssh2; there is no sshd on the appliance), which
 * reads this file when it starts: a change restarts it if it runs. The firewall opens the port.
 */
export const render: Renderer = (c) => ({
  name: 'ssh',
  files: [{ path: '/etc/keel/ssh.env', content: `# written by Keel\nKEEL_SSH_ENABLED=${c.ssh.enabled ? 'yes' : 'no'}\nKEEL_SSH_PORT=${c.ssh.port}\n` }],
  reload: [['systemctl', 'try-restart', 'keel-serve.service']],
});
