/**
 * System Manager's Diagnostics > Tools: ping, traceroute, DNS lookup and TCP port check, as the
 * JSON API under /mics/api/v1/diagnostics and a server-rendered page with one form per tool (the
 * result is shown on the page the POST answers). The argument rules are
 * appliance/diagnostics/tools.ts's (the CLI's too); ping and traceroute run in the applier (raw
 * sockets), the other two here. They change nothing, so operators may run them; each run is audited.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  checkPing,
  checkTraceroute,
  dnsLookup,
  tcpCheck,
  DnsLookupRequestSchema,
  PingRequestSchema,
  TcpCheckRequestSchema,
  TracerouteRequestSchema,
  DNS_TYPES,
  LIMITS,
  type DnsLookupResult,
  type PingResult,
  type TcpCheckResult,
  type TracerouteResult,
} from '../appliance/diagnostics/tools.ts';
import { ValidationError, type FieldProblem } from '../appliance/errors.ts';
import type { Host } from '../appliance/host/index.ts';
import type { Store } from '../appliance/config/store.ts';
import { html, Html } from './pages.ts';
import { API, actorOf, ErrorBody, CHANGE_AUTH, SESSION_OR_TOKEN, Nullable, HttpError } from './api.ts';
import { CAPTURE_DIR, CAPTURE_LIMITS, CAPTURE_NAME, type CaptureFile, type CaptureResult } from '../appliance/diagnostics/capture.ts';
import { listNics } from '../appliance/network/nics.ts';

export const DIAGNOSTICS_API = `${API}/diagnostics`;
export const TOOLS_PAGE = '/mics/diagnostics/tools';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 502: ErrorBody };

const RunView = { command: Type.String({ description: 'The command the applier ran (an argv, shown joined)' }), output: Type.String({ description: 'Its output (at most 64 KiB)' }), exitCode: Type.Integer() };
const PingView = Type.Object({
  tool: Type.Literal('ping'),
  ...RunView,
  target: Type.String(),
  address: Nullable(Type.String(), 'The address pinged'),
  replies: Type.Array(Type.Object({ seq: Type.Integer(), ttl: Nullable(Type.Integer()), ms: Type.Number() })),
  transmitted: Type.Integer(),
  received: Type.Integer(),
  lossPercent: Nullable(Type.Number(), 'Packet loss; null when ping could not send'),
  rtt: Nullable(Type.Object({ min: Type.Number(), avg: Type.Number(), max: Type.Number() })),
  error: Nullable(Type.String(), 'Why ping could not run (unknown name, no route)'),
});
const TracerouteView = Type.Object({
  tool: Type.Literal('traceroute'),
  ...RunView,
  target: Type.String(),
  address: Nullable(Type.String()),
  hops: Type.Array(Type.Object({ hop: Type.Integer(), probes: Type.Array(Type.Object({ address: Nullable(Type.String()), ms: Nullable(Type.Number()), note: Type.Optional(Type.String({ description: 'traceroute\'s annotation, like !H (host unreachable)' })) }), { description: 'Each probe: who answered and when; null for no answer (*)' }) })),
  reached: Type.Boolean(),
  error: Nullable(Type.String()),
});
const DnsLookupView = Type.Object({
  name: Type.String(),
  type: Type.Union(DNS_TYPES.map((t) => Type.Literal(t))),
  server: Type.String({ description: 'The server(s) asked' }),
  records: Type.Array(Type.String(), { description: 'As text: an address, "10 mx.example.com" (MX), "0 5 5060 sip.example.com" (SRV); at most 100' }),
  ms: Type.Number(),
  error: Nullable(Type.String(), 'NXDOMAIN, no records of the type, no answer… in words'),
});
const TcpCheckView = Type.Object({
  host: Type.String(),
  port: Type.Integer(),
  addresses: Type.Array(Type.String()),
  dnsMs: Nullable(Type.Number(), 'Name resolution time; null for an address'),
  address: Nullable(Type.String()),
  connectMs: Nullable(Type.Number()),
  status: Type.Union(['open', 'refused', 'no-answer', 'unreachable', 'dns-failed', 'failed'].map((s) => Type.Literal(s))),
  message: Type.String(),
});

type Run = { command: string; output: string; exitCode: number };
type Ran = { tool: 'ping'; r: PingResult & Run } | { tool: 'traceroute'; r: TracerouteResult & Run } | { tool: 'dns-lookup'; r: DnsLookupResult } | { tool: 'tcp-check'; r: TcpCheckResult };

/** Runs one tool and audits it (action names the tool and its arguments, outcome the result in a line). */
export async function runTool(host: Host, store: Store, req: FastifyRequest, tool: Ran['tool'], body: Record<string, unknown>): Promise<Ran> {
  const audit = (what: string, outcome: string) => store.audit(actorOf(req), `diagnostics ${tool} ${what}`.slice(0, 300), outcome.slice(0, 300));
  try {
    if (tool === 'ping' || tool === 'traceroute') {
      const o = tool === 'ping' ? checkPing(body as never) : checkTraceroute(body as never);
      const d = await host.applier.diagnose(tool, o.host, o);
      const run = { command: d.command, output: d.output, exitCode: d.exitCode };
      const x = d.result;
      const line = !host.applier.live ? 'ok: recorded, not run (sandbox)' : x.error ? `failed: ${x.error}` : x.tool === 'ping' ? `ok: ${x.received}/${x.transmitted} replies, ${x.lossPercent}% loss` : `ok: ${x.hops.length} hops${x.reached ? ', reached' : ', not reached'}`;
      audit(d.command.split(' ').slice(1).join(' '), line);
      return x.tool === 'ping' ? { tool: 'ping', r: { ...x, ...run } } : { tool: 'traceroute', r: { ...x, ...run } };
    }
    if (tool === 'dns-lookup') {
      const r = await dnsLookup(host.net, body as never);
      audit(`${r.name} ${r.type}${r.server && body.server ? ` server ${r.server}` : ''}`, r.error ? `failed: ${r.error}` : `ok: ${r.records.length} records`);
      return { tool, r };
    }
    const r = await tcpCheck(host.net, body as never);
    audit(`${r.host} ${r.port}`, `${r.status === 'open' ? 'ok' : 'failed'}: ${r.message}`);
    return { tool, r };
  } catch (e) {
    if (e instanceof ValidationError) audit(String(body.host ?? body.name ?? '').slice(0, 253), `refused: ${e.problems.map((p) => `${p.field} (${p.rule})`).join(', ')}`);
    else audit(String(body.host ?? body.name ?? '').slice(0, 253), `failed: ${(e as Error).message}`);
    throw e;
  }
}

