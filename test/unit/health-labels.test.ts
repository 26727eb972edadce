import { test } from 'vitest';
import assert from 'node:assert/strict';
import { healthKeyLabel } from '../../appliance/health/labels.ts';

test('health keys in words: links, RAID, disks, sensors, platform; an unknown shape stays the key', () => {
  const cases: [string, string][] = [
    ['nic.GigabitEthernet1.link', 'Link on GigabitEthernet1'],
    ['nic.GigabitEthernet2.flapping', 'Link stability on GigabitEthernet2'],
    ['nic.GigabitEthernet1.errors', 'Errors on GigabitEthernet1'],
    ['nic.GigabitEthernet1.drops', 'Dropped packets on GigabitEthernet1'],
    ['md.md0', 'Software RAID md0'],
    ['raid.c0.vd1', 'Virtual drive 1 (controller 0)'],
    ['raid.c0.vd1.cache', 'Cache of virtual drive 1 (controller 0)'],
    ['raid.c0.pd252-3', 'Drive in slot 252:3 (controller 0)'],
    ['raid.c0.battery', 'RAID battery (controller 0)'],
    ['disk.sda', 'Disk sda'],
    ['ipmi.sensor.CPU Temp', 'CPU Temp'],
    ['ipmi.chassis.power-fault', 'Chassis power fault'],
    ['platform.psus', 'Power supplies'],
    ['platform.nic-drivers', 'Network adapter types'],
    ['storage.random-read', 'Storage test: random reads'],
    ['something.new', 'something.new'],
  ];
  assert.deepEqual(cases.map(([k]) => [k, healthKeyLabel(k)]), cases);
});
