import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Store } from '../../appliance/config/store.ts';
import { validate } from '../../appliance/config/schema.ts';
import { buildServer } from '../../webui/server.ts';
import { HealthSampler } from '../../webui/health.ts';
import { ConfigState } from '../../webui/state.ts';
import { configuredHost, WEB_PASSWORD } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';

/** Sets what sysfs says of a kernel interface's link (no `speed` file: unreadable, as while down). */
function setLink(sysfs: string, ifname: string, state: string, speed?: number): void {
  const dir = path.join(sysfs, 'class/net', ifname);
  fs.writeFileSync(path.join(dir, 'operstate'), `${state}\n`);
  if (speed === undefined) fs.rmSync(path.join(dir, 'speed'), { force: true });
  else fs.writeFileSync(path.join(dir, 'speed'), `${speed}\n`);
}

test('HealthSampler: readings shared for a second, NIC inventory for a minute, the configuration read every time', async (t) => {
  const host = await configuredHost(t, { prefix: 'keel-status-' });
  const store = Store.open(host);
  t.onTestFinished(() => { store.close(); });
  setLink(host.sysfs, 'ens3', 'up', 1000);
  let now = 1_000_000;
  const sampler = new HealthSampler(host, new ConfigState(store), { now: () => now });

  const first = sampler.read();
  assert.deepEqual(first.interfaces.map((i) => [i.name, i.ifname, i.mac, i.link.state, i.link.speedMbps]), [
    ['GigabitEthernet1', 'ens3', '52:54:00:00:00:00', 'up', 1000],
    ['GigabitEthernet2', 'ens4', '52:54:00:00:00:01', null, null],
  ]);
  assert.ok(first.cpu.count >= 1 && first.cpu.model.length > 0);

  setLink(host.sysfs, 'ens3', 'down');
  now += 999;
  assert.equal(sampler.read().interfaces[0].link.state, 'up', 'within the second the shared sample answers');
  now += 1;
  assert.deepEqual(sampler.read().interfaces[0].link, { state: 'down', speedMbps: null }, 'a link that went down shows after a second');

  // A third controller appears (a driver bound late): listed with the next inventory, a minute on.
  const dev = path.join(host.sysfs, 'bus/pci/devices/0000:00:05.0');
  fs.mkdirSync(path.join(dev, 'net/ens5'), { recursive: true });
  fs.writeFileSync(path.join(dev, 'class'), '0x020000\n');
  fs.mkdirSync(path.join(host.sysfs, 'class/net/ens5'), { recursive: true });
  fs.writeFileSync(path.join(host.sysfs, 'class/net/ens5/address'), '52:54:00:00:00:05\n');
  setLink(host.sysfs, 'ens5', 'up', 10000);
  now += 5000;
  assert.equal(sampler.read().interfaces.length, 2, 'the NIC inventory is not re-read every second');
  now += 60_000;
  const later = sampler.read().interfaces;
  assert.deepEqual(later.map((i) => [i.name, i.ifname, i.link.state, i.link.speedMbps]).at(-1), ['GigabitEthernet3', 'ens5', 'up', 10000], 'a new NIC comes with its link');

  // A configuration change shows at once, without a new sample.
  const next = structuredClone(store.running()!.config);
  next.network.interfaces[0].address = '192.0.2.77';
  next.system.hostname = 'other.example.com';
  store.commitRunning(validate(next), { who: 'test', source: 'test' }, 'address', '');
  const changed = sampler.read();
  assert.equal(changed.hostname, 'other.example.com');
  assert.equal(changed.interfaces[0].address, '192.0.2.77');
  assert.deepEqual(changed.configuration, { runningRevision: 2, startupRevision: 1, unsaved: true });

  // What a caller does to an answer does not reach the next one.
  changed.interfaces[0].link.state = 'scribbled';
  changed.cpu.loadAverage.push(99);
  const again = sampler.read();
  assert.equal(again.interfaces[0].link.state, 'down');
  assert.equal(again.cpu.loadAverage.length, 3);
});

test('GET /mics/api/health and the dashboard show a link that went down within two seconds', async (t) => {
  const host = await configuredHost(t, { prefix: 'keel-status-web-' });
  setLink(host.sysfs, 'ens3', 'up', 1000);
  const app = await buildServer({ host, failureDelayMs: 5 });
  t.onTestFinished(() => { app.close(); });
  const s = await app.inject({ method: 'POST', url: '/mics/api/session', payload: { username: 'admin', password: WEB_PASSWORD } });
  assert.equal(s.statusCode, 200, s.body);
  const cookie = String(s.headers['set-cookie']).split(';')[0];
  const linkOf = async () => JSON.parse((await app.inject({ method: 'GET', url: '/mics/api/health', headers: { cookie } })).body).interfaces[0].link;

  assert.deepEqual(await linkOf(), { state: 'up', speedMbps: 1000 });
  setLink(host.sysfs, 'ens3', 'down');
  const t0 = Date.now();
  let link = await linkOf();
  while (link.state !== 'down' && Date.now() - t0 < 2000) {
    await new Promise((r) => setTimeout(r, 50));
    link = await linkOf();
  }
  assert.deepEqual(link, { state: 'down', speedMbps: null }, `still ${link.state} after ${Date.now() - t0} ms`);
  const page = await app.inject({ method: 'GET', url: '/mics/', headers: { cookie } });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<td>GigabitEthernet1<\/td>[\s\S]*?<td>down<\/td>/);
});
