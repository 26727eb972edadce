/** The OS accounts Keel's processes run as. */
import type { Host } from './index.ts';

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
