import { test } from 'vitest';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import { parseMdstat } from '../../appliance/health/md.ts';
import { listBlockDevices, type BlockDevice } from '../../installer/disks.ts';
import { planInstall, type Mode } from '../../installer/plan.ts';
import { runStorageSteps, volumesOf } from '../../installer/steps.ts';
import type { InstallFacts } from '../../installer/facts.ts';

/**
 * The installer's real disk steps (partition, mdadm --create, mkfs) on loop devices, through the
 * real processes adapter. Loop devices stand in for disks: the planner sees them as bare disks.
 * Everything is torn down afterwards, also when an assertion fails.
 */

const mdSupported = fs.existsSync('/proc/mdstat');
const GiB = 2 ** 30;

/** Sparse image files attached as loop devices; `cleanup` detaches and removes them. */
function loops(n: number, size: number): { devs: string[]; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'keel-inst-'));
  const devs: string[] = [];
  const cleanup = () => {
    for (const d of devs) {
      try {
        execFileSync('losetup', ['-d', d], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < n; i++) {
      const img = path.join(dir, `disk${i}.img`);
      fs.writeFileSync(img, Buffer.alloc(0));
      fs.truncateSync(img, size);
      devs.push(execFileSync('losetup', ['-f', '--show', '-P', img]).toString().trim());
    }
  } catch (e) {
    cleanup();
    throw e;
  }
  return { devs, cleanup };
}

/** The loop devices as the planner's bare disks (a loop device is never a candidate otherwise). */
async function factsFor(devs: string[]): Promise<InstallFacts> {
  const all = await listBlockDevices(createHost('/'));
  const disks: BlockDevice[] = devs.map((p) => {
    const d = all.find((x) => x.path === p);
    assert.ok(d, `lsblk lists ${p}`);
    return { ...d, type: 'disk', name: `keeltest-${d.name}` };
  });
  return { devices: disks, scsiHosts: {}, raidVds: [], platform: null as never, machine: null as never };
}

const quiet = async (_name: string, fn: () => Promise<void>) => fn();

function labels(dev: string): Record<string, string> {
  const out = execFileSync('lsblk', ['--json', '-o', 'PATH,LABEL,FSTYPE', dev]).toString();
  const flat = (d: { path: string; label: string | null; fstype: string | null; children?: unknown[] }): [string, string][] => [[d.path, `${d.fstype ?? ''}:${d.label ?? ''}`], ...((d.children ?? []) as never[]).flatMap(flat)];
  return Object.fromEntries((JSON.parse(out).blockdevices as never[]).flatMap(flat));
}

const blkid = (dev: string, tag: string): string => execFileSync('blkid', ['-p', '-s', tag, '-o', 'value', dev]).toString().trim();

test('single-disk layout on a loop device: wipe, GPT, six partitions, file systems with their labels', async (t) => {
  const { devs, cleanup } = loops(1, 7 * GiB);
  t.onTestFinished(cleanup);
  const facts = await factsFor(devs);
  const r = planInstall('vm-install' as Mode, facts, { wipe: false });
  assert.ok(r.plan, r.checks.map((c) => c.message).join('\n'));
  const host = createHost('/');
  const ran: string[] = [];
  await runStorageSteps(host, r.plan, quiet, (c) => void ran.push(c.cmd));
  assert.deepEqual([...new Set(ran)], ['wipefs', 'sfdisk', 'partx', 'udevadm', 'mkfs.vfat', 'mkfs.ext4']);
  const v = volumesOf(r.plan.target);
  assert.equal(blkid(v.esps[0], 'LABEL'), 'KEEL-ESP');
  assert.equal(blkid(v.boot, 'LABEL'), 'KEEL-BOOT');
  assert.equal(blkid(v.slotA, 'LABEL'), 'KEEL-A');
  assert.equal(blkid(v.slotB, 'LABEL'), 'KEEL-B');
  assert.equal(blkid(v.data, 'LABEL'), 'KEEL-DATA');
  assert.equal(blkid(devs[0], 'PTTYPE'), 'gpt');
  // The disk is not empty now: a second plan without wipe refuses it, naming six partitions.
  const again = planInstall('vm-install', await factsFor(devs), { wipe: false });
  assert.equal(again.plan, null);
  // Without udev (containers) lsblk cannot name the table type; on the live ISO it says "gpt".
  assert.match(again.checks[0].message, new RegExp(`^disk ${devs[0]} is not empty: it has a (gpt|partition) table with 6 partitions`));
});

test('md RAID1 on two loop devices: member partitions, mdadm --create, the GPT layout inside the array', async (t) => {
  const skipped = mdSupported ? false : 'kernel has no md support here (/proc/mdstat absent); run in a VM';
  if (skipped) return t.skip(skipped);
  const { devs, cleanup } = loops(2, 4 * GiB);
  let md: string | null = null;
  t.onTestFinished(() => {
    if (md) {
      try {
        execFileSync('mdadm', ['--stop', md], { stdio: 'ignore' });
      } catch {
        /* not running */
      }
      for (const d of devs) {
        try {
          execFileSync('mdadm', ['--zero-superblock', `${d}p3`], { stdio: 'ignore' });
        } catch {
          /* no superblock */
        }
      }
    }
    cleanup();
  });
  const facts = await factsFor(devs);
  // Loop devices are smaller than Keel's minimum disk; the rules are the hardware ones all the same.
  for (const d of facts.devices) d.size = Math.max(d.size, 7 * GiB);
  const r = planInstall('hw-install', facts, { wipe: false });
  assert.ok(r.plan, r.checks.map((c) => c.message).join('\n'));
  const target = r.plan.target;
  assert.equal(target.kind, 'md');
  if (target.kind !== 'md') return;
  assert.equal(target.level, 'raid1');
  // The planner picked the first md number free among the devices it saw; this machine may run others.
  const busy = new Set(parseMdstat(fs.readFileSync('/proc/mdstat', 'utf8')).map((a) => a.name));
  let n = 100;
  while (busy.has(`md${n}`) || fs.existsSync(`/dev/md${n}`)) n++;
  target.device = `/dev/md${n}`;
  md = target.device;
  const host = createHost('/');
  await runStorageSteps(host, r.plan, quiet, (c) => {
    // The initial mirror sync would fill the sparse images: let it wait (this array only).
    if (c.cmd === 'sfdisk' && c.args.at(-1) === md) fs.writeFileSync(`/sys/block/md${n}/md/sync_action`, 'frozen\n');
  });
  const arrays = parseMdstat(fs.readFileSync('/proc/mdstat', 'utf8'));
  const a = arrays.find((x) => x.name === `md${n}`);
  assert.ok(a, `/proc/mdstat shows md${n}:\n${fs.readFileSync('/proc/mdstat', 'utf8')}`);
  assert.equal(a.level, 'raid1');
  assert.equal(a.raidDisks, 2);
  assert.deepEqual(a.members.map((m) => `/dev/${m.device}`).sort(), devs.map((d) => `${d}p3`).sort());
  const detail = execFileSync('mdadm', ['--detail', md]).toString();
  assert.match(detail, /Name : (any:)?keel\b/);
  const v = volumesOf(target);
  assert.deepEqual(v.biosDisks, devs);
  const l = { ...labels(devs[0]), ...labels(devs[1]), ...labels(md) };
  for (const d of devs) assert.equal(l[`${d}p2`], 'vfat:KEEL-ESP', `${d} has its own ESP`);
  for (const d of devs) assert.equal(l[`${d}p3`]?.split(':')[0], 'linux_raid_member');
  assert.equal(blkid(md, 'PTTYPE'), 'gpt');
  assert.equal(blkid(v.boot, 'LABEL'), 'KEEL-BOOT');
  assert.equal(blkid(v.slotA, 'LABEL'), 'KEEL-A');
  assert.equal(blkid(v.slotB, 'LABEL'), 'KEEL-B');
  assert.equal(blkid(v.data, 'LABEL'), 'KEEL-DATA');
  assert.deepEqual([v.boot, v.slotA, v.slotB, v.data], [1, 2, 3, 4].map((p) => `${md}p${p}`));
});
