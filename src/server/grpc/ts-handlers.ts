import { performance } from 'node:perf_hooks';
import { status as GrpcCode } from '@grpc/grpc-js';
import type { ServerReadableStream, ServerUnaryCall, ServerWritableStream, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { StrataError, invalidArgument, isStrataError } from '../../base/index.js';
import { parseLineProtocol, validatePoint } from '../../tsdb/index.js';
import type { AggregateFn, FieldType, TagMatchOp, TimeSeriesService, TsField, TsPlan, TsPoint, TsQuery, TsSeriesResult } from '../../tsdb/index.js';
import type { ServerMetrics } from '../metrics.js';
import type { GrpcErrorStatus } from './grpc-status.js';
import { grpcStatusOf } from './grpc-status.js';
import type { CallInfo } from './kv-handlers.js';
import { streamStopped, writeMessage } from './stream-write.js';

/**
 * The strata.v1.TimeSeries methods (proto/strata/v1/timeseries.proto) over
 * the node's TimeSeriesService:
 * - Write (client streaming): each message is one batch, checked and written
 *   on its own (all of it or nothing, durable) before the next message is
 *   read, so a fast writer is held back by the stream's flow control.
 * - Query (server streaming): the result in SeriesChunks of at most
 *   TS_CHUNK_POINTS points (tsdb.queryStream), fewer when string values would
 *   make a message larger than TS_CHUNK_BYTES_MAX; waits for 'drain' when the
 *   client reads slowly and stops when it cancels.
 * - Explain (unary): the planner's segments.
 * Requests are checked in full first: INVALID_ARGUMENT names the offending
 * field (`points[2].fields.temp.int_value`); a field written with another
 * type than its measurement's schema is FAILED_PRECONDITION (SCHEMA_CONFLICT).
 * Without a store on the node every method answers UNIMPLEMENTED.
 */

/** Points (or buckets) per SeriesChunk. */
export const TS_CHUNK_POINTS = 1000;
/** A SeriesChunk of string values is cut before its strings exceed this many bytes. */
export const TS_CHUNK_BYTES_MAX = 1024 * 1024;

// ------------------------------------------------------------------ messages (decoded under PROTO_LOADER_OPTIONS)

export interface TsFieldValueMessage {
  value?: 'floatValue' | 'intValue' | 'boolValue' | 'stringValue';
  floatValue?: number;
  intValue?: number;
  boolValue?: boolean;
  stringValue?: string;
}

export interface TsPointMessage {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, TsFieldValueMessage>;
  /** Absent unless set (proto3 optional). */
  timeMs?: number;
  nanos: number;
}

export interface WritePointsRequest {
  points: TsPointMessage[];
  lineProtocol: Buffer;
  precision: 'NS' | 'US' | 'MS' | 'S' | string | number;
}

export interface WriteSummary {
  batches: number;
  points: number;
  values: number;
  newSeries: number;
}

export interface TsTagMatcherMessage {
  tag: string;
  op: 'EQ' | 'NEQ' | 'REGEX' | 'NOT_REGEX' | string | number;
  value: string;
}

export interface TsIntervalMessage {
  unit?: 'ms' | 'months';
  ms?: number;
  months?: number;
}

export interface TsAggregateMessage {
  fn: string | number;
  percentile: number;
  every: TsIntervalMessage | null;
}

export interface TsWhereMessage {
  field: string;
  op: string | number;
  value: number;
}

export interface TsQueryRequest {
  measurement: string;
  matchers: TsTagMatcherMessage[];
  fields: string[];
  fromMs: number;
  toMs: number;
  aggregate: TsAggregateMessage | null;
  groupBy: { tags: string[] } | null;
  where: TsWhereMessage | null;
  limit: number;
  order: string | number;
  level: string | number;
}

export type TsFieldTypeName = 'FLOAT' | 'INTEGER' | 'BOOLEAN' | 'STRING';

export interface SeriesChunk {
  measurement: string;
  tags: Record<string, string>;
  field: string;
  type: TsFieldTypeName;
  continued: boolean;
  timesMs: number[];
  nanos: number[];
  floats: number[];
  integers: number[];
  booleans: boolean[];
  strings: string[];
}

export interface TsPlanMessage {
  series: number;
  segments: Array<{ level: string; fromMs: number; toMs: number }>;
  reason: string;
}

// ------------------------------------------------------------------ request checks

/** An int64 that arrived as a number: exact only within ±(2^53-1). */
function safeInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalidArgument(`${what} must be an integer within ±(2^53-1), got ${String(v)}`);
  return v;
}

