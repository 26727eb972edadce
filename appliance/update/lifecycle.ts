/**
 * After the reboot: the boot check (rollback detection, per-slot database), marking a tried slot
 * good when it is healthy, rebooting for the next try when it is not, and the status shown by the
 * CLI, the console banner and System Manager.
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Host } from '../host/index.ts';
import { DB_PATH, MIGRATIONS, Store, type Actor } from '../config/store.ts';
import type { Config } from '../config/schema.ts';
import { WEBUI_CERT_PATH } from '../certs/webui.ts';
import { listNics } from '../network/nics.ts';
import { log } from '../log.ts';
import { counterOf, grubBootView, grubStepsTo, otherSlot, sameCounter, TRIES, type GrubEnv, type Slot } from './grub.ts';
import { SLOT_DB_DIR, UPDATES_DIR } from './paths.ts';
import { readState, updateState, type UpdateResult, type UpdateState, type SlotInfo } from './state.ts';
import { audit, type UpdateContext } from './context.ts';

/** Where this boot stands in an update. */
export type BootKind = 'normal' | 'trial' | 'rolled-back';

export interface BootCheckResult {
  kind: BootKind;
  /** On a trial boot: which try (1..TRIES). */
  attempt?: number;
  /** After a rollback: the result recorded (reason included). */
  result?: UpdateResult;
}

/** The rollback reason from what the tried version reported about its tries (pure). */
export function rollbackReason(trial: UpdateState['trial'], version: string): string {
  const tries = trial?.attempts ?? [];
  const said = tries.filter((a) => a.failed).map((a) => `try ${a.try}: ${a.failed}`);
  if (!tries.length) return `version ${version} did not start (no report from it in ${TRIES} boots)`;
  const silent = TRIES - said.length;
  return `version ${version} was not healthy after ${TRIES} tries (${[...said, ...(silent > 0 ? [`${silent} ${silent === 1 ? 'try' : 'tries'} ended without a report (crash or hang)`] : [])].join('; ')})`;
}

/**
 * Run at every boot before anything opens the configuration database (`keel update boot`, first
 * in keel-boot.service). On the previous slot after GRUB gave up on a tried one: puts back the
 * database copy that matches this version (the tried version's is kept beside it), records and
 * audits the reason, and calls `notify` (e-mail). On a tried slot: counts the try and, on the
 * first, copies the database for the slot it came from before the new version migrates it.
 */
