/**
 * Portal Authentication in the CLI (System Manager: Security > Advanced > Portal Authentication),
 * configuration mode: how administrators sign in to System Manager.
 *
 *   portal-authentication password                          password sign-in on (no form: off)
 *   portal-authentication certificate card piv|cac [map-from upn|rfc822] [map-to USERID|EMAIL|EDIPI]
 *   portal-authentication certificate ca-chain              paste the issuing CA (chain), PEM
 *   portal-authentication certificate shutdown              certificate sign-in off (no form: on)
 *
 * Each edits the `portalAuth` section, checked by the one schema (password sign-in cannot go while
 * certificate sign-in is off, CAC maps to EDIPI, certificate sign-in needs the CA).
 */
import type { Config } from '../appliance/config/schema.ts';
import { CARD_TYPES, DEFAULT_PORTAL_AUTH, MAP_FROM, MAP_TO, type CertificateAuthConfig, type PortalAuthConfig } from '../appliance/portalauth/schema.ts';
import type { Args, Node } from './tree.ts';
import type { Session } from './session.ts';
import { pastePem } from './paste.ts';
import type { Handler } from './commands.ts';
import type { ConfigHelpers } from './update.ts';

type N = Node<Handler>;
const kw = (k: string, help: string, more: Partial<N> = {}): N => ({ kw: k, help, ...more });

const CARD_HELP: Record<(typeof CARD_TYPES)[number], string> = {
  piv: 'PIV: personal identity verification card',
  cac: 'CAC: common access card (maps to EDIPI)',
};
const FROM_HELP: Record<(typeof MAP_FROM)[number], string> = {
  upn: 'NT Principal Name (UPN) in the subject alternative name (default)',
  rfc822: 'RFC822 name (e-mail) in the subject alternative name',
};
const TO_HELP: Record<(typeof MAP_TO)[number], string> = {
  USERID: '$USERID$: the local user ID; DOMAIN\\userid and userid@domain both match (default for PIV)',
  EMAIL: '$EMAIL$: the local user\'s e-mail address',
  EDIPI: '$EDIPI$: the local user\'s EDIPI (required for CAC, its default)',
};

const CERT_REQUIRED = 'set the card first: portal-authentication certificate card piv|cac';

function section(c: Config): PortalAuthConfig {
  return (c.portalAuth ??= { ...DEFAULT_PORTAL_AUTH });
}

/**
 * The `card` line: the whole certificate mapping. A new one starts shut down (it needs the CA
 * pasted first); an existing one keeps its state, and the CA, which does not fit on a line, stays.
 */
function setCertificate(c: Config, a: Args, s: Session): void {
  const p = section(c);
  const before = p.certificate ?? s.batchBase?.portalAuth?.certificate;
  p.certificate = {
    enabled: p.certificate?.enabled ?? false,
    cardType: a.card as CertificateAuthConfig['cardType'],
    mapFrom: (a.from ?? 'upn') as CertificateAuthConfig['mapFrom'],
    // CAC cards identify users only by their EDIPI, so that is a CAC's default.
    mapTo: (a.to ?? (a.card === 'cac' ? 'EDIPI' : 'USERID')) as CertificateAuthConfig['mapTo'],
    caChain: before?.caChain ?? '',
  };
}

function certificate(h: ConfigHelpers, c: Config): CertificateAuthConfig {
  const x = c.portalAuth?.certificate;
  if (!x) h.refuse('/portalAuth/certificate', 'required', CERT_REQUIRED);
  return x;
}


/** The optional words after the card, in their order: each may be left out. */
function mappingTail(h: ConfigHelpers, from: number, fixed: Args): N[] {
  const run = (more: Args): Handler => h.change((c, a, s) => setCertificate(c, { ...a, ...fixed, ...more }, s));
  const out: N[] = [];
  if (from <= 0)
    out.push(kw('map-from', 'The certificate name that identifies the user', { children: MAP_FROM.map((f) => kw(f, FROM_HELP[f], { run: run({ from: f }), children: mappingTail(h, 1, { ...fixed, from: f }) })) }));
  if (from <= 1) out.push(kw('map-to', 'The local user field it must match', { children: MAP_TO.map((t) => kw(t, TO_HELP[t], { run: run({ to: t }) })) }));
  return out;
}

/** The `portal-authentication` configuration node. */
export function portalAuthConfig(h: ConfigHelpers): N {
  return kw('portal-authentication', 'Portal Authentication: how administrators sign in to System Manager', {
    no: h.change((c) => void delete c.portalAuth),
    children: [
      kw('password', 'Password sign-in (default on; it can be off only while certificate sign-in is on)', {
        run: h.change((c) => void (section(c).password = true)),
        no: h.change((c) => void (section(c).password = false)),
      }),
      kw('certificate', 'Certificate sign-in with PIV or CAC smart cards', {
        no: h.change((c) => void (c.portalAuth && delete c.portalAuth.certificate)),
        children: [
          kw('card', 'The smart card type and how its certificate maps to a local user', {
            children: CARD_TYPES.map((t) => kw(t, CARD_HELP[t], { run: h.change((c, a, s) => setCertificate(c, { ...a, card: t }, s)), children: mappingTail(h, 0, { card: t }) })),
          }),
          kw('ca-chain', 'The issuing CA certificate or chain (PEM) client certificates must chain to; asks for the PEM', {
            run: h.change(async (c, _a, s) => {
              const x = certificate(h, c);
              if (s.candidate !== null) h.refuse('/portalAuth/certificate/caChain', 'interactive', 'the CA certificate is pasted interactively, not loaded from a script');
              x.caChain = await pastePem(s, 'Paste the PEM certificate of the CA that issues the client certificates, or its chain.');
            }),
            no: h.change((c) => void (certificate(h, c).caChain = '')),
          }),
          kw('shutdown', 'Turn certificate sign-in off (the settings are kept)', {
            run: h.change((c) => void (certificate(h, c).enabled = false)),
            no: h.change((c) => void (certificate(h, c).enabled = true)),
          }),
        ],
      }),
    ],
  });
}
