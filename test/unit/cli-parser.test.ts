import { test } from 'vitest';
import assert from 'node:assert/strict';
import { MODES, rootsFor } from '../../cli/commands.ts';
import { parse, help, complete, tokenize, applyPipe, INVALID, INCOMPLETE } from '../../cli/parse.ts';
import { walk, type Mode } from '../../cli/tree.ts';

const ok = (mode: Mode, line: string) => {
  const r = parse(rootsFor(mode), line);
  assert.ok(r.ok, `${line}: ${r.ok ? '' : r.lines.join(' ')}`);
  return r;
};
const bad = (mode: Mode, line: string) => {
  const r = parse(rootsFor(mode), line);
  assert.ok(!r.ok, `${line} should be refused`);
  return r;
};
const words = (mode: Mode, line: string) => ok(mode, line).path.map((n) => n.kw ?? `<${n.arg!.name}>`).join(' ');

test('unique-prefix abbreviations resolve to full commands', () => {
  assert.equal(words('exec', 'sh run'), 'show running-config');
  assert.equal(words('exec', 'sh star'), 'show startup-config');
  assert.equal(words('exec', 'conf t'), 'configure terminal');
  assert.equal(words('exec', 'wr mem'), 'write memory');
  assert.equal(words('exec', 'copy run start'), 'copy running-config startup-config');
  assert.equal(words('exec', 'SHOW IP ROUTE'), 'show ip route');
  assert.equal(words('config', 'int gi1'), 'interface <interface>');
  assert.equal(ok('config', 'int gi1').args.interface, 'GigabitEthernet1');
  assert.equal(ok('config', 'interface GigabitEthernet2').args.interface, 'GigabitEthernet2');
  assert.equal(ok('config', 'in Gig6').args.interface, 'GigabitEthernet6');
  assert.equal(words('config-if', 'no shut'), 'no shutdown');
  assert.equal(words('config', 'ip ssh ser port 2222'), 'ip ssh server port <port>');
});

test('ambiguous abbreviations are refused and named', () => {
  const r = bad('exec', 's');
  assert.equal(r.kind, 'ambiguous');
  assert.deepEqual(r.lines, ['% Ambiguous command: "s"']);
  const r2 = bad('exec', 'show i');
  assert.equal(r2.kind, 'ambiguous');
  assert.deepEqual(r2.lines, ['% Ambiguous command: "show i"']);
  assert.equal(bad('config', 'c').kind, 'ambiguous', 'company / clock');
});

test('the caret marks the offending word', () => {
  const r = bad('exec', 'show foo');
  assert.equal(r.kind, 'invalid');
  assert.equal(r.caret, 5);
  assert.deepEqual(r.lines, [INVALID]);
  assert.equal(bad('exec', '   frobnicate now').caret, 3);
  const ip = bad('config', 'ip route 10.0.0.0 255.0.255.0 192.0.2.1');
  assert.equal(ip.caret, 18);
  assert.match(ip.lines[1], /^% Invalid netmask \(netmask\): netmask must have contiguous one-bits/);
  const host = bad('config', 'hostname core');
  assert.equal(host.caret, 9);
  assert.match(host.lines[1], /\(fqdn\): hostname must be fully qualified/);
  assert.equal(bad('config', 'hostname "unterminated').caret, 9);
});

test('incomplete commands say so', () => {
  for (const l of ['show', 'configure', 'ip route 10.0.0.0', 'username bob role', 'interface']) {
    const r = bad(l.startsWith('show') || l.startsWith('conf') ? 'exec' : 'config', l);
    assert.equal(r.kind, 'incomplete', l);
    assert.deepEqual(r.lines, [INCOMPLETE]);
  }
});

