/**
 * System Manager's Security > LDAP: the JSON API under /mics/api/v1/ldap and the page. Settings
 * change through plan/apply like every section (admin only; the bind password is write-only and
 * redacted in diffs); test a lookup, browse the tree one level at a time and check the servers'
 * health (operators too: they change nothing). Directory users are never imported: they sign in
 * through the shared sign-in (appliance/users/signin.ts), which asks the directory.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { check, type Config } from '../appliance/config/schema.ts';
import { applyConfig, plan as planConfig } from '../appliance/config/apply.ts';
import { keptFor } from '../appliance/config/secrets.ts';
import { ValidationError } from '../appliance/errors.ts';
import { log } from '../appliance/log.ts';
import type { Store } from '../appliance/config/store.ts';
import { LdapSchema, LDAP_TYPES, LDAP_TYPE_LABELS, DEFAULT_LDAP_HEALTH, DEFAULT_SEARCH_TIMEOUT, baseDnOf, effectiveBaseDn, userAttributeOf, type LdapConfig } from '../appliance/ldap/schema.ts';
import { directoryOf, DirectoryUnavailable, type ServerHealth } from '../appliance/ldap/directory.ts';
import { html, Html } from './pages.ts';
import { API, actorOf, configDiff, HttpError, ErrorBody, SESSION_OR_TOKEN, CHANGE_AUTH, Nullable } from './api.ts';

export const LDAP_API = `${API}/ldap`;
export const LDAP_SCRIPT = '/mics/static/ldap.js';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody };

const { password: _pw, ...settingsProps } = LdapSchema.properties;
const SettingsView = Type.Object(
  { ...settingsProps, passwordSet: Type.Boolean({ description: 'A bind password is stored (it is never returned)' }) },
  { description: 'The LDAP settings; the bind password is never returned' },
);
const HealthView = Type.Object({
  url: Type.String(),
  role: Type.Union([Type.Literal('primary'), Type.Literal('failover')]),
  state: Type.Union([Type.Literal('live'), Type.Literal('dead')], { description: 'dead: skipped while another server is live' }),
  failures: Type.Integer({ description: 'Failed checks or connections in a row' }),
  successes: Type.Integer({ description: 'Successful checks or connections in a row' }),
  lastCheck: Nullable(Type.String()),
  lastError: Nullable(Type.String()),
  lastChange: Nullable(Type.String(), 'When the state last changed'),
});
const StatusView = Type.Object({
  settings: Nullable(SettingsView, 'null until LDAP is configured'),
  baseDn: Nullable(Type.String({ description: 'The search base in force (derived from the domain unless set)' })),
  userAttribute: Nullable(Type.String({ description: 'The attribute users sign in with' })),
  servers: Type.Array(HealthView, { description: 'Each configured server and its health' }),
});
const PlanBody = Type.Object({
  changed: Type.Boolean(),
  diff: Type.String({ description: 'Unified diff of the CLI script (empty: LDAP is not in the script)' }),
  configDiff: Type.String({ description: 'Unified diff of the configuration document, the bind password redacted' }),
  changes: Type.Array(Type.Object({ unit: Type.String(), path: Type.String() })),
  units: Type.Array(Type.String()),
});
const ApplyBody = Type.Object({
  changed: Type.Boolean({ description: 'False when nothing changed (no new revision)' }),
  revision: Type.Integer(),
  units: Type.Array(Type.String()),
  unsaved: Type.Boolean({ description: 'Running differs from saved: Save makes it persistent' }),
});
const Attributes = Type.Record(Type.String(), Type.Array(Type.String()));

/** Settings as shown: no password, passwordSet instead. */
function view(l: LdapConfig): Static<typeof SettingsView> {
  const { password, ...rest } = l;
  return { ...rest, passwordSet: !!password };
}

/** The body in the schema's order with the stored password kept when none is sent (same URL and bind user). */
function normalize(b: LdapConfig, old: LdapConfig | undefined): LdapConfig {
  // Kept only for the same servers and bind user (appliance/config/secrets.ts).
  const password = b.password ?? keptFor('ldap', old, b);
  return {
    enabled: b.enabled,
    type: b.type,
    domain: b.domain,
    ...(b.baseDn ? { baseDn: b.baseDn } : {}),
    url: b.url,
    ...(b.failoverUrl ? { failoverUrl: b.failoverUrl } : {}),
    bindDn: b.bindDn,
    ...(password !== undefined ? { password } : {}),
    searchTimeout: b.searchTimeout,
    chaseReferrals: b.chaseReferrals,
    ...(b.userAttribute ? { userAttribute: b.userAttribute } : {}),
    roleMappings: b.roleMappings.map((m) => ({ group: m.group, role: m.role })),
    health: { interval: b.health.interval, liveThreshold: b.health.liveThreshold, deadThreshold: b.health.deadThreshold },
  };
}

