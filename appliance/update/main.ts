/**
 * `keel update <command>`: software updates from a shell (build machine and appliance).
 * Exit status: 0 done, 1 refused or failed (the reason on stderr), 2 usage.
 */
import type { ProxyConfig } from '../proxy/schema.ts';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { createHost, type Host } from '../host/index.ts';
import { Store } from '../config/store.ts';
import { isUserFacing } from '../errors.ts';
import { VERSION } from '../version.ts';
import { compareVersions } from './versions.ts';
import { UpdateRefusal, createBundle, verifyBundle, SLOT_FILES } from './bundle.ts';
import { generateSigningKey, loadTrustedKeys, publicKeyFromPem } from './keys.ts';
import { updateContext, type UpdateContext } from './context.ts';
import { checkUpdates, downloadUpdate, repositoryOptions, writeIndex, type RepositoryOptions } from './repository.ts';
import { stage, unstage } from './stage.ts';
import { bootCheck, confirmNeeded, confirm, defaultHealthChecks, formatStatus, status, acknowledge, rollbackNotice, notifyPending, type BootKind } from './lifecycle.ts';
import { sendMail } from '../email/send.ts';
import { log } from '../log.ts';
import { readState } from './state.ts';
import { GrubEnv } from './grub.ts';
import { runningSlot, slotsFor } from './slots.ts';
import { CONFIRM_NEEDED_PATH, UPDATES_DIR } from './paths.ts';
import type { UpdateConfig } from './schema.ts';
import { UpdateBusy, withUpdateLock } from './jobs.ts';

const USAGE = `usage: keel update <command> [options]

  verify BUNDLE [--key PUB]... [--running VERSION]
                         check a bundle: signature, trusted key, size, sha256, minimum version
                         (keys: --key files, else /usr/share/keel/update-keys/*.pub)
  sign --key PEM --min-version V [--version V] [--notes TEXT | --notes-file F] --out FILE
       (--squashfs FILE | --file NAME=PATH ...) [--carry NAME=PATH ...]
                         build and sign a bundle (NAME: ${SLOT_FILES.join(', ')})
  keygen --out PREFIX    a new Ed25519 signing key: PREFIX.pem (secret) and PREFIX.pub
  index DIR --key PEM    write DIR/index.json and index.json.sig for the bundles in DIR
  check                  is a newer version in the repository?
  download               download (or resume) and verify the newest version
  stage [BUNDLE]         write the downloaded (or given) bundle to the other slot; then reboot
  unstage                cancel a staged update before the reboot
  status [--json]        running, installed and staged versions
  acknowledge            stop showing the last rollback notice
  boot                   at boot, before the configuration is read: rollback detection
  confirm [--timeout S]  after boot: mark a new version good when healthy, else reboot to retry

  appliance commands take --root DIR (default /) and --user NAME (for the audit log).
`;

function fail(e: unknown): number {
  if (e instanceof UpdateRefusal) {
    console.error(`REFUSED (${e.reason}): ${e.problems[0].message}`);
    return 1;
  }
  if (isUserFacing(e) || e instanceof UpdateBusy) {
    console.error(`keel update: ${e.message}`);
    return 1;
  }
  throw e;
}

function pairs(list: string[] | undefined, flag: string): { name: (typeof SLOT_FILES)[number]; path: string }[] {
  return (list ?? []).map((p) => {
    const i = p.indexOf('=');
    const name = p.slice(0, i);
    if (i < 1 || !(SLOT_FILES as readonly string[]).includes(name)) throw new Error(`${flag} wants NAME=PATH with NAME one of ${SLOT_FILES.join(', ')}`);
    return { name: name as (typeof SLOT_FILES)[number], path: p.slice(i + 1) };
  });
}

