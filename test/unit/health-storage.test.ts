import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { mdFindings, parseMdadmDetail, parseMdstat } from '../../appliance/health/md.ts';
import { parseControllerShowAll, parsePhysicalDrives, parseVirtualDrives, storcliFindings } from '../../appliance/health/storcli.ts';
import { parseSmartctl, smartFindings } from '../../appliance/health/smart.ts';
import crypto from 'node:crypto';
import os from 'node:os';
import { judgeStorage, parseBlockSize, percentileMs, runStorageTest, summarizeIo } from '../../appliance/health/storage-test.ts';
import { createHost } from '../../appliance/host/index.ts';
import { Disks } from '../../appliance/host/disks.ts';
import { ValidationError } from '../../appliance/errors.ts';

const FIX = path.join(import.meta.dirname, '../fixtures/health');
const read = (p: string) => fs.readFileSync(path.join(FIX, p), 'utf8');

test('mdstat: clean RAID1 and RAID10', () => {
  const a = parseMdstat(read('mdstat/clean.txt'));
  assert.deepEqual(a.map((x) => [x.name, x.level, x.state, x.map]), [['md0', 'raid1', 'clean', 'UU'], ['md1', 'raid10', 'clean', 'UUUU']]);
  assert.equal(a[1].members.length, 4);
  assert.ok(mdFindings(a).every((f) => f.severity === 'ok'));
});

test('mdstat: failed member is degraded and names the disk to replace', () => {
  const [a] = parseMdstat(read('mdstat/degraded.txt'));
  assert.equal(a.state, 'degraded');
  assert.deepEqual(a.members.find((m) => m.faulty)?.device, 'loop1');
  const [f] = mdFindings([a]);
  assert.equal(f.severity, 'warning');
  assert.equal(f.redundancyLost, true);
  assert.match(f.message, /md127 \(raid1\): degraded \[1\/2\] \[U_\]; failed member loop1: replace the disk/);
});

test('mdstat: recovery with progress, delayed and running resync, inactive array', () => {
  const a = parseMdstat(read('mdstat/recovery.txt'));
  assert.deepEqual(a.map((x) => x.state), ['rebuilding', 'resyncing', 'resyncing', 'inactive']);
  assert.deepEqual(a[0].sync, { action: 'recovery', percent: 8.6, finishMinutes: 76.4, speedKiBs: 194400 });
  assert.equal(a[1].sync?.pending, true);
  assert.equal(a[2].sync?.percent, 33.1);
  const f = mdFindings(a);
  assert.match(f[0].message, /recovery 8.6%, about 77 min left/);
  assert.equal(f[3].severity, 'critical');
});

test('mdadm --detail: state, counts, rebuild status, device table', () => {
  const d = parseMdadmDetail(read('mdstat/mdadm-detail-recovering.txt'));
  assert.equal(d.state, 'clean, degraded, recovering');
  assert.equal(d.rebuildPercent, 42);
  assert.deepEqual(d.devices.map((x) => x.state), ['active sync', 'spare rebuilding']);
  const g = parseMdadmDetail(read('mdstat/mdadm-detail-degraded.txt'));
  assert.equal(g.failedDevices, 1);
  assert.deepEqual(g.devices.map((x) => [x.device, x.state]), [['/dev/loop0', 'active sync'], ['/dev/loop1', 'faulty']]);
});

test('storcli: optimal RAID10 controller with CacheVault', () => {
  const [c] = parseControllerShowAll(read('storcli/c0-show-all-optimal.json'));
  assert.equal(c.controller.model, 'Intel(R) RAID Controller RMS3CC080');
  assert.equal(c.controller.status, 'Optimal');
  assert.deepEqual(c.controller.battery, { kind: 'CacheVault', model: 'CVM02', state: 'Optimal', temperature: '28C' });
  assert.equal(c.vds[0].raid, 'RAID10');
  assert.deepEqual(c.vds[0].cache, { readAhead: true, write: 'WB', io: 'D', raw: 'RWBD' });
  assert.equal(c.pds.length, 4);
  const f = storcliFindings(c.controller, c.vds, c.pds);
  assert.deepEqual(f.filter((x) => x.severity !== 'ok'), []);
});

