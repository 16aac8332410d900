import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, newToken } from '../../../src/server/auth.js';
import { errorOf, startHarness } from './harness.js';
import type { Harness } from './harness.js';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('HTTP authentication and roles', () => {
  let h: Harness;
  const writerToken = newToken();
  const readerToken = newToken();
  const writerPass = 'correct horse';
  const readerPass = 'battery staple';

  before(async () => {
    h = await startHarness({
      users: [
        { name: 'writer', passwordHash: hashPassword(writerPass), role: 'read-write', tokenHashes: [writerToken.tokenHash] },
        { name: 'reader', passwordHash: hashPassword(readerPass), role: 'read-only', tokenHashes: [readerToken.tokenHash] },
      ],
    });
  });
  after(async () => {
    await h.close();
  });

  const req = (path: string, authorization?: string, init: RequestInit = {}) =>
    fetch(`${h.base}${path}`, { ...init, headers: authorization === undefined ? {} : { authorization } });

  test('without credentials every route but /health is 401 UNAUTHENTICATED with a WWW-Authenticate challenge', async () => {
    assert.equal((await req('/health')).status, 200);
    for (const [path, method] of [['/v1/kv/k', 'GET'], ['/v1/kv/k', 'PUT'], ['/v1/kv/k', 'DELETE'], ['/v1/kv', 'GET'], ['/v1/kv/batch', 'POST'], ['/metrics', 'GET'], ['/openapi.json', 'GET'], ['/no/such/route', 'GET']] as const) {
      const r = await req(path, undefined, { method, ...(method === 'PUT' || method === 'POST' ? { body: '{}' } : {}) });
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.match(r.headers.get('www-authenticate') ?? '', /Basic realm="strata"/);
      assert.equal(errorOf(await r.json()).code, 'UNAUTHENTICATED');
    }
    assert.equal(await h.service.get(Buffer.from('k')), undefined, 'the unauthenticated PUT wrote nothing');
  });

  test('wrong, malformed or unknown-scheme credentials are 401 too', async () => {
    for (const auth of [basic('writer', 'wrong'), basic('nobody', writerPass), 'Basic !!!', 'Basic ' + Buffer.from('no-colon').toString('base64'), 'Bearer not-a-token', 'Bearer', 'Digest abc', '']) {
      const r = await req('/v1/kv/k', auth);
      assert.equal(r.status, 401, JSON.stringify(auth));
      assert.equal(errorOf(await r.json()).code, 'UNAUTHENTICATED');
      assert.ok(r.headers.get('www-authenticate'));
    }
  });

  test('a read-write user may read and write with Basic or Bearer credentials', async () => {
    assert.equal((await req('/v1/kv/k', basic('writer', writerPass), { method: 'PUT', body: 'v1' })).status, 200);
    assert.equal(await (await req('/v1/kv/k', `Bearer ${writerToken.token}`)).text(), 'v1');
    assert.equal((await req('/v1/kv/k', `bearer ${writerToken.token}`, { method: 'PUT', body: 'v2' })).status, 200);
    const b = await fetch(`${h.base}/v1/kv/batch`, { method: 'POST', body: JSON.stringify({ ops: [{ type: 'put', key: 'k2', value: 'x' }] }), headers: { authorization: `Bearer ${writerToken.token}`, 'content-type': 'application/json' } });
    assert.equal(b.status, 200);
    assert.equal((await req('/metrics', basic('writer', writerPass))).status, 200);
  });

  test('a read-only user may read but gets 403 PERMISSION_DENIED on PUT, DELETE and batch', async () => {
    assert.equal(await (await req('/v1/kv/k', basic('reader', readerPass))).text(), 'v2');
    assert.equal((await req('/v1/kv?limit=5', `Bearer ${readerToken.token}`)).status, 200);
    assert.equal((await req('/metrics', `Bearer ${readerToken.token}`)).status, 200);
    assert.equal((await req('/openapi.json', `Bearer ${readerToken.token}`)).status, 200);
    for (const [path, method] of [['/v1/kv/k', 'PUT'], ['/v1/kv/k', 'DELETE'], ['/v1/kv/batch', 'POST']] as const) {
      for (const auth of [basic('reader', readerPass), `Bearer ${readerToken.token}`]) {
        const r = await req(path, auth, { method, ...(method === 'DELETE' ? {} : { body: JSON.stringify({ ops: [{ type: 'del', key: 'k' }] }) }) });
        assert.equal(r.status, 403, `${method} ${path}`);
        assert.equal(errorOf(await r.json()).code, 'PERMISSION_DENIED');
      }
    }
    assert.equal(await (await req('/v1/kv/k', basic('reader', readerPass))).text(), 'v2', 'nothing was written or deleted');
    const m = await (await req('/metrics', basic('writer', writerPass))).text();
    assert.match(m, /^strata_rejected_total\{protocol="http",reason="auth"\} [1-9]/m);
  });
});
