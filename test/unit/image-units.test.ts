/**
 * The exposure of Keel's long-running and update units as `systemd-analyze security` scores them
 * offline: at most 3.0 for the network-facing keel-serve (unprivileged), 5.0 for the privileged
 * applier, the health monitor, the boot step and the update confirmation.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { SERVE_NODE_FLAGS } from '../../appliance/runtime.ts';

const UNITS = path.resolve(import.meta.dirname, '../../image/layer/etc/systemd/system');
const CEILING: Record<string, number> = { 'keel-serve.service': 3.0, 'keel-applier.service': 5.0, 'keel-monitor.service': 5.0, 'keel-boot.service': 5.0, 'keel-update-confirm.service': 5.0, 'keel-console@.service': 5.0 };
const offline = spawnSync('systemd-analyze', ['security', '--help'], { encoding: 'utf8' }).stdout?.includes('--offline');

test('unit sandboxing: systemd-analyze security --offline scores stay at or under their ceilings', async (t) => {
  if (!offline) return t.skip('systemd-analyze with --offline is not installed here');
  const scores: Record<string, number> = {};
  for (const [unit, max] of Object.entries(CEILING)) {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', path.join(UNITS, unit)], { encoding: 'utf8' });
    const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
    assert.ok(m, `no score for ${unit}: ${r.stdout}${r.stderr}`);
    scores[unit] = Number(m[1]);
    assert.ok(scores[unit] <= max, `${unit} scores ${scores[unit]}, more than ${max}`);
  }
  console.log(`exposure: ${JSON.stringify(scores)}`);
});

test('keel-serve runs as the keel user with no capability but binding its ports, and the secrets key as a credential', () => {
  const unit = fs.readFileSync(path.join(UNITS, 'keel-serve.service'), 'utf8');
  assert.match(unit, /^User=keel$/m);
  assert.match(unit, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
  assert.match(unit, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  assert.match(unit, /^NoNewPrivileges=yes$/m);
  assert.match(unit, /^LoadCredential=secrets-key:\/var\/lib\/keel\/secrets\.key$/m);
  assert.match(unit, /--applier-socket \/run\/keel\/applier\.sock --no-monitor/);
  const gen = fs.readFileSync(path.resolve(UNITS, '../../../usr/lib/systemd/system-generators/keel-generator'), 'utf8');
  for (const u of ['keel-applier.service', 'keel-serve.service', 'keel-monitor.service']) assert.ok(gen.includes(`want multi-user.target.wants ${u}`), u);
});

test('keel serve has the same V8 limits on the appliance (keel-serve.service) and in a sandbox (npm start)', () => {
  const flags = SERVE_NODE_FLAGS.join(' ');
  const unit = fs.readFileSync(path.join(UNITS, 'keel-serve.service'), 'utf8');
  assert.equal(/^Environment="NODE_OPTIONS=([^"]*)"$/m.exec(unit)?.[1], flags);
  const pkg = JSON.parse(fs.readFileSync(path.resolve(UNITS, '../../../../../package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(/\bnode (.*) bin\/main\.ts start$/.exec(pkg.scripts.start)?.[1], flags);
});

test('the update confirmation does not hold multi-user.target: it is wanted there but counts as started once it runs', () => {
  const unit = fs.readFileSync(path.join(UNITS, 'keel-update-confirm.service'), 'utf8');
  const gen = fs.readFileSync(path.resolve(UNITS, '../../../usr/lib/systemd/system-generators/keel-generator'), 'utf8');
  assert.ok(gen.includes('want multi-user.target.wants keel-update-confirm.service'));
  // A target is ordered after what it wants: a oneshot there would keep the boot waiting for its
  // answer (up to --timeout on a trial boot); Type=exec is started once its process runs.
  assert.equal(/^Type=(.*)$/m.exec(unit)?.[1], 'exec');
  assert.doesNotMatch(unit, /^(Before=.*multi-user\.target|RemainAfterExit=)/m);
  assert.match(unit, /^After=keel-boot\.service keel-serve\.service network-online\.target$/m);
  // Started only when keel boot's update check found work (both conditions must hold).
  assert.match(unit, /^ConditionPathExists=\/run\/keel-update-confirm$/m);
  assert.match(unit, /^ConditionPathExists=\/var\/lib\/keel\/configured$/m);
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/keel update confirm --timeout 600$/m);
});
