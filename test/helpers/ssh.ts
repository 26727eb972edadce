/** The real OpenSSH client (signed in by sshpass) and an HTTPS sign-in, against a `keel serve` on loopback. */
import https from 'node:https';
import { spawnSync } from 'node:child_process';

/** Client options for a throwaway host key and password-only sign-in, failing fast. */
export const SSH_OPTS = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'NumberOfPasswordPrompts=1', '-o', 'PubkeyAuthentication=no', '-o', 'ConnectTimeout=10'];

/** One command over `ssh host COMMAND`: its exit code and output (stdout then stderr). */
export function sshRun(port: number, user: string, password: string, args: string[]): { code: number; out: string } {
  const r = spawnSync('sshpass', ['-e', 'ssh', ...SSH_OPTS, '-p', String(port), `${user}@127.0.0.1`, ...args], { env: { ...process.env, SSHPASS: password }, encoding: 'utf8', timeout: 30000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Signs in to System Manager (POST /mics/api/session over HTTPS): the status and the body. */
export function webuiSignIn(port: number, username: string, password: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ username, password });
    const req = https.request(
      { host: '127.0.0.1', port, path: '/mics/api/session', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
