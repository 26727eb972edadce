import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createHost, type Host } from '../../appliance/host/index.ts';
import { Store, MIGRATIONS } from '../../appliance/config/store.ts';
import { makeSelfSigned, WEBUI_CERT_PATH, WEBUI_KEY_PATH } from '../../appliance/certs/webui.ts';
import { updateContext, mdstatProblem, type UpdateContext } from '../../appliance/update/context.ts';
import { stage, unstage, migrationDryRun } from '../../appliance/update/stage.ts';
import { bootCheck, markGood, confirm, status, formatStatus, acknowledge, rollbackNotice, notifyPending, type HealthChecks } from '../../appliance/update/lifecycle.ts';
import { decideBoot, GrubEnv, type Slot } from '../../appliance/update/grub.ts';
import { directorySlots, runningSlot } from '../../appliance/update/slots.ts';
import { readState } from '../../appliance/update/state.ts';
import { UpdateRefusal } from '../../appliance/update/bundle.ts';
import { generateSigningKey } from '../../appliance/update/keys.ts';
import { parseVerityEnv, verityEnv } from '../../appliance/update/verity.ts';
import { CONFIRM_NEEDED_PATH, GRUBENV_PATH } from '../../appliance/update/paths.ts';
import { updateBootCheck } from '../../appliance/update/main.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';
import { asMdInstall, espEnv, writeEspEnv } from '../helpers/md-esp.ts';
import { makeBundle, fakeSquashfs, TEST_KEY } from '../fixtures/update/make.ts';

const ACTOR = { who: 'admin', source: 'cli:test' };
const HEALTHY: HealthChecks = { webui: async () => true, migrations: async () => true, management: async () => true };
const SICK: HealthChecks = { ...HEALTHY, webui: async () => false };

