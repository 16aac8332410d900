// The TS.* commands of the RESP front end over a real TimeSeriesStore
// (in-memory file system, manual clock): creation and labels, ADD/MADD/GET,
// RANGE/REVRANGE raw and aggregated (store rollups and front-end buckets),
// MRANGE with FILTER, WITHLABELS and GROUPBY, INFO, DEL, QUERYINDEX, MGET,
// errors, pipelines, reopening, RESP2/RESP3 reply bytes, ioredis and redis-cli.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { pino } from 'pino';
import { ManualClock, MemFs } from '../../../src/base/index.js';
import { LocalKvService, loadConfig } from '../../../src/node/index.js';
import { Authenticator } from '../../../src/server/auth.js';
import { DEFAULT_LIMITS } from '../../../src/server/limits.js';
import { ServerMetrics } from '../../../src/server/metrics.js';
import { StrataServer } from '../../../src/server/strata-server.js';
import { RespServer } from '../../../src/server/resp/index.js';
import { LocalDirObjectStore, TimeSeriesStore } from '../../../src/tsdb/index.js';
import { RawClient, T0_MS, bulk } from './harness.js';

/** Sample times start an hour before the server clock, on a 10 s boundary. */
const B = T0_MS - 3_600_000;

interface TsHarness {
  port: number;
  clock: ManualClock;
  tsdb: TimeSeriesStore | undefined;
  fs: MemFs;
  close(): Promise<void>;
}

async function start(options: { tsdb?: boolean; fs?: MemFs } = {}): Promise<TsHarness> {
  const clock = new ManualClock(T0_MS);
  const service = await LocalKvService.open({ dir: '/db', fs: new MemFs(), clock });
  const fs = options.fs ?? new MemFs();
  const tsdb = options.tsdb === false ? undefined : await TimeSeriesStore.open({ dir: '/ts', fs, clock, maintenanceIntervalMs: 0, objectStore: new LocalDirObjectStore('/ts-cold', fs) });
  const server = new RespServer({
    service,
    tsdb,
    auth: new Authenticator([]),
    limits: { ...DEFAULT_LIMITS },
    metrics: new ServerMetrics(service, { defaultMetrics: false }),
    logger: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
  });
  const port = await server.start();
  return {
    port,
    clock,
    tsdb,
    fs,
    async close() {
      await server.close();
      await tsdb?.close();
      await service.close();
    },
  };
}

/** RESP2 unless the test asks for RESP3 (ioredis 6 speaks RESP3 by default). */
async function withRedis(fn: (redis: Redis, h: TsHarness) => Promise<void>, options: { tsdb?: boolean } = {}, clientOptions: RedisOptions = {}): Promise<void> {
  const h = await start(options);
  const redis = new Redis({ host: '127.0.0.1', port: h.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol: 2, ...clientOptions });
  try {
    await redis.connect();
    await fn(redis, h);
  } finally {
    redis.disconnect();
    await h.close();
  }
}

const ts = (redis: Redis, ...args: Array<string | number>): Promise<unknown> => redis.call(args[0] as string, ...args.slice(1));

/** temp:1 with samples 10..50 at B, B+1s, ..., B+4s. */
async function seedTemp(redis: Redis): Promise<void> {
  assert.equal(await ts(redis, 'TS.CREATE', 'temp:1', 'RETENTION', 60000, 'LABELS', 'sensor', '1', 'area', 'kitchen'), 'OK');
  for (let i = 0; i < 5; i++) assert.equal(await ts(redis, 'TS.ADD', 'temp:1', B + i * 1000, (i + 1) * 10), B + i * 1000);
}

