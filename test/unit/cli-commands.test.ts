import { test } from 'vitest';
import { makeSelfSigned, WEBUI_CERT_PATH, WEBUI_KEY_PATH, WEBUI_SOURCE_PATH } from '../../appliance/certs/webui.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { applyConfig } from '../../appliance/config/apply.ts';
import { toScript } from '../../appliance/config/script.ts';
import type { Config } from '../../appliance/config/schema.ts';
import { verifySecret } from '../../appliance/users/secrets.ts';
import { Session } from '../../cli/session.ts';
import { scriptToConfig } from '../../cli/script.ts';
import { rootsFor } from '../../cli/commands.ts';
import { parse } from '../../cli/parse.ts';
import { cliSession, quickHash, configured } from '../helpers/cli.ts';

process.env.KEEL_LOG = 'silent';

const setup = cliSession;

test('modes: enable with the secret, configure terminal, interface, exit and end; prompts follow', async (t) => {
  const { s, run, answers, store } = await setup(t, { privileged: false });
  assert.equal(s.prompt(), 'core>');
  answers.push('wrong', 'Enable1');
  const o = await run('enable');
  assert.equal(o, 'Password: Password: ');
  assert.equal(s.prompt(), 'core#');
  assert.equal(await run('conf t'), 'Enter configuration commands, one per line.  End with CNTL/Z.\n');
  assert.equal(s.prompt(), 'core(config)#');
  await run('int gi2');
  assert.equal(s.prompt(), 'core(config-if)#');
  assert.equal(s.iface, 'GigabitEthernet2');
  await run('exit');
  assert.equal(s.prompt(), 'core(config)#');
  await run('interface GigabitEthernet1', 'end');
  assert.equal(s.prompt(), 'core#');
  await run('disable');
  assert.equal(s.mode, 'user');
  answers.push('a', 'b', 'c');
  assert.match(await run('enable'), /% Bad secrets/);
  assert.equal(s.mode, 'user');
  assert.ok(store.auditLog().some((e) => e.action === 'cli: enable' && e.outcome.startsWith('refused')));
  await run('exit');
  assert.equal(s.closed, true);
});

test('errors print a caret under the offending word, after the prompt', async (t) => {
  const { run } = await setup(t);
  assert.equal(await run('show foo'), `${' '.repeat('core#'.length + 5)}^\n% Invalid input detected at '^' marker.\n`);
  assert.equal(await run('s'), '% Ambiguous command: "s"\n');
  assert.equal(await run('show'), '% Incomplete command.\n');
  assert.match(await run('show ?'), /running-config +The configuration in effect now/);
});

test('an interface global command leaves interface mode, as in IOS', async (t) => {
  const { s, run, read } = await setup(t);
  await run('configure terminal', 'interface gi1', 'hostname edge.example.com');
  assert.equal(s.mode, 'config');
  assert.equal(read('/etc/hostname'), 'edge.example.com\n');
});

test('hostname: applied at once through the core (file, revision, audit, commands.log)', async (t) => {
  const { run, read, store, commands } = await setup(t);
  assert.equal(await run('configure terminal', 'hostname core2.example.com'), 'Enter configuration commands, one per line.  End with CNTL/Z.\n');
  assert.equal(read('/etc/hostname'), 'core2.example.com\n');
  assert.match(read('/etc/hosts'), /core2\.example\.com core2/);
  assert.equal(store.running()!.revision, 2);
  assert.equal(store.revisions()[0].summary, 'hostname core2.example.com');
  assert.equal(store.revisions()[0].source, 'cli:test');
  assert.match(store.revisions()[0].diff, /\+hostname core2\.example\.com/);
  const a = store.auditLog()[0];
  assert.deepEqual([a.who, a.source, a.action, a.outcome], ['admin', 'cli:test', 'cli: hostname core2.example.com', 'ok (revision 2)']);
  assert.match(commands(), /hostname core2\.example\.com/);
  assert.equal(store.unsaved(), true);
});

