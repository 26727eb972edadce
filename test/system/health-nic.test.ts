import { test } from 'vitest';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHost } from '../../appliance/host/index.ts';
import { nicFindings, nicStatus, sampleNics } from '../../appliance/health/nic.ts';

const ip = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

test('NIC probe on a veth pair into a test namespace: link up, down, up again; flapping counted', async (t) => {
  const ns = `keelh${process.pid}`;
  const a = `kha${process.pid % 10000}`;
  const b = `khb${process.pid % 10000}`;
  ip('netns', 'add', ns);
  t.onTestFinished(() => {
    try {
      ip('link', 'del', a);
    } catch {
      /* gone with the namespace */
    }
    ip('netns', 'del', ns);
  });
  ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
  ip('link', 'set', b, 'netns', ns);
  ip('link', 'set', a, 'up');
  ip('-n', ns, 'link', 'set', b, 'up');
  const host = createHost('/');
  const list = [{ name: 'GigabitEthernet1', ifname: a }];
  const wait = () => new Promise((r) => setTimeout(r, 300));
  await wait();
  const s0 = sampleNics(host, list);
  let st = nicStatus(null, s0)[0];
  assert.equal(st.link, 'up');
  assert.equal(st.speedMbps, 10000);
  assert.equal(st.duplex, 'full');
  assert.equal(st.driver, null); // veth has no PCI device
  assert.match(st.mac!, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  assert.equal(nicFindings([st], new Set(['GigabitEthernet1']))[0].severity, 'ok');

  ip('-n', ns, 'link', 'set', b, 'down'); // the peer goes away: no carrier here
  await wait();
  st = nicStatus(s0, sampleNics(host, list))[0];
  assert.equal(st.link, 'down');
  const down = nicFindings([st], new Set(['GigabitEthernet1']));
  assert.equal(down[0].severity, 'critical');
  assert.match(down[0].message, /GigabitEthernet1: no link/);

  for (let i = 0; i < 3; i++) {
    ip('-n', ns, 'link', 'set', b, 'up');
    await wait();
    ip('-n', ns, 'link', 'set', b, 'down');
    await wait();
  }
  ip('-n', ns, 'link', 'set', b, 'up');
  await wait();
  const s2 = sampleNics(host, list);
  st = nicStatus(s0, s2)[0];
  assert.equal(st.link, 'up');
  assert.ok(st.carrierChangesDelta >= 4, String(st.carrierChangesDelta));
  assert.equal(st.flapping, true);
  assert.equal(nicFindings([st]).find((f) => f.key.endsWith('.flapping'))!.severity, 'warning');
});
