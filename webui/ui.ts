/**
 * System Manager pages: server-rendered HTML with one small script (static/app.js, no inline
 * code: the CSP allows only 'self'). Forms change nothing by themselves: app.js sends them to the
 * v1 API (plan → confirm with the diff → apply), so the UI and automation share one path.
 */
import { explorerPage } from './explorer.ts';
import { hostnameMismatch } from '../appliance/certs/webui.ts';
import fs from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../appliance/config/schema.ts';
import { INTERFACE_NAMES } from '../appliance/network/schema.ts';
import { SSH_DEFAULTS } from '../appliance/ssh/schema.ts';
import { EMAIL_PROTOCOLS } from '../appliance/email/schema.ts';
import { lockoutPolicy, passwordPolicy, type Lockouts } from '../appliance/users/signin.ts';
import { pendingConfirm } from '../appliance/config/confirm.ts';
import { pendingCert } from './certs.ts';
import { ServiceCertificates, CERT_SERVICE_NAMES } from '../appliance/certs/services.ts';
import { defaultNames, type CertSummary } from '../appliance/certs/pki.ts';
import { aclOf, ACL_COMPONENTS, ACL_LABELS } from '../appliance/acl/schema.ts';
import { PROVISIONING_PORTS } from '../appliance/ports/schema.ts';
import { CARD_TYPES, MAP_FROM, MAP_TO, DEFAULT_PORTAL_AUTH } from '../appliance/portalauth/schema.ts';
import type { ApiTokens } from '../appliance/tokens/store.ts';
import { scriptDiff } from '../appliance/config/apply.ts';
import { VERSION } from '../appliance/version.ts';
import { html, Html, formatUptime } from './pages.ts';
import type { Health, HealthSampler } from './health.ts';
import type { ConfigState } from './state.ts';
import { queryAudit } from './audit.ts';
import { API } from './api.ts';
import { updatesPage } from './update.ts';
import { ldapPage } from './ldap.ts';
import { alertsPage } from './health-routes.ts';
import { connectivityPage, CONNECTIVITY_PAGE } from './connectivity.ts';
import { toolsPage, runTool, formBody, PAGE_TOOLS, TOOLS_PAGE, type ToolOutcome, CAPTURE_PAGE, capturePage, captureFormBody, captureInterfaces, runCapture, storedCaptures } from './diagnostics.ts';
import { OperationalError, ValidationError } from '../appliance/errors.ts';
import { ConnectivityStore } from '../appliance/connectivity/run.ts';
import { loggingPage, followSeconds, LOGGING_PAGE, type LoggingQuery } from './logging.ts';
import { reportingPage, dashboardResources, REPORTING_PAGE } from './reporting.ts';
import { ResourceHistory } from '../appliance/reporting/history.ts';

const BASE = '/mics';

interface NavItem {
  href: string;
  label: string;
}
const NAV: { group: string; items: NavItem[] }[] = [
  { group: '', items: [{ href: `${BASE}/`, label: 'Dashboard' }, { href: `${BASE}/reporting`, label: 'Reporting' }] },
  {
    group: 'Settings',
    items: [
      { href: `${BASE}/settings/network`, label: 'Network' },
      { href: `${BASE}/settings/time`, label: 'Date & Time' },
      { href: `${BASE}/settings/ssh`, label: 'SSH' },
      { href: `${BASE}/settings/email`, label: 'Email' },
      { href: `${BASE}/settings/alerts`, label: 'Alerts' },
      { href: `${BASE}/settings/ports`, label: 'Port Settings' },
      { href: `${BASE}/settings/proxy`, label: 'Outbound Proxy' },
    ],
  },
  {
    group: 'Security',
    items: [
      { href: `${BASE}/security/users`, label: 'Local Users' },
      { href: `${BASE}/security/password-policy`, label: 'Password Policy' },
      { href: `${BASE}/security/acl`, label: 'Portal ACL' },
      { href: `${BASE}/security/portal-auth`, label: 'Portal Authentication' },
      { href: `${BASE}/security/ldap`, label: 'LDAP' },
      { href: `${BASE}/security/tokens`, label: 'API Tokens' },
    ],
  },
  { group: '', items: [{ href: `${BASE}/certificates`, label: 'Certificates' }] },
  {
    group: 'Maintenance',
    items: [
      { href: `${BASE}/maintenance`, label: 'Reboot & Backup' },
      { href: `${BASE}/maintenance/updates`, label: 'Software Updates' },
      { href: `${BASE}/changes`, label: 'Configuration Changes' },
    ],
  },
  { group: 'Diagnostics', items: [{ href: `${BASE}/diagnostics/connectivity`, label: 'Connectivity' }, { href: `${BASE}/diagnostics/tools`, label: 'Tools' }, { href: `${BASE}/diagnostics/capture`, label: 'Capture' }] },
  { group: 'Logs', items: [{ href: `${BASE}/logging`, label: 'System Log' }, { href: `${BASE}/audit`, label: 'Audit Log' }] },
  { group: '', items: [{ href: `${BASE}/api/`, label: 'API' }] },
];

interface PageCtx {
  username: string;
  role: 'admin' | 'operator';
  csrf: string;
  hostname: string;
  unsaved: boolean;
  path: string;
}

