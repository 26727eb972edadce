/**
 * Boot time with a ratio: the installed, configured disk of the last `npm run test:e2e` booted
 * under TCG from power-on three times: as it is (until Keel's console shows its banner); with its
 * data partition as the installer leaves it (until the wizard's first question: the issue's
 * "power-on of the installed VM"); and with Keel's layer in the active slot swapped for the
 * build's reference layer (the same base, no Keel: a unit that prints a marker where Keel's
 * console would start). All are copies; the e2e disk is not changed.
 * Run: npm run bench:boot (root, QEMU).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Vm, freePort } from '../e2e/qemu.ts';
import { Serial, prompt } from '../e2e/serial.ts';
import { run, withLoop, withRawDisk } from '../e2e/disk.ts';
import { Q } from '../../appliance/wizard/questions.ts';
import { parseVerityEnv, verityEnv, type VerityImage } from '../../appliance/update/verity.ts';

const TOP = path.resolve(import.meta.dirname, '../..');
const E2E_DISK = path.join(TOP, '.cache/e2e/disk.qcow2');
/** The marker the reference layer's unit prints (image/build.ts, reference-layer step). */
const MARKER = /KEEL-REFERENCE-READY/;
const BANNER = /Certificate SHA-256 fingerprint/;

export interface BootFigures {
  keelSeconds: number;
  /** Power-on of the installed, not yet configured disk to the wizard's first question. */
  wizardSeconds: number;
  referenceSeconds: number;
  ratio: number;
}

/** The build's reference layer (base-<key>/reference/reference.squashfs), or null. */
function referenceLayer(): string | null {
  const cache = path.join(TOP, '.cache/image');
  for (const d of fs.existsSync(cache) ? fs.readdirSync(cache) : []) {
    const f = path.join(cache, d, 'reference/reference.squashfs');
    if (d.startsWith('base-') && fs.existsSync(`${f}.roothash`)) return f;
  }
  return null;
}

/**
 * Replaces system images (each with its `.verity` hash tree and `.roothash` beside it) in every
 * slot of a powered-off disk that has a keel-verity.env, and their root hashes in that file.
 */
export function replaceSlotImages(disk: string, images: Partial<Record<VerityImage, string>>, dir: string): string[] {
  const swapped: string[] = [];
  withRawDisk(disk, (raw, find) => {
    for (const slot of ['KEEL-A', 'KEEL-B']) {
      const p = find(slot);
      if (!p) continue;
      withLoop(raw, p, true, (dev) => {
        const env = path.join(dir, `${slot}.env`);
        run('debugfs', ['-R', `dump /live/keel-verity.env ${env}`, dev]);
        const hashes = fs.existsSync(env) ? parseVerityEnv(fs.readFileSync(env, 'utf8')) : null;
        if (!hashes) return;
        const rootHash = (f: VerityImage) => fs.readFileSync(`${images[f]}.roothash`, 'utf8').trim();
        fs.writeFileSync(env, verityEnv(hashes.map((h) => (images[h.file] ? { ...h, rootHash: rootHash(h.file) } : h))));
        const cmds = path.join(dir, `${slot}.debugfs`);
        const lines: string[] = [];
        for (const [file, src] of Object.entries(images)) lines.push(`rm /live/${file}`, `write ${src} /live/${file}`, `rm /live/${file}.verity`, `write ${src}.verity /live/${file}.verity`);
        fs.writeFileSync(cmds, [...lines, 'rm /live/keel-verity.env', `write ${env} /live/keel-verity.env`, ''].join('\n'));
        run('debugfs', ['-w', '-f', cmds, dev]);
        swapped.push(slot);
      });
    }
  });
  return swapped;
}

/**
 * Makes the data partition of a powered-off disk what the installer leaves: an empty ext4 named
 * KEEL-DATA with its log folder (installer/main.ts), so the next boot is a first boot.
 */
export function factoryData(disk: string): void {
  withRawDisk(disk, (raw, find) => {
    const p = find('KEEL-DATA');
    if (!p) throw new Error(`${disk} has no KEEL-DATA partition`);
    withLoop(raw, p, true, (dev) => {
      run('mkfs.ext4', ['-q', '-F', '-L', 'KEEL-DATA', dev]);
      run('debugfs', ['-w', '-R', 'mkdir log', dev]);
      run('debugfs', ['-w', '-R', 'sif log mode 040750', dev]);
    });
  });
}

/** Seconds from QEMU's start until `re` shows on the serial console. */
export async function timeBoot(dir: string, disk: string, re: RegExp, label: string): Promise<number> {
  const vm = new Vm({ dir, disk, httpsPort: await freePort() });
  const s = new Serial(path.join(dir, `serial-${label}.log`));
  const t0 = Date.now();
  vm.start();
  try {
    await s.connect(vm.serialPath);
    await s.expect(re, 900000, label);
    return (Date.now() - t0) / 1000;
  } finally {
    await vm.stop();
    s.close();
  }
}

/** Boots both and answers the times; null when there is no e2e disk or no reference layer yet. */
export async function bootFigures(log = console.log): Promise<BootFigures | null> {
  const ref = referenceLayer();
  if (!fs.existsSync(E2E_DISK) || !ref) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-boot-'));
  try {
    const overlay = (name: string) => {
      const f = path.join(dir, name);
      run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', E2E_DISK, f]);
      return f;
    };
    const keelDisk = overlay('keel.qcow2');
    const refDisk = overlay('reference.qcow2');
    const freshDisk = overlay('fresh.qcow2');
    factoryData(freshDisk);
    // The overlay is flattened by the swap (withRawDisk writes a standalone qcow2).
    const slots = replaceSlotImages(refDisk, { 'keel.squashfs': ref }, dir);
    if (!slots.length) throw new Error('bench: no slot of the e2e disk has keel-verity.env');
    log(`boot: reference layer put in ${slots.join(', ')}`);
    const keelSeconds = await timeBoot(dir, keelDisk, BANNER, 'keel');
    log(`boot: Keel, power-on to the console banner: ${keelSeconds.toFixed(1)} s`);
    const wizardSeconds = await timeBoot(dir, freshDisk, prompt(Q.showEula.prompt), 'wizard');
    log(`boot: Keel, power-on of the installed disk to the first wizard question: ${wizardSeconds.toFixed(1)} s`);
    const referenceSeconds = await timeBoot(dir, refDisk, MARKER, 'reference');
    log(`boot: reference (same base, no Keel), power-on to its marker: ${referenceSeconds.toFixed(1)} s`);
    return { keelSeconds, wizardSeconds, referenceSeconds, ratio: keelSeconds / referenceSeconds };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const f = await bootFigures();
  if (!f) console.log('boot: needs the disk of npm run test:e2e and an image built with the reference layer (npm run image)');
  else {
    console.log(`boot: Keel / reference = ${f.ratio.toFixed(2)} (${f.keelSeconds.toFixed(1)} s / ${f.referenceSeconds.toFixed(1)} s)`);
    console.log(`boot: first wizard question / reference = ${(f.wizardSeconds / f.referenceSeconds).toFixed(2)} (${f.wizardSeconds.toFixed(1)} s / ${f.referenceSeconds.toFixed(1)} s; goal <= 70 s)`);
  }
}
