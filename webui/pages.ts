import type { Health } from './health.ts';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escapes text for HTML element content and quoted attribute values. Every dynamic value goes through this. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

/** Tagged template that escapes every interpolated value unless it is already `Html`. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  values.forEach((v, i) => {
    const part = Array.isArray(v) ? v.map((x) => (x instanceof Html ? x.text : esc(x))).join('') : v instanceof Html ? v.text : esc(v);
    out += part + strings[i + 1];
  });
  return new Html(out);
}

function layout(title: string, body: Html): string {
  return `<!doctype html>
${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${title} · System Manager</title>
<link rel="stylesheet" href="/mics/static/style.css">
</head>
<body>
${body}
</body>
</html>
`.text}`;
}

export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const parts: string[] = [];
  if (d) parts.push(`${d} day${d === 1 ? '' : 's'}`);
  if (d || h) parts.push(`${h} h`);
  parts.push(`${m} min`);
  return parts.join(' ');
}

/** The sign-in page. `preToken` is the pre-session token that must come back with the form. */
export function signInPage(opts: { hostname: string; preToken: string; error?: string; username?: string; password?: boolean; certificate?: boolean }): string {
  const cert = opts.certificate
    ? html`<form method="post" action="/mics/login/certificate" class="cert-signin">
<input type="hidden" name="_pre" value="${opts.preToken}">
<button type="submit">Sign in with certificate (smart card)</button>
</form>`
    : '';
  if (opts.password === false)
    return layout('Sign in', html`<main class="signin">
<h1>System Manager</h1>
<p class="host">${opts.hostname}</p>
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
${cert}
</main>`);
  return layout(
    'Sign in',
    html`<main class="signin">
<h1>System Manager</h1>
<p class="host">${opts.hostname}</p>
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
<form method="post" action="/mics/login">
<input type="hidden" name="_pre" value="${opts.preToken}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required autofocus value="${opts.username ?? ''}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
${cert}
</main>`,
  );
}

/** The status page of a signed-in user. */
export function statusPage(opts: { health: Health; username: string; csrf: string; company?: string }): string {
  const h = opts.health;
  const c = h.configuration;
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
  return layout(
    h.hostname,
    html`<header>
<div><strong>System Manager</strong> <span class="host">${h.hostname}</span></div>
<form method="post" action="/mics/logout" class="signout">
<input type="hidden" name="_csrf" value="${opts.csrf}">
<span>${opts.username}</span> <button type="submit">Sign out</button>
</form>
</header>
<main>
<h1>Status</h1>
${c.unsaved ? html`<p class="unsaved" id="unsaved" role="status">Unsaved changes: the running configuration (revision ${c.runningRevision}) differs from the saved one (revision ${c.startupRevision ?? 'none'}) and will be lost at reboot unless saved.</p>` : ''}
<section>
<h2>System</h2>
<dl>
<dt>Hostname</dt><dd id="hostname">${h.hostname}</dd>
${opts.company ? html`<dt>Company</dt><dd>${opts.company}</dd>` : ''}
<dt>Version</dt><dd>Keel ${h.version}</dd>
<dt>${h.uptimeOf === 'host' ? 'Uptime (of the host running this sandbox)' : 'Uptime'}</dt><dd>${formatUptime(h.uptimeSeconds)}</dd>
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
<dt>Running revision</dt><dd>${c.runningRevision ?? 'none'}</dd>
<dt>Saved (startup) revision</dt><dd>${c.startupRevision ?? 'none'}</dd>
<dt>State</dt><dd>${c.unsaved ? html`<span class="badge warn">unsaved changes</span>` : html`<span class="badge ok">saved</span>`}</dd>
</dl>
</section>
</main>`,
  );
}

/** A plain error page (no internals: bugs show only the request id). */
export function errorPage(status: number, message: string, requestId?: string): string {
  return layout(
    `Error ${status}`,
    html`<main class="signin">
<h1>${status === 404 ? 'Not found' : 'Something went wrong'}</h1>
<p>${message}</p>
${requestId ? html`<p class="muted">Request id: <code>${requestId}</code></p>` : ''}
<p><a href="/mics/">Back to System Manager</a></p>
</main>`,
  );
}