function page(ctx: PageCtx, title: string, body: Html, opts: { refreshSeconds?: number | null } = {}): string {
  const nav = NAV.map(
    (g) => html`<div class="navgroup">${g.group ? html`<span class="navhead">${g.group}</span>` : ''}${g.items.map(
      (i) => html`<a href="${i.href}"${i.href === ctx.path ? new Html(' aria-current="page"') : ''}>${i.label}</a>`,
    )}</div>`,
  );
  const state = ctx.unsaved
    ? html`<span id="unsaved-flag" class="badge warn" title="The running configuration differs from the saved one and is lost at reboot unless saved">Unsaved changes</span>${
        ctx.role === 'admin' ? html` <button type="button" id="save-config" class="js-save">Save</button>` : ''
      }`
    : html`<span id="saved-flag" class="badge ok">Saved</span>`;
  const p = pendingConfirm() ?? pendingCert();
  const confirmBar = p
    ? html`<div id="confirm-bar" class="confirm-bar" role="alert" data-deadline="${p.deadline.toISOString()}"><strong>Confirm this change:</strong> ${p.reason}. It reverts by itself in <span class="js-countdown">${Math.max(0, Math.ceil((p.deadline.getTime() - Date.now()) / 1000))}</span> s unless confirmed. ${
        ctx.role === 'admin' ? html`<button type="button" id="confirm-change" class="js-confirm">Confirm</button>` : ''
      }</div>`
    : '';
  return `<!doctype html>
${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<meta name="csrf-token" content="${ctx.csrf}">
${opts.refreshSeconds ? html`<meta http-equiv="refresh" content="${opts.refreshSeconds}">` : ''}
<title>${title} · System Manager</title>
<link rel="stylesheet" href="/mics/static/style.css">
<script src="/mics/static/app.js" defer></script>
</head>
<body data-role="${ctx.role}">
<header>
<div><strong>System Manager</strong> <span class="host">${ctx.hostname}</span></div>
<div class="config-state">${state}</div>
<form method="post" action="/mics/logout" class="signout">
<input type="hidden" name="_csrf" value="${ctx.csrf}">
<span>${ctx.username} (${ctx.role})</span> <button type="submit">Sign out</button>
</form>
</header>
${confirmBar}
<div class="shell">
<nav>${nav}</nav>
<main>
<h1>${title}</h1>
${ctx.role === 'operator' ? html`<p class="muted">You are signed in as an operator: you can look, not change.</p>` : ''}
${body}
</main>
</div>
<dialog id="keel-dialog">
<h2 class="dialog-title"></h2>
<p class="dialog-message"></p>
<pre class="dialog-diff diff"></pre>
<div class="dialog-buttons"><button type="button" class="dialog-ok">Apply</button> <button type="button" class="dialog-cancel secondary">Cancel</button></div>
</dialog>
</body>
</html>
`.text}`;
}

// ---- form helpers ----

type Kind = 'str' | 'int' | 'bool' | 'list' | 'routes';
interface FieldOpts {
  label: string;
  name: string;
  value?: unknown;
  kind?: Kind;
  type?: string;
  help?: string;
  /** A select's choices: a value, or a value with the words people see. */
  options?: readonly (string | { value: string; label: string })[];
  /** Empty means "leave the field out" (optional settings). */
  optional?: boolean;
  attrs?: string;
}

let fieldSeq = 0;
/** A labelled input whose errors app.js shows next to it (matched by the field name). */
function field(o: FieldOpts): Html {
  const id = `f${++fieldSeq}-${o.name.replace(/[^A-Za-z0-9]/g, '-')}`;
  const kind = o.kind ?? 'str';
  const common = new Html(`id="${id}" name="${o.name}" data-kind="${kind}"${o.optional ? ' data-optional="1"' : ''} ${o.attrs ?? ''}`);
  let input: Html;
  if (kind === 'bool') {
    input = html`<input type="checkbox" ${common}${o.value ? new Html(' checked') : ''}>`;
  } else if (o.options) {
    input = html`<select ${common}>${o.options.map((x) => {
      const { value, label } = typeof x === 'string' ? { value: x, label: x } : x;
      return html`<option value="${value}"${value === String(o.value ?? '') ? new Html(' selected') : ''}>${label}</option>`;
    })}</select>`;
  } else if (kind === 'routes' || o.type === 'textarea') {
    input = html`<textarea ${common} rows="3">${String(o.value ?? '')}</textarea>`;
  } else {
    const v = Array.isArray(o.value) ? o.value.join(', ') : (o.value ?? '');
    input = html`<input type="${o.type ?? (kind === 'int' ? 'number' : 'text')}" ${common} value="${v}">`;
  }
  return html`<div class="field${kind === 'bool' ? ' check' : ''}">
<label for="${id}">${o.label}</label>
${input}
${o.help ? html`<small class="help">${o.help}</small>` : ''}
<span class="field-error" data-error-for="${o.name}" role="alert"></span>
</div>`;
}

/** A settings form: app.js GETs the section, overlays the fields, plans, confirms with the diff, applies. */
function sectionForm(section: string, body: Html, opts: { title?: string; get?: boolean; url?: string } = {}): Html {
  const url = opts.url ?? `${API}/config/${section}`;
  return html`<section>
${opts.title ? html`<h2>${opts.title}</h2>` : ''}
<form class="js-section" data-url="${url}" data-get="${opts.get === false ? '' : url}" novalidate>
${body}
<p class="form-error" role="alert"></p>
<div class="buttons"><button type="submit" class="admin-only">Apply</button></div>
</form>
</section>`;
}

/** An API action form (add user, unlock, token…): sends the fields as JSON with the given method. */
function actionForm(o: { method: string; url: string; body?: Html; button: string; confirm?: string; plan?: string; result?: 'token' | 'message' | 'download' | 'steps'; cls?: string; inline?: boolean }): Html {
  return html`<form class="js-action${o.inline ? ' inline' : ''}" data-method="${o.method}" data-url="${o.url}" data-confirm="${o.confirm ?? ''}" data-plan="${o.plan ?? ''}" data-result="${o.result ?? ''}" novalidate>
${o.body ?? ''}
<span class="form-error" role="alert"></span>
<button type="submit" class="${o.cls ?? 'admin-only'}">${o.button}</button>
<output class="result"></output>
</form>`;
}

const when = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/Z$/, ' UTC') : '');
const bytes = (n: number) => (n >= 1 << 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`);

// ---- pages ----