export async function bootCheck(
  host: Host,
  opts: {
    grub: GrubEnv;
    runningSlot: Slot;
    runningVersion: string;
    actor?: Actor;
    now?: () => Date;
    notify?: (subject: string, text: string) => Promise<void>;
    /** Why a slot's system images fail their dm-verity check, or null (SlotAdapter.verify). */
    verifySlot?: (slot: Slot) => Promise<string | null>;
  },
): Promise<BootCheckResult> {
  const now = (opts.now ?? (() => new Date()))();
  const actor = opts.actor ?? { who: 'system', source: 'boot' };
  let env = opts.grub.read();
  const running = opts.runningSlot;
  // GRUB's decision for this boot, as it passed it on the kernel command line.
  const seen = grubBootView(host.files.readText('/proc/cmdline') ?? '');
  const esps = await opts.grub.espCounters().catch((e: Error) => {
    log.warn('software update: the ESP try counters could not be read', { error: e.message });
    return null;
  });
  if (esps) {
    // md RAID: GRUB counts on a member's ESP (it cannot write the array); KEEL-BOOT holds what
    // Linux last wrote. GRUB's view is the truth when it is some GRUB boots on from that (boots
    // that never reached Linux included); otherwise (a stale ESP of a member that was away, a
    // stage made since this boot) Linux's record is. Every copy is made to agree with it.
    const view = seen ? counterOf(seen) : null;
    const counted = view ? grubStepsTo(counterOf(env), view) : null;
    const truth = view && counted ? view : counterOf(env);
    const copies = [{ device: 'KEEL-BOOT', counter: counterOf(env) }, ...esps];
    const differ = copies.filter((c) => !sameCounter(c.counter, truth));
    if (differ.length) {
      const why = counted ? `GRUB counted ${counted} boot${counted > 1 ? 's' : ''} since Linux last wrote it` : 'a copy differs from what Linux last wrote';
      log.warn(`software update: try counter copies brought into agreement (md RAID): ${why}`, { now: JSON.stringify(truth), was: JSON.stringify(Object.fromEntries(differ.map((c) => [c.device, c.counter]))) });
      await opts.grub.set(truth);
      env = { ...env, ...truth };
    }
  } else if (seen && unsavedGrubStep(counterOf(env), seen)) {
    // GRUB could not save what it decided for this boot: save it from Linux, so the try is counted
    // and a fallback is seen.
    log.warn('software update: GRUB could not save its environment; saving it from Linux', { was: JSON.stringify(counterOf(env)), now: JSON.stringify(seen) });
    await opts.grub.set(seen as Record<string, string>);
    env = { ...env, ...seen };
  }
  if (env.keel_failed && env.keel_failed !== running) {
    const failed = env.keel_failed as Slot;
    const st = readState(host);
    const version = st.trial?.version ?? st.staged?.version ?? st.slots?.[failed]?.version ?? 'unknown';
    let reason = rollbackReason(st.trial, version);
    // A version that never reached Linux: the initramfs may have refused its system images.
    if (!st.trial?.attempts.length && opts.verifySlot) {
      const bad = await opts.verifySlot(failed).catch((e: Error) => `the check could not run: ${e.message}`);
      if (bad) reason = `version ${version} did not start: its system image failed the dm-verity check (${bad})`;
    }
    const restored = restoreSlotDb(host, running, failed);
    await opts.grub.set({ keel_failed: '' });
    const result: UpdateResult = { outcome: 'rolled-back', version, running: opts.runningVersion, at: now.toISOString(), reason: `${reason}; ${opts.runningVersion} restored${restored ? ' with its configuration database' : ''}` };
    updateState(host, (s) => {
      s.lastResult = result;
      s.slots = { ...s.slots, [failed]: { version, state: 'failed', at: result.at } };
      delete s.trial;
      delete s.staged;
    });
    const store = Store.open(host);
    try {
      store.audit(actor, `software update ${version} rolled back to ${opts.runningVersion} (slot ${running}): ${result.reason}`, 'rolled-back');
    } finally {
      store.close();
    }
    log.warn('software update rolled back', { version, running: opts.runningVersion, reason: result.reason });
    if (opts.notify) {
      try {
        await opts.notify(`Keel: software update ${version} rolled back`, rollbackNotice(result)!);
        updateState(host, (s) => {
          if (s.lastResult) s.lastResult.notified = true;
        });
      } catch (e) {
        log.warn('rollback e-mail not sent', { error: (e as Error).message });
      }
    }
    return { kind: 'rolled-back', result };
  }
  if (env.keel_next === running && env.keel_slot !== running) {
    // GRUB already took this boot off keel_tries.
    const attempt = TRIES - Number(env.keel_tries || 0);
    const st = readState(host);
    const from = otherSlot(running);
    if (!st.trial?.attempts.length && host.files.exists(DB_PATH)) {
      // Nothing of this version has touched the database yet: the best copy for a rollback.
      await copyDb(host, `${SLOT_DB_DIR}/${from}/keel.db`);
    }
    updateState(host, (s) => {
      const t = s.trial ?? { version: opts.runningVersion, slot: running, fromVersion: s.staged?.fromVersion ?? s.slots?.[from]?.version ?? 'unknown', fromSlot: from, attempts: [] };
      t.attempts.push({ try: attempt, at: now.toISOString() });
      s.trial = t;
    });
    log.info('software update: trying the new version', { version: opts.runningVersion, slot: running, attempt, of: TRIES });
    return { kind: 'trial', attempt };
  }
  return { kind: 'normal' };
}

/**
 * Whether `keel update confirm` has work at this boot: a try to confirm, a rollback notice to
 * e-mail, or an unknown state (the boot check failed: `kind` null) where it must look for itself.
 */
export function confirmNeeded(host: Host, kind: BootKind | null): boolean {
  if (kind !== 'normal') return true;
  try {
    const r = readState(host).lastResult;
    return !!r && r.outcome === 'rolled-back' && !r.notified;
  } catch {
    return true;
  }
}

