/**
 * System Manager in headless Chromium: a Portal ACL change applies with the confirm timer, the
 * header counts down and Confirm keeps it (over a new connection); a certificate is uploaded as a
 * file on the Certificates page; no console errors.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pendingConfirm } from '../../appliance/config/confirm.ts';
import { makeCaChain, makeCert } from '../helpers/pki.ts';
import { servedAppliance, browserPage } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';

test('Portal ACL with the confirm timer, and a certificate upload, in Chromium', async (t) => {
  const { host, app, base } = await servedAppliance(t, { nics: 1, prefix: 'keel-websec-' });
  const { page, problems } = await browserPage(t);

  await page.goto(`${base}/mics/`);
  await page.fill('#username', 'admin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${base}/mics/`), page.click('button[type=submit]')]);

  // Portal ACL: the plan dialog warns about the confirm timer; applied, the header counts down.
  await page.goto(`${base}/mics/security/acl`);
  assert.equal(await page.textContent('#my-address'), '127.0.0.1');
  const form = page.locator('form[data-url$="/config/acl"]');
  await form.locator('textarea[name="systemManager"]').fill('192.0.2.0/24\n198.51.100.7');
  await form.locator('button[type=submit]').click();
  const dialog = page.locator('#keel-dialog');
  await dialog.waitFor({ state: 'visible' });
  assert.match((await dialog.locator('.dialog-message').textContent()) ?? '', /reverts by itself unless you confirm it within 120 seconds/);
  await Promise.all([page.waitForEvent('load'), dialog.locator('.dialog-ok').click()]);
  await page.locator('#confirm-bar').waitFor();
  assert.match((await page.textContent('#confirm-bar')) ?? '', /Portal ACL of System Manager changes/);
  assert.deepEqual(app.keel.store.running()!.config.acl?.systemManager, ['192.0.2.0/24', '198.51.100.7']);
  assert.match(host.files.readText('/etc/nftables.conf') ?? '', /ip saddr \{ 192\.0\.2\.0\/24, 198\.51\.100\.7 \} tcp dport 8443/);
  await Promise.all([page.waitForEvent('load'), page.click('#confirm-change')]);
  assert.equal(await page.locator('#confirm-bar').count(), 0);
  assert.equal(pendingConfirm(), null, 'confirmed');

  // Certificates: upload a CA-signed portal certificate + chain and its key as files.
  const { root: ca, intermediate } = makeCaChain('Web UI');
  const leaf = makeCert({ cn: 'core.example.com', issuer: intermediate, dns: ['core.example.com'], eku: ['serverAuth'] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-websec-files-'));
  t.onTestFinished(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  fs.writeFileSync(path.join(dir, 'chain.pem'), leaf.certPem + intermediate.certPem + ca.certPem);
  fs.writeFileSync(path.join(dir, 'key.pem'), leaf.keyPem);
  await page.goto(`${base}/mics/certificates`);
  const portal = page.locator('section.cert[data-service="portal"]');
  await portal.locator('summary', { hasText: 'Upload' }).click();
  const upload = portal.locator('form[data-url$="/certificates/portal/upload"]');
  await upload.locator('input[name="certificate"]').setInputFiles(path.join(dir, 'chain.pem'));
  await upload.locator('input[name="key"]').setInputFiles(path.join(dir, 'key.pem'));
  await Promise.all([page.waitForEvent('load'), upload.locator('button[type=submit]').click()]);
  const text = (await page.locator('section.cert[data-service="portal"]').textContent()) ?? '';
  assert.match(text, /CN=Web UI Issuing CA/);
  assert.match(text, /Source: uploaded/);
  assert.deepEqual(problems, [], 'no console errors, CSP violations or page errors');
});
