/**
 * `ports provisioning ...` in configuration mode: the Port Settings section, the firewall opening
 * the port, refusals by the one schema naming the field, `?` help, and the show running-config
 * round trip.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { toScript } from '../../appliance/config/script.ts';
import { scriptToConfig } from '../../cli/script.ts';
import { rootsFor } from '../../cli/commands.ts';
import { complete, parse } from '../../cli/parse.ts';
import { cliSession, configured } from '../helpers/cli.ts';

process.env.KEEL_LOG = 'silent';

test('ports provisioning: set, changed, closed by either no form', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.equal(await c.run('ports provisioning 8080'), '');
  assert.deepEqual(c.store.running()!.config.ports, { provisioning: 8080 });
  assert.equal(await c.run('do show running-config | include ^ports'), 'ports provisioning 8080\n');
  assert.match(c.store.revisions()[0].diff, /\+ports provisioning 8080/);
  assert.equal(await c.run('ports provisioning 443'), '');
  assert.deepEqual(c.store.running()!.config.ports, { provisioning: 443 });
  assert.equal(await c.run('no ports provisioning'), '');
  assert.equal(c.store.running()!.config.ports, undefined);
  assert.equal(await c.run('ports prov 443'), '', 'unique prefixes work');
  assert.equal(await c.run('no ports'), '');
  assert.equal(c.store.running()!.config.ports, undefined);
  assert.doesNotMatch(await c.run('do show running-config'), /^ports/m);
});

test('ports refusals come from the one schema, name the field and rule, and change nothing', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal', 'ports provisioning 443');
  const rev = c.store.running()!.revision;
  assert.match(await c.run('ports provisioning 8443'), /^% Invalid ports provisioning \([a-zA-Z]+\): .*\n% Nothing was changed\.\n$/);
  assert.match(await c.run('ports provisioning http'), /must be a whole number/);
  assert.equal(c.store.running()!.revision, rev);
  assert.deepEqual(c.store.running()!.config.ports, { provisioning: 443 });
  const op = await cliSession(t, { role: 'operator' });
  op.s.mode = 'config';
  assert.match(await op.run('ports provisioning 8080'), /% Permission denied/);
});

test('ports help and completion come from the tree', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.match(await c.run('ports ?'), /provisioning +Provisioning port, opened in the firewall/);
  assert.match(await c.run('ports provisioning ?'), /<443\|8080> +443: HTTPS; 8080: HTTP, for evaluation only/);
  assert.deepEqual(complete(rootsFor('config'), 'ports provisioning ').words, ['443', '8080']);
});

test('round trip: the ports line of show running-config loads back to the same section', async (t) => {
  const { host, store } = await cliSession(t);
  for (const port of [443, 8080] as const) {
    const rich = configured();
    rich.ports = { provisioning: port };
    const script = toScript(rich);
    assert.deepEqual(script.filter((l) => /^ports /.test(l)), [`ports provisioning ${port}`]);
    assert.ok(parse(rootsFor('config'), `ports provisioning ${port}`).ok);
    const r = await scriptToConfig(host, store, script, configured());
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.config!.ports, rich.ports);
    assert.deepEqual(toScript(r.config!), script);
    // A script without the line closes provisioning (the script is the whole configuration).
    const none = await scriptToConfig(host, store, toScript(configured()), rich);
    assert.deepEqual(none.errors, []);
    assert.equal(none.config!.ports, undefined);
  }
});
