/**
 * Software updates in the CLI. Configuration mode: `software-update repository URL [username U
 * password P]` (the `update` section, checked by the one schema like every other setting),
 * `software-update ca-certificate` (paste a PEM), and their `no` forms. Privileged EXEC:
 * `software-update check|download|stage|unstage|status|acknowledge`. The steps themselves, their
 * checks and their audit entries are appliance/update's; this file words them for a terminal.
 */
import { Value } from '@sinclair/typebox/value';
import type { Config } from '../appliance/config/schema.ts';
import { OperationalError } from '../appliance/errors.ts';
import { MASKED_PASSWORD } from '../appliance/config/script.ts';
import { keptFor } from '../appliance/config/secrets.ts';
import { UpdateSchema } from '../appliance/update/schema.ts';
import { UpdateRefusal } from '../appliance/update/bundle.ts';
import { updateContext, type UpdateContext } from '../appliance/update/context.ts';
import { checkUpdates, downloadUpdate } from '../appliance/update/repository.ts';
import { acknowledge, formatStatus, status } from '../appliance/update/lifecycle.ts';
import { readState } from '../appliance/update/state.ts';
import { UPDATES_DIR } from '../appliance/update/paths.ts';
import { TRIES } from '../appliance/update/grub.ts';
import { configuredRepository, mib } from '../appliance/update/actions.ts';
import { UpdateBusy, lockHolder, withUpdateLock } from '../appliance/update/jobs.ts';
import type { Args, ArgType, Node } from './tree.ts';
import type { Parsed } from './parse.ts';
import type { Session } from './session.ts';
import { pastePem } from './paste.ts';
import type { Handler } from './commands.ts';

type N = Node<Handler>;
const kw = (k: string, help: string, more: Partial<N> = {}): N => ({ kw: k, help, ...more });
const arg = (name: string, type: ArgType, help: string, more: Partial<N> = {}): N => ({ arg: { name, type }, help, ...more });

/** What commands.ts lends: its configuration change path (edit, check, apply, audit) and refusal. */
export interface ConfigHelpers {
  change: (fn: (c: Config, a: Args, s: Session) => void | Promise<void>) => Handler;
  refuse: (field: string, rule: string, message: string) => never;
}

// ---- argument types (the schema decides; these only keep a word a word) ----

const repositoryUrl: ArgType = {
  placeholder: 'URL',
  rule: 'https-url',
  parse: (w) => (w.length > 0 && w.length <= 2048 && !/\s/.test(w) ? { value: w } : { error: 'must be an https:// URL' }),
};
const repoUser: ArgType = {
  placeholder: 'WORD',
  rule: 'update-username',
  parse: (w) => (w.length >= 1 && w.length <= 256 ? { value: w } : { error: 'must be 1-256 characters' }),
};
const repoPassword: ArgType = {
  placeholder: 'LINE',
  rule: 'update-password',
  secret: true,
  parse: (w) => (/^[\x20-\x7e]{1,256}$/.test(w) ? { value: w } : { error: 'must be 1-256 printable ASCII characters' }),
};

// ---- configuration mode ----

const URL_SCHEMA = UpdateSchema.properties.repository;

function setRepository(h: ConfigHelpers, c: Config, a: Args, s: Session): void {
  // The schema's own pattern, with a sentence instead of the regular expression.
  if (!Value.Check(URL_SCHEMA, a.url)) h.refuse('/update/repository', 'https-url', 'must be an https:// URL without user name or password, like https://updates.example.com/keel/');
  const before = c.update ?? s.batchBase?.update;
  let password: string | undefined;
  if (a.user !== undefined) {
    const keep = a.password === MASKED_PASSWORD;
    // Kept only for the same repository server and user (appliance/config/secrets.ts).
    const stored = keep ? keptFor('update', c.update?.password ? c.update : s.batchBase?.update, { repository: a.url, username: a.user }) : undefined;
    if (keep && !stored) h.refuse('/update/password', 'required', 'there is no stored repository password to keep; give the password');
    password = keep ? stored : a.password;
  }
  c.update = {
    repository: a.url,
    ...(a.user !== undefined ? { username: a.user, password } : {}),
    // The CA is not on this line (a PEM does not fit): it stays until removed.
    ...(before?.caCertificate ? { caCertificate: before.caCertificate } : {}),
  };
}