function dashboard(h: Health, c: Config, healthPanel: Html, certNote: string | null, resources: Html = html``): Html {
  const conf = h.configuration;
  const rows = h.interfaces.map(
    (i) => html`<tr>
<td>${i.name}</td>
<td>${i.address ? `${i.address} / ${i.netmask}` : 'not configured'}</td>
<td>${i.ifname ?? (i.pci ? 'no driver' : 'not present')}</td>
<td>${i.mac ?? '—'}</td>
<td>${i.link.state ?? 'unknown'}${i.link.speedMbps ? ` · ${i.link.speedMbps} Mb/s` : ''}</td>
<td>${i.pci ?? '—'}</td>
</tr>
`,
  );
  const mem = h.memory;
  return html`${certNote ? html`<p class="unsaved" id="cert-hostname" role="status">${certNote}</p>` : ''}
${conf.unsaved ? html`<p class="unsaved" id="unsaved" role="status">Unsaved changes: the running configuration (revision ${conf.runningRevision}) differs from the saved one (revision ${conf.startupRevision ?? 'none'}) and will be lost at reboot unless saved.</p>` : ''}
${healthPanel}
${resources}
<section>
<h2>System</h2>
<dl>
<dt>Hostname</dt><dd id="hostname">${h.hostname}</dd>
${c.system.company ? html`<dt>Company</dt><dd>${c.system.company}</dd>` : ''}
<dt>Version</dt><dd>Keel ${h.version}</dd>
<dt>${h.uptimeOf === 'host' ? 'Uptime (of the host running this sandbox)' : 'Uptime'}</dt><dd>${formatUptime(h.uptimeSeconds)}</dd>
<dt>CPU</dt><dd>${h.cpu.count} × ${h.cpu.model}; load ${h.cpu.loadAverage.join(' / ')} (1 / 5 / 15 min)</dd>
<dt>Memory</dt><dd>${bytes(mem.totalBytes - mem.freeBytes)} used of ${bytes(mem.totalBytes)}; System Manager ${bytes(mem.systemManagerRssBytes)}${mem.keelProcessesBytes === null ? '' : `, all of Keel's processes ${bytes(mem.keelProcessesBytes)}`}</dd>
<dt>Disk</dt><dd>${h.disk ? `${bytes(h.disk.totalBytes - h.disk.freeBytes)} used of ${bytes(h.disk.totalBytes)} (${h.disk.path})` : 'unknown'}</dd>
</dl>
</section>
<section>
<h2>Interfaces</h2>
<table>
<thead><tr><th>Interface</th><th>Address / netmask</th><th>OS name</th><th>MAC</th><th>Link</th><th>PCI</th></tr></thead>
<tbody>
${rows.length ? rows : html`<tr><td colspan="6">No network controllers found</td></tr>`}
</tbody>
</table>
</section>
<section>
<h2>Configuration</h2>
<dl>
<dt>Running revision</dt><dd>${conf.runningRevision ?? 'none'}</dd>
<dt>Saved (startup) revision</dt><dd>${conf.startupRevision ?? 'none'}</dd>
<dt>State</dt><dd>${conf.unsaved ? html`<span class="badge warn">unsaved changes</span>` : html`<span class="badge ok">saved</span>`}</dd>
</dl>
</section>`;
}

function networkPage(c: Config): Html {
  const ifaces = c.network.interfaces.map(
    (i, n) => html`<fieldset><legend>${i.name}</legend>
${field({ label: 'IPv4 address', name: `interfaces.${n}.address`, value: i.address })}
${field({ label: 'Netmask', name: `interfaces.${n}.netmask`, value: i.netmask })}
${field({ label: 'Enabled (no shutdown)', name: `interfaces.${n}.enabled`, value: i.enabled, kind: 'bool' })}
</fieldset>`,
  );
  const routes = c.network.routes.map((r) => `${r.destination} ${r.netmask} ${r.via}`).join('\n');
  return html`${sectionForm('system', html`${field({ label: 'Hostname (FQDN)', name: 'hostname', value: c.system.hostname, help: 'The external name the appliance is reached by; also the name in its certificate' })}`, { title: 'Hostname' })}
${sectionForm(
  'network',
  html`${ifaces}
${field({ label: 'Default gateway', name: 'gateway', value: c.network.gateway })}
${field({ label: 'Static routes', name: 'routes', value: routes, kind: 'routes', help: 'One per line: destination netmask next-hop, e.g. 10.0.0.0 255.0.0.0 192.0.2.254' })}`,
  { title: 'Interfaces and routes' },
)}
${sectionForm(
  'dns',
  html`${field({ label: 'Name servers', name: 'servers', value: c.dns.servers, kind: 'list', help: '1 to 3 IPv4 addresses, in order of preference, separated by commas' })}
${field({ label: 'Search domain', name: 'domain', value: c.dns.domain, optional: true, help: 'Empty: the domain of the hostname' })}`,
  { title: 'DNS' },
)}
<p class="muted">Interfaces present: ${INTERFACE_NAMES.slice(0, 6).join(', ')} as the NICs allow. Adding interfaces is done in the CLI (interface GigabitEthernetN).</p>`;
}

function timePage(c: Config): Html {
  const zones = Intl.supportedValuesOf('timeZone');
  if (!zones.includes('UTC')) zones.unshift('UTC');
  return html`<section>
<h2>Now</h2>
<dl><dt>Appliance time (UTC)</dt><dd id="now">${new Date().toISOString().replace('T', ' ').slice(0, 19)}</dd><dt>Time zone</dt><dd>${c.clock.timezone}</dd></dl>
</section>
${sectionForm(
  'ntp',
  html`${field({ label: 'Synchronise with NTP servers', name: 'enabled', value: c.ntp.enabled, kind: 'bool' })}
${field({ label: 'NTP servers', name: 'servers', value: c.ntp.servers, kind: 'list', help: 'Up to 3 addresses or host names, separated by commas' })}`,
  { title: 'NTP' },
)}
${sectionForm('clock', html`${field({ label: 'Time zone', name: 'timezone', value: c.clock.timezone, options: zones })}`, { title: 'Clock' })}`;
}

function sshPage(c: Config): Html {
  const s = c.ssh;
  return sectionForm(
    'ssh',
    html`${field({ label: 'SSH enabled', name: 'enabled', value: s.enabled, kind: 'bool' })}
${field({ label: 'Port', name: 'port', value: s.port, kind: 'int' })}
${field({ label: 'Idle timeout (seconds)', name: 'idleTimeoutSeconds', value: s.idleTimeoutSeconds ?? SSH_DEFAULTS.idleTimeoutSeconds, kind: 'int', help: '10 to 86400' })}
${field({ label: 'Most sessions at once', name: 'maxSessions', value: s.maxSessions ?? SSH_DEFAULTS.maxSessions, kind: 'int', help: '1 to 64' })}
${field({ label: 'Login banner', name: 'banner', value: s.banner, optional: true, type: 'textarea', help: 'Shown before sign-in on the consoles and over SSH; empty for none' })}`,
    { title: 'SSH server' },
  );
}

function emailPage(c: Config): Html {
  const e = c.email;
  return html`${sectionForm(
    'email',
    html`${field({ label: 'From e-mail', name: 'from', value: e?.from ?? '', help: 'From address of every administrative e-mail' })}
${field({ label: 'SMTP server', name: 'server', value: e?.server ?? '' })}
${field({ label: 'Protocol', name: 'protocol', value: e?.protocol ?? 'smtp', options: EMAIL_PROTOCOLS.map((p) => ({ value: p, label: EMAIL_PROTOCOL_LABELS[p] })), attrs: `data-port-field="port" data-port-defaults='${JSON.stringify(EMAIL_DEFAULT_PORTS)}'`, help: 'Choosing a protocol sets its usual port unless you typed another' })}
${field({ label: 'SMTP server port', name: 'port', value: e?.port ?? 25, kind: 'int' })}
${field({ label: 'Authentication required', name: 'auth', value: e?.auth ?? false, kind: 'bool' })}
${field({ label: 'User name', name: 'username', value: e?.username ?? '', optional: true })}
${field({ label: 'Password', name: 'password', value: '', type: 'password', optional: true, help: e?.password ? 'A password is stored; leave empty to keep it' : 'Needed when authentication is required', attrs: 'autocomplete="new-password"' })}
${field({ label: 'Confirm password', name: 'passwordConfirm', value: '', type: 'password', optional: true, attrs: 'autocomplete="new-password" data-confirms="password" data-skip="1"' })}`,
    { title: 'Email settings', get: false },
  )}
<section>
<h2>Test</h2>
<form class="js-email-test" novalidate>
${field({ label: 'Send a test e-mail to', name: 'to', value: '' })}
${field({ label: 'Message', name: 'text', value: 'This is a test e-mail from System Manager.', type: 'textarea', optional: true })}
<p class="form-error" role="alert"></p>
<button type="submit" class="admin-only">Send test e-mail</button>
<output class="result"></output>
</form>
<p class="muted">The test uses the settings in the form above, applied or not.</p>
</section>`;
}

function proxyPage(c: Config): Html {
  const p = c.proxy;
  return html`${sectionForm(
    'proxy',
    html`${field({ label: 'Use the proxy', name: 'enabled', value: p?.enabled ?? false, kind: 'bool' })}
${field({ label: 'Proxy URL', name: 'url', value: p?.url ?? '', help: 'http://host:port, e.g. http://proxy.example.com:3128 (HTTPS goes through it as a CONNECT tunnel)' })}
${field({ label: 'User name', name: 'username', value: p?.username ?? '', optional: true, help: 'Empty: the proxy needs no authentication' })}
${field({ label: 'Password', name: 'password', value: '', type: 'password', optional: true, help: p?.password ? 'A password is stored; leave empty to keep it' : 'Needed with a user name', attrs: 'autocomplete="new-password"' })}
${field({ label: 'No proxy for', name: 'noProxy', value: p?.noProxy ?? [], kind: 'list', help: 'Host names, domain suffixes (.example.com) or addresses reached directly, separated by commas' })}`,
    { title: 'Outbound HTTP proxy', get: false },
  )}
<p class="muted">Used for the appliance's own requests to the outside: the software update repository.</p>`;
}

