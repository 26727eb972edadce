/**
 * One description of a `keel` subcommand's options: parsed with node:util parseArgs (strict) and
 * printed as its --help, so the two cannot disagree. bin/main.ts answers --help and refuses an
 * unknown option with the usage (exit 2) before the subcommand runs.
 */
import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  default?: string | boolean;
  /** What the value is, shown as --name VALUE. */
  value?: string;
  help: string;
}
export type OptionTable = Record<string, OptionSpec>;

/** Parses argv by the description (strict: an unknown option throws UsageError). */
export function parseOptions<O extends OptionTable>(options: O, argv: string[]): { [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean | undefined : string | undefined } {
  try {
    const cfg = Object.fromEntries(Object.entries(options).map(([k, o]) => [k, { type: o.type, ...(o.default !== undefined ? { default: o.default } : {}) }]));
    return parseArgs({ args: argv, options: cfg as never, strict: true, allowPositionals: false }).values as never;
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/^Unknown option/, 'unknown option'));
  }
}

/** Bad usage of a subcommand: bin/main.ts prints it with the usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The --help text of a subcommand. */
export function usageText(name: string, summary: string, options: OptionTable, epilog?: string): string {
  const rows = Object.entries(options).map(([k, o]) => {
    const left = `--${k}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    const def = o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : '';
    return `  ${left.padEnd(26)} ${o.help}${def}`;
  });
  return [`usage: keel ${name}${rows.length ? ' [options]' : ''}`, '', summary, ...(rows.length ? ['', 'options:', ...rows, `  ${'--help'.padEnd(26)} show this help`] : []), ...(epilog ? ['', epilog] : [])].join('\n');
}

/** `--root DIR`, which nearly every subcommand takes. */
export const ROOT_OPTION: OptionSpec = { type: 'string', default: '/', value: 'DIR', help: 'the root to act on: / on the appliance, a sandbox folder elsewhere' };
