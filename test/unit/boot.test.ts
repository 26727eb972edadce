/** `keel boot` in a sandbox root: the first boot after the wizard makes the certificate and host keys, later boots keep them. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { validate } from '../../appliance/config/schema.ts';
import { run } from '../../appliance/boot.ts';
import { WEBUI_CERT_PATH, WEBUI_KEY_PATH } from '../../appliance/certs/webui.ts';
import { SSH_KEY_DIR, hostKeyFingerprints } from '../../appliance/ssh/keys.ts';
import { sampleConfig, tempRoot } from '../helpers/config.ts';

/** Runs `keel boot --root ROOT` and returns what it logged. */
async function boot(root: string): Promise<{ code: number; log: string }> {
  const write = process.stderr.write.bind(process.stderr);
  const env = process.env.KEEL_LOG;
  let log = '';
  delete process.env.KEEL_LOG;
  process.stderr.write = ((chunk: string | Uint8Array) => ((log += String(chunk)), true)) as typeof process.stderr.write;
  try {
    return { code: await run(['--root', root]), log };
  } finally {
    process.stderr.write = write;
    if (env !== undefined) process.env.KEEL_LOG = env;
  }
}

test('first boot after the wizard: certificate and both host keys made, a "boot finished" line with its stages; the next boot keeps them', async (t) => {
  const root = tempRoot('keel-boot-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const s = Store.open(host);
  s.commitRunning(validate(sampleConfig()), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  s.close();

  const first = await boot(root);
  assert.equal(first.code, 0, first.log);
  const x = new crypto.X509Certificate(fs.readFileSync(path.join(root, WEBUI_CERT_PATH), 'utf8'));
  assert.equal(x.subjectAltName, 'DNS:core.example.com, IP Address:192.0.2.10');
  assert.ok(x.verify(x.publicKey) && x.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(path.join(root, WEBUI_KEY_PATH)))));
  const keys = hostKeyFingerprints(host);
  assert.deepEqual(keys.map((k) => k.type), ['ed25519', 'rsa']);
  assert.equal(fs.statSync(path.join(root, SSH_KEY_DIR, 'ssh_host_rsa_key')).mode & 0o777, 0o600);
  const line = /keel info: boot finished ms=(\{.*\})/.exec(first.log);
  assert.ok(line, first.log);
  const ms = JSON.parse(line[1]) as Record<string, number>;
  for (const k of ['start', 'open', 'render', 'hostKeys', 'certificate', 'waitKeysAndCertificate', 'handOver', 'total']) assert.ok(Number.isInteger(ms[k]) && ms[k] >= 0, `${k} in ${line[1]}`);
  assert.ok(ms.total >= ms.render + ms.waitKeysAndCertificate);

  const second = await boot(root);
  assert.equal(second.code, 0, second.log);
  assert.doesNotMatch(second.log, /made an SSH host key|made a new self-signed/);
  assert.deepEqual(hostKeyFingerprints(host), keys);
  assert.equal(new crypto.X509Certificate(fs.readFileSync(path.join(root, WEBUI_CERT_PATH), 'utf8')).fingerprint256, x.fingerprint256);
});

test('before the wizard: nothing rendered, no certificate, no host keys', async (t) => {
  const root = tempRoot('keel-boot-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const r = await boot(root);
  assert.equal(r.code, 0);
  assert.match(r.log, /not configured yet/);
  assert.ok(!fs.existsSync(path.join(root, SSH_KEY_DIR)));
  assert.ok(!fs.existsSync(path.join(root, WEBUI_CERT_PATH)));
});
