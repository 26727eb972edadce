import { test, vi } from 'vitest';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { cliSession } from '../helpers/cli.ts';
import { signIn, Lockouts } from '../../appliance/users/signin.ts';
import { toScript } from '../../appliance/config/script.ts';

process.env.KEEL_LOG = 'silent';

test('ip ssh idle-timeout and max-sessions: set, shown, validated, reset by no', async (t) => {
  const { run, store } = await cliSession(t);
  await run('conf t', 'ip ssh server', 'ip ssh idle-timeout 2 30', 'ip ssh max-sessions 4');
  const c = store.running()!.config;
  assert.equal(c.ssh.idleTimeoutSeconds, 150);
  assert.equal(c.ssh.maxSessions, 4);
  assert.ok(toScript(c).includes('ip ssh idle-timeout 2 30'));
  assert.match(await run('ip ssh idle-timeout 0 5'), /% Invalid ssh idle-timeout-seconds \(minimum\): .*at least 10 seconds/);
  assert.equal(store.running()!.config.ssh.idleTimeoutSeconds, 150, 'a refused value changes nothing');
  assert.match(await run('ip ssh max-sessions 65'), /must be a number from 1 to 64/);
  assert.match(await run('do show ssh'), /Idle timeout: 2 minutes 30 seconds[\s\S]*Most sessions at once: 4/);
  await run('no ip ssh idle-timeout', 'no ip ssh max-sessions');
  assert.equal(store.running()!.config.ssh.idleTimeoutSeconds, undefined);
  assert.match(await run('do show ssh'), /Idle timeout: 10 minutes 0 seconds[\s\S]*Most sessions at once: 8/);
});

test('login lockout: policy from the CLI; failures over the network lock, the console never does; clear lockout', async (t) => {
  const { run, store } = await cliSession(t);
  await run('conf t', 'login lockout attempts 2 within 5 duration 30', 'end');
  assert.deepEqual(store.running()!.config.users.lockout, { attempts: 2, windowMinutes: 5, lockMinutes: 30 });
  const ssh = (password: string) => signIn(store, { username: 'admin', password, source: 'ssh:192.0.2.9', surface: 'ssh' });
  // Console failures never count and the console is never refused.
  for (let i = 0; i < 5; i++) assert.equal((await signIn(store, { username: 'admin', password: 'bad', source: 'cli:ttyS0', surface: 'console' })).ok, false);
  assert.equal((await ssh('Passw0rd1')).ok, true);
  assert.deepEqual(await ssh('bad'), { ok: false, reason: 'invalid' });
  const second = await ssh('bad');
  assert.equal(second.ok, false);
  const locked = await ssh('Passw0rd1');
  assert.equal(locked.ok, false);
  assert.equal(!locked.ok && locked.reason, 'locked');
  const web = await signIn(store, { username: 'admin', password: 'Passw0rd1', source: 'webui:192.0.2.9', surface: 'webui' });
  assert.equal(!web.ok && web.reason, 'locked', 'System Manager shares the lockout');
  assert.equal((await signIn(store, { username: 'admin', password: 'Passw0rd1', source: 'cli:ttyS0', surface: 'console' })).ok, true, 'the console still signs in');
  // Unknown names lock the same way, so a lockout says nothing about which names exist.
  for (let i = 0; i < 2; i++) await signIn(store, { username: 'nobody', password: 'x', source: 'ssh:192.0.2.9', surface: 'ssh' });
  assert.match(await run('show login'), /admin\s+locked until[\s\S]*nobody\s+locked until/);
  assert.equal(await run('clear lockout admin'), 'User admin unlocked.\n');
  assert.equal((await ssh('Passw0rd1')).ok, true);
  assert.equal(new Lockouts(store).list().length, 1);
  const audit = store.auditLog(50).map((a) => `${a.action} -> ${a.outcome}`).join('\n');
  assert.match(audit, /lock out user admin -> locked until/);
  assert.match(audit, /unlock user admin -> ok/);
  assert.doesNotMatch(audit, /Passw0rd1|bad/);
  await run('conf t', 'no login lockout', 'end');
  assert.equal(store.running()!.config.users.lockout, undefined);
});

test('a lock expires by itself', async (t) => {
  const { store } = await cliSession(t);
  const now = Date.now();
  for (let i = 0; i < 5; i++) await signIn(store, { username: 'admin', password: 'bad', source: 'ssh:x', surface: 'ssh', now });
  assert.equal((await signIn(store, { username: 'admin', password: 'Passw0rd1', source: 'ssh:x', surface: 'ssh', now: now + 60_000 })).ok, false);
  assert.equal((await signIn(store, { username: 'admin', password: 'Passw0rd1', source: 'ssh:x', surface: 'ssh', now: now + 16 * 60_000 })).ok, true);
});

