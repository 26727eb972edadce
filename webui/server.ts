/**
 * System Manager: the appliance's HTTPS web UI and JSON API under /mics (`keel serve`).
 *
 * Security model, in short:
 * - TLS 1.2/1.3 only, forward-secret AEAD ciphers; a self-signed certificate whose fingerprint the
 *   console shows (appliance/certs/webui.ts).
 * - Server-side sessions in SQLite (only a digest of the id is stored), cookie `keel_session`
 *   (Secure, HttpOnly, SameSite=Strict, Path=/mics), idle 15 min, absolute 8 h.
 * - Every state-changing request needs the session's CSRF token (form field `_csrf` or header
 *   `X-CSRF-Token`), unless its route is marked `preSession` (the two sign-in routes), and any
 *   state-changing request whose Origin is another site is refused.
 * - Sign-in forms (no session yet) are protected against login CSRF by SameSite=Strict, the Origin /
 *   Sec-Fetch-Site check, and a pre-session token: the sign-in page sets a random `keel_pre` cookie
 *   (SameSite=Strict, HttpOnly) and puts the same value in a hidden field; both must match.
 *   The JSON sign-in accepts only `application/json`, which a cross-site form cannot send.
 * - Failed sign-ins are audited (user name and source, never the password) and answered only after
 *   a delay; password checks (scrypt, 32 MiB each) run at most two at a time.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyError } from 'fastify';
import formbody from '@fastify/formbody';
import helmet from 'helmet';
import swagger from '@fastify/swagger';
import { createHost, type Host } from '../appliance/host/index.ts';
import { Store, type Actor } from '../appliance/config/store.ts';
import { FORMATS, type Config } from '../appliance/config/schema.ts';
import { ajvConstraint, fieldLabel, sentence } from '../appliance/config/messages.ts';
import { signIn as sharedSignIn, Lockouts } from '../appliance/users/signin.ts';
import { ApiTokens } from '../appliance/tokens/store.ts';
import { ensureWebuiCertificateFor, type WebuiCertificate } from '../appliance/certs/webui.ts';
import { ValidationError, OperationalError, type FieldProblem } from '../appliance/errors.ts';
import { log } from '../appliance/log.ts';
import { VERSION } from '../appliance/version.ts';
import { Sessions, tokensEqual, type Session } from './sessions.ts';
import { HealthSampler } from './health.ts';
import { signInPage, errorPage } from './pages.ts';
import { registerApi, fieldPrefixOf, actorOf, socketOpenedAt, confirmArmedAt } from './api.ts';
import { registerUpdateApi } from './update.ts';
import { registerLdapApi } from './ldap.ts';
import { registerConnectivityApi } from './connectivity.ts';
import { registerDiagnosticsApi, registerCaptureApi } from './diagnostics.ts';
import { registerLoggingApi } from './logging.ts';
import { registerReportingApi } from './reporting.ts';
import { directoryOf } from '../appliance/ldap/directory.ts';
import { registerHealthApi } from './health-routes.ts';
import { allowed as aclAllows } from '../appliance/acl/schema.ts';
import { registerPages } from './ui.ts';
import { registerCertificates } from './certs.ts';
import { registerPortalAuth, syncClientCertRequest, signInWithCertificate } from './portalauth.ts';
import type https from 'node:https';
import { createRequire } from 'node:module';
import { ConfigState } from './state.ts';
import { cookieOf, setCookie, clearCookie } from './cookies.ts';

export const BASE = '/mics';
export const SESSION_COOKIE = 'keel_session';
export const PRESESSION_COOKIE = 'keel_pre';
export const DEFAULT_PORT = 8443;

/** TLS 1.3 suites, then TLS 1.2 ECDHE + AEAD only (Mozilla "intermediate" minus DHE). */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** The appliance is not configured yet: System Manager does not start before the wizard has run. */
export class NotConfiguredError extends Error {
  constructor() {
    super('the appliance is not configured yet: run the first-boot configuration wizard on the console first');
    this.name = 'NotConfiguredError';
  }
}

/** Too many sign-ins in progress: answered 503 with a retry hint, never a bug. */
class BusyError extends Error {
  constructor() {
    super('too many sign-in attempts in progress; try again in a few seconds');
    this.name = 'BusyError';
  }
}

export interface KeelContext {
  host: Host;
  store: Store;
  sessions: Sessions;
  certificate: WebuiCertificate;
  /** The System Manager port in the configuration (webui.port). */
  configuredPort: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    session: Session | null;
  }
  interface FastifyInstance {
    keel: KeelContext;
  }
  interface FastifyContextConfig {
    /** Reachable without a session. */
    public?: boolean;
    /** State-changing but made before a session exists (sign-in): no session CSRF token, Origin checked. */
    preSession?: boolean;
  }
}

export interface ServerOptions {
  /** Appliance root: `/` on the appliance, a folder for a sandbox. Ignored when `host` is given. */
  root?: string;
  host?: Host;
  /** Where NIC facts come from (tests point it at a fixture). */
  sysfs?: string;
  /** How long a failed sign-in waits before it is answered (default 1000 ms). */
  failureDelayMs?: number;
  /** Clock for sessions (tests). */
  now?: () => number;
  /** How the server checks itself after a certificate swap (tests break it on purpose). */
  certProbe?: (port: number, fingerprint: string, servername: string) => Promise<string | null>;
}

