/**
 * The update steps as the CLI (`software-update ...`) and System Manager (Maintenance > Software
 * Updates) run them: the repository from the configuration, the newest bundle downloaded, the
 * downloaded bundle staged. Each step audits itself (in repository.ts and stage.ts).
 */
import type { Config } from '../config/schema.ts';
import { UpdateRefusal } from './bundle.ts';
import type { UpdateContext } from './context.ts';
import { checkUpdates, downloadUpdate, repositoryOptions, type CheckResult, type DownloadResult, type RepositoryOptions } from './repository.ts';
import { stage, type StageResult } from './stage.ts';
import { readState } from './state.ts';
import { UPDATES_DIR } from './paths.ts';

/** The repository of a configuration, or a refusal saying how to set one. */
export function configuredRepository(c: Config | null | undefined): RepositoryOptions {
  if (!c?.update) throw new UpdateRefusal('precheck-failed', 'no update repository is configured (software-update repository URL, or System Manager > Maintenance > Software Updates)');
  return repositoryOptions(c.update, c.proxy);
}

/** Check Updates with the configured repository. */
export function checkConfigured(ctx: UpdateContext, c: Config | null | undefined): Promise<CheckResult> {
  return checkUpdates(ctx, configuredRepository(c));
}

/** Checks, then downloads (or resumes) the newest bundle; null when up to date. */
export async function downloadNewest(ctx: UpdateContext, c: Config | null | undefined, progress?: (done: number, total: number) => void): Promise<{ check: CheckResult; download: DownloadResult | null }> {
  const o = configuredRepository(c);
  const check = await checkUpdates(ctx, o);
  if (!check.available) return { check, download: null };
  return { check, download: await downloadUpdate(ctx, o, check.available, progress) };
}

/** Stages what was downloaded; refused when nothing was. */
export async function stageDownloaded(ctx: UpdateContext, progress?: (done: number, total: number) => void): Promise<StageResult> {
  const d = readState(ctx.host).downloaded;
  if (!d || !ctx.host.files.exists(`${UPDATES_DIR}/${d.file}`)) throw new UpdateRefusal('precheck-failed', 'nothing is downloaded to stage: download an update first (software-update download)');
  return stage(ctx, ctx.host.files.real(`${UPDATES_DIR}/${d.file}`), progress);
}

/** "12.3 MiB" (ASCII). */
export function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}