test('install guest-tools enables the detected hypervisor agent, and refuses on hardware', async (t) => {
  const { run, proc, store } = await cliSession(t);
  assert.match(await run('install guest-tools'), /% Invalid guest-tools \(virtual-machine\): no hypervisor detected/);
  proc.failures.set('systemd-detect-virt --vm', { code: 0, stdout: 'vmware\n', stderr: '' });
  assert.match(await run('install guest-tools'), /% the open-vm-tools package is not in this image/);
  // dpkg's record of the image's packages (dpkg itself is not in the image).
  const root = (proc as unknown as { files: { root: string } }).files.root;
  fs.mkdirSync(path.join(root, 'var/lib/dpkg'), { recursive: true });
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), 'Package: open-vm-tools-desktop\nStatus: install ok installed\n\nPackage: open-vm-tools\nStatus: deinstall ok config-files\n');
  assert.match(await run('install guest-tools'), /% the open-vm-tools package is not in this image/);
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), 'Package: open-vm-tools\nStatus: install ok installed\nVersion: 2:12.5.0-2\n');
  assert.equal(await run('install guest-tools'), 'VMware detected: open-vm-tools is now enabled and running.\n');
  assert.ok(proc.recorded.includes('systemctl enable --now open-vm-tools.service'));
  assert.match(store.auditLog(5).map((a) => a.outcome).join('\n'), /ok: open-vm-tools enabled/);
});

