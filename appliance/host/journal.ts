/**
 * The system log: the systemd journal (boot, services, kernel) read with `journalctl -o json`.
 * Every filter is checked here and becomes one `--option=value` word of an argv array (never a
 * shell, and no value can be taken for an option); the free text is searched as a literal.
 *
 * In a sandbox root the appliance has no journal of its own: it reads the journal files under
 * `<root>/var/log/journal` (where journald keeps a persistent journal) with `--directory`, and
 * says there is none when that folder holds no journal file. Reading changes nothing, so unlike
 * the sandbox's other commands it runs for real.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Host } from './index.ts';
import { RealProcesses, type Processes } from './processes.ts';
import { OperationalError, ValidationError, type FieldProblem } from '../errors.ts';
import { scrub } from '../log.ts';

/** syslog priorities, 0 (most severe) to 7, by their journalctl names. */
export const PRIORITY_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
/** Other spellings people type for the same levels. */
const PRIORITY_ALIASES: Record<string, number> = { emergency: 0, critical: 2, error: 3, errors: 3, warn: 4, warnings: 4, informational: 6, debugging: 7 };
/** Lines shown when no count is given, and the most one request may ask for. */
export const JOURNAL_DEFAULT_LINES = 200;
export const JOURNAL_MAX_LINES = 5000;
/** Longest search text and unit name; how far back `since` may reach (the hourly history keeps a year). */
export const JOURNAL_MAX_TEXT = 200;
export const JOURNAL_MAX_UNIT = 128;
export const JOURNAL_MAX_SINCE_DAYS = 400;
/** A message longer than this is cut (journald keeps up to 48 KiB per field; a screen does not). */
export const JOURNAL_MAX_MESSAGE = 4000;
/** `unit kernel`: the kernel's messages of this boot (`journalctl --dmesg`), which belong to no unit. */
export const KERNEL_UNIT = 'kernel';
/** Where a journal would be kept on the appliance, and where a sandbox looks for one. */
export const JOURNAL_DIR = '/var/log/journal';

/** What the administrator asked for, as typed (CLI words, form fields, query parameters). */
export interface JournalQuery {
  unit?: string;
  /** 0-7 or a name (`err`, `warning`…): that level and everything more severe. */
  priority?: string | number;
  /** ISO 8601 time (`2026-12-05T10:00`, UTC unless it names a zone) or a span back from now: `30m`, `2h`, `7d`. */
  since?: string;
  /** Text the message contains (case-insensitive, literal). */
  text?: string;
  /** The newest this many entries. */
  lines?: string | number;
}

/** A checked query: every value in its normal form. */
export interface JournalFilter {
  unit?: string;
  priority?: number;
  /** Seconds since the epoch. */
  since?: number;
  text?: string;
  lines: number;
}

export interface JournalEntry {
  /** ISO 8601 UTC, microseconds cut to milliseconds. */
  at: string;
  priority: number;
  /** The systemd unit, or `kernel` for the kernel's messages, or '' when journald recorded none. */
  unit: string;
  /** The program (SYSLOG_IDENTIFIER, else the command name). */
  identifier: string;
  pid: string;
  /** With secrets scrubbed (appliance/log.ts) and cut to JOURNAL_MAX_MESSAGE. */
  message: string;
}

export interface JournalResult {
  entries: JournalEntry[];
  /** `system`: the appliance's journal; `directory`: journal files under a sandbox root; `none`: a sandbox without one. */
  source: 'system' | 'directory' | 'none';
  /** For people: where the entries came from, or why there are none. */
  note: string;
}

const UNIT_RE = /^[A-Za-z0-9][A-Za-z0-9:_.@-]*$/;
const SPAN_RE = /^(\d{1,4})\s*(s|m|min|h|d|w)$/i;
const SPAN_SECONDS: Record<string, number> = { s: 1, m: 60, min: 60, h: 3600, d: 86400, w: 604800 };

/** A priority word or number as 0-7, or null. */
export function priorityLevel(v: string | number): number | null {
  const w = String(v).trim().toLowerCase();
  if (/^[0-7]$/.test(w)) return Number(w);
  const i = (PRIORITY_NAMES as readonly string[]).indexOf(w);
  if (i >= 0) return i;
  return PRIORITY_ALIASES[w] ?? null;
}