/** The TLS settings of System Manager for a key and certificate (also used for live swaps). */
export function tlsOptions(pair: { keyPem: string; certPem: string }) {
  return { key: pair.keyPem, cert: pair.certPem, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers: CIPHERS, honorCipherOrder: true } as const;
}

/**
 * Runs password checks at most `max` at a time (scrypt needs 32 MiB each). Waiting checks queue
 * per source address and are served round-robin, so a flood from one address waits behind itself
 * and never in front of an administrator signing in from another; a source may have at most
 * `perSource` waiting and all sources together `maxQueue`, beyond which the answer is 503.
 */
class Gate {
  private active = 0;
  /** Waiting checks by source, in round-robin order (a source served goes to the back). */
  private readonly queues = new Map<string, (() => void)[]>();
  private waiting = 0;
  private readonly max: number;
  private readonly maxQueue: number;
  private readonly perSource: number;
  constructor(max: number, maxQueue: number, perSource: number) {
    this.max = max;
    this.maxQueue = maxQueue;
    this.perSource = perSource;
  }
  async run<T>(source: string, fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) {
      const q = this.queues.get(source) ?? [];
      if (q.length >= this.perSource || this.waiting >= this.maxQueue) throw new BusyError();
      await new Promise<void>((resolve) => {
        q.push(resolve);
        this.queues.set(source, q);
        this.waiting++;
      });
    } else {
      this.active++;
    }
    try {
      return await fn();
    } finally {
      this.next();
    }
  }
  private next(): void {
    const first = this.queues.entries().next();
    if (first.done) {
      this.active--;
      return;
    }
    const [source, q] = first.value;
    const wake = q.shift()!;
    this.waiting--;
    this.queues.delete(source);
    if (q.length) this.queues.set(source, q);
    wake();
  }
}

// Request ids (8 random bytes in hex) cut from a pool: one randomBytes call per 512 requests, not one each.
let idPool = Buffer.alloc(0);
let idAt = 0;
function requestId(): string {
  if (idAt + 8 > idPool.length) {
    idPool = crypto.randomBytes(4096);
    idAt = 0;
  }
  idAt += 8;
  return idPool.toString('hex', idAt - 8, idAt);
}

/**
 * glibc's malloc_trim(0) through our addon (native/peercred), or null where it is not built in
 * (an older build; not glibc). Loaded by path: it is this checkout's, on the appliance and off.
 */
const trimMemory: (() => boolean) | null = (() => {
  try {
    const f = (createRequire(import.meta.url)('../native/peercred/index.cjs') as { trimMemory?: () => boolean }).trimMemory;
    return typeof f === 'function' ? f : null;
  } catch {
    return null;
  }
})();
/** A burst (at least this many requests) followed by a quiet check period (fewer than QUIET_REQUESTS) is trimmed. */
const BURST_REQUESTS = 1000;
const QUIET_REQUESTS = 50;
const TRIM_CHECK_MS = 10_000;
/** How long after listening start-up's memory is given back (what start-up left running has settled by then). */
const SETTLE_MS = 1000;

/**
 * Gives back what start-up or a burst of requests left behind: V8's memory-reducing collection
 * (it compacts the old space; available with `--expose-gc`, appliance/runtime.ts says why), then
 * glibc's trim. Tens of milliseconds: only when nothing is being served.
 */
function releaseMemory(): void {
  globalThis.gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  trimMemory?.();
}

/**
 * The headers a connect-style middleware sets on every response (helmet's, which depend on nothing
 * in the request), read once from a stand-in response.
 */
function headersOf(middleware: (req: never, res: never, next: (err?: unknown) => void) => void): Record<string, string> {
  const headers: Record<string, string> = {};
  let called = false;
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  };
  middleware({ headers: {} } as never, res as never, (err) => {
    if (err) throw err;
    called = true;
  });
  if (!called) throw new Error('the security headers middleware did not finish at once');
  return headers;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

/** The configuration in effect (running, else saved). */
function currentConfig(store: Store): Config | null {
  return store.running()?.config ?? store.startup()?.config ?? null;
}

/** Safe to write into a log or audit line: printable, bounded. */
function printable(s: string, max = 64): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

const API_PREFIX = `${BASE}/api/`;
const API_ROOT = `${BASE}/api`;
function isApi(req: FastifyRequest): boolean {
  return req.url.startsWith(API_PREFIX) || req.url === API_ROOT;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A route option's hooks as a list (fastify takes one function or several). */
function hooksOf<T>(h: T | T[] | undefined): T[] {
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}

/** Why a state-changing request looks cross-site, or null. Non-browser clients send neither header. */
function crossSite(req: FastifyRequest): string | null {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `https://${req.headers.host ?? ''}`) return `Origin ${printable(origin, 100)}`;
  if (req.headers['sec-fetch-site'] === 'cross-site') return 'Sec-Fetch-Site cross-site';
  return null;
}

// ---- JSON schemas (validated by fastify, documented by @fastify/swagger) ----

