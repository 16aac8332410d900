// The time-series store: writes, reads across head/chunks/cold tier,
// rollups that stay exact under late points and deletes, the planner,
// retention, crash recovery and the series index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, MemFs, SeededRandom, isStrataError } from '../../src/base/index.js';
import { LocalDirObjectStore, TimeSeriesStore } from '../../src/tsdb/index.js';
import type { TsPoint, TsQuery, TsStoreOptions } from '../../src/tsdb/index.js';
import { TAG, rollupKey, timeOfKey, windowKey } from '../../src/tsdb/keys.js';
import { encodeBucket } from '../../src/tsdb/rollup.js';
import { decodeDayHours, isDayRecord } from '../../src/tsdb/rollup-day.js';

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.UTC(2024, 0, 1);

async function openStore(extra: Partial<TsStoreOptions> = {}, fs = new MemFs(), clock = new ManualClock(T0 + 400 * D)) {
  const store = await TimeSeriesStore.open({
    dir: '/ts',
    fs,
    clock,
    maintenanceIntervalMs: 0,
    objectStore: new LocalDirObjectStore('/cold', fs),
    ...extra,
  });
  return { store, fs, clock };
}

const pt = (host: string, timeMs: number, fields: TsPoint['fields'], measurement = 'cpu'): TsPoint => ({ measurement, tags: [['host', host]], fields, timeMs });
const f = (name: string, value: number): TsPoint['fields'][number] => ({ name, type: 'float', value });

test('raw round trip: every type, nanos, out-of-order points and overwrites at one timestamp', async () => {
  const { store } = await openStore();
  await store.write([
    { measurement: 'm', tags: [['dev', 'a']], fields: [f('temp', 21.5), { name: 'n', type: 'integer', value: -3 }, { name: 'ok', type: 'boolean', value: true }, { name: 'msg', type: 'string', value: 'héllo' }], timeMs: T0 + 2000, nanos: 123456 },
    { measurement: 'm', tags: [['dev', 'a']], fields: [f('temp', -0)], timeMs: T0 + 1000 },
    { measurement: 'm', tags: [['dev', 'a']], fields: [f('temp', NaN)], timeMs: T0 + 3000 },
  ]);
  // Overwrite one field at T0+2000; the other fields of that row stay.
  await store.write([{ measurement: 'm', tags: [['dev', 'a']], fields: [f('temp', 22.25)], timeMs: T0 + 2000, nanos: 123456 }]);
  const check = async () => {
    const r = await store.query({ measurement: 'm', fromMs: T0, toMs: T0 + 10_000 });
    const by = Object.fromEntries(r.series.map((s) => [s.field, s]));
    assert.deepEqual(by.temp!.times, [T0 + 1000, T0 + 2000, T0 + 3000]);
    assert.ok(Object.is(by.temp!.values[0], -0));
    assert.equal(by.temp!.values[1], 22.25);
    assert.ok(Number.isNaN(by.temp!.values[2]));
    assert.deepEqual(by.temp!.nanos, [0, 123456, 0]);
    assert.deepEqual(by.n!.values, [-3]);
    assert.equal(by.n!.type, 'integer');
    assert.deepEqual(by.ok!.values, [true]);
    assert.deepEqual(by.msg!.values, ['héllo']);
  };
  await check(); // from the head
  await store.flush();
  assert.equal(store.stats().headPoints, 0);
  await check(); // from sealed chunks
  await store.close();
});

test('a field keeps its type: a conflicting write is rejected whole with SCHEMA_CONFLICT', async () => {
  const { store } = await openStore();
  await store.write([pt('a', T0, [f('v', 1)])]);
  await assert.rejects(
    store.write([pt('b', T0, [f('v', 2)]), pt('a', T0 + 1, [{ name: 'v', type: 'integer', value: 3 }])]),
    (e: unknown) => isStrataError(e, 'SCHEMA_CONFLICT') && /point 1: field "v" of measurement "cpu" is float, not integer/.test((e as Error).message),
  );
  // Nothing of the rejected request was written: host b does not exist.
  assert.equal((await store.series('cpu', [])).length, 1);
  await store.close();
});

test('points far in the future or older than retention allows are rejected', async () => {
  const { store, clock } = await openStore();
  const now = clock.nowMs();
  await assert.rejects(store.write([pt('a', now + 2 * D, [f('v', 1)])]), (e: unknown) => isStrataError(e, 'INVALID_ARGUMENT') && /future/.test((e as Error).message));
  await store.setRetention('cpu', { raw: 7 * D });
  await assert.rejects(store.write([pt('a', now - 8 * D, [f('v', 1)])]), /older than the accepted window/);
  await store.write([pt('a', now - 6 * D, [f('v', 1)])]);
  await store.close();
});

