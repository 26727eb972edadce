import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../appliance/host/index.ts';
import { OperationalError } from '../appliance/errors.ts';
import { VERSION } from '../appliance/version.ts';
import { sysinfo, procRoot } from '../appliance/host/sysinfo.ts';
import { runStorageTest as runFileStorageTest } from '../appliance/health/storage-test.ts';
import { grubConfig } from './layout.ts';
import { gatherInstallFacts } from './facts.ts';
import { candidateDisks } from './disks.ts';

/** How long the installer waits for a first disk to appear. */
const DISK_WAIT_MS = 120_000;
import { MODES, planInstall, describeTarget, targetDisks, type Check, type Mode } from './plan.ts';
import { preflightChecks, runStorageTest, decide, formatChecks } from './preflight.ts';
import { runStorageSteps, bootloaderCommands, volumesOf, type Command } from './steps.ts';
import { parseCmdline, cmdlineAnswers, findSeed, readSeedMedium, checkSeedAnswers, checkSeedInstall, writeSeedConfig, SEED_INSTALL, type SeedInstall, type SeedMedium } from './seed.ts';
import { parseOptions, ROOT_OPTION, type OptionTable } from '../appliance/options.ts';
import { verifySlotImages } from '../appliance/update/verity.ts';
import { loadTrustedKeys } from '../appliance/update/keys.ts';

export { MODES, chooseDisk } from './plan.ts';

const MNT = '/run/keel-install';

/** Installer output: the console(s) and the install log, which ends up on the data partition. */
class Output {
  readonly lines: string[] = [];
  private ttys: number[] = [];
  constructor(consoles: string[]) {
    for (const c of consoles) {
      try {
        this.ttys.push(fs.openSync(c, 'w'));
      } catch {
        /* no such console on this machine */
      }
    }
  }
  private write(s: string): void {
    process.stdout.write(s);
    for (const fd of this.ttys) {
      try {
        fs.writeSync(fd, s.replace(/\n/g, '\r\n'));
      } catch {
        /* console went away */
      }
    }
  }
  say(line: string): void {
    this.lines.push(`${new Date().toISOString()} ${line}`);
    this.write(`${line}\n`);
  }
  /** A line for the install log only (the commands run). */
  log(line: string): void {
    this.lines.push(`${new Date().toISOString()} ${line}`);
  }
  /** A progress line that rewrites itself on a console. */
  progress(line: string): void {
    this.write(`\r${line}`);
  }
}

/** What to do, from the command line or the kernel command line (and the seed medium's keel-install.json). */
interface Options {
  mode: string | undefined;
  disk: string | undefined;
  wipe: boolean;
  force: boolean;
  storageTest: boolean;
}

/**
 * Merges install options: the kernel command line (or the command's flags) wins over the seed
 * medium's keel-install.json, key by key (pure).
 */
export function mergeOptions(given: Partial<Options>, seed: SeedInstall | null): Options {
  return {
    mode: given.mode,
    disk: given.disk ?? seed?.disk,
    wipe: given.wipe ?? seed?.wipe ?? false,
    force: given.force ?? seed?.force ?? false,
    storageTest: given.storageTest ?? seed?.storageTest ?? true,
  };
}

const yes = (v: string | undefined): boolean | undefined => (v === undefined ? undefined : /^(yes|y|1|true|on)$/i.test(v));

const FORCE_HINT = 'To install anyway, boot again, press "e" on the install entry, add keel.force=yes to the linux line, and press Ctrl-X (or run `keel install --force`). Refusals cannot be forced.';

/**
 * `keel install --mode MODE [--disk DEV] [--wipe] [--force] [--no-storage-test] [--no-reboot]`,
 * or `--from-cmdline` on the live ISO (keel.install=MODE, keel.wipe=yes, keel.disk=DEV,
 * keel.force=yes, keel.storagetest=no, keel.answer.<question id>=VALUE on the kernel command line).
 *
 * Exit codes: 0 installed; 2 bad usage; 4 refused by the preflight; 5 a step failed (the disk does
 * not boot: the bootloader is written last); 6 stopped on preflight warnings (not forced).
 */
