import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readPolicy, trim, forbidden, setidFiles } from '../../image/trim.ts';

const POLICY = path.resolve(import.meta.dirname, '../../image/base/trim.txt');

function fakeRoot(): string {
  const r = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-trim-'));
  const put = (p: string, text = 'x', mode = 0o755) => {
    fs.mkdirSync(path.dirname(path.join(r, p)), { recursive: true });
    fs.writeFileSync(path.join(r, p), text);
    fs.chmodSync(path.join(r, p), mode);
  };
  put('usr/bin/apt-get');
  put('usr/bin/dpkg');
  put('usr/bin/perl');
  put('usr/bin/bash');
  put('usr/bin/su', 'x', 0o4755);
  put('usr/bin/mount', 'x', 0o4755);
  put('usr/bin/wall', 'x', 0o2755);
  put('usr/bin/node');
  put('usr/libexec/hypervkvpd/hv_get_dns_info', '#!/bin/bash\ncat /etc/resolv.conf\n');
  put('usr/lib/systemd/system/apt-daily.timer', '[Timer]\n', 0o644);
  put('var/lib/dpkg/status', 'Package: x\n', 0o644);
  fs.mkdirSync(path.join(r, 'etc/systemd/system/timers.target.wants'), { recursive: true });
  fs.symlinkSync('/usr/lib/systemd/system/apt-daily.timer', path.join(r, 'etc/systemd/system/timers.target.wants/apt-daily.timer'));
  fs.symlinkSync('/usr/lib/systemd/system/gone.timer', path.join(r, 'etc/systemd/system/timers.target.wants/gone.timer'));
  return r;
}

test('the trim removes package managers, interpreters and the su family, clears set-id bits and masks units; nothing forbidden is left', () => {
  const r = fakeRoot();
  const policy = readPolicy(POLICY);
  assert.ok(forbidden(r, policy).length >= 7, 'the fake root starts out with forbidden files');
  const did = trim(r, policy);
  assert.deepEqual(forbidden(r, policy), []);
  for (const p of ['usr/bin/apt-get', 'usr/bin/dpkg', 'usr/bin/perl', 'usr/bin/bash', 'usr/bin/su']) assert.equal(fs.existsSync(path.join(r, p)), false, p);
  assert.ok(fs.existsSync(path.join(r, 'usr/bin/node')));
  assert.ok(fs.existsSync(path.join(r, 'var/lib/dpkg/status')), 'the package record stays (the SBOM and guest tools read it)');
  assert.deepEqual(setidFiles(r), []);
  assert.equal(fs.statSync(path.join(r, 'usr/bin/mount')).mode & 0o7777, 0o755);
  assert.equal(fs.readlinkSync(path.join(r, 'etc/systemd/system/mdcheck_start.timer')), '/dev/null');
  assert.match(fs.readFileSync(path.join(r, 'usr/libexec/hypervkvpd/hv_get_dns_info'), 'utf8'), /^#!\/bin\/sh\n/);
  assert.equal(fs.existsSync(path.join(r, 'etc/systemd/system/timers.target.wants/gone.timer')), false, 'dangling wants links go');
  assert.ok(did.includes('cleared setuid/setgid on usr/bin/wall'));
  fs.rmSync(r, { recursive: true, force: true });
});

test('a forbidden file that comes back, or a new setuid binary, is reported by name', () => {
  const r = fakeRoot();
  const policy = readPolicy(POLICY);
  trim(r, policy);
  fs.writeFileSync(path.join(r, 'usr/bin/apt'), 'x');
  fs.writeFileSync(path.join(r, 'usr/bin/newtool'), '#!/usr/bin/env bash\n');
  fs.chmodSync(path.join(r, 'usr/bin/newtool'), 0o4755);
  assert.deepEqual(forbidden(r, policy), ['usr/bin/apt', 'usr/bin/newtool (setuid/setgid)', 'usr/bin/newtool (a bash script, and there is no bash)']);
  fs.rmSync(r, { recursive: true, force: true });
});
