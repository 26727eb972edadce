/**
 * `health ...` in configuration mode: every setting of the health section (intervals, history,
 * devices, alert e-mail and syslog with a pasted CA, remote BMC), refusals by the one schema
 * naming the field, `show health settings`, and the show running-config round trip (BMC password
 * masked and kept, CA named by a comment and kept).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { toScript } from '../../appliance/config/script.ts';
import type { Config } from '../../appliance/config/schema.ts';
import { scriptToConfig } from '../../cli/script.ts';
import { rootsFor } from '../../cli/commands.ts';
import { complete, parse } from '../../cli/parse.ts';
import { cliSession, configured } from '../helpers/cli.ts';
import { makeCert } from '../helpers/pki.ts';

process.env.KEEL_LOG = 'silent';

const health = (c: Awaited<ReturnType<typeof cliSession>>) => c.store.running()!.config.health;

test('health interval, history and devices: set, partial forms, reset by no', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.equal(await c.run('health interval 30'), '');
  assert.deepEqual(health(c), { intervalSeconds: 30 });
  assert.equal(await c.run('health interval ipmi 20'), '');
  assert.deepEqual(health(c), { intervalSeconds: 30, ipmiIntervalSeconds: 20 });
  assert.equal(await c.run('health interval 120 ipmi 45'), '');
  assert.deepEqual(health(c), { intervalSeconds: 120, ipmiIntervalSeconds: 45 });
  assert.equal(await c.run('health history days 30'), '');
  assert.equal(await c.run('health history max-entries 5000'), '');
  assert.deepEqual([health(c)!.retentionDays, health(c)!.maxHistory], [30, 5000]);
  assert.equal(await c.run('health history days 365 max-entries 200000'), '');
  assert.deepEqual([health(c)!.retentionDays, health(c)!.maxHistory], [365, 200000]);
  assert.equal(await c.run('health devices 12000'), '');
  assert.equal(health(c)!.devices, 12000);
  const shown = await c.run('do show running-config | include ^health');
  assert.equal(shown, 'health interval 120 ipmi 45\nhealth history days 365 max-entries 200000\nhealth devices 12000\n');
  assert.match(c.store.revisions()[0].diff, /\+health devices 12000/);
  assert.match(await c.run('do show health settings'), /Probe interval: +120 seconds; IPMI sensors 45 seconds\nHistory: +365 days, at most 200000 entries\nSized for: +12000 managed devices/);
  await c.run('no health interval', 'no health history');
  assert.deepEqual(health(c), { devices: 12000 });
  assert.match(await c.run('do show health settings'), /Probe interval: +60 seconds \(default\); IPMI sensors 30 seconds \(default\)\nHistory: +90 days \(default\), at most 10000 entries \(default\)/);
  await c.run('no health devices');
  assert.equal(health(c), undefined, 'an emptied section goes');
  assert.doesNotMatch(await c.run('do show running-config'), /health/);
});

test('refusals come from the one schema, name the field and rule, and change nothing', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal', 'health interval 30');
  const rev = c.store.running()!.revision;
  const cases: [string, RegExp][] = [
    ['health interval 5', /^% Invalid health interval-seconds \(minimum\): must be 10 or more\n% Nothing was changed\.\n$/],
    ['health interval 30 ipmi 900', /% Invalid health ipmi-interval-seconds \([a-zA-Z]+\): .*600/],
    ['health history days 0', /% Invalid health retention-days \([a-zA-Z]+\)/],
    ['health history max-entries 50', /% Invalid health max-history \([a-zA-Z]+\): .*100/],
    ['health devices 0', /% Invalid health devices \([a-zA-Z]+\)/],
    ['health alert email to admin@example.com nope', /% Invalid health email to #2 \(email\)/],
    [`health alert email to ${Array.from({ length: 11 }, (_, i) => `a${i}@example.com`).join(' ')}`, /% Invalid health email to \([a-zA-Z]+\): .*10/],
    ['health alert syslog server bad_name!', /% Invalid health syslog server \(server-address\)/],
    ['health alert syslog server 127.0.0.1', /% Invalid health syslog server \(server-address\): .*loopback/],
    ['health alert syslog server logs.example.com tcp port 70000', /% Invalid health syslog port \([a-zA-Z]+\)/],
    ['health alert syslog server logs.example.com facility 24', /% Invalid health syslog facility \([a-zA-Z]+\)/],
    ['health bmc bmc.example.com user ADMIN password x', /% Invalid health bmc host \(host-address\)/],
    ['health bmc 192.0.2.50 user ABCDEFGHIJKLMNOPQ password x', /% Invalid health bmc user \([a-zA-Z]+\)/],
    ['health bmc 192.0.2.50 user ADMIN password 123456789012345678901', /% Invalid health bmc password \([a-zA-Z]+\)/],
    ['health bmc 192.0.2.50 user ADMIN password ********', /% Invalid health bmc password \(required\): there is no stored password/],
    ['health alert email shutdown', /% Invalid health email \(required\): set the recipients first/],
    ['health alert syslog ca-certificate', /% Invalid health syslog server \(required\)/],
  ];
  for (const [line, re] of cases) assert.match(await c.run(line), re, line);
  assert.equal(c.store.running()!.revision, rev, 'nothing applied');
  assert.deepEqual(health(c), { intervalSeconds: 30 });
  assert.ok(c.store.auditLog().some((a) => a.action === 'cli: health interval 5' && a.outcome === 'refused: /health/intervalSeconds (minimum)'));
});

test('alert e-mail: recipients, critical only, shutdown keeps them, no removes the channel', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.equal(await c.run('health alert email to ops@example.com noc@example.com'), '');
  assert.deepEqual(health(c)!.email, { enabled: true, subscription: 'all', to: ['ops@example.com', 'noc@example.com'] });
  assert.equal(await c.run('health alert email shutdown'), '');
  assert.equal(await c.run('health alert email to ops@example.com critical'), '');
  assert.deepEqual(health(c)!.email, { enabled: false, subscription: 'critical', to: ['ops@example.com'] }, 'new recipients do not turn a shut-down channel on');
  assert.equal(await c.run('do show running-config | include alert email'), 'health alert email to ops@example.com critical\nhealth alert email shutdown\n');
  assert.match(await c.run('do show health settings'), /Alert e-mail: +SHUT DOWN, critical alerts only to ops@example.com\n +\(no SMTP server is set/);
  assert.equal(await c.run('no health alert email shutdown'), '');
  assert.equal(health(c)!.email!.enabled, true);
  assert.equal(await c.run('no health alert email'), '');
  assert.equal(health(c), undefined);
});

test('alert syslog: defaults per transport, options in order, shutdown, the CA pasted only for tls', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.equal(await c.run('health alert syslog server logs.example.com'), '');
  assert.deepEqual(health(c)!.syslog, { enabled: true, subscription: 'all', server: 'logs.example.com', port: 514, transport: 'udp' });
  assert.equal(await c.run('health alert syslog server 192.0.2.30 tcp facility 4 critical'), '');
  assert.deepEqual(health(c)!.syslog, { enabled: true, subscription: 'critical', server: '192.0.2.30', port: 514, transport: 'tcp', facility: 4 });
  assert.match(await c.run('health alert syslog ca-certificate'), /% Invalid health syslog ca-certificate \(tls-only\)/);
  assert.equal(await c.run('health alert syslog server logs.example.com tls'), '');
  assert.equal(health(c)!.syslog!.port, 6514);
  const ca = makeCert({ cn: 'Syslog Test CA', ca: true }).certPem;
  c.answers.push(...ca.trim().split(/\r?\n/), '');
  assert.match(await c.run('health alert syslog ca-certificate'), /^Paste the PEM certificate\(s\) of the CA that issued the syslog server's certificate\./);
  assert.equal(health(c)!.syslog!.caCertificate, ca.trim().split(/\r?\n/).join('\n') + '\n');
  c.answers.push('-----BEGIN CERTIFICATE-----', 'bm90IGEgY2VydA==', '-----END CERTIFICATE-----', '');
  assert.match(await c.run('health alert syslog ca-certificate'), /% Invalid health syslog ca-certificate \(pem-certificate\)/);
  assert.equal(await c.run('health alert syslog server logs.example.com tls port 10514 facility 23'), '');
  assert.ok(health(c)!.syslog!.caCertificate, 'the CA stays while the transport stays tls');
  const lines = await c.run('do show running-config | include syslog');
  assert.match(lines, /^health alert syslog server logs\.example\.com tls port 10514 facility 23\n! health alert syslog ca-certificate sha256 [0-9a-f]{16} \(paste a new one with: health alert syslog ca-certificate\)\n$/);
  assert.match(await c.run('do show health settings'), /Alert syslog: +all alerts to logs\.example\.com:10514\/tls, facility 23\n +CA certificate sha256 [0-9a-f]{16}/);
  assert.equal(await c.run('health alert syslog shutdown'), '');
  assert.equal(health(c)!.syslog!.enabled, false);
  assert.equal(await c.run('no health alert syslog ca-certificate'), '');
  assert.equal(health(c)!.syslog!.caCertificate, undefined);
  c.answers.push(...ca.trim().split(/\r?\n/), '');
  await c.run('health alert syslog ca-certificate');
  assert.equal(await c.run('health alert syslog server logs.example.com udp'), '');
  assert.equal(health(c)!.syslog!.caCertificate, undefined, 'leaving tls drops the CA only tls uses');
  assert.equal(health(c)!.syslog!.enabled, false, 'still shut down');
  await c.run('no health alert syslog shutdown', 'no health alert syslog');
  assert.equal(health(c), undefined);
});

test('remote BMC: password masked, kept for the same BMC and user only, never logged', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.equal(await c.run('health bmc 192.0.2.50 user ADMIN password Bmc-Secret9 port 624'), '');
  assert.deepEqual(health(c)!.bmc, { host: '192.0.2.50', port: 624, user: 'ADMIN', password: 'Bmc-Secret9' });
  assert.equal(await c.run('do show running-config | include bmc'), 'health bmc 192.0.2.50 user ADMIN password ******** port 624\n');
  assert.equal(await c.run('health bmc 192.0.2.50 user ADMIN password ******** port 624'), '');
  assert.match(await c.run('health bmc 192.0.2.50 user ADMIN password ********'), /% Invalid health bmc password \(secret-destination\)/, 'another port: typed again');
  assert.equal(await c.run('health bmc 192.0.2.50 user ADMIN password Bmc-Secret9'), '');
  assert.deepEqual(health(c)!.bmc, { host: '192.0.2.50', user: 'ADMIN', password: 'Bmc-Secret9' });
  assert.match(await c.run('health bmc 192.0.2.51 user ADMIN password ********'), /% Invalid health bmc password \(secret-destination\)/);
  assert.match(await c.run('health bmc 192.0.2.50 user root password ********'), /% Invalid health bmc password \(secret-destination\)/);
  assert.match(await c.run('do show health settings'), /BMC: +remote 192\.0\.2\.50:623, user ADMIN/);
  assert.doesNotMatch(await c.run('do show health settings'), /Bmc-Secret9/);
  assert.equal(await c.run('no health bmc'), '');
  assert.equal(health(c), undefined);
  for (const a of c.store.auditLog(1000)) assert.ok(!`${a.action} ${a.outcome}`.includes('Bmc-Secret9'), `${a.action} ${a.outcome}`);
  for (const r of c.store.revisions(1000)) assert.ok(!`${r.summary} ${r.diff}`.includes('Bmc-Secret9'));
  assert.ok(!c.s.history.join('\n').includes('Bmc-Secret9'));
  assert.ok(c.s.history.includes('health bmc 192.0.2.50 user ADMIN password <redacted> port 624'));
});

test('no health removes the section; operators may show the settings but not change them', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal', 'health devices 900', 'health alert email to ops@example.com');
  assert.equal(await c.run('no health'), '');
  assert.equal(health(c), undefined);
  const op = await cliSession(t, { role: 'operator' });
  assert.match(await op.run('show health settings'), /Alert e-mail: +not configured\n.*\nBMC: +local \(\/dev\/ipmi0\)/);
  assert.match(await op.run('configure terminal'), /% Permission denied/);
  op.s.mode = 'config';
  assert.match(await op.run('health interval 30'), /% Permission denied: admin has the operator role/);
  assert.equal(op.store.running()!.config.health, undefined);
});

test('help and completion come from the tree', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.match(await c.run('health ?'), /alert +Where health alerts go[\s\S]*bmc[\s\S]*devices[\s\S]*history[\s\S]*interval/);
  assert.match(await c.run('health interval ?'), /<10-600> +Seconds\n +ipmi +Seconds between IPMI sensor reads/);
  assert.match(await c.run('health alert syslog server logs.example.com tls ?'), /critical[\s\S]*facility[\s\S]*port[\s\S]*<cr>/);
  assert.doesNotMatch(await c.run('health alert syslog server logs.example.com tls ?'), /\budp\b/, 'one transport per line');
  const roots = rootsFor('config');
  assert.deepEqual(complete(roots, 'health alert syslog server logs.example.com t').words, ['tcp', 'tls']);
  assert.deepEqual(complete(roots, 'no health alert ').words, ['email', 'syslog']);
  assert.deepEqual(complete(roots, 'health alert email to a@example.com ').words, ['critical']);
});

/** A configuration with every health setting, both channels shut down or on, a CA and a BMC password. */
function richHealth(): Config {
  const c = configured();
  c.email = { server: 'smtp.example.com', port: 587, protocol: 'starttls', from: 'core@example.com', auth: false };
  c.health = {
    intervalSeconds: 45,
    ipmiIntervalSeconds: 15,
    retentionDays: 30,
    maxHistory: 20000,
    devices: 15000,
    email: { enabled: false, subscription: 'critical', to: ['ops@example.com', 'noc@example.com'] },
    syslog: { enabled: true, subscription: 'all', server: 'logs.example.com', port: 6514, transport: 'tls', facility: 20, caCertificate: makeCert({ cn: 'Round Trip CA', ca: true }).certPem.replace(/\r\n/g, '\n') },
    bmc: { host: '192.0.2.60', port: 6230, user: 'ipmi user', password: 'Bmc pass 1' },
  };
  return c;
}

