import type { FileSpec } from '../host/files.ts';
import type { Config } from './schema.ts';
import type { Nic } from '../network/nics.ts';

/** A command to run through the processes adapter. */
export type Command = [cmd: string, ...args: string[]];

/**
 * What one setting renders: its files, and how its service takes a change.
 * `reload` runs when any of `files` changed while the appliance runs; `boot` runs at boot.
 */
export interface Unit {
  name: string;
  files: FileSpec[];
  reload: Command[];
  boot?: Command[];
  /** Checks a rendered file set before it is written (e.g. `nft -c`); gets the temp path of `files[0]`. */
  check?: (path: string) => Command;
}

/** Facts about the machine that rendering needs; gathered once, passed in, so render stays pure. */
export interface Facts {
  nics: Nic[];
}

export type Renderer = (config: Config, facts: Facts) => Unit;

/**
 * A configuration value as it goes into a rendered file. The schema already constrains every
 * such field; this is the second wall: a control character (a newline above all) in a value would
 * add lines of the caller's choosing to a system file, so a renderer that meets one stops (a bug:
 * validation let it through) instead of writing it.
 */
export function plain(value: string | number, field: string): string {
  const s = String(value);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\u0085\u2028\u2029]/.test(s)) throw new Error(`refusing to render ${field}: the value holds a control character`);
  return s;
}
