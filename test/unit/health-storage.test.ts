import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { mdFindings, parseMdadmDetail, parseMdstat } from '../../appliance/health/md.ts';
import { parseControllerShowAll, parsePhysicalDrives, parseVirtualDrives, storcliFindings } from '../../appliance/health/storcli.ts';
import { parseSmartctl, smartFindings } from '../../appliance/health/smart.ts';
import { judgeStorage, parseFio } from '../../appliance/health/storage-test.ts';

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

test('fio JSON: IOPS, MB/s and 90th percentile, judged against the SPEC thresholds', () => {
  const r = parseFio(read('fio/randread.json'), 'read');
  const w = parseFio(read('fio/randwrite.json'), 'write');
  assert.ok(r.iops > 0 && w.iops > 0);
  assert.ok(r.p90Ms! > 0 && r.p90Ms! < 100);
  const ok = judgeStorage(r, w);
  assert.equal(ok.pass, r.iops >= 400 && r.mbps >= 3 && r.p90Ms! < 10 && w.iops >= 900 && w.mbps >= 15 && w.p90Ms! < 4);
  const slow = judgeStorage({ iops: 350, mbps: 1.4, p90Ms: 12 }, { iops: 1000, mbps: 16, p90Ms: 3 });
  assert.equal(slow.pass, false);
  assert.match(slow.findings[0].message, /350 IOPS < 400, 1.4 MB\/s < 3, 90% of operations under 12.00 ms, need < 10 ms/);
  assert.equal(slow.findings[1].severity, 'ok');
});
