/** System Manager on a configured sandbox root, and a headless Chromium page, for web tests. */
import type { TestContext } from 'vitest';
import fs from 'node:fs';
import { chromium, type Page } from 'playwright-core';
import { createHost, type Host } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyAtBoot } from '../../appliance/config/apply.ts';
import { validate, type Config } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { buildServer } from '../../webui/server.ts';
import { sampleConfig, tempRoot, fakeSysfs } from './config.ts';

export const WEB_PASSWORD = 'Passw0rd!x';
/** The password of the `oper` user (operator role) that `configuredHost` adds. */
export const OPERATOR_PASSWORD = 'Operat0r!x';
let hashes: Promise<[string, string]> | null = null;

/**
 * A sandbox root configured as after the wizard, with `admin` (WEB_PASSWORD) and an operator
 * `oper` (OPERATOR_PASSWORD), rendered as at boot; for API tests that build their own server.
 */
export async function configuredHost(t: T, o: { prefix?: string; edit?: (c: Config) => void } = {}): Promise<Host> {
  const root = tempRoot(o.prefix ?? 'keel-api-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root, { sysfs: fakeSysfs(root, 2) });
  hashes ??= Promise.all([hashSecret(WEB_PASSWORD), hashSecret(OPERATOR_PASSWORD)]);
  const [h, op] = await hashes;
  const config = sampleConfig();
  config.users.local[0].passwordHash = h;
  config.users.local.push({ name: 'oper', role: 'operator', passwordHash: op, passwordChangedAt: '2020-01-01T00:00:00.000Z' });
  o.edit?.(config);
  const s = Store.open(host);
  s.commitRunning(validate(config), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  await applyAtBoot(host, s);
  s.close();
  return host;
}
const CHROMIUM = process.env.KEEL_CHROMIUM ?? '/usr/bin/chromium';
type T = TestContext;

/** A configured appliance (admin / WEB_PASSWORD) with System Manager listening on a free port. */
export async function servedAppliance(t: T, o: { nics?: number; prefix?: string; edit?: (c: Config) => void } = {}) {
  const root = tempRoot(o.prefix ?? 'keel-web-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host: Host = createHost(root, { sysfs: fakeSysfs(root, o.nics ?? 2) });
  const config = sampleConfig();
  config.users.local[0].passwordHash = await hashSecret(WEB_PASSWORD);
  o.edit?.(config);
  const s = Store.open(host);
  s.commitRunning(validate(config), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  await applyAtBoot(host, s);
  s.close();
  const app = await buildServer({ host, failureDelayMs: 20 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  // A connection the browser opened ahead of time would hold close() until the headers timeout.
  t.onTestFinished(async () => {
    app.server.closeAllConnections?.();
    await app.close();
  });
  const base = `https://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return { root, host, app, store: app.keel.store, base };
}

/** A Chromium page that records console errors, warnings and page errors in `problems`. */
export async function browserPage(t: T): Promise<{ page: Page; problems: string[] }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.onTestFinished(() => { browser.close(); });
  // The appliance certificate is self-signed for its FQDN; the test reaches it by address.
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return { page, problems };
}

/** Signs `page` in to System Manager at `base` with a password (admin / WEB_PASSWORD by default). */
export async function signInWithPassword(page: Page, base: string, username = 'admin', password = WEB_PASSWORD): Promise<void> {
  await page.goto(`${base}/mics/`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${base}/mics/`), page.click('form:not(.cert-signin) button[type=submit]')]);
}
