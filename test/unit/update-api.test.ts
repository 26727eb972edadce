/**
 * System Manager's software update API (/mics/api/v1/updates) and page, through fastify inject,
 * against a signed repository over real HTTPS on loopback: the repository (one schema, password
 * write-only), check, download and staging in the background with progress, Reboot to Install,
 * unstage, the rollback notice and its acknowledgement, roles, audit, the OpenAPI document.
 */
import { test, beforeAll, afterAll, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { updateState } from '../../appliance/update/state.ts';
import { GrubEnv } from '../../appliance/update/grub.ts';
import { buildServer } from '../../webui/server.ts';
import { startRepository, prepareAppliance, REPO_USER, REPO_PASSWORD, type TestRepository } from '../helpers/update-repo.ts';
import { configuredHost, WEB_PASSWORD, OPERATOR_PASSWORD } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';

const PASSWORD = WEB_PASSWORD;
const OP_PASSWORD = OPERATOR_PASSWORD;
const U = '/mics/api/v1/updates';
let repo: TestRepository;

beforeAll(async () => {
  repo = await startRepository();
});
afterAll(async () => {
  await repo.close();
});

type Reply = { status: number; json: any; text: string };

async function start(t: TestContext) {
  const host = await configuredHost(t, { prefix: 'keel-upd-api-' });
  const app: FastifyInstance = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => { app.close(); });
  await prepareAppliance(host);
  const signIn = async (username = 'admin', password = PASSWORD) => {
    const r = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username, password } });
    assert.equal(r.statusCode, 200, r.body);
    const cookie = String(r.headers['set-cookie']).split(';')[0];
    const csrf = JSON.parse(r.body).csrfToken as string;
    return async (method: string, url: string, body?: unknown): Promise<Reply> => {
      const headers: Record<string, string> = { cookie };
      if (method !== 'GET') headers['x-csrf-token'] = csrf;
      const res = await app.inject({ method: method as 'GET', url, headers, ...(body !== undefined ? { payload: body as object } : {}) });
      let json: any = null;
      try {
        json = JSON.parse(res.body);
      } catch {
        /* a page */
      }
      return { status: res.statusCode, json, text: res.body };
    };
  };
  return { app, host, root: host.root, store: app.keel.store, signIn };
}

type Call = Awaited<ReturnType<Awaited<ReturnType<typeof start>>['signIn']>>;

/** Polls the status until the background step is done (as the page does). */
async function settle(call: Call): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const s = await call('GET', U);
    assert.equal(s.status, 200, s.text);
    if (!s.json.job?.running) return s.json;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the update step did not finish');
}

const repository = () => ({ repository: repo.url, username: REPO_USER, password: REPO_PASSWORD, caCertificate: repo.ca });

test('the repository: one schema with field and rule, password write-only and kept, admins only, audited without the password', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  const s0 = await a('GET', U);
  assert.equal(s0.status, 200);
  assert.equal(s0.json.repository, null);
  assert.equal(s0.json.label, 'Up to Date');
  assert.deepEqual(s0.json.running, { version: '0.1.0', slot: 'a' });
  const bad = await a('PUT', `${U}/repository`, { repository: 'http://updates.example.com/' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.problems[0].field, '/update/repository');
  assert.equal(bad.json.problems[0].rule, 'pattern');
  const noPw = await a('PUT', `${U}/repository`, { repository: repo.url, username: REPO_USER });
  assert.equal(noPw.status, 400);
  assert.deepEqual(noPw.json.problems.map((p: any) => `${p.field} ${p.rule}`), ['/update/password required']);
  const badCa = await a('PUT', `${U}/repository`, { repository: repo.url, caCertificate: '-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n' });
  assert.deepEqual(badCa.json.problems.map((p: any) => `${p.field} ${p.rule}`), ['/update/caCertificate pem-certificate']);
  const ok = await a('PUT', `${U}/repository`, repository());
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.changed, true);
  assert.equal(ok.json.unsaved, true);
  assert.deepEqual(env.store.running()!.config.update, repository());
  const s1 = await a('GET', U);
  assert.deepEqual(s1.json.repository, { repository: repo.url, username: REPO_USER, passwordSet: true, caCertificate: repo.ca });
  assert.ok(!s1.text.includes(REPO_PASSWORD));
  // Leaving the password out keeps it (same user).
  const again = await a('PUT', `${U}/repository`, { repository: repo.url, username: REPO_USER, caCertificate: repo.ca });
  assert.equal(again.json.changed, false);
  assert.equal(env.store.running()!.config.update!.password, REPO_PASSWORD);
  const cfg = await a('GET', '/mics/api/v1/config');
  assert.match(cfg.json.diff, /\+software-update repository https:\/\/127\.0\.0\.1:\d+\/keel\/ username mirror password \*{8}/);
  assert.ok(!cfg.text.includes(REPO_PASSWORD), 'diffs are redacted');
  const o = await env.signIn('oper', OP_PASSWORD);
  assert.equal((await o('PUT', `${U}/repository`, repository())).status, 403);
  assert.equal((await o('DELETE', `${U}/repository`)).status, 403);
  assert.equal((await o('GET', U)).json.repository.passwordSet, true);
  for (const e of env.store.auditLog(1000)) assert.ok(!`${e.action} ${e.outcome}`.includes(REPO_PASSWORD));
  for (const r of env.store.revisions(1000)) assert.ok(!`${r.summary} ${r.diff}`.includes(REPO_PASSWORD));
  assert.ok(env.store.auditLog(20).some((e) => /^webui: set software-update repository https:.* username mirror$/.test(e.action)));
  assert.equal((await a('DELETE', `${U}/repository`)).json.changed, true);
  assert.equal(env.store.running()!.config.update, undefined);
  const doc = await a('GET', '/mics/api/openapi.json');
  for (const p of ['', '/repository', '/check', '/download', '/stage', '/unstage', '/acknowledge']) assert.ok(doc.json.paths[`${U}${p}`], `${U}${p} in the OpenAPI document`);
  assert.ok(doc.json.paths[`${U}/repository`].put.requestBody);
});

