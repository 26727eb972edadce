/**
 * Staging: checks, then the verified bundle onto the inactive slot, then GRUB told to try it.
 * Nothing is written before every check has passed; a refusal is audited with its reason.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DB_PATH, MIGRATIONS } from '../config/store.ts';
import { WEBUI_CERT_PATH } from '../certs/webui.ts';
import { UpdateRefusal, verifyBundle, type Manifest, type VerifiedBundle } from './bundle.ts';
import { compareVersions } from './versions.ts';
import { otherSlot, TRIES, type Slot } from './grub.ts';
import { SLOT_DB_DIR, UPDATES_DIR } from './paths.ts';
import { parseVerityEnv, VERITY_ENV, type VERITY_IMAGES } from './verity.ts';
import { readState, updateState } from './state.ts';
import { audit, type UpdateContext } from './context.ts';

/**
 * Dry run of the incoming version's database migrations on a copy of the database (real path).
 * The incoming list must start with every migration this version has (migrations are append
 * only); the rest run on the copy, which must then pass SQLite's integrity and foreign key checks
 * and still hold readable configurations. A sentence on failure, null when fine.
 */
export async function migrationDryRun(db: Database.Database, incoming: string[], current: string[] = MIGRATIONS, scratch: string): Promise<string | null> {
  if (incoming.length < current.length) return `the new version knows ${incoming.length} database migrations, this one ${current.length}: it cannot read this database`;
  for (let i = 0; i < current.length; i++) if (incoming[i] !== current[i]) return `database migration ${i + 1} of the new version differs from the one applied here`;
  fs.rmSync(scratch, { force: true });
  await db.backup(scratch);
  const copy = new Database(scratch);
  try {
    const have = copy.pragma('user_version', { simple: true }) as number;
    for (let i = have; i < incoming.length; i++) {
      try {
        copy.transaction(() => {
          copy.exec(incoming[i]);
          copy.pragma(`user_version = ${i + 1}`);
        })();
      } catch (e) {
        return `database migration ${i + 1} fails on a copy of this database: ${(e as Error).message}`;
      }
    }
    const integrity = copy.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') return `the migrated copy fails the integrity check: ${String(integrity)}`;
    if ((copy.pragma('foreign_key_check') as unknown[]).length) return 'the migrated copy fails the foreign key check';
    try {
      for (const r of copy.prepare('SELECT json FROM config_state').all() as { json: string }[]) JSON.parse(r.json);
    } catch (e) {
      return `the configuration is unreadable after the migrations: ${(e as Error).message}`;
    }
    return null;
  } finally {
    copy.close();
    for (const s of ['', '-wal', '-shm']) fs.rmSync(scratch + s, { force: true });
  }
}

/** Why System Manager's certificate would not serve after the reboot, or null. */
export function certificateProblem(pem: string | null, now: Date): string | null {
  if (!pem) return 'System Manager has no certificate';
  let x: crypto.X509Certificate;
  try {
    x = new crypto.X509Certificate(pem);
  } catch {
    return 'System Manager certificate is unreadable';
  }
  if (new Date(x.validFrom).getTime() > now.getTime()) return `System Manager certificate is not valid before ${x.validFrom}`;
  if (new Date(x.validTo).getTime() <= now.getTime()) return `System Manager certificate expired ${x.validTo}`;
  return null;
}

/** Free bytes of the file system holding an appliance path. */
function freeBytes(ctx: UpdateContext, p: string): number {
  const st = fs.statfsSync(ctx.host.files.real(p));
  return st.bavail * st.bsize;
}

/** Copies the live database consistently (SQLite online backup) to the slot's copy. */
export async function snapshotDb(ctx: UpdateContext, slot: Slot): Promise<string> {
  const dst = `${SLOT_DB_DIR}/${slot}/keel.db`;
  ctx.host.files.mkdirp(path.posix.dirname(dst), 0o700);
  const real = ctx.host.files.real(dst);
  const tmp = `${real}.tmp`;
  fs.rmSync(tmp, { force: true });
  await ctx.store.db.backup(tmp);
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, real);
  return dst;
}

/**
 * A system that boots verified slots never stages one that would not be: the images of a bundle
 * without dm-verity root hashes are named (a sentence), or null.
 */
export function unverifiedImages(ctx: UpdateContext, m: Manifest): string | null {
  const running = parseVerityEnv(ctx.host.files.readText(`${ctx.slots.runningLiveDir(ctx.runningSlot)}/${VERITY_ENV}`) ?? '');
  if (!running) return null;
  const hashed = new Set((m.verity ?? []).map((v) => v.file));
  const missing = m.files.map((f) => f.name).filter((n) => n.endsWith('.squashfs') && !hashed.has(n as (typeof VERITY_IMAGES)[number]));
  return missing.length ? `the bundle has no dm-verity root hash for ${missing.join(' and ')}; this appliance boots only verified system slots` : null;
}

