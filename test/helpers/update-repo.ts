/**
 * A signed update repository over real HTTPS on loopback (node:https, a throwaway certificate
 * made by openssl, basic authentication), and an appliance sandbox ready to update from it:
 * the TEST-ONLY public key trusted, slot A running, System Manager's certificate in place.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Host } from '../../appliance/host/index.ts';
import { makeSelfSigned, WEBUI_CERT_PATH } from '../../appliance/certs/webui.ts';
import { GrubEnv } from '../../appliance/update/grub.ts';
import { writeIndex } from '../../appliance/update/repository.ts';
import { UPDATE_KEYS_DIR } from '../../appliance/update/paths.ts';
import { makeBundle, TEST_KEY_PEM, TEST_PUB_PEM } from '../fixtures/update/make.ts';
import { tempRoot } from './config.ts';

export const REPO_USER = 'mirror';
export const REPO_PASSWORD = 'Repo-S3cret!';

export interface TestRepository {
  url: string;
  ca: string;
  dir: string;
  /** Requests seen (path and status), newest last. */
  requests: { url: string; status: number }[];
  /** Flip one byte of the bundles served from now on (sha256 mismatch). */
  corrupt: boolean;
  close(): Promise<void>;
}

/** Serves bundle 0.2.0 (upgrades from 0.1.0, this package's version) with a signed index. */
export async function startRepository(opts: { payloadBytes?: number; versions?: { version: string; minVersion: string }[] } = {}): Promise<TestRepository> {
  const dir = tempRoot('keel-repo-');
  const repo = path.join(dir, 'keel');
  fs.mkdirSync(repo);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'tls.key'), '-out', path.join(dir, 'tls.crt'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  const ca = fs.readFileSync(path.join(dir, 'tls.crt'), 'utf8');
  for (const v of opts.versions ?? [{ version: '0.2.0', minVersion: '0.1.0' }]) await makeBundle(repo, { ...v, payloadBytes: opts.payloadBytes ?? 2 * 2 ** 20 });
  for (const f of fs.readdirSync(repo)) if (f.endsWith('.squashfs')) fs.rmSync(path.join(repo, f));
  await writeIndex(repo, TEST_KEY_PEM, '2026-01-02T00:00:00Z');
  const t: TestRepository = { url: '', ca, dir, requests: [], corrupt: false, close: async () => {} };
  const served = await serveRepository({ dir: repo, key: fs.readFileSync(path.join(dir, 'tls.key')), cert: ca, requests: t.requests, corrupt: () => t.corrupt });
  t.url = served.url;
  t.close = async () => {
    await served.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return t;
}

/**
 * A static HTTPS server for an update repository folder, as any web server would host it: HTTP
 * basic authentication (REPO_USER / REPO_PASSWORD), GET of the files in `dir` (no subfolders),
 * and byte ranges (`Range: bytes=N-`, answered 206) so downloads can resume. `corrupt()` true
 * flips the last byte of bundles served from then on.
 */
export async function serveRepository(o: { dir: string; key: Buffer | string; cert: string; host?: string; requests?: { url: string; status: number }[]; corrupt?: () => boolean }): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = https.createServer({ key: o.key, cert: o.cert }, (req, res) => {
    const done = (status: number) => o.requests?.push({ url: req.url ?? '', status });
    if (req.headers.authorization !== `Basic ${Buffer.from(`${REPO_USER}:${REPO_PASSWORD}`).toString('base64')}`) {
      done(401);
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="updates"' }).end();
      return;
    }
    const file = path.join(o.dir, path.basename(decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname)));
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
      done(404);
      res.writeHead(404).end();
      return;
    }
    let body = fs.readFileSync(file);
    if (o.corrupt?.() && file.endsWith('.kup')) {
      body = Buffer.from(body);
      body[body.length - 1] ^= 1;
    }
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (range && Number(range[1]) < body.length) {
      const from = Number(range[1]);
      done(206);
      res.writeHead(206, { 'Content-Length': body.length - from, 'Content-Range': `bytes ${from}-${body.length - 1}/${body.length}` });
      res.end(body.subarray(from));
      return;
    }
    done(200);
    res.writeHead(200, { 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise<void>((res) => server.listen(0, o.host ?? '127.0.0.1', res));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}/keel/`,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}

/** Makes a sandbox root an appliance that can stage: trusted TEST key, slot A, GRUB env, certificate. */
export async function prepareAppliance(host: Host): Promise<void> {
  host.files.mkdirp(UPDATE_KEYS_DIR);
  host.files.writeAtomic(`${UPDATE_KEYS_DIR}/TEST-ONLY.pub`, TEST_PUB_PEM);
  host.files.writeAtomic('/proc/cmdline', 'BOOT_IMAGE=/live/vmlinuz keel.slot=a\n');
  await new GrubEnv(host).set({ keel_slot: 'a' });
  if (!host.files.exists(WEBUI_CERT_PATH)) host.files.writeAtomic(WEBUI_CERT_PATH, (await makeSelfSigned('core.example.com')).certPem);
  // The running slot's files, for bundles that carry some over (none here, but staging looks).
  host.files.mkdirp('/slots/a/live');
}
