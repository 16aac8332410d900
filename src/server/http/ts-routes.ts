import { Readable } from 'node:stream';
import { gunzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, StrataError, invalidArgument, isStrataError } from '../../base/index.js';
import { parseDurationMs } from '../../node/index.js';
import { ROLLUP_LEVELS, decodeRemoteWrite, parseJsonPoints } from '../../tsdb/index.js';
import type { LineProtocolParsePool } from '../../tsdb/index.js';
import type {
  AggregateFn,
  FieldValue,
  Interval,
  RetentionPolicy,
  RollupLevel,
  TagMatchOp,
  TagMatcher,
  TimePrecision,
  TimeSeriesService,
  TsPlan,
  TsPoint,
  TsPointColumns,
  TsQueryResult,
  TsQuery,
  TsSeriesInfo,
  TsSeriesResult,
} from '../../tsdb/index.js';
import type { ServerLimits } from '../limits.js';
import { parseJsonBody } from './batch-request.js';
import { HttpReplyError } from './http-error.js';
import type { ErrorBody } from './http-error.js';
import type { HttpApp } from './http-app.js';
import { percentDecode, splitTarget } from './percent-encoding.js';
import { QUERY_PARAMS_MAX, QueryParams } from './query-params.js';
import type { RouteMeta } from './route-meta.js';

/**
 * The time-series routes of the HTTP front end (DESIGN.md "Time series"):
 *
 *   POST /v1/ts/write        line protocol (default) or JSON points   → 204
 *   POST /api/v2/write       InfluxDB 2 write API (Telegraf, client libraries) → 204
 *   POST /api/v1/write       Prometheus remote write 1.0 (snappy protobuf) → 204
 *   POST /v1/ts/query        a TsQuery as JSON → {series, plan} or NDJSON
 *   GET  /v1/ts/query?q=     the same, the TsQuery URL-encoded in q
 *   POST /v1/ts/explain      a TsQuery as JSON → {plan}
 *   GET  /v1/ts/series       ?measurement=&match=...&limit=  → {series}
 *   GET  /v1/ts/measurements → {measurements}
 *   GET  /v1/ts/schema/:m    → {measurement, fields}
 *   POST /v1/ts/delete       {measurement, matchers, fromMs, toMs} → {deleted}
 *   PUT|GET /v1/ts/retention/:m  a RetentionPolicy (ms or "30d")
 *   PUT|GET /v1/ts/rounding/:m   {significantDigits: 1..15 | null}: float rounding (null: exact)
 *   POST /v1/ts/flush        seal heads, flush the engine → {ok}
 *
 * Floats that are not finite (NaN, +Inf, -Inf: Prometheus staleness markers
 * and the like) cannot be JSON numbers; in results they are the strings
 * "NaN", "+Inf" and "-Inf" (the Prometheus API's convention). A client
 * tells them from string fields by the series' `type` ('float').
 */

/** Default for `tsdb.remoteWriteMaxBytes` when the server is built without it (tests). */
export const TS_DECOMPRESSED_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Points per NDJSON line of a streamed query. */
export const TS_STREAM_POINTS_PER_LINE = 1000;
/** Default number of series /v1/ts/series returns. */
export const TS_SERIES_LIMIT_DEFAULT = 1000;
/** The metrics name of the InfluxDB-compatible write route (its `Token` scheme is accepted, see influxAuthorization). */
export const INFLUX_WRITE_ROUTE = 'ts.influx_write';

export const TS_PRECISIONS: readonly TimePrecision[] = ['ns', 'us', 'ms', 's'];
const AGGREGATES: readonly AggregateFn[] = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'percentile'];
const MATCH_OPS: readonly TagMatchOp[] = ['=', '!=', '=~', '!~'];
const WHERE_OPS = ['>', '>=', '<', '<=', '=', '!='] as const;
const LEVELS: ReadonlyArray<'auto' | 'raw' | RollupLevel> = ['auto', 'raw', ...ROLLUP_LEVELS];
const QUERY_KEYS = ['measurement', 'matchers', 'fields', 'fromMs', 'toMs', 'aggregate', 'groupBy', 'where', 'limit', 'order', 'level'];
const NDJSON = 'application/x-ndjson';