test('acknowledged writes survive a crash: the head log is replayed', async () => {
  const { store, fs } = await openStore({ syncWrites: true });
  await store.write([pt('a', T0, [f('v', 1)]), pt('a', T0 + 1000, [f('v', 2)])]);
  await store.flush(); // sealed
  await store.write([pt('a', T0 + 500, [f('v', 1.5)]), pt('b', T0, [f('v', 9)])]); // late point + new series, in the head only
  const image = fs.crashImage(); // power loss now: only synced bytes survive
  await store.close();
  const { store: again } = await openStore({}, image);
  const r = await again.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + H });
  const by = Object.fromEntries(r.series.map((s) => [s.tags.host, s]));
  assert.deepEqual(by.a!.times, [T0, T0 + 500, T0 + 1000]);
  assert.deepEqual(by.a!.values, [1, 1.5, 2]);
  assert.deepEqual(by.b!.values, [9]);
  // Replaying the log again after a seal changes nothing.
  await again.flush();
  await again.close();
  const { store: third } = await openStore({}, image);
  assert.deepEqual((await third.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + H, matchers: [{ tag: 'host', op: '=', value: 'a' }] })).series[0]!.values, [1, 1.5, 2]);
  await third.close();
});

/** A seeded month of data for 3 hosts, points every 7 minutes with jitter. */
function month(seed: number): TsPoint[] {
  const rnd = new SeededRandom(seed);
  const out: TsPoint[] = [];
  for (const host of ['a', 'b', 'c']) {
    let v = 50;
    for (let t = T0 - 3 * D; t < T0 + 33 * D; t += 7 * 60_000 + rnd.int(0, 30_000)) {
      v = Math.max(0, Math.min(100, v + (rnd.int(0, 1000) / 1000 - 0.5) * 4));
      out.push(pt(host, t, [f('usage', Math.round(v * 100) / 100), { name: 'n', type: 'integer', value: rnd.int(0, 1000) }]));
    }
  }
  return out;
}

function assertSameAggregates(a: Awaited<ReturnType<TimeSeriesStore['query']>>, b: Awaited<ReturnType<TimeSeriesStore['query']>>, fn: string) {
  assert.equal(a.series.length, b.series.length);
  for (let i = 0; i < a.series.length; i++) {
    const x = a.series[i]!;
    const y = b.series[i]!;
    assert.deepEqual(x.tags, y.tags);
    assert.deepEqual(x.times, y.times, `${fn} ${x.field} bucket times`);
    for (let j = 0; j < x.values.length; j++) {
      const u = x.values[j] as number;
      const v = y.values[j] as number;
      if (fn === 'sum' || fn === 'avg') assert.ok(Math.abs(u - v) <= 1e-9 * Math.max(1, Math.abs(u)), `${fn} ${x.field}[${j}]: ${u} vs ${v}`);
      else assert.equal(u, v, `${fn} ${x.field}[${j}]`);
    }
  }
}

test('rollups answer exactly what raw data answers, for every function, interval and level', async () => {
  const { store } = await openStore();
  await store.write(month(7));
  await store.flush();
  const cases: Array<Pick<TsQuery, 'fromMs' | 'toMs'> & { every?: TsQuery['aggregate'] extends infer A ? (A extends { every?: infer E } ? E : never) : never; groupBy?: string[] }> = [
    { fromMs: T0 - 2 * D - 5 * 60_000, toMs: T0 + 31 * D + 17 * 60_000, every: { ms: D } },
    { fromMs: T0, toMs: T0 + 30 * D, every: { ms: H } },
    { fromMs: T0 - 3 * D, toMs: T0 + 40 * D, every: { months: 1 }, groupBy: [] },
    { fromMs: T0 + 3 * H + 11, toMs: T0 + 20 * D - 7 },
    { fromMs: T0 - 3 * D, toMs: T0 + 40 * D, every: { ms: 6 * H }, groupBy: ['host'] },
  ];
  for (const c of cases) {
    for (const fn of ['count', 'sum', 'min', 'max', 'avg', 'first', 'last'] as const) {
      const q: TsQuery = { measurement: 'cpu', fromMs: c.fromMs, toMs: c.toMs, aggregate: { fn, ...(c.every ? { every: c.every } : {}) }, ...(c.groupBy ? { groupBy: c.groupBy } : {}) };
      const auto = await store.query(q);
      const raw = await store.query({ ...q, level: 'raw' });
      assert.ok(auto.plan.segments.some((s) => s.level !== 'raw'), `rollups used for ${JSON.stringify(c)}`);
      assert.ok(raw.plan.segments.every((s) => s.level === 'raw'));
      assertSameAggregates(auto, raw, fn);
    }
  }
  await store.close();
});

test('late points, overwrites and deletes correct every rollup level they touch', async () => {
  const { store } = await openStore();
  await store.write(month(11));
  await store.flush();
  const year = { measurement: 'cpu', fromMs: Date.UTC(2024, 0, 1), toMs: Date.UTC(2025, 0, 1) };
  // A late point with a new maximum, an overwrite lowering an existing value, then a delete.
  await store.write([pt('a', T0 + 5 * D + 123, [f('usage', 1000)])]);
  const some = (await store.query({ ...year, matchers: [{ tag: 'host', op: '=', value: 'b' }], fields: ['usage'], limit: 100 })).series[0]!;
  await store.write([pt('b', some.times[50]!, [f('usage', -1000)])]);
  await store.flush();
  const deleted = await store.deleteRange('cpu', [{ tag: 'host', op: '=', value: 'c' }], T0 + 10 * D, T0 + 12 * D);
  assert.ok(deleted > 300, `deleted ${deleted}`);
  for (const level of ['1h', '1d', '1M', '1y'] as const) {
    for (const fn of ['count', 'sum', 'min', 'max', 'first', 'last'] as const) {
      const every = level === '1y' ? { months: 12 } : level === '1M' ? { months: 1 } : { ms: level === '1d' ? D : H };
      const q: TsQuery = { ...year, aggregate: { fn, every }, level };
      const rolled = await store.query(q);
      assert.ok(rolled.plan.segments.some((s) => s.level === level));
      assertSameAggregates(rolled, await store.query({ ...q, level: 'raw' }), fn);
    }
  }
  const max = await store.query({ ...year, aggregate: { fn: 'max', every: { months: 12 } }, level: '1y', matchers: [{ tag: 'host', op: '=', value: 'a' }], fields: ['usage'] });
  assert.equal(max.series[0]!.values[0], 1000);
  const min = await store.query({ ...year, aggregate: { fn: 'min' }, level: '1y', matchers: [{ tag: 'host', op: '=', value: 'b' }], fields: ['usage'] });
  assert.equal(min.series[0]!.values[0], -1000);
  const gap = await store.query({ measurement: 'cpu', fromMs: T0 + 10 * D, toMs: T0 + 12 * D, matchers: [{ tag: 'host', op: '=', value: 'c' }] });
  assert.equal(gap.series.length, 0);
  await store.close();
});

