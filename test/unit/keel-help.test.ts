import { test } from 'vitest';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn } from 'node:child_process';

const MAIN = path.resolve(import.meta.dirname, '../../bin/main.ts');
const SUBCOMMANDS = ['start', 'wizard', 'serve', 'console', 'applier', 'monitor', 'boot', 'install', 'health', 'cli', 'version'];

function keel(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, KEEL_LOG: 'silent' } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

test('--help on every keel subcommand: usage and each option from the one description, exit 0, no stack trace', async () => {
  const all = await Promise.all(SUBCOMMANDS.map(async (c) => [c, await keel([c, '--help'])] as const));
  for (const [c, r] of all) {
    assert.equal(r.code, 0, `${c}: ${r.err}`);
    assert.match(r.out, new RegExp(`^usage: keel ${c}`), c);
    assert.doesNotMatch(r.out + r.err, /at .*\.ts:\d+|ERR_PARSE_ARGS/, c);
  }
  const install = all.find(([c]) => c === 'install')![1].out;
  for (const o of ['--mode MODE', '--disk DEVICE', '--wipe', '--from-cmdline', '--root DIR']) assert.ok(install.includes(o), o);
});

test('an unknown option or a missing value gives the usage and exit 2, not a stack trace', async () => {
  for (const args of [['serve', '--bogus'], ['wizard', '--answer', 'x'], ['boot', '--root'], ['health', '--json=1']]) {
    const r = await keel(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, new RegExp(`^keel ${args[0]}: .+\\n\\nusage: keel ${args[0]}`), args.join(' '));
    assert.doesNotMatch(r.err, /at .*\.ts:\d+/);
  }
});