test('invalid arguments name the rule and change nothing', async (t) => {
  const { run, store, read } = await setup(t);
  await run('configure terminal');
  const before = store.running()!.revision;
  const cases: [string, RegExp][] = [
    ['hostname core', /\(fqdn\): hostname must be fully qualified/],
    ['hostname core.local', /\(fqdn\): .*internal domain/],
    ['ip default-gateway 198.51.100.1', /% Invalid ip default-gateway \(gateway-in-subnet\)/],
    ['ip name-server 1.2.3', /\(ipv4\)/],
    ['ip route 10.0.0.1 255.0.0.0 192.0.2.254', /\(network-address\)/],
    ['ip route 10.0.0.0 255.0.0.0 203.0.113.1', /\(gateway-in-subnet\)/],
    ['ntp server bad_name!', /\(ntp-server\)/],
    ['clock timezone Mars/Olympus', /\(time-zone\): must be a known time zone/],
    ['ip ssh server port 8443', /\(port-conflict\): SSH and System Manager cannot share a port/],
    ['ip ssh server port 70000', /\(port\): must be a number from 1 to 65535/],
    ['username root role admin password Abcdefg1', /\(user-name\): user name "root" is reserved/],
    ['username bob role admin password short1A', /\(password-policy\): password must be at least 8 characters/],
    ['username bob role admin password abcdefg1', /\(password-policy\): password must contain at least one capital letter/],
    ['username bob role admin password Bob', /\(password-policy\)/],
    ['username bob role operator', /\(required\): a new user needs a password/],
    ['no username admin', /\(self\): you cannot remove the user you are signed in as/],
    ['enable secret abc', /\(enable-secret\): enable secret must be 6-20 characters/],
    ['company contact-email nobody', /\(email\)/],
    [`company name "${'x'.repeat(129)}"`, /\(display-text\): must be at most 128 characters/],
    ['no ntp server 203.0.113.9', /\(exists\)/],
    ['no interface gi1', /\(management\)/],
  ];
  for (const [cmd, want] of cases) assert.match(await run(cmd), want, cmd);
  assert.equal(store.running()!.revision, before, 'nothing was applied');
  assert.equal(read('/etc/hostname'), 'core.example.com\n');
  assert.ok(store.auditLog().some((e) => e.action === 'cli: ip default-gateway 198.51.100.1' && /refused: \/network\/gateway \(gateway-in-subnet\)/.test(e.outcome)));
  assert.ok(!store.auditLog().some((e) => /Newpassw0rd/.test(e.action)), 'passwords never reach the audit log');
});

test('interfaces: address, shutdown / no shutdown, and moving the subnet with its gateway', async (t) => {
  const { run, read, store, commands } = await setup(t);
  await run('configure terminal', 'interface GigabitEthernet2', 'ip address 198.51.100.5 255.255.255.0');
  const f = read('/etc/systemd/network/10-keel-GigabitEthernet2.network');
  assert.match(f, /Address=198\.51\.100\.5\/24/);
  assert.match(f, /Path=pci-0000:00:04\.0/);
  await run('shutdown');
  assert.match(read('/etc/systemd/network/10-keel-GigabitEthernet2.network'), /ActivationPolicy=down/);
  await run('no shutdown');
  assert.match(read('/etc/systemd/network/10-keel-GigabitEthernet2.network'), /ActivationPolicy=up/);
  assert.match(commands(), /networkctl reload/);
  await run('exit', 'interface gi1');
  assert.match(await run('ip address 203.0.113.10 255.255.255.0'), /gateway-in-subnet/);
  await run('ip address 203.0.113.10 255.255.255.0 default-gateway 203.0.113.1');
  assert.equal(store.running()!.config.network.gateway, '203.0.113.1');
  assert.match(read('/etc/systemd/network/10-keel-GigabitEthernet1.network'), /Gateway=203\.0\.113\.1/);
  assert.match(await run('exit', 'interface gi3'), /\(nic-present\): GigabitEthernet3 is not present/);
  assert.match(await run('do show interfaces'), /GigabitEthernet2 is up, line protocol is unknown\n {2}Hardware: PCI 0000:00:04\.0/);
});