function statusOf(store: Store): Static<typeof StatusView> {
  const l = store.running()?.config.ldap;
  return {
    settings: l ? view(l) : null,
    baseDn: l ? effectiveBaseDn(l) : null,
    userAttribute: l ? userAttributeOf(l) : null,
    servers: l ? directoryOf(store).servers(l).map((s) => ({ ...s })) : [],
  };
}

/** Registers /mics/api/v1/ldap (settings with plan/apply, lookup, browse, health) and starts the health checks. */
export async function registerLdapApi(app: FastifyInstance): Promise<void> {
  const { host, store } = app.keel;
  const dir = directoryOf(store);
  app.addHook('onReady', async () => dir.startMonitor());
  app.addHook('onClose', async () => dir.stopMonitor());
  const configured = (): LdapConfig => {
    const l = store.running()?.config.ldap;
    if (!l) throw new HttpError(409, 'LDAP is not configured yet');
    return l;
  };
  /** A directory operation; 502 (with the reason, never a password) when no server answers or the directory refuses. */
  const directoryCall = async <T>(req: FastifyRequest, reply: FastifyReply, fn: () => Promise<T>): Promise<T | FastifyReply> => {
    configured();
    try {
      return await fn();
    } catch (e) {
      // An LDAP answer (bad bind credentials, no such object...) is the administrator's to fix, like an unreachable server.
      const error = e instanceof DirectoryUnavailable ? e.message : `the directory refused: ${(e as Error).message}`;
      log.warn('LDAP request failed', { requestId: req.id, error });
      return reply.code(502).send({ error, requestId: String(req.id) });
    }
  };

  /** Copy, edit, check() with the one schema, then plan or apply (audited, never the password). */
  async function change(req: FastifyRequest, summary: string, edit: (c: Config) => void, dryRun: boolean): Promise<Static<typeof PlanBody> | Static<typeof ApplyBody>> {
    const actor = actorOf(req);
    const what = `${actor.source.startsWith('api:') ? 'api' : 'webui'}: ${summary}`;
    const cur = store.running();
    if (!cur) throw new HttpError(409, 'there is no running configuration yet');
    const next = structuredClone(cur.config);
    edit(next);
    const problems = check(next);
    if (problems.length) {
      if (!dryRun) store.audit(actor, what, `refused: ${problems.map((p) => `${p.field} (${p.rule})`).join(', ')}`);
      throw new ValidationError(problems);
    }
    const changed = JSON.stringify(next) !== JSON.stringify(cur.config);
    if (dryRun) {
      const p = await planConfig(host, store, next);
      return { changed, diff: p.diff, configDiff: configDiff(cur.config, next), changes: p.changes, units: p.units };
    }
    if (!changed) return { changed: false, revision: cur.revision, units: [], unsaved: store.unsaved() };
    const r = await applyConfig(host, store, next, actor, what);
    dir.startMonitor();
    return { changed: true, revision: r.revision, units: r.units, unsaved: store.unsaved() };
  }
  const summaryOf = (b: LdapConfig) => `set ldap ${b.enabled ? 'enabled' : 'disabled'} ${LDAP_TYPE_LABELS[b.type]} ${b.domain} ${b.url}${b.failoverUrl ? ` failover ${b.failoverUrl}` : ''}`;
  const put = (dryRun: boolean) => (req: FastifyRequest<{ Body: LdapConfig }>) => change(req, summaryOf(req.body), (c) => void (c.ldap = normalize(req.body, c.ldap)), dryRun);
  const desc = 'LDAP / Active Directory administrators: admin state, directory type (Active Directory, Domino, Other), domain (the base DN is derived from it unless baseDn is set), URL and failover URL (ldap:// or ldaps://), bind user and password, search timeout, chase referrals, group-to-role mappings (nested groups count; users are not imported) and the servers\' health checks. The password is write-only: leave it out to keep the stored one (same bind user).';

  app.get(LDAP_API, {
    schema: { tags: ['ldap'], summary: 'LDAP settings and server health', description: 'The settings (never the bind password), the base DN in force and each server\'s health: live or dead, failures and successes in a row, last check and error.', security: SESSION_OR_TOKEN, response: { 200: StatusView, ...errors } },
    handler: async () => statusOf(store),
  });
  app.get(`${LDAP_API}/settings`, {
    schema: { tags: ['ldap'], summary: 'LDAP settings', description: 'The ldap section as PUT takes it, without the password (passwordSet instead). 404 until configured.', security: SESSION_OR_TOKEN, response: { 200: SettingsView, ...errors, 404: ErrorBody } },
    handler: async () => {
      const l = store.running()?.config.ldap;
      if (!l) throw new HttpError(404, 'LDAP is not configured yet');
      return view(l);
    },
  });
  app.put<{ Body: LdapConfig }>(LDAP_API, {
    config: { fieldPrefix: '/ldap' },
    schema: { tags: ['ldap'], summary: 'Change the LDAP settings', description: `${desc} Applied now to the running configuration; Save makes it persistent. Audited.`, security: CHANGE_AUTH, body: LdapSchema, response: { 200: ApplyBody, ...errors } },
    handler: put(false),
  });
  app.post<{ Body: LdapConfig }>(`${LDAP_API}/plan`, {
    config: { fieldPrefix: '/ldap' },
    schema: { tags: ['ldap'], summary: 'Plan: change the LDAP settings', description: `${desc} Only shows the diff (password redacted); nothing changes.`, security: CHANGE_AUTH, body: LdapSchema, response: { 200: PlanBody, ...errors } },
    handler: put(true),
  });
  app.delete(LDAP_API, {
    schema: { tags: ['ldap'], summary: 'Remove the LDAP settings', description: 'Directory users can no longer sign in. Audited.', security: CHANGE_AUTH, response: { 200: ApplyBody, ...errors } },
    handler: async (req) => change(req, 'no ldap', (c) => void delete c.ldap, false),
  });
  app.post<{ Body: { name: string } }>(`${LDAP_API}/lookup`, {
    config: { anyRole: true },
    schema: {
      tags: ['ldap'],
      summary: 'Test a user or group lookup',
      description: 'Searches the directory (bound as the bind user) for entries whose sign-in name, cn or mail is `name` (`*` is a wildcard). Changes nothing. 502 when no server answers or the directory refuses.',
      security: CHANGE_AUTH,
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 256, description: 'User or group name' }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ server: Type.String(), entries: Type.Array(Type.Object({ dn: Type.String(), attributes: Attributes })) }), ...errors, 502: ErrorBody },
    },
    handler: async (req, reply) => directoryCall(req, reply, () => dir.lookup(req.body.name)),
  });
  app.get<{ Querystring: { dn?: string } }>(`${LDAP_API}/browse`, {
    schema: {
      tags: ['ldap'],
      summary: 'Browse the directory tree',
      description: 'The children of `dn` (one level; the base DN when left out), with their object classes.',
      security: SESSION_OR_TOKEN,
      querystring: Type.Object({ dn: Type.Optional(Type.String({ maxLength: 1024, description: 'Entry whose children to list' })) }),
      response: { 200: Type.Object({ server: Type.String(), base: Type.String(), children: Type.Array(Type.Object({ dn: Type.String(), rdn: Type.String(), objectClass: Type.Array(Type.String()) })) }), ...errors, 502: ErrorBody },
    },
    handler: async (req, reply) => directoryCall(req, reply, () => dir.browse(req.query.dn)),
  });
  app.post(`${LDAP_API}/health/check`, {
    config: { anyRole: true },
    schema: { tags: ['ldap'], summary: 'Check the servers now', description: 'Runs one health check of each server now (as the background checks do) and answers their health.', security: CHANGE_AUTH, response: { 200: Type.Array(HealthView), ...errors } },
    handler: async () => {
      configured();
      return (await dir.checkAll()).map((s: ServerHealth) => ({ ...s }));
    },
  });
  app.get(LDAP_SCRIPT, { config: { public: true }, schema: { hide: true } }, (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=3600').send(LDAP_JS),
  );
}

