import fs from 'node:fs';
import { createHost, type Host } from '../appliance/host/index.ts';
import { Store, DB_PATH } from '../appliance/config/store.ts';
import type { Config } from '../appliance/config/schema.ts';
import { signIn as sharedSignIn } from '../appliance/users/signin.ts';
import { fingerprint256, WEBUI_CERT_PATH } from '../appliance/certs/webui.ts';
import { hostKeyFingerprints } from '../appliance/ssh/keys.ts';
import { Terminal, Interrupted, EndOfInput } from '../appliance/wizard/terminal.ts';
import { runInteractive } from '../appliance/wizard/main.ts';
import { configuredElsewhere, lockHolder } from '../appliance/wizard/commit.ts';
import { VERSION } from '../appliance/version.ts';
import { rollbackNotice } from '../appliance/update/lifecycle.ts';
import { readState } from '../appliance/update/state.ts';
import { startupSelfTest } from '../appliance/crypto/selftest.ts';
import { parseOptions, ROOT_OPTION, type OptionTable } from '../appliance/options.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ttyName(): string {
  try {
    return fs.readlinkSync('/proc/self/fd/0').replace(/^\/dev\//, '');
  } catch {
    return 'console';
  }
}

/** The saved (startup) configuration, or null before the first configuration. Read-only. */
export function loadConfig(host: Host): Config | null {
  if (!host.files.exists(DB_PATH)) return null;
  const store = Store.open(host);
  try {
    return store.startup()?.config ?? null;
  } finally {
    store.close();
  }
}

/** The SHA-256 fingerprint of System Manager's certificate, or null while it does not exist (or is half written). */
export function certFingerprint(host: Host): string | null {
  const pem = host.files.readText(WEBUI_CERT_PATH);
  if (!pem) return null;
  try {
    return fingerprint256(pem);
  } catch {
    return null;
  }
}

/**
 * The console banner: version, hostname, where System Manager is and the fingerprint of its
 * certificate to check on first connection. The certificate is made at boot by another service:
 * wait for it up to `waitForCertMs`, re-checking every second.
 */
export async function banner(host: Host, c: Config, waitForCertMs = 30000): Promise<string> {
  const port = c.webui.port;
  const ip = c.network.interfaces[0].address;
  const until = Date.now() + waitForCertMs;
  let fp = certFingerprint(host);
  while (!fp && Date.now() < until) {
    await sleep(Math.min(1000, Math.max(0, until - Date.now())));
    fp = certFingerprint(host);
  }
  // SSH host keys are made when keel serve first starts; show them once they exist.
  const sshKeys = c.ssh.enabled ? hostKeyFingerprints(host) : [];
  const ssh = !c.ssh.enabled
    ? ''
    : `SSH CLI: ssh ${c.ssh.port === 22 ? '' : `-p ${c.ssh.port} `}USER@${ip}\n` + sshKeys.map((k) => `SSH host key ${k.type.toUpperCase()}: ${k.fingerprint}\n`).join('');
  return (
    `\nKeel ${VERSION} - ${c.system.hostname}\n` +
    (rollbackNotice(readState(host).lastResult) ? `${rollbackNotice(readState(host).lastResult)}\n(Acknowledge: software-update acknowledge, or in System Manager.)\n` : '') +
    `System Manager: https://${c.system.hostname}:${port}/mics (https://${ip}:${port}/mics)\n` +
    (fp
      ? `Certificate SHA-256 fingerprint: ${fp}\nCheck that fingerprint in your browser the first time you connect.\n`
      : 'Certificate: System Manager\'s certificate is being generated; its fingerprint is shown here once it is ready.\n') +
    ssh +
    '\n'
  );
}

/** Waits while another console is writing the first configuration (up to `maxMs`), then reads it. */
async function waitForOtherConsole(host: Host, maxMs = 120000): Promise<Config | null> {
  const until = Date.now() + maxMs;
  while (lockHolder(host) !== null && Date.now() < until) await sleep(500);
  return loadConfig(host);
}

