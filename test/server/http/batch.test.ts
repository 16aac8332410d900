import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { errorOf, startHarness, T0_MS } from './harness.js';
import type { Harness } from './harness.js';

describe('HTTP POST /v1/kv/batch', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ limits: { keyBytesMax: 32, valueBytesMax: 100, requestBytesMax: 8192 } });
  });
  after(async () => {
    await h.close();
  });

  const batch = (doc: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(`${h.base}/v1/kv/batch`, { method: 'POST', body: typeof doc === 'string' ? doc : JSON.stringify(doc), headers });
  const get = async (key: string | Buffer) => (await h.service.get(typeof key === 'string' ? Buffer.from(key) : key))?.toString('utf8');

  test('puts and deletes apply together; ttlMs and expireAtMs set expiry; per-op and per-document encodings', async () => {
    await h.service.set(Buffer.from('doomed'), Buffer.from('x'));
    const r = await batch({
      ops: [
        { type: 'put', key: 'a', value: 'alpha' },
        { type: 'put', key: 'b', value: 'beta', ttlMs: 1000 },
        { type: 'put', key: 'c', value: 'gamma', expireAtMs: T0_MS + 5000 },
        { type: 'put', key: Buffer.from([0xff, 0x01]).toString('base64'), keyEncoding: 'base64', value: '/w==', valueEncoding: 'base64' },
        { type: 'del', key: 'doomed' },
      ],
    });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ok: true, ops: 5 });
    assert.equal(await get('a'), 'alpha');
    assert.equal(await get('doomed'), undefined);
    assert.deepEqual(await h.service.get(Buffer.from([0xff, 0x01])), Buffer.from([0xff]));
    assert.equal((await h.service.getEntry(Buffer.from('b')))?.expireAtMs, T0_MS + 1000);
    assert.equal((await h.service.getEntry(Buffer.from('c')))?.expireAtMs, T0_MS + 5000);

    const b64 = await batch({ encoding: 'base64', ops: [{ type: 'put', key: Buffer.from('d').toString('base64'), value: Buffer.from('delta').toString('base64') }] });
    assert.equal(b64.status, 200);
    assert.equal(await get('d'), 'delta');
    // A document without Content-Type is accepted as JSON (fetch sends none for bytes); +json types too.
    const untyped = await fetch(`${h.base}/v1/kv/batch`, { method: 'POST', body: Buffer.from(JSON.stringify({ ops: [{ type: 'del', key: 'd' }] })) });
    assert.equal(untyped.status, 200);
    assert.equal(await get('d'), undefined);
    assert.equal((await batch({ ops: [] }, { 'content-type': 'application/merge-patch+json; charset=utf-8' })).status, 200);
  });

  test('one invalid op rejects the whole batch with 400 naming the op index, and nothing is applied', async () => {
    const invalid: Array<[unknown, RegExp]> = [
      [{ type: 'put', key: 'x' }, /ops\[2\]\.value/],
      [{ type: 'upsert', key: 'x', value: 'v' }, /ops\[2\]\.type/],
      [{ type: 'put', key: 7, value: 'v' }, /ops\[2\]\.key/],
      [{ type: 'put', key: '', value: 'v' }, /ops\[2\]\.key/],
      [{ type: 'del', key: 'x', value: 'v' }, /ops\[2\]\.value/],
      [{ type: 'put', key: 'x', value: 'v', ttlMs: 0 }, /ops\[2\]\.ttlMs/],
      [{ type: 'put', key: 'x', value: 'v', ttlMs: 1, expireAtMs: 5 }, /ops\[2\]/],
      [{ type: 'put', key: 'x', value: 'v', extra: 1 }, /ops\[2\].*extra/],
      [{ type: 'put', key: '***', keyEncoding: 'base64', value: 'v' }, /ops\[2\]\.key/],
      [{ type: 'put', key: 'x', value: 'v', valueEncoding: 'hex' }, /ops\[2\]\.valueEncoding/],
      ['put x', /ops\[2\]/],
    ];
    for (const [bad, message] of invalid) {
      const r = await batch({ ops: [{ type: 'put', key: 'p1', value: '1' }, { type: 'del', key: 'a' }, bad] });
      assert.equal(r.status, 400, JSON.stringify(bad));
      const err = errorOf(await r.json());
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, message);
      assert.equal(await get('p1'), undefined, 'the valid op before the bad one was not applied');
      assert.equal(await get('a'), 'alpha', 'the delete before the bad one was not applied');
    }
    for (const doc of [[], {}, { ops: {} }, { ops: [], encoding: 'hex' }, { ops: [], more: true }, 'null']) {
      const r = await batch(doc);
      assert.equal(r.status, 400, JSON.stringify(doc));
      assert.equal(errorOf(await r.json()).code, 'INVALID_ARGUMENT');
    }
    for (const text of ['{"ops":[', '', 'ops=1']) {
      const r = await batch(text);
      assert.equal(r.status, 400, text);
      assert.equal(errorOf(await r.json()).code, 'PROTOCOL');
    }
  });

  test('keys, values and bodies over their limits are 413 and nothing is applied', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ops: [{ type: 'put', key: 'ok', value: 'v' }, { type: 'put', key: 'k'.repeat(33), value: 'v' }] }, /ops\[1\]\.key/],
      [{ ops: [{ type: 'put', key: 'ok', value: 'v' }, { type: 'put', key: 'k', value: 'v'.repeat(101) }] }, /ops\[1\]\.value/],
      [{ ops: [{ type: 'put', key: 'ok', value: 'v'.repeat(9000) }] }, /./],
    ];
    for (const [doc, message] of cases) {
      const r = await batch(doc);
      assert.equal(r.status, 413);
      const err = errorOf(await r.json());
      assert.equal(err.code, 'LIMIT_EXCEEDED');
      assert.match(err.message, message);
      assert.equal(await get('ok'), undefined);
    }
    // Exactly at the limits is fine.
    assert.equal((await batch({ ops: [{ type: 'put', key: 'k'.repeat(32), value: 'v'.repeat(100) }] })).status, 200);
  });
});