test('over SSH, a change that could cut the session off reverts by itself unless confirmed', async (t) => {
  vi.useFakeTimers({ toFake: ['setTimeout'] });
  t.onTestFinished(() => { vi.useRealTimers(); });
  const { run, store } = await cliSession(t, { source: 'ssh:192.0.2.9' });
  await run('conf t', 'ip ssh server');
  const before = store.running()!.revision;
  const out = await run('ip ssh server port 2222');
  assert.match(out, /could cut off your session: SSH moves to port 2222[\s\S]*configure confirm" within 120 seconds/);
  assert.equal(store.running()!.config.ssh.port, 2222, 'applied at once');
  vi.advanceTimersByTime(121_000);
  // The revert applies through the core (async): wait for it to land.
  for (let i = 0; i < 100 && store.running()!.config.ssh.port !== 22; i++) await new Promise((r) => setImmediate(r));
  assert.equal(store.running()!.config.ssh.port, 22, 'reverted');
  assert.ok(store.running()!.revision > before + 1);
  assert.match(store.auditLog(5).map((a) => `${a.source} ${a.action} ${a.outcome}`).join('\n'), /confirm-timer revert unconfirmed change ok/);

  await run('ip ssh server port 2222');
  assert.equal(await run('confirm'), 'Change kept (SSH moves to port 2222).\n');
  vi.advanceTimersByTime(121_000);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(store.running()!.config.ssh.port, 2222, 'a confirmed change stays');
  assert.equal(await run('confirm'), '% No change is waiting for confirmation.\n');
});

test('the same change from the console needs no confirmation', async (t) => {
  const { run, store } = await cliSession(t, { source: 'cli:ttyS0' });
  await run('conf t', 'ip ssh server');
  assert.equal(await run('ip ssh server port 2222'), '');
  assert.equal(store.running()!.config.ssh.port, 2222);
});

test('email: set from the CLI, the password never shown, and a loaded script keeps it', async (t) => {
  const { run, store, host } = await cliSession(t);
  await run('conf t', 'email server smtp.example.com port 587 protocol starttls', 'email from keel@example.com', 'email authentication username alerts password "S3cret pw"', 'end');
  const c = store.running()!.config;
  assert.deepEqual(c.email, { auth: true, from: 'keel@example.com', server: 'smtp.example.com', port: 587, protocol: 'starttls', username: 'alerts', password: 'S3cret pw' });
  const shown = await run('show running-config');
  assert.match(shown, /email server smtp\.example\.com port 587 protocol starttls\nemail from keel@example\.com\nemail authentication username alerts password \*{8}/);
  assert.doesNotMatch(shown, /S3cret/);
  assert.doesNotMatch(JSON.stringify(store.revisions(10)), /S3cret/, 'revision diffs never hold the password');
  assert.doesNotMatch(JSON.stringify(store.auditLog(50)), /S3cret/);
  const { scriptToConfig } = await import('../../cli/script.ts');
  const { toScript } = await import('../../appliance/config/script.ts');
  const back = await scriptToConfig(host, store, toScript(c), c);
  assert.deepEqual(back.errors, []);
  assert.deepEqual(back.config!.email, c.email, 'loading show running-config keeps the stored SMTP password');
  await run('conf t');
  assert.equal(await run('email authentication username alerts password ********'), '', 'the masked password keeps the stored one');
  assert.match(await run('email authentication username x password ********'), /Invalid email password \(secret-destination\)/, 'never for another user');
  assert.match(await run('email server evil.example.net port 587 protocol starttls'), /Invalid email password \(secret-destination\)/, 'never to another server');
  assert.equal(store.running()!.config.email!.server, 'smtp.example.com');
  assert.equal(store.running()!.config.email!.password, 'S3cret pw');
  assert.match(await run('email from not-an-address'), /% Invalid/);
  await run('no email authentication');
  assert.equal(store.running()!.config.email!.auth, false);
  assert.equal(store.running()!.config.email!.password, undefined);
  await run('no email', 'end');
  assert.equal(store.running()!.config.email, undefined);
});

test('show platform / environment / raid / health and locate, from the probes (sandbox: VMware DMI)', async (t) => {
  const { run, host } = await cliSession(t);
  const fs = await import('node:fs');
  const dmi = `${host.sysfs}/class/dmi/id`;
  fs.mkdirSync(dmi, { recursive: true });
  fs.writeFileSync(`${dmi}/sys_vendor`, 'VMware, Inc.\n');
  fs.writeFileSync(`${dmi}/product_name`, 'VMware Virtual Platform\n');
  const platform = await run('show platform');
  assert.match(platform, /^Platform: VMware virtual machine \(virtual\)/m);
  assert.match(platform, /Evidence: .*VMware/);
  assert.match(await run('show environment'), /the hypervisor watches the virtual hardware; there is no BMC/);
  assert.match(await run('show raid'), /one virtual disk; RAID is the hypervisor's job/);
  assert.match(await run('show health'), /^Overall: (OK|WARNING|CRITICAL|UNKNOWN) +\(VMware virtual machine/m);
  assert.equal(await run('locate on'), '(sandbox: no BMC)\n');
  fs.writeFileSync(`${dmi}/sys_vendor`, 'Core Networks\n');
  fs.writeFileSync(`${dmi}/product_name`, 'Core M2500\n');
  assert.match(await run('show platform'), /NOT SUPPORTED[\s\S]*CRITICAL .*M2500 appliance is no longer supported/);
});

test('access-list and password-policy: set from the CLI, shown, loaded back; over SSH a list without my address is refused', async (t) => {
  const { run, store, host } = await cliSession(t);
  await run('conf t', 'access-list ssh permit 10.0.0.0/8', 'access-list system-manager permit 192.0.2.7', 'password-policy min-length 12', 'no password-policy require-digit', 'end');
  const c = store.running()!.config;
  assert.deepEqual(c.acl, { systemManager: ['192.0.2.7'], ssh: ['10.0.0.0/8'], provisioning: [] });
  assert.equal(c.users.passwordPolicy!.minLength, 12);
  assert.equal(c.users.passwordPolicy!.requireDigit, false);
  assert.match(await run("show running-config"), /access-list system-manager permit 192\.0\.2\.7\naccess-list ssh permit 10\.0\.0\.0\/8/);
  assert.match(await run('conf t', 'access-list ssh permit 10.0.0.1/8'), /% Invalid .*\(acl-entry\)/);
  assert.match(await run('username bob role operator password Short1abc'), /% Invalid username bob password \(password-policy\)/, 'the policy from the configuration applies');
  await run('end');
  const { scriptToConfig } = await import('../../cli/script.ts');
  const { toScript } = await import('../../appliance/config/script.ts');
  const back = await scriptToConfig(host, store, toScript(store.running()!.config), store.running()!.config);
  assert.deepEqual(back.errors, []);
  assert.deepEqual(back.config!.acl, store.running()!.config.acl);
  assert.deepEqual(back.config!.users.passwordPolicy, store.running()!.config.users.passwordPolicy);
  const remote = await cliSession(t, { source: 'ssh:203.0.113.9' });
  const out = await remote.run('conf t', 'access-list ssh permit 10.0.0.0/8');
  assert.match(out, /% Invalid access-list ssh \(self-lockout\): your own address 203\.0\.113\.9 would no longer reach SSH CLI/);
  assert.equal(remote.store.running()!.config.acl, undefined, 'nothing changed');
});
