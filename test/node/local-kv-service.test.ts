// The single-node KeyValueService: values, expiry (read-time and
// compaction-time), atomic read-modify-write, scans with cursors that
// survive compaction, counts, clear, and a fast-check model test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CODES, isStrataError } from '../../src/base/errors.js';
import { ManualClock } from '../../src/base/clock.js';
import { MemFs } from '../../src/base/mem-fs.js';
import { LocalKvService, formatFloat } from '../../src/node/index.js';

const b = (s: string) => Buffer.from(s);
const T0 = 1_700_000_000_000;

async function openService(clock = new ManualClock(T0), fs = new MemFs()) {
  const svc = await LocalKvService.open({ dir: '/db', fs, clock, engine: { writeBufferSize: 64 * 1024 } });
  return { svc, clock, fs };
}

test('set, get, getEntry, getMany and delete, binary safe', async () => {
  const { svc } = await openService();
  const key = Buffer.from([0, 255, 10, 13]);
  await svc.set(key, Buffer.from([1, 2, 0, 3]));
  assert.deepEqual(await svc.get(key), Buffer.from([1, 2, 0, 3]));
  assert.deepEqual(await svc.getEntry(key), { value: Buffer.from([1, 2, 0, 3]), expireAtMs: undefined });
  await svc.set(b('e'), b(''));
  assert.deepEqual(await svc.get(b('e')), b(''));
  assert.deepEqual(await svc.getMany([key, b('missing'), b('e')]), [Buffer.from([1, 2, 0, 3]), undefined, b('')]);
  assert.equal(await svc.delete([key, key, b('missing')]), 1);
  assert.equal(await svc.get(key), undefined);
  await svc.close();
});

test('conditions, previous values and KEEPTTL', async () => {
  const { svc, clock } = await openService();
  assert.deepEqual(await svc.set(b('k'), b('1'), { condition: 'xx' }), { written: false, previous: undefined });
  assert.deepEqual(await svc.set(b('k'), b('1'), { condition: 'nx' }), { written: true, previous: undefined });
  assert.deepEqual(await svc.set(b('k'), b('2'), { condition: 'nx', returnPrevious: true }), { written: false, previous: b('1') });
  assert.deepEqual(await svc.set(b('k'), b('3'), { returnPrevious: true, expireAtMs: T0 + 1000 }), { written: true, previous: b('1') });
  await svc.set(b('k'), b('4'), { keepTtl: true });
  assert.equal((await svc.getEntry(b('k')))?.expireAtMs, T0 + 1000);
  await svc.set(b('k'), b('5'));
  assert.equal((await svc.getEntry(b('k')))?.expireAtMs, undefined, 'a plain set clears the expiry');
  assert.equal(await svc.setMany([[b('a'), b('1')], [b('k'), b('x')]], { nx: true }), false);
  assert.equal(await svc.get(b('a')), undefined, 'MSETNX writes nothing when one key exists');
  assert.equal(await svc.setMany([[b('a'), b('1')], [b('b'), b('2')]], { nx: true }), true);
  assert.deepEqual(await svc.getMany([b('a'), b('b')]), [b('1'), b('2')]);
  await svc.close();
});

test('expired keys are absent at once for reads, conditions, scans and counts', async () => {
  const { svc, clock } = await openService();
  await svc.set(b('t'), b('v'), { expireAtMs: T0 + 100 });
  await svc.set(b('u'), b('v'));
  assert.equal(await svc.count(), 2);
  assert.deepEqual(await svc.keyspaceInfo(), { keys: 2, expires: 1, avgTtlMs: 100 });
  clock.advance(99);
  assert.deepEqual(await svc.get(b('t')), b('v'));
  clock.advance(1);
  assert.equal(await svc.get(b('t')), undefined);
  assert.equal(await svc.count(), 1);
  assert.deepEqual((await svc.scan({ limit: 10 })).entries.map((e) => e.key.toString()), ['u']);
  assert.deepEqual(await svc.set(b('t'), b('new'), { condition: 'nx' }), { written: true, previous: undefined });
  assert.equal(await svc.delete([b('missing')]), 0);
  // An expiry in the past deletes.
  await svc.set(b('p'), b('v'), { expireAtMs: T0 - 5 });
  assert.equal(await svc.get(b('p')), undefined);
  await svc.close();
});