/** Registers the diagnostics API. */
export function registerDiagnosticsApi(app: FastifyInstance): void {
  const { host, store } = app.keel;
  const route = <B, R>(path: string, tool: Ran['tool'], summary: string, description: string, body: B, response: R) =>
    app.post<{ Body: Record<string, unknown> }>(`${DIAGNOSTICS_API}/${path}`, {
      config: { anyRole: true, fieldPrefix: '' },
      schema: { tags: ['diagnostics'], summary, description: `${description} Operators may run it; it is audited.`, security: CHANGE_AUTH, body: body as never, response: { 200: response as never, ...errors } },
      handler: async (req) => (await runTool(host, store, req, tool, req.body ?? {})).r,
    });
  route('ping', 'ping', 'Ping a host', `ICMP echo requests (count 1-${LIMITS.pingCount.max}, one a second, 2 s for each reply), sent by the applier: each reply's time, the loss and round-trip times.`, PingRequestSchema, PingView);
  route('traceroute', 'traceroute', 'Trace the route to a host', `UDP probes with rising TTL (at most ${LIMITS.maxHops.max} hops, 2 s for each probe, 90 s in all), sent by the applier: per hop the address that answered and each probe's time.`, TracerouteRequestSchema, TracerouteView);
  route('dns-lookup', 'dns-lookup', 'Look up a DNS name', `Records of one type (${DNS_TYPES.join(', ')}) from the configured DNS servers or a chosen one, within 5 s.`, DnsLookupRequestSchema, DnsLookupView);
  route('tcp-check', 'tcp-check', 'Check a TCP port', 'Resolves the host and connects to its first address (5 s each): the DNS and connect times, or why not: refused, no answer (dropped), unreachable.', TcpCheckRequestSchema, TcpCheckView);
}

