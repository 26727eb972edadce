/**
 * Test CAs and certificates made with node-forge (keys from native crypto): server certificates,
 * client certificates with a UPN (NT Principal Name otherName) and/or RFC822 SAN, any EKU, any
 * validity. For tests only.
 */
import crypto from 'node:crypto';
import forge from 'node-forge';

export interface Issued {
  certPem: string;
  keyPem: string;
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

function key(bits = 2048): { keyPem: string; priv: forge.pki.rsa.PrivateKey; pub: forge.pki.rsa.PublicKey } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: bits });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    priv: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }) as string) as forge.pki.rsa.PrivateKey,
    pub: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string) as forge.pki.rsa.PublicKey,
  };
}

let serial = 1;
const DAY = 86400_000;

/** The SAN extension with an NT Principal Name otherName (OID 1.3.6.1.4.1.311.20.2.3) and/or an RFC822 name and DNS names, as raw ASN.1. */
function sanExtension(o: { upn?: string; email?: string; dns?: string[]; ip?: string[] }) {
  const a = forge.asn1;
  const names: forge.asn1.Asn1[] = [];
  if (o.upn !== undefined)
    names.push(
      a.create(a.Class.CONTEXT_SPECIFIC, 0, true, [
        a.create(a.Class.UNIVERSAL, a.Type.OID, false, a.oidToDer('1.3.6.1.4.1.311.20.2.3').getBytes()),
        a.create(a.Class.CONTEXT_SPECIFIC, 0, true, [a.create(a.Class.UNIVERSAL, a.Type.UTF8, false, forge.util.encodeUtf8(o.upn))]),
      ]),
    );
  if (o.email !== undefined) names.push(a.create(a.Class.CONTEXT_SPECIFIC, 1, false, o.email));
  for (const d of o.dns ?? []) names.push(a.create(a.Class.CONTEXT_SPECIFIC, 2, false, d));
  for (const ip of o.ip ?? []) names.push(a.create(a.Class.CONTEXT_SPECIFIC, 7, false, (forge.util as unknown as { bytesFromIP: (s: string) => string }).bytesFromIP(ip)));
  return { id: '2.5.29.17', name: 'subjectAltName', value: a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, names) };
}

export interface CertOptions {
  cn: string;
  /** Issuing CA; none: self-signed. */
  issuer?: Issued;
  ca?: boolean;
  dns?: string[];
  ip?: string[];
  upn?: string;
  email?: string;
  eku?: ('serverAuth' | 'clientAuth')[];
  notBefore?: Date;
  notAfter?: Date;
  bits?: number;
}

/** Makes a certificate (a CA with `ca: true`). */
export function makeCert(o: CertOptions): Issued {
  const k = key(o.bits ?? 2048);
  const c = forge.pki.createCertificate();
  c.publicKey = k.pub;
  c.serialNumber = (0x1000 + serial++).toString(16);
  c.validity.notBefore = o.notBefore ?? new Date(Date.now() - DAY);
  c.validity.notAfter = o.notAfter ?? new Date(Date.now() + 365 * DAY);
  const subject = [{ name: 'commonName', value: o.cn }];
  c.setSubject(subject);
  c.setIssuer(o.issuer ? o.issuer.cert.subject.attributes : subject);
  const ext: object[] = [{ name: 'basicConstraints', cA: !!o.ca, critical: true }, { name: 'subjectKeyIdentifier' }];
  if (o.ca) ext.push({ name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true });
  else ext.push({ name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true });
  if (o.eku?.length) ext.push({ name: 'extKeyUsage', serverAuth: o.eku.includes('serverAuth'), clientAuth: o.eku.includes('clientAuth') });
  if (o.upn !== undefined || o.email !== undefined || o.dns || o.ip) ext.push(sanExtension(o));
  if (o.issuer) ext.push({ name: 'authorityKeyIdentifier', keyIdentifier: o.issuer.cert.generateSubjectKeyIdentifier().getBytes() });
  c.setExtensions(ext);
  c.sign(o.issuer ? o.issuer.key : k.priv, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(c), keyPem: k.keyPem, cert: c, key: k.priv };
}

/** A root CA and an intermediate under it. */
export function makeCaChain(name = 'Test'): { root: Issued; intermediate: Issued } {
  const root = makeCert({ cn: `${name} Root CA`, ca: true, notAfter: new Date(Date.now() + 3650 * DAY) });
  const intermediate = makeCert({ cn: `${name} Issuing CA`, ca: true, issuer: root, notAfter: new Date(Date.now() + 1825 * DAY) });
  return { root, intermediate };
}

/** Signs a CSR (PEM) with a CA, copying its requested extensions (SAN, EKU). */
export function signCsr(csrPem: string, ca: Issued, days = 365): string {
  const csr = forge.pki.certificationRequestFromPem(csrPem);
  const c = forge.pki.createCertificate();
  c.publicKey = csr.publicKey!;
  c.serialNumber = (0x1000 + serial++).toString(16);
  c.validity.notBefore = new Date(Date.now() - DAY);
  c.validity.notAfter = new Date(Date.now() + days * DAY);
  c.setSubject(csr.subject.attributes);
  c.setIssuer(ca.cert.subject.attributes);
  const req = (csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: object[] } | null)?.extensions ?? [];
  c.setExtensions([{ name: 'basicConstraints', cA: false }, ...req]);
  c.sign(ca.key, forge.md.sha256.create());
  return forge.pki.certificateToPem(c);
}
