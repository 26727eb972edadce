/**
 * System Manager REST API, version 1 (`/mics/api/v1/...`). The UI pages use it, and so can
 * automation with an API token. Every change goes the same way as in the CLI: a copy of the
 * running configuration is edited, checked with the one schema (check()), and applied with
 * applyConfig (previous configuration kept on failure, numbered revision, audit). A `.../plan`
 * twin of each change shows the diff without applying it.
 */
import { Type, type TSchema, type Static } from '@sinclair/typebox';
import { createTwoFilesPatch } from 'diff';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { check, type Config } from '../appliance/config/schema.ts';
import { applyConfig, plan as planConfig, scriptDiff, type Plan } from '../appliance/config/apply.ts';
import { keptFor } from '../appliance/config/secrets.ts';
import type { Actor } from '../appliance/config/store.ts';
import * as rules from '../appliance/config/rules.ts';
import { SystemSchema } from '../appliance/system/schema.ts';
import { NetworkSchema } from '../appliance/network/schema.ts';
import { DnsSchema } from '../appliance/dns/schema.ts';
import { NtpSchema } from '../appliance/ntp/schema.ts';
import { ClockSchema } from '../appliance/clock/schema.ts';
import { SshSchema } from '../appliance/ssh/schema.ts';
import { WebuiSchema } from '../appliance/webui/schema.ts';
import { LockoutSchema, PasswordPolicySchema, USER_RECORD_FIELDS, UserSchema } from '../appliance/users/schema.ts';
import { Lockouts, lockoutPolicy, passwordPolicy, printableName } from '../appliance/users/signin.ts';
import { lockoutRisk, armConfirm, confirmChange, pendingConfirm, CONFIRM_SECONDS } from '../appliance/config/confirm.ts';
import { AclSchema, aclOf, aclRisk, selfLockout } from '../appliance/acl/schema.ts';
import { PortsSchema } from '../appliance/ports/schema.ts';
import { PortalAuthSchema, DEFAULT_PORTAL_AUTH, portalAuthRisk } from '../appliance/portalauth/schema.ts';
import { hashSecret } from '../appliance/users/secrets.ts';
import { EmailSchema, type EmailConfig } from '../appliance/email/schema.ts';
import { ProxySchema, type ProxyConfig } from '../appliance/proxy/schema.ts';
import { ConnectivityEndpointSchema, ConnectivitySchema, DEFAULT_CONNECTIVITY } from '../appliance/connectivity/schema.ts';
import { sendMail } from '../appliance/email/send.ts';
import { ApiTokens, type TokenInfo } from '../appliance/tokens/store.ts';
import { encryptBackup, decryptBackup, MIN_PASSPHRASE, type BackupHeader } from '../appliance/backup/crypto.ts';
import { ValidationError } from '../appliance/errors.ts';
import { log } from '../appliance/log.ts';
import { VERSION } from '../appliance/version.ts';
import { queryAudit } from './audit.ts';
import { pendingCert, confirmCert } from './certs.ts';
import { redactConfig } from './redact.ts';
import { supportBundle } from './bundle.ts';
import { prepared } from '../appliance/config/prepared.ts';

export const API = '/mics/api/v1';
const USER_ROUTE = `${API}/users/:name`;

/** When each System Manager connection began (server.ts fills it): confirming needs a connection newer than the change. */
export const socketOpenedAt = new WeakMap<object, number>();

/**
 * When the change now waiting for confirmation was made (0: none waiting). Every answer on a
 * connection opened before it closes that connection, so the page's confirmation, which must come
 * over a new connection, does not ride on one a browser kept from before.
 */
export function confirmArmedAt(): number {
  return Math.max(pendingConfirm() ? lastArmedAt : 0, pendingCert()?.armedAt ?? 0);
}
let lastArmedAt = 0;

/** Why a change made from `source` could lock its maker out: the shared rules plus the Portal ACL. */
export function changeRisk(prev: Config, next: Config, source: string): string | null {
  return lockoutRisk(prev, next, source) ?? aclRisk(prev, next, source) ?? portalAuthRisk(prev, next, source);
}

/** Who is calling: a signed-in user or an API token, with the role that decides what it may do. */
export interface Principal {
  name: string;
  role: 'admin' | 'operator';
  via: 'session' | 'token';
  tokenId?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** State-changing, yet allowed to operators too (the handler checks what exactly). */
    anyRole?: boolean;
    /** Read-only, yet only for administrators (tokens, support bundle). */
    adminOnly?: boolean;
    /** Prefix of body validation problems, so they name the configuration field (`/ssh`). */
    fieldPrefix?: string;
  }
}

/** The audit actor of a request: `admin` from `webui:<ip>`, or `token:<name>` from `api:<ip>`. */
export function actorOf(req: FastifyRequest): Actor {
  const p = req.principal!;
  return { who: p.name, source: `${p.via === 'token' ? 'api' : 'webui'}:${req.ip}` };
}

/** Refuses with a ValidationError naming one field and rule. */
function refuse(field: string, rule: string, message: string): never {
  throw new ValidationError([{ field, rule, message }]);
}

/** An error answered with its status code and message (never a bug). */
export class HttpError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

/** The configurable sections exposed as GET/PUT, with the schema each is checked against. */
export const SECTIONS = {
  system: SystemSchema,
  network: NetworkSchema,
  dns: DnsSchema,
  ntp: NtpSchema,
  clock: ClockSchema,
  ssh: SshSchema,
  webui: WebuiSchema,
  email: EmailSchema,
  acl: AclSchema,
  ports: PortsSchema,
  portalAuth: PortalAuthSchema,
  proxy: ProxySchema,
  connectivity: ConnectivitySchema,
} as const;
export type Section = keyof typeof SECTIONS;

// ---- shared response schemas ----