/**
 * `keel console [--root DIR]`: what each appliance console (ttyS0, tty1) runs, with the TTY as
 * stdin/stdout. Before the first configuration: the wizard (both consoles may run it; the first
 * to finish writes, the other is told at its next step). Afterwards: the banner and a sign-in
 * against the local users. Never a system shell.
 */
export const OPTIONS = {
  root: ROOT_OPTION,
  'cert-wait': { type: 'string', default: '30', value: 'SECONDS', help: 'how long the banner waits for System Manager\'s certificate' },
} satisfies OptionTable;

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions(OPTIONS, argv) as { root: string; 'cert-wait': string };
  // Signs users in: not with a crypto library that gives wrong answers. The reason stays on the
  // screen a while before systemd starts the console again (and shows it again).
  if (!startupSelfTest('console')) {
    await new Promise((r) => setTimeout(r, Number(process.env.KEEL_SELFTEST_PAUSE_MS ?? 30_000)));
    return 1;
  }
  const host = createHost(values.root);
  const certWaitMs = Math.max(0, Number(values['cert-wait']) || 0) * 1000;
  // One reader for the whole session: answers typed ahead are not lost between wizard and sign-in.
  const t = new Terminal(process.stdin, process.stdout);
  try {
    let config = loadConfig(host);
    if (!config) {
      const code = await runInteractive(host, `wizard:${ttyName()}`, { terminal: t, elsewhere: () => configuredElsewhere(host) });
      if (code === 4) {
        t.write('Waiting for the other console to finish ...\n');
        config = await waitForOtherConsole(host);
      } else {
        config = loadConfig(host);
        // On the appliance a finished wizard has started the reboot; a sandbox goes on to the banner.
        if (code === 0 && !host.sandbox) return 0;
      }
      if (!config) return code === 0 ? 0 : code;
    }
    return await signIn(host, t, config, certWaitMs);
  } finally {
    t.close();
  }
}

/** The signed-in part of the console, loaded on demand. */
async function loadCli() {
  const [{ runShell }, { reconcileApply }] = await Promise.all([import('../cli/shell.ts'), import('../appliance/config/apply.ts')]);
  return { runShell, reconcileApply };
}

/** Banner and sign-in, round and round, until the console's input ends. */
async function signIn(host: Host, first: Terminal, firstConfig: Config, certWaitMs: number): Promise<number> {
  let t = first;
  let config = firstConfig;
  let wait = certWaitMs;
  try {
    for (;;) {
      config = loadConfig(host) ?? config;
      t.write(await banner(host, config, wait));
      // The CLI (its command tree, LDAP, regular expressions: most of the console's code) is
      // needed only after a sign-in: it loads while the banner waits, not before the wizard or
      // the banner shows (issue 15: seconds of the first boot under emulation).
      const cli = loadCli();
      cli.catch(() => {
        /* a failure to load is reported at the sign-in that awaits it */
      });
      // Wait for the certificate before the first banner only; later banners re-check once.
      wait = 0;
      const user = await t.ask(`${config.system.hostname.split('.')[0]} login: `);
      if (!user) continue;
      const pw = await t.ask('Password: ', true);
      const authStore = Store.open(host);
      let r: Awaited<ReturnType<typeof sharedSignIn>>;
      try {
        // The console is never locked out: it is the way back in when SSH and System Manager are.
        r = await sharedSignIn(authStore, { username: user, password: pw, source: `cli:${ttyName()}`, surface: 'console' });
      } finally {
        authStore.close();
      }
      if (!r.ok) {
        await sleep(2000);
        t.write('% Login invalid\n');
        continue;
      }
      const u = r.user;
      // The CLI reads the console itself; the sign-in reader steps aside until it ends.
      t.close();
      const { runShell, reconcileApply } = await cli;
      const store = Store.open(host);
      try {
        await reconcileApply(host, store);
        await runShell({ input: process.stdin, output: process.stdout, host, store, user: { name: u.name, role: u.role }, source: `cli:${ttyName()}` });
      } finally {
        store.close();
      }
      if (process.stdin.readableEnded) return 0;
      t = new Terminal(process.stdin, process.stdout);
    }
  } catch (e) {
    if (e instanceof Interrupted || e instanceof EndOfInput) return 0;
    throw e;
  }
}