/** Consistent copy of the live database to an appliance path (SQLite online backup). */
async function copyDb(host: Host, dst: string): Promise<void> {
  host.files.mkdirp(path.posix.dirname(dst), 0o700);
  const db = new Database(host.files.real(DB_PATH), { readonly: true, fileMustExist: true });
  try {
    const tmp = `${host.files.real(dst)}.tmp`;
    fs.rmSync(tmp, { force: true });
    await db.backup(tmp);
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, host.files.real(dst));
  } finally {
    db.close();
  }
}

/** Puts the running slot's database copy in place; the failed slot's database is kept as `keel.db.failed`. */
function restoreSlotDb(host: Host, running: Slot, failed: Slot): boolean {
  const copy = host.files.read(`${SLOT_DB_DIR}/${running}/keel.db`);
  if (!copy) return false;
  if (host.files.exists(DB_PATH)) {
    // Opening it folds its write-ahead log in, so the kept copy is complete.
    const db = new Database(host.files.real(DB_PATH));
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    host.files.mkdirp(`${SLOT_DB_DIR}/${failed}`, 0o700);
    host.files.writeAtomic(`${SLOT_DB_DIR}/${failed}/keel.db.failed`, host.files.read(DB_PATH)!, 0o600);
  }
  for (const s of ['-wal', '-shm']) host.files.remove(DB_PATH + s);
  host.files.writeAtomic(DB_PATH, copy, 0o600);
  return true;
}

/** The three signs of a healthy new version. Each resolves true when healthy. */
export interface HealthChecks {
  /** System Manager answers HTTPS on its port. */
  webui(): Promise<boolean>;
  /** The configuration database carries every migration of this version. */
  migrations(): Promise<boolean>;
  /** The management interface (the first configured interface) is up. */
  management(): Promise<boolean>;
}
export const CHECK_NAMES: Record<keyof HealthChecks, string> = {
  webui: 'System Manager did not answer',
  migrations: 'database migrations not done',
  management: 'management interface not up',
};

/** The appliance's health checks: HTTPS to System Manager on loopback (pinned to its certificate), user_version, operstate. */
export function defaultHealthChecks(host: Host, store: Store, config: Config): HealthChecks {
  return {
    webui: () =>
      new Promise((resolve) => {
        const cert = host.files.readText(WEBUI_CERT_PATH);
        if (!cert) return resolve(false);
        const req = https.get(
          // Its own certificate is the only trust anchor; the name is the configured hostname, not 127.0.0.1.
          { host: '127.0.0.1', port: config.webui.port, path: '/mics', ca: cert, checkServerIdentity: () => undefined, timeout: 5000 },
          (res) => {
            res.resume();
            resolve((res.statusCode ?? 500) < 500);
          },
        );
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(false));
      }),
    migrations: async () => (store.db.pragma('user_version', { simple: true }) as number) >= MIGRATIONS.length,
    management: async () => {
      const want = config.network.interfaces.find((i) => i.enabled)?.name;
      const nic = listNics(host).find((n) => n.name === want);
      if (!nic?.ifname) return false;
      try {
        return fs.readFileSync(path.join(host.sysfs, 'class/net', nic.ifname, 'operstate'), 'utf8').trim() === 'up';
      } catch {
        return false;
      }
    },
  };
}

/** Runs the checks; the names of the failing ones (empty: healthy). */
export async function failingChecks(checks: HealthChecks): Promise<string[]> {
  const out: string[] = [];
  for (const k of Object.keys(CHECK_NAMES) as (keyof HealthChecks)[]) {
    let ok = false;
    try {
      ok = await checks[k]();
    } catch {
      ok = false;
    }
    if (!ok) out.push(CHECK_NAMES[k]);
  }
  return out;
}

/** True when this boot is a try of a staged slot. */
export function onTrial(ctx: UpdateContext): boolean {
  const env = ctx.grub.read();
  return env.keel_next === ctx.runningSlot && env.keel_slot !== ctx.runningSlot;
}

/**
 * Marks the running slot good when it is being tried and every check passes: GRUB boots it from
 * now on, the previous slot stays as it is (the fallback for the next update).
 */