test('expire, persist and getEx with NX/XX/GT/LT', async () => {
  const { svc, clock } = await openService();
  await svc.set(b('k'), b('v'));
  assert.deepEqual(await svc.update(b('k'), { kind: 'expire', expireAtMs: T0 + 50, condition: 'xx' }), { applied: false });
  assert.deepEqual(await svc.update(b('k'), { kind: 'expire', expireAtMs: T0 + 50, condition: 'nx' }), { applied: true });
  assert.deepEqual(await svc.update(b('k'), { kind: 'expire', expireAtMs: T0 + 40, condition: 'gt' }), { applied: false });
  assert.deepEqual(await svc.update(b('k'), { kind: 'expire', expireAtMs: T0 + 60, condition: 'gt' }), { applied: true });
  assert.deepEqual(await svc.update(b('k'), { kind: 'expire', expireAtMs: T0 + 70, condition: 'lt' }), { applied: false });
  assert.deepEqual(await svc.update(b('k'), { kind: 'persist' }), { applied: true });
  assert.deepEqual(await svc.update(b('k'), { kind: 'persist' }), { applied: false });
  assert.deepEqual(await svc.update(b('k'), { kind: 'expire', expireAtMs: T0 + 70, condition: 'lt' }), { applied: true }, 'no expiry counts as infinite for LT');
  assert.deepEqual(await svc.update(b('k'), { kind: 'getEx', persist: true }), { value: b('v') });
  assert.equal((await svc.getEntry(b('k')))?.expireAtMs, undefined);
  assert.deepEqual(await svc.update(b('k'), { kind: 'getEx', expireAtMs: T0 + 10 }), { value: b('v') });
  clock.advance(10);
  assert.equal(await svc.get(b('k')), undefined);
  assert.deepEqual(await svc.update(b('gone'), { kind: 'expire', expireAtMs: T0 + 99 }), { applied: false });
  await svc.set(b('d'), b('x'));
  assert.deepEqual(await svc.update(b('d'), { kind: 'expire', expireAtMs: 0 }), { applied: true });
  assert.equal(await svc.get(b('d')), undefined, 'an expiry not after now deletes');
  await svc.close();
});

test('integer, float, append and setRange mutations follow Redis rules', async () => {
  const { svc } = await openService();
  assert.deepEqual(await svc.update(b('n'), { kind: 'incrBy', by: 5n }), { integer: 5n });
  assert.deepEqual(await svc.update(b('n'), { kind: 'incrBy', by: -7n }), { integer: -2n });
  assert.deepEqual(await svc.get(b('n')), b('-2'));
  for (const bad of ['', ' 1', '01', '+1', '1.0', 'abc', '99999999999999999999']) {
    await svc.set(b('x'), b(bad));
    await assert.rejects(svc.update(b('x'), { kind: 'incrBy', by: 1n }), (e) => isStrataError(e, ERROR_CODES.NOT_INTEGER), bad);
  }
  await svc.set(b('max'), b('9223372036854775807'));
  await assert.rejects(svc.update(b('max'), { kind: 'incrBy', by: 1n }), (e) => isStrataError(e, ERROR_CODES.OVERFLOW));
  assert.deepEqual(await svc.get(b('max')), b('9223372036854775807'), 'a failed increment writes nothing');
  await svc.set(b('f'), b('10.50'));
  assert.deepEqual(await svc.update(b('f'), { kind: 'incrByFloat', by: 0.1 }), { value: b('10.6') });
  await svc.set(b('f2'), b('5.0e3'));
  assert.deepEqual(await svc.update(b('f2'), { kind: 'incrByFloat', by: 2e3 }), { value: b('7000') });
  await svc.set(b('nf'), b('nan'));
  await assert.rejects(svc.update(b('nf'), { kind: 'incrByFloat', by: 1 }), (e) => isStrataError(e, ERROR_CODES.NOT_FLOAT));
  assert.deepEqual(await svc.update(b('s'), { kind: 'append', data: b('Hello') }), { length: 5 });
  assert.deepEqual(await svc.update(b('s'), { kind: 'append', data: b(' World') }), { length: 11 });
  assert.deepEqual(await svc.update(b('s'), { kind: 'setRange', offset: 6, data: b('Redis') }), { length: 11 });
  assert.deepEqual(await svc.get(b('s')), b('Hello Redis'));
  assert.deepEqual(await svc.update(b('z'), { kind: 'setRange', offset: 3, data: b('ab') }), { length: 5 });
  assert.deepEqual(await svc.get(b('z')), Buffer.from([0, 0, 0, 97, 98]));
  assert.deepEqual(await svc.update(b('none'), { kind: 'setRange', offset: 3, data: b('') }), { length: 0 });
  assert.equal(await svc.get(b('none')), undefined, 'an empty SETRANGE never creates the key');
  await assert.rejects(svc.update(b('big'), { kind: 'setRange', offset: 512 * 1024 * 1024, data: b('x') }), (e) => isStrataError(e, ERROR_CODES.LIMIT_EXCEEDED));
  assert.deepEqual(await svc.update(b('s'), { kind: 'getDel' }), { value: b('Hello Redis') });
  assert.equal(await svc.get(b('s')), undefined);
  assert.equal(formatFloat(1e21), '1000000000000000000000');
  assert.equal(formatFloat(1.5e-7), '0.00000015');
  await svc.close();
});