/** The seed's user record fields; certificate sign-in maps a card to the e-mail ($EMAIL$) or EDIPI ($EDIPI$). */
function userFields(u: { firstName?: string; lastName?: string; email?: string; edipi?: string }): Html {
  return html`${field({ label: 'First name', name: 'firstName', value: u.firstName ?? '' })}
${field({ label: 'Last name', name: 'lastName', value: u.lastName ?? '' })}
${field({ label: 'E-mail', name: 'email', value: u.email ?? '', attrs: 'autocomplete="off"', help: 'PIV certificate sign-in can map to it ($EMAIL$)' })}
${field({ label: 'EDIPI', name: 'edipi', value: u.edipi ?? '', attrs: 'inputmode="numeric" autocomplete="off"', help: '10 digits; CAC certificate sign-in maps to it ($EDIPI$)' })}`;
}

/** What the Email page's protocol choices mean, and the port each usually uses. */
const EMAIL_PROTOCOL_LABELS: Record<string, string> = { smtp: 'SMTP (plain, port 25)', smtps: 'SMTPS (TLS from the start, port 465)', starttls: 'SMTP with STARTTLS (port 587)' };
const EMAIL_DEFAULT_PORTS: Record<string, number> = { smtp: 25, smtps: 465, starttls: 587 };

function usersPage(c: Config, lockouts: Lockouts, self: string): Html {
  const rows = c.users.local.map((u) => {
    const locked = lockouts.lockedUntil(u.name);
    const enc = encodeURIComponent(u.name);
    return html`<tr data-user="${u.name}">
<td>${u.name}${u.name === self ? ' (you)' : ''}</td>
<td>${[u.firstName, u.lastName].filter(Boolean).join(' ')}</td>
<td>${u.email ?? ''}</td>
<td>${u.edipi ?? ''}</td>
<td>${u.role}</td>
<td>${when(u.passwordChangedAt)}</td>
<td>${locked ? html`<span class="badge warn">locked until ${when(locked.toISOString())}</span>` : 'no'}</td>
<td class="actions">
${actionForm({ method: 'PUT', url: `${API}/users/${enc}`, plan: `${API}/users/${enc}/plan`, inline: true, button: 'Change', body: html`${field({ label: 'Role', name: 'role', value: u.role, options: ['admin', 'operator'] })}${field({ label: 'New password', name: 'password', type: 'password', optional: true, attrs: 'autocomplete="new-password"' })}${userFields(u)}` })}
${locked ? actionForm({ method: 'POST', url: `${API}/users/${enc}/unlock`, button: 'Unlock', inline: true }) : ''}
${u.name === self ? '' : actionForm({ method: 'DELETE', url: `${API}/users/${enc}`, plan: `${API}/users/${enc}/delete/plan`, button: 'Delete', inline: true, cls: 'admin-only danger' })}
</td>
</tr>`;
  });
  const p = passwordPolicy(c);
  return html`<section>
<table class="users">
<thead><tr><th>User ID</th><th>Name</th><th>E-mail</th><th>EDIPI</th><th>Role</th><th>Password changed</th><th>Locked out</th><th>Actions</th></tr></thead>
<tbody>${rows}</tbody>
</table>
</section>
<section>
<h2>Add user</h2>
${actionForm({
  method: 'POST',
  url: `${API}/users`,
  plan: `${API}/users/plan`,
  button: 'Add',
  body: html`${field({ label: 'User ID (case sensitive)', name: 'name' })}
${field({ label: 'Role', name: 'role', value: 'operator', options: ['admin', 'operator'] })}
${field({ label: 'Password', name: 'password', type: 'password', attrs: 'autocomplete="new-password"', help: `At least ${p.minLength} characters${p.requireUpper ? ' with a capital letter' : ''}${p.requireDigit ? ' and a digit' : ''}; not the user ID` })}
${field({ label: 'Confirm password', name: 'passwordConfirm', type: 'password', attrs: 'autocomplete="new-password" data-confirms="password" data-skip="1"' })}
${userFields({})}`,
})}
</section>
<section>
<h2>Your password</h2>
${actionForm({
  method: 'PUT',
  url: `${API}/users/${encodeURIComponent(self)}`,
  button: 'Change my password',
  cls: '',
  body: html`${field({ label: 'New password', name: 'password', type: 'password', attrs: 'autocomplete="new-password"' })}
${field({ label: 'Confirm new password', name: 'passwordConfirm', type: 'password', attrs: 'autocomplete="new-password" data-confirms="password" data-skip="1"' })}`,
})}
<p class="muted">You can change your own password at most once per 24 hours.</p>
</section>`;
}