test('1h rollups: a day being filled keeps one record per hour, a whole day is one day record; per-hour records of older stores are read and folded in', async () => {
  const { store } = await openStore();
  const points = (from: number, to: number) => {
    const pts: TsPoint[] = [];
    for (let t = from; t < to; t += 600_000) pts.push(pt('a', t, [f('usage', ((t / 600_000) % 97) / 4)]));
    return pts;
  };
  // Three whole days of one host, every 10 minutes, and the first 10 hours of a fourth.
  await store.write(points(T0, T0 + 3 * D + 10 * H));
  await store.flush();
  const hourly = { measurement: 'cpu', fromMs: T0, toMs: T0 + 4 * D, aggregate: { fn: 'max' as const, every: { ms: H } }, level: '1h' as const };
  const before = await store.query(hourly);
  const level1 = async () => (await store.db.scanRange(rollupKey(1, 1, T0 - D), rollupKey(1, 1, T0 + 5 * D))).map(([k, v]) => [timeOfKey(k, TAG.rollup), v] as const);
  const inDay = (keys: ReadonlyArray<readonly [number, Buffer]>, day: number) => keys.filter(([t]) => t >= T0 + day * D && t < T0 + (day + 1) * D);
  let keys = await level1();
  for (const day of [0, 1, 2]) {
    assert.equal(inDay(keys, day).length, 1, `day ${day}`);
    assert.ok(isDayRecord(inDay(keys, day)[0]![1]));
  }
  assert.equal(inDay(keys, 3).length, 10);
  assert.ok(inDay(keys, 3).every(([, v]) => !isDayRecord(v)));
  // Rewrite the whole days as an older version left them: one single-bucket record per hour.
  const old = store.db.batch();
  for (const [t, v] of keys) if (isDayRecord(v)) for (const [h, fields] of decodeDayHours(v, t)) old.put(rollupKey(1, 1, h), encodeBucket(fields, h));
  await store.db.write(old);
  assert.equal((await level1()).length, 82);
  assert.deepEqual(await store.query(hourly), before);
  // A late point in the last hour of day 1 folds that day; one in the middle of day 2 keeps its hours.
  await store.write([pt('a', T0 + D + 23 * H + 1, [f('usage', 99)]), pt('a', T0 + 2 * D + 5 * H + 1, [f('usage', 98)])]);
  await store.flush();
  keys = await level1();
  assert.deepEqual(inDay(keys, 1).map(([t, v]) => [t, isDayRecord(v)]), [[T0 + D, true]]);
  assert.equal(inDay(keys, 0).length, 24);
  assert.equal(inDay(keys, 2).length, 24);
  // The rest of day 3: it becomes one day record.
  await store.write(points(T0 + 3 * D + 10 * H, T0 + 4 * D));
  await store.flush();
  keys = await level1();
  assert.deepEqual(inDay(keys, 3).map(([t, v]) => [t, isDayRecord(v)]), [[T0 + 3 * D, true]]);
  const again = await store.query(hourly);
  assert.equal(again.series[0]!.values[24 + 23], 99);
  assert.equal(again.series[0]!.values[48 + 5], 98);
  assertSameAggregates(again, await store.query({ ...hourly, level: 'raw' }), 'max');
  await store.close();
});

