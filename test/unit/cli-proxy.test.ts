/**
 * `proxy ...` in configuration mode: the outbound proxy section (URL, credentials with the
 * password masked and kept, no-proxy list, shutdown), refusals by the one schema naming the
 * field, `?` help, and the show running-config round trip.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { toScript } from '../../appliance/config/script.ts';
import type { Config } from '../../appliance/config/schema.ts';
import { scriptToConfig } from '../../cli/script.ts';
import { rootsFor } from '../../cli/commands.ts';
import { complete, parse } from '../../cli/parse.ts';
import { cliSession, configured } from '../helpers/cli.ts';

process.env.KEEL_LOG = 'silent';

const proxy = (c: Awaited<ReturnType<typeof cliSession>>) => c.store.running()!.config.proxy;

test('proxy url, credentials, no-proxy list, shutdown and their no forms', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.equal(await c.run('proxy url http://proxy.example.com:3128'), '');
  assert.deepEqual(proxy(c), { enabled: true, url: 'http://proxy.example.com:3128', noProxy: [] });
  assert.equal(await c.run('proxy no-proxy .example.com'), '');
  assert.equal(await c.run('proxy no-proxy 192.0.2.10'), '');
  assert.equal(await c.run('proxy no-proxy .example.com'), '', 'adding twice keeps one');
  assert.deepEqual(proxy(c)!.noProxy, ['.example.com', '192.0.2.10']);
  assert.equal(await c.run('proxy url http://10.0.0.5:8080 username "web user" password Pr0xy-pass'), '');
  assert.deepEqual(proxy(c), { enabled: true, url: 'http://10.0.0.5:8080', username: 'web user', password: 'Pr0xy-pass', noProxy: ['.example.com', '192.0.2.10'] });
  assert.equal(await c.run('proxy shutdown'), '');
  assert.equal(proxy(c)!.enabled, false);
  assert.equal(
    await c.run('do show running-config | include ^proxy'),
    'proxy url http://10.0.0.5:8080 username "web user" password ********\nproxy no-proxy .example.com\nproxy no-proxy 192.0.2.10\nproxy shutdown\n',
  );
  assert.equal(await c.run('proxy url http://10.0.0.5:8080 username "web user" password ********'), '');
  assert.equal(proxy(c)!.password, 'Pr0xy-pass', 'the masked password keeps the stored one');
  assert.equal(proxy(c)!.enabled, false, 'a new URL line does not turn a shut-down proxy on');
  assert.equal(await c.run('no proxy shutdown'), '');
  assert.equal(proxy(c)!.enabled, true);
  assert.equal(await c.run('no proxy no-proxy 192.0.2.10'), '');
  assert.deepEqual(proxy(c)!.noProxy, ['.example.com']);
  assert.equal(await c.run('no proxy no-proxy'), '');
  assert.deepEqual(proxy(c)!.noProxy, []);
  assert.equal(await c.run('proxy url http://10.0.0.5:8080'), '');
  assert.equal(proxy(c)!.username, undefined, 'a line without a user name drops the credentials');
  assert.equal(proxy(c)!.password, undefined);
  assert.equal(await c.run('no proxy'), '');
  assert.equal(proxy(c), undefined);
  assert.doesNotMatch(await c.run('do show running-config'), /proxy/);
  for (const a of c.store.auditLog(1000)) assert.ok(!`${a.action} ${a.outcome}`.includes('Pr0xy-pass'), a.action);
  for (const r of c.store.revisions(1000)) assert.ok(!`${r.summary} ${r.diff}`.includes('Pr0xy-pass'));
  assert.ok(!c.s.history.join('\n').includes('Pr0xy-pass'));
});

test('proxy refusals come from the one schema, name the field and rule, and change nothing', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.match(await c.run('proxy shutdown'), /^% Invalid proxy url \(required\): set the proxy first/);
  assert.match(await c.run('proxy no-proxy .example.com'), /% Invalid proxy url \(required\)/);
  await c.run('proxy url http://proxy.example.com:3128 username u password p');
  const rev = c.store.running()!.revision;
  const cases: [string, RegExp][] = [
    ['proxy url https://proxy.example.com:3128', /^% Invalid proxy url \([a-zA-Z]+\).*\n% Nothing was changed\.\n$/],
    ['proxy url http://proxy.example.com', /% Invalid proxy url \([a-zA-Z]+\)/],
    ['proxy url http://user:pw@proxy.example.com:3128', /% Invalid proxy url \([a-zA-Z]+\)/],
    ['proxy url http://proxy.example.com:70000', /% Invalid proxy url \(port\): the port must be 1-65535/],
    ['proxy url http://proxy.example.com:3128 username a:b password x', /% Invalid proxy username \([a-zA-Z]+\)/],
    ['proxy url http://proxy.example.com:3128 username other password ********', /% Invalid proxy password \(required\): there is no stored password/],
    ['proxy url http://other.example.com:3128 username u password ********', /% Invalid proxy password \(required\)/],
    ['proxy no-proxy bad/host', /% Invalid proxy no-proxy #1 \([a-zA-Z]+\)/],
    ['no proxy no-proxy .example.com', /% Invalid proxy no-proxy \(exists\)/],
  ];
  for (const [line, re] of cases) assert.match(await c.run(line), re, line);
  assert.equal(await c.run('proxy url http://proxy.example.com:3128 username u password ********'), '', 'same proxy and user: kept');
  assert.equal(c.store.running()!.revision, rev, 'nothing applied');
  const full = await cliSession(t);
  await full.run('configure terminal', 'proxy url http://p.example.com:3128');
  for (let i = 0; i < 64; i++) assert.equal(await full.run(`proxy no-proxy h${i}.example.com`), '');
  assert.match(await full.run('proxy no-proxy h64.example.com'), /% Invalid proxy no-proxy \([a-zA-Z]+\): .*64/);
});

test('proxy help and completion come from the tree', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.match(await c.run('proxy ?'), /no-proxy +A host reached directly[\s\S]*shutdown +Stop using the proxy[\s\S]*url +The proxy, as http:\/\/host:port/);
  assert.match(await c.run('proxy url ?'), /URL +Proxy URL, like http:\/\/proxy\.example\.com:3128/);
  assert.match(await c.run('proxy url http://p.example.com:3128 ?'), /username[\s\S]*<cr>/);
  const roots = rootsFor('config');
  assert.deepEqual(complete(roots, 'no proxy ').words, ['no-proxy', 'shutdown']);
  assert.deepEqual(complete(roots, 'proxy url http://p.example.com:3128 username u ').words, ['password']);
});

/** A configuration with every proxy field set, shut down, with credentials. */
function richProxy(): Config {
  const c = configured();
  c.proxy = { enabled: false, url: 'http://proxy.example.com:3128/', username: 'svc user', password: 'Proxy pass 1', noProxy: ['.corp.example.com', '192.0.2.7', 'updates.example.com'] };
  return c;
}

