/**
 * The time-series model and the service front ends talk to (DESIGN.md "Time
 * series"). A series is a measurement plus tags; a point is a timestamp and
 * typed fields. Front ends (HTTP line protocol, Prometheus remote write,
 * RESP TS.*, gRPC) translate into `TsPoint`s and `TsQuery`s and know nothing
 * below `TimeSeriesService`.
 */

export type FieldType = 'float' | 'integer' | 'boolean' | 'string';

/** float and integer are JS numbers (integers within ±(2^53-1)); boolean; string. */
export type FieldValue = number | boolean | string;

export interface TsField {
  name: string;
  type: FieldType;
  value: FieldValue;
}

export interface TsPoint {
  measurement: string;
  /** Tag pairs in any order; names unique. Values non-empty. */
  tags: ReadonlyArray<readonly [string, string]>;
  /** At least one field; names unique within the point. */
  fields: readonly TsField[];
  /** Milliseconds since the Unix epoch (an integer). */
  timeMs: number;
  /** Nanoseconds within the millisecond (0..999,999), kept where the writer gave them. Default 0. */
  nanos?: number;
  /**
   * Optional: a string equal for points with the same measurement and the
   * same tags in the same order (a parser passes the line's series text).
   * The store uses it to skip sorting and canonicalizing tags on a hit.
   */
  seriesHint?: string;
}

/** A distinct series of a `TsPointColumns` batch. */
export interface TsColumnsSeries {
  measurement: string;
  /** Tag pairs in any order; names unique. Values non-empty. */
  tags: ReadonlyArray<readonly [string, string]>;
  /** As `TsPoint.seriesHint`: equal for equal measurement and tags in the same order. */
  hint?: string;
}

/** A distinct list of fields (names and types, in order) of a `TsPointColumns` batch. */
export interface TsColumnsLayout {
  names: readonly string[];
  types: readonly FieldType[];
}

/**
 * Points in columns, as the line-protocol parser produces them: no object
 * per point or field. Point p (0 <= p < length) belongs to
 * `series[seriesOf[p]]` at `timeMs[p]` (+ `nanos[p]`), and has the fields of
 * `layouts[layoutOf[p]]` in order; field i's value is
 * `numbers[valueStart[p] + i]` (floats and integers; booleans as 1 or 0) or,
 * for a string field, `strings.get(valueStart[p] + i)`. The typed arrays may
 * be longer than needed: only the first `length` (`length + 1` for
 * valueStart) entries count.
 */
export interface TsPointColumns {
  length: number;
  series: readonly TsColumnsSeries[];
  layouts: readonly TsColumnsLayout[];
  seriesOf: Int32Array;
  layoutOf: Int32Array;
  timeMs: Float64Array;
  /** Nanoseconds within the millisecond per point; absent when all are 0. */
  nanos?: Int32Array;
  valueStart: Int32Array;
  /** Numeric values; a measurement with float rounding has its float values rounded here in place by the write. */
  numbers: Float64Array;
  strings?: ReadonlyMap<number, string>;
}

export type TagMatchOp = '=' | '!=' | '=~' | '!~';

export interface TagMatcher {
  tag: string;
  op: TagMatchOp;
  /** Literal for = and !=; a regular expression (anchored: must match the whole value) for =~ and !~. */
  value: string;
}

export type AggregateFn = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'first' | 'last' | 'percentile';

/** A group-by interval: fixed milliseconds, or calendar months/years (UTC). */
export type Interval = { ms: number } | { months: number };

export interface TsQuery {
  measurement: string;
  /** All must match. Empty: every series of the measurement. */
  matchers?: readonly TagMatcher[];
  /** Fields to return; default every field of the measurement. */
  fields?: readonly string[];
  /** Inclusive start, ms. */
  fromMs: number;
  /** Exclusive end, ms. */
  toMs: number;
  /** Without it the query returns raw points. */
  aggregate?: {
    fn: AggregateFn;
    /** For fn 'percentile': 0..100. */
    percentile?: number;
    /** Bucket width; buckets are aligned to the epoch (UTC). Omitted: one bucket over the whole range. */
    every?: Interval;
  };
  /**
   * How series are grouped: undefined → each series alone; [] → all selected
   * series merged into one; ['host'] → merged per value of tag host.
   */
  groupBy?: readonly string[];
  /** Only points (raw queries) where this numeric field compares true, e.g. usage_user > 90. */
  where?: { field: string; op: '>' | '>=' | '<' | '<=' | '=' | '!='; value: number };
  /** Raw: points per series; aggregate: buckets per series. */
  limit?: number;
  order?: 'asc' | 'desc';
  /** Force a storage level for aggregates (default 'auto': the planner picks). */
  level?: 'auto' | 'raw' | RollupLevel;
}