test('TS.CREATE, TS.ADD, TS.GET, TS.RANGE/REVRANGE raw with COUNT and filters', { timeout: 30_000 }, () =>
  withRedis(async (redis, h) => {
    await seedTemp(redis);
    await assert.rejects(ts(redis, 'TS.CREATE', 'temp:1'), /ERR TSDB: key already exists/);
    assert.deepEqual(await ts(redis, 'TS.GET', 'temp:1'), [B + 4000, '50']);
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', '-', '+'), [
      [B, '10'],
      [B + 1000, '20'],
      [B + 2000, '30'],
      [B + 3000, '40'],
      [B + 4000, '50'],
    ]);
    // toTimestamp is inclusive.
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', B + 1000, B + 3000), [
      [B + 1000, '20'],
      [B + 2000, '30'],
      [B + 3000, '40'],
    ]);
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', '-', '+', 'COUNT', 2), [
      [B, '10'],
      [B + 1000, '20'],
    ]);
    assert.deepEqual(await ts(redis, 'TS.REVRANGE', 'temp:1', '-', '+', 'COUNT', 2), [
      [B + 4000, '50'],
      [B + 3000, '40'],
    ]);
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', '-', '+', 'FILTER_BY_VALUE', 15, 45, 'COUNT', 2), [
      [B + 1000, '20'],
      [B + 2000, '30'],
    ]);
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', '-', '+', 'FILTER_BY_TS', B, B + 4000, B + 999), [
      [B, '10'],
      [B + 4000, '50'],
    ]);
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', B + 10_000, '+'), []);
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', B + 3000, B + 1000), []);
    // `*` is the server's clock; a sample at an existing timestamp replaces it (last write wins).
    assert.equal(await ts(redis, 'TS.ADD', 'temp:1', '*', '1.5', 'ON_DUPLICATE', 'last'), T0_MS);
    assert.equal(await ts(redis, 'TS.ADD', 'temp:1', B, '-0.25'), B);
    assert.deepEqual(await ts(redis, 'TS.GET', 'temp:1'), [T0_MS, '1.5']);
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', B, B), [[B, '-0.25']]);
    // TS.ADD creates a missing key with its options; LABELS of an existing key are ignored.
    assert.equal(await ts(redis, 'TS.ADD', 'hum:1', B, 55, 'RETENTION', 1000, 'LABELS', 'area', 'kitchen'), B);
    assert.equal(await ts(redis, 'TS.ADD', 'hum:1', B + 1000, 56, 'LABELS', 'area', 'garage'), B + 1000);
    assert.deepEqual(await ts(redis, 'TS.QUERYINDEX', 'area=kitchen'), ['hum:1', 'temp:1']);
    assert.deepEqual(await ts(redis, 'TS.QUERYINDEX', 'area=garage'), []);
    // A created key without samples answers an empty GET and RANGE.
    assert.equal(await ts(redis, 'TS.CREATE', 'empty:1', 'LABELS', 'area', 'attic'), 'OK');
    assert.deepEqual(await ts(redis, 'TS.GET', 'empty:1'), []);
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'empty:1', '-', '+', 'AGGREGATION', 'avg', 1000), []);
    assert.deepEqual(await ts(redis, 'TS.QUERYINDEX', 'area=attic'), ['empty:1']);
    // The samples are series of measurement `ts` in the store.
    const series = await h.tsdb!.series('ts', [{ tag: '__key', op: '=', value: 'temp:1' }]);
    assert.deepEqual(series.map((s) => s.tags), [{ __key: 'temp:1', area: 'kitchen', sensor: '1' }]);
  }));

