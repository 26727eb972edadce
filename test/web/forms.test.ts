/**
 * Small form behaviours in Chromium: the Email page names its protocols in words and moves the
 * port with the protocol (unless the administrator typed another); Port Settings shows closed
 * provisioning as closed, not as a port.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { servedAppliance, browserPage, signInWithPassword } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';

test('Email: protocols in words, the port follows the protocol; Port Settings: closed shows as closed', async (t) => {
  const { base } = await servedAppliance(t, { prefix: 'keel-web-forms-' });
  const { page, problems } = await browserPage(t);
  await signInWithPassword(page, base);

  await page.goto(`${base}/mics/settings/email`);
  const protocol = page.locator('select[name="protocol"]');
  const port = page.locator('input[name="port"]');
  assert.deepEqual(await protocol.locator('option').allTextContents(), ['SMTP (plain, port 25)', 'SMTPS (TLS from the start, port 465)', 'SMTP with STARTTLS (port 587)']);
  await port.fill('2525');
  await protocol.selectOption('smtps');
  assert.equal(await port.inputValue(), '465', 'SMTPS moves 2525 to 465');
  await protocol.selectOption('starttls');
  assert.equal(await port.inputValue(), '587');
  await port.fill('2600');
  await protocol.selectOption('smtp');
  assert.equal(await port.inputValue(), '2600', 'a port the administrator typed stays');

  await page.goto(`${base}/mics/settings/ports`);
  const prov = page.locator('select[name="provisioning"]');
  assert.equal(await prov.inputValue(), '', 'not set: closed, not 443');
  assert.match((await prov.locator('option:checked').textContent()) ?? '', /^Closed/);
  assert.match((await page.textContent('main')) ?? '', /Provisioning is closed until a port is set here/);
  assert.deepEqual(problems, []);
});
