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

test('an administrator adds an endpoint with the page\'s form (refused host and port shown at their fields, input kept), changes it, then removes it', async (t) => {
  const { base, store } = await servedAppliance(t, { prefix: 'keel-web-connectivity-edit-', edit: (c) => void (c.connectivity = { intervalMinutes: 0, endpoints: [] }) });
  const { page, problems } = await browserPage(t);
  await signInWithPassword(page, base);
  await page.goto(`${base}/mics/diagnostics/connectivity`);
  assert.match((await page.textContent('#endpoint-dns-1')) ?? '', /From the configuration: set on Network \(DNS\)/);
  const add = page.locator('#add-endpoint form[data-method="POST"]');
  await add.locator('input[name="name"]').fill('vault');
  await add.locator('input[name="host"]').fill('bad host!');
  await add.locator('input[name="port"]').fill('70000');
  await add.locator('select[name="protocol"]').selectOption('tls');
  await add.locator('input[name="expectedIssuer"]').fill('Example CA');
  await add.locator('button[type=submit]').click();
  // The schema stops at the first problem: the host, shown at its field with the rule.
  const hostError = add.locator('.field-error[data-error-for="host"]');
  await hostError.filter({ hasText: /server-address/ }).waitFor();
  assert.equal(await hostError.textContent(), 'must be an IPv4 address or a host name (server-address)');
  // The administrator's input is still there to correct.
  assert.equal(await add.locator('input[name="host"]').inputValue(), 'bad host!');
  assert.equal(await add.locator('input[name="port"]').inputValue(), '70000');
  assert.equal(await add.locator('input[name="expectedIssuer"]').inputValue(), 'Example CA');
  assert.equal(await add.locator('select[name="protocol"]').inputValue(), 'tls');

  await add.locator('input[name="host"]').fill('vault.example.com');
  await add.locator('button[type=submit]').click();
  const portError = add.locator('.field-error[data-error-for="port"]');
  await portError.filter({ hasText: /maximum/ }).waitFor();
  assert.match((await portError.textContent()) ?? '', /65535.*\(maximum\)/);
  assert.equal(await hostError.textContent(), '');
  assert.equal(await add.locator('input[name="port"]').inputValue(), '70000');
  assert.deepEqual(store.running()!.config.connectivity!.endpoints, [], 'refused: nothing added');

  await add.locator('input[name="port"]').fill('8200');
  await add.locator('button[type=submit]').click();
  const dialog = page.locator('#keel-dialog');
  await dialog.waitFor({ state: 'visible' });
  assert.match((await dialog.locator('.dialog-diff').textContent()) ?? '', /vault\.example\.com/);
  await Promise.all([page.waitForEvent('load'), dialog.locator('.dialog-ok').click()]);
  assert.deepEqual(store.running()!.config.connectivity!.endpoints, [{ name: 'vault', host: 'vault.example.com', port: 8200, protocol: 'tls', viaProxy: false, expectedIssuer: 'Example CA' }]);
  assert.match((await page.textContent('#endpoint-vault')) ?? '', /vault\.example\.com:8200[\s\S]*tls[\s\S]*expects Example CA/);
  assert.match(store.revisions(1)[0].summary, /^webui: add connectivity endpoint vault/);

  // Change: the form is prefilled with the endpoint as it is.
  await page.locator('#endpoint-vault details.endpoint-edit summary').click();
  const edit = page.locator('#endpoint-vault form[data-method="PUT"]');
  assert.equal(await edit.locator('input[name="host"]').inputValue(), 'vault.example.com');
  assert.equal(await edit.locator('input[name="expectedIssuer"]').inputValue(), 'Example CA');
  await edit.locator('input[name="port"]').fill('8201');
  await edit.locator('button[type=submit]').click();
  await dialog.waitFor({ state: 'visible' });
  await Promise.all([page.waitForEvent('load'), dialog.locator('.dialog-ok').click()]);
  assert.equal(store.running()!.config.connectivity!.endpoints[0].port, 8201);
  assert.match((await page.textContent('#endpoint-vault')) ?? '', /vault\.example\.com:8201/);

  await page.locator('#endpoint-vault form[data-method="DELETE"] button[type=submit]').click();
  await dialog.waitFor({ state: 'visible' });
  await Promise.all([page.waitForEvent('load'), dialog.locator('.dialog-ok').click()]);
  assert.equal(await page.locator('#endpoint-vault').count(), 0);
  assert.deepEqual(store.running()!.config.connectivity!.endpoints, []);
  // The refusal was a 400 answer, which Chromium logs; nothing else went wrong on the page.
  assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);
}, 60_000);
