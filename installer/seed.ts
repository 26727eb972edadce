import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { createHost, type Host } from '../appliance/host/index.ts';
import { checkAnswers } from '../appliance/wizard/main.ts';
import { buildConfig, commitWizard, type WizardAnswers } from '../appliance/wizard/commit.ts';
import type { Config } from '../appliance/config/schema.ts';
import { ValidationError, type FieldProblem } from '../appliance/errors.ts';
import { findLabelled, SEED_LABEL, type BlockDevice } from './disks.ts';
import type { Check } from './plan.ts';

/** The answers file on a KEEL-SEED medium: the same JSON as `keel wizard --answers FILE`. */
export const SEED_ANSWERS = 'keel-answers.json';
/** Optional install options on the KEEL-SEED medium. */
export const SEED_INSTALL = 'keel-install.json';

/** Install options a seed medium may carry; the kernel command line overrides each. */
export const SeedInstallSchema = Type.Object(
  {
    disk: Type.Optional(Type.String({ minLength: 1, description: 'Disk to install to (as keel.disk): /dev/sda' })),
    wipe: Type.Optional(Type.Boolean({ description: 'Erase a disk that is not empty (as keel.wipe=yes)' })),
    force: Type.Optional(Type.Boolean({ description: 'Install despite preflight warnings, never despite refusals (as keel.force=yes)' })),
    storageTest: Type.Optional(Type.Boolean({ description: 'Run the short storage test (default true; as keel.storagetest=no)' })),
  },
  { additionalProperties: false, description: 'Keel install options on a KEEL-SEED medium' },
);
export type SeedInstall = Static<typeof SeedInstallSchema>;

/** Problems of a keel-install.json document, by field and rule (empty when valid). */
export function checkSeedInstall(doc: unknown): FieldProblem[] {
  return [...Value.Errors(SeedInstallSchema, doc)].map((e) => ({ field: `${SEED_INSTALL}${e.path || '/'}`, rule: 'schema', message: e.message }));
}

/**
 * Splits /proc/cmdline into `keel.*` parameters; double quotes keep spaces
 * (`keel.answer.company="Example Corp"`). A bare `keel.x` means `yes`.
 */
