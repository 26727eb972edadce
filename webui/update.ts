/**
 * System Manager's Maintenance > Software Updates: the JSON API under /mics/api/v1/updates and the
 * page. The steps, their checks and their audit entries are appliance/update's; downloading and
 * staging run in the background (one at a time, appliance-wide) and the page polls the status
 * for their progress. The repository password is write-only: it is never returned.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { check, type Config } from '../appliance/config/schema.ts';
import { applyConfig } from '../appliance/config/apply.ts';
import { keptFor } from '../appliance/config/secrets.ts';
import { ValidationError } from '../appliance/errors.ts';
import type { Host } from '../appliance/host/index.ts';
import type { Store } from '../appliance/config/store.ts';
import { UpdateSchema, type UpdateConfig } from '../appliance/update/schema.ts';
import { updateContext, type UpdateContext } from '../appliance/update/context.ts';
import { checkUpdates, downloadUpdate, type IndexEntry } from '../appliance/update/repository.ts';
import { acknowledge, status, type UpdateStatus } from '../appliance/update/lifecycle.ts';
import { readState } from '../appliance/update/state.ts';
import { UPDATES_DIR } from '../appliance/update/paths.ts';
import { TRIES } from '../appliance/update/grub.ts';
import { configuredRepository, mib } from '../appliance/update/actions.ts';
import { currentJob, lockHolder, startJob, type JobKind } from '../appliance/update/jobs.ts';
import { html, Html } from './pages.ts';
import { API, actorOf, HttpError, ErrorBody, SESSION_OR_TOKEN, CHANGE_AUTH, Nullable } from './api.ts';

export const UPDATES_API = `${API}/updates`;
export const UPDATE_SCRIPT = '/mics/static/update.js';

// ---- schemas (the OpenAPI document is made from them) ----

const Slot = Type.Union([Type.Literal('a'), Type.Literal('b')]);
const SlotView = Type.Object({
  version: Type.String(),
  state: Type.Union([Type.Literal('good'), Type.Literal('staged'), Type.Literal('failed')], { description: 'good: booted and marked good; staged: written, not booted yet; failed: ran out of tries' }),
  at: Type.String(),
  running: Type.Boolean({ description: 'The appliance runs from this slot now' }),
});
const Entry = Type.Object({
  version: Type.String(),
  minVersion: Type.String({ description: 'Lowest running version it upgrades from' }),
  file: Type.String(),
  size: Type.Integer({ description: 'Bundle bytes' }),
  sha256: Type.String(),
  created: Type.String(),
  notes: Type.String({ description: 'Release notes' }),
});
const JobView = Type.Object(
  {
    kind: Type.Union([Type.Literal('download'), Type.Literal('stage'), Type.Literal('unstage')]),
    who: Type.String(),
    source: Type.String(),
    startedAt: Type.String(),
    done: Type.Integer({ description: 'Bytes done' }),
    total: Type.Integer({ description: 'Bytes to do (0 until known)' }),
    running: Type.Boolean(),
    finishedAt: Nullable(Type.String()),
    result: Nullable(Type.String(), 'What came of it, when it succeeded'),
    error: Nullable(Type.String(), 'Why it failed or was refused'),
    reason: Nullable(Type.String(), 'The refusal code: bad-signature, unknown-key, sha256-mismatch, size-mismatch, version-too-old, not-newer, no-space, precheck-failed, malformed'),
  },
  { description: 'The last download or staging started from System Manager' },
);
const RepositoryView = Type.Object(
  {
    repository: Type.String(),
    username: Nullable(Type.String()),
    passwordSet: Type.Boolean({ description: 'A password is stored (it is never returned)' }),
    caCertificate: Nullable(Type.String(), 'PEM CA certificate(s) for the repository, when not a public CA'),
  },
  { description: 'The update repository; the password is never returned' },
);
const StatusView = Type.Object({
  running: Type.Object({ version: Type.String(), slot: Slot }),
  slots: Type.Object({ a: Nullable(SlotView), b: Nullable(SlotView) }, { description: 'What each system slot holds' }),
  downloaded: Nullable(Type.Object({ version: Type.String(), file: Type.String(), size: Type.Integer(), sha256: Type.String(), notes: Type.String(), at: Type.String() }), 'A verified bundle ready to stage'),
  staged: Nullable(Type.Object({ version: Type.String(), slot: Slot, fromVersion: Type.String(), fromSlot: Slot, at: Type.String() }), 'A version written to the other slot: the next reboot installs it'),
  attempt: Nullable(Type.Integer(), `On a tried version: which try (1..${TRIES})`),
  phase: Type.Union(['up-to-date', 'downloaded', 'reboot-to-install', 'installing', 'rolled-back'].map((p) => Type.Literal(p))),
  label: Type.String({ description: 'The status as shown: Up to Date, Ready to Stage, Reboot to Install, Installing, Rolled Back' }),
  lastResult: Nullable(
    Type.Object({
      outcome: Type.Union([Type.Literal('installed'), Type.Literal('rolled-back')]),
      version: Type.String(),
      running: Type.String(),
      at: Type.String(),
      reason: Type.String(),
      notified: Type.Optional(Type.Boolean()),
      acknowledged: Type.Optional(Type.Boolean()),
    }),
    'The outcome of the last update',
  ),
  notice: Nullable(Type.String(), 'The rollback notice until acknowledged'),
  repository: Nullable(RepositoryView),
  available: Nullable(Entry, 'What the last Check Updates found newer (null: up to date or not checked)'),
  checkedAt: Nullable(Type.String(), 'When updates were last checked from System Manager'),
  job: Nullable(JobView),
  busy: Nullable(Type.Object({ kind: Type.String(), who: Type.String(), source: Type.String(), at: Type.String() }), 'An update step running now, started anywhere (CLI or System Manager)'),
});
type StatusBody = Static<typeof StatusView>;

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody };

// ---- state of this process ----

interface LastCheck {
  at: string;
  available: IndexEntry | null;
}
const lastChecks = new WeakMap<Host, LastCheck>();

function statusBody(host: Host, store: Store, st: UpdateStatus): StatusBody {
  const u = (store.running()?.config ?? store.startup()?.config)?.update;
  const last = lastChecks.get(host);
  const busy = lockHolder(host);
  // A check that found the version now downloaded or staged is not "available" any more.
  const avail = last?.available && last.available.version !== st.staged?.version && last.available.version !== st.running.version ? last.available : null;
  return {
    ...st,
    downloaded: st.downloaded ?? null,
    staged: st.staged ?? null,
    repository: u ? { repository: u.repository, username: u.username ?? null, passwordSet: !!u.password, caCertificate: u.caCertificate ?? null } : null,
    available: avail,
    checkedAt: last?.at ?? null,
    job: currentJob(host),
    busy: busy ? { kind: busy.kind, who: busy.who, source: busy.source, at: busy.at } : null,
  };
}

/** Registers /mics/api/v1/updates (status, repository, check, download, stage, unstage, acknowledge). */
export async function registerUpdateApi(app: FastifyInstance): Promise<void> {
  const { host, store } = app.keel;
  const ctxOf = (req: FastifyRequest, over: Partial<UpdateContext> = {}) => updateContext(host, store, actorOf(req), over);
  const config = (): Config => {
    const r = store.running();
    if (!r) throw new HttpError(409, 'there is no running configuration yet');
    return r.config;
  };
  const statusNow = (req: FastifyRequest) => statusBody(host, store, status(ctxOf(req, { trustedKeys: [] })));

  app.get(UPDATES_API, {
    schema: {
      tags: ['maintenance'],
      summary: 'Software update status',
      description: 'Running version and slot, what each system slot holds, what is downloaded or staged ("Reboot to Install"), the last outcome and rollback notice, the repository (never its password), the last check, and the progress of a download or staging (poll this while job.running).',
      security: SESSION_OR_TOKEN,
      response: { 200: StatusView, ...errors },
    },
    handler: async (req) => statusNow(req),
  });

  /** The one way the repository settings change: copy, edit, check() with the one schema, apply, audit. */
  async function changeRepository(req: FastifyRequest, summary: string, edit: (c: Config) => void): Promise<{ changed: boolean; revision: number; unsaved: boolean }> {
    const actor = actorOf(req);
    const what = `${actor.source.startsWith('api:') ? 'api' : 'webui'}: ${summary}`;
    const cur = store.running();
    if (!cur) throw new HttpError(409, 'there is no running configuration yet');
    const next = structuredClone(cur.config);
    edit(next);
    const problems = check(next);
    if (problems.length) {
      store.audit(actor, what, `refused: ${problems.map((p) => `${p.field} (${p.rule})`).join(', ')}`);
      throw new ValidationError(problems);
    }
    if (JSON.stringify(next) === JSON.stringify(cur.config)) return { changed: false, revision: cur.revision, unsaved: store.unsaved() };
    const r = await applyConfig(host, store, next, actor, what);
    return { changed: true, revision: r.revision, unsaved: store.unsaved() };
  }
  const ApplyBody = Type.Object({
    changed: Type.Boolean({ description: 'False when nothing changed (no new revision)' }),
    revision: Type.Integer({ description: 'The running revision after the change' }),
    unsaved: Type.Boolean({ description: 'Running differs from saved: Save (POST /config/save) makes it persistent' }),
  });

  app.put<{ Body: UpdateConfig }>(`${UPDATES_API}/repository`, {
    config: { fieldPrefix: '/update' },
    schema: {
      tags: ['maintenance'],
      summary: 'Set the update repository',
      description:
        'The HTTPS URL of the repository (the folder with index.json), the user name and password (HTTP basic authentication) and the CA certificate when the repository\'s certificate is not from a public CA. The password is write-only: leave it out to keep the stored one (same user). Applied to the running configuration now; Save makes it persistent. Audited (never the password).',
      security: CHANGE_AUTH,
      body: UpdateSchema,
      response: { 200: ApplyBody, ...errors, 409: ErrorBody },
    },
    handler: async (req) => {
      const b = req.body;
      return changeRepository(req, `set software-update repository ${b.repository}${b.username ? ` username ${b.username}` : ''}`, (c) => {
        // Kept only for the same repository server and user (appliance/config/secrets.ts).
        const password = b.password ?? (b.username ? keptFor('update', c.update, b) : undefined);
        // In the schema's order, so that sending the same settings again changes nothing.
        c.update = {
          repository: b.repository,
          ...(b.username ? { username: b.username, ...(password !== undefined ? { password } : {}) } : {}),
          ...(b.caCertificate ? { caCertificate: b.caCertificate } : {}),
        };
      });
    },
  });

  app.delete(`${UPDATES_API}/repository`, {
    schema: {
      tags: ['maintenance'],
      summary: 'Remove the update repository',
      description: 'No repository: Check Updates and Download are refused until one is set. Audited.',
      security: CHANGE_AUTH,
      response: { 200: ApplyBody, ...errors, 409: ErrorBody },
    },
    handler: async (req) => changeRepository(req, 'no software-update repository', (c) => void delete c.update),
  });

  app.post(`${UPDATES_API}/check`, {
    config: { anyRole: true },
    schema: {
      tags: ['maintenance'],
      summary: 'Check Updates',
      description: 'Reads the repository\'s signed index and answers the newest version that upgrades from the running one (null: up to date). Changes nothing; operators may check too. Audited. 400 with the refusal (field /bundle, rule = reason) for an index that is not signed by a trusted key; 502 when the repository cannot be reached or refuses the credentials.',
      security: CHANGE_AUTH,
      response: { 200: Type.Object({ running: Type.String(), available: Nullable(Entry), checkedAt: Type.String() }), ...errors, 502: ErrorBody },
    },
    handler: async (req) => {
      const r = await checkUpdates(ctxOf(req), configuredRepository(config()));
      const at = new Date().toISOString();
      lastChecks.set(host, { at, available: r.available });
      return { running: r.running, available: r.available, checkedAt: at };
    },
  });

  /** Starts a background step; 202 with the job. Refusals known at once are 400, a running step 409. */
  function start(req: FastifyRequest, reply: FastifyReply, kind: JobKind, fn: (progress: (done: number, total: number) => void) => Promise<string>) {
    const actor = actorOf(req);
    try {
      const job = startJob(host, kind, actor, fn);
      store.audit(actor, `${actor.source.startsWith('api:') ? 'api' : 'webui'}: software-update ${kind}`, 'started');
      return reply.code(202).send(job);
    } catch (e) {
      store.audit(actor, `${actor.source.startsWith('api:') ? 'api' : 'webui'}: software-update ${kind}`, `refused: ${(e as Error).message}`);
      throw e;
    }
  }
  const JobAnswer = { 202: JobView, ...errors, 409: ErrorBody };

  app.post(`${UPDATES_API}/download`, {
    schema: {
      tags: ['maintenance'],
      summary: 'Download the newest version',
      description:
        'Checks the repository and downloads (or resumes) the newest version that upgrades from the running one into the data partition, then verifies its size, sha256 and signature. Answers 202 at once: poll GET /updates for job.done/job.total and the outcome (job.error and job.reason on a refusal). 409 while another update step runs. Audited.',
      security: CHANGE_AUTH,
      response: JobAnswer,
    },
    handler: async (req, reply) => {
      const o = configuredRepository(config());
      const ctx = ctxOf(req);
      return start(req, reply, 'download', async (progress) => {
        const r = await checkUpdates(ctx, o);
        lastChecks.set(host, { at: new Date().toISOString(), available: r.available });
        if (!r.available) return `Up to date: no newer version that upgrades from Keel ${r.running} is in the repository.`;
        const st = readState(host);
        if (st.staged?.version === r.available.version) return `Version ${r.available.version} is already staged: reboot to install it.`;
        if (st.downloaded?.version === r.available.version && host.files.exists(`${UPDATES_DIR}/${st.downloaded.file}`)) return `Version ${r.available.version} is already downloaded and verified.`;
        const d = await downloadUpdate(ctx, o, r.available, progress);
        return `Version ${d.version} downloaded${d.resumedFrom ? ` (resumed at ${mib(d.resumedFrom)})` : ''} and verified (${mib(d.bytes)}): ready to stage.`;
      });
    },
  });

  app.post(`${UPDATES_API}/stage`, {
    schema: {
      tags: ['maintenance'],
      summary: 'Stage for Install',
      description: `Verifies the downloaded version again, runs the pre-checks (room, database migration dry run on a copy, RAID not degraded, System Manager certificate valid) and writes it to the other system slot; status then says "Reboot to Install" and the next reboot installs it (tried ${TRIES} times, then the previous version returns by itself). Answers 202 at once: poll GET /updates. 400 when nothing is downloaded, 409 while another update step runs. Audited.`,
      security: CHANGE_AUTH,
      response: JobAnswer,
    },
    handler: async (req, reply) => {
      const d = readState(host).downloaded;
      if (!d) throw new ValidationError([{ field: '/bundle', rule: 'precheck-failed', message: 'nothing is downloaded to stage: download an update first' }]);
      const actor = actorOf(req);
      return start(req, reply, 'stage', async (progress) => {
        const r = await host.applier.stageUpdate(actor, progress);
        return `Version ${r.version} is staged on slot ${r.slot.toUpperCase()} (${r.seconds.toFixed(1)} s): Reboot to Install.`;
      });
    },
  });

  app.post(`${UPDATES_API}/unstage`, {
    schema: {
      tags: ['maintenance'],
      summary: 'Cancel a staged update',
      description: 'Before the reboot: the next boot starts the running version again. 409 while another update step runs. Audited.',
      security: CHANGE_AUTH,
      response: { 200: Type.Object({ unstaged: Type.Boolean({ description: 'False: nothing was staged' }) }), ...errors, 409: ErrorBody },
    },
    handler: async (req) => {
      const busy = lockHolder(host);
      if (busy) throw new HttpError(409, `a software update ${busy.kind} started by ${busy.who} (${busy.source}) is still running`);
      return { unstaged: await host.applier.unstageUpdate(actorOf(req)) };
    },
  });

  app.post(`${UPDATES_API}/acknowledge`, {
    schema: {
      tags: ['maintenance'],
      summary: 'Acknowledge the rollback notice',
      description: 'Stops showing the last rollback notice on the console banner and here. Audited.',
      security: CHANGE_AUTH,
      response: { 200: Type.Object({ acknowledged: Type.Boolean({ description: 'False: there was no notice' }) }), ...errors },
    },
    handler: async (req) => ({ acknowledged: acknowledge(ctxOf(req, { trustedKeys: [] })) }),
  });

  app.get(UPDATE_SCRIPT, { config: { public: true }, schema: { hide: true } }, (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=3600').send(UPDATE_JS),
  );
}

// ---- page ----

const when = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/Z$/, ' UTC') : '');