/** The repository settings: the `update` configuration section, or --repository/--user/--ca with KEEL_UPDATE_PASSWORD. */
function repoFrom(store: Store, v: { repository?: string; user?: string; ca?: string }): RepositoryOptions {
  if (v.repository) return { url: v.repository, username: v.user, password: process.env.KEEL_UPDATE_PASSWORD, ca: v.ca ? fs.readFileSync(v.ca, 'utf8') : undefined };
  const c = store.running()?.config as { update?: UpdateConfig; proxy?: ProxyConfig } | undefined;
  if (!c?.update) throw new UpdateRefusal('precheck-failed', 'no update repository is configured');
  return repositoryOptions(c.update, c.proxy);
}

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const { values: v, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      root: { type: 'string', default: '/' },
      user: { type: 'string', default: 'root' },
      key: { type: 'string', multiple: true },
      running: { type: 'string' },
      version: { type: 'string' },
      'min-version': { type: 'string' },
      notes: { type: 'string' },
      'notes-file': { type: 'string' },
      squashfs: { type: 'string' },
      file: { type: 'string', multiple: true },
      carry: { type: 'string', multiple: true },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      repository: { type: 'string' },
      ca: { type: 'string' },
    },
  });
  const host = createHost(v.root);
  try {
    switch (cmd) {
      case 'verify': {
        if (positionals.length !== 1) break;
        const keys = v.key?.length ? v.key.map((k) => publicKeyFromPem(fs.readFileSync(k, 'utf8'), k)) : loadTrustedKeys(host);
        const b = await verifyBundle(positionals[0], keys, { runningVersion: v.running ?? VERSION });
        const m = b.manifest;
        const running = v.running ?? VERSION;
        const order = compareVersions(m.version, running);
        const what = `Keel ${m.version} (upgrades from ${m.minVersion}), built ${m.created}, ${(m.size / 2 ** 20).toFixed(1)} MiB payload: ${m.files.map((f) => `${f.name}${f.offset === undefined ? ' (carried)' : ''}`).join(', ')}`;
        // Genuine, but not an update for this appliance: said so, and not OK (stage would refuse it too).
        if (order < 0) console.log(`Older than running: ${what}; this appliance runs ${running}, so it will not be installed`);
        else if (order === 0) console.log(`Same version as running: ${what}; there is nothing to install`);
        else console.log(`OK: ${what}`);
        console.log(`signed by key ${b.key.id} (${b.key.source})`);
        return order > 0 ? 0 : 1;
      }
      case 'sign': {
        const keyFile = v.key?.[0] ?? process.env.KEEL_UPDATE_KEY;
        if (!keyFile || !v['min-version'] || !v.out) break;
        const r = await createBundle({
          squashfs: v.squashfs,
          files: pairs(v.file, '--file'),
          carry: pairs(v.carry, '--carry'),
          version: v.version ?? VERSION,
          minVersion: v['min-version'],
          notes: v['notes-file'] ? fs.readFileSync(v['notes-file'], 'utf8') : (v.notes ?? ''),
          keyPem: fs.readFileSync(keyFile, 'utf8'),
          out: v.out,
        });
        console.log(`${r.path}: Keel ${r.manifest.version}, ${r.size} bytes, key ${r.manifest.keyId}`);
        return 0;
      }
      case 'keygen': {
        if (!v.out) break;
        if (fs.existsSync(`${v.out}.pem`)) throw new UpdateRefusal('precheck-failed', `${v.out}.pem exists; not overwritten`);
        const k = generateSigningKey();
        fs.writeFileSync(`${v.out}.pem`, k.privatePem, { mode: 0o600, flag: 'wx' });
        fs.writeFileSync(`${v.out}.pub`, k.publicPem, { mode: 0o644 });
        console.log(`${v.out}.pem (keep it secret), ${v.out}.pub; key id ${k.id}`);
        return 0;
      }
      case 'index': {
        if (positionals.length !== 1 || !v.key?.[0]) break;
        const idx = await writeIndex(positionals[0], fs.readFileSync(v.key[0], 'utf8'));
        console.log(`${positionals[0]}/index.json: ${idx.bundles.map((b) => b.version).join(', ') || 'no bundles'}`);
        return 0;
      }
      case 'boot': {
        await updateBootCheck(host);
        return 0;
      }
    }
    if (['check', 'download', 'stage', 'unstage', 'status', 'acknowledge', 'confirm'].includes(cmd ?? '') && positionals.length <= (cmd === 'stage' ? 1 : 0)) {
      const store = Store.open(host);
      try {
        const ctx = updateContext(host, store, { who: v.user, source: 'keel-update' });
        const go = () => applianceCommand(ctx, cmd!, positionals, v, store);
        // One update step at a time, also against the CLI and System Manager.
        return await (cmd === 'download' || cmd === 'stage' || cmd === 'unstage' ? withUpdateLock(host, cmd, ctx.actor, go) : go());
      } finally {
        store.close();
      }
    }
  } catch (e) {
    return fail(e);
  }
  console.error(USAGE);
  return 2;
}