test('check, download (progress polled), stage, Reboot to Install on the page, unstage; one step at a time; operators only check', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  const none = await a('POST', `${U}/check`, {});
  assert.equal(none.status, 400);
  assert.deepEqual(none.json.problems[0], { field: '/bundle', label: 'bundle', rule: 'precheck-failed', message: none.json.problems[0].message });
  assert.match(none.json.problems[0].message, /no update repository is configured/);
  assert.equal((await a('PUT', `${U}/repository`, repository())).status, 200);
  const o = await env.signIn('oper', OP_PASSWORD);
  const c = await o('POST', `${U}/check`, {});
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.available.version, '0.2.0');
  assert.equal(c.json.running, '0.1.0');
  assert.equal((await o('POST', `${U}/download`, {})).status, 403);
  assert.equal((await a('GET', U)).json.available.version, '0.2.0');

  const stageEarly = await a('POST', `${U}/stage`, {});
  assert.equal(stageEarly.status, 400);
  assert.match(stageEarly.json.problems[0].message, /nothing is downloaded/);
  const d = await a('POST', `${U}/download`, {});
  assert.equal(d.status, 202, d.text);
  assert.equal(d.json.kind, 'download');
  assert.equal(d.json.running, true);
  // The lock: a second step is refused while the first runs.
  const busy = await a('POST', `${U}/download`, {});
  assert.equal(busy.status, 409);
  assert.match(busy.json.error, /a software update download started by admin \(webui:127\.0\.0\.1\)/);
  const afterDl = await settle(a);
  assert.equal(afterDl.job.error, null, afterDl.job.error);
  assert.match(afterDl.job.result, /^Version 0\.2\.0 downloaded and verified \(2\.0 MiB\): ready to stage\.$/);
  assert.equal(afterDl.job.done, afterDl.job.total);
  assert.ok(afterDl.job.total > 2 * 2 ** 20);
  assert.equal(afterDl.label, 'Ready to Stage');
  assert.equal(afterDl.downloaded.version, '0.2.0');
  assert.equal(afterDl.busy, null);

  const s = await a('POST', `${U}/stage`, {});
  assert.equal(s.status, 202, s.text);
  const afterStage = await settle(a);
  assert.equal(afterStage.job.error, null, afterStage.job.error);
  assert.match(afterStage.job.result, /^Version 0\.2\.0 is staged on slot B/);
  assert.equal(afterStage.label, 'Reboot to Install');
  assert.equal(afterStage.phase, 'reboot-to-install');
  assert.deepEqual(afterStage.slots.b, { version: '0.2.0', state: 'staged', at: afterStage.slots.b.at, running: false });
  assert.equal(afterStage.available, null, 'what is staged is not offered again');
  assert.equal(new GrubEnv(env.host).read().keel_next, 'b');
  assert.equal(fs.readFileSync(path.join(env.root, 'slots/b/live/keel-version'), 'utf8'), '0.2.0\n');

  const page = await a('GET', '/mics/maintenance/updates');
  assert.equal(page.status, 200);
  assert.match(page.text, /id="update-label" class="badge warn">Reboot to Install</);
  assert.match(page.text, /0\.2\.0 on slot B: the next reboot installs it/);
  assert.match(page.text, /data-update-action="reboot"/);
  assert.match(page.text, /<script src="\/mics\/static\/update\.js" defer><\/script>/);
  assert.doesNotMatch(page.text, /<script>|style=|on(click|submit|load)=/i);
  assert.ok(!page.text.includes(REPO_PASSWORD));
  const js = await env.app.inject({ method: 'GET', url: '/mics/static/update.js' });
  assert.equal(js.statusCode, 200);
  assert.match(js.headers['content-type'] as string, /javascript/);
  assert.doesNotThrow(() => new Function(js.body), 'the page script parses');

  const u = await a('POST', `${U}/unstage`, {});
  assert.deepEqual(u.json, { unstaged: true });
  assert.equal(new GrubEnv(env.host).read().keel_next, '');
  assert.equal((await a('GET', U)).json.label, 'Ready to Stage');
  assert.deepEqual((await a('POST', `${U}/unstage`, {})).json, { unstaged: false });
  const audit = env.store.auditLog(100).map((e) => `${e.who}@${e.source.replace(/:.*/, '')} ${e.action} -> ${e.outcome}`);
  for (const want of [/^oper@webui software update check https:\/\/127\.0\.0\.1:\d+ -> ok: 0\.2\.0 available$/, /^admin@webui webui: software-update download -> started$/, /^admin@webui webui: software-update download -> refused: a software update download/, /^admin@webui software update 0\.2\.0 downloaded/, /^admin@webui software update 0\.2\.0 staged to slot b/, /^admin@webui software update 0\.2\.0 unstaged -> ok$/])
    assert.ok(audit.some((x) => want.test(x)), `${want} in\n${audit.join('\n')}`);
});

