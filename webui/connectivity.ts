/**
 * System Manager's Diagnostics > Connectivity: the JSON API under /mics/api/v1/connectivity (the
 * endpoint table with each one's last result, a run on demand, the history) and the page, which is
 * server-rendered: the last results and a "Run checks" form that posts, runs and comes back. The
 * endpoints an administrator adds are the `connectivity` configuration section
 * (GET/PUT /mics/api/v1/config/connectivity, like every section; one endpoint at a time under
 * …/config/connectivity/endpoints, registered with the other change routes in api.ts). The page's
 * add, change and remove forms go through those routes like every settings page (app.js: plan, the
 * diff confirmed, apply). Running checks changes nothing, so operators may run them too; each run is audited.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../appliance/config/schema.ts';
import { endpointsOf, type Endpoint } from '../appliance/connectivity/endpoints.ts';
import { ConnectivityStore, runChecks, selectEndpoints, UnknownEndpoint, HISTORY_MAX } from '../appliance/connectivity/run.ts';
import type { CheckResult } from '../appliance/connectivity/check.ts';
import { CONNECTIVITY_PROTOCOLS, type ConnectivityEndpointConfig } from '../appliance/connectivity/schema.ts';
import { html, Html } from './pages.ts';
import { API, actorOf, HttpError, ErrorBody, SESSION_OR_TOKEN, CHANGE_AUTH, Nullable } from './api.ts';

export const CONNECTIVITY_API = `${API}/connectivity`;
export const CONNECTIVITY_PAGE = '/mics/diagnostics/connectivity';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

const Protocol = Type.Union([...CONNECTIVITY_PROTOCOLS, 'dns', 'ntp', 'udp'].map((p) => Type.Literal(p)), { description: 'tcp, tls, https; derived endpoints also dns (a query to the server), ntp (an NTP query) and udp (UDP syslog: the name only)' });
const EndpointView = Type.Object({
  name: Type.String(),
  role: Type.String({ description: 'Why the appliance depends on it' }),
  source: Type.Union([Type.Literal('configuration'), Type.Literal('administrator')]),
  host: Type.String(),
  port: Type.Integer(),
  protocol: Protocol,
  path: Type.Optional(Type.String()),
  viaProxy: Type.Boolean(),
  expectedIssuer: Type.Optional(Type.String()),
  caConfigured: Type.Boolean({ description: 'A CA certificate is configured for it' }),
});
const CertView = Type.Object({ subject: Type.String(), issuer: Type.String(), validFrom: Type.String(), validTo: Type.String(), fingerprint256: Type.String() });
const ResultView = Type.Object(
  {
    name: Type.String(),
    role: Type.String(),
    host: Type.String(),
    port: Type.Integer(),
    protocol: Protocol,
    viaProxy: Type.Boolean(),
    at: Type.String(),
    status: Type.Union([Type.Literal('ok'), Type.Literal('warning'), Type.Literal('failed')]),
    stage: Nullable(Type.Union(['config', 'dns', 'tcp', 'proxy', 'tls', 'http', 'ntp', 'query'].map((s) => Type.Literal(s))), 'The step that failed'),
    message: Type.String({ description: 'What was found, in one line (the interception message when suspected)' }),
    problems: Type.Array(Type.String()),
    interception: Type.Boolean({ description: 'The certificate was issued by another CA than the expected issuer' }),
    dns: Nullable(Type.Object({ name: Type.String(), addresses: Type.Array(Type.String()), ms: Type.Number() })),
    tcp: Nullable(Type.Object({ address: Type.String(), port: Type.Integer(), ms: Type.Number() })),
    proxy: Nullable(Type.Object({ host: Type.String(), port: Type.Integer(), status: Type.Integer() })),
    tls: Nullable(
      Type.Object({
        ms: Type.Number(),
        version: Nullable(Type.String()),
        chain: Type.Array(CertView, { description: 'As presented, leaf first' }),
        issuer: Type.String({ description: "Common name of the leaf certificate's issuer" }),
        sanMatch: Type.Boolean(),
        trust: Nullable(Type.Union([Type.Literal('system'), Type.Literal('configured')]), 'What the chain leads to; null: neither'),
        expectedIssuer: Nullable(Type.String()),
      }),
    ),
    http: Nullable(Type.Object({ status: Type.Integer(), ms: Type.Number() })),
    ntp: Nullable(Type.Object({ stratum: Type.Integer(), ms: Type.Number() })),
    query: Nullable(Type.Object({ rcode: Type.String(), ms: Type.Number() }), 'A DNS server\'s answer to a query for the root name servers'),
    totalMs: Type.Number(),
  },
  { description: 'The result of one endpoint check' },
);
const TableView = Type.Object({
  endpoints: Type.Array(Type.Object({ endpoint: EndpointView, last: Nullable(ResultView, 'null until checked') }), { description: 'Derived from the configuration first, then those added by administrators' }),
});
const NameQuery = Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'One endpoint (default: all)' })) }, { additionalProperties: false });

function endpointView(e: Endpoint): Static<typeof EndpointView> {
  const { caCertificate, ...rest } = e;
  return { ...rest, caConfigured: !!caCertificate };
}

/** The endpoint table with each one's last result. */
export function table(c: Config, store: ConnectivityStore): Static<typeof TableView> {
  const latest = store.latest();
  return { endpoints: endpointsOf(c).map((e) => ({ endpoint: endpointView(e), last: (latest.get(e.name) as Static<typeof ResultView> | undefined) ?? null })) };
}