const ProblemSchema = {
  type: 'object',
  properties: {
    field: { type: 'string', description: 'Where in the configuration (or the request): a path such as /ntp/servers/0' },
    label: { type: 'string', description: "The field in the administrator's words, as the CLI names it (ntp servers #1)" },
    rule: { type: 'string' },
    message: { type: 'string' },
  },
  required: ['field', 'rule', 'message'],
} as const;
const ErrorSchema = {
  type: 'object',
  description: 'An error: a sentence for people; for 400 the fields and rules; for 500 only a request id',
  properties: {
    error: { type: 'string' },
    problems: { type: 'array', items: ProblemSchema },
    requestId: { type: 'string' },
  },
  required: ['error'],
} as const;
const SessionSchema = {
  type: 'object',
  properties: {
    username: { type: 'string' },
    csrfToken: { type: 'string', description: 'Send it back in the X-CSRF-Token header of every state-changing request' },
    expiresAt: { type: 'string', format: 'date-time', description: 'Absolute end of the session (idle sessions end earlier, after 15 minutes)' },
  },
  required: ['username', 'csrfToken'],
} as const;
const nullable = (type: 'string' | 'integer') => ({ type: [type, 'null'] }) as const;
const HealthSchema = {
  type: 'object',
  properties: {
    hostname: { type: 'string', description: 'External hostname (FQDN) of the appliance' },
    version: { type: 'string', description: 'Keel version' },
    uptimeSeconds: { type: 'integer' },
    uptimeOf: { type: 'string', enum: ['appliance', 'host'], description: '`host` in a sandbox root: the uptime of the machine running it' },
    memory: {
      type: 'object',
      description: 'Memory of the appliance and of the System Manager process',
      properties: {
        totalBytes: { type: 'integer' },
        freeBytes: { type: 'integer' },
        systemManagerRssBytes: { type: 'integer', description: 'Resident set size of the System Manager process' },
        keelProcessesBytes: { type: ['integer', 'null'], description: "All of Keel's processes together (System Manager, applier, monitor, consoles): their services' anonymous and mapped memory, shared pages counted once; null where systemd's control groups are not there (a sandbox)" },
      },
    },
    cpu: {
      type: 'object',
      properties: { count: { type: 'integer' }, model: { type: 'string' }, loadAverage: { type: 'array', items: { type: 'number' }, description: '1, 5 and 15 minute load averages' } },
    },
    disk: {
      type: ['object', 'null'],
      description: 'The file system holding the appliance data',
      properties: { path: { type: 'string' }, totalBytes: { type: 'integer' }, freeBytes: { type: 'integer' } },
    },
    interfaces: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', description: 'GigabitEthernetN' },
          pci: { ...nullable('string'), description: 'PCI address; null when configured but not present' },
          ifname: { ...nullable('string'), description: 'Kernel interface name' },
          mac: nullable('string'),
          address: nullable('string'),
          netmask: nullable('string'),
          link: {
            type: 'object',
            properties: { state: { ...nullable('string'), description: 'sysfs operstate: up, down…' }, speedMbps: nullable('integer') },
          },
        },
        required: ['name', 'pci', 'ifname', 'mac', 'address', 'netmask'],
      },
    },
    configuration: {
      type: 'object',
      properties: {
        runningRevision: nullable('integer'),
        startupRevision: nullable('integer'),
        unsaved: { type: 'boolean', description: 'Running and saved configurations differ (lost at reboot unless saved)' },
      },
      required: ['runningRevision', 'startupRevision', 'unsaved'],
    },
  },
  required: ['hostname', 'version', 'uptimeSeconds', 'interfaces', 'configuration'],
} as const;

const SESSION_AUTH = [{ sessionCookie: [] }];
const SESSION_CSRF_AUTH = [{ sessionCookie: [], csrfHeader: [] }];

/** Problems from fastify's (ajv) validation, as FieldProblems naming the field and the rule. */
function validationProblems(err: FastifyError, prefix = ''): FieldProblem[] {
  const body = err.validationContext === 'body';
  const all = err.validation ?? [];
  // A union of literals (a choice) fails once per literal: say once which values are allowed.
  const choices = new Map<string, unknown[]>();
  for (const v of all) if (v.keyword === 'const') choices.set(v.instancePath, [...(choices.get(v.instancePath) ?? []), (v.params as { allowedValue: unknown }).allowedValue]);
  const seen = new Set<string>();
  const list = all.filter((v) => {
    if (!choices.has(v.instancePath) || (v.keyword !== 'const' && v.keyword !== 'anyOf')) return true;
    if (seen.has(v.instancePath)) return false;
    seen.add(v.instancePath);
    return true;
  });
  return list.map((v) => {
    if (choices.has(v.instancePath) && (v.keyword === 'const' || v.keyword === 'anyOf'))
      return { field: `${body ? prefix : ''}${v.instancePath}` || '/', rule: 'enum', message: `must be one of: ${choices.get(v.instancePath)!.map(String).join(', ')}` };
    const p = v.params as { missingProperty?: string; additionalProperty?: string };
    const missing = p.missingProperty ?? p.additionalProperty;
    const field = `${body ? prefix : ''}${v.instancePath}${missing ? `/${missing}` : ''}` || '/';
    // A named format: the rule's own sentence, as the CLI and the wizard show it.
    const format = v.keyword === 'format' ? String((v.params as { format?: string }).format) : null;
    const data = (v as { data?: unknown }).data;
    if (format && FORMATS[format] && typeof data === 'string') return { field, rule: format, message: FORMATS[format](data) ?? v.message ?? 'is invalid' };
    return { field, rule: v.keyword, message: sentence(ajvConstraint(v.keyword, v.params as Record<string, unknown>)) };
  });
}

/**
 * Builds System Manager (routes, hooks, TLS) without listening. Opens the store of the root and
 * closes it when the instance closes. Throws NotConfiguredError before the wizard has saved a
 * configuration.
 */
