import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createHost } from '../../appliance/host/index.ts';
import { Store } from '../../appliance/config/store.ts';
import { Sessions, tokensEqual, IDLE_TIMEOUT_MS, ABSOLUTE_TIMEOUT_MS } from '../../webui/sessions.ts';
import { formatUptime } from '../../webui/pages.ts';
import { tempRoot } from '../helpers/config.ts';

test('sessions: random ids stored as digests, idle and absolute expiry, purge', (t) => {
  const root = tempRoot('keel-sessions-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const store = Store.open(createHost(root));
  t.onTestFinished(() => { store.close(); });
  let now = 1_000_000;
  const s = new Sessions(store.db, () => now);
  const a = s.create('admin', 'webui:192.0.2.5');
  const b = s.create('admin', 'webui:192.0.2.5');
  assert.notEqual(a.id, b.id);
  assert.notEqual(a.csrf, b.csrf);
  assert.equal(Buffer.from(a.id, 'base64url').length, 32);
  const ids = (store.db.prepare('SELECT id FROM sessions').all() as { id: string }[]).map((r) => r.id);
  assert.ok(!ids.includes(a.id) && !ids.includes(b.id), 'only digests stored');
  assert.equal(s.touch(a.id)?.username, 'admin');
  assert.equal(s.touch('nope'), null);
  assert.equal(s.touch(undefined), null);
  now += IDLE_TIMEOUT_MS;
  assert.equal(s.touch(a.id), null, 'idle');
  assert.equal(s.touch(b.id), null);
  const c = s.create('op', 'x');
  for (let i = 0; i < ABSOLUTE_TIMEOUT_MS / (IDLE_TIMEOUT_MS / 2); i++) {
    now += IDLE_TIMEOUT_MS / 2;
    if (i < ABSOLUTE_TIMEOUT_MS / (IDLE_TIMEOUT_MS / 2) - 1) assert.ok(s.touch(c.id), `alive at step ${i}`);
  }
  assert.equal(s.touch(c.id), null, 'absolute');
  const d = s.create('op', 'x');
  s.destroy(d.id);
  assert.equal(s.touch(d.id), null);
  s.create('gone', 'x');
  now += IDLE_TIMEOUT_MS;
  assert.equal(s.purge(), 1);
  assert.equal(s.destroyUser('nobody'), 0);
});

test('sessions kept in memory are refused at once when ended here or by another connection', async (t) => {
  const root = tempRoot('keel-sessions-');
  t.onTestFinished(() => { fs.rmSync(root, { recursive: true, force: true }); });
  const host = createHost(root);
  const store = Store.open(host);
  t.onTestFinished(() => { store.close(); });
  let now = 1_000_000;
  const s = new Sessions(store.db, () => now);
  const nextTurn = () => new Promise((r) => setImmediate(r));
  // Ended through this object: the cached row goes with it.
  const a = s.create('admin', 'x');
  assert.equal(s.touch(a.id)?.username, 'admin');
  s.destroy(a.id);
  assert.equal(s.touch(a.id), null, 'sign-out');
  const b = s.create('op', 'x');
  const b2 = s.create('op', 'x');
  assert.ok(s.touch(b.id) && s.touch(b2.id));
  assert.equal(s.destroyUser('op'), 2);
  assert.equal(s.touch(b.id), null, 'user deleted');
  assert.equal(s.touch(b2.id), null);
  // A renewed session's creation time (password change) is the cached one too.
  const c = s.create('admin', 'x');
  assert.equal(s.touch(c.id)?.createdAt, now);
  now += 5000;
  s.renew(c.id);
  assert.equal(s.touch(c.id)?.createdAt, now);
  // Idle expiry counts from the last recorded use, cached or not.
  now += IDLE_TIMEOUT_MS;
  assert.equal(s.touch(c.id), null, 'idle');
  // Ended by another connection (another process): refused from the next event-loop turn on.
  const d = s.create('admin', 'x');
  assert.ok(s.touch(d.id));
  await nextTurn();
  assert.ok(s.touch(d.id), 'cached');
  const other = Store.open(host);
  other.db.prepare('DELETE FROM sessions').run();
  other.close();
  await nextTurn();
  assert.equal(s.touch(d.id), null, 'deleted by another connection');
  // Changed behind its back on the same connection: seen from the next turn on too.
  const e = s.create('admin', 'x');
  assert.ok(s.touch(e.id));
  await nextTurn();
  store.db.prepare('UPDATE sessions SET seen_at = seen_at - ?').run(IDLE_TIMEOUT_MS);
  await nextTurn();
  assert.equal(s.touch(e.id), null, 'aged on the same connection');
});

test('tokensEqual is strict', () => {
  assert.equal(tokensEqual('abc', 'abc'), true);
  assert.equal(tokensEqual('abc', 'abd'), false);
  assert.equal(tokensEqual('abc', 'abcd'), false);
  assert.equal(tokensEqual('', ''), false);
  assert.equal(tokensEqual(undefined, 'abc'), false);
});

test('uptime reads like a person wrote it', () => {
  assert.equal(formatUptime(59), '0 min');
  assert.equal(formatUptime(3 * 3600 + 5 * 60), '3 h 5 min');
  assert.equal(formatUptime(86400 + 60), '1 day 0 h 1 min');
  assert.equal(formatUptime(3 * 86400), '3 days 0 h 0 min');
});