/** Registers the connectivity API and the page's form action. */
export function registerConnectivityApi(app: FastifyInstance): void {
  const { host, store } = app.keel;
  const results = new ConnectivityStore(store.db);
  const config = () => {
    const c = store.running()?.config;
    if (!c) throw new HttpError(409, 'there is no running configuration yet');
    return c;
  };
  const run = async (req: FastifyRequest, name: string | undefined): Promise<CheckResult[]> => {
    const c = config();
    let endpoints;
    try {
      endpoints = selectEndpoints(c, name);
    } catch (e) {
      if (e instanceof UnknownEndpoint) throw new HttpError(404, e.message);
      throw e;
    }
    const out = await runChecks(host, store.db, c, endpoints);
    const bad = out.filter((r) => r.status !== 'ok');
    store.audit(actorOf(req), `test connectivity ${name ?? 'all'}`, `ok: ${out.length - bad.length} of ${out.length} reachable without problems${bad.length ? `; ${bad.map((r) => `${r.name} ${r.status}`).join(', ')}` : ''}`.slice(0, 500));
    return out;
  };

  app.get(CONNECTIVITY_API, {
    schema: {
      tags: ['diagnostics'],
      summary: 'Connectivity endpoints and their last results',
      description: 'The endpoints the appliance depends on (DNS, NTP, LDAP, SMTP, update repository, outbound proxy, syslog), derived from the configuration, then those added in the connectivity section, each with its last check.',
      security: SESSION_OR_TOKEN,
      response: { 200: TableView, ...errors, 409: ErrorBody },
    },
    handler: async () => table(config(), results),
  });

  app.post<{ Body: Static<typeof NameQuery> }>(`${CONNECTIVITY_API}/run`, {
    config: { anyRole: true, fieldPrefix: '' },
    schema: {
      tags: ['diagnostics'],
      summary: 'Run connectivity checks',
      description:
        'Checks one endpoint or all, now: name resolution (addresses, time), TCP connect (time), for TLS and HTTPS the certificate chain (subject, issuer, validity, name match, trust, expected issuer: "TLS interception suspected: issued by X, expected Y"), for HTTPS the status only (any status means reachable). Send {} for all endpoints, {"name": "…"} for one. Each step is bounded (5 s); at most 8 endpoints at once. Results are kept with history. Operators may run it; it is audited.',
      security: CHANGE_AUTH,
      body: NameQuery,
      response: { 200: Type.Object({ results: Type.Array(ResultView) }), ...errors, 409: ErrorBody },
    },
    handler: async (req) => ({ results: (await run(req, req.body?.name)) as Static<typeof ResultView>[] }),
  });

  app.get<{ Querystring: { name?: string; limit?: number } }>(`${CONNECTIVITY_API}/history`, {
    schema: {
      tags: ['diagnostics'],
      summary: 'Connectivity check history',
      description: `Results newest first, of one endpoint or all (kept: the newest ${HISTORY_MAX}, at most 30 days).`,
      security: SESSION_OR_TOKEN,
      querystring: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ results: Type.Array(ResultView) }), ...errors },
    },
    handler: async (req) => ({ results: results.history(req.query.limit ?? 100, req.query.name) as Static<typeof ResultView>[] }),
  });

  // The page's form: runs, then back to the page (Post/Redirect/Get), so a reload does not run again.
  app.post<{ Body: { name?: string } }>(`${CONNECTIVITY_PAGE}/run`, { schema: { hide: true } }, async (req, reply) => {
    const name = typeof req.body?.name === 'string' && req.body.name.length <= 32 && req.body.name ? req.body.name : undefined;
    await run(req, name);
    return reply.redirect(CONNECTIVITY_PAGE, 303);
  });
}

const STATUS_BADGE: Record<CheckResult['status'], Html> = {
  ok: html`<span class="badge ok">OK</span>`,
  warning: html`<span class="badge warn">Warning</span>`,
  failed: html`<span class="badge err">Failed</span>`,
};

