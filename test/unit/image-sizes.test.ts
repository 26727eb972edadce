import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dirOf, formatSizes, group, measure, npmPackage, owners, type SizeReport } from '../../image/sizes.ts';

describe('image size report', () => {
  it('measures a tree by directory and by package, packed sizes below raw for text', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-sizes-'));
    try {
      const put = (rel: string, body: string | Buffer) => {
        fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
        fs.writeFileSync(path.join(root, rel), body);
      };
      put('usr/bin/tool', 'a'.repeat(100_000));
      put('usr/lib/x86_64-linux-gnu/libx.so', Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 251)));
      put('opt/keel/app/node_modules/fastify/lib/a.js', 'x'.repeat(3000));
      put('opt/keel/app/node_modules/@sinclair/typebox/b.js', 'y'.repeat(2000));
      put('boot/vmlinuz-1', 'k'.repeat(10));
      const files = measure(root, (rel) => rel.startsWith('boot/vmlinuz'));
      expect(files.map((f) => f.rel).sort()).toEqual(['opt/keel/app/node_modules/@sinclair/typebox/b.js', 'opt/keel/app/node_modules/fastify/lib/a.js', 'usr/bin/tool', 'usr/lib/x86_64-linux-gnu/libx.so']);
      const tool = files.find((f) => f.rel === 'usr/bin/tool')!;
      expect(tool.bytes).toBe(100_000);
      expect(tool.packed).toBeLessThan(1000);

      const own = owners({ coreutils: '/.\n/bin/tool\n/usr/bin\n', libx: '/usr/lib/x86_64-linux-gnu/libx.so\n' });
      const byPkg = group(files, (r) => own.get(r) ?? (npmPackage(r) ? null : '(other)'));
      expect(byPkg.map((r) => r.name).sort()).toEqual(['coreutils', 'libx']);
      expect(byPkg.find((r) => r.name === 'coreutils')!.bytes).toBe(100_000);
      expect(group(files, (r) => npmPackage(r)).map((r) => r.name).sort()).toEqual(['@sinclair/typebox', 'fastify']);
      expect(dirOf('usr/lib/x86_64-linux-gnu/libx.so', 3)).toBe('usr/lib/x86_64-linux-gnu');
      expect(dirOf('usr/bin/tool', 3)).toBe('usr/bin');
      expect(dirOf('top', 3)).toBe('/');
      expect(npmPackage('opt/keel/app/package.json')).toBeNull();

      const report: SizeReport = { key: 'k', iso: [{ name: 'live/base.squashfs', bytes: 3 * 2 ** 20 }], isoBytes: 4 * 2 ** 20, baseDirs: group(files, (r) => dirOf(r, 2)), basePackages: byPkg, layerDirs: [], npmPackages: [] };
      const text = formatSizes(report, 1);
      expect(text).toContain('ISO 4.0 MiB:');
      expect(text).toMatch(/1\.0 MiB {2}\(GRUB, El Torito and ISO 9660 structures\)/);
      expect(text).toMatch(/base\.squashfs by directory \(top 1 of 3;/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
