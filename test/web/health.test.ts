/**
 * The dashboard's health panel and Settings > Alerts in headless Chromium: overall state, the
 * front-panel LED wording, open alerts and the 24 h SVG charts render from a HealthStore with
 * history; the storage test button starts and polls; a syslog channel is set through
 * plan -> confirm -> apply and its Test button reaches a listener; no console errors or CSP violations.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import os from 'node:os';
import dgram from 'node:dgram';
import { HealthStore } from '../../appliance/health/monitor.ts';
import { frontPanel } from '../../appliance/health/leds.ts';
import type { HealthSnapshot } from '../../appliance/health/snapshot.ts';
import type { Finding } from '../../appliance/health/types.ts';
import { setHealthMonitor } from '../../webui/health-routes.ts';
import { servedAppliance, browserPage } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';
const HOUR = 3_600_000;

const fan = (severity: Finding['severity'], rpm: number): Finding => ({ key: 'ipmi.sensor.FAN2', category: 'fan', severity, subject: 'FAN2', message: `FAN2 ${rpm} RPM${severity === 'ok' ? '' : ' (below lower critical 500 RPM)'}`, value: rpm });
const temp: Finding = { key: 'ipmi.sensor.Inlet Temp', category: 'temperature', severity: 'ok', subject: 'Inlet Temp', message: 'Inlet Temp 24 degrees C', value: 24 };
const link: Finding = { key: 'nic.GigabitEthernet1.link', category: 'nic', severity: 'ok', subject: 'GigabitEthernet1', message: 'GigabitEthernet1 link up, 1000 Mb/s full duplex' };

function snapshot(findings: Finding[]): HealthSnapshot {
  return {
    at: new Date().toISOString(),
    overall: 'critical',
    platform: { id: 'm2250', kind: 'physical', name: 'M2250', supported: true, profile: { frontPanel: 'm22x0-info' } } as never,
    nics: [],
    md: [],
    raid: [],
    disks: [],
    ipmi: null,
    hypervisor: null,
    frontPanel: frontPanel({ frontPanel: 'm22x0-info' }, findings),
    findings,
    durations: {},
    errors: [],
  };
}

test('dashboard health panel, storage test, Settings > Alerts with a syslog Test; no console errors', async (t) => {
  const { app, base } = await servedAppliance(t, { prefix: 'keel-web-health-' });
  const hs = new HealthStore(app.keel.store.db);
  const now = Date.now();
  hs.record([fan('ok', 5200), temp, link], now - 22 * HOUR);
  hs.record([fan('critical', 0), temp, link], now - 3 * HOUR);
  const findings = [fan('critical', 0), temp, link];
  setHealthMonitor({ latest: snapshot(findings), store: hs });
  t.onTestFinished(() => { setHealthMonitor(null); });

  const { page, problems } = await browserPage(t);

  await page.goto(`${base}/mics/`);
  await page.fill('#username', 'admin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${base}/mics/`), page.click('button[type=submit]')]);
  assert.equal(await page.textContent('#health-overall'), 'CRITICAL');
  assert.match((await page.textContent('#health-panel-leds'))!, /Informational LED: blinking 1 Hz red - A fan failure has occurred\. Check for an inoperative fan\./);
  assert.match((await page.textContent('#health-alerts'))!, /FAN2 0 RPM/);
  assert.equal(await page.locator('#health-charts svg').count(), 3, 'temperatures, fans, network links');
  const bands = page.locator('#health-charts g[data-key="ipmi.sensor.FAN2"] rect[fill="#b3261e"]');
  assert.equal(await bands.count(), 1, 'one critical band for the fan');
  const box = (await page.locator('#health-charts svg').first().boundingBox())!;
  assert.ok(box.width > 300 && box.height > 20, `the chart is drawn (${box.width}x${box.height})`);

  // Storage test: started, polled to its outcome (in this sandbox fio only records its command: it fails, and says so).
  await page.click('.js-storage-test');
  await page.waitForFunction(() => /failed|PASS|BELOW/.test(document.getElementById('storage-test-result')?.textContent ?? ''), null, { timeout: 15000 });

  // Settings > Alerts: syslog to a listener on this machine (the setting refuses loopback), then Test.
  const ip = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  if (ip) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, ip, r));
    t.onTestFinished(() => { udp.close(); });
    const got = new Promise<string>((r) => udp.once('message', (m) => r(m.toString())));
    await page.goto(`${base}/mics/settings/alerts`);
    const form = page.locator('form[data-url$="/config/health"]');
    await form.locator('input[name="syslog.enabled"]').check();
    await form.locator('input[name="syslog.server"]').fill(ip);
    await form.locator('input[name="syslog.port"]').fill(String((udp.address() as { port: number }).port));
    await form.locator('button[type=submit]').click();
    const dialog = page.locator('#keel-dialog');
    await dialog.waitFor({ state: 'visible' });
    // The plan shows the change as CLI lines (show running-config's words).
    assert.match((await dialog.locator('.dialog-diff').textContent())!, new RegExp(`\\+ ?health alert syslog server ${ip.replace(/\./g, '\\.')} udp port \\d+`));
    await Promise.all([page.waitForEvent('load'), dialog.locator('.dialog-ok').click()]);
    assert.equal(app.keel.store.running()!.config.health?.syslog?.server, ip);
    await page.click('button[data-channel="syslog"]');
    await page.waitForFunction(() => /Sent the test message/.test(document.getElementById('channel-test-result')?.textContent ?? ''), null, { timeout: 10000 });
    assert.match(await got, /Keel health alert test from core\.example\.com$/);
  } else console.log('no non-loopback IPv4 address: the syslog Test part is skipped');

  assert.deepEqual(problems, []);
});
