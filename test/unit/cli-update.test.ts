/**
 * `software-update ...` in the CLI against a signed repository over real HTTPS on loopback:
 * repository settings through the one schema (password masked, kept, never logged), check,
 * download with progress, stage, status, show version, reload, unstage, refusals and roles.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { cliSession } from '../helpers/cli.ts';
import { startRepository, prepareAppliance, REPO_USER, REPO_PASSWORD, type TestRepository } from '../helpers/update-repo.ts';
import { scriptToConfig } from '../../cli/script.ts';
import { toScript } from '../../appliance/config/script.ts';
import { readState, updateState } from '../../appliance/update/state.ts';
import { GrubEnv } from '../../appliance/update/grub.ts';
import { LOCK_PATH } from '../../appliance/update/jobs.ts';

let repo: TestRepository;
beforeAll(async () => {
  repo = await startRepository();
});
afterAll(async () => {
  await repo.close();
});

/** A configured sandbox appliance whose CLI has the repository set up (CA pasted at the prompt). */
async function appliance(t: Parameters<typeof cliSession>[0], opts: Parameters<typeof cliSession>[1] = {}) {
  const c = await cliSession(t, opts);
  await prepareAppliance(c.host);
  return c;
}

async function configure(c: Awaited<ReturnType<typeof appliance>>) {
  const out = await c.run('configure terminal', `software-update repository ${repo.url} username ${REPO_USER} password ${REPO_PASSWORD}`);
  assert.doesNotMatch(out, /%/, out);
  c.answers.push(...repo.ca.trim().split('\n'), '');
  assert.doesNotMatch(await c.run('software-update ca-certificate'), /% /);
  await c.run('end', 'write memory');
}

test('repository settings: checked by the schema, password masked in the script, kept on ********, never logged', async (t) => {
  const c = await appliance(t);
  await c.run('configure terminal');
  assert.match(await c.run('software-update repository http://updates.example.com/keel/'), /% Invalid software-update repository \(https-url\): must be an https:\/\/ URL/);
  assert.match(await c.run('software-update repository https://u:p@updates.example.com/'), /% Invalid software-update repository \(https-url\)/);
  assert.match(await c.run('software-update repository https://updates.example.com/ username a:b password x'), /% Invalid software-update username \([a-zA-Z]+\)[\s\S]*Nothing was changed/);
  assert.match(await c.run('software-update repository https://updates.example.com/ username a password ********'), /% Invalid software-update password \(required\): there is no stored repository password to keep/);
  assert.equal(c.store.running()!.config.update, undefined, 'nothing applied');
  assert.equal(await c.run(`software-update repository https://updates.example.com/keel/ username ${REPO_USER} password ${REPO_PASSWORD}`), '');
  assert.deepEqual(c.store.running()!.config.update, { repository: 'https://updates.example.com/keel/', username: REPO_USER, password: REPO_PASSWORD });
  const shown = await c.run('do show running-config | include software-update');
  assert.equal(shown.trim(), `software-update repository https://updates.example.com/keel/ username ${REPO_USER} password ********`);
  // The shown line keeps the stored password (another folder on the same server is the same destination).
  assert.equal(await c.run(`software-update repository https://updates.example.com/keel/ username ${REPO_USER} password ********`), '');
  assert.equal(c.store.running()!.config.update!.password, REPO_PASSWORD);
  // Another server: never with the stored password, only with one typed again.
  assert.match(await c.run(`software-update repository https://mirror.example.com/keel/ username ${REPO_USER} password ********`), /% Invalid software-update password \(secret-destination\)/);
  assert.equal(await c.run(`software-update repository https://mirror.example.com/keel/ username ${REPO_USER} password ${REPO_PASSWORD}`), '');
  assert.equal(c.store.running()!.config.update!.password, REPO_PASSWORD);
  assert.equal(c.store.running()!.config.update!.repository, 'https://mirror.example.com/keel/');
  // The CA: pasted, kept when the URL changes, shown as a comment, removed with no.
  c.answers.push(...repo.ca.trim().split('\n'), '');
  assert.match(await c.run('software-update ca-certificate'), /Paste the PEM/);
  assert.equal(c.store.running()!.config.update!.caCertificate, repo.ca.trim() + '\n');
  c.answers.push('-----BEGIN CERTIFICATE-----', 'bm90IGEgY2VydA==', '-----END CERTIFICATE-----', '');
  assert.match(await c.run('software-update ca-certificate'), /% Invalid software-update ca-certificate \(pem-certificate\)/);
  assert.match((await c.run('do show running-config')), /^! software-update ca-certificate sha256 [0-9a-f]{16} /m);
  // Loading the script back (what show running-config prints) keeps the password and the CA.
  const cur = c.store.running()!.config;
  const loaded = await scriptToConfig(c.host, c.store, toScript(cur), cur);
  assert.deepEqual(loaded.errors, []);
  assert.deepEqual(loaded.config!.update, cur.update);
  assert.equal(await c.run('no software-update ca-certificate'), '');
  assert.equal(c.store.running()!.config.update!.caCertificate, undefined);
  assert.equal(await c.run('software-update repository https://mirror.example.com/keel/'), '');
  assert.deepEqual(c.store.running()!.config.update, { repository: 'https://mirror.example.com/keel/' }, 'no user: no credentials');
  assert.equal(await c.run('no software-update repository'), '');
  assert.equal(c.store.running()!.config.update, undefined);
  for (const a of c.store.auditLog(1000)) assert.ok(!`${a.action} ${a.outcome}`.includes(REPO_PASSWORD), `${a.action} ${a.outcome}`);
  for (const r of c.store.revisions(1000)) assert.ok(!`${r.summary} ${r.diff}`.includes(REPO_PASSWORD));
  assert.ok(!c.s.history.join('\n').includes(REPO_PASSWORD));
});

