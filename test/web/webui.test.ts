/**
 * System Manager in headless Chromium (Debian's chromium, driven by playwright-core): sign in,
 * change a setting through plan → confirm → apply, see the unsaved marker, Save, see it gone;
 * a refused value shows the field-named error; no console errors and no CSP violations.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { servedAppliance, browserPage } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';

async function setup(t: TestContext) {
  const { app, store, base } = await servedAppliance(t);
  const { page, problems } = await browserPage(t);
  return { app, store, page, base, problems };
}

async function timed(page: Page, url: string): Promise<number> {
  const t0 = performance.now();
  const r = await page.goto(url, { waitUntil: 'load' });
  assert.equal(r?.status(), 200, url);
  return Math.round(performance.now() - t0);
}

test('sign in, change NTP, see unsaved, Save, see it gone; refused value names the field; no console errors', async (t) => {
  const { store, page, base, problems } = await setup(t);

  await page.goto(`${base}/mics/`);
  await page.fill('#username', 'admin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${base}/mics/`), page.click('button[type=submit]')]);
  if (!(await page.locator('#hostname').count())) assert.fail(await page.content());
  assert.equal(await page.textContent('#hostname'), 'core.example.com');
  assert.ok(await page.isVisible('#saved-flag'), 'saved at first');

  const times: Record<string, number> = {};
  for (const p of ['/mics/', '/mics/settings/network', '/mics/settings/time', '/mics/security/users', '/mics/audit']) times[p] = await timed(page, `${base}${p}`);
  console.log(`page load times (ms): ${JSON.stringify(times)}`);

  // Date & Time: NTP servers, plan → dialog with the diff → Apply.
  await page.goto(`${base}/mics/settings/time`);
  const ntp = page.locator('form[data-url$="/config/ntp"]');
  await ntp.locator('input[name="servers"]').fill('192.0.2.124, 192.0.2.125');
  await ntp.locator('button[type=submit]').click();
  const dialog = page.locator('#keel-dialog');
  await dialog.waitFor({ state: 'visible' });
  const diff = await dialog.locator('.dialog-diff').textContent();
  assert.match(diff ?? '', /\+ntp server 192\.0\.2\.125/);
  assert.equal(store.running()!.revision, 1, 'nothing applied before the confirmation');
  await Promise.all([page.waitForEvent('load'), dialog.locator('.dialog-ok').click()]);
  await page.locator('#unsaved-flag').waitFor();
  assert.equal(store.running()!.revision, 2);
  assert.deepEqual(store.running()!.config.ntp.servers, ['192.0.2.124', '192.0.2.125']);
  assert.match((await page.inputValue('form[data-url$="/config/ntp"] input[name="servers"]')) ?? '', /192\.0\.2\.125/);

  // Save: running → startup; the marker goes.
  await Promise.all([page.waitForEvent('load'), page.click('#save-config')]);
  await page.locator('#saved-flag').waitFor();
  assert.equal(await page.locator('#unsaved-flag').count(), 0);
  assert.equal(store.startup()!.revision, 2);

  // A refused value: the error sits next to the field and names the rule.
  await page.goto(`${base}/mics/settings/ssh`);
  await page.fill('form[data-url$="/config/ssh"] input[name="port"]', '0');
  await page.click('form[data-url$="/config/ssh"] button[type=submit]');
  const err = page.locator('form[data-url$="/config/ssh"] .field-error[data-error-for="port"]');
  await err.filter({ hasText: /minimum/ }).waitFor();
  assert.match((await err.textContent()) ?? '', /must be 1 or more \(minimum\)/);
  assert.equal(await page.getAttribute('form[data-url$="/config/ssh"] input[name="port"]', 'aria-invalid'), 'true');

  await page.goto(`${base}/mics/settings/time`);
  await page.fill('form[data-url$="/config/ntp"] input[name="servers"]', 'bad host!');
  await page.click('form[data-url$="/config/ntp"] button[type=submit]');
  const ntpErr = page.locator('form[data-url$="/config/ntp"] .field-error[data-error-for="servers"]');
  await ntpErr.filter({ hasText: /ntp-server/ }).waitFor();
  assert.match((await ntpErr.textContent()) ?? '', /IPv4 address or a host name \(ntp-server\)/);
  assert.equal(store.running()!.revision, 2, 'refused: nothing changed');

  // Sign out.
  await Promise.all([page.waitForURL(`${base}/mics/`), page.click('header button[type=submit]')]);
  assert.ok(await page.isVisible('#username'), 'back at the sign-in form');

  // The two refused values are 400 answers, which Chromium logs; nothing else may appear.
  const refused = problems.filter((p) => /Failed to load resource: the server responded with a status of 400/.test(p));
  assert.equal(refused.length, 2, problems.join('\n'));
  assert.deepEqual(problems.filter((p) => !refused.includes(p)), [], 'no console errors, CSP violations or page errors');
});