export interface TsRouteContext {
  tsdb: TimeSeriesService;
  limits: ServerLimits;
  /** Largest decompressed body (remote write snappy, gzip line protocol). */
  decompressedBytesMax: number;
  /** Parses line-protocol bodies (large ones off the event loop). */
  parser: LineProtocolParsePool;
}

/**
 * The InfluxDB client libraries and Telegraf authenticate with
 * `Authorization: Token <token>`: on the InfluxDB-compatible route that is
 * the same API token as `Bearer <token>` (security.users[].tokenHashes).
 */
export function influxAuthorization(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^token\s+(.*)$/is.exec(header);
  return m === null ? header : `Bearer ${m[1]!.trim()}`;
}

// ------------------------------------------------------------------ JSON output

/** A float value fit for JSON: NaN and the infinities as "NaN", "+Inf", "-Inf". */
export function jsonValue(v: FieldValue): FieldValue {
  if (typeof v !== 'number' || Number.isFinite(v)) return v;
  return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

function seriesJson(r: TsSeriesResult): TsSeriesResult {
  // Only series holding NaN or an infinity need new values (most have none: no copy).
  if (!r.values.some((v) => typeof v === 'number' && !Number.isFinite(v))) return r;
  return { ...r, values: r.values.map(jsonValue) };
}

/**
 * The JSON text of a query result: what JSON.stringify gives for
 * `{ series: series.map(seriesJson), plan }`, except that a series whose
 * times equal the previous series' (the fields of one group share their
 * buckets) reuses that text instead of formatting every timestamp again:
 * formatting numbers is most of the serializing.
 */
export function queryResultJson(result: TsQueryResult): string {
  let out = '{"series":[';
  let prevTimes: readonly number[] | undefined;
  let prevText = '';
  for (let i = 0; i < result.series.length; i++) {
    const r = seriesJson(result.series[i]!);
    let times: string;
    if (prevTimes !== undefined && sameNumbers(prevTimes, r.times)) times = prevText;
    else {
      times = JSON.stringify(r.times);
      prevTimes = r.times;
      prevText = times;
    }
    if (i > 0) out += ',';
    out += `{"measurement":${JSON.stringify(r.measurement)},"tags":${JSON.stringify(r.tags)},"field":${JSON.stringify(r.field)},"type":${JSON.stringify(r.type)},"times":${times}`;
    if (r.nanos !== undefined) out += `,"nanos":${JSON.stringify(r.nanos)}`;
    out += `,"values":${JSON.stringify(r.values)}}`;
  }
  return `${out}],"plan":${JSON.stringify(result.plan)}}`;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function seriesInfoJson(s: TsSeriesInfo): Record<string, unknown> {
  return { ...s, firstMs: s.firstMs ?? null, lastMs: s.lastMs ?? null };
}

// ------------------------------------------------------------------ request parts

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

function queryOf(request: FastifyRequest, allowed: readonly string[]): QueryParams {
  return new QueryParams(splitTarget(request.originalUrl).query, allowed);
}

/** Query parameters where some names may repeat (`match=`); each value as UTF-8 text. */
function multiQueryOf(request: FastifyRequest, allowed: readonly string[], repeatable: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const query = splitTarget(request.originalUrl).query;
  if (query.length === 0) return out;
  const parts = query.split('&');
  if (parts.length > QUERY_PARAMS_MAX) throw invalidArgument(`too many query parameters (at most ${QUERY_PARAMS_MAX})`);
  for (const part of parts) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const name = percentDecode(eq < 0 ? part : part.slice(0, eq), true);
    const value = percentDecode(eq < 0 ? '' : part.slice(eq + 1), true);
    if (name === undefined || value === undefined) throw new StrataError(ERROR_CODES.PROTOCOL, 'malformed percent-encoding in the query string');
    const n = name.toString('latin1');
    if (!allowed.includes(n)) throw invalidArgument(`unknown query parameter '${JSON.stringify(n.slice(0, 64)).slice(1, -1)}' (allowed: ${allowed.join(', ')})`);
    const list = out.get(n) ?? [];
    if (list.length > 0 && !repeatable.includes(n)) throw invalidArgument(`query parameter '${n}' given more than once`);
    list.push(value.toString('utf8'));
    out.set(n, list);
  }
  return out;
}

function bodyOf(request: FastifyRequest): Buffer {
  const body: unknown = request.body;
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (!Buffer.isBuffer(body)) throw new StrataError(ERROR_CODES.PROTOCOL, 'unexpected request body');
  return body;
}

function isJsonType(request: FastifyRequest): boolean {
  const type = request.headers['content-type'];
  return type !== undefined && /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(type);
}

/** A JSON request body (415 for another declared content type, 400 when it is not JSON). */
function jsonBodyOf(request: FastifyRequest): unknown {
  const type = request.headers['content-type'];
  if (type !== undefined && !isJsonType(request)) throw new HttpReplyError(415, ERROR_CODES.PROTOCOL, 'the body must be JSON (Content-Type: application/json)');
  return parseJsonBody(bodyOf(request));
}

function gunzipBounded(body: Buffer, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    gunzip(body, { maxOutputLength: maxBytes }, (err, out) => {
      if (err === null) return resolve(out);
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        return reject(new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `gzip body: decompressed size exceeds the limit of ${maxBytes} bytes (tsdb.remoteWriteMaxBytes)`));
      }
      reject(new StrataError(ERROR_CODES.PROTOCOL, `gzip body: ${err.message}`, { cause: err }));
    });
  });
}