// ---- page ----

function input(label: string, name: string, value: string | number, o: { kind?: string; optional?: boolean; type?: string; help?: string; attrs?: string } = {}): Html {
  const id = `l-${name.replace(/\./g, '-')}`;
  return html`<div class="field"><label for="${id}">${label}</label><input id="${id}" name="${name}" value="${String(value)}"${new Html(o.type ? ` type="${o.type}"` : '')}${new Html(o.kind ? ` data-kind="${o.kind}"` : '')}${new Html(o.optional ? ' data-optional="1"' : '')}${new Html(o.attrs ? ` ${o.attrs}` : '')}>${o.help ? html`<small class="help">${o.help}</small>` : ''}<span class="field-error" data-error-for="${name}" role="alert"></span></div>`;
}

function check_(label: string, name: string, on: boolean, help: string): Html {
  const id = `l-${name}`;
  return html`<div class="field"><label for="${id}"><input id="${id}" name="${name}" type="checkbox" data-kind="bool"${new Html(on ? ' checked' : '')}> ${label}</label><small class="help">${help}</small><span class="field-error" data-error-for="${name}" role="alert"></span></div>`;
}

/** The Security > LDAP page body. */
export function ldapPage(store: Store): Html {
  const st = statusOf(store);
  const l = st.settings;
  const mappings = (l?.roleMappings ?? []).map((m) => `${m.role} ${m.group}`).join('\n');
  const h = l?.health ?? DEFAULT_LDAP_HEALTH;
  const rows = st.servers.map(
    (s) => html`<tr><td>${s.role}</td><td><code>${s.url}</code></td><td><span class="badge ${s.state === 'live' ? 'ok' : 'bad'}">${s.state}</span></td><td>${String(s.failures)} / ${String(s.successes)}</td><td>${s.lastCheck ?? 'not yet'}</td><td>${s.lastError ?? ''}</td></tr>`,
  );
  return html`<section>
<h2>LDAP / Active Directory</h2>
<p class="muted">Directory users sign in to System Manager and SSH with the role of the groups mapped below (nested groups count); they are not imported. Local users always win over a directory user of the same name, and failed directory sign-ins count toward the same lockout.</p>
<form class="js-section" data-url="${LDAP_API}"${new Html(l ? ` data-get="${LDAP_API}/settings"` : '')} novalidate>
${check_('Enabled (admin state)', 'enabled', l?.enabled ?? false, 'Directory users may sign in')}
<div class="field"><label for="l-type">Directory type</label><select id="l-type" name="type">${LDAP_TYPES.map((t) => html`<option value="${t}"${new Html((l?.type ?? 'ad') === t ? ' selected' : '')}>${LDAP_TYPE_LABELS[t]}</option>`)}</select><span class="field-error" data-error-for="type" role="alert"></span></div>
${input('Domain', 'domain', l?.domain ?? '', { help: `Base DN derived from it: ${l ? baseDnOf(l.domain) : 'dc=example,dc=com for example.com'}` })}
${input('Base DN', 'baseDn', l?.baseDn ?? '', { optional: true, help: 'Leave empty to use the one derived from the domain' })}
${input('Directory URL', 'url', l?.url ?? '', { help: 'ldap://host:389 or ldaps://host:636' })}
${input('Failover URL', 'failoverUrl', l?.failoverUrl ?? '', { optional: true, help: 'Used while the first server is dead' })}
${input('Bind user', 'bindDn', l?.bindDn ?? '', { help: 'A DN, user@domain or DOMAIN\\user' })}
${input('Password', 'password', '', { type: 'password', optional: true, attrs: 'autocomplete="new-password"', help: l?.passwordSet ? 'A password is stored; leave empty to keep it' : 'Required when enabled' })}
${input('Search timeout (s)', 'searchTimeout', l?.searchTimeout ?? DEFAULT_SEARCH_TIMEOUT, { kind: 'int' })}
${check_('Chase referrals', 'chaseReferrals', l?.chaseReferrals ?? false, 'Follow referrals to other servers (one hop)')}
${input('User attribute', 'userAttribute', l?.userAttribute ?? '', { optional: true, help: 'Empty: sAMAccountName (Active Directory) or uid' })}
<div class="field"><label for="l-roleMappings">Group-to-role mappings</label><textarea id="l-roleMappings" name="roleMappings" data-kind="mappings" rows="4" placeholder="admin cn=keel-admins,ou=groups,dc=example,dc=com">${mappings}</textarea><small class="help">One per line: admin or operator, a space, then the group DN</small><span class="field-error" data-error-for="roleMappings" role="alert"></span></div>
${input('Health check interval (s)', 'health.interval', h.interval, { kind: 'int', help: '10-600' })}
${input('Live threshold', 'health.liveThreshold', h.liveThreshold, { kind: 'int', help: 'Successful checks before a dead server is live again (1-10)' })}
${input('Dead threshold', 'health.deadThreshold', h.deadThreshold, { kind: 'int', help: 'Failures in a row before a server is marked dead (1-1000)' })}
<p class="form-error" role="alert"></p>
<div class="buttons"><button type="submit" class="admin-only">Apply</button></div>
</form>
</section>
<section id="ldap-panel" data-api="${LDAP_API}">
<h2>Servers</h2>
${st.servers.length ? html`<table><thead><tr><th>Server</th><th>URL</th><th>State</th><th>Failures / successes in a row</th><th>Last check</th><th>Last error</th></tr></thead><tbody>${rows}</tbody></table>` : html`<p>LDAP is not configured.</p>`}
<div class="buttons"><button type="button" data-ldap-action="check"${new Html(l ? '' : ' disabled')}>Check now</button></div>
<h2>Test a lookup</h2>
<form id="ldap-lookup" novalidate><div class="field"><label for="l-lookup">User or group</label><input id="l-lookup" name="_name"></div><button type="submit"${new Html(l ? '' : ' disabled')}>Look up</button></form>
<pre id="ldap-lookup-result" aria-live="polite"></pre>
<h2>Browse</h2>
<div class="buttons"><button type="button" data-ldap-action="browse"${new Html(l ? '' : ' disabled')}>Browse from ${st.baseDn ?? 'the base DN'}</button></div>
<ul id="ldap-tree"></ul>
<p class="form-error" id="ldap-error" role="alert"></p>
</section>
<script src="${LDAP_SCRIPT}" defer></script>`;
}

