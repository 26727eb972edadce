import { test, expect } from 'vitest';
import { cliSession } from '../helpers/cli.ts';
import { toScript } from '../../appliance/config/script.ts';
import { scriptToConfig } from '../../cli/script.ts';
import { makeCert } from '../helpers/pki.ts';

process.env.KEEL_LOG ??= 'silent';

test('connectivity endpoints in configuration mode: added, refined, shown, refused by the schema, removed', async (t) => {
  const { run, store, answers, host } = await cliSession(t);
  const out = await run(
    'configure terminal',
    'connectivity endpoint cloud host api.cloud.example.net port 443 protocol https',
    'connectivity endpoint cloud via-proxy',
    'connectivity endpoint cloud path /health',
    'connectivity endpoint cloud expected-issuer DigiCert Global G2 TLS RSA SHA256 2020 CA1',
    'connectivity endpoint ldaps host dc1.example.com port 636 protocol tls',
    'connectivity interval 30',
  );
  expect(out.trim()).toBe('Enter configuration commands, one per line.  End with CNTL/Z.');
  const c = store.running()!.config;
  expect(c.connectivity).toEqual({
    intervalMinutes: 30,
    endpoints: [
      { name: 'cloud', host: 'api.cloud.example.net', port: 443, protocol: 'https', viaProxy: true, path: '/health', expectedIssuer: 'DigiCert Global G2 TLS RSA SHA256 2020 CA1' },
      { name: 'ldaps', host: 'dc1.example.com', port: 636, protocol: 'tls', viaProxy: false },
    ],
  });
  // Changing host/port/protocol keeps the attributes set by their own lines.
  await run('connectivity endpoint cloud host api2.cloud.example.net port 8443 protocol https');
  expect(store.running()!.config.connectivity!.endpoints[0]).toMatchObject({ host: 'api2.cloud.example.net', port: 8443, viaProxy: true, path: '/health' });

  // The schema's rules, in the CLI's words.
  expect(await run('connectivity endpoint raw host 192.0.2.7 port 22 protocol tcp', 'connectivity endpoint raw expected-issuer Some CA')).toContain(
    '% Invalid connectivity endpoint raw expected-issuer (tls-only): an expected issuer needs the tls or https protocol',
  );
  expect(await run('connectivity endpoint smtp host mail.example.com port 25 protocol tcp')).toContain('% Invalid connectivity endpoint smtp name (reserved)');
  expect(await run('connectivity endpoint nosuch via-proxy')).toContain('there is no endpoint nosuch');

  // A CA pasted for one endpoint; the script names it, loading the script keeps it.
  const ca = makeCert({ cn: 'Directory CA', ca: true, bits: 1024 });
  answers.push(...ca.certPem.trim().split('\n'), '');
  await run('connectivity endpoint ldaps ca-certificate');
  const now = store.running()!.config;
  expect(now.connectivity!.endpoints.find((e) => e.name === 'ldaps')!.caCertificate).toContain('BEGIN CERTIFICATE');
  const script = toScript(now);
  expect(script.filter((l) => /connectivity/.test(l))).toEqual([
    'connectivity interval 30',
    'connectivity endpoint cloud host api2.cloud.example.net port 8443 protocol https',
    'connectivity endpoint cloud via-proxy',
    'connectivity endpoint cloud path /health',
    'connectivity endpoint cloud expected-issuer DigiCert Global G2 TLS RSA SHA256 2020 CA1',
    'connectivity endpoint ldaps host dc1.example.com port 636 protocol tls',
    expect.stringMatching(/^! connectivity endpoint ldaps ca-certificate sha256 [0-9a-f]{16} \(paste a new one with: connectivity endpoint ldaps ca-certificate\)$/),
    'connectivity endpoint raw host 192.0.2.7 port 22 protocol tcp',
  ]);
  const back = await scriptToConfig(host, store, script, now);
  expect(back.errors).toEqual([]);
  expect(back.config!.connectivity).toEqual(now.connectivity);

  // show connectivity lists every endpoint, derived first, none checked yet (nothing is dialled by showing).
  const shown = await run('end', 'show connectivity');
  expect(shown).toMatch(/^dns-1 +192\.0\.2\.53:53 +dns +- +not checked yet$/m);
  expect(shown).toMatch(/^cloud +api2\.cloud\.example\.net:8443 \(proxy\) +https +- +not checked yet$/m);
  expect((await run('test connectivity nosuch')).trim()).toBe('% there is no endpoint nosuch (endpoints: dns-1, ntp-1, cloud, ldaps, raw)');

  await run('configure terminal', 'no connectivity endpoint raw');
  expect(store.running()!.config.connectivity!.endpoints.map((e) => e.name)).toEqual(['cloud', 'ldaps']);
});
