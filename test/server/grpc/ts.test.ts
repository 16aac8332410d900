// The gRPC strata.v1.TimeSeries service over a real TimeSeriesStore
// (in-memory file system, manual clock) with a real @grpc/grpc-js client:
// client-streamed writes, server-streamed queries in chunks of 1,000 points,
// every field type, aggregates and groups, explain, request checks
// (INVALID_ARGUMENT), schema conflicts (FAILED_PRECONDITION), roles, and a
// node without a store (UNIMPLEMENTED).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { ManualClock, MemFs } from '../../../src/base/index.js';
import { LocalKvService, loadConfig } from '../../../src/node/index.js';
import { Authenticator, hashPassword, newToken } from '../../../src/server/auth.js';
import type { UserConfig } from '../../../src/server/auth.js';
import { DEFAULT_LIMITS } from '../../../src/server/limits.js';
import { ServerMetrics } from '../../../src/server/metrics.js';
import { StrataServer } from '../../../src/server/strata-server.js';
import { GrpcServer, loadGrpcDefinitions } from '../../../src/server/grpc/index.js';
import { TS_SERVICE_NAME } from '../../../src/server/grpc/proto-files.js';
import type { SeriesChunk, TsPlanMessage, TsQueryRequest, WritePointsRequest, WriteSummary } from '../../../src/server/grpc/ts-handlers.js';
import { LocalDirObjectStore, TimeSeriesStore } from '../../../src/tsdb/index.js';
import { statusOf } from './harness.js';
import type { RequestFields } from './harness.js';

const T0 = 1_700_000_000_000;
/** Points start a day before the server clock, on an hour boundary. */
const B = T0 - 86_400_000 - (T0 % 3_600_000);

interface TsHarness {
  address: string;
  tsdb: TimeSeriesStore | undefined;
  client(metadata?: Record<string, string>): TsClient;
  stop(): Promise<void>;
}

async function start(options: { tsdb?: boolean; users?: UserConfig[] } = {}): Promise<TsHarness> {
  const clock = new ManualClock(T0);
  const service = await LocalKvService.open({ dir: '/db', fs: new MemFs(), clock });
  const fs = new MemFs();
  const tsdb = options.tsdb === false ? undefined : await TimeSeriesStore.open({ dir: '/ts', fs, clock, maintenanceIntervalMs: 0, objectStore: new LocalDirObjectStore('/ts-cold', fs) });
  const server = new GrpcServer({
    service,
    tsdb,
    auth: new Authenticator(options.users ?? []),
    limits: { ...DEFAULT_LIMITS },
    metrics: new ServerMetrics(service, { defaultMetrics: false }),
    logger: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
  });
  const address = `127.0.0.1:${await server.start()}`;
  const clients: TsClient[] = [];
  return {
    address,
    tsdb,
    client(metadata = {}) {
      const c = new TsClient(address, metadata);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await server.close();
      await tsdb?.close();
      await service.close();
    },
  };
}

/** A client of strata.v1.TimeSeries built from the same .proto files as the server. */
class TsClient {
  private readonly raw: grpc.Client;
  private readonly defs = loadGrpcDefinitions().timeseries;

  constructor(address: string, private readonly md: Record<string, string>) {
    this.raw = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  }

  private metadata(): grpc.Metadata {
    const m = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.md)) m.set(k, v);
    return m;
  }

  /** Streams the batches (each a Write message) and resolves with the summary. */
  write(batches: Array<RequestFields<WritePointsRequest> | Record<string, unknown>>): Promise<WriteSummary> {
    const def = this.defs['Write']!;
    return new Promise((resolve, reject) => {
      const stream = this.raw.makeClientStreamRequest<unknown, WriteSummary>(def.path, def.requestSerialize, def.responseDeserialize, this.metadata(), (err, value) =>
        err !== null ? reject(err) : resolve(value!),
      );
      for (const b of batches) stream.write(b);
      stream.end();
    });
  }

  /** Every chunk of a query. */
  query(req: RequestFields<TsQueryRequest> | Record<string, unknown>): Promise<SeriesChunk[]> {
    const def = this.defs['Query']!;
    const stream = this.raw.makeServerStreamRequest<unknown, SeriesChunk>(def.path, def.requestSerialize, def.responseDeserialize, req, this.metadata());
    return new Promise((resolve, reject) => {
      const out: SeriesChunk[] = [];
      stream.on('data', (m: SeriesChunk) => out.push(m));
      stream.on('error', reject);
      stream.on('end', () => resolve(out));
    });
  }

  explain(req: RequestFields<TsQueryRequest> | Record<string, unknown>): Promise<TsPlanMessage> {
    const def = this.defs['Explain']!;
    return new Promise((resolve, reject) => {
      this.raw.makeUnaryRequest<unknown, TsPlanMessage>(def.path, def.requestSerialize, def.responseDeserialize, req, this.metadata(), (err, value) => (err !== null ? reject(err) : resolve(value!)));
    });
  }

  close(): void {
    this.raw.close();
  }
}

