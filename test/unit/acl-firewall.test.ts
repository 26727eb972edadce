import { test } from 'vitest';
import assert from 'node:assert/strict';
import { render, componentPorts } from '../../appliance/firewall/render.ts';
import { aclEntry, allowList, selfLockout, aclRisk, clientIpv4 } from '../../appliance/acl/schema.ts';
import { check, type Config } from '../../appliance/config/schema.ts';
import { sampleConfig } from '../helpers/config.ts';

const facts = { nics: [] };
const rulesOf = (c: Config) => {
  const text = render(c, facts).files[0].content as string;
  return text.split('\n').filter((l) => /dport/.test(l)).map((l) => l.trim());
};

test('without an ACL the ruleset is the same as before: System Manager from anyone, SSH only when on', () => {
  const c = sampleConfig();
  assert.deepEqual(rulesOf(c), ['tcp dport 8443 ct state new accept comment "System Manager"']);
  c.ssh = { enabled: true, port: 2222 };
  assert.deepEqual(rulesOf(c), ['tcp dport 8443 ct state new accept comment "System Manager"', 'tcp dport 2222 ct state new accept comment "SSH CLI"']);
  const text = render(c, facts).files[0].content as string;
  assert.match(text, /policy drop;\n    iif "lo" accept\n/, 'default drop, loopback first');
});

test('ACL lists narrow each component to its sources, on its configured port', () => {
  const c = sampleConfig({ webui: { port: 9443 }, ssh: { enabled: true, port: 2200 }, ports: { provisioning: 443 } });
  c.acl = { systemManager: ['192.0.2.0/24', '198.51.100.7'], ssh: ['203.0.113.0/25'], provisioning: [] };
  assert.deepEqual(rulesOf(c), [
    'ip saddr { 192.0.2.0/24, 198.51.100.7 } tcp dport 9443 ct state new accept comment "System Manager"',
    'ip saddr { 203.0.113.0/25 } tcp dport 2200 ct state new accept comment "SSH CLI"',
    'tcp dport 443 ct state new accept comment "Provisioning"',
  ]);
  c.acl.provisioning = ['10.0.0.0/8'];
  c.ports = { provisioning: 8080 };
  assert.equal(rulesOf(c)[2], 'ip saddr { 10.0.0.0/8 } tcp dport 8080 ct state new accept comment "Provisioning"');
  // SSH off: no SSH rule at all, whatever its ACL says.
  c.ssh.enabled = false;
  assert.ok(!rulesOf(c).some((l) => /SSH/.test(l)));
  assert.deepEqual(componentPorts(c), { systemManager: 9443, ssh: null, provisioning: 8080 });
  // The renderer keeps its nft -c check.
  assert.deepEqual(render(c, facts).check!('/x'), ['nft', '-c', '-f', '/x']);
});

test('ACL entries: addresses and networks with host bits zero; problems name the field', () => {
  for (const ok of ['192.0.2.5', '192.0.2.0/24', '10.0.0.0/8', '192.0.2.5/32']) assert.equal(aclEntry(ok), null, ok);
  assert.match(aclEntry('192.0.2.5/24')!, /host bits set; the network is 192\.0\.2\.0\/24/);
  assert.match(aclEntry('192.0.2.0/33')!, /0-32/);
  assert.match(aclEntry('0.0.0.0/0')!, /leave the list empty/);
  assert.match(aclEntry('300.1.1.1')!, /0-255/);
  assert.match(aclEntry('host.example.com')!, /IPv4 address or network/);
  const c = sampleConfig();
  c.acl = { systemManager: ['192.0.2.5/24'], ssh: [], provisioning: ['x'] };
  const p = check(c);
  assert.deepEqual(p.map((x) => [x.field, x.rule]), [['/acl/systemManager/0', 'acl-entry'], ['/acl/provisioning/0', 'acl-entry']]);
  // A configuration without an acl section stays valid (stored configurations from before).
  assert.deepEqual(check(sampleConfig()), []);
});

test('allow-lists: empty allows anyone; loopback always; IPv4-mapped IPv6 counts as IPv4; other IPv6 refused', () => {
  assert.equal(allowList([])('203.0.113.9'), true);
  const a = allowList(['192.0.2.0/24', '198.51.100.7']);
  assert.equal(a('192.0.2.200'), true);
  assert.equal(a('192.0.3.1'), false);
  assert.equal(a('198.51.100.7'), true);
  assert.equal(a('198.51.100.8'), false);
  assert.equal(a('::ffff:192.0.2.9'), true);
  assert.equal(a('127.0.0.1'), true);
  assert.equal(a('::1'), true);
  assert.equal(a('2001:db8::1'), false);
  assert.equal(clientIpv4('::FFFF:192.0.2.1'), '192.0.2.1');
});

test('self-lockout and risk are judged from the change source', () => {
  const prev = sampleConfig();
  const next = sampleConfig();
  next.acl = { systemManager: ['192.0.2.0/24'], ssh: [], provisioning: [] };
  assert.equal(selfLockout(next, 'webui:192.0.2.77'), null);
  const p = selfLockout(next, 'api:198.51.100.4');
  assert.equal(p?.field, '/acl/systemManager');
  assert.equal(p?.rule, 'self-lockout');
  assert.match(p!.message, /198\.51\.100\.4/);
  assert.equal(selfLockout(next, 'ssh:198.51.100.4'), null, 'SSH users are judged by the SSH list');
  assert.equal(selfLockout(next, 'cli:ttyS0'), null, 'the console is never restricted');
  assert.match(aclRisk(prev, next, 'webui:192.0.2.77')!, /Portal ACL of System Manager/);
  assert.equal(aclRisk(prev, next, 'ssh:192.0.2.77'), null, 'the SSH list did not change');
  assert.equal(aclRisk(prev, next, 'cli:ttyS0'), null);
});