test('TS.RANGE aggregation: store aggregators (also from rollups), front-end ones, ALIGN, BUCKETTIMESTAMP, REVRANGE', { timeout: 30_000 }, () =>
  withRedis(async (redis, h) => {
    await seedTemp(redis);
    const agg = (fn: string, ...extra: Array<string | number>) => ts(redis, 'TS.RANGE', 'temp:1', '-', '+', 'AGGREGATION', fn, 2000, ...extra);
    assert.deepEqual(await agg('avg'), [
      [B, '15'],
      [B + 2000, '35'],
      [B + 4000, '50'],
    ]);
    assert.deepEqual(await agg('sum'), [
      [B, '30'],
      [B + 2000, '70'],
      [B + 4000, '50'],
    ]);
    assert.deepEqual(await agg('min'), [
      [B, '10'],
      [B + 2000, '30'],
      [B + 4000, '50'],
    ]);
    assert.deepEqual(await agg('MAX'), [
      [B, '20'],
      [B + 2000, '40'],
      [B + 4000, '50'],
    ]);
    assert.deepEqual(await agg('count'), [
      [B, '2'],
      [B + 2000, '2'],
      [B + 4000, '1'],
    ]);
    assert.deepEqual(await agg('first'), [
      [B, '10'],
      [B + 2000, '30'],
      [B + 4000, '50'],
    ]);
    assert.deepEqual(await agg('last'), [
      [B, '20'],
      [B + 2000, '40'],
      [B + 4000, '50'],
    ]);
    assert.deepEqual(await agg('range'), [
      [B, '10'],
      [B + 2000, '10'],
      [B + 4000, '0'],
    ]);
    assert.deepEqual(await agg('std.p'), [
      [B, '5'],
      [B + 2000, '5'],
      [B + 4000, '0'],
    ]);
    assert.deepEqual(await agg('var.s'), [
      [B, '50'],
      [B + 2000, '50'],
      [B + 4000, '0'],
    ]);
    // Buckets aligned to 1000 (not the epoch): computed by the front end.
    assert.deepEqual(await agg('sum', 'ALIGN', 1000), [
      [B - 1000, '10'],
      [B + 1000, '50'],
      [B + 3000, '90'],
    ]);
    // ALIGN start: buckets begin at fromTimestamp.
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', B + 1000, '+', 'ALIGN', 'start', 'AGGREGATION', 'sum', 2000), [
      [B + 1000, '50'],
      [B + 3000, '90'],
    ]);
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', '-', '+', 'ALIGN', 'end', 'AGGREGATION', 'sum', 3000), [
      [B - 2000, '10'],
      [B + 1000, '90'],
      [B + 4000, '50'],
    ]);
    // A range far wider than the samples with 1 ms buckets: narrowed to the samples' extent, answered by the store.
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', 0, B + 10_000, 'AGGREGATION', 'max', 1), [
      [B, '10'],
      [B + 1000, '20'],
      [B + 2000, '30'],
      [B + 3000, '40'],
      [B + 4000, '50'],
    ]);
    assert.deepEqual(await agg('avg', 'BUCKETTIMESTAMP', '+'), [
      [B + 2000, '15'],
      [B + 4000, '35'],
      [B + 6000, '50'],
    ]);
    assert.deepEqual(await agg('avg', 'BUCKETTIMESTAMP', 'mid', 'COUNT', 1), [[B + 1000, '15']]);
    assert.deepEqual(await ts(redis, 'TS.REVRANGE', 'temp:1', '-', '+', 'AGGREGATION', 'sum', 2000, 'COUNT', 2), [
      [B + 4000, '50'],
      [B + 2000, '70'],
    ]);
    assert.deepEqual(await ts(redis, 'TS.REVRANGE', 'temp:1', '-', '+', 'AGGREGATION', 'range', 2000, 'COUNT', 2), [
      [B + 4000, '0'],
      [B + 2000, '10'],
    ]);
    // Value filters apply to the samples before aggregation.
    assert.deepEqual(await agg('sum', 'FILTER_BY_VALUE', 20, 40), [
      [B, '20'],
      [B + 2000, '70'],
    ]);
    // Sealed into chunks and rollups: an hour bucket comes from the 1h rollup.
    await h.tsdb!.flush();
    const hour = Math.floor(B / 3_600_000) * 3_600_000;
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', hour, hour + 3_600_000 - 1, 'AGGREGATION', 'sum', 3_600_000), [[hour, '150']]);
    const plan = await h.tsdb!.explain({ measurement: 'ts', fields: ['value'], fromMs: hour, toMs: hour + 3_600_000, aggregate: { fn: 'sum', every: { ms: 3_600_000 } } });
    assert.deepEqual(plan.segments.map((s) => s.level), ['1h']);
    assert.deepEqual(await agg('avg'), [
      [B, '15'],
      [B + 2000, '35'],
      [B + 4000, '50'],
    ]);
  }));

test('TS.MADD answers per sample; TS.INFO; TS.DEL counts inclusive of toTimestamp', { timeout: 30_000 }, () =>
  withRedis(async (redis, h) => {
    await seedTemp(redis);
    const c = await RawClient.connect(h.port);
    try {
      assert.equal(
        await c.call('TS.MADD', 'temp:1', String(B + 5000), '60', 'nokey', String(B), '1', 'temp:1', 'soon', '1', 'temp:1', String(B + 6000), 'x'),
        `*4\r\n:${B + 5000}\r\n-ERR TSDB: the key does not exist\r\n-ERR TSDB: invalid timestamp, must be a nonnegative integer\r\n-ERR TSDB: invalid value\r\n`,
      );
      // A sample the store refuses (more than a day ahead) fails alone.
      const far = T0_MS + 2 * 86_400_000;
      const mixed = await c.call('TS.MADD', 'temp:1', String(B + 6000), '70', 'temp:1', String(far), '1');
      assert.match(mixed, new RegExp(`^\\*2\\r\\n:${B + 6000}\\r\\n-ERR TSDB: time .* in the future\\r\\n$`));
      assert.equal(await c.call('TS.MADD', 'temp:1', '1', '2', '3'), "-ERR wrong number of arguments for 'ts.madd' command\r\n");
    } finally {
      c.close();
    }
    assert.deepEqual(await ts(redis, 'TS.INFO', 'temp:1'), [
      'totalSamples',
      7,
      'memoryUsage',
      0,
      'firstTimestamp',
      B,
      'lastTimestamp',
      B + 6000,
      'retentionTime',
      60000,
      'chunkCount',
      1,
      'chunkSize',
      4096,
      'chunkType',
      'compressed',
      'duplicatePolicy',
      'last',
      'labels',
      [
        ['area', 'kitchen'],
        ['sensor', '1'],
      ],
      'sourceKey',
      null,
      'rules',
      [],
    ]);
    assert.equal(await ts(redis, 'TS.DEL', 'temp:1', B + 1000, B + 2000), 2);
    assert.equal(await ts(redis, 'TS.DEL', 'temp:1', B + 1000, B + 2000), 0);
    assert.deepEqual(await ts(redis, 'TS.RANGE', 'temp:1', '-', B + 3000), [
      [B, '10'],
      [B + 3000, '40'],
    ]);
    await h.tsdb!.flush();
    assert.equal(await ts(redis, 'TS.DEL', 'temp:1', '-', B), 1);
    const info = (await ts(redis, 'TS.INFO', 'temp:1')) as unknown[];
    assert.equal(info[1], 4);
    assert.equal(info[5], B + 3000);
    await assert.rejects(ts(redis, 'TS.DEL', 'nokey', 0, 1), /ERR TSDB: the key does not exist/);
    await assert.rejects(ts(redis, 'TS.INFO', 'nokey'), /ERR TSDB: the key does not exist/);
  }));