function details(r: CheckResult): Html {
  const parts: Html[] = [];
  if (r.dns) parts.push(html`<div>DNS ${r.dns.name}: ${r.dns.addresses.join(', ')} (${r.dns.ms} ms)</div>`);
  if (r.tcp) parts.push(html`<div>TCP ${r.tcp.address}:${r.tcp.port} (${r.tcp.ms} ms)${r.proxy ? html`, proxy CONNECT ${r.proxy.status}` : ''}</div>`);
  if (r.tls)
    parts.push(
      html`<div>TLS ${r.tls.version ?? ''}: issued by <strong>${r.tls.issuer}</strong>; name ${r.tls.sanMatch ? 'matches' : 'does not match'}; chains to ${r.tls.trust === 'system' ? 'the system trust store' : r.tls.trust === 'configured' ? 'the configured CA' : 'no trusted CA'}${r.tls.expectedIssuer ? html`; expected issuer ${r.tls.expectedIssuer}` : ''}</div>
<ol class="chain">${r.tls.chain.map((c) => html`<li>${c.subject}, issued by ${c.issuer}, valid ${c.validFrom.slice(0, 10)} to ${c.validTo.slice(0, 10)}</li>`)}</ol>`,
    );
  if (r.http) parts.push(html`<div>HTTP status ${r.http.status} (${r.http.ms} ms)</div>`);
  if (r.ntp) parts.push(html`<div>NTP stratum ${r.ntp.stratum} (${r.ntp.ms} ms)</div>`);
  if (r.query) parts.push(html`<div>DNS answer ${r.query.rcode} (${r.query.ms} ms)</div>`);
  return html`${parts}`;
}

/** Where each derived endpoint is set: the page of the settings it comes from. */
const SOURCE_PAGES: [RegExp, string, string][] = [
  [/^dns-/, '/mics/settings/network', 'Network (DNS)'],
  [/^ntp-/, '/mics/settings/time', 'Date & Time (NTP)'],
  [/^ldap/, '/mics/security/ldap', 'LDAP'],
  [/^smtp$/, '/mics/settings/email', 'Email'],
  [/^update-repository$/, '/mics/maintenance/updates', 'Software Updates'],
  [/^proxy$/, '/mics/settings/proxy', 'Outbound Proxy'],
  [/^syslog$/, '/mics/settings/alerts', 'Alerts (syslog)'],
];

/** The form helpers of the page module (webui/ui.ts), handed in as the Alerts page gets them. */
export interface ConnectivityForms {
  role: 'admin' | 'operator';
  field: (o: { label: string; name: string; value?: unknown; kind?: 'str' | 'int' | 'bool'; type?: string; help?: string; options?: readonly (string | { value: string; label: string })[]; optional?: boolean; attrs?: string }) => Html;
  actionForm: (o: { method: string; url: string; body?: Html; button: string; plan?: string; cls?: string; inline?: boolean }) => Html;
}

const PROTOCOL_CHOICES = [
  { value: 'tcp', label: 'TCP (connect only)' },
  { value: 'tls', label: 'TLS (connect and read the certificate chain)' },
  { value: 'https', label: 'HTTPS (TLS and the HTTP status)' },
];

/** The fields of one administrator's endpoint, empty for a new one, prefilled to change one. */
function endpointFields(f: ConnectivityForms, e: Partial<ConnectivityEndpointConfig>): Html {
  return html`${f.field({ label: 'Name', name: 'name', value: e.name ?? '', attrs: 'maxlength="32" autocomplete="off"', help: 'Letters, digits, dot, dash or underscore, up to 32 characters' })}
${f.field({ label: 'Host', name: 'host', value: e.host ?? '', attrs: 'maxlength="253" autocomplete="off"', help: 'Host name or IPv4 address (with TLS, the name its certificate must carry)' })}
${f.field({ label: 'Port', name: 'port', value: e.port ?? '', kind: 'int', attrs: 'min="1" max="65535"', help: '1-65535' })}
${f.field({ label: 'Protocol', name: 'protocol', value: e.protocol ?? 'tcp', options: PROTOCOL_CHOICES })}
${f.field({ label: 'Through the outbound proxy', name: 'viaProxy', value: e.viaProxy ?? false, kind: 'bool', help: 'A CONNECT tunnel through the configured proxy, as the appliance\'s own HTTPS requests go' })}
${f.field({ label: 'Path (HTTPS)', name: 'path', value: e.path ?? '', optional: true, attrs: 'maxlength="1024"', help: 'HTTPS only: the path to request, starting with / (empty: /)' })}
${f.field({ label: 'Expected issuer', name: 'expectedIssuer', value: e.expectedIssuer ?? '', optional: true, attrs: 'maxlength="256"', help: 'TLS and HTTPS: common name of the CA that must issue the certificate; another issuer is flagged as TLS interception' })}
${f.field({ label: 'CA certificate (PEM)', name: 'caCertificate', value: e.caCertificate ?? '', type: 'textarea', optional: true, attrs: 'maxlength="65536" spellcheck="false"', help: 'TLS and HTTPS: when the CA is not in the system trust store' })}`;
}

