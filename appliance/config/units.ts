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
