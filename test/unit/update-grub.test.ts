import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { decideBoot, grubSlotScript, grubStepsTo, memberEspsOf, mdMembersExpected, parseGrubenv, renderGrubenv, GrubEnv, TRIES } from '../../appliance/update/grub.ts';
import type { SandboxProcesses } from '../../appliance/host/processes.ts';
import { asMdInstall, espEnv, mdLsblk, writeEspEnv } from '../helpers/md-esp.ts';
import { createHost } from '../../appliance/host/index.ts';
import { tempRoot } from '../helpers/config.ts';

/**
 * Runs the GRUB slot script under sh: GRUB's `set X=Y` becomes `X=Y`, load_env reads the given
 * variables, save_env prints what GRUB would store. Everything else (if/elif/[ ]) is shared syntax.
 */
function runGrubScript(env: Record<string, string>): { boot: string; label: string; saved: Record<string, string> | null } {
  const sh = grubSlotScript()
    .split('\n')
    .map((l) => l.replace(/^(\s*)set (\w+)=/, '$1$2=').replace(/(then|else) set (\w+)=/g, '$1 $2='))
    .join('\n');
  const load = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join('; ');
  const prog = `load_env() { ${load || ':'}; }\nsave_env() { for v in "$@"; do eval "printf 'SAVE %s=%s\\n' $v \\"\\$$v\\""; done; }\n${sh}\nprintf 'BOOT %s %s\\n' "$keel_boot" "$keel_label"\n`;
  const r = spawnSync('sh', ['-c', prog], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const saved: Record<string, string> = {};
  let any = false;
  let boot = '';
  let label = '';
  for (const line of r.stdout.split('\n')) {
    const s = /^SAVE (\w+)=(.*)$/.exec(line);
    if (s) {
      saved[s[1]] = s[2];
      any = true;
    }
    const b = /^BOOT (\S+) (\S+)$/.exec(line);
    if (b) [boot, label] = [b[1], b[2]];
  }
  return { boot, label, saved: any ? saved : null };
}

test('the GRUB script and decideBoot agree on every environment', () => {
  let n = 0;
  for (const keel_slot of [undefined, '', 'a', 'b', 'zz'])
    for (const keel_next of [undefined, '', 'a', 'b'])
      for (const keel_tries of [undefined, '', '0', '1', '2', '3', '4', 'x'])
        for (const keel_failed of [undefined, 'b']) {
          const env: Record<string, string> = {};
          for (const [k, v] of Object.entries({ keel_slot, keel_next, keel_tries, keel_failed })) if (v !== undefined) env[k] = v;
          const want = decideBoot(env);
          const got = runGrubScript(env);
          const ctx = JSON.stringify(env);
          assert.equal(got.boot, want.boot, ctx);
          assert.equal(got.label, want.boot === 'b' ? 'KEEL-B' : 'KEEL-A', ctx);
          if (want.saved === null) assert.equal(got.saved, null, ctx);
          else assert.deepEqual(got.saved, { ...want.saved, keel_failed: want.saved.keel_failed }, ctx);
          n++;
        }
  assert.ok(n > 300);
});

test('a staged slot gets three boots (first try + two retries), then the previous slot boots again', () => {
  let env: Record<string, string> = { keel_slot: 'a', keel_next: 'b', keel_tries: String(TRIES), keel_failed: '' };
  const boots: string[] = [];
  for (let i = 0; i < 5; i++) {
    const d = decideBoot(env);
    boots.push(`${d.boot}:${d.kind}${d.attempt ?? ''}`);
    if (d.saved) env = { ...env, ...d.saved };
  }
  assert.deepEqual(boots, ['b:trial1', 'b:trial2', 'b:trial3', 'a:fallback', 'a:normal']);
  assert.equal(env.keel_failed, 'b');
  assert.equal(env.keel_slot, 'a');
  // Marked good on the second try: the user space sets keel_slot and clears keel_next.
  env = { keel_slot: 'a', keel_next: 'b', keel_tries: '3' };
  env = { ...env, ...decideBoot(env).saved };
  env = { ...env, ...decideBoot(env).saved };
  env = { ...env, keel_slot: 'b', keel_next: '', keel_tries: '' };
  assert.deepEqual(decideBoot(env), { boot: 'b', saved: null, kind: 'normal' });
});

test('grubenv blocks are 1024 bytes and round-trip', () => {
  const b = renderGrubenv({ keel_slot: 'b', keel_next: '', keel_tries: '3' });
  assert.equal(b.length, 1024);
  assert.ok(b.toString().startsWith('# GRUB Environment Block\nkeel_slot=b\nkeel_next=\nkeel_tries=3\n###'));
  assert.deepEqual(parseGrubenv(b.toString()), { keel_slot: 'b', keel_next: '', keel_tries: '3' });
  // A block written by grub-editenv 2.12 (`grub-editenv F create; grub-editenv F set keel_slot=a`).
  const real = '# GRUB Environment Block\nkeel_slot=a\n' + '#'.repeat(1024 - 37);
  assert.deepEqual(parseGrubenv(real), { keel_slot: 'a' });
  assert.throws(() => renderGrubenv({ x: 'y'.repeat(2000) }), /full/);
});

test('GrubEnv runs grub-editenv and, in a sandbox, keeps the block as it would', async (t) => {
  const root = tempRoot();
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const g = new GrubEnv(host);
  assert.deepEqual(g.read(), {});
  await g.set({ keel_slot: 'a' });
  await g.set({ keel_next: 'b', keel_tries: '3' });
  assert.deepEqual(g.read(), { keel_slot: 'a', keel_next: 'b', keel_tries: '3' });
  assert.equal(fs.statSync(path.join(root, 'boot/grub/grubenv')).size, 1024);
  const log = fs.readFileSync(path.join(root, 'var/log/keel/commands.log'), 'utf8');
  assert.match(log, new RegExp(`grub-editenv ${root}/boot/grub/grubenv set keel_next=b keel_tries=3`));
});

/**
 * The md RAID variant under sh, with GRUB's file commands emulated: `search --label` finds the
 * ESP when `esp` is given, `load_env --file` loads the whitelisted variables the ESP block has
 * (and fails without one), `save_env --file F` prints what GRUB would store in F.
 */
function runMdGrubScript(md: Record<string, string>, esp: Record<string, string> | null): { boot: string; label: string; saved: Record<string, string> | null; savedTo: string | null } {
  const sh = grubSlotScript({ md: true })
    .split('\n')
    .map((l) => l.replace(/^(\s*)set (\w+)=/, '$1$2=').replace(/(then|else) set (\w+)=/g, '$1 $2=').replace(/--file (\([^"\s]+)/, '--file "$1"'))
    .join('\n');
  const q = (v: string) => `'${v}'`;
  const loadMd = Object.entries(md).map(([k, v]) => `${k}=${q(v)}`).join('; ') || ':';
  const loadEsp = (esp ? Object.entries(esp).map(([k, v]) => `case " $* " in *" ${k} "*) ${k}=${q(v)};; esac`).join('; ') : '') || ':';
  const prog = [
    `search() { ${esp ? 'keel_esp=hd0,gpt2' : 'return 1'}; }`,
    `load_env() { if [ "$1" = --file ]; then [ "$2" = "(hd0,gpt2)/keel/grubenv" ] || return 1; ${esp ? '' : 'return 1; '}shift 2; ${loadEsp}; else ${loadMd}; fi; }`,
    `save_env() { to=KEEL-BOOT; if [ "$1" = --file ]; then to="$2"; shift 2; fi; for v in "$@"; do eval "printf 'SAVE %s %s=%s\\n' \\"\\$to\\" $v \\"\\$$v\\""; done; }`,
    sh,
    `printf 'BOOT %s %s\\n' "$keel_boot" "$keel_label"`,
    '',
  ].join('\n');
  const r = spawnSync('sh', ['-c', prog], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const saved: Record<string, string> = {};
  let savedTo: string | null = null;
  let boot = '';
  let label = '';
  for (const line of r.stdout.split('\n')) {
    const s = /^SAVE (\S+) (\w+)=(.*)$/.exec(line);
    if (s) {
      saved[s[2]] = s[3];
      assert.ok(savedTo === null || savedTo === s[1], 'one file');
      savedTo = s[1];
    }
    const b = /^BOOT (\S+) (\S+)$/.exec(line);
    if (b) [boot, label] = [b[1], b[2]];
  }
  return { boot, label, saved: savedTo ? saved : null, savedTo };
}

test('md RAID grub.cfg: the counter comes from the ESP block and GRUB saves it there, as decideBoot says; without one, from KEEL-BOOT as before', () => {
  let n = 0;
  const counters: (Record<string, string> | undefined)[] = [undefined, {}, { keel_next: '', keel_tries: '', keel_failed: '' }, { keel_next: 'b', keel_tries: '3', keel_failed: '' }, { keel_next: 'b', keel_tries: '1', keel_failed: '' }, { keel_next: 'a', keel_tries: '0', keel_failed: '' }, { keel_next: 'b', keel_tries: 'x', keel_failed: 'a' }];
  for (const keel_slot of ['a', 'b', 'zz'])
    for (const mdCounter of counters)
      for (const esp of [null, ...counters.filter((c) => c !== undefined)]) {
        const md: Record<string, string> = { keel_slot, ...mdCounter };
        const want = decideBoot(esp ? { ...md, ...esp } : md);
        const got = runMdGrubScript(md, esp);
        const ctx = JSON.stringify({ md, esp });
        assert.equal(got.boot, want.boot, ctx);
        assert.equal(got.label, want.boot === 'b' ? 'KEEL-B' : 'KEEL-A', ctx);
        assert.deepEqual(got.saved, want.saved, ctx);
        if (want.saved) assert.equal(got.savedTo, esp ? '(hd0,gpt2)/keel/grubenv' : 'KEEL-BOOT', ctx);
        n++;
      }
  assert.ok(n > 100);
  // The ESP's counter wins over KEEL-BOOT's: a try GRUB counted there is not counted again.
  const r = runMdGrubScript({ keel_slot: 'a', keel_next: 'b', keel_tries: '3', keel_failed: '' }, { keel_next: 'b', keel_tries: '2', keel_failed: '' });
  assert.deepEqual([r.boot, r.saved, r.savedTo], ['b', { keel_next: 'b', keel_tries: '1', keel_failed: '' }, '(hd0,gpt2)/keel/grubenv']);
});

test('single-disk GRUB script is the one it always was: no ESP, plain save_env', () => {
  const s = grubSlotScript();
  assert.equal(s, grubSlotScript({ md: false }));
  assert.doesNotMatch(s, /keel_esp|--file|search/);
  assert.match(s, /\n {2}save_env keel_next keel_tries keel_failed\nfi\n/);
  const md = grubSlotScript({ md: true });
  assert.match(md, /search --no-floppy --label --set=keel_esp KEEL-ESP\n/);
  assert.match(md, /if load_env --file \(\$\{keel_esp\}\)\/keel\/grubenv keel_next keel_tries keel_failed; then set keel_env="\(\$\{keel_esp\}\)\/keel\/grubenv"; fi/);
  assert.match(md, /save_env --file "\$\{keel_env\}" keel_next keel_tries keel_failed/);
});

test('on md RAID GrubEnv writes KEEL-BOOT and the counter to every member ESP, each mounted privately (nodev, nosuid, noexec) and unmounted', async (t) => {
  const root = tempRoot();
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  asMdInstall(host);
  const g = new GrubEnv(host);
  await g.set({ keel_slot: 'a' });
  await g.set({ keel_next: 'b', keel_tries: '3', keel_failed: '' });
  assert.deepEqual(g.read(), { keel_slot: 'a', keel_next: 'b', keel_tries: '3', keel_failed: '' });
  for (const p of ['sda2', 'sdb2']) assert.deepEqual(espEnv(host, p), { keel_next: 'b', keel_tries: '3', keel_failed: '' }, p);
  assert.equal(fs.statSync(path.join(root, 'run/keel/esp/sda2/keel/grubenv')).size, 1024);
  assert.equal(fs.statSync(path.join(root, 'run/keel/esp')).mode & 0o777, 0o700);
  const rec = (host.proc as SandboxProcesses).recorded;
  const last = rec.slice(rec.lastIndexOf(`grub-editenv ${root}/boot/grub/grubenv set keel_next=b keel_tries=3 keel_failed=`));
  assert.deepEqual(last, [
    `grub-editenv ${root}/boot/grub/grubenv set keel_next=b keel_tries=3 keel_failed=`,
    `mount -t vfat -o rw,nodev,nosuid,noexec /dev/sda2 ${root}/run/keel/esp/sda2`,
    `grub-editenv ${root}/run/keel/esp/sda2/keel/grubenv set keel_next=b keel_tries=3 keel_failed=`,
    `umount ${root}/run/keel/esp/sda2`,
    `mount -t vfat -o rw,nodev,nosuid,noexec /dev/sdb2 ${root}/run/keel/esp/sdb2`,
    `grub-editenv ${root}/run/keel/esp/sdb2/keel/grubenv set keel_next=b keel_tries=3 keel_failed=`,
    `umount ${root}/run/keel/esp/sdb2`,
  ]);
  assert.equal(rec.filter((l) => l.startsWith('lsblk')).length, 1, 'the members are found once');
  // Setting one variable writes the whole counter to the ESPs: a copy that was behind catches up.
  writeEspEnv(host, 'sdb2', { keel_next: '', keel_tries: '', keel_failed: 'a' });
  await g.set({ keel_failed: '' });
  for (const p of ['sda2', 'sdb2']) assert.deepEqual(espEnv(host, p), { keel_next: 'b', keel_tries: '3', keel_failed: '' }, p);
});

test('on md RAID a missing member or an ESP that will not mount is logged, the others are written, nothing throws', async (t) => {
  const root = tempRoot();
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  asMdInstall(host, ['sda']);
  await new GrubEnv(host).set({ keel_slot: 'a', keel_next: 'b', keel_tries: '3' });
  assert.deepEqual(espEnv(host, 'sda2'), { keel_next: 'b', keel_tries: '3', keel_failed: '' });
  assert.equal(espEnv(host, 'sdb2'), null);
  asMdInstall(host, ['sda', 'sdb']);
  (host.proc as SandboxProcesses).failures.set('mount -t vfat -o rw,nodev,nosuid,noexec /dev/sda2', { code: 32, stdout: '', stderr: 'mount: wrong fs type' });
  const g = new GrubEnv(host);
  await g.set({ keel_tries: '2' });
  assert.equal(g.read().keel_tries, '2');
  assert.equal(espEnv(host, 'sda2')!.keel_tries, '3', 'not mounted: not written');
  assert.deepEqual(espEnv(host, 'sdb2'), { keel_next: 'b', keel_tries: '2', keel_failed: '' });
  assert.deepEqual(await g.espCounters(), [{ device: '/dev/sdb2', counter: { keel_next: 'b', keel_tries: '2', keel_failed: '' } }]);
});

test('espCounters: a system installed before the ESP blocks gets one on each ESP, from KEEL-BOOT; not on md there are none', async (t) => {
  const root = tempRoot();
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const single = new GrubEnv(host);
  await single.set({ keel_slot: 'b', keel_next: 'a', keel_tries: '2', keel_failed: '' });
  assert.equal(await single.espCounters(), null);
  assert.deepEqual((host.proc as SandboxProcesses).recorded.filter((l) => !l.startsWith('grub-editenv')), [], 'a single disk: no lsblk, no mount');
  asMdInstall(host);
  const g = new GrubEnv(host);
  assert.equal(espEnv(host, 'sda2'), null);
  const got = await g.espCounters();
  const counter = { keel_next: 'a', keel_tries: '2', keel_failed: '' };
  assert.deepEqual(got, [{ device: '/dev/sda2', counter }, { device: '/dev/sdb2', counter }]);
  for (const p of ['sda2', 'sdb2']) assert.deepEqual(espEnv(host, p), counter);
  assert.deepEqual(g.read(), { keel_slot: 'b', ...counter }, 'KEEL-BOOT unchanged');
});

test('lsblk: the member ESPs are those of the disks under the array holding KEEL-BOOT; a single disk has none', () => {
  assert.deepEqual(memberEspsOf(mdLsblk(['sda', 'sdb'])), { array: '/dev/md127', devices: ['/dev/sda2', '/dev/sdb2'] });
  const single = JSON.stringify({ blockdevices: [{ name: 'vda', path: '/dev/vda', type: 'disk', children: [{ name: 'vda2', path: '/dev/vda2', type: 'part', partlabel: 'KEEL-ESP' }, { name: 'vda3', path: '/dev/vda3', type: 'part', partlabel: 'KEEL-BOOT' }] }] });
  assert.deepEqual(memberEspsOf(single), { array: null, devices: [] });
  assert.deepEqual(memberEspsOf('not json'), { array: null, devices: [] });
  assert.equal(mdMembersExpected('md127 : active raid1 sda3[0]\n      4190208 blocks super 1.2 [2/1] [U_]\n', '/dev/md127'), 2);
  assert.equal(mdMembersExpected('md0 : active raid10 sda3[0] sdb3[1] sdc3[2] sdd3[3]\n      8380416 blocks super 1.2 512K chunks 2 near-copies [4/4] [UUUU]\n', '/dev/md0'), 4);
  assert.equal(mdMembersExpected('', '/dev/md0'), null);
});

test('grubStepsTo: how many GRUB boots lead from one counter to another', () => {
  const c = (keel_next: string, keel_tries: string, keel_failed = '') => ({ keel_next, keel_tries, keel_failed });
  assert.equal(grubStepsTo(c('b', '3'), c('b', '2')), 1);
  assert.equal(grubStepsTo(c('b', '3'), c('b', '0')), 3);
  assert.equal(grubStepsTo(c('b', '3'), c('', '', 'b')), 4);
  assert.equal(grubStepsTo(c('b', '3'), c('b', '3')), null, 'no boot');
  assert.equal(grubStepsTo(c('b', '2'), c('b', '3')), null, 'backwards');
  assert.equal(grubStepsTo(c('', ''), c('', '')), null, 'nothing staged: GRUB counts nothing');
  assert.equal(grubStepsTo(c('', ''), c('b', '2')), null, 'a stage GRUB did not make');
});