/** cpu:a, cpu:b (dc east), cpu:c (dc west) with two samples each; cpu:d (dc west) created without samples. */
async function seedCpu(redis: Redis): Promise<void> {
  const keys: Array<[string, string, string, number]> = [
    ['cpu:a', 'a', 'east', 1],
    ['cpu:b', 'b', 'east', 3],
    ['cpu:c', 'c', 'west', 5],
  ];
  for (const [key, host, dc, v] of keys) {
    assert.equal(await ts(redis, 'TS.ADD', key, B, v, 'LABELS', 'host', host, 'dc', dc), B);
    assert.equal(await ts(redis, 'TS.ADD', key, B + 1000, v + 1), B + 1000);
  }
  assert.equal(await ts(redis, 'TS.CREATE', 'cpu:d', 'LABELS', 'host', 'd', 'dc', 'west'), 'OK');
}

test('TS.MRANGE/MREVRANGE: FILTER forms, WITHLABELS, SELECTED_LABELS, aggregation, GROUPBY REDUCE; TS.MGET', { timeout: 30_000 }, () =>
  withRedis(async (redis) => {
    await seedCpu(redis);
    assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'FILTER', 'dc=east'), [
      ['cpu:a', [], [[B, '1'], [B + 1000, '2']]],
      ['cpu:b', [], [[B, '3'], [B + 1000, '4']]],
    ]);
    assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'WITHLABELS', 'FILTER', 'dc=west', 'host!=c'), [
      ['cpu:d', [['dc', 'west'], ['host', 'd']], []],
    ]);
    assert.deepEqual(await ts(redis, 'TS.MRANGE', B, B, 'SELECTED_LABELS', 'host', 'rack', 'FILTER', 'dc=(east,west)', 'host!=(b,d)'), [
      ['cpu:a', [['host', 'a'], ['rack', null]], [[B, '1']]],
      ['cpu:c', [['host', 'c'], ['rack', null]], [[B, '5']]],
    ]);
    assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'FILTER', 'host=a', 'dc!='), [['cpu:a', [], [[B, '1'], [B + 1000, '2']]]]);
    assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'FILTER', 'host=a', 'dc='), []);
    assert.deepEqual(await ts(redis, 'TS.MREVRANGE', '-', '+', 'COUNT', 1, 'FILTER', 'dc=east'), [
      ['cpu:a', [], [[B + 1000, '2']]],
      ['cpu:b', [], [[B + 1000, '4']]],
    ]);
    assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'AGGREGATION', 'sum', 2000, 'FILTER', 'dc=(east,west)'), [
      ['cpu:a', [], [[B, '3']]],
      ['cpu:b', [], [[B, '7']]],
      ['cpu:c', [], [[B, '11']]],
      ['cpu:d', [], []],
    ]);
    // GROUPBY: the group's series reduced per timestamp.
    assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'FILTER', 'dc=(east,west)', 'GROUPBY', 'dc', 'REDUCE', 'sum'), [
      ['dc=east', [], [[B, '4'], [B + 1000, '6']]],
      ['dc=west', [], [[B, '5'], [B + 1000, '6']]],
    ]);
    assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'WITHLABELS', 'FILTER', 'dc=east', 'GROUPBY', 'dc', 'REDUCE', 'max'), [
      ['dc=east', [['dc', 'east'], ['__reducer__', 'max'], ['__source__', 'cpu:a,cpu:b']], [[B, '3'], [B + 1000, '4']]],
    ]);
    // With AGGREGATION the reducer applies to each series' buckets.
    assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'AGGREGATION', 'sum', 2000, 'FILTER', 'dc=(east,west)', 'GROUPBY', 'dc', 'REDUCE', 'max'), [
      ['dc=east', [], [[B, '7']]],
      ['dc=west', [], [[B, '11']]],
    ]);
    assert.deepEqual(await ts(redis, 'TS.MREVRANGE', '-', '+', 'FILTER', 'dc=east', 'GROUPBY', 'dc', 'REDUCE', 'avg'), [['dc=east', [], [[B + 1000, '3'], [B, '2']]]]);
    assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'FILTER', 'dc=(east,west)', 'GROUPBY', 'dc', 'REDUCE', 'count'), [
      ['dc=east', [], [[B, '2'], [B + 1000, '2']]],
      ['dc=west', [], [[B, '1'], [B + 1000, '1']]],
    ]);
    assert.deepEqual(await ts(redis, 'TS.MGET', 'WITHLABELS', 'FILTER', 'dc=west'), [
      ['cpu:c', [['dc', 'west'], ['host', 'c']], [B + 1000, '6']],
      ['cpu:d', [['dc', 'west'], ['host', 'd']], []],
    ]);
    assert.deepEqual(await ts(redis, 'TS.QUERYINDEX', 'dc=west'), ['cpu:c', 'cpu:d']);
    assert.deepEqual(await ts(redis, 'TS.QUERYINDEX', 'host=(a,b,c)', 'dc!=east'), ['cpu:c']);
    await assert.rejects(ts(redis, 'TS.MRANGE', '-', '+', 'FILTER', 'host!=a'), /ERR TSDB: please provide at least one matcher/);
    await assert.rejects(ts(redis, 'TS.MRANGE', '-', '+', 'COUNT', 1), /ERR TSDB: missing FILTER argument/);
    await assert.rejects(ts(redis, 'TS.MRANGE', '-', '+', 'FILTER', 'dc=east', 'GROUPBY', 'dc', 'REDUCE', 'median'), /ERR TSDB: unknown REDUCE type/);
    await assert.rejects(ts(redis, 'TS.MRANGE', '-', '+', 'FILTER', 'nolabel'), /ERR TSDB: invalid filter expression/);
  }));