/** The Diagnostics > Connectivity page: the table with each endpoint's last result, a Check button per row and Run checks for all; administrators add, change and remove their endpoints. */
export function connectivityPage(c: Config, store: ConnectivityStore, csrf: string, f?: ConnectivityForms): Html {
  const t = table(c, store);
  const admin = f?.role === 'admin';
  const added = new Map((c.connectivity?.endpoints ?? []).map((e) => [e.name, e]));
  const rows = t.endpoints.map(({ endpoint: e, last }) => {
    const r = last as CheckResult | null;
    const src = SOURCE_PAGES.find(([re]) => re.test(e.name));
    const mine = e.source === 'administrator' ? added.get(e.name) : undefined;
    const enc = encodeURIComponent(e.name);
    const url = `${API}/config/connectivity/endpoints/${enc}`;
    const actions =
      e.source === 'configuration'
        ? html`<span class="muted">From the configuration${src ? html`: set on <a href="${src[1]}">${src[2]}</a>` : ''}</span>`
        : admin && mine && f
          ? html`<details class="endpoint-edit"><summary>Change</summary>${f.actionForm({ method: 'PUT', url, plan: `${url}/plan`, button: 'Change', body: endpointFields(f, mine) })}</details>
${f.actionForm({ method: 'DELETE', url, plan: `${url}/delete/plan`, button: 'Remove', inline: true, cls: 'admin-only danger' })}`
          : html`<span class="muted">Added by an administrator</span>`;
    return html`<tr id="endpoint-${e.name}" class="${r?.interception ? 'interception' : ''}" data-source="${e.source}">
<td><strong>${e.name}</strong><br><span class="muted">${e.role}</span></td>
<td>${e.host}:${e.port}${e.viaProxy ? html`<br><span class="muted">through the proxy</span>` : ''}</td>
<td>${e.protocol}${e.expectedIssuer ? html`<br><span class="muted">expects ${e.expectedIssuer}</span>` : ''}</td>
<td>${r ? STATUS_BADGE[r.status] : html`<span class="muted">not checked</span>`}
<form method="post" action="${CONNECTIVITY_PAGE}/run" class="run-one"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="name" value="${e.name}"><button type="submit" title="Check ${e.name} now">Check</button></form></td>
<td>${r ? html`<p class="${r.status === 'ok' ? '' : 'error'}">${r.message}</p>${r.problems.slice(1).map((p) => html`<p class="error">${p}</p>`)}${details(r)}<span class="muted">${r.at.replace('T', ' ').slice(0, 19)} UTC, ${r.totalMs} ms</span>` : ''}</td>
<td class="actions">${actions}</td>
</tr>`;
  });
  return html`<section>
<p>The endpoints this appliance depends on, from its configuration, and those added under <code>connectivity</code> (REST: <code>${API}/config/connectivity/endpoints</code>, or the whole section with <code>PUT ${API}/config/connectivity</code>). Each check resolves the name, connects, and for TLS reads the certificate chain: a certificate from another CA than the expected issuer is flagged as TLS interception. Any HTTP status means reachable.${c.connectivity?.intervalMinutes === 0 ? ' Scheduled checks are off.' : html` The health monitor checks every ${c.connectivity?.intervalMinutes ?? 15} minutes and alerts on failures.`}</p>
<form method="post" action="${CONNECTIVITY_PAGE}/run" class="run-checks">
<input type="hidden" name="_csrf" value="${csrf}">
<button type="submit">Run checks</button>
</form>
</section>
<section>
<table class="connectivity">
<thead><tr><th>Endpoint</th><th>Target</th><th>Protocol</th><th>Result</th><th>Details</th><th>Source</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="6">No endpoints: the configuration names none and none were added.</td></tr>`}</tbody>
</table>
</section>
${admin && f
  ? html`<section id="add-endpoint">
<h2>Add an endpoint</h2>
<p class="muted">Checked with those above; the change is planned, its diff shown for confirmation, then applied as a new revision (Save makes it persistent). CLI: <code>connectivity endpoint NAME</code>.</p>
${f.actionForm({ method: 'POST', url: `${API}/config/connectivity/endpoints`, plan: `${API}/config/connectivity/endpoints/plan`, button: 'Add', body: endpointFields(f, {}) })}
</section>`
  : ''}`;
}