test('round trip: the proxy lines of show running-config load back to the same section', async (t) => {
  const { host, store } = await cliSession(t);
  const rich = richProxy();
  const script = toScript(rich);
  assert.deepEqual(
    script.filter((l) => /^proxy /.test(l)),
    ['proxy url http://proxy.example.com:3128/ username "svc user" password ********', 'proxy no-proxy .corp.example.com', 'proxy no-proxy 192.0.2.7', 'proxy no-proxy updates.example.com', 'proxy shutdown'],
  );
  for (const line of script.filter((l) => /^proxy /.test(l))) assert.ok(parse(rootsFor('config'), line).ok, line);
  const r = await scriptToConfig(host, store, script, rich);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config!.proxy, rich.proxy);
  assert.deepEqual(toScript(r.config!), script);
  // Over a configuration without the password, the masked one cannot be made up.
  const bare = await scriptToConfig(host, store, script, configured());
  assert.equal(bare.config, null);
  assert.match(bare.errors.join('\n'), /proxy url .*\n% Invalid proxy password \(required\)/);
  // Another proxy host in the script: the stored password is not handed to it.
  const moved = await scriptToConfig(host, store, script.map((l) => l.replace('proxy.example.com:3128/', 'other.example.com:3128')), rich);
  assert.equal(moved.config, null);
  // A script without proxy lines leaves no proxy section (the script is the whole configuration).
  const none = await scriptToConfig(host, store, toScript(configured()), rich);
  assert.deepEqual(none.errors, []);
  assert.equal(none.config!.proxy, undefined);
});