/**
 * The update boot check (lifecycle.ts bootCheck): counts a trial boot or records a rollback. Run
 * by `keel boot` before it opens the configuration database (one Node start fewer at boot), and
 * by `keel update boot`.
 */
export async function updateBootCheck(host: Host): Promise<void> {
  let kind: BootKind | null = null;
  try {
    const r = await bootCheck(host, { grub: new GrubEnv(host), runningSlot: runningSlot(host), runningVersion: VERSION, verifySlot: (slot) => slotsFor(host).verify(slot) });
    kind = r.kind;
    if (r.kind === 'rolled-back') console.log(rollbackNotice(r.result));
  } finally {
    // Also when the check failed (kind null): then the confirmation looks for itself.
    if (confirmNeeded(host, kind)) host.files.writeAtomic(CONFIRM_NEEDED_PATH, `${kind ?? 'unknown'}\n`, 0o644);
    else host.files.remove(CONFIRM_NEEDED_PATH);
  }
}

async function applianceCommand(ctx: UpdateContext, cmd: string, positionals: string[], v: { json?: boolean; timeout?: string; repository?: string; user?: string; ca?: string }, store: Store): Promise<number> {
  const progress = (label: string) => {
    let last = -1;
    return (done: number, total: number) => {
      const pct = Math.floor((done / Math.max(1, total)) * 100);
      if (pct !== last && process.stderr.isTTY) process.stderr.write(`\r${label} ${pct}%  `);
      last = pct;
    };
  };
  switch (cmd) {
    case 'check': {
      const r = await checkUpdates(ctx, repoFrom(store, v));
      console.log(r.available ? `Version ${r.available.version} is available (running ${r.running}).\n${r.available.notes}` : `Up to date (running ${r.running}).`);
      return 0;
    }
    case 'download': {
      const o = repoFrom(store, v);
      const r = await checkUpdates(ctx, o);
      if (!r.available) {
        console.log(`Up to date (running ${r.running}).`);
        return 0;
      }
      const d = await downloadUpdate(ctx, o, r.available, progress('downloading'));
      console.log(`\nDownloaded and verified ${d.version}${d.resumedFrom ? ` (resumed at ${d.resumedFrom} bytes)` : ''}. Stage it with: software-update stage`);
      return 0;
    }
    case 'stage': {
      const file = positionals[0] ?? (readState(ctx.host).downloaded ? ctx.host.files.real(`${UPDATES_DIR}/${readState(ctx.host).downloaded!.file}`) : null);
      if (!file) throw new UpdateRefusal('precheck-failed', 'nothing downloaded to stage');
      const r = await stage(ctx, file, progress('writing slot'));
      console.log(`\nVersion ${r.version} staged on slot ${r.slot.toUpperCase()} in ${r.seconds.toFixed(1)} s. Status: Reboot to Install.`);
      return 0;
    }
    case 'unstage':
      console.log((await unstage(ctx)) ? 'The staged update was cancelled.' : 'Nothing is staged.');
      return 0;
    case 'status': {
      const s = status(ctx);
      console.log(v.json ? JSON.stringify(s, null, 1) : formatStatus(s).join('\n'));
      return 0;
    }
    case 'acknowledge':
      console.log(acknowledge(ctx) ? 'Acknowledged.' : 'Nothing to acknowledge.');
      return 0;
    case 'confirm': {
      const config = store.running()?.config;
      if (!config) return 0;
      // A rollback found at boot is e-mailed now that the network is up (once).
      if (config.email) {
        const email = config.email;
        await notifyPending(ctx.host, async (subject, text) => void (await sendMail(email, { to: config.system.contactEmail, subject, text }))).catch((e: Error) =>
          log.warn('rollback e-mail not sent', { error: e.message }),
        );
      }
      const r = await confirm(ctx, defaultHealthChecks(ctx.host, store, config), { timeoutMs: Number(v.timeout ?? 600) * 1000 });
      console.log(r === 'good' ? `Version ${ctx.runningVersion} is installed.` : r === 'rebooting' ? 'The new version is not healthy; rebooting.' : 'No update is being tried.');
      return 0;
    }
  }
  return 2;
}