export const CAPTURE_PAGE = '/mics/diagnostics/capture';
const CL = CAPTURE_LIMITS;
export const CaptureRequestSchema = Type.Object(
  {
    interface: Type.String({ minLength: 1, maxLength: 32, description: 'Interface to capture on (GigabitEthernetN, present on this appliance)' }),
    duration: Type.Optional(Type.Integer({ minimum: CL.duration.min, maximum: CL.duration.max, description: `Seconds at most (${CL.duration.min}-${CL.duration.max}, default ${CL.duration.default})` })),
    packets: Type.Optional(Type.Integer({ minimum: CL.packets.min, maximum: CL.packets.max, description: `Packets at most (${CL.packets.min}-${CL.packets.max}, default ${CL.packets.default})` })),
    snaplen: Type.Optional(Type.Integer({ minimum: CL.snaplen.min, maximum: CL.snaplen.max, description: `Bytes kept of each packet; packets × (snaplen + 16) must fit ${CL.fileBytes / 1048576} MiB (default: the most that fits)` })),
    filter: Type.Optional(Type.String({ maxLength: CL.filterLength, description: 'Capture filter: host/net/port/portrange with addresses, CIDR or numbers, src/dst, tcp/udp/icmp/icmp6/arp/ip/ip6/vlan, and/or/not, parentheses' })),
  },
  { additionalProperties: false, description: 'Packet capture' },
);
const CaptureFileView = Type.Object({ name: Type.String({ description: 'File name, for GET /diagnostics/captures/{name}' }), bytes: Type.Integer() });
const CaptureView = Type.Object({
  name: Type.String(),
  command: Type.String({ description: 'The tcpdump argv the applier ran, shown joined' }),
  interface: Type.String(),
  packets: Type.Integer(),
  bytes: Type.Integer(),
  stoppedBy: Type.Union([Type.Literal('packets'), Type.Literal('duration'), Type.Literal('error')]),
  output: Type.String({ description: "tcpdump's messages (at most 64 KiB)" }),
  records: Type.Array(Type.Object({ time: Type.Number(), capturedLength: Type.Integer(), length: Type.Integer() }), { description: 'The first 20 packets: time (s since 1970), bytes kept, bytes on the wire' }),
});

/** Runs a capture through the applier and audits it (start and outcome in one entry). */
export async function runCapture(host: Host, store: Store, req: FastifyRequest, body: Record<string, unknown>): Promise<CaptureResult> {
  const what = `diagnostics capture ${String(body.interface ?? '').slice(0, 32)}${body.filter ? ` filter ${String(body.filter).slice(0, 256)}` : ''}`;
  try {
    const r = await host.applier.capture(body as never);
    store.audit(actorOf(req), what, host.applier.live ? `ok: ${r.packets} packets, ${r.bytes} bytes, ${r.name}` : 'ok: recorded, not run (sandbox)');
    return r;
  } catch (e) {
    store.audit(actorOf(req), what, e instanceof ValidationError ? `refused: ${e.problems.map((p) => `${p.field} (${p.rule})`).join(', ')}` : `failed: ${(e as Error).message}`.slice(0, 300));
    throw e;
  }
}

/** The stored captures, newest first (read here: the applier hands them to the service user). */
export function storedCaptures(host: Host): CaptureFile[] {
  return host.files
    .list(CAPTURE_DIR)
    .filter((n) => CAPTURE_NAME.test(n))
    .sort()
    .reverse()
    .map((name) => ({ name, bytes: host.files.size(`${CAPTURE_DIR}/${name}`) ?? 0 }));
}