const float = (v: number) => ({ floatValue: v });
const point = (i: number, host = 'a') => ({ measurement: 'cpu', tags: { host }, fields: { usage: float(i / 2) }, timeMs: B + i * 1000 });
const range = { fromMs: B, toMs: B + 3_600_000 };

let h: TsHarness;
let c: TsClient;

before(async () => {
  h = await start();
  c = h.client();
});
after(async () => {
  await h.stop();
});

test('Write streams 3 batches; Query returns the 2,500 points as 3 chunks of at most 1,000', async () => {
  const batches = [0, 1000, 2000].map((from) => ({ points: Array.from({ length: Math.min(1000, 2500 - from) }, (_, j) => point(from + j)) }));
  assert.deepEqual(await c.write(batches), { batches: 3, points: 2500, values: 2500, newSeries: 1 });
  const chunks = await c.query({ measurement: 'cpu', fields: ['usage'], ...range });
  assert.deepEqual(
    chunks.map((m) => m.timesMs.length),
    [1000, 1000, 500],
  );
  assert.deepEqual(
    chunks.map((m) => m.continued),
    [false, true, true],
  );
  for (const m of chunks) {
    assert.equal(m.type, 'FLOAT');
    assert.deepEqual(m.tags, { host: 'a' });
    assert.equal(m.field, 'usage');
    assert.equal(m.floats.length, m.timesMs.length);
  }
  const times = chunks.flatMap((m) => m.timesMs);
  assert.deepEqual(times, Array.from({ length: 2500 }, (_, i) => B + i * 1000));
  assert.deepEqual(chunks.flatMap((m) => m.floats).slice(0, 3), [0, 0.5, 1]);
  // Descending with a limit.
  const last = await c.query({ measurement: 'cpu', ...range, order: 'DESC', limit: 2 });
  assert.deepEqual(last.map((m) => m.timesMs), [[B + 2499_000, B + 2498_000]]);
});

test('every field type round-trips; int64 within ±(2^53-1) is exact; an unset time is the server clock', async () => {
  const big = Number.MAX_SAFE_INTEGER;
  await c.write([
    {
      points: [
        { measurement: 'dev', tags: { id: 'x' }, fields: { t: float(-1.25), n: { intValue: big }, ok: { boolValue: true }, msg: { stringValue: 'héllo' } }, timeMs: B, nanos: 1234 },
        { measurement: 'dev', tags: { id: 'x' }, fields: { n: { intValue: -5 } }, timeMs: B + 1 },
        { measurement: 'dev', tags: { id: 'x' }, fields: { t: float(2) } },
      ],
    },
  ]);
  const chunks = await c.query({ measurement: 'dev', fromMs: B, toMs: T0 + 1 });
  const by = Object.fromEntries(chunks.map((m) => [m.field, m]));
  assert.deepEqual(by['t']!.floats, [-1.25, 2]);
  assert.deepEqual(by['t']!.timesMs, [B, T0]);
  assert.deepEqual(by['t']!.nanos, [1234, 0]);
  assert.equal(by['n']!.type, 'INTEGER');
  assert.deepEqual(by['n']!.integers, [big, -5]);
  assert.equal(by['ok']!.type, 'BOOLEAN');
  assert.deepEqual(by['ok']!.booleans, [true]);
  assert.equal(by['msg']!.type, 'STRING');
  assert.deepEqual(by['msg']!.strings, ['héllo']);
});

test('a batch may be line protocol instead of points', async () => {
  const body = `lp,host=a usage=1.5,n=3i,ok=t,msg="hi" ${B}\nlp,host=b usage=2 ${B + 1000}\nlp,host=a usage=2.5\n`;
  assert.deepEqual(await c.write([{ lineProtocol: Buffer.from(body), precision: 'MS' }, { lineProtocol: Buffer.from(`lp,host=a usage=3 ${(B + 2000) * 1000}`), precision: 'US' }]), {
    batches: 2,
    points: 4,
    values: 7,
    newSeries: 2,
  });
  const chunks = await c.query({ measurement: 'lp', fields: ['usage'], fromMs: B, toMs: T0 + 1, matchers: [{ tag: 'host', value: 'a' }] });
  assert.deepEqual(
    chunks.map((m) => [m.timesMs, m.floats]),
    [[[B, B + 2000, T0], [1.5, 3, 2.5]]],
  );
});

