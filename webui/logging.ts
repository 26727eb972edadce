/**
 * System Manager's System Log: the journal (boot, services, kernel) filtered by unit, priority,
 * time and text, as GET /mics/api/v1/logging and the page /mics/logging (the CLI's `show
 * logging`). Follow mode is the same page refreshing itself every few seconds with
 * `<meta http-equiv="refresh">`: no script, so nothing to allow in the CSP. Every filter is
 * checked by the journal adapter (appliance/host/journal.ts), which never uses a shell; messages
 * are scrubbed of secrets there. Operators may read it too (it changes nothing), as the audit log.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Host } from '../appliance/host/index.ts';
import { Journal, checkJournalQuery, JOURNAL_DEFAULT_LINES, JOURNAL_MAX_LINES, JOURNAL_MAX_TEXT, JOURNAL_MAX_UNIT, PRIORITY_NAMES, type JournalResult } from '../appliance/host/journal.ts';
import { isUserFacing, ValidationError } from '../appliance/errors.ts';
import { log } from '../appliance/log.ts';
import { API, ErrorBody, SESSION_OR_TOKEN } from './api.ts';
import { html, type Html } from './pages.ts';

export const LOGGING_API = `${API}/logging`;
export const LOGGING_PAGE = '/mics/logging';
/** Seconds between two loads of a followed page. */
export const FOLLOW_SECONDS = 5;

const PRIORITY_LABELS = ['0 emergency', '1 alert', '2 critical', '3 error', '4 warning', '5 notice', '6 info', '7 debug'];

/** What the page and the API take: the same names as the CLI's filters (`q` is the text, as on the audit log). */
export interface LoggingQuery {
  unit?: string;
  priority?: string;
  since?: string;
  q?: string;
  lines?: string | number;
  follow?: string;
}

const Entry = Type.Object({
  at: Type.String({ description: 'ISO 8601 UTC' }),
  priority: Type.Integer({ minimum: 0, maximum: 7, description: '0 emergency … 7 debug' }),
  unit: Type.String({ description: 'systemd unit, kernel, or empty' }),
  identifier: Type.String({ description: 'The program' }),
  pid: Type.String(),
  message: Type.String({ description: 'Secrets scrubbed' }),
});

/** GET /mics/api/v1/logging. */
export function registerLoggingApi(app: FastifyInstance): void {
  const journal = new Journal(app.keel.host);
  app.get<{ Querystring: LoggingQuery }>(LOGGING_API, {
    schema: {
      tags: ['logging'],
      summary: 'System log',
      description: `The journal (boot, services, kernel), oldest first: the newest \`lines\` entries (default ${JOURNAL_DEFAULT_LINES}) that match every given filter. Secrets in messages are scrubbed.`,
      security: SESSION_OR_TOKEN,
      querystring: Type.Object({
        unit: Type.Optional(Type.String({ maxLength: JOURNAL_MAX_UNIT, description: 'A systemd unit (keel-serve, ssh.service) or kernel' })),
        priority: Type.Optional(Type.String({ maxLength: 16, description: `That priority and more severe: 0-7 or ${PRIORITY_NAMES.join(', ')}` })),
        since: Type.Optional(Type.String({ maxLength: 40, description: 'From this time on: ISO 8601 (UTC unless a zone is given) or back from now: 30m, 2h, 7d' })),
        q: Type.Optional(Type.String({ maxLength: JOURNAL_MAX_TEXT, description: 'Text in the message (case-insensitive, literal)' })),
        lines: Type.Optional(Type.Integer({ minimum: 1, maximum: JOURNAL_MAX_LINES, default: JOURNAL_DEFAULT_LINES })),
      }),
      response: {
        200: Type.Object({ entries: Type.Array(Entry), source: Type.String({ description: 'system, directory (a sandbox root with journal files) or none' }), note: Type.String() }),
        400: ErrorBody,
        401: ErrorBody,
        403: ErrorBody,
        502: ErrorBody,
      },
    },
    handler: async (req) => {
      const q = req.query;
      return journal.read({ unit: q.unit, priority: q.priority, since: q.since, text: q.q, lines: q.lines });
    },
  });
}

/** Query parameters of this page for a link (empty ones left out). */
function link(q: LoggingQuery, extra: Partial<LoggingQuery> = {}): string {
  const all = { ...q, ...extra } as Record<string, unknown>;
  const p = new URLSearchParams(Object.entries(all).filter(([, v]) => v !== undefined && v !== '' && v !== null) as [string, string][]);
  const s = p.toString();
  return s ? `${LOGGING_PAGE}?${s}` : LOGGING_PAGE;
}