test('modes and privilege: configuration commands are refused in user EXEC', () => {
  assert.equal(bad('user', 'configure terminal').caret, 0);
  assert.equal(bad('user', 'show running-config').caret, 5);
  assert.equal(bad('user', 'write memory').kind, 'invalid');
  assert.equal(bad('user', 'hostname a.example.com').kind, 'invalid');
  ok('user', 'show version');
  ok('user', 'enable');
  ok('user', 'ping 192.0.2.1');
  assert.equal(bad('exec', 'hostname a.example.com').kind, 'invalid', 'config commands only in config mode');
  assert.equal(bad('config', 'shutdown').kind, 'invalid', 'interface commands only in interface mode');
  ok('config', 'do show running-config');
  ok('config-if', 'do sh ip route');
  // state-changing commands are marked, so read-only users are refused
  assert.equal(ok('exec', 'write memory').changes, true);
  assert.equal(ok('exec', 'show running-config').changes, false);
  assert.equal(ok('config', 'hostname a.example.com').changes, true);
  assert.equal(ok('exec', 'service chrony status').changes, false);
  assert.equal(ok('exec', 'service chrony restart').changes, true);
});

test('no forms', () => {
  const r = ok('config', 'no ip route 10.0.0.0 255.0.0.0 192.0.2.254');
  assert.equal(r.negate, true);
  assert.deepEqual(r.args, { destination: '10.0.0.0', netmask: '255.0.0.0', via: '192.0.2.254' });
  assert.equal(ok('config', 'no ntp').negate, true);
  assert.equal(ok('config', 'no ntp server pool.ntp.org').negate, true);
  assert.equal(ok('config', 'no ip ssh server').negate, true);
  assert.equal(ok('config', 'no banner login').negate, true);
  assert.equal(ok('config', 'no username bob').negate, true);
  assert.equal(ok('config-if', 'no shutdown').negate, true);
  // commands without a no form
  assert.equal(bad('config', 'no hostname').caret, 3);
  assert.equal(bad('config', 'no ip default-gateway').caret, 6);
  assert.equal(bad('config', 'no ntp server').kind, 'incomplete');
  assert.equal(ok('config', 'ntp server pool.ntp.org').negate, false);
});

test('quoted arguments and secrets', () => {
  assert.deepEqual(tokenize('banner login "a \\"b\\" c"').tokens.map((t) => t.text), ['banner', 'login', 'a "b" c']);
  assert.equal(ok('config', 'company name "Example Corp"').args.text, 'Example Corp');
  assert.equal(ok('config', 'company name Example   Corp').args.text, 'Example   Corp');
  assert.equal(ok('config', 'username bob role admin password Secr3tPass!').redacted, 'username bob role admin password <redacted>');
  assert.equal(ok('config', 'enable secret Abc123x').redacted, 'enable secret <redacted>');
  assert.equal(ok('config', 'enable secret 9 $scrypt$N=1024,r=8,p=1$YWJj$ZGVm').redacted, 'enable secret 9 <redacted>');
  assert.match(bad('config', 'enable secret ab').lines[1], /\(enable-secret\): enable secret must be 6-20 characters/);
});

