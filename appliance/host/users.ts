/** The OS accounts Keel's processes run as. */
import type { Host } from './index.ts';
import { SECRETS_KEY_PATH } from '../config/store.ts';

/** The unprivileged user of the network-facing processes (System Manager, the SSH CLI). */
export const SERVICE_USER = 'keel';

/** uid and gid of a user from the host's /etc/passwd, or null when it has none. */
export function userIds(host: Host, name: string): { uid: number; gid: number } | null {
  for (const line of (host.files.readText('/etc/passwd') ?? '').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4 && /^\d+$/.test(f[2]) && /^\d+$/.test(f[3])) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/**
 * At boot (root): the data partition belongs to the service user, so that System Manager and the
 * SSH CLI can keep the configuration database, certificates and update downloads; the secrets
 * key stays root's alone (System Manager gets it from systemd as a credential). Nothing to do in
 * a sandbox or where the user does not exist.
 */
export function handOverDataPartition(host: Host): boolean {
  const svc = userIds(host, SERVICE_USER);
  if (host.sandbox || !svc || process.getuid?.() !== 0) return false;
  host.files.chownTree('/var/lib/keel', svc.uid, svc.gid, [SECRETS_KEY_PATH]);
  return true;
}