test('read-modify-write is atomic under concurrency (no await between read and write)', async () => {
  const { svc } = await openService();
  const ops: Promise<unknown>[] = [];
  for (let i = 0; i < 500; i++) {
    ops.push(svc.update(b('c'), { kind: 'incrBy', by: 1n }));
    ops.push(svc.update(b('s'), { kind: 'append', data: b('x') }));
    if (i === 250) ops.push(svc.set(b('c'), b('1000')));
  }
  await Promise.all(ops);
  assert.deepEqual(await svc.get(b('c')), b(String(1000 + 249)));
  assert.equal((await svc.get(b('s')))?.length, 500);
  // Point calls see writes issued before them that have not resolved yet (pipelining relies on it).
  const setting = svc.set(b('fresh'), b('1'));
  const deleting = svc.delete([b('s')]);
  assert.deepEqual(await svc.getMany([b('fresh'), b('s')]), [b('1'), undefined]);
  await Promise.all([setting, deleting]);
  // NX among concurrent writers: exactly one wins.
  const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => svc.set(b('once'), b(String(i)), { condition: 'nx' })));
  assert.equal(wins.filter((w) => w.written).length, 1);
  await svc.close();
});

test('compaction removes expired keys from disk, without resurrecting older versions', async () => {
  const { svc, clock } = await openService();
  // An old version deep down, a newer expiring one above it.
  for (let i = 0; i < 200; i++) await svc.set(b(`k${String(i).padStart(4, '0')}`), Buffer.alloc(200, 1));
  await svc.flush();
  await svc.compact();
  for (let i = 0; i < 200; i++) await svc.set(b(`k${String(i).padStart(4, '0')}`), Buffer.alloc(200, 2), { expireAtMs: T0 + 1000 });
  await svc.set(b('keep'), b('v'));
  await svc.flush();
  clock.advance(1000);
  assert.equal(await svc.count(), 1);
  await svc.compact();
  // Nothing of the expired keys is left in the engine, old or new.
  const raw = svc.db.iterator().nextvSync(1000);
  assert.deepEqual(raw.map(([k]) => k.toString()), ['keep']);
  assert.ok(svc.info().engine.table_bytes! < 10_000, `table bytes ${svc.info().engine.table_bytes}`);
  await svc.close();
});

test('expiry survives a restart', async () => {
  const { svc, clock, fs } = await openService();
  await svc.set(b('t'), b('v'), { expireAtMs: T0 + 500 });
  await svc.set(b('p'), b('v'));
  await svc.close();
  const again = await LocalKvService.open({ dir: '/db', fs, clock });
  assert.equal((await again.getEntry(b('t')))?.expireAtMs, T0 + 500);
  clock.advance(500);
  assert.equal(await again.get(b('t')), undefined);
  assert.deepEqual(await again.get(b('p')), b('v'));
  await again.close();
});

