/**
 * System Manager on a real health monitor: ipmi_sim (OpenIPMI) as the BMC, ipmitool really runs,
 * the monitor writes its history into System Manager's database. A fan stops: the API, /metrics
 * and the dashboard show it in the technician's words, with the alert open and the 24 h charts;
 * the fan turns again: the alert clears.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import { parseBmcUrl } from '../../appliance/host/ipmi.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyAtBoot } from '../../appliance/config/apply.ts';
import { validate } from '../../appliance/config/schema.ts';
import { hashSecret } from '../../appliance/users/secrets.ts';
import { HealthMonitor } from '../../appliance/health/monitor.ts';
import { buildServer } from '../../webui/server.ts';
import { setHealthMonitor } from '../../webui/health-routes.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { startSim } from '../fixtures/health/ipmisim.ts';
import { DMI, makeMachine } from '../fixtures/health/sysfs.ts';

process.env.KEEL_LOG ??= 'silent';
const PASSWORD = 'Passw0rd!x';

test('ipmi_sim behind the monitor: a stopped fan shows in the API, /metrics and the dashboard; repaired, the alert clears', async (t) => {
  const sim = await startSim();
  t.onTestFinished(() => { sim.stop(); });
  const root = tempRoot('keel-webui-health-sys-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const appHost = createHost(root, { sysfs: fakeSysfs(root, 2) });
  const config = sampleConfig();
  config.users.local[0].passwordHash = await hashSecret(PASSWORD);
  const s = Store.open(appHost);
  s.commitRunning(validate(config), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  await applyAtBoot(appHost, s);
  s.close();
  const app = await buildServer({ host: appHost, failureDelayMs: 5 });
  t.onTestFinished(() => { app.close(); });

  // An M2250 as DMI describes it; ipmitool really runs against ipmi_sim; the history goes into System Manager's database.
  const machine = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-webui-health-machine-'));
  t.onTestFinished(() => { fs.rmSync(machine, { recursive: true, force: true }); });
  const { sysfs, procfs } = makeMachine(machine, { dmi: DMI.m2250, nics: [{ driver: 'igb' }, { driver: 'igb' }], memGB: 32, cpus: 8 });
  const monitor = new HealthMonitor({ host: { ...createHost('/', { sysfs }), root: machine }, db: app.keel.store.db, hostname: 'core.example.com', bmc: parseBmcUrl(sim.url), procfs, smart: false, nics: [], channels: [] });
  setHealthMonitor(monitor);
  t.onTestFinished(() => { setHealthMonitor(null); });

  const login = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username: 'admin', password: PASSWORD } });
  assert.equal(login.statusCode, 200, login.body);
  const cookie = String(login.headers['set-cookie']).split(';')[0];
  const csrf = JSON.parse(login.body).csrfToken as string;
  const get = (url: string, headers: Record<string, string> = { cookie }) => app.inject({ method: 'GET', url, headers });

  await monitor.cycle();
  let now = JSON.parse((await get('/mics/api/v1/health')).body);
  assert.equal(now.source, 'monitor');
  assert.equal(now.platform.id, 'M2250');
  assert.equal(now.frontPanel[0].line, 'Informational LED: off - No fault indicated');

  // Fan 1 stops (3 x 60 = 180 RPM, below the 600 RPM critical threshold).
  await sim.setValue(4, 3);
  await monitor.cycle();
  now = JSON.parse((await get('/mics/api/v1/health')).body);
  assert.equal(now.overall, 'critical');
  assert.equal(now.frontPanel[0].line, 'Informational LED: blinking 1 Hz red - A fan failure has occurred. Check for an inoperative fan.');
  assert.ok(now.problems.some((f: { key: string }) => f.key === 'ipmi.sensor.FAN1'));
  const alerts = JSON.parse((await get('/mics/api/v1/health/alerts')).body).alerts;
  assert.ok(alerts.some((a: { key: string; severity: string }) => a.key === 'ipmi.sensor.FAN1' && a.severity === 'critical'));
  const hist = JSON.parse((await get('/mics/api/v1/health/history?key=ipmi.sensor.FAN1')).body);
  assert.deepEqual(hist.series[0].segments.map((g: { severity: string }) => g.severity), ['ok', 'critical']);
  assert.deepEqual(hist.values[0].points.map((p: { value: number }) => p.value), [4800, 180], 'the readings of both cycles');

  const token = await app.inject({ method: 'POST', url: '/mics/api/v1/tokens', headers: { cookie, 'x-csrf-token': csrf }, payload: { name: 'prometheus', role: 'operator' } });
  const metrics = await get('/metrics', { authorization: `Bearer ${JSON.parse(token.body).token}` });
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /^ipmi_fan_speed_rpm\{id="04h",name="FAN1"\} 180$/m);
  assert.match(metrics.body, /^ipmi_sensor_state\{id="04h",name="FAN1",type="fan"\} 2$/m);

  const page = (await get('/mics/')).body;
  assert.match(page, /id="health-overall">CRITICAL</);
  assert.match(page, /<strong>Informational LED<\/strong>: blinking 1 Hz red - A fan failure has occurred/);
  assert.match(page, /<figcaption>Fan speeds<\/figcaption>/);
  assert.match(page, /data-key="ipmi.sensor.FAN1"/);

  await sim.setValue(4, 80);
  await monitor.cycle();
  assert.deepEqual(JSON.parse((await get('/mics/api/v1/health/alerts')).body).alerts.filter((a: { key: string }) => a.key.startsWith('ipmi.')), []);
  assert.match((await get('/mics/')).body, /Informational LED<\/strong>: off - No fault indicated/);
});
