import { test } from 'vitest';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { HealthStore } from '../../appliance/health/monitor.ts';
import { wanted } from '../../appliance/health/channels.ts';
import { renderMetrics } from '../../appliance/health/metrics.ts';
import { parseMdstat } from '../../appliance/health/md.ts';
import type { HealthSnapshot } from '../../appliance/health/snapshot.ts';
import type { Finding, Severity } from '../../appliance/health/types.ts';

const f = (key: string, severity: Severity): Finding => ({ key, category: 'fan', severity, subject: key, message: `${key} ${severity}` });

test('store: raise once, change, clear; unknown neither raises nor clears; vanished parts clear', () => {
  const s = new HealthStore(new Database(':memory:'));
  assert.deepEqual(s.record([f('a', 'ok')], 1).map((n) => n.kind), []);
  assert.deepEqual(s.record([f('a', 'warning')], 2).map((n) => n.kind), ['raised']);
  assert.deepEqual(s.record([f('a', 'warning')], 3), []);
  assert.deepEqual(s.record([f('a', 'critical')], 4).map((n) => [n.kind, n.previous]), [['changed', 'warning']]);
  assert.deepEqual(s.record([f('a', 'unknown')], 5), []);
  assert.equal(s.alerts().length, 1);
  assert.deepEqual(s.record([f('a', 'ok')], 6).map((n) => [n.kind, n.previous]), [['cleared', 'critical']]);
  assert.deepEqual(s.history(10).map((h) => h.severity), ['ok', 'unknown', 'critical', 'warning', 'ok']);
  s.record([f('md.md0', 'warning')], 7);
  assert.deepEqual(s.record([], 8, ['md.']).map((n) => n.kind), ['cleared']);
});

test('subscriptions: critical only gets critical raises and their clearing', () => {
  const n = (kind: 'raised' | 'cleared' | 'event', severity: Severity, previous: Severity | null = null) => ({ kind, key: 'k', subject: 'k', severity, previous, message: '', at: 0 });
  assert.equal(wanted('critical', n('raised', 'warning')), false);
  assert.equal(wanted('critical', n('raised', 'critical')), true);
  assert.equal(wanted('critical', n('cleared', 'ok', 'warning')), false);
  assert.equal(wanted('critical', n('cleared', 'ok', 'critical')), true);
  assert.equal(wanted('all', n('cleared', 'ok', 'warning')), true);
});

test('retention: history pruned by age and by count', () => {
  const s = new HealthStore(new Database(':memory:'));
  for (let i = 0; i < 50; i++) s.record([f('a', i % 2 ? 'warning' : 'ok')], i * 86400_000);
  assert.equal(s.history(1000).length, 50);
  s.prune(50 * 86400_000, 30, 1000);
  assert.equal(s.history(1000).length, 30);
  s.prune(50 * 86400_000, 30, 10);
  assert.equal(s.history(1000).length, 10);
});

test('metrics: node_exporter names for md and NICs', () => {
  const md = parseMdstat('md0 : active raid1 sdb1[1](F) sda1[0]\n      523264 blocks super 1.2 [2/1] [U_]\n');
  const snap = { overall: 'warning', md, nics: [{ name: 'GigabitEthernet1', ifname: 'ens3', operstate: 'up', carrier: true, speedMbps: 1000, carrierChanges: 2, rxErrors: 0, txErrors: 0, rxDropped: 1, txDropped: 0 }], ipmi: null, disks: [], raid: [], findings: [{ key: 'md.md0', category: 'raid', severity: 'warning', subject: 'md0', message: '' }], durations: { md: 1.5 } } as unknown as HealthSnapshot;
  const t = renderMetrics(snap);
  assert.match(t, /^node_md_disks\{device="md0",state="failed"\} 1$/m);
  assert.match(t, /^node_md_disks_required\{device="md0"\} 2$/m);
  assert.match(t, /^node_network_speed_bytes\{device="ens3",name="GigabitEthernet1"\} 125000000$/m);
  assert.match(t, /^keel_health_overall 2$/m);
  assert.equal(t.match(/^# TYPE node_md_disks gauge$/gm)?.length, 1);
});
