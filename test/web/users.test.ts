/**
 * Local users with the seed's record (first and last name, e-mail, EDIPI) in headless Chromium,
 * and smart-card sign-in through the browser's TLS client certificate (Playwright hands Chromium
 * the card's certificate): a CAC certificate (UPN 1234567890@mil) signs in the user whose EDIPI
 * was set on the Local Users page ($EDIPI$); a PIV certificate (RFC822 name) the user with that
 * e-mail address ($EMAIL$).
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import type { Config } from '../../appliance/config/schema.ts';
import { buildServer } from '../../webui/server.ts';
import { configuredHost, signInWithPassword } from '../helpers/web.ts';
import { makeCaChain, makeCert, type Issued } from '../helpers/pki.ts';

process.env.KEEL_LOG ??= 'silent';
const CHROMIUM = process.env.KEEL_CHROMIUM ?? '/usr/bin/chromium';
const { root, intermediate } = makeCaChain('Smartcard');
const card = (o: Partial<Parameters<typeof makeCert>[0]>): Issued => makeCert({ cn: 'DOE.JOHN.Q', issuer: intermediate, eku: ['clientAuth'], ...o });

/** System Manager with certificate sign-in on (the card's CA uploaded), listening on loopback. */
async function serve(t: TestContext, cert: NonNullable<NonNullable<Config['portalAuth']>['certificate']>, edit?: (c: Config) => void) {
  const host = await configuredHost(t, {
    prefix: 'keel-web-users-',
    edit: (c) => {
      c.portalAuth = { password: true, certificate: cert };
      edit?.(c);
    },
  });
  const app = await buildServer({ host, failureDelayMs: 20 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.onTestFinished(async () => {
    app.server.closeAllConnections?.();
    await app.close();
  });
  return { app, store: app.keel.store, base: `https://127.0.0.1:${(app.server.address() as { port: number }).port}` };
}

/** A Chromium context that presents `id` when the server asks for a client certificate. */
async function browser(t: TestContext, base: string, id?: Issued) {
  const b = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.onTestFinished(() => { b.close(); });
  const ctx = await b.newContext({ ignoreHTTPSErrors: true, ...(id ? { clientCertificates: [{ origin: base, cert: Buffer.from(id.certPem), key: Buffer.from(id.keyPem) }] } : {}) });
  const page = await ctx.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return { page, problems };
}

test('CAC: the EDIPI set on the Local Users page maps a CAC certificate to its user ($EDIPI$)', async (t) => {
  const { store, base } = await serve(t, { enabled: true, cardType: 'cac', mapFrom: 'upn', mapTo: 'EDIPI', caChain: intermediate.certPem + root.certPem });

  // The administrator adds jdoe with the seed's fields; a 5-digit EDIPI is refused at its field.
  const admin = await browser(t, base);
  const page = admin.page;
  await signInWithPassword(page, base);
  await page.goto(`${base}/mics/security/users`);
  const add = page.locator('form[data-method="POST"][data-url$="/api/v1/users"]');
  await add.locator('input[name="name"]').fill('jdoe');
  await add.locator('input[name="password"]').fill('Smartc4rd!');
  await add.locator('input[name="passwordConfirm"]').fill('Smartc4rd!');
  await add.locator('input[name="firstName"]').fill('John');
  await add.locator('input[name="lastName"]').fill('Doe');
  await add.locator('input[name="email"]').fill('john.doe@example.mil');
  await add.locator('input[name="edipi"]').fill('12345');
  await add.locator('button[type=submit]').click();
  const edipiError = add.locator('.field-error[data-error-for="edipi"]');
  await edipiError.filter({ hasText: /10 digits/ }).waitFor();
  assert.match((await edipiError.textContent()) ?? '', /must be exactly 10 digits, like 1234567890/);
  assert.ok(!store.running()!.config.users.local.some((u) => u.name === 'jdoe'), 'refused: nothing added');
  await add.locator('input[name="edipi"]').fill('1234567890');
  await add.locator('button[type=submit]').click();
  const dialog = page.locator('#keel-dialog');
  await dialog.waitFor({ state: 'visible' });
  await Promise.all([page.waitForEvent('load'), dialog.locator('.dialog-ok').click()]);
  const jdoe = store.running()!.config.users.local.find((u) => u.name === 'jdoe');
  assert.deepEqual([jdoe?.firstName, jdoe?.lastName, jdoe?.email, jdoe?.edipi], ['John', 'Doe', 'john.doe@example.mil', '1234567890']);
  const row = page.locator('tr[data-user="jdoe"]');
  assert.match((await row.textContent()) ?? '', /John Doe[\s\S]*john\.doe@example\.mil[\s\S]*1234567890/);
  // The refused EDIPI was a 400 answer, which Chromium logs; nothing else went wrong on the page.
  assert.deepEqual(admin.problems.filter((p) => !/status of 400/.test(p)), []);

  // The card holder: Chromium presents the CAC certificate; the sign-in page's smart-card button signs in as jdoe.
  const holder = await browser(t, base, card({ upn: '1234567890@mil' }));
  await holder.page.goto(`${base}/mics/`);
  await Promise.all([holder.page.waitForURL(`${base}/mics/`), holder.page.click('form.cert-signin button[type=submit]')]);
  assert.match(await holder.page.content(), /jdoe/);
  assert.ok(store.auditLog().some((e) => e.who === 'jdoe' && /sign in with certificate/.test(e.action) && /^ok/.test(e.outcome)), 'audited as jdoe');
  // A CAC whose EDIPI no user has is refused with the reason.
  const stranger = await browser(t, base, card({ upn: '9999999999@mil' }));
  await stranger.page.goto(`${base}/mics/`);
  await stranger.page.click('form.cert-signin button[type=submit]');
  await stranger.page.locator('.error').waitFor();
  assert.match((await stranger.page.textContent('.error')) ?? '', /Certificate sign-in refused/);
});

test('PIV: the e-mail address of a user maps a PIV certificate (RFC822 name) to that user ($EMAIL$)', async (t) => {
  const { store, base } = await serve(t, { enabled: true, cardType: 'piv', mapFrom: 'rfc822', mapTo: 'EMAIL', caChain: intermediate.certPem + root.certPem }, (c) => {
    const u = c.users.local.find((x) => x.name === 'oper')!;
    u.email = 'Olivia.Oper@example.com';
  });
  const holder = await browser(t, base, card({ cn: 'Olivia Oper', email: 'olivia.oper@example.com' }));
  await holder.page.goto(`${base}/mics/`);
  await Promise.all([holder.page.waitForURL(`${base}/mics/`), holder.page.click('form.cert-signin button[type=submit]')]);
  assert.ok(store.auditLog().some((e) => e.who === 'oper' && /sign in with certificate/.test(e.action) && /^ok/.test(e.outcome)), 'the e-mail matched (case-insensitively) and oper is signed in');
  assert.deepEqual(holder.problems, []);
});