test('ping and traceroute take only a host, never an option', () => {
  ok('exec', 'ping 192.0.2.1');
  ok('exec', 'traceroute core.example.com');
  for (const h of ['-f', '--help', '1.2.3.4;reboot', '$(reboot)', 'a b', '`x`', '999.1.1.1', 'x|y']) {
    const r = parse(rootsFor('exec'), `ping ${h}`);
    if (r.ok) assert.notEqual(r.args.host, h, h);
  }
  assert.match(bad('exec', 'ping -c').lines[1], /\(host\)/);
  assert.match(bad('exec', 'service sshd restart').lines[1], /\(service\): must be one of Keel's services/);
});

test('pipes: include, exclude, begin', () => {
  const r = ok('exec', 'show running-config | include ^ip');
  assert.equal(r.pipe!.kind, 'include');
  assert.equal(ok('exec', 'sh run | i host').pipe!.kind, 'include');
  assert.equal(ok('exec', 'sh run | be interface').pipe!.kind, 'begin');
  assert.equal(ok('exec', 'sh run | ex !').pipe!.kind, 'exclude');
  const text = 'hostname a\n!\nip x\nip y\nend\n';
  assert.equal(applyPipe(text, ok('exec', 'sh run | inc ^ip').pipe), 'ip x\nip y\n');
  assert.equal(applyPipe(text, ok('exec', 'sh run | exc ^ip').pipe), 'hostname a\n!\nend\n');
  assert.equal(applyPipe(text, ok('exec', 'sh run | begin ^ip').pipe), 'ip x\nip y\nend\n');
  assert.equal(applyPipe(text, ok('exec', 'sh run | include nothing').pipe), '');
  assert.equal(bad('exec', 'sh run | include').kind, 'incomplete');
  assert.equal(bad('exec', 'sh run | grep x').kind, 'invalid');
  assert.match(bad('exec', 'sh run | include (').lines[1], /Bad regular expression/);
  assert.equal(ok('config', 'banner login "a | b"').args.text, 'a | b', 'a quoted | is text');
});

test('? lists the next words with help, and <cr> where the command may end', () => {
  const h = help(rootsFor('exec'), 'show ');
  assert.ok(h.some((l) => /^ {2}running-config +The configuration in effect now$/.test(l)));
  assert.ok(h.some((l) => /^ {2}version +/.test(l)));
  assert.ok(!h.includes('  <cr>'));
  assert.deepEqual(help(rootsFor('exec'), 'show version '), ['  <cr>', '  |     Output modifiers']);
  const r = help(rootsFor('config'), 'ip route ');
  assert.deepEqual(r, ['  A.B.C.D  Destination network']);
  assert.ok(help(rootsFor('config'), 'ip ssh server ').includes('  <cr>'));
  assert.ok(help(rootsFor('config'), 'ip ssh server ').some((l) => l.startsWith('  port ')));
  // `word?` lists completions of the word
  assert.deepEqual(help(rootsFor('exec'), 's'), ['service  show  software-update']);
  assert.deepEqual(help(rootsFor('exec'), 'show r'), ['raid  running-config']);
  assert.deepEqual(help(rootsFor('config'), 'int g'), ['GigabitEthernet1  GigabitEthernet2  GigabitEthernet3  GigabitEthernet4  GigabitEthernet5  GigabitEthernet6']);
  // after no, only commands that have a no form
  const no = help(rootsFor('config'), 'no ').map((l) => l.trim().split(/\s+/)[0]);
  assert.deepEqual(no, ['access-list', 'banner', 'connectivity', 'email', 'health', 'interface', 'ip', 'ldap', 'login', 'ntp', 'password-policy', 'portal-authentication', 'ports', 'proxy', 'software-update', 'username']);
  // an error on the way shows the caret
  assert.deepEqual(help(rootsFor('exec'), 'shox '), ['^', INVALID]);
  assert.deepEqual(help(rootsFor('exec'), 'sh run | i'), ['include']);
  assert.deepEqual(help(rootsFor('exec'), 'sh run | x'), ['         ^', INVALID]);
  assert.deepEqual(help(rootsFor('exec'), 'sh run | '), [
    '  begin    Begin with the line that matches',
    '  count    Count the lines that match',
    '  exclude  Exclude lines that match',
    '  include  Include lines that match',
    '  section  Show the sections (a line and the indented lines under it) that match',
  ]);
  // the top of each mode
  assert.ok(help(rootsFor('user'), '').some((l) => l.startsWith('  enable ')));
  assert.ok(!help(rootsFor('user'), '').some((l) => l.startsWith('  configure ')));
});

test('TAB completion is a pure function of the line', () => {
  assert.deepEqual(complete(rootsFor('exec'), 'sh'), { words: ['show'], partial: 'sh' });
  assert.deepEqual(complete(rootsFor('exec'), 'show ru'), { words: ['running-config'], partial: 'ru' });
  assert.deepEqual(complete(rootsFor('exec'), 'show s').words, ['ssh', 'startup-config']);
  assert.deepEqual(complete(rootsFor('exec'), 's').words, ['service', 'show', 'software-update']);
  assert.deepEqual(complete(rootsFor('exec'), 'conf').words, ['configure']);
  assert.deepEqual(complete(rootsFor('exec'), 'configure ').words, ['confirm', 'replace', 'terminal']);
  assert.deepEqual(complete(rootsFor('config'), 'interface gigabitethernet').words.length, 6);
  assert.deepEqual(complete(rootsFor('exec'), 'service k').words, ['keel-monitor', 'keel-serve']);
  assert.deepEqual(complete(rootsFor('exec'), 'show xyz ').words, []);
  assert.deepEqual(complete(rootsFor('exec'), 'sh run | in').words, ['include']);
  assert.deepEqual(complete(rootsFor('config'), 'no ').words, ['access-list', 'banner', 'connectivity', 'email', 'health', 'interface', 'ip', 'ldap', 'login', 'ntp', 'password-policy', 'portal-authentication', 'ports', 'proxy', 'software-update', 'username']);
});

test('every keyword has one line of help and every mode has exit', () => {
  for (const [mode, nodes] of Object.entries(MODES)) {
    for (const n of walk(nodes)) {
      assert.ok(n.help && !n.help.includes('\n'), `${mode}: ${n.kw ?? n.arg?.name} needs one line of help`);
      assert.ok(n.kw !== undefined || n.arg !== undefined);
    }
    assert.ok(nodes.some((n) => n.kw === 'exit'), `${mode} has exit`);
  }
  ok('config', 'end');
  ok('config-if', 'end');
});

/** mulberry32: a small seeded PRNG, so a failing case can be reproduced from its seed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('fuzz: thousands of random lines never throw and always answer', () => {
  const seed = Number(process.env.KEEL_FUZZ_SEED ?? 20261123);
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
  const vocab = new Set<string>(['no', '|', 'include', 'begin', '?', '"', '""', '"a b"', '\\', '192.0.2.1', '255.255.255.0', '10.0.0.0', '0.0.0.0', 'gi1', 'GigabitEthernet9', '-f', '$(x)', '65536', '0', '9', 'é', '\u0000', '\t', 'a'.repeat(300)]);
  for (const nodes of Object.values(MODES)) for (const n of walk(nodes)) if (n.kw) vocab.add(n.kw);
  const list = [...vocab];
  const modes: Mode[] = ['user', 'exec', 'config', 'config-if'];
  for (let i = 0; i < 5000; i++) {
    const mode = pick(modes);
    let line = '';
    const kind = rnd();
    if (kind < 0.6) {
      const n = Math.floor(rnd() * 8);
      const ws: string[] = [];
      for (let j = 0; j < n; j++) {
        const w = pick(list);
        ws.push(rnd() < 0.3 ? w.slice(0, 1 + Math.floor(rnd() * w.length)) : w);
      }
      line = ws.join(rnd() < 0.9 ? ' ' : '  ');
    } else {
      const n = Math.floor(rnd() * 40);
      for (let j = 0; j < n; j++) line += String.fromCharCode(rnd() < 0.8 ? 32 + Math.floor(rnd() * 95) : Math.floor(rnd() * 0x2ff));
    }
    const ctx = `seed ${seed}, case ${i}, mode ${mode}, line ${JSON.stringify(line)}`;
    const roots = rootsFor(mode);
    const r = parse(roots, line);
    if (r.ok) {
      assert.equal(typeof r.handler, 'function', ctx);
    } else {
      assert.ok(['empty', 'invalid', 'ambiguous', 'incomplete'].includes(r.kind), ctx);
      if (r.kind !== 'empty') assert.ok(r.lines.length > 0 && r.lines[0].startsWith('%'), ctx);
      if (r.caret !== null) assert.ok(r.caret >= 0 && r.caret <= line.length, ctx);
    }
    const h = help(roots, line);
    assert.ok(Array.isArray(h) && h.length > 0, ctx);
    const c = complete(roots, line);
    assert.ok(Array.isArray(c.words), ctx);
  }
});
