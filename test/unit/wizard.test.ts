import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { tempRoot, fakeSysfs } from '../helpers/config.ts';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { runInteractive, checkAnswers } from '../../appliance/wizard/main.ts';
import { Q } from '../../appliance/wizard/questions.ts';

const MAIN = path.resolve(import.meta.dirname, '../../appliance/main.ts');

/** The answers of a complete, valid run, in wizard order. */
function goodAnswers(over: Record<string, string[]> = {}): string[] {
  const a: [string, string[]][] = [
    ['showEula', ['yes']],
    ['eula', ['yes']],
    ['company', ['Example Corp']],
    ['contact', ['Jane Admin']],
    ['contactEmail', ['jane@example.com']],
    ['enableSecret', ['Enable123', 'Enable123']],
    ['adminUser', ['admin']],
    ['adminPassword', ['Secret123', 'Secret123']],
    ['interface', ['a']],
    ['address', ['192.0.2.10']],
    ['netmask', ['255.255.255.0']],
    ['gateway', ['192.0.2.1']],
    ['hostname', ['core.example.com']],
    ['nameServers', ['192.0.2.53', '192.0.2.54', '']],
    ['ssh', ['yes']],
    ['ntp', ['yes', '192.0.2.123', '']],
    ['review', ['yes']],
    ['reload', ['reload', 'yes', 'yes']],
  ];
  return a.flatMap(([k, v]) => over[k] ?? v);
}

/** Runs `keel wizard --root ROOT` with the lines on a pipe. */
function wizard(root: string, lines: string[], args: string[] = [], sysfs?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, 'wizard', '--root', root, ...args], { env: { ...process.env, KEEL_LOG: 'silent', ...(sysfs ? { KEEL_SYSFS: sysfs } : {}) } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
    child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  });
}

function setup(t: { after: (fn: () => void) => void }) {
  const root = tempRoot('keel-wizard-');
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}
const nothingWritten = (root: string) => {
  const s = Store.open(createHost(root));
  try {
    assert.equal(s.running(), null);
    assert.equal(s.startup(), null);
  } finally {
    s.close();
  }
  assert.ok(!fs.existsSync(path.join(root, 'etc/hostname')));
  assert.ok(!fs.existsSync(path.join(root, 'var/lib/keel/configured')));
};

test('happy path on a pipe: applies, saves, marks configured, reboots; secrets only as hashes', async (t) => {
  const root = setup(t);
  const r = await wizard(root, goodAnswers());
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Welcome to Keel/);
  assert.match(r.out, /KEEL APPLIANCE SOFTWARE - END USER LICENSE AGREEMENT/);
  assert.match(r.out, /interface GigabitEthernet1\n ip address 192\.0\.2\.10 255\.255\.255\.0/);
  assert.match(r.out, /ip name-server 192\.0\.2\.53 192\.0\.2\.54\n/);
  assert.match(r.out, /ntp server 192\.0\.2\.123\n/);
  assert.match(r.out, /Configuration complete/);
  const s = Store.open(createHost(root));
  const c = s.startup()!.config;
  s.close();
  assert.equal(c.system.hostname, 'core.example.com');
  assert.equal(c.users.local[0].name, 'admin');
  assert.match(c.users.local[0].passwordHash, /^\$scrypt\$/);
  assert.deepEqual(c.ntp, { enabled: true, servers: ['192.0.2.123'] });
  assert.ok(c.ssh.enabled);
  assert.ok(fs.existsSync(path.join(root, 'var/lib/keel/configured')));
  assert.equal(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8'), 'core.example.com\n');
  assert.match(fs.readFileSync(path.join(root, 'etc/systemd/network/10-keel-GigabitEthernet1.network'), 'utf8'), /Address=192\.0\.2\.10\/24/);
  const cmds = fs.readFileSync(path.join(root, 'var/log/keel/commands.log'), 'utf8');
  assert.match(cmds, /systemctl reboot\n$/);
  const db = fs.readFileSync(path.join(root, 'var/lib/keel/keel.db'));
  for (const secret of ['Secret123', 'Enable123']) {
    assert.ok(!r.out.includes(secret), `${secret} echoed`);
    assert.ok(!db.includes(Buffer.from(secret)), `${secret} stored`);
    assert.ok(!cmds.includes(secret));
  }
  // a second run refuses: already configured
  const again = await wizard(root, goodAnswers());
  assert.equal(again.code, 2);
  assert.match(again.out, /already configured/);
});

test('declining the EULA ends the wizard: non-zero, nothing written', async (t) => {
  const root = setup(t);
  const r = await wizard(root, ['yes', 'no']);
  assert.equal(r.code, 3);
  assert.match(r.out, /not accepted/);
  nothingWritten(root);
});