/** The request body with any Content-Encoding (identity or gzip) undone, bounded after decompression. */
async function decodedBodyOf(request: FastifyRequest, maxBytes: number): Promise<Buffer> {
  const body = bodyOf(request);
  const encoding = (request.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return body;
  if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipBounded(body, maxBytes);
  throw new HttpReplyError(415, ERROR_CODES.PROTOCOL, `unsupported Content-Encoding ${JSON.stringify(encoding.slice(0, 64))} (gzip or none)`);
}

function precisionOf(q: QueryParams): TimePrecision {
  return q.choice('precision', TS_PRECISIONS) ?? 'ns';
}

/** The measurement in `/v1/ts/<what>/<measurement>`, percent-decoded from the original path. */
function measurementParam(request: FastifyRequest, prefix: string): string {
  const { path } = splitTarget(request.originalUrl);
  const encoded = path.startsWith(prefix) ? path.slice(prefix.length) : '';
  const bytes = percentDecode(encoded, false);
  if (bytes === undefined) throw new StrataError(ERROR_CODES.PROTOCOL, 'malformed percent-encoding in the measurement');
  const name = bytes.toString('utf8');
  if (name.length === 0) throw invalidArgument('the measurement must not be empty');
  return name;
}

/**
 * A matcher written `tag=value`, `tag!=value`, `tag=~regex` or `tag!~regex`
 * (the first operator in the text splits it; regular expressions match the
 * whole value).
 */
export function parseMatcherText(text: string): TagMatcher {
  const eq = text.indexOf('=');
  const bang = text.search(/![=~]/);
  let at: number;
  let op: TagMatchOp;
  if (bang >= 0 && (eq < 0 || bang < eq)) {
    at = bang;
    op = text[bang + 1] === '=' ? '!=' : '!~';
  } else if (eq >= 0) {
    at = eq;
    op = text[eq + 1] === '~' ? '=~' : '=';
  } else {
    throw invalidArgument(`matcher ${JSON.stringify(text.slice(0, 100))}: expected tag=value, tag!=value, tag=~regex or tag!~regex`);
  }
  return checkMatcher({ tag: text.slice(0, at), op, value: text.slice(at + op.length) }, `matcher ${JSON.stringify(text.slice(0, 100))}`);
}

function checkMatcher(m: TagMatcher, where: string): TagMatcher {
  if (m.tag.length === 0) throw invalidArgument(`${where}: the tag name must not be empty`);
  if (m.op === '=~' || m.op === '!~') {
    try {
      new RegExp(m.value);
    } catch (err) {
      throw invalidArgument(`${where}: invalid regular expression: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return m;
}

function matcherOf(v: unknown, where: string): TagMatcher {
  if (typeof v === 'string') return parseMatcherText(v);
  if (!isObject(v)) throw invalidArgument(`${where} must be {tag, op, value} or a string like "host=a", got ${describe(v)}`);
  for (const k of Object.keys(v)) if (!['tag', 'op', 'value'].includes(k)) throw invalidArgument(`${where}.${k.slice(0, 64)}: unknown key (expected tag, op, value)`);
  const { tag, op, value } = v;
  if (typeof tag !== 'string') throw invalidArgument(`${where}.tag must be a string`);
  if (typeof op !== 'string' || !MATCH_OPS.includes(op as TagMatchOp)) throw invalidArgument(`${where}.op must be one of ${MATCH_OPS.join(' ')}`);
  if (typeof value !== 'string') throw invalidArgument(`${where}.value must be a string`);
  return checkMatcher({ tag, op: op as TagMatchOp, value }, where);
}

function matchersOf(v: unknown, where: string): TagMatcher[] {
  if (!Array.isArray(v)) throw invalidArgument(`${where} must be an array of matchers`);
  return v.map((m, i) => matcherOf(m, `${where}[${i}]`));
}

function stringsOf(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw invalidArgument(`${where} must be an array of strings`);
  return v as string[];
}

function safeIntegerOf(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalidArgument(`${where} must be an integer (ms since the epoch), got ${describe(v)}${typeof v === 'number' ? ` ${v}` : ''}`);
  return v;
}

function onlyKeys(obj: JsonObject, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw invalidArgument(`${where}${JSON.stringify(k.slice(0, 64))}: unknown key (allowed: ${allowed.join(', ')})`);
}

function intervalOf(v: unknown): Interval {
  if (!isObject(v)) throw invalidArgument('aggregate.every must be {"ms": n} or {"months": n}');
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0] === 'ms' && typeof v.ms === 'number' && Number.isSafeInteger(v.ms) && v.ms > 0) return { ms: v.ms };
  if (keys.length === 1 && keys[0] === 'months' && typeof v.months === 'number' && Number.isSafeInteger(v.months) && v.months > 0) return { months: v.months };
  throw invalidArgument('aggregate.every must be {"ms": n} or {"months": n} with n a positive integer');
}

/** A query body: exactly TsQuery's shape, types checked, unknown keys refused. */
export function parseTsQuery(doc: unknown): TsQuery {
  if (!isObject(doc)) throw invalidArgument(`the query must be a JSON object, got ${describe(doc)}`);
  onlyKeys(doc, QUERY_KEYS, 'query key ');
  const q: TsQuery = {
    measurement: '',
    fromMs: safeIntegerOf(doc.fromMs, 'fromMs'),
    toMs: safeIntegerOf(doc.toMs, 'toMs'),
  };
  if (typeof doc.measurement !== 'string' || doc.measurement.length === 0) throw invalidArgument('measurement must be a non-empty string');
  q.measurement = doc.measurement;
  if (doc.matchers !== undefined) q.matchers = matchersOf(doc.matchers, 'matchers');
  if (doc.fields !== undefined) q.fields = stringsOf(doc.fields, 'fields');
  if (doc.groupBy !== undefined) q.groupBy = stringsOf(doc.groupBy, 'groupBy');
  if (doc.aggregate !== undefined) {
    const a = doc.aggregate;
    if (!isObject(a)) throw invalidArgument('aggregate must be an object {fn, percentile?, every?}');
    onlyKeys(a, ['fn', 'percentile', 'every'], 'aggregate key ');
    if (typeof a.fn !== 'string' || !AGGREGATES.includes(a.fn as AggregateFn)) throw invalidArgument(`aggregate.fn must be one of ${AGGREGATES.join(', ')}`);
    const agg: NonNullable<TsQuery['aggregate']> & { percentile?: number; every?: Interval } = { fn: a.fn as AggregateFn };
    if (a.percentile !== undefined) {
      if (typeof a.percentile !== 'number' || !(a.percentile >= 0 && a.percentile <= 100)) throw invalidArgument('aggregate.percentile must be a number from 0 to 100');
      agg.percentile = a.percentile;
    }
    if (a.every !== undefined) agg.every = intervalOf(a.every);
    q.aggregate = agg;
  }
  if (doc.where !== undefined) {
    const w = doc.where;
    if (!isObject(w)) throw invalidArgument('where must be an object {field, op, value}');
    onlyKeys(w, ['field', 'op', 'value'], 'where key ');
    if (typeof w.field !== 'string' || w.field.length === 0) throw invalidArgument('where.field must be a field name');
    const op = WHERE_OPS.find((o) => o === w.op);
    if (op === undefined) throw invalidArgument(`where.op must be one of ${WHERE_OPS.join(' ')}`);
    if (typeof w.value !== 'number' || !Number.isFinite(w.value)) throw invalidArgument('where.value must be a finite number');
    q.where = { field: w.field, op, value: w.value };
  }
  if (doc.limit !== undefined) {
    if (typeof doc.limit !== 'number' || !Number.isSafeInteger(doc.limit) || doc.limit < 0) throw invalidArgument('limit must be a non-negative integer');
    q.limit = doc.limit;
  }
  if (doc.order !== undefined) {
    if (doc.order !== 'asc' && doc.order !== 'desc') throw invalidArgument('order must be asc or desc');
    q.order = doc.order;
  }
  if (doc.level !== undefined) {
    const level = LEVELS.find((l) => l === doc.level);
    if (level === undefined) throw invalidArgument(`level must be one of ${LEVELS.join(', ')}`);
    q.level = level;
  }
  return q;
}

/** A retention body: level → ms (a number) or a duration string ("30d", "12h", "1y" = 365 d); 0 keeps forever. */
export function parseRetention(doc: unknown): RetentionPolicy {
  if (!isObject(doc)) throw invalidArgument('the retention policy must be a JSON object like {"raw": "30d", "1h": "1y"}');
  const out: RetentionPolicy = {};
  const levels = ['raw', ...ROLLUP_LEVELS];
  for (const [k, v] of Object.entries(doc)) {
    if (!levels.includes(k)) throw invalidArgument(`retention level ${JSON.stringify(k.slice(0, 64))} is not one of ${levels.join(', ')}`);
    const ms = typeof v === 'number' || typeof v === 'string' ? parseDurationMs(v) : undefined;
    if (ms === undefined) throw invalidArgument(`retention ${k} must be milliseconds or a duration like "30d", "12h", "1y", got ${JSON.stringify(v)?.slice(0, 64) ?? describe(v)}`);
    out[k as 'raw'] = ms;
  }
  return out;
}

// ------------------------------------------------------------------ streaming

function errorLine(err: unknown): string {
  const body: ErrorBody = isStrataError(err)
    ? { error: { code: err.code, message: err.message } }
    : { error: { code: ERROR_CODES.IO, message: 'internal error' } };
  return `${JSON.stringify(body)}\n`;
}

async function* ndjsonLines(plan: TsPlan, pieces: AsyncIterable<TsSeriesResult>, onError: (err: unknown) => void): AsyncGenerator<string> {
  yield `${JSON.stringify({ plan })}\n`;
  try {
    for await (const piece of pieces) yield `${JSON.stringify(seriesJson(piece))}\n`;
  } catch (err) {
    // The status line is gone already: the error becomes the last line.
    onError(err);
    yield errorLine(err);
  }
}

// ------------------------------------------------------------------ routes

function meta(name: string, write: boolean): { config: { strata: RouteMeta } } {
  return { config: { strata: { name, write, public: false } } };
}

async function writePoints(tsdb: TimeSeriesService, points: readonly TsPoint[], reply: FastifyReply): Promise<FastifyReply> {
  if (points.length > 0) await tsdb.write(points);
  return reply.code(204).send();
}

async function writeColumns(tsdb: TimeSeriesService, points: TsPointColumns, reply: FastifyReply): Promise<FastifyReply> {
  if (points.length > 0) await tsdb.writeColumns(points);
  return reply.code(204).send();
}

/** Registers the time-series routes (see the module comment). */
export function registerTsRoutes(app: HttpApp, ctx: TsRouteContext): void {
  const { tsdb, limits, decompressedBytesMax, parser } = ctx;

  app.post('/v1/ts/write', meta('ts.write', true), async (request, reply) => {
    const q = queryOf(request, ['precision']);
    const body = await decodedBodyOf(request, decompressedBytesMax);
    if (isJsonType(request)) {
      if (q.has('precision')) throw invalidArgument("query parameter 'precision' applies to line protocol; JSON times are ms or RFC 3339");
      return writePoints(tsdb, parseJsonPoints(parseJsonBody(body), tsdb.nowMs()), reply);
    }
    return writeColumns(tsdb, await parser.parse(body, { precision: precisionOf(q), nowMs: tsdb.nowMs() }), reply);
  });

  app.post('/api/v2/write', meta(INFLUX_WRITE_ROUTE, true), async (request, reply) => {
    const q = queryOf(request, ['bucket', 'org', 'orgID', 'precision']);
    const bucket = q.text('bucket');
    if (bucket === undefined || bucket.length === 0) throw invalidArgument("query parameter 'bucket' is required (InfluxDB 2 write API)");
    const body = await decodedBodyOf(request, decompressedBytesMax);
    return writeColumns(tsdb, await parser.parse(body, { precision: precisionOf(q), nowMs: tsdb.nowMs() }), reply);
  });

  app.post('/api/v1/write', meta('ts.prom_write', true), async (request, reply) => {
    queryOf(request, []);
    const encoding = (request.headers['content-encoding'] ?? 'snappy').trim().toLowerCase();
    if (encoding !== 'snappy') throw new HttpReplyError(415, ERROR_CODES.PROTOCOL, `remote write bodies are snappy-compressed (Content-Encoding: snappy), got ${JSON.stringify(encoding.slice(0, 64))}`);
    const type = request.headers['content-type'] ?? '';
    const proto = /;\s*proto\s*=\s*"?([^;"\s]+)/i.exec(type)?.[1];
    if (proto !== undefined && proto !== 'prometheus.WriteRequest') throw new HttpReplyError(415, ERROR_CODES.PROTOCOL, `remote write: only 1.0 (prometheus.WriteRequest) is supported, not ${proto.slice(0, 64)}`);
    const version = request.headers['x-prometheus-remote-write-version'];
    if (typeof version === 'string' && !/^0\.\d+(\.\d+)?$/.test(version.trim())) {
      throw new HttpReplyError(415, ERROR_CODES.PROTOCOL, `remote write: only version 0.1.0 (1.0) is supported, got ${JSON.stringify(version.slice(0, 64))}`);
    }
    return writePoints(tsdb, decodeRemoteWrite(bodyOf(request), { maxDecompressedBytes: decompressedBytesMax }), reply);
  });

  // The query as a JSON body, or (GET, as Prometheus and InfluxDB take queries) URL-encoded in ?q=.
  const answerQuery = async (request: FastifyRequest, reply: FastifyReply, q: QueryParams, doc: unknown) => {
    const format = q.choice('format', ['json', 'ndjson'] as const);
    const query = parseTsQuery(doc);
    const accept = request.headers.accept ?? '';
    const stream = format === 'ndjson' || (format === undefined && accept.toLowerCase().includes(NDJSON));
    if (!stream) {
      const result = await tsdb.query(query);
      return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(queryResultJson(result));
    }
    // The plan is computed (and the query validated) before the status line goes out, so bad queries still get 400.
    const plan = await tsdb.explain(query);
    const lines = ndjsonLines(plan, tsdb.queryStream(query, TS_STREAM_POINTS_PER_LINE), (err) => {
      request.log.error({ err, reqId: request.id, route: 'ts.query' }, 'streamed time-series query failed');
    });
    return reply.header('cache-control', 'no-store').type(`${NDJSON}; charset=utf-8`).send(Readable.from(lines));
  };
  app.post('/v1/ts/query', meta('ts.query', false), async (request, reply) => {
    const q = queryOf(request, ['format']);
    return answerQuery(request, reply, q, jsonBodyOf(request));
  });
  app.get('/v1/ts/query', meta('ts.query', false), async (request, reply) => {
    const q = queryOf(request, ['q', 'format']);
    const text = q.bytes('q');
    if (text === undefined) throw invalidArgument("query parameter 'q' (the query as JSON) is required");
    let doc: unknown;
    try {
      doc = JSON.parse(text.toString('utf8'));
    } catch (err) {
      throw new StrataError(ERROR_CODES.PROTOCOL, "query parameter 'q' is not valid JSON", { cause: err });
    }
    return answerQuery(request, reply, q, doc);
  });

  app.post('/v1/ts/explain', meta('ts.explain', false), async (request) => {
    queryOf(request, []);
    return { plan: await tsdb.explain(parseTsQuery(jsonBodyOf(request))) };
  });

  app.get('/v1/ts/series', meta('ts.series', false), async (request) => {
    const params = multiQueryOf(request, ['measurement', 'match', 'limit'], ['match']);
    const measurement = params.get('measurement')?.[0];
    if (measurement === undefined || measurement.length === 0) throw invalidArgument("query parameter 'measurement' is required");
    const matchers = (params.get('match') ?? []).map(parseMatcherText);
    let limit = Math.min(TS_SERIES_LIMIT_DEFAULT, limits.scanLimitMax);
    const rawLimit = params.get('limit')?.[0];
    if (rawLimit !== undefined) {
      const n = /^[0-9]{1,16}$/.test(rawLimit) ? Number(rawLimit) : NaN;
      if (!Number.isSafeInteger(n) || n < 1 || n > limits.scanLimitMax) throw invalidArgument(`query parameter 'limit' must be an integer from 1 to ${limits.scanLimitMax}`);
      limit = n;
    }
    const series = await tsdb.series(measurement, matchers, limit);
    return { series: series.map(seriesInfoJson) };
  });

  app.get('/v1/ts/measurements', meta('ts.measurements', false), async (request) => {
    queryOf(request, []);
    return { measurements: tsdb.measurements() };
  });

  app.get('/v1/ts/schema/:measurement', meta('ts.schema', false), async (request) => {
    queryOf(request, []);
    const measurement = measurementParam(request, '/v1/ts/schema/');
    if (!tsdb.measurements().includes(measurement)) throw new StrataError(ERROR_CODES.NOT_FOUND, `no measurement ${JSON.stringify(measurement.slice(0, 200))}`);
    return { measurement, fields: tsdb.schema(measurement) };
  });

  app.post('/v1/ts/delete', meta('ts.delete', true), async (request) => {
    queryOf(request, []);
    const doc = jsonBodyOf(request);
    if (!isObject(doc)) throw invalidArgument('the delete body must be a JSON object {measurement, matchers, fromMs, toMs}');
    onlyKeys(doc, ['measurement', 'matchers', 'fromMs', 'toMs'], 'delete key ');
    if (typeof doc.measurement !== 'string' || doc.measurement.length === 0) throw invalidArgument('measurement must be a non-empty string');
    const matchers = doc.matchers === undefined ? [] : matchersOf(doc.matchers, 'matchers');
    const fromMs = safeIntegerOf(doc.fromMs, 'fromMs');
    const toMs = safeIntegerOf(doc.toMs, 'toMs');
    if (fromMs >= toMs) throw invalidArgument('fromMs must be before toMs');
    return { deleted: await tsdb.deleteRange(doc.measurement, matchers, fromMs, toMs) };
  });

  app.put('/v1/ts/retention/:measurement', meta('ts.retention.set', true), async (request) => {
    queryOf(request, []);
    const measurement = measurementParam(request, '/v1/ts/retention/');
    await tsdb.setRetention(measurement, parseRetention(jsonBodyOf(request)));
    return { measurement, retention: tsdb.getRetention(measurement) };
  });

  app.get('/v1/ts/retention/:measurement', meta('ts.retention.get', false), async (request) => {
    queryOf(request, []);
    const measurement = measurementParam(request, '/v1/ts/retention/');
    return { measurement, retention: tsdb.getRetention(measurement) };
  });

  app.put('/v1/ts/rounding/:measurement', meta('ts.rounding.set', true), async (request) => {
    queryOf(request, []);
    const measurement = measurementParam(request, '/v1/ts/rounding/');
    const doc = jsonBodyOf(request);
    if (!isObject(doc)) throw invalidArgument('the rounding body must be a JSON object like {"significantDigits": 13} (null: exact floats)');
    onlyKeys(doc, ['significantDigits'], 'rounding key ');
    await tsdb.setFloatRounding(measurement, doc.significantDigits as number | null | undefined);
    return { measurement, significantDigits: tsdb.getFloatRounding(measurement) ?? null };
  });

  app.get('/v1/ts/rounding/:measurement', meta('ts.rounding.get', false), async (request) => {
    queryOf(request, []);
    const measurement = measurementParam(request, '/v1/ts/rounding/');
    return { measurement, significantDigits: tsdb.getFloatRounding(measurement) ?? null };
  });

  app.post('/v1/ts/flush', meta('ts.flush', true), async (request) => {
    queryOf(request, []);
    await tsdb.flush();
    return { ok: true };
  });
}
