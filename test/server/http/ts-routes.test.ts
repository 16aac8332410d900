// The time-series HTTP routes on a real StrataServer (HTTP front end only,
// a temporary data directory, a manual clock): line protocol, JSON, the
// InfluxDB 2 and Prometheus remote-write endpoints, raw/aggregate/NDJSON
// queries, series and schema listings, retention, deletes, errors with their
// statuses, and authentication.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { ManualClock } from '../../../src/base/index.js';
import { loadConfig } from '../../../src/node/index.js';
import { hashPassword, newToken } from '../../../src/server/auth.js';
import { StrataServer } from '../../../src/server/strata-server.js';
import { encodeRemoteWrite } from '../../../src/tsdb/index.js';
import { queryResultJson } from '../../../src/server/http/ts-routes.js';
import type { TsPlan, TsSeriesResult } from '../../../src/tsdb/index.js';
import { T0_MS, errorOf } from './harness.js';

/** A line-protocol timestamp in ns: `ms` milliseconds plus `extra` nanoseconds. */
const ns = (ms: number, extra = 0) => (BigInt(ms) * 1_000_000n + BigInt(extra)).toString();

interface Running {
  server: StrataServer;
  clock: ManualClock;
  base: string;
  close(): Promise<void>;
}

async function startServer(set: Record<string, string> = {}, users: Array<{ name: string; passwordHash: string; role: 'read-only' | 'read-write'; tokenHashes: string[] }> = []): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-ts-routes-'));
  const config = loadConfig({ overrides: { 'storage.dataDir': dir, 'server.protocols': 'http', 'server.httpPort': '0', ...set } });
  config.security.users = users;
  const clock = new ManualClock(T0_MS);
  const server = await StrataServer.start(config, { logger: pino({ level: 'silent' }), clock });
  return { server, clock, base: `http://127.0.0.1:${server.ports.http!}`, close: () => server.close() };
}

function post(base: string, path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', body, headers });
}

function postJson(base: string, path: string, doc: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return post(base, path, JSON.stringify(doc), { 'content-type': 'application/json', ...headers });
}

async function query(base: string, q: object): Promise<{ series: TsSeriesResult[]; plan: TsPlan }> {
  const r = await postJson(base, '/v1/ts/query', q);
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text) as { series: TsSeriesResult[]; plan: TsPlan };
}