export async function buildServer(opts: ServerOptions = {}): Promise<FastifyInstance> {
  const host = opts.host ?? createHost(opts.root ?? '/', opts.sysfs ? { sysfs: opts.sysfs } : {});
  const failureDelayMs = opts.failureDelayMs ?? 1000;
  const store = Store.open(host);
  let ctx: KeelContext;
  try {
    const config = store.configured() ? currentConfig(store) : null;
    if (!config) throw new NotConfiguredError();
    const certificate = await ensureWebuiCertificateFor(host, config);
    ctx = { host, store, sessions: new Sessions(store.db, opts.now), certificate, configuredPort: config.webui.port ?? DEFAULT_PORT };
  } catch (e) {
    store.close();
    throw e;
  }
  const { sessions, certificate } = ctx;
  const css = fs.readFileSync(new URL('./public/style.css', import.meta.url));
  // Two scrypt checks at once; 64 may wait, at most 4 of them from one address.
  const gate = new Gate(2, 64, 4);
  let aclLoggedAt = 0;

  const app = Fastify({
    logger: false,
    genReqId: requestId,
    bodyLimit: 64 * 1024,
    trustProxy: false,
    https: tlsOptions(certificate),
    routerOptions: { ignoreTrailingSlash: false },
    ajv: {
      // Unknown fields are refused (not silently dropped), and nothing is filled in: a request means what it says.
      customOptions: { removeAdditional: false, useDefaults: false, coerceTypes: 'array', verbose: true },
      // The schema's named formats, each backed by a rule of appliance/config/rules.ts.
      onCreate: (ajv) => {
        for (const [name, rule] of Object.entries(FORMATS)) ajv.addFormat(name, { type: 'string', validate: (v: string) => rule(v) === null });
      },
    },
  });
  app.decorate('keel', ctx);
  app.decorateRequest('session', null);
  app.decorateRequest('principal', null);
  // The routes that change something (any method but GET, HEAD, OPTIONS) get the CSRF check first,
  // and the state headers again once they answered: X-Keel-Unsaved must tell the state their change
  // left, and the change that arms a confirmation closes its own connection.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.every((m) => SAFE_METHODS.has(m))) return;
    route.preValidation = [csrfCheck, ...hooksOf(route.preValidation)];
    route.onSend = [...hooksOf(route.onSend), (req, reply, payload, done) => {
      closeIfArmed(req, reply);
      unsavedHeader(req, reply);
      done(null, payload);
    }];
  });
  // A token lives only while its maker is still an administrator (a local one; a directory
  // administrator's tokens live while the directory is in use, as their role is read at sign-in).
  const tokens = new ApiTokens(store, opts.now, (by) => {
    const c = state.config();
    const local = c?.users.local.find((u) => u.name === by);
    if (local) return local.role === 'admin';
    return c?.ldap?.enabled === true && !by.startsWith('token:');
  });
  const lockouts = new Lockouts(store);
  const state = new ConfigState(store);
  const status = new HealthSampler(host, state);
  // When each TLS connection began: a lockout-risky change is confirmed only over a newer one.
  app.server.on('secureConnection', (s: object) => socketOpenedAt.set(s, Date.now()));
  // Certificate sign-in on: ask for a client certificate from the first connection (later changes follow per request).
  syncClientCertRequest(app, state.config());

  const purge = setInterval(() => {
    try {
      sessions.purge();
    } catch (e) {
      log.warn('could not purge expired System Manager sessions', { error: (e as Error).message });
    }
  }, 5 * 60_000);
  purge.unref();
  // After a burst of requests the TLS connections' memory is freed, but glibc keeps it in its heap
  // (RSS 108 -> 135 MiB after 200 connections, for good) and V8 its grown old space: give both back
  // once the burst is over, and once after start-up.
  let served = 0;
  let seen = 0;
  let trimmedAt = 0;
  const trimmer = setInterval(() => {
    const quiet = served - seen < QUIET_REQUESTS;
    seen = served;
    if (quiet && served - trimmedAt >= BURST_REQUESTS) {
      trimmedAt = served;
      releaseMemory();
    }
  }, TRIM_CHECK_MS);
  trimmer.unref();
  let settle: NodeJS.Timeout | null = null;
  app.addHook('onListen', (done) => {
    settle = setTimeout(releaseMemory, SETTLE_MS).unref();
    done();
  });
  app.addHook('onClose', async () => {
    if (settle) clearTimeout(settle);
    clearInterval(trimmer);
    clearInterval(purge);
    store.close();
  });

  await app.register(formbody, { bodyLimit: 16 * 1024 });
  // The security headers (helmet): none depends on the request (no CSP nonce), so helmet's answer
  // is taken once and set as one object on every answer, 404s and errors included (onRequest runs
  // for all), with the no-store every answer but the style sheet has. Set on the reply, not the raw
  // response, so Node writes them without its per-header setHeader path.
  const securityHeaders = headersOf(helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
      },
    },
    strictTransportSecurity: { maxAge: 31536000, includeSubDomains: false },
    xFrameOptions: { action: 'deny' },
    // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on their own form posts and fetches, which the cross-site check must refuse.
    referrerPolicy: { policy: 'same-origin' },
    xContentTypeOptions: true,
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
  }));
  // Caches must not keep session pages or API answers (the style sheet's route sets its own).
  securityHeaders['cache-control'] = 'no-store';
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Keel System Manager API',
        version: VERSION,
        description:
          'JSON API of the appliance web UI. Sign in with POST /mics/api/session; the session cookie then authenticates, and every state-changing request must carry the csrfToken in X-CSRF-Token.',
      },
      components: {
        securitySchemes: {
          sessionCookie: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'Session cookie set by POST /mics/api/session' },
          csrfHeader: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token', description: 'csrfToken of the session' },
          bearerToken: { type: 'http', scheme: 'bearer', description: 'An API token (created by an administrator under API tokens); needs no CSRF token' },
        },
      },
      tags: [
        { name: 'session', description: 'Sign-in and sign-out' },
        { name: 'status', description: 'Appliance status' },
        { name: 'health', description: 'Hardware health, history, alerts, storage test, Prometheus /metrics' },
        { name: 'configuration', description: 'Settings, plan/apply, save, revisions and rollback' },
        { name: 'users', description: 'Local users, password and lockout policy' },
        { name: 'email', description: 'Outgoing e-mail' },
        { name: 'ldap', description: 'LDAP / Active Directory administrators: settings, lookup, browse, server health' },
        { name: 'audit', description: 'Audit log' },
        { name: 'logging', description: 'System log (the journal)' },
        { name: 'reporting', description: 'Resource history: CPU, memory, disks, network' },
        { name: 'tokens', description: 'API tokens for automation' },
        { name: 'maintenance', description: 'Reboot, backup and restore, support bundle, updates' },
        { name: 'certificates', description: 'Certificates per service: view, request, upload, self-signed' },
        { name: 'diagnostics', description: 'Connectivity checks: DNS, TCP, TLS certificate issuer (interception), HTTP status, with history' },
      ],
    },
  });

  // Everything every request needs is this one hook (the routes that change something add a CSRF
  // check and the state headers after the answer, see onRoute above): each hook fastify runs is paid
  // on every answer, health probes included. The security headers, request id and connection state
  // first, so every answer has them, refusals too.
  // Session and access: before the body is read, so anonymous requests cost nothing.
  // A session's role comes from the running configuration on every request, so a removed or
  // demoted user loses access at once. API tokens (Bearer) work on the API only.
  // Callback style, not async: this runs for every request, and a promise per hook is measurable
  // under load. Answering from a callback hook means sending without calling done().
  app.addHook('onRequest', (req, reply, done) => {
    served++;
    reply.headers(securityHeaders);
    reply.header('x-request-id', req.id);
    closeIfArmed(req, reply);
    // Portal ACL, also enforced here (defence in depth, should the firewall be flushed): before anything else.
    const live = state.config();
    if (live && !aclAllows(live, 'systemManager', req.ip)) {
      const t = Date.now();
      if (t - aclLoggedAt > 10_000) {
        aclLoggedAt = t;
        log.warn('refused a System Manager request from outside the Portal ACL', { source: `webui:${req.ip}` });
      }
      reply.code(403);
      if (isApi(req)) return void reply.send({ error: 'your address is not in the Portal ACL of System Manager' });
      return void reply.type('text/html; charset=utf-8').send(errorPage(403, 'Your address is not allowed to reach System Manager (Portal ACL).'));
    }
    syncClientCertRequest(app, live);
    req.session = sessions.touch(cookieOf(req, SESSION_COOKIE));
    if (req.session) {
      const role = state.roleOf(req.session.username) ?? directoryOf(store).roleOf(req.session.username);
      // A password change ends the sessions opened before it (the one that made it is renewed).
      const changed = live?.users.local.find((u) => u.name === req.session!.username)?.passwordChangedAt;
      const stale = changed !== undefined && Date.parse(changed) > req.session.createdAt;
      if (role && !stale) req.principal = { name: req.session.username, role, via: 'session' };
      else {
        sessions.destroy(req.session.id);
        req.session = null;
      }
    } else if (isApi(req) && /^Bearer /i.test(req.headers.authorization ?? '')) {
      const t = tokens.verify(req.headers.authorization!.slice(7).trim());
      if (t) req.principal = { name: `token:${t.name}`, role: t.role, via: 'token', tokenId: t.id };
      else {
        log.warn('refused an unknown, revoked or expired API token', { source: `api:${req.ip}`, route: req.routeOptions.url ?? null });
        return void reply.code(401).send({ error: 'unknown, revoked or expired API token' });
      }
    }
    unsavedHeader(req, reply);
    // Read only where needed: fastify builds the route options anew on each read.
    if (!req.principal) {
      const cfg = req.routeOptions.config;
      if (req.is404 || cfg.public || cfg.preSession) return done();
      if (isApi(req)) return void reply.code(401).send({ error: 'sign in first' });
      return void reply.redirect(`${BASE}/`, SAFE_METHODS.has(req.method) ? 302 : 303);
    }
    // Operators read; administrators change. Sign-out is for everyone.
    if (req.principal.role !== 'admin' && isApi(req) && !req.is404) {
      const cfg = req.routeOptions.config;
      if (cfg.anyRole || cfg.preSession) return done();
      const changes = !SAFE_METHODS.has(req.method) && req.routeOptions.url !== `${BASE}/api/session`;
      if (changes || cfg.adminOnly) return void reply.code(403).send({ error: 'the operator role is read only; an administrator can do this' });
    }
    done();
  });

  // CSRF: after the body is parsed (forms carry the token), before validation and the handler.
  function csrfCheck(req: FastifyRequest, reply: FastifyReply, done: () => void): void {
    if (SAFE_METHODS.has(req.method) || req.is404) return done();
    const source = `webui:${req.ip}`;
    const why = crossSite(req);
    if (why) {
      log.warn('refused a cross-site request', { method: req.method, route: req.routeOptions.url, source, why });
      return void reply.code(403).send({ error: 'cross-site request refused' });
    }
    if (isApi(req) && req.body !== undefined && req.body !== null && !/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return void reply.code(415).send({ error: 'the API accepts only application/json bodies' });
    }
    if (req.routeOptions.config.preSession) return done();
    // A bearer token is never sent by a browser on its own, so it needs no CSRF token.
    if (req.principal?.via === 'token') return done();
    const sent = (req.headers['x-csrf-token'] as string | undefined) ?? (req.body as { _csrf?: string } | undefined)?._csrf;
    if (!req.session || !tokensEqual(sent, req.session.csrf)) {
      log.warn('refused a request without a valid CSRF token', { method: req.method, route: req.routeOptions.url, source, user: req.session?.username ?? null });
      if (isApi(req)) return void reply.code(403).send({ error: 'missing or invalid CSRF token (send the session csrfToken in X-CSRF-Token)' });
      return void reply.code(403).type('text/html; charset=utf-8').send(errorPage(403, 'This form has expired. Go back, reload the page and try again.'));
    }
    done();
  }

  /** Lets API clients (and the UI) see at once that running and saved configurations differ. */
  function unsavedHeader(req: FastifyRequest, reply: FastifyReply): void {
    if (req.principal && isApi(req)) reply.header('x-keel-unsaved', state.unsaved() ? 'true' : 'false');
  }
  /** While a lockout-risky change waits for its confirmation, connections opened before it end with their next answer. */
  function closeIfArmed(req: FastifyRequest, reply: FastifyReply): void {
    const armed = confirmArmedAt();
    if (!armed) return;
    const opened = socketOpenedAt.get(req.raw.socket);
    if (opened !== undefined && opened <= armed) reply.header('connection', 'close');
  }

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const api = isApi(req);
    const send = (status: number, body: { error: string; problems?: FieldProblem[]; requestId?: string }) => {
      reply.code(status);
      // People read the label; programs match the path.
      if (body.problems) body.problems = body.problems.map((p) => ({ ...p, label: fieldLabel(p.field) }));
      if (api) return reply.send(body);
      const msg = body.problems?.length ? body.problems.map((p) => `${fieldLabel(p.field)}: ${p.message}`).join('; ') : body.error;
      return reply.type('text/html; charset=utf-8').send(errorPage(status, msg, body.requestId));
    };
    if (err.validation) {
      const problems = validationProblems(err, fieldPrefixOf(req));
      // A refused change is audited like one refused by check(); plans change nothing and are not.
      if (req.principal && !SAFE_METHODS.has(req.method) && !req.url.endsWith('/plan') && req.url.startsWith(`${BASE}/api/v1/`))
        store.audit(actorOf(req), `${req.method} ${req.routeOptions.url ?? req.url}`, `refused: ${problems.map((p) => `${p.field} (${p.rule})`).join(', ')}`);
      return send(400, { error: problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems });
    }
    if (err instanceof ValidationError) return send(400, { error: err.message, problems: err.problems });
    if (err instanceof BusyError) {
      reply.header('retry-after', '5');
      return send(503, { error: err.message });
    }
    if (err instanceof OperationalError) {
      log.error('operation failed', { requestId: req.id, route: req.routeOptions.url ?? null, error: err.message });
      return send(502, { error: err.message, requestId: String(req.id) });
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) return send(status, { error: err.message });
    // A bug: details go to the log, the client gets only the request id.
    log.error('request failed (bug)', { requestId: req.id, method: req.method, route: req.routeOptions.url ?? null, error: err.stack ?? String(err) });
    return send(500, { error: 'internal error; the details are in the appliance log under this request id', requestId: String(req.id) });
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404);
    if (isApi(req)) return reply.send({ error: 'no such API resource' });
    return reply.type('text/html; charset=utf-8').send(errorPage(404, 'There is no such page.'));
  });

  /**
   * Checks a user's password through the shared sign-in (lockout shared with SSH, audited),
   * answering a failure only after a delay. Returns the user name, or the message to show.
   */
  async function signIn(username: string, password: string, source: string): Promise<{ name: string } | { error: string }> {
    if (state.config()?.portalAuth?.password === false) {
      store.audit({ who: printable(username), source }, 'sign in (System Manager)', 'refused: password sign-in is turned off');
      return { error: 'Password sign-in is turned off: sign in with your certificate.' };
    }
    const r = await sharedSignIn(store, { username, password, source, surface: 'webui', verify: (check) => gate.run(source, check) });
    if (r.ok) return { name: r.user.name };
    await sleep(failureDelayMs);
    if (r.reason === 'locked') return { error: `This user is locked out after repeated failed sign-ins until ${r.until.toISOString().replace('T', ' ').slice(0, 16)} UTC. An administrator can unlock it.` };
    return { error: 'Wrong user name or password.' };
  }

  function startSession(req: FastifyRequest, reply: FastifyReply, username: string): Session {
    const old = cookieOf(req, SESSION_COOKIE);
    if (old) sessions.destroy(old); // never keep a pre-sign-in id (session fixation)
    const s = sessions.create(username, `webui:${req.ip}`);
    setCookie(reply, SESSION_COOKIE, s.id, BASE);
    return s;
  }

  function endSession(req: FastifyRequest, reply: FastifyReply): void {
    if (req.session) {
      sessions.destroy(req.session.id);
      store.audit({ who: req.session.username, source: `webui:${req.ip}` }, 'sign out of System Manager', 'ok');
      log.info('System Manager sign-out', { user: req.session.username, source: `webui:${req.ip}` });
    }
    clearCookie(reply, SESSION_COOKIE, BASE);
  }

  const sessionBody = (s: Session) => ({ username: s.username, csrfToken: s.csrf, expiresAt: new Date(s.expiresAt).toISOString() });

  // ---- API ----

  app.get(`${BASE}/api/openapi.json`, {
    config: { public: true },
    schema: { summary: 'This OpenAPI 3 document', description: 'Generated from the route schemas.', tags: ['status'] },
    handler: async () => app.swagger(),
  });

  app.post<{ Body: { username: string; password: string } }>(`${BASE}/api/session`, {
    config: { preSession: true },
    schema: {
      summary: 'Sign in',
      description: 'Checks a local user\'s password and starts a session: sets the keel_session cookie and returns the CSRF token. Failed attempts are audited and answered after a delay.',
      tags: ['session'],
      body: {
        type: 'object',
        properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
        required: ['username', 'password'],
        additionalProperties: false,
      },
      response: { 200: SessionSchema, 400: ErrorSchema, 401: ErrorSchema, 503: ErrorSchema },
    },
    handler: async (req, reply) => {
      const r = await signIn(req.body.username, req.body.password, `webui:${req.ip}`);
      if ('error' in r) return reply.code(401).send({ error: r.error });
      return sessionBody(startSession(req, reply, r.name));
    },
  });

  app.post(`${BASE}/api/session/certificate`, {
    config: { preSession: true },
    schema: {
      summary: 'Sign in with a client certificate',
      description: 'Uses the client certificate of this TLS connection (PIV/CAC smart card): valid now, clientAuth, issued under the uploaded CA chain, its UPN or RFC822 name mapped to one local user. Audited.',
      tags: ['session'],
      response: { 200: SessionSchema, 401: ErrorSchema },
    },
    handler: async (req, reply) => {
      const r = signInWithCertificate(app, req, state.config());
      if (!r.ok) return reply.code(401).send({ error: `certificate sign-in refused: ${r.reason}` });
      return sessionBody(startSession(req, reply, r.user.name));
    },
  });

  app.get(`${BASE}/api/session`, {
    schema: {
      summary: 'Current session',
      description: 'The signed-in user and the session\'s CSRF token; 401 when not signed in.',
      tags: ['session'],
      security: SESSION_AUTH,
      response: { 200: SessionSchema, 401: ErrorSchema },
    },
    handler: async (req, reply) => (req.session ? sessionBody(req.session) : reply.code(401).send({ error: 'this is an API token, not a session' })),
  });

  app.delete(`${BASE}/api/session`, {
    schema: {
      summary: 'Sign out',
      description: 'Ends the session and clears the cookie. Needs the CSRF token.',
      tags: ['session'],
      security: SESSION_CSRF_AUTH,
      response: { 204: { type: 'null', description: 'Signed out' }, 401: ErrorSchema, 403: ErrorSchema },
    },
    handler: async (req, reply) => {
      endSession(req, reply);
      return reply.code(204).send();
    },
  });

  app.get(`${BASE}/api/health`, {
    schema: {
      summary: 'Appliance status',
      description: 'Hostname, version, uptime, network interfaces (from the NICs found and the configuration) and the running vs saved configuration revisions.',
      tags: ['status'],
      security: SESSION_AUTH,
      response: { 200: HealthSchema, 401: ErrorSchema },
    },
    // The same text (made by this route's serializer) until a reading or the configuration changes.
    // Not async: a promise per answer is measurable under load.
    handler: (_req, reply) => reply.type('application/json; charset=utf-8').send(status.readText((h) => reply.serialize(h) as string)),
  });

  await registerApi(app, { tokens, lockouts, now: opts.now });
  await registerUpdateApi(app);
  await registerLdapApi(app);
  registerConnectivityApi(app);
  registerDiagnosticsApi(app);
  registerCaptureApi(app);
  registerLoggingApi(app);
  registerReportingApi(app);
  const healthApi = registerHealthApi(app, { tokens });
  registerCertificates(app, {
    useCertificate: (pair) => (app.server as unknown as https.Server).setSecureContext(tlsOptions(pair)),
    listeningPort: () => {
      const a = app.server.address();
      return a && typeof a === 'object' ? a.port : null;
    },
    hostname: () => state.config()?.system.hostname ?? 'localhost',
    now: opts.now,
    probe: opts.certProbe,
  });
  registerPortalAuth(app);

  // ---- Pages ----

  const pages = registerPages(app, { lockouts, tokens, state, health: status, healthPanel: healthApi.panel });

  const hidden = { hide: true } as const;
  app.get('/', { config: { public: true }, schema: hidden }, (_req, reply) => reply.redirect(`${BASE}/`));
  app.get(BASE, { config: { public: true }, schema: hidden }, (_req, reply) => reply.redirect(`${BASE}/`));
  app.get(`${BASE}/static/style.css`, { config: { public: true }, schema: hidden }, (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=3600').send(css),
  );

  function showSignIn(reply: FastifyReply, status: number, error?: string, username?: string) {
    const pre = crypto.randomBytes(32).toString('base64url');
    setCookie(reply, PRESESSION_COOKIE, pre, BASE, 1800);
    const hostname = currentConfig(store)?.system.hostname ?? '';
    const auth = state.config()?.portalAuth;
    return reply.code(status).type('text/html; charset=utf-8').send(signInPage({ hostname, preToken: pre, error, username, password: auth?.password !== false, certificate: !!auth?.certificate?.enabled }));
  }

  app.get(`${BASE}/`, { config: { public: true }, schema: hidden }, (req, reply) => {
    if (!req.session) return showSignIn(reply, 200);
    return pages.dashboard(req, reply);
  });

  app.post<{ Body: { username: string; password: string; _pre: string } }>(`${BASE}/login`, {
    config: { preSession: true },
    schema: {
      ...hidden,
      body: {
        type: 'object',
        properties: { username: { type: 'string', maxLength: 64 }, password: { type: 'string', maxLength: 1024 }, _pre: { type: 'string', maxLength: 128 } },
        required: ['username', 'password', '_pre'],
      },
    },
    handler: async (req, reply) => {
      if (!tokensEqual(req.body._pre, cookieOf(req, PRESESSION_COOKIE))) {
        log.warn('refused a sign-in form without a valid pre-session token', { source: `webui:${req.ip}` });
        return showSignIn(reply, 403, 'The sign-in form expired. Please sign in again.', req.body.username);
      }
      if (!req.body.username || !req.body.password) return showSignIn(reply, 400, 'Enter a user name and a password.', req.body.username);
      const r = await signIn(req.body.username, req.body.password, `webui:${req.ip}`);
      if ('error' in r) return showSignIn(reply, 401, r.error, req.body.username);
      startSession(req, reply, r.name);
      clearCookie(reply, PRESESSION_COOKIE, BASE);
      return reply.redirect(`${BASE}/`, 303);
    },
  });

  app.post<{ Body: { _pre: string } }>(`${BASE}/login/certificate`, {
    config: { preSession: true },
    schema: { ...hidden, body: { type: 'object', properties: { _pre: { type: 'string', maxLength: 128 } }, required: ['_pre'] } },
    handler: async (req, reply) => {
      if (!tokensEqual(req.body._pre, cookieOf(req, PRESESSION_COOKIE))) return showSignIn(reply, 403, 'The sign-in form expired. Please sign in again.');
      const r = signInWithCertificate(app, req, state.config());
      if (!r.ok) {
        await sleep(failureDelayMs);
        return showSignIn(reply, 401, `Certificate sign-in refused: ${r.reason}.`);
      }
      startSession(req, reply, r.user.name);
      clearCookie(reply, PRESESSION_COOKIE, BASE);
      return reply.redirect(`${BASE}/`, 303);
    },
  });

  app.post(`${BASE}/logout`, { schema: hidden }, (req, reply) => {
    endSession(req, reply);
    return reply.redirect(`${BASE}/`, 303);
  });

  return app;
}

