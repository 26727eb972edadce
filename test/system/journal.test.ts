/**
 * The system log end to end on a real journal: systemd-journal-remote writes journal files under
 * a sandbox root's /var/log/journal, and the real journalctl reads them for the CLI's `show
 * logging`, System Manager's System Log (API and page) and the support bundle.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import path from 'node:path';
import zlib from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { Journal } from '../../appliance/host/journal.ts';
import { buildServer } from '../../webui/server.ts';
import { cliSession } from '../helpers/cli.ts';
import { configuredHost, WEB_PASSWORD, OPERATOR_PASSWORD } from '../helpers/web.ts';
import { writeJournal, SAMPLE_ENTRIES } from '../helpers/journal.ts';

test('the adapter reads a real journal with each filter: unit, kernel, priority, since, literal text, last N', async (t) => {
  const { host, root } = await cliSession(t);
  writeJournal(path.join(root, 'var/log/journal'), SAMPLE_ENTRIES);
  const j = new Journal(host);
  const msgs = async (q: Parameters<Journal['read']>[0]) => (await j.read(q)).entries.map((e) => e.message);
  const all = await j.read({});
  assert.equal(all.source, 'directory');
  assert.equal(all.entries.length, SAMPLE_ENTRIES.length);
  assert.deepEqual(await msgs({ unit: 'chrony' }), ['Selected source 192.0.2.123 (ntp.example.com)']);
  assert.deepEqual(await msgs({ unit: 'kernel' }), ['Linux version 6.12.0-keel (boot)', 'e1000e 0000:00:19.0 eth0: NIC Link is Down']);
  assert.deepEqual(await msgs({ priority: 'warning' }), ['connect failed: password=<redacted> token rejected', 'e1000e 0000:00:19.0 eth0: NIC Link is Down', 'keel warn: health probe slow (a+b)*c']);
  assert.deepEqual(await msgs({ since: '8m' }), ['e1000e 0000:00:19.0 eth0: NIC Link is Down', 'keel warn: health probe slow (a+b)*c', 'bad \ufffd\ufffd bytes']);
  // A regular expression would not match its own text: the search is literal, and case-insensitive.
  assert.deepEqual(await msgs({ text: 'PROBE SLOW (a+b)*c' }), ['keel warn: health probe slow (a+b)*c']);
  assert.deepEqual(await msgs({ text: 'nothing like this' }), []);
  assert.deepEqual(await msgs({ lines: 2 }), ['keel warn: health probe slow (a+b)*c', 'bad \ufffd\ufffd bytes']);
  assert.deepEqual(await msgs({ unit: 'keel-monitor.service', priority: 4, since: '1h', text: 'slow' }), ['keel warn: health probe slow (a+b)*c']);
});

test('CLI: show logging is the system log with IOS filters, show logging audit the audit log; refusals name the rule', async (t) => {
  const { root, run } = await cliSession(t);
  writeJournal(path.join(root, 'var/log/journal'), SAMPLE_ENTRIES);
  const all = await run('show logging');
  assert.equal(all.trimEnd().split('\n').length, SAMPLE_ENTRIES.length, all);
  assert.match(all, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ notice  kernel\[100\]: Linux version/m);
  assert.match(all, /err     sshd\[103\]: connect failed: password=<redacted> token rejected/);
  assert.doesNotMatch(all, /hunter2/);
  assert.equal((await run('sh log unit ssh pri err')).trim().split('\n').length, 1);
  assert.match(await run('show logging unit kernel include "link is down"'), /NIC Link is Down/);
  assert.equal((await run('show logging priority warning last 1')).trim().split('\n').length, 1);
  assert.match(await run('show logging since 8m'), /Link is Down[\s\S]*probe slow[\s\S]*bad/);
  assert.equal(await run('show logging include nosuchtext'), 'No log entries match\n');
  assert.match(await run('show logging | include chronyd'), /Selected source/);
  assert.match(await run('show logging audit'), /admin@test: apply: initial \(revision 1\) -> ok/);
  assert.match(await run('show logging priority loud'), /% Invalid priority \(priority\): must be 0-7 or one of emerg/);
  assert.match(await run('show logging unit ;reboot'), /% Invalid unit \(unit-name\): must be a systemd unit name/);
  const help = await run('show logging ?');
  for (const w of ['audit', 'unit', 'priority', 'since', 'include', 'last', '<cr>']) assert.match(help, new RegExp(`^  ${w}( |$)`, 'm'), help);
  const bundle = await run('show tech-support');
  assert.match(bundle, /-- show logging last 500 --[\s\S]*Link is Down[\s\S]*-- show logging audit --/);
  assert.doesNotMatch(bundle, /hunter2/);
});

async function server(t: TestContext) {
  const host = await configuredHost(t, { prefix: 'keel-journal-' });
  writeJournal(host.files.real('/var/log/journal'), SAMPLE_ENTRIES);
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => void app.close());
  const signIn = async (username: string, password: string) => {
    const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username, password } });
    assert.equal(r.statusCode, 200, r.body);
    const cookie = String(r.headers['set-cookie']).split(';')[0];
    return (url: string) => app.inject({ method: 'GET', url, headers: { cookie } });
  };
  return { app, host, signIn };
}

test('System Manager: the API filters, refuses bad filters by field, the page shows newest first and follows without script; the bundle has the log redacted', async (t) => {
  const { signIn } = await server(t);
  const get = await signIn('admin', WEB_PASSWORD);
  const r = await get('/mics/api/v1/logging?unit=ssh&priority=err');
  assert.equal(r.statusCode, 200, r.body);
  const body = JSON.parse(r.body);
  assert.equal(body.source, 'directory');
  assert.deepEqual(body.entries.map((e: { unit: string; priority: number; message: string }) => [e.unit, e.priority, e.message]), [['ssh.service', 3, 'connect failed: password=<redacted> token rejected']]);
  const bad = await get('/mics/api/v1/logging?unit=--directory%3D%2F&since=never');
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(JSON.parse(bad.body).problems.map((p: { field: string; rule: string }) => `${p.field} ${p.rule}`), ['/unit unit-name', '/since since']);

  const page = await get('/mics/logging?unit=kernel');
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<title>System Log · System Manager<\/title>/);
  const kernel = [...page.body.matchAll(/<td class="message">([^<]*)<\/td>/g)].map((m) => m[1]);
  assert.deepEqual(kernel, ['e1000e 0000:00:19.0 eth0: NIC Link is Down', 'Linux version 6.12.0-keel (boot)'], 'newest first');
  assert.doesNotMatch(page.body, /http-equiv="refresh"/);
  const follow = await get('/mics/logging?priority=3&follow=1');
  assert.match(follow.body, /<meta http-equiv="refresh" content="5">/);
  assert.match(follow.body, /Stop following/);
  assert.doesNotMatch(follow.body, /<script>|<script [^>]*>[^<]/, 'no inline script');
  assert.match(String(follow.headers['content-security-policy']), /script-src 'self'/);
  const refused = await get('/mics/logging?since=tomorrow');
  assert.equal(refused.statusCode, 200);
  assert.match(refused.body, /id="logging-error">Since must be a time like/);

  const bundle = await get('/mics/api/v1/maintenance/support-bundle');
  assert.equal(bundle.statusCode, 200);
  const tar = zlib.gunzipSync(bundle.rawPayload).toString('utf8');
  assert.match(tar, /system-log\.txt/);
  assert.match(tar, /sshd\[103\]: connect failed: password=<redacted> token rejected/);
  assert.match(tar, /NIC Link is Down/);
  assert.doesNotMatch(tar, /hunter2/);
});

test('operators read the system log too (it changes nothing)', async (t) => {
  const { signIn } = await server(t);
  const get = await signIn('oper', OPERATOR_PASSWORD);
  assert.equal((await get('/mics/api/v1/logging?lines=3')).statusCode, 200);
  assert.equal(JSON.parse((await get('/mics/api/v1/logging?lines=3')).body).entries.length, 3);
  assert.equal((await get('/mics/logging')).statusCode, 200);
});