export async function markGood(ctx: UpdateContext, checks: HealthChecks): Promise<{ marked: boolean; failing: string[] }> {
  if (!onTrial(ctx)) return { marked: false, failing: [] };
  const failing = await failingChecks(checks);
  if (failing.length) return { marked: false, failing };
  await ctx.grub.set({ keel_slot: ctx.runningSlot, keel_next: '', keel_tries: '', keel_failed: '' });
  const at = ctx.now().toISOString();
  let tries = 1;
  const st = updateState(ctx.host, (s) => {
    tries = s.trial?.attempts.length || 1;
    s.lastResult = { outcome: 'installed', version: ctx.runningVersion, running: ctx.runningVersion, at, reason: `installed on slot ${ctx.runningSlot} ${tries === 1 ? 'at the first try' : `at try ${tries} of ${TRIES}`}` };
    s.slots = { ...s.slots, [ctx.runningSlot]: { version: ctx.runningVersion, state: 'good', at } };
    delete s.trial;
    delete s.staged;
  });
  // The bundle is on the slot now; the data partition does not need to keep it.
  if (st.downloaded && st.downloaded.version === ctx.runningVersion) {
    ctx.host.files.remove(`${UPDATES_DIR}/${st.downloaded.file}`);
    updateState(ctx.host, (s) => delete s.downloaded);
  }
  audit(ctx, `software update ${ctx.runningVersion} marked good on slot ${ctx.runningSlot} (try ${tries} of ${TRIES})`, 'ok');
  return { marked: true, failing: [] };
}

/**
 * `keel update confirm`, started after System Manager at every boot: on a tried slot, waits up to
 * `timeoutMs` for the checks and marks the slot good; when they keep failing, records why and
 * reboots (GRUB then tries again or goes back to the previous slot).
 */
