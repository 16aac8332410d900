/**
 * RedisTimeSeries-style TS.* commands over the node's TimeSeriesService
 * (argument grammar and reply shapes as RedisTimeSeries documents them).
 *
 * Mapping to the time-series model: a TS key K is the series of measurement
 * `ts` (TS_MEASUREMENT) with tags `{ __key: K, ...labels }` and one float
 * field `value`. Labels are therefore part of the series' identity and are
 * fixed when the key is created (TS.CREATE, or the first TS.ADD).
 *
 * What differs from RedisTimeSeries, on purpose:
 * - A key created by TS.CREATE exists only in this process until its first
 *   sample is written (a series exists in the store once it has a point).
 *   A restart before the first TS.ADD forgets the empty key. Once a sample
 *   is written the series (with its labels) is durable.
 * - RETENTION per key is accepted and reported by TS.INFO but not applied:
 *   the store applies retention per measurement (setRetention('ts', ...)).
 *   CHUNK_SIZE and ENCODING are accepted and ignored.
 * - The store is last-write-wins: DUPLICATE_POLICY / ON_DUPLICATE accept
 *   LAST only. IGNORE, EMPTY and the twa aggregator are refused.
 * - Keys and labels are UTF-8 text (they become tags) under the write-path
 *   rules of every front end: at most 1 KiB per key or label value, 256
 *   bytes per label name, no control characters; other keys are refused.
 * - TS keys live beside the string keyspace: KEYS, DEL, TYPE, EXISTS do not
 *   see them. The `ts` measurement belongs to these commands: series other
 *   front ends write there with other tags are ignored by single-key commands.
 * - TS.DEL keeps the (possibly empty) series; the store has no series delete.
 *
 * Ordering: the service calls of one connection's TS commands are ordered
 * here (pipelined writes may overlap each other, but a read waits for the
 * writes before it, and a write for the reads before it), because a write
 * to the store becomes visible only once durable. Writes queued while a
 * store write is in flight are combined into the next one (WriteCoalescer).
 *
 * Costs: a key's labels are read from the store once per process (then
 * kept); `-`/`+` with AGGREGATION, TS.GET, TS.INFO, TS.MRANGE, TS.MGET and
 * TS.QUERYINDEX ask the store for the series' info (TimeSeriesService.series),
 * which scans the series' stored chunks.
 */
import { isUtf8 } from 'node:buffer';
import { ERROR_CODES, isStrataError } from '../../base/index.js';
import { checkName, checkTagValue } from '../../tsdb/index.js';
import type { AggregateFn, FieldValue, TagMatcher, TimeSeriesService, TsPoint, TsQuery, TsSeriesInfo, TsSeriesResult } from '../../tsdb/index.js';
import { ERR_SYNTAX, argIs, argLower, parseFloatArg, parseInt64, parseInteger } from './arguments.js';
import { defineCommand } from './command-spec.js';
import type { CommandHandler, CommandSpec } from './command-spec.js';
import { DoubleReply, ErrorReply, MapReply, OK, SimpleReply } from './replies.js';
import type { Reply } from './replies.js';
import { formatDouble } from './resp-writer.js';
import type { ClientSession } from './session.js';

/** The measurement every TS key is a series of. */
export const TS_MEASUREMENT = 'ts';
/** The tag holding the key name. */
export const TS_KEY_TAG = '__key';
/** The float field holding the sample value. */
export const TS_VALUE_FIELD = 'value';

/** `+` of a range: far past any accepted sample time (the store refuses points more than a day ahead), well inside safe integers. */
const OPEN_END_MS = 2 ** 49;
/** The store refuses aggregate queries with more buckets than this over the range; the front end aggregates such ranges itself. */
const STORE_BUCKETS_MAX = 10_000_000;

const ERR_DISABLED = new ErrorReply('ERR time series are disabled on this node');
const ERR_NO_KEY = new ErrorReply('ERR TSDB: the key does not exist');
const ERR_KEY_EXISTS = new ErrorReply('ERR TSDB: key already exists');
const ERR_KEY_TEXT = new ErrorReply('ERR TSDB: time-series keys must be non-empty valid UTF-8');
const ERR_TIMESTAMP = new ErrorReply('ERR TSDB: invalid timestamp, must be a nonnegative integer');
const ERR_VALUE = new ErrorReply('ERR TSDB: invalid value');
const ERR_FROM = new ErrorReply('ERR TSDB: invalid fromTimestamp');
const ERR_TO = new ErrorReply('ERR TSDB: invalid toTimestamp');
const ERR_RETENTION = new ErrorReply('ERR TSDB: invalid RETENTION value');
const ERR_CHUNK_SIZE = new ErrorReply('ERR TSDB: invalid CHUNK_SIZE value');
const ERR_ENCODING = new ErrorReply('ERR TSDB: unknown ENCODING parameter');
const ERR_ON_DUPLICATE = new ErrorReply('ERR TSDB: only ON_DUPLICATE LAST is supported');
const ERR_DUPLICATE_POLICY = new ErrorReply('ERR TSDB: only DUPLICATE_POLICY LAST is supported');
const ERR_IGNORE = new ErrorReply('ERR TSDB: IGNORE is not supported');
const ERR_LABELS = new ErrorReply('ERR TSDB: LABELS needs label value pairs of non-empty UTF-8 text (unique names, not __key)');
const ERR_AGGREGATION = new ErrorReply('ERR TSDB: unknown aggregation type');
const ERR_TWA = new ErrorReply('ERR TSDB: aggregation twa is not supported');
const ERR_BUCKET = new ErrorReply('ERR TSDB: bucketDuration must be a positive integer');
const ERR_BUCKET_TS = new ErrorReply('ERR TSDB: unknown BUCKETTIMESTAMP parameter');
const ERR_EMPTY = new ErrorReply('ERR TSDB: EMPTY is not supported');
const ERR_ALIGN = new ErrorReply('ERR TSDB: unknown ALIGN parameter');
const ERR_ALIGN_NO_AGG = new ErrorReply('ERR TSDB: ALIGN and BUCKETTIMESTAMP can only be used with AGGREGATION');
const ERR_COUNT = new ErrorReply('ERR TSDB: invalid COUNT value');
const ERR_FILTER_BY_TS = new ErrorReply('ERR TSDB: FILTER_BY_TS needs at least one nonnegative integer timestamp');
const ERR_FILTER_BY_VALUE = new ErrorReply('ERR TSDB: invalid FILTER_BY_VALUE: min and max must be numbers');
const ERR_FILTER = new ErrorReply('ERR TSDB: invalid filter expression');
const ERR_NO_MATCHER = new ErrorReply('ERR TSDB: please provide at least one matcher (label=value or label=(value,...))');
const ERR_MISSING_FILTER = new ErrorReply('ERR TSDB: missing FILTER argument');
const ERR_LABELS_TOGETHER = new ErrorReply('ERR TSDB: cannot accept WITHLABELS and SELECTED_LABELS together');
const ERR_REDUCER = new ErrorReply('ERR TSDB: unknown REDUCE type');
const ERR_GROUPBY = new ErrorReply('ERR TSDB: GROUPBY needs a label and REDUCE reducer');

