/**
 * Known-answer tests of the primitives Keel signs users in and serves TLS with, run when a
 * process that does either starts (keel serve, keel console): a broken or substituted crypto
 * library stops the process with the reason, instead of accepting every password or signature.
 * Vectors: FIPS 180-2 (SHA-256 "abc"), RFC 4231 case 2 (HMAC-SHA-256), the GCM specification's
 * test case 14 (AES-256-GCM), RFC 8032 test 1 (Ed25519), RFC 7914 (scrypt).
 */
import nodeCrypto from 'node:crypto';
import { log } from '../log.ts';

type Crypto = Pick<typeof nodeCrypto, 'createHash' | 'createHmac' | 'createCipheriv' | 'createDecipheriv' | 'createPrivateKey' | 'createPublicKey' | 'sign' | 'verify' | 'scryptSync'>;

const hex = (s: string) => Buffer.from(s, 'hex');
const ED25519_PKCS8_PREFIX = '302e020100300506032b657004220420';

const TESTS: { name: string; run: (c: Crypto) => boolean }[] = [
  { name: 'SHA-256', run: (c) => c.createHash('sha256').update('abc').digest('hex') === 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' },
  { name: 'HMAC-SHA-256', run: (c) => c.createHmac('sha256', 'Jefe').update('what do ya want for nothing?').digest('hex') === '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843' },
  {
    name: 'AES-256-GCM',
    run: (c) => {
      const key = Buffer.alloc(32);
      const iv = Buffer.alloc(12);
      const enc = c.createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([enc.update(Buffer.alloc(16)), enc.final()]);
      const tag = enc.getAuthTag();
      if (ct.toString('hex') !== 'cea7403d4d606b6e074ec5d3baf39d18' || tag.toString('hex') !== 'd0d1c8a799996bf0265b98b5d48ab919') return false;
      const dec = c.createDecipheriv('aes-256-gcm', key, iv);
      dec.setAuthTag(tag);
      if (!Buffer.concat([dec.update(ct), dec.final()]).equals(Buffer.alloc(16))) return false;
      // A changed tag must be refused.
      const bad = c.createDecipheriv('aes-256-gcm', key, iv);
      bad.setAuthTag(Buffer.from(tag.map((b, i) => (i === 0 ? b ^ 1 : b))));
      bad.update(ct);
      try {
        bad.final();
        return false;
      } catch {
        return true;
      }
    },
  },
  {
    name: 'Ed25519',
    run: (c) => {
      const key = c.createPrivateKey({ key: hex(ED25519_PKCS8_PREFIX + '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'), format: 'der', type: 'pkcs8' });
      const sig = c.sign(null, Buffer.alloc(0), key);
      const want = 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
      const pub = c.createPublicKey(key);
      const spki = pub.export({ format: 'der', type: 'spki' }) as Buffer;
      return (
        sig.toString('hex') === want &&
        spki.subarray(12).toString('hex') === 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a' &&
        c.verify(null, Buffer.alloc(0), pub, sig) &&
        !c.verify(null, Buffer.from('x'), pub, sig)
      );
    },
  },
  {
    name: 'scrypt',
    // RFC 7914's first vector: the whole algorithm at a cost that does not slow a start under emulation.
    run: (c) => c.scryptSync('', '', 64, { N: 16, r: 1, p: 1 }).toString('hex') === '77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906',
  },
];

/** The primitives whose known answer did not come out (empty: all passed), and how long it took. */
export function cryptoSelfTest(c: Crypto = nodeCrypto): { failed: string[]; ms: number } {
  const t0 = performance.now();
  const failed: string[] = [];
  for (const t of TESTS) {
    let ok = false;
    try {
      ok = t.run(c);
    } catch {
      ok = false;
    }
    if (!ok) failed.push(t.name);
  }
  return { failed, ms: performance.now() - t0 };
}

/** The names of the primitives tested, in order. */
export const SELF_TESTED = TESTS.map((t) => t.name);

/**
 * The start-up check of a process that signs users in or serves TLS: true when every primitive
 * gave its known answer; otherwise the reason goes to stderr (the console, through systemd) and
 * the journal, and the caller must not start. KEEL_SELFTEST_BREAK=NAME makes that primitive count
 * as failed: a drill of what an administrator would see (tests use it).
 */
export function startupSelfTest(process_: string): boolean {
  const r = cryptoSelfTest();
  const drill = process.env.KEEL_SELFTEST_BREAK;
  if (drill && SELF_TESTED.includes(drill) && !r.failed.includes(drill)) r.failed.push(drill);
  if (r.failed.length === 0) {
    log.info('crypto self-test passed', { process: process_, tested: SELF_TESTED.join(', '), ms: Math.round(r.ms) });
    return true;
  }
  const why = `crypto self-test failed: ${r.failed.join(', ')} did not give the known answer; ${process_} does not start (the Node.js runtime or its OpenSSL is damaged or replaced: reinstall or roll back the software version)`;
  log.error(why, { process: process_ });
  console.error(`keel ${process_}: ${why}`);
  return false;
}