test('routes, name servers, domain, NTP, time zone, SSH, banner, System Manager port, company', async (t) => {
  const { run, read, store, root } = await setup(t);
  await run('configure terminal');
  assert.equal(await run('ip route 10.0.0.0 255.0.0.0 192.0.2.254'), '');
  assert.match(read('/etc/systemd/network/10-keel-GigabitEthernet1.network'), /\[Route\]\nDestination=10\.0\.0\.0\/8\nGateway=192\.0\.2\.254/);
  await run('no ip route 10.0.0.0 255.0.0.0 192.0.2.254');
  assert.doesNotMatch(read('/etc/systemd/network/10-keel-GigabitEthernet1.network'), /\[Route\]/);
  await run('ip name-server 192.0.2.53 192.0.2.54 192.0.2.55', 'ip domain-name corp.example.com');
  assert.match(read('/etc/resolv.conf'), /search corp\.example\.com\nnameserver 192\.0\.2\.53\nnameserver 192\.0\.2\.54\nnameserver 192\.0\.2\.55/);
  await run('no ip domain-name');
  assert.match(read('/etc/resolv.conf'), /search example\.com/);
  await run('ntp server pool.ntp.org');
  assert.match(read('/etc/chrony/chrony.conf'), /server pool\.ntp\.org iburst/);
  await run('no ntp server 192.0.2.123');
  assert.doesNotMatch(read('/etc/chrony/chrony.conf'), /192\.0\.2\.123/);
  await run('no ntp');
  assert.deepEqual(store.running()!.config.ntp, { enabled: false, servers: [] });
  await run('clock timezone Europe/Berlin');
  assert.equal(fs.readlinkSync(path.join(root, 'etc/localtime')), '/usr/share/zoneinfo/Europe/Berlin');
  assert.match(await run('do show clock'), /\(Europe\/Berlin\)/);
  await run('ip ssh server port 2222');
  assert.match(read('/etc/keel/ssh.env'), /KEEL_SSH_ENABLED=yes\nKEEL_SSH_PORT=2222/);
  assert.match(read('/etc/nftables.conf'), /tcp dport 2222 ct state new accept/);
  await run('no ip ssh server');
  assert.match(read('/etc/keel/ssh.env'), /KEEL_SSH_ENABLED=no/);
  await run('banner login "Authorized use only. \\"Really\\"."');
  assert.equal(store.running()!.config.ssh.banner, 'Authorized use only. "Really".');
  assert.match(await run('do show running-config | include banner'), /^banner login "Authorized use only\. \\"Really\\"\."\n$/);
  await run('no banner login');
  assert.equal(store.running()!.config.ssh.banner, undefined);
  await run('ip http secure-server port 9443');
  assert.match(read('/etc/nftables.conf'), /tcp dport 9443/);
  await run('company name "New Corp"', 'company contact Bob', 'company contact-email bob@example.com');
  assert.deepEqual([store.running()!.config.system.company, store.running()!.config.system.contact, store.running()!.config.system.contactEmail], ['New Corp', 'Bob', 'bob@example.com']);
});

