/**
 * The one message layer: every constraint of the configuration schema, broken on purpose, gives
 * a sentence for a person: no schema library's wording, no regular expression, no JSON pointer.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { ConfigSchema, check } from '../../appliance/config/schema.ts';
import { fieldLabel, sentence, ajvConstraint } from '../../appliance/config/messages.ts';
import { sampleConfig } from '../helpers/config.ts';

type S = Record<string, unknown>;
const LEAKS = [/must NOT/, /Expected /, /\(min|\(max/, /must have required property/, /\^|\$\/|\\d|\[a-z/i, /(^|\s)\/[a-z]+\//i, /must match pattern/];

/** Each (path, broken value) the schema's constraints allow us to make on the sample configuration. */
function breakers(schema: S, value: unknown, path: string[]): { path: string[]; bad: unknown; what: string }[] {
  const out: { path: string[]; bad: unknown; what: string }[] = [];
  if (schema.type === 'string' && typeof value === 'string') {
    if (typeof schema.maxLength === 'number') out.push({ path, bad: 'x'.repeat(schema.maxLength + 1), what: 'maxLength' });
    if (typeof schema.minLength === 'number' && schema.minLength > 0) out.push({ path, bad: '', what: 'minLength' });
    if (schema.pattern || schema.format) out.push({ path, bad: '\u0001 not valid \u0002', what: 'pattern/format' });
  }
  if ((schema.type === 'integer' || schema.type === 'number') && typeof value === 'number') {
    if (typeof schema.maximum === 'number') out.push({ path, bad: schema.maximum + 1, what: 'maximum' });
    if (typeof schema.minimum === 'number') out.push({ path, bad: schema.minimum - 1, what: 'minimum' });
    out.push({ path, bad: 'text', what: 'type' });
  }
  if (schema.type === 'array' && Array.isArray(value)) {
    if (typeof schema.maxItems === 'number') out.push({ path, bad: Array.from({ length: schema.maxItems + 1 }, () => value[0] ?? 'x'), what: 'maxItems' });
    if (typeof schema.minItems === 'number' && schema.minItems > 0) out.push({ path, bad: [], what: 'minItems' });
    value.forEach((v, i) => out.push(...breakers(schema.items as S, v, [...path, String(i)])));
  }
  if (schema.type === 'object' && value && typeof value === 'object' && !Array.isArray(value)) {
    out.push({ path: [...path, 'notASetting'], bad: 1, what: 'additionalProperties' });
    for (const [k, sub] of Object.entries((schema.properties ?? {}) as Record<string, S>)) {
      if (k in (value as S)) out.push(...breakers(sub, (value as S)[k], [...path, k]));
    }
  }
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((x) => (x as S).const !== undefined)) out.push({ path, bad: '\u0003nope', what: 'anyOf' });
  return out;
}

function set(obj: unknown, path: string[], v: unknown): void {
  let o = obj as S;
  for (const k of path.slice(0, -1)) o = o[k] as S;
  o[path[path.length - 1]] = v;
}

test('every schema constraint, broken, gives a sentence: no library wording, regex or JSON pointer in the message', () => {
  // The sample with its optional sections filled in, so that their constraints are walked too.
  const base = sampleConfig({
    email: { from: 'keel@example.com', server: 'smtp.example.com', port: 587, protocol: 'starttls', auth: true, username: 'alerts', password: 'Smtp-secret-77' },
    proxy: { enabled: true, url: 'http://proxy.example.com:3128', username: 'p', password: 'Proxy-secret-77', noProxy: ['.example.com'] },
    update: { repository: 'https://updates.example.com/keel/', username: 'u', password: 'Repo-secret-77' },
    health: { intervalSeconds: 60, bmc: { host: '192.0.2.50', user: 'ADMIN', password: 'Bmc-secret77' } },
  } as never);
  assert.deepEqual(check(base), [], 'the walked sample is valid');
  const cases = breakers(ConfigSchema as unknown as S, base, []);
  assert.ok(cases.length > 60, `only ${cases.length} constraints reached`);
  const bad: string[] = [];
  for (const c of cases) {
    const cfg = structuredClone(base);
    set(cfg, c.path, c.bad);
    for (const p of check(cfg)) {
      if (LEAKS.some((re) => re.test(p.message))) bad.push(`${p.field} [${c.what}]: ${p.message}`);
      if (/^\//.test(fieldLabel(p.field, cfg))) bad.push(`${p.field}: label is still a pointer`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the sentences carry the limit; fields are named with the words the CLI uses', () => {
  assert.equal(sentence({ keyword: 'maximum', schema: { maximum: 65535 } }), 'must be 65535 or less');
  assert.equal(sentence({ keyword: 'minItems', schema: { minItems: 1 } }), 'needs at least one entry');
  assert.equal(sentence({ keyword: 'maxLength', schema: { maxLength: 64 } }), 'must be at most 64 characters');
  assert.equal(sentence({ keyword: 'pattern', schema: { pattern: '^x$', description: 'Directory URL: ldap://host' } }), 'is not in the expected form: directory URL: ldap://host');
  assert.equal(sentence(ajvConstraint('minItems', { limit: 1 })), 'needs at least one entry');
  assert.equal(sentence(ajvConstraint('enum', { allowedValues: ['smtp', 'smtps'] })), 'must be one of: smtp, smtps');
  const c = sampleConfig();
  assert.equal(fieldLabel('/users/local/0/password', c), `username ${c.users.local[0].name} password`);
  assert.equal(fieldLabel('/network/interfaces/0/address', c), 'interface GigabitEthernet1 address');
  assert.equal(fieldLabel('/ssh/idleTimeoutSeconds'), 'ssh idle-timeout-seconds');
  assert.equal(fieldLabel('/proxy/noProxy/2'), 'proxy no-proxy #3');
});