test('aggregates, groups, matchers and where; Explain shows raw and rollup segments', async () => {
  await c.write([{ points: [0, 1, 2, 3].map((i) => ({ measurement: 'load', tags: { host: `h${i % 2}`, dc: 'east' }, fields: { v: float(i + 1) }, timeMs: B + i * 30_000 })) }]);
  const avg = await c.query({ measurement: 'load', ...range, aggregate: { fn: 'AVG', every: { ms: 60_000 } } });
  assert.deepEqual(
    avg.map((m) => [m.tags['host'], m.timesMs, m.floats]),
    [
      ['h0', [B, B + 60_000], [1, 3]],
      ['h1', [B, B + 60_000], [2, 4]],
    ],
  );
  const grouped = await c.query({ measurement: 'load', ...range, aggregate: { fn: 'SUM', every: { ms: 60_000 } }, groupBy: { tags: ['dc'] } });
  assert.deepEqual(
    grouped.map((m) => [m.tags, m.floats]),
    [[{ dc: 'east' }, [3, 7]]],
  );
  const count = await c.query({ measurement: 'load', ...range, aggregate: { fn: 'COUNT' }, groupBy: {}, matchers: [{ tag: 'host', op: 'REGEX', value: 'h[01]' }] });
  assert.deepEqual(
    count.map((m) => [m.type, m.integers]),
    [['INTEGER', [4]]],
  );
  const where = await c.query({ measurement: 'load', ...range, matchers: [{ tag: 'host', op: 'NEQ', value: 'h0' }], where: { field: 'v', op: 'GT', value: 2 } });
  assert.deepEqual(
    where.map((m) => m.floats),
    [[4]],
  );
  const plan = await c.explain({ measurement: 'load', ...range, aggregate: { fn: 'SUM', every: { ms: 3_600_000 } } });
  assert.equal(plan.series, 2);
  assert.deepEqual(plan.segments, [{ level: 'raw', fromMs: B, toMs: B + 3_600_000 }]);
  await h.tsdb!.flush();
  const sealed = await c.explain({ measurement: 'load', ...range, aggregate: { fn: 'SUM', every: { ms: 3_600_000 } } });
  assert.deepEqual(sealed.segments, [{ level: '1h', fromMs: B, toMs: B + 3_600_000 }]);
  assert.match(sealed.reason, /coarsest exact levels: 1h/);
  const hourly = await c.query({ measurement: 'load', ...range, aggregate: { fn: 'SUM', every: { ms: 3_600_000 } }, groupBy: {} });
  assert.deepEqual(
    hourly.map((m) => m.floats),
    [[10]],
  );
  assert.deepEqual((await c.explain({ measurement: 'load', ...range })).reason, 'raw points requested');
});

test('bad input is INVALID_ARGUMENT, naming the field', async () => {
  const bad = async (p: Promise<unknown>, re: RegExp) => {
    const s = await statusOf(p);
    assert.equal(s.code, grpc.status.INVALID_ARGUMENT, s.details);
    assert.match(s.details, re);
  };
  // 2^53 + 1 does not fit a JS number exactly: refused, not rounded.
  await bad(c.write([{ points: [{ measurement: 'm', fields: { n: { intValue: '9007199254740993' } }, timeMs: B }] }]), /batch 0: points\[0\]\.fields\.n\.int_value must be an integer within ±\(2\^53-1\)/);
  await bad(c.write([{ points: [{ measurement: 'm', fields: { n: { intValue: '-9007199254740992' } }, timeMs: B }] }]), /int_value/);
  await bad(c.write([{ points: [point(0)] }, { points: [{ measurement: 'm', fields: { x: {} }, timeMs: B }] }]), /batch 1: points\[0\]\.fields\.x sets no value/);
  await bad(c.write([{ points: [] }]), /batch 0: a batch needs at least one point/);
  await bad(c.write([{ points: [{ measurement: 'm', fields: {}, timeMs: B }] }]), /batch 0: points\[0\]: invalid point: a point needs at least one field/);
  await bad(c.write([{ points: [point(1), { measurement: '', fields: { x: float(1) }, timeMs: B }] }]), /batch 0: points\[1\]: invalid point: measurement must not be empty/);
  await bad(c.write([{ points: [{ measurement: 'm', tags: { a: '' }, fields: { x: float(1) }, timeMs: B }] }]), /tag "a": value must not be empty/);
  await bad(c.write([{ points: [{ measurement: 'm', tags: { 'a\nb': 'x' }, fields: { x: float(1) }, timeMs: B }] }]), /must not contain control characters/);
  await bad(c.write([{ points: [{ measurement: 'm', fields: { x: float(1) }, timeMs: B, nanos: 1_000_000 }] }]), /nanos must be an integer in 0\.\.999999/);
  await bad(c.write([{ points: [point(1)], lineProtocol: Buffer.from('m x=1') }]), /batch 0: a batch carries points or line_protocol, not both/);
  await bad(c.write([{ lineProtocol: Buffer.from(`m x=1 ${B}\nm x=oops ${B}`), precision: 'MS' }]), /batch 0: line_protocol line 2, column \d+: /);
  await bad(c.write([{ points: [{ measurement: 'm', fields: { x: float(1) }, timeMs: '9007199254740993' }] }]), /time_ms must be an integer within/);
  await bad(c.query({ measurement: 'cpu', fromMs: B, toMs: B }), /fromMs must be before/);
  await bad(c.query({ measurement: '', ...range }), /measurement/);
  await bad(c.query({ measurement: 'cpu', ...range, aggregate: {} }), /aggregate\.fn is required/);
  await bad(c.query({ measurement: 'cpu', ...range, matchers: [{ tag: 'host', op: 'REGEX', value: '(' }] }), /invalid regular expression/);
  await bad(c.query({ measurement: 'cpu', ...range, matchers: [{ tag: '', value: 'a' }] }), /matchers\[0\]\.tag must not be empty/);
  await bad(c.query({ measurement: 'cpu', ...range, order: 7 }), /order: unknown value 7/);
  await bad(c.explain({ measurement: 'cpu', fromMs: B, toMs: B + 1e12, aggregate: { fn: 'SUM', every: { ms: 1 } } }), /too small for the range/);
  // Nothing of a refused batch was written; earlier batches were.
  const chunks = await c.query({ measurement: 'm', fromMs: 0, toMs: T0 + 1 });
  assert.deepEqual(chunks, []);
});