/** The Software Updates page body (Maintenance > Software Updates). */
export function updatesPage(host: Host, store: Store, req: FastifyRequest): Html {
  const st = statusBody(host, store, status(updateContext(host, store, actorOf(req), { trustedKeys: [] })));
  const slot = (x: 'a' | 'b') => {
    const i = st.slots[x];
    return i ? `${i.version} (${i.running ? 'running' : i.state})` : '(empty)';
  };
  const badge = st.phase === 'up-to-date' ? 'ok' : 'warn';
  const repo = st.repository;
  const job = st.job;
  const pct = job && job.total ? Math.floor((job.done / job.total) * 100) : 0;
  return html`<section id="update-panel" data-api="${UPDATES_API}" data-job-running="${job?.running ? '1' : ''}">
${st.notice ? html`<div class="unsaved" id="update-notice" role="alert"><p>${st.notice}</p><button type="button" class="admin-only" data-update-action="acknowledge">Acknowledge</button></div>` : ''}
<h2>Status: <span id="update-label" class="badge ${repo || st.phase !== 'up-to-date' ? badge : 'warn'}">${repo || st.phase !== 'up-to-date' ? st.label : 'No repository'}</span></h2>
${repo ? '' : html`<p class="unsaved" id="update-no-repository" role="status">No update repository is configured, so this appliance cannot look for updates. Set one under Repository below (or <code>software-update repository URL</code> in the CLI); Check Updates and Download work once it is set.</p>`}
<dl>
<dt>Running version</dt><dd id="update-running">Keel ${st.running.version} (slot ${st.running.slot.toUpperCase()})</dd>
<dt>Slot A</dt><dd>${slot('a')}</dd>
<dt>Slot B</dt><dd>${slot('b')}</dd>
${st.downloaded ? html`<dt>Downloaded</dt><dd id="update-downloaded">${st.downloaded.version} (${st.downloaded.file}, verified ${when(st.downloaded.at)})</dd>` : ''}
${st.staged ? html`<dt>Staged</dt><dd id="update-staged">${st.staged.version} on slot ${st.staged.slot.toUpperCase()}: the next reboot installs it</dd>` : ''}
${st.available ? html`<dt>Available</dt><dd id="update-available">${st.available.version} (${mib(st.available.size)}, checked ${when(st.checkedAt)})</dd>` : ''}
${st.lastResult ? html`<dt>Last update</dt><dd>${st.lastResult.version} ${st.lastResult.outcome} at ${when(st.lastResult.at)}: ${st.lastResult.reason}</dd>` : ''}
</dl>
${st.available?.notes || st.downloaded?.notes ? html`<h3>Release notes</h3><pre id="update-notes">${st.available?.notes || st.downloaded?.notes}</pre>` : ''}
<p id="update-progress" aria-live="polite"${job ? '' : new Html(' hidden')}>${job ? `${job.kind === 'download' ? 'Download' : job.kind === 'stage' ? 'Staging' : 'Unstaging'}${job.running ? ` in progress: ${pct}%` : job.error ? ` refused${job.reason ? ` (${job.reason})` : ''}: ${job.error}` : `: ${job.result}`}` : ''}</p>
<progress id="update-bar" max="100" value="${pct}"${job?.running ? '' : new Html(' hidden')}></progress>
<div class="buttons">
<button type="button" data-update-action="check"${repo ? '' : new Html(' disabled title="Set an update repository first (Repository, below)"')}>Check Updates</button>
<button type="button" class="admin-only" data-update-action="download"${repo && !st.staged ? '' : new Html(` disabled title="${!repo ? 'Set an update repository first (Repository, below)' : 'An update is staged: reboot to install it or cancel the staging'}"`)}>Download</button>
<button type="button" class="admin-only" data-update-action="stage"${st.downloaded && !st.staged ? '' : new Html(` disabled title="${st.staged ? 'An update is staged already' : 'Download an update first'}"`)}>Stage for Install</button>
${st.staged ? html`<button type="button" class="admin-only danger" data-update-action="reboot" data-confirm="Reboot now to install Keel ${st.staged.version}? Unsaved configuration changes are lost.">Reboot to Install</button> <button type="button" class="admin-only secondary" data-update-action="unstage">Cancel Staging</button>` : ''}
</div>
<p class="form-error" id="update-error" role="alert"></p>
<output id="update-result"></output>
</section>
<section>
<h2>Repository</h2>
<form id="update-repository" data-url="${UPDATES_API}/repository" novalidate>
<div class="field"><label for="u-repository">Repository URL</label><input id="u-repository" name="repository" value="${repo?.repository ?? ''}" placeholder="https://updates.example.com/keel/"><small class="help">HTTPS only; the folder that holds index.json and the bundles</small><span class="field-error" data-error-for="repository" role="alert"></span></div>
<div class="field"><label for="u-username">User name</label><input id="u-username" name="username" value="${repo?.username ?? ''}" autocomplete="off"><small class="help">Empty: no sign-in</small><span class="field-error" data-error-for="username" role="alert"></span></div>
<div class="field"><label for="u-password">Password</label><input id="u-password" name="password" type="password" value="" autocomplete="new-password"><small class="help">${repo?.passwordSet ? 'A password is stored; leave empty to keep it' : 'Needed with a user name'}</small><span class="field-error" data-error-for="password" role="alert"></span></div>
<div class="field"><label for="u-ca">CA certificate (PEM)</label><textarea id="u-ca" name="caCertificate" rows="4" placeholder="-----BEGIN CERTIFICATE-----">${repo?.caCertificate ?? ''}</textarea><small class="help">Only when the repository's certificate is not from a public CA</small><span class="field-error" data-error-for="caCertificate" role="alert"></span></div>
<p class="form-error" role="alert"></p>
<div class="buttons"><button type="submit" class="admin-only">Apply</button>${repo ? html` <button type="button" class="admin-only secondary" data-update-action="remove-repository">Remove</button>` : ''}</div>
</form>
</section>
<section>
<h2>How an update installs</h2>
<p>Updates are signed; the appliance refuses a bundle with a bad signature, an unknown key, a wrong checksum or size, or a version it cannot upgrade from. Stage for Install writes the new version to the other system slot after checking room, the configuration database migration (on a copy), RAID and the certificate. The reboot installs it: the new version is tried up to ${TRIES} times, and when it does not come up healthy the previous version starts again by itself with its configuration; the reason is shown here, on the console and by e-mail.</p>
</section>
<script src="${UPDATE_SCRIPT}" defer></script>`;
}

