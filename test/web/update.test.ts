/**
 * Maintenance > Software Updates in headless Chromium against a signed repository over HTTPS on
 * loopback: set the repository (a refused URL names the field and rule), Check Updates, Download
 * with polled progress, Stage for Install, "Reboot to Install", Cancel Staging, the rollback
 * notice and Acknowledge; no console errors and no CSP violations.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { updateState } from '../../appliance/update/state.ts';
import { startRepository, prepareAppliance, REPO_USER, REPO_PASSWORD, type TestRepository } from '../helpers/update-repo.ts';
import { servedAppliance, browserPage } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';
let repo: TestRepository;
beforeAll(async () => {
  repo = await startRepository({ payloadBytes: 6 * 2 ** 20 });
});
afterAll(async () => {
  await repo.close();
});

test('Software Updates: repository, Check Updates, Download, Stage for Install, Cancel Staging, rollback notice', async (t) => {
  const { host, app, store, base } = await servedAppliance(t, { prefix: 'keel-web-upd-' });
  await prepareAppliance(host);
  const { page, problems } = await browserPage(t);
  page.on('dialog', (d) => void d.accept());

  await page.goto(`${base}/mics/`);
  await page.fill('#username', 'admin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${base}/mics/`), page.click('button[type=submit]')]);
  await page.goto(`${base}/mics/maintenance/updates`);
  assert.equal(await page.textContent('#update-label'), 'No repository', 'not "Up to Date": nothing was checked');
  assert.match((await page.textContent('#update-no-repository')) ?? '', /No update repository is configured/);
  assert.ok(await page.isDisabled('[data-update-action="check"]'), 'nothing to check without a repository');
  assert.match((await page.getAttribute('[data-update-action="check"]', 'title')) ?? '', /Set an update repository first/);

  // A refused URL: the error sits next to the field and names the rule.
  const form = page.locator('#update-repository');
  await form.locator('[name="repository"]').fill('http://updates.example.com/');
  await form.locator('button[type=submit]').click();
  await form.locator('[data-error-for="repository"]').filter({ hasText: /pattern/ }).waitFor();
  assert.equal(store.running()!.config.update, undefined);

  await form.locator('[name="repository"]').fill(repo.url);
  await form.locator('[name="username"]').fill(REPO_USER);
  await form.locator('[name="password"]').fill(REPO_PASSWORD);
  await form.locator('[name="caCertificate"]').fill(repo.ca);
  await Promise.all([page.waitForEvent('load'), form.locator('button[type=submit]').click()]);
  assert.equal(store.running()!.config.update!.password, REPO_PASSWORD);
  assert.equal(await page.inputValue('#update-repository [name="password"]'), '', 'the password is never sent back');
  assert.ok(!(await page.content()).includes(REPO_PASSWORD));

  await page.click('[data-update-action="check"]');
  await page.locator('#update-result').filter({ hasText: /Version 0\.2\.0 is available \(running 0\.1\.0, 6\.0 MiB\)/ }).waitFor();

  await Promise.all([page.waitForEvent('load', { timeout: 30000 }), page.click('[data-update-action="download"]')]);
  assert.equal(await page.textContent('#update-label'), 'Ready to Stage');
  assert.match((await page.textContent('#update-progress')) ?? '', /^Download: Version 0\.2\.0 downloaded and verified \(6\.0 MiB\): ready to stage\.$/);

  await Promise.all([page.waitForEvent('load', { timeout: 30000 }), page.click('[data-update-action="stage"]')]);
  assert.equal(await page.textContent('#update-label'), 'Reboot to Install');
  assert.match((await page.textContent('#update-staged')) ?? '', /0\.2\.0 on slot B: the next reboot installs it/);
  assert.ok(await page.isVisible('[data-update-action="reboot"]'));

  await Promise.all([page.waitForEvent('load'), page.click('[data-update-action="unstage"]')]);
  assert.equal(await page.textContent('#update-label'), 'Ready to Stage');

  updateState(host, (st) => {
    st.lastResult = { outcome: 'rolled-back', version: '0.3.0', running: '0.1.0', at: '2026-02-01T10:00:00.000Z', reason: 'version 0.3.0 was not healthy after 3 tries' };
  });
  await page.reload();
  assert.match((await page.textContent('#update-notice')) ?? '', /SOFTWARE UPDATE ROLLED BACK at 2026-02-01 10:00:00Z/);
  await Promise.all([page.waitForEvent('load'), page.click('[data-update-action="acknowledge"]')]);
  assert.equal(await page.locator('#update-notice').count(), 0);

  assert.deepEqual(problems.filter((p) => !/status of 40\d/.test(p)), []);
});