test('errors: arity, timestamps, values, options, aggregation, missing keys, non-UTF-8 keys', { timeout: 30_000 }, () =>
  withRedis(async (redis) => {
    await seedTemp(redis);
    const rejects = (re: RegExp, ...args: Array<string | number | Buffer>) => assert.rejects(redis.call(args[0] as string, ...args.slice(1)), re);
    await rejects(/ERR wrong number of arguments for 'ts.add' command/, 'TS.ADD', 'temp:1', 1);
    await rejects(/ERR wrong number of arguments for 'ts.del' command/, 'TS.DEL', 'temp:1', 1);
    await rejects(/ERR wrong number of arguments for 'ts.range' command/, 'TS.RANGE', 'temp:1', '-');
    await rejects(/ERR TSDB: invalid timestamp/, 'TS.ADD', 'temp:1', 'abc', 1);
    await rejects(/ERR TSDB: invalid timestamp/, 'TS.ADD', 'temp:1', -5, 1);
    await rejects(/ERR TSDB: invalid timestamp/, 'TS.ADD', 'temp:1', '1.5', 1);
    await rejects(/ERR TSDB: invalid value/, 'TS.ADD', 'temp:1', 1, 'nan');
    await rejects(/ERR TSDB: invalid value/, 'TS.ADD', 'temp:1', 1, 'ten');
    await rejects(/ERR TSDB: only ON_DUPLICATE LAST is supported/, 'TS.ADD', 'temp:1', 1, 1, 'ON_DUPLICATE', 'BLOCK');
    await rejects(/ERR TSDB: only DUPLICATE_POLICY LAST is supported/, 'TS.CREATE', 'new:1', 'DUPLICATE_POLICY', 'SUM');
    await rejects(/ERR TSDB: invalid RETENTION value/, 'TS.CREATE', 'new:1', 'RETENTION', -1);
    await rejects(/ERR TSDB: LABELS needs label value pairs/, 'TS.CREATE', 'new:1', 'LABELS', 'a');
    await rejects(/ERR TSDB: LABELS needs label value pairs/, 'TS.CREATE', 'new:1', 'LABELS', '__key', 'x');
    await rejects(/ERR syntax error/, 'TS.CREATE', 'new:1', 'BOGUS', 1);
    await rejects(/ERR TSDB: the key does not exist/, 'TS.GET', 'new:1');
    await rejects(/ERR TSDB: the key does not exist/, 'TS.RANGE', 'new:1', '-', '+');
    await rejects(/ERR TSDB: unknown aggregation type/, 'TS.RANGE', 'temp:1', '-', '+', 'AGGREGATION', 'median', 1000);
    await rejects(/ERR TSDB: aggregation twa is not supported/, 'TS.RANGE', 'temp:1', '-', '+', 'AGGREGATION', 'twa', 1000);
    await rejects(/ERR TSDB: bucketDuration must be a positive integer/, 'TS.RANGE', 'temp:1', '-', '+', 'AGGREGATION', 'avg', 0);
    await rejects(/ERR TSDB: EMPTY is not supported/, 'TS.RANGE', 'temp:1', '-', '+', 'AGGREGATION', 'avg', 10, 'EMPTY');
    await rejects(/ERR TSDB: ALIGN and BUCKETTIMESTAMP can only be used with AGGREGATION/, 'TS.RANGE', 'temp:1', '-', '+', 'ALIGN', 0);
    await rejects(/ERR TSDB: invalid fromTimestamp/, 'TS.RANGE', 'temp:1', '+', '+');
    await rejects(/ERR TSDB: invalid toTimestamp/, 'TS.RANGE', 'temp:1', '-', 'x');
    await rejects(/ERR TSDB: invalid COUNT value/, 'TS.RANGE', 'temp:1', '-', '+', 'COUNT', 0);
    await rejects(/ERR TSDB: time-series keys must be non-empty valid UTF-8/, 'TS.ADD', Buffer.from([0xff, 0xfe]), 1, 1);
    await rejects(/ERR TSDB: the key must not contain control characters/, 'TS.ADD', 'a\nb', 1, 1);
    await rejects(/ERR TSDB: the key is longer than 1024 bytes/, 'TS.CREATE', 'k'.repeat(1025));
    await rejects(/ERR TSDB: label "a\\tb": must not contain control characters/, 'TS.CREATE', 'new:1', 'LABELS', 'a\tb', 'x');
    // Every point is checked by the store too: more than a day ahead of its clock is refused.
    await rejects(/ERR TSDB: time .* in the future/, 'TS.ADD', 'temp:1', T0_MS + 2 * 86_400_000, 1);
    // The failed TS.ADD of a new key did not leave the key behind.
    await rejects(/ERR TSDB: time .* in the future/, 'TS.ADD', 'late:1', T0_MS + 2 * 86_400_000, 1);
    await rejects(/ERR TSDB: the key does not exist/, 'TS.GET', 'late:1');
  }));