test('a corrupt bundle ends the download with its refusal reason; nothing is kept', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  await a('PUT', `${U}/repository`, repository());
  repo.corrupt = true;
  t.onTestFinished(() => { void (repo.corrupt = false); });
  assert.equal((await a('POST', `${U}/download`, {})).status, 202);
  const st = await settle(a);
  assert.equal(st.job.reason, 'sha256-mismatch');
  assert.match(st.job.error, /does not match the sha256 in the index/);
  assert.equal(st.downloaded, null);
  assert.equal(st.label, 'Up to Date');
  const page = await a('GET', '/mics/maintenance/updates');
  assert.match(page.text, /Download refused \(sha256-mismatch\): the downloaded bundle does not match/);
});

test('a rollback notice is shown with an Acknowledge button until acknowledged (audited)', async (t) => {
  const env = await start(t);
  const a = await env.signIn();
  updateState(env.host, (s) => {
    s.lastResult = { outcome: 'rolled-back', version: '0.3.0', running: '0.1.0', at: '2026-02-01T10:00:00.000Z', reason: 'version 0.3.0 was not healthy after 3 tries (try 1: System Manager did not answer within 600 s)' };
  });
  const st = (await a('GET', U)).json;
  assert.equal(st.label, 'Rolled Back');
  assert.match(st.notice, /^SOFTWARE UPDATE ROLLED BACK at 2026-02-01 10:00:00Z: version 0\.3\.0 was not healthy/);
  const page = await a('GET', '/mics/maintenance/updates');
  assert.match(page.text, /id="update-notice" role="alert"><p>SOFTWARE UPDATE ROLLED BACK/);
  assert.match(page.text, /data-update-action="acknowledge">Acknowledge</);
  const o = await env.signIn('oper', OP_PASSWORD);
  assert.equal((await o('POST', `${U}/acknowledge`, {})).status, 403);
  assert.deepEqual((await a('POST', `${U}/acknowledge`, {})).json, { acknowledged: true });
  assert.equal((await a('GET', U)).json.notice, null);
  assert.doesNotMatch((await a('GET', '/mics/maintenance/updates')).text, /update-notice/);
  assert.deepEqual((await a('POST', `${U}/acknowledge`, {})).json, { acknowledged: false });
  assert.ok(env.store.auditLog(10).some((e) => e.action === 'software update notice acknowledged' && e.who === 'admin'));
});
