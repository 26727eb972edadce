#!/usr/bin/env node
/**
 * `keel`: the one appliance command. Each subcommand module exports `run(argv): Promise<number>`
 * and is loaded only when used, so the console and wizard start fast.
 */
import { isUserFacing, ValidationError } from '../appliance/errors.ts';
import { VERSION } from '../appliance/version.ts';

type Runner = (argv: string[]) => Promise<number>;
const COMMANDS: Record<string, { help: string; load: () => Promise<{ run: Runner }> }> = {
  start: { help: 'run the appliance in a sandbox root: the wizard on first run, then System Manager', load: () => import('./start.ts') },
  wizard: { help: 'the first-boot configuration wizard (--root DIR, --answers FILE)', load: () => import('../appliance/wizard/main.ts') },
  serve: { help: 'System Manager over HTTPS and the SSH CLI (--root DIR --https-port N --listen ADDR --ssh-port N)', load: () => import('./serve.ts') },
  console: { help: 'the console session: wizard on first boot, then the sign-in banner', load: () => import('./console.ts') },
  applier: { help: 'the privileged service that applies configuration for keel serve (--root DIR --socket PATH)', load: () => import('./applier.ts') },
  monitor: { help: 'the health monitor (its own service; keel serve starts it in a sandbox) (--root DIR)', load: () => import('../appliance/monitor.ts') },
  boot: { help: 'render the saved configuration into the OS at boot (--root DIR)', load: () => import('../appliance/boot.ts') },
  install: { help: 'install Keel from the live ISO onto a disk (--mode vm-install, --disk, --wipe)', load: () => import('../installer/main.ts') },
  health: { help: 'one health probe cycle: platform, NICs, RAID, disks, IPMI (--root DIR --json --bmc URL)', load: () => import('../appliance/health/main.ts') },
  cli: { help: 'the appliance CLI on this terminal (--root DIR)', load: () => import('../cli/main.ts') },
  update: { help: 'software updates: verify, sign, check, download, stage, status (keel update --help)', load: () => import('../appliance/update/main.ts') },
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
  return (await cmd.load()).run(rest);
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