test('storcli: degraded VD, rebuilding drive, failed CacheVault forcing write-through, drive predicted to fail', () => {
  const [c] = parseControllerShowAll(read('storcli/c0-show-all-degraded.json'));
  const vds = parseVirtualDrives(read('storcli/c0-vall-show-all.json'));
  const pds = parsePhysicalDrives(read('storcli/c0-eall-sall-show-all.json'));
  assert.deepEqual(vds[0].drives, ['252:0', '252:1', '252:2', '252:3']);
  assert.equal(vds[0].writeCacheSetting, 'WriteBack');
  assert.equal(vds[0].osDrive, '/dev/sda');
  assert.equal(pds[1].predictiveFailures, 3);
  assert.equal(pds[1].smartAlert, true);
  assert.equal(pds[1].serial, '0SV4K1A1');
  assert.equal(pds[3].temperatureC, 34);
  const f = new Map(storcliFindings(c.controller, vds, pds).map((x) => [x.key, x]));
  assert.equal(f.get('raid.c0.controller')?.severity, 'warning');
  assert.equal(f.get('raid.c0.vd0')?.severity, 'warning');
  assert.match(f.get('raid.c0.vd0')!.message, /degraded/);
  assert.match(f.get('raid.c0.vd0.cache')!.message, /fell back to write-through/);
  assert.equal(f.get('raid.c0.pd252-3')?.severity, 'warning');
  assert.match(f.get('raid.c0.pd252-3')!.message, /rebuilding/);
  assert.match(f.get('raid.c0.pd252-1')!.message, /predicted to fail/);
  assert.equal(f.get('raid.c0.battery')?.severity, 'critical');
});

test('smartctl: ATA SSD ok, failing HDD, worn NVMe, SAS SSD', () => {
  const ssd = parseSmartctl(read('smartctl/ata-ssd-ok.json'));
  assert.deepEqual([ssd.passed, ssd.percentUsed, ssd.reallocatedSectors, ssd.temperatureC, ssd.powerOnHours], [true, 4, 0, 31, 14021]);
  assert.equal(smartFindings(ssd)[0].severity, 'ok');
  const hdd = parseSmartctl(read('smartctl/ata-hdd-failing.json'));
  assert.equal(hdd.passed, false);
  const [hf] = smartFindings(hdd);
  assert.equal(hf.severity, 'critical');
  assert.match(hf.message, /SMART overall health FAILED: replace the disk; 3912 reallocated sectors; 24 sectors pending/);
  const nvme = parseSmartctl(read('smartctl/nvme-worn.json'));
  assert.equal(nvme.percentUsed, 93);
  assert.equal(smartFindings(nvme)[0].severity, 'warning');
  assert.match(smartFindings(nvme)[0].message, /93% of rated endurance used/);
  const sas = parseSmartctl(read('smartctl/sas-ssd-ok.json'));
  assert.deepEqual([sas.model, sas.percentUsed, sas.reallocatedSectors, sas.temperatureC], ['HGST HUSMM1696ASS205', 4, 0, 32]);
});

test('storage test numbers: 90th percentile from the latency histogram, IOPS and MB/s per second of run', () => {
  // 90 fast operations and 10 slow ones: the 90th is the last fast one, the 91st the first slow one.
  const lat = [{ lowNs: 1000, highNs: 1100, count: 90 }, { lowNs: 5_000_000, highNs: 5_100_000, count: 10 }];
  assert.equal(percentileMs(lat, 90), 0.00105);
  assert.equal(percentileMs(lat, 91), 5.05);
  assert.equal(percentileMs(lat, 100), 5.05);
  const ten = Array.from({ length: 10 }, (_, i) => ({ lowNs: (i + 1) * 1e6, highNs: (i + 1) * 1e6 + 2, count: 1 }));
  assert.equal(percentileMs(ten, 90), 9.000001);
  assert.equal(percentileMs([], 90), null);
  const r = summarizeIo({ mode: 'read', ops: 5000, bytes: 5000 * 4096, elapsedNs: 2e9, direct: true, latency: lat });
  assert.deepEqual(r, { iops: 2500, mbps: (5000 * 4096) / 2 / 1e6, p90Ms: 0.00105, direct: true });
  assert.equal(parseBlockSize('4k'), 4096);
  assert.equal(parseBlockSize('64K'), 65536);
  assert.equal(parseBlockSize('1m'), 1 << 20);
  assert.equal(parseBlockSize('512'), 512);
  for (const bad of ['4x', '100', '', '0k']) assert.throws(() => parseBlockSize(bad), (e: unknown) => e instanceof ValidationError && e.problems[0].field === 'blockSize', bad);
});

test('storage test judged against the SPEC thresholds; buffered I/O is said', () => {
  const fast = { iops: 9000, mbps: 36.9, p90Ms: 0.5 };
  assert.equal(judgeStorage(fast, fast).pass, true);
  const slow = judgeStorage({ iops: 350, mbps: 1.4, p90Ms: 12 }, { iops: 1000, mbps: 16, p90Ms: 3 });
  assert.equal(slow.pass, false);
  assert.match(slow.findings[0].message, /350 IOPS < 400, 1.4 MB\/s < 3, 90% of operations under 12.00 ms, need < 10 ms/);
  assert.equal(slow.findings[1].severity, 'ok');
  assert.equal(judgeStorage({ ...fast, p90Ms: null }, fast).findings[0].severity, 'warning');
  const buffered = judgeStorage({ ...fast, direct: false }, { ...fast, direct: false });
  assert.match(buffered.findings[0].message, /buffered I\/O \(the file system refused O_DIRECT: reads may have come from memory\)/);
  assert.doesNotMatch(judgeStorage(fast, fast).findings[0].message, /buffered/);
});