/** The `software-update` configuration node. */
export function softwareUpdateConfig(h: ConfigHelpers): N {
  const withUser = (): N =>
    kw('username', 'User name for the repository (HTTP basic authentication)', {
      children: [
        arg('user', repoUser, 'User name', {
          children: [
            kw('password', `Password for the repository (${MASKED_PASSWORD}: keep the stored one)`, {
              children: [arg('password', repoPassword, 'Password', { run: h.change((c, a, s) => setRepository(h, c, a, s)) })],
            }),
          ],
        }),
      ],
    });
  return kw('software-update', 'Software updates: where the signed update repository is', {
    children: [
      kw('repository', 'HTTPS URL of the update repository (the folder with index.json)', {
        no: h.change((c) => void delete c.update),
        children: [arg('url', repositoryUrl, 'URL, like https://updates.example.com/keel/', { run: h.change((c, a, s) => setRepository(h, c, a, s)), children: [withUser()] })],
      }),
      kw('ca-certificate', "CA certificate for the repository's HTTPS certificate (when not a public CA); asks for the PEM", {
        run: h.change(async (c, _a, s) => {
          if (!c.update) h.refuse('/update/repository', 'required', 'set the repository first: software-update repository URL');
          if (s.candidate !== null) h.refuse('/update/caCertificate', 'interactive', 'the CA certificate is pasted interactively, not loaded from a script');
          c.update.caCertificate = await pastePem(s, "Paste the PEM certificate(s) of the CA that issued the repository's HTTPS certificate.", 2000);
        }),
        no: h.change((c) => void (c.update && delete c.update.caCertificate)),
      }),
    ],
  });
}

// ---- privileged EXEC ----

function ctxOf(s: Session, over: Partial<UpdateContext> = {}): UpdateContext {
  return updateContext(s.host, s.store, s.actor, over);
}

/** Prints progress in steps of 10%: `   30% (0.9 of 3.0 MiB)`. */
function progressWriter(s: Session): (done: number, total: number) => void {
  let last = -1;
  return (done, total) => {
    const step = Math.floor((done / Math.max(1, total)) * 10);
    if (step === last) return;
    last = step;
    s.io.write(`  ${String(step * 10).padStart(3)}% (${(done / 2 ** 20).toFixed(1)} of ${mib(total)})\n`);
  };
}

/**
 * Runs an update step: its refusals and failures become `% ...` lines (the session is marked
 * failed, so `ssh box software-update ...` exits non-zero); a state-changing step is audited as
 * typed, beside the core's own entry for what happened.
 */
const step =
  (fn: (s: Session, a: Args, p: Parsed<Handler>) => Promise<string>): Handler =>
  async (s, a, p) => {
    try {
      const out = await fn(s, a, p);
      if (p.changes) s.store.audit(s.actor, `cli: ${p.redacted}`, 'ok');
      return out;
    } catch (e) {
      let text: string;
      if (e instanceof UpdateRefusal) text = `% Refused (${e.reason}): ${e.problems[0].message}`;
      else if (e instanceof UpdateBusy) text = `% Busy: ${e.message}`;
      else if (e instanceof OperationalError) text = `% ${e.message}`;
      else throw e;
      s.lastFailed = true;
      if (p.changes) s.store.audit(s.actor, `cli: ${p.redacted}`, e instanceof UpdateRefusal ? `refused (${e.reason})` : `failed: ${e.message}`);
      return text;
    }
  };

const day = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

async function check(s: Session): Promise<string> {
  const ctx = ctxOf(s);
  const r = await checkUpdates(ctx, configuredRepository(s.current()));
  const st = readState(s.host);
  if (!r.available) return `Up to date: no newer version that upgrades from Keel ${r.running} is in the repository.`;
  const v = r.available;
  const out = [`Version ${v.version} is available (running ${r.running}; ${mib(v.size)}, built ${day(v.created)}).`];
  if (v.notes.trim()) out.push('Release notes:', ...v.notes.trim().split('\n').map((l) => `  ${l}`));
  if (st.staged?.version === v.version) out.push(`It is staged: reload to install it.`);
  else if (st.downloaded?.version === v.version) out.push('It is downloaded and verified. Stage it with: software-update stage');
  else out.push('Download it with: software-update download');
  return out.join('\n');
}