/** `since` as seconds since the epoch, or the reason it is refused. */
export function sinceSeconds(v: string, now = Date.now()): number | string {
  const w = v.trim();
  if (!w || w.length > 40) return 'must be a time like 2026-12-05T10:00 or a span back from now like 30m, 2h or 7d';
  const span = SPAN_RE.exec(w);
  let ms: number;
  if (span) ms = now - Number(span[1]) * SPAN_SECONDS[span[2].toLowerCase()] * 1000;
  else {
    if (!/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?)?(Z|[+-]\d\d:?\d\d)?$/.test(w)) return 'must be a time like 2026-12-05T10:00 or a span back from now like 30m, 2h or 7d';
    // A time without a zone is UTC, as every time the appliance shows is.
    const iso = w.replace(' ', 'T');
    ms = Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(iso) ? iso : /T/.test(iso) ? `${iso}Z` : `${iso}T00:00Z`);
    if (Number.isNaN(ms)) return 'is not a valid date and time';
  }
  if (ms > now + 60_000) return 'must not be in the future';
  if (ms < now - JOURNAL_MAX_SINCE_DAYS * 86400_000) return `must be within the last ${JOURNAL_MAX_SINCE_DAYS} days`;
  return Math.floor(ms / 1000);
}

/** Checks a query: the normal form, or every problem (field, rule and a sentence naming the field). */
export function checkJournalQuery(q: JournalQuery, now = Date.now()): { filter: JournalFilter } | { problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const f: JournalFilter = { lines: JOURNAL_DEFAULT_LINES };
  const given = (v: unknown) => v !== undefined && v !== null && String(v).trim() !== '';
  if (given(q.unit)) {
    const u = String(q.unit).trim();
    if (u.length > JOURNAL_MAX_UNIT || !UNIT_RE.test(u)) problems.push({ field: '/unit', rule: 'unit-name', message: `Unit must be a systemd unit name such as keel-serve or ssh.service (letters, digits and : _ . @ -, at most ${JOURNAL_MAX_UNIT} characters), or kernel` });
    else f.unit = u;
  }
  if (given(q.priority)) {
    const p = priorityLevel(q.priority!);
    if (p === null) problems.push({ field: '/priority', rule: 'priority', message: `Priority must be 0-7 or one of ${PRIORITY_NAMES.join(', ')}` });
    else f.priority = p;
  }
  if (given(q.since)) {
    const s = sinceSeconds(String(q.since), now);
    if (typeof s === 'string') problems.push({ field: '/since', rule: 'since', message: `Since ${s}` });
    else f.since = s;
  }
  if (given(q.text)) {
    const t = String(q.text);
    if (t.length > JOURNAL_MAX_TEXT || /[\x00-\x1f\x7f]/.test(t)) problems.push({ field: '/text', rule: 'text', message: `Text must be at most ${JOURNAL_MAX_TEXT} printable characters` });
    else f.text = t;
  }
  if (given(q.lines)) {
    const w = String(q.lines).trim();
    const n = Number(w);
    if (!/^\d{1,5}$/.test(w) || n < 1 || n > JOURNAL_MAX_LINES) problems.push({ field: '/lines', rule: 'range', message: `Lines must be a whole number from 1 to ${JOURNAL_MAX_LINES}` });
    else f.lines = n;
  }
  return problems.length ? { problems } : { filter: f };
}

/** Escapes text so journalctl's --grep (PCRE2) matches it literally. */
function literal(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}]/g, (c) => `\\${c}`);
}

/** The argv of `journalctl` for a checked filter (optionally on the journal files of one folder). */
export function journalArgs(f: JournalFilter, directory?: string): string[] {
  const a = ['--no-pager', '--output=json', '--output-fields=MESSAGE,PRIORITY,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,_COMM,_PID,_TRANSPORT', `--lines=${f.lines}`];
  if (directory) a.push(`--directory=${directory}`);
  if (f.unit === KERNEL_UNIT) a.push('--dmesg');
  else if (f.unit) a.push(`--unit=${f.unit}`);
  if (f.priority !== undefined) a.push(`--priority=${f.priority}`);
  if (f.since !== undefined) a.push(`--since=@${f.since}`);
  if (f.text) a.push(`--grep=${literal(f.text)}`, '--case-sensitive=false');
  return a;
}

