/**
 * Update repository: a static folder any HTTPS server can host.
 *
 *   <repository>/index.json       { format: 'keel-update-index', formatVersion: 1, created,
 *                                   bundles: [{ version, minVersion, file, size, sha256, created, notes }] }
 *   <repository>/index.json.sig   { keyId, signature }  Ed25519 over the exact bytes of index.json
 *   <repository>/<file>           the bundles (keel-<version>-amd64.kup)
 *
 * The client reads the index only when a trusted key signed it, picks the newest bundle newer
 * than the running version that upgrades from it, downloads it with HTTP Range (an interrupted
 * download resumes), checks the index's sha256 and then the bundle's own signature.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { OperationalError } from '../errors.ts';
import { UpdateRefusal, buildTime, verifyBundle } from './bundle.ts';
import { detachedProblem, publicKeyFromPem, signDetached, type DetachedSignature } from './keys.ts';
import { compareVersions, isVersion } from './versions.ts';
import { UPDATES_DIR } from './paths.ts';
import { updateState } from './state.ts';
import { audit, type UpdateContext } from './context.ts';
import type { UpdateConfig } from './schema.ts';
import { proxyEnv, type ProxyConfig } from '../proxy/schema.ts';

export const INDEX_FORMAT = 'keel-update-index';
const FILE_NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\\.kup$';

export const IndexEntrySchema = Type.Object(
  {
    version: Type.String({ description: 'version of the bundle' }),
    minVersion: Type.String({ description: 'lowest version it upgrades from' }),
    file: Type.String({ pattern: FILE_NAME, description: 'bundle file name, relative to the index' }),
    size: Type.Integer({ minimum: 0, description: 'bundle file bytes' }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256 of the bundle file' }),
    created: Type.String({ description: 'bundle build time' }),
    notes: Type.String({ description: 'release notes' }),
  },
  { additionalProperties: false },
);
export const IndexSchema = Type.Object(
  {
    format: Type.Literal(INDEX_FORMAT),
    formatVersion: Type.Literal(1),
    created: Type.String({ description: 'when the index was written' }),
    bundles: Type.Array(IndexEntrySchema),
  },
  { additionalProperties: false },
);
export type IndexEntry = Static<typeof IndexEntrySchema>;
export type UpdateIndex = Static<typeof IndexSchema>;

/**
 * Writes index.json and index.json.sig for every bundle in `dir` (build or release side). Each
 * bundle is verified against the signing key's public half first, so a bad bundle is not listed.
 */
export async function writeIndex(dir: string, keyPem: string, created = buildTime()): Promise<UpdateIndex> {
  const pub = publicKeyFromPem(keyPem, 'signing key');
  const bundles: IndexEntry[] = [];
  for (const f of fs.readdirSync(dir).filter((n) => new RegExp(FILE_NAME).test(n)).sort()) {
    const file = path.join(dir, f);
    const v = await verifyBundle(file, [pub]);
    const sha256 = crypto.createHash('sha256');
    for await (const c of fs.createReadStream(file)) sha256.update(c as Buffer);
    bundles.push({ version: v.manifest.version, minVersion: v.manifest.minVersion, file: f, size: fs.statSync(file).size, sha256: sha256.digest('hex'), created: v.manifest.created, notes: v.manifest.notes });
  }
  bundles.sort((a, b) => compareVersions(a.version, b.version));
  const index: UpdateIndex = { format: INDEX_FORMAT, formatVersion: 1, created, bundles };
  const json = Buffer.from(JSON.stringify(index, null, 1) + '\n');
  fs.writeFileSync(path.join(dir, 'index.json'), json);
  fs.writeFileSync(path.join(dir, 'index.json.sig'), JSON.stringify(signDetached(json, keyPem)) + '\n');
  return index;
}

/** The newest bundle newer than `running` that upgrades from it, or null (pure). */
export function pickUpdate(index: UpdateIndex, running: string): IndexEntry | null {
  const ok = index.bundles.filter((b) => isVersion(b.version) && isVersion(b.minVersion) && compareVersions(b.version, running) > 0 && compareVersions(running, b.minVersion) >= 0);
  ok.sort((a, b) => compareVersions(b.version, a.version));
  return ok[0] ?? null;
}

/** Repository connection options (from the `update` configuration section). */
export interface RepositoryOptions {
  url: string;
  username?: string;
  password?: string;
  /** PEM CA certificate(s) for a private CA. */
  ca?: string;
  timeoutMs?: number;
  /** The outbound proxy section: used when enabled and the repository host is not in its no-proxy list. */
  proxy?: ProxyConfig;
}

export function repositoryOptions(u: UpdateConfig, proxy?: ProxyConfig): RepositoryOptions {
  return { url: u.repository, username: u.username, password: u.password, ca: u.caCertificate, ...(proxy ? { proxy } : {}) };
}

