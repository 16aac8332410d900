// gRPC authentication and authorization: bearer tokens and basic
// credentials in `authorization` metadata, roles, and health without auth.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { hashPassword, newToken } from '../../../src/server/auth.js';
import { b, collect, startServer, statusOf } from './harness.js';
import type { Harness } from './harness.js';

const writer = newToken();
const reader = newToken();
const basic = (user: string, pass: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

let h: Harness;

before(async () => {
  h = await startServer({
    users: [
      { name: 'alice', passwordHash: hashPassword('alice-pw'), role: 'read-write', tokenHashes: [writer.tokenHash] },
      { name: 'bob', passwordHash: hashPassword('bob-pw'), role: 'read-only', tokenHashes: [reader.tokenHash] },
    ],
  });
});
after(async () => {
  await h.stop();
});

test('a KV call without credentials is UNAUTHENTICATED', async () => {
  const anon = h.client();
  for (const p of [anon.get({ key: b('a') }), anon.put({ key: b('a'), value: b('1') }), anon.delete({ keys: [b('a')] }), anon.batch({ ops: [{ del: { key: b('a') } }] })]) {
    assert.equal((await statusOf(p)).code, status.UNAUTHENTICATED);
  }
  assert.equal((await statusOf(anon.scanAll({}))).code, status.UNAUTHENTICATED);
});

test('wrong passwords, unknown tokens and unknown schemes are UNAUTHENTICATED', async () => {
  const c = h.client();
  const bad: Array<Record<string, string>> = [
    basic('alice', 'wrong'),
    basic('nobody', 'alice-pw'),
    { authorization: `Basic ${Buffer.from('alice').toString('base64')}` },
    bearer('not-a-token'),
    { authorization: 'Bearer' },
    { authorization: `Token ${writer.token}` },
  ];
  for (const md of bad) assert.equal((await statusOf(c.get({ key: b('a') }, md))).code, status.UNAUTHENTICATED, JSON.stringify(md));
});

test('bearer tokens and basic credentials both work for a read-write user', async () => {
  const byToken = h.client({ metadata: bearer(writer.token) });
  const byPassword = h.client({ metadata: basic('alice', 'alice-pw') });
  assert.deepEqual(await byToken.put({ key: b('auth/a'), value: b('from token') }), { written: true });
  assert.deepEqual((await byPassword.get({ key: b('auth/a') })).value, b('from token'));
  assert.deepEqual(await byPassword.put({ key: b('auth/b'), value: b('from password') }), { written: true });
  assert.deepEqual((await byToken.get({ key: b('auth/b') })).value, b('from password'));
  assert.deepEqual(await byToken.delete({ keys: [b('auth/b')] }), { deleted: 1 });
  await byPassword.batch({ ops: [{ put: { key: b('auth/c'), value: b('c') } }] });
  assert.deepEqual((await byToken.scanAll({ prefix: b('auth/') })).keys, ['auth/a', 'auth/c']);
});

test('a read-only user may read but every write is PERMISSION_DENIED', async () => {
  for (const md of [bearer(reader.token), basic('bob', 'bob-pw')]) {
    const ro = h.client({ metadata: md });
    assert.deepEqual((await ro.get({ key: b('auth/a') })).value, b('from token'));
    assert.deepEqual((await ro.scanAll({ prefix: b('auth/') })).keys, ['auth/a', 'auth/c']);
    assert.equal((await statusOf(ro.put({ key: b('auth/ro'), value: b('x') }))).code, status.PERMISSION_DENIED);
    assert.equal((await statusOf(ro.delete({ keys: [b('auth/a')] }))).code, status.PERMISSION_DENIED);
    assert.equal((await statusOf(ro.batch({ ops: [{ del: { key: b('auth/a') } }] }))).code, status.PERMISSION_DENIED);
  }
  assert.equal((await h.client({ metadata: bearer(writer.token) }).get({ key: b('auth/ro') })).found, false);
  assert.equal((await h.client({ metadata: bearer(writer.token) }).get({ key: b('auth/a') })).found, true);
});

test('refused calls are counted as auth rejections', async () => {
  const before = await h.metrics.sample('strata_rejected_total', { protocol: 'grpc', reason: 'auth' });
  await statusOf(h.client().get({ key: b('a') }));
  await statusOf(h.client({ metadata: bearer(reader.token) }).put({ key: b('a'), value: b('1') }));
  assert.equal(await h.metrics.sample('strata_rejected_total', { protocol: 'grpc', reason: 'auth' }), before + 2);
});

test('health Check and Watch need no credentials', async () => {
  const anon = h.client();
  assert.deepEqual(await anon.healthCheck(''), { status: 'SERVING' });
  const watch = anon.healthWatch('strata.v1.KV');
  const first = await new Promise((resolve, reject) => {
    watch.once('data', resolve);
    watch.once('error', reject);
  });
  assert.deepEqual(first, { status: 'SERVING' });
  const ended = collect(watch).catch((err: Error & { code: number }) => err.code);
  watch.cancel();
  assert.equal(await ended, status.CANCELLED);
});