test('a day that stops before its last hour is folded into a day record once it is over', async () => {
  // A sensor that reports in working hours only: 08:00–18:00.
  const clock = new ManualClock(T0 + 18 * H);
  const { store } = await openStore({}, new MemFs(), clock);
  const pts: TsPoint[] = [];
  for (let t = T0 + 8 * H; t < T0 + 18 * H; t += 600_000) pts.push(pt('a', t, [f('usage', (t / 600_000) % 13)]));
  await store.write(pts);
  await store.flush();
  const level1 = async () => (await store.db.scanRange(rollupKey(1, 1, T0 - D), rollupKey(1, 1, T0 + 2 * D))).map(([k, v]) => [timeOfKey(k, TAG.rollup), isDayRecord(v)] as const);
  assert.equal((await level1()).length, 10);
  // Still the same day (and the day after, within the seal delay): nothing folds.
  clock.advance(T0 + D + 5 * 60_000 - clock.nowMs());
  await store.maintain();
  assert.equal((await level1()).length, 10);
  const hourly = { measurement: 'cpu', fromMs: T0, toMs: T0 + D, aggregate: { fn: 'sum' as const, every: { ms: H } }, level: '1h' as const };
  const before = await store.query(hourly);
  // Over, but a late point of that day waits in the head: no fold until it is sealed.
  await store.write([pt('a', T0 + 12 * H + 1, [f('usage', 5)])]);
  clock.advance(T0 + D + 11 * 60_000 - clock.nowMs());
  await store.maintain();
  assert.equal((await level1()).length, 10);
  // The series idle, its point sealed: the day is one day record, answering what raw data answers.
  clock.advance(20 * 60_000);
  await store.maintain();
  assert.deepEqual(await level1(), [[T0, true]]);
  const after = await store.query(hourly);
  assert.notDeepEqual(after, before);
  assertSameAggregates(after, await store.query({ ...hourly, level: 'raw' }), 'sum');
  await store.close();
});

test('a store keeps the chunk window it was created with: reopened without one it uses it, with another it refuses', async () => {
  const fs = new MemFs();
  const { store } = await openStore({ chunkWindowMs: 4 * H }, fs);
  const pts: TsPoint[] = [];
  for (let t = T0; t < T0 + 12 * H; t += 600_000) pts.push(pt('a', t, [f('usage', t / 1e9)]));
  await store.write(pts);
  await store.flush();
  await store.close();
  const again = (await openStore({}, fs)).store;
  const windows = (await again.db.scanRange(windowKey(TAG.chunk, 1, T0 - D), windowKey(TAG.chunk, 1, T0 + D))).map(([k]) => timeOfKey(k, TAG.chunk));
  assert.deepEqual(windows, [T0, T0 + 4 * H, T0 + 8 * H]);
  // A late point lands in the 4 h window it belongs to, not a 2 h one.
  await again.write([pt('a', T0 + 6 * H + 7, [f('usage', 1)])]);
  await again.flush();
  const after = (await again.db.scanRange(windowKey(TAG.chunk, 1, T0 - D), windowKey(TAG.chunk, 1, T0 + D))).map(([k]) => timeOfKey(k, TAG.chunk));
  assert.deepEqual(after, windows);
  const all = await again.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + D, fields: ['usage'] });
  assert.equal(all.series[0]!.times.length, pts.length + 1);
  await again.close();
  await assert.rejects(openStore({ chunkWindowMs: 2 * H }, fs), (e: unknown) => isStrataError(e, 'INVALID_ARGUMENT') && /created with 14400000 ms/.test(String(e)));
  // The same window again is fine.
  await (await openStore({ chunkWindowMs: 4 * H }, fs)).store.close();
});

test('the planner reads the coarsest exact level, raw at unaligned edges and where the head holds points', async () => {
  const { store } = await openStore();
  await store.write(month(3));
  await store.flush();
  const plan = await store.explain({ measurement: 'cpu', fromMs: T0 - 2 * D + 5 * H + 30_000, toMs: T0 + 31 * D, aggregate: { fn: 'avg', every: { ms: D } } });
  assert.deepEqual(
    plan.segments.map((s) => s.level),
    ['raw', '1h', '1d'],
  );
  assert.equal(plan.segments[0]!.toMs, T0 - 2 * D + 6 * H);
  assert.equal(plan.segments[2]!.fromMs, T0 - D);
  // A month-aligned range by month reads months; percentiles need raw data.
  assert.deepEqual((await store.explain({ measurement: 'cpu', fromMs: T0, toMs: Date.UTC(2024, 1, 1), aggregate: { fn: 'max', every: { months: 1 } } })).segments.map((s) => s.level), ['1M']);
  const p = await store.explain({ measurement: 'cpu', fromMs: T0, toMs: T0 + 10 * D, aggregate: { fn: 'percentile', percentile: 99 } });
  assert.deepEqual(p.segments.map((s) => s.level), ['raw']);
  assert.match(p.reason, /percentile/);
  // Unsealed points in the head make their window and everything after it raw.
  await store.write([pt('a', T0 + 3 * D + 5, [f('usage', 1)])]);
  const late = await store.explain({ measurement: 'cpu', fromMs: T0, toMs: T0 + 10 * D, aggregate: { fn: 'max', every: { ms: D } } });
  assert.deepEqual(late.segments, [
    { level: '1d', fromMs: T0, toMs: T0 + 3 * D },
    { level: 'raw', fromMs: T0 + 3 * D, toMs: T0 + 10 * D },
  ]);
  await store.close();
});

