/**
 * Reporting in Chromium: a day of samples in the store, the charts on a 390 px screen and when
 * printed (navigation hidden, every chart on the page), no console error (the CSP holds).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { ResourceHistory } from '../../appliance/reporting/history.ts';
import { servedAppliance, browserPage, signInWithPassword } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';

test('Reporting: SVG charts fit a phone, switch ranges, and print without the navigation', async (t) => {
  const { base, store } = await servedAppliance(t, { prefix: 'keel-web-reporting-' });
  const h = new ResourceHistory(store.db);
  const now = Date.now();
  for (let i = 24 * 60; i >= 1; i--) {
    h.record(now - i * 60_000, { 'cpu.busy': 20 + 10 * Math.sin(i / 60), 'cpu.iowait': 2, 'load.1': 0.4, 'load.5': 0.3, 'load.15': 0.2, 'memory.used_pct': 41, 'swap.used': 0, 'fs.data.used_pct': 12, 'fs.root.used_pct': 63, 'disk.sda.read': 2e5, 'disk.sda.write': 8e5, 'disk.sda.busy': 3, 'net.GigabitEthernet1.rx': 1.2e6, 'net.GigabitEthernet1.tx': 3e5, 'net.GigabitEthernet1.errors': 0, 'net.GigabitEthernet1.drops': 0.01 });
  }
  const { page, problems } = await browserPage(t);
  await page.setViewportSize({ width: 390, height: 844 });
  await signInWithPassword(page, base);
  await page.click('nav a[href="/mics/reporting"]');
  await page.waitForSelector('#chart-cpu svg path');
  assert.deepEqual(await page.$$eval('figure.report-chart figcaption', (f) => f.map((x) => x.textContent)), ['CPU', 'Load average', 'Memory', 'Swap', 'File system use', 'Disk I/O', 'Disk busy', 'Network traffic', 'Network errors and drops']);
  assert.match((await page.textContent('#chart-traffic .legend'))!, /GigabitEthernet1 received: 1\.2 MB\/s/);
  const { scroll, inner } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: document.documentElement.clientWidth }));
  assert.ok(scroll <= inner, `${scroll} px wide on ${inner} px`);
  await page.click('text=7 days');
  await page.waitForURL(/range=7d/);
  assert.ok(await page.locator('#chart-cpu svg path').count(), 'the 15-minute averages of the day are drawn on the week');
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.isVisible('nav'), false);
  assert.equal(await page.locator('figure.report-chart > svg').count(), 9);
  assert.deepEqual(problems, []);
});
