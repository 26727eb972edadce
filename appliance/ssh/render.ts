import type { Renderer } from '../config/units.ts';

/**
 * The SSH CLI is served by Keel's own service inside `keel serve` (ssh2; there is no sshd on the
 * appliance). It follows the running configuration by itself (cli/ssh.ts), so a
 * change never restarts System Manager; this file only records the state for other tools. The
 * firewall opens the port.
 */
export const render: Renderer = (c) => ({
  name: 'ssh',
  files: [{ path: '/etc/keel/ssh.env', content: `# written by Keel\nKEEL_SSH_ENABLED=${c.ssh.enabled ? 'yes' : 'no'}\nKEEL_SSH_PORT=${c.ssh.port}\n` }],
  reload: [],
});
