import path from 'node:path';
import { createHost } from '../appliance/host/index.ts';
import { Store } from '../appliance/config/store.ts';
import { parseOptions, type OptionTable } from '../appliance/options.ts';

/**
 * `keel start` (npm start): the appliance on this machine in a sandbox root. First run: the wizard
 * on this terminal; then the boot step renders the configuration under the root and System
 * Manager serves https://localhost:8443/mics, the SSH CLI
 * listens on 127.0.0.1:2222 when SSH is on. Nothing outside the root is touched.
 */
export const OPTIONS = {
  root: { type: 'string', default: 'sandbox', value: 'DIR', help: 'the sandbox folder the appliance lives in' },
  'https-port': { type: 'string', default: '8443', value: 'N', help: 'System Manager\'s port' },
  // Port 22 belongs to this machine's own sshd; the sandbox's SSH CLI listens on 2222 instead.
  'ssh-port': { type: 'string', default: '2222', value: 'N', help: 'the SSH CLI\'s port (22 is this machine\'s own sshd)' },
} satisfies OptionTable;

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions(OPTIONS, argv) as { root: string; 'https-port': string; 'ssh-port': string };
  const root = path.resolve(values.root);
  if (root === '/') {
    console.error('keel start runs the appliance in a sandbox folder; use the installed services on a real appliance');
    return 2;
  }
  const host = createHost(root);
  host.files.mkdirp('/var/lib/keel', 0o700);
  const store = Store.open(host);
  const configured = store.configured();
  store.close();
  console.log(`Keel sandbox root: ${root}`);
  if (!configured) {
    const code = await (await import('../appliance/wizard/main.ts')).run(['--root', root]);
    if (code !== 0) return code;
    console.log('(sandbox: the reload was recorded, not performed; continuing as after a reboot)');
  }
  const boot = await (await import('../appliance/boot.ts')).run(['--root', root]);
  if (boot !== 0) return boot;
  return (await import('./serve.ts')).run(['--root', root, '--https-port', values['https-port'], '--listen', '127.0.0.1', '--ssh-port', values['ssh-port']]);
}
