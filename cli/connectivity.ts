/**
 * Connectivity checks in the CLI: `test connectivity [NAME|all]` checks the endpoints the
 * configuration depends on and those an administrator added (appliance/connectivity), printing a
 * row per endpoint as its check completes; `show connectivity [NAME]` prints the last results,
 * or one endpoint's certificate chain and history. The same checks and history as System
 * Manager's Diagnostics > Connectivity page and the health monitor's probe.
 */
import { ConnectivityStore, runChecks, selectEndpoints, UnknownEndpoint } from '../appliance/connectivity/run.ts';
import { endpointsOf } from '../appliance/connectivity/endpoints.ts';
import type { CheckResult } from '../appliance/connectivity/check.ts';
import type { Args, Node } from './tree.ts';
import type { Session } from './session.ts';
import type { Handler } from './commands.ts';
import { boundedWord } from './args.ts';

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
function showConnectivity(s: Session, a: Args): string {
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
