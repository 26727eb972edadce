/**
 * Connectivity checks in the CLI: `test connectivity [NAME|all]` checks the endpoints the
 * configuration depends on and those an administrator added (appliance/connectivity), printing a
 * row per endpoint as its check completes; `show connectivity [NAME]` prints the last results,
 * or one endpoint's certificate chain and history. The same checks and history as System
 * Manager's Diagnostics > Connectivity page and the health monitor's probe.
 *
 * Configuration mode: `connectivity endpoint NAME host HOST port N protocol tcp|tls|https`, then
 * `connectivity endpoint NAME via-proxy|path P|expected-issuer CA|ca-certificate` and
 * `connectivity interval MINUTES`, with their `no` forms, edit the `connectivity` section,
 * checked by the one schema like every setting.
 */
import { ConnectivityStore, runChecks, selectEndpoints, UnknownEndpoint } from '../appliance/connectivity/run.ts';
import { endpointsOf } from '../appliance/connectivity/endpoints.ts';
import type { CheckResult } from '../appliance/connectivity/check.ts';
import type { Config } from '../appliance/config/schema.ts';
import { CONNECTIVITY_PROTOCOLS, ConnectivitySchema, DEFAULT_CONNECTIVITY, type ConnectivityConfig, type ConnectivityEndpointConfig } from '../appliance/connectivity/schema.ts';
import type { Args, ArgType, Node } from './tree.ts';
import type { Session } from './session.ts';
import type { Handler } from './commands.ts';
import type { ConfigHelpers } from './update.ts';
import { boundedWord, schemaInteger } from './args.ts';
import { pastePem } from './paste.ts';

type N = Node<Handler>;

/** An endpoint name, or `all`. */
export const endpointName = boundedWord('WORD', 'endpoint-name', 32);

const STATUS: Record<CheckResult['status'], string> = { ok: 'OK', warning: 'WARNING', failed: 'FAILED' };
const HEADER = `${'Endpoint'.padEnd(18)} ${'Target'.padEnd(30)} ${'Protocol'.padEnd(8)} ${'Result'.padEnd(8)} ${'Time'.padStart(7)}  Detail`;

function target(r: Pick<CheckResult, 'host' | 'port' | 'viaProxy'>): string {
  return `${r.host}:${r.port}${r.viaProxy ? ' (proxy)' : ''}`;
}

/** One row of the table. */
export function row(r: CheckResult): string {
  return `${r.name.padEnd(18)} ${target(r).padEnd(30)} ${r.protocol.padEnd(8)} ${STATUS[r.status].padEnd(8)} ${`${r.totalMs} ms`.padStart(7)}  ${r.message}`;
}

/** `test connectivity [NAME|all]`: rows as the checks complete, then a count. */
async function testConnectivity(s: Session, a: Args): Promise<string> {
  const c = s.current();
  if (!c) return '% There is no running configuration yet: run the first-boot wizard.';
  let endpoints;
  try {
    endpoints = selectEndpoints(c, a.name);
  } catch (e) {
    if (e instanceof UnknownEndpoint) return `% ${e.message}`;
    throw e;
  }
  if (!endpoints.length) return '% No endpoints to check.';
  s.io.write(`Checking ${endpoints.length} endpoint${endpoints.length === 1 ? '' : 's'}...\n${HEADER}\n`);
  const results = await runChecks(s.host, s.store.db, c, endpoints, { onResult: (r) => s.io.write(`${row(r)}\n`) });
  const bad = results.filter((r) => r.status !== 'ok').length;
  const intercepted = results.filter((r) => r.interception).length;
  return `${results.length - bad} of ${results.length} OK${intercepted ? `; TLS interception suspected on ${intercepted}` : ''}.`;
}

function detail(r: CheckResult, history: CheckResult[]): string {
  const out = [`${r.name}: ${r.role}, ${target(r)} ${r.protocol}`, `  Last checked  ${r.at.replace('T', ' ').slice(0, 19)} UTC: ${STATUS[r.status]}`];
  for (const p of r.problems.length ? r.problems : [r.message]) out.push(`    ${p}`);
  if (r.dns) out.push(`  DNS           ${r.dns.name} -> ${r.dns.addresses.join(', ')} (${r.dns.ms} ms)`);
  if (r.tcp) out.push(`  TCP connect   ${r.tcp.address}:${r.tcp.port} (${r.tcp.ms} ms)`);
  if (r.proxy) out.push(`  Proxy         ${r.proxy.host}:${r.proxy.port}, CONNECT answered ${r.proxy.status}`);
  if (r.tls) {
    out.push(`  TLS           ${r.tls.version ?? ''} (${r.tls.ms} ms), name ${r.tls.sanMatch ? 'matches' : 'does NOT match'}, chains to ${r.tls.trust === 'system' ? 'the system trust store' : r.tls.trust === 'configured' ? 'the configured CA' : 'no trusted CA'}${r.tls.expectedIssuer ? `, expected issuer ${r.tls.expectedIssuer}` : ''}`);
    r.tls.chain.forEach((c, i) => out.push(`    ${i}: ${c.subject}, issued by ${c.issuer}, valid ${c.validFrom.slice(0, 10)} to ${c.validTo.slice(0, 10)}`));
  }
  if (r.http) out.push(`  HTTP          status ${r.http.status} (${r.http.ms} ms)`);
  if (r.ntp) out.push(`  NTP           stratum ${r.ntp.stratum} (${r.ntp.ms} ms)`);
  if (r.query) out.push(`  DNS query     answer ${r.query.rcode} (${r.query.ms} ms)`);
  out.push('  History (newest first):');
  for (const h of history) out.push(`    ${h.at.replace('T', ' ').slice(0, 19)}  ${STATUS[h.status].padEnd(8)} ${h.message}`);
  return out.join('\n');
}