describe('time-series HTTP routes', () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s.close();
  });

  test('line protocol with ns timestamps reads back raw, with sub-millisecond nanos', async () => {
    const body = [
      `cpu,host=a,region=eu usage_user=10.5,usage_system=1i ${ns(T0_MS, 123)}`,
      `cpu,host=a,region=eu usage_user=20.5,usage_system=2i ${ns(T0_MS + 30_000)}`,
      `cpu,host=b,region=eu usage_user=30,usage_system=3i ${ns(T0_MS + 10_000)}`,
      `cpu,host=b,region=eu usage_user=50,usage_system=5i ${ns(T0_MS + 70_000)}`,
      '',
    ].join('\n');
    const w = await post(s.base, '/v1/ts/write', body, { 'content-type': 'text/plain; charset=utf-8' });
    assert.equal(w.status, 204, await w.text());

    const raw = await query(s.base, { measurement: 'cpu', matchers: [{ tag: 'host', op: '=', value: 'a' }], fields: ['usage_user'], fromMs: T0_MS, toMs: T0_MS + 3_600_000 });
    assert.equal(raw.series.length, 1);
    const a = raw.series[0]!;
    assert.deepEqual(a.tags, { host: 'a', region: 'eu' });
    assert.equal(a.field, 'usage_user');
    assert.equal(a.type, 'float');
    assert.deepEqual(a.times, [T0_MS, T0_MS + 30_000]);
    assert.deepEqual(a.nanos, [123, 0]);
    assert.deepEqual(a.values, [10.5, 20.5]);
    assert.ok(raw.plan.segments.every((seg) => seg.level === 'raw'));

    // Matchers as strings work too; the integer field keeps its type.
    const ints = await query(s.base, { measurement: 'cpu', matchers: ['host=b'], fields: ['usage_system'], fromMs: T0_MS, toMs: T0_MS + 3_600_000 });
    assert.equal(ints.series[0]!.type, 'integer');
    assert.deepEqual(ints.series[0]!.values, [3, 5]);
  });

  test('aggregates: avg per minute grouped by host, and one bucket over all series', async () => {
    const r = await query(s.base, {
      measurement: 'cpu',
      fields: ['usage_user'],
      fromMs: T0_MS - (T0_MS % 60_000),
      toMs: T0_MS + 3_600_000,
      aggregate: { fn: 'avg', every: { ms: 60_000 } },
      groupBy: ['host'],
    });
    const byHost = new Map(r.series.map((x) => [x.tags.host, x]));
    // T0 is 20 s into its minute: host a's points (T0, T0+30 s) share a minute, host b's (T0+10 s, T0+70 s) do not.
    const minute = T0_MS - (T0_MS % 60_000);
    assert.equal(T0_MS - minute, 20_000);
    assert.deepEqual(byHost.get('a')!.times, [minute]);
    assert.deepEqual(byHost.get('a')!.values, [15.5]);
    assert.deepEqual(byHost.get('b')!.times, [minute, minute + 60_000]);
    assert.deepEqual(byHost.get('b')!.values, [30, 50]);
    assert.equal(byHost.get('b')!.type, 'float');

    const all = await query(s.base, { measurement: 'cpu', fields: ['usage_user'], fromMs: T0_MS, toMs: T0_MS + 3_600_000, aggregate: { fn: 'max' }, groupBy: [] });
    assert.equal(all.series.length, 1);
    assert.deepEqual(all.series[0]!.values, [50]);
    const count = await query(s.base, { measurement: 'cpu', fields: ['usage_user'], fromMs: T0_MS, toMs: T0_MS + 3_600_000, aggregate: { fn: 'count' }, groupBy: [] });
    assert.deepEqual(count.series[0]!.values, [4]);
    assert.equal(count.series[0]!.type, 'integer');
  });

  test('GET /v1/ts/query?q= answers as POST does; q is required and must be JSON', async () => {
    const doc = { measurement: 'cpu', fields: ['usage_user'], fromMs: T0_MS - (T0_MS % 60_000), toMs: T0_MS + 3_600_000, aggregate: { fn: 'avg', every: { ms: 60_000 } }, groupBy: ['host'] };
    const viaPost = await (await postJson(s.base, '/v1/ts/query', doc)).text();
    const r = await fetch(`${s.base}/v1/ts/query?q=${encodeURIComponent(JSON.stringify(doc))}`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), viaPost);
    assert.equal((JSON.parse(viaPost) as { series: unknown[] }).series.length, 2);
    const nd = await fetch(`${s.base}/v1/ts/query?format=ndjson&q=${encodeURIComponent(JSON.stringify(doc))}`);
    assert.match(nd.headers.get('content-type') ?? '', /ndjson/);
    assert.equal((await nd.text()).trim().split('\n').length, 3, 'a plan line and one line per host');
    for (const [path, status, pattern] of [
      ['/v1/ts/query', 400, /'q' \(the query as JSON\) is required/],
      ['/v1/ts/query?q=%7Bnot', 400, /'q' is not valid JSON/],
      [`/v1/ts/query?q=${encodeURIComponent(JSON.stringify({ ...doc, form: 1 }))}`, 400, /"form": unknown key/],
      [`/v1/ts/query?x=1&q=${encodeURIComponent(JSON.stringify(doc))}`, 400, /unknown query parameter 'x'/],
    ] as const) {
      const bad = await fetch(`${s.base}${path}`);
      assert.equal(bad.status, status, path);
      assert.match(errorOf(await bad.json()).message, pattern);
    }
  });

  test('NDJSON streaming: a plan line, then pieces of at most 1000 points', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 2500; i++) lines.push(`stream,host=s v=${i} ${ns(T0_MS + i)}`);
    assert.equal((await post(s.base, '/v1/ts/write?precision=ns', lines.join('\n'))).status, 204);
    const q = { measurement: 'stream', fromMs: T0_MS, toMs: T0_MS + 10_000 };
    const ways: Array<{ path: string; headers: Record<string, string> }> = [
      { path: '/v1/ts/query?format=ndjson', headers: {} },
      { path: '/v1/ts/query', headers: { accept: 'application/x-ndjson' } },
    ];
    for (const how of ways) {
      const r = await postJson(s.base, how.path, q, how.headers);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^application\/x-ndjson/);
      const out = (await r.text()).split('\n');
      assert.equal(out.pop(), '', 'every line ends with a newline');
      const first = JSON.parse(out[0]!) as { plan?: TsPlan };
      assert.ok(first.plan !== undefined && first.plan.series === 1);
      const pieces = out.slice(1).map((l) => JSON.parse(l) as TsSeriesResult);
      assert.deepEqual(pieces.map((p) => p.times.length), [1000, 1000, 500]);
      const values = pieces.flatMap((p) => p.values);
      assert.deepEqual(values, Array.from({ length: 2500 }, (_, i) => i));
      assert.ok(pieces.every((p) => p.field === 'v' && p.tags.host === 's'));
    }
    // A bad query is still a plain 400 (checked before the stream starts).
    const bad = await postJson(s.base, '/v1/ts/query?format=ndjson', { ...q, toMs: T0_MS });
    assert.equal(bad.status, 400);
    assert.equal(errorOf(await bad.json()).code, 'INVALID_ARGUMENT');
  });

  test('a bad line is 400 naming line and column; nothing of the request is written', async () => {
    const r = await post(s.base, '/v1/ts/write', `bad,host=x v=1 ${ns(T0_MS)}\nbad,host=x v=1,w=oops ${ns(T0_MS)}\n`);
    assert.equal(r.status, 400);
    const e = errorOf(await r.json());
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, /^line 2, column \d+: /);
    const q = await query(s.base, { measurement: 'bad', fromMs: T0_MS - 1000, toMs: T0_MS + 1000 });
    assert.deepEqual(q.series, []);
    const precision = await post(s.base, '/v1/ts/write?precision=minutes', `x v=1`);
    assert.equal(precision.status, 400);
    assert.match(errorOf(await precision.json()).message, /precision/);
  });

  test('a body of 64 KiB and more goes through the parser thread: every point lands, and a bad line is still named', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) lines.push(`big,host=h${i % 7},rack=r\\ ${i % 3} v=${i / 4},n=${i}i,ok=${i % 2 === 0},s="x${i % 5}" ${ns(T0_MS + i * 1000, i % 10)}`);
    const body = `${lines.join('\n')}\n`;
    assert.ok(Buffer.byteLength(body) >= 64 * 1024, 'large enough for the parser thread');
    const w = await post(s.base, '/v1/ts/write', body, { 'content-type': 'text/plain' });
    assert.equal(w.status, 204, await w.text());
    const r = await query(s.base, { measurement: 'big', fields: ['v', 'n', 'ok', 's'], fromMs: T0_MS, toMs: T0_MS + 3_600_000, aggregate: { fn: 'count' }, groupBy: [] });
    assert.deepEqual(Object.fromEntries(r.series.map((x) => [x.field, x.values[0]])), { v: 3000, n: 3000, ok: 3000, s: 3000 });
    const one = await query(s.base, { measurement: 'big', matchers: [{ tag: 'host', op: '=', value: 'h3' }, { tag: 'rack', op: '=', value: 'r 1' }], fields: ['v', 's'], fromMs: T0_MS + 31_000, toMs: T0_MS + 32_000 });
    assert.deepEqual(Object.fromEntries(one.series.map((x) => [x.field, [x.values, x.nanos]])), { v: [[7.75], [1]], s: [['x1'], [1]] });
    const bad = [...lines.slice(0, 2000), 'big,host=h1 v=oops 1', ...lines.slice(2000)].join('\n');
    const e = await post(s.base, '/v1/ts/write', bad, { 'content-type': 'text/plain' });
    assert.equal(e.status, 400);
    assert.match(errorOf(await e.json()).message, /^line 2001, column 15: invalid field value "oops" for field "v"/);
  });

  test('a field changing type is 409 SCHEMA_CONFLICT', async () => {
    assert.equal((await post(s.base, '/v1/ts/write', `sc,host=a temp=1.5 ${ns(T0_MS)}`)).status, 204);
    const r = await post(s.base, '/v1/ts/write', `sc,host=a temp="warm" ${ns(T0_MS + 1)}`);
    assert.equal(r.status, 409);
    const e = errorOf(await r.json());
    assert.equal(e.code, 'SCHEMA_CONFLICT');
    assert.match(e.message, /temp/);
  });

  test('JSON points body; precision is refused with JSON; unknown keys are named', async () => {
    const doc = { points: [{ measurement: 'js', tags: { room: 'k' }, fields: { temp: 21.5, n: { integer: 3 }, ok: true, note: 'hi' }, time: T0_MS + 5 }] };
    assert.equal((await postJson(s.base, '/v1/ts/write', doc)).status, 204);
    const q = await query(s.base, { measurement: 'js', fromMs: T0_MS, toMs: T0_MS + 10 });
    const byField = Object.fromEntries(q.series.map((x) => [x.field, x]));
    assert.deepEqual(byField.temp!.values, [21.5]);
    assert.equal(byField.n!.type, 'integer');
    assert.deepEqual(byField.ok!.values, [true]);
    assert.deepEqual(byField.note!.values, ['hi']);
    const withPrecision = await postJson(s.base, '/v1/ts/write?precision=ms', doc);
    assert.equal(withPrecision.status, 400);
    const typo = await postJson(s.base, '/v1/ts/write', { points: [{ measurement: 'js', fields: { temp: 1 }, timestamp: 5 }] });
    assert.equal(typo.status, 400);
    assert.match(errorOf(await typo.json()).message, /points\[0\]\.timestamp/);
  });

  test('InfluxDB 2 write: gzip body, precision, bucket required', async () => {
    const body = gzipSync(Buffer.from(`influx,host=g v=1 ${T0_MS / 1000}\ninflux,host=g v=2 ${T0_MS / 1000 + 1}\n`));
    const r = await post(s.base, '/api/v2/write?bucket=telegraf&org=acme&precision=s', body, { 'content-encoding': 'gzip', 'content-type': 'text/plain; charset=utf-8' });
    assert.equal(r.status, 204, await r.text());
    const q = await query(s.base, { measurement: 'influx', fromMs: T0_MS, toMs: T0_MS + 10_000 });
    assert.deepEqual(q.series[0]!.times, [T0_MS, T0_MS + 1000]);
    assert.deepEqual(q.series[0]!.values, [1, 2]);

    const missing = await post(s.base, '/api/v2/write?org=acme', `influx v=1`);
    assert.equal(missing.status, 400);
    assert.match(errorOf(await missing.json()).message, /bucket/);
    const notGzip = await post(s.base, '/api/v2/write?bucket=b', Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' });
    assert.equal(notGzip.status, 400);
    assert.equal(errorOf(await notGzip.json()).code, 'PROTOCOL');
    const brotli = await post(s.base, '/api/v2/write?bucket=b', Buffer.from('x'), { 'content-encoding': 'br' });
    assert.equal(brotli.status, 415);
  });

  test('Prometheus remote write: samples read back; NaN and infinities travel as strings', async () => {
    const body = encodeRemoteWrite([
      { labels: { __name__: 'http_requests_total', job: 'api', instance: 'i1' }, samples: [{ value: 1, timestampMs: T0_MS }, { value: 5, timestampMs: T0_MS + 15_000 }] },
      { labels: { __name__: 'weird', job: 'api' }, samples: [{ value: NaN, timestampMs: T0_MS }, { value: Infinity, timestampMs: T0_MS + 1 }, { value: -Infinity, timestampMs: T0_MS + 2 }, { value: 0.5, timestampMs: T0_MS + 3 }] },
    ]);
    const r = await post(s.base, '/api/v1/write', body, { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' });
    assert.equal(r.status, 204, await r.text());
    const q = await query(s.base, { measurement: 'http_requests_total', matchers: [{ tag: 'job', op: '=~', value: 'a.i' }], fromMs: T0_MS, toMs: T0_MS + 60_000 });
    assert.deepEqual(q.series[0]!.tags, { job: 'api', instance: 'i1' });
    assert.equal(q.series[0]!.field, 'value');
    assert.deepEqual(q.series[0]!.values, [1, 5]);
    const w = await query(s.base, { measurement: 'weird', fromMs: T0_MS, toMs: T0_MS + 60_000 });
    assert.equal(w.series[0]!.type, 'float');
    assert.deepEqual(w.series[0]!.values, ['NaN', '+Inf', '-Inf', 0.5]);
    // The streamed form encodes them the same way.
    const nd = await postJson(s.base, '/v1/ts/query?format=ndjson', { measurement: 'weird', fromMs: T0_MS, toMs: T0_MS + 60_000 });
    const piece = JSON.parse((await nd.text()).split('\n')[1]!) as TsSeriesResult;
    assert.deepEqual(piece.values, ['NaN', '+Inf', '-Inf', 0.5]);

    const garbage = await post(s.base, '/api/v1/write', Buffer.from([0x05, 1, 2]), { 'content-encoding': 'snappy' });
    assert.equal(garbage.status, 400);
    const v2 = await post(s.base, '/api/v1/write', body, { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'content-encoding': 'snappy' });
    assert.equal(v2.status, 415);
  });

  test('series, measurements, schema, explain', async () => {
    const series = await fetch(`${s.base}/v1/ts/series?measurement=cpu&match=region=eu&match=host!~b.*`);
    assert.equal(series.status, 200);
    const infos = ((await series.json()) as { series: Array<{ tags: Record<string, string>; fields: Record<string, string>; firstMs: number | null; headPoints: number }> }).series;
    assert.equal(infos.length, 1);
    assert.deepEqual(infos[0]!.tags, { host: 'a', region: 'eu' });
    assert.deepEqual(infos[0]!.fields, { usage_user: 'float', usage_system: 'integer' });
    assert.equal(infos[0]!.firstMs, T0_MS);

    const badMatch = await fetch(`${s.base}/v1/ts/series?measurement=cpu&match=host`);
    assert.equal(badMatch.status, 400);
    const noMeasurement = await fetch(`${s.base}/v1/ts/series`);
    assert.equal(noMeasurement.status, 400);

    const m = (await (await fetch(`${s.base}/v1/ts/measurements`)).json()) as { measurements: string[] };
    for (const name of ['cpu', 'stream', 'js', 'influx', 'http_requests_total']) assert.ok(m.measurements.includes(name), name);
    const schema = await fetch(`${s.base}/v1/ts/schema/cpu`);
    assert.deepEqual(await schema.json(), { measurement: 'cpu', fields: { usage_user: 'float', usage_system: 'integer' } });
    assert.equal((await fetch(`${s.base}/v1/ts/schema/nope`)).status, 404);

    const plan = await postJson(s.base, '/v1/ts/explain', { measurement: 'cpu', fromMs: T0_MS, toMs: T0_MS + 3_600_000, aggregate: { fn: 'avg', every: { ms: 60_000 } } });
    assert.equal(plan.status, 200);
    const p = ((await plan.json()) as { plan: TsPlan }).plan;
    assert.equal(p.series, 2);
    assert.equal(typeof p.reason, 'string');
  });

  test('query bodies are checked: unknown keys, types and content type', async () => {
    const cases: Array<[object, RegExp]> = [
      [{ measurement: 'cpu', fromMs: T0_MS, toMs: T0_MS + 1, form: 1 }, /"form": unknown key/],
      [{ measurement: 'cpu', fromMs: String(T0_MS), toMs: T0_MS + 1 }, /fromMs must be an integer/],
      [{ measurement: 'cpu', fromMs: T0_MS, toMs: T0_MS + 1, aggregate: { fn: 'median' } }, /aggregate\.fn/],
      [{ measurement: 'cpu', fromMs: T0_MS, toMs: T0_MS + 1, aggregate: { fn: 'avg', every: '1m' } }, /aggregate\.every/],
      [{ measurement: 'cpu', fromMs: T0_MS, toMs: T0_MS + 1, matchers: [{ tag: 'host', op: '==', value: 'a' }] }, /matchers\[0\]\.op/],
      [{ measurement: 'cpu', fromMs: T0_MS, toMs: T0_MS + 1, matchers: ['host=~('] }, /regular expression/],
      [{ measurement: 'cpu', fromMs: T0_MS, toMs: T0_MS + 1, level: '5m' }, /level/],
    ];
    for (const [doc, pattern] of cases) {
      const r = await postJson(s.base, '/v1/ts/query', doc);
      assert.equal(r.status, 400, JSON.stringify(doc));
      assert.match(errorOf(await r.json()).message, pattern);
    }
    const notJson = await post(s.base, '/v1/ts/query', 'measurement=cpu', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(notJson.status, 415);
  });

  test('retention with durations, delete, flush', async () => {
    const put = await fetch(`${s.base}/v1/ts/retention/cpu`, { method: 'PUT', body: JSON.stringify({ raw: '30d', '1h': '1y', '1d': 0 }), headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 200);
    const day = 86_400_000;
    assert.deepEqual(await put.json(), { measurement: 'cpu', retention: { raw: 30 * day, '1h': 365 * day } });
    assert.deepEqual(await (await fetch(`${s.base}/v1/ts/retention/cpu`)).json(), { measurement: 'cpu', retention: { raw: 30 * day, '1h': 365 * day } });
    const bad = await fetch(`${s.base}/v1/ts/retention/cpu`, { method: 'PUT', body: JSON.stringify({ raw: '30 days' }), headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);

    const flushed = await post(s.base, '/v1/ts/flush', '');
    assert.equal(flushed.status, 200);
    const del = await postJson(s.base, '/v1/ts/delete', { measurement: 'cpu', matchers: [{ tag: 'host', op: '=', value: 'b' }], fromMs: T0_MS, toMs: T0_MS + 3_600_000 });
    assert.equal(del.status, 200);
    assert.deepEqual(await del.json(), { deleted: 2 });
    const q = await query(s.base, { measurement: 'cpu', fields: ['usage_user'], fromMs: T0_MS, toMs: T0_MS + 3_600_000 });
    assert.deepEqual(q.series.map((x) => x.tags.host), ['a']);
  });

  test('float rounding: PUT/GET /v1/ts/rounding/:m, then line protocol floats are stored at that many digits', async () => {
    const put = (body: unknown) => fetch(`${s.base}/v1/ts/rounding/rnd`, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.deepEqual(await (await fetch(`${s.base}/v1/ts/rounding/rnd`)).json(), { measurement: 'rnd', significantDigits: null });
    const ok = await put({ significantDigits: 4 });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { measurement: 'rnd', significantDigits: 4 });
    assert.deepEqual(await (await fetch(`${s.base}/v1/ts/rounding/rnd`)).json(), { measurement: 'rnd', significantDigits: 4 });
    for (const [body, pattern] of [
      [{ significantDigits: 16 }, /significantDigits must be an integer from 1 to 15/],
      [{ significantDigits: '4' }, /significantDigits must be an integer/],
      [{ digits: 4 }, /rounding key "digits"/],
      [[4], /must be a JSON object/],
    ] as const) {
      const bad = await put(body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.match(errorOf(await bad.json()).message, pattern);
    }
    const w = await post(s.base, '/v1/ts/write?precision=ms', `rnd,host=a v=3.14159265,n=31415i ${T0_MS}`);
    assert.equal(w.status, 204);
    const q = await query(s.base, { measurement: 'rnd', fromMs: T0_MS, toMs: T0_MS + 1 });
    const by = Object.fromEntries(q.series.map((x) => [x.field, x.values]));
    assert.deepEqual(by, { v: [3.142], n: [31415] });
    const cleared = await put({ significantDigits: null });
    assert.deepEqual(await cleared.json(), { measurement: 'rnd', significantDigits: null });
  });

  test('/metrics carries the time-series counters; /openapi.json covers every route', async () => {
    const text = await (await fetch(`${s.base}/metrics`)).text();
    assert.match(text, /^strata_tsdb_points_written_total [1-9]\d*$/m);
    assert.match(text, /^strata_tsdb_series [1-9]\d*$/m);
    assert.match(text, /^strata_tsdb_head_points \d+$/m);
    assert.match(text, /^strata_tsdb_chunks_sealed_total [1-9]\d*$/m, 'the flush above sealed chunks');
    assert.match(text, /^strata_tsdb_rollup_buckets_written_total \d+$/m);
    assert.match(text, /strata_commands_total\{protocol="http",command="ts.write",status="ok"\} [1-9]/);

    const doc = (await (await fetch(`${s.base}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const expected = [
      'post /v1/ts/write',
      'post /api/v2/write',
      'post /api/v1/write',
      'post /v1/ts/query',
      'get /v1/ts/query',
      'post /v1/ts/explain',
      'get /v1/ts/series',
      'get /v1/ts/measurements',
      'get /v1/ts/schema/{measurement}',
      'post /v1/ts/delete',
      'put /v1/ts/retention/{measurement}',
      'get /v1/ts/retention/{measurement}',
      'put /v1/ts/rounding/{measurement}',
      'get /v1/ts/rounding/{measurement}',
      'post /v1/ts/flush',
    ];
    const documented: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      if (path.startsWith('/v1/kv') || ['/health', '/metrics', '/openapi.json'].includes(path)) continue;
      for (const method of Object.keys(item)) if (method !== 'parameters') documented.push(`${method} ${path}`);
    }
    assert.deepEqual(documented.sort(), [...expected].sort());
    const refs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) k === '$ref' && typeof x === 'string' ? refs.push(x) : walk(x);
    };
    walk(doc);
    for (const ref of refs) {
      let at: unknown = doc;
      for (const part of ref.replace(/^#\//, '').split('/')) at = (at as Record<string, unknown> | undefined)?.[part];
      assert.ok(at !== undefined, `unresolved ${ref}`);
    }
  });
});

describe('time-series HTTP routes with users configured', () => {
  let s: Running;
  const writer = newToken();
  const reader = newToken();
  before(async () => {
    s = await startServer({}, [
      { name: 'writer', passwordHash: hashPassword('w-pass'), role: 'read-write', tokenHashes: [writer.tokenHash] },
      { name: 'reader', passwordHash: hashPassword('r-pass'), role: 'read-only', tokenHashes: [reader.tokenHash] },
    ]);
  });
  after(async () => {
    await s.close();
  });

  test('401 without credentials, 403 for a read-only writer; Token works on /api/v2/write', async () => {
    const line = `auth,host=a v=1 ${ns(T0_MS)}`;
    for (const [path, body] of [['/v1/ts/write', line], ['/api/v2/write?bucket=b', line], ['/api/v1/write', encodeRemoteWrite([])], ['/v1/ts/query', '{}']] as const) {
      const r = await post(s.base, path, body);
      assert.equal(r.status, 401, path);
      assert.equal(errorOf(await r.json()).code, 'UNAUTHENTICATED');
    }
    assert.equal((await fetch(`${s.base}/v1/ts/measurements`)).status, 401);

    const denied = await post(s.base, '/v1/ts/write', line, { authorization: `Bearer ${reader.token}` });
    assert.equal(denied.status, 403);
    assert.equal(errorOf(await denied.json()).code, 'PERMISSION_DENIED');

    const influx = await post(s.base, '/api/v2/write?bucket=b', line, { authorization: `Token ${writer.token}` });
    assert.equal(influx.status, 204, await influx.text());
    const wrongToken = await post(s.base, '/api/v2/write?bucket=b', line, { authorization: 'Token nope' });
    assert.equal(wrongToken.status, 401);
    // The Token scheme is the InfluxDB route's only.
    const elsewhere = await post(s.base, '/v1/ts/write', line, { authorization: `Token ${writer.token}` });
    assert.equal(elsewhere.status, 401);

    const basic = `Basic ${Buffer.from('reader:r-pass').toString('base64')}`;
    const r = await postJson(s.base, '/v1/ts/query', { measurement: 'auth', fromMs: T0_MS, toMs: T0_MS + 1 }, { authorization: basic });
    assert.equal(r.status, 200);
    assert.deepEqual(((await r.json()) as { series: TsSeriesResult[] }).series[0]!.values, [1]);
  });
});

describe('time-series HTTP routes: limits and a disabled tsdb', () => {
  test('the decompressed-size limit applies to gzip and remote-write bodies (413)', async () => {
    const s = await startServer({ 'tsdb.remoteWriteMaxBytes': '1KiB' });
    try {
      const big = Array.from({ length: 200 }, (_, i) => `big,host=h v=${i} ${ns(T0_MS + i)}`).join('\n');
      const r = await post(s.base, '/api/v2/write?bucket=b', gzipSync(Buffer.from(big)), { 'content-encoding': 'gzip' });
      assert.equal(r.status, 413);
      assert.equal(errorOf(await r.json()).code, 'LIMIT_EXCEEDED');
      const samples = Array.from({ length: 200 }, (_, i) => ({ value: i, timestampMs: T0_MS + i }));
      const rw = await post(s.base, '/api/v1/write', encodeRemoteWrite([{ labels: { __name__: 'm' }, samples }]), { 'content-encoding': 'snappy' });
      assert.equal(rw.status, 413);
      // Small bodies still go through.
      assert.equal((await post(s.base, '/api/v2/write?bucket=b', gzipSync(Buffer.from(`small v=1 ${ns(T0_MS)}`)), { 'content-encoding': 'gzip' })).status, 204);
    } finally {
      await s.close();
    }
  });

  test('tsdb.enabled false: no tsdb, the routes are absent (404)', async () => {
    const s = await startServer({ 'tsdb.enabled': 'false' });
    try {
      assert.equal(s.server.tsdb, undefined);
      const r = await post(s.base, '/v1/ts/write', `x v=1`);
      assert.equal(r.status, 404);
      const doc = (await (await fetch(`${s.base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      assert.equal(doc.paths['/v1/ts/write'], undefined);
    } finally {
      await s.close();
    }
  });

  test('points survive a restart of the server on the same data directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-ts-restart-'));
    const config = loadConfig({ overrides: { 'storage.dataDir': dir, 'server.protocols': 'http', 'server.httpPort': '0' } });
    const clock = new ManualClock(T0_MS);
    let server = await StrataServer.start(config, { logger: pino({ level: 'silent' }), clock });
    let base = `http://127.0.0.1:${server.ports.http!}`;
    assert.equal((await post(base, '/v1/ts/write', `keep,host=a v=1 ${ns(T0_MS)}\nkeep,host=a v=2 ${ns(T0_MS + 1)}`)).status, 204);
    const kv = await fetch(`${base}/v1/kv/k`, { method: 'PUT', body: 'v' });
    assert.equal(kv.status, 200);
    await server.close();
    server = await StrataServer.start(config, { logger: pino({ level: 'silent' }), clock });
    base = `http://127.0.0.1:${server.ports.http!}`;
    try {
      const q = await query(base, { measurement: 'keep', fromMs: T0_MS, toMs: T0_MS + 10 });
      assert.deepEqual(q.series[0]!.values, [1, 2]);
      assert.equal(await (await fetch(`${base}/v1/kv/k`)).text(), 'v', 'the key-value engine in dataDir is unaffected by the tsdb beside it');
    } finally {
      await server.close();
    }
  });
});

test('queryResultJson is JSON.stringify of the result, NaN and infinities as strings, shared bucket times written once per run of equal arrays', () => {
  const plan: TsPlan = { series: 2, segments: [{ level: 'raw', fromMs: 0, toMs: 10 }], reason: 'test' };
  const times = [1_451_606_400_000, 1_451_606_460_000];
  const series: TsSeriesResult[] = [
    { measurement: 'cpu', tags: { host: 'a "q"' }, field: 'u', type: 'float', times, values: [1.5, NaN] },
    { measurement: 'cpu', tags: { host: 'a "q"' }, field: 'v', type: 'float', times: [...times], values: [-0, Infinity] },
    { measurement: 'cpu', tags: {}, field: 'n', type: 'integer', times: [5], nanos: [7], values: [3] },
    { measurement: 'cpu', tags: {}, field: 's', type: 'string', times: [5], values: ['x\ny'] },
    { measurement: 'cpu', tags: {}, field: 'b', type: 'boolean', times: [1_451_606_400_000, 1_451_606_460_001], values: [true, false] },
  ];
  const text = queryResultJson({ series, plan });
  assert.deepEqual(JSON.parse(text), {
    series: [
      { measurement: 'cpu', tags: { host: 'a "q"' }, field: 'u', type: 'float', times, values: [1.5, 'NaN'] },
      { measurement: 'cpu', tags: { host: 'a "q"' }, field: 'v', type: 'float', times, values: [0, '+Inf'] },
      { measurement: 'cpu', tags: {}, field: 'n', type: 'integer', times: [5], nanos: [7], values: [3] },
      { measurement: 'cpu', tags: {}, field: 's', type: 'string', times: [5], values: ['x\ny'] },
      { measurement: 'cpu', tags: {}, field: 'b', type: 'boolean', times: [1_451_606_400_000, 1_451_606_460_001], values: [true, false] },
    ],
    plan,
  });
  assert.deepEqual(JSON.parse(queryResultJson({ series: [], plan })), { series: [], plan });
});