test('storage test: bad requests name the field; a sandbox does not load the real disk', async () => {
  const real = new Disks(createHost('/'));
  const io = { file: '/var/tmp/keel-never-created', sizeBytes: 1 << 20, blockSize: 4096, depth: 8, seconds: 1, mode: 'read' as const };
  for (const [bad, field] of [[{ blockSize: 1000 }, 'blockSize'], [{ depth: 0 }, 'depth'], [{ seconds: 0 }, 'seconds'], [{ sizeBytes: 100 }, 'sizeBytes'], [{ file: 'rel/x' }, 'file']] as const) {
    await assert.rejects(real.randomIo({ ...io, ...bad }), (e: unknown) => e instanceof ValidationError && e.problems.some((p) => p.field === field), field);
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-sandbox-'));
  try {
    await assert.rejects(runStorageTest(createHost(root), { runtimeSeconds: 1, sizeMB: 16 }), /sandbox .* does not run it/);
    assert.deepEqual(fs.readdirSync(root), [], 'nothing written in the sandbox');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  assert.equal(fs.existsSync(io.file), false);
});

/** A folder on a disk-backed file system: tmpfs would measure memory. */
function diskDir(): string | null {
  const TMPFS = 0x01021994;
  for (const d of ['/var/tmp', os.tmpdir(), path.join(import.meta.dirname, '../..')]) {
    try {
      if (fs.statfsSync(d).type !== TMPFS) return d;
    } catch {
      // absent: try the next
    }
  }
  return null;
}

const DISK = diskDir();
test('storage test: the built-in tester reads and writes a real file, with consistent numbers', async (t) => {
  const skipped = DISK ? false : 'no disk-backed folder (/var/tmp, the temp folder and the checkout are tmpfs)';
  if (skipped) return t.skip(skipped);
  const dir = fs.mkdtempSync(path.join(DISK!, 'keel-randio-'));
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  const file = path.join(dir, 'io.bin');
  const disks = new Disks(createHost('/'));
  const io = { file, sizeBytes: 16 << 20, blockSize: 4096, depth: 4, seconds: 1 };
  const sha = () => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const check = (r: Awaited<ReturnType<Disks['randomIo']>>) => {
    const n = r.latency.reduce((a, b) => a + b.count, 0);
    assert.ok(r.ops > 0, 'operations done');
    assert.equal(n, r.ops, 'every operation timed once');
    assert.equal(r.bytes, r.ops * io.blockSize);
    assert.ok(r.elapsedNs >= 1e9 && r.elapsedNs < 3e9, `ran about the asked second (${r.elapsedNs / 1e9} s)`);
    // Each worker's operations are disjoint intervals within the run: their latencies add up to at most depth × elapsed.
    const busyNs = r.latency.reduce((a, b) => a + b.count * b.lowNs, 0);
    assert.ok(busyNs <= io.depth * r.elapsedNs, `latency sum ${busyNs} ns fits in ${io.depth} x ${r.elapsedNs} ns`);
    assert.ok(busyNs >= 0.05 * io.depth * r.elapsedNs, 'the workers spent their time in I/O, not elsewhere');
    const s = summarizeIo(r);
    assert.ok(Math.abs(s.iops - r.ops / (r.elapsedNs / 1e9)) < 1e-6 && Math.abs(s.iops - r.ops) / r.ops < 0.5, `IOPS ${s.iops} ≈ ${r.ops} ops in about 1 s`);
    assert.ok(s.p90Ms !== null && s.p90Ms > 0 && s.p90Ms < 1000, `p90 ${s.p90Ms} ms`);
    assert.equal(r.direct, true, 'O_DIRECT on a disk-backed file system');
    return s;
  };
  const read = check(await disks.randomIo({ ...io, mode: 'read' }));
  assert.equal(fs.statSync(file).size, io.sizeBytes, 'laid out in full');
  const head = fs.readFileSync(file).subarray(0, 65536);
  assert.ok(head.some((b) => b !== 0), 'laid out with data, not zeros');
  const before = sha();
  const write = check(await disks.randomIo({ ...io, mode: 'write' }));
  assert.notEqual(sha(), before, 'the writes reached the file');
  console.log(`built-in tester, 4 KiB, depth ${io.depth}: read ${read.iops.toFixed(0)} IOPS p90 ${read.p90Ms!.toFixed(3)} ms; write ${write.iops.toFixed(0)} IOPS p90 ${write.p90Ms!.toFixed(3)} ms`);
});
