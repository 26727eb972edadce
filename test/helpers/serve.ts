/** `keel serve` as the appliance runs it (System Manager + SSH CLI), on free loopback ports. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../bin/main.ts', import.meta.url));

/** Starts `keel serve` on a configured sandbox root; resolves once both ports are listening. */
export async function startServe(root: string, sysfs: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; sshPort: number; httpsPort: number }> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--root', root, '--https-port', '0', '--listen', '127.0.0.1', '--ssh-port', '0'], {
    env: { ...process.env, KEEL_LOG: 'silent', KEEL_SYSFS: sysfs, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      // Not left running behind a failed test (it would hold its ports and its monitor).
      child.kill('SIGKILL');
      reject(new Error(`keel serve did not start:\n${out}`));
    }, 30000);
    const onData = (d: Buffer) => {
      out += d;
      const s = /SSH CLI: port (\d+)/.exec(out);
      const h = /System Manager: https:\/\/[^:]+:(\d+)/.exec(out);
      if (s && h) {
        clearTimeout(t);
        resolve({ child, sshPort: Number(s[1]), httpsPort: Number(h[1]) });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`keel serve exited ${code}:\n${out}`)));
  });
}