test('percentiles, value filters, group by tags, limits and order', async () => {
  const { store } = await openStore();
  const pts: TsPoint[] = [];
  for (let i = 0; i < 100; i++) pts.push(pt(i % 2 ? 'a' : 'b', T0 + i * 1000, [f('v', i)]));
  await store.write(pts.map((p, i) => ({ ...p, tags: [...p.tags, ['dc', i < 50 ? 'x' : 'y']] })));
  const p50 = await store.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + H, aggregate: { fn: 'percentile', percentile: 50 }, groupBy: [] });
  assert.equal(p50.series[0]!.values[0], 49.5);
  const hot = await store.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + H, where: { field: 'v', op: '>', value: 95 }, groupBy: [] });
  assert.deepEqual(hot.series[0]!.values, [96, 97, 98, 99]);
  const byDc = await store.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + H, aggregate: { fn: 'count' }, groupBy: ['dc'] });
  assert.deepEqual(byDc.series.map((s) => [s.tags.dc, s.values[0]]), [['x', 50], ['y', 50]]);
  const last3 = await store.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + H, matchers: [{ tag: 'host', op: '=', value: 'a' }], order: 'desc', limit: 3 });
  // Host a is two series (dc x: odd values below 50, dc y: above).
  assert.deepEqual(last3.series.map((s) => s.values), [[49, 47, 45], [99, 97, 95]]);
  await store.close();
});

test('row filters over sealed chunks, some without a passing row, and the head: the same rows as filtering the raw points', async () => {
  const { store } = await openStore();
  const rnd = new SeededRandom(77);
  const pts: TsPoint[] = [];
  // Six 2 h windows; only windows 1 and 4 reach above 90 in v.
  for (let i = 0; i < 6 * 120; i++) {
    const w = Math.floor(i / 120);
    const v = w === 1 || w === 4 ? rnd.int(0, 100) : rnd.int(0, 80);
    pts.push(pt('a', T0 + i * 60_000, [f('v', v), f('u', i)]));
  }
  await store.write(pts.slice(0, 5 * 120));
  await store.flush(); // windows 0-4 sealed
  await store.write(pts.slice(5 * 120)); // window 5 in the head
  await store.write([pt('a', T0 + 4 * 2 * H + 30_000, [f('v', 99), f('u', -1)])]); // a late point in sealed window 4, in the head
  for (const [fromMs, toMs] of [
    [T0, T0 + 12 * H],
    [T0 + 3 * H, T0 + 9 * H],
    [T0 + 4 * H, T0 + 8 * H],
  ] as const) {
    for (const op of ['>', '<='] as const) {
      const filtered = await store.query({ measurement: 'cpu', fields: ['u'], fromMs, toMs, where: { field: 'v', op, value: 90 } });
      const all = await store.query({ measurement: 'cpu', fields: ['u', 'v'], fromMs, toMs });
      const u = all.series.find((x) => x.field === 'u')!;
      const v = all.series.find((x) => x.field === 'v')!;
      const expected = u.values.filter((_, i) => (op === '>' ? (v.values[i] as number) > 90 : (v.values[i] as number) <= 90));
      assert.deepEqual(filtered.series[0]?.values ?? [], expected, `${op} over [${fromMs - T0}, ${toMs - T0})`);
    }
  }
  await store.close();
});

test('the decoded-chunk cache: rewritten windows are read afresh, eviction and a zero size change no answer', async () => {
  for (const decodedCacheBytes of [undefined, 0, 20_000]) {
    const { store } = await openStore({ decodedCacheBytes });
    const pts: TsPoint[] = [];
    for (let h = 0; h < 3; h++) for (let i = 0; i < 6 * 60; i++) pts.push(pt(`h${h}`, T0 + i * 60_000, [f('v', h * 1000 + i), f('w', -i)]));
    await store.write(pts);
    await store.flush(); // three 2 h windows per series, sealed
    const q = (fields: string[], matchers: TsQuery['matchers'] = []) => store.query({ measurement: 'cpu', fields, matchers, fromMs: T0, toMs: T0 + 6 * H, aggregate: { fn: 'sum', every: { ms: H } } });
    const before = await q(['v']);
    assert.deepEqual(await q(['v']), before, 'read twice');
    // Another field of the same chunks: decoded on demand, the first field unchanged.
    const both = await q(['v', 'w']);
    assert.deepEqual(both.series.filter((x) => x.field === 'v'), before.series);
    assert.equal(both.series.find((x) => x.field === 'w' && x.tags.host === 'h1')!.values[0], -((59 * 60) / 2));
    // A late point sealed into window 0 of h1, and a deleted hour of h2: those chunks are rewritten.
    await store.write([pt('h1', T0 + 30_500, [f('v', 5)])]);
    await store.flush();
    await store.deleteRange('cpu', [{ tag: 'host', op: '=', value: 'h2' }], T0 + 2 * H, T0 + 3 * H);
    const after = await q(['v']);
    const sums = Object.fromEntries(after.series.map((x) => [x.tags.host, x.values]));
    const expected = (h: number) => Array.from({ length: 6 }, (_, k) => Array.from({ length: 60 }, (_, i) => h * 1000 + k * 60 + i).reduce((a, b) => a + b, 0));
    assert.deepEqual(sums.h0, expected(0), `cache ${decodedCacheBytes}: h0`);
    const h1 = expected(1);
    h1[0]! += 5;
    assert.deepEqual(sums.h1, h1, `cache ${decodedCacheBytes}: the late point`);
    assert.deepEqual(sums.h2, expected(2).filter((_, k) => k !== 2), `cache ${decodedCacheBytes}: the deleted hour`);
    await store.close();
  }
});