test('a field written with another type is FAILED_PRECONDITION; earlier batches stay written', async () => {
  const s = await statusOf(c.write([{ points: [{ measurement: 'typed', fields: { v: float(1) }, timeMs: B }] }, { points: [{ measurement: 'typed', fields: { v: { intValue: 1 } }, timeMs: B + 1 }] }]));
  assert.equal(s.code, grpc.status.FAILED_PRECONDITION);
  assert.match(s.details, /^batch 1: field "v" of measurement "typed" is float, not integer \(nothing of this batch is written; the 1 batches before it, 1 points, are\)$/);
  const chunks = await c.query({ measurement: 'typed', ...range });
  assert.deepEqual(
    chunks.map((m) => m.floats),
    [[1]],
  );
});

test('roles: a read-only user may query but not write; without a store every method is UNIMPLEMENTED', async () => {
  const reader = newToken();
  const users: UserConfig[] = [{ name: 'bob', passwordHash: hashPassword('bob-pw'), role: 'read-only', tokenHashes: [reader.tokenHash] }];
  const secured = await start({ users });
  try {
    const bob = secured.client({ authorization: `Bearer ${reader.token}` });
    assert.equal((await statusOf(bob.write([{ points: [point(0)] }]))).code, grpc.status.PERMISSION_DENIED);
    assert.deepEqual(await bob.query({ measurement: 'cpu', ...range }), []);
    assert.equal((await statusOf(secured.client().query({ measurement: 'cpu', ...range }))).code, grpc.status.UNAUTHENTICATED);
  } finally {
    await secured.stop();
  }
  const bare = await start({ tsdb: false });
  try {
    const cl = bare.client();
    for (const p of [cl.write([{ points: [point(0)] }]), cl.query({ measurement: 'cpu', ...range }), cl.explain({ measurement: 'cpu', ...range })]) {
      const s = await statusOf(p);
      assert.equal(s.code, grpc.status.UNIMPLEMENTED);
      assert.equal(s.details, 'time series are disabled on this node');
    }
  } finally {
    await bare.stop();
  }
  assert.equal(TS_SERVICE_NAME, 'strata.v1.TimeSeries');
});

test('strata serve wiring: StrataServer gives the gRPC front end its store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-ts-grpc-'));
  const config = loadConfig({ overrides: { 'storage.dataDir': dir, 'server.protocols': 'grpc', 'server.grpcPort': '0' } });
  const server = await StrataServer.start(config, { logger: pino({ level: 'silent' }), clock: new ManualClock(T0) });
  const cl = new TsClient(`127.0.0.1:${server.ports.grpc!}`, {});
  try {
    assert.deepEqual(await cl.write([{ points: [point(0), point(1)] }]), { batches: 1, points: 2, values: 2, newSeries: 1 });
    const chunks = await cl.query({ measurement: 'cpu', ...range });
    assert.deepEqual(
      chunks.map((m) => m.floats),
      [[0, 0.5]],
    );
    assert.equal((await server.tsdb!.series('cpu', [])).length, 1);
  } finally {
    cl.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