/** The schema or null (TypeBox), with an optional description. */
export const Nullable = <T extends TSchema>(t: T, description?: string) => Type.Union([t, Type.Null()], description ? { description } : {});
export const Problem = Type.Object({ field: Type.String(), label: Type.Optional(Type.String({ description: "The field in the administrator's words, as the CLI names it" })), rule: Type.String(), message: Type.String() });
export const ErrorBody = Type.Object(
  { error: Type.String(), problems: Type.Optional(Type.Array(Problem)), requestId: Type.Optional(Type.String()) },
  { description: 'An error: for 400 the fields and rules that were broken' },
);
const PlanBody = Type.Object(
  {
    changed: Type.Boolean({ description: 'False when the change would change nothing' }),
    diff: Type.String({ description: 'Unified diff of the CLI configuration script (show running-config), secrets redacted' }),
    configDiff: Type.String({ description: 'Unified diff of the configuration document (JSON), secrets redacted; covers settings the script does not show' }),
    changes: Type.Array(Type.Object({ unit: Type.String(), path: Type.String() }), { description: 'OS files that would be rewritten' }),
    units: Type.Array(Type.String(), { description: 'Services that would take the change' }),
    confirmNeeded: Type.Optional(Type.String({ description: `Why this change could cut you off: applied, it reverts by itself unless confirmed within ${CONFIRM_SECONDS} s (POST /config/confirm from a new connection)` })),
  },
  { description: 'What a change would do; nothing was applied' },
);
const ApplyBody = Type.Object(
  {
    changed: Type.Boolean({ description: 'False when the request changed nothing (no new revision)' }),
    revision: Type.Integer({ description: 'The running revision after the change' }),
    units: Type.Array(Type.String(), { description: 'Services that took the change' }),
    unsaved: Type.Boolean({ description: 'Running differs from saved: Save (POST /config/save) makes it persistent' }),
    confirmBy: Type.Optional(Type.String({ description: 'The change could cut you off: it reverts at this time unless confirmed (POST /config/confirm from a new connection)' })),
    confirmReason: Type.Optional(Type.String({ description: 'Why it needs confirmation' })),
  },
  { description: 'Applied to the running configuration (lost at reboot unless saved)' },
);
const Status = Type.Object({
  runningRevision: Nullable(Type.Integer()),
  startupRevision: Nullable(Type.Integer()),
  unsaved: Type.Boolean({ description: 'Running and saved (startup) configurations differ' }),
  diff: Type.String({ description: 'Script diff from saved to running, secrets redacted' }),
  configDiff: Type.String({ description: 'Configuration document diff from saved to running, secrets redacted' }),
});
const UserView = Type.Object({
  name: Type.String(),
  role: Type.Union([Type.Literal('admin'), Type.Literal('operator')]),
  passwordChangedAt: Type.String(),
  lockedUntil: Nullable(Type.String(), 'Locked out of SSH and System Manager until then (null: not locked)'),
  firstName: Type.Optional(UserSchema.properties.firstName),
  lastName: Type.Optional(UserSchema.properties.lastName),
  email: Type.Optional(UserSchema.properties.email),
  edipi: Type.Optional(UserSchema.properties.edipi),
});
/** The seed's user record fields (Security > Local Users), as the API takes them; '' removes one. */
const UserFields = {
  firstName: Type.Optional(Type.String({ maxLength: 64, description: 'First name (empty: none)' })),
  lastName: Type.Optional(Type.String({ maxLength: 64, description: 'Last name (empty: none)' })),
  email: Type.Optional(Type.String({ maxLength: 254, description: 'E-mail address; certificate sign-in can map to it ($EMAIL$) (empty: none)' })),
  edipi: Type.Optional(Type.String({ maxLength: 10, description: 'DoD EDIPI, 10 digits; CAC sign-in maps to it ($EDIPI$) (empty: none)' })),
};
type UserFieldBody = { firstName?: string; lastName?: string; email?: string; edipi?: string };
/** Copies the given user fields onto a user record ('' removes one); the schema checks the values. */
function putUserFields(u: Record<string, unknown>, b: UserFieldBody): void {
  for (const k of USER_RECORD_FIELDS) {
    const v = b[k];
    if (v === undefined) continue;
    if (v.trim() === '') delete u[k];
    else u[k] = v.trim();
  }
}
const PasswordPolicyBody = Type.Object(
  {
    minLength: Type.Integer(),
    requireLetter: Type.Boolean(),
    requireUpper: Type.Boolean(),
    requireDigit: Type.Boolean(),
    maxRepeat: Type.Integer({ description: 'Most repeats of one character in a row' }),
    minAgeHours: Type.Integer({ description: 'A user can change their own password at most once in this many hours' }),
    adjusted: Type.Optional(Type.Boolean({ description: 'Set under Password Policy (false: the seed\'s defaults)' })),
  },
  { description: 'The password policy (seed 004); passwords must also differ from the user name and be printable ASCII (the CLI must be able to type them)' },
);
const TokenView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.Union([Type.Literal('admin'), Type.Literal('operator')]),
  createdBy: Type.String(),
  createdAt: Type.String(),
  expiresAt: Nullable(Type.String()),
  lastUsedAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
});
const EmailView = Type.Object(
  { ...Type.Omit(EmailSchema, ['password']).properties, passwordSet: Type.Boolean({ description: 'A password is stored (it is never returned)' }) },
  { description: 'E-mail settings; the password is never returned' },
);
const ProxyView = Type.Object(
  { ...Type.Omit(ProxySchema, ['password']).properties, passwordSet: Type.Boolean({ description: 'A proxy password is stored (it is never returned)' }) },
  { description: 'Outbound proxy settings; the password is never returned' },
);
const Passphrase = Type.String({ minLength: 1, maxLength: 1024, description: `Backup passphrase (at least ${MIN_PASSPHRASE} characters to export)` });
const BackupText = Type.String({ minLength: 1, maxLength: 60000, description: 'The backup file, as text' });
const BackupHeaderView = Type.Object({
  createdAt: Type.String(),
  keelVersion: Type.String(),
  revision: Nullable(Type.Integer()),
  hostname: Type.String(),
});

export type Security = { [scheme: string]: string[] }[];
export const SESSION_OR_TOKEN: Security = [{ sessionCookie: [] }, { bearerToken: [] }];
export const CHANGE_AUTH: Security = [{ sessionCookie: [], csrfHeader: [] }, { bearerToken: [] }];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody };

/** A JSON diff of two configurations with secrets redacted (covers what the CLI script does not show). */
export function configDiff(before: Config | null, after: Config | null): string {
  const a = before ? JSON.stringify(redactConfig(before), null, 2) + '\n' : '';
  const b = after ? JSON.stringify(redactConfig(after), null, 2) + '\n' : '';
  return a === b ? '' : createTwoFilesPatch('running', 'candidate', a, b, '', '', { context: 3 });
}

const USER_PASSWORD_MIN_AGE_HOURS = 24;

/**
 * What a change sets, for the revision summary and the audit log: the added CLI script lines
 * (secrets redacted), or the changed settings when the script does not show them.
 */
