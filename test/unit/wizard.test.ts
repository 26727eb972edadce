import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { tempRoot, fakeSysfs } from '../helpers/config.ts';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { runInteractive, checkAnswers } from '../../appliance/wizard/main.ts';
import { Q, QUESTIONS, MORE_PROMPT } from '../../appliance/wizard/questions.ts';
import { toScript } from '../../appliance/config/script.ts';
import { check } from '../../appliance/config/schema.ts';
import { verifySecret } from '../../appliance/users/secrets.ts';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';

const MAIN = path.resolve(import.meta.dirname, '../../bin/main.ts');

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

function setup(t: TestContext) {
  const root = tempRoot('keel-wizard-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  return root;
}
const nothingWritten = (root: string) => {
  // Not even an empty store or a recorded command.
  assert.ok(!fs.existsSync(path.join(root, 'var/lib/keel/keel.db')), 'store created');
  assert.ok(!fs.existsSync(path.join(root, 'var/log/keel/commands.log')), 'commands run');
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
  assert.deepEqual(check(c), []);
  // The review is exactly the command script of what was saved, hashes as `secret 9 <hash>`.
  const review = r.out.slice(0, r.out.indexOf(Q.save.prompt));
  assert.ok(review.includes(`\n${toScript(c).join('\n')}\n`), 'review shows toScript(config)');
  assert.match(review, /enable secret 9 \$scrypt\$/);
  assert.match(review, /username admin role admin secret 9 \$scrypt\$/);
  assert.ok(r.out.indexOf('Configuration complete') > r.out.indexOf(Q.save.prompt));
  assert.ok(r.out.indexOf(Q.reloadSave.prompt) < r.out.indexOf(Q.proceed.prompt));
  assert.equal(c.system.hostname, 'core.example.com');
  assert.equal(c.system.contact, 'Jane Admin');
  assert.equal(c.users.local[0].role, 'admin');
  assert.ok(await verifySecret('Secret123', c.users.local[0].passwordHash));
  assert.ok(await verifySecret('Enable123', c.users.enableSecretHash));
  assert.deepEqual(c.network, { interfaces: [{ name: 'GigabitEthernet1', address: '192.0.2.10', netmask: '255.255.255.0', enabled: true }], gateway: '192.0.2.1', routes: [] });
  assert.deepEqual(c.dns.servers, ['192.0.2.53', '192.0.2.54']);
  assert.deepEqual([c.clock, c.ssh, c.webui], [{ timezone: 'UTC' }, { enabled: true, port: 22 }, { port: 8443 }]);
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
      ssh: ['sure', 'N'],
      ntp: ['maybe', 'no', 'Y', '25:00:00', '12:00:00', '31 02 2027', '28 02 2027'],
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
  assert.equal(c.ssh.enabled, false);
  assert.equal(c.users.local[0].name, 'Admin1234');
  // NTP no + set clock: after the final yes, through the processes adapter, after apply and before the reboot.
  const cmds = fs.readFileSync(path.join(root, 'var/log/keel/commands.log'), 'utf8').split('\n').map((l) => l.replace(/^\S+ /, ''));
  const at = (c: string) => cmds.findIndex((l) => l.startsWith(c));
  assert.ok(at('date -u -s 2027-02-28 12:00:00') > at('networkctl reload'));
  assert.ok(at('hwclock --systohc') > at('date -u -s'));
  assert.ok(at('systemctl reboot') > at('hwclock --systohc'));
  const db = fs.readFileSync(path.join(root, 'var/lib/keel/keel.db'));
  for (const secret of ['Enable123', 'Enable124', 'Secret123', 'Secret124', 'Secccc123', 'abc12']) {
    assert.ok(!r.out.includes(secret), `${secret} in the output`);
    assert.ok(!db.includes(Buffer.from(secret)), `${secret} in the DB`);
    assert.ok(!cmds.join('\n').includes(secret), `${secret} in commands.log`);
  }
});