test('a node without a time-series store answers TS commands with an error', { timeout: 30_000 }, () =>
  withRedis(
    async (redis) => {
      await assert.rejects(redis.call('TS.ADD', 'k', '1', '1'), /ERR time series are disabled on this node/);
      await assert.rejects(redis.call('TS.MRANGE', '-', '+', 'FILTER', 'a=b'), /ERR time series are disabled on this node/);
      assert.equal(await redis.set('k', 'v'), 'OK');
    },
    { tsdb: false },
  ));

test('a pipeline of TS commands keeps its order: each GET sees the ADD before it', { timeout: 30_000 }, () =>
  withRedis(async (redis) => {
    const p = redis.pipeline();
    p.call('TS.CREATE', 'pipe', 'LABELS', 'kind', 'pipeline');
    for (let i = 0; i < 200; i++) {
      p.call('TS.ADD', 'pipe', String(B + i), String(i));
      if (i % 10 === 9) p.call('TS.GET', 'pipe');
    }
    p.call('TS.DEL', 'pipe', String(B), String(B + 99));
    p.call('TS.RANGE', 'pipe', '-', '+', 'AGGREGATION', 'count', '1000000');
    const results = await p.exec();
    assert.ok(results !== null);
    let r = 0;
    assert.deepEqual(results[r++], [null, 'OK']);
    for (let i = 0; i < 200; i++) {
      assert.deepEqual(results[r++], [null, B + i]);
      if (i % 10 === 9) assert.deepEqual(results[r++], [null, [B + i, String(i)]]);
    }
    assert.deepEqual(results[r++], [null, 100]);
    const bucket = Math.floor(B / 1_000_000) * 1_000_000;
    assert.deepEqual(results[r++], [null, [[bucket, '100']]]);
  }));

