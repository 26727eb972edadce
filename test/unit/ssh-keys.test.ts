/** SSH host keys: made once, private parts 0600, fingerprints as OpenSSH prints them, the identity kept. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHost } from '../../appliance/host/index.ts';
import { ensureHostKeys, hostKeyFingerprints, SSH_KEY_DIR } from '../../appliance/ssh/keys.ts';
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