/** Registers the capture API: start (administrators), list and download (administrators; downloads audited). */
export function registerCaptureApi(app: FastifyInstance): void {
  const { host, store } = app.keel;
  app.post<{ Body: Record<string, unknown> }>(`${DIAGNOSTICS_API}/capture`, {
    config: { fieldPrefix: '' },
    schema: {
      tags: ['diagnostics'],
      summary: 'Capture packets on an interface',
      description: `tcpdump run by the applier into a pcap file; answers when it ends (at most ${CL.duration.max} s, ${CL.packets.max} packets, ${CL.fileBytes / 1048576} MiB). One at a time; the last ${CL.keepFiles} captures (${CL.keepBytes / 1048576} MiB) are kept. Administrators only; audited.`,
      security: CHANGE_AUTH,
      body: CaptureRequestSchema,
      response: { 200: CaptureView, ...errors },
    },
    handler: (req) => runCapture(host, store, req, req.body ?? {}),
  });
  app.get(`${DIAGNOSTICS_API}/captures`, {
    config: { adminOnly: true },
    schema: { tags: ['diagnostics'], summary: 'List stored captures', description: 'Newest first. Administrators only.', security: SESSION_OR_TOKEN, response: { 200: Type.Array(CaptureFileView), ...errors } },
    handler: async () => storedCaptures(host),
  });
  app.get<{ Params: { name: string } }>(`${DIAGNOSTICS_API}/captures/:name`, {
    config: { adminOnly: true },
    schema: {
      tags: ['diagnostics'],
      summary: 'Download a capture',
      description: 'The pcap file (application/vnd.tcpdump.pcap), as an attachment. Administrators only; audited.',
      security: SESSION_OR_TOKEN,
      params: Type.Object({ name: Type.String({ maxLength: 80, description: 'A name from the list' }) }),
      response: { 404: ErrorBody, 401: ErrorBody, 403: ErrorBody },
    },
    handler: async (req, reply) => {
      const name = req.params.name;
      // Only names the applier makes: no path, no traversal.
      const buf = CAPTURE_NAME.test(name) ? host.files.read(`${CAPTURE_DIR}/${name}`) : null;
      if (!buf) throw new HttpError(404, 'there is no such capture');
      store.audit(actorOf(req), `download capture ${name}`, 'ok');
      return reply.type('application/vnd.tcpdump.pcap').header('content-disposition', `attachment; filename="${name}"`).send(buf);
    },
  });
}

/** The interfaces offered on the capture form: the present NICs. */
export function captureInterfaces(host: Host): string[] {
  return listNics(host).filter((n) => n.ifname).map((n) => n.name);
}

/** Diagnostics > Capture: the form, the outcome of the last POST, and the stored captures with download links. */
export function capturePage(csrf: string, interfaces: string[], files: CaptureFile[], outcome?: { values: Record<string, unknown>; r?: CaptureResult; problems?: FieldProblem[]; error?: string }): Html {
  const v = (k: string, d = '') => (outcome?.values[k] !== undefined && !Number.isNaN(outcome.values[k]) ? String(outcome.values[k]) : d);
  const res = !outcome
    ? ''
    : outcome.problems
      ? html`<div class="error" role="alert">${outcome.problems.map((p) => html`<p>${p.message}</p>`)}</div>`
      : outcome.error
        ? html`<p class="error" role="alert">${outcome.error}</p>`
        : html`<div class="tool-result" id="result-capture"><p>Captured <strong>${outcome.r!.packets}</strong> packets (${outcome.r!.bytes} bytes) on ${outcome.r!.interface}, stopped by the ${outcome.r!.stoppedBy === 'packets' ? 'packet limit' : 'duration'}: <a href="${DIAGNOSTICS_API}/captures/${outcome.r!.name}">${outcome.r!.name}</a></p><details><summary>${outcome.r!.command}</summary><pre>${outcome.r!.output}</pre></details></div>`;
  return html`<p>Captures packets on an interface into a pcap file for Wireshark or tcpdump: at most ${CL.duration.max} s, ${CL.packets.max} packets and ${CL.fileBytes / 1048576} MiB; one at a time; the last ${CL.keepFiles} captures are kept. Administrators only; recorded in the audit log.</p>
<section id="capture">
<h2>Capture</h2>
<form method="post" action="${CAPTURE_PAGE}" class="filters">
<input type="hidden" name="_csrf" value="${csrf}">
<div class="field"><label for="capture-interface">Interface</label><select id="capture-interface" name="interface">${interfaces.map((i) => html`<option value="${i}"${v('interface') === i ? new Html(' selected') : ''}>${i}</option>`)}</select></div>
<div class="field"><label for="capture-duration">Duration, s (${CL.duration.min}-${CL.duration.max})</label><input id="capture-duration" name="duration" type="number" min="${CL.duration.min}" max="${CL.duration.max}" value="${v('duration', String(CL.duration.default))}"></div>
<div class="field"><label for="capture-packets">Packets (${CL.packets.min}-${CL.packets.max})</label><input id="capture-packets" name="packets" type="number" min="${CL.packets.min}" max="${CL.packets.max}" value="${v('packets', String(CL.packets.default))}"></div>
<div class="field"><label for="capture-filter">Filter (optional)</label><input id="capture-filter" name="filter" maxlength="${CL.filterLength}" placeholder="tcp and port 443, host 192.0.2.1, not arp" value="${v('filter')}"></div>
<div class="buttons"><button type="submit">Capture</button></div>
</form>
${res}
</section>
<section id="captures">
<h2>Stored captures</h2>
${files.length ? html`<table><thead><tr><th>File</th><th>Size</th></tr></thead><tbody>${files.map((f) => html`<tr><td><a href="${DIAGNOSTICS_API}/captures/${f.name}">${f.name}</a></td><td>${f.bytes} bytes</td></tr>`)}</tbody></table>` : html`<p>No captures stored.</p>`}
</section>`;
}