export type RollupLevel = '1h' | '1d' | '1M' | '1y';
export const ROLLUP_LEVELS: readonly RollupLevel[] = ['1h', '1d', '1M', '1y'];

/** One result series: raw points or aggregate buckets of one field of one group. */
export interface TsSeriesResult {
  measurement: string;
  /** The series' tags (ungrouped) or the group's tag values (grouped). */
  tags: Record<string, string>;
  field: string;
  type: FieldType;
  /** Raw: point times; aggregates: bucket start times. Ascending unless order 'desc'. */
  times: number[];
  /** Raw: sub-millisecond nanos per point (present only when some point has them). */
  nanos?: number[];
  values: FieldValue[];
}

/** Which storage level answered which part of the range (`explain`). */
export interface TsPlanSegment {
  level: 'raw' | RollupLevel;
  fromMs: number;
  toMs: number;
}

export interface TsPlan {
  series: number;
  segments: TsPlanSegment[];
  /** Why the planner chose as it did (human-readable). */
  reason: string;
}

export interface TsQueryResult {
  series: TsSeriesResult[];
  plan: TsPlan;
}

export interface TsWriteResult {
  /** Points (rows) written. */
  points: number;
  /** Field values written. */
  values: number;
  /** Series created by this write. */
  newSeries: number;
}

/** Retention per storage level in ms; 0 or absent keeps forever. */
export type RetentionPolicy = Partial<Record<'raw' | RollupLevel, number>>;

export interface TsSeriesInfo {
  id: number;
  measurement: string;
  tags: Record<string, string>;
  /** Field name → type (from the measurement's schema, fields this series has written). */
  fields: Record<string, FieldType>;
  firstMs: number | undefined;
  lastMs: number | undefined;
  headPoints: number;
  chunks: number;
  coldChunks: number;
  /** Labels/retention set through TS.CREATE-style calls. */
  retention: RetentionPolicy;
}

/**
 * What front ends use. Implemented by `TimeSeriesStore` over a local
 * engine; the cluster shards it by series later.
 */
export interface TimeSeriesService {
  nowMs(): number;
  /** Validates every point first (schema, window, sizes); writes all or none; durable when it resolves. */
  write(points: readonly TsPoint[]): Promise<TsWriteResult>;
  /** `write` for points in columns (the line-protocol path): the same checks, all or none, durable when it resolves. */
  writeColumns(points: TsPointColumns): Promise<TsWriteResult>;
  query(q: TsQuery): Promise<TsQueryResult>;
  /** Streams results in pieces of at most `pointsPerPiece` points (NDJSON, gRPC server streaming). */
  queryStream(q: TsQuery, pointsPerPiece: number): AsyncIterable<TsSeriesResult>;
  explain(q: TsQuery): Promise<TsPlan>;
  /** Deletes points of matching series in [fromMs, toMs); rollups are corrected. Returns points deleted. */
  deleteRange(measurement: string, matchers: readonly TagMatcher[], fromMs: number, toMs: number): Promise<number>;
  /** Series matching the selector (ids ascending), at most `limit`. */
  series(measurement: string, matchers: readonly TagMatcher[], limit?: number): Promise<TsSeriesInfo[]>;
  /** Measurement names. */
  measurements(): string[];
  /** Field types of a measurement. */
  schema(measurement: string): Record<string, FieldType>;
  setRetention(measurement: string, policy: RetentionPolicy): Promise<void>;
  getRetention(measurement: string): RetentionPolicy;
  /**
   * Float values of `measurement` written from now on are stored rounded to
   * `significantDigits` (1..15) significant decimal digits; null or
   * undefined: exact (the default). Stored values are not rewritten.
   */
  setFloatRounding(measurement: string, significantDigits: number | null | undefined): Promise<void>;
  getFloatRounding(measurement: string): number | undefined;
  /** Seals head buffers into chunks, updates rollups, applies retention and tiering. */
  flush(): Promise<void>;
  stats(): TsStats;
}

export interface TsStats {
  series: number;
  measurements: number;
  headPoints: number;
  pointsWritten: number;
  valuesWritten: number;
  chunksSealed: number;
  chunksExpired: number;
  chunksMovedCold: number;
  rollupBucketsWritten: number;
}
