import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import { tempRoot, fakeSysfs } from '../helpers/config.ts';
import { Q } from '../../appliance/wizard/questions.ts';
import { VERSION } from '../../appliance/version.ts';

const MAIN = path.resolve(import.meta.dirname, '../../bin/main.ts');

/** `keel <args>` as a child on pipes, with helpers to wait for output and type lines. */
function keel(args: string[], sysfs: string) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, KEEL_LOG: 'silent', KEEL_SYSFS: sysfs } });
  const state = { out: '' };
  child.stdout.on('data', (d) => (state.out += d));
  child.stderr.on('data', (d) => (state.out += d));
  const exit = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const waitFor = async (what: RegExp | string, ms = 10000): Promise<void> => {
    const until = Date.now() + ms;
    while (!(typeof what === 'string' ? state.out.includes(what) : what.test(state.out))) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}; output:\n${state.out}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const lines = (...l: string[]) => child.stdin.write(l.map((x) => `${x}\n`).join(''));
  return { child, state, exit, waitFor, lines };
}

const ANSWERS = {
  eula: 'yes', company: 'Example Corp', contact: 'Jane Admin', contactEmail: 'jane@example.com', enableSecret: 'Enable123', adminUser: 'admin', adminPassword: 'Secret123',
  interface: 'a', address: '192.0.2.10', netmask: '255.255.255.0', gateway: '192.0.2.1', hostname: 'core.example.com', nameServer1: '192.0.2.53', ssh: 'no', ntp: 'no',
};

function setup(t: TestContext) {
  const root = tempRoot('keel-console-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  return { root, sysfs: fakeSysfs(root, 2) };
}

/** Configures the sandbox the unattended way (`keel wizard --answers`). */
async function configure(root: string, sysfs: string, over: Record<string, string> = {}): Promise<void> {
  const file = path.join(root, 'answers.json');
  fs.writeFileSync(file, JSON.stringify({ ...ANSWERS, ...over }));
  const w = keel(['wizard', '--root', root, '--answers', file], sysfs);
  assert.equal(await w.exit, 0, w.state.out);
}

/** A throwaway self-signed certificate, made with node-forge; returns its SHA-256 fingerprint (AA:BB:…). */
function writeCert(root: string): string {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = new Date(Date.now() + 86400_000);
  const name = [{ name: 'commonName', value: 'core.example.com' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }) as string), forge.md.sha256.create());
  const der = forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes();
  const dir = path.join(root, 'var/lib/keel/certs');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'webui.crt'), forge.pki.certificateToPem(cert));
  return forge.md.sha256.create().update(der).digest().toHex().toUpperCase().match(/../g)!.join(':');
}

test('configured: banner with version, URLs and certificate fingerprint; sign-in refuses bad passwords and never starts a shell', async (t) => {
  const { root, sysfs } = setup(t);
  await configure(root, sysfs);
  const fp = writeCert(root);
  const c = keel(['console', '--root', root, '--cert-wait', '0'], sysfs);
  await c.waitFor('core login: ');
  const started = Date.now();
  c.lines('admin', 'wrong-password');
  await c.waitFor('% Login invalid');
  assert.ok(Date.now() - started >= 1900, 'a failed sign-in is delayed 2 s');
  c.lines('nobody', 'Secret123');
  await c.waitFor(/% Login invalid[\s\S]*% Login invalid/);
  c.lines('admin', 'Secret123');
  await c.waitFor('core>');
  c.lines('show version', 'exit');
  await c.waitFor(/core>show version\n[\s\S]*Keel[\s\S]*core>exit[\s\S]*core login: $/);
  c.child.stdin.end();
  assert.equal(await c.exit, 0, c.state.out);
  const out = c.state.out;
  assert.match(out, new RegExp(`Keel ${VERSION.replace(/\./g, '\\.')} - core\\.example\\.com\\n`));
  assert.match(out, /System Manager: https:\/\/core\.example\.com:8443\/mics \(https:\/\/192\.0\.2\.10:8443\/mics\)/);
  assert.ok(out.includes(`Certificate SHA-256 fingerprint: ${fp}\n`), out);
  // After sign-in the console runs the appliance CLI; leaving it shows the banner again.
  assert.match(out, /core>/);
  // The banner is shown again after each attempt: 1 + 2 failures + 1 after the CLI session.
  assert.equal(out.split('Certificate SHA-256 fingerprint:').length - 1, 4);
  assert.equal(out.split('% Login invalid').length - 1, 2);
  assert.ok(!out.includes('Secret123') && !out.includes('wrong-password'), 'a password was echoed');
  assert.doesNotMatch(out, /Welcome to Keel/, 'the wizard does not run once configured');
});