/** A configured sandbox appliance running `version` from slot `slot` (its live/ filled). */
async function appliance(t: TestContext, opts: { certNow?: Date } = {}) {
  const root = tempRoot('keel-upd-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const store = Store.open(host);
  t.onTestFinished(() => { store.db.open && store.close(); });
  store.commitRunning(sampleConfig(), ACTOR, 'wizard', '');
  store.saveStartup(ACTOR);
  const cert = await makeSelfSigned('core.example.com', null, opts.certNow ?? new Date());
  host.files.writeAtomic(WEBUI_CERT_PATH, cert.certPem);
  host.files.writeAtomic(WEBUI_KEY_PATH, cert.keyPem, 0o600);
  boot(host, 'a');
  fakeSquashfs(path.join(root, 'slots/a/live/keel.squashfs'), 2048, 'v1');
  fs.writeFileSync(path.join(root, 'slots/a/live/vmlinuz'), 'kernel v1');
  await new GrubEnv(host).set({ keel_slot: 'a' });
  return { root, host, store };
}

function boot(host: Host, slot: Slot): void {
  host.files.writeAtomic('/proc/cmdline', `BOOT_IMAGE=/live/vmlinuz boot=live keel.slot=${slot} quiet\n`);
}

/** What GRUB does at a boot: decide, save_env, and the kernel command line it gives. */
async function grubBoots(host: Host): Promise<Slot> {
  const g = new GrubEnv(host);
  const d = decideBoot(g.read());
  if (d.saved) await g.set(d.saved);
  boot(host, d.boot);
  return d.boot;
}

function ctxFor(host: Host, store: Store, version: string, over: Partial<UpdateContext> = {}): UpdateContext {
  return updateContext(host, store, ACTOR, { trustedKeys: [TEST_KEY], runningVersion: version, raidProblem: async () => null, ...over });
}

test('stage writes the inactive slot, keeps a database copy, tells GRUB, and says Reboot to Install', async (t) => {
  const { root, host, store } = await appliance(t);
  const b = await makeBundle(root, { version: '0.2.0', payloadBytes: 200_000 });
  const ctx = ctxFor(host, store, '0.1.0');
  assert.equal(ctx.runningSlot, 'a');
  const r = await stage(ctx, b.path);
  assert.deepEqual([r.version, r.slot], ['0.2.0', 'b']);
  assert.ok(fs.readFileSync(path.join(root, 'slots/b/live/keel.squashfs')).equals(fs.readFileSync(path.join(root, 'keel-0.2.0.squashfs'))));
  assert.equal(fs.readFileSync(path.join(root, 'slots/b/live/keel-version'), 'utf8'), '0.2.0\n');
  assert.ok(fs.existsSync(path.join(root, 'var/lib/keel/slots/a/keel.db')));
  assert.equal((fs.statSync(path.join(root, 'var/lib/keel/slots/a/keel.db')).mode & 0o777).toString(8), '600');
  assert.deepEqual(ctx.grub.read(), { keel_slot: 'a', keel_next: 'b', keel_tries: '3', keel_failed: '' });
  const s = status(ctx);
  assert.equal(s.label, 'Reboot to Install');
  assert.equal(s.staged?.version, '0.2.0');
  assert.equal(s.slots.b?.version, '0.2.0');
  assert.equal(s.slots.b?.state, 'staged');
  assert.ok(formatStatus(s).some((l) => /Status: +Reboot to Install/.test(l)));
  assert.match(store.auditLog()[0].action, /software update 0\.2\.0 staged to slot b/);
  assert.ok(!fs.existsSync(path.join(root, 'var/lib/keel/updates/dry-run.db')), 'the dry-run copy is removed');
  // Cancel before the reboot.
  assert.equal(await unstage(ctx), true);
  assert.equal(ctx.grub.read().keel_next, '');
  assert.equal(status(ctx).label, 'Up to Date');
});

test('refusals happen before anything is written, each audited with its reason', async (t) => {
  const { root, host, store } = await appliance(t);
  const grubBefore = fs.readFileSync(path.join(root, 'boot/grub/grubenv'));
  const expectRefused = async (ctx: UpdateContext, file: string, reason: string, msg: RegExp) => {
    await assert.rejects(stage(ctx, file), (e: unknown) => e instanceof UpdateRefusal && e.reason === reason && msg.test(e.message));
    assert.ok(!fs.existsSync(path.join(root, 'slots/b')), `${reason}: the slot was not touched`);
    assert.ok(fs.readFileSync(path.join(root, 'boot/grub/grubenv')).equals(grubBefore), `${reason}: GRUB was not touched`);
    const a = store.auditLog()[0];
    assert.match(a.outcome, new RegExp(`^refused \\(${reason}\\)`));
  };
  const good = await makeBundle(root, { version: '0.2.0' });
  const bad = path.join(root, 'bad.kup');
  const bytes = fs.readFileSync(good.path);
  bytes[bytes.length - 10] ^= 1;
  fs.writeFileSync(bad, bytes);
  await expectRefused(ctxFor(host, store, '0.1.0'), bad, 'sha256-mismatch', /sha256/);
  const other = await makeBundle(path.join(root, 'o'), { version: '0.2.0', keyPem: generateSigningKey().privatePem });
  await expectRefused(ctxFor(host, store, '0.1.0'), other.path, 'unknown-key', /unknown key/);
  await expectRefused(ctxFor(host, store, '0.0.5'), good.path, 'version-too-old', /0\.1\.0 or later/);
  await expectRefused(ctxFor(host, store, '0.2.0'), good.path, 'not-newer', /not newer/);
  await expectRefused(ctxFor(host, store, '0.1.0', { slots: directorySlots(host, 1000) }), good.path, 'no-space', /slot has/);
  const degraded = 'Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda1[0](F)\n      1046528 blocks super 1.2 [2/1] [_U]\n\nunused devices: <none>\n';
  await expectRefused(ctxFor(host, store, '0.1.0', { raidProblem: async () => mdstatProblem(degraded) }), good.path, 'precheck-failed', /RAID not healthy.*md0/);
  const diverging = await makeBundle(path.join(root, 'd'), { version: '0.2.0', migrations: ['CREATE TABLE x (y)', ...MIGRATIONS.slice(1)] });
  await expectRefused(ctxFor(host, store, '0.1.0'), diverging.path, 'precheck-failed', /migration 1 of the new version differs/);
  const failing = await makeBundle(path.join(root, 'f'), { version: '0.2.0', migrations: [...MIGRATIONS, 'ALTER TABLE no_such_table ADD COLUMN z'] });
  await expectRefused(ctxFor(host, store, '0.1.0'), failing.path, 'precheck-failed', /migration \d+ fails on a copy.*no_such_table/);
  const later = new Date(Date.now() + 3 * 365 * 86400_000);
  await expectRefused(ctxFor(host, store, '0.1.0', { now: () => later }), good.path, 'precheck-failed', /certificate expired/);
  host.files.remove(WEBUI_CERT_PATH);
  await expectRefused(ctxFor(host, store, '0.1.0'), good.path, 'precheck-failed', /no certificate/);
  assert.equal(store.auditLog().filter((a) => a.outcome.startsWith('refused')).length, 10);
});

test('the migration dry run applies new migrations to a copy only', async (t) => {
  const { root, store } = await appliance(t);
  const scratch = path.join(root, 'scratch.db');
  assert.equal(await migrationDryRun(store.db, [...MIGRATIONS, 'CREATE TABLE update_test (x TEXT)'], MIGRATIONS, scratch), null);
  assert.equal(store.db.pragma('user_version', { simple: true }), MIGRATIONS.length, 'the live database is untouched');
  assert.equal((store.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'update_test'").get() as { n: number }).n, 0);
  assert.match((await migrationDryRun(store.db, MIGRATIONS.slice(0, 1), MIGRATIONS, scratch))!, /cannot read this database/);
  assert.ok(!fs.existsSync(scratch));
});

test('reboot to install: GRUB tries the new slot, the healthy new version marks itself good', async (t) => {
  const { root, host, store } = await appliance(t);
  const b = await makeBundle(root, { version: '0.2.0' });
  await stage(ctxFor(host, store, '0.1.0'), b.path);
  store.close();
  assert.equal(await grubBoots(host), 'b');
  const boot1 = await bootCheck(host, { grub: new GrubEnv(host), runningSlot: runningSlot(host), runningVersion: '0.2.0' });
  assert.deepEqual(boot1, { kind: 'trial', attempt: 1 });
  const s2 = Store.open(host);
  t.onTestFinished(() => { s2.db.open && s2.close(); });
  const ctx = ctxFor(host, s2, '0.2.0');
  assert.equal(status(ctx).label, 'Installing (checking the new version)');
  assert.equal(status(ctx).attempt, 1);
  assert.deepEqual(await markGood(ctx, SICK), { marked: false, failing: ['System Manager did not answer'] });
  assert.equal(await confirm(ctx, HEALTHY, { timeoutMs: 1000 }), 'good');
  assert.deepEqual(ctx.grub.read(), { keel_slot: 'b', keel_next: '', keel_tries: '', keel_failed: '' });
  const s = status(ctx);
  assert.equal(s.label, 'Up to Date');
  assert.equal(s.lastResult?.outcome, 'installed');
  assert.match(s.lastResult!.reason, /at the first try/);
  assert.deepEqual([s.slots.a?.version, s.slots.a?.state, s.slots.b?.version, s.slots.b?.running], ['0.1.0', 'good', '0.2.0', true]);
  assert.match(s2.auditLog()[0].action, /0\.2\.0 marked good on slot b/);
  // The next boots stay on b; markGood is a no-op off trial.
  assert.equal(await grubBoots(host), 'b');
  assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'b', runningVersion: '0.2.0' }), { kind: 'normal' });
  assert.deepEqual(await markGood(ctx, HEALTHY), { marked: false, failing: [] });
});