export const OPTIONS = {
  mode: { type: 'string', value: 'MODE', help: 'vm-install, hw-install, hw-m2250-m2600-install or hw-m2250-m2600-usb-install' },
  disk: { type: 'string', value: 'DEVICE', help: 'the target disk (default: the one the mode chooses)' },
  wipe: { type: 'boolean', help: 'erase a disk that holds data' },
  force: { type: 'boolean', help: 'go on despite preflight warnings' },
  'no-storage-test': { type: 'boolean', help: 'skip the storage speed test' },
  'no-reboot': { type: 'boolean', default: false, help: 'do not reboot at the end' },
  'from-cmdline': { type: 'boolean', default: false, help: 'take the options from the kernel command line (keel.install=MODE ...)' },
  source: { type: 'string', default: '/run/live/medium/live', value: 'DIR', help: 'where the system images are' },
  root: ROOT_OPTION,
} satisfies OptionTable;

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions(OPTIONS, argv) as { mode?: string; disk?: string; wipe?: boolean; force?: boolean; 'no-storage-test'?: boolean; 'no-reboot': boolean; 'from-cmdline': boolean; source: string; root: string };
  const host = createHost(values.root);
  const k = parseCmdline(host.files.readText('/proc/cmdline') ?? '');
  const given: Partial<Options> = {
    mode: values.mode,
    disk: values.disk,
    wipe: values.wipe,
    force: values.force,
    storageTest: values['no-storage-test'] ? false : undefined,
  };
  if (values['from-cmdline']) {
    given.mode = k.install;
    given.wipe = values.wipe || yes(k.wipe) || undefined;
    given.disk = k.disk ?? values.disk;
    given.force = values.force || yes(k.force) || undefined;
    given.storageTest = given.storageTest ?? (k.storagetest !== undefined ? yes(k.storagetest) : undefined);
  }
  const out = new Output(values['from-cmdline'] ? ['/dev/ttyS0', '/dev/tty1'] : []);
  out.say(`\nKeel ${VERSION} installer - ${given.mode ?? '(no mode)'}`);
  if (!given.mode || !(MODES as readonly string[]).includes(given.mode)) {
    out.say(`Unknown install command "${given.mode ?? ''}". Use one of: ${MODES.join(', ')}.`);
    return 2;
  }
  const mode = given.mode as Mode;
  if (!host.proc.live) {
    out.say('The installer writes a real disk; it does not run in a sandbox root. Nothing was written.');
    return 2;
  }

  // --- preflight: facts, the seed, disk rules, checks, storage test. Nothing is written here.
  out.say('Checking this machine before anything is written ...');
  let facts = await gatherInstallFacts(host);
  // SAS HBAs and RAID controllers can present their disks well after boot (their bus scan is
  // asynchronous): wait a while for a first disk before saying there is none.
  for (let until = 0; candidateDisks(facts.devices).length === 0 && (until === 0 || Date.now() < until); ) {
    if (until === 0) out.say(`No disk yet; waiting up to ${DISK_WAIT_MS / 1000} s for the disk controllers to present their disks ...`);
    until ||= Date.now() + DISK_WAIT_MS;
    await host.proc.run('udevadm', ['settle', '--timeout=10'], { allowFail: true });
    await new Promise((r) => setTimeout(r, 5000));
    facts = await gatherInstallFacts(host);
  }
  const extra: Check[] = [];
  const seedDevice = findSeed(facts.devices);
  let medium: SeedMedium | null = null;
  if (seedDevice) {
    try {
      medium = await readSeedMedium(host, seedDevice);
    } catch (e) {
      extra.push({ check: 'seed', level: 'refuse', message: `the ${seedDevice} seed medium (label KEEL-SEED) could not be read: ${(e as Error).message}` });
    }
  }
  let seedInstall: SeedInstall | null = null;
  if (medium?.install !== undefined) {
    const problems = checkSeedInstall(medium.install);
    for (const p of problems) extra.push({ check: 'seed', level: 'refuse', message: `${medium.device} ${p.field} (${p.rule}): ${p.message}` });
    if (!problems.length) seedInstall = medium.install as SeedInstall;
  }
  const opts = mergeOptions(given, seedInstall);
  const planned = planInstall(mode, facts, { disk: opts.disk, wipe: opts.wipe });
  const checks = preflightChecks(mode, facts, planned);
  const seed = await checkSeedAnswers(host, medium, values['from-cmdline'] ? cmdlineAnswers(k) : {});
  if (seed) checks.push(...seed.checks);
  checks.push(...extra);
  if (seedInstall) checks.push({ check: 'seed', level: 'ok', message: `install options from ${medium!.device} ${SEED_INSTALL}: ${JSON.stringify(seedInstall)}` });
  let writeDeferred = false;
  let testedEmptyDisk: string | null = null;
  if (planned.plan && !checks.some((c) => c.level === 'refuse')) {
    if (opts.storageTest) {
      const disk = targetDisks(planned.plan.target)[0];
      out.say(`Measuring ${disk.path} (random read and write, a few seconds each) ...`);
      const st = await runStorageTest(host, disk);
      checks.push(...st.checks);
      writeDeferred = st.writeDeferred;
      if (!st.writeDeferred && st.checks.some((c) => c.check === 'storage.write')) testedEmptyDisk = disk.path;
    } else checks.push({ check: 'storage', level: 'ok', message: 'storage test skipped as told (keel.storagetest=no)' });
  }
  out.say('Preflight:');
  for (const l of formatChecks(checks)) out.say(l);
  const verdict = decide(checks, opts.force);
  if (verdict.refusals.length) {
    const [first, ...more] = verdict.refusals;
    out.say(`\nINSTALLATION REFUSED: ${first.message}`);
    for (const r of more) out.say(`  also: ${r.message}`);
    out.say('Nothing was written.');
    await host.proc.run('sync', [], { allowFail: true });
    return 4;
  }
  if (!verdict.install) {
    out.say(`\nINSTALLATION STOPPED: ${verdict.warnings.length} warning${verdict.warnings.length > 1 ? 's' : ''} above (marked [WARN]).`);
    out.say(FORCE_HINT);
    out.say(testedEmptyDisk ? `Nothing was installed (the storage test wrote test data onto the empty disk ${testedEmptyDisk} only).` : 'Nothing was written.');
    await host.proc.run('sync', [], { allowFail: true });
    return 6;
  }
  if (verdict.warnings.length) out.say(`Installing despite ${verdict.warnings.length} warning${verdict.warnings.length > 1 ? 's' : ''} (forced).`);
  const plan = planned.plan!;
  const t = plan.target;
  const vol = volumesOf(t);
  out.say(describeTarget(t));

  // --- install: disks, system, data, configuration; the bootloader last.
  const t0 = Date.now();
  let step = '';
  const timed = async (name: string, fn: () => Promise<void>) => {
    step = name;
    const s = Date.now();
    out.say(`[${name}] ...`);
    await fn();
    out.say(`[${name}] done in ${((Date.now() - s) / 1000).toFixed(1)} s`);
  };
  const exec = async (c: Command) => {
    out.log(`$ ${c.cmd} ${c.args.join(' ')}`);
    await host.proc.run(c.cmd, c.args, { input: c.input, allowFail: c.allowFail });
  };
  const mounted: string[] = [];
  const mount = async (dev: string, dir: string, type: string) => {
    host.files.mkdirp(dir);
    await host.proc.run('mount', ['-t', type, dev, dir]);
    mounted.unshift(dir);
  };
  const dataDir = `${MNT}/target/var/lib/keel`;
  const writeLog = () => {
    if (mounted.includes(dataDir)) host.files.writeAtomic(`${dataDir}/log/install.log`, out.lines.join('\n') + '\n', 0o640);
  };
  try {
    await runStorageSteps(host, plan, timed, (c) => {
      out.log(`$ ${c.cmd} ${c.args.join(' ')}`);
    });
    if (t.kind === 'md') {
      const line = (sysinfo.read(`${procRoot()}/mdstat`) ?? '').split('\n').find((l) => l.startsWith(`${t.device.replace('/dev/', '')} :`));
      if (line) out.say(`  ${line.trim()}`);
      out.say('  the array synchronises its disks in the background; it is usable now');
    }
    await timed('system slot A', async () => {
      await mount(vol.slotA, `${MNT}/a`, 'ext4');
      const files = host.files.list(values.source).filter((f) => /\.squashfs(\.verity)?$|^vmlinuz$|^initrd\.img$|^keel-version$|^keel-verity\.env$/.test(f));
      if (!files.some((f) => f.endsWith('.squashfs'))) throw new OperationalError('the live system image was not found', `ls ${values.source}`, 1, '');
      const total = files.reduce((s, f) => s + fs.statSync(host.files.real(path.join(values.source, f))).size, 0);
      let before = 0;
      const start = Date.now();
      for (const f of files) {
        await host.files.copyWithProgress(path.join(values.source, f), `${MNT}/a/live/${f}`, (done) => {
          const all = before + done;
          const rate = all / 2 ** 20 / Math.max(0.001, (Date.now() - start) / 1000);
          out.progress(`  copying system: ${((all / total) * 100).toFixed(0).padStart(3)}%  ${(all / 2 ** 20).toFixed(0)}/${(total / 2 ** 20).toFixed(0)} MiB  ${rate.toFixed(1)} MiB/s   `);
        });
        before += fs.statSync(host.files.real(path.join(values.source, f))).size;
      }
      out.progress('\n');
      out.say(`  copied ${(total / 2 ** 20).toFixed(0)} MiB in ${((Date.now() - start) / 1000).toFixed(1)} s`);
      // What was copied is what will boot: each image against its hash tree and the root hashes
      // the build signed (the signature stays on the medium).
      const v0 = Date.now();
      try {
        const hashes = await verifySlotImages(host, `${MNT}/a/live`, { trusted: loadTrustedKeys(host), sigFrom: values.source });
        out.say(`  verified ${hashes.map((h) => h.file).join(' and ')} against the signed dm-verity root hashes in ${((Date.now() - v0) / 1000).toFixed(1)} s`);
      } catch (e) {
        throw new OperationalError(`the system image is damaged or not signed: ${(e as Error).message}`, `veritysetup verify (${values.source})`, 1, '');
      }
    });
    await timed('data partition', async () => {
      await mount(vol.data, dataDir, 'ext4');
      host.files.mkdirp(`${dataDir}/log`, 0o750);
      if (writeDeferred) {
        // The disk held data until the wipe; now its write rate can be measured without loss.
        const r = await runFileStorageTest(host, { dir: host.files.real(dataDir), sizeMB: 256, runtimeSeconds: 5 }).catch((e: Error) => e);
        if (r instanceof Error) out.say(`  [WARN] storage.write the storage test could not run: ${r.message}`);
        else for (const f of r.findings.filter((x) => x.subject === 'random write')) out.say(`  [${f.severity === 'ok' ? ' OK ' : 'WARN'}] storage.write ${f.message}`);
      }
    });
    if (seed?.config) {
      await timed('configuration', async () => {
        const revision = await writeSeedConfig(`${MNT}/target`, seed);
        out.say(`  configuration from ${seed.source} saved (revision ${revision}); the first boot asks nothing`);
      });
    }
    // The bootloader goes last: until it is written the disk does not boot half-installed.
    await timed('bootloader', async () => {
      await mount(vol.boot, `${MNT}/boot`, 'ext4');
      host.files.mkdirp(`${MNT}/efi`);
      mounted.unshift(`${MNT}/efi`); // each ESP is mounted there in turn; unmounted again on failure
      for (const c of bootloaderCommands(t, MNT)) await exec(c);
      mounted.shift();
      host.files.writeAtomic(`${MNT}/boot/grub/grub.cfg`, grubConfig({ md: t.kind === 'md' }));
      await host.proc.run('grub-editenv', [`${MNT}/boot/grub/grubenv`, 'set', 'keel_slot=a']);
      if (t.kind === 'md') out.say(`  GRUB is on ${vol.biosDisks.join(' and ')}: either disk boots alone`);
    });
    out.say(`Installation complete in ${((Date.now() - t0) / 1000).toFixed(0)} s.`);
  } catch (err) {
    out.say(`\nINSTALLATION FAILED at step "${step}": ${(err as Error).message}`);
    if (err instanceof OperationalError) {
      out.say(`  command: ${err.command}`);
      out.say(`  exit code: ${err.exitCode ?? 'killed by a signal'}`);
    }
    out.say(`The ${t.kind === 'md' ? 'disks were' : 'disk was'} not made bootable (the bootloader is written last). Fix the cause and boot the installer again${step === 'wipe' ? '' : ' with keel.wipe=yes (the disk now holds a partial install)'}.`);
    try {
      writeLog();
    } catch {
      /* the data partition is not usable; the console has the story */
    }
    for (const m of mounted) await host.proc.run('umount', [m], { allowFail: true });
    if (!(err instanceof OperationalError)) throw err;
    return 5;
  }
  writeLog();
  for (const m of mounted) await host.proc.run('umount', [m], { allowFail: true });
  await host.proc.run('sync', []);
  if (values['no-reboot']) return 0;
  out.say('Rebooting into the installed system ...');
  await host.proc.run('systemctl', ['reboot']);
  return 0;
}