/** The page's script (served from /mics/static/update.js: the CSP allows only 'self' scripts). */
export const UPDATE_JS = `// System Manager: Maintenance > Software Updates.
'use strict';
(function () {
  const panel = document.getElementById('update-panel');
  if (!panel) return;
  const base = panel.dataset.api;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
  const errorBox = document.getElementById('update-error');
  const result = document.getElementById('update-result');
  const progress = document.getElementById('update-progress');
  const bar = document.getElementById('update-bar');

  async function api(method, url, body) {
    const headers = { 'X-CSRF-Token': csrf, Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    const type = res.headers.get('content-type') || '';
    const data = type.includes('json') ? await res.json() : { error: await res.text() };
    if (!res.ok) throw { status: res.status, body: data };
    return data;
  }
  const say = (err) => {
    const b = (err && err.body) || { error: String(err) };
    const p = (b.problems || [])[0];
    errorBox.textContent = p && p.field === '/bundle' ? 'Refused (' + p.rule + '): ' + p.message : b.error || 'Error ' + err.status;
  };
  const mib = (n) => (n / 1048576).toFixed(1) + ' MiB';

  function showJob(job) {
    if (!job) return;
    const what = job.kind === 'download' ? 'Download' : job.kind === 'stage' ? 'Staging' : 'Unstaging';
    progress.hidden = false;
    if (job.running) {
      const pct = job.total ? Math.floor((job.done / job.total) * 100) : 0;
      progress.textContent = what + ' in progress: ' + pct + '%' + (job.total ? ' (' + mib(job.done) + ' of ' + mib(job.total) + ')' : '');
      bar.hidden = false;
      bar.value = pct;
    } else {
      bar.hidden = true;
      progress.textContent = job.error ? what + ' refused' + (job.reason ? ' (' + job.reason + ')' : '') + ': ' + job.error : what + ': ' + job.result;
    }
  }

  /** Polls the status while a download or staging runs, then reloads to show the new state. */
  async function follow() {
    for (;;) {
      let st;
      try {
        st = await api('GET', base);
      } catch (err) {
        say(err);
        return;
      }
      showJob(st.job);
      if (!st.job || !st.job.running) {
        if (st.job && !st.job.error) location.reload();
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  for (const b of document.querySelectorAll('[data-update-action]')) {
    b.addEventListener('click', async () => {
      const action = b.dataset.updateAction;
      errorBox.textContent = '';
      result.textContent = '';
      if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
      b.disabled = true;
      try {
        if (action === 'check') {
          result.textContent = 'Checking...';
          const r = await api('POST', base + '/check', {});
          result.textContent = r.available ? 'Version ' + r.available.version + ' is available (running ' + r.running + ', ' + mib(r.available.size) + '). Release notes: ' + r.available.notes : 'Up to date: no newer version that upgrades from Keel ' + r.running + ' is in the repository.';
        } else if (action === 'download' || action === 'stage') {
          showJob(await api('POST', base + '/' + action, {}));
          await follow();
        } else if (action === 'unstage' || action === 'acknowledge') {
          await api('POST', base + '/' + action, {});
          location.reload();
        } else if (action === 'remove-repository') {
          if (!confirm('Remove the update repository?')) return;
          await api('DELETE', base + '/repository');
          location.reload();
        } else if (action === 'reboot') {
          await api('POST', '/mics/api/v1/maintenance/reboot', { confirm: true });
          result.textContent = 'The appliance is rebooting to install the update. Sign in again in a few minutes.';
          return;
        }
      } catch (err) {
        say(err);
        result.textContent = '';
      } finally {
        b.disabled = false;
      }
    });
  }

  const form = document.getElementById('update-repository');
  if (form)
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      for (const s of form.querySelectorAll('.field-error')) s.textContent = '';
      const fe = form.querySelector('.form-error');
      fe.textContent = '';
      const body = {};
      for (const el of form.querySelectorAll('[name]')) if (el.value.trim() !== '') body[el.name] = el.name === 'caCertificate' ? el.value.trim() + '\\n' : el.value.trim();
      try {
        await api('PUT', form.dataset.url, body);
        location.reload();
      } catch (err) {
        const b = (err && err.body) || {};
        const rest = [];
        for (const p of b.problems || []) {
          const name = p.field.replace(/^\\/update\\//, '');
          const span = form.querySelector('[data-error-for="' + name + '"]');
          if (span) span.textContent = p.message + ' (' + p.rule + ')';
          else rest.push(p.field + ': ' + p.message + ' (' + p.rule + ')');
        }
        fe.textContent = rest.length ? rest.join('; ') : b.problems && b.problems.length ? 'Please correct the marked fields.' : b.error || 'Error';
      }
    });

  if (panel.dataset.jobRunning) follow();
})();
`;
