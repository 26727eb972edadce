/**
 * testssl.sh (Debian's package) against System Manager, and the certificate it is given: a leaf for
 * the appliance's FQDN issued by a test CA that testssl is told to trust, so the trust checks judge
 * Keel's TLS configuration and not a missing CA. Used by the e2e test against the booted guest.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import forge from 'node-forge';
import { makeCaChain, makeCert } from './pki.ts';

/** The testssl.sh executable, or undefined when the package is not installed. */
export const TESTSSL = ['/usr/bin/testssl', '/usr/bin/testssl.sh'].find((p) => fs.existsSync(p));

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

/** A certificate for `hostname` and its chain (leaf, intermediate), its key, and the root (also in `caFile`). */
export function tlsTestCertificate(hostname: string, dir: string): { chainPem: string; rootPem: string; keyPem: string; caFile: string; leafPem: string } {
  const { root: ca, intermediate } = makeCaChain('TLS test');
  const leaf = makeCert({ cn: hostname, issuer: intermediate, dns: [hostname], eku: ['serverAuth'] });
  // A CA names where revocation is published (testssl rates its absence HIGH); a property of the issuer, not of the server.
  leaf.cert.setExtensions([...leaf.cert.extensions, { name: 'cRLDistributionPoints', altNames: [{ type: 6, value: 'http://crl.example.com/tls-test.crl' }] }]);
  leaf.cert.sign(intermediate.key, forge.md.sha256.create());
  const leafPem = forge.pki.certificateToPem(leaf.cert);
  const caFile = path.join(dir, 'testssl-ca.pem');
  fs.writeFileSync(caFile, ca.certPem);
  return { chainPem: leafPem + intermediate.certPem, rootPem: ca.certPem, keyPem: leaf.keyPem, caFile, leafPem };
}

/**
 * Runs testssl.sh against `https://HOSTNAME:PORT/mics/` reached at 127.0.0.1 (protocols, cipher
 * categories, forward secrecy, server preferences and defaults, HTTP headers, vulnerabilities;
 * client simulation and per-cipher enumeration add minutes and judge nothing of ours). Resolves to
 * its console text, its JSON findings and its run time; never rejects (the checks are the caller's).
 */
export async function runTestssl(o: { hostname: string; port: number; caFile: string; dir: string; timeoutMs: number }): Promise<{ out: string; findings: Finding[] | null; seconds: number }> {
  assert.ok(TESTSSL, 'testssl.sh is not installed (apt-get install testssl.sh)');
  const json = path.join(o.dir, 'testssl.json');
  fs.rmSync(json, { force: true });
  const args = [
    '--quiet', '--color', '0', '--warnings', 'off', '--jsonfile', json, '--severity', 'MEDIUM',
    '--ip', '127.0.0.1', '--add-ca', o.caFile, '--connect-timeout', '20', '--openssl-timeout', '20',
    '--protocols', '--std', '--fs', '--server-preference', '--server-defaults', '--headers', '--vulnerable',
    `https://${o.hostname}:${o.port}/mics/`,
  ];
  const t0 = Date.now();
  const out = await new Promise<string>((resolve) => {
    execFile(TESTSSL, args, { maxBuffer: 16 * 1024 * 1024, timeout: o.timeoutMs }, (err, stdout, stderr) => resolve(`${stdout}${stderr}${err?.killed ? `\n(testssl.sh killed after ${o.timeoutMs / 1000} s)` : ''}`));
  });
  const findings = fs.existsSync(json) ? (JSON.parse(fs.readFileSync(json, 'utf8')) as Finding[]) : null;
  return { out, findings, seconds: (Date.now() - t0) / 1000 };
}

/** Fails unless testssl.sh really tested the server and found nothing of MEDIUM severity or worse. */
export function assertTestsslClean(r: Awaited<ReturnType<typeof runTestssl>>): void {
  const tail = r.out.slice(-4000);
  assert.ok(r.findings, `testssl.sh wrote no JSON file:\n${tail}`);
  assert.ok(r.findings.length > 0 || /TLS 1\.3/.test(r.out), `testssl.sh reported nothing at all; did it reach the server?\n${tail}`);
  // testssl reports its own trouble (no connection, aborted scan) as scanProblem/FATAL: a failure, never a pass.
  const bad = r.findings.filter((f) => ['MEDIUM', 'HIGH', 'CRITICAL', 'FATAL'].includes(f.severity));
  assert.deepEqual(
    bad.map((f) => `${f.severity} ${f.id}: ${f.finding}`),
    [],
    `testssl.sh findings of MEDIUM severity or worse:\n${bad.map((f) => `  ${f.severity} ${f.id}: ${f.finding}`).join('\n')}`,
  );
  // It really tested the server: the protocol lines are there even below the severity filter.
  assert.match(r.out, /TLS 1\.3\s+offered/, tail);
  assert.match(r.out, /SSLv3\s+not offered/, tail);
}