function policyPage(c: Config): Html {
  const p = passwordPolicy(c);
  const l = lockoutPolicy(c);
  return html`<section>
<h2>Password policy</h2>
<ul>
<li>At least ${p.minLength} characters</li>
${p.requireLetter ? html`<li>At least one letter</li>` : ''}
${p.requireUpper ? html`<li>At least one capital letter</li>` : ''}
${p.requireDigit ? html`<li>At least one digit</li>` : ''}
<li>No character repeated more than ${p.maxRepeat} times in a row</li>
<li>Not the same as the user ID; printable ASCII only (so it can be typed on every console)</li>
<li>Users can change their own password at most once per ${p.minAgeHours} hours</li>
</ul>
<p class="muted">${c.users.passwordPolicy ? 'Adjusted from the installation guide\'s policy.' : 'The installation guide\'s policy.'} New passwords are checked against it; existing ones stay valid until changed.</p>
</section>
${sectionForm(
  'users/password-policy',
  html`${field({ label: 'Fewest characters', name: 'minLength', value: p.minLength, kind: 'int', help: '8 to 128' })}
${field({ label: 'At least one letter', name: 'requireLetter', value: p.requireLetter, kind: 'bool' })}
${field({ label: 'At least one capital letter', name: 'requireUpper', value: p.requireUpper, kind: 'bool' })}
${field({ label: 'At least one digit', name: 'requireDigit', value: p.requireDigit, kind: 'bool' })}
${field({ label: 'Most repeats of one character in a row', name: 'maxRepeat', value: p.maxRepeat, kind: 'int', help: '1 to 10' })}
${field({ label: 'Own password changes at most once per (hours)', name: 'minAgeHours', value: p.minAgeHours, kind: 'int', help: '0 to 720' })}`,
  { title: 'Adjust the password policy', get: false },
)}
${sectionForm(
  'users/lockout',
  html`${field({ label: 'Failed sign-ins before lockout', name: 'attempts', value: l.attempts, kind: 'int' })}
${field({ label: 'Within (minutes)', name: 'windowMinutes', value: l.windowMinutes, kind: 'int' })}
${field({ label: 'Lockout lasts (minutes)', name: 'lockMinutes', value: l.lockMinutes, kind: 'int', help: 'An administrator can unlock a user earlier under Local Users' })}`,
  { title: 'Lockout (SSH and System Manager; the consoles are never locked out)', get: false },
)}`;
}

function aclPage(c: Config, ip: string): Html {
  const acl = aclOf(c);
  const ports = { systemManager: `TCP ${c.webui.port}`, ssh: c.ssh.enabled ? `TCP ${c.ssh.port}` : 'SSH is off', provisioning: c.ports ? `TCP ${c.ports.provisioning}` : 'not set under Port Settings (closed)' };
  return html`<section>
<p>Each list names the IPv4 addresses and networks (like <code>192.0.2.0/24</code>) that may reach a component; an empty list lets anyone in. The firewall (nftables) enforces the lists, and System Manager checks its own list again. The serial and VGA consoles are never restricted.</p>
<p>You are connected from <strong id="my-address">${ip}</strong>. A System Manager list without your address is refused unless you force it; any change to it reverts by itself unless you confirm it within 120 seconds.</p>
</section>
${sectionForm(
  'acl',
  html`${ACL_COMPONENTS.map((k) => field({ label: `${ACL_LABELS[k]} (${ports[k]})`, name: k, value: acl[k].join('\n'), kind: 'list', type: 'textarea', help: 'Addresses or networks, separated by commas or new lines; empty: anyone' }))}`,
  { title: 'Allowed sources', get: false },
)}`;
}

function portalAuthPage(c: Config): Html {
  const p = c.portalAuth ?? DEFAULT_PORTAL_AUTH;
  const cert = p.certificate;
  return html`${sectionForm(
    'portalAuth',
    html`${field({ label: 'Password sign-in', name: 'password', value: p.password, kind: 'bool', help: 'Stays on unless you turn it off; it can be off only while certificate sign-in is on' })}
<fieldset><legend>Certificate sign-in (PIV / CAC smart cards)</legend>
${field({ label: 'Certificate sign-in', name: 'certificate.enabled', value: cert?.enabled ?? false, kind: 'bool' })}
${field({ label: 'Card', name: 'certificate.cardType', value: cert?.cardType ?? 'piv', options: CARD_TYPES, help: 'cac requires mapping to $EDIPI$' })}
${field({ label: 'Map from (certificate)', name: 'certificate.mapFrom', value: cert?.mapFrom ?? 'upn', options: MAP_FROM, help: 'upn: NT Principal Name in the SAN; rfc822: e-mail in the SAN' })}
${field({ label: 'Map to (local user)', name: 'certificate.mapTo', value: cert?.mapTo ?? 'USERID', options: MAP_TO, help: '$USERID$, $EMAIL$ or $EDIPI$; DOMAIN\\userid and userid@domain both match' })}
${field({ label: 'Issuing CA certificate or chain (PEM)', name: 'certificate.caChain', value: cert?.caChain ?? '', type: 'textarea', help: 'Paste the PEM; replace it the same way' })}
</fieldset>`,
    { title: 'Sign-in methods', get: false },
  )}
<section>
<h2>Test sign-in</h2>
${actionForm({ method: 'POST', url: `${API}/portal-auth/test`, button: 'Test', result: 'steps', body: html`${field({ label: 'Client certificate (PEM)', name: 'certificate', type: 'file', attrs: 'accept=".pem,.crt,.cer" data-file="1"' })}` })}
<p class="muted">Shows how the certificate maps to a local user with the applied settings, or why it does not. Nothing changes.</p>
</section>`;
}

function portsPage(c: Config): Html {
  // Not set means closed: the form says so instead of showing a port that is not open.
  const choices = [...(c.ports ? [] : [{ value: '', label: 'Closed (choose a port to open provisioning)' }]), { value: '443', label: '443 (HTTPS)' }, { value: '8080', label: '8080 (HTTP, for evaluation only)' }].filter((x) => x.value === '' || PROVISIONING_PORTS.map(String).includes(x.value));
  return html`${sectionForm(
    'ports',
    html`${field({ label: 'Provisioning port', name: 'provisioning', value: c.ports ? String(c.ports.provisioning) : '', kind: 'int', options: choices, help: '443: HTTPS; 8080: HTTP, for evaluation only' })}`,
    { title: 'Provisioning', get: false },
  )}
<p class="muted">${c.ports ? `Provisioning is open on TCP ${c.ports.provisioning} (narrowed by the Portal ACL).` : 'Provisioning is closed until a port is set here.'}</p>`;
}

function certRows(x: CertSummary): Html {
  const state = x.expired
    ? html`<span class="badge warn">expired</span>`
    : x.expiresSoon
      ? html`<span class="badge warn">expires in ${x.daysLeft} days</span>`
      : html`<span class="badge ok">valid, ${x.daysLeft} days left</span>`;
  return html`<dl>
<dt>Subject</dt><dd>${x.subject}</dd>
<dt>Issuer</dt><dd>${x.issuer}${x.selfSigned ? ' (self-signed)' : ''}</dd>
<dt>Names</dt><dd>${x.names.join(', ') || 'none'}</dd>
<dt>Valid</dt><dd>${when(x.validFrom)} to ${when(x.validTo)} ${state}</dd>
<dt>Server authentication</dt><dd>${x.serverAuth ? 'yes' : html`<span class="badge warn">no (extended key usage lacks serverAuth)</span>`}</dd>
<dt>Key</dt><dd>${x.keyType}${x.keyBits ? ` ${x.keyBits} bits` : ''}</dd>
<dt>SHA-256 fingerprint</dt><dd><code>${x.fingerprint256}</code></dd>
</dl>`;
}

