/**
 * Offline edits of a powered-off guest disk's slot partitions (ext4): the update test flips a
 * byte in a slot file, the boot bench swaps Keel's layer for the reference layer. The qcow2 is
 * flattened to raw, the partition found by its GPT name and attached to a loop device at its
 * offset, then the disk is converted back.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { parseGrubenv, renderGrubenv } from '../../appliance/update/grub.ts';

/** Runs a host tool; its stdout, or an error with its stderr. */
export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export interface Partition {
  /** Byte offset of the partition in the raw disk. */
  offset: number;
  size: number;
}

/** `disk` (qcow2) as raw while `edit` runs; written back to qcow2 afterwards when `write`. */
export function withRawDisk<T>(disk: string, edit: (raw: string, partition: (name: string) => Partition | null) => T, write = true): T {
  const raw = `${disk}.raw`;
  run('qemu-img', ['convert', '-O', 'raw', disk, raw]);
  try {
    const table = JSON.parse(run('sfdisk', ['-J', raw])).partitiontable as { sectorsize?: number; partitions: { name?: string; start: number; size: number }[] };
    const sector = table.sectorsize ?? 512;
    const partition = (name: string) => {
      const p = table.partitions.find((x) => x.name === name);
      return p ? { offset: p.start * sector, size: p.size * sector } : null;
    };
    const out = edit(raw, partition);
    if (write) run('qemu-img', ['convert', '-O', 'qcow2', raw, disk]);
    return out;
  } finally {
    fs.rmSync(raw, { force: true });
  }
}

/** `fn` with a loop device on one partition of a raw disk (read-only unless `rw`). */
export function withLoop<T>(raw: string, p: Partition, rw: boolean, fn: (dev: string) => T): T {
  const dev = run('losetup', ['--find', '--show', ...(rw ? [] : ['--read-only']), '--offset', String(p.offset), '--sizelimit', String(p.size), raw]).trim();
  try {
    return fn(dev);
  } finally {
    spawnSync('losetup', ['-d', dev]);
  }
}

/**
 * The GRUB environment block at `file` on the first member ESP (partition KEEL-ESP) of a
 * powered-off disk, read with mtools; with `set`, those variables are written first.
 */
export function espGrubenv(disk: string, file: string, set?: Record<string, string>): Record<string, string> {
  return withRawDisk(
    disk,
    (raw, partition) => {
      const esp = partition('KEEL-ESP');
      if (!esp) throw new Error(`${disk} has no KEEL-ESP partition`);
      const image = `${raw}@@${esp.offset}`;
      const tmp = `${disk}.grubenv`;
      try {
        run('mcopy', ['-n', '-i', image, `::${file}`, tmp]);
        if (set) {
          fs.writeFileSync(tmp, renderGrubenv({ ...parseGrubenv(fs.readFileSync(tmp, 'utf8')), ...set }));
          run('mcopy', ['-o', '-i', image, tmp, `::${file}`]);
        }
        return parseGrubenv(fs.readFileSync(tmp, 'utf8'));
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    },
    Boolean(set),
  );
}