test('a version that never gets healthy is retried twice, then the previous slot boots with its database and says why', async (t) => {
  const { root, host, store } = await appliance(t);
  const b = await makeBundle(root, { version: '0.3.0' });
  await stage(ctxFor(host, store, '0.1.0'), b.path);
  store.close();
  const mails: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    assert.equal(await grubBoots(host), 'b', `try ${attempt} boots the new slot`);
    assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'b', runningVersion: '0.3.0' }), { kind: 'trial', attempt });
    const s = Store.open(host);
    if (attempt === 1) {
      // The new version migrates the database and changes the configuration before it fails.
      s.db.exec('CREATE TABLE v3_only (x)');
      s.commitRunning(sampleConfig({ dns: { servers: ['192.0.2.99'] } }), ACTOR, 'v3 change', '');
      s.saveStartup(ACTOR);
    }
    // The third try hangs: no report from it.
    if (attempt < 3) assert.equal(await confirm(ctxFor(host, s, '0.3.0'), SICK, { timeoutMs: 0 }), 'rebooting');
    s.close();
  }
  const cmds = fs.readFileSync(path.join(root, 'var/log/keel/commands.log'), 'utf8');
  assert.equal(cmds.match(/systemctl reboot/g)?.length, 2);
  assert.equal(await grubBoots(host), 'a', 'tries exhausted: back to slot a');
  const r = await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'a', runningVersion: '0.1.0', notify: async (subject, text) => void mails.push(`${subject}\n${text}`) });
  assert.equal(r.kind, 'rolled-back');
  assert.match(r.result!.reason, /version 0\.3\.0 was not healthy after 3 tries \(try 1: System Manager did not answer within 0 s; try 2: System Manager did not answer within 0 s; 1 try ended without a report/);
  assert.match(r.result!.reason, /0\.1\.0 restored with its configuration database/);
  assert.equal(mails.length, 1);
  assert.match(mails[0], /^Keel: software update 0\.3\.0 rolled back\nSOFTWARE UPDATE ROLLED BACK at /);
  const s = Store.open(host);
  t.onTestFinished(() => { s.db.open && s.close(); });
  assert.deepEqual(s.startup()!.config.dns.servers, ['192.0.2.53'], 'the configuration that matches 0.1.0');
  assert.equal((s.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'v3_only'").get() as { n: number }).n, 0);
  assert.ok(fs.existsSync(path.join(root, 'var/lib/keel/slots/b/keel.db.failed')), "the failed version's database is kept");
  assert.match(s.auditLog()[0].action, /software update 0\.3\.0 rolled back to 0\.1\.0 \(slot a\)/);
  const ctx = ctxFor(host, s, '0.1.0');
  const st = status(ctx);
  assert.equal(st.label, 'Rolled Back');
  assert.equal(st.slots.b?.state, 'failed');
  assert.equal(st.notice, rollbackNotice(readState(host).lastResult));
  assert.ok(formatStatus(st).some((l) => l.startsWith('SOFTWARE UPDATE ROLLED BACK')));
  assert.deepEqual(ctx.grub.read(), { keel_slot: 'a', keel_next: '', keel_tries: '', keel_failed: '' });
  assert.equal(await grubBoots(host), 'a');
  assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'a', runningVersion: '0.1.0' }), { kind: 'normal' }, 'the rollback is handled once');
  assert.equal(acknowledge(ctx), true);
  assert.equal(status(ctx).notice, null);
  for (const l of formatStatus(st)) assert.match(l, /^[\x20-\x7e]*$/, 'ASCII only');
});