test('the question table: ids unique, prompts end with ": " and are unique, ids match their keys', () => {
  const ids = QUESTIONS.map((q) => q.id);
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(new Set(QUESTIONS.map((q) => q.prompt)).size, ids.length);
  for (const [k, q] of Object.entries(Q)) {
    assert.equal(k, q.id);
    assert.match(q.prompt, /: $/, q.id);
  }
  assert.deepEqual(ids.slice(0, 8), ['showEula', 'eula', 'company', 'contact', 'contactEmail', 'enableSecret', 'enableSecretConfirm', 'adminUser']);
});

test('NTP off without setting the clock runs no clock command', async (t) => {
  const root = setup(t);
  const r = await wizard(root, goodAnswers({ ntp: ['no', 'no'] }));
  assert.equal(r.code, 0, r.out);
  const cmds = fs.readFileSync(path.join(root, 'var/log/keel/commands.log'), 'utf8');
  assert.doesNotMatch(cmds, /date -u -s|hwclock/);
  assert.match(r.out, /\nno ntp\n/);
});

/** Runs the wizard in this process on a pipe (not a TTY) with these lines; returns the code and output. */
async function inProcess(host: ReturnType<typeof createHost>, lines: string[]): Promise<{ code: number; out: string }> {
  const input = new PassThrough();
  const output = new PassThrough();
  let out = '';
  output.on('data', (d) => (out += d));
  input.end(lines.map((l) => `${l}\n`).join(''));
  const code = await runInteractive(host, 'test', { input, output });
  return { code, out };
}

test('a failed apply is reported with command, exit code and stderr; nothing saved, no marker, no reboot', async (t) => {
  const root = setup(t);
  const host = createHost(root);
  (host.proc as SandboxProcesses).failures.set('networkctl reload', { code: 3, stdout: '', stderr: 'Failed to reload network settings: boom' });
  const r = await inProcess(host, goodAnswers());
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /% The configuration could not be applied: command failed: `networkctl reload` exited 3/);
  assert.match(r.out, /exit code: 3/);
  assert.match(r.out, /stderr: Failed to reload network settings: boom/);
  assert.match(r.out, /the previous state is unchanged/);
  const s = Store.open(host);
  try {
    assert.equal(s.running(), null);
    assert.equal(s.startup(), null);
    assert.match(s.auditLog()[0].outcome, /^failed, previous configuration kept/);
  } finally {
    s.close();
  }
  assert.ok(!fs.existsSync(path.join(root, 'var/lib/keel/configured')));
  assert.ok(!fs.existsSync(path.join(root, 'var/lib/keel/wizard.lock')), 'lock released');
  assert.ok(!fs.existsSync(path.join(root, 'etc/hostname')), 'rendered files restored');
  assert.ok(!(host.proc as SandboxProcesses).recorded.includes('systemctl reboot'));
});

test('a lock held by a live process on another console stops the commit; a stale lock is taken over', async (t) => {
  const root = setup(t);
  const host = createHost(root);
  host.files.mkdirp('/var/lib/keel', 0o700);
  const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  // A live process that is not us (our parent) holds it: the commit is refused, nothing written.
  host.files.writeAtomic('/var/lib/keel/wizard.lock', `${process.ppid} ${bootId}\n`);
  const r = await inProcess(host, goodAnswers());
  assert.equal(r.code, 4, r.out);
  assert.match(r.out, /being configured on another console/);
  assert.ok(!fs.existsSync(path.join(root, 'var/lib/keel/configured')));
  // Left by a dead process (or an earlier boot): taken over.
  host.files.writeAtomic('/var/lib/keel/wizard.lock', `${process.ppid} not-this-boot\n`);
  const ok = await inProcess(host, goodAnswers());
  assert.equal(ok.code, 0, ok.out);
  assert.ok(fs.existsSync(path.join(root, 'var/lib/keel/configured')));
  assert.ok(!fs.existsSync(path.join(root, 'var/lib/keel/wizard.lock')));
});

