// Points in columns: the line-protocol parser's columnar output and the
// store's writeColumns, which must behave exactly as parseLineProtocol +
// write (same stored points, same head-log records, same errors).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, ManualClock, MemFs, SeededRandom, isStrataError } from '../../src/base/index.js';
import { LineProtocolError, LineProtocolParsePool, LocalDirObjectStore, TimeSeriesStore, columnsToPoints, parseLineProtocol, parseLineProtocolColumns } from '../../src/tsdb/index.js';
import type { ErrorCode } from '../../src/base/index.js';
import { decodeLogRecord, encodeColumnsRecord } from '../../src/tsdb/log-record.js';
import type { TsPointColumns, TsQueryResult, TsStoreOptions } from '../../src/tsdb/index.js';

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.UTC(2024, 0, 1);
const NOW = T0 + 400 * D;

async function openStore(fs = new MemFs(), extra: Partial<TsStoreOptions> = {}) {
  return TimeSeriesStore.open({ dir: '/ts', fs, clock: new ManualClock(NOW), maintenanceIntervalMs: 0, objectStore: new LocalDirObjectStore('/cold', fs), ...extra });
}

const ns = (ms: number, sub = 0) => `${ms}${String(sub).padStart(6, '0')}`;

test('columns: series and field lists are shared, values sit in one array, nanos only when given', () => {
  const body = [
    `cpu,host=a,dc=x usage=1.5,n=3i,ok=t ${ns(T0)}`,
    `cpu,host=b,dc=x usage=2.5,n=4i,ok=F ${ns(T0)}`,
    `cpu,host=a,dc=x usage=3.5,n=5i,ok=true ${ns(T0 + 1000)}`,
    `cpu,host=a,dc=x msg="hi \\"there\\"",usage=4 ${ns(T0 + 2000, 7)}`,
  ].join('\n');
  const c = parseLineProtocolColumns(body, { nowMs: NOW });
  assert.equal(c.length, 4);
  assert.deepEqual(
    c.series.map((s) => [s.measurement, s.tags, s.hint]),
    [
      ['cpu', [['host', 'a'], ['dc', 'x']], 'cpu,host=a,dc=x'],
      ['cpu', [['host', 'b'], ['dc', 'x']], 'cpu,host=b,dc=x'],
    ],
  );
  assert.deepEqual([...c.seriesOf.subarray(0, 4)], [0, 1, 0, 0]);
  assert.deepEqual(
    c.layouts.map((l) => [l.names, l.types]),
    [
      [['usage', 'n', 'ok'], ['float', 'integer', 'boolean']],
      [['msg', 'usage'], ['string', 'float']],
    ],
  );
  assert.deepEqual([...c.layoutOf.subarray(0, 4)], [0, 0, 0, 1]);
  assert.deepEqual([...c.valueStart.subarray(0, 5)], [0, 3, 6, 9, 11]);
  assert.deepEqual([...c.numbers.subarray(0, 9)], [1.5, 3, 1, 2.5, 4, 0, 3.5, 5, 1]);
  assert.equal(c.strings?.get(9), 'hi "there"');
  assert.equal(c.numbers[10], 4);
  assert.deepEqual([...c.timeMs.subarray(0, 4)], [T0, T0, T0 + 1000, T0 + 2000]);
  assert.deepEqual([...c.nanos!.subarray(0, 4)], [0, 0, 0, 7]);
  // Without sub-millisecond digits there is no nanos column at all.
  assert.equal(parseLineProtocolColumns(`m v=1 ${ns(T0)}`, { nowMs: NOW }).nanos, undefined);
  // The same fields in another order (or with another type) are another layout.
  const d = parseLineProtocolColumns(`m a=1,b=2 1\nm b=2,a=1 2\nm a=1i,b=2 3\nm a=1,b=2 4`, { nowMs: NOW, precision: 'ms' });
  assert.deepEqual([...d.layoutOf.subarray(0, 4)], [0, 1, 2, 0]);
});