test('users and the enable secret are stored only as hashes; the secret 9 form round-trips', async (t) => {
  const { run, store, s } = await setup(t);
  await run('configure terminal', 'username bob role operator password Bobpassw0rd');
  const bob = store.running()!.config.users.local.find((u) => u.name === 'bob')!;
  assert.equal(bob.role, 'operator');
  assert.ok(await verifySecret('Bobpassw0rd', bob.passwordHash));
  assert.doesNotMatch(JSON.stringify(store.running()), /Bobpassw0rd/);
  assert.doesNotMatch(JSON.stringify(store.revisions()), /Bobpassw0rd/);
  assert.ok(!s.history.some((h) => h.includes('Bobpassw0rd')), 'history is redacted');
  await run('username bob role admin');
  assert.equal(store.running()!.config.users.local[1].role, 'admin');
  await run('enable secret Secret77');
  assert.ok(await verifySecret('Secret77', store.running()!.config.users.enableSecretHash));
  const h = quickHash('Other123');
  await run(`enable secret 9 ${h}`, `username carol role operator secret 9 ${h}`);
  assert.equal(store.running()!.config.users.enableSecretHash, h);
  assert.equal(store.running()!.config.users.local[2].passwordHash, h);
  const users = await run('do show users');
  assert.match(users, /\* admin +admin/);
  assert.match(users, /carol +operator/);
  assert.doesNotMatch(users, /scrypt/);
  await run('username dan role operator password "My Passw0rd"');
  assert.ok(await verifySecret('My Passw0rd', store.running()!.config.users.local[3].passwordHash), 'a quoted password may hold spaces');
  await run('no username dan');
  await run('no username carol');
  assert.equal(store.running()!.config.users.local.length, 2);
  // your own password: at most one change per 24 hours (seed 004)
  assert.equal(await run('username admin password Newpassw0rd'), '');
  assert.ok(await verifySecret('Newpassw0rd', store.running()!.config.users.local[0].passwordHash));
  assert.match(await run('username admin password Other0passw'), /% Invalid username admin password \(password-age\): your own password can be changed at most once per 24 hours/);
});

test('an apply failure prints the error and keeps the previous running configuration', async (t) => {
  const { run, store, read, proc } = await setup(t);
  proc.failures.set('networkctl reload', { code: 1, stdout: '', stderr: 'networkd is down' });
  await run('configure terminal');
  const o = await run('ip route 10.0.0.0 255.0.0.0 192.0.2.254');
  assert.match(o, /% Apply failed; the previous configuration is still running\.\n% command failed: `networkctl reload` exited 1: networkd is down/);
  assert.equal(store.running()!.revision, 1);
  assert.doesNotMatch(read('/etc/systemd/network/10-keel-GigabitEthernet1.network'), /\[Route\]/);
  assert.match(store.auditLog()[0].outcome, /^failed, previous configuration kept/);
});

test('read-only users are refused state-changing commands', async (t) => {
  const { run, store } = await setup(t, { role: 'operator' });
  assert.match(await run('configure terminal'), /% Permission denied: admin has the operator role \(read only\)/);
  assert.match(await run('write memory'), /Permission denied/);
  assert.match(await run('service chrony restart'), /Permission denied/);
  assert.match(await run('show running-config'), /enable secret 9 <redacted>/);
  assert.ok(store.auditLog().some((e) => e.outcome === 'refused: read-only role'));
});

test('show commands', async (t) => {
  const { run } = await setup(t);
  assert.match(await run('show version'), /^Keel appliance software, version \d+\.\d+\.\d+/);
  assert.match(await run('show running-config'), /^! running-config, revision 1\nhostname core\.example\.com\n/);
  assert.match(await run('show ip route'), /Gateway of last resort is 192\.0\.2\.1[\s\S]*C {5}192\.0\.2\.0\/24 is directly connected, GigabitEthernet1/);
  assert.match(await run('show ntp'), /NTP is enabled \(chrony\); servers: 192\.0\.2\.123/);
  assert.match(await run('show clock'), /^\d\d:\d\d:\d\d\.\d{3} UTC \w{3} \w{3} \d\d \d{4}\n$/);
  assert.match(await run('show interfaces'), /GigabitEthernet1 is up[\s\S]*Internet address is 192\.0\.2\.10\/24/);
  assert.match(await run('show logging audit'), /admin@test: apply: initial \(revision 1\) -> ok/);
  assert.match(await run('show logging'), /^% This sandbox has no journal/, 'show logging is the system log; a sandbox root has none of its own');
  assert.match(await run('show archive'), /RS +1 .* admin +test +initial/);
  assert.match(await run('show archive 1'), /Revision 1, .* initial/);
  assert.match(await run('show history'), /show version/);
  assert.equal(await run('show running-config | include ^hostname'), 'hostname core.example.com\n');
  assert.match(await run('show running-config | begin ^interface'), /^interface GigabitEthernet1\n ip address/);
});

