/**
 * The image's bill of materials (CycloneDX 1.5 JSON): every Debian package of the root, from the
 * image's own dpkg status file, and every npm package that ships (the lock file's non-dev
 * entries), with version and licence; plus the Node.js runtime. Pure: the build step reads the
 * inputs and writes dist/keel-VERSION-amd64.cdx.json.
 */
import crypto from 'node:crypto';

interface Component {
  type: 'library' | 'application' | 'operating-system' | 'platform';
  'bom-ref': string;
  name: string;
  version: string;
  purl: string;
  licenses?: { license: { id?: string; name?: string } }[];
  hashes?: { alg: 'SHA-512'; content: string }[];
  properties?: { name: string; value: string }[];
}

/** Installed packages of a dpkg status file: name, version, architecture, source. */
export function dpkgPackages(status: string): { name: string; version: string; arch: string; source: string | null }[] {
  const out: { name: string; version: string; arch: string; source: string | null }[] = [];
  for (const stanza of status.split(/\n\n+/)) {
    const f = (k: string) => new RegExp(`^${k}: (.*)$`, 'm').exec(stanza)?.[1]?.trim() ?? null;
    if (f('Status') !== 'install ok installed') continue;
    const name = f('Package');
    const version = f('Version');
    if (!name || !version) continue;
    out.push({ name, version, arch: f('Architecture') ?? 'all', source: f('Source')?.split(' ')[0] ?? null });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Shipped npm packages of a lock file (v2/v3): not dev, not our own workspace links. */
export function npmPackages(lock: { packages: Record<string, { name?: string; version?: string; license?: string; dev?: boolean; integrity?: string; link?: boolean }> }): { name: string; version: string; license: string | null; integrity: string | null }[] {
  const out: { name: string; version: string; license: string | null; integrity: string | null }[] = [];
  for (const [key, p] of Object.entries(lock.packages)) {
    if (!key || p.dev || p.link || !p.version) continue;
    const name = p.name ?? key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    out.push({ name, version: p.version, license: p.license ?? null, integrity: p.integrity ?? null });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}

const SPDX_ID = /^[A-Za-z0-9.+-]+$/;

/** The CycloneDX document. `epoch` (SOURCE_DATE_EPOCH) fixes its time stamp and serial number. */
export function cyclonedx(o: { version: string; epoch: number; nodeVersion: string; dpkgStatus: string; lock: Parameters<typeof npmPackages>[0]; trimmed?: Record<string, number> }): object {
  const components: Component[] = [
    { type: 'platform', 'bom-ref': `node@${o.nodeVersion}`, name: 'node', version: o.nodeVersion, purl: `pkg:generic/nodejs/node@${o.nodeVersion}?arch=x64`, licenses: [{ license: { id: 'MIT' } }] },
  ];
  for (const d of dpkgPackages(o.dpkgStatus)) {
    components.push({
      type: 'library',
      'bom-ref': `deb:${d.name}@${d.version}`,
      name: d.name,
      version: d.version,
      purl: `pkg:deb/debian/${d.name}@${encodeURIComponent(d.version)}?arch=${d.arch}&distro=debian-13`,
      properties: [
        ...(d.source ? [{ name: 'debian:source', value: d.source }] : []),
        // The minimal root removed some of the package's files (apt, perl, bash, the su family...).
        ...(o.trimmed?.[d.name] ? [{ name: 'keel:files-removed-by-trim', value: String(o.trimmed[d.name]) }] : []),
      ],
    });
  }
  for (const n of npmPackages(o.lock)) {
    const licenses = n.license ? [{ license: SPDX_ID.test(n.license) ? { id: n.license } : { name: n.license } }] : undefined;
    const sha512 = n.integrity?.startsWith('sha512-') ? Buffer.from(n.integrity.slice(7), 'base64').toString('hex') : null;
    components.push({
      type: 'library',
      'bom-ref': `npm:${n.name}@${n.version}`,
      name: n.name,
      version: n.version,
      purl: `pkg:npm/${n.name.startsWith('@') ? `%40${n.name.slice(1)}` : n.name}@${n.version}`,
      ...(licenses ? { licenses } : {}),
      ...(sha512 ? { hashes: [{ alg: 'SHA-512' as const, content: sha512 }] } : {}),
    });
  }
  const serial = crypto.createHash('sha256').update(`keel-${o.version}-${o.epoch}`).digest('hex');
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${serial.slice(0, 8)}-${serial.slice(8, 12)}-5${serial.slice(13, 16)}-8${serial.slice(17, 20)}-${serial.slice(20, 32)}`,
    version: 1,
    metadata: {
      timestamp: new Date(o.epoch * 1000).toISOString(),
      component: { type: 'firmware', 'bom-ref': `keel@${o.version}`, name: 'keel', version: o.version, description: 'Keel: firmware of the Core server appliance (ISO image)' },
    },
    components,
  };
}

/** Per package, how many of the files dpkg installed are gone from `exists` (the trimmed root). */
export function trimmedFiles(lists: Record<string, string>, exists: (p: string) => boolean): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [pkg, list] of Object.entries(lists)) {
    let n = 0;
    for (const f of list.split('\n')) if (f && f !== '/.' && !exists(f)) n++;
    if (n) out[pkg] = n;
  }
  return out;
}
