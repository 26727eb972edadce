/**
 * Support bundle: what support needs to understand an appliance, with every secret redacted,
 * as a .tar.gz (ustar, written here: a handful of small text files needs no tar library).
 */
import zlib from 'node:zlib';
import type { Host } from '../appliance/host/index.ts';
import type { Store } from '../appliance/config/store.ts';
import { toScript, redact } from '../appliance/config/script.ts';
import { VERSION } from '../appliance/version.ts';
import { redactConfig } from './redact.ts';
import { scrub } from './redact.ts';
import { Journal, formatEntry } from '../appliance/host/journal.ts';
import { health } from './health.ts';

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number) => h.write(s, off, len, 'ascii');
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  put(name, 0, 100);
  put(oct(0o644, 8), 100, 8);
  put(oct(0, 8), 108, 8);
  put(oct(0, 8), 116, 8);
  put(oct(size, 12), 124, 12);
  put(oct(Math.floor(mtime / 1000), 12), 136, 12);
  put('        ', 148, 8);
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(oct(sum, 7) + ' ', 148, 8);
  return h;
}

/** A ustar archive of these files (names at most 100 ASCII characters). */
export function tar(files: { name: string; content: string | Buffer }[], mtime = Date.now()): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const body = typeof f.content === 'string' ? Buffer.from(f.content, 'utf8') : f.content;
    parts.push(header(f.name, body.length, mtime), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Secrets that could still hide in free text: the core's `scrub` (appliance/log.ts). */
export { scrub };

/** The newest 5000 entries of the system log as lines (scrubbed by the adapter), or why there are none. */
async function systemLog(host: Host): Promise<string> {
  try {
    const r = await new Journal(host).read({ lines: 5000 });
    if (r.source === 'none') return `${r.note}\n`;
    return `# ${r.note}, newest ${r.entries.length} entries (UTC)\n${r.entries.map(formatEntry).join('\n')}\n`;
  } catch (e) {
    return `The system log could not be read: ${(e as Error).message}\n`;
  }
}

/** Builds the bundle: version, redacted configurations, revisions, audit log, boot times, status, system log (and in a sandbox the commands it recorded). */
export async function supportBundle(host: Host, store: Store): Promise<Buffer> {
  const running = store.running();
  const startup = store.startup();
  const files: { name: string; content: string }[] = [];
  const dir = `keel-support-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  files.push({ name: `${dir}/version.txt`, content: `Keel ${VERSION}\nNode ${process.version}\n` });
  if (running) {
    files.push({ name: `${dir}/running-config.txt`, content: redact(toScript(running.config)).join('\n') + '\n' });
    files.push({ name: `${dir}/running-config.json`, content: JSON.stringify(redactConfig(running.config), null, 2) + '\n' });
  }
  if (startup) files.push({ name: `${dir}/startup-config.json`, content: JSON.stringify(redactConfig(startup.config), null, 2) + '\n' });
  const revs = store.revisions(200).map((r) => `# revision ${r.id} ${r.at} ${r.who} ${r.source}: ${r.summary}\n${r.diff}`);
  files.push({ name: `${dir}/revisions.txt`, content: scrub(revs.join('\n')) + '\n' });
  const audit = store.auditLog(5000).map((a) => `${a.at} ${a.who} ${a.source} ${a.action} -> ${a.outcome}`);
  files.push({ name: `${dir}/audit.txt`, content: scrub(audit.join('\n')) + '\n' });
  if (host.proc.live) {
    const b = await host.applier.bootTimes();
    files.push({ name: `${dir}/boot.txt`, content: `${b.time}\n${b.criticalChain}\n${b.blame}` });
  }
  files.push({ name: `${dir}/status.json`, content: JSON.stringify(health(host, store), null, 2) + '\n' });
  files.push({ name: `${dir}/system-log.txt`, content: scrub(await systemLog(host)) });
  // In a sandbox the commands Keel would have run are its record of what it did.
  if (!host.proc.live) files.push({ name: `${dir}/commands.log`, content: scrub(host.files.readText('/var/log/keel/commands.log') ?? '') });
  return zlib.gzipSync(tar(files));
}
