import { Type, type Static } from '@sinclair/typebox';
import type { FieldProblem } from '../errors.ts';

/**
 * Outbound HTTP proxy (Settings > Outbound Proxy): how the appliance reaches the outside for its
 * own HTTP(S) requests (the update repository). HTTPS goes through the proxy as a CONNECT tunnel,
 * so the proxy never sees the content. The password is kept as given, not hashed, because it must
 * be sent to the proxy (Proxy-Authorization: Basic) - protected like the SMTP and repository
 * passwords: never logged, never in audit entries, redacted wherever configurations are shown.
 */
export const ProxySchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Send outbound HTTP(S) requests through the proxy (off: direct, the settings are kept)' }),
    url: Type.String({
      pattern: '^http://[A-Za-z0-9.-]+:[0-9]{1,5}/?$',
      maxLength: 300,
      description: 'Proxy as http://host:port (host name or IPv4 address; no user or password in the URL)',
    }),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: '^[^:\\x00-\\x1f]+$', description: 'User name for the proxy (Basic authentication); no colon' })),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Password for the proxy; stored because it must be sent (never a hash), never shown or logged' })),
    noProxy: Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.*:-]+$', description: 'Host name, domain suffix (.example.com) or IPv4 address' }), {
      maxItems: 64,
      description: 'Hosts reached directly, not through the proxy',
    }),
  },
  { additionalProperties: false, description: 'Outbound HTTP proxy' },
);
export type ProxyConfig = Static<typeof ProxySchema>;

/** Cross-field rules: a user name needs a password and the reverse; the port is 1-65535. */
export function proxyProblems(p: ProxyConfig | undefined): FieldProblem[] {
  if (!p) return [];
  const out: FieldProblem[] = [];
  if (p.username && !p.password) out.push({ field: '/proxy/password', rule: 'required', message: 'a password is required with a user name' });
  if (p.password && !p.username) out.push({ field: '/proxy/username', rule: 'required', message: 'a user name is required with a password' });
  const port = Number(/:(\d+)\/?$/.exec(p.url)?.[1]);
  if (!(port >= 1 && port <= 65535)) out.push({ field: '/proxy/url', rule: 'port', message: 'the port must be 1-65535' });
  return out;
}

/**
 * Proxy settings for Node's built-in proxy support (`new https.Agent({ proxyEnv })`), or null when
 * no proxy is in use. The credentials go into the proxy URL, which Node turns into Proxy-Authorization.
 */
export function proxyEnv(p: ProxyConfig | undefined): { HTTPS_PROXY: string; HTTP_PROXY: string; NO_PROXY: string } | null {
  if (!p?.enabled) return null;
  const u = new URL(p.url);
  if (p.username) {
    u.username = encodeURIComponent(p.username);
    u.password = encodeURIComponent(p.password ?? '');
  }
  return { HTTPS_PROXY: u.href, HTTP_PROXY: u.href, NO_PROXY: p.noProxy.join(',') };
}
