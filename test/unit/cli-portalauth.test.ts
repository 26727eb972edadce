/**
 * `portal-authentication ...` in configuration mode: password sign-in, certificate sign-in (card,
 * mapping, a pasted CA chain, shutdown), refusals by the one schema naming the field and rule,
 * `?` help, and the show running-config round trip (the CA named by a comment and kept).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { toScript } from '../../appliance/config/script.ts';
import type { Config } from '../../appliance/config/schema.ts';
import { scriptToConfig } from '../../cli/script.ts';
import { rootsFor } from '../../cli/commands.ts';
import { complete, parse } from '../../cli/parse.ts';
import { cliSession, configured } from '../helpers/cli.ts';
import { makeCert } from '../helpers/pki.ts';

process.env.KEEL_LOG = 'silent';

const pa = (c: Awaited<ReturnType<typeof cliSession>>) => c.store.running()!.config.portalAuth;
const pem = (cn: string): string => makeCert({ cn, ca: true }).certPem.trim().split(/\r?\n/).join('\n') + '\n';

test('certificate sign-in: card and mapping, pasted CA chain, shutdown; password sign-in off and on', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.equal(await c.run('portal-authentication certificate card piv'), '');
  assert.deepEqual(pa(c), { password: true, certificate: { enabled: false, cardType: 'piv', mapFrom: 'upn', mapTo: 'USERID', caChain: '' } }, 'a new mapping starts shut down');
  assert.match(await c.run('no portal-authentication certificate shutdown'), /% Invalid portal-authentication certificate ca-chain \(required\): upload the issuing CA/);
  const root = pem('Smart Card Root CA');
  const chain = root + pem('Smart Card Issuing CA');
  c.answers.push(...chain.trim().split('\n'), '');
  assert.match(await c.run('portal-authentication certificate ca-chain'), /^Paste the PEM certificate of the CA that issues the client certificates, or its chain\./);
  assert.equal(pa(c)!.certificate!.caChain, chain, 'the whole chain is kept');
  assert.equal(await c.run('no portal-authentication certificate shutdown'), '');
  assert.equal(pa(c)!.certificate!.enabled, true);
  assert.equal(await c.run('portal-authentication certificate card cac map-from rfc822 map-to EDIPI'), '');
  assert.deepEqual(pa(c)!.certificate, { enabled: true, cardType: 'cac', mapFrom: 'rfc822', mapTo: 'EDIPI', caChain: chain }, 'state and CA stay');
  assert.equal(await c.run('portal-authentication certificate card piv map-to EMAIL'), '');
  assert.deepEqual([pa(c)!.certificate!.mapFrom, pa(c)!.certificate!.mapTo], ['upn', 'EMAIL']);
  assert.equal(await c.run('no portal-authentication password'), '');
  assert.equal(pa(c)!.password, false);
  assert.match(
    await c.run('do show running-config | include portal-authentication'),
    /^portal-authentication certificate card piv map-from upn map-to EMAIL\n! portal-authentication certificate ca-chain sha256 [0-9a-f]{16} \(paste a new one with: portal-authentication certificate ca-chain\)\nno portal-authentication certificate shutdown\nno portal-authentication password\n$/,
  );
  assert.match(c.store.revisions()[0].diff, /\+no portal-authentication password/);
  assert.equal(await c.run('portal-authentication password'), '');
  assert.equal(pa(c)!.password, true);
  assert.equal(await c.run('portal-authentication certificate shutdown'), '');
  assert.equal(pa(c)!.certificate!.enabled, false);
  assert.equal(await c.run('no portal-authentication certificate ca-chain'), '');
  assert.equal(pa(c)!.certificate!.caChain, '');
  assert.equal(await c.run('no portal-authentication certificate'), '');
  assert.deepEqual(pa(c), { password: true });
  assert.equal(await c.run('do show running-config | include portal-authentication'), 'portal-authentication password\n');
  assert.equal(await c.run('no portal-authentication'), '');
  assert.equal(pa(c), undefined);
  assert.doesNotMatch(await c.run('do show running-config'), /portal-authentication/);
});

test('portal-authentication refusals come from the one schema, name the field and rule, and change nothing', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.match(await c.run('no portal-authentication password'), /^% Invalid portal-authentication password \(way-in\): password sign-in cannot be turned off while certificate sign-in is off.*\n% Nothing was changed\.\n$/);
  assert.match(await c.run('portal-authentication certificate shutdown'), /% Invalid portal-authentication certificate \(required\): set the card first/);
  assert.match(await c.run('portal-authentication certificate ca-chain'), /% Invalid portal-authentication certificate \(required\)/);
  assert.match(await c.run('no portal-authentication certificate ca-chain'), /% Invalid portal-authentication certificate \(required\)/);
  assert.equal(pa(c), undefined);
  assert.match(await c.run('portal-authentication certificate card cac map-to USERID'), /% Invalid portal-authentication certificate map-to \(cac-edipi\): CAC cards identify users by their EDIPI/);
  assert.match(await c.run('portal-authentication certificate card cac map-from upn map-to EMAIL'), /% Invalid portal-authentication certificate map-to \(cac-edipi\)/);
  assert.match(await c.run('portal-authentication certificate card smart'), /% Invalid input/);
  assert.equal(pa(c), undefined);
  assert.equal(await c.run('portal-authentication certificate card cac'), '', 'a CAC maps to EDIPI unless told otherwise');
  assert.equal(pa(c)!.certificate!.mapTo, 'EDIPI');
  await c.run('portal-authentication certificate card piv');
  c.answers.push(...pem('Only CA').trim().split('\n'), '');
  await c.run('portal-authentication certificate ca-chain', 'no portal-authentication certificate shutdown', 'no portal-authentication password');
  const rev = c.store.running()!.revision;
  assert.match(await c.run('no portal-authentication certificate'), /% Invalid portal-authentication password \(way-in\)/, 'certificate sign-in is the only way in');
  assert.match(await c.run('portal-authentication certificate shutdown'), /% Invalid portal-authentication password \(way-in\)/);
  assert.match(await c.run('no portal-authentication certificate ca-chain'), /% Invalid portal-authentication certificate ca-chain \(required\)/);
  assert.equal(c.store.running()!.revision, rev, 'nothing applied');
  const op = await cliSession(t, { role: 'operator' });
  op.s.mode = 'config';
  assert.match(await op.run('no portal-authentication'), /% Permission denied/);
});

test('portal-authentication help and completion come from the tree', async (t) => {
  const c = await cliSession(t);
  await c.run('configure terminal');
  assert.match(await c.run('portal-authentication ?'), /certificate +Certificate sign-in with PIV or CAC smart cards\n +password +Password sign-in/);
  assert.match(await c.run('portal-authentication certificate card ?'), /cac +CAC: common access card[\s\S]*piv +PIV/);
  assert.match(await c.run('portal-authentication certificate card piv ?'), /map-from[\s\S]*map-to[\s\S]*<cr>/);
  assert.match(await c.run('portal-authentication certificate card piv map-from upn ?'), /map-to[\s\S]*<cr>/);
  assert.doesNotMatch(await c.run('portal-authentication certificate card piv map-from upn ?'), /map-from/);
  const roots = rootsFor('config');
  assert.deepEqual(complete(roots, 'portal-authentication certificate ').words, ['ca-chain', 'card', 'shutdown']);
  assert.deepEqual(complete(roots, 'no portal-authentication certificate ').words, ['ca-chain', 'shutdown']);
  assert.ok(parse(roots, 'portal-auth cert card piv').ok, 'a unique prefix works');
});

/** Every portal-authentication field set: CAC with a chain, certificate sign-in the only way in. */
function richPortalAuth(): Config {
  const c = configured();
  c.portalAuth = { password: false, certificate: { enabled: true, cardType: 'cac', mapFrom: 'rfc822', mapTo: 'EDIPI', caChain: pem('Round Trip Root') + pem('Round Trip Issuing') } };
  return c;
}