export function describe(before: Config, after: Config): string {
  const added = scriptDiff(before, after)
    .split('\n')
    .filter((l) => l.startsWith('+') && !l.startsWith('+++'))
    .map((l) => l.slice(1).trim())
    .filter((l) => l && l !== '!');
  let text = added.join('; ');
  if (!text) {
    const a = redactConfig(before) as unknown as Record<string, unknown>;
    const b = redactConfig(after) as unknown as Record<string, unknown>;
    text = Object.keys({ ...a, ...b })
      .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
      .map((k) => `${k} changed`)
      .join('; ');
  }
  return text ? ` (${text.length > 300 ? `${text.slice(0, 300)}...` : text})` : '';
}

/** Registers the v1 API. `tokens` and `lockouts` share the server's store. */
export async function registerApi(app: FastifyInstance, deps: { tokens: ApiTokens; lockouts: Lockouts; now?: () => number }): Promise<void> {
  const { host, store } = app.keel;
  const { tokens, lockouts } = deps;
  const now = deps.now ?? Date.now;

  const running = (): { revision: number; config: Config } => {
    const r = store.running();
    if (!r) throw new HttpError(409, 'there is no running configuration yet');
    return r;
  };

  async function planOf(cur: Config, next: Config, source?: string): Promise<Static<typeof PlanBody>> {
    const p: Plan = await planConfig(host, store, next);
    const risk = source ? changeRisk(cur, next, source) : null;
    return { changed: JSON.stringify(cur) !== JSON.stringify(next), diff: p.diff, configDiff: configDiff(cur, next), changes: p.changes, units: p.units, ...(risk ? { confirmNeeded: risk } : {}) };
  }

  /**
   * The one path of every configuration change: copy, edit, check, then plan (dry run) or apply.
   * Refusals and failures are audited with the fields and rules, never the values.
   */
  async function change(
    req: FastifyRequest,
    summary: string,
    edit: (c: Config) => void | Promise<void>,
    dryRun: boolean,
    reply?: FastifyReply,
  ): Promise<Static<typeof PlanBody> | Static<typeof ApplyBody>> {
    const actor = actorOf(req);
    const what = `${actor.source.startsWith('api:') ? 'api' : 'webui'}: ${summary}`;
    const cur = running();
    const next = structuredClone(cur.config);
    const force = (req.query as { force?: boolean } | undefined)?.force === true;
    try {
      await edit(next);
      const problems = check(next);
      // An ACL that shuts out the address this very request comes from is refused unless forced.
      const self = aclRisk(cur.config, next, actor.source) ? selfLockout(next, actor.source) : null;
      if (self && !force) problems.push(self);
      if (problems.length) throw new ValidationError(problems);
    } catch (e) {
      if (e instanceof ValidationError && !dryRun) store.audit(actor, what, `refused: ${e.problems.map((p) => `${p.field} (${p.rule})`).join(', ')}`);
      throw e;
    }
    if (dryRun) return planOf(cur.config, next, actor.source);
    if (JSON.stringify(next) === JSON.stringify(cur.config)) return { changed: false, revision: cur.revision, units: [], unsaved: store.unsaved() };
    const risk = changeRisk(cur.config, next, actor.source);
    const r = await applyConfig(host, store, next, actor, `${what}${describe(cur.config, next)}${force ? ' (forced)' : ''}`);
    if (!risk) return { changed: true, revision: r.revision, units: r.units, unsaved: store.unsaved() };
    const deadline = armConfirm(host, store, cur.config, actor, risk);
    armedAt = now();
    lastArmedAt = armedAt;
    // Close this connection after the answer, and every idle one a browser keeps in its pool: the
    // confirmation must prove that a new connection gets through.
    reply?.header('connection', 'close');
    app.server.closeIdleConnections?.();
    return { changed: true, revision: r.revision, units: r.units, unsaved: store.unsaved(), confirmBy: deadline.toISOString(), confirmReason: risk };
  }
  let armedAt = 0;

  /** A change route and its `/plan` twin, documented together. */
  function changeRoutes<B extends TSchema, P extends Record<string, string> = Record<string, string>>(o: {
    method: 'PUT' | 'POST' | 'DELETE';
    url: string;
    planUrl: string;
    summary: string;
    description: string;
    tag: string;
    body?: B;
    params?: TSchema;
    fieldPrefix?: string;
    anyRole?: boolean;
    querystring?: TSchema;
    run: (req: FastifyRequest<{ Body: Static<B>; Params: P }>, c: Config) => void | Promise<void>;
    label: (req: FastifyRequest<{ Body: Static<B>; Params: P }>) => string;
    /** After the change route's answer (not the plan's). */
    onResponse?: (req: FastifyRequest, reply: FastifyReply, done: () => void) => void;
  }): void {
    const common = { tags: [o.tag], security: CHANGE_AUTH, ...(o.body ? { body: o.body } : {}), ...(o.params ? { params: o.params } : {}), ...(o.querystring ? { querystring: o.querystring } : {}) };
    const config = { fieldPrefix: o.fieldPrefix, anyRole: o.anyRole };
    app.route<{ Body: Static<B>; Params: P }>({
      method: o.method,
      url: o.url,
      config,
      schema: { ...common, summary: o.summary, description: `${o.description} Applied now to the running configuration; Save makes it persistent.`, response: { 200: ApplyBody, ...errors, 502: ErrorBody } },
      ...(o.onResponse ? { onResponse: o.onResponse } : {}),
      handler: (req, reply) => change(req, o.label(req), (c) => o.run(req, c), false, reply),
    });
    app.route<{ Body: Static<B>; Params: P }>({
      method: 'POST',
      url: o.planUrl,
      config,
      schema: { ...common, summary: `Plan: ${o.summary.charAt(0).toLowerCase()}${o.summary.slice(1)}`, description: `${o.description} Only shows the diff and the services it would touch; nothing changes.`, response: { 200: PlanBody, ...errors } },
      handler: (req) => change(req, o.label(req), (c) => o.run(req, c), true),
    });
  }

  // ---- configuration state, save, revisions ----

  app.get(`${API}/config`, {
    schema: {
      tags: ['configuration'],
      summary: 'Running vs saved configuration',
      description: 'Revisions of the running and saved (startup) configurations, whether they differ, and the diff (secrets redacted). Every API answer also carries the X-Keel-Unsaved header.',
      security: SESSION_OR_TOKEN,
      response: { 200: Status, 401: ErrorBody },
    },
    handler: async () => {
      const r = store.running();
      const s = store.startup();
      return {
        runningRevision: r?.revision ?? null,
        startupRevision: s?.revision ?? null,
        unsaved: store.unsaved(),
        diff: r ? scriptDiff(s?.config ?? null, r.config, ['startup-config', 'running-config']) : '',
        configDiff: r ? configDiff(s?.config ?? null, r.config) : '',
      };
    },
  });

  app.post(`${API}/config/save`, {
    schema: {
      tags: ['configuration'],
      summary: 'Save: running becomes startup',
      description: 'Makes the running configuration persistent (write memory): the appliance boots with it.',
      security: CHANGE_AUTH,
      response: { 200: Type.Object({ revision: Type.Integer(), unsaved: Type.Boolean() }), ...errors },
    },
    handler: async (req) => {
      running();
      const revision = store.saveStartup(actorOf(req));
      log.info('configuration saved', { revision, who: actorOf(req).who });
      return { revision, unsaved: store.unsaved() };
    },
  });

  const RevisionView = Type.Object({
    id: Type.Integer(),
    at: Type.String(),
    who: Type.String(),
    source: Type.String(),
    summary: Type.String(),
    running: Type.Boolean(),
    startup: Type.Boolean(),
  });
  const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, description: 'Revision number' }) });

  app.get<{ Querystring: { limit?: number } }>(`${API}/config/revisions`, {
    schema: {
      tags: ['configuration'],
      summary: 'Configuration revisions',
      description: 'Numbered revisions, newest first: when, who, from where, what.',
      security: SESSION_OR_TOKEN,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }),
      response: { 200: Type.Array(RevisionView), ...errors },
    },
    handler: async (req) => {
      const r = store.running()?.revision;
      const s = store.startup()?.revision;
      return store.revisions(req.query.limit ?? 100).map((x) => ({ id: x.id, at: x.at, who: x.who, source: x.source, summary: x.summary, running: x.id === r, startup: x.id === s }));
    },
  });

  app.get<{ Params: { id: number } }>(`${API}/config/revisions/:id`, {
    schema: {
      tags: ['configuration'],
      summary: 'One revision',
      description: 'A revision with the script diff it made, secrets redacted.',
      security: SESSION_OR_TOKEN,
      params: IdParams,
      response: { 200: Type.Object({ ...RevisionView.properties, diff: Type.String() }), ...errors, 404: ErrorBody },
    },
    handler: async (req) => {
      const row = prepared(store.db, 'SELECT id, at, who, source, summary, diff FROM revisions WHERE id = ?').get(req.params.id) as
        | { id: number; at: string; who: string; source: string; summary: string; diff: string }
        | undefined;
      if (!row) throw new HttpError(404, `there is no revision ${req.params.id}`);
      return { ...row, running: row.id === store.running()?.revision, startup: row.id === store.startup()?.revision };
    },
  });

  changeRoutes<TSchema, { id: string }>({
    method: 'POST',
    url: `${API}/config/revisions/:id/rollback`,
    planUrl: `${API}/config/revisions/:id/rollback/plan`,
    summary: 'Roll back to a revision',
    description: 'Makes an earlier revision the running configuration again (as a new revision).',
    tag: 'configuration',
    params: IdParams,
    run: (req, c) => {
      const old = store.revisionConfig(Number(req.params.id));
      if (!old) throw new HttpError(404, `there is no revision ${req.params.id}`);
      for (const k of Object.keys(c) as (keyof Config)[]) delete c[k];
      Object.assign(c, structuredClone(old));
    },
    label: (req) => `rollback to revision ${req.params.id}`,
  });

  // ---- sections ----

  for (const [name, schema] of Object.entries(SECTIONS) as [Section, TSchema][]) {
    const isEmail = name === 'email';
    const isProxy = name === 'proxy';
    app.get(`${API}/config/${name}`, {
      schema: {
        tags: ['configuration'],
        summary: `${name} settings`,
        description: `The running ${schema.description ?? name} settings.${isEmail ? ' The SMTP password is never returned; passwordSet tells whether one is stored. 404 until e-mail is configured.' : ''}`,
        security: SESSION_OR_TOKEN,
        response: { 200: isEmail ? EmailView : isProxy ? ProxyView : schema, ...errors, 404: ErrorBody },
      },
      handler: async () => {
        const c = running().config;
        if (name === 'acl') return aclOf(c);
        if (name === 'portalAuth') return c.portalAuth ?? DEFAULT_PORTAL_AUTH;
        if (name === 'connectivity') return c.connectivity ?? DEFAULT_CONNECTIVITY;
        if (name === 'ports' && !c.ports) throw new HttpError(404, 'Port Settings are not set yet: provisioning is closed');
        if (isProxy) {
          if (!c.proxy) throw new HttpError(404, 'no outbound proxy is configured: requests go out directly');
          const { password, ...rest } = c.proxy;
          return { ...rest, passwordSet: !!password };
        }
        if (isEmail) {
          if (!c.email) throw new HttpError(404, 'e-mail is not configured yet');
          const { password, ...rest } = c.email;
          return { ...rest, passwordSet: !!password };
        }
        return c[name];
      },
    });
    changeRoutes<TSchema>({
      method: 'PUT',
      url: `${API}/config/${name}`,
      planUrl: `${API}/config/${name}/plan`,
      summary: `Change ${name} settings`,
      description: `Replaces the ${schema.description ?? name} settings (send the whole section; GET it first).${isEmail || isProxy ? ' Leave out the password to keep the stored one.' : ''}`,
      tag: 'configuration',
      body: schema,
      fieldPrefix: `/${name}`,
      ...(name === 'acl'
        ? { querystring: Type.Object({ force: Type.Optional(Type.Boolean({ description: 'Apply even when the list shuts out your own address (it then reverts unless confirmed from an allowed address)' })) }) }
        : {}),
      run: (req, c) => {
        const body = structuredClone(req.body) as never;
        if (isEmail) {
          const e = body as EmailConfig;
          // No password in the request keeps the stored one, only for the same server, port, protocol and user.
          if (e.auth && e.password === undefined) e.password = keptFor('email', c.email, e);
          if (!e.auth || e.password === undefined) delete e.password;
          c.email = e;
        } else if (isProxy) {
          // Like e-mail: no password in the request keeps the stored one while the user name stays.
          const p = body as ProxyConfig;
          if (p.username && p.password === undefined) p.password = keptFor('proxy', c.proxy, p);
          if (!p.username || p.password === undefined) delete p.password;
          c.proxy = p;
        } else (c as Record<Section, unknown>)[name] = body;
      },
      label: () => `set ${name}`,
    });
  }

  changeRoutes({
    method: 'PUT',
    url: `${API}/config/users/lockout`,
    planUrl: `${API}/config/users/lockout/plan`,
    summary: 'Change the sign-in lockout policy',
    description: 'How many failed sign-ins within how many minutes lock a user name out of SSH and System Manager, and for how long (the consoles are never locked out).',
    tag: 'users',
    body: LockoutSchema,
    fieldPrefix: '/users/lockout',
    run: (req, c) => void (c.users.lockout = { ...req.body }),
    label: () => 'set users lockout',
  });

  // ---- connectivity endpoints (one at a time, for the Diagnostics > Connectivity page) ----

  const EndpointParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 32, description: 'Name of the connectivity endpoint' }) });
  const endpointAt = (c: Config, name: string): number => {
    const i = (c.connectivity?.endpoints ?? []).findIndex((e) => e.name.toLowerCase() === name.toLowerCase());
    if (i < 0) throw new HttpError(404, `there is no connectivity endpoint ${printableName(name)}`);
    return i;
  };
  const connectivityOf = (c: Config) => (c.connectivity ??= structuredClone(DEFAULT_CONNECTIVITY));

  changeRoutes({
    method: 'POST',
    url: `${API}/config/connectivity/endpoints`,
    planUrl: `${API}/config/connectivity/endpoints/plan`,
    summary: 'Add a connectivity endpoint',
    description: 'Adds one endpoint to the connectivity checks (the connectivity section keeps the others).',
    tag: 'configuration',
    body: ConnectivityEndpointSchema,
    fieldPrefix: '/connectivity/endpoints/new',
    run: (req, c) => void connectivityOf(c).endpoints.push(structuredClone(req.body)),
    label: (req) => `add connectivity endpoint ${printableName(req.body.name)}`,
  });

  changeRoutes<typeof ConnectivityEndpointSchema, { name: string }>({
    method: 'PUT',
    url: `${API}/config/connectivity/endpoints/:name`,
    planUrl: `${API}/config/connectivity/endpoints/:name/plan`,
    summary: 'Change a connectivity endpoint',
    description: 'Replaces one endpoint of the connectivity checks (send all its fields; a new name renames it).',
    tag: 'configuration',
    params: EndpointParams,
    body: ConnectivityEndpointSchema,
    fieldPrefix: '/connectivity/endpoints/edit',
    run: (req, c) => void (connectivityOf(c).endpoints[endpointAt(c, req.params.name)] = structuredClone(req.body)),
    label: (req) => `change connectivity endpoint ${printableName(req.params.name)}`,
  });

  changeRoutes<TSchema, { name: string }>({
    method: 'DELETE',
    url: `${API}/config/connectivity/endpoints/:name`,
    planUrl: `${API}/config/connectivity/endpoints/:name/delete/plan`,
    summary: 'Remove a connectivity endpoint',
    description: 'Removes one endpoint an administrator added from the connectivity checks (derived endpoints follow their own settings).',
    tag: 'configuration',
    params: EndpointParams,
    run: (req, c) => void connectivityOf(c).endpoints.splice(endpointAt(c, req.params.name), 1),
    label: (req) => `remove connectivity endpoint ${printableName(req.params.name)}`,
  });

  // ---- users ----

  const policy = () => {
    const c = running().config;
    return { ...passwordPolicy(c), adjusted: c.users.passwordPolicy !== undefined };
  };

  changeRoutes({
    method: 'PUT',
    url: `${API}/config/users/password-policy`,
    planUrl: `${API}/config/users/password-policy/plan`,
    summary: 'Change the password policy',
    description: 'The rules new passwords of local users are checked against (existing passwords stay valid until changed).',
    tag: 'users',
    body: PasswordPolicySchema,
    fieldPrefix: '/users/passwordPolicy',
    run: (req, c) => void (c.users.passwordPolicy = { ...req.body }),
    label: () => 'set users password-policy',
  });

  // ---- confirm timer ----

  const PendingView = Type.Object({
    pending: Nullable(Type.Object({ reason: Type.String(), deadline: Type.String(), who: Type.String(), secondsLeft: Type.Integer() })),
  });
  const pendingView = () => {
    const p = pendingConfirm() ?? pendingCert();
    return { pending: p ? { reason: p.reason, deadline: p.deadline.toISOString(), who: p.who, secondsLeft: Math.max(0, Math.ceil((p.deadline.getTime() - now()) / 1000)) } : null };
  };
  app.get(`${API}/config/confirm`, {
    schema: {
      tags: ['configuration'],
      summary: 'Change waiting for confirmation',
      description: `A change that could have cut its maker off (management address, gateway, System Manager port, Portal ACL) reverts by itself unless confirmed within ${CONFIRM_SECONDS} s.`,
      security: SESSION_OR_TOKEN,
      response: { 200: PendingView, ...errors },
    },
    handler: async () => pendingView(),
  });
  app.post(`${API}/config/confirm`, {
    schema: {
      tags: ['configuration'],
      summary: 'Confirm the change (keep it)',
      description: 'Keeps the change waiting for confirmation. Must come over a connection opened after the change (that proves the appliance is still reachable); 409 when nothing is waiting or the connection is the old one.',
      security: CHANGE_AUTH,
      response: { 200: Type.Object({ confirmed: Type.Boolean(), reason: Type.String() }), ...errors, 409: ErrorBody },
    },
    handler: async (req, reply) => {
      const p = pendingConfirm();
      const c = pendingCert();
      if (!p && !c) throw new HttpError(409, 'no change is waiting for confirmation');
      const opened = socketOpenedAt.get(req.raw.socket);
      if (opened !== undefined && opened <= Math.max(p ? armedAt : 0, c?.armedAt ?? 0)) {
        // A browser may reuse a connection that was busy when the change closed the idle ones: close
        // this one after the answer, so the page's retry comes over a new connection.
        reply.header('connection', 'close');
        throw new HttpError(409, 'confirm over a new connection: reload the page (this connection was open before the change)');
      }
      if (p) confirmChange(store, actorOf(req));
      if (c) confirmCert(store, actorOf(req));
      return { confirmed: true, reason: [p?.reason, c?.reason].filter(Boolean).join('; ') };
    },
  });

  app.get(`${API}/users`, {
    schema: {
      tags: ['users'],
      summary: 'Local users',
      description: 'Local users with role, last password change and lockout state; the password policy and lockout policy. Password hashes are never returned.',
      security: SESSION_OR_TOKEN,
      response: { 200: Type.Object({ users: Type.Array(UserView), passwordPolicy: PasswordPolicyBody, lockout: LockoutSchema }), ...errors },
    },
    handler: async () => {
      const c = running().config;
      const t = now();
      return {
        users: c.users.local.map((u) => ({
          name: u.name,
          role: u.role,
          passwordChangedAt: u.passwordChangedAt,
          lockedUntil: lockouts.lockedUntil(u.name, t)?.toISOString() ?? null,
          ...(u.firstName !== undefined ? { firstName: u.firstName } : {}),
          ...(u.lastName !== undefined ? { lastName: u.lastName } : {}),
          ...(u.email !== undefined ? { email: u.email } : {}),
          ...(u.edipi !== undefined ? { edipi: u.edipi } : {}),
        })),
        passwordPolicy: policy(),
        lockout: lockoutPolicy(c),
      };
    },
  });

  app.get(`${API}/password-policy`, {
    schema: {
      tags: ['users'],
      summary: 'Password policy',
      description: 'The rules every new password is checked against (wizard, CLI and System Manager share them).',
      security: SESSION_OR_TOKEN,
      response: { 200: PasswordPolicyBody, ...errors },
    },
    handler: async () => policy(),
  });

  const UserParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64, description: 'User ID (case sensitive)' }) });
  const Role = Type.Union([Type.Literal('admin'), Type.Literal('operator')], { description: 'admin: full access; operator: read only' });
  const NewPassword = Type.String({ minLength: 1, maxLength: 256, description: 'New password, checked against the password policy' });

  const indexOf = (c: Config, name: string): number => {
    const i = c.users.local.findIndex((u) => u.name === name);
    if (i < 0) throw new HttpError(404, `there is no user ${printableName(name)}`);
    return i;
  };
  const checkPassword = (pw: string, name: string, field: string) => {
    const e = rules.password(pw, name, passwordPolicy(running().config));
    if (e) refuse(field, 'password-policy', e);
  };

  changeRoutes({
    method: 'POST',
    url: `${API}/users`,
    planUrl: `${API}/users/plan`,
    summary: 'Add a local user',
    description: 'Adds a local user (SSH, consoles and System Manager).',
    tag: 'users',
    body: Type.Object({ name: Type.String({ format: 'user-name', description: 'User ID (case sensitive)' }), role: Role, password: NewPassword, ...UserFields }, { additionalProperties: false }),
    fieldPrefix: '/users/local/new',
    run: async (req, c) => {
      const at = c.users.local.length;
      if (c.users.local.some((u) => u.name === req.body.name)) refuse(`/users/local/${at}/name`, 'unique', `user ${req.body.name} exists already`);
      checkPassword(req.body.password, req.body.name, `/users/local/${at}/password`);
      const u = { name: req.body.name, role: req.body.role, passwordHash: await hashSecret(req.body.password), passwordChangedAt: new Date(now()).toISOString() };
      putUserFields(u, req.body as UserFieldBody);
      c.users.local.push(u);
    },
    label: (req) => `add user ${printableName(req.body.name)} role ${req.body.role}`,
  });

  changeRoutes<TSchema, { name: string }>({
    method: 'PUT',
    url: USER_ROUTE,
    planUrl: `${API}/users/:name/plan`,
    summary: 'Change a local user',
    description: `Changes a user's role, password, names, e-mail or EDIPI (an empty value removes one). Operators may change only their own password; anyone may change their own password at most once per ${USER_PASSWORD_MIN_AGE_HOURS} hours.`,
    tag: 'users',
    params: UserParams,
    anyRole: true,
    body: Type.Object({ role: Type.Optional(Role), password: Type.Optional(NewPassword), ...UserFields }, { additionalProperties: false, minProperties: 1 }),
    run: async (req, c) => {
      const body = req.body as { role?: 'admin' | 'operator'; password?: string } & UserFieldBody;
      const me = req.principal!;
      const self = me.via === 'session' && me.name === req.params.name;
      const fields = USER_RECORD_FIELDS.some((k) => body[k] !== undefined);
      if (me.role !== 'admin' && (!self || body.role !== undefined || fields)) throw new HttpError(403, 'the operator role is read only, except for changing your own password');
      const i = indexOf(c, req.params.name);
      const u = c.users.local[i];
      if (body.role) u.role = body.role;
      putUserFields(u as Record<string, unknown>, body);
      if (body.password !== undefined) {
        checkPassword(body.password, u.name, `/users/local/${i}/password`);
        const minAge = passwordPolicy(c).minAgeHours;
        if (self && now() - Date.parse(u.passwordChangedAt) < minAge * 3600_000)
          refuse(`/users/local/${i}/password`, 'password-age', `your own password can be changed at most once per ${minAge} hours`);
        u.passwordHash = await hashSecret(body.password);
        u.passwordChangedAt = new Date(now()).toISOString();
      }
    },
    label: (req) => {
      const b = req.body as { role?: string; password?: string } & UserFieldBody;
      const fields = USER_RECORD_FIELDS.filter((k) => b[k] !== undefined);
      return `change user ${printableName(req.params.name)}${b.role ? ` role ${b.role}` : ''}${b.password !== undefined ? ' password' : ''}${fields.length ? ` ${fields.join(' ')}` : ''}`;
    },
    onResponse: userChanged,
  });

  changeRoutes<TSchema, { name: string }>({
    method: 'DELETE',
    url: USER_ROUTE,
    planUrl: `${API}/users/:name/delete/plan`,
    summary: 'Delete a local user',
    description: 'Removes a local user and ends their System Manager sessions. You cannot delete yourself, nor the last administrator.',
    tag: 'users',
    params: UserParams,
    run: (req, c) => {
      const i = indexOf(c, req.params.name);
      if (req.principal!.via === 'session' && req.principal!.name === req.params.name) refuse(`/users/local/${i}`, 'self', 'you cannot delete the user you are signed in as');
      c.users.local.splice(i, 1);
    },
    label: (req) => `delete user ${printableName(req.params.name)}`,
    onResponse: userChanged,
  });
  // Sessions of a deleted user end with the deletion (a session is checked against the users on every
  // request too), and so do the API tokens the user made; a role change to operator ends the tokens.
  // A password change ends the user's other sessions (sessions opened before it are refused); the
  // session that changed its own password is renewed.
  // A hook of these two routes only: a global onResponse hook makes fastify time and listen for
  // the end of every answer, which cost a fifth of GET /mics/api/health's throughput.
  function userChanged(req: FastifyRequest, reply: FastifyReply, done: () => void): void {
    if (reply.statusCode !== 200) return done();
    const name = (req.params as { name: string }).name;
    if (req.method === 'DELETE') {
      app.keel.sessions.destroyUser(name);
      tokens.revokeMadeBy(name, `the user ${printableName(name)} was deleted`);
    } else if (req.method === 'PUT') {
      const body = req.body as { role?: string; password?: string };
      if (body.role === 'operator') tokens.revokeMadeBy(name, `the user ${printableName(name)} is no longer an administrator`);
      if (body.password !== undefined && req.session && req.session.username === name) app.keel.sessions.renew(req.session.id);
    }
    done();
  }

  app.post<{ Params: { name: string } }>(`${API}/users/:name/unlock`, {
    schema: {
      tags: ['users'],
      summary: 'Unlock a user',
      description: 'Lifts a lockout after repeated failed sign-ins (shared by SSH and System Manager) and forgets the failures. Audited.',
      security: CHANGE_AUTH,
      params: UserParams,
      response: { 200: Type.Object({ wasLocked: Type.Boolean() }), ...errors },
    },
    handler: async (req) => ({ wasLocked: lockouts.unlock(req.params.name, actorOf(req), now()) }),
  });

  // ---- e-mail test ----

  app.post<{ Body: { to: string; text?: string; settings?: Partial<EmailConfig> } }>(`${API}/email/test`, {
    config: { fieldPrefix: '' },
    schema: {
      tags: ['email'],
      summary: 'Send a test e-mail',
      description: 'Sends a real message with the given settings (the form, before Apply) or the running ones; leave the password out to use the stored one. Answers the server\'s reply, or 502 with why it failed.',
      security: CHANGE_AUTH,
      body: Type.Object(
        {
          to: Type.String({ format: 'email', description: 'Recipient' }),
          text: Type.Optional(Type.String({ maxLength: 4000, description: 'Body of the test message' })),
          settings: Type.Optional(Type.Object({ ...EmailSchema.properties, password: Type.Optional(Type.String({ maxLength: 256 })) }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
      response: { 200: Type.Object({ messageId: Type.String(), response: Type.String() }), ...errors, 502: ErrorBody },
    },
    handler: async (req) => {
      const stored = running().config.email;
      const s = (req.body.settings ? { ...req.body.settings } : stored) as EmailConfig | undefined;
      if (!s) refuse('/email', 'required', 'e-mail is not configured: fill in the settings first');
      if (s.auth && !s.password && stored?.password) s.password = stored.password;
      const candidate = structuredClone(running().config);
      candidate.email = s;
      const problems = check(candidate).filter((p) => p.field.startsWith('/email'));
      if (problems.length) throw new ValidationError(problems);
      const actor = actorOf(req);
      try {
        const r = await sendMail(s, { to: req.body.to, subject: `Keel test e-mail from ${candidate.system.hostname}`, text: req.body.text || `This is a test e-mail from System Manager on ${candidate.system.hostname}.` });
        store.audit(actor, `send test e-mail to ${printableName(req.body.to)} via ${s.server}:${s.port} (${s.protocol})`, 'ok');
        return r;
      } catch (e) {
        store.audit(actor, `send test e-mail to ${printableName(req.body.to)} via ${s.server}:${s.port} (${s.protocol})`, `failed: ${(e as Error).message.slice(0, 200)}`);
        throw e;
      }
    },
  });

  // ---- audit ----

  const AuditEntry = Type.Object({ id: Type.Integer(), at: Type.String(), who: Type.String(), source: Type.String(), action: Type.String(), outcome: Type.String() });
  const timeParam = (what: string) => Type.Optional(Type.String({ maxLength: 40, description: `${what} (ISO 8601 time)` }));
  app.get<{ Querystring: { user?: string; source?: string; since?: string; until?: string; q?: string; limit?: number; beforeId?: number } }>(`${API}/audit`, {
    schema: {
      tags: ['audit'],
      summary: 'Audit log',
      description: 'Who did what, from where, with what outcome; newest first. Filters combine.',
      security: SESSION_OR_TOKEN,
      querystring: Type.Object({
        user: Type.Optional(Type.String({ maxLength: 80, description: 'Exact user (or token:NAME)' })),
        source: Type.Optional(Type.String({ maxLength: 80, description: 'Source or its kind: webui, api, ssh, cli, wizard, or webui:192.0.2.5' })),
        since: timeParam('From'),
        until: timeParam('Before'),
        q: Type.Optional(Type.String({ maxLength: 200, description: 'Text in the action or outcome' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        beforeId: Type.Optional(Type.Integer({ minimum: 1, description: 'Entries older than this id (paging)' })),
      }),
      response: { 200: Type.Object({ entries: Type.Array(AuditEntry), more: Type.Boolean() }), ...errors },
    },
    handler: async (req) => {
      const q = req.query;
      for (const k of ['since', 'until'] as const) if (q[k] && Number.isNaN(Date.parse(q[k]!))) refuse(`/${k}`, 'date-time', 'must be an ISO 8601 time like 2026-01-31T12:00:00Z');
      return queryAudit(store, { user: q.user, source: q.source, since: q.since, until: q.until, text: q.q, limit: q.limit, beforeId: q.beforeId });
    },
  });

  // ---- API tokens ----

  app.get(`${API}/tokens`, {
    config: { adminOnly: true },
    schema: {
      tags: ['tokens'],
      summary: 'API tokens',
      description: 'API tokens (never their secrets). Administrators only.',
      security: SESSION_OR_TOKEN,
      response: { 200: Type.Array(TokenView), ...errors },
    },
    handler: async () => tokens.list(),
  });

  app.post<{ Body: { name: string; role: 'admin' | 'operator'; expiresDays?: number } }>(`${API}/tokens`, {
    schema: {
      tags: ['tokens'],
      summary: 'Create an API token',
      description: 'Creates a token for automation: send it as "Authorization: Bearer TOKEN" (no CSRF token needed). The token is shown only in this answer; only a digest is stored. Audited.',
      security: CHANGE_AUTH,
      body: Type.Object(
        {
          name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$', description: 'What the token is for (1-40 letters, digits, . _ -)' }),
          role: Role,
          expiresDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, description: 'Expires after this many days (default: 90)' })),
        },
        { additionalProperties: false },
      ),
      response: { 201: Type.Object({ ...TokenView.properties, token: Type.String({ description: 'The bearer token; shown once' }) }), ...errors },
    },
    handler: async (req, reply) => {
      const r = tokens.create(req.body.name, req.body.role, actorOf(req), req.body.expiresDays);
      return reply.code(201).send({ ...r.info, token: r.token });
    },
  });

  app.delete<{ Params: { id: string } }>(`${API}/tokens/:id`, {
    schema: {
      tags: ['tokens'],
      summary: 'Revoke an API token',
      description: 'The token stops working at once. Audited.',
      security: CHANGE_AUTH,
      params: Type.Object({ id: Type.String({ maxLength: 40 }) }),
      response: { 200: TokenView, ...errors, 404: ErrorBody },
    },
    handler: async (req) => {
      if (!tokens.revoke(req.params.id, actorOf(req))) throw new HttpError(404, 'there is no such live token');
      return tokens.get(req.params.id) as TokenInfo;
    },
  });

  // ---- maintenance ----

  app.post<{ Body: { confirm: boolean } }>(`${API}/maintenance/reboot`, {
    schema: {
      tags: ['maintenance'],
      summary: 'Reboot the appliance',
      description: 'Reboots after answering. Unsaved changes to the running configuration are lost: Save first. Needs {"confirm": true}.',
      security: CHANGE_AUTH,
      body: Type.Object({ confirm: Type.Literal(true, { description: 'Must be true' }) }, { additionalProperties: false }),
      response: { 202: Type.Object({ rebooting: Type.Boolean(), unsavedLost: Type.Boolean() }), ...errors },
    },
    handler: async (req, reply) => {
      const unsaved = store.unsaved();
      store.audit(actorOf(req), `reboot${unsaved ? ' (unsaved changes discarded)' : ''}`, 'ok: rebooting');
      log.warn('reboot requested from System Manager', { who: actorOf(req).who });
      // Answer first, so the administrator sees that it is happening.
      setTimeout(() => {
        host.applier.reboot().catch((e: Error) => log.error('reboot failed', { error: e.message }));
      }, 300);
      return reply.code(202).send({ rebooting: true, unsavedLost: unsaved });
    },
  });

  app.post<{ Body: { passphrase: string } }>(`${API}/maintenance/backup`, {
    config: { fieldPrefix: '' },
    schema: {
      tags: ['maintenance'],
      summary: 'Export an encrypted configuration backup',
      description: 'The running configuration, encrypted with AES-256-GCM under a key derived from the passphrase (scrypt). The file is JSON and can be restored on any Keel of the same or a later version. Audited.',
      security: CHANGE_AUTH,
      body: Type.Object({ passphrase: Passphrase }, { additionalProperties: false }),
      response: { ...errors },
    },
    handler: async (req, reply) => {
      const r = running();
      const text = await encryptBackup(r.config, req.body.passphrase, { keelVersion: VERSION, revision: r.revision, now: new Date(now()) });
      store.audit(actorOf(req), `export configuration backup (revision ${r.revision})`, 'ok');
      const stamp = new Date(now()).toISOString().slice(0, 19).replace(/[:T]/g, '-');
      return reply
        .type('application/json; charset=utf-8')
        .header('content-disposition', `attachment; filename="keel-config-${r.config.system.hostname}-${stamp}.json"`)
        .send(text);
    },
  });

  const restore = async (req: FastifyRequest<{ Body: { backup: string; passphrase: string } }>): Promise<{ header: BackupHeader; config: Config }> => {
    try {
      return await decryptBackup(req.body.backup, req.body.passphrase);
    } catch (e) {
      if (e instanceof ValidationError) store.audit(actorOf(req), 'restore configuration backup', `refused: ${e.problems.map((p) => `${p.field} (${p.rule})`).join(', ')}`);
      throw e;
    }
  };
  const headerView = (h: BackupHeader) => ({ createdAt: h.createdAt, keelVersion: h.keelVersion, revision: h.revision, hostname: h.hostname });
  const RestoreBody = Type.Object({ backup: BackupText, passphrase: Passphrase }, { additionalProperties: false });

  app.post<{ Body: { backup: string; passphrase: string } }>(`${API}/maintenance/restore/plan`, {
    config: { fieldPrefix: '' },
    schema: {
      tags: ['maintenance'],
      summary: 'Plan: restore a configuration backup',
      description: 'Decrypts and validates a backup and shows what restoring it would change, and when and from which revision it was made. Nothing changes.',
      security: CHANGE_AUTH,
      body: RestoreBody,
      response: { 200: Type.Object({ backup: BackupHeaderView, ...PlanBody.properties }), ...errors },
    },
    handler: async (req) => {
      const { header, config } = await restore(req);
      return { backup: headerView(header), ...(await planOf(running().config, config)) };
    },
  });

  app.post<{ Body: { backup: string; passphrase: string } }>(`${API}/maintenance/restore`, {
    config: { fieldPrefix: '' },
    schema: {
      tags: ['maintenance'],
      summary: 'Restore a configuration backup',
      description: 'Decrypts, validates and applies a backup as the running configuration (a new revision); Save makes it persistent.',
      security: CHANGE_AUTH,
      body: RestoreBody,
      response: { 200: Type.Object({ backup: BackupHeaderView, ...ApplyBody.properties }), ...errors, 502: ErrorBody },
    },
    handler: async (req) => {
      const { header, config } = await restore(req);
      const r = await change(req, `restore backup of ${header.createdAt} (revision ${header.revision ?? 'none'}, ${header.hostname})`, (c) => {
        for (const k of Object.keys(c) as (keyof Config)[]) delete c[k];
        Object.assign(c, config);
      }, false);
      return { backup: headerView(header), ...(r as Static<typeof ApplyBody>) };
    },
  });

  app.get(`${API}/maintenance/support-bundle`, {
    config: { adminOnly: true },
    schema: {
      tags: ['maintenance'],
      summary: 'Download a support bundle',
      description: 'A .tar.gz of the version, the configurations, revisions, audit log, status and recent log, with every secret redacted. Administrators only. Audited.',
      security: SESSION_OR_TOKEN,
      response: { ...errors },
    },
    handler: async (req, reply) => {
      const buf = await supportBundle(host, store);
      store.audit(actorOf(req), 'download support bundle', 'ok');
      const stamp = new Date(now()).toISOString().slice(0, 19).replace(/[:T]/g, '-');
      return reply.type('application/gzip').header('content-disposition', `attachment; filename="keel-support-${stamp}.tar.gz"`).send(buf);
    },
  });

  // Software updates (/updates) are registered by webui/update.ts.
}

/** The field prefix for body problems of a route (e.g. `/ssh`). */
export function fieldPrefixOf(req: FastifyRequest): string {
  return req.routeOptions?.config?.fieldPrefix ?? '';
}