test('end of input before the final yes writes nothing', async (t) => {
  const root = setup(t);
  const all = goodAnswers();
  for (const cut of [5, 20, all.length - 1]) {
    const r = await wizard(root, all.slice(0, cut));
    assert.equal(r.code, 1, `cut at ${cut}`);
    assert.match(r.out, /nothing was written/);
    nothingWritten(root);
  }
});

test('every rule re-asks the same question with a message naming the rule', async (t) => {
  const root = setup(t);
  const r = await wizard(
    root,
    goodAnswers({
      enableSecret: ['abc12', 'a'.repeat(21), 'abc 123', 'Enable123', 'Enable124', 'Enable123', 'Enable123'],
      adminUser: ['root', 'ha_admin', 'Admin1234'],
      adminPassword: ['Secccc123', 'Secretxyz', 'Sec1', 'secret123', 'ADMIN1234', 'Secret123', 'Secret124', 'Secret123', 'Secret123'],
      interface: ['c', 'a'],
      address: ['192.0.2.256', '127.0.0.1', '192.0.2.10'],
      netmask: ['255.0.255.0', '255.255.255.0'],
      gateway: ['198.51.100.1', '192.0.2.10', '192.0.2.1'],
      hostname: ['core', 'core_1.example.com', 'core.local', 'core.example.com'],
      nameServers: ['', '999.1.1.1', '192.0.2.53', ''],
      ntp: ['maybe', 'no', 'yes', '25:00:00', '12:00:00', '31 02 2027', '28 02 2027'],
    }),
  );
  assert.equal(r.code, 0, r.out);
  const expect = [
    /% Invalid enable secret: enable secret must be 6-20 characters \(this one has 5\)/,
    /% Invalid enable secret: enable secret must be 6-20 characters \(this one has 21\)/,
    /% Invalid enable secret: enable secret may contain only letters and digits/,
    /% Invalid enable secret: the two entries do not match/,
    /% Invalid administrator user name: user name "root" is reserved/,
    /% Invalid administrator user name: user name "ha_admin" is reserved/,
    /% Invalid administrator password: password must not repeat a character more than 3 times in a row/,
    /% Invalid administrator password: the two entries do not match/,
    /% Invalid administrator password: password must contain at least one digit/,
    /% Invalid administrator password: password must be at least 8 characters/,
    /% Invalid administrator password: password must contain at least one capital letter/,
    /% Invalid administrator password: password must not be the same as the user name/,
    /% Invalid interface: type a for GigabitEthernet1 or b for GigabitEthernet2/,
    /% Invalid IP address: each octet must be 0-255 \(256 is over 255\)/,
    /% Invalid IP address: must not be a loopback address/,
    /% Invalid netmask: netmask must have contiguous one-bits/,
    /% Invalid default gateway: default gateway 198\.51\.100\.1 must be inside the subnet 192\.0\.2\.0\/24/,
    /% Invalid default gateway: default gateway must not be the interface address itself/,
    /% Invalid external hostname: hostname must be fully qualified/,
    /% Invalid external hostname: hostname label "core_1" may use only letters, digits and hyphens/,
    /% Invalid external hostname: hostname must be an external name; "\.local" is an internal domain/,
    /% Invalid name server: an answer is required/,
    /% Invalid name server: each octet must be 0-255/,
    /% Invalid answer: answer yes or no/,
    /% Invalid time: time must be a real time of day/,
    /% Invalid date: date 31 02 2027 does not exist/,
  ];
  for (const re of expect) assert.match(r.out, re);
  // Re-asked: each wrong answer is followed by the same prompt again.
  assert.equal(r.out.split(Q.hostname.prompt).length - 1, 4);
  assert.equal(r.out.split(Q.enableSecret.prompt).length - 1, 5);
  const s = Store.open(createHost(root));
  const c = s.startup()!.config;
  s.close();
  assert.deepEqual(c.dns.servers, ['192.0.2.53']);
  assert.deepEqual(c.ntp, { enabled: false, servers: [] });
  assert.match(fs.readFileSync(path.join(root, 'var/log/keel/commands.log'), 'utf8'), /date -u -s 2027-02-28 12:00:00/);
});

test('a missing NIC is refused by letter', async (t) => {
  const root = setup(t);
  const sysfs = fakeSysfs(root, 1);
  const r = await wizard(root, goodAnswers({ interface: ['b', 'a'] }), [], sysfs);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /% Invalid interface: GigabitEthernet2 is not present on this machine \(1 network interface found\)/);
});