/** Every pre-check that does not need the bundle's payload; the problems found (empty: go). */
export async function prechecks(ctx: UpdateContext, m: Manifest): Promise<string[]> {
  const problems: string[] = [];
  const dbSize = fs.statSync(ctx.host.files.real(DB_PATH)).size;
  // Two copies of the database (the slot's and the dry run's) must fit beside it.
  const need = 2 * dbSize + 16 * 2 ** 20;
  const free = freeBytes(ctx, path.posix.dirname(DB_PATH));
  if (free < need) problems.push(`not enough room on the data partition: ${(free / 2 ** 20).toFixed(0)} MiB free, ${(need / 2 ** 20).toFixed(0)} MiB needed`);
  ctx.host.files.mkdirp(UPDATES_DIR, 0o700);
  const dry = await migrationDryRun(ctx.store.db, m.migrations, MIGRATIONS, ctx.host.files.real(`${UPDATES_DIR}/dry-run.db`));
  if (dry) problems.push(dry);
  const raid = await ctx.raidProblem();
  if (raid) problems.push(raid);
  const cert = certificateProblem(ctx.host.files.readText(WEBUI_CERT_PATH), ctx.now());
  if (cert) problems.push(cert);
  return problems;
}

export interface StageResult {
  version: string;
  slot: Slot;
  seconds: number;
}

/**
 * Stages a downloaded bundle: verifies it (signature, key, size, sha256, minimum version, room in
 * the inactive slot), refuses one that is not newer, runs the pre-checks, keeps a copy of the
 * database for the running slot, writes the inactive slot, and sets GRUB to try it TRIES times at
 * the next boots. Status becomes "Reboot to Install".
 */
export async function stage(ctx: UpdateContext, bundlePath: string, progress?: (done: number, total: number) => void): Promise<StageResult> {
  const t0 = Date.now();
  const target = otherSlot(ctx.runningSlot);
  const name = path.basename(bundlePath);
  let b: VerifiedBundle;
  try {
    const env = ctx.grub.read();
    if (env.keel_next && env.keel_next === ctx.runningSlot) throw new UpdateRefusal('precheck-failed', 'this version is being tried; it must be marked good before another update');
    b = await verifyBundle(bundlePath, ctx.trustedKeys, { runningVersion: ctx.runningVersion, room: await ctx.slots.capacity(target) });
    if (compareVersions(b.manifest.version, ctx.runningVersion) <= 0) throw new UpdateRefusal('not-newer', `version ${b.manifest.version} is not newer than the running ${ctx.runningVersion}`);
    const unverified = unverifiedImages(ctx, b.manifest);
    if (unverified) throw new UpdateRefusal('precheck-failed', unverified);
    const problems = await prechecks(ctx, b.manifest);
    if (problems.length) throw new UpdateRefusal('precheck-failed', problems.join('; '));
  } catch (e) {
    if (e instanceof UpdateRefusal) audit(ctx, `software update stage ${name}`, `refused (${e.reason}): ${e.problems[0].message}`);
    throw e;
  }
  const m = b.manifest;
  await snapshotDb(ctx, ctx.runningSlot);
  // GRUB must not try a half-written slot: forget any earlier staging first.
  await ctx.grub.set({ keel_next: '', keel_tries: '' });
  updateState(ctx.host, (s) => {
    delete s.staged;
    s.slots = { ...s.slots, [target]: undefined };
  });
  try {
    await ctx.slots.write(target, b, ctx.slots.runningLiveDir(ctx.runningSlot), progress);
  } catch (e) {
    audit(ctx, `software update stage ${m.version} to slot ${target}`, `failed: ${(e as Error).message}`);
    throw e;
  }
  await ctx.grub.set({ keel_next: target, keel_tries: String(TRIES), keel_failed: '' });
  const at = ctx.now().toISOString();
  updateState(ctx.host, (s) => {
    s.staged = { version: m.version, slot: target, fromVersion: ctx.runningVersion, fromSlot: ctx.runningSlot, at };
    s.slots = { ...s.slots, [target]: { version: m.version, state: 'staged', at }, [ctx.runningSlot]: s.slots?.[ctx.runningSlot] ?? { version: ctx.runningVersion, state: 'good', at } };
    delete s.trial;
  });
  audit(ctx, `software update ${m.version} staged to slot ${target} (reboot to install; signed by key ${b.key.id.slice(0, 16)})`, 'ok');
  return { version: m.version, slot: target, seconds: (Date.now() - t0) / 1000 };
}

/** Cancels a staged update before the reboot: GRUB keeps booting the running slot. */
export async function unstage(ctx: UpdateContext): Promise<boolean> {
  const st = readState(ctx.host);
  if (!st.staged && !ctx.grub.read().keel_next) return false;
  await ctx.grub.set({ keel_next: '', keel_tries: '' });
  updateState(ctx.host, (s) => {
    if (s.staged && s.slots?.[s.staged.slot]?.state === 'staged') delete s.slots[s.staged.slot];
    delete s.staged;
  });
  audit(ctx, `software update ${st.staged?.version ?? ''} unstaged`.replace('  ', ' '), 'ok');
  return true;
}