test('series selection: =, !=, =~, !~ and absent tags', async () => {
  const { store } = await openStore();
  await store.write([
    { measurement: 'm', tags: [['host', 'web-1'], ['dc', 'x']], fields: [f('v', 1)], timeMs: T0 },
    { measurement: 'm', tags: [['host', 'web-2'], ['dc', 'y']], fields: [f('v', 1)], timeMs: T0 },
    { measurement: 'm', tags: [['host', 'db-1']], fields: [f('v', 1)], timeMs: T0 },
  ]);
  const hosts = async (matchers: TsQuery['matchers']) => (await store.series('m', matchers ?? [])).map((s) => s.tags.host).sort();
  assert.deepEqual(await hosts([{ tag: 'host', op: '=~', value: 'web-.*' }]), ['web-1', 'web-2']);
  assert.deepEqual(await hosts([{ tag: 'dc', op: '!=', value: 'x' }]), ['db-1', 'web-2']);
  assert.deepEqual(await hosts([{ tag: 'dc', op: '=', value: '' }]), ['db-1']);
  assert.deepEqual(await hosts([{ tag: 'host', op: '!~', value: 'web.*' }]), ['db-1']);
  assert.deepEqual(await hosts([{ tag: 'host', op: '=~', value: 'web-.*' }, { tag: 'dc', op: '=', value: 'y' }]), ['web-2']);
  await assert.rejects(store.series('m', [{ tag: 'host', op: '=~', value: '(' }]), /invalid regular expression/);
  await store.close();
});

test('retention drops whole expired chunks and rollup buckets; cold chunks are read across tiers', async () => {
  const fs = new MemFs();
  const clock = new ManualClock(T0 + 40 * D);
  const { store } = await openStore({ coldAfterMs: 10 * D }, fs, clock);
  await store.write(month(5));
  await store.flush();
  const before = await store.query({ measurement: 'cpu', fromMs: T0 - 3 * D, toMs: T0 + 40 * D, aggregate: { fn: 'count' }, groupBy: [], level: 'raw' });
  await store.maintain();
  const moved = store.stats().chunksMovedCold;
  assert.ok(moved > 100, `moved ${moved}`);
  const info = await store.series('cpu', [{ tag: 'host', op: '=', value: 'a' }]);
  assert.ok(info[0]!.coldChunks > 30 && info[0]!.chunks > 3, JSON.stringify(info[0]));
  const after = await store.query({ measurement: 'cpu', fromMs: T0 - 3 * D, toMs: T0 + 40 * D, aggregate: { fn: 'count' }, groupBy: [], level: 'raw' });
  assert.deepEqual(after.series.map((s) => s.values), before.series.map((s) => s.values));
  // Raw data kept 20 days, hourly rollups 30 days.
  await store.setRetention('cpu', { raw: 20 * D, '1h': 30 * D });
  await store.maintain();
  const raw = await store.query({ measurement: 'cpu', fromMs: T0 - 3 * D, toMs: T0 + 40 * D, level: 'raw', fields: ['usage'], matchers: [{ tag: 'host', op: '=', value: 'a' }] });
  const firstKept = raw.series[0]!.times[0]!;
  // Whole 2 h windows: the first kept point lies in the window containing now - 20 d.
  assert.ok(firstKept >= T0 + 20 * D - 2 * H && firstKept < T0 + 20 * D + 10 * 60_000, new Date(firstKept).toISOString());
  const hours = await store.query({ measurement: 'cpu', fromMs: T0 - 3 * D, toMs: T0 + 40 * D, level: '1h', aggregate: { fn: 'count', every: { ms: H } }, fields: ['usage'], groupBy: [] });
  assert.equal(hours.series[0]!.times[0], T0 + 10 * D);
  // A cutoff inside a day: 1h buckets live in day records, yet no expired hour is answered.
  await store.setRetention('cpu', { raw: 20 * D, '1h': 30 * D - 5 * H });
  await store.maintain();
  const later = await store.query({ measurement: 'cpu', fromMs: T0 - 3 * D, toMs: T0 + 40 * D, level: '1h', aggregate: { fn: 'count', every: { ms: H } }, fields: ['usage'], groupBy: [] });
  assert.equal(later.series[0]!.times[0], T0 + 10 * D + 5 * H);
  assert.deepEqual(later.series[0]!.values.slice(0, 3), hours.series[0]!.values.slice(5, 8));
  // Daily rollups are kept forever: still the whole month.
  const days = await store.query({ measurement: 'cpu', fromMs: T0 - 3 * D, toMs: T0 + 40 * D, level: '1d', aggregate: { fn: 'count', every: { ms: D } }, fields: ['usage'], groupBy: [] });
  assert.equal(days.series[0]!.times[0], T0 - 3 * D);
  await store.close();
});

test('a missing cold object is reported as corruption, not skipped', async () => {
  const fs = new MemFs();
  const objects = new LocalDirObjectStore('/cold', fs);
  const names: string[] = [];
  const recording = { ...objects, describe: () => objects.describe(), get: (n: string) => objects.get(n), delete: (n: string) => objects.delete(n), put: (n: string, b: Buffer) => (names.push(n), objects.put(n, b)) };
  const { store } = await openStore({ coldAfterMs: 10 * D, objectStore: recording }, fs, new ManualClock(T0 + 40 * D));
  await store.write([pt('a', T0, [f('v', 1)])]);
  await store.flush();
  await store.maintain();
  assert.equal(names.length, 1);
  await objects.delete(names[0]!);
  await assert.rejects(store.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + H }), (e: unknown) => isStrataError(e, 'CORRUPTION'));
  await store.close();
});