const noop = (): void => undefined;
const RESOLVED: Promise<void> = Promise.resolve();

// ------------------------------------------------------------------ keys

/** What the front end knows of a TS key. */
interface KeyMeta {
  readonly key: string;
  /** Labels sorted by name, without __key. */
  readonly labels: ReadonlyArray<readonly [string, string]>;
  /** RETENTION given at creation (reported by TS.INFO only; the store retains per measurement). */
  readonly retentionMs: number | undefined;
  readonly chunkSize: number | undefined;
  /** True once the series exists in the store (a sample was written). */
  stored: boolean;
}

/**
 * Keys known to the TS commands of one TimeSeriesService: those created in
 * this process (possibly still without samples) and those found in the
 * store. A lookup reads the store once per key; concurrent lookups of one
 * key share it, so two writers agree on the key's labels.
 */
class KeyRegistry {
  private readonly known = new Map<string, KeyMeta>();
  private readonly loading = new Map<string, Promise<void>>();

  constructor(private readonly tsdb: TimeSeriesService) {}

  async get(key: string): Promise<KeyMeta | undefined> {
    const k = this.known.get(key);
    if (k !== undefined) return k;
    let p = this.loading.get(key);
    if (p === undefined) {
      p = this.load(key);
      this.loading.set(key, p);
      const done = (): void => {
        this.loading.delete(key);
      };
      p.then(done, done);
    }
    await p;
    return this.known.get(key);
  }

  private async load(key: string): Promise<void> {
    const found = await this.tsdb.series(TS_MEASUREMENT, [{ tag: TS_KEY_TAG, op: '=', value: key }], 1);
    const s = found[0];
    if (s !== undefined && !this.known.has(key)) this.known.set(key, { key, labels: labelsOfTags(s.tags), retentionMs: undefined, chunkSize: undefined, stored: true });
  }

  /** Registers a new key; when another command registered it first, returns that one instead. */
  add(meta: KeyMeta): KeyMeta {
    const k = this.known.get(meta.key);
    if (k !== undefined) return k;
    this.known.set(meta.key, meta);
    return meta;
  }

  /** The key's entry if known, without reading the store. */
  peek(key: string): KeyMeta | undefined {
    return this.known.get(key);
  }

  /** Forgets a key registered by a write that failed before the series existed. */
  forget(meta: KeyMeta): void {
    if (!meta.stored && this.known.get(meta.key) === meta) this.known.delete(meta.key);
  }

  /** Keys created here that have no sample yet (the store does not know them). */
  *withoutSamples(): Iterable<KeyMeta> {
    for (const m of this.known.values()) if (!m.stored) yield m;
  }
}

const registries = new WeakMap<TimeSeriesService, KeyRegistry>();

function registryOf(tsdb: TimeSeriesService): KeyRegistry {
  let r = registries.get(tsdb);
  if (r === undefined) registries.set(tsdb, (r = new KeyRegistry(tsdb)));
  return r;
}

function labelsOfTags(tags: Record<string, string>): Array<readonly [string, string]> {
  return Object.entries(tags)
    .filter(([n]) => n !== TS_KEY_TAG)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function tagsOf(meta: KeyMeta): Array<readonly [string, string]> {
  return [[TS_KEY_TAG, meta.key], ...meta.labels];
}

/** Matchers selecting a key's series (and any superset; results are checked with `isSeriesOf`). */
function keyMatchers(meta: KeyMeta): TagMatcher[] {
  return [{ tag: TS_KEY_TAG, op: '=', value: meta.key }, ...meta.labels.map(([tag, value]): TagMatcher => ({ tag, op: '=', value }))];
}

/** True when `tags` are exactly the key's tags. */
function isSeriesOf(tags: Record<string, string>, meta: KeyMeta): boolean {
  if (tags[TS_KEY_TAG] !== meta.key || Object.keys(tags).length !== meta.labels.length + 1) return false;
  for (const [n, v] of meta.labels) if (tags[n] !== v) return false;
  return true;
}

/** A canonical string of a tag set (for matching query results to series). */
function tagsId(tags: Record<string, string>): string {
  return JSON.stringify(Object.entries(tags).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

// ------------------------------------------------------------------ ordering

/** A command's store call, started once the command's turn has come. */
type Commit = () => Promise<Reply>;

/** How a command orders against the connection's other TS commands. */
type Access = 'read' | 'write' | 'exclusive';

/**
 * Orders one connection's TS commands: each is issued (its store call made)
 * after the previous one was issued; a read also waits until every earlier
 * write settled, a write until every earlier read settled, and an exclusive
 * command (TS.DEL, which does not go through the WriteCoalescer) until every
 * earlier command settled. Consecutive writes overlap: they are applied in
 * the order they were issued.
 */
class TsOrder {
  private issued: Promise<void> = RESOLVED;
  private writes: Promise<void> = RESOLVED;
  private reads: Promise<void> = RESOLVED;

  run(access: Access, prepare: () => Promise<Commit> | Commit): Promise<Reply> {
    let result: Promise<Reply> | undefined;
    const gate = access === 'read' ? [this.issued, this.writes] : access === 'write' ? [this.issued, this.reads] : [this.issued, this.reads, this.writes];
    const issued = Promise.all(gate).then(async () => {
      const commit = await prepare();
      result = commit();
    });
    this.issued = issued.then(noop, noop);
    const out = issued.then(() => result!);
    const settled = out.then(noop, noop);
    if (access === 'read') this.reads = Promise.all([this.reads, settled]).then(noop);
    else this.writes = Promise.all([this.writes, settled]).then(noop);
    return out;
  }
}

/** Points written together by one coalesced store write at most. */
const COALESCE_POINTS_MAX = 10_000;

interface QueuedWrite {
  points: readonly TsPoint[];
  /** Answer per point (TS.MADD) rather than for the whole entry. */
  each: boolean;
  /** Per point: undefined when written, else the error. */
  resolve(outcomes: unknown[]): void;
  reject(err: unknown): void;
}

/**
 * Group commit of the TS commands' writes to one store: writes queued while
 * a store write is in flight (a pipeline's TS.ADDs, several clients) go
 * together in the next one, in queue order, so the store's per-write cost is
 * shared. The store writes all points or none: when a combined write fails,
 * its entries are written again one by one (TS.MADD samples one by one) so
 * each gets its own answer. One write at a time keeps queue order even then.
 */
class WriteCoalescer {
  private queue: QueuedWrite[] = [];
  private running = false;

  constructor(private readonly tsdb: TimeSeriesService) {}

  write(points: readonly TsPoint[], each: boolean): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ points, each, resolve, reject });
      if (!this.running) {
        this.running = true;
        // After the current turn, so the commands of one read from the socket go together.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      let n = 0;
      let points = 0;
      while (n < this.queue.length && (n === 0 || points + this.queue[n]!.points.length <= COALESCE_POINTS_MAX)) points += this.queue[n++]!.points.length;
      await this.apply(this.queue.splice(0, n));
    }
    this.running = false;
  }

  private async apply(batch: QueuedWrite[]): Promise<void> {
    try {
      await this.tsdb.write(batch.length === 1 ? batch[0]!.points : batch.flatMap((e) => e.points));
      for (const e of batch) e.resolve(e.points.map(() => undefined));
      return;
    } catch (err) {
      if (batch.length === 1 && !batch[0]!.each) {
        batch[0]!.reject(err);
        return;
      }
    }
    for (const e of batch) {
      if (!e.each) {
        try {
          await this.tsdb.write(e.points);
          e.resolve([undefined]);
        } catch (err) {
          e.reject(err);
        }
        continue;
      }
      const outcomes: unknown[] = [];
      for (const p of e.points) {
        try {
          await this.tsdb.write([p]);
          outcomes.push(undefined);
        } catch (err) {
          outcomes.push(err);
        }
      }
      e.resolve(outcomes);
    }
  }
}

