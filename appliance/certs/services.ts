/**
 * Certificates per service (Certificates page): System Manager 8443, the portal 443 and client
 * TLS 9997. Each has a key and a certificate file (the certificate file holds the chain, leaf
 * first, as TLS servers send it), an optional pending key + CSR, and a marker saying who chose it.
 */
import type { Host } from '../host/index.ts';
import { ValidationError } from '../errors.ts';
import { log } from '../log.ts';
import { WEBUI_CERT_PATH, WEBUI_KEY_PATH, WEBUI_SOURCE_PATH, VALIDITY_DAYS } from './webui.ts';
import { checkServerCertificate, describeCert, describeCsr, makeCsr, makeSelfSignedFor, parsePemBundle, type CertSummary, type SubjectFields } from './pki.ts';

export const CERT_SERVICES = {
  webui: { label: 'System Manager', port: 8443 },
  portal: { label: 'Portal (admin portal, self-service, provisioning)', port: 443 },
  clientTls: { label: 'Client TLS (device sync)', port: 9997 },
} as const;
export type CertService = keyof typeof CERT_SERVICES;
export const CERT_SERVICE_NAMES = Object.keys(CERT_SERVICES) as CertService[];

const DIR = '/var/lib/keel/certs';

/** Where a service's files live (System Manager keeps the paths it always had). */
export function certPaths(s: CertService): { key: string; cert: string; source: string; csr: string; csrKey: string } {
  const base = `${DIR}/${s === 'webui' ? 'webui' : s}`;
  return s === 'webui'
    ? { key: WEBUI_KEY_PATH, cert: WEBUI_CERT_PATH, source: WEBUI_SOURCE_PATH, csr: `${base}.csr`, csrKey: `${base}.csr.key` }
    : { key: `${base}.key`, cert: `${base}.crt`, source: `${base}.source`, csr: `${base}.csr`, csrKey: `${base}.csr.key` };
}

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface ServiceCertView {
  service: CertService;
  label: string;
  port: number;
  source: 'automatic' | 'uploaded' | 'self-signed' | 'none';
  certificate: CertSummary | null;
  chain: CertSummary[];
  pendingRequest: { subject: string; names: string[]; csrPem: string } | null;
}

/** One service's certificate files, through host.files. */
export class ServiceCertificates {
  readonly host: Host;
  constructor(host: Host) {
    this.host = host;
  }

  current(s: CertService): KeyPair | null {
    const p = certPaths(s);
    const certPem = this.host.files.readText(p.cert);
    const keyPem = this.host.files.readText(p.key);
    return certPem !== null && keyPem !== null ? { certPem, keyPem } : null;
  }

  view(s: CertService, now = new Date()): ServiceCertView {
    const p = certPaths(s);
    const pair = this.current(s);
    let certs: ReturnType<typeof parsePemBundle> = [];
    try {
      certs = pair ? parsePemBundle(pair.certPem) : [];
    } catch {
      certs = [];
    }
    const marker = this.host.files.readText(p.source)?.trim();
    const csrPem = this.host.files.readText(p.csr);
    return {
      service: s,
      ...CERT_SERVICES[s],
      source: !pair ? 'none' : marker === 'uploaded' || marker === 'self-signed' ? marker : 'automatic',
      certificate: certs[0] ? describeCert(certs[0], now) : null,
      chain: certs.slice(1).map((c) => describeCert(c, now)),
      pendingRequest: csrPem ? { ...describeCsr(csrPem), csrPem } : null,
    };
  }

  /** Makes a new key (kept on the appliance, 0600) and a CSR for the names; replaces an earlier pending request. */
  async request(s: CertService, subject: SubjectFields, names: string[]): Promise<string> {
    const p = certPaths(s);
    const { keyPem, csrPem } = await makeCsr(subject, names);
    this.host.files.mkdirp(DIR, 0o700);
    this.host.files.writeAtomic(p.csrKey, keyPem, 0o600);
    this.host.files.writeAtomic(p.csr, csrPem, 0o644);
    log.info('made a key and a certificate signing request', { service: s, names });
    return csrPem;
  }

  /**
   * Checks an uploaded certificate (+ chain) for a service. The key is the one given, else the
   * pending request's, else the current one (a renewal of the same key). Throws ValidationError
   * naming the rule; returns what to install and any warnings.
   */
  prepare(s: CertService, certPem: string, keyPem: string | undefined, hostname: string, now = new Date()): { pair: KeyPair; warnings: string[]; usedRequest: boolean } {
    const p = certPaths(s);
    const candidates: { key: string; request: boolean }[] = keyPem
      ? [{ key: keyPem, request: false }]
      : [
          ...(this.host.files.readText(p.csrKey) !== null ? [{ key: this.host.files.readText(p.csrKey)!, request: true }] : []),
          ...(this.current(s) ? [{ key: this.current(s)!.keyPem, request: false }] : []),
        ];
    if (candidates.length === 0) throw new ValidationError([{ field: '/key', rule: 'required', message: 'there is no pending request: upload the private key with the certificate, or make a request first' }]);
    let last: ReturnType<typeof checkServerCertificate> | null = null;
    for (const c of candidates) {
      const r = checkServerCertificate(certPem, c.key, { hostname, now });
      if (r.problems.some((x) => x.rule === 'key-match') && candidates.length > 1 && c !== candidates[candidates.length - 1]) continue;
      last = r;
      if (r.problems.length) break;
      return { pair: { certPem: r.chainPem, keyPem: c.key }, warnings: r.warnings, usedRequest: c.request };
    }
    throw new ValidationError(last!.problems);
  }

  /** Installs a pair (key first, both atomic) and returns the one it replaced, for a rollback. */
  install(s: CertService, pair: KeyPair, source: 'uploaded' | 'self-signed', usedRequest = false): KeyPair | null {
    const p = certPaths(s);
    const before = this.current(s);
    this.host.files.mkdirp(DIR, 0o700);
    this.host.files.writeAtomic(p.key, pair.keyPem, 0o600);
    this.host.files.writeAtomic(p.cert, pair.certPem, 0o644);
    this.host.files.writeAtomic(p.source, `${source}\n`, 0o644);
    if (usedRequest) {
      this.host.files.remove(p.csr);
      this.host.files.remove(p.csrKey);
    }
    return before;
  }

  /** Puts a previous pair back (null: remove, the automatic certificate returns at the next start). */
  restore(s: CertService, previous: KeyPair | null, previousSource: string | null): void {
    const p = certPaths(s);
    if (previous) {
      this.host.files.writeAtomic(p.key, previous.keyPem, 0o600);
      this.host.files.writeAtomic(p.cert, previous.certPem, 0o644);
    }
    if (previousSource) this.host.files.writeAtomic(p.source, previousSource, 0o644);
    else this.host.files.remove(p.source);
  }

  source(s: CertService): string | null {
    return this.host.files.readText(certPaths(s).source);
  }

  /** A new self-signed certificate for the names (not installed). */
  selfSigned(names: string[], now = new Date()): Promise<KeyPair> {
    return makeSelfSignedFor({ commonName: names[0], organization: 'Keel appliance (self-signed)' }, names, VALIDITY_DAYS, now);
  }
}