test('show tech-support shows and writes a bundle with every secret redacted', async (t) => {
  const { run, root, store } = await setup(t);
  const o = await run('show tech-support');
  const m = /Support bundle written to (\/var\/lib\/keel\/support\/tech-support-\S+\.txt)/.exec(o);
  assert.ok(m, o);
  const file = path.join(root, m[1]);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const text = fs.readFileSync(file, 'utf8');
  for (const sec of ['show version', 'show running-config', 'show startup-config', 'show interfaces', 'show ip route', 'show logging last 500', 'show logging audit', 'commands run by Keel \\(last 200\\)']) assert.match(text, new RegExp(`-- ${sec} --`));
  assert.match(text, /enable secret 9 <redacted>/);
  assert.doesNotMatch(text, /\$scrypt\$/);
  // The same text is shown in the session (as IOS does), redacted as well.
  assert.ok(o.startsWith(text.trimEnd()), 'the session shows the bundle');
  assert.doesNotMatch(o, /\$scrypt\$/);
  assert.ok(store.auditLog().some((e) => e.action === 'cli: show tech-support' && e.outcome.startsWith('ok: /var/lib/keel/support/')));
});

test('write memory, then show startup-config; copy running-config startup-config', async (t) => {
  const { run, store } = await setup(t);
  await run('configure terminal', 'hostname saved.example.com', 'end');
  assert.match(await run('show startup-config'), /hostname core\.example\.com/);
  assert.equal(await run('write memory'), 'Building configuration...\n[OK]\n');
  assert.match(await run('show startup-config'), /^! startup-config, revision 2\nhostname saved\.example\.com/);
  assert.equal(store.unsaved(), false);
  await run('conf t', 'hostname again.example.com', 'end', 'copy running-config startup-config');
  assert.equal(store.startup()!.config.system.hostname, 'again.example.com');
});

test('archive: rollback N applies an old revision as a new revision', async (t) => {
  const { run, store, read } = await setup(t);
  await run('configure terminal', 'hostname two.example.com', 'hostname three.example.com', 'end');
  assert.equal(store.running()!.revision, 3);
  assert.match(await run('rollback 1'), /Configuration replaced with revision 1 \(now running as revision 4\)/);
  assert.equal(read('/etc/hostname'), 'core.example.com\n');
  assert.match(store.revisions()[0].diff, /-hostname three\.example\.com\n\+hostname core\.example\.com/);
  await run('configure replace revision 2');
  assert.equal(store.running()!.config.system.hostname, 'two.example.com');
  assert.equal(await run('rollback 99'), '% There is no revision 99\n');
});

test('reload: asks to save when modified, then to proceed; reboots through systemctl', async (t) => {
  const { run, answers, store, proc, s } = await setup(t);
  await run('configure terminal', 'hostname r.example.com', 'end');
  answers.push('maybe');
  assert.match(await run('reload'), /System configuration has been modified\. Save\? \[yes\/no\]: % Please answer yes or no\. Reload cancelled\./);
  answers.push('yes', 'n');
  assert.match(await run('reload'), /\[OK\]\nProceed with reload\? \[confirm\]Reload cancelled\./);
  assert.equal(store.unsaved(), false);
  assert.ok(!proc.recorded.includes('systemctl reboot'));
  answers.push('');
  const o = await run('reload');
  assert.doesNotMatch(o, /modified/);
  assert.match(o, /Reloading/);
  assert.ok(proc.recorded.includes('systemctl reboot'));
  assert.equal(s.closed, true);
});

