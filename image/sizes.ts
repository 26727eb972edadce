/**
 * Where the image's bytes are: per directory and per package (Debian, npm), with each file's size
 * and an estimate of what it costs packed (zstd level 3, file by file: squashfs packs in blocks at
 * level 19, so the estimate is a ranking, not the exact share). The build writes the report
 * (size-report step); `npm run bench` prints it.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export interface SizeRow {
  name: string;
  files: number;
  bytes: number;
  /** Estimated packed bytes. */
  packed: number;
}

export interface SizeReport {
  key: string;
  /** Files on the ISO, by size. */
  iso: { name: string; bytes: number }[];
  isoBytes: number;
  baseDirs: SizeRow[];
  basePackages: SizeRow[];
  layerDirs: SizeRow[];
  npmPackages: SizeRow[];
}

interface FileSize {
  rel: string;
  bytes: number;
  packed: number;
}

/** Every regular file under `root` (relative paths), skipping `skip(rel)`, with its estimated packed size. */
export function measure(root: string, skip: (rel: string) => boolean = () => false): FileSize[] {
  const out: FileSize[] = [];
  const level = { params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } };
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip(r)) continue;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) {
        const buf = fs.readFileSync(path.join(root, r));
        out.push({ rel: r, bytes: buf.length, packed: buf.length ? zlib.zstdCompressSync(buf, level).length : 0 });
      }
    }
  };
  walk('');
  return out;
}

/** Sums files into rows by `key(rel)` (null: left out), biggest packed first. */
export function group(files: FileSize[], key: (rel: string) => string | null): SizeRow[] {
  const rows = new Map<string, SizeRow>();
  for (const f of files) {
    const k = key(f.rel);
    if (k === null) continue;
    const r = rows.get(k) ?? { name: k, files: 0, bytes: 0, packed: 0 };
    r.files++;
    r.bytes += f.bytes;
    r.packed += f.packed;
    rows.set(k, r);
  }
  return [...rows.values()].sort((a, b) => b.packed - a.packed || a.name.localeCompare(b.name));
}

/** The first `depth` components of a path ("usr/lib/x86_64-linux-gnu"). */
export const dirOf = (rel: string, depth: number) => rel.split('/').slice(0, Math.min(depth, rel.split('/').length - 1)).join('/') || '/';

/** Owner package of each path from dpkg's file lists (/usr-merged: /bin/x is usr/bin/x). */
export function owners(lists: Record<string, string>): Map<string, string> {
  const m = new Map<string, string>();
  for (const [pkg, text] of Object.entries(lists)) {
    for (const line of text.split('\n')) {
      if (!line.startsWith('/')) continue;
      let rel = line.slice(1);
      if (/^(bin|sbin|lib|lib64)\//.test(rel)) rel = `usr/${rel}`;
      if (!m.has(rel)) m.set(rel, pkg);
    }
  }
  return m;
}

/** The npm package a file of node_modules belongs to ("@scope/name" or "name"), else null. */
export function npmPackage(rel: string): string | null {
  const i = rel.lastIndexOf('node_modules/');
  if (i < 0) return null;
  const rest = rel.slice(i + 'node_modules/'.length).split('/');
  if (rest.length < 2) return null;
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1).padStart(6)} MiB`;

/** The report as text: the ISO's files, then the top `n` rows of each table. */
export function formatSizes(r: SizeReport, n = 12): string {
  const table = (title: string, rows: SizeRow[]) => [
    `${title} (top ${Math.min(n, rows.length)} of ${rows.length}; size on disk, ≈ packed)`,
    ...rows.slice(0, n).map((x) => `  ${mib(x.bytes)} ${mib(x.packed)}  ${x.name}`),
  ];
  return [
    `ISO ${mib(r.isoBytes).trim()}:`,
    ...r.iso.map((f) => `  ${mib(f.bytes)}  ${f.name}`),
    `  ${mib(r.isoBytes - r.iso.reduce((s, f) => s + f.bytes, 0))}  (GRUB, El Torito and ISO 9660 structures)`,
    ...table('base.squashfs by directory', r.baseDirs),
    ...table('base.squashfs by Debian package', r.basePackages),
    ...table('keel.squashfs by directory', r.layerDirs),
    ...table('keel.squashfs npm packages', r.npmPackages),
  ].join('\n');
}