test('check, download with progress, stage, show version, reload says Reboot to Install, unstage', async (t) => {
  const c = await appliance(t);
  assert.match(await c.run('software-update check'), /% Refused \(precheck-failed\): no update repository is configured/);
  assert.equal(c.s.lastFailed, true);
  await configure(c);
  const check = await c.run('software-update check');
  assert.match(check, /^Version 0\.2\.0 is available \(running 0\.1\.0; 2\.0 MiB, built 2026-01-01 00:00:00Z\)\.\nRelease notes:\n  Release 0\.2\.0: test build\.\nDownload it with: software-update download\n$/);
  assert.match(await c.run('software-update stage'), /% Refused \(precheck-failed\): nothing is downloaded to stage/);
  const dl = await c.run('software-update download');
  assert.match(dl, /^Downloading keel-0\.2\.0-amd64\.kup \(Keel 0\.2\.0, 2\.0 MiB\) from https:\/\/127\.0\.0\.1:\d+ \.\.\.\n/);
  assert.match(dl, /^ {4}0% \(0\.0 of 2\.0 MiB\)$/m);
  assert.match(dl, /^ {2}100% \(2\.0 of 2\.0 MiB\)$/m);
  assert.match(dl, /Version 0\.2\.0 is ready to stage\. Stage it with: software-update stage\n$/);
  assert.equal(c.s.lastFailed, false);
  assert.equal(readState(c.host).downloaded?.version, '0.2.0');
  assert.match(await c.run('software-update download'), /already downloaded and verified/);
  assert.match(await c.run('software-update status'), /Status: +Ready to Stage[\s\S]*Repository: +https:\/\/127\.0\.0\.1:\d+\/keel\/ \(user mirror\)/);
  const st = await c.run('software-update stage');
  assert.match(st, /^Checking version 0\.2\.0: signature, version, room, database migration dry run, RAID, certificate \.\.\.\nWriting the other system slot \.\.\.\n/);
  assert.match(st, /Version 0\.2\.0 is staged on slot B \([\d.]+ s\)\.\nStatus: Reboot to Install\. Enter "reload" to install it\./);
  assert.equal(fs.readFileSync(path.join(c.root, 'slots/b/live/keel-version'), 'utf8'), '0.2.0\n');
  assert.equal(new GrubEnv(c.host).read().keel_next, 'b');
  const ver = await c.run('show version');
  assert.match(ver, /^Keel appliance software, version 0\.1\.0/);
  assert.match(ver, /Running version: +0\.1\.0 \(slot A\)\nSlot A: +0\.1\.0 \(running\)\nSlot B: +0\.2\.0 \(staged\)/);
  assert.match(ver, /Status: +Reboot to Install/);
  c.answers.push('no');
  const rl = await c.run('reload');
  assert.match(rl, /Reboot to Install: Keel 0\.2\.0 is staged on slot B; this reload installs it/);
  assert.match(rl, /Reload cancelled/);
  assert.match(await c.run('software-update unstage'), /The staged update \(0\.2\.0\) is cancelled; the next reload starts Keel 0\.1\.0 again\./);
  assert.equal(new GrubEnv(c.host).read().keel_next, '');
  assert.match(await c.run('software-update unstage'), /^Nothing is staged\./);
  c.answers.push('no');
  assert.doesNotMatch(await c.run('reload'), /Reboot to Install/);
  const audit = c.store.auditLog(100).map((a) => `${a.action} -> ${a.outcome}`);
  for (const want of [/^cli: software-update download -> ok$/, /^software update 0\.2\.0 downloaded/, /^software update 0\.2\.0 staged to slot b/, /^cli: software-update stage -> ok$/, /^software update 0\.2\.0 unstaged -> ok$/, /^cli: software-update stage -> refused \(precheck-failed\)$/])
    assert.ok(audit.some((a) => want.test(a)), `${want} in\n${audit.join('\n')}`);
  assert.ok(!fs.existsSync(path.join(c.root, LOCK_PATH)), 'the lock is released');
});