const coalescers = new WeakMap<TimeSeriesService, WriteCoalescer>();

function coalescerOf(tsdb: TimeSeriesService): WriteCoalescer {
  let c = coalescers.get(tsdb);
  if (c === undefined) coalescers.set(tsdb, (c = new WriteCoalescer(tsdb)));
  return c;
}

const orders = new WeakMap<ClientSession, TsOrder>();

interface Ctx {
  s: ClientSession;
  tsdb: TimeSeriesService;
  keys: KeyRegistry;
  writer: WriteCoalescer;
}

/** Store errors a client caused read as RedisTimeSeries errors (`ERR TSDB: ...`); the rest go to the shared table. */
function storeError(err: unknown): never {
  if (isStrataError(err) && (err.code === ERROR_CODES.INVALID_ARGUMENT || err.code === ERROR_CODES.SCHEMA_CONFLICT)) throw new ErrorReply(`ERR TSDB: ${err.message}`);
  throw err;
}

function tsHandler(access: Access, body: (ctx: Ctx, argv: Buffer[]) => Promise<Commit> | Commit): CommandHandler {
  return (s, argv) => {
    const tsdb = s.server.tsdb;
    if (tsdb === undefined) return ERR_DISABLED;
    let order = orders.get(s);
    if (order === undefined) orders.set(s, (order = new TsOrder()));
    const ctx: Ctx = { s, tsdb, keys: registryOf(tsdb), writer: coalescerOf(tsdb) };
    return order.run(access, () => body(ctx, argv)).catch(storeError);
  };
}

// ------------------------------------------------------------------ arguments

/** A key: UTF-8 text the store accepts as a tag value (non-empty, at most 1 KiB, no control characters). */
function keyArg(arg: Buffer): string {
  if (arg.length === 0 || !isUtf8(arg)) throw ERR_KEY_TEXT;
  const key = arg.toString('utf8');
  const problem = checkTagValue(key);
  if (problem !== undefined) throw new ErrorReply(`ERR TSDB: the key ${problem}`);
  return key;
}

function textArg(arg: Buffer | undefined, err: ErrorReply): string {
  if (arg === undefined || arg.length === 0 || !isUtf8(arg)) throw err;
  return arg.toString('utf8');
}

