/**
 * The outbound HTTP proxy in the CLI (System Manager: Settings > Outbound Proxy), configuration
 * mode: `proxy url URL [username U password P]`, `proxy no-proxy HOST`, `proxy shutdown` and
 * their `no` forms. They edit the `proxy` section, checked by the one schema like every other
 * setting, so a refusal names the field and its rule.
 */
import type { Config } from '../appliance/config/schema.ts';
import { MASKED_PASSWORD } from '../appliance/config/script.ts';
import { ProxySchema, type ProxyConfig } from '../appliance/proxy/schema.ts';
import type { Args, ArgType, Node } from './tree.ts';
import type { Session } from './session.ts';
import type { Handler } from './commands.ts';
import type { ConfigHelpers } from './update.ts';

type N = Node<Handler>;
const kw = (k: string, help: string, more: Partial<N> = {}): N => ({ kw: k, help, ...more });
const arg = (name: string, type: ArgType, help: string, more: Partial<N> = {}): N => ({ arg: { name, type }, help, ...more });

// Argument types only keep a word a word: the schema decides, so a refusal names the field and rule.
function word(placeholder: string, rule: string, max: number, extra: Partial<ArgType> = {}): ArgType {
  return { placeholder, rule, parse: (w) => (w.length >= 1 && w.length <= max ? { value: w } : { error: `must be 1-${max} characters` }), ...extra };
}
const proxyUrl = word('URL', 'proxy-url', 2048);
const proxyUser = word('WORD', 'proxy-username', 1024);
const proxyPassword = word('LINE', 'proxy-password', 1024, { secret: true });
const noProxyHost = word('WORD', 'no-proxy-host', 1024);

const URL_REQUIRED = 'set the proxy first: proxy url http://HOST:PORT';

/**
 * `proxy url URL [username U password P]`: the line is the whole proxy but its on/off state and
 * the no-proxy list. `********` keeps the stored password, only for the same proxy and user name:
 * the password is never handed to another server.
 */
function setUrl(h: ConfigHelpers, c: Config, a: Args, s: Session): void {
  const before: ProxyConfig | undefined = c.proxy ?? s.batchBase?.proxy;
  let password: string | undefined;
  if (a.user !== undefined) {
    password = a.password;
    if (password === MASKED_PASSWORD) {
      if (!before?.password || before.url !== a.url || before.username !== a.user)
        h.refuse('/proxy/password', 'required', `there is no stored password for user ${a.user} on ${a.url} to keep; give the password`);
      password = before.password;
    }
  }
  c.proxy = {
    enabled: c.proxy?.enabled ?? true,
    url: a.url,
    ...(a.user !== undefined ? { username: a.user, password } : {}),
    noProxy: c.proxy?.noProxy ?? [],
  };
}

function existing(h: ConfigHelpers, c: Config): ProxyConfig {
  if (!c.proxy) h.refuse('/proxy/url', 'required', URL_REQUIRED);
  return c.proxy;
}

/** The `proxy` configuration node. */
export function proxyConfig(h: ConfigHelpers): N {
  const run = h.change((c, a, s) => setUrl(h, c, a, s));
  return kw('proxy', 'Outbound HTTP proxy for the appliance\'s own requests (the update repository)', {
    no: h.change((c) => void delete c.proxy),
    children: [
      kw('url', 'The proxy, as http://host:port (HTTPS goes through it as a CONNECT tunnel)', {
        children: [
          arg('url', proxyUrl, 'Proxy URL, like http://proxy.example.com:3128', {
            run,
            children: [
              kw('username', 'User name for the proxy (Basic authentication); none: the proxy needs no authentication', {
                children: [
                  arg('user', proxyUser, 'User name (no colon)', {
                    children: [kw('password', `Password for the proxy (${MASKED_PASSWORD}: keep the stored one)`, { children: [arg('password', proxyPassword, 'Password', { run })] })],
                  }),
                ],
              }),
            ],
          }),
        ],
      }),
      kw('no-proxy', `A host reached directly, not through the proxy (up to ${ProxySchema.properties.noProxy.maxItems}); no form: remove it, or all`, {
        no: h.change((c) => void (existing(h, c).noProxy = [])),
        children: [
          arg('host', noProxyHost, 'Host name, domain suffix (.example.com) or IPv4 address', {
            run: h.change((c, a) => {
              const p = existing(h, c);
              if (!p.noProxy.includes(a.host)) p.noProxy.push(a.host);
            }),
            no: h.change((c, a) => {
              const p = existing(h, c);
              if (!p.noProxy.includes(a.host)) h.refuse('/proxy/noProxy', 'exists', `${a.host} is not in the no-proxy list`);
              p.noProxy = p.noProxy.filter((x) => x !== a.host);
            }),
          }),
        ],
      }),
      kw('shutdown', 'Stop using the proxy: requests go direct (the settings are kept)', {
        run: h.change((c) => void (existing(h, c).enabled = false)),
        no: h.change((c) => void (existing(h, c).enabled = true)),
      }),
    ],
  });
}