test('a version that never starts at all is rolled back with that reason', async (t) => {
  const { root, host, store } = await appliance(t);
  await stage(ctxFor(host, store, '0.1.0'), (await makeBundle(root, { version: '0.2.0' })).path);
  store.close();
  for (let i = 0; i < 3; i++) assert.equal(await grubBoots(host), 'b');
  assert.equal(await grubBoots(host), 'a');
  const r = await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'a', runningVersion: '0.1.0' });
  assert.match(r.result!.reason, /version 0\.2\.0 did not start \(no report from it in 3 boots\)/);
  // No e-mail at boot (no network yet): sent once later.
  const sent: string[] = [];
  assert.equal(await notifyPending(host, async (subject) => void sent.push(subject)), true);
  assert.equal(await notifyPending(host, async (subject) => void sent.push(subject)), false);
  assert.deepEqual(sent, ['Keel: software update 0.2.0 rolled back']);
  // Had its system image failed the dm-verity check, the reason says so (the previous slot checks it).
  await stage(ctxFor(host, Store.open(host), '0.1.0'), (await makeBundle(root, { version: '0.3.0' })).path);
  for (let i = 0; i < 3; i++) assert.equal(await grubBoots(host), 'b');
  assert.equal(await grubBoots(host), 'a');
  const checked: Slot[] = [];
  const v = await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'a', runningVersion: '0.1.0', verifySlot: async (slot) => (checked.push(slot), 'keel.squashfs does not match its signed dm-verity root hash') });
  assert.deepEqual(checked, ['b']);
  assert.match(v.result!.reason, /^version 0\.3\.0 did not start: its system image failed the dm-verity check \(keel\.squashfs does not match its signed dm-verity root hash\); 0\.1\.0 restored/);
});

