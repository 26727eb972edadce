import { test } from 'vitest';
import assert from 'node:assert/strict';
import { check, validate } from '../../appliance/config/schema.ts';
import { ValidationError } from '../../appliance/errors.ts';
import { toScript, redact } from '../../appliance/config/script.ts';
import { sampleConfig } from '../helpers/config.ts';

test('a complete configuration validates', () => {
  assert.deepEqual(check(sampleConfig()), []);
});

test('problems name the field and the rule', () => {
  const c = sampleConfig();
  c.network.interfaces[0].netmask = '255.0.255.0';
  c.system.hostname = 'core';
  const p = check(c);
  assert.deepEqual(
    p.map((x) => [x.field, x.rule]),
    [
      ['/system/hostname', 'fqdn'],
      ['/network/interfaces/0/netmask', 'netmask'],
    ],
  );
  assert.throws(() => validate(c), (e: unknown) => e instanceof ValidationError && /contiguous/.test(e.message));
});

test('cross-field rules: gateway in subnet, NTP servers, unique users, ports', () => {
  const c = sampleConfig();
  c.network.gateway = '198.51.100.1';
  c.ntp.servers = [];
  c.users.local.push({ ...c.users.local[0] });
  c.ssh = { enabled: true, port: 8443 };
  const rules = check(c).map((x) => `${x.field}:${x.rule}`);
  assert.deepEqual(rules.sort(), ['/network/gateway:gateway-in-subnet', '/ntp/servers:required', '/ssh/port:port-conflict', '/users/local/1/name:unique'].sort());
});

test('a plain password where a hash belongs is refused', () => {
  const c = sampleConfig();
  c.users.local[0].passwordHash = 'Secret123';
  assert.deepEqual(check(c).map((x) => x.rule), ['password-hash']);
});

test('unknown fields are refused', () => {
  const c = { ...sampleConfig(), extra: 1 } as unknown;
  assert.equal(check(c)[0].rule, 'additionalProperties');
  assert.match(check(c)[0].message, /is not a setting Keel knows/);
});

test('every schema field has a description', async () => {
  const { ConfigSchema } = await import('../../appliance/config/schema.ts');
  const missing: string[] = [];
  const walk = (s: Record<string, unknown>, at: string) => {
    const props = s.properties as Record<string, Record<string, unknown>> | undefined;
    if (props) for (const [k, v] of Object.entries(props)) {
      if (!v.description) missing.push(`${at}/${k}`);
      walk(v, `${at}/${k}`);
    }
    if (s.items) walk(s.items as Record<string, unknown>, `${at}/*`);
  };
  walk(ConfigSchema as unknown as Record<string, unknown>, '');
  assert.deepEqual(missing, []);
});

test('the CLI script reproduces the configuration and redacts on request', () => {
  const lines = toScript(sampleConfig());
  assert.ok(lines.includes('hostname core.example.com'));
  assert.ok(lines.includes(' ip address 192.0.2.10 255.255.255.0'));
  assert.ok(lines.includes('ip default-gateway 192.0.2.1'));
  assert.ok(lines.includes('ntp server 192.0.2.123'));
  assert.ok(lines.includes('no ip ssh server'));
  assert.ok(lines.includes('company name "Example Corp"'));
  assert.ok(redact(lines).every((l) => !l.includes('$scrypt$')));
});