test('"no" at the review goes round again, keeping answers as defaults', async (t) => {
  const root = setup(t);
  const first = goodAnswers({ review: ['no'], reload: [] });
  // Second round: Enter keeps each default; `none` removes an optional server; secrets must be typed again.
  const second = [
    '', '', '', 'Enable123', 'Enable123', '', 'Secret123', 'Secret123', '', '', '', '', 'other.example.com',
    '', 'none', // name server 1 kept, name server 2 removed (ends the list)
    '', '', '', '', // ssh, ntp kept; NTP server 1 kept, NTP server 2 blank
    'yes', 'reload', 'yes', 'yes',
  ];
  const r = await wizard(root, [...first, ...second]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Company name \[Example Corp\]: /);
  assert.match(r.out, /Name server 2 \(blank to skip\) \[192\.0\.2\.54\]: /);
  assert.match(r.out, /Enable remote shell via SSH\? \[yes\/no\] \[yes\]: /);
  // the secrets are asked again without a default
  assert.equal(r.out.split(`${Q.enableSecret.prompt.replace(/: $/, '')} [`).length, 1);
  const s = Store.open(createHost(root));
  const c = s.startup()!.config;
  s.close();
  assert.equal(c.system.hostname, 'other.example.com');
  assert.equal(c.system.company, 'Example Corp');
  assert.deepEqual(c.dns.servers, ['192.0.2.53']);
  assert.deepEqual(c.ntp, { enabled: true, servers: ['192.0.2.123'] });
});

test('reload without saving applies but leaves nothing to boot with', async (t) => {
  const root = setup(t);
  const r = await wizard(root, goodAnswers({ reload: ['reboot', 'reload', 'no', 'yes'] }));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /% Invalid command: type reload/);
  const s = Store.open(createHost(root));
  assert.ok(s.running());
  assert.equal(s.startup(), null);
  s.close();
  assert.ok(!fs.existsSync(path.join(root, 'var/lib/keel/configured')));
});

test('secrets are read without echo on a TTY, with backspace and Ctrl-C', async (t) => {
  const root = setup(t);
  const host = createHost(root);
  const input = Object.assign(new PassThrough(), { isTTY: true, raw: false, setRawMode(this: { raw: boolean }, v: boolean) { this.raw = v; return this; } });
  const output = Object.assign(new PassThrough(), { isTTY: true, rows: 10 });
  let out = '';
  output.on('data', (d) => (out += d));
  const done = runInteractive(host, "test", { input: input as never, output: output as never });
  const send = async (s: string, waitFor: RegExp) => {
    for (let i = 0; i < 200 && !waitFor.test(out); i++) await new Promise((r) => setTimeout(r, 5));
    input.write(s);
  };
  await send('yes\n', /Type yes to display/);
  for (let i = 0; i < 5 && !/Do you accept/.test(out); i++) await send('\n', /--More--|Do you accept/);
  await send('yes\n', /Do you accept/);
  await send('Acme\n', /Company name: $/);
  await send('Jo\n', /Contact person: $/);
  await send('jo@example.com\n', /Contact email: $/);
  await send('Enable12x\x7f3\r', /Enter enable secret/);
  await send('\x03', /Confirm enable secret: $/);
  assert.equal(await done, 130);
  assert.ok(!out.includes('Enable12'), 'secret echoed');
  assert.match(out, /--More--/, 'paged on a TTY');
  nothingWritten(root);
});

test('answers file: same rules, every bad field named, nothing written', async (t) => {
  const root = setup(t);
  const good = {
    eula: 'yes', company: 'Example Corp', contact: 'Jane', contactEmail: 'jane@example.com', enableSecret: 'Enable123', adminUser: 'admin', adminPassword: 'Secret123',
    interface: 'a', address: '192.0.2.10', netmask: '255.255.255.0', gateway: '192.0.2.1', hostname: 'core.example.com', nameServers: ['192.0.2.53'], ssh: 'no', ntp: 'yes', ntpServers: ['pool.example.com'],
  };
  const bad = { ...good, adminUser: 'ha_admin', netmask: '255.255.0.255', hostname: 'core', enableSecret: 'abc', eula: 'no' };
  const badFile = path.join(root, 'bad.json');
  fs.writeFileSync(badFile, JSON.stringify(bad));
  const r = await wizard(root, [], ['--answers', badFile]);
  assert.equal(r.code, 2);
  for (const f of ['eula (eula-accepted)', 'adminUser (user-name)', 'netmask (netmask)', 'hostname (fqdn)', 'enableSecret (enable-secret)']) assert.ok(r.out.includes(`% Invalid ${f}`), f);
  nothingWritten(root);
  const probs = checkAnswers({ ...good, gateway: '198.51.100.1' }, createHost(root)).problems;
  assert.deepEqual(probs.map((p) => `${p.field}:${p.rule}`), ['gateway:gateway-in-subnet']);
  const goodFile = path.join(root, 'good.json');
  fs.writeFileSync(goodFile, JSON.stringify(good));
  const ok = await wizard(root, [], ['--answers', goodFile]);
  assert.equal(ok.code, 0, ok.out);
  assert.ok(fs.existsSync(path.join(root, 'var/lib/keel/configured')));
  assert.doesNotMatch(fs.readFileSync(path.join(root, 'var/log/keel/commands.log'), 'utf8'), /reboot/, 'reload not asked for');
});
