/** SSH host keys: made once, private parts 0600, fingerprints as OpenSSH prints them, the identity kept. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHost } from '../../appliance/host/index.ts';
import { ensureHostKeys, ensureHostKeysAsync, generatePairAsync, hostKeyFingerprints, SSH_KEY_DIR } from '../../appliance/ssh/keys.ts';
import { tempRoot } from '../helpers/config.ts';

const hasKeygen = spawnSync('ssh-keygen', ['-?']).error === undefined;

test('host keys: made once and kept, private keys 0600 in a 0700 folder, fingerprints as ssh-keygen -l prints them', async (t) => {
  const root = tempRoot('keel-keys-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  assert.deepEqual(hostKeyFingerprints(host), [], 'none before the first start');
  const first = ensureHostKeys(host);
  assert.deepEqual(first.map((k) => k.type), ['ed25519', 'rsa']);
  const dir = path.join(root, SSH_KEY_DIR);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  for (const f of ['ssh_host_ed25519_key', 'ssh_host_rsa_key']) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
  // Same keys on every later start: a client's known_hosts entry stays valid.
  assert.deepEqual(ensureHostKeys(host).map((k) => k.fingerprint), first.map((k) => k.fingerprint));
  assert.deepEqual(hostKeyFingerprints(host).map((k) => k.fingerprint), first.map((k) => k.fingerprint));
  if (hasKeygen) {
    for (const [i, f] of ['ssh_host_ed25519_key.pub', 'ssh_host_rsa_key.pub'].entries()) {
      const out = spawnSync('ssh-keygen', ['-l', '-f', path.join(dir, f)], { encoding: 'utf8' }).stdout;
      assert.ok(out.includes(first[i].fingerprint), `${out} vs ${first[i].fingerprint}`);
    }
    const bits = spawnSync('ssh-keygen', ['-l', '-f', path.join(dir, 'ssh_host_rsa_key.pub')], { encoding: 'utf8' }).stdout;
    assert.match(bits, /^3072 /);
  }
});

test('a lost public key file is made again from the private key: the identity does not change', async (t) => {
  const root = tempRoot('keel-keys-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const first = ensureHostKeys(host);
  fs.rmSync(path.join(root, SSH_KEY_DIR, 'ssh_host_ed25519_key.pub'));
  fs.rmSync(path.join(root, SSH_KEY_DIR, 'ssh_host_rsa_key.pub'));
  const again = ensureHostKeys(host);
  assert.deepEqual(again.map((k) => k.fingerprint), first.map((k) => k.fingerprint));
  assert.deepEqual(again.map((k) => k.privateKey), first.map((k) => k.privateKey));
});

test('host key pairs always read back: a malformed pair from the generator is made again', async () => {
  const { generatePair } = await import('../../appliance/ssh/keys.ts');
  const ssh2 = (await import('ssh2')).default;
  // ssh2 strips an Ed25519 public key's leading zero bytes: about 1 pair in 256 without the retry.
  for (let i = 0; i < 1000; i++) {
    const p = generatePair('ed25519', {});
    assert.ok(!(ssh2.utils.parseKey(p.private) instanceof Error) && !(ssh2.utils.parseKey(p.public) instanceof Error), `pair ${i} reads back`);
  }
  const good = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'keel' } as never) as { private: string; public: string };
  const bad = { private: good.private.replace(/[A-Za-z0-9]{20}\n/, 'AAAA\n'), public: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAHw== keel' };
  let calls = 0;
  assert.equal(generatePair('ed25519', {}, () => (++calls === 1 ? bad : good)), good);
  assert.equal(calls, 2);
  assert.throws(() => generatePair('ed25519', {}, () => bad), /could not make a readable ed25519 SSH host key/);
});

test('keel boot makes the host keys at the same time, off the main thread: same files and rights, and kept after', async (t) => {
  const root = tempRoot('keel-keys-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  // Both generators must be running before either finishes: made one after another, the first
  // waits here in vain (both start in the same tick when made together).
  const started: string[] = [];
  let release!: () => void;
  const bothStarted = new Promise<void>((resolve, reject) => {
    release = resolve;
    setTimeout(() => reject(new Error(`only ${started.join(', ')} started: the keys are made one after another`)), 2000).unref();
  });
  const made = await ensureHostKeysAsync(host, async (type, opts) => {
    started.push(type);
    if (started.length === 2) release();
    await bothStarted;
    return generatePairAsync(type, opts);
  });
  assert.deepEqual(started.sort(), ['ed25519', 'rsa']);
  assert.deepEqual(made.map((k) => k.type), ['ed25519', 'rsa']);
  const dir = path.join(root, SSH_KEY_DIR);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  for (const f of ['ssh_host_ed25519_key', 'ssh_host_rsa_key']) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
  for (const f of ['ssh_host_ed25519_key.pub', 'ssh_host_rsa_key.pub']) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o644, f);
  // keel serve (ensureHostKeys) reads the same identity, and nothing is made again.
  assert.deepEqual(ensureHostKeys(host).map((k) => k.fingerprint), made.map((k) => k.fingerprint));
  assert.deepEqual((await ensureHostKeysAsync(host, () => assert.fail('no key is made twice'))).map((k) => k.fingerprint), made.map((k) => k.fingerprint));
  const ssh2 = (await import('ssh2')).default;
  const rsa = ssh2.utils.parseKey(made[1].privateKey);
  assert.ok(!(rsa instanceof Error));
  if (hasKeygen) assert.match(spawnSync('ssh-keygen', ['-l', '-f', path.join(dir, 'ssh_host_rsa_key.pub')], { encoding: 'utf8' }).stdout, /^3072 /);
  // Only the missing key is made; a lost .pub comes back from its private key.
  fs.rmSync(path.join(dir, 'ssh_host_ed25519_key'));
  fs.rmSync(path.join(dir, 'ssh_host_rsa_key.pub'));
  const asked: string[] = [];
  const again = await ensureHostKeysAsync(host, (type, opts) => (asked.push(type), generatePairAsync(type, opts)));
  assert.deepEqual(asked, ['ed25519']);
  assert.equal(again[1].fingerprint, made[1].fingerprint);
  assert.notEqual(again[0].fingerprint, made[0].fingerprint);
});

test('the thread-pool generator retries a pair that does not read back, like the synchronous one', async () => {
  const ssh2 = (await import('ssh2')).default;
  const good = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'keel' } as never) as { private: string; public: string };
  const bad = { private: good.private.replace(/[A-Za-z0-9]{20}\n/, 'AAAA\n'), public: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAHw== keel' };
  let calls = 0;
  assert.equal(await generatePairAsync('ed25519', {}, async () => (++calls === 1 ? bad : good)), good);
  assert.equal(calls, 2);
  await assert.rejects(generatePairAsync('ed25519', {}, async () => bad), /could not make a readable ed25519 SSH host key/);
  const real = await generatePairAsync('rsa', { bits: 3072 });
  assert.ok(real.public.startsWith('ssh-rsa '));
});
