/**
 * Portal Authentication in System Manager: client-certificate sign-in (PIV/CAC) beside password
 * sign-in. The TLS server asks for a client certificate only while certificate sign-in is on, and
 * never refuses a handshake over it (rejectUnauthorized false): the application verifies the
 * certificate (appliance/portalauth/match.ts), so a missing or wrong certificate gets a clear
 * answer and password sign-in keeps working.
 */
import crypto from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../appliance/config/schema.ts';
import { certificateSignIn, type CertSignIn } from '../appliance/portalauth/match.ts';
import { CertificateAuthSchema, DEFAULT_PORTAL_AUTH, type CertificateAuthConfig } from '../appliance/portalauth/schema.ts';
import { printableName } from '../appliance/users/signin.ts';
import { log } from '../appliance/log.ts';
import { API, actorOf, Nullable, Problem } from './api.ts';

/** Asks browsers for a client certificate only while certificate sign-in is on (takes effect for new connections). */
export function syncClientCertRequest(app: FastifyInstance, c: Config | null): void {
  const want = !!c?.portalAuth?.certificate?.enabled;
  const server = app.server as unknown as { requestCert?: boolean; rejectUnauthorized?: boolean };
  if (server.requestCert !== want) {
    server.requestCert = want;
    server.rejectUnauthorized = false;
  }
}

/** The client certificate of this request's TLS connection and the intermediates it sent, or null. */
export function peerCertificates(req: FastifyRequest): { leaf: crypto.X509Certificate; presented: crypto.X509Certificate[] } | null {
  const sock = req.raw.socket as TLSSocket;
  if (typeof sock.getPeerX509Certificate !== 'function') return null;
  const leaf = sock.getPeerX509Certificate();
  if (!leaf) return null;
  const presented: crypto.X509Certificate[] = [];
  let p = sock.getPeerCertificate(true) as { issuerCertificate?: { raw: Buffer; issuerCertificate?: unknown } } & { raw?: Buffer };
  for (let i = 0; i < 5 && p.issuerCertificate && p.issuerCertificate !== p; i++) {
    presented.push(new crypto.X509Certificate(p.issuerCertificate.raw));
    p = p.issuerCertificate as typeof p;
  }
  return { leaf, presented };
}

/** Signs in with the connection's client certificate, audited either way. */
export function signInWithCertificate(app: FastifyInstance, req: FastifyRequest, config: Config | null): CertSignIn {
  const source = `webui:${req.ip}`;
  const peer = peerCertificates(req);
  let r: CertSignIn;
  if (!config) r = { ok: false, reason: 'the appliance is not configured', steps: [] };
  else if (!peer) r = { ok: false, reason: config.portalAuth?.certificate?.enabled ? 'the browser sent no client certificate' : 'certificate sign-in is turned off', steps: [] };
  else r = certificateSignIn(config, peer.leaf, peer.presented);
  const who = r.ok ? r.user.name : printableName(peer?.leaf.subject.replace(/\n/g, ', ') ?? '-');
  app.keel.store.audit({ who, source }, 'sign in with certificate (System Manager)', r.ok ? `ok (${r.identity})` : `failed: ${r.reason}`);
  if (r.ok) log.info('certificate sign-in', { user: r.user.name, source });
  else log.warn('certificate sign-in failed', { source, reason: r.reason });
  return r;
}

/** The "test sign-in" route: how a given certificate maps to a user, or why it does not. */
export function registerPortalAuth(app: FastifyInstance): void {
  const store = app.keel.store;
  const Err = Type.Object({ error: Type.String(), problems: Type.Optional(Type.Array(Problem)) });
  app.post<{ Body: { certificate: string; settings?: CertificateAuthConfig } }>(`${API}/portal-auth/test`, {
    config: { fieldPrefix: '' },
    schema: {
      tags: ['users'],
      summary: 'Test certificate sign-in',
      description: 'Shows, step by step, whether a client certificate (PEM, with any intermediates after it) would sign in and as which local user, or why not. Uses the running settings, or the given ones (the form before Apply). Changes nothing.',
      security: [{ sessionCookie: [], csrfHeader: [] }, { bearerToken: [] }],
      body: Type.Object(
        {
          certificate: Type.String({ minLength: 1, maxLength: 60000, description: 'The client certificate (PEM), optionally followed by intermediates' }),
          settings: Type.Optional(CertificateAuthSchema),
        },
        { additionalProperties: false },
      ),
      response: {
        200: Type.Object({ ok: Type.Boolean(), user: Nullable(Type.String()), role: Nullable(Type.String()), identity: Nullable(Type.String()), reason: Nullable(Type.String()), steps: Type.Array(Type.String()) }),
        400: Err,
        401: Err,
        403: Err,
      },
    },
    handler: async (req) => {
      const c = structuredClone(store.running()!.config);
      if (req.body.settings) c.portalAuth = { ...(c.portalAuth ?? DEFAULT_PORTAL_AUTH), certificate: { ...req.body.settings, enabled: true } };
      else if (c.portalAuth?.certificate) c.portalAuth.certificate.enabled = true;
      let certs: crypto.X509Certificate[] = [];
      try {
        certs = (req.body.certificate.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new crypto.X509Certificate(p));
      } catch {
        certs = [];
      }
      const r = certs.length ? certificateSignIn(c, certs[0], certs.slice(1)) : { ok: false as const, reason: 'no readable PEM certificate', steps: [] };
      store.audit(actorOf(req), 'test certificate sign-in', r.ok ? `would sign in as ${r.user.name}` : `would be refused: ${r.reason}`);
      return r.ok
        ? { ok: true, user: r.user.name, role: r.user.role, identity: r.identity, reason: null, steps: r.steps }
        : { ok: false, user: null, role: null, identity: null, reason: r.reason, steps: r.steps };
    },
  });
}