test('writes racing the background seal lose nothing', async () => {
  const { store } = await openStore({ maxHeadRows: 16 });
  const writes: Array<Promise<unknown>> = [];
  // 200 single-point writes over 6 windows, with seals started among them: a seal awaits
  // engine I/O while later writes land in the same head, and must not drop those rows.
  for (let i = 0; i < 200; i++) {
    writes.push(store.write([pt('a', T0 + i * 216_000, [f('v', i)])]));
    if (i % 20 === 10) {
      await writes[writes.length - 1];
      writes.push(store.flush());
    }
  }
  await Promise.all(writes);
  assert.ok(store.stats().chunksSealed >= 5, JSON.stringify(store.stats()));
  await store.flush();
  const r = await store.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + D });
  assert.deepEqual(r.series[0]!.values, Array.from({ length: 200 }, (_, i) => i));
  await store.close();
});

test('numeric aggregates without named fields read the numeric fields only', async () => {
  const { store } = await openStore();
  await store.write([{ measurement: 'w', tags: [['city', 'x']], fields: [f('temp', 3), { name: 'ok', type: 'boolean', value: true }, { name: 'n', type: 'integer', value: 5 }], timeMs: T0 }]);
  const max = await store.query({ measurement: 'w', fromMs: T0, toMs: T0 + H, aggregate: { fn: 'max' } });
  assert.deepEqual(max.series.map((s) => [s.field, s.values[0]]).sort(), [['n', 5], ['temp', 3]]);
  const last = await store.query({ measurement: 'w', fromMs: T0, toMs: T0 + H, aggregate: { fn: 'last' } });
  assert.equal(last.series.length, 3);
  await assert.rejects(store.query({ measurement: 'w', fromMs: T0, toMs: T0 + H, fields: ['ok'], aggregate: { fn: 'max' } }), /max needs a numeric field/);
  await store.close();
});

test('heads over their total budget are sealed, open windows included, and nothing is lost', async () => {
  const { store } = await openStore({ maxHeadRowsTotal: 500 });
  // 40 series × 30 points inside one open window: 1,200 head rows would exceed the budget.
  for (let k = 0; k < 30; k++) {
    const pts: TsPoint[] = [];
    for (let h = 0; h < 40; h++) pts.push(pt(`h${h}`, T0 + k * 10_000, [f('v', k)]));
    await store.write(pts);
    assert.ok(store.stats().headPoints <= 540, `head rows ${store.stats().headPoints}`);
  }
  assert.ok(store.stats().chunksSealed > 0);
  const r = await store.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + H, aggregate: { fn: 'count' }, groupBy: [] });
  assert.equal(r.series[0]!.values[0], 1200);
  // The open window's chunk is merged with the later points when they are sealed.
  await store.flush();
  const sum = await store.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + H, aggregate: { fn: 'sum' }, groupBy: [], level: '1h' });
  assert.equal(sum.series[0]!.values[0], 40 * ((29 * 30) / 2));
  await store.close();
});

test('sealed points leave the head log: a reopened store replays nothing and its log is empty', async () => {
  const fs = new MemFs();
  const { store } = await openStore({}, fs);
  await store.write(month(9));
  await store.close(); // seals every head
  const { store: again } = await openStore({}, fs);
  assert.equal(again.stats().headPoints, 0);
  const logs = fs.list('/ts').filter((n) => n.startsWith('head-'));
  assert.ok(logs.every((n) => fs.fileSize(`/ts/${n}`) === 0), JSON.stringify(logs.map((n) => [n, fs.fileSize(`/ts/${n}`)])));
  await again.close();
});

test('sealing many series lets the event loop turn between batches (requests are not held for the whole seal)', async () => {
  const { store, clock } = await openStore({}, new MemFs(), new ManualClock(T0 + H));
  // 100 series with points in the current window; a day later it is closed: one seal of all of them.
  const points: TsPoint[] = [];
  for (let h = 0; h < 100; h++) for (let i = 0; i < 60; i++) points.push(pt(`h${h}`, T0 + i * 60_000, [f('usage', h + i / 100)]));
  await store.write(points);
  clock.advance(D);
  // At every event-loop turn while the seal runs: how many chunks were sealed since the last turn.
  let sealing = true;
  let last = store.stats().chunksSealed;
  const sealedBefore = last;
  let mostInOneTurn = 0;
  const tick = (): void => {
    const now = store.stats().chunksSealed;
    mostInOneTurn = Math.max(mostInOneTurn, now - last);
    last = now;
    if (sealing) setImmediate(tick);
  };
  setImmediate(tick);
  await store.maintain();
  sealing = false;
  tick();
  assert.equal(store.stats().chunksSealed - sealedBefore, 100, 'idle windows are sealed by maintenance');
  assert.equal(store.stats().headPoints, 0);
  // Batches of 16 series, the event loop turning between them (was: all 100 in one stretch).
  assert.ok(mostInOneTurn > 0 && mostInOneTurn <= 16, `${mostInOneTurn} chunks sealed without an event-loop turn`);
  const count = await store.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + D, aggregate: { fn: 'count' }, groupBy: [], level: 'raw' });
  assert.equal(count.series[0]!.values[0], 6000);
  await store.close();
});