test('round trip: the portal-authentication lines of show running-config load back to the same section', async (t) => {
  const { host, store } = await cliSession(t);
  const rich = richPortalAuth();
  const script = toScript(rich);
  const mine = script.filter((l) => /portal-authentication/.test(l));
  assert.deepEqual(mine.map((l) => l.replace(/sha256 [0-9a-f]{16}/, 'sha256 X')), [
    'portal-authentication certificate card cac map-from rfc822 map-to EDIPI',
    '! portal-authentication certificate ca-chain sha256 X (paste a new one with: portal-authentication certificate ca-chain)',
    'no portal-authentication certificate shutdown',
    'no portal-authentication password',
  ]);
  for (const line of mine.filter((l) => !l.startsWith('!'))) assert.ok(parse(rootsFor('config'), line).ok, line);
  const r = await scriptToConfig(host, store, script, rich);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config!.portalAuth, rich.portalAuth);
  assert.deepEqual(toScript(r.config!), script);
  // Over a configuration without the CA, it cannot be made up: enabled certificate sign-in is refused.
  const bare = await scriptToConfig(host, store, script, configured());
  assert.equal(bare.config, null);
  assert.match(bare.errors.join('\n'), /% Invalid portal-authentication certificate ca-chain \(required\)/);
  // The defaults written out ({ password: true }) come back as they were.
  const plain = configured();
  plain.portalAuth = { password: true };
  const p = await scriptToConfig(host, store, toScript(plain), configured());
  assert.deepEqual(p.config!.portalAuth, { password: true });
  // A script without the lines leaves no section (the script is the whole configuration).
  const none = await scriptToConfig(host, store, toScript(configured()), rich);
  assert.deepEqual(none.errors, []);
  assert.equal(none.config!.portalAuth, undefined);
});
