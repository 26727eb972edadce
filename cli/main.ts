/**
 * `keel cli --root DIR [--user NAME] [--source NAME]`: the appliance CLI on this terminal.
 * Asks for user name (unless --user) and password, verified against the configured local users,
 * then runs the shell (shell.ts) on stdin/stdout: a TTY gets line editing, a pipe one command per
 * line.
 */
import fs from 'node:fs';
import { createHost } from '../appliance/host/index.ts';
import { reconcileApply } from '../appliance/config/apply.ts';
import { Store } from '../appliance/config/store.ts';
import { runShell } from './shell.ts';
import { parseOptions, ROOT_OPTION, type OptionTable } from '../appliance/options.ts';

function ttyName(): string {
  try {
    const t = fs.readlinkSync('/proc/self/fd/0');
    return t.startsWith('/dev/') ? t.slice(5) : 'pipe';
  } catch {
    return 'pipe';
  }
}

export const OPTIONS = {
  root: ROOT_OPTION,
  user: { type: 'string', value: 'NAME', help: 'sign in as this user (only the password is asked)' },
  source: { type: 'string', value: 'NAME', help: 'where changes are recorded as coming from (default: cli:TTY)' },
} satisfies OptionTable;

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions(OPTIONS, argv) as { root: string; user?: string; source?: string };
  const host = createHost(values.root);
  host.files.mkdirp('/var/lib/keel', 0o700);
  const store = Store.open(host);
  try {
    if (!store.running()) {
      console.error('keel cli: this appliance is not configured yet; run the first-boot wizard (keel wizard)');
      return 2;
    }
    // A change another CLI process was writing when it died is undone first (the OS matches running-config).
    await reconcileApply(host, store);
    const source = values.source ?? `cli:${ttyName()}`;
    // --user only fills in the name: the password is still asked and checked.
    return await runShell({ input: process.stdin, output: process.stdout, host, store, source, loginName: values.user });
  } finally {
    store.close();
    process.stdin.pause();
  }
}