function resolve(o: RepositoryOptions, name: string): URL {
  const base = new URL(o.url.endsWith('/') ? o.url : `${o.url}/`);
  if (base.protocol !== 'https:') throw new OperationalError('the update repository must be an https:// URL', `GET ${base.origin}`, null, '');
  if (base.username || base.password) throw new OperationalError('put the repository user and password in their fields, not in the URL', `GET ${base.origin}${base.pathname}`, null, '');
  return new URL(name, base);
}

interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  stream: NodeJS.ReadableStream & { destroy(): void };
}

/** One HTTPS GET. Redirects are not followed (credentials must not travel to another host). */
function get(o: RepositoryOptions, url: URL, headers: Record<string, string> = {}): Promise<Response> {
  const auth = o.username ? { Authorization: `Basic ${Buffer.from(`${o.username}:${o.password ?? ''}`).toString('base64')}` } : {};
  // The command names the URL, never the credentials.
  const line = `GET ${url.href}`;
  return new Promise((res, rej) => {
    // Through the proxy: Node's own CONNECT tunnel (proxyEnv), which also honours the no-proxy list; TLS stays end to end.
    const env = proxyEnv(o.proxy);
    const agent = env ? new https.Agent({ proxyEnv: env, ca: o.ca || undefined, keepAlive: false }) : undefined;
    const req = https.get(url, { headers: { ...auth, ...headers, 'User-Agent': 'keel-update' }, ca: o.ca || undefined, timeout: o.timeoutMs ?? 30_000, agent }, (r) => {
      res({ status: r.statusCode ?? 0, headers: r.headers, stream: r });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => rej(new OperationalError('the update repository cannot be reached', line, null, e.message)));
  });
}

async function getBody(o: RepositoryOptions, name: string, max = 4 << 20): Promise<Buffer> {
  const url = resolve(o, name);
  const r = await get(o, url);
  if (r.status !== 200) {
    r.stream.destroy();
    throw new OperationalError(r.status === 401 || r.status === 403 ? 'the update repository refused the user name or password' : `the update repository answered HTTP ${r.status}`, `GET ${url.href}`, r.status, '');
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of r.stream) {
    n += (c as Buffer).length;
    if (n > max) {
      r.stream.destroy();
      throw new UpdateRefusal('malformed', `${name} is larger than ${max} bytes`);
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

/** Fetches and verifies the signed index. */
export async function fetchIndex(ctx: UpdateContext, o: RepositoryOptions): Promise<UpdateIndex> {
  const [json, sigText] = await Promise.all([getBody(o, 'index.json'), getBody(o, 'index.json.sig', 65536)]);
  let sig: DetachedSignature;
  try {
    sig = JSON.parse(sigText.toString('utf8')) as DetachedSignature;
  } catch {
    throw new UpdateRefusal('malformed', 'index.json.sig is not valid JSON');
  }
  const bad = detachedProblem(json, sig, ctx.trustedKeys);
  if (bad) throw new UpdateRefusal(bad, bad === 'unknown-key' ? `the repository index is signed by an unknown key ${String(sig.keyId).slice(0, 16)}...` : 'the repository index signature does not match');
  let index: unknown;
  try {
    index = JSON.parse(json.toString('utf8'));
  } catch {
    throw new UpdateRefusal('malformed', 'index.json is not valid JSON');
  }
  if (!Value.Check(IndexSchema, index)) throw new UpdateRefusal('malformed', 'index.json does not have the index format');
  return index;
}

export interface CheckResult {
  running: string;
  /** The bundle to install, or null when up to date. */
  available: IndexEntry | null;
  index: UpdateIndex;
}

/** Check Updates: is a newer version that upgrades from this one in the repository? Audited. */
export async function checkUpdates(ctx: UpdateContext, o: RepositoryOptions): Promise<CheckResult> {
  try {
    const index = await fetchIndex(ctx, o);
    const available = pickUpdate(index, ctx.runningVersion);
    audit(ctx, `software update check ${new URL(o.url).origin}`, available ? `ok: ${available.version} available` : 'ok: up to date');
    return { running: ctx.runningVersion, available, index };
  } catch (e) {
    audit(ctx, `software update check ${safeOrigin(o.url)}`, `failed: ${(e as Error).message}`);
    throw e;
  }
}

const safeOrigin = (u: string) => {
  try {
    return new URL(u).origin;
  } catch {
    return '(bad URL)';
  }
};

export interface DownloadResult {
  /** Appliance path of the verified bundle. */
  file: string;
  version: string;
  /** Bytes already there from an earlier, interrupted download (0: from the start). */
  resumedFrom: number;
  bytes: number;
}

/**
 * Downloads a bundle into /var/lib/keel/updates, resuming a partial `<file>.part` with HTTP Range,
 * then checks the index's size and sha256 and the bundle's own signature, version and key. Only
 * then is it renamed to `<file>`. Refused before downloading when it does not fit or does not
 * upgrade from this version.
 */
export async function downloadUpdate(ctx: UpdateContext, o: RepositoryOptions, entry: IndexEntry, progress?: (done: number, total: number) => void): Promise<DownloadResult> {
  const name = entry.file;
  try {
    if (!new RegExp(FILE_NAME).test(name)) throw new UpdateRefusal('malformed', `bad bundle file name ${JSON.stringify(name)}`);
    if (compareVersions(ctx.runningVersion, entry.minVersion) < 0) throw new UpdateRefusal('version-too-old', `version ${entry.version} upgrades from ${entry.minVersion} or later; this appliance runs ${ctx.runningVersion}`);
    ctx.host.files.mkdirp(UPDATES_DIR, 0o700);
    const final = `${UPDATES_DIR}/${name}`;
    const part = ctx.host.files.real(`${final}.part`);
    let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
    if (have > entry.size) {
      fs.rmSync(part);
      have = 0;
    }
    const st = fs.statfsSync(ctx.host.files.real(UPDATES_DIR));
    const need = entry.size - have;
    if (st.bavail * st.bsize < need + 64 * 2 ** 20) throw new UpdateRefusal('no-space', `the bundle needs ${(need / 2 ** 20).toFixed(0)} MiB more on the data partition, ${((st.bavail * st.bsize) / 2 ** 20).toFixed(0)} MiB are free`);
    // Other bundles are not needed any more: one download at a time.
    for (const f of ctx.host.files.list(UPDATES_DIR)) if (/\.kup(\.part)?$/.test(f) && f !== name && f !== `${name}.part`) ctx.host.files.remove(`${UPDATES_DIR}/${f}`);
    const resumedFrom = have;
    if (have < entry.size) {
      const url = resolve(o, name);
      const r = await get(o, url, have ? { Range: `bytes=${have}-` } : {});
      let append = false;
      if (r.status === 206) {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(r.headers['content-range'] ?? ''));
        append = !!m && Number(m[1]) === have;
        if (!append) {
          r.stream.destroy();
          throw new OperationalError('the update repository answered a range that was not asked for', `GET ${url.href}`, 206, '');
        }
      } else if (r.status !== 200) {
        r.stream.destroy();
        throw new OperationalError(r.status === 401 || r.status === 403 ? 'the update repository refused the user name or password' : `the update repository answered HTTP ${r.status}`, `GET ${url.href}`, r.status, '');
      }
      // A 200 to a range request: the server sends the whole file; start over.
      if (!append) have = 0;
      const out = fs.createWriteStream(part, { flags: append ? 'a' : 'w', mode: 0o600 });
      let done = have;
      let failure: Error | null = null;
      try {
        await new Promise<void>((res, rej) => {
          r.stream.on('data', (c: Buffer) => {
            done += c.length;
            if (done > entry.size) {
              r.stream.destroy();
              rej(new UpdateRefusal('size-mismatch', `the download is larger than the index says (${entry.size} bytes)`));
              return;
            }
            if (!out.write(c)) {
              r.stream.pause();
              out.once('drain', () => r.stream.resume());
            }
            progress?.(done, entry.size);
          });
          const finished = () => (done < entry.size ? rej(new Error('connection closed')) : res());
          r.stream.on('end', finished);
          r.stream.on('close', finished);
          r.stream.on('error', rej);
        });
      } catch (e) {
        failure = e as Error;
      }
      await new Promise<void>((res) => out.end(res));
      if (failure instanceof UpdateRefusal) {
        fs.rmSync(part, { force: true });
        throw failure;
      }
      if (failure) throw new OperationalError(`the download stopped at ${done} of ${entry.size} bytes; download again to resume`, `GET ${url.href}`, null, failure.message);
    }
    const size = fs.statSync(part).size;
    if (size !== entry.size) throw new UpdateRefusal('size-mismatch', `the download has ${size} bytes, the index says ${entry.size}`);
    const h = crypto.createHash('sha256');
    for await (const c of fs.createReadStream(part)) h.update(c as Buffer);
    if (h.digest('hex') !== entry.sha256) {
      // A corrupt partial file would be resumed forever: start over next time.
      fs.rmSync(part);
      throw new UpdateRefusal('sha256-mismatch', 'the downloaded bundle does not match the sha256 in the index; it was deleted');
    }
    const v = await verifyBundle(part, ctx.trustedKeys, { runningVersion: ctx.runningVersion });
    if (v.manifest.version !== entry.version) throw new UpdateRefusal('malformed', `the index says ${entry.version}, the bundle is ${v.manifest.version}`);
    fs.renameSync(part, ctx.host.files.real(final));
    updateState(ctx.host, (s) => {
      s.downloaded = { version: entry.version, file: name, size: entry.size, sha256: entry.sha256, notes: v.manifest.notes, at: ctx.now().toISOString() };
    });
    audit(ctx, `software update ${entry.version} downloaded (${name}, ${entry.size} bytes${resumedFrom ? `, resumed at ${resumedFrom}` : ''})`, 'ok');
    return { file: final, version: entry.version, resumedFrom, bytes: entry.size };
  } catch (e) {
    const why = e instanceof UpdateRefusal ? `refused (${e.reason}): ${e.problems[0].message}` : `failed: ${(e as Error).message}`;
    audit(ctx, `software update download ${name}`, why);
    throw e;
  }
}