test('columns: duplicate fields are found whether or not the line starts like the previous one', () => {
  for (const body of ['m a=1,b=2 1\nm a=1,a=2 2', 'm a=1,b=2 1\nm a=1,b=2,a=3 2', 'm a=1,b=2 1\nm b=1,b=2 2', 'm a=1 1\nm a=1i,a=2 2']) {
    assert.throws(
      () => parseLineProtocolColumns(body, { nowMs: NOW, precision: 'ms' }),
      (err: unknown) => isStrataError(err, ERROR_CODES.INVALID_ARGUMENT) && /line 2, column \d+: duplicate field "[ab]"/.test((err as Error).message),
      body,
    );
  }
  // Many fields: the set-based check.
  const many = Array.from({ length: 20 }, (_, i) => `f${i}=${i}`).join(',');
  assert.throws(() => parseLineProtocolColumns(`m ${many},f3=1 1`, { nowMs: NOW }), /duplicate field "f3"/);
});

/** Seeded line protocol: several measurements and series, changing field sets and types per measurement kept consistent. */
function randomBody(seed: number, lines: number): string {
  const r = new SeededRandom(seed);
  const out: string[] = [];
  const fieldSets = [
    ['temp', 'hum'],
    ['temp'],
    ['hum', 'temp', 'note'],
    ['ok', 'count', 'temp'],
  ];
  for (let i = 0; i < lines; i++) {
    const m = r.int(0, 1) === 0 ? 'env' : 'sys';
    const host = `h${r.int(0, 5)}`;
    const tags = r.int(0, 3) === 0 ? `,rack=r\\ ${r.int(0, 1)},host=${host}` : `,host=${host}`;
    const fields = fieldSets[r.int(0, fieldSets.length - 1)]!.map((name) => {
      if (name === 'note') return `note="n${r.int(0, 9)}${r.int(0, 4) === 0 ? ' \\"q\\"' : ''}"`;
      if (name === 'ok') return `ok=${r.int(0, 1) === 0 ? 't' : 'FALSE'}`;
      if (name === 'count') return `count=${r.int(-50, 50)}i`;
      return `${name}=${(r.float() * 200 - 100).toFixed(r.int(0, 17))}`;
    });
    out.push(`${m}${tags} ${fields.join(',')} ${ns(T0 + r.int(0, 30) * 60_000, r.int(0, 2) === 0 ? r.int(0, 999_999) : 0)}`);
  }
  return out.join('\n');
}

const everything = (store: TimeSeriesStore, measurement: string): Promise<TsQueryResult> => store.query({ measurement, fromMs: T0 - D, toMs: T0 + D });

test('writeColumns stores exactly what write stores, from the heads, after a reopen (head-log replay) and after sealing', async () => {
  for (const seed of [1, 2, 3]) {
    const bodies = [randomBody(seed, 300), randomBody(seed + 100, 300)];
    const fsA = new MemFs();
    const fsB = new MemFs();
    let a = await openStore(fsA, { syncWrites: true });
    let b = await openStore(fsB, { syncWrites: true });
    for (const body of bodies) {
      const viaPoints = await a.write(parseLineProtocol(body, { nowMs: NOW }));
      const viaColumns = await b.writeColumns(parseLineProtocolColumns(body, { nowMs: NOW }));
      assert.deepEqual(viaColumns, viaPoints, `seed ${seed}: write results`);
    }
    const same = async (what: string) => {
      for (const m of ['env', 'sys']) assert.deepEqual(await everything(b, m), await everything(a, m), `seed ${seed} ${m}: ${what}`);
      assert.deepEqual(b.schema('env'), a.schema('env'));
    };
    await same('from the heads');
    // A power loss now: the heads come back from the head log alone.
    const imageA = fsA.crashImage();
    const imageB = fsB.crashImage();
    await a.close();
    await b.close();
    a = await openStore(imageA);
    b = await openStore(imageB);
    assert.ok(b.stats().headPoints > 0, 'the reopened store replayed its head log');
    await same('after a reopen');
    await a.flush();
    await b.flush();
    await same('after sealing');
    await a.close();
    await b.close();
  }
});