export function parseCmdline(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(?:[^\s"]+|"[^"]*")+/g;
  for (const m of text.trim().matchAll(re)) {
    const w = m[0];
    if (!w.startsWith('keel.')) continue;
    const i = w.indexOf('=');
    const key = i < 0 ? w.slice(5) : w.slice(5, i);
    const value = i < 0 ? 'yes' : w.slice(i + 1).replace(/^"(.*)"$/, '$1');
    out[key] = value;
  }
  return out;
}

/** Wizard answers given on the kernel command line as `keel.answer.<question id>=<value>`. */
export function cmdlineAnswers(k: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(k).filter(([key]) => key.startsWith('answer.')).map(([key, v]) => [key.slice('answer.'.length), v]));
}

/** What a seed medium held: parsed JSON documents, or why one could not be read. */
export interface SeedMedium {
  device: string;
  answers: unknown;
  install: unknown;
  /** Files that exist but are not JSON, by name. */
  unreadable: Record<string, string>;
}

/** Finds the KEEL-SEED medium (a second disk, ISO or stick): the labelled device or partition. */
export function findSeed(devs: BlockDevice[]): string | null {
  return findLabelled(devs, SEED_LABEL)?.node.path ?? null;
}

/** Mounts the seed medium read-only, reads its JSON files, unmounts. */
export async function readSeedMedium(host: Host, device: string, mnt = '/run/keel-seed'): Promise<SeedMedium> {
  host.files.mkdirp(mnt, 0o700);
  await host.proc.run('mount', ['-o', 'ro', device, mnt]);
  const res: SeedMedium = { device, answers: undefined, install: undefined, unreadable: {} };
  try {
    for (const [name, key] of [[SEED_ANSWERS, 'answers'], [SEED_INSTALL, 'install']] as const) {
      const text = host.files.readText(path.posix.join(mnt, name));
      if (text === null) continue;
      try {
        res[key] = JSON.parse(text);
      } catch (e) {
        res.unreadable[name] = (e as Error).message;
      }
    }
  } finally {
    await host.proc.run('umount', [mnt], { allowFail: true });
  }
  return res;
}

/** The zero-touch answers, checked: a configuration ready to write, or the problems by field and rule. */
export interface SeedAnswers {
  /** Where the answers came from: `KEEL-SEED /dev/sr1`, `kernel command line`, or both. */
  source: string;
  answers: WizardAnswers | null;
  config: Config | null;
  checks: Check[];
}

/**
 * Checks seed answers (the medium's file, overridden key by key by `keel.answer.*`) with the
 * wizard's own rules and schema, before anything is written. Returns null when there are none.
 */
export async function checkSeedAnswers(host: Host, medium: SeedMedium | null, fromCmdline: Record<string, string>, now = new Date()): Promise<SeedAnswers | null> {
  const sources: string[] = [];
  const checks: Check[] = [];
  const refuse = (message: string) => checks.push({ check: 'seed', level: 'refuse', message });
  let raw: Record<string, unknown> = {};
  if (medium) {
    for (const [name, why] of Object.entries(medium.unreadable)) refuse(`${medium.device} ${name} is not valid JSON: ${why}`);
    if (medium.answers !== undefined) {
      if (typeof medium.answers !== 'object' || medium.answers === null || Array.isArray(medium.answers)) refuse(`${medium.device} ${SEED_ANSWERS} must hold a JSON object keyed by question id`);
      else raw = { ...(medium.answers as Record<string, unknown>) };
      sources.push(`${SEED_LABEL} ${medium.device}`);
    }
  }
  if (Object.keys(fromCmdline).length) {
    raw = { ...raw, ...fromCmdline };
    sources.push('kernel command line');
  }
  if (!sources.length) return checks.length ? { source: medium?.device ?? '', answers: null, config: null, checks } : null;
  const source = sources.join(' + ');
  // `reload` and `proceed` mean nothing at install time (the installer reboots by itself).
  delete raw.reload;
  delete raw.proceed;
  const r = checkAnswers(raw, host);
  for (const p of r.problems) refuse(`seed answer ${p.field} (${p.rule}): ${p.message}`);
  if (r.answers && !r.save) refuse('seed answer reloadSave (install-saves): must be yes: an unsaved configuration is lost at the first boot');
  if (checks.length || !r.answers) return { source, answers: null, config: null, checks };
  let config: Config;
  try {
    config = await buildConfig(r.answers, now);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    for (const p of e.problems) refuse(`seed answer ${p.field} (${p.rule}): ${p.message}`);
    return { source, answers: null, config: null, checks };
  }
  checks.push({ check: 'seed', level: 'ok', message: `configuration from ${source}: ${config.system.hostname}, ${config.network.interfaces[0].name} ${config.network.interfaces[0].address}/${config.network.interfaces[0].netmask}; the first boot asks nothing` });
  if (r.answers.clock) checks.push({ check: 'seed', level: 'warn', message: `seed answer clock (${r.answers.clock.date} ${r.answers.clock.time}) is not applied: a time written into a seed is stale when a machine installs; use NTP or set the clock on the appliance` });
  return { source, answers: { ...r.answers, clock: null }, config, checks };
}

/**
 * Writes the seed's configuration onto the installed data partition through the wizard's own
 * commit (the same store, revision, audit and CONFIGURED_MARKER as a first-boot wizard), so the
 * first boot needs no answers. `targetRoot` is a folder whose var/lib/keel is the mounted data
 * partition; OS files the commit renders land in that folder and are discarded (the installed
 * system renders the saved configuration at every boot).
 */
export async function writeSeedConfig(targetRoot: string, seed: SeedAnswers, opts: { sysfs?: string } = {}): Promise<number> {
  if (!seed.answers || !seed.config) throw new Error('no valid seed configuration to write');
  const target = createHost(targetRoot, opts);
  const r = await commitWizard(target, seed.config, seed.answers, { save: true, reboot: false, source: 'installer:seed' });
  return r.revision;
}