/** The capture form's fields as the API's body. */
export function captureFormBody(form: Record<string, unknown>): Record<string, unknown> {
  const str = (k: string) => (typeof form[k] === 'string' && (form[k] as string).trim() !== '' ? (form[k] as string).trim().slice(0, 300) : undefined);
  const num = (k: string) => (str(k) === undefined ? undefined : /^\d{1,6}$/.test(str(k)!) ? Number(str(k)) : NaN);
  const out: Record<string, unknown> = { interface: str('interface'), duration: num('duration'), packets: num('packets'), filter: str('filter') };
  return Object.fromEntries(Object.entries(out).filter(([, x]) => x !== undefined));
}

/** The page's form fields as the API's body: numbers where the schema has numbers, empty fields left out. */
export function formBody(tool: Ran['tool'], form: Record<string, unknown>): Record<string, unknown> {
  const str = (k: string) => (typeof form[k] === 'string' && (form[k] as string).trim() !== '' ? (form[k] as string).trim().slice(0, 300) : undefined);
  const num = (k: string) => (str(k) === undefined ? undefined : /^\d{1,6}$/.test(str(k)!) ? Number(str(k)) : NaN);
  const out: Record<string, unknown> =
    tool === 'ping' ? { host: str('host'), count: num('count') } : tool === 'traceroute' ? { host: str('host'), maxHops: num('maxHops') } : tool === 'dns-lookup' ? { name: str('name'), type: str('type'), server: str('server') } : { host: str('host'), port: num('port') };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

export const PAGE_TOOLS = ['ping', 'traceroute', 'dns-lookup', 'tcp-check'] as const;

/** What the page shows after a POST: the tool's result, or the problems with its fields, and the values sent. */
export interface ToolOutcome {
  tool: Ran['tool'];
  values: Record<string, unknown>;
  ran?: Ran;
  problems?: FieldProblem[];
  error?: string;
}

function result(o: ToolOutcome): Html {
  if (o.problems) return html`<div class="error" role="alert">${o.problems.map((p) => html`<p>${p.message}</p>`)}</div>`;
  if (o.error) return html`<p class="error" role="alert">${o.error}</p>`;
  const ran = o.ran!;
  if (ran.tool === 'ping') {
    const r = ran.r;
    return html`<div class="tool-result" id="result-ping">
${r.error ? html`<p class="error">${r.error}</p>` : html`<p><strong>${r.received} of ${r.transmitted}</strong> replies from ${r.address ?? r.target}, ${r.lossPercent ?? 100}% loss${r.rtt ? html`; round trip min/avg/max ${r.rtt.min}/${r.rtt.avg}/${r.rtt.max} ms` : ''}</p>`}
${r.replies.length ? html`<table><thead><tr><th>Sequence</th><th>TTL</th><th>Time</th></tr></thead><tbody>${r.replies.map((x) => html`<tr><td>${x.seq}</td><td>${x.ttl ?? ''}</td><td>${x.ms} ms</td></tr>`)}</tbody></table>` : ''}
<details><summary>${r.command}</summary><pre>${r.output}</pre></details></div>`;
  }
  if (ran.tool === 'traceroute') {
    const r = ran.r;
    return html`<div class="tool-result" id="result-traceroute">
${r.error ? html`<p class="error">${r.error}</p>` : html`<p>${r.reached ? html`Reached ${r.address} in ${r.hops.length} hops.` : html`${r.address ?? r.target} not reached in ${r.hops.length} hops.`}</p>`}
${r.hops.length ? html`<table><thead><tr><th>Hop</th><th>Address</th><th>Times</th></tr></thead><tbody>${r.hops.map((h) => html`<tr><td>${h.hop}</td><td>${[...new Set(h.probes.map((p) => p.address).filter(Boolean))].join(', ') || '*'}</td><td>${h.probes.map((p) => (p.ms === null ? '*' : `${p.ms} ms${p.note ? ` ${p.note}` : ''}`)).join('  ')}</td></tr>`)}</tbody></table>` : ''}
<details><summary>${r.command}</summary><pre>${r.output}</pre></details></div>`;
  }
  if (ran.tool === 'dns-lookup') {
    const r = ran.r;
    return html`<div class="tool-result" id="result-dns-lookup"><p>${r.type} records of <strong>${r.name}</strong> from ${r.server} (${r.ms} ms):</p>
${r.error ? html`<p class="error">${r.error}</p>` : html`<ul>${r.records.map((x) => html`<li><code>${x}</code></li>`)}</ul>`}</div>`;
  }
  const r = ran.r;
  return html`<div class="tool-result" id="result-tcp-check">
${r.dnsMs !== null ? html`<p>DNS: ${r.host} is ${r.addresses.join(', ') || 'nothing'} (${r.dnsMs} ms)</p>` : ''}
<p class="${r.status === 'open' ? '' : 'error'}">${r.status === 'open' ? html`<span class="badge ok">Open</span> ` : html`<span class="badge err">${r.status}</span> `}${r.message}</p></div>`;
}

/** The Diagnostics > Tools page: a form per tool; `outcome` (after a POST) is shown under its form. */
export function toolsPage(csrf: string, outcome?: ToolOutcome): Html {
  const v = (tool: string, k: string, dflt = '') => (outcome?.tool === tool && outcome.values[k] !== undefined && !Number.isNaN(outcome.values[k]) ? String(outcome.values[k]) : dflt);
  const under = (tool: string) => (outcome?.tool === tool ? result(outcome) : '');
  const form = (tool: string, title: string, intro: string, fields: Html) => html`<section id="${tool}">
<h2>${title}</h2>
<p>${intro}</p>
<form method="post" action="${TOOLS_PAGE}/${tool}" class="filters">
<input type="hidden" name="_csrf" value="${csrf}">
${fields}
<div class="buttons"><button type="submit">Run</button></div>
</form>
${under(tool)}
</section>`;
  const text = (tool: string, name: string, label: string, attrs: string, dflt = '') =>
    html`<div class="field"><label for="${tool}-${name}">${label}</label><input id="${tool}-${name}" name="${name}" ${new Html(attrs)} value="${v(tool, name, dflt)}"></div>`;
  return html`<p>Tools to find out why the appliance cannot reach something. They change nothing; each run is recorded in the audit log. Packet capture: Diagnostics > Capture (administrators).</p>
${form('ping', 'Ping', `ICMP echo requests, one a second; 2 s for each reply.`, html`${text('ping', 'host', 'Host', 'required maxlength="253" placeholder="192.0.2.1, 2001:db8::1 or host.example.com"')}${text('ping', 'count', `Count (${LIMITS.pingCount.min}-${LIMITS.pingCount.max})`, `type="number" min="${LIMITS.pingCount.min}" max="${LIMITS.pingCount.max}"`, String(LIMITS.pingCount.default))}`)}
${form('traceroute', 'Traceroute', 'The routers on the way to a host, each with the time of three probes (2 s each; at most 90 s in all).', html`${text('traceroute', 'host', 'Host', 'required maxlength="253"')}${text('traceroute', 'maxHops', `Maximum hops (${LIMITS.maxHops.min}-${LIMITS.maxHops.max})`, `type="number" min="${LIMITS.maxHops.min}" max="${LIMITS.maxHops.max}"`, String(LIMITS.maxHops.default))}`)}
${form(
  'dns-lookup',
  'DNS lookup',
  'Records of a name from the configured DNS servers, or from a server you choose (5 s at most).',
  html`${text('dns-lookup', 'name', 'Name (an address for PTR)', 'required maxlength="253"')}<div class="field"><label for="dns-lookup-type">Type</label><select id="dns-lookup-type" name="type">${DNS_TYPES.map((t) => html`<option value="${t}"${v('dns-lookup', 'type', 'A') === t ? new Html(' selected') : ''}>${t}</option>`)}</select></div>${text('dns-lookup', 'server', 'Server (optional)', 'maxlength="45" placeholder="the configured servers"')}`,
)}
${form('tcp-check', 'TCP port check', 'Resolves the host and connects: the DNS and connect times, or why not: refused, no answer (a firewall dropping it) or unreachable. 5 s for each step.', html`${text('tcp-check', 'host', 'Host', 'required maxlength="253"')}${text('tcp-check', 'port', 'Port', 'required type="number" min="1" max="65535"')}`)}`;
}