test('pipelined writes share store writes; one refused sample fails alone, in order', { timeout: 30_000 }, () =>
  withRedis(async (redis, h) => {
    let writes = 0;
    const write = h.tsdb!.write.bind(h.tsdb!);
    h.tsdb!.write = (points) => {
      writes++;
      return write(points);
    };
    const ok = redis.pipeline();
    for (let i = 0; i < 50; i++) ok.call('TS.ADD', 'grp', String(B + i), String(i));
    const okResults = await ok.exec();
    for (let i = 0; i < 50; i++) assert.deepEqual(okResults![i], [null, B + i]);
    assert.ok(writes <= 3, `${writes} store writes for 50 TS.ADDs`);
    const far = String(T0_MS + 2 * 86_400_000);
    const p = redis.pipeline();
    for (let i = 0; i < 50; i++) p.call('TS.ADD', 'grp', String(B + i), String(i));
    p.call('TS.ADD', 'grp', far, '1');
    p.call('TS.ADD', 'grp', String(B), '100');
    p.call('TS.MADD', 'grp', String(B + 1), '101', 'grp', far, '2');
    p.call('TS.RANGE', 'grp', String(B), String(B + 2));
    const results = await p.exec();
    assert.ok(results !== null);
    for (let i = 0; i < 50; i++) assert.deepEqual(results[i], [null, B + i]);
    assert.match(String(results[50]![0]), /ERR TSDB: time .* in the future/);
    assert.deepEqual(results[51], [null, B]);
    const madd = results[52]![1] as unknown[];
    assert.equal(madd[0], B + 1);
    assert.match(String(madd[1]), /ERR TSDB: time .* in the future/);
    // Later writes of the same timestamps win, though the combined write was retried one by one.
    assert.deepEqual(results[53], [null, [[B, '100'], [B + 1, '101'], [B + 2, '2']]]);
  }));

test('keys with samples survive a restart with their labels; a created key without samples does not', { timeout: 30_000 }, async () => {
  const fs = new MemFs();
  let h = await start({ fs });
  let redis = new Redis({ host: '127.0.0.1', port: h.port, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol: 2 });
  await seedCpu(redis);
  redis.disconnect();
  await h.close();
  h = await start({ fs });
  redis = new Redis({ host: '127.0.0.1', port: h.port, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol: 2 });
  try {
    assert.deepEqual(await ts(redis, 'TS.QUERYINDEX', 'dc=(east,west)'), ['cpu:a', 'cpu:b', 'cpu:c']);
    // TS.ADD to a stored key finds its labels (no LABELS needed).
    assert.equal(await ts(redis, 'TS.ADD', 'cpu:c', B + 2000, 7), B + 2000);
    assert.deepEqual(await ts(redis, 'TS.MRANGE', B + 1000, '+', 'WITHLABELS', 'FILTER', 'host=c'), [['cpu:c', [['dc', 'west'], ['host', 'c']], [[B + 1000, '6'], [B + 2000, '7']]]]);
    await assert.rejects(ts(redis, 'TS.GET', 'cpu:d'), /ERR TSDB: the key does not exist/);
  } finally {
    redis.disconnect();
    await h.close();
  }
});

test('reply bytes: RESP2 values are simple strings, RESP3 values are doubles and INFO/MRANGE are maps', { timeout: 30_000 }, async () => {
  const h = await start();
  const c = await RawClient.connect(h.port);
  try {
    assert.equal(await c.call('TS.ADD', 'k', String(B), '1.5', 'LABELS', 'a', 'x'), `:${B}\r\n`);
    assert.equal(await c.call('TS.ADD', 'k', String(B + 1), 'inf'), `:${B + 1}\r\n`);
    assert.equal(await c.call('TS.RANGE', 'k', '-', '+'), `*2\r\n*2\r\n:${B}\r\n+1.5\r\n*2\r\n:${B + 1}\r\n+inf\r\n`);
    assert.equal(await c.call('TS.GET', 'nope'), '-ERR TSDB: the key does not exist\r\n');
    assert.equal(await c.call('TS.MRANGE', '-', String(B), 'WITHLABELS', 'FILTER', 'a=x'), `*1\r\n*3\r\n${bulk('k')}*1\r\n*2\r\n${bulk('a')}${bulk('x')}*1\r\n*2\r\n:${B}\r\n+1.5\r\n`);
    assert.match(await c.call('HELLO', '3'), /^%7\r\n/);
    assert.equal(await c.call('TS.GET', 'k'), `*2\r\n:${B + 1}\r\n,inf\r\n`);
    assert.equal(
      await c.call('TS.MRANGE', '-', String(B), 'WITHLABELS', 'AGGREGATION', 'max', '10', 'FILTER', 'a=x'),
      `%1\r\n${bulk('k')}*3\r\n%1\r\n${bulk('a')}${bulk('x')}%1\r\n${bulk('aggregators')}*1\r\n${bulk('max')}*1\r\n*2\r\n:${B}\r\n,1.5\r\n`,
    );
    const info = await c.call('TS.INFO', 'k');
    assert.match(info, /^%12\r\n\+totalSamples\r\n:2\r\n/);
    assert.ok(info.includes(`+labels\r\n%1\r\n${bulk('a')}${bulk('x')}`));
  } finally {
    c.close();
    await h.close();
  }
});