/** `keel serve [--root DIR] [--https-port N] [--listen ADDR]`: System Manager until SIGTERM/SIGINT. */
/** `keel serve`'s System Manager half; `given` is the host its entry composed (with its applier). */
export async function run(argv: string[], given?: Host): Promise<number> {
  let values: { root?: string; 'https-port'?: string; listen?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        root: { type: 'string', default: '/' },
        'https-port': { type: 'string' },
        listen: { type: 'string' },
      },
    }));
  } catch (e) {
    console.error(`keel serve: ${(e as Error).message}`);
    console.error('usage: keel serve [--root DIR] [--https-port N] [--listen ADDR]');
    return 2;
  }
  let port: number | undefined;
  if (values['https-port'] !== undefined) {
    port = Number(values['https-port']);
    if (!/^\d+$/.test(values['https-port']) || port < 0 || port > 65535) {
      console.error(`keel serve: --https-port must be a port number 0–65535, not "${values['https-port']}"`);
      return 2;
    }
  }
  const host = given ?? createHost(values.root ?? '/');
  const listen = values.listen ?? (host.sandbox ? '127.0.0.1' : '0.0.0.0');

  let app: FastifyInstance;
  try {
    app = await buildServer({ host });
  } catch (e) {
    if (e instanceof NotConfiguredError) {
      console.error(`keel serve: System Manager not started: ${e.message}`);
      return 1;
    }
    throw e;
  }
  try {
    await app.listen({ port: port ?? app.keel.configuredPort, host: listen });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    await app.close();
    if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
      console.error(`keel serve: cannot listen on ${listen}:${port ?? app.keel.configuredPort}: ${err.code}`);
      return 1;
    }
    throw e;
  }
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const config = currentConfig(app.keel.store);
  const shownHost = listen === '0.0.0.0' || listen === '::' ? (config?.system.hostname ?? 'localhost') : listen;
  log.info('System Manager listening', { listen, port: bound, root: host.root, fingerprint256: app.keel.certificate.fingerprint256 });
  console.log(`System Manager: https://${shownHost}:${bound}${BASE}/`);
  console.log(`Certificate SHA-256 fingerprint: ${app.keel.certificate.fingerprint256}`);

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      log.info('System Manager stopping', { signal });
      app.close().then(
        () => resolve(0),
        (e: unknown) => {
          log.error('System Manager did not stop cleanly', { error: (e as Error).message });
          resolve(1);
        },
      );
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}
