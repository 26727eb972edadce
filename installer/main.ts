import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createHost, type Host } from '../appliance/host/index.ts';
import { OperationalError } from '../appliance/errors.ts';
import { VERSION } from '../appliance/version.ts';
import { candidateDisks, listBlockDevices, notEmptyReason, partitionPath, tooSmallReason, type BlockDevice } from './disks.ts';
import { PARTITIONS, sfdiskScript, grubConfig } from './layout.ts';

/** The seed's four boot commands. */
export const MODES = ['vm-install', 'hw-install', 'hw-m2250-m2600-install', 'hw-m2250-m2600-usb-install'] as const;

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
  /** A progress line that rewrites itself on a console. */
  progress(line: string): void {
    this.write(`\r${line}`);
  }
}

function cmdline(host: Host): Record<string, string> {
  const text = host.files.readText('/proc/cmdline') ?? '';
  return Object.fromEntries(
    text
      .trim()
      .split(/\s+/)
      .filter((w) => w.startsWith('keel.'))
      .map((w) => {
        const i = w.indexOf('=');
        return i < 0 ? [w.slice(5), 'yes'] : [w.slice(5, i), w.slice(i + 1)];
      }),
  );
}

/** Picks the target disk, or says why there is none. */
export function chooseDisk(devs: BlockDevice[], wanted: string | undefined, wipe: boolean): { disk: BlockDevice; warnings: string[] } | { error: string } {
  const cands = candidateDisks(devs);
  const warnings: string[] = [];
  let disk: BlockDevice | undefined;
  if (wanted) {
    disk = cands.find((d) => d.path === wanted || d.name === wanted.replace(/^\/dev\//, ''));
    if (!disk) return { error: `disk ${wanted} is not an installable disk here (found: ${cands.map((d) => d.path).join(', ') || 'none'})` };
  } else {
    if (cands.length === 0) return { error: 'no disk to install to was found (the boot medium is never used)' };
    disk = cands[0];
    if (cands.length > 1) warnings.push(`more than one disk found (${cands.map((d) => d.path).join(', ')}); a virtual Core should have one disk - installing to ${disk.path}, the others are not touched`);
  }
  const small = tooSmallReason(disk);
  if (small) return { error: `disk ${disk.path} is too small: ${small}` };
  const used = notEmptyReason(disk);
  if (used && !wipe)
    return {
      error:
        `disk ${disk.path} is not empty: ${used}.\n` +
        'Keel will not overwrite it without being told to. To erase it, boot again, press "e" on the install entry, add keel.wipe=yes to the linux line, and press Ctrl-X (or run `keel install --wipe`).',
    };
  if (used) warnings.push(`disk ${disk.path} is not empty (${used}); erasing it as told (wipe)`);
  return { disk, warnings };
}

/**
 * `keel install --mode vm-install [--disk DEV] [--wipe] [--no-reboot]`, or `--from-cmdline` on the
 * live ISO (keel.install=MODE, keel.wipe=yes, keel.disk=DEV from the kernel command line).
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      mode: { type: 'string' },
      disk: { type: 'string' },
      wipe: { type: 'boolean', default: false },
      'no-reboot': { type: 'boolean', default: false },
      'from-cmdline': { type: 'boolean', default: false },
      source: { type: 'string', default: '/run/live/medium/live' },
      root: { type: 'string', default: '/' },
    },
  });
  const host = createHost(values.root);
  const args = { ...values };
  if (values['from-cmdline']) {
    const k = cmdline(host);
    args.mode = k.install;
    args.wipe = k.wipe === 'yes' || values.wipe;
    args.disk = k.disk ?? values.disk;
  }
  const out = new Output(values['from-cmdline'] ? ['/dev/ttyS0', '/dev/tty1'] : []);
  out.say(`\nKeel ${VERSION} installer - ${args.mode ?? '(no mode)'}`);
  if (!args.mode || !(MODES as readonly string[]).includes(args.mode)) {
    out.say(`Unknown install command "${args.mode ?? ''}". Use one of: ${MODES.join(', ')}.`);
    return 2;
  }
  if (args.mode !== 'vm-install') {
    out.say(`${args.mode} is not supported by this build yet; only vm-install is. Nothing was written.`);
    return 3;
  }
  if (!host.proc.live) {
    out.say('The installer writes a real disk; it does not run in a sandbox root. Nothing was written.');
    return 2;
  }
  const chosen = chooseDisk(await listBlockDevices(host), args.disk, args.wipe);
  if ('error' in chosen) {
    out.say(`\nINSTALLATION REFUSED: ${chosen.error}\nNothing was written.`);
    await host.proc.run('sync', [], { allowFail: true });
    return 4;
  }
  const { disk, warnings } = chosen;
  for (const w of warnings) out.say(`Warning: ${w}`);
  out.say(`Installing to ${disk.path} (${(disk.size / 2 ** 30).toFixed(1)} GiB).`);
  const t0 = Date.now();
  let step = '';
  const timed = async (name: string, fn: () => Promise<void>) => {
    step = name;
    const s = Date.now();
    out.say(`[${name}] ...`);
    await fn();
    out.say(`[${name}] done in ${((Date.now() - s) / 1000).toFixed(1)} s`);
  };
  const part = (n: number) => partitionPath(disk.path, n);
  const mounted: string[] = [];
  const mount = async (dev: string, dir: string, type: string) => {
    host.files.mkdirp(dir);
    await host.proc.run('mount', ['-t', type, dev, dir]);
    mounted.unshift(dir);
  };
  try {
    await timed('wipe', async () => {
      await host.proc.run('wipefs', ['--all', '--force', disk.path]);
    });
    await timed('partition', async () => {
      await host.proc.run('sfdisk', ['--quiet', '--wipe', 'always', '--wipe-partitions', 'always', disk.path], { input: sfdiskScript() });
      await host.proc.run('udevadm', ['settle', '--timeout=30'], { allowFail: true });
    });
    await timed('filesystems', async () => {
      for (const p of PARTITIONS) if (p.mkfs) await host.proc.run(p.mkfs[0], [...p.mkfs.slice(1), part(p.n)]);
    });
    await timed('system slot A', async () => {
      await mount(part(4), `${MNT}/a`, 'ext4');
      const files = host.files.list(values.source).filter((f) => /\.(squashfs)$|^vmlinuz$|^initrd\.img$|^keel-version$/.test(f));
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
    });
    await timed('data partition', async () => {
      await mount(part(6), `${MNT}/data`, 'ext4');
      host.files.mkdirp(`${MNT}/data/log`, 0o750);
    });
    // The bootloader goes last: until it is written the disk does not boot half-installed.
    await timed('bootloader', async () => {
      await mount(part(3), `${MNT}/boot`, 'ext4');
      await mount(part(2), `${MNT}/efi`, 'vfat');
      await host.proc.run('grub-install', ['--target=i386-pc', `--boot-directory=${MNT}/boot`, disk.path]);
      await host.proc.run('grub-install', ['--target=x86_64-efi', `--efi-directory=${MNT}/efi`, `--boot-directory=${MNT}/boot`, '--removable', '--no-nvram']);
      host.files.writeAtomic(`${MNT}/boot/grub/grub.cfg`, grubConfig());
      await host.proc.run('grub-editenv', [`${MNT}/boot/grub/grubenv`, 'set', 'keel_slot=a']);
    });
    out.say(`Installation complete in ${((Date.now() - t0) / 1000).toFixed(0)} s.`);
  } catch (err) {
    out.say(`\nINSTALLATION FAILED at step "${step}": ${(err as Error).message}`);
    out.say('The disk was not made bootable. Fix the cause and boot the installer again.');
    for (const m of mounted) await host.proc.run('umount', [m], { allowFail: true });
    if (!(err instanceof OperationalError)) throw err;
    return 5;
  }
  if (mounted.includes(`${MNT}/data`)) host.files.writeAtomic(`${MNT}/data/log/install.log`, out.lines.join('\n') + '\n', 0o640);
  for (const m of mounted) await host.proc.run('umount', [m], { allowFail: true });
  await host.proc.run('sync', []);
  if (values['no-reboot']) return 0;
  out.say('Rebooting into the installed system ...');
  await host.proc.run('systemctl', ['reboot']);
  return 0;
}
