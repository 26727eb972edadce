/**
 * The one message layer: a configuration problem as a person reads it. Schema libraries (TypeBox
 * here, ajv in fastify) describe a failed constraint in their own words ("must NOT have fewer than
 * 1 items (minItems)"); these turn the constraint into a sentence with the limit in it, and a JSON
 * pointer into the words an administrator types (`/health/bmc/password` is "health bmc
 * password"). No regular expression, pointer or library wording reaches a message.
 */

/** A failed JSON-schema constraint, by keyword, with the schema that holds its limit. */
export interface Constraint {
  keyword: string;
  schema: Record<string, unknown>;
  /** For `required` and `additionalProperties`: the property concerned. */
  property?: string;
}

const lowerFirst = (t: string) => (/^[A-Z][a-z]/.test(t) ? t[0].toLowerCase() + t.slice(1) : t);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The sentence for a failed constraint ("must be at most 65535"). */
export function sentence(c: Constraint): string {
  const s = c.schema;
  const choices = (s.anyOf as { const?: unknown }[] | undefined)?.map((x) => x.const).filter((x) => x !== undefined) ?? (s.enum as unknown[] | undefined);
  switch (c.keyword) {
    case 'minLength':
      return s.minLength === 1 ? 'must not be empty' : `must be at least ${plural(Number(s.minLength), 'character')}`;
    case 'maxLength':
      return `must be at most ${plural(Number(s.maxLength), 'character')}`;
    case 'minimum':
      return `must be ${s.minimum} or more`;
    case 'maximum':
      return `must be ${s.maximum} or less`;
    case 'exclusiveMinimum':
      return `must be more than ${s.exclusiveMinimum}`;
    case 'exclusiveMaximum':
      return `must be less than ${s.exclusiveMaximum}`;
    case 'minItems':
      return s.minItems === 1 ? 'needs at least one entry' : `needs at least ${plural(Number(s.minItems), 'entry', 'entries')}`;
    case 'maxItems':
      return `takes at most ${plural(Number(s.maxItems), 'entry', 'entries')}`;
    case 'uniqueItems':
      return 'must not list the same entry twice';
    case 'pattern':
    case 'format':
      // The field's own description says what is expected (never the regular expression).
      return typeof s.description === 'string' ? `is not in the expected form: ${lowerFirst(s.description)}` : 'is not in the expected form';
    case 'required':
      // The field named with the message is the missing one already.
      return 'is required';
    case 'additionalProperties':
      return `is not a setting Keel knows${c.property ? ` (${words(c.property)})` : ''}`;
    case 'integer':
      return 'must be a whole number';
    case 'const':
    case 'enum':
    case 'anyOf':
      return choices?.length ? `must be one of: ${choices.map(String).join(', ')}` : 'is not one of the allowed values';
    case 'type':
      return `must be ${TYPE_WORDS[String(s.type)] ?? 'of another kind'}`;
    default:
      return 'is not allowed here';
  }
}

const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'yes or no (true or false)',
  array: 'a list',
  object: 'a group of settings',
  null: 'empty',
};

/** TypeBox's error kinds (ValueErrorType) as JSON-schema keywords. */
export function keywordOfTypeBox(type: number, schema: Record<string, unknown>): string {
  const NAMES: Record<number, string> = {
    2: 'maxItems', 4: 'minItems', 5: 'uniqueItems', 6: 'type', 14: 'type', 22: 'exclusiveMaximum', 23: 'exclusiveMinimum', 24: 'maximum', 25: 'minimum', 27: 'integer',
    32: 'const', 36: 'exclusiveMaximum', 37: 'exclusiveMinimum', 38: 'maximum', 39: 'minimum', 41: 'type', 42: 'additionalProperties', 45: 'required', 46: 'type',
    50: 'format', 51: 'maxLength', 52: 'minLength', 53: 'pattern', 54: 'type', 62: 'anyOf',
  };
  const k = NAMES[type] ?? 'other';
  return k === 'type' && schema.type === undefined ? 'anyOf' : k;
}

/** camelCase to the CLI's words: `idleTimeoutSeconds` → `idle-timeout-seconds`. */
function words(seg: string): string {
  return seg.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** Sections whose CLI keyword is not their name. */
const SECTION_WORDS: Record<string, string> = { portalAuth: 'portal-authentication', webui: 'System Manager', acl: 'access-list', update: 'software-update', email: 'email', system: '' };

/**
 * A JSON pointer as the administrator's words: `/health/bmc/password` → `health bmc password`,
 * `/network/interfaces/0/address` → `interface GigabitEthernet1 address` (an entry with a name is
 * named by it, given the configuration; else numbered from 1), `/users/local/1/password` →
 * `username oper password`.
 */
export function fieldLabel(pointer: string, config?: unknown): string {
  // Already words (a CLI-side field such as `interface` or `guest-tools`).
  if (!pointer.startsWith('/')) return pointer;
  const segs = pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (segs.length === 0 || (segs.length === 1 && segs[0] === '')) return 'the configuration';
  const out: string[] = [];
  let node: unknown = config;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const next = node && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    node = next;
    const pair = i === 0 ? `${seg}/${segs[1] ?? ''}` : '';
    if (PREFIX_WORDS[pair] !== undefined) {
      // Two segments that the CLI names with one keyword.
      out.push(PREFIX_WORDS[pair]);
      node = next && typeof next === 'object' ? (next as Record<string, unknown>)[segs[1]] : undefined;
      i++;
    } else if (/^\d+$/.test(seg)) {
      const name = next && typeof next === 'object' ? (next as { name?: unknown }).name : undefined;
      out.push(typeof name === 'string' ? name : `#${Number(seg) + 1}`);
    } else if (i === 0) {
      const w = SECTION_WORDS[seg] ?? words(seg);
      if (w) out.push(w);
    } else out.push(words(seg));
  }
  return out.join(' ') || 'the configuration';
}

const PREFIX_WORDS: Record<string, string> = { 'connectivity/endpoints': 'connectivity endpoint', 'users/local': 'username', 'network/interfaces': 'interface', 'network/routes': 'ip route', 'network/gateway': 'ip default-gateway' };

/** An ajv error (fastify's validation) as a Constraint: ajv puts the limit in its params. */
export function ajvConstraint(keyword: string, params: Record<string, unknown>): Constraint {
  const limit = params.limit;
  const schema: Record<string, unknown> = {};
  if (limit !== undefined) schema[keyword] = limit;
  if (keyword === 'type') schema.type = params.type;
  if (keyword === 'enum') schema.enum = params.allowedValues;
  return { keyword, schema, property: (params.missingProperty ?? params.additionalProperty) as string | undefined };
}
