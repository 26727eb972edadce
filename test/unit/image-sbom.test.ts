import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { cyclonedx, dpkgPackages, npmPackages, trimmedFiles } from '../../image/sbom.ts';

const STATUS = [
  'Package: chrony\nStatus: install ok installed\nArchitecture: amd64\nSource: chrony\nVersion: 4.6.1-3\n',
  'Package: apt\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.3\n',
  'Package: old-thing\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1.0\n',
].join('\n');

test('the SBOM lists each installed Debian package and each shipped npm package with version and licence, dev tools left out', () => {
  const lock = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../package-lock.json'), 'utf8'));
  const doc = cyclonedx({ version: '0.1.0', epoch: 1_700_000_000, nodeVersion: '24.21.0', dpkgStatus: STATUS, lock, trimmed: { apt: 12 } }) as {
    bomFormat: string;
    specVersion: string;
    metadata: { timestamp: string };
    components: { name: string; version: string; purl: string; licenses?: { license: { id?: string } }[]; properties?: { name: string; value: string }[] }[];
  };
  assert.equal(doc.bomFormat, 'CycloneDX');
  assert.equal(doc.specVersion, '1.5');
  assert.equal(doc.metadata.timestamp, '2023-11-14T22:13:20.000Z', 'reproducible: the time is SOURCE_DATE_EPOCH');
  const names = doc.components.map((c) => c.name);
  assert.deepEqual(dpkgPackages(STATUS).map((p) => p.name), ['apt', 'chrony']);
  assert.ok(names.includes('chrony') && !names.includes('old-thing'));
  assert.deepEqual(doc.components.find((c) => c.name === 'apt')!.properties, [{ name: 'keel:files-removed-by-trim', value: '12' }]);
  const fastify = doc.components.find((c) => c.name === 'fastify')!;
  assert.equal(fastify.version, lock.packages['node_modules/fastify'].version);
  assert.equal(fastify.licenses![0].license.id, 'MIT');
  assert.equal(fastify.purl, `pkg:npm/fastify@${fastify.version}`);
  assert.ok(doc.components.some((c) => c.purl.startsWith('pkg:npm/%40fastify/')), 'scoped names are encoded');
  for (const dev of ['vitest', 'typescript', 'node-gyp', 'playwright-core']) assert.ok(!names.includes(dev), `${dev} is a dev tool and does not ship`);
  assert.equal(npmPackages(lock).length, doc.components.filter((c) => c.purl.startsWith('pkg:npm/')).length);
});

test('files removed by the trim are counted per package', () => {
  assert.deepEqual(trimmedFiles({ apt: '/.\n/usr\n/usr/bin/apt\n/usr/bin/apt-get\n', chrony: '/.\n/usr/sbin/chronyd\n' }, (p) => p !== '/usr/bin/apt' && p !== '/usr/bin/apt-get'), { apt: 2 });
});
