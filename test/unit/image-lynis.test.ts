/**
 * Keel's lynis profile (image/lynis/keel.prf): every skipped test carries its reason and names a
 * test lynis has, and Keel's sysctl file sets nothing otherwise than lynis expects (KRNL-6000, which
 * the chroot audit cannot run against the image's own kernel).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { lynisSysctls, readLynisProfile, sysctlGaps } from '../../image/audit.ts';

const TOP = path.resolve(import.meta.dirname, '../..');
const PROFILE = fs.readFileSync(path.join(TOP, 'image/lynis/keel.prf'), 'utf8');

test('lynis profile: each skip-test has its reason, once', () => {
  const skips = readLynisProfile(PROFILE);
  assert.ok(skips.length > 0);
  for (const s of skips) assert.ok(s.reason.length >= 20, `${s.test}: reason too short: ${s.reason}`);
  assert.equal(skips.length, PROFILE.split('\n').filter((l) => l.startsWith('skip-test=')).length);
  assert.throws(() => readLynisProfile('skip-test=DEB-0810\n'), /DEB-0810 has no/);
  assert.throws(() => readLynisProfile('# DEB-0811: apt-listchanges needs apt\nskip-test=DEB-0810\n'), /DEB-0810 has no/);
  assert.throws(() => readLynisProfile('# A-1: x\nskip-test=A-1\n# A-1: x\nskip-test=A-1\n'), /twice/);
});

test('lynis profile: every skipped test is one lynis has', (t) => {
  const dir = '/usr/share/lynis/include';
  if (!fs.existsSync(dir)) return t.skip('lynis is not installed here');
  // Its tests, and those of its plugins (the DEB-* tests come from the Debian plugin).
  const files = [...fs.readdirSync(dir).filter((f) => f.startsWith('tests_')).map((f) => path.join(dir, f)), ...fs.readdirSync('/etc/lynis/plugins').map((f) => path.join('/etc/lynis/plugins', f))];
  const all = files.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  for (const s of readLynisProfile(PROFILE)) assert.match(all, new RegExp(`--test-no "?${s.test}\\b`), `lynis has no test ${s.test}`);
});

test("Keel's sysctl.d sets every lynis-checked key it sets to a value lynis expects", () => {
  const expected = lynisSysctls('config-data=sysctl;kernel.sysrq;0;1;x;\nconfig-data=sysctl;kernel.yama.ptrace_scope;1|2|3;1;x;\nconfig-data=sysctl;security.bsd.x;0;1;x;\n');
  assert.deepEqual([...expected.keys()], ['kernel.sysrq', 'kernel.yama.ptrace_scope']);
  assert.deepEqual(sysctlGaps(expected, { 'kernel.sysrq': '1', 'kernel.yama.ptrace_scope': '2' }, () => true), { conflicts: ['kernel.sysrq = 1 (lynis: 0)'], unset: [] });
  const keel: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(TOP, 'image/base/files/etc/sysctl.d/90-keel.conf'), 'utf8').split('\n')) {
    const m = /^\s*([\w.-]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) keel[m[1]] = m[2];
  }
  const prf = '/etc/lynis/default.prf';
  const lynis = fs.existsSync(prf)
    ? lynisSysctls(fs.readFileSync(prf, 'utf8'))
    : new Map(Object.entries({ 'fs.protected_fifos': ['2'], 'kernel.kptr_restrict': ['2'], 'net.ipv4.conf.all.rp_filter': ['1'], 'dev.tty.ldisc_autoload': ['0'] }));
  const gaps = sysctlGaps(lynis, keel, () => true);
  assert.deepEqual(gaps.conflicts, []);
  for (const k of ['fs.protected_fifos', 'kernel.kptr_restrict', 'net.ipv4.conf.all.rp_filter', 'dev.tty.ldisc_autoload']) assert.ok(keel[k] !== undefined, `${k} is not set`);
});