test('scan pages: prefix, bounds, reverse; the cursor survives flush and compaction', async () => {
  const { svc } = await openService();
  const keys = Array.from({ length: 300 }, (_, i) => `user:${String(i).padStart(3, '0')}`);
  for (const k of keys) await svc.set(b(k), b(`v-${k}`));
  await svc.set(b('other'), b('x'));
  for (const reverse of [false, true]) {
    const seen: string[] = [];
    let after: Buffer | undefined;
    let pages = 0;
    do {
      const page = await svc.scan({ prefix: b('user:'), limit: 37, reverse, ...(after ? { after } : {}) });
      for (const e of page.entries) {
        seen.push(e.key.toString());
        assert.equal(e.value.toString(), `v-${e.key.toString()}`);
      }
      after = page.nextAfter;
      if (pages === 2) await svc.flush();
      if (pages === 4) await svc.compact();
      pages++;
    } while (after !== undefined);
    assert.deepEqual(seen, reverse ? [...keys].reverse() : keys);
  }
  const bounded = await svc.scan({ start: b('user:010'), end: b('user:015'), limit: 100, keysOnly: true });
  assert.deepEqual(bounded.entries.map((e) => e.key.toString()), keys.slice(10, 15));
  assert.equal(bounded.entries[0]!.value.length, 0);
  assert.equal(bounded.nextAfter, undefined);
  const exact = await svc.scan({ prefix: b('user:'), limit: 300 });
  assert.equal(exact.nextAfter, undefined, 'a page ending exactly at the end says so');
  await assert.rejects(svc.scan({ limit: 0 }), (e) => isStrataError(e, ERROR_CODES.INVALID_ARGUMENT));
  await svc.close();
});

test('clear deletes every live key and counts them', async () => {
  const { svc, clock } = await openService();
  for (let i = 0; i < 2500; i++) await svc.set(b(`k${i}`), b('v'));
  await svc.set(b('t'), b('v'), { expireAtMs: T0 + 1 });
  clock.advance(1);
  assert.equal(await svc.clear(), 2500);
  assert.equal(await svc.count(), 0);
  await svc.close();
});