/** `show connectivity [NAME]`: the table with the last result of each endpoint, or one endpoint in detail. */
export function showConnectivity(s: Session, a: Args): string {
  const c = s.current();
  if (!c) return '% There is no running configuration yet: run the first-boot wizard.';
  const store = new ConnectivityStore(s.store.db);
  const latest = store.latest();
  if (a.name) {
    try {
      selectEndpoints(c, a.name);
    } catch (e) {
      if (e instanceof UnknownEndpoint) return `% ${e.message}`;
      throw e;
    }
    const name = endpointsOf(c).find((e) => e.name.toLowerCase() === a.name.toLowerCase())!.name;
    const r = latest.get(name);
    return r ? detail(r, store.history(10, name)) : `${name} has not been checked yet: test connectivity ${name}`;
  }
  const rows = endpointsOf(c).map((e) => {
    const r = latest.get(e.name);
    return r ? row(r) : `${e.name.padEnd(18)} ${target(e).padEnd(30)} ${e.protocol.padEnd(8)} ${'-'.padEnd(8)} ${''.padStart(7)}  not checked yet`;
  });
  if (!rows.length) return 'No endpoints: the configuration names none and none were added.';
  return [HEADER, ...rows].join('\n');
}

/** `test connectivity [NAME|all]` (EXEC; it changes nothing, so operators may run it). */
export const TEST_CONNECTIVITY: N = {
  kw: 'test',
  help: 'Run a diagnostic test',
  children: [
    {
      kw: 'connectivity',
      help: 'Check the endpoints the appliance depends on: DNS, TCP, TLS certificate issuer, HTTP status',
      run: testConnectivity,
      children: [{ arg: { name: 'name', type: endpointName }, help: 'An endpoint (show connectivity lists them), or all', run: testConnectivity }],
    },
  ],
};

/** `show connectivity [NAME]`. */
export const SHOW_CONNECTIVITY: N = {
  kw: 'connectivity',
  help: 'Last connectivity check of each endpoint the appliance depends on',
  run: showConnectivity,
  children: [{ arg: { name: 'name', type: endpointName }, help: 'One endpoint: its certificate chain and history', run: showConnectivity }],
};

// ---- configuration mode ----

const hostWord = boundedWord('WORD', 'server-address', 253);
const pathWord = boundedWord('WORD', 'path', 1024);
const issuerLine: ArgType = { placeholder: 'LINE', rule: 'expected-issuer', rest: true, parse: (w) => (w.length >= 1 && w.length <= 256 ? { value: w } : { error: 'must be 1-256 characters' }) };
const protocolWord: ArgType = {
  placeholder: CONNECTIVITY_PROTOCOLS.join('|'),
  rule: 'protocol',
  values: () => [...CONNECTIVITY_PROTOCOLS],
  parse: (w) => ((CONNECTIVITY_PROTOCOLS as readonly string[]).includes(w.toLowerCase()) ? { value: w.toLowerCase() } : { error: `must be ${CONNECTIVITY_PROTOCOLS.join(', ')}` }),
};

function section(c: Config): ConnectivityConfig {
  c.connectivity ??= structuredClone(DEFAULT_CONNECTIVITY);
  return c.connectivity;
}

function endpoint(h: ConfigHelpers, c: Config, name: string): ConnectivityEndpointConfig {
  const e = c.connectivity?.endpoints.find((x) => x.name === name);
  if (!e) h.refuse('/connectivity/endpoints', 'exists', `there is no endpoint ${name}: connectivity endpoint ${name} host HOST port N protocol tcp|tls|https`);
  return e;
}