function certificatesPage(certs: ServiceCertificates, c: Config): Html {
  const names = defaultNames(c.system.hostname).join('\n');
  return html`${CERT_SERVICE_NAMES.map((s) => {
    const v = certs.view(s);
    const url = `${API}/certificates/${s}`;
    return html`<section class="cert" data-service="${s}">
<h2>${v.label} (TCP ${v.port})</h2>
${v.certificate ? certRows(v.certificate) : html`<p>No certificate yet.</p>`}
${v.certificate ? html`<p class="muted">Source: ${v.source}${v.chain.length ? `; chain: ${v.chain.map((x) => x.subject).join(' / ')}` : ''}</p>` : ''}
${v.pendingRequest ? html`<h3>Pending request</h3><p>For ${v.pendingRequest.names.join(', ')}. Send it to your CA, then upload the signed certificate without a key.</p><pre class="diff csr">${v.pendingRequest.csrPem}</pre>` : ''}
<details><summary>Make a key and a request (CSR)</summary>
${actionForm({ method: 'POST', url: `${url}/request`, button: 'Make request', body: html`${field({ label: 'Names (one per line)', name: 'names', value: names, kind: 'list', type: 'textarea', help: 'The hostname and enterpriseenrollment.<domain> by default' })}
${field({ label: 'Organization', name: 'organization', optional: true })}${field({ label: 'Country (two letters)', name: 'country', optional: true })}` })}
</details>
<details><summary>Upload a signed certificate</summary>
${actionForm({ method: 'POST', url: `${url}/upload`, button: 'Upload certificate', confirm: s === 'webui' ? 'System Manager switches to this certificate at once and checks itself; if you do not confirm within 120 seconds, the previous certificate returns.' : '', body: html`${field({ label: 'Certificate and chain (PEM)', name: 'certificate', type: 'file', attrs: 'accept=".pem,.crt,.cer" data-file="1"' })}
${field({ label: 'Private key (PEM), only when the request was not made here', name: 'key', type: 'file', optional: true, attrs: 'accept=".pem,.key" data-file="1"' })}` })}
</details>
<details><summary>Self-signed</summary>
${actionForm({ method: 'POST', url: `${url}/self-signed`, button: 'Make self-signed certificate', confirm: `Replace the ${v.label} certificate with a new self-signed one?`, body: html`${field({ label: 'Names (one per line)', name: 'names', value: names, kind: 'list', type: 'textarea' })}` })}
</details>
</section>`;
  })}`;
}

function tokensPage(tokens: ApiTokens): Html {
  const rows = tokens.list().map(
    (t) => html`<tr>
<td>${t.name}</td><td><code>${t.id}</code></td><td>${t.role}</td><td>${t.createdBy}</td><td>${when(t.createdAt)}</td><td>${when(t.expiresAt) || 'never'}</td><td>${when(t.lastUsedAt) || 'never'}</td>
<td>${t.revokedAt ? `revoked ${when(t.revokedAt)}` : actionForm({ method: 'DELETE', url: `${API}/tokens/${t.id}`, button: 'Revoke', confirm: `Revoke token ${t.name}? Scripts that use it stop working at once.`, inline: true, cls: 'admin-only danger' })}</td>
</tr>`,
  );
  return html`<section>
<table>
<thead><tr><th>Name</th><th>Id</th><th>Role</th><th>Created by</th><th>Created</th><th>Expires</th><th>Last used</th><th></th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="8">No API tokens</td></tr>`}</tbody>
</table>
</section>
<section>
<h2>New token</h2>
${actionForm({
  method: 'POST',
  url: `${API}/tokens`,
  button: 'Create token',
  result: 'token',
  body: html`${field({ label: 'Name (what it is for)', name: 'name' })}
${field({ label: 'Role', name: 'role', value: 'operator', options: ['operator', 'admin'] })}
${field({ label: 'Expires after (days)', name: 'expiresDays', kind: 'int', optional: true, help: 'Empty: 90 days' })}`,
})}
<p class="muted">Send the token as <code>Authorization: Bearer TOKEN</code>. It is shown once; only a digest is stored.</p>
</section>`;
}

function maintenancePage(unsaved: boolean): Html {
  return html`<section>
<h2>Reboot</h2>
${unsaved ? html`<p class="unsaved">There are unsaved changes: they are lost at reboot unless you Save first.</p>` : ''}
${actionForm({ method: 'POST', url: `${API}/maintenance/reboot`, button: 'Reboot', cls: 'admin-only danger', confirm: `Reboot the appliance now?${unsaved ? ' Unsaved changes will be lost.' : ''}`, body: html`<input type="hidden" name="confirm" data-kind="bool" value="true">`, result: 'message' })}
</section>
<section>
<h2>Configuration backup</h2>
${actionForm({
  method: 'POST',
  url: `${API}/maintenance/backup`,
  button: 'Download encrypted backup',
  result: 'download',
  body: html`${field({ label: 'Passphrase', name: 'passphrase', type: 'password', attrs: 'autocomplete="new-password"', help: 'At least 10 characters. Without it the backup cannot be restored.' })}
${field({ label: 'Confirm passphrase', name: 'passphraseConfirm', type: 'password', attrs: 'autocomplete="new-password" data-confirms="passphrase" data-skip="1"' })}`,
})}
</section>
<section>
<h2>Restore</h2>
${actionForm({
  method: 'POST',
  url: `${API}/maintenance/restore`,
  plan: `${API}/maintenance/restore/plan`,
  button: 'Restore…',
  body: html`${field({ label: 'Backup file', name: 'backup', type: 'file', attrs: 'accept=".json,application/json" data-file="1"' })}
${field({ label: 'Passphrase', name: 'passphrase', type: 'password', attrs: 'autocomplete="off"' })}`,
})}
<p class="muted">The backup is checked and its differences to the running configuration are shown before anything changes.</p>
</section>
<section>
<h2>Support bundle</h2>
<p>The version, configurations, revisions, audit log, status and system log, with every secret redacted.</p>
<p><a class="button admin-only" href="${API}/maintenance/support-bundle" download>Download support bundle</a></p>
</section>`;
}

/** A unified diff, each line marked as added, removed, or a hunk or file header (coloured by the style sheet). */
function diffBlock(diff: string, id?: string): Html {
  const kind = (l: string) => (/^(\+\+\+|---|={3,}|Index:)/.test(l) ? 'file' : l.startsWith('@@') ? 'hunk' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : 'ctx');
  const lines = diff.replace(/\n$/, '').split('\n').map((l) => html`<span class="${kind(l)}">${l}</span>
`);
  return html`<pre class="diff"${id ? new Html(` id="${id}"`) : ''}>${lines}</pre>`;
}

function changesPage(store: FastifyInstance['keel']['store']): Html {
  const r = store.running();
  const s = store.startup();
  // What a reboot would lose: from the saved (startup) configuration to the running one.
  const diff = r ? scriptDiff(s?.config ?? null, r.config, ['startup-config', 'running-config']) : '';
  const rows = store.revisions(100).map(
    (x) => html`<tr>
