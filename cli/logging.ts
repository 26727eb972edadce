/**
 * `show logging`: the system log (the journal: boot, services, kernel) with IOS-style filters, in
 * this order, each optional: `unit NAME`, `priority LEVEL`, `since TIME`, `include TEXT`, `last N`.
 * `show logging audit` is the audit log (who changed what). The journal adapter
 * (appliance/host/journal.ts) checks every filter again and runs journalctl without a shell.
 */
import { Journal, checkJournalQuery, formatEntry, PRIORITY_NAMES, JOURNAL_MAX_LINES, type JournalQuery } from '../appliance/host/journal.ts';
import type { Args, ArgType, Node } from './tree.ts';
import type { Session } from './session.ts';
import type { Handler } from './commands.ts';

type N = Node<Handler>;
const kw = (k: string, help: string, more: Partial<N> = {}): N => ({ kw: k, help, ...more });
const arg = (name: string, type: ArgType, help: string, more: Partial<N> = {}): N => ({ arg: { name, type }, help, ...more });

/** An argument checked by the journal adapter's own rule for that filter. */
function filterArg(field: keyof JournalQuery, placeholder: string, rule: string, values?: () => string[]): ArgType {
  return {
    placeholder,
    rule,
    values,
    parse: (w) => {
      const c = checkJournalQuery({ [field]: w });
      return 'problems' in c ? { error: c.problems[0].message.replace(/^\w+ /, '') } : { value: w };
    },
  };
}

const unitArg = filterArg('unit', 'WORD', 'unit-name', () => ['kernel', 'keel-serve', 'keel-applier', 'keel-monitor', 'keel-boot', 'systemd-networkd', 'chrony', 'nftables']);
const priorityArg = filterArg('priority', '<0-7>|WORD', 'priority', () => [...PRIORITY_NAMES]);
const sinceArg = filterArg('since', 'TIME', 'since');
const textArg = filterArg('text', 'WORD', 'text');
const lastArg = filterArg('lines', `<1-${JOURNAL_MAX_LINES}>`, 'range');

/** The system log, oldest first, filtered as asked. */
export async function showSystemLog(s: Session, a: Args): Promise<string> {
  const r = await new Journal(s.host).read({ unit: a.unit, priority: a.priority, since: a.since, text: a.text, lines: a.last });
  if (r.source === 'none') return `% ${r.note}`;
  if (!r.entries.length) return 'No log entries match';
  return r.entries.map(formatEntry).join('\n');
}

/** The audit log, oldest first (the newest 500). */
export function showAuditLog(s: Session): string {
  const rows = s.store.auditLog(500).reverse();
  if (!rows.length) return 'Audit log is empty';
  return rows.map((r) => `${r.at} ${r.who}@${r.source}: ${r.action} -> ${r.outcome}`).join('\n');
}

const FILTERS: { kw: string; help: string; arg: string; type: ArgType; argHelp: string }[] = [
  { kw: 'unit', help: 'Entries of one systemd unit (kernel: the kernel of this boot)', arg: 'unit', type: unitArg, argHelp: 'Unit name, e.g. keel-serve, ssh.service, kernel' },
  { kw: 'priority', help: 'Entries of this priority and more severe', arg: 'priority', type: priorityArg, argHelp: `0-7 or ${PRIORITY_NAMES.join(', ')}` },
  { kw: 'since', help: 'Entries from this time on', arg: 'since', type: sinceArg, argHelp: 'UTC time 2026-12-05T10:00, or back from now: 30m, 2h, 7d' },
  { kw: 'include', help: 'Entries whose message contains this text (case-insensitive)', arg: 'text', type: textArg, argHelp: 'Text (double quotes for spaces)' },
  { kw: 'last', help: 'Only the newest N entries (default 200)', arg: 'last', type: lastArg, argHelp: `Entries, 1 to ${JOURNAL_MAX_LINES}` },
];

/** The filters that may follow the i-th one: IOS keeps optional keywords in one order. */
function filtersFrom(i: number): N[] {
  return FILTERS.slice(i).map((f, j) => kw(f.kw, f.help, { children: [arg(f.arg, f.type, f.argHelp, { run: showSystemLog, children: filtersFrom(i + j + 1) })] }));
}

/** `show logging …` (privileged EXEC). */
export const LOGGING_NODE: N = kw('logging', 'The system log (journal); audit: the audit log', {
  run: showSystemLog,
  preferred: true,
  children: [kw('audit', 'The audit log: who changed what, from where, with what outcome', { run: showAuditLog }), ...filtersFrom(0)],
});