test('model: random operations against a Map with expiry (fast-check)', async () => {
  type Op =
    | { t: 'set'; k: number; v: number; ttl: number | null; cond: 'nx' | 'xx' | null }
    | { t: 'del'; k: number }
    | { t: 'incr'; k: number; by: number }
    | { t: 'append'; k: number; v: number }
    | { t: 'expire'; k: number; ttl: number }
    | { t: 'persist'; k: number }
    | { t: 'tick'; ms: number }
    | { t: 'flush' }
    | { t: 'compact' };
  const key = fc.integer({ min: 0, max: 7 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ t: fc.constant('set' as const), k: key, v: fc.integer({ min: 0, max: 99 }), ttl: fc.option(fc.integer({ min: 1, max: 50 })), cond: fc.constantFrom('nx' as const, 'xx' as const, null) }),
    fc.record({ t: fc.constant('del' as const), k: key }),
    fc.record({ t: fc.constant('incr' as const), k: key, by: fc.integer({ min: -5, max: 5 }) }),
    fc.record({ t: fc.constant('append' as const), k: key, v: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ t: fc.constant('expire' as const), k: key, ttl: fc.integer({ min: 0, max: 50 }) }),
    fc.record({ t: fc.constant('persist' as const), k: key }),
    fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 30 }) }),
    fc.constant({ t: 'flush' as const }),
    fc.constant({ t: 'compact' as const }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
      const { svc, clock } = await openService();
      const model = new Map<number, { v: string; at: number | undefined }>();
      const live = (k: number) => {
        const e = model.get(k);
        if (e && e.at !== undefined && e.at <= clock.nowMs()) {
          model.delete(k);
          return undefined;
        }
        return e;
      };
      try {
        for (const o of ops) {
          const kb = b(`key${'k' in o ? o.k : ''}`);
          switch (o.t) {
            case 'set': {
              const cur = live(o.k);
              const at = o.ttl === null ? undefined : clock.nowMs() + o.ttl;
              const r = await svc.set(kb, b(String(o.v)), { ...(at !== undefined ? { expireAtMs: at } : {}), ...(o.cond ? { condition: o.cond } : {}) });
              const should = o.cond === null || (o.cond === 'nx') === (cur === undefined);
              assert.equal(r.written, should);
              if (should) model.set(o.k, { v: String(o.v), at });
              break;
            }
            case 'del':
              assert.equal(await svc.delete([kb]), live(o.k) ? 1 : 0);
              model.delete(o.k);
              break;
            case 'incr': {
              const cur = live(o.k);
              const isInt = cur === undefined || /^-?(0|[1-9][0-9]*)$/.test(cur.v);
              if (!isInt) {
                await assert.rejects(svc.update(kb, { kind: 'incrBy', by: BigInt(o.by) }));
              } else {
                const next = String(BigInt(cur?.v ?? '0') + BigInt(o.by));
                assert.deepEqual(await svc.update(kb, { kind: 'incrBy', by: BigInt(o.by) }), { integer: BigInt(next) });
                model.set(o.k, { v: next, at: cur?.at });
              }
              break;
            }
            case 'append': {
              const cur = live(o.k);
              const next = (cur?.v ?? '') + String(o.v);
              assert.deepEqual(await svc.update(kb, { kind: 'append', data: b(String(o.v)) }), { length: next.length });
              model.set(o.k, { v: next, at: cur?.at });
              break;
            }
            case 'expire': {
              const cur = live(o.k);
              const at = clock.nowMs() + o.ttl;
              assert.deepEqual(await svc.update(kb, { kind: 'expire', expireAtMs: at }), { applied: cur !== undefined });
              if (cur) {
                if (o.ttl === 0) model.delete(o.k);
                else cur.at = at;
              }
              break;
            }
            case 'persist': {
              const cur = live(o.k);
              assert.deepEqual(await svc.update(kb, { kind: 'persist' }), { applied: cur?.at !== undefined });
              if (cur) cur.at = undefined;
              break;
            }
            case 'tick':
              clock.advance(o.ms);
              break;
            case 'flush':
              await svc.flush();
              break;
            case 'compact':
              await svc.compact();
              break;
          }
        }
        for (let k = 0; k < 8; k++) {
          const e = live(k);
          const got = await svc.getEntry(b(`key${k}`));
          assert.deepEqual(got === undefined ? undefined : { v: got.value.toString(), at: got.expireAtMs }, e === undefined ? undefined : { v: e.v, at: e.at }, `key${k}`);
        }
        const expected = [...Array(8).keys()].filter((k) => live(k) !== undefined).map((k) => `key${k}`);
        assert.deepEqual((await svc.scan({ limit: 100 })).entries.map((e) => e.key.toString()), expected);
        assert.equal(await svc.count(), expected.length);
      } finally {
        await svc.close();
      }
    }),
    { numRuns: Number(process.env.STRATA_MODEL_RUNS ?? 60), seed: Number(process.env.STRATA_SEED ?? 42) },
  );
});

test('a server data directory and an embedded one are never opened with the wrong value layout', async () => {
  const { DB, open } = await import('../../src/engine/db.js');
  const fs = new MemFs();
  const svc = await LocalKvService.open({ dir: '/server', fs });
  await svc.set(b('k'), b('v'));
  await svc.close();
  assert.equal(DB.storesExpiringValues('/server', fs), true);
  await assert.rejects(open('/server', { fs }), (e) => isStrataError(e, ERROR_CODES.INVALID_ARGUMENT) && /stores expiring values/.test(e.message));
  const raw = await open('/server', { fs, expiringValues: true });
  assert.equal(raw.getSync('k')?.[0], 0x00, 'the stored value carries its header');
  await raw.close();
  const embedded = await open('/embedded', { fs });
  await embedded.put('k', 'v');
  await embedded.close();
  assert.equal(DB.storesExpiringValues('/embedded', fs), false);
  await assert.rejects(LocalKvService.open({ dir: '/embedded', fs }), (e) => isStrataError(e, ERROR_CODES.INVALID_ARGUMENT) && /stores plain values/.test(e.message));
  // A damaged marker is reported, not guessed at.
  const f = fs.createWritable('/server/VALUE-FORMAT');
  f.append(Buffer.from('expiring-v9\n'));
  await f.sync();
  f.close();
  await assert.rejects(LocalKvService.open({ dir: '/server', fs }), (e) => isStrataError(e, ERROR_CODES.CORRUPTION));
});
