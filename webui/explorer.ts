/**
 * The API explorer at /mics/api/ (signed in): System Manager's OpenAPI document as pages a person
 * reads: each operation with its parameters, request body fields (type, rule, description) and
 * answers, grouped by tag. Server-rendered and script-free, so the strict CSP holds; GET
 * operations without parameters link to their JSON (the session cookie signs the request in).
 */
import { html, type Html } from './pages.ts';

type Schema = {
  type?: string | string[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  nullable?: boolean;
};
type Operation = {
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: Schema }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string }>;
};
type Document = { info?: { title?: string; version?: string }; paths?: Record<string, Record<string, Operation>> };

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** A schema's type in words: `string (email, at most 254)`, `one of a | b`, `list of …`. */
function typeOf(s: Schema): string {
  const alts = s.anyOf ?? s.oneOf;
  if (alts) {
    const consts = alts.map((a) => a.const ?? a.enum?.[0]);
    if (consts.every((c) => c !== undefined)) return `one of ${consts.join(' | ')}`;
    return alts.map(typeOf).join(' or ');
  }
  if (s.enum) return `one of ${s.enum.join(' | ')}`;
  if (s.const !== undefined) return String(s.const);
  const t = Array.isArray(s.type) ? s.type.join(' or ') : (s.type ?? 'any');
  if (t === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}`;
  const rules = [s.format, s.minimum !== undefined ? `≥ ${s.minimum}` : null, s.maximum !== undefined ? `≤ ${s.maximum}` : null, s.minLength ? `at least ${s.minLength}` : null, s.maxLength ? `at most ${s.maxLength}` : null].filter(Boolean);
  return `${t}${s.nullable ? ' or null' : ''}${rules.length ? ` (${rules.join(', ')})` : ''}`;
}

/** The fields of an object schema as table rows, nested objects indented (four levels at most). */
function fieldRows(s: Schema | undefined, prefix = '', depth = 0): Html[] {
  const obj = s?.type === 'array' ? s.items : s;
  if (!obj?.properties || depth > 3) return [];
  return Object.entries(obj.properties).flatMap(([name, f]) => [
    html`<tr><td><code>${prefix}${name}</code></td><td>${typeOf(f)}</td><td>${obj.required?.includes(name) ? 'yes' : ''}</td><td>${f.description ?? ''}</td></tr>`,
    ...fieldRows(f, `${prefix}${name}.`, depth + 1),
  ]);
}

function operation(method: string, path: string, op: Operation): Html {
  const id = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, '-');
  const body = op.requestBody?.content?.['application/json']?.schema;
  const rows = fieldRows(body);
  const params = op.parameters ?? [];
  const open = method === 'get' && !path.includes('{') ? html` <a href="${path}">open</a>` : '';
  return html`<details class="op" id="${id}">
<summary><span class="badge method-${method}">${method.toUpperCase()}</span> <code>${path}</code> ${op.summary ?? ''}</summary>
${op.description ? html`<p>${op.description}</p>` : ''}
${params.length ? html`<h4>Parameters</h4><table><thead><tr><th>Name</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr></thead><tbody>${params.map((p) => html`<tr><td><code>${p.name}</code></td><td>${p.in}</td><td>${p.schema ? typeOf(p.schema) : ''}</td><td>${p.required ? 'yes' : ''}</td><td>${p.description ?? p.schema?.description ?? ''}</td></tr>`)}</tbody></table>` : ''}
${body ? html`<h4>Request body (JSON)</h4>${rows.length ? html`<table><thead><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr></thead><tbody>${rows}</tbody></table>` : html`<p>${typeOf(body)}</p>`}` : ''}
<h4>Answers</h4><ul>${Object.entries(op.responses ?? {}).map(([code, r]) => html`<li><code>${code}</code> ${r.description ?? ''}</li>`)}</ul>
<p class="muted">${method === 'get' ? 'Reads only.' : 'Changes need the session\'s CSRF token (x-csrf-token) or an API token (Authorization: Bearer).'}${open}</p>
</details>`;
}

/** The explorer page body. */
export function explorerPage(doc: Document): Html {
  const byTag = new Map<string, Html[]>();
  for (const [path, ops] of Object.entries(doc.paths ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    for (const m of METHODS) {
      const op = ops[m];
      if (!op) continue;
      const tag = op.tags?.[0] ?? 'other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), operation(m, path, op)]);
    }
  }
  const tags = [...byTag.keys()].sort();
  return html`<section>
<p>${doc.info?.title ?? 'System Manager API'} ${doc.info?.version ?? ''}: every operation System Manager's pages use, for scripts and automation. The machine-readable document is <a href="/mics/api/openapi.json">openapi.json</a>; make an API token under Security &gt; API Tokens.</p>
<p>${tags.map((t, i) => html`${i ? ' · ' : ''}<a href="#tag-${t}">${t}</a>`)}</p>
</section>
${tags.map((t) => html`<section id="tag-${t}"><h2>${t}</h2>${byTag.get(t)!}</section>`)}`;
}
