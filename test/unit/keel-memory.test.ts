/**
 * All of Keel's processes together (issue 15): the services' control groups read from a cgroup v2
 * tree laid out as systemd makes it, with memory.stat as the kernel writes it.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCgroupResident, readKeelMemory } from '../../appliance/host/resources.ts';

const MiB = 2 ** 20;
/** memory.stat of a cgroup: the fields the kernel writes, most of them not resident memory. */
const stat = (anon: number, mapped: number, file: number) => `anon ${anon}\nfile ${file}\nkernel 524288\nkernel_stack 98304\nsock 0\nshmem 0\nfile_mapped ${mapped}\nfile_dirty 0\nslab 400000\ninactive_file ${file}\n`;

test('a control group is resident as its anonymous memory plus its mapped files (page cache and kernel memory not)', () => {
  assert.equal(parseCgroupResident(stat(50 * MiB, 30 * MiB, 900 * MiB)), 80 * MiB);
  assert.equal(parseCgroupResident('anon 10\nshmem 5\nfile_mapped 0\n'), 15);
  assert.equal(parseCgroupResident(''), 0);
});

test("Keel's services are summed from system.slice and the consoles' template slice; other units are not", () => {
  const sys = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-cg-'));
  try {
    const slice = path.join(sys, 'fs/cgroup/system.slice');
    const unit = (dir: string, s: string) => {
      fs.mkdirSync(path.join(slice, dir), { recursive: true });
      fs.writeFileSync(path.join(slice, dir, 'memory.stat'), s);
    };
    fs.writeFileSync((fs.mkdirSync(slice, { recursive: true }), path.join(slice, 'cgroup.procs')), '');
    unit('keel-serve.service', stat(70 * MiB, 40 * MiB, 200 * MiB));
    unit('keel-applier.service', stat(20 * MiB, 2 * MiB, 5 * MiB));
    unit('system-keel\\x2dconsole.slice/keel-console@ttyS0.service', stat(25 * MiB, 1 * MiB, 0));
    unit('system-keel\\x2dconsole.slice/keel-console@tty1.service', stat(24 * MiB, 1 * MiB, 0));
    unit('chrony.service', stat(3 * MiB, 1 * MiB, 0));
    unit('system-getty.slice/getty@tty2.service', stat(1 * MiB, 1 * MiB, 0));
    const m = readKeelMemory(sys)!;
    assert.deepEqual(Object.keys(m.units).sort(), ['keel-applier.service', 'keel-console@tty1.service', 'keel-console@ttyS0.service', 'keel-serve.service']);
    assert.equal(m.units['keel-serve.service'], 110 * MiB);
    assert.equal(m.totalBytes, (110 + 22 + 26 + 25) * MiB);
  } finally {
    fs.rmSync(sys, { recursive: true, force: true });
  }
});

test('no unified control group hierarchy (a sandbox): nothing to report', () => {
  const sys = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-cg-'));
  try {
    assert.equal(readKeelMemory(sys), null);
  } finally {
    fs.rmSync(sys, { recursive: true, force: true });
  }
});