async function download(s: Session): Promise<string> {
  const ctx = ctxOf(s);
  return withUpdateLock(s.host, 'download', s.actor, async () => {
    const o = configuredRepository(s.current());
    const r = await checkUpdates(ctx, o);
    if (!r.available) return `Up to date: no newer version that upgrades from Keel ${r.running} is in the repository.`;
    const v = r.available;
    const st = readState(s.host);
    if (st.staged?.version === v.version) return `Version ${v.version} is already staged: reload to install it.`;
    if (st.downloaded?.version === v.version && s.host.files.exists(`${UPDATES_DIR}/${st.downloaded.file}`)) return `Version ${v.version} is already downloaded and verified. Stage it with: software-update stage`;
    s.io.write(`Downloading ${v.file} (Keel ${v.version}, ${mib(v.size)}) from ${new URL(o.url).origin} ...\n`);
    const d = await downloadUpdate(ctx, o, v, progressWriter(s));
    return [
      `Downloaded${d.resumedFrom ? ` (resumed at ${mib(d.resumedFrom)})` : ''} and verified: size, sha256 and the bundle's signature.`,
      `Version ${d.version} is ready to stage. Stage it with: software-update stage`,
    ].join('\n');
  });
}

async function stageCmd(s: Session): Promise<string> {
  const ctx = ctxOf(s);
  return withUpdateLock(s.host, 'stage', s.actor, async () => {
    const d = readState(s.host).downloaded;
    s.io.write(`Checking ${d ? `version ${d.version}` : 'the download'}: signature, version, room, database migration dry run, RAID, certificate ...\n`);
    let writing = false;
    const bar = progressWriter(s);
    const r = await s.host.applier.stageUpdate(s.actor, (done, total) => {
      if (!writing) s.io.write(`Writing the other system slot ...\n`);
      writing = true;
      bar(done, total);
    });
    return [
      `Version ${r.version} is staged on slot ${r.slot.toUpperCase()} (${r.seconds.toFixed(1)} s).`,
      'Status: Reboot to Install. Enter "reload" to install it.',
      `If it does not come up healthy, it is tried ${TRIES} times in all and then Keel ${ctx.runningVersion} starts again by itself.`,
    ].join('\n');
  });
}

async function unstageCmd(s: Session): Promise<string> {
  const ctx = ctxOf(s);
  return withUpdateLock(s.host, 'unstage', s.actor, async () => {
    const v = readState(s.host).staged?.version;
    return (await s.host.applier.unstageUpdate(s.actor)) ? `The staged update${v ? ` (${v})` : ''} is cancelled; the next reload starts Keel ${ctx.runningVersion} again.` : 'Nothing is staged.';
  });
}

async function statusCmd(s: Session): Promise<string> {
  const lines = formatStatus(status(ctxOf(s, { trustedKeys: [] })));
  const u = s.current()?.update;
  lines.push(`Repository:        ${u ? `${u.repository}${u.username ? ` (user ${u.username})` : ''}` : 'not configured (software-update repository URL)'}`);
  const busy = lockHolder(s.host);
  if (busy) lines.push(`In progress:       ${busy.kind} started by ${busy.who} (${busy.source}) at ${day(busy.at)}`);
  return lines.join('\n');
}

async function acknowledgeCmd(s: Session): Promise<string> {
  return acknowledge(ctxOf(s, { trustedKeys: [] })) ? 'Rollback notice acknowledged: the banners no longer show it.' : 'There is no rollback notice to acknowledge.';
}

/** The `software-update` privileged EXEC node. */
export const SOFTWARE_UPDATE_EXEC: N = kw('software-update', 'Software updates: check, download, stage, status', {
  children: [
    kw('check', 'Is a newer version in the update repository?', { run: step(check) }),
    kw('download', 'Download (or resume) and verify the newest version', { changes: true, run: step(download) }),
    kw('stage', 'Write the downloaded version to the other system slot; reload installs it', { changes: true, run: step(stageCmd) }),
    kw('unstage', 'Cancel a staged update before the reload', { changes: true, run: step(unstageCmd) }),
    kw('status', 'Running, installed, downloaded and staged versions', { run: step(statusCmd) }),
    kw('acknowledge', 'Stop showing the last rollback notice', { changes: true, run: step(acknowledgeCmd) }),
  ],
});

/** Lines for `show version`: the running version's slot, what each slot holds, the update status. */
export function versionLines(s: Session): string[] {
  try {
    return formatStatus(status(ctxOf(s, { trustedKeys: [] })));
  } catch (e) {
    return [`Software update status unavailable: ${(e as Error).message}`];
  }
}

/** What `reload` says when it will install a staged version, or null. */
export function reloadNotice(s: Session): string | null {
  const st = status(ctxOf(s, { trustedKeys: [] }));
  if (st.phase !== 'reboot-to-install' || !st.staged) return null;
  return `Reboot to Install: Keel ${st.staged.version} is staged on slot ${st.staged.slot.toUpperCase()}; this reload installs it (if it does not come up healthy, Keel ${st.running.version} returns by itself).`;
}