test('columnsToPoints gives parseLineProtocol its points back', () => {
  const body = randomBody(9, 200);
  assert.deepEqual(columnsToPoints(parseLineProtocolColumns(body, { nowMs: NOW })), parseLineProtocol(body, { nowMs: NOW }));
});

test('writeColumns checks what write checks, names the point, and writes all or nothing', async () => {
  const store = await openStore();
  await store.write([{ measurement: 'm', tags: [['h', 'a']], fields: [{ name: 'v', type: 'float', value: 1 }], timeMs: T0 }]);
  const cols = (lines: string) => parseLineProtocolColumns(lines, { nowMs: NOW, precision: 'ms' });
  const rejects = async (c: TsPointColumns, code: ErrorCode, pattern: RegExp) => {
    await assert.rejects(store.writeColumns(c), (err: unknown) => isStrataError(err, code) && pattern.test((err as Error).message));
  };
  await rejects(cols(`m,h=b w=1 ${T0}\nm,h=a v=1i ${T0}`), ERROR_CODES.SCHEMA_CONFLICT, /^point 1: field "v" of measurement "m" is float, not integer/);
  await rejects(cols(`m,h=b w=1 ${T0}\nm,h=a v=1 ${NOW + 2 * D}`), ERROR_CODES.INVALID_ARGUMENT, /^point 1: time .* in the future/);
  // Neither the new series h=b nor the new field w was created by the rejected writes.
  assert.deepEqual(store.schema('m'), { v: 'float' });
  assert.equal((await store.series('m', [])).length, 1);
  // Hand-built columns are checked too: indexes, lengths and values.
  const good = cols(`m,h=a v=2 ${T0 + 1}`);
  await rejects({ ...good, seriesOf: Int32Array.of(5) }, ERROR_CODES.INVALID_ARGUMENT, /series or layout index out of range/);
  await rejects({ ...good, valueStart: Int32Array.of(0, 3) }, ERROR_CODES.INVALID_ARGUMENT, /values out of range/);
  await rejects({ ...good, length: 2 }, ERROR_CODES.INVALID_ARGUMENT, /point 1: values out of range/);
  await rejects({ ...good, length: good.seriesOf.length + 1 }, ERROR_CODES.INVALID_ARGUMENT, /shorter than length/);
  const int = cols(`m,h=a k=1i ${T0}`);
  await rejects({ ...int, numbers: Float64Array.of(0.5) }, ERROR_CODES.INVALID_ARGUMENT, /field "k": integer 0.5 is not an integer/);
  await rejects({ ...good, layouts: [{ names: ['v', 'v'], types: ['float', 'float'] }], valueStart: Int32Array.of(0, 2), numbers: Float64Array.of(1, 2) }, ERROR_CODES.INVALID_ARGUMENT, /appears twice/);
  assert.deepEqual(await store.writeColumns(good), { points: 1, values: 1, newSeries: 0 });
  const r = await everything(store, 'm');
  assert.deepEqual(r.series[0]!.values, [1, 2]);
  await store.close();
});

