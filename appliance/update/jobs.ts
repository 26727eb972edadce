/**
 * One long update step at a time (download, stage, unstage), whoever starts it: the serial
 * console's CLI runs in its own process, System Manager and the SSH CLI in `keel serve`. A lock
 * file on the data partition says who holds it; a lock left by a process that died is taken over.
 * In the process that runs it, the step's progress is kept for System Manager to poll.
 */
import fs from 'node:fs';
import type { Host } from '../host/index.ts';
import type { Actor } from '../config/store.ts';
import { log } from '../log.ts';
import { UpdateRefusal } from './bundle.ts';
import { UPDATES_DIR } from './paths.ts';
import { processAlive } from '../host/processes.ts';

/** The lock file (appliance path). */
export const LOCK_PATH = `${UPDATES_DIR}/busy.lock`;

export type JobKind = 'download' | 'stage' | 'unstage';

/** A running or finished update step of this process (what System Manager shows while polling). */
export interface UpdateJob {
  kind: JobKind;
  who: string;
  source: string;
  startedAt: string;
  /** Bytes done and to do (0/0 until known). */
  done: number;
  total: number;
  running: boolean;
  finishedAt: string | null;
  /** On success: what came of it (one sentence). */
  result: string | null;
  /** On failure: why; `reason` is the refusal code when the step was refused. */
  error: string | null;
  reason: string | null;
}

/** Another step holds the lock: answered 409 by System Manager. */
export class UpdateBusy extends Error {
  readonly statusCode = 409;
  constructor(message: string) {
    super(message);
    this.name = 'UpdateBusy';
  }
}

interface LockInfo {
  pid: number;
  kind: JobKind;
  who: string;
  source: string;
  at: string;
}

/** Who holds the lock now, or null (a stale lock is ignored). */
export function lockHolder(host: Host): LockInfo | null {
  const t = host.files.readText(LOCK_PATH);
  if (!t) return null;
  try {
    const l = JSON.parse(t) as LockInfo;
    return l.pid && processAlive(l.pid) ? l : null;
  } catch {
    return null;
  }
}

const busyText = (l: LockInfo) => `a software update ${l.kind} started by ${l.who} (${l.source}) at ${l.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} is still running; try again when it is done`;

/** Takes the lock or throws UpdateBusy. */
function acquire(host: Host, kind: JobKind, actor: Actor): () => void {
  host.files.mkdirp(UPDATES_DIR, 0o700);
  const real = host.files.real(LOCK_PATH);
  const mine: LockInfo = { pid: process.pid, kind, who: actor.who, source: actor.source, at: new Date().toISOString() };
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(real, JSON.stringify(mine), { flag: 'wx', mode: 0o600 });
      return () => fs.rmSync(real, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const held = lockHolder(host);
      if (held) throw new UpdateBusy(busyText(held));
      // Left by a process that is gone (crash, reboot): take it over.
      fs.rmSync(real, { force: true });
    }
  }
  throw new UpdateBusy('the software update lock cannot be taken');
}

/** Runs `fn` holding the lock (CLI: the session waits for it). */
export async function withUpdateLock<T>(host: Host, kind: JobKind, actor: Actor, fn: () => Promise<T>): Promise<T> {
  const release = acquire(host, kind, actor);
  try {
    return await fn();
  } finally {
    release();
  }
}

const jobs = new WeakMap<Host, UpdateJob>();

/** The last step started in this process for this host (running or finished), or null. */
export function currentJob(host: Host): UpdateJob | null {
  return jobs.get(host) ?? null;
}

/**
 * Starts a step in the background (System Manager): takes the lock now (UpdateBusy if held),
 * answers at once, and records progress and the outcome in the job for polling.
 */
export function startJob(host: Host, kind: JobKind, actor: Actor, fn: (progress: (done: number, total: number) => void) => Promise<string>): UpdateJob {
  const release = acquire(host, kind, actor);
  const job: UpdateJob = { kind, who: actor.who, source: actor.source, startedAt: new Date().toISOString(), done: 0, total: 0, running: true, finishedAt: null, result: null, error: null, reason: null };
  jobs.set(host, job);
  const progress = (done: number, total: number) => {
    job.done = done;
    job.total = total;
  };
  void (async () => {
    try {
      job.result = await fn(progress);
    } catch (e) {
      job.error = e instanceof UpdateRefusal ? e.problems[0].message : (e as Error).message;
      job.reason = e instanceof UpdateRefusal ? e.reason : null;
      // The core audits the outcome; this is for the log of the background task.
      log.warn(`software update ${kind} did not finish`, { error: job.error });
    } finally {
      job.running = false;
      job.finishedAt = new Date().toISOString();
      release();
    }
  })();
  return job;
}
