/**
 * System Log page and API on a sandbox root without a journal (test/system/journal.test.ts reads
 * a real one): the filters are checked by field, follow mode reloads by meta refresh, the support
 * bundle says there is no journal, and nothing is run.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';
import { buildServer } from '../../webui/server.ts';
import { followSeconds } from '../../webui/logging.ts';
import { configuredHost, WEB_PASSWORD } from '../helpers/web.ts';

async function served(t: TestContext) {
  const host = await configuredHost(t, { prefix: 'keel-logging-' });
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => void app.close());
  const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username: 'admin', password: WEB_PASSWORD } });
  const cookie = String(r.headers['set-cookie']).split(';')[0];
  (host.proc as SandboxProcesses).recorded.length = 0;
  return { app, host, get: (url: string) => app.inject({ method: 'GET', url, headers: { cookie } }) };
}

test('System Log without a journal: says so; bad filters are named on the page and refused by the API; follow reloads', async (t) => {
  const { host, get } = await served(t);
  const api = await get('/mics/api/v1/logging');
  assert.equal(api.statusCode, 200, api.body);
  assert.deepEqual({ ...JSON.parse(api.body), note: '' }, { entries: [], source: 'none', note: '' });
  assert.match(JSON.parse(api.body).note, /This sandbox has no journal/);
  const bad = await get('/mics/api/v1/logging?priority=loud&lines=0');
  assert.equal(bad.statusCode, 400);
  assert.equal(JSON.parse(bad.body).problems[0].field, '/lines', 'the schema bounds lines first');
  const bad2 = await get('/mics/api/v1/logging?priority=loud&unit=a%20b');
  assert.deepEqual(JSON.parse(bad2.body).problems.map((p: { field: string }) => p.field), ['/unit', '/priority']);

  const page = await get('/mics/logging');
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<td colspan="5">This sandbox has no journal/);
  assert.match(page.body, /<a href="\/mics\/logging" aria-current="page">System Log<\/a>/, "in the navigation");
  const refused = await get('/mics/logging?unit=%3Breboot&priority=9&since=tomorrow&q=x&follow=1');
  assert.match(refused.body, /id="logging-error">Unit must be a systemd unit name[^<]*Priority must be 0-7[^<]*Since must be a time like/);
  assert.match(refused.body, /<meta http-equiv="refresh" content="5">/);
  assert.match(refused.body, /<select id="l-priority" name="priority"><option value="">Any<\/option>/, "an unknown priority selects none");
  assert.equal(followSeconds({ follow: '1' }), 5);
  assert.equal(followSeconds({}), null);
  assert.deepEqual((host.proc as SandboxProcesses).recorded, [], 'nothing recorded or run without a journal');

  const bundle = await get('/mics/api/v1/maintenance/support-bundle');
  const tar = zlib.gunzipSync(bundle.rawPayload).toString('utf8');
  assert.match(tar, /system-log\.txt[\s\S]*This sandbox has no journal/);
  assert.match(tar, /commands\.log/);
});
