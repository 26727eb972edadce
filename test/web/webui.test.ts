/**
 * System Manager in headless Chromium (Debian's chromium, driven by playwright-core): sign in,
 * change a setting through plan → confirm → apply, see the unsaved marker, Save, see it gone;
 * a refused value shows the field-named error; no console errors and no CSP violations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyAtBoot } from '../../appliance/config/apply.ts';
import { validate } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { buildServer } from '../../webui/server.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';
const CHROMIUM = process.env.KEEL_CHROMIUM ?? '/usr/bin/chromium';

async function setup(t: { after: (fn: () => unknown) => void }) {
  const root = tempRoot('keel-web-');
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const host = createHost(root, { sysfs: fakeSysfs(root, 2) });
  const config = sampleConfig();
  config.users.local[0].passwordHash = await hashSecret(PASSWORD);
  const s = Store.open(host);
  s.commitRunning(validate(config), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  await applyAtBoot(host, s);
  s.close();
  const app = await buildServer({ host, failureDelayMs: 20 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  const port = (app.server.address() as { port: number }).port;
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  // The appliance certificate is self-signed for its FQDN; the test reaches it by address.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const base = `https://127.0.0.1:${port}`;
  return { app, store: app.keel.store, page, base, problems };
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
  t.diagnostic(`page load times (ms): ${JSON.stringify(times)}`);

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
  assert.match((await err.textContent()) ?? '', /must be >= 1 \(minimum\)/);
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