<td>${x.id}${x.id === r?.revision ? html` <span class="badge warn">running</span>` : ''}${x.id === s?.revision ? html` <span class="badge ok">saved</span>` : ''}</td>
<td>${when(x.at)}</td><td>${x.who}</td><td>${x.source}</td><td>${x.summary}${x.diff ? html`<details class="revision-diff"><summary>Diff</summary>${diffBlock(x.diff.replace(/^--- running-config$/m, '--- before').replace(/^\+\+\+ candidate-config$/m, '+++ after'))}</details>` : ''}</td>
<td>${x.id === r?.revision ? '' : actionForm({ method: 'POST', url: `${API}/config/revisions/${x.id}/rollback`, plan: `${API}/config/revisions/${x.id}/rollback/plan`, button: 'Roll back', inline: true })}</td>
</tr>`,
  );
  return html`<section>
<h2>Unsaved changes</h2>
${diff ? diffBlock(diff, 'unsaved-diff') : html`<p>None: the running configuration is the saved one.</p>`}
</section>
<section>
<h2>Revisions</h2>
<table>
<thead><tr><th>Revision</th><th>When</th><th>Who</th><th>Source</th><th>Change</th><th></th></tr></thead>
<tbody>${rows}</tbody>
</table>
</section>`;
}

function auditPage(q: Record<string, string | undefined>, store: FastifyInstance['keel']['store']): Html {
  const time = (v: string | undefined) => (v ? (/(Z|[+-]\d\d:\d\d)$/.test(v) ? v : `${v}Z`) : undefined);
  let err = '';
  let res: ReturnType<typeof queryAudit> = { entries: [], more: false };
  const filter = { user: q.user || undefined, source: q.source || undefined, since: time(q.since || undefined), until: time(q.until || undefined), text: q.q || undefined, beforeId: Number(q.beforeId) || undefined, limit: 100 };
  if ((filter.since && Number.isNaN(Date.parse(filter.since))) || (filter.until && Number.isNaN(Date.parse(filter.until)))) err = 'Times must look like 2026-01-31T12:00.';
  else res = queryAudit(store, filter);
  const rows = res.entries.map((a) => html`<tr><td>${when(a.at)}</td><td>${a.who}</td><td>${a.source}</td><td>${a.action}</td><td>${a.outcome}</td></tr>`);
  const older = res.more ? new URLSearchParams({ ...Object.fromEntries(Object.entries(q).filter(([, v]) => v) as [string, string][]), beforeId: String(res.entries[res.entries.length - 1].id) }) : null;
  return html`<section>
<form method="get" action="/mics/audit" class="filters">
<div class="field"><label for="a-user">User</label><input id="a-user" name="user" value="${q.user ?? ''}"></div>
<div class="field"><label for="a-source">Source</label><input id="a-source" name="source" value="${q.source ?? ''}" placeholder="webui, api, ssh, cli…"></div>
<div class="field"><label for="a-since">From (UTC)</label><input id="a-since" name="since" type="datetime-local" value="${q.since ?? ''}"></div>
<div class="field"><label for="a-until">Before (UTC)</label><input id="a-until" name="until" type="datetime-local" value="${q.until ?? ''}"></div>
<div class="field"><label for="a-q">Text</label><input id="a-q" name="q" value="${q.q ?? ''}"></div>
<div class="buttons"><button type="submit">Filter</button> <a href="/mics/audit">Clear</a></div>
</form>
${err ? html`<p class="error" role="alert">${err}</p>` : ''}
</section>
<section>
<table class="audit">
<thead><tr><th>When</th><th>Who</th><th>Source</th><th>Action</th><th>Outcome</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="5">No entries</td></tr>`}</tbody>
</table>
${older ? html`<p><a href="/mics/audit?${older.toString()}">Older entries</a></p>` : ''}
</section>`;
}

const EMPTY = html``;