test('ioredis over RESP3: maps as objects, doubles as numbers', { timeout: 30_000 }, () =>
  withRedis(
    async (redis) => {
      await seedCpu(redis);
      assert.deepEqual(await ts(redis, 'TS.GET', 'cpu:a'), [B + 1000, 2]);
      assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'WITHLABELS', 'AGGREGATION', 'avg', 2000, 'FILTER', 'dc=east'), {
        'cpu:a': [{ dc: 'east', host: 'a' }, { aggregators: ['avg'] }, [[B, 1.5]]],
        'cpu:b': [{ dc: 'east', host: 'b' }, { aggregators: ['avg'] }, [[B, 3.5]]],
      });
      assert.deepEqual(await ts(redis, 'TS.MRANGE', B, B, 'WITHLABELS', 'FILTER', 'dc=east', 'GROUPBY', 'dc', 'REDUCE', 'sum'), {
        'dc=east': [{ dc: 'east' }, { reducers: ['sum'] }, { sources: ['cpu:a', 'cpu:b'] }, [[B, 4]]],
      });
      assert.deepEqual(await ts(redis, 'TS.MGET', 'FILTER', 'host=c'), { 'cpu:c': [{}, [B + 1000, 6]] });
      const info = (await ts(redis, 'TS.INFO', 'cpu:a')) as Record<string, unknown>;
      assert.equal(info['totalSamples'], 2);
      assert.deepEqual(info['labels'], { dc: 'east', host: 'a' });
    },
    {},
    { protocol: 3, replyMapping: 'resp3' },
  ));

test('strata serve wiring: StrataServer gives the RESP front end its store; tsdb.enabled false turns TS commands off', { timeout: 30_000 }, async () => {
  for (const enabled of [true, false]) {
    const dir = mkdtempSync(join(tmpdir(), 'strata-ts-resp-'));
    const config = loadConfig({ overrides: { 'storage.dataDir': dir, 'server.protocols': 'resp', 'server.respPort': '0', 'tsdb.enabled': String(enabled) } });
    const server = await StrataServer.start(config, { logger: pino({ level: 'silent' }), clock: new ManualClock(T0_MS) });
    const redis = new Redis({ host: '127.0.0.1', port: server.ports.resp!, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol: 2 });
    try {
      if (enabled) {
        assert.equal(await ts(redis, 'TS.ADD', 'wired', B, 1.25, 'LABELS', 'via', 'strata'), B);
        assert.deepEqual(await ts(redis, 'TS.MRANGE', '-', '+', 'WITHLABELS', 'FILTER', 'via=strata'), [['wired', [['via', 'strata']], [[B, '1.25']]]]);
        assert.equal((await server.tsdb!.series('ts', [{ tag: '__key', op: '=', value: 'wired' }])).length, 1);
      } else {
        await assert.rejects(ts(redis, 'TS.ADD', 'wired', B, 1), /ERR time series are disabled on this node/);
      }
    } finally {
      redis.disconnect();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

/** redis-cli when installed (the redis-tools test installs it when it can). */
const cliMissing = (() => {
  try {
    execFileSync('which', ['redis-cli'], { stdio: 'pipe' });
    return undefined;
  } catch {
    return 'redis-cli is not installed';
  }
})();

function cli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

test('redis-cli: TS.ADD, TS.RANGE with aggregation, TS.INFO', { skip: cliMissing, timeout: 30_000 }, async () => {
  const h = await start();
  try {
    assert.equal(await cli(h.port, 'TS.CREATE', 'room:1', 'LABELS', 'floor', '2'), 'OK\n');
    assert.equal(await cli(h.port, 'TS.ADD', 'room:1', String(B), '20.5'), `${B}\n`);
    assert.equal(await cli(h.port, 'TS.ADD', 'room:1', String(B + 500), '21.5'), `${B + 500}\n`);
    assert.equal(await cli(h.port, '--no-raw', 'TS.RANGE', 'room:1', '-', '+', 'AGGREGATION', 'avg', '1000'), `1) 1) (integer) ${B}\n   2) 21\n`);
    assert.equal(await cli(h.port, 'TS.RANGE', 'room:1', '-', '+'), `${B}\n20.5\n${B + 500}\n21.5\n`);
    const info = await cli(h.port, '--no-raw', 'TS.INFO', 'room:1');
    assert.match(info, /^ 1\) totalSamples\n 2\) \(integer\) 2\n/);
    assert.match(await cli(h.port, 'TS.ADD', 'room:1', 'x', '1'), /ERR TSDB: invalid timestamp/);
  } finally {
    await h.close();
  }
});
