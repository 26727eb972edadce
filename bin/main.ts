#!/usr/bin/env node
/**
 * `keel`: the one appliance command. Each subcommand module exports `run(argv): Promise<number>`
 * and is loaded only when used, so the console and wizard start fast.
 */
import { isUserFacing, ValidationError } from '../appliance/errors.ts';
import { VERSION } from '../appliance/version.ts';
import { parseOptions, usageText, UsageError, type OptionTable } from '../appliance/options.ts';

type Runner = (argv: string[]) => Promise<number>;
/** A subcommand: its summary, and its module (with OPTIONS, unless it answers --help itself). */
const COMMANDS: Record<string, { help: string; ownHelp?: boolean; load: () => Promise<{ run: Runner; OPTIONS?: OptionTable; HELP?: string }> }> = {
  start: { help: 'run the appliance in a sandbox root: the wizard on first run, then System Manager', load: () => import('./start.ts') },
  wizard: { help: 'the first-boot configuration wizard', load: () => import('../appliance/wizard/main.ts') },
  serve: { help: 'System Manager over HTTPS and the SSH CLI', load: () => import('./serve.ts') },
  console: { help: 'the console session: wizard on first boot, then the sign-in banner', load: () => import('./console.ts') },
  applier: { help: 'the privileged service that applies configuration for keel serve', load: () => import('./applier.ts') },
  monitor: { help: 'the health monitor (its own service; keel serve starts it in a sandbox)', load: () => import('../appliance/monitor.ts') },
  boot: { help: 'render the saved configuration into the OS at boot', load: () => import('../appliance/boot.ts') },
  install: { help: 'install Keel from the live ISO onto a disk', load: () => import('../installer/main.ts') },
  health: { help: 'one health probe cycle: platform, NICs, RAID, disks, IPMI', load: () => import('../appliance/health/main.ts') },
  cli: { help: 'the appliance CLI on this terminal', load: () => import('../cli/main.ts') },
  update: { help: 'software updates: verify, sign, check, download, stage, status (keel update --help)', ownHelp: true, load: () => import('../appliance/update/main.ts') },
  version: { help: 'print the version', load: async () => ({ run: async () => (console.log(`Keel ${VERSION}`), 0) }) },
};

function usage(): void {
  console.log('usage: keel <command> [options]\n');
  for (const [name, c] of Object.entries(COMMANDS)) console.log(`  ${name.padEnd(9)} ${c.help}`);
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    usage();
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`keel: unknown command "${name}"`);
    usage();
    return 2;
  }
  const mod = await cmd.load();
  if (!cmd.ownHelp) {
    const text = usageText(name, cmd.help, mod.OPTIONS ?? {}, mod.HELP);
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(text);
      return 0;
    }
    try {
      parseOptions(mod.OPTIONS ?? {}, rest);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      console.error(`keel ${name}: ${e.message}\n\n${text}`);
      return 2;
    }
  }
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isUserFacing(err)) {
      console.error(`keel: ${err instanceof ValidationError ? 'invalid input' : 'operation failed'}: ${err.message}`);
      process.exitCode = 1;
    } else {
      // A bug: show the stack so it can be reported.
      console.error(err);
      process.exitCode = 70;
    }
  },
);