test('a backfill keeps its newest windows open while it writes; maintenance seals them once the series is idle', async () => {
  const { store, clock } = await openStore(); // the clock is 400 days past the data
  const write = (k: number) => store.write(Array.from({ length: 10 }, (_, h) => pt(`h${h}`, T0 + k * 60_000, [f('v', k)])));
  for (let k = 0; k < 30; k++) {
    await write(k);
    clock.advance(60_000);
    await store.maintain();
    // Every window of these series closed long ago by the clock, but they are being written to.
    assert.equal(store.stats().chunksSealed, 0, `sealed while still written (minute ${k})`);
  }
  clock.advance(10 * 60_000);
  await store.maintain();
  assert.equal(store.stats().chunksSealed, 10);
  assert.equal(store.stats().headPoints, 0);
  const r = await store.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + H, aggregate: { fn: 'count' }, groupBy: [], level: 'raw' });
  assert.equal(r.series[0]!.values[0], 300);
  await store.close();
});

test('float rounding: a measurement set to d significant digits stores its floats rounded (write, writeColumns, replay, rollups); others stay exact', async () => {
  const fs = new MemFs();
  let { store } = await openStore({}, fs);
  await assert.rejects(store.setFloatRounding('cpu', 0), (e: unknown) => isStrataError(e, 'INVALID_ARGUMENT') && /from 1 to 15/.test((e as Error).message));
  await store.setFloatRounding('cpu', 5);
  assert.equal(store.getFloatRounding('cpu'), 5);
  assert.equal(store.getFloatRounding('mem'), undefined);
  const x = 12.3456789;
  await store.write([
    pt('a', T0, [f('v', x), { name: 'n', type: 'integer', value: 1234567 }]),
    pt('a', T0 + 1000, [f('v', -x)]), // the series' layout differs from the first point's
    pt('a', T0 + 2 * H, [f('v', NaN)]),
    pt('a', T0, [f('v', x)], 'mem'),
  ]);
  await store.write([pt('a', T0 + 3000, [f('v', 0.000123456789)])]); // a known layout: the shared-layout path
  const { parseLineProtocolColumns } = await import('../../src/tsdb/index.js');
  await store.writeColumns(parseLineProtocolColumns(`cpu,host=a v=98765.4321 ${(T0 + 4000) * 1e6}\nmem,host=a v=98765.4321 ${(T0 + 4000) * 1e6}`, { nowMs: T0 + 400 * D }));
  const want = [12.346, -12.346, 0.00012346, 98765, NaN];
  const check = async (s: TimeSeriesStore) => {
    const r = await s.query({ measurement: 'cpu', fromMs: T0, toMs: T0 + 3 * H });
    const by = Object.fromEntries(r.series.map((x) => [x.field, x.values]));
    assert.deepEqual(by.v, want);
    assert.deepEqual(by.n, [1234567]);
    const m = await s.query({ measurement: 'mem', fromMs: T0, toMs: T0 + 10_000 });
    assert.deepEqual(m.series[0]!.values, [x, 98765.4321]);
  };
  await check(store);
  // Replayed from the head log after a crash: the log holds the rounded values.
  await store.close();
  ({ store } = await openStore({}, fs));
  assert.equal(store.getFloatRounding('cpu'), 5, 'the setting is durable');
  await check(store);
  await store.flush();
  await check(store);
  // Rollups are built from what is stored.
  const hour = await store.query({ measurement: 'cpu', fields: ['v'], fromMs: T0, toMs: T0 + H, aggregate: { fn: 'sum', every: { ms: H } } });
  assert.equal(hour.plan.segments[0]!.level, '1h');
  assert.equal(hour.series[0]!.values[0], 12.346 + -12.346 + 0.00012346 + 98765);
  // Cleared: later writes are exact again, earlier ones stay as stored.
  await store.setFloatRounding('cpu', null);
  await store.write([pt('a', T0 + 5000, [f('v', x)])]);
  const r = await store.query({ measurement: 'cpu', fields: ['v'], fromMs: T0 + 4000, toMs: T0 + 6000 });
  assert.deepEqual(r.series[0]!.values, [98765, x]);
  await store.close();
  ({ store } = await openStore({}, fs));
  assert.equal(store.getFloatRounding('cpu'), undefined);
  await store.close();
});

test('a tag named __proto__ is an ordinary tag in query results and series listings', async () => {
  const { store } = await openStore();
  await store.write([{ measurement: 'm', tags: [['__proto__', 'x'], ['host', 'a']], fields: [f('v', 1)], timeMs: T0 }]);
  const r = await store.query({ measurement: 'm', fromMs: T0, toMs: T0 + 1 });
  const tags = r.series[0]!.tags;
  assert.deepEqual(Object.keys(tags), ['__proto__', 'host']);
  assert.equal(Object.getPrototypeOf(tags), Object.prototype);
  assert.equal(JSON.stringify(tags), '{"__proto__":"x","host":"a"}');
  const s = await store.series('m', []);
  assert.equal(JSON.stringify(s[0]!.tags), '{"__proto__":"x","host":"a"}');
  const grouped = await store.query({ measurement: 'm', fromMs: T0, toMs: T0 + 1, aggregate: { fn: 'count' }, groupBy: ['__proto__'] });
  assert.equal(JSON.stringify(grouped.series[0]!.tags), '{"__proto__":"x"}');
  await store.close();
});