test('the certificate is waited for, then reported as being generated', async (t) => {
  const { root, sysfs } = setup(t);
  await configure(root, sysfs);
  const none = keel(['console', '--root', root, '--cert-wait', '0'], sysfs);
  await none.waitFor('core login: ');
  none.child.stdin.end();
  assert.equal(await none.exit, 0);
  assert.match(none.state.out, /certificate is being generated/);
  assert.doesNotMatch(none.state.out, /fingerprint: [0-9A-F]/);
  // Appears while the console waits: shown as soon as it is there.
  const later = keel(['console', '--root', root, '--cert-wait', '20'], sysfs);
  await new Promise((r) => setTimeout(r, 700));
  assert.doesNotMatch(later.state.out, /login: /);
  const fp = writeCert(root);
  await later.waitFor('core login: ');
  later.child.stdin.end();
  assert.equal(await later.exit, 0);
  assert.ok(later.state.out.includes(`Certificate SHA-256 fingerprint: ${fp}`));
});

const WIZARD_LINES = [
  'yes', 'yes', 'Example Corp', 'Jane Admin', 'jane@example.com', 'Enable123', 'Enable123', 'admin', 'Secret123', 'Secret123', 'a',
  '192.0.2.10', '255.255.255.0', '192.0.2.1', 'core.example.com', '192.0.2.53', '', 'no', 'no', 'no', 'yes', 'reload', 'yes', 'yes',
];

test('not configured: the console runs the wizard, then (sandbox, no real reboot) the banner', async (t) => {
  const { root, sysfs } = setup(t);
  const c = keel(['console', '--root', root, '--cert-wait', '0'], sysfs);
  c.lines(...WIZARD_LINES, 'admin', 'Secret123');
  await c.waitFor('core>');
  c.child.stdin.end();
  assert.equal(await c.exit, 0, c.state.out);
  assert.match(c.state.out, /Welcome to Keel[\s\S]*Configuration complete[\s\S]*System Manager: https:\/\/core\.example\.com:8443\/mics/);
  assert.ok(fs.existsSync(path.join(root, 'var/lib/keel/configured')));
  assert.match(fs.readFileSync(path.join(root, 'var/log/keel/commands.log'), 'utf8'), /systemctl reboot/);
  assert.ok(!c.state.out.includes('Secret123') && !c.state.out.includes('Enable123'));
});

test('not configured, input ends: the console exits non-zero and writes nothing', async (t) => {
  const { root, sysfs } = setup(t);
  const c = keel(['console', '--root', root], sysfs);
  c.lines(...WIZARD_LINES.slice(0, 8));
  c.child.stdin.end();
  assert.equal(await c.exit, 1, c.state.out);
  assert.ok(!fs.existsSync(path.join(root, 'var/lib/keel/keel.db')));
});

test('two consoles: the one that finishes first writes; the other is told at its next step and shows the banner', async (t) => {
  const { root, sysfs } = setup(t);
  const slow = keel(['console', '--root', root, '--cert-wait', '0'], sysfs);
  slow.lines('yes', 'yes', 'Slow Corp');
  await slow.waitFor(Q.contact.prompt);
  await configure(root, sysfs, { hostname: 'first.example.com' });
  slow.lines('Jane');
  await slow.waitFor('first login: ');
  slow.child.stdin.end();
  assert.equal(await slow.exit, 0, slow.state.out);
  assert.match(slow.state.out, /% This wizard stops: the appliance was configured on another console/);
  assert.ok(!slow.state.out.includes(Q.contactEmail.prompt), 'asked on after the other console finished');
  assert.match(slow.state.out, /System Manager: https:\/\/first\.example\.com:8443\/mics/);
});
