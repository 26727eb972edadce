/**
 * Real journal files for tests: entries in the journal export format piped to
 * systemd-journal-remote (Debian package systemd-journal-remote), which writes them as journald
 * does, so `journalctl --directory` reads them like the appliance's own journal.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const JOURNAL_REMOTE = '/usr/lib/systemd/systemd-journal-remote';

export interface TestEntry {
  /** Seconds before now. */
  ago: number;
  message: string | Buffer;
  priority: number;
  identifier: string;
  /** A systemd unit; none for the kernel's messages. */
  unit?: string;
  pid?: number;
}

/** One entry in the export format; a value that is not plain text is written in the binary form. */
function exportEntry(e: TestEntry, i: number, nowUs: number): Buffer {
  const parts: Buffer[] = [];
  const field = (k: string, v: string | Buffer) => {
    if (typeof v === 'string' && !/[\n\x00-\x08\x0b-\x1f]/.test(v)) parts.push(Buffer.from(`${k}=${v}\n`));
    else {
      const b = Buffer.isBuffer(v) ? v : Buffer.from(v);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(b.length));
      parts.push(Buffer.from(`${k}\n`), len, b, Buffer.from('\n'));
    }
  };
  field('__REALTIME_TIMESTAMP', String(nowUs - Math.round(e.ago * 1e6)));
  field('__MONOTONIC_TIMESTAMP', String(1_000_000 + i));
  field('_BOOT_ID', '0123456789abcdef0123456789abcdef');
  field('MESSAGE', e.message);
  field('PRIORITY', String(e.priority));
  field('SYSLOG_IDENTIFIER', e.identifier);
  field('_PID', String(e.pid ?? 100 + i));
  if (e.unit) (field('_SYSTEMD_UNIT', e.unit), field('_TRANSPORT', 'stdout'));
  else field('_TRANSPORT', 'kernel');
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** Writes the entries (oldest first) as a journal file in `dir`, made if absent. */
export function writeJournal(dir: string, entries: TestEntry[], nowMs = Date.now()): string {
  if (!fs.existsSync(JOURNAL_REMOTE)) throw new Error(`${JOURNAL_REMOTE} is missing: apt-get install systemd-journal-remote (the CI installs it)`);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'remote-test.journal');
  const input = Buffer.concat(entries.map((e, i) => exportEntry(e, i, nowMs * 1000)));
  const r = spawnSync(JOURNAL_REMOTE, [`--output=${file}`, '-'], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`systemd-journal-remote exited ${r.status}: ${r.stderr}`);
  return file;
}

/** What the journal of the tests holds (an appliance's day in small). */
export const SAMPLE_ENTRIES: TestEntry[] = [
  { ago: 7200, message: 'Linux version 6.12.0-keel (boot)', priority: 5, identifier: 'kernel' },
  { ago: 3600, message: 'keel info: System Manager listening port=8443', priority: 6, identifier: 'keel', unit: 'keel-serve.service' },
  { ago: 1800, message: 'Selected source 192.0.2.123 (ntp.example.com)', priority: 6, identifier: 'chronyd', unit: 'chrony.service' },
  { ago: 600, message: 'connect failed: password=hunter2 token rejected', priority: 3, identifier: 'sshd', unit: 'ssh.service' },
  { ago: 300, message: 'e1000e 0000:00:19.0 eth0: NIC Link is Down', priority: 4, identifier: 'kernel' },
  { ago: 120, message: 'keel warn: health probe slow (a+b)*c', priority: 4, identifier: 'keel', unit: 'keel-monitor.service' },
  { ago: 60, message: Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0x20, 0x62, 0x79, 0x74, 0x65, 0x73]), priority: 6, identifier: 'odd', unit: 'odd.service' },
];