const fieldKey = (name: string): string => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`);

const PRECISIONS: Record<string, 'ns' | 'us' | 'ms' | 's'> = { NS: 'ns', US: 'us', MS: 'ms', S: 's' };

/** Prefixes a StrataError's message (the code stays). */
function within(prefix: string, f: () => TsPoint[]): TsPoint[] {
  try {
    return f();
  } catch (err) {
    if (isStrataError(err)) throw new StrataError(err.code, `${prefix}${err.message}`);
    throw err;
  }
}

/**
 * The store's points for one Write message (batch `batch`), checked by the
 * write-path rules every front end shares (names, sizes, types); a point
 * without a time gets `nowMs`.
 */
export function pointsOf(req: WritePointsRequest, nowMs: number, batch: number): TsPoint[] {
  if (req.lineProtocol.length > 0) {
    if (req.points.length > 0) throw invalidArgument(`batch ${batch}: a batch carries points or line_protocol, not both`);
    const precision = enumOf(PRECISIONS, req.precision, `batch ${batch}: precision`);
    return within(`batch ${batch}: line_protocol `, () => parseLineProtocol(req.lineProtocol, { precision, nowMs }));
  }
  if (req.points.length === 0) throw invalidArgument(`batch ${batch}: a batch needs at least one point (or line_protocol)`);
  return req.points.map((p, i): TsPoint => {
    const at = `batch ${batch}: points[${i}]`;
    const fields: TsField[] = [];
    for (const [name, f] of Object.entries(p.fields)) {
      const what = `${at}.fields${fieldKey(name)}`;
      switch (f.value) {
        case 'floatValue':
          fields.push({ name, type: 'float', value: f.floatValue ?? 0 });
          break;
        case 'intValue':
          fields.push({ name, type: 'integer', value: safeInt(f.intValue, `${what}.int_value`) });
          break;
        case 'boolValue':
          fields.push({ name, type: 'boolean', value: f.boolValue === true });
          break;
        case 'stringValue':
          fields.push({ name, type: 'string', value: f.stringValue ?? '' });
          break;
        default:
          throw invalidArgument(`${what} sets no value (float_value, int_value, bool_value or string_value)`);
      }
    }
    const timeMs = p.timeMs === undefined ? nowMs : safeInt(p.timeMs, `${at}.time_ms`);
    const point: TsPoint = { measurement: p.measurement, tags: Object.entries(p.tags), fields, timeMs, ...(p.nanos === 0 ? {} : { nanos: p.nanos }) };
    // NaN and infinities are floats like any other here (as in remote write).
    return within(`${at}: `, () => {
      validatePoint(point, { allowNonFinite: true });
      return [point];
    })[0]!;
  });
}

const MATCH_OPS: Record<string, TagMatchOp> = { EQ: '=', NEQ: '!=', REGEX: '=~', NOT_REGEX: '!~' };
const AGG_FNS: Record<string, AggregateFn> = { COUNT: 'count', SUM: 'sum', MIN: 'min', MAX: 'max', AVG: 'avg', FIRST: 'first', LAST: 'last', PERCENTILE: 'percentile' };
const WHERE_OPS: Record<string, '>' | '>=' | '<' | '<=' | '=' | '!='> = { GT: '>', GTE: '>=', LT: '<', LTE: '<=', EQ: '=', NEQ: '!=' };
const ORDERS: Record<string, 'asc' | 'desc'> = { ASC: 'asc', DESC: 'desc' };
const LEVELS: Record<string, TsQuery['level']> = { LEVEL_AUTO: 'auto', LEVEL_RAW: 'raw', LEVEL_1H: '1h', LEVEL_1D: '1d', LEVEL_1M: '1M', LEVEL_1Y: '1y' };

function enumOf<T>(table: Record<string, T>, v: string | number, what: string): T {
  const out = typeof v === 'string' && Object.hasOwn(table, v) ? table[v] : undefined;
  if (out === undefined) throw invalidArgument(`${what}: unknown value ${String(v)}`);
  return out;
}

/** The store's query for a QueryRequest (the store checks the rest: ranges, bucket counts, regexes). */
export function queryOf(req: TsQueryRequest): TsQuery {
  const q: TsQuery = {
    measurement: req.measurement,
    fromMs: safeInt(req.fromMs, 'from_ms'),
    toMs: safeInt(req.toMs, 'to_ms'),
    order: enumOf(ORDERS, req.order, 'order'),
    level: enumOf(LEVELS, req.level, 'level'),
  };
  if (req.matchers.length > 0) {
    q.matchers = req.matchers.map((m, i) => {
      if (m.tag === '') throw invalidArgument(`matchers[${i}].tag must not be empty`);
      return { tag: m.tag, op: enumOf(MATCH_OPS, m.op, `matchers[${i}].op`), value: m.value };
    });
  }
  if (req.fields.length > 0) q.fields = [...req.fields];
  if (req.limit > 0) q.limit = req.limit;
  if (req.groupBy !== null) q.groupBy = [...req.groupBy.tags];
  if (req.where !== null) q.where = { field: req.where.field, op: enumOf(WHERE_OPS, req.where.op, 'where.op'), value: req.where.value };
  const a = req.aggregate;
  if (a !== null) {
    if (a.fn === 'FN_UNSPECIFIED' || a.fn === 0) throw invalidArgument('aggregate.fn is required');
    const fn = enumOf(AGG_FNS, a.fn, 'aggregate.fn');
    const agg: NonNullable<TsQuery['aggregate']> = { fn };
    if (fn === 'percentile') agg.percentile = a.percentile;
    const every = a.every;
    if (every !== null && every.unit === 'ms') agg.every = { ms: safeInt(every.ms, 'aggregate.every.ms') };
    else if (every !== null && every.unit === 'months') agg.every = { months: every.months ?? 0 };
    q.aggregate = agg;
  }
  return q;
}

// ------------------------------------------------------------------ responses

const TYPE_NAMES: Record<FieldType, TsFieldTypeName> = { float: 'FLOAT', integer: 'INTEGER', boolean: 'BOOLEAN', string: 'STRING' };

function sameSeries(a: TsSeriesResult, b: TsSeriesResult): boolean {
  if (a.field !== b.field || a.measurement !== b.measurement) return false;
  const ka = Object.keys(a.tags);
  if (ka.length !== Object.keys(b.tags).length) return false;
  return ka.every((k) => a.tags[k] === b.tags[k]);
}

/** One piece of a result as SeriesChunks: one, or several when its strings are large. */
export function chunksOf(r: TsSeriesResult, continued: boolean): SeriesChunk[] {
  const out: SeriesChunk[] = [];
  const n = r.times.length;
  let start = 0;
  while (start < n || (n === 0 && out.length === 0)) {
    let end = n;
    if (r.type === 'string') {
      let bytes = 0;
      end = start;
      while (end < n) {
        const b = Buffer.byteLength(r.values[end] as string, 'utf8');
        if (end > start && bytes + b > TS_CHUNK_BYTES_MAX) break;
        bytes += b;
        end++;
      }
    }
    const values = r.values.slice(start, end);
    out.push({
      measurement: r.measurement,
      tags: r.tags,
      field: r.field,
      type: TYPE_NAMES[r.type],
      continued: continued || out.length > 0,
      timesMs: r.times.slice(start, end),
      nanos: r.nanos === undefined ? [] : r.nanos.slice(start, end),
      floats: r.type === 'float' ? (values as number[]) : [],
      integers: r.type === 'integer' ? (values as number[]) : [],
      booleans: r.type === 'boolean' ? (values as boolean[]) : [],
      strings: r.type === 'string' ? (values as string[]) : [],
    });
    if (n === 0) break;
    start = end;
  }
  return out;
}

function planMessage(p: TsPlan): TsPlanMessage {
  return { series: p.series, segments: p.segments.map((s) => ({ level: s.level, fromMs: s.fromMs, toMs: s.toMs })), reason: p.reason };
}

// ------------------------------------------------------------------ service

export interface TsHandlerDeps {
  /** Undefined when the node runs without a time-series store. */
  tsdb: TimeSeriesService | undefined;
  metrics: ServerMetrics;
  logger: Logger;
  /** As for the KV service: throws unless the call may run; `write` asks for the read-write role. */
  admit(call: CallInfo, write: boolean): void;
}

/** Thrown when the node has no store; answered as UNIMPLEMENTED. */
class TsDisabled extends Error {}
const DISABLED_STATUS: GrpcErrorStatus = { code: GrpcCode.UNIMPLEMENTED, details: 'time series are disabled on this node' };

export function tsImplementation(deps: TsHandlerDeps): UntypedServiceImplementation {
  const store = (): TimeSeriesService => {
    if (deps.tsdb === undefined) throw new TsDisabled();
    return deps.tsdb;
  };
  const statusOf = (err: unknown, method: string): GrpcErrorStatus => (err instanceof TsDisabled ? DISABLED_STATUS : grpcStatusOf(err, deps.logger, method));

  const writeMetric = deps.metrics.command('grpc', 'TimeSeries.Write');
  const Write = (call: ServerReadableStream<WritePointsRequest, WriteSummary>, callback: sendUnaryData<WriteSummary>): void => {
    const started = performance.now();
    // A cancelled call ends the message loop (the callback is then ignored by grpc-js).
    call.once('cancelled', () => call.destroy());
    const run = async (): Promise<WriteSummary> => {
      deps.admit(call, true);
      const tsdb = store();
      const summary: WriteSummary = { batches: 0, points: 0, values: 0, newSeries: 0 };
      for await (const msg of call as AsyncIterable<WritePointsRequest>) {
        const batch = summary.batches;
        try {
          const r = await tsdb.write(pointsOf(msg, tsdb.nowMs(), batch));
          summary.points += r.points;
          summary.values += r.values;
          summary.newSeries += r.newSeries;
        } catch (err) {
          // Say which batch failed and what came before it; the code stays the store's.
          if (!isStrataError(err)) throw err;
          const message = err.message.startsWith(`batch ${batch}:`) ? err.message : `batch ${batch}: ${err.message}`;
          throw new StrataError(err.code, `${message} (nothing of this batch is written; the ${batch} batches before it, ${summary.points} points, are)`);
        }
        summary.batches++;
      }
      return summary;
    };
    run().then(
      (summary) => {
        writeMetric.observe(secondsSince(started), false);
        callback(null, summary);
      },
      (err: unknown) => {
        writeMetric.observe(secondsSince(started), true);
        callback(statusOf(err, 'TimeSeries.Write'));
      },
    );
  };

  const queryMetric = deps.metrics.command('grpc', 'TimeSeries.Query');
  const Query = (call: ServerWritableStream<TsQueryRequest, SeriesChunk>): void => {
    const started = performance.now();
    const run = async (): Promise<void> => {
      deps.admit(call, false);
      const tsdb = store();
      let prev: TsSeriesResult | undefined;
      for await (const piece of tsdb.queryStream(queryOf(call.request), TS_CHUNK_POINTS)) {
        const continued = prev !== undefined && sameSeries(prev, piece);
        prev = piece;
        for (const chunk of chunksOf(piece, continued)) if (!(await writeMessage(call, chunk))) return;
      }
    };
    run().then(
      () => {
        queryMetric.observe(secondsSince(started), false);
        if (!streamStopped(call)) call.end();
      },
      (err: unknown) => {
        queryMetric.observe(secondsSince(started), true);
        if (!streamStopped(call)) call.emit('error', statusOf(err, 'TimeSeries.Query'));
      },
    );
  };

  const explainMetric = deps.metrics.command('grpc', 'TimeSeries.Explain');
  const Explain = (call: ServerUnaryCall<TsQueryRequest, TsPlanMessage>, callback: sendUnaryData<TsPlanMessage>): void => {
    const started = performance.now();
    const run = async (): Promise<TsPlanMessage> => {
      deps.admit(call, false);
      return planMessage(await store().explain(queryOf(call.request)));
    };
    run().then(
      (plan) => {
        explainMetric.observe(secondsSince(started), false);
        callback(null, plan);
      },
      (err: unknown) => {
        explainMetric.observe(secondsSince(started), true);
        callback(statusOf(err, 'TimeSeries.Explain'));
      },
    );
  };

  return { Write, Query, Explain };
}



function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
