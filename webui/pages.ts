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