/** A nonnegative integer timestamp (ms) within safe integers, or undefined. */
function parseTimestamp(arg: Buffer): number | undefined {
  const v = parseInt64(arg);
  if (v === undefined || v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(v);
}

function timestampArg(s: Ctx, arg: Buffer): number {
  if (arg.length === 1 && arg[0] === 0x2a) return s.tsdb.nowMs(); // '*'
  const t = parseTimestamp(arg);
  if (t === undefined) throw ERR_TIMESTAMP;
  return t;
}

function valueArg(arg: Buffer): number {
  const v = parseFloatArg(arg);
  if (v === undefined) throw ERR_VALUE;
  return v;
}

/** `-`/`+` (open) or a timestamp; larger timestamps than any sample can have are clamped. */
function boundArg(arg: Buffer, open: string, err: ErrorReply): number | undefined {
  if (arg.length === 1 && arg[0] === open.charCodeAt(0)) return undefined;
  const t = parseTimestamp(arg);
  if (t === undefined) throw err;
  return Math.min(t, OPEN_END_MS - 1);
}

interface SeriesOptions {
  retentionMs?: number;
  chunkSize?: number;
  labels?: Array<readonly [string, string]>;
}

/** TS.CREATE / TS.ADD options: RETENTION, ENCODING, CHUNK_SIZE, DUPLICATE_POLICY, ON_DUPLICATE (ADD), IGNORE, LABELS (last). */
function parseSeriesOptions(argv: Buffer[], start: number, add: boolean): SeriesOptions {
  const o: SeriesOptions = {};
  for (let i = start; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (argIs(a, 'labels')) {
      o.labels = parseLabels(argv.slice(i + 1));
      break;
    }
    if (argIs(a, 'ignore')) throw ERR_IGNORE;
    if (next === undefined) throw ERR_SYNTAX;
    i++;
    if (argIs(a, 'retention')) {
      const v = parseInteger(next);
      if (v === undefined || v < 0) throw ERR_RETENTION;
      o.retentionMs = v;
    } else if (argIs(a, 'chunk_size')) {
      const v = parseInteger(next);
      if (v === undefined || v <= 0) throw ERR_CHUNK_SIZE;
      o.chunkSize = v;
    } else if (argIs(a, 'encoding')) {
      if (!argIs(next, 'compressed') && !argIs(next, 'uncompressed')) throw ERR_ENCODING;
    } else if (argIs(a, 'duplicate_policy')) {
      if (!argIs(next, 'last')) throw ERR_DUPLICATE_POLICY;
    } else if (add && argIs(a, 'on_duplicate')) {
      if (!argIs(next, 'last')) throw ERR_ON_DUPLICATE;
    } else throw ERR_SYNTAX;
  }
  return o;
}

function parseLabels(args: Buffer[]): Array<readonly [string, string]> {
  if (args.length % 2 !== 0) throw ERR_LABELS;
  const out: Array<readonly [string, string]> = [];
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i += 2) {
    const name = textArg(args[i], ERR_LABELS);
    const value = textArg(args[i + 1], ERR_LABELS);
    if (name === TS_KEY_TAG || seen.has(name)) throw ERR_LABELS;
    // The write-path rules every front end shares (sizes, no control characters).
    const problem = checkName(name) ?? checkTagValue(value);
    if (problem !== undefined) throw new ErrorReply(`ERR TSDB: label ${JSON.stringify(name)}: ${problem}`);
    seen.add(name);
    out.push([name, value]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Aggregators and reducers (RedisTimeSeries names). */
type AggName = 'avg' | 'sum' | 'min' | 'max' | 'count' | 'first' | 'last' | 'range' | 'std.p' | 'std.s' | 'var.p' | 'var.s';
const AGG_NAMES: ReadonlySet<string> = new Set<AggName>(['avg', 'sum', 'min', 'max', 'count', 'first', 'last', 'range', 'std.p', 'std.s', 'var.p', 'var.s']);
/** Aggregators the store computes itself (from rollups where it can). */
const STORE_AGGS: ReadonlySet<AggName> = new Set<AggName>(['avg', 'sum', 'min', 'max', 'count', 'first', 'last']);
const REDUCERS: ReadonlySet<string> = new Set<AggName>(['avg', 'sum', 'min', 'max', 'count', 'range', 'std.p', 'std.s', 'var.p', 'var.s']);

function aggArg(arg: Buffer | undefined): AggName {
  if (arg === undefined) throw ERR_AGGREGATION;
  const name = argLower(arg);
  if (name === 'twa') throw ERR_TWA;
  if (!AGG_NAMES.has(name)) throw ERR_AGGREGATION;
  return name as AggName;
}

interface RangeSpec {
  /** Inclusive; undefined for `-`. */
  from: number | undefined;
  /** Inclusive; undefined for `+`. */
  to: number | undefined;
  filterTs: Set<number> | undefined;
  filterValue: readonly [number, number] | undefined;
  count: number | undefined;
  align: number | 'start' | 'end' | undefined;
  agg: { fn: AggName; bucketMs: number; bucketTs: 'start' | 'end' | 'mid' } | undefined;
  withLabels: boolean;
  selectedLabels: string[] | undefined;
  matchers: TagMatcher[] | undefined;
  groupBy: { label: string; reducer: AggName } | undefined;
}

const RANGE_WORDS = ['latest', 'filter_by_ts', 'filter_by_value', 'count', 'align', 'aggregation', 'buckettimestamp', 'empty', 'withlabels', 'selected_labels', 'filter', 'groupby'];

function isRangeWord(arg: Buffer): boolean {
  return RANGE_WORDS.some((w) => argIs(arg, w));
}

/**
 * The arguments of TS.RANGE/REVRANGE (multi false, from argv[2]) and
 * TS.MRANGE/MREVRANGE (multi true, from argv[1]).
 */
function parseRange(argv: Buffer[], i0: number, multi: boolean): RangeSpec {
  const spec: RangeSpec = {
    from: boundArg(argv[i0]!, '-', ERR_FROM),
    to: boundArg(argv[i0 + 1]!, '+', ERR_TO),
    filterTs: undefined,
    filterValue: undefined,
    count: undefined,
    align: undefined,
    agg: undefined,
    withLabels: false,
    selectedLabels: undefined,
    matchers: undefined,
    groupBy: undefined,
  };
  let bucketTs: 'start' | 'end' | 'mid' | undefined;
  for (let i = i0 + 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (argIs(a, 'latest')) continue;
    if (argIs(a, 'empty')) throw ERR_EMPTY;
    if (argIs(a, 'filter_by_ts')) {
      const set = new Set<number>();
      while (i + 1 < argv.length && !isRangeWord(argv[i + 1]!)) {
        const t = parseTimestamp(argv[++i]!);
        if (t === undefined) throw ERR_FILTER_BY_TS;
        set.add(t);
      }
      if (set.size === 0) throw ERR_FILTER_BY_TS;
      spec.filterTs = set;
    } else if (argIs(a, 'filter_by_value')) {
      const lo = argv[i + 1] === undefined ? undefined : parseFloatArg(argv[i + 1]!);
      const hi = argv[i + 2] === undefined ? undefined : parseFloatArg(argv[i + 2]!);
      if (lo === undefined || hi === undefined) throw ERR_FILTER_BY_VALUE;
      spec.filterValue = [lo, hi];
      i += 2;
    } else if (argIs(a, 'count')) {
      const n = argv[i + 1] === undefined ? undefined : parseInteger(argv[i + 1]!);
      if (n === undefined || n <= 0) throw ERR_COUNT;
      spec.count = n;
      i++;
    } else if (argIs(a, 'align')) {
      const v = argv[++i];
      if (v === undefined) throw ERR_ALIGN;
      if (argIs(v, '-') || argIs(v, 'start')) spec.align = 'start';
      else if (argIs(v, '+') || argIs(v, 'end')) spec.align = 'end';
      else {
        const n = parseInteger(v);
        if (n === undefined || !Number.isSafeInteger(n)) throw ERR_ALIGN;
        spec.align = n;
      }
    } else if (argIs(a, 'aggregation')) {
      const fn = aggArg(argv[i + 1]);
      const d = argv[i + 2] === undefined ? undefined : parseInteger(argv[i + 2]!);
      if (d === undefined || d <= 0 || !Number.isSafeInteger(d)) throw ERR_BUCKET;
      spec.agg = { fn, bucketMs: d, bucketTs: 'start' };
      i += 2;
    } else if (argIs(a, 'buckettimestamp')) {
      const v = argv[++i];
      if (v === undefined) throw ERR_BUCKET_TS;
      if (argIs(v, '-') || argIs(v, 'start') || argIs(v, 'low')) bucketTs = 'start';
      else if (argIs(v, '+') || argIs(v, 'end') || argIs(v, 'high')) bucketTs = 'end';
      else if (argIs(v, '~') || argIs(v, 'mid')) bucketTs = 'mid';
      else throw ERR_BUCKET_TS;
    } else if (multi && argIs(a, 'withlabels')) {
      if (spec.selectedLabels !== undefined) throw ERR_LABELS_TOGETHER;
      spec.withLabels = true;
    } else if (multi && argIs(a, 'selected_labels')) {
      if (spec.withLabels) throw ERR_LABELS_TOGETHER;
      const names: string[] = [];
      while (i + 1 < argv.length && !isRangeWord(argv[i + 1]!)) names.push(textArg(argv[++i], ERR_SYNTAX));
      if (names.length === 0) throw ERR_SYNTAX;
      spec.selectedLabels = names;
    } else if (multi && argIs(a, 'filter')) {
      const exprs: Buffer[] = [];
      while (i + 1 < argv.length && !argIs(argv[i + 1]!, 'groupby')) exprs.push(argv[++i]!);
      spec.matchers = parseFilters(exprs);
    } else if (multi && argIs(a, 'groupby')) {
      const label = argv[i + 1];
      if (label === undefined || argv[i + 2] === undefined || !argIs(argv[i + 2]!, 'reduce')) throw ERR_GROUPBY;
      const r = argv[i + 3] === undefined ? '' : argLower(argv[i + 3]!);
      if (!REDUCERS.has(r)) throw ERR_REDUCER;
      spec.groupBy = { label: textArg(label, ERR_GROUPBY), reducer: r as AggName };
      i += 3;
    } else throw ERR_SYNTAX;
  }
  if (spec.agg === undefined && (spec.align !== undefined || bucketTs !== undefined)) throw ERR_ALIGN_NO_AGG;
  if (spec.agg !== undefined && bucketTs !== undefined) spec.agg.bucketTs = bucketTs;
  if (multi && spec.matchers === undefined) throw ERR_MISSING_FILTER;
  return spec;
}

const escapeRegex = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|/-]/g, (c) => `\\${c}`);

/**
 * FILTER expressions: `l=v`, `l!=v`, `l=` (no label l), `l!=` (has label l),
 * `l=(v1,v2)`, `l!=(v1,v2)`. At least one must select (l=v or l=(...)).
 */
function parseFilters(exprs: readonly Buffer[]): TagMatcher[] {
  if (exprs.length === 0) throw ERR_MISSING_FILTER;
  const out: TagMatcher[] = [];
  let selects = false;
  for (const e of exprs) {
    const text = textArg(e, ERR_FILTER);
    const eq = text.indexOf('=');
    if (eq <= 0) throw ERR_FILTER;
    const negative = text[eq - 1] === '!';
    const tag = text.slice(0, negative ? eq - 1 : eq);
    if (tag === '') throw ERR_FILTER;
    const value = text.slice(eq + 1);
    if (value.startsWith('(') && value.endsWith(')')) {
      const list = value.slice(1, -1).split(',');
      if (list.some((v) => v === '')) throw ERR_FILTER;
      out.push({ tag, op: negative ? '!~' : '=~', value: list.map(escapeRegex).join('|') });
      if (!negative) selects = true;
    } else {
      out.push({ tag, op: negative ? '!=' : '=', value });
      if (!negative && value !== '') selects = true;
    }
  }
  if (!selects) throw ERR_NO_MATCHER;
  return out;
}

/** The matchers' verdict on a tag set (a missing tag has the empty value), as the series index decides. */
function matchesAll(tags: Record<string, string>, matchers: readonly TagMatcher[]): boolean {
  for (const m of matchers) {
    const v = tags[m.tag] ?? '';
    const ok =
      m.op === '=' ? v === m.value : m.op === '!=' ? v !== m.value : m.op === '=~' ? new RegExp(`^(?:${m.value})$`).test(v) : !new RegExp(`^(?:${m.value})$`).test(v);
    if (!ok) return false;
  }
  return true;
}

// ------------------------------------------------------------------ aggregation

/** Running statistics of one bucket (or one timestamp across series). */
class Acc {
  n = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  first = NaN;
  last = NaN;
  private mean = 0;
  private m2 = 0;

  add(v: number): void {
    if (this.n === 0) this.first = v;
    this.last = v;
    this.n++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    const d = v - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (v - this.mean);
  }

  result(fn: AggName): number {
    switch (fn) {
      case 'avg':
        return this.sum / this.n;
      case 'sum':
        return this.sum;
      case 'min':
        return this.min;
      case 'max':
        return this.max;
      case 'count':
        return this.n;
      case 'first':
        return this.first;
      case 'last':
        return this.last;
      case 'range':
        return this.max - this.min;
      case 'var.p':
        return this.m2 / this.n;
      case 'var.s':
        return this.n > 1 ? this.m2 / (this.n - 1) : 0;
      case 'std.p':
        return Math.sqrt(this.m2 / this.n);
      case 'std.s':
        return this.n > 1 ? Math.sqrt(this.m2 / (this.n - 1)) : 0;
    }
  }
}

interface Samples {
  times: number[];
  values: number[];
}

const emptySamples = (): Samples => ({ times: [], values: [] });

/** Buckets of ascending samples: start = t - ((t - align) mod d); reported at start, end or middle. */
function aggregateSamples(s: Samples, fn: AggName, d: number, align: number, at: 'start' | 'end' | 'mid'): Samples {
  const out = emptySamples();
  const shift = at === 'start' ? 0 : at === 'end' ? d : Math.floor(d / 2);
  let acc: Acc | undefined;
  let bucket = 0;
  for (let i = 0; i < s.times.length; i++) {
    const t = s.times[i]!;
    const b = t - ((((t - align) % d) + d) % d);
    if (acc === undefined || b !== bucket) {
      if (acc !== undefined) {
        out.times.push(bucket + shift);
        out.values.push(acc.result(fn));
      }
      acc = new Acc();
      bucket = b;
    }
    acc.add(s.values[i]!);
  }
  if (acc !== undefined) {
    out.times.push(bucket + shift);
    out.values.push(acc.result(fn));
  }
  return out;
}

function filterSamples(s: Samples, spec: RangeSpec): Samples {
  if (spec.filterTs === undefined && spec.filterValue === undefined) return s;
  const out = emptySamples();
  const [lo, hi] = spec.filterValue ?? [-Infinity, Infinity];
  for (let i = 0; i < s.times.length; i++) {
    const t = s.times[i]!;
    const v = s.values[i]!;
    if (spec.filterTs !== undefined && !spec.filterTs.has(t)) continue;
    if (v < lo || v > hi) continue;
    out.times.push(t);
    out.values.push(v);
  }
  return out;
}

function limitSamples(s: Samples, count: number | undefined): Samples {
  if (count === undefined || s.times.length <= count) return s;
  return { times: s.times.slice(0, count), values: s.values.slice(0, count) };
}

function reverseSamples(s: Samples): Samples {
  return { times: s.times.slice().reverse(), values: s.values.slice().reverse() };
}

function samplesOf(r: TsSeriesResult): Samples {
  return { times: r.times, values: r.values.map(toNumber) };
}

const toNumber = (v: FieldValue): number => (typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : Number(v));

// ------------------------------------------------------------------ range reads

/** One series a range read answers for. */
interface RangeTarget {
  meta: KeyMeta;
  /** From the store's series info, when known. */
  firstMs: number | undefined;
  lastMs: number | undefined;
  samples: Samples;
}

/**
 * Fills each target's samples for a range read. `matchers` select (a
 * superset of) the targets' series in the store; results are matched to
 * targets by their exact tags. Without aggregation the store returns raw
 * samples (limited and ordered by it unless value/time filters apply); with
 * an aggregator the store computes it (from rollups where it can) when its
 * buckets are epoch-aligned, else the samples are aggregated here.
 */
async function readRange(ctx: Ctx, targets: RangeTarget[], matchers: readonly TagMatcher[], spec: RangeSpec, desc: boolean): Promise<void> {
  const stored = targets.filter((t) => t.meta.stored);
  if (stored.length === 0) return;
  const agg = spec.agg;
  let fromMs = spec.from ?? 0;
  let toMs = (spec.to ?? OPEN_END_MS - 1) + 1;
  // ALIGN start/end refer to the requested bounds (`-`/`+`: the earliest/latest sample).
  let alignFrom = fromMs;
  let alignTo = toMs - 1;
  if (agg !== undefined) {
    // Buckets need real bounds: the range is narrowed to the selected series' samples when their extent is known.
    let first = Infinity;
    let last = -Infinity;
    for (const t of stored) {
      if (t.firstMs !== undefined && t.firstMs < first) first = t.firstMs;
      if (t.lastMs !== undefined && t.lastMs > last) last = t.lastMs;
    }
    if (first !== Infinity) {
      if (spec.from === undefined) alignFrom = first;
      if (spec.to === undefined) alignTo = last;
      fromMs = Math.max(fromMs, first);
      toMs = Math.min(toMs, last + 1);
    } else if (spec.from === undefined || spec.to === undefined) return;
  }
  if (fromMs >= toMs) return;
  const byTags = new Map<string, RangeTarget>();
  for (const t of stored) byTags.set(tagsId(Object.fromEntries(tagsOf(t.meta))), t);
  const filtered = spec.filterTs !== undefined || spec.filterValue !== undefined;
  const base: TsQuery = { measurement: TS_MEASUREMENT, matchers, fields: [TS_VALUE_FIELD], fromMs, toMs };
  const assign = (results: readonly TsSeriesResult[], each: (s: Samples) => Samples): void => {
    for (const r of results) {
      const t = byTags.get(tagsId(r.tags));
      if (t !== undefined && r.field === TS_VALUE_FIELD) t.samples = each(samplesOf(r));
    }
  };
  if (agg === undefined) {
    const q: TsQuery = { ...base, order: desc ? 'desc' : 'asc', ...(filtered || spec.count === undefined ? {} : { limit: spec.count }) };
    assign((await ctx.tsdb.query(q)).series, (s) => limitSamples(filterSamples(s, spec), spec.count));
    return;
  }
  const d = agg.bucketMs;
  const align = spec.align === 'start' ? alignFrom : spec.align === 'end' ? alignTo : (spec.align ?? 0);
  const shift = agg.bucketTs === 'start' ? 0 : agg.bucketTs === 'end' ? d : Math.floor(d / 2);
  if (STORE_AGGS.has(agg.fn) && !filtered && align % d === 0 && (toMs - fromMs) / d <= STORE_BUCKETS_MAX) {
    const q: TsQuery = {
      ...base,
      aggregate: { fn: agg.fn as AggregateFn, every: { ms: d } },
      order: desc ? 'desc' : 'asc',
      ...(spec.count === undefined ? {} : { limit: spec.count }),
    };
    assign((await ctx.tsdb.query(q)).series, (s) => (shift === 0 ? s : { times: s.times.map((t) => t + shift), values: s.values }));
    return;
  }
  const raw = await ctx.tsdb.query({ ...base, order: 'asc' });
  assign(raw.series, (s) => {
    const buckets = aggregateSamples(filterSamples(s, spec), agg.fn, d, align, agg.bucketTs);
    return limitSamples(desc ? reverseSamples(buckets) : buckets, spec.count);
  });
}

// ------------------------------------------------------------------ replies

function valueReply(s: ClientSession, v: number): Reply {
  return s.resp === 3 ? new DoubleReply(v) : new SimpleReply(formatDouble(v));
}

function sampleReply(s: ClientSession, t: number, v: number): Reply {
  return [t, valueReply(s, v)];
}

function samplesReply(s: ClientSession, samples: Samples): Reply[] {
  const out: Reply[] = new Array(samples.times.length);
  for (let i = 0; i < out.length; i++) out[i] = sampleReply(s, samples.times[i]!, samples.values[i]!);
  return out;
}

/** Label pairs: an array of [name, value] pairs in RESP2, a map in RESP3 (RedisTimeSeries' shapes). */
function labelsReply(s: ClientSession, pairs: ReadonlyArray<readonly [string, string | undefined]>): Reply {
  if (s.resp === 3) return new MapReply(pairs.map(([n, v]): [Reply, Reply] => [n, v]));
  return pairs.map(([n, v]): Reply => [n, v]);
}

function chosenLabels(spec: RangeSpec, labels: ReadonlyArray<readonly [string, string]>): Array<readonly [string, string | undefined]> {
  if (spec.withLabels) return [...labels];
  if (spec.selectedLabels !== undefined) return spec.selectedLabels.map((n) => [n, labels.find(([l]) => l === n)?.[1]]);
  return [];
}

const simple = (text: string): SimpleReply => new SimpleReply(text);

// ------------------------------------------------------------------ commands

/** TS.CREATE key [RETENTION ms] [ENCODING ..] [CHUNK_SIZE n] [DUPLICATE_POLICY LAST] [LABELS l v ...] */
const create = tsHandler('write', async (ctx, argv) => {
  const key = keyArg(argv[1]!);
  const o = parseSeriesOptions(argv, 2, false);
  if ((await ctx.keys.get(key)) !== undefined) throw ERR_KEY_EXISTS;
  const meta: KeyMeta = { key, labels: o.labels ?? [], retentionMs: o.retentionMs, chunkSize: o.chunkSize, stored: false };
  if (ctx.keys.add(meta) !== meta) throw ERR_KEY_EXISTS;
  return () => Promise.resolve(OK);
});

function point(meta: KeyMeta, timeMs: number, value: number): TsPoint {
  return { measurement: TS_MEASUREMENT, tags: tagsOf(meta), fields: [{ name: TS_VALUE_FIELD, type: 'float', value }], timeMs };
}

/** TS.ADD key timestamp|* value [options as TS.CREATE] [ON_DUPLICATE LAST]: creates the key (with the options) when missing. */
const add = tsHandler('write', async (ctx, argv) => {
  const key = keyArg(argv[1]!);
  const timeMs = timestampArg(ctx, argv[2]!);
  const value = valueArg(argv[3]!);
  const o = parseSeriesOptions(argv, 4, true);
  let meta = await ctx.keys.get(key);
  let created = false;
  if (meta === undefined) {
    const fresh: KeyMeta = { key, labels: o.labels ?? [], retentionMs: o.retentionMs, chunkSize: o.chunkSize, stored: false };
    meta = ctx.keys.add(fresh);
    created = meta === fresh;
  }
  const m = meta;
  return () =>
    ctx.writer.write([point(m, timeMs, value)], false).then(
      () => {
        m.stored = true;
        return timeMs;
      },
      (err: unknown) => {
        if (created) ctx.keys.forget(m);
        throw err;
      },
    );
});

/** TS.MADD key timestamp value [key timestamp value ...]: keys must exist; one reply (timestamp or error) per sample. */
const madd = tsHandler('write', async (ctx, argv) => {
  if ((argv.length - 1) % 3 !== 0) throw new ErrorReply("ERR wrong number of arguments for 'ts.madd' command");
  const n = (argv.length - 1) / 3;
  const replies: Reply[] = new Array(n);
  const items: Array<{ i: number; key: string; timeMs: number; value: number }> = [];
  for (let i = 0; i < n; i++) {
    try {
      items.push({ i, key: keyArg(argv[1 + 3 * i]!), timeMs: timestampArg(ctx, argv[2 + 3 * i]!), value: valueArg(argv[3 + 3 * i]!) });
    } catch (err) {
      if (!(err instanceof ErrorReply)) throw err;
      replies[i] = err;
    }
  }
  const points: Array<{ i: number; meta: KeyMeta; p: TsPoint }> = [];
  for (const it of items) {
    const meta = await ctx.keys.get(it.key);
    if (meta === undefined) replies[it.i] = ERR_NO_KEY;
    else points.push({ i: it.i, meta, p: point(meta, it.timeMs, it.value) });
  }
  return async () => {
    if (points.length === 0) return replies;
    const outcomes = await ctx.writer.write(
      points.map((x) => x.p),
      true,
    );
    for (let j = 0; j < points.length; j++) {
      const x = points[j]!;
      const err = outcomes[j];
      if (err === undefined) {
        x.meta.stored = true;
        replies[x.i] = x.p.timeMs;
        continue;
      }
      try {
        storeError(err);
      } catch (e) {
        if (!(e instanceof ErrorReply)) throw e;
        replies[x.i] = e;
      }
    }
    return replies;
  };
});

/** The key's series info from the store (undefined without samples). */
async function infoOf(ctx: Ctx, meta: KeyMeta): Promise<TsSeriesInfo | undefined> {
  if (!meta.stored) return undefined;
  return (await ctx.tsdb.series(TS_MEASUREMENT, keyMatchers(meta), Infinity)).find((i) => isSeriesOf(i.tags, meta));
}

async function existing(ctx: Ctx, keyArgBuf: Buffer): Promise<KeyMeta> {
  const meta = await ctx.keys.get(keyArg(keyArgBuf));
  if (meta === undefined) throw ERR_NO_KEY;
  return meta;
}

/** The latest sample of a series, or undefined. */
async function latest(ctx: Ctx, meta: KeyMeta, lastMs: number | undefined): Promise<[number, number] | undefined> {
  if (lastMs === undefined) return undefined;
  const r = await ctx.tsdb.query({ measurement: TS_MEASUREMENT, matchers: keyMatchers(meta), fields: [TS_VALUE_FIELD], fromMs: lastMs, toMs: lastMs + 1, order: 'desc', limit: 1 });
  const s = r.series.find((x) => isSeriesOf(x.tags, meta));
  if (s === undefined || s.times.length === 0) return undefined;
  return [s.times[0]!, toNumber(s.values[0]!)];
}

/** TS.GET key [LATEST] → [timestamp, value] of the latest sample, or an empty array. */
const get = tsHandler('read', (ctx, argv) => async () => {
  for (let i = 2; i < argv.length; i++) if (!argIs(argv[i]!, 'latest')) throw ERR_SYNTAX;
  const meta = await existing(ctx, argv[1]!);
  const info = await infoOf(ctx, meta);
  const last = await latest(ctx, meta, info?.lastMs);
  return last === undefined ? [] : sampleReply(ctx.s, last[0], last[1]);
});

/** TS.RANGE / TS.REVRANGE key from to [options]. */
function range(desc: boolean): CommandHandler {
  return tsHandler('read', (ctx, argv) => async () => {
    const spec = parseRange(argv, 2, false);
    const meta = await existing(ctx, argv[1]!);
    // An aggregation needs the series' extent for `-`/`+` and to keep a wide range to the buckets that can hold samples.
    const needBounds = spec.agg !== undefined && (spec.from === undefined || spec.to === undefined || (spec.to - spec.from) / spec.agg.bucketMs > STORE_BUCKETS_MAX);
    const info = needBounds ? await infoOf(ctx, meta) : undefined;
    const target: RangeTarget = { meta, firstMs: info?.firstMs, lastMs: info?.lastMs, samples: emptySamples() };
    await readRange(ctx, [target], keyMatchers(meta), spec, desc);
    return samplesReply(ctx.s, target.samples);
  });
}

/** The keys FILTER selects: series in the store (with their extent) and keys created here without samples, by key name. */
async function selectTargets(ctx: Ctx, matchers: readonly TagMatcher[]): Promise<RangeTarget[]> {
  const out: RangeTarget[] = [];
  const seen = new Set<string>();
  for (const info of await ctx.tsdb.series(TS_MEASUREMENT, matchers, Infinity)) {
    const key = info.tags[TS_KEY_TAG];
    if (key === undefined || seen.has(key)) continue;
    const meta = ctx.keys.peek(key) ?? ctx.keys.add({ key, labels: labelsOfTags(info.tags), retentionMs: undefined, chunkSize: undefined, stored: true });
    // A series of another writer under a known key name (other tags) is not the key.
    if (!isSeriesOf(info.tags, meta)) continue;
    seen.add(key);
    meta.stored = true;
    out.push({ meta, firstMs: info.firstMs, lastMs: info.lastMs, samples: emptySamples() });
  }
  for (const meta of ctx.keys.withoutSamples()) {
    if (seen.has(meta.key) || !matchesAll(Object.fromEntries(tagsOf(meta)), matchers)) continue;
    seen.add(meta.key);
    out.push({ meta, firstMs: undefined, lastMs: undefined, samples: emptySamples() });
  }
  return out.sort((a, b) => (a.meta.key < b.meta.key ? -1 : a.meta.key > b.meta.key ? 1 : 0));
}

/** One reduced series of GROUPBY: samples of the group's series combined per timestamp. */
function reduceGroup(targets: readonly RangeTarget[], reducer: AggName, desc: boolean, count: number | undefined): Samples {
  const at = new Map<number, Acc>();
  for (const t of targets) {
    for (let i = 0; i < t.samples.times.length; i++) {
      const ts = t.samples.times[i]!;
      let acc = at.get(ts);
      if (acc === undefined) at.set(ts, (acc = new Acc()));
      acc.add(t.samples.values[i]!);
    }
  }
  const times = [...at.keys()].sort((a, b) => (desc ? b - a : a - b));
  return limitSamples({ times, values: times.map((t) => at.get(t)!.result(reducer)) }, count);
}

/** TS.MRANGE / TS.MREVRANGE from to [options] FILTER expr... [GROUPBY label REDUCE reducer]. */
function mrange(desc: boolean): CommandHandler {
  return tsHandler('read', (ctx, argv) => async () => {
    const spec = parseRange(argv, 1, true);
    const matchers = spec.matchers!;
    const targets = await selectTargets(ctx, matchers);
    await readRange(ctx, targets, matchers, spec, desc);
    const s = ctx.s;
    const aggregators: Reply[] = spec.agg === undefined ? [] : [spec.agg.fn];
    const g = spec.groupBy;
    if (g === undefined) {
      const rows = targets.map((t): [string, Reply, Reply] => [t.meta.key, labelsReply(s, chosenLabels(spec, t.meta.labels)), samplesReply(s, t.samples)]);
      if (s.resp === 3) return new MapReply(rows.map(([k, l, x]): [Reply, Reply] => [k, [l, new MapReply([['aggregators', aggregators]]), x]]));
      return rows;
    }
    const groups = new Map<string, RangeTarget[]>();
    for (const t of targets) {
      const v = t.meta.labels.find(([n]) => n === g.label)?.[1];
      if (v === undefined) continue;
      const list = groups.get(v);
      if (list === undefined) groups.set(v, [t]);
      else list.push(t);
    }
    const values = [...groups.keys()].sort();
    const rows: Reply[] = [];
    const entries: Array<[Reply, Reply]> = [];
    for (const v of values) {
      const members = groups.get(v)!;
      const name = `${g.label}=${v}`;
      const sources = members.map((t) => t.meta.key);
      const labels: Array<readonly [string, string]> = [[g.label, v], ['__reducer__', g.reducer], ['__source__', sources.join(',')]];
      const samples = samplesReply(s, reduceGroup(members, g.reducer, desc, spec.count));
      if (s.resp === 3) {
        entries.push([name, [labelsReply(s, chosenLabels(spec, labels.slice(0, 1))), new MapReply([['reducers', [g.reducer]]]), new MapReply([['sources', sources]]), samples]]);
      } else rows.push([name, labelsReply(s, chosenLabels(spec, labels)), samples]);
    }
    return s.resp === 3 ? new MapReply(entries) : rows;
  });
}

/** TS.MGET [LATEST] [WITHLABELS | SELECTED_LABELS l...] FILTER expr... → per key its labels and latest sample. */
const mget = tsHandler('read', (ctx, argv) => async () => {
  const spec: RangeSpec = parseRange([argv[0]!, Buffer.from('-'), Buffer.from('+'), ...argv.slice(1)], 1, true);
  if (spec.agg !== undefined || spec.count !== undefined || spec.filterTs !== undefined || spec.filterValue !== undefined || spec.groupBy !== undefined) throw ERR_SYNTAX;
  const targets = await selectTargets(ctx, spec.matchers!);
  const s = ctx.s;
  const rows: Array<[string, Reply, Reply]> = [];
  for (const t of targets) {
    const last = t.meta.stored ? await latest(ctx, t.meta, t.lastMs) : undefined;
    rows.push([t.meta.key, labelsReply(s, chosenLabels(spec, t.meta.labels)), last === undefined ? [] : sampleReply(s, last[0], last[1])]);
  }
  if (s.resp === 3) return new MapReply(rows.map(([k, l, x]): [Reply, Reply] => [k, [l, x]]));
  return rows;
});

/** TS.QUERYINDEX filter... → the keys the filters select (sorted). */
const queryindex = tsHandler('read', (ctx, argv) => async () => {
  const targets = await selectTargets(ctx, parseFilters(argv.slice(1)));
  return targets.map((t) => t.meta.key);
});

/** TS.INFO key [DEBUG] → RedisTimeSeries' fields that have a meaning here. */
const info = tsHandler('read', (ctx, argv) => async () => {
  for (let i = 2; i < argv.length; i++) if (!argIs(argv[i]!, 'debug')) throw ERR_SYNTAX;
  const meta = await existing(ctx, argv[1]!);
  const i = await infoOf(ctx, meta);
  let total = 0;
  if (i?.firstMs !== undefined && i.lastMs !== undefined) {
    const r = await ctx.tsdb.query({ measurement: TS_MEASUREMENT, matchers: keyMatchers(meta), fields: [TS_VALUE_FIELD], fromMs: i.firstMs, toMs: i.lastMs + 1, aggregate: { fn: 'count' } });
    for (const x of r.series) if (isSeriesOf(x.tags, meta)) for (const v of x.values) total += toNumber(v);
  }
  const s = ctx.s;
  const chunks = i === undefined ? 0 : i.chunks + i.coldChunks + (i.headPoints > 0 ? 1 : 0);
  return new MapReply([
    [simple('totalSamples'), total],
    [simple('memoryUsage'), 0],
    [simple('firstTimestamp'), i?.firstMs ?? 0],
    [simple('lastTimestamp'), i?.lastMs ?? 0],
    [simple('retentionTime'), meta.retentionMs ?? ctx.tsdb.getRetention(TS_MEASUREMENT).raw ?? 0],
    [simple('chunkCount'), chunks],
    [simple('chunkSize'), meta.chunkSize ?? 4096],
    [simple('chunkType'), simple('compressed')],
    [simple('duplicatePolicy'), simple('last')],
    [simple('labels'), labelsReply(s, meta.labels)],
    [simple('sourceKey'), undefined],
    [simple('rules'), []],
  ]);
});

/** TS.DEL key from to → samples deleted in [from, to] (both inclusive); after the connection's earlier commands settled. */
const del = tsHandler('exclusive', async (ctx, argv) => {
  const from = boundArg(argv[2]!, '-', ERR_FROM) ?? 0;
  const to = boundArg(argv[3]!, '+', ERR_TO) ?? OPEN_END_MS - 1;
  const meta = await existing(ctx, argv[1]!);
  if (!meta.stored || from > to) return () => Promise.resolve(0);
  return () => ctx.tsdb.deleteRange(TS_MEASUREMENT, keyMatchers(meta), from, to + 1);
});

const READ = ['@read', '@timeseries', '@slow'] as const;
const READ_FAST = ['@read', '@timeseries', '@fast'] as const;
const WRITE = ['@write', '@timeseries', '@slow'] as const;
const WRITE_FAST = ['@write', '@timeseries', '@fast'] as const;

export const TS_COMMANDS: readonly CommandSpec[] = [
  defineCommand({ name: 'ts.create', arity: -2, flags: ['write', 'denyoom'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'module', summary: 'Create a new time series', since: '1.0.0', access: 'write', handler: create }),
  defineCommand({ name: 'ts.add', arity: -4, flags: ['write', 'denyoom'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'module', summary: 'Append a sample to a time series', since: '1.0.0', access: 'write', handler: add }),
  defineCommand({ name: 'ts.madd', arity: -4, flags: ['write', 'denyoom'], keys: [1, -1, 3], categories: WRITE, group: 'module', summary: 'Append new samples to one or more time series', since: '1.0.0', access: 'write', handler: madd }),
  defineCommand({ name: 'ts.del', arity: 4, flags: ['write'], keys: [1, 1, 1], categories: WRITE, group: 'module', summary: 'Delete all samples between two timestamps for a given time series', since: '1.6.0', access: 'write', handler: del }),
  defineCommand({ name: 'ts.get', arity: -2, flags: ['readonly'], keys: [1, 1, 1], categories: READ_FAST, group: 'module', summary: 'Get the sample with the highest timestamp from a given time series', since: '1.0.0', access: 'read', handler: get }),
  defineCommand({ name: 'ts.range', arity: -4, flags: ['readonly'], keys: [1, 1, 1], categories: READ, group: 'module', summary: 'Query a range in forward direction', since: '1.0.0', access: 'read', handler: range(false) }),
  defineCommand({ name: 'ts.revrange', arity: -4, flags: ['readonly'], keys: [1, 1, 1], categories: READ, group: 'module', summary: 'Query a range in reverse direction', since: '1.4.0', access: 'read', handler: range(true) }),
  defineCommand({ name: 'ts.mrange', arity: -5, flags: ['readonly'], categories: READ, group: 'module', summary: 'Query a range across multiple time series by filters in forward direction', since: '1.0.0', access: 'read', handler: mrange(false) }),
  defineCommand({ name: 'ts.mrevrange', arity: -5, flags: ['readonly'], categories: READ, group: 'module', summary: 'Query a range across multiple time-series by filters in reverse direction', since: '1.4.0', access: 'read', handler: mrange(true) }),
  defineCommand({ name: 'ts.mget', arity: -3, flags: ['readonly'], categories: READ, group: 'module', summary: 'Get the sample with the highest timestamp from each time series matching a specific filter', since: '1.0.0', access: 'read', handler: mget }),
  defineCommand({ name: 'ts.info', arity: -2, flags: ['readonly'], keys: [1, 1, 1], categories: READ, group: 'module', summary: 'Returns information and statistics for a time series', since: '1.0.0', access: 'read', handler: info }),
  defineCommand({ name: 'ts.queryindex', arity: -2, flags: ['readonly'], categories: READ, group: 'module', summary: 'Get all time series keys matching a filter list', since: '1.0.0', access: 'read', handler: queryindex }),
];
