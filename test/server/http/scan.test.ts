import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { errorOf, startHarness, T0_MS } from './harness.js';
import type { Harness } from './harness.js';

interface Entry {
  key: string;
  value?: string;
  keyEncoding?: string;
  valueEncoding?: string;
  expireAtMs?: number;
}
interface Page {
  entries: Entry[];
  next?: string;
}

describe('HTTP GET /v1/kv (scan)', () => {
  let h: Harness;
  const keys = Array.from({ length: 250 }, (_, i) => `item:${String(i).padStart(4, '0')}`);

  before(async () => {
    // A small write buffer so flushes and compactions have tables to work on.
    h = await startHarness({ limits: { scanLimitMax: 1000 }, engine: { writeBufferSize: 64 * 1024 } });
    const ops = keys.map((k) => ({ type: 'put', key: k, value: `value of ${k}` }));
    ops.push({ type: 'put', key: 'other:1', value: 'x' }, { type: 'put', key: 'zzz', value: 'last' });
    const r = await fetch(`${h.base}/v1/kv/batch`, { method: 'POST', body: JSON.stringify({ ops }), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200);
  });
  after(async () => {
    await h.close();
  });

  async function page(query: string): Promise<Page> {
    const r = await fetch(`${h.base}/v1/kv?${query}`);
    assert.equal(r.status, 200, `${query}: ${await r.clone().text()}`);
    return (await r.json()) as Page;
  }

  /** Follows `next` to the end; `between` runs after each page. */
  async function all(query: string, between?: (pageNo: number) => Promise<void>): Promise<{ keys: string[]; pages: number }> {
    const out: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const p = await page(cursor === undefined ? query : `${query}&after=${cursor}`);
      pages++;
      assert.ok(pages < 1000, 'the scan terminates');
      out.push(...p.entries.map((e) => e.key));
      if (p.next === undefined) return { keys: out, pages };
      cursor = p.next;
      if (between) await between(pages);
    }
  }

  test('forward paging sees every key exactly once, in order, with values', async () => {
    const first = await page('limit=7');
    assert.equal(first.entries.length, 7);
    assert.deepEqual(first.entries[0], { key: 'item:0000', value: 'value of item:0000' });
    assert.equal(typeof first.next, 'string');
    const { keys: got, pages } = await all('limit=7');
    assert.deepEqual(got, [...keys, 'other:1', 'zzz']);
    assert.equal(pages, Math.ceil(252 / 7));
  });

  test('reverse paging sees every key exactly once, in descending order', async () => {
    const { keys: got } = await all('limit=9&reverse=true');
    assert.deepEqual(got, [...keys, 'other:1', 'zzz'].reverse());
  });

  test('prefix, and start/end bounds (end exclusive), forward and reverse', async () => {
    assert.deepEqual((await all('prefix=item:&limit=50')).keys, keys);
    assert.deepEqual((await all('prefix=item%3A01&limit=4')).keys, keys.slice(100, 200));
    assert.deepEqual((await all('start=item:0010&end=item:0020&limit=3')).keys, keys.slice(10, 20));
    assert.deepEqual((await all('start=item:0010&end=item:0020&limit=3&reverse=1')).keys, keys.slice(10, 20).reverse());
    assert.deepEqual((await page('prefix=nothing')).entries, []);
    assert.equal((await page('prefix=nothing')).next, undefined);
  });

  test('the default page is 100 entries; limit above scanLimitMax is 400', async () => {
    assert.equal((await page('')).entries.length, 100);
    const r = await fetch(`${h.base}/v1/kv?limit=1001`);
    assert.equal(r.status, 400);
    assert.equal(errorOf(await r.json()).code, 'INVALID_ARGUMENT');
    for (const q of ['limit=0', 'reverse=maybe', 'encoding=hex', 'after=***', 'nope=1', 'limit=1&limit=2']) {
      const res = await fetch(`${h.base}/v1/kv?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(errorOf(await res.json()).code, 'INVALID_ARGUMENT', q);
    }
  });

  test('paging survives writes, a flush and a compaction between pages (the cursor is a key)', async () => {
    const added = ['item:0100a', 'item:0200a'];
    const { keys: got } = await all('prefix=item:&limit=20', async (n) => {
      if (n === 2) await h.service.flush();
      if (n === 4) {
        // Behind the cursor and ahead of it.
        await h.service.batch(added.map((k) => ({ type: 'put' as const, key: Buffer.from(k), value: Buffer.from('new') })));
        await h.service.delete([Buffer.from('item:0000'), Buffer.from('item:0249')]);
      }
      if (n === 6) await h.service.compact();
    });
    // Keys before the cursor when the writes landed were already seen (item:0000 included); later ones reflect the writes.
    const expected = [...keys.slice(0, 249), 'item:0100a', 'item:0200a'].sort();
    assert.deepEqual(got, expected);
    assert.equal(new Set(got).size, got.length, 'no key twice');
    await h.service.batch([
      { type: 'del', key: Buffer.from('item:0100a') },
      { type: 'del', key: Buffer.from('item:0200a') },
      { type: 'put', key: Buffer.from('item:0000'), value: Buffer.from('value of item:0000') },
      { type: 'put', key: Buffer.from('item:0249'), value: Buffer.from('value of item:0249') },
    ]);
  });

  test('keys_only leaves values out; expiring keys show expireAtMs and vanish when expired', async () => {
    const p = await page('prefix=item:&limit=2&keys_only=true');
    assert.deepEqual(p.entries, [{ key: 'item:0000' }, { key: 'item:0001' }]);
    assert.equal((await fetch(`${h.base}/v1/kv/ttl:a?ttl_ms=100`, { method: 'PUT', body: 'a' })).status, 200);
    assert.deepEqual((await page('prefix=ttl:')).entries, [{ key: 'ttl:a', value: 'a', expireAtMs: T0_MS + 100 }]);
    h.clock.advance(100);
    assert.deepEqual((await page('prefix=ttl:')).entries, []);
  });

  test('binary safety: non-UTF-8 keys and values come back as base64 and say so; encoding=base64 for everything', async () => {
    const bin = Buffer.from([0x62, 0x69, 0x6e, 0x00, 0xff]); // 'bin\0\xff' sorts before 'bin-text'
    const val = Buffer.from([0xc3, 0x28]);
    await h.service.set(bin, val);
    await h.service.set(Buffer.from('bin-text'), Buffer.from('plain'));
    const utf = await page('prefix=bin');
    assert.deepEqual(utf.entries, [
      { key: bin.toString('base64'), keyEncoding: 'base64', value: val.toString('base64'), valueEncoding: 'base64' },
      { key: 'bin-text', value: 'plain' },
    ]);
    const b64 = await page(`prefix=${encodeURIComponent(Buffer.from('bin').toString('base64'))}&encoding=base64`);
    assert.deepEqual(b64.entries, [
      { key: bin.toString('base64'), value: val.toString('base64') },
      { key: Buffer.from('bin-text').toString('base64'), value: Buffer.from('plain').toString('base64') },
    ]);
    // With utf8, query bytes may be percent-encoded bytes that are not UTF-8.
    const raw = await page('prefix=bin%00%FF');
    assert.deepEqual(raw.entries.map((e) => e.key), [bin.toString('base64')]);
    // base64url works for the bounds too.
    const url = await page(`start=${bin.toString('base64url')}&end=${Buffer.from('bin-text').toString('base64url')}&encoding=base64`);
    assert.deepEqual(url.entries.map((e) => Buffer.from(e.key, 'base64')), [bin]);
    await h.service.delete([bin, Buffer.from('bin-text')]);
  });

  test('a page is cut short at requestBytesMax bytes of keys and values, and next continues it', async () => {
    const small = await startHarness({ limits: { requestBytesMax: 1000 }, listen: false });
    try {
      for (let i = 0; i < 10; i++) await small.service.set(Buffer.from(`k${i}`), Buffer.alloc(300, 0x61));
      const seen: string[] = [];
      let after = '';
      for (let n = 0; n < 20; n++) {
        const r = await small.server.inject({ method: 'GET', url: `/v1/kv?limit=100${after}` });
        const p = r.json<Page>();
        assert.ok(p.entries.length <= 3, 'at most 1000 bytes (3 entries of 302) per page');
        seen.push(...p.entries.map((e) => e.key));
        if (p.next === undefined) break;
        after = `&after=${p.next}`;
      }
      assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => `k${i}`));
    } finally {
      await small.close();
    }
  });
});
