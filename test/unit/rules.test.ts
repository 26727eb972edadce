import { test } from 'vitest';
import assert from 'node:assert/strict';
import * as r from '../../appliance/config/rules.ts';

test('ipv4 names the octet over 255', () => {
  assert.equal(r.ipv4('192.0.2.10'), null);
  assert.match(r.ipv4('192.0.2.256')!, /256 is over 255/);
  assert.match(r.ipv4('192.0.2')!, /dotted/);
  assert.match(r.ipv4('01.2.3.4')!, /dotted/);
  assert.match(r.ipv4('a.b.c.d')!, /dotted/);
});

test('netmask must be contiguous', () => {
  for (const m of ['255.255.255.0', '255.255.0.0', '255.255.255.252', '255.255.255.255', '128.0.0.0']) assert.equal(r.netmask(m), null, m);
  assert.match(r.netmask('255.0.255.0')!, /contiguous/);
  assert.match(r.netmask('255.255.255.1')!, /contiguous/);
  assert.match(r.netmask('0.0.0.0')!, /0\.0\.0\.0/);
  assert.match(r.netmask('255.255.300.0')!, /over 255/);
  assert.equal(r.prefixLength('255.255.255.0'), 24);
  assert.equal(r.prefixLength('255.255.240.0'), 20);
});

test('gateway must be inside the subnet of the address', () => {
  assert.equal(r.gatewayInSubnet('192.0.2.1', '192.0.2.10', '255.255.255.0'), null);
  assert.match(r.gatewayInSubnet('198.51.100.1', '192.0.2.10', '255.255.255.0')!, /inside the subnet 192\.0\.2\.0\/24/);
  assert.match(r.gatewayInSubnet('192.0.2.10', '192.0.2.10', '255.255.255.0')!, /not be the interface address/);
  assert.match(r.gatewayInSubnet('192.0.2.255', '192.0.2.10', '255.255.255.0')!, /host address/);
  assert.match(r.addressInSubnet('192.0.2.0', '255.255.255.0')!, /network address/);
});

test('host addresses exclude loopback and multicast', () => {
  assert.equal(r.hostAddress('10.1.2.3'), null);
  assert.match(r.hostAddress('127.0.0.5')!, /loopback/);
  assert.match(r.hostAddress('224.0.0.1')!, /multicast/);
});

test('fqdn: fully qualified, valid characters, external', () => {
  assert.equal(r.fqdn('core.example.com'), null);
  assert.equal(r.fqdn('mdm-1.corp.example.co.uk'), null);
  assert.match(r.fqdn('core')!, /fully qualified/);
  assert.match(r.fqdn('core_1.example.com')!, /letters, digits and hyphens/);
  assert.match(r.fqdn('-core.example.com')!, /letters, digits and hyphens/);
  assert.match(r.fqdn('core.local')!, /internal domain/);
  assert.match(r.fqdn('1.2.3.4')!, /top-level domain/);
});

test('user names: root and ha_admin are reserved', () => {
  assert.equal(r.userName('admin'), null);
  assert.match(r.userName('root')!, /reserved/);
  assert.match(r.userName('ha_admin')!, /reserved/);
  assert.match(r.userName('Root')!, /reserved/);
  assert.match(r.userName('1admin')!, /start with a letter/);
});

test('enable secret is 6-20 letters and digits', () => {
  assert.equal(r.enableSecret('abc123'), null);
  assert.match(r.enableSecret('abc12')!, /6-20 characters \(this one has 5\)/);
  assert.match(r.enableSecret('a'.repeat(21))!, /this one has 21/);
  assert.match(r.enableSecret('abc 123')!, /letters and digits/);
});

test('password policy of the seed', () => {
  assert.equal(r.password('Secret123', 'admin'), null);
  assert.match(r.password('Sec1', 'admin')!, /at least 8/);
  assert.match(r.password('Secretxyz', 'admin')!, /digit/);
  assert.match(r.password('12345678', 'admin')!, /letter/);
  assert.match(r.password('secret123', 'admin')!, /capital/);
  assert.match(r.password('Seccccret1', 'admin')!, /more than 3 times in a row/);
  assert.equal(r.password('Secccret1', 'admin'), null);
  assert.match(r.password('Admin1234', 'admin1234')!, /same as the user name/);
  assert.match(r.password('Sécret123', 'admin')!, /ASCII/);
  assert.equal(r.password('Sécret123', 'admin', r.DEFAULT_PASSWORD_POLICY, false), null);
});
