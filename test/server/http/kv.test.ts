import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { errorOf, startHarness, T0_MS } from './harness.js';
import type { Harness } from './harness.js';

describe('HTTP /v1/kv/<key>', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ limits: { keyBytesMax: 64, valueBytesMax: 1024, requestBytesMax: 4096 } });
  });
  after(async () => {
    await h.close();
  });

  const put = (path: string, body: Uint8Array | string, query = '', headers: Record<string, string> = {}) =>
    fetch(`${h.base}${path}${query}`, { method: 'PUT', body, headers });

  test('PUT then GET round-trips the bytes; DELETE reports 1 then 0', async () => {
    const r = await put(h.keyUrl('greeting'), 'hello world', '', { 'content-type': 'text/plain' });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ok: true });
    const g = await fetch(`${h.base}${h.keyUrl('greeting')}`);
    assert.equal(g.status, 200);
    assert.equal(g.headers.get('content-type'), 'application/octet-stream');
    assert.equal(g.headers.get('x-strata-expire-at-ms'), null);
    assert.equal(await g.text(), 'hello world');
    assert.deepEqual(await (await fetch(`${h.base}${h.keyUrl('greeting')}`, { method: 'DELETE' })).json(), { deleted: 1 });
    assert.deepEqual(await (await fetch(`${h.base}${h.keyUrl('greeting')}`, { method: 'DELETE' })).json(), { deleted: 0 });
    const gone = await fetch(`${h.base}${h.keyUrl('greeting')}`);
    assert.equal(gone.status, 404);
    assert.equal(errorOf(await gone.json()).code, 'NOT_FOUND');
  });

  test('binary keys and values are byte-exact (every byte value, %2F inside a key, + is a plus)', async () => {
    const key = Buffer.from([0x00, 0xff, 0x2f, 0x25, 0x2b, 0x3f, 0x23, 0x80, 0xc3]);
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.equal((await put(h.keyUrl(key), value, '', { 'content-type': 'application/json' })).status, 200);
    assert.deepEqual(await h.service.get(key), value, 'the service holds exactly the bytes sent, under the decoded key');
    const g = await fetch(`${h.base}${h.keyUrl(key)}`);
    assert.deepEqual(Buffer.from(await g.arrayBuffer()), value);

    // Unreserved characters may be written as they are or percent-encoded, in either case of hex.
    assert.equal((await put('/v1/kv/a+b%2fc/d', 'x')).status, 200);
    assert.deepEqual(await h.service.get(Buffer.from('a+b/c/d')), Buffer.from('x'));
    assert.equal(await (await fetch(`${h.base}/v1/kv/%61%2B%62%2Fc%2fd`)).text(), 'x');
    // A key that is also a route word is just a key.
    assert.equal((await put('/v1/kv/batch', 'not a batch')).status, 200);
    assert.equal(await (await fetch(`${h.base}/v1/kv/batch`)).text(), 'not a batch');
  });

  test('an empty body stores an empty value', async () => {
    assert.equal((await fetch(`${h.base}/v1/kv/empty`, { method: 'PUT' })).status, 200);
    const g = await fetch(`${h.base}/v1/kv/empty`);
    assert.equal(g.status, 200);
    assert.equal((await g.arrayBuffer()).byteLength, 0);
  });

  test('ttl_ms sets an expiry from the service clock; the key is gone once the clock passes it', async () => {
    const r = await put('/v1/kv/session', 'abc', '?ttl_ms=5000');
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ok: true, expireAtMs: T0_MS + 5000 });
    const g = await fetch(`${h.base}/v1/kv/session`);
    assert.equal(g.headers.get('x-strata-expire-at-ms'), String(T0_MS + 5000));
    assert.equal(await g.text(), 'abc');
    h.clock.advance(4999);
    assert.equal((await fetch(`${h.base}/v1/kv/session`)).status, 200);
    h.clock.advance(1);
    assert.equal((await fetch(`${h.base}/v1/kv/session`)).status, 404);

    const at = h.clock.nowMs() + 10_000;
    assert.equal((await put('/v1/kv/later', 'v', `?expire_at_ms=${at}`)).status, 200);
    assert.equal((await fetch(`${h.base}/v1/kv/later`)).headers.get('x-strata-expire-at-ms'), String(at));
    // A plain PUT clears the expiry.
    assert.equal((await put('/v1/kv/later', 'v2')).status, 200);
    assert.equal((await fetch(`${h.base}/v1/kv/later`)).headers.get('x-strata-expire-at-ms'), null);

    const both = await put('/v1/kv/x', 'v', `?ttl_ms=1&expire_at_ms=${at}`);
    assert.equal(both.status, 400);
    assert.equal(errorOf(await both.json()).code, 'INVALID_ARGUMENT');
    for (const bad of ['?ttl_ms=0', '?ttl_ms=-5', '?ttl_ms=1.5', '?ttl_ms=abc', '?expire_at_ms=']) {
      const res = await put('/v1/kv/x', 'v', bad);
      assert.equal(res.status, 400, bad);
      assert.equal(errorOf(await res.json()).code, 'INVALID_ARGUMENT', bad);
    }
  });

  test('if=absent and if=present act like NX/XX: 412 CONDITION_FAILED and nothing written when they fail', async () => {
    const absent1 = await put('/v1/kv/nx', 'first', '?if=absent');
    assert.equal(absent1.status, 200);
    const absent2 = await put('/v1/kv/nx', 'second', '?if=absent');
    assert.equal(absent2.status, 412);
    assert.equal(errorOf(await absent2.json()).code, 'CONDITION_FAILED');
    assert.equal(await (await fetch(`${h.base}/v1/kv/nx`)).text(), 'first');

    const present1 = await put('/v1/kv/xx', 'v', '?if=present');
    assert.equal(present1.status, 412);
    assert.equal(await h.service.get(Buffer.from('xx')), undefined);
    assert.equal((await put('/v1/kv/nx', 'third', '?if=present')).status, 200);
    assert.equal(await (await fetch(`${h.base}/v1/kv/nx`)).text(), 'third');

    // An expired key is absent for the condition.
    assert.equal((await put('/v1/kv/brief', 'v', '?ttl_ms=10')).status, 200);
    h.clock.advance(10);
    assert.equal((await put('/v1/kv/brief', 'w', '?if=present')).status, 412);
    assert.equal((await put('/v1/kv/brief', 'w', '?if=absent')).status, 200);

    const bad = await put('/v1/kv/nx', 'v', '?if=maybe');
    assert.equal(bad.status, 400);
  });

  test('keys and values over their limits are 413 LIMIT_EXCEEDED, the body limit too', async () => {
    const longKey = await put(h.keyUrl('k'.repeat(65)), 'v');
    assert.equal(longKey.status, 413);
    assert.equal(errorOf(await longKey.json()).code, 'LIMIT_EXCEEDED');
    assert.equal((await put(h.keyUrl('k'.repeat(64)), 'v')).status, 200);
    assert.equal((await fetch(`${h.base}${h.keyUrl('k'.repeat(65))}`)).status, 413);

    const bigValue = await put('/v1/kv/big', Buffer.alloc(1025));
    assert.equal(bigValue.status, 413);
    assert.equal(errorOf(await bigValue.json()).code, 'LIMIT_EXCEEDED');
    assert.equal((await put('/v1/kv/big', Buffer.alloc(1024))).status, 200);

    const bigBody = await put('/v1/kv/big', Buffer.alloc(5000));
    assert.equal(bigBody.status, 413);
    assert.equal(errorOf(await bigBody.json()).code, 'LIMIT_EXCEEDED');
    assert.equal((await h.service.get(Buffer.from('big')))?.length, 1024, 'the refused writes left the value alone');
  });

  test('bad requests are JSON errors with the mapped status', async () => {
    const cases: Array<[string, RequestInit, number, string]> = [
      ['/v1/kv/', {}, 400, 'INVALID_ARGUMENT'],
      ['/v1/kv/%zz', {}, 400, 'PROTOCOL'],
      ['/v1/kv/ab%', {}, 400, 'PROTOCOL'],
      ['/v1/kv/a?bogus=1', {}, 400, 'INVALID_ARGUMENT'],
      ['/v1/kv/a?%zz=1', {}, 400, 'PROTOCOL'],
      ['/v2/nothing', {}, 404, 'NOT_FOUND'],
      ['/v1/kv/a', { method: 'PATCH', body: 'x' }, 404, 'NOT_FOUND'],
      ['/v1/kv/batch', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } }, 400, 'PROTOCOL'],
      ['/v1/kv/batch', { method: 'POST', body: 'ops', headers: { 'content-type': 'text/plain' } }, 415, 'PROTOCOL'],
    ];
    for (const [path, init, status, code] of cases) {
      const r = await fetch(`${h.base}${path}`, init);
      assert.equal(r.status, status, `${init.method ?? 'GET'} ${path}`);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(errorOf(await r.json()).code, code, `${init.method ?? 'GET'} ${path}`);
    }
  });

  test('fastify.inject reaches the same routes (non-ASCII characters in a path are their UTF-8 bytes)', async () => {
    const r = await h.server.inject({ method: 'PUT', url: '/v1/kv/caf%C3%A9', payload: 'latte' });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(await h.service.get(Buffer.from('café')), Buffer.from('latte'));
    const g = await h.server.inject({ method: 'GET', url: '/v1/kv/café' });
    assert.equal(g.body, 'latte');
  });
});