test('a corrupt download is refused with its reason; a held lock says who holds it; operators only look', async (t) => {
  const c = await appliance(t);
  await configure(c);
  repo.corrupt = true;
  t.onTestFinished(() => { void (repo.corrupt = false); });
  const out = await c.run('software-update download');
  assert.match(out, /% Refused \(sha256-mismatch\): the downloaded bundle does not match the sha256 in the index; it was deleted/);
  assert.equal(c.s.lastFailed, true);
  assert.equal(readState(c.host).downloaded, undefined);
  repo.corrupt = false;
  // Another process (the serial console's CLI) is downloading.
  fs.writeFileSync(path.join(c.root, LOCK_PATH), JSON.stringify({ pid: process.ppid, kind: 'download', who: 'other', source: 'cli:ttyS0', at: '2026-01-01T00:00:00.000Z' }));
  assert.match(await c.run('software-update download'), /% Busy: a software update download started by other \(cli:ttyS0\) at 2026-01-01 00:00:00Z is still running/);
  assert.match(await c.run('software-update status'), /In progress: +download started by other \(cli:ttyS0\)/);
  // A lock left by a process that is gone is taken over.
  fs.writeFileSync(path.join(c.root, LOCK_PATH), JSON.stringify({ pid: 2 ** 22 + 12345, kind: 'stage', who: 'gone', source: 'cli:tty1', at: '2026-01-01T00:00:00.000Z' }));
  assert.match(await c.run('software-update download'), /ready to stage/);

  const op = await appliance(t, { role: 'operator' });
  assert.match(await op.run('software-update download'), /% Permission denied/);
  assert.match(await op.run('software-update status'), /Status: +Up to Date/);
  assert.match(await op.run('configure terminal'), /% Permission denied/);
});

test('a rollback notice shows in status and show version until acknowledged', async (t) => {
  const c = await appliance(t);
  updateState(c.host, (s) => {
    s.lastResult = { outcome: 'rolled-back', version: '0.3.0', running: '0.1.0', at: '2026-02-01T10:00:00.000Z', reason: 'version 0.3.0 was not healthy after 3 tries (try 1: System Manager did not answer within 600 s)' };
  });
  assert.match(await c.run('show version'), /SOFTWARE UPDATE ROLLED BACK at 2026-02-01 10:00:00Z: version 0\.3\.0 was not healthy/);
  assert.match(await c.run('software-update status'), /Status: +Rolled Back/);
  assert.equal(await c.run('software-update acknowledge'), 'Rollback notice acknowledged: the banners no longer show it.\n');
  assert.doesNotMatch(await c.run('show version'), /ROLLED BACK/);
  assert.equal(await c.run('software-update acknowledge'), 'There is no rollback notice to acknowledge.\n');
  assert.ok(c.store.auditLog(10).some((a) => a.action === 'software update notice acknowledged'));
});