export async function confirm(ctx: UpdateContext, checks: HealthChecks, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<'not-on-trial' | 'good' | 'rebooting'> {
  if (!onTrial(ctx)) return 'not-on-trial';
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const end = Date.now() + timeoutMs;
  let failing: string[] = [];
  for (;;) {
    const r = await markGood(ctx, checks);
    if (r.marked) return 'good';
    failing = r.failing;
    if (Date.now() >= end) break;
    await new Promise((res) => setTimeout(res, Math.min(opts.intervalMs ?? 5000, Math.max(0, end - Date.now()))));
  }
  const why = `${failing.join(', ')} within ${Math.round(timeoutMs / 1000)} s`;
  const env = ctx.grub.read();
  updateState(ctx.host, (s) => {
    const last = s.trial?.attempts.at(-1);
    if (last) last.failed = why;
  });
  const left = Number(env.keel_tries || 0);
  audit(ctx, `software update ${ctx.runningVersion} not healthy on slot ${ctx.runningSlot}: ${why}; rebooting (${left ? `${left} ${left === 1 ? 'try' : 'tries'} left` : `back to slot ${env.keel_slot || 'a'}`})`, 'failed');
  await ctx.host.proc.run('systemctl', ['reboot']);
  return 'rebooting';
}

/** What the console, the login banner, System Manager and the e-mail say about a rollback, or null. */
export function rollbackNotice(r: UpdateResult | undefined): string | null {
  if (!r || r.outcome !== 'rolled-back' || r.acknowledged) return null;
  return `SOFTWARE UPDATE ROLLED BACK at ${r.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}: ${r.reason}.`;
}

/** An administrator has seen the rollback notice: the banner stops showing it. */
export function acknowledge(ctx: UpdateContext): boolean {
  let did = false;
  updateState(ctx.host, (s) => {
    if (s.lastResult && !s.lastResult.acknowledged) {
      s.lastResult.acknowledged = true;
      did = true;
    }
  });
  if (did) audit(ctx, 'software update notice acknowledged', 'ok');
  return did;
}

export type UpdatePhase = 'up-to-date' | 'downloaded' | 'reboot-to-install' | 'installing' | 'rolled-back';
export const PHASE_LABELS: Record<UpdatePhase, string> = {
  'up-to-date': 'Up to Date',
  downloaded: 'Ready to Stage',
  'reboot-to-install': 'Reboot to Install',
  installing: 'Installing (checking the new version)',
  'rolled-back': 'Rolled Back',
};

export interface UpdateStatus {
  running: { version: string; slot: Slot };
  /** What each slot holds. */
  slots: Record<Slot, (SlotInfo & { running: boolean }) | null>;
  downloaded: UpdateState['downloaded'] | null;
  staged: UpdateState['staged'] | null;
  /** On a tried slot: the try (1..TRIES). */
  attempt: number | null;
  phase: UpdatePhase;
  /** "Reboot to Install" and the like. */
  label: string;
  lastResult: UpdateResult | null;
  /** The rollback notice while not acknowledged (banner). */
  notice: string | null;
}

/** The update status (running, installed and staged versions, phase). */
export function status(ctx: UpdateContext): UpdateStatus {
  const st = readState(ctx.host);
  const env = ctx.grub.read();
  const slots = { a: null, b: null } as UpdateStatus['slots'];
  for (const s of ['a', 'b'] as Slot[]) {
    const info = s === ctx.runningSlot ? { version: ctx.runningVersion, state: st.slots?.[s]?.state ?? 'good', at: st.slots?.[s]?.at ?? '' } : st.slots?.[s];
    slots[s] = info ? { ...info, running: s === ctx.runningSlot } : null;
  }
  const trial = onTrial(ctx);
  const staged = env.keel_next && env.keel_next !== ctx.runningSlot && st.staged ? st.staged : null;
  const notice = rollbackNotice(st.lastResult);
  const phase: UpdatePhase = trial ? 'installing' : staged ? 'reboot-to-install' : notice ? 'rolled-back' : st.downloaded ? 'downloaded' : 'up-to-date';
  const attempt = trial ? TRIES - Number(env.keel_tries || 0) : null;
  return { running: { version: ctx.runningVersion, slot: ctx.runningSlot }, slots, downloaded: st.downloaded ?? null, staged, attempt, phase, label: PHASE_LABELS[phase], lastResult: st.lastResult ?? null, notice };
}

/** The status as ASCII lines (CLI `software-update status`, `show version`). */
export function formatStatus(s: UpdateStatus): string[] {
  const lines = [`Running version:   ${s.running.version} (slot ${s.running.slot.toUpperCase()})`];
  for (const slot of ['a', 'b'] as Slot[]) {
    const i = s.slots[slot];
    lines.push(`Slot ${slot.toUpperCase()}:            ${i ? `${i.version} (${i.running ? 'running' : i.state})` : '(empty)'}`);
  }
  if (s.downloaded) lines.push(`Downloaded:        ${s.downloaded.version} (${s.downloaded.file})`);
  if (s.staged) lines.push(`Staged:            ${s.staged.version} on slot ${s.staged.slot.toUpperCase()}`);
  lines.push(`Status:            ${s.label}${s.attempt ? ` (try ${s.attempt} of ${TRIES})` : ''}`);
  if (s.lastResult) lines.push(`Last update:       ${s.lastResult.version} ${s.lastResult.outcome} at ${s.lastResult.at}: ${s.lastResult.reason}`);
  if (s.notice) lines.push('', s.notice);
  return lines;
}

/**
 * Sends the rollback notice once (e-mail): call when the network is up (`keel update confirm`),
 * since the boot check runs before it. True when something was sent.
 */
export async function notifyPending(host: Host, notify: (subject: string, text: string) => Promise<void>): Promise<boolean> {
  const r = readState(host).lastResult;
  if (!r || r.outcome !== 'rolled-back' || r.notified) return false;
  await notify(`Keel: software update ${r.version} rolled back`, rollbackNotice({ ...r, acknowledged: false })!);
  updateState(host, (s) => {
    if (s.lastResult) s.lastResult.notified = true;
  });
  return true;
}

/**
 * True when the environment on disk is exactly one GRUB step behind what GRUB booted with: a try
 * it counted (same staged slot, one try more on disk) or a fallback it decided (the staged slot
 * became the failed one). Anything else (a stage made since this boot, a manual run) is left alone.
 */
function unsavedGrubStep(disk: Record<string, string>, seen: Partial<Record<string, string>>): boolean {
  if (seen.keel_next && disk.keel_next === seen.keel_next && disk.keel_failed === (seen.keel_failed ?? '') && Number(disk.keel_tries) === Number(seen.keel_tries) + 1) return true;
  return !seen.keel_next && !!seen.keel_failed && disk.keel_next === seen.keel_failed && disk.keel_failed === '';
}
