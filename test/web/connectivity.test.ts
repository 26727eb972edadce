/** Diagnostics > Connectivity in a real browser: the Check buttons under the strict CSP, the result shown on the page. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { browserPage, servedAppliance, signInWithPassword } from '../helpers/web.ts';
import { closedPort } from '../helpers/netpeers.ts';

process.env.KEEL_LOG ??= 'silent';

test('a row\'s Check button posts the form, runs, and the page shows each row for what it is', async (t) => {
  const port = await closedPort();
  const { base } = await servedAppliance(t, {
    prefix: 'keel-web-connectivity-',
    edit: (c) => {
      c.ntp = { enabled: false, servers: [] };
      c.connectivity = { intervalMinutes: 0, endpoints: [{ name: 'local-closed', host: 'localhost', port, protocol: 'tcp', viaProxy: false }] };
    },
  });
  const { page, problems } = await browserPage(t);
  await signInWithPassword(page, base);
  await page.goto(`${base}/mics/diagnostics/connectivity`);
  assert.match(await page.textContent('#endpoint-local-closed') ?? '', /not checked/);
  assert.match(await page.textContent('main') ?? '', /Scheduled checks are off/);
  // Its row's Check button: dns-1 of the sample configuration (192.0.2.53) is not to be dialled.
  await Promise.all([page.waitForURL(`${base}/mics/diagnostics/connectivity`), page.click('#endpoint-local-closed form.run-one button')]);
  const row = (await page.textContent('#endpoint-local-closed')) ?? '';
  assert.match(row, /Failed/);
  assert.match(row, new RegExp(`TCP 127\\.0\\.0\\.1:${port}: connection refused`));
  assert.match((await page.textContent('#endpoint-dns-1')) ?? '', /not checked/);
  assert.deepEqual(problems, []);
}, 60_000);