test('the parse pool: a parser thread gives the same columns and the same errors (line and column) as parsing inline', async () => {
  const pool = new LineProtocolParsePool({ threads: 1, minBytes: 1 });
  try {
    const body = randomBody(5, 2000);
    const inline = parseLineProtocolColumns(body, { nowMs: NOW });
    const sent = Buffer.from(body, 'utf8');
    const threaded = await pool.parse(sent, { nowMs: NOW });
    assert.equal(sent.length, 0, 'the body moved to the thread (transferred, not copied)');
    assert.deepEqual(columnsToPoints(threaded), columnsToPoints(inline));
    assert.deepEqual([...threaded.numbers.subarray(0, threaded.valueStart[threaded.length])], [...inline.numbers.subarray(0, inline.valueStart[inline.length])]);
    // Concurrent bodies each get their own answer.
    const many = await Promise.all([1, 2, 3].map((s) => pool.parse(Buffer.from(randomBody(s, 50)), { nowMs: NOW })));
    for (const [i, c] of many.entries()) assert.deepEqual(columnsToPoints(c), parseLineProtocol(randomBody(i + 1, 50), { nowMs: NOW }));
    const bad = 'm v=1 1\nm v=1 2\nm,t=x v=1,w=oops 3\n';
    const expected = (() => {
      try {
        parseLineProtocolColumns(bad, { nowMs: NOW });
      } catch (err) {
        return err as LineProtocolError;
      }
      throw new Error('the bad body parsed');
    })();
    await assert.rejects(pool.parse(Buffer.from(bad), { nowMs: NOW }), (err: unknown) => {
      assert.ok(err instanceof LineProtocolError);
      assert.equal(err.message, expected.message);
      assert.deepEqual([err.line, err.column, err.code], [3, 13, ERROR_CODES.INVALID_ARGUMENT]);
      return true;
    });
    await assert.rejects(pool.parse(Buffer.from('m v=1 1'), { nowMs: NOW, precision: 'xs' as 'ns' }), (err: unknown) => isStrataError(err, ERROR_CODES.INVALID_ARGUMENT) && /precision/.test((err as Error).message));
  } finally {
    await pool.close();
  }
  // Closed, or without threads: inline, same answers.
  for (const p of [pool, new LineProtocolParsePool({ threads: 0, minBytes: 1 })]) {
    const body = Buffer.from(randomBody(7, 20));
    assert.deepEqual(columnsToPoints(await p.parse(body, { nowMs: NOW })), parseLineProtocol(body, { nowMs: NOW }));
    assert.ok(body.length > 0, 'parsed inline: the body stays');
  }
});

test('the columns head-log record decodes to the rows it holds; truncated or out-of-range records are CORRUPTION', () => {
  const c = parseLineProtocolColumns(randomBody(11, 60), { nowMs: NOW });
  const sids = Int32Array.from(c.series, (_, s) => 100 + s);
  const fieldLists = c.layouts.map((l, i) => ({ ids: l.names.map((_, k) => i * 10 + k), types: l.types }));
  const listOf = c.layoutOf.slice(0, c.length);
  const rec = encodeColumnsRecord(c, sids, fieldLists, listOf);
  const decoded = decodeLogRecord(rec, 'test');
  assert.equal(decoded.kind, 'points');
  const points = columnsToPoints(c);
  assert.deepEqual(
    decoded.kind === 'points' ? decoded.rows : [],
    points.map((pt, p) => ({
      sid: 100 + c.seriesOf[p]!,
      timeMs: pt.timeMs,
      nanos: pt.nanos,
      ids: fieldLists[c.layoutOf[p]!]!.ids,
      types: pt.fields.map((f) => f.type),
      values: pt.fields.map((f) => f.value),
    })),
  );
  for (const cut of [1, 5, rec.length >> 1, rec.length - 1]) {
    assert.throws(() => decodeLogRecord(rec.subarray(0, cut), 'test'), (err: unknown) => isStrataError(err, ERROR_CODES.CORRUPTION), `cut at ${cut}`);
  }
  const corrupt = (i: number) => {
    const b = Buffer.from(rec);
    b.writeInt32LE(999, i);
    return b;
  };
  // Some 4-byte overwrite in the fixed-width part lands on a series or list index: never a crash or a silent bad row.
  let caught = 0;
  for (let i = 1; i < rec.length - 4; i += 3) {
    try {
      decodeLogRecord(corrupt(i), 'test');
    } catch (err) {
      assert.ok(isStrataError(err, ERROR_CODES.CORRUPTION), String(err));
      caught++;
    }
  }
  assert.ok(caught > 0);
});