/** A journal field as text: journalctl writes a byte array for values that are not valid UTF-8. */
function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((b) => typeof b === 'number')) return Buffer.from(v as number[]).toString('utf8');
  if (Array.isArray(v)) return text(v[0]);
  return '';
}

/** Parses `journalctl -o json` output (one object a line); a line that is not JSON is skipped. */
export function parseJournalJson(out: string): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      continue;
    }
    const t = text(o.__REALTIME_TIMESTAMP);
    if (!/^\d{1,20}$/.test(t)) continue;
    const us = Number(t);
    const prio = Number(text(o.PRIORITY));
    const kernel = text(o._TRANSPORT) === 'kernel';
    let message = text(o.MESSAGE).replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ' ');
    if (message.length > JOURNAL_MAX_MESSAGE) message = `${message.slice(0, JOURNAL_MAX_MESSAGE)}…`;
    entries.push({
      at: new Date(Math.floor(us / 1000)).toISOString(),
      priority: Number.isInteger(prio) && prio >= 0 && prio <= 7 ? prio : 6,
      unit: text(o._SYSTEMD_UNIT) || (kernel ? KERNEL_UNIT : ''),
      identifier: text(o.SYSLOG_IDENTIFIER) || text(o._COMM) || (kernel ? 'kernel' : ''),
      pid: text(o._PID),
      message: scrub(message),
    });
  }
  return entries;
}

/** One entry as a line, as `journalctl -o short-iso` would print it (UTC). */
export function formatEntry(e: JournalEntry): string {
  return `${e.at.slice(0, 19)}Z ${PRIORITY_NAMES[e.priority].padEnd(7)} ${e.identifier || e.unit || '-'}${e.pid ? `[${e.pid}]` : ''}: ${e.message}`;
}

/** True when a folder (or a machine-id folder in it, as journald lays them out) holds a journal file. */
function hasJournalFiles(dir: string): boolean {
  try {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isFile() && /\.journal~?$/.test(e.name)) return true;
      if (e.isDirectory() && hasJournalFiles(path.join(dir, e.name))) return true;
    }
  } catch {
    /* absent or unreadable */
  }
  return false;
}

/** Journal adapter: the system log through `journalctl`, on the appliance or under a sandbox root. */
export class Journal {
  readonly host: Host;
  /** The sandbox only records commands; reading a journal changes nothing, so it is really run. */
  private readonly proc: Processes;
  constructor(host: Host) {
    this.host = host;
    this.proc = host.proc.live ? host.proc : new RealProcesses();
  }
  /** Entries matching the query, oldest first (the newest `lines` of them). Throws ValidationError for a bad filter. */
  async read(q: JournalQuery): Promise<JournalResult> {
    const c = checkJournalQuery(q);
    if ('problems' in c) throw new ValidationError(c.problems);
    let directory: string | undefined;
    if (this.host.sandbox) {
      directory = this.host.files.real(JOURNAL_DIR);
      if (!hasJournalFiles(directory)) return { entries: [], source: 'none', note: `This sandbox has no journal (no journal files under ${directory}).` };
    }
    const args = journalArgs(c.filter, directory);
    const r = await this.proc.run('journalctl', args, { allowFail: true, timeoutMs: 20_000 });
    // journalctl ends with 1 and says nothing when --grep matched no entry; anything else is a failure.
    if (r.code !== 0 && !(r.code === 1 && !r.stderr.trim() && c.filter.text)) {
      throw new OperationalError('could not read the journal', ['journalctl', ...args].join(' '), r.code, r.stderr);
    }
    const entries = parseJournalJson(r.stdout);
    return { entries, source: directory ? 'directory' : 'system', note: directory ? `Journal files under ${directory}` : 'The system journal' };
  }
}