test('round trip: the health lines of show running-config load back to the same section', async (t) => {
  const { host, store } = await cliSession(t);
  const rich = richHealth();
  const script = toScript(rich);
  const mine = script.filter((l) => /^!? ?health /.test(l));
  assert.deepEqual(mine.map((l) => l.replace(/sha256 [0-9a-f]{16}/, 'sha256 X')), [
    'health interval 45 ipmi 15',
    'health history days 30 max-entries 20000',
    'health devices 15000',
    'health alert email to ops@example.com noc@example.com critical',
    'health alert email shutdown',
    'health alert syslog server logs.example.com tls port 6514 facility 20',
    '! health alert syslog ca-certificate sha256 X (paste a new one with: health alert syslog ca-certificate)',
    'health bmc 192.0.2.60 user "ipmi user" password ******** port 6230',
  ]);
  for (const line of mine.filter((l) => !l.startsWith('!'))) {
    const p = parse(rootsFor('config'), line);
    assert.ok(p.ok, `${line}: ${p.ok ? '' : p.lines.join(' ')}`);
  }
  // Loaded over the running configuration (startup, copy, restore): the masked password and the CA are kept.
  const r = await scriptToConfig(host, store, script, rich);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config!.health, rich.health);
  assert.deepEqual(toScript(r.config!), script);
  // Over a configuration without them, the masked password cannot be made up: the line names the field.
  const bare = await scriptToConfig(host, store, script, configured());
  assert.equal(bare.config, null);
  assert.match(bare.errors.join('\n'), /health bmc .*\n% Invalid health bmc password \(required\)/);
  // A script without health lines leaves no health section (the script is the whole configuration).
  const none = await scriptToConfig(host, store, toScript(configured()), rich);
  assert.deepEqual(none.errors, []);
  assert.equal(none.config!.health, undefined);
  // A script that moves syslog off tls does not carry the old CA along.
  const udp = await scriptToConfig(host, store, script.map((l) => l.replace('tls port 6514', 'udp port 514')), rich);
  assert.deepEqual(udp.errors, []);
  assert.equal(udp.config!.health!.syslog!.caCertificate, undefined);
});