test('ping, traceroute (the applier\'s diagnose) and service run through host.proc with checked arguments', async (t) => {
  const { run, proc, store } = await setup(t);
  await run('ping 192.0.2.1', 'traceroute core.example.com max-hops 5', 'service chrony restart', 'service keel-serve status', 'service nft stop');
  assert.deepEqual(proc.recorded.slice(-5), ['ping -n -c 4 -W 2 192.0.2.1', 'traceroute -n -m 5 -w 2 core.example.com', 'systemctl restart chrony.service', 'systemctl status --no-pager --lines=5 keel-serve.service', 'systemctl stop nftables.service']);
  await run('ping 2001:db8::1 repeat 10');
  assert.equal(proc.recorded.at(-1), 'ping -n -c 10 -W 2 2001:db8::1');
  assert.match(await run('ping 192.0.2.1 repeat 11'), /\(count\): must be a number from 1 to 10/);
  assert.match(await run('traceroute 192.0.2.1 max-hops 31'), /\(max-hops\): must be a number from 1 to 30/);
  assert.ok(store.auditLog().some((e) => e.action === 'cli: ping 192.0.2.1' && e.outcome.startsWith('ok')));
  assert.match(await run('ping ;reboot'), /\(host\)/);
  assert.match(await run('service ssh restart'), /\(service\)/);
  assert.ok(store.auditLog().some((e) => e.action === 'cli: service chrony restart' && e.outcome === 'ok'));
});

test('round trip: show running-config loaded onto a fresh configuration reproduces it', async (t) => {
  const { host, store } = await setup(t);
  const rich = configured();
  rich.system.company = 'Quote "Corp" \\ Ltd';
  rich.users.local.push({ name: 'ops', passwordHash: quickHash('Opspassw0rd'), passwordChangedAt: '2026-02-01T00:00:00.000Z', role: 'operator' });
  rich.network.interfaces.push({ name: 'GigabitEthernet2', address: '198.51.100.5', netmask: '255.255.255.128', enabled: false });
  rich.network.routes.push({ destination: '10.0.0.0', netmask: '255.0.0.0', via: '192.0.2.254' }, { destination: '172.16.0.0', netmask: '255.240.0.0', via: '198.51.100.1' });
  rich.dns = { servers: ['192.0.2.53', '192.0.2.54'], domain: 'corp.example.com' };
  rich.ntp = { enabled: true, servers: ['pool.ntp.org', '192.0.2.123'] };
  rich.clock.timezone = 'Europe/Berlin';
  rich.ssh = { enabled: true, port: 2222, banner: 'Authorized use only' };
  rich.webui.port = 9443;
  const script = toScript(rich);
  // every line the CLI prints is a line the CLI accepts
  let mode: 'config' | 'config-if' = 'config';
  for (const line of script) {
    if (line === '!' || line === 'end') continue;
    const p = parse(rootsFor(mode), line);
    const q = p.ok ? p : parse(rootsFor('config'), line);
    assert.ok(q.ok, `${line}: ${q.ok ? '' : q.lines.join(' ')}`);
    mode = line.startsWith('interface ') ? 'config-if' : line.startsWith(' ') ? mode : 'config';
  }
  const fresh = configured();
  const r = await scriptToConfig(host, store, script, fresh);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(toScript(r.config!), script);
  // the output of show running-config itself (with its comment header) loads the same way
  const s = new Session({ host, store, user: { name: 'admin', role: 'admin' }, source: 'test', privileged: true, io: { write: () => {}, ask: async () => '' } });
  await applyConfig(host, store, rich, { who: 'admin', source: 'test' }, 'rich');
  let shown = '';
  await new Session({ host, store, user: s.user, source: 'test', privileged: true, io: { write: (x) => void (shown += x), ask: async () => '' } }).execute('show running-config');
  const again = await scriptToConfig(host, store, shown.split('\n'), fresh);
  assert.deepEqual(again.errors, []);
  assert.deepEqual(toScript(again.config!), script);
  // a broken script names the line and the rule
  const broken = await scriptToConfig(host, store, ['hostname nope', 'ip route 1.2.3.4'], fresh);
  assert.equal(broken.config, null);
  assert.match(broken.errors[0], /^line 1: hostname nope\n.*\(fqdn\)/s);
  assert.match(broken.errors[1], /^line 2: .*\n% Incomplete command\./s);
});

