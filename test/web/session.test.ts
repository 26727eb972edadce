/**
 * System Manager sessions in headless Chromium: sign out ends the session on the server (the old
 * cookie opens nothing); an idle session expires (15 minutes without a request; the test ages the
 * session's last use in the store rather than waiting); a state-changing request without the CSRF
 * token, or with a wrong one, is answered 403 and changes nothing.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { Page } from 'playwright-core';
import { IDLE_TIMEOUT_MS } from '../../webui/sessions.ts';
import { servedAppliance, browserPage, WEB_PASSWORD } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';
// Each test closes its browser itself before the helper's cleanup closes the server: a socket Chromium
// opened ahead of use (no request yet) would otherwise hold app.close() until the 60 s headers timeout.

async function signIn(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/mics/`);
  await page.fill('#username', 'admin');
  await page.fill('#password', WEB_PASSWORD);
  await Promise.all([page.waitForURL(`${base}/mics/`), page.click('button[type=submit]')]);
  assert.ok(await page.locator('#hostname').count(), 'signed in: the dashboard shows');
}

/** A GET with only the given cookie, outside the browser (what a stolen cookie would get). */
function getWith(url: string, cookie: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false, agent: false, headers: { cookie } }, (r) => (r.resume(), resolve(r.statusCode ?? 0))).on('error', reject);
  });
}

const sessionCookie = async (page: Page) => {
  const c = (await page.context().cookies()).find((x) => x.name === 'keel_session');
  return c ? `keel_session=${c.value}` : '';
};

test('sign out: the session ends on the server, the old cookie opens nothing', async (t) => {
  const { base, store } = await servedAppliance(t, { prefix: 'keel-websess-' });
  const { page, problems } = await browserPage(t);
  await signIn(page, base);
  const cookie = await sessionCookie(page);
  assert.ok(cookie, 'a session cookie is set');
  const c = (await page.context().cookies()).find((x) => x.name === 'keel_session')!;
  assert.ok(c.secure && c.httpOnly && c.sameSite === 'Strict', `cookie flags: ${JSON.stringify(c)}`);
  assert.equal(await getWith(`${base}/mics/api/health`, cookie), 200, 'the cookie works before sign-out');

  await Promise.all([page.waitForURL(`${base}/mics/`), page.click('header button[type=submit]')]);
  assert.ok(await page.isVisible('#username'), 'back at the sign-in form');
  assert.equal(await sessionCookie(page), '', 'the browser dropped the cookie');
  assert.equal(await getWith(`${base}/mics/api/health`, cookie), 401, 'the old cookie is dead on the server');
  assert.equal(await getWith(`${base}/mics/settings/time`, cookie), 302, 'pages send it to the sign-in form');
  await page.goto(`${base}/mics/settings/time`);
  assert.ok(await page.isVisible('#username'), 'a page after sign-out shows the sign-in form');
  const audit = store.db.prepare("SELECT action FROM audit WHERE action LIKE 'sign out%'").all() as { action: string }[];
  assert.equal(audit.length, 1, 'the sign-out is audited');
  assert.deepEqual(problems, [], 'no console errors');
  await page.context().browser()?.close();
});

test('session expiry: after the idle timeout a change is refused and the page asks to sign in again', async (t) => {
  const { base, store } = await servedAppliance(t, { prefix: 'keel-websess-' });
  const { page, problems } = await browserPage(t);
  await signIn(page, base);
  await page.goto(`${base}/mics/settings/time`);
  const revision = store.running()!.revision;

  // 15 minutes without a request, as the server sees it (the session's last use moved back).
  const aged = store.db.prepare('UPDATE sessions SET seen_at = seen_at - ?, created_at = created_at - ?').run(IDLE_TIMEOUT_MS + 1000, IDLE_TIMEOUT_MS + 1000);
  assert.equal(aged.changes, 1);

  const ntp = page.locator('form[data-url$="/config/ntp"]');
  await ntp.locator('input[name="servers"]').fill('192.0.2.200');
  await ntp.locator('button[type=submit]').click();
  await ntp.locator('.form-error').filter({ hasText: /sign in/i }).waitFor();
  assert.equal(store.running()!.revision, revision, 'nothing applied');
  assert.equal((store.db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n, 0, 'the expired session is gone from the store');
  await page.reload();
  assert.ok(await page.isVisible('#username'), 'reloaded: the sign-in form');
  await signIn(page, base);
  const refused = problems.filter((p) => /status of 401/.test(p));
  assert.equal(refused.length, 1, problems.join('\n'));
  assert.deepEqual(problems.filter((p) => !refused.includes(p)), [], 'no other console errors');
  await page.context().browser()?.close();
});

test('CSRF: a change without the token, or with a wrong one, is answered 403 and changes nothing', async (t) => {
  const { base, store } = await servedAppliance(t, { prefix: 'keel-websess-' });
  const { page, problems } = await browserPage(t);
  await signIn(page, base);
  const revision = store.running()!.revision;
  const body = { enabled: true, servers: ['192.0.2.201'] };

  // Same-origin script, session cookie sent, but no X-CSRF-Token.
  const noToken = await page.evaluate(async (b) => {
    const r = await fetch('/mics/api/v1/config/ntp', { method: 'PUT', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) });
    return { status: r.status, body: await r.text() };
  }, body);
  assert.equal(noToken.status, 403, noToken.body);
  assert.match(noToken.body, /CSRF token/);
  const wrong = await page.evaluate(async (b) => {
    const r = await fetch('/mics/api/v1/config/ntp', { method: 'PUT', credentials: 'same-origin', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'forged' }, body: JSON.stringify(b) });
    return r.status;
  }, body);
  assert.equal(wrong, 403);
  // The same request with the page's token goes through: the refusals were about the token only.
  const ok = await page.evaluate(async (b) => {
    const token = document.querySelector('meta[name="csrf-token"]')!.getAttribute('content')!;
    const r = await fetch('/mics/api/v1/config/ntp/plan', { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token }, body: JSON.stringify(b) });
    return r.status;
  }, body);
  assert.equal(ok, 200);
  assert.equal(store.running()!.revision, revision, 'nothing applied');

  // A classic form post (sign out) with its hidden token tampered with: the 403 page, still signed in.
  await page.goto(`${base}/mics/settings/time`);
  await page.locator('header form.signout input[name="_csrf"]').evaluate((el) => ((el as HTMLInputElement).value = 'tampered'));
  const [resp] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/mics/logout')), page.click('header button[type=submit]')]);
  assert.equal(resp.status(), 403);
  assert.match((await page.textContent('body')) ?? '', /This form has expired/);
  await page.goto(`${base}/mics/settings/time`);
  assert.equal(await page.locator('#username').count(), 0, 'still signed in: the refused sign-out did nothing');

  const refused = problems.filter((p) => /status of 403/.test(p));
  assert.equal(refused.length, 3, problems.join('\n'));
  assert.deepEqual(problems.filter((p) => !refused.includes(p)), [], 'no other console errors');
  await page.context().browser()?.close();
});