/** Whether the page refreshes itself (follow mode), for the page's head. */
export function followSeconds(q: LoggingQuery): number | null {
  return q.follow === '1' ? FOLLOW_SECONDS : null;
}

/** The System Log page: the filter form and the entries, newest first. */
export async function loggingPage(host: Host, q: LoggingQuery): Promise<Html> {
  const query = { unit: q.unit, priority: q.priority, since: q.since, text: q.q, lines: q.lines || JOURNAL_DEFAULT_LINES };
  let problems: string[] = [];
  let result: JournalResult | null = null;
  let failed = false;
  const c = checkJournalQuery(query);
  if ('problems' in c) problems = c.problems.map((p) => p.message);
  else {
    try {
      result = await new Journal(host).read(query);
    } catch (e) {
      if (e instanceof ValidationError) problems = e.problems.map((p) => p.message);
      else if (isUserFacing(e)) {
        // The command line and stderr go to the log, not to the page.
        log.error('system log could not be read', { error: (e as Error).message });
        failed = true;
      } else throw e;
    }
  }
  const follow = followSeconds(q);
  const rows = (result?.entries ?? [])
    .slice()
    .reverse()
    .map(
      (e) => html`<tr class="prio-${e.priority}"><td class="nowrap">${e.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</td><td><span class="badge ${e.priority <= 3 ? 'bad' : e.priority === 4 ? 'warn' : 'ok'}">${PRIORITY_NAMES[e.priority]}</span></td><td>${e.unit}</td><td>${e.identifier}${e.pid ? `[${e.pid}]` : ''}</td><td class="message">${e.message}</td></tr>`,
    );
  const option = (value: string, label: string, current: string | undefined) => html`<option value="${value}"${(current ?? '') === value ? html` selected` : ''}>${label}</option>`;
  return html`<section>
<form method="get" action="${LOGGING_PAGE}" class="filters" id="logging-filters">
<div class="field"><label for="l-unit">Unit</label><input id="l-unit" name="unit" maxlength="${JOURNAL_MAX_UNIT}" value="${q.unit ?? ''}" placeholder="keel-serve, ssh.service, kernel" list="l-units"><datalist id="l-units">${['kernel', 'keel-serve', 'keel-applier', 'keel-monitor', 'keel-boot', 'systemd-networkd', 'chrony', 'nftables'].map((u) => html`<option value="${u}">`)}</datalist></div>
<div class="field"><label for="l-priority">Priority (and more severe)</label><select id="l-priority" name="priority">${option('', 'Any', q.priority)}${PRIORITY_LABELS.map((l, i) => option(String(i), l, q.priority))}</select></div>
<div class="field"><label for="l-since">Since</label><input id="l-since" name="since" maxlength="40" value="${q.since ?? ''}" placeholder="2h, 7d or 2026-12-05T10:00 (UTC)"></div>
<div class="field"><label for="l-q">Text</label><input id="l-q" name="q" maxlength="${JOURNAL_MAX_TEXT}" value="${q.q ?? ''}"></div>
<div class="field"><label for="l-lines">Entries</label><select id="l-lines" name="lines">${[100, 200, 500, 1000, 5000].map((n) => option(String(n), String(n), String(q.lines || JOURNAL_DEFAULT_LINES)))}</select></div>
<div class="field"><label for="l-follow"><input id="l-follow" name="follow" type="checkbox" value="1"${q.follow === '1' ? html` checked` : ''}> Follow (reload every ${FOLLOW_SECONDS} s)</label></div>
<div class="buttons"><button type="submit">Show</button> <a href="${LOGGING_PAGE}">Clear</a></div>
</form>
${problems.length ? html`<p class="error" role="alert" id="logging-error">${problems.join(' ')}</p>` : ''}
${failed ? html`<p class="error" role="alert" id="logging-error">The system log could not be read; the details are in the appliance log.</p>` : ''}
</section>
<section>
<p class="muted" id="logging-source">${result ? `${result.note}. ` : ''}${follow ? html`Following: this page reloads every ${follow} s. <a href="${link(q, { follow: undefined })}">Stop following</a>` : html`Newest first. <a href="${link(q, { follow: '1' })}">Follow</a>`}</p>
<table class="logging" id="logging-entries">
<thead><tr><th>When</th><th>Priority</th><th>Unit</th><th>Program</th><th>Message</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="5">${result?.source === 'none' ? result.note : 'No entries'}</td></tr>`}</tbody>
</table>
</section>`;
}
