/**
 * `keel applier [--root DIR] [--socket PATH]`: the privileged service. The only process of the
 * management plane that changes the OS: it renders and applies validated configuration, reboots,
 * controls Keel's services and writes update slots, for the processes whose uid it allows (root,
 * the `keel` service user, its own) over a UNIX socket (appliance/applier/server.ts).
 */
import { applierSocketPath, createHost } from '../appliance/host/index.ts';
import { ApplierServer } from '../appliance/applier/server.ts';
import { SERVICE_USER, userIds } from '../appliance/host/users.ts';
import { log } from '../appliance/log.ts';
import { parseOptions, ROOT_OPTION, type OptionTable } from '../appliance/options.ts';

export const OPTIONS = {
  root: ROOT_OPTION,
  socket: { type: 'string', value: 'PATH', help: 'the socket to listen on (default: ROOT/run/keel/applier.sock)' },
} satisfies OptionTable;

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions(OPTIONS, argv) as { root: string; socket?: string };
  const host = createHost(values.root);
  const socket = values.socket ?? applierSocketPath(host.root);
  // On the appliance systemd makes the directory (RuntimeDirectory=keel); a sandbox makes its own.
  if (!values.socket) host.files.mkdirp('/run/keel', 0o755);
  const svc = userIds(host, SERVICE_USER);
  const allow = new Set<number>([0, process.getuid?.() ?? 0, ...(svc ? [svc.uid] : [])]);
  const server = new ApplierServer(host.applier, { path: socket, allowUids: allow, gid: svc && process.getuid?.() === 0 ? svc.gid : null });
  await server.listen();
  // The supervisor's IPC channel: a sandbox applier ends with the keel serve that started it.
  process.on('disconnect', () => void server.close().then(() => process.exit(0)));
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info('applier stopping', { signal });
      server.close().then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