test('fuzz: a session answers thousands of random lines and never throws', async (t) => {
  const { s, store } = await setup(t);
  const words = ['show', 'sh', 'run', 'no', 'ip', 'route', 'interface', 'gi2', 'exit', 'end', 'configure', 'terminal', 'conf', 't', 'do', 'write', 'hostname', 'x.example.com', '|', 'include', 'i', '?', '"', '192.0.2.1', '255.0.0.0', 'shutdown', 'ntp', 'server', 'banner', 'login', 'archive', 'clock', 'version', 'username', 'zed', 'role', 'operator', 'password', 'Zpassw0rd1', 'rollback', '1', 'é', '\u0001'];
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  // Batch mode: configuration commands edit a candidate, so this stays fast and touches no files.
  s.beginBatch(store.running()!.config);
  let answered = 0;
  const origWrite = s.io.write;
  s.io.write = (x) => {
    answered++;
    origWrite(x);
  };
  for (let i = 0; i < 3000; i++) {
    const n = 1 + Math.floor(rnd() * 6);
    const line =
      i % 5 === 4
        ? Array.from({ length: n * 4 }, () => String.fromCharCode(Math.floor(rnd() * 0x300))).join('')
        : Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(' ');
    if (/\brel/.test(line)) continue;
    await s.execute(line);
    if (s.closed) s.closed = false;
  }
  assert.ok(answered > 1000);
});

test('username NAME first-name / last-name / email / edipi: the seed\'s user record, kept across a password change, in the running-config', async (t) => {
  const { run, store } = await setup(t);
  await run('configure terminal');
  assert.equal(await run('username alice role operator password Wonder1and'), '');
  assert.equal(await run('username alice first-name Alice Mary'), '');
  assert.equal(await run('username alice last-name Liddell'), '');
  assert.equal(await run('username alice email alice@example.com'), '');
  assert.equal(await run('username alice edipi 1234567890'), '');
  assert.match(await run('username alice edipi 12345'), /% Invalid edipi \(edipi\): must be exactly 10 digits, like 1234567890/);
  assert.match(await run('username nobody email n@example.com'), /there is no user nobody/);
  await run('username alice password Wonder2land');
  await run('end');
  const u = store.running()!.config.users.local.find((x) => x.name === 'alice')!;
  assert.deepEqual([u.firstName, u.lastName, u.email, u.edipi], ['Alice Mary', 'Liddell', 'alice@example.com', '1234567890'], 'a password change keeps the record');
  const cfg = await run('show running-config | include ^username alice');
  assert.match(cfg, /^username alice first-name "Alice Mary"$/m);
  assert.match(cfg, /^username alice last-name Liddell$/m);
  assert.match(cfg, /^username alice email alice@example\.com$/m);
  assert.match(cfg, /^username alice edipi 1234567890$/m);
  await run('configure terminal');
  await run('no username alice edipi');
  await run('end');
  assert.equal(store.running()!.config.users.local.find((x) => x.name === 'alice')!.edipi, undefined);
});

test('hostname: when System Manager\'s certificate does not name the new hostname, the change says so', async (t) => {
  const { run, host } = await setup(t);
  const cert = await makeSelfSigned('core.example.com');
  host.files.writeAtomic(WEBUI_CERT_PATH, cert.certPem);
  host.files.writeAtomic(WEBUI_KEY_PATH, cert.keyPem, 0o600);
  await run('configure terminal');
  assert.match(await run('hostname core2.example.com'), /% Note: System Manager's certificate is for core\.example\.com, not core2\.example\.com: browsers will warn\. A new one is made for the new name when System Manager restarts/);
  // An administrator's own certificate is theirs to replace.
  host.files.writeAtomic(WEBUI_SOURCE_PATH, 'uploaded\n');
  assert.match(await run('hostname core3.example.com'), /Make or upload one for the new name under Certificates/);
  assert.equal(await run('hostname core.example.com'), '', 'a certificate that names the hostname: nothing to say');
});