test('elsewhere check: another console finishing first stops this wizard at its next step', async (t) => {
  const root = setup(t);
  const host = createHost(root);
  const input = new PassThrough();
  const output = new PassThrough();
  let out = '';
  output.on('data', (d) => (out += d));
  let other = false;
  const done = runInteractive(host, 'test', { input, output, elsewhere: () => (other ? 'the appliance was configured on another console' : null) });
  input.write('yes\nyes\nExample Corp\n');
  for (let i = 0; i < 200 && !out.includes(Q.contact.prompt); i++) await new Promise((r) => setTimeout(r, 5));
  other = true;
  input.write('Jane\n');
  assert.equal(await done, 4);
  assert.match(out, /% This wizard stops: the appliance was configured on another console/);
  assert.ok(!out.includes(Q.contactEmail.prompt));
  nothingWritten(root);
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
  assert.match(r.out, /Enable remote shell via SSH\? \(yes\/no\) \[yes\]: /, "the default shown once, in brackets");
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

/** A fake TTY pair for in-process runs: raw mode is recorded. */
function fakeTty(rows = 10, columns = 80) {
  const input = Object.assign(new PassThrough(), { isTTY: true, raw: false, setRawMode(this: { raw: boolean }, v: boolean) { this.raw = v; return this; } });
  const output = Object.assign(new PassThrough(), { isTTY: true, rows, columns });
  const state = { out: '' };
  output.on('data', (d) => (state.out += d));
  /** Waits for `re` in the output (after `from`), then types `s`. */
  const type = async (re: RegExp | string, s: string) => {
    for (let i = 0; i < 400; i++) {
      if (typeof re === 'string' ? state.out.endsWith(re) : re.test(state.out)) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    input.write(s);
  };
  return { input, output, state, type };
}

test('a whole run on a TTY: EULA paged to the terminal size, secrets in raw mode with backspace and arrow keys, nothing echoed', async (t) => {
  const root = setup(t);
  const host = createHost(root);
  const tty = fakeTty(10, 80);
  const done = runInteractive(host, 'test', { input: tty.input as never, output: tty.output as never });
  await tty.type(Q.showEula.prompt, 'y\n');
  let pages = 0;
  for (;;) {
    for (let i = 0; i < 400 && !tty.state.out.endsWith(MORE_PROMPT) && !tty.state.out.endsWith(Q.eula.prompt); i++) await new Promise((r) => setTimeout(r, 5));
    if (tty.state.out.endsWith(Q.eula.prompt)) break;
    pages++;
    // A screenful is at most rows - 1 lines before each --More--.
    const body = tty.state.out.slice(tty.state.out.lastIndexOf(Q.showEula.prompt) + Q.showEula.prompt.length, -MORE_PROMPT.length);
    const chunk = body.split(MORE_PROMPT).pop()!;
    assert.equal(chunk.split('\n').length - 1, 9, `page ${pages}: ${JSON.stringify(chunk)}`);
    const before = tty.state.out.length;
    tty.input.write('\n');
    for (let i = 0; i < 400 && tty.state.out.length === before; i++) await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(pages >= 3, `paged ${pages} times`);
  const answers: [{ prompt: string; secret?: boolean }, string][] = [
    [Q.eula, 'YES\n'],
    [Q.company, 'Acme\n'],
    [Q.contact, 'Jo\n'],
    [Q.contactEmail, 'jo@example.com\n'],
    [Q.enableSecret, 'Enable12x\x7f3\x1b[D\r'],
    [Q.enableSecretConfirm, 'Enable123\r'],
    [Q.adminUser, 'admin\n'],
    [Q.adminPassword, 'Secret123\x1bOA\r'],
    [Q.adminPasswordConfirm, 'Secret123\r'],
    [Q.interface, 'a\n'],
    [Q.address, '192.0.2.10\n'],
    [Q.netmask, '255.255.255.0\n'],
    [Q.gateway, '192.0.2.1\n'],
    [Q.hostname, 'core.example.com\n'],
    [Q.nameServer1, '192.0.2.53\n'],
    [Q.nameServer2, '\n'],
    [Q.ssh, 'n\n'],
    [Q.ntp, 'y\n'],
    [Q.ntpServer1, 'ntp.example.com\n'],
    [Q.ntpServer2, '\n'],
    [Q.save, 'yes\n'],
    [Q.reload, 'reload\n'],
    [Q.reloadSave, 'yes\n'],
    [Q.proceed, 'yes\n'],
  ];
  for (const [q, a] of answers) {
    await tty.type(q.prompt, '');
    // Raw mode exactly while a secret is read (so it is not echoed), line mode otherwise.
    assert.equal(tty.input.raw, Boolean(q.secret), `raw mode at ${q.prompt}`);
    tty.input.write(a);
  }
  assert.equal(await done, 0, tty.state.out);
  assert.ok(!/Enable12|Secret12/.test(tty.state.out), 'a secret was echoed');
  const s = Store.open(host);
  const c = s.startup()!.config;
  s.close();
  assert.ok(await verifySecret('Enable123', c.users.enableSecretHash), 'backspace and the arrow key were handled');
  assert.ok(await verifySecret('Secret123', c.users.local[0].passwordHash));
  assert.deepEqual(c.ntp, { enabled: true, servers: ['ntp.example.com'] });
});

test('Ctrl-D at a secret prompt on a TTY ends the wizard: exit 1, nothing written', async (t) => {
  const root = setup(t);
  const tty = fakeTty();
  const done = runInteractive(createHost(root), 'test', { input: tty.input as never, output: tty.output as never });
  await tty.type(Q.showEula.prompt, 'yes\n');
  for (let i = 0; i < 5 && !tty.state.out.endsWith(Q.eula.prompt); i++) await tty.type(new RegExp(`${MORE_PROMPT.replace(/[()]/g, '.')}$|Do you accept`), '\n');
  await tty.type(Q.eula.prompt, 'yes\n');
  await tty.type(Q.company.prompt, 'Acme\n');
  await tty.type(Q.contact.prompt, 'Jo\n');
  await tty.type(Q.contactEmail.prompt, 'jo@example.com\n');
  await tty.type(Q.enableSecret.prompt, '\x04');
  assert.equal(await done, 1);
  assert.match(tty.state.out, /End of input before the configuration was confirmed: nothing was written/);
  nothingWritten(root);
});

test('answers file keyed by question ids: name/NTP servers one by one, set clock, reload reboots', async (t) => {
  const root = setup(t);
  const file = path.join(root, 'answers.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      showEula: 'yes', eula: 'yes', company: 'Example Corp', contact: 'Jane', contactEmail: 'jane@example.com',
      enableSecret: 'Enable123', enableSecretConfirm: 'Enable123', adminUser: 'admin', adminPassword: 'Secret123', adminPasswordConfirm: 'Secret123',
      interface: 'b', address: '198.51.100.7', netmask: '255.255.255.128', gateway: '198.51.100.1', hostname: 'core.example.net',
      nameServer1: '198.51.100.53', nameServer2: '198.51.100.54', ssh: true, ntp: 'no', setClock: 'yes', time: '23:59:59', date: '29 02 2028',
      save: 'yes', reloadSave: 'yes', reload: 'yes', proceed: 'yes',
    }),
  );
  const r = await wizard(root, [], ['--answers', file], fakeSysfs(root, 2));
  assert.equal(r.code, 0, r.out);
  assert.ok(!r.out.includes('Secret123') && !r.out.includes('Enable123'));
  const s = Store.open(createHost(root));
  const c = s.startup()!.config;
  s.close();
  assert.equal(c.network.interfaces[0].name, 'GigabitEthernet2');
  assert.deepEqual(c.dns.servers, ['198.51.100.53', '198.51.100.54']);
  assert.equal(c.ssh.enabled, true);
  const cmds = fs.readFileSync(path.join(root, 'var/log/keel/commands.log'), 'utf8');
  assert.match(cmds, /date -u -s 2028-02-29 23:59:59\n.*hwclock --systohc/);
  assert.match(cmds, /systemctl reboot\n$/);
  assert.ok(fs.readFileSync(path.join(root, 'etc/systemd/network/10-keel-GigabitEthernet2.network'), 'utf8').includes('Address=198.51.100.7/25'));
  assert.ok(!fs.readFileSync(path.join(root, 'var/lib/keel/keel.db')).includes(Buffer.from('Secret123')));
});

test('answers file: unknown keys, gaps, mismatched confirmations and wrong-branch answers are named', async (t) => {
  const root = setup(t);
  const host = createHost(root);
  const base = {
    eula: 'yes', company: 'Example Corp', contact: 'Jane', contactEmail: 'jane@example.com', enableSecret: 'Enable123', adminUser: 'admin', adminPassword: 'Secret123',
    interface: 'a', address: '192.0.2.10', netmask: '255.255.255.0', gateway: '192.0.2.1', hostname: 'core.example.com', nameServer1: '192.0.2.53', ssh: 'no', ntp: 'no',
  };
  const probs = (over: Record<string, unknown>) => checkAnswers({ ...base, ...over }, host).problems.map((p) => `${p.field}:${p.rule}`);
  assert.deepEqual(probs({}), []);
  assert.deepEqual(probs({ hostnmae: 'x' }), ['hostnmae:unknown-key']);
  assert.deepEqual(probs({ nameServer3: '192.0.2.55' }), ['nameServer3:list-order']);
  assert.deepEqual(probs({ nameServer1: undefined }), ['nameServer1:required']);
  assert.deepEqual(probs({ nameServers: ['192.0.2.53'] }), ['nameServers:one-form']);
  assert.deepEqual(probs({ adminPasswordConfirm: 'Secret124', enableSecretConfirm: 'Enable123' }), ['adminPasswordConfirm:confirmation']);
  assert.deepEqual(probs({ ntpServer1: 'pool.example.com' }), ['ntpServer1:ntp-on-only']);
  assert.deepEqual(probs({ ntp: 'yes' }), ['ntpServer1:required']);
  assert.deepEqual(probs({ setClock: 'yes', time: '24:00:00', date: '30 02 2027' }), ['time:time', 'date:date']);
  assert.deepEqual(probs({ time: '12:00:00' }), ['time:set-clock-only']);
  assert.deepEqual(probs({ ssh: 'maybe', save: 'no' }), ['ssh:yes-no', 'save:review-accepted']);
  assert.deepEqual(probs({ adminUser: 'root', adminPassword: 'Secret1111' }), ['adminUser:user-name', 'adminPassword:password-policy']);
  assert.deepEqual(probs({ address: '192.0.2.0' }), ['address:host-in-subnet']);
  assert.deepEqual(probs({ hostname: 'core.example.com', interface: 'c' }), ['interface:interface']);
  nothingWritten(root);
});

test('first pass: the password policy is in the prompt, every broken rule is named, defaults are suggested, a broadcast address goes back to the IP question', async (t) => {
  const root = setup(t);
  const r = await wizard(root, goodAnswers({
    adminPassword: ['abc', 'Secret123', 'Secret123'],
    interface: [''],
    address: ['192.0.2.255'],
    netmask: ['', '192.0.2.10', ''],
    gateway: [''],
    ssh: [''],
    ntp: ['no', 'no'],
  }));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Administrator password \(at least 8 characters, with a capital letter and a digit, not the user name\): /);
  assert.match(r.out, /% Invalid administrator password: password must be at least 8 characters; must contain at least one capital letter; must contain at least one digit\n/);
  assert.match(r.out, /\(a: GigabitEthernet1, b: GigabitEthernet2\) \[a\]: /);
  assert.match(r.out, /Netmask \[255\.255\.255\.0\]: /);
  assert.match(r.out, /% Invalid IP address: address 192\.0\.2\.255 is the broadcast address of its subnet \(255\.255\.255\.0\); enter the IP address again\nIP address: /);
  assert.match(r.out, /Default gateway \[192\.0\.2\.1\]: /);
  assert.match(r.out, /Enable remote shell via SSH\? \(yes\/no\) \[yes\]: /);
  assert.doesNotMatch(r.out, /\[yes\/no\]/, 'a default is never shown twice');
  assert.match(r.out, /interface GigabitEthernet1\n ip address 192\.0\.2\.10 255\.255\.255\.0/);
  assert.match(r.out, /ip default-gateway 192\.0\.2\.1|ip route 0\.0\.0\.0 0\.0\.0\.0 192\.0\.2\.1/);
  assert.match(r.out, /ip ssh server/);
});

test('keel wizard --help lists every answers-file key with its question', async () => {
  const r = spawnSync(process.execPath, [MAIN, 'wizard', '--help'], { encoding: 'utf8', env: { ...process.env, KEEL_LOG: 'silent' } });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /\.ts\b/, 'no pointer into the source');
  for (const id of ['company', 'adminPassword', 'netmask', 'ntpServer1', 'proceed']) assert.match(r.stdout, new RegExp(`^  ${id} +\\S`, 'm'));
});
