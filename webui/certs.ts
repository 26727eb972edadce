/**
 * Certificates in System Manager: view, request (key + CSR made on the appliance), upload (checked:
 * key, serverAuth, validity, chain), self-signed, per service. A new System Manager certificate
 * takes effect at once (setSecureContext, no restart); the server then connects to itself over
 * HTTPS and must be answered with the new certificate, else the previous one returns by itself.
 * Kept, it still reverts unless confirmed within the confirm time (like other risky changes).
 */
import https from 'node:https';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Store, Actor } from '../appliance/config/store.ts';
import { CONFIRM_SECONDS } from '../appliance/config/confirm.ts';
import { CERT_SERVICES, CERT_SERVICE_NAMES, ServiceCertificates, type CertService, type KeyPair } from '../appliance/certs/services.ts';
import { defaultNames, parsePemBundle } from '../appliance/certs/pki.ts';
import { fingerprint256 } from '../appliance/certs/webui.ts';
import { ValidationError, OperationalError } from '../appliance/errors.ts';
import { log } from '../appliance/log.ts';
import { actorOf, API, Problem } from './api.ts';

/** Asks the server itself, over HTTPS on loopback, for a page; null when it answers 200 with the certificate `fingerprint`, else why not. */
export function probeHttps(port: number, fingerprint: string, servername: string, path = '/mics/api/openapi.json', timeoutMs = 5000): Promise<string | null> {
  return new Promise((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, servername, method: 'GET', rejectUnauthorized: false, agent: false, timeout: timeoutMs },
      (res) => {
        const fp = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        res.resume();
        res.on('end', () => {
          if (fp !== fingerprint) resolve(`HTTPS answered with another certificate (${fp ?? 'none'})`);
          else if (res.statusCode !== 200) resolve(`HTTPS answered ${res.statusCode}`);
          else resolve(null);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve(`HTTPS did not answer: ${e.message}`));
    req.end();
  });
}

interface PendingCert {
  previous: KeyPair | null;
  previousSource: string | null;
  reason: string;
  deadline: Date;
  actor: Actor;
  timer: NodeJS.Timeout;
  armedAt: number;
  revert: () => void;
}
let pending: PendingCert | null = null;

/** The System Manager certificate waiting for confirmation, if any. */
export function pendingCert(): { reason: string; deadline: Date; who: string; armedAt: number } | null {
  return pending ? { reason: pending.reason, deadline: pending.deadline, who: pending.actor.who, armedAt: pending.armedAt } : null;
}

/** Keeps the new System Manager certificate. False when none was waiting. */
export function confirmCert(store: Store, actor: Actor): boolean {
  if (!pending) return false;
  clearTimeout(pending.timer);
  store.audit(actor, 'confirm change', `kept: ${pending.reason}`);
  pending = null;
  return true;
}

export interface CertDeps {
  /** Makes the https server use this pair for new connections (setSecureContext). */
  useCertificate: (pair: KeyPair) => void;
  /** The port the server listens on, or null when it does not (tests through inject). */
  listeningPort: () => number | null;
  hostname: () => string;
  now?: () => number;
  /** How the server checks itself after a swap (tests may slow or break it). */
  probe?: (port: number, fingerprint: string, servername: string) => Promise<string | null>;
}

/**
 * Swaps System Manager's certificate live: install, use, probe; on failure put the previous one
 * back (files and live context) and throw; on success arm the confirm timer.
 */
export async function activateWebuiCertificate(
  app: FastifyInstance,
  certs: ServiceCertificates,
  deps: CertDeps,
  pair: KeyPair,
  source: 'uploaded' | 'self-signed',
  usedRequest: boolean,
  actor: Actor,
): Promise<{ confirmBy: string | null }> {
  const store = app.keel.store;
  const previousSource = certs.source('webui');
  const previous = pending ? pending.previous : certs.install('webui', pair, source, usedRequest);
  if (pending) {
    // A second change before confirmation: the revert still goes back to the last certificate that worked.
    certs.install('webui', pair, source, usedRequest);
    clearTimeout(pending.timer);
  }
  const prevSource = pending ? pending.previousSource : previousSource;
  pending = null;
  const fp = fingerprint256(pair.certPem);
  const back = () => {
    certs.restore('webui', previous, prevSource);
    const cur = certs.current('webui');
    if (cur) {
      deps.useCertificate(cur);
      app.keel.certificate = { ...cur, fingerprint256: fingerprint256(cur.certPem) };
    }
  };
  let problem: string | null = null;
  try {
    deps.useCertificate(pair);
  } catch (e) {
    problem = `the TLS server refused it: ${(e as Error).message}`;
  }
  const port = deps.listeningPort();
  if (!problem && port !== null) problem = await (deps.probe ?? probeHttps)(port, fp, deps.hostname());
  if (problem) {
    back();
    store.audit(actor, `install System Manager certificate ${fp}`, `failed, previous certificate restored: ${problem}`);
    log.warn('new System Manager certificate did not come up healthy; previous one restored', { fingerprint256: fp, problem });
    throw new OperationalError(`the new certificate did not come up healthy, so the previous one is back (${problem})`, 'https self-check', null, '');
  }
  app.keel.certificate = { ...pair, fingerprint256: fp };
  store.audit(actor, `install System Manager certificate ${fp} (${source})`, 'ok: serving it now');
  log.info('System Manager certificate replaced without restart', { fingerprint256: fp, who: actor.who });
  const remote = /^(webui|api):/.test(actor.source);
  if (!remote) return { confirmBy: null };
  const now = deps.now ?? Date.now;
  const deadline = new Date(now() + CONFIRM_SECONDS * 1000);
  const reason = 'the System Manager certificate changes';
  const timer = setTimeout(() => {
    const p = pending;
    if (!p) return;
    pending = null;
    p.revert();
    const a: Actor = { who: p.actor.who, source: 'confirm-timer' };
    store.audit(a, 'revert unconfirmed change', `ok: ${p.reason}`);
    log.warn('unconfirmed System Manager certificate reverted', { fingerprint256: fp });
  }, CONFIRM_SECONDS * 1000);
  pending = { previous, previousSource: prevSource, reason, deadline, actor, timer, armedAt: now(), revert: back };
  store.audit(actor, `change needs confirmation within ${CONFIRM_SECONDS} s`, reason);
  return { confirmBy: deadline.toISOString() };
}

const Summary = Type.Object({
  subject: Type.String(),
  issuer: Type.String(),
  serial: Type.String(),
  names: Type.Array(Type.String()),
  validFrom: Type.String(),
  validTo: Type.String(),
  daysLeft: Type.Integer(),
  expiresSoon: Type.Boolean({ description: 'Expires within 30 days' }),
  expired: Type.Boolean(),
  selfSigned: Type.Boolean(),
  serverAuth: Type.Boolean({ description: 'Valid for server authentication (extended key usage)' }),
  fingerprint256: Type.String(),
  keyType: Type.String(),
  keyBits: Type.Union([Type.Integer(), Type.Null()]),
});
const View = Type.Object({
  service: Type.String(),
  label: Type.String(),
  port: Type.Integer(),
  source: Type.String({ description: 'automatic (made by the appliance), uploaded, self-signed (made on request), none' }),
  certificate: Type.Union([Summary, Type.Null()]),
  chain: Type.Array(Summary),
  pendingRequest: Type.Union([Type.Object({ subject: Type.String(), names: Type.Array(Type.String()), csrPem: Type.String() }), Type.Null()]),
});
const ServiceParams = Type.Object({ service: Type.Union(CERT_SERVICE_NAMES.map((s) => Type.Literal(s)), { description: 'webui (System Manager 8443), portal (443), clientTls (9997)' }) });
const Name = Type.String({ pattern: '^[A-Za-z0-9*]([A-Za-z0-9.*-]{0,252})$', description: 'DNS name or IPv4 address' });
const RequestBody = Type.Object(
  {
    names: Type.Optional(Type.Array(Name, { minItems: 1, maxItems: 20, description: 'Subject alternative names; default: the hostname and enterpriseenrollment.<domain>' })),
    organization: Type.Optional(Type.String({ maxLength: 64 })),
    organizationalUnit: Type.Optional(Type.String({ maxLength: 64 })),
    locality: Type.Optional(Type.String({ maxLength: 64 })),
    state: Type.Optional(Type.String({ maxLength: 64 })),
    country: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$', description: 'Two-letter country code' })),
  },
  { additionalProperties: false },
);
const UploadBody = Type.Object(
  {
    certificate: Type.String({ minLength: 1, maxLength: 60000, description: 'PEM: the signed certificate followed by its chain (intermediates, optionally the root)' }),
    key: Type.Optional(Type.String({ maxLength: 20000, description: 'PEM private key; leave out when the certificate answers a request made here' })),
  },
  { additionalProperties: false },
);
const InstallResult = Type.Object({
  certificate: Summary,
  warnings: Type.Array(Type.String()),
  confirmBy: Type.Union([Type.String(), Type.Null()], { description: 'System Manager: reverts at this time unless confirmed (POST /config/confirm)' }),
});
type ServiceParamsT = Static<typeof ServiceParams>;

/** Registers the certificate API. */
export function registerCertificates(app: FastifyInstance, deps: CertDeps): void {
  const certs = new ServiceCertificates(app.keel.host);
  const store = app.keel.store;
  const now = () => new Date((deps.now ?? Date.now)());
  const Err = Type.Object({
    error: Type.String(),
    problems: Type.Optional(Type.Array(Problem)),
    requestId: Type.Optional(Type.String()),
  });
  const errors = { 400: Err, 401: Err, 403: Err };
  type Security = { [scheme: string]: string[] }[];
  const security: Security = [{ sessionCookie: [] }, { bearerToken: [] }];
  const change: Security = [{ sessionCookie: [], csrfHeader: [] }, { bearerToken: [] }];

  app.get(`${API}/certificates`, {
    schema: { tags: ['certificates'], summary: 'Certificates of every service', description: 'System Manager (8443), portal (443), client TLS (9997): subject, names, validity, expiry warning, chain, pending request.', security, response: { 200: Type.Array(View), ...errors } },
    handler: async () => CERT_SERVICE_NAMES.map((s) => certs.view(s, now())),
  });
  app.get<{ Params: ServiceParamsT }>(`${API}/certificates/:service`, {
    schema: { tags: ['certificates'], summary: 'Certificate of one service', description: 'Subject, names, validity and expiry warning, chain, and the pending request (CSR) if any.', security, params: ServiceParams, response: { 200: View, ...errors } },
    handler: async (req) => certs.view(req.params.service as CertService, now()),
  });

  app.post<{ Params: ServiceParamsT; Body: Static<typeof RequestBody> }>(`${API}/certificates/:service/request`, {
    config: { fieldPrefix: '' },
    schema: {
      tags: ['certificates'],
      summary: 'Make a key and a certificate signing request',
      description: 'A new RSA 2048 key stays on the appliance; the CSR (PEM) goes to your CA. Upload the signed certificate afterwards without a key. Audited.',
      security: change,
      params: ServiceParams,
      body: RequestBody,
      response: { 200: Type.Object({ csrPem: Type.String(), names: Type.Array(Type.String()) }), ...errors },
    },
    handler: async (req) => {
      const s = req.params.service as CertService;
      const names = req.body.names ?? defaultNames(app.keel.store.running()!.config.system.hostname);
      const csrPem = await certs.request(s, { commonName: names[0], ...req.body }, names);
      store.audit(actorOf(req), `make certificate request for ${CERT_SERVICES[s].label} (${names.join(', ')})`, 'ok');
      return { csrPem, names };
    },
  });

  async function put(req: FastifyRequest, reply: FastifyReply, s: CertService, pair: KeyPair, warnings: string[], source: 'uploaded' | 'self-signed', usedRequest: boolean) {
    const actor = actorOf(req);
    let confirmBy: string | null = null;
    if (s === 'webui') confirmBy = (await activateWebuiCertificate(app, certs, deps, pair, source, usedRequest, actor)).confirmBy;
    // This connection still uses the old certificate: confirming must come over a new one.
    if (confirmBy) reply.header('connection', 'close');
    else {
      certs.install(s, pair, source, usedRequest);
      store.audit(actor, `install ${CERT_SERVICES[s].label} certificate ${fingerprint256(pair.certPem)} (${source})`, 'ok');
    }
    return { certificate: certs.view(s, now()).certificate!, warnings, confirmBy };
  }

  app.post<{ Params: ServiceParamsT; Body: Static<typeof UploadBody> }>(`${API}/certificates/:service/upload`, {
    config: { fieldPrefix: '' },
    schema: {
      tags: ['certificates'],
      summary: 'Upload a signed certificate and its chain',
      description: 'Checked before use: the key matches, serverAuth extended key usage, valid now, RSA >= 2048, chain complete to a root. System Manager takes it at once, checks itself over HTTPS and puts the previous certificate back if that fails. Audited.',
      security: change,
      params: ServiceParams,
      body: UploadBody,
      response: { 200: InstallResult, ...errors, 502: Err },
    },
    handler: async (req, reply) => {
      const s = req.params.service as CertService;
      try {
        const r = certs.prepare(s, req.body.certificate, req.body.key, app.keel.store.running()!.config.system.hostname, now());
        return await put(req, reply, s, r.pair, r.warnings, 'uploaded', r.usedRequest);
      } catch (e) {
        if (e instanceof ValidationError) store.audit(actorOf(req), `upload ${CERT_SERVICES[s].label} certificate`, `refused: ${e.problems.map((p) => `${p.field} (${p.rule})`).join(', ')}`);
        throw e;
      }
    },
  });

  app.post<{ Params: ServiceParamsT; Body: { names?: string[] } }>(`${API}/certificates/:service/self-signed`, {
    config: { fieldPrefix: '' },
    schema: {
      tags: ['certificates'],
      summary: 'Make and use a new self-signed certificate',
      description: 'A new key and a self-signed certificate (two years) for the names (default: the hostname and enterpriseenrollment.<domain>). Audited.',
      security: change,
      params: ServiceParams,
      body: Type.Object({ names: Type.Optional(Type.Array(Name, { minItems: 1, maxItems: 20 })) }, { additionalProperties: false }),
      response: { 200: InstallResult, ...errors },
    },
    handler: async (req, reply) => {
      const s = req.params.service as CertService;
      const names = req.body.names ?? defaultNames(app.keel.store.running()!.config.system.hostname);
      const pair = await certs.selfSigned(names, now());
      parsePemBundle(pair.certPem);
      return put(req, reply, s, pair, [], 'self-signed', false);
    },
  });
}