test('staging is refused while a new version is being tried', async (t) => {
  const { root, host, store } = await appliance(t);
  await stage(ctxFor(host, store, '0.1.0'), (await makeBundle(root, { version: '0.2.0' })).path);
  await grubBoots(host);
  await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'b', runningVersion: '0.2.0' });
  const b3 = await makeBundle(path.join(root, 'x'), { version: '0.3.0' });
  await assert.rejects(stage(ctxFor(host, store, '0.2.0'), b3.path), /being tried/);
});

test('mdstat: degraded and rebuilding arrays are problems, clean ones are not', () => {
  assert.equal(mdstatProblem('Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda1[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n'), null);
  assert.equal(mdstatProblem(''), null);
  assert.match(mdstatProblem('md127 : active raid1 sdb1[1] sda1[0]\n      1046528 blocks super 1.2 [2/1] [U_]\n')!, /md127/);
  assert.match(mdstatProblem('md1 : active raid1 sdb1[2] sda1[0]\n      1046528 blocks super 1.2 [2/1] [U_]\n      [==>.......]  recovery = 12.6% (132096/1046528) finish=0.1min speed=132096K/sec\n')!, /md1/);
});

/** GRUB on Linux md RAID: it decides, cannot save_env, and hands its view to Linux on the command line. */
async function grubBootsOnMd(host: Host): Promise<Slot> {
  const env = new GrubEnv(host).read();
  const d = decideBoot(env);
  const v = { keel_next: env.keel_next ?? '', keel_tries: env.keel_tries ?? '', keel_failed: env.keel_failed ?? '', ...(d.saved ?? {}) };
  host.files.writeAtomic('/proc/cmdline', `BOOT_IMAGE=/live/vmlinuz boot=live keel.slot=${d.boot} keel.next=${v.keel_next} keel.tries=${v.keel_tries} keel.failed=${v.keel_failed} panic=10 quiet\n`);
  return d.boot;
}

test('on md RAID GRUB cannot save its environment: Linux saves the try it counted, so the rollback still comes after three tries', async (t) => {
  const { root, host, store } = await appliance(t);
  const b = await makeBundle(root, { version: '0.3.0' });
  await stage(ctxFor(host, store, '0.1.0'), b.path);
  store.close();
  for (let attempt = 1; attempt <= 3; attempt++) {
    assert.equal(await grubBootsOnMd(host), 'b', `try ${attempt} boots the new slot`);
    assert.equal(new GrubEnv(host).read().keel_tries, String(4 - attempt), 'GRUB did not save');
    assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'b', runningVersion: '0.3.0' }), { kind: 'trial', attempt });
    assert.equal(new GrubEnv(host).read().keel_tries, String(3 - attempt), 'Linux saved the try');
    // Running it again (by hand) changes nothing.
    assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'b', runningVersion: '0.3.0' }), { kind: 'trial', attempt });
    assert.equal(new GrubEnv(host).read().keel_tries, String(3 - attempt));
  }
  assert.equal(await grubBootsOnMd(host), 'a', 'tries exhausted: back to slot a');
  const r = await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'a', runningVersion: '0.1.0' });
  assert.equal(r.kind, 'rolled-back');
  assert.deepEqual(new GrubEnv(host).read(), { keel_slot: 'a', keel_next: '', keel_tries: '', keel_failed: '' });
  assert.equal(await grubBootsOnMd(host), 'a');
  assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'a', runningVersion: '0.1.0' }), { kind: 'normal' });
  // A stage made after this boot is not undone by the boot view of the command line.
  const s = Store.open(host);
  t.onTestFinished(() => { s.db.open && s.close(); });
  await stage(ctxFor(host, s, '0.1.0'), (await makeBundle(path.join(root, 'again'), { version: '0.4.0' })).path);
  assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'a', runningVersion: '0.1.0' }), { kind: 'normal' });
  assert.equal(new GrubEnv(host).read().keel_next, 'b', 'still staged');
});

