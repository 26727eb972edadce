import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { UpdateSchema, updateProblems, redactUpdate } from '../../appliance/update/schema.ts';
import { repositoryOptions } from '../../appliance/update/repository.ts';
import { makeSelfSigned } from '../../appliance/certs/webui.ts';

test('the update section: an https URL without credentials in it, user and password together', async () => {
  const ok = { repository: 'https://updates.example.com/keel/stable', username: 'core01', password: 'Repo-S3cret!' };
  assert.ok(Value.Check(UpdateSchema, ok));
  assert.deepEqual(updateProblems(ok), []);
  assert.ok(Value.Check(UpdateSchema, { repository: 'https://10.0.0.5:8443/' }));
  for (const repository of ['http://updates.example.com/', 'https://user:pw@updates.example.com/', 'ftp://x', 'https://a b/', ''])
    assert.ok(!Value.Check(UpdateSchema, { repository }), repository);
  assert.ok(!Value.Check(UpdateSchema, { repository: 'https://x/', username: 'a:b', password: 'p' }), 'no colon in a basic-auth user');
  assert.ok(!Value.Check(UpdateSchema, { repository: 'https://x/', extra: 1 }));
  assert.deepEqual(updateProblems({ repository: 'https://x/', username: 'u' }).map((p) => p.field), ['/update/password']);
  assert.deepEqual(updateProblems({ repository: 'https://x/', password: 'p' }).map((p) => p.field), ['/update/username']);
  assert.deepEqual(updateProblems({ repository: 'https://x/', caCertificate: 'junk' }).map((p) => p.rule), ['pem-certificate']);
  const ca = (await makeSelfSigned('ca.example.com')).certPem;
  assert.deepEqual(updateProblems({ repository: 'https://x/', caCertificate: ca }), []);
  assert.equal(updateProblems(undefined).length, 0);
  for (const [k, s] of Object.entries(UpdateSchema.properties)) assert.ok((s as { description?: string }).description, `${k} has a description`);
  assert.equal(redactUpdate(ok).password, '<redacted>');
  assert.equal(ok.password, 'Repo-S3cret!', 'the original is not changed');
  assert.deepEqual(repositoryOptions(ok), { url: ok.repository, username: 'core01', password: 'Repo-S3cret!', ca: undefined });
});
