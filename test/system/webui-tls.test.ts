/**
 * testssl.sh (Debian) against System Manager (`keel serve` on loopback, with a CA-signed certificate
 * for its FQDN so the trust checks judge our configuration, not a missing CA): protocols, cipher
 * categories, forward secrecy, server preferences and defaults, HTTP headers and the vulnerability
 * checks. No finding may be MEDIUM, HIGH or CRITICAL.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { applyAtBoot } from '../../appliance/config/apply.ts';
import { validate } from '../../appliance/config/schema.ts';
import { WEBUI_CERT_PATH, WEBUI_KEY_PATH, WEBUI_SOURCE_PATH } from '../../appliance/certs/webui.ts';
import { sampleConfig, tempRoot, fakeSysfs } from '../helpers/config.ts';
import { makeCaChain, makeCert } from '../helpers/pki.ts';

process.env.KEEL_LOG ??= 'silent';
const MAIN = fileURLToPath(new URL('../../bin/main.ts', import.meta.url));
const TESTSSL = ['/usr/bin/testssl', '/usr/bin/testssl.sh'].find((p) => fs.existsSync(p));

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

function startServe(root: string, sysfs: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--root', root, '--https-port', '0', '--listen', '127.0.0.1'], {
    env: { ...process.env, KEEL_LOG: 'silent', KEEL_SYSFS: sysfs },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`keel serve did not start:\n${out}`)), 30000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /System Manager: https:\/\/[^:]+:(\d+)\/mics\//.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ child, port: Number(m[1]) });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`keel serve exited ${code}:\n${out}`)));
  });
}

test('testssl.sh finds nothing of MEDIUM severity or worse on System Manager', { timeout: 600_000 }, async (t) => {
  const skipped = TESTSSL ? false : 'testssl.sh is not installed (apt-get install testssl.sh)';
  if (skipped) return t.skip(skipped);
  const root = tempRoot('keel-tls-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const sysfs = fakeSysfs(root, 1);
  const host = createHost(root, { sysfs });
  const config = sampleConfig();
  const s = Store.open(host);
  s.commitRunning(validate(config), { who: 'test', source: 'test' }, 'initial', '');
  s.saveStartup({ who: 'test', source: 'test' });
  await applyAtBoot(host, s);
  s.close();

  // An installed (uploaded) certificate for the FQDN, issued by a test CA that testssl is told to trust.
  const { root: ca, intermediate } = makeCaChain('TLS test');
  const leaf = makeCert({ cn: config.system.hostname, issuer: intermediate, dns: [config.system.hostname], eku: ['serverAuth'] });
  // A CA names where revocation is published (testssl rates its absence HIGH); a property of the issuer, not of our server.
  leaf.cert.setExtensions([...leaf.cert.extensions, { name: 'cRLDistributionPoints', altNames: [{ type: 6, value: 'http://crl.example.com/tls-test.crl' }] }]);
  leaf.cert.sign(intermediate.key, forge.md.sha256.create());
  leaf.certPem = forge.pki.certificateToPem(leaf.cert);
  host.files.mkdirp('/var/lib/keel/certs', 0o700);
  host.files.writeAtomic(WEBUI_KEY_PATH, leaf.keyPem, 0o600);
  host.files.writeAtomic(WEBUI_CERT_PATH, leaf.certPem + intermediate.certPem, 0o644);
  host.files.writeAtomic(WEBUI_SOURCE_PATH, 'uploaded\n', 0o644);
  const caFile = path.join(root, 'test-ca.pem');
  fs.writeFileSync(caFile, ca.certPem);

  const { child, port } = await startServe(root, sysfs);
  t.onTestFinished(() => {
    child.kill('SIGTERM');
  });

  const json = path.join(root, 'testssl.json');
  const args = [
    '--quiet', '--color', '0', '--warnings', 'off', '--jsonfile', json, '--severity', 'MEDIUM',
    '--ip', '127.0.0.1', '--add-ca', caFile, '--connect-timeout', '10', '--openssl-timeout', '10',
    // Protocols, cipher categories, forward secrecy, preferences, defaults (certificate), headers, vulnerabilities;
    // client simulation and per-cipher enumeration add minutes and judge nothing of ours.
    '--protocols', '--std', '--fs', '--server-preference', '--server-defaults', '--headers', '--vulnerable',
    `https://${config.system.hostname}:${port}/mics/`,
  ];
  const t0 = Date.now();
  const out = await new Promise<string>((resolve) => {
    execFile(TESTSSL!, args, { maxBuffer: 16 * 1024 * 1024, timeout: 540_000 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
  console.log(`testssl.sh ran ${Math.round((Date.now() - t0) / 1000)} s`);
  assert.ok(fs.existsSync(json), `testssl.sh wrote no JSON file:\n${out.slice(-4000)}`);
  const findings = JSON.parse(fs.readFileSync(json, 'utf8')) as Finding[];
  assert.ok(findings.length > 0 || /TLS 1\.3/.test(out), `testssl.sh reported nothing at all; did it reach the server?\n${out.slice(-4000)}`);
  // testssl reports its own trouble (no connection, aborted scan) as scanProblem/FATAL: a failure, never a pass.
  const bad = findings.filter((f) => ['MEDIUM', 'HIGH', 'CRITICAL', 'FATAL'].includes(f.severity));
  assert.deepEqual(
    bad.map((f) => `${f.severity} ${f.id}: ${f.finding}`),
    [],
    `testssl.sh findings of MEDIUM severity or worse:\n${bad.map((f) => `  ${f.severity} ${f.id}: ${f.finding}`).join('\n')}`,
  );
  // It really tested the server: the protocol lines are there even below the severity filter.
  assert.match(out, /TLS 1\.3\s+offered/, out.slice(-4000));
  assert.match(out, /SSLv3\s+not offered/, out.slice(-4000));
});