/**
 * GRUB on md RAID with the ESP blocks (grubSlotScript({ md: true })): the counter from the first
 * ESP it finds (sda2), saved there; keel_slot from KEEL-BOOT, which it cannot write.
 */
function grubBootsOnMdEsp(host: Host): Slot {
  const md = new GrubEnv(host).read();
  const esp = espEnv(host, 'sda2')!;
  const d = decideBoot({ ...md, ...esp });
  const v = { ...esp, ...(d.saved ?? {}) };
  if (d.saved) writeEspEnv(host, 'sda2', v);
  host.files.writeAtomic('/proc/cmdline', `BOOT_IMAGE=/live/vmlinuz boot=live keel.slot=${d.boot} keel.next=${v.keel_next} keel.tries=${v.keel_tries} keel.failed=${v.keel_failed} panic=10 quiet\n`);
  return d.boot;
}

test('md RAID with the ESP counter: tries that never reach Linux count, the rollback comes after three, and every copy agrees after each boot check', async (t) => {
  const { root, host, store } = await appliance(t);
  asMdInstall(host);
  const b = await makeBundle(root, { version: '0.3.0' });
  await stage(ctxFor(host, store, '0.1.0'), b.path);
  store.close();
  const staged = { keel_next: 'b', keel_tries: '3', keel_failed: '' };
  for (const p of ['sda2', 'sdb2']) assert.deepEqual(espEnv(host, p), staged, `staging wrote ${p}`);
  const copies = () => [new GrubEnv(host).read(), espEnv(host, 'sda2'), espEnv(host, 'sdb2')].map((e) => `${e!.keel_next}/${e!.keel_tries}/${e!.keel_failed}`);
  // Try 1 panics before Linux (no boot check): GRUB counted it on the ESP anyway.
  assert.equal(grubBootsOnMdEsp(host), 'b');
  assert.deepEqual(copies(), ['b/3/', 'b/2/', 'b/3/']);
  // Try 2 reaches Linux: the boot check sees the second try and brings every copy to GRUB's count.
  assert.equal(grubBootsOnMdEsp(host), 'b');
  assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'b', runningVersion: '0.3.0' }), { kind: 'trial', attempt: 2 });
  assert.deepEqual(copies(), ['b/1/', 'b/1/', 'b/1/']);
  assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'b', runningVersion: '0.3.0' }), { kind: 'trial', attempt: 2 }, 'run again: nothing changes');
  // Try 3 panics too; then GRUB gives up on slot b by itself.
  assert.equal(grubBootsOnMdEsp(host), 'b');
  assert.equal(grubBootsOnMdEsp(host), 'a');
  assert.deepEqual(copies(), ['b/1/', '//b', 'b/1/']);
  const r = await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'a', runningVersion: '0.1.0' });
  assert.equal(r.kind, 'rolled-back');
  assert.match(r.result!.reason, /version 0\.3\.0 was not healthy after 3 tries/);
  assert.deepEqual(copies(), ['//', '//', '//']);
  assert.equal(grubBootsOnMdEsp(host), 'a');
  assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'a', runningVersion: '0.1.0' }), { kind: 'normal' });
});

test('md RAID: a boot check creates the ESP blocks of a system installed before them, and brings a returning member\'s stale ESP up to date', async (t) => {
  const { root, host, store } = await appliance(t);
  const b = await makeBundle(root, { version: '0.3.0' });
  await stage(ctxFor(host, store, '0.1.0'), b.path);
  store.close();
  // Installed before this change: the array, no ESP blocks; its grub.cfg passes GRUB's view.
  asMdInstall(host);
  assert.equal(espEnv(host, 'sda2'), null);
  assert.equal(await grubBootsOnMd(host), 'b');
  assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'b', runningVersion: '0.3.0' }), { kind: 'trial', attempt: 1 });
  for (const p of ['sda2', 'sdb2']) assert.deepEqual(espEnv(host, p), { keel_next: 'b', keel_tries: '2', keel_failed: '' }, p);
  // sdb was away while the try was counted and the slot marked good; it comes back with its old block.
  writeEspEnv(host, 'sdb2', { keel_next: 'b', keel_tries: '3', keel_failed: '' });
  await new GrubEnv(host).set({ keel_slot: 'b', keel_next: '', keel_tries: '', keel_failed: '' });
  writeEspEnv(host, 'sdb2', { keel_next: 'b', keel_tries: '3', keel_failed: '' });
  boot(host, 'b');
  host.files.writeAtomic('/proc/cmdline', 'BOOT_IMAGE=/live/vmlinuz boot=live keel.slot=b keel.next= keel.tries= keel.failed= quiet\n');
  assert.deepEqual(await bootCheck(host, { grub: new GrubEnv(host), runningSlot: 'b', runningVersion: '0.3.0' }), { kind: 'normal' });
  assert.deepEqual(espEnv(host, 'sdb2'), { keel_next: '', keel_tries: '', keel_failed: '' }, 'the stale copy follows KEEL-BOOT');
});

