/**
 * The System Log page in Chromium: a real journal under the sandbox root, the filter form sent
 * as a plain GET, Follow reloading the page by itself (meta refresh, no script, no CSP report),
 * and long journal lines that still fit a phone's width.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import path from 'node:path';
import { servedAppliance, browserPage, signInWithPassword } from '../helpers/web.ts';
import { writeJournal, SAMPLE_ENTRIES } from '../helpers/journal.ts';

process.env.KEEL_LOG ??= 'silent';

test('System Log: filter by the form, follow by reloading, long lines wrap on a 390 px screen', async (t) => {
  const { base, root } = await servedAppliance(t, { prefix: 'keel-web-logging-' });
  writeJournal(path.join(root, 'var/log/journal'), [...SAMPLE_ENTRIES, { ago: 5, message: `segfault at ${'0123456789abcdef'.repeat(20)} ip 00007f`, priority: 2, identifier: 'kernel' }]);
  const { page, problems } = await browserPage(t);
  await page.setViewportSize({ width: 390, height: 844 });
  await signInWithPassword(page, base);
  await page.click('nav a[href="/mics/logging"]');
  await page.waitForSelector('#logging-entries');
  assert.equal(await page.locator('#logging-entries tbody tr').count(), SAMPLE_ENTRIES.length + 1);
  const { scroll, inner } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: document.documentElement.clientWidth }));
  assert.ok(scroll <= inner, `the page is ${scroll} px wide on a ${inner} px screen`);

  await page.fill('#l-unit', 'kernel');
  await page.selectOption('#l-priority', '4');
  await page.click('#logging-filters button[type=submit]');
  await page.waitForURL(/unit=kernel/);
  const shown = await page.locator('#logging-entries td.message').allTextContents();
  assert.equal(shown.length, 2);
  assert.match(shown[0], /^segfault at/, 'newest first');
  assert.match(shown[1], /NIC Link is Down/);

  await page.check('#l-follow');
  await page.click('#logging-filters button[type=submit]');
  await page.waitForURL(/follow=1/);
  const first = await page.evaluate(() => performance.timeOrigin);
  // The page loads itself again after 5 s, with the same filters.
  await page.waitForFunction((t0) => performance.timeOrigin > t0, first, { timeout: 9000 });
  assert.match(page.url(), /unit=kernel.*follow=1|follow=1.*unit=kernel/);
  await page.click('text=Stop following');
  assert.doesNotMatch(page.url(), /follow=1/);
  assert.deepEqual(problems, []);
});