/** The page's script for lookup, browse and health (served from /mics/static/ldap.js: the CSP allows only 'self' scripts). */
export const LDAP_JS = `// System Manager: Security > LDAP (lookup, browse one level at a time, health check).
'use strict';
(function () {
  const panel = document.getElementById('ldap-panel');
  if (!panel) return;
  const base = panel.dataset.api;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
  const errorBox = document.getElementById('ldap-error');
  async function api(method, url, body) {
    const headers = { 'X-CSRF-Token': csrf, Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    const data = await res.json().catch(() => ({ error: 'Error ' + res.status }));
    if (!res.ok) throw data;
    return data;
  }
  const say = (e) => (errorBox.textContent = (e && e.error) || String(e));
  function node(child) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'linklike';
    b.textContent = child.rdn + (child.objectClass.length ? ' (' + child.objectClass.join(', ') + ')' : '');
    b.title = child.dn;
    const ul = document.createElement('ul');
    b.addEventListener('click', async () => {
      if (ul.childElementCount) return void (ul.textContent = '');
      await expand(child.dn, ul);
    });
    li.append(b, ul);
    return li;
  }
  async function expand(dn, ul) {
    errorBox.textContent = '';
    try {
      const r = await api('GET', base + '/browse' + (dn ? '?dn=' + encodeURIComponent(dn) : ''));
      ul.textContent = '';
      if (!r.children.length) {
        const li = document.createElement('li');
        li.textContent = '(no entries below)';
        ul.append(li);
      }
      for (const c of r.children) ul.append(node(c));
    } catch (e) {
      say(e);
    }
  }
  const lookup = document.getElementById('ldap-lookup');
  lookup.addEventListener('submit', async (e) => {
    e.preventDefault();
    errorBox.textContent = '';
    const out = document.getElementById('ldap-lookup-result');
    out.textContent = 'Searching...';
    try {
      const r = await api('POST', base + '/lookup', { name: lookup.querySelector('input').value });
      out.textContent = r.entries.length
        ? 'Server ' + r.server + ':\\n' + r.entries.map((x) => x.dn + '\\n' + Object.entries(x.attributes).map(([k, v]) => '  ' + k + ': ' + v.join(', ')).join('\\n')).join('\\n')
        : 'No entry found on ' + r.server + '.';
    } catch (err) {
      out.textContent = '';
      say(err);
    }
  });
  for (const b of document.querySelectorAll('[data-ldap-action]')) {
    b.addEventListener('click', async () => {
      errorBox.textContent = '';
      if (b.dataset.ldapAction === 'browse') return expand('', document.getElementById('ldap-tree'));
      b.disabled = true;
      try {
        await api('POST', base + '/health/check', {});
        location.reload();
      } catch (err) {
        say(err);
      } finally {
        b.disabled = false;
      }
    });
  }
})();
`;