test('verified slots: the staged slot gets the signed root hashes; a verified appliance refuses a bundle without them', async (t) => {
  const { root, host, store } = await appliance(t);
  const hashOf = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
  // Slot A runs verified (its keel-verity.env, as the installer wrote it).
  host.files.writeAtomic('/slots/a/live/keel-verity.env', verityEnv([{ file: 'keel.squashfs', rootHash: hashOf('v1') }]), 0o644);
  const plain = await makeBundle(root, { version: '0.2.0' });
  await assert.rejects(stage(ctxFor(host, store, '0.1.0'), plain.path), (e: unknown) => e instanceof UpdateRefusal && e.reason === 'precheck-failed' && /no dm-verity root hash for keel\.squashfs; this appliance boots only verified system slots/.test(e.message));
  assert.ok(!fs.existsSync(path.join(root, 'slots/b')), 'nothing was written');
  const sq = fakeSquashfs(path.join(root, 'v3/keel.squashfs'), 8192, 'v3');
  fs.writeFileSync(`${sq}.verity`, 'hash tree of v3');
  const signed = await makeBundle(root, { version: '0.3.0', files: [{ name: 'keel.squashfs', path: sq }, { name: 'keel.squashfs.verity', path: `${sq}.verity` }], verity: [{ file: 'keel.squashfs', rootHash: hashOf('v3') }] });
  await stage(ctxFor(host, store, '0.1.0'), signed.path);
  assert.equal(fs.readFileSync(path.join(root, 'slots/b/live/keel.squashfs.verity'), 'utf8'), 'hash tree of v3');
  const env = fs.readFileSync(path.join(root, 'slots/b/live/keel-verity.env'), 'utf8');
  assert.equal(env.length, 1024, 'a GRUB environment block');
  assert.deepEqual(parseVerityEnv(env), [{ file: 'keel.squashfs', rootHash: hashOf('v3') }]);
});

test('keel-update-confirm starts only when the boot check found work: a try, a rollback to e-mail, or a check that failed', async (t) => {
  const { root, host, store } = await appliance(t);
  const mark = () => host.files.readText(CONFIRM_NEEDED_PATH);
  await updateBootCheck(host);
  assert.equal(mark(), null, 'a normal boot: no process for the confirmation');
  const b = await makeBundle(root, { version: '0.3.0' });
  await stage(ctxFor(host, store, '0.1.0'), b.path);
  store.close();
  // Three tries that never report: each one is to be confirmed.
  for (let attempt = 1; attempt <= 3; attempt++) {
    assert.equal(await grubBoots(host), 'b');
    await updateBootCheck(host);
    assert.equal(mark(), 'trial\n', `try ${attempt}`);
  }
  assert.equal(await grubBoots(host), 'a', 'back to the previous slot');
  await updateBootCheck(host);
  assert.equal(mark(), 'rolled-back\n');
  // Until the rollback notice is e-mailed, every boot starts the confirmation to send it.
  assert.equal(await grubBoots(host), 'a');
  await updateBootCheck(host);
  assert.equal(mark(), 'normal\n');
  assert.equal(await notifyPending(host, async () => {}), true);
  await updateBootCheck(host);
  assert.equal(mark(), null);
  // A boot check that fails leaves the decision to the confirmation itself.
  fs.rmSync(path.join(root, GRUBENV_PATH));
  fs.mkdirSync(path.join(root, GRUBENV_PATH));
  await assert.rejects(updateBootCheck(host));
  assert.equal(mark(), 'unknown\n');
});
