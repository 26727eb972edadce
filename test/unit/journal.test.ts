/**
 * The journal adapter's filters, argv and parser. The parser's fixture is the real output of
 * `journalctl -o json` (systemd 252) on a journal written by systemd-journal-remote from
 * test/helpers/journal.ts SAMPLE_ENTRIES at 2026-12-05T12:00:00Z; test/system/journal.test.ts
 * runs the real tool.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkJournalQuery, journalArgs, parseJournalJson, formatEntry, priorityLevel, sinceSeconds, Journal, JOURNAL_MAX_LINES, type JournalQuery } from '../../appliance/host/journal.ts';
import { createHost } from '../../appliance/host/index.ts';
import { ValidationError } from '../../appliance/errors.ts';

const NOW = Date.parse('2026-12-05T12:00:00Z');
const ok = (q: JournalQuery) => {
  const c = checkJournalQuery(q, NOW);
  assert.ok('filter' in c, JSON.stringify(c));
  return c.filter;
};
const refused = (q: JournalQuery) => {
  const c = checkJournalQuery(q, NOW);
  assert.ok('problems' in c, `accepted ${JSON.stringify(q)}`);
  return c.problems.map((p) => `${p.field} ${p.rule}`);
};

test('unit names: systemd names and kernel pass; options, shell words, paths and long names are refused', () => {
  for (const u of ['keel-serve', 'ssh.service', 'keel-console@ttyS0.service', 'systemd-networkd', 'kernel', 'user@800.service']) assert.equal(ok({ unit: u }).unit, u);
  for (const u of ['-x', '--directory=/', 'a;reboot', '$(id)', 'a b', '../etc', 'a/b', '*', 'é.service', 'a'.repeat(129)]) assert.deepEqual(refused({ unit: u }), ['/unit unit-name'], u);
});

test('priority: 0-7 and the names (with the usual other spellings) as 0-7; anything else refused', () => {
  assert.deepEqual(['0', 7, 'emerg', 'err', 'error', 'warning', 'warn', 'WARNING', 'info', 'debug', 'crit', 'critical'].map((p) => priorityLevel(p)), [0, 7, 0, 3, 3, 4, 4, 4, 6, 7, 2, 2]);
  assert.equal(ok({ priority: 'notice' }).priority, 5);
  for (const p of ['8', '-1', 'loud', '3;', '1.5']) assert.deepEqual(refused({ priority: p }), ['/priority priority'], p);
});

test('since: ISO times (UTC unless zoned) and spans back from now, bounded to 400 days and not the future', () => {
  assert.equal(sinceSeconds('2026-12-05T10:00', NOW), Date.parse('2026-12-05T10:00Z') / 1000);
  assert.equal(sinceSeconds('2026-12-05 10:00:30', NOW), Date.parse('2026-12-05T10:00:30Z') / 1000);
  assert.equal(sinceSeconds('2026-12-05T10:00+01:00', NOW), Date.parse('2026-12-05T09:00Z') / 1000);
  assert.equal(sinceSeconds('2026-12-01', NOW), Date.parse('2026-12-01T00:00Z') / 1000);
  assert.equal(sinceSeconds('2h', NOW), NOW / 1000 - 7200);
  assert.equal(sinceSeconds('30m', NOW), NOW / 1000 - 1800);
  assert.equal(sinceSeconds('7d', NOW), NOW / 1000 - 7 * 86400);
  for (const s of ['yesterday', '2026-13-01', '2h ago; reboot', '@0', '2027-01-01', '2020-01-01', '9999d', 'x'.repeat(41)]) assert.deepEqual(refused({ since: s }), ['/since since'], s);
});

test('text and lines are bounded; every problem is named at once', () => {
  assert.equal(ok({ text: 'link is down' }).text, 'link is down');
  assert.deepEqual(refused({ text: 'x'.repeat(201) }), ['/text text']);
  assert.deepEqual(refused({ text: 'a\nb' }), ['/text text']);
  assert.equal(ok({}).lines, 200);
  assert.equal(ok({ lines: '5000' }).lines, 5000);
  for (const n of ['0', String(JOURNAL_MAX_LINES + 1), '1e3', '-5', 'ten']) assert.deepEqual(refused({ lines: n }), ['/lines range'], n);
  assert.deepEqual(refused({ unit: '-x', priority: 'loud', since: 'never', text: '\x07', lines: 0 }), ['/unit unit-name', '/priority priority', '/since since', '/text text', '/lines range']);
  const e = checkJournalQuery({ priority: 'loud' }, NOW);
  assert.ok('problems' in e);
  assert.match(e.problems[0].message, /^Priority must be 0-7 or one of emerg, alert/);
});

test('argv: one --option=value word per filter, the text searched literally, kernel as --dmesg', () => {
  const f = ok({ unit: 'ssh.service', priority: 'err', since: '2h', text: '(a+b)*c [x]', lines: '50' });
  assert.deepEqual(journalArgs(f), [
    '--no-pager',
    '--output=json',
    '--output-fields=MESSAGE,PRIORITY,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,_COMM,_PID,_TRANSPORT',
    '--lines=50',
    '--unit=ssh.service',
    '--priority=3',
    `--since=@${NOW / 1000 - 7200}`,
    '--grep=\\(a\\+b\\)\\*c \\[x\\]',
    '--case-sensitive=false',
  ]);
  const k = journalArgs(ok({ unit: 'kernel' }), '/tmp/j');
  assert.ok(k.includes('--dmesg') && k.includes('--directory=/tmp/j') && !k.some((a) => a.startsWith('--unit')));
  // Nothing a program could read as a second option: every value sits inside its own word.
  for (const a of journalArgs(f)) assert.match(a, /^--[a-z-]+(=|$)/);
});

test('parses real journalctl -o json output: times, priorities, units, kernel lines, byte-array messages, secrets scrubbed', () => {
  const out = fs.readFileSync(path.join(import.meta.dirname, '../fixtures/journal/journalctl-o-json.txt'), 'utf8');
  const e = parseJournalJson(out + '\nnot json\n{"broken":\n');
  assert.equal(e.length, 7);
  assert.deepEqual(e[0], { at: '2026-12-05T10:00:00.000Z', priority: 5, unit: 'kernel', identifier: 'kernel', pid: '100', message: 'Linux version 6.12.0-keel (boot)' });
  assert.deepEqual(
    e.map((x) => [x.unit, x.priority]),
    [['kernel', 5], ['keel-serve.service', 6], ['chrony.service', 6], ['ssh.service', 3], ['kernel', 4], ['keel-monitor.service', 4], ['odd.service', 6]],
  );
  assert.equal(e[3].message, 'connect failed: password=<redacted> token rejected');
  assert.equal(e[6].message, 'bad \ufffd\ufffd bytes');
  assert.equal(formatEntry(e[3]), '2026-12-05T11:50:00Z err     sshd[103]: connect failed: password=<redacted> token rejected');
  assert.ok(!out.includes('<redacted>') && out.includes('hunter2'), 'the fixture is the raw output');
});

test('a long message is cut; an entry without a time is skipped', () => {
  const long = JSON.stringify({ __REALTIME_TIMESTAMP: '1796471880000000', MESSAGE: 'x'.repeat(10_000), PRIORITY: '6' });
  const e = parseJournalJson(`${long}\n{"MESSAGE":"no time"}\n`);
  assert.equal(e.length, 1);
  assert.equal(e[0].message.length, 4001);
});

test('a sandbox without journal files says so and runs nothing; a bad filter is a ValidationError', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-journal-'));
  t.onTestFinished(() => fs.rmSync(root, { recursive: true, force: true }));
  const j = new Journal(createHost(root));
  const r = await j.read({});
  assert.equal(r.source, 'none');
  assert.equal(r.entries.length, 0);
  assert.match(r.note, /This sandbox has no journal/);
  await assert.rejects(j.read({ unit: '--directory=/' }), (e) => e instanceof ValidationError && e.problems[0].field === '/unit');
});