/** The `connectivity` configuration node. */
export function connectivityConfig(h: ConfigHelpers): N {
  const attr = (kwd: string, help: string, more: Partial<N>): N => ({ kw: kwd, help, ...more });
  return {
    kw: 'connectivity',
    help: 'Connectivity checks: endpoints to check besides those the configuration names, and the schedule',
    no: h.change((c) => void delete c.connectivity),
    children: [
      attr('interval', 'Minutes between scheduled checks by the health monitor (0: on demand only; default 15)', {
        no: h.change((c) => void (section(c).intervalMinutes = DEFAULT_CONNECTIVITY.intervalMinutes)),
        children: [{ arg: { name: 'minutes', type: schemaInteger(ConnectivitySchema.properties.intervalMinutes) }, help: 'Minutes', run: h.change((c, a) => void (section(c).intervalMinutes = Number(a.minutes))) }],
      }),
      attr('endpoint', `An endpoint to check (up to ${ConnectivitySchema.properties.endpoints.maxItems}); no form: remove it`, {
        children: [
          {
            arg: { name: 'name', type: endpointName },
            help: 'Endpoint name (letters, digits, dot, dash, underscore)',
            no: h.change((c, a) => {
              endpoint(h, c, a.name);
              c.connectivity!.endpoints = c.connectivity!.endpoints.filter((x) => x.name !== a.name);
            }),
            children: [
              attr('host', 'Where it is: the host and port, and how to check it', {
                children: [
                  {
                    arg: { name: 'host', type: hostWord },
                    help: 'Host name or IPv4 address',
                    children: [
                      attr('port', 'TCP port', {
                        children: [
                          {
                            arg: { name: 'port', type: schemaInteger({ minimum: 1, maximum: 65535 }) },
                            help: 'Port',
                            children: [
                              attr('protocol', 'tcp: connect; tls: and read the certificate chain; https: and the HTTP status', {
                                children: [
                                  {
                                    arg: { name: 'protocol', type: protocolWord },
                                    help: 'tcp, tls or https',
                                    run: h.change((c, a, s) => {
                                      const list = section(c).endpoints;
                                      const old = list.find((x) => x.name === a.name) ?? s.batchBase?.connectivity?.endpoints.find((x) => x.name === a.name && x.host === a.host);
                                      const next: ConnectivityEndpointConfig = { name: a.name, host: a.host, port: Number(a.port), protocol: a.protocol as ConnectivityEndpointConfig['protocol'], viaProxy: old?.viaProxy ?? false };
                                      // Attributes set by their own lines stay; a CA pasted before is kept for the same host (a script cannot paste one).
                                      if (old?.path !== undefined) next.path = old.path;
                                      if (old?.expectedIssuer !== undefined) next.expectedIssuer = old.expectedIssuer;
                                      if (old?.caCertificate !== undefined && old.host === a.host) next.caCertificate = old.caCertificate;
                                      const i = list.findIndex((x) => x.name === a.name);
                                      if (i >= 0) list[i] = next;
                                      else list.push(next);
                                    }),
                                  },
                                ],
                              }),
                            ],
                          },
                        ],
                      }),
                    ],
                  },
                ],
              }),
              attr('via-proxy', 'Check it through the configured outbound proxy (a CONNECT tunnel)', {
                run: h.change((c, a) => void (endpoint(h, c, a.name).viaProxy = true)),
                no: h.change((c, a) => void (endpoint(h, c, a.name).viaProxy = false)),
              }),
              attr('path', 'HTTPS: the path to request (default /)', {
                no: h.change((c, a) => void delete endpoint(h, c, a.name).path),
                children: [{ arg: { name: 'path', type: pathWord }, help: 'Path, like /health', run: h.change((c, a) => void (endpoint(h, c, a.name).path = a.path)) }],
              }),
              attr('expected-issuer', 'TLS/HTTPS: the CA (common name) that must issue its certificate; another is flagged as interception', {
                no: h.change((c, a) => void delete endpoint(h, c, a.name).expectedIssuer),
                children: [{ arg: { name: 'issuer', type: issuerLine }, help: 'Common name of the CA, like DigiCert Global G2 TLS RSA SHA256 2020 CA1', run: h.change((c, a) => void (endpoint(h, c, a.name).expectedIssuer = a.issuer)) }],
              }),
              attr('ca-certificate', 'TLS/HTTPS: paste the CA that issues its certificate, when not in the system trust store', {
                run: h.change(async (c, a, s) => {
                  const e = endpoint(h, c, a.name);
                  if (s.candidate !== null) h.refuse(`/connectivity/endpoints/${c.connectivity!.endpoints.indexOf(e)}/caCertificate`, 'interactive', 'the CA certificate is pasted interactively, not loaded from a script');
                  e.caCertificate = await pastePem(s, `Paste the PEM certificate(s) of the CA that issues the certificate of ${e.host}.`, 2000);
                }),
                no: h.change((c, a) => void delete endpoint(h, c, a.name).caCertificate),
              }),
            ],
          },
        ],
      }),
    ],
  };
}
