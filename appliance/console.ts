import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { createHost, type Host } from './host/index.ts';
import { Store } from './config/store.ts';
import type { Config } from './config/schema.ts';
import { verifySecret } from './users/secrets.ts';
import { fingerprint256, WEBUI_CERT_PATH } from './certs/webui.ts';
import { Terminal, Interrupted, EndOfInput } from './wizard/terminal.ts';
import { runInteractive } from './wizard/main.ts';
import { VERSION } from './version.ts';

function ttyName(): string {
  try {
    return fs.readlinkSync('/proc/self/fd/0').replace(/^\/dev\//, '');
  } catch {
    return 'console';
  }
}

function loadConfig(host: Host): Config | null {
  const store = Store.open(host);
  try {
    return store.startup()?.config ?? null;
  } finally {
    store.close();
  }
}

/** The console banner: where System Manager is and the fingerprint to check on first connection. */
export async function banner(host: Host, c: Config, waitForCertMs = 30000): Promise<string> {
  const port = c.webui.port;
  const ip = c.network.interfaces[0].address;
  let fp: string | null = null;
  const until = Date.now() + waitForCertMs;
  for (;;) {
    const pem = host.files.readText(WEBUI_CERT_PATH);
    if (pem) {
      fp = fingerprint256(pem);
      break;
    }
    if (Date.now() >= until) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return (
    `\nKeel ${VERSION} - ${c.system.hostname}\n` +
    `System Manager: https://${c.system.hostname}:${port}/mics (https://${ip}:${port}/mics)\n` +
    (fp ? `Certificate SHA-256 fingerprint: ${fp}\n` : 'Certificate: being generated; it is shown here once ready.\n') +
    `Check that fingerprint in your browser the first time you connect.\n\n`
  );
}

/**
 * `keel console`: what each appliance console runs. Before the first configuration, the wizard;
 * afterwards, the banner and a sign-in against the local users. Never a system shell.
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { root: { type: 'string', default: '/' } } });
  const host = createHost(values.root);
  host.files.mkdirp('/var/lib/keel', 0o700);
  const tty = ttyName();
  let config = loadConfig(host);
  if (!config) {
    const code = await runInteractive(host, `wizard:${tty}`);
    config = loadConfig(host);
    if (!config) return code;
    if (code === 0) return 0;
  }
  const t = new Terminal(process.stdin, process.stdout);
  try {
    for (;;) {
      t.write(await banner(host, config));
      const user = await t.ask(`${config.system.hostname.split('.')[0]} login: `);
      if (!user) continue;
      const pw = await t.ask('Password: ', true);
      const u = config.users.local.find((x) => x.name === user);
      // Verify even for unknown users so both take the same time.
      const ok = await verifySecret(pw, u?.passwordHash ?? config.users.enableSecretHash);
      if (!u || !ok) {
        await new Promise((r) => setTimeout(r, 2000));
        t.write('% Login invalid\n');
        continue;
      }
      t.write(`\nWelcome, ${u.name}. The appliance CLI is not part of this build yet;\nmanage the appliance in System Manager at https://${config.system.hostname}:${config.webui.port}/mics\n`);
      config = loadConfig(host) ?? config;
    }
  } catch (e) {
    if (e instanceof Interrupted || e instanceof EndOfInput) return 0;
    throw e;
  } finally {
    t.close();
  }
}