/** Registers the page routes (the dashboard is served at /mics/ by the server) and the script. */
export function registerPages(
  app: FastifyInstance,
  deps: { lockouts: Lockouts; tokens: ApiTokens; state: ConfigState; health: HealthSampler; healthPanel?: () => Promise<Html> },
): { dashboard: (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> } {
  const { host, store } = app.keel;
  const js = fs.readFileSync(new URL('./public/app.js', import.meta.url));
  const hidden = { hide: true } as const;

  app.get(`${BASE}/static/app.js`, { config: { public: true }, schema: hidden }, (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=3600').send(js),
  );

  // Browsers ask for it on every first visit; answering keeps their consoles free of 404s.
  app.get('/favicon.ico', { config: { public: true }, schema: hidden }, (_req, reply) => reply.code(204).header('cache-control', 'max-age=86400').send());

  // The configuration parsed once per revision (pages only read it), not on every request.
  const config = () => deps.state.config()!;
  const ctxOf = (req: FastifyRequest, path: string): PageCtx => ({
    username: req.principal!.name,
    role: req.principal!.role,
    csrf: req.session!.csrf,
    hostname: config().system.hostname,
    unsaved: deps.state.unsaved(),
    path,
  });
  const send = (reply: FastifyReply, text: string) => reply.type('text/html; charset=utf-8').send(text);
  const view = (path: string, title: string, body: (req: FastifyRequest) => Html | Promise<Html>, opts: { adminOnly?: boolean; refreshSeconds?: (req: FastifyRequest) => number | null } = {}) =>
    app.get(path, { schema: hidden }, async (req, reply) => {
      if (!req.session) return reply.redirect(`${BASE}/`, 302);
      if (opts.adminOnly && req.principal!.role !== 'admin') return reply.code(403).type('text/html; charset=utf-8').send(page(ctxOf(req, path), title, html`<p>Only administrators can see this page.</p>`));
      return send(reply, page(ctxOf(req, path), title, await body(req), { refreshSeconds: opts.refreshSeconds?.(req) }));
    });

  view(`${BASE}/settings/network`, 'Network', () => networkPage(config()));
  view(`${BASE}/settings/time`, 'Date & Time', () => timePage(config()));
  view(`${BASE}/settings/ssh`, 'SSH', () => sshPage(config()));
  view(`${BASE}/settings/email`, 'Email', () => emailPage(config()));
  view(`${BASE}/settings/alerts`, 'Alerts', () => alertsPage(config(), { field, sectionForm }));
  view(`${BASE}/security/users`, 'Local Users', (req) => usersPage(config(), deps.lockouts, req.principal!.name));
  view(`${BASE}/security/password-policy`, 'Password Policy', () => policyPage(config()));
  view(`${BASE}/security/acl`, 'Portal ACL', (req) => aclPage(config(), req.ip.replace(/^::ffff:/i, '')));
  view(`${BASE}/settings/ports`, 'Port Settings', () => portsPage(config()));
  view(`${BASE}/settings/proxy`, 'Outbound Proxy', () => proxyPage(config()));
  view(`${BASE}/security/portal-auth`, 'Portal Authentication', () => portalAuthPage(config()));
  view(`${BASE}/security/ldap`, 'LDAP', () => ldapPage(store));
  const certs = new ServiceCertificates(host);
  view(`${BASE}/certificates`, 'Certificates', () => certificatesPage(certs, config()));
  view(`${BASE}/security/tokens`, 'API Tokens', () => tokensPage(deps.tokens), { adminOnly: true });
  view(`${BASE}/maintenance`, 'Maintenance', () => maintenancePage(store.unsaved()));
  view(`${BASE}/api/`, 'API', () => explorerPage(app.swagger() as Parameters<typeof explorerPage>[0]));
  view(`${BASE}/maintenance/updates`, 'Software Updates', (req) => updatesPage(host, store, req));
  view(`${BASE}/changes`, 'Configuration Changes', () => changesPage(store));
  const connectivity = new ConnectivityStore(store.db);
  view(CONNECTIVITY_PAGE, 'Connectivity', (req) => connectivityPage(config(), connectivity, req.session!.csrf, { role: req.principal!.role, field, actionForm }));
  view(TOOLS_PAGE, 'Diagnostics Tools', (req) => toolsPage(req.session!.csrf));
  // A tool's form: runs it and answers the page with the result under its form (a reload asks
  // the browser to send again, as for any POST; nothing changes by running twice).
  for (const tool of PAGE_TOOLS) {
    app.post<{ Body: Record<string, unknown> }>(`${TOOLS_PAGE}/${tool}`, { schema: hidden }, async (req, reply) => {
      if (!req.session) return reply.redirect(`${BASE}/`, 303);
      const values = formBody(tool, req.body ?? {});
      const outcome: ToolOutcome = { tool, values };
      try {
        outcome.ran = await runTool(host, store, req, tool, values);
      } catch (e) {
        if (e instanceof ValidationError) outcome.problems = e.problems;
        else if (e instanceof OperationalError) outcome.error = e.message;
        else throw e;
      }
      return send(reply.code(outcome.problems ? 400 : 200), page(ctxOf(req, TOOLS_PAGE), 'Diagnostics Tools', toolsPage(req.session.csrf, outcome)));
    });
  }
  view(CAPTURE_PAGE, 'Diagnostics Capture', (req) => capturePage(req.session!.csrf, captureInterfaces(host), storedCaptures(host)), { adminOnly: true });
  app.post<{ Body: Record<string, unknown> }>(CAPTURE_PAGE, { schema: hidden }, async (req, reply) => {
    if (!req.session) return reply.redirect(`${BASE}/`, 303);
    if (req.principal!.role !== 'admin') return reply.code(403).type('text/html; charset=utf-8').send(page(ctxOf(req, CAPTURE_PAGE), 'Diagnostics Capture', html`<p>Only administrators can capture packets.</p>`));
    const values = captureFormBody(req.body ?? {});
    const outcome: Parameters<typeof capturePage>[3] = { values };
    try {
      outcome!.r = await runCapture(host, store, req, values);
    } catch (e) {
      if (e instanceof ValidationError) outcome!.problems = e.problems;
      else if (e instanceof OperationalError) outcome!.error = e.message;
      else throw e;
    }
    return send(reply.code(outcome!.problems ? 400 : 200), page(ctxOf(req, CAPTURE_PAGE), 'Diagnostics Capture', capturePage(req.session.csrf, captureInterfaces(host), storedCaptures(host), outcome)));
  });
  view(`${BASE}/audit`, 'Audit Log', (req) => auditPage(req.query as Record<string, string>, store));
  const resources = new ResourceHistory(store.db);
  view(REPORTING_PAGE, 'Reporting', (req) => reportingPage(resources, (req.query as { range?: string }).range));
  view(LOGGING_PAGE, 'System Log', (req) => loggingPage(host, req.query as LoggingQuery), { refreshSeconds: (req) => followSeconds(req.query as LoggingQuery) });

  // The certificate note reads and parses the certificate: shared by the dashboards of one second.
  let certNote: { at: number; hostname: string; note: string | null } | null = null;
  const certNoteFor = (hostname: string) => {
    const t = Date.now();
    if (!certNote || certNote.hostname !== hostname || t - certNote.at >= 1000 || t < certNote.at) certNote = { at: t, hostname, note: hostnameMismatch(host, hostname) };
    return certNote.note;
  };
  // The resource charts change once a minute (the monitor samples once a minute): drawn at most
  // every 15 s, not for each dashboard request.
  let charts: { at: number; html: ReturnType<typeof dashboardResources> } | null = null;
  const chartsNow = () => {
    const t = Date.now();
    if (!charts || t - charts.at >= 15000 || t < charts.at) charts = { at: t, html: dashboardResources(resources, t) };
    return charts.html;
  };
  // The dashboard under load: its body is drawn again only when something it shows changed (a
  // reading, the configuration, the health panel, the certificate note, the charts), and the page
  // around it once per session and body, kept encoded: the page has non-Latin-1 characters (·, ×),
  // so as a string it would be a two-byte string encoded again to UTF-8, copied with the headers,
  // on every answer (a third of the dashboard's CPU under load went to that and its garbage).
  // Not while a change waits for confirmation: its bar counts down.
  let body: { readings: object; generation: number; panel: Html; certNote: string | null; charts: Html; html: Html } | null = null;
  const pagesBySession = new Map<string, { body: Html; key: string; bytes: Buffer }>();
  const dashboardBody = (panel: Html): Html => {
    const readings = deps.health.readings();
    const generation = deps.state.generation();
    const certNote = certNoteFor(config().system.hostname);
    const charts = chartsNow();
    if (body?.readings !== readings || body.generation !== generation || body.panel !== panel || body.certNote !== certNote || body.charts !== charts)
      body = { readings, generation, panel, certNote, charts, html: dashboard(deps.health.read(), config(), panel, certNote, charts) };
    return body.html;
  };
  return {
    dashboard: async (req, reply) => {
      const b = dashboardBody(deps.healthPanel ? await deps.healthPanel() : EMPTY);
      const ctx = ctxOf(req, `${BASE}/`);
      if (pendingConfirm() ?? pendingCert()) return send(reply, page(ctx, 'Dashboard', b));
      const key = `${ctx.username}\n${ctx.role}\n${ctx.hostname}\n${ctx.unsaved}`;
      let cached = pagesBySession.get(ctx.csrf);
      if (cached?.body !== b || cached.key !== key) {
        if (!cached && pagesBySession.size >= 64) pagesBySession.clear();
        cached = { body: b, key, bytes: Buffer.from(page(ctx, 'Dashboard', b)) };
        pagesBySession.set(ctx.csrf, cached);
      }
      return reply.type('text/html; charset=utf-8').send(cached.bytes);
    },
  };
}
