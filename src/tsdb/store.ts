import { ERROR_CODES, NodeFs, StrataError, closedError, corruption, invalidArgument, systemClock } from '../base/index.js';
import type { Clock, Fs } from '../base/index.js';
import { open as openEngine } from '../engine/index.js';
import type { DB, OpenOptions, WriteBatch } from '../engine/index.js';
import { BucketAggregator } from './aggregate.js';
import { TYPE_CODE, decodeChunk, encodeChunk, mergeChunkData, removeRange } from './chunk.js';
import type { ChunkData } from './chunk.js';
import { SeriesHead } from './head.js';
import { DecodedChunkCache } from './decoded-cache.js';
import { FRAME_HEADER_BYTES, HeadLog } from './head-log.js';
import { TAG, fieldKey, readT64, retentionKey, rollupKey, roundingKey, seriesKey, timeOfKey, windowKey } from './keys.js';
import { decodeLogRecord, encodeColumnsRecord, encodeDeleteRecord, encodePointsRecord } from './log-record.js';
import type { LogRow } from './log-record.js';
import { columnValue } from './columns.js';
import { LocalDirObjectStore } from './object-store.js';
import type { ObjectStore } from './object-store.js';
import { planSegments } from './planner.js';
import { DAY_MS, HOUR_MS, LEVEL_CODE, addRowsBefore, bucketEnd, bucketStart, decodeBucket, emptyAgg, encodeBucket, finerLevel, intervalStart, mergeAgg } from './rollup.js';
import type { Agg } from './rollup.js';
import { decodeDayHours, encodeDayHours, isDayRecord } from './rollup-day.js';
import { MAX_SIGNIFICANT_DIGITS, MIN_SIGNIFICANT_DIGITS, checkSignificantDigits, roundSignificant } from './rounding.js';
import { SeriesIndex, canonicalSeriesKey, sortTags } from './series-index.js';
import type { SeriesEntry } from './series-index.js';
import { ROLLUP_LEVELS } from './types.js';
import type {
  FieldType,
  FieldValue,
  RetentionPolicy,
  RollupLevel,
  TagMatcher,
  TimeSeriesService,
  TsPlan,
  TsPlanSegment,
  TsPoint,
  TsPointColumns,
  TsQuery,
  TsQueryResult,
  TsSeriesInfo,
  TsSeriesResult,
  TsStats,
  TsWriteResult,
} from './types.js';

export interface TsStoreOptions {
  /** Directory of the store's engine (created if missing). */
  dir: string;
  fs?: Fs;
  clock?: Clock;
  /** Engine options (write buffer, cache, compression). */
  engine?: Partial<OpenOptions>;
  /** fsync every write before acknowledging it (default false: the engine's WAL policy). */
  syncWrites?: boolean;
  /**
   * Chunk window: a whole number of hours (default 2 h). A store keeps the
   * window it was created with; opening it with a different one is
   * INVALID_ARGUMENT (chunks are keyed by their window's start).
   */
  chunkWindowMs?: number;
  /** A series' head is sealed once it holds this many rows (default 4096). */
  maxHeadRows?: number;
  /**
   * Rows in all heads together above which every head is sealed, open
   * windows included (they are merged with later points when those are
   * sealed), and writes wait for that seal: memory stays bounded however
   * many series are written at once. Default 4,000,000.
   */
  maxHeadRowsTotal?: number;
  /** A window is sealed once the clock is this far past its end (default 10 min). */
  sealAfterMs?: number;
  /** Reject points older than now minus this (0: only retention limits it). Default 0. */
  acceptPastMs?: number;
  /** Reject points later than now plus this. Default 1 day. */
  acceptFutureMs?: number;
  /** Chunks whose window ended this long ago move to the cold tier (0: never). Default 0. */
  coldAfterMs?: number;
  /** The cold tier (default: a directory `<dir>-cold`). */
  objectStore?: ObjectStore;
  /** Deflate sealed chunk bodies when it saves ≥ 10% (default false). */
  deflateChunks?: boolean;
  /** Background maintenance (sealing idle windows, retention, tiering) period; 0 disables the timer. Default 10 s. */
  maintenanceIntervalMs?: number;
  /** Recently read chunks kept decoded for queries, in bytes of decoded values (0: none). Default 32 MiB. */
  decodedCacheBytes?: number;
}

interface FieldMeta {
  id: number;
  type: FieldType;
  persisted: boolean;
}

interface MeasurementSchema {
  byName: Map<string, FieldMeta>;
  names: string[];
}

/** Rows [lo, hi) of decoded chunk data. */
interface RowRange {
  data: ChunkData;
  lo: number;
  hi: number;
}

/** A point validated and resolved against the index and schema (not applied yet). */
interface PreparedRow extends LogRow {
  entry: SeriesEntry;
  names: string[];
}

const NUMERIC = (t: FieldType) => t === 'float' || t === 'integer';
const SEAL_BATCH_SERIES = 16;
const HINTS_MAX = 1_000_000;
/** Raw reads of at most this many chunk windows look each one up instead of scanning the range. */
const POINT_READ_WINDOWS = 16;
/** A key rewritten with sync:true to make every earlier engine write durable (keys.ts: 'M' meta keys). */
const SYNC_MARK_KEY = Buffer.from('Msync');
/** The chunk window the store was created with, in ms (decimal text). */
const WINDOW_KEY = Buffer.from('Mwindow');

function fieldTypeFromCode(code: number): FieldType | undefined {
  return code === 1 ? 'float' : code === 2 ? 'integer' : code === 3 ? 'boolean' : code === 4 ? 'string' : undefined;
}

function encodeSeriesRecord(e: SeriesEntry): Buffer {
  return Buffer.from(JSON.stringify([e.measurement, e.tags]), 'utf8');
}

function levelWidthMs(level: RollupLevel): number {
  return level === '1h' ? HOUR_MS : level === '1d' ? DAY_MS : level === '1M' ? 31 * DAY_MS : 366 * DAY_MS;
}

/**
 * One node's time-series database over its own engine instance
 * (DESIGN.md "Time series"; layout in keys.ts, docs/formats.md).
 *
 * Write path: validate every point (names, types against the measurement's
 * schema, the accepted time window), resolve series ids, then one engine
 * write holds the new series and field records and a head-log record with
 * the points; once it is durable the rows join the series' head buffers and
 * the write resolves. Maintenance seals heads into per-window columnar
 * chunks (merging with a chunk already there, so late points are welcome),
 * recomputes the touched 1h rollup buckets from the merged raw data and
 * each coarser level from the one below, in the same engine write.
 *
 * Read path: the planner splits the range between rollup levels and raw
 * data; raw reads merge chunks (warm in the engine, cold in the object
 * store) with the head.
 */
export class TimeSeriesStore implements TimeSeriesService {
  private readonly index = new SeriesIndex();
  private readonly schemas = new Map<string, MeasurementSchema>();
  private readonly retention = new Map<string, RetentionPolicy>();
  /** Measurement → significant digits its float values are rounded to (absent: exact). */
  private readonly rounding = new Map<string, number>();
  private readonly heads = new Map<number, SeriesHead>();
  /** Series whose heads have rows ready to seal. */
  private readonly dirty = new Set<number>();
  /** Series hint (TsPoint.seriesHint) → series, skipping tag sorting on a hit. */
  private readonly hints = new Map<string, SeriesEntry>();
  /** Fields allocated but whose 'F' record is not durable yet (every write carries them until one is). */
  private readonly unpersistedFields = new Map<FieldMeta, { measurement: string; name: string }>();
  private nextSeq = 1;
  /** Head-log records below this sequence are deleted. */
  private logFloor = 1;
  /** Set by `open` (the log's records are replayed by `load`). */
  private headLog!: HeadLog;
  private headLogRecords: Array<{ seq: number; payload: Buffer }> = [];
  /** The clock when the writes being applied were applied (heads note it as their last write). */
  private applyAtMs = 0;
  /** When the head log was last synced (without syncWrites it is synced about once a second). */
  private lastLogSyncMs = 0;
  /** Writes become visible in sequence order. */
  private nextApply = 1;
  private readonly ready = new Map<number, (() => void) | null>();
  private maintenance: Promise<void> = Promise.resolve();
  private maintenanceQueued = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly decoded: DecodedChunkCache;
  /** False while no chunk has ever moved to the cold tier: raw reads then skip looking for cold pointers. */
  private mayHaveCold = false;
  private readonly counters = { pointsWritten: 0, valuesWritten: 0, chunksSealed: 0, chunksExpired: 0, chunksMovedCold: 0, rollupBucketsWritten: 0 };
  private readonly clock: Clock;
  /** Set from the store's record at open (`load`). */
  private windowMs: number;
  private readonly maxHeadRows: number;
  private readonly maxHeadRowsTotal: number;
  /** Rows in all heads. */
  private headRows = 0;
  /**
   * Days whose 1h buckets this process wrote as single-hour records (sid →
   * day starts): maintenance folds each into a day record once the day is
   * over. Not kept across restarts (such a day folds when it next changes).
   */
  private readonly unfolded = new Map<number, Set<number>>();
  private readonly sealAfterMs: number;
  private readonly acceptPastMs: number;
  private readonly acceptFutureMs: number;
  private readonly coldAfterMs: number;
  private readonly objects: ObjectStore;

  private constructor(
    readonly db: DB,
    private readonly opts: TsStoreOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.windowMs = opts.chunkWindowMs ?? 2 * HOUR_MS;
    if (!Number.isInteger(this.windowMs / HOUR_MS) || this.windowMs <= 0) throw invalidArgument('chunkWindowMs must be a positive whole number of hours');
    this.maxHeadRows = opts.maxHeadRows ?? 4096;
    this.maxHeadRowsTotal = opts.maxHeadRowsTotal ?? 4_000_000;
    this.sealAfterMs = opts.sealAfterMs ?? 10 * 60_000;
    this.acceptPastMs = opts.acceptPastMs ?? 0;
    this.acceptFutureMs = opts.acceptFutureMs ?? DAY_MS;
    this.coldAfterMs = opts.coldAfterMs ?? 0;
    this.objects = opts.objectStore ?? new LocalDirObjectStore(`${opts.dir}-cold`, opts.fs ?? new NodeFs());
    this.decoded = new DecodedChunkCache(opts.decodedCacheBytes ?? 32 * 1024 * 1024);
  }

  static async open(opts: TsStoreOptions): Promise<TimeSeriesStore> {
    const db = await openEngine(opts.dir, { ...(opts.fs ? { fs: opts.fs } : {}), ...opts.engine });
    const store = new TimeSeriesStore(db, opts);
    try {
      // The engine holds the directory's LOCK; the head log's segments live beside its files.
      const { log, records } = HeadLog.open(opts.fs ?? new NodeFs(), opts.dir);
      store.headLog = log;
      store.headLogRecords = records;
      await store.load();
    } catch (err) {
      await db.close();
      throw err;
    }
    const every = opts.maintenanceIntervalMs ?? 10_000;
    if (every > 0) {
      store.timer = setInterval(() => store.scheduleMaintenance(true), every);
      store.timer.unref();
    }
    return store;
  }

  nowMs(): number {
    return this.clock.nowMs();
  }

  // ------------------------------------------------------------------ open

  private async load(): Promise<void> {
    const stored = await this.db.get(WINDOW_KEY);
    if (stored === undefined) {
      // A new store, or one written before the window was recorded (it was opened with this window then).
      await this.db.put(WINDOW_KEY, String(this.windowMs));
    } else {
      const w = Number(stored.toString('utf8'));
      if (!Number.isInteger(w / HOUR_MS) || w <= 0) throw corruption(this.opts.dir, 0, `recorded chunk window ${JSON.stringify(stored.toString('utf8'))} is not valid`);
      if (this.opts.chunkWindowMs !== undefined && this.opts.chunkWindowMs !== w) {
        throw invalidArgument(`chunkWindowMs is ${this.opts.chunkWindowMs} ms, but this store was created with ${w} ms; a store's chunk window cannot change`);
      }
      this.windowMs = w;
    }
    for (const [k, v] of await this.db.scanPrefix(Buffer.from([TAG.series]))) {
      const sid = k.readUInt32BE(1);
      let rec: unknown;
      try {
        rec = JSON.parse(v.toString('utf8'));
      } catch {
        throw corruption(this.opts.dir, 0, `series record ${sid} is not valid`);
      }
      const [measurement, tags] = rec as [string, Array<[string, string]>];
      this.index.add({ sid, measurement, tags, key: canonicalSeriesKey(measurement, tags), persisted: true });
    }
    this.index.finishLoad();
    for (const [k, v] of await this.db.scanPrefix(Buffer.from([TAG.field]))) {
      const zero = k.indexOf(0, 1);
      const measurement = k.toString('utf8', 1, zero);
      const name = k.toString('utf8', zero + 1);
      const type = fieldTypeFromCode(v[0]!);
      if (type === undefined || v.length !== 3) throw corruption(this.opts.dir, 0, `field record ${measurement}.${name} is not valid`);
      const s = this.schemaOf(measurement);
      const id = v.readUInt16BE(1);
      s.byName.set(name, { id, type, persisted: true });
      s.names[id] = name;
    }
    this.mayHaveCold = (await this.db.scanPrefix(Buffer.from([TAG.cold]), { limit: 1 })).length > 0;
    for (const [k, v] of await this.db.scanPrefix(Buffer.from([TAG.retention]))) {
      this.retention.set(k.toString('utf8', 1), JSON.parse(v.toString('utf8')) as RetentionPolicy);
    }
    for (const [k, v] of await this.db.scanPrefix(Buffer.from([TAG.rounding]))) {
      const d = v.length === 1 ? v[0]! : 0;
      if (d < MIN_SIGNIFICANT_DIGITS || d > MAX_SIGNIFICANT_DIGITS) throw corruption(this.opts.dir, 0, `float rounding record of ${JSON.stringify(k.toString('utf8', 1))} is not valid`);
      this.rounding.set(k.toString('utf8', 1), d);
    }
    // Records may sit in the log out of sequence order (a write that also created series waited for
    // the engine before appending); they are replayed in sequence order, as they were applied.
    const log = this.headLogRecords.sort((a, b) => a.seq - b.seq);
    this.headLogRecords = [];
    for (const { seq, payload } of log) {
      const rec = decodeLogRecord(payload, `${this.opts.dir} head-log record ${seq}`);
      if (rec.kind === 'points') {
        for (const r of rec.rows) if (this.index.get(r.sid) !== undefined) this.appendRow(seq, r.sid, r.timeMs, r.nanos, r.ids, r.types, r.values, undefined, 0);
      } else this.removeFromHeads(rec.sids, rec.fromMs, rec.toMs);
      this.nextSeq = seq + 1;
    }
    this.logFloor = log.length > 0 ? log[0]!.seq : this.nextSeq;
    this.nextApply = this.nextSeq;
  }

  private schemaOf(measurement: string): MeasurementSchema {
    let s = this.schemas.get(measurement);
    if (s === undefined) {
      s = { byName: new Map(), names: [] };
      this.schemas.set(measurement, s);
    }
    return s;
  }

  private check(): void {
    if (this.closed) throw closedError('time-series store');
  }

  // ------------------------------------------------------------------ writes

  /** The earliest time a write to `measurement` may carry (retention and rollup recomputation bound it). */
  private acceptFrom(measurement: string, now: number): number {
    let past = this.acceptPastMs > 0 ? this.acceptPastMs : Infinity;
    const r = this.retention.get(measurement) ?? {};
    if (r.raw) past = Math.min(past, r.raw);
    // Recomputing a coarser bucket needs every finer bucket of it still retained.
    for (const level of ROLLUP_LEVELS) {
      const coarser = ROLLUP_LEVELS[ROLLUP_LEVELS.indexOf(level) + 1];
      const kept = r[level];
      if (kept && coarser !== undefined) past = Math.min(past, kept - levelWidthMs(coarser));
      if (kept) past = Math.min(past, kept);
    }
    return past === Infinity ? -Infinity : now - past;
  }

  /** The series of a point being written: known (by hint or canonical key), or reserved for this write. */
  private seriesFor(ws: WriteState, measurement: string, rawTags: ReadonlyArray<readonly [string, string]>, hint: string | undefined): SeriesEntry {
    let entry = hint !== undefined ? this.hints.get(hint) : undefined;
    if (entry !== undefined && entry.measurement === measurement) return entry;
    const tags = sortTags(rawTags);
    const key = canonicalSeriesKey(measurement, tags);
    entry = this.index.lookup(key);
    if (entry !== undefined && hint !== undefined) {
      if (this.hints.size >= HINTS_MAX) this.hints.clear();
      this.hints.set(hint, entry);
    }
    entry ??= ws.reserved.get(key);
    if (entry === undefined) {
      entry = { sid: -1, measurement, tags, key, persisted: false };
      ws.reserved.set(key, entry);
      ws.newSeries.push(entry);
    }
    return entry;
  }

  /** A field of `measurement`: known (its type must match), or reserved for this write (id -1 until allocated). */
  private fieldFor(ws: WriteState, measurement: string, name: string, type: FieldType): FieldMeta {
    if (typeof name !== 'string' || name === '') throw invalidArgument('field names must be non-empty strings');
    let meta = this.schemas.get(measurement)?.byName.get(name) ?? ws.fieldReserved.get(`${measurement}\0${name}`);
    if (meta === undefined) {
      meta = { id: -1, type, persisted: false };
      ws.fieldReserved.set(`${measurement}\0${name}`, meta);
      ws.newFields.push({ measurement, name, meta });
    } else if (meta.type !== type) {
      throw new StrataError(ERROR_CODES.SCHEMA_CONFLICT, `field ${JSON.stringify(name)} of measurement ${JSON.stringify(measurement)} is ${meta.type}, not ${type}`);
    }
    return meta;
  }

  /** Checks a point's time against the accepted window of its measurement. */
  private checkTime(ws: WriteState, measurement: string, timeMs: number, nanos: number): void {
    if (!Number.isSafeInteger(timeMs)) throw invalidArgument(`time ${timeMs} is not an integer number of milliseconds`);
    if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999) throw invalidArgument(`nanos ${nanos} must be an integer in 0..999999`);
    let from = ws.acceptFrom.get(measurement);
    if (from === undefined) ws.acceptFrom.set(measurement, (from = this.acceptFrom(measurement, ws.now)));
    if (timeMs < from) throw invalidArgument(`time ${new Date(timeMs).toISOString()} is older than the accepted window (${new Date(from).toISOString()}): retention of ${measurement}`);
    if (timeMs > ws.now + this.acceptFutureMs) throw invalidArgument(`time ${new Date(timeMs).toISOString()} is more than ${this.acceptFutureMs} ms in the future`);
  }

  /** Every point is valid: allocates the reserved series and field ids (still nothing visible until the write is durable). */
  private allocate(ws: WriteState): void {
    for (const e of ws.newSeries) {
      const created = this.index.lookup(e.key) ?? this.index.create(e.measurement, e.tags, e.key);
      (e as { sid: number }).sid = created.sid;
    }
    for (const f of ws.newFields) {
      const s = this.schemaOf(f.measurement);
      const existing = s.byName.get(f.name);
      if (existing !== undefined) {
        if (existing.type !== f.meta.type) throw new StrataError(ERROR_CODES.SCHEMA_CONFLICT, `field ${JSON.stringify(f.name)} of measurement ${JSON.stringify(f.measurement)} is ${existing.type}, not ${f.meta.type}`);
        f.meta.id = existing.id;
        continue;
      }
      if (s.names.length >= 0xffff) throw invalidArgument(`measurement ${f.measurement} has too many fields (65535)`);
      f.meta.id = s.names.length;
      s.names.push(f.name);
      s.byName.set(f.name, f.meta);
      this.unpersistedFields.set(f.meta, { measurement: f.measurement, name: f.name });
    }
  }

  /**
   * Commits a checked write: the records of series (`entries` not yet
   * persisted) and fields it created go to the engine, `record` to the head
   * log (encoded after FRAME_HEADER_BYTES of headroom, see
   * HeadLog.appendFrame); once durable and in sequence, `apply` puts the
   * rows into the heads.
   */
  private async commitWrite(entries: ReadonlySet<SeriesEntry>, record: Buffer, apply: (seq: number) => void): Promise<void> {
    const batch = this.db.batch();
    for (const e of entries) batch.put(seriesKey(e.sid), encodeSeriesRecord(e));
    const unpersistedFields = [...this.unpersistedFields];
    for (const [meta, { measurement, name }] of unpersistedFields) {
      const v = Buffer.allocUnsafe(3);
      v[0] = TYPE_CODE[meta.type];
      v.writeUInt16BE(meta.id, 1);
      batch.put(fieldKey(measurement, name), v);
    }
    const seq = this.nextSeq++;
    await this.commitInOrder(seq, batch.count > 0 ? batch : undefined, record, () => {
      for (const e of entries) e.persisted = true;
      for (const [meta] of unpersistedFields) {
        meta.persisted = true;
        this.unpersistedFields.delete(meta);
      }
      apply(seq);
    });
  }

  /** After a write's rows are in the heads: counters, and sealing when heads are full. */
  private async afterWrite(points: number, values: number): Promise<void> {
    this.counters.pointsWritten += points;
    this.counters.valuesWritten += values;
    if (this.headRows > this.maxHeadRowsTotal) await this.relieveHeads();
    else if (this.dirty.size > 0) this.scheduleMaintenance(false);
  }

  async write(points: readonly TsPoint[]): Promise<TsWriteResult> {
    this.check();
    if (!Array.isArray(points)) throw invalidArgument('points must be an array');
    if (points.length === 0) return { points: 0, values: 0, newSeries: 0 };
    const ws = newWriteState(this.clock.nowMs());
    const rows: PreparedRow[] = new Array(points.length);
    let values = 0;
    for (let p = 0; p < points.length; p++) {
      const pt = points[p]!;
      try {
        if (typeof pt.measurement !== 'string' || pt.measurement === '') throw invalidArgument('measurement must be a non-empty string');
        const nanos = pt.nanos ?? 0;
        this.checkTime(ws, pt.measurement, pt.timeMs, nanos);
        if (!Array.isArray(pt.fields) || pt.fields.length === 0) throw invalidArgument('a point needs at least one field');
        const entry = this.seriesFor(ws, pt.measurement, pt.tags, pt.seriesHint);
        const layout = entry.layout;
        const digits = this.rounding.size === 0 ? undefined : this.rounding.get(pt.measurement);
        if (layout !== undefined && sameLayout(layout, pt.fields)) {
          // The series' fields as last time: ids and types are shared, only values are new.
          const vals: FieldValue[] = new Array(pt.fields.length);
          for (let i = 0; i < vals.length; i++) {
            const fl = pt.fields[i]!;
            checkValue(fl.name, fl.type, fl.value);
            vals[i] = digits !== undefined && fl.type === 'float' ? roundSignificant(fl.value as number, digits) : fl.value;
          }
          rows[p] = { sid: -1, timeMs: pt.timeMs, nanos, ids: layout.ids, names: layout.names, types: layout.types, values: vals, entry };
          values += vals.length;
          continue;
        }
        const ids: number[] = [];
        const names: string[] = [];
        const types: FieldType[] = [];
        const vals: FieldValue[] = [];
        for (const f of pt.fields) {
          const meta = this.fieldFor(ws, pt.measurement, f.name, f.type);
          checkValue(f.name, f.type, f.value);
          if (names.includes(f.name)) throw invalidArgument(`field ${JSON.stringify(f.name)} appears twice`);
          names.push(f.name);
          ids.push(meta.id);
          types.push(f.type);
          vals.push(digits !== undefined && f.type === 'float' ? roundSignificant(f.value as number, digits) : f.value);
        }
        rows[p] = { sid: -1, timeMs: pt.timeMs, nanos, ids, names, types, values: vals, entry };
        values += ids.length;
        if (entry.sid >= 0 && !ids.includes(-1)) entry.layout = { names, ids, types };
      } catch (err) {
        throw pointError(err, p, points.length);
      }
    }
    this.allocate(ws);
    const entries = new Set<SeriesEntry>();
    for (const r of rows) {
      const e = this.index.lookup(r.entry.key)!;
      r.entry = e;
      r.sid = e.sid;
      if (r.ids.includes(-1)) {
        const schema = this.schemas.get(e.measurement)!;
        for (let i = 0; i < r.ids.length; i++) r.ids[i] = schema.byName.get(r.names[i]!)!.id;
      }
      if (!e.persisted) entries.add(e);
    }
    await this.commitWrite(entries, encodePointsRecord(rows, FRAME_HEADER_BYTES), (seq) => {
      for (const r of rows) this.appendRow(seq, r.sid, r.timeMs, r.nanos, r.ids, r.types, r.values, undefined, 0);
    });
    await this.afterWrite(rows.length, values);
    return { points: rows.length, values, newSeries: ws.newSeries.length };
  }

  async writeColumns(c: TsPointColumns): Promise<TsWriteResult> {
    this.check();
    checkColumnsShape(c);
    const n = c.length;
    if (n === 0) return { points: 0, values: 0, newSeries: 0 };
    const ws = newWriteState(this.clock.nowMs());
    const S = c.series.length;
    const found: SeriesEntry[] = new Array(S);
    // Field lists: one per (layout, measurement), found per point by its (layout, series) pair.
    const lists: Array<{ metas: FieldMeta[]; types: readonly FieldType[] }> = [];
    const listByMeasurement = new Map<string, number>();
    const listOfPair = new Map<number, number>();
    const listOf = new Int32Array(n);
    const layoutChecked = new Uint8Array(c.layouts.length);
    const { seriesOf, layoutOf, timeMs, nanos, valueStart, numbers, strings } = c;
    let values = 0;
    for (let p = 0; p < n; p++) {
      try {
        const s = seriesOf[p]!;
        const l = layoutOf[p]!;
        let entry = found[s];
        const cs = c.series[s]!;
        if (entry === undefined) {
          if (typeof cs.measurement !== 'string' || cs.measurement === '') throw invalidArgument('measurement must be a non-empty string');
          found[s] = entry = this.seriesFor(ws, cs.measurement, cs.tags, cs.hint);
        }
        this.checkTime(ws, cs.measurement, timeMs[p]!, nanos ? nanos[p]! : 0);
        const layout = c.layouts[l]!;
        if (layoutChecked[l] === 0) {
          checkLayout(layout);
          layoutChecked[l] = layout.types.every((t) => t === 'float') ? 2 : 1;
        }
        const key = l * S + s;
        let list = listOfPair.get(key);
        if (list === undefined) {
          const mk = `${l}\0${cs.measurement}`;
          list = listByMeasurement.get(mk);
          if (list === undefined) {
            list = lists.length;
            lists.push({ metas: layout.names.map((name, i) => this.fieldFor(ws, cs.measurement, name, layout.types[i]!)), types: layout.types });
            listByMeasurement.set(mk, list);
          }
          listOfPair.set(key, list);
        }
        listOf[p] = list;
        const base = valueStart[p]!;
        if (layoutChecked[l] === 1) {
          for (let i = 0; i < layout.types.length; i++) {
            const t = layout.types[i]!;
            const v = numbers[base + i]!;
            if (t === 'integer' ? !Number.isSafeInteger(v) : t === 'boolean' ? v !== 0 && v !== 1 : t === 'string' && typeof strings?.get(base + i) !== 'string') {
              checkValue(layout.names[i]!, t, columnValue(c, t, base + i));
            }
          }
        }
        values += layout.names.length;
      } catch (err) {
        throw pointError(err, p, n);
      }
    }
    if (this.rounding.size > 0) roundColumns(c, this.rounding);
    this.allocate(ws);
    const entries = new Set<SeriesEntry>();
    const sids = new Int32Array(S);
    for (let s = 0; s < S; s++) {
      if (found[s] === undefined) continue;
      const e = this.index.lookup(found[s]!.key)!;
      sids[s] = e.sid;
      if (!e.persisted) entries.add(e);
    }
    const fieldLists = lists.map((l) => ({ ids: l.metas.map((m) => m.id), types: l.types }));
    const record = encodeColumnsRecord(c, sids, fieldLists, listOf, FRAME_HEADER_BYTES);
    await this.commitWrite(entries, record, (seq) => {
      for (let p = 0; p < n; p++) {
        const list = fieldLists[listOf[p]!]!;
        this.appendRow(seq, sids[seriesOf[p]!]!, timeMs[p]!, nanos ? nanos[p]! : 0, list.ids, list.types, undefined, c, valueStart[p]!);
      }
    });
    await this.afterWrite(n, values);
    return { points: n, values, newSeries: ws.newSeries.length };
  }

  /**
   * Writes `batch` (new series and field records) to the engine, then the
   * head-log record, and syncs as configured; then runs `apply` once every
   * earlier sequence has been applied, so heads see writes in log order. A
   * failed write leaves a gap that later writes skip.
   */
  private async commitInOrder(seq: number, batch: WriteBatch | undefined, record: Buffer, apply: () => void, forceSync = false): Promise<void> {
    try {
      if (batch !== undefined) await this.db.write(batch, { sync: this.opts.syncWrites === true });
      this.headLog.appendFrame(seq, record);
      const now = this.clock.nowMs();
      if (forceSync || this.opts.syncWrites === true) await this.headLog.sync();
      else if (now - this.lastLogSyncMs >= 1000) {
        // Without syncWrites the log is as durable as the engine's periodic WAL: synced about once a second.
        this.lastLogSyncMs = now;
        void this.headLog.sync().catch(() => undefined);
      }
    } catch (err) {
      this.ready.set(seq, null);
      this.drainApplies();
      throw err;
    }
    this.ready.set(seq, apply);
    this.drainApplies();
  }

  private drainApplies(): void {
    this.applyAtMs = this.clock.nowMs();
    for (;;) {
      if (!this.ready.has(this.nextApply)) return;
      const f = this.ready.get(this.nextApply);
      this.ready.delete(this.nextApply);
      this.nextApply++;
      f?.();
    }
  }

  /** One row into its series' head: values from `values`, or from the columns `c` at `base`. */
  private appendRow(
    seq: number,
    sid: number,
    timeMs: number,
    nanos: number,
    ids: readonly number[],
    types: readonly FieldType[],
    values: readonly FieldValue[] | undefined,
    c: TsPointColumns | undefined,
    base: number,
  ): void {
    let head = this.heads.get(sid);
    if (head === undefined) {
      head = new SeriesHead();
      this.heads.set(sid, head);
    }
    head.append(seq, timeMs, nanos, ids, types, values, c, base);
    head.lastWriteMs = this.applyAtMs;
    this.headRows++;
    if (head.rows >= this.maxHeadRows || this.windowOf(head.minTime) !== this.windowOf(head.maxTime)) this.dirty.add(sid);
  }

  /**
   * Whether a head's newest window is idle (sealed by maintenance): it closed
   * sealAfterMs ago by the clock, and nothing was written to the series for
   * sealAfterMs (a backfill of old data keeps writing to its newest window,
   * which is not resealed at every pass).
   */
  private isIdle(head: SeriesHead, now: number): boolean {
    return this.windowOf(head.maxTime) + this.windowMs + this.sealAfterMs <= now && head.lastWriteMs + this.sealAfterMs <= now;
  }

  private windowOf(t: number): number {
    return Math.floor(t / this.windowMs) * this.windowMs;
  }

  private removeFromHeads(sids: readonly number[], fromMs: number, toMs: number): number {
    let removed = 0;
    for (const sid of sids) {
      const head = this.heads.get(sid);
      if (head === undefined) continue;
      removed += head.remove((t) => t >= fromMs && t < toMs);
      if (head.rows === 0) this.heads.delete(sid);
    }
    this.headRows -= removed;
    return removed;
  }

  // ------------------------------------------------------------------ maintenance

  /** Queues a maintenance pass after the current one (at most one queued). */
  private scheduleMaintenance(periodic: boolean): void {
    if (this.closed || this.maintenanceQueued) return;
    this.maintenanceQueued = true;
    this.maintenance = this.maintenance
      .then(async () => {
        this.maintenanceQueued = false;
        if (this.closed) return;
        await this.sealDirty(false);
        if (periodic) await this.periodic();
      })
      .catch(() => {
        // Failures surface through the engine (read-only after an I/O error) and the next flush().
        this.maintenanceQueued = false;
      });
  }

  /** Serializes chunk mutations (sealing, deletes, retention, tiering). */
  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.maintenance.then(f);
    this.maintenance = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async periodic(): Promise<void> {
    const now = this.clock.nowMs();
    for (const [sid, head] of this.heads) if (this.isIdle(head, now)) this.dirty.add(sid);
    await this.sealDirty(false);
    await this.foldDays(now);
    await this.applyRetention(now);
    if (this.coldAfterMs > 0) await this.moveCold(now);
  }

  /** Heads over their total budget: seal all of them (open windows too) and let the writer wait for it. */
  private relieveHeads(): Promise<void> {
    return this.exclusive(async () => {
      if (this.headRows <= this.maxHeadRowsTotal) return;
      for (const sid of this.heads.keys()) this.dirty.add(sid);
      await this.sealDirty(true);
    });
  }

  /** Seals every head completely, then flushes the engine. */
  async flush(): Promise<void> {
    this.check();
    await this.exclusive(async () => {
      for (const sid of this.heads.keys()) this.dirty.add(sid);
      await this.sealDirty(true);
    });
    await this.db.flush();
  }

  /** Runs the periodic work now: seals idle windows, applies retention, moves chunks to the cold tier. */
  async maintain(): Promise<void> {
    this.check();
    await this.exclusive(() => this.periodic());
  }

  /** Compacts the engine (after a bulk load, before measuring space). */
  async compact(): Promise<void> {
    this.check();
    await this.db.compactRange();
  }

  /** Seals the dirty series' closed windows (every window when `all`), in batches. */
  private async sealDirty(all: boolean): Promise<void> {
    while (this.dirty.size > 0) {
      const sids: number[] = [];
      for (const sid of this.dirty) {
        sids.push(sid);
        if (sids.length >= SEAL_BATCH_SERIES) break;
      }
      for (const sid of sids) this.dirty.delete(sid);
      await this.sealSeries(sids, all);
      // Let sockets and parsed requests in between batches: a batch is one synchronous stretch of encoding.
      if (this.dirty.size > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await this.truncateLog();
  }

  private async sealSeries(sids: readonly number[], all: boolean): Promise<void> {
    const batch = this.db.batch();
    const rollups = new RollupWriter(this.db, batch);
    // Rows appended while this step awaits are not in its chunks: only the first `rows` rows of a head are removed after.
    const sealed: Array<{ sid: number; head: SeriesHead; windows: Set<number>; rows: number }> = [];
    const coldDeletes: string[] = [];
    // A head's newest window stays open while it may still be written to, unless the head is idle.
    const now = this.clock.nowMs();
    for (const sid of sids) {
      const head = this.heads.get(sid);
      if (head === undefined || head.rows === 0) continue;
      const newest = this.windowOf(head.maxTime);
      const rows = head.rows;
      const groups = head.groupRows((t) => this.windowOf(t));
      const take = new Set<number>();
      for (const w of [...groups.keys()].sort((a, b) => a - b)) {
        if (!all && w === newest && rows < this.maxHeadRows && !this.isIdle(head, now)) continue;
        take.add(w);
        const fresh = head.rowsToChunk(groups.get(w)!);
        const existing = await this.readWindow(sid, w);
        const merged = existing === undefined ? fresh : mergeChunkData(existing.data, fresh);
        batch.put(windowKey(TAG.chunk, sid, w), encodeChunk(merged, { deflate: this.opts.deflateChunks === true }));
        if (existing?.cold !== undefined) {
          batch.delete(windowKey(TAG.cold, sid, w));
          coldDeletes.push(existing.cold);
        }
        await rollups.recomputeWindow(sid, w, this.windowMs, merged, this.numericIds(sid));
        this.counters.chunksSealed++;
      }
      if (take.size > 0) sealed.push({ sid, head, windows: take, rows });
    }
    if (sealed.length === 0) return;
    await rollups.cascade();
    this.counters.rollupBucketsWritten += rollups.written;
    await this.db.write(batch, { sync: this.opts.syncWrites === true });
    this.noteDays(rollups);
    for (const { sid, head, windows, rows } of sealed) {
      if (this.heads.get(sid) !== head) continue;
      this.headRows -= head.remove((t, row) => row < rows && windows.has(this.windowOf(t)));
      if (head.rows === 0) this.heads.delete(sid);
    }
    for (const name of coldDeletes) await this.objects.delete(name);
  }

  /** Records which days a written step left as single-hour records, and which it folded. */
  private noteDays(rollups: RollupWriter): void {
    for (const [sid, day] of rollups.singleDays) {
      let days = this.unfolded.get(sid);
      if (days === undefined) this.unfolded.set(sid, (days = new Set()));
      days.add(day);
    }
    for (const [sid, day] of rollups.foldedDays) {
      const days = this.unfolded.get(sid);
      if (days === undefined) continue;
      days.delete(day);
      if (days.size === 0) this.unfolded.delete(sid);
    }
  }

  /**
   * Folds the single-hour 1h records of every day that is over (its end more
   * than the seal delay ago, and no head row of the series in it) into a day
   * record: a series that stops writing before a day's last hour (a sensor
   * that reports in working hours) gets the compact form too. In batches of
   * SEAL_BATCH_SERIES days, the event loop turning in between.
   */
  private async foldDays(now: number): Promise<void> {
    const due: Array<[number, number]> = [];
    for (const [sid, days] of this.unfolded) {
      // Not while the head still holds rows of the day (a backfill loading it, late points): its seal comes first.
      const head = this.heads.get(sid);
      const headFrom = head !== undefined && head.rows > 0 ? head.minTime : Infinity;
      for (const day of days) if (day + DAY_MS + this.sealAfterMs <= now && headFrom >= day + DAY_MS) due.push([sid, day]);
    }
    for (let i = 0; i < due.length; i += SEAL_BATCH_SERIES) {
      const batch = this.db.batch();
      const rollups = new RollupWriter(this.db, batch);
      for (const [sid, day] of due.slice(i, i + SEAL_BATCH_SERIES)) await rollups.foldDay(sid, day);
      await this.db.write(batch, { sync: this.opts.syncWrites === true });
      this.noteDays(rollups);
      if (i + SEAL_BATCH_SERIES < due.length) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private numericIds(sid: number): Set<number> {
    const e = this.index.get(sid)!;
    const s = this.schemas.get(e.measurement);
    const out = new Set<number>();
    if (s) for (const meta of s.byName.values()) if (NUMERIC(meta.type)) out.add(meta.id);
    return out;
  }

  /** Deletes head-log segments no head row needs any more. */
  private async truncateLog(): Promise<void> {
    let floor = this.nextApply;
    for (const head of this.heads.values()) if (head.minSeq < floor) floor = head.minSeq;
    if (floor <= this.logFloor) return;
    this.logFloor = floor;
    if (!this.headLog.canTruncate(floor)) return;
    // The chunks holding those records must be durable before the records go: one synced engine write covers them.
    if (this.opts.syncWrites !== true) await this.db.put(SYNC_MARK_KEY, '', { sync: true });
    this.headLog.truncate(floor);
  }

  /** The sealed chunk of (sid, window), warm or cold. */
  private async readWindow(sid: number, w: number, fields?: ReadonlySet<number>): Promise<{ data: ChunkData; cold?: string } | undefined> {
    const warm = this.db.getSync(windowKey(TAG.chunk, sid, w));
    if (warm !== undefined) return { data: decodeChunk(warm, `chunk ${sid}@${w}`, fields) };
    const ptr = this.db.getSync(windowKey(TAG.cold, sid, w));
    if (ptr === undefined) return undefined;
    const name = ptr.toString('utf8');
    return { data: await this.readCold(name, fields), cold: name };
  }

  private async readCold(name: string, fields?: ReadonlySet<number>): Promise<ChunkData> {
    const bytes = await this.objects.get(name);
    if (bytes === undefined) throw corruption(`${this.objects.describe()}/${name}`, 0, 'cold chunk is missing from the object store');
    return decodeChunk(bytes, `${this.objects.describe()}/${name}`, fields);
  }

  // ------------------------------------------------------------------ retention and tiering

  async setRetention(measurement: string, policy: RetentionPolicy): Promise<void> {
    this.check();
    const clean: RetentionPolicy = {};
    for (const [k, v] of Object.entries(policy ?? {})) {
      if (k !== 'raw' && !ROLLUP_LEVELS.includes(k as RollupLevel)) throw invalidArgument(`retention level ${JSON.stringify(k)} is not one of raw, 1h, 1d, 1M, 1y`);
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalidArgument(`retention ${k} must be a non-negative integer of milliseconds`);
      if (v > 0 && k !== 'raw' && v < levelWidthMs(k as RollupLevel)) throw invalidArgument(`retention ${k} must be at least one ${k} bucket`);
      if (v > 0) clean[k as 'raw'] = v;
    }
    await this.db.put(retentionKey(measurement), JSON.stringify(clean), { sync: true });
    this.retention.set(measurement, clean);
  }

  getRetention(measurement: string): RetentionPolicy {
    return { ...(this.retention.get(measurement) ?? {}) };
  }

  async setFloatRounding(measurement: string, significantDigits: number | null | undefined): Promise<void> {
    this.check();
    if (typeof measurement !== 'string' || measurement === '') throw invalidArgument('measurement must be a non-empty string');
    const d = checkSignificantDigits(significantDigits);
    if (d === undefined) {
      await this.db.delete(roundingKey(measurement), { sync: true });
      this.rounding.delete(measurement);
    } else {
      await this.db.put(roundingKey(measurement), Buffer.of(d), { sync: true });
      this.rounding.set(measurement, d);
    }
  }

  getFloatRounding(measurement: string): number | undefined {
    return this.rounding.get(measurement);
  }

  /** Drops whole chunks (and rollup buckets) past each level's retention. */
  private async applyRetention(now: number): Promise<void> {
    for (const [measurement, policy] of this.retention) {
      const sids = this.index.select(measurement);
      if (sids.length === 0) continue;
      const batch = this.db.batch();
      const objectDeletes: string[] = [];
      for (const sid of sids) {
        if (policy.raw) {
          const cutoff = now - policy.raw;
          for (const tag of [TAG.chunk, TAG.cold]) {
            for (const [k, v] of await this.db.scanRange(windowKey(tag, sid, -(2 ** 52)), windowKey(tag, sid, this.windowOf(cutoff) - this.windowMs + 1))) {
              if (timeOfKey(k, tag) + this.windowMs > cutoff) continue;
              batch.delete(k);
              if (tag === TAG.cold) objectDeletes.push(v.toString('utf8'));
              this.counters.chunksExpired++;
            }
          }
        }
        for (const level of ROLLUP_LEVELS) {
          const keep = policy[level];
          if (!keep) continue;
          const cutoff = now - keep;
          const code = LEVEL_CODE[level];
          for (const [k, v] of await this.db.scanRange(rollupKey(sid, code, -(2 ** 52)), rollupKey(sid, code, bucketStart(level, cutoff)))) {
            // A day record of 1h buckets goes when its whole day has expired.
            const t = timeOfKey(k, TAG.rollup);
            if ((level === '1h' && isDayRecord(v) ? t + DAY_MS : bucketEnd(level, t)) <= cutoff) batch.delete(k);
          }
        }
      }
      if (batch.count > 0) await this.db.write(batch);
      for (const name of objectDeletes) await this.objects.delete(name);
    }
  }

  /** Moves warm chunks whose window ended more than coldAfterMs ago to the object store. */
  private async moveCold(now: number): Promise<void> {
    const cutoff = now - this.coldAfterMs;
    for (const measurement of this.index.measurementNames()) {
      for (const sid of this.index.select(measurement)) {
        const old = await this.db.scanRange(windowKey(TAG.chunk, sid, -(2 ** 52)), windowKey(TAG.chunk, sid, this.windowOf(cutoff) - this.windowMs + 1));
        if (old.length === 0) continue;
        const batch = this.db.batch();
        for (const [k, v] of old) {
          const w = timeOfKey(k, TAG.chunk);
          if (w + this.windowMs > cutoff) continue;
          const name = `${sid}/${w}.chunk`;
          await this.objects.put(name, v);
          batch.delete(k);
          this.mayHaveCold = true;
          batch.put(windowKey(TAG.cold, sid, w), name);
          this.counters.chunksMovedCold++;
        }
        if (batch.count > 0) await this.db.write(batch, { sync: true });
      }
    }
  }

  // ------------------------------------------------------------------ deletes

  async deleteRange(measurement: string, matchers: readonly TagMatcher[], fromMs: number, toMs: number): Promise<number> {
    this.check();
    if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || fromMs >= toMs) throw invalidArgument('delete needs integer fromMs < toMs');
    const earliest = this.acceptFrom(measurement, this.clock.nowMs());
    if (fromMs < earliest) throw invalidArgument(`cannot delete before ${new Date(earliest).toISOString()}: older rollups could not be corrected (retention of ${measurement})`);
    const sids = this.index.select(measurement, matchers);
    if (sids.length === 0) return 0;
    return this.exclusive(async () => {
      // Log the delete so replay at open applies it in order with the writes around it.
      const seq = this.nextSeq++;
      let removed = 0;
      await this.commitInOrder(
        seq,
        undefined,
        encodeDeleteRecord(sids, fromMs, toMs, FRAME_HEADER_BYTES),
        () => {
          removed += this.removeFromHeads(sids, fromMs, toMs);
        },
        true,
      );
      const batch = this.db.batch();
      const rollups = new RollupWriter(this.db, batch);
      const coldDeletes: string[] = [];
      for (const sid of sids) {
        for (let w = this.windowOf(fromMs); w < toMs; w += this.windowMs) {
          const existing = await this.readWindow(sid, w);
          if (existing === undefined) continue;
          const { data, removed: n } = removeRange(existing.data, fromMs, toMs);
          if (n === 0) continue;
          removed += n;
          if (existing.cold !== undefined) {
            batch.delete(windowKey(TAG.cold, sid, w));
            coldDeletes.push(existing.cold);
          }
          if (data.times.length === 0) batch.delete(windowKey(TAG.chunk, sid, w));
          else batch.put(windowKey(TAG.chunk, sid, w), encodeChunk(data, { deflate: this.opts.deflateChunks === true }));
          await rollups.recomputeWindow(sid, w, this.windowMs, data, this.numericIds(sid));
        }
      }
      await rollups.cascade();
      await this.db.write(batch, { sync: true });
      this.noteDays(rollups);
      for (const name of coldDeletes) await this.objects.delete(name);
      return removed;
    });
  }

  // ------------------------------------------------------------------ reads

  measurements(): string[] {
    return this.index.measurementNames();
  }

  schema(measurement: string): Record<string, FieldType> {
    const out: Record<string, FieldType> = {};
    const s = this.schemas.get(measurement);
    if (s) for (const [name, meta] of s.byName) if (meta.persisted) out[name] = meta.type;
    return out;
  }

  /** Ids (ascending) of the measurement's series that match every matcher: the index alone, no data read. */
  matchSeries(measurement: string, matchers: readonly TagMatcher[]): number[] {
    this.check();
    return this.index.select(measurement, matchers);
  }

  /** Values of a tag across a measurement's series. */
  tagValues(measurement: string, tag: string): string[] {
    return this.index.tagValues(measurement, tag);
  }

  async series(measurement: string, matchers: readonly TagMatcher[], limit = 1000): Promise<TsSeriesInfo[]> {
    this.check();
    const out: TsSeriesInfo[] = [];
    for (const sid of this.index.select(measurement, matchers)) {
      if (out.length >= limit) break;
      const e = this.index.get(sid)!;
      if (!e.persisted) continue;
      const head = this.heads.get(sid);
      const chunks = this.windowsOf(TAG.chunk, sid);
      const cold = this.windowsOf(TAG.cold, sid);
      const firstChunk = minOf(chunks.first, cold.first);
      let firstMs = head && head.rows > 0 ? head.minTime : undefined;
      let lastMs = head && head.rows > 0 ? head.maxTime : undefined;
      const fields: Record<string, FieldType> = {};
      const names = this.schemas.get(measurement)?.names ?? [];
      const note = (d: ChunkData) => {
        if (d.times.length === 0) return;
        firstMs = firstMs === undefined ? d.times[0]! : Math.min(firstMs, d.times[0]!);
        lastMs = lastMs === undefined ? d.times[d.times.length - 1]! : Math.max(lastMs, d.times[d.times.length - 1]!);
        for (const [id, col] of d.columns) fields[names[id]!] = col.type;
      };
      if (firstChunk !== undefined) note((await this.readWindow(sid, firstChunk))!.data);
      const lastKey = maxOf(chunks.last, cold.last);
      if (lastKey !== undefined && lastKey !== firstChunk) note((await this.readWindow(sid, lastKey))!.data);
      if (head) for (const [id, col] of head.columns) fields[names[id]!] = col.type;
      out.push({
        id: sid,
        measurement,
        tags: tagsObject(e.tags),
        fields,
        firstMs,
        lastMs,
        headPoints: head?.rows ?? 0,
        chunks: chunks.count,
        coldChunks: cold.count,
        retention: this.getRetention(measurement),
      });
    }
    return out;
  }

  /**
   * The fields a query reads: the ones it names, else every field of the
   * measurement, or every numeric one for functions only numbers have
   * (sum, min, max, avg, percentile).
   */
  private queriedFields(q: TsQuery): string[] {
    if (q.fields !== undefined) return [...q.fields];
    const schema = this.schema(q.measurement);
    const fn = q.aggregate?.fn;
    const anyType = fn === undefined || fn === 'count' || fn === 'first' || fn === 'last';
    return Object.keys(schema).filter((f) => anyType || NUMERIC(schema[f]!));
  }

  /** How many 'C' (or 'K') windows a series has, and the first and last (keys only are kept while walking). */
  private windowsOf(tag: number, sid: number): { count: number; first: number | undefined; last: number | undefined } {
    const it = this.db.iterator({ prefix: windowKey(tag, sid, 0).subarray(0, 5), fillCache: false });
    let count = 0;
    let first: number | undefined;
    let last: number | undefined;
    try {
      for (let e = it.nextSync(); e !== undefined; e = it.nextSync()) {
        const w = readT64(e[0], 5);
        first ??= w;
        last = w;
        count++;
      }
    } finally {
      it.close();
    }
    return { count, first, last };
  }

  async explain(q: TsQuery): Promise<TsPlan> {
    this.check();
    return this.plan(validateQuery(q), this.index.select(q.measurement, q.matchers ?? []));
  }

  private plan(q: TsQuery, sids: readonly number[]): TsPlan {
    const agg = q.aggregate;
    const reasons: string[] = [];
    let allowed: RollupLevel[] = [...ROLLUP_LEVELS];
    if (agg === undefined) {
      allowed = [];
      reasons.push('raw points requested');
    } else if (q.level !== undefined && q.level !== 'auto') {
      allowed = q.level === 'raw' ? [] : [q.level];
      reasons.push(`level ${q.level} forced`);
    } else if (agg.fn === 'percentile') {
      allowed = [];
      reasons.push('percentiles need raw data');
    } else if (q.where !== undefined) {
      allowed = [];
      reasons.push('a value filter needs raw data');
    } else {
      const schema = this.schema(q.measurement);
      const fields = this.queriedFields(q);
      if (fields.some((f) => schema[f] !== undefined && !NUMERIC(schema[f]))) {
        allowed = [];
        reasons.push('non-numeric fields have no rollups');
      }
    }
    let rawFrom = Infinity;
    for (const sid of sids) {
      const h = this.heads.get(sid);
      if (h && h.rows > 0 && h.minTime < rawFrom) rawFrom = h.minTime;
    }
    if (rawFrom !== Infinity) rawFrom = this.windowOf(rawFrom);
    const policy = this.retention.get(q.measurement) ?? {};
    const now = this.clock.nowMs();
    const retainedFrom: Partial<Record<RollupLevel, number>> = {};
    for (const level of ROLLUP_LEVELS) if (policy[level]) retainedFrom[level] = now - policy[level]!;
    const segments = planSegments({ fromMs: q.fromMs, toMs: q.toMs, every: agg?.every, allowed, rawFromMs: rawFrom, retainedFrom });
    if (allowed.length > 0) {
      const used = [...new Set(segments.map((s) => s.level))];
      reasons.push(
        used.length === 1 && used[0] === 'raw'
          ? rawFrom <= q.fromMs
            ? `unsealed points from ${new Date(rawFrom).toISOString()} are not in rollups yet`
            : 'no whole rollup bucket fits the range and interval'
          : `coarsest exact levels: ${used.join(', ')}${rawFrom !== Infinity && rawFrom < q.toMs ? `; unsealed points from ${new Date(rawFrom).toISOString()} read raw` : ''}`,
      );
    }
    return { series: sids.length, segments, reason: reasons.join('; ') };
  }

  async query(q: TsQuery): Promise<TsQueryResult> {
    this.check();
    const vq = validateQuery(q);
    const sids = this.index.select(vq.measurement, vq.matchers ?? []);
    const plan = this.plan(vq, sids);
    const series: TsSeriesResult[] = [];
    for await (const r of this.execute(vq, sids, plan)) series.push(r);
    return { series, plan };
  }

  async *queryStream(q: TsQuery, pointsPerPiece: number): AsyncIterable<TsSeriesResult> {
    this.check();
    const vq = validateQuery(q);
    const sids = this.index.select(vq.measurement, vq.matchers ?? []);
    const plan = this.plan(vq, sids);
    const size = Math.max(1, Math.floor(pointsPerPiece));
    for await (const r of this.execute(vq, sids, plan)) {
      for (let i = 0; i < r.times.length || i === 0; i += size) {
        yield {
          ...r,
          times: r.times.slice(i, i + size),
          values: r.values.slice(i, i + size),
          ...(r.nanos ? { nanos: r.nanos.slice(i, i + size) } : {}),
        };
        if (r.times.length === 0) break;
      }
    }
  }

  /**
   * Raw rows of one series in the raw segments, limited to `fields`: row
   * ranges of decoded chunks in time order (chunks are not copied together);
   * where the head holds rows of a segment, that segment's chunks are merged
   * with them first.
   */
  private async readRaw(sid: number, segments: readonly TsPlanSegment[], fields: ReadonlySet<number>, where?: RowFilter): Promise<RowRange[]> {
    const parts: RowRange[] = [];
    const push = (data: ChunkData, fromMs: number, toMs: number) => {
      const lo = lowerBound(data.times, fromMs);
      const hi = lowerBound(data.times, toMs);
      if (lo < hi) parts.push({ data, lo, hi });
    };
    for (const seg of segments) {
      if (seg.level !== 'raw') continue;
      // Warm chunk bytes, or the cold object's name.
      const found = new Map<number, Buffer | string>();
      const first = this.windowOf(seg.fromMs);
      if (!this.mayHaveCold && seg.toMs - first <= POINT_READ_WINDOWS * this.windowMs) {
        // A few windows: a point read each (bloom filters answer for the empty ones) beats setting up a scan.
        for (let w = first; w < seg.toMs; w += this.windowMs) {
          const v = this.db.getSyncView(windowKey(TAG.chunk, sid, w));
          if (v !== undefined) found.set(w, v);
        }
      } else {
        for (const tag of this.mayHaveCold ? [TAG.chunk, TAG.cold] : [TAG.chunk]) {
          for (const [k, v] of await this.db.scanRange(windowKey(tag, sid, first), windowKey(tag, sid, seg.toMs))) {
            const w = timeOfKey(k, tag);
            if (!found.has(w)) found.set(w, tag === TAG.chunk ? v : v.toString('utf8'));
          }
        }
      }
      const head = this.heads.get(sid);
      const withHead = head !== undefined && head.rows > 0 && head.maxTime >= seg.fromMs && head.minTime < seg.toMs;
      const chunks: ChunkData[] = [];
      for (const w of [...found.keys()].sort((a, b) => a - b)) {
        const v = found.get(w)!;
        if (typeof v === 'string') {
          chunks.push(await this.readCold(v, fields));
          continue;
        }
        // A row filter: decode its field alone first, and the others only where some row passes.
        if (where !== undefined && !withHead && !anyRowPasses(this.decoded.get(sid, w, v, `chunk ${sid}@${w}`, where.only), where, seg.fromMs, seg.toMs)) continue;
        chunks.push(this.decoded.get(sid, w, v, `chunk ${sid}@${w}`, fields));
      }
      if (withHead) {
        push(mergeChunkData(concatChunks(chunks), head!.toChunk((t) => t >= seg.fromMs && t < seg.toMs, fields)), seg.fromMs, seg.toMs);
      } else for (const c of chunks) push(c, seg.fromMs, seg.toMs);
    }
    return parts;
  }

  private async *execute(q: TsQuery, sids: readonly number[], plan: TsPlan): AsyncIterable<TsSeriesResult> {
    const schema = this.schemas.get(q.measurement);
    if (schema === undefined) return;
    const wanted = this.queriedFields(q).filter((n) => schema.byName.has(n));
    if (q.where !== undefined && !schema.byName.has(q.where.field)) throw invalidArgument(`where: measurement ${q.measurement} has no field ${JSON.stringify(q.where.field)}`);
    const ids = new Set(wanted.map((n) => schema.byName.get(n)!.id));
    const readIds = new Set(ids);
    if (q.where) readIds.add(schema.byName.get(q.where.field)!.id);
    const whereId = q.where === undefined ? -1 : schema.byName.get(q.where.field)!.id;
    const where: RowFilter | undefined = q.where === undefined ? undefined : { id: whereId, only: new Set([whereId]), test: whereTest(q.where) };
    const groupOf = (e: SeriesEntry): { key: string; tags: Record<string, string> } => {
      if (q.groupBy === undefined) return { key: String(e.sid), tags: tagsObject(e.tags) };
      const tags: Record<string, string> = {};
      for (const g of q.groupBy) setTag(tags, g, e.tags.find(([n]) => n === g)?.[1] ?? '');
      return { key: JSON.stringify(q.groupBy.map((g) => tags[g])), tags };
    };
    const desc = q.order === 'desc';
    const limit = q.limit ?? Infinity;
    const agg = q.aggregate;
    if (agg === undefined) {
      // Raw points; grouped series are concatenated and sorted by time.
      const groups = new Map<string, { tags: Record<string, string>; rows: Map<number, Array<[number, number, FieldValue]>> }>();
      const emitGroup = function* (g: { tags: Record<string, string>; rows: Map<number, Array<[number, number, FieldValue]>> }): Iterable<TsSeriesResult> {
        for (const name of wanted) {
          const meta = schema.byName.get(name)!;
          const rows = g.rows.get(meta.id);
          if (rows === undefined || rows.length === 0) continue;
          rows.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
          if (desc) rows.reverse();
          const picked = rows.slice(0, limit);
          const hasNanos = picked.some((r) => r[1] !== 0);
          yield { measurement: q.measurement, tags: g.tags, field: name, type: meta.type, times: picked.map((r) => r[0]), ...(hasNanos ? { nanos: picked.map((r) => r[1]) } : {}), values: picked.map((r) => r[2]) };
        }
      };
      for (const sid of sids) {
        const e = this.index.get(sid)!;
        const parts = await this.readRaw(sid, plan.segments, readIds, where);
        const g = groupOf(e);
        let group = groups.get(g.key);
        if (group === undefined) groups.set(g.key, (group = { tags: g.tags, rows: new Map() }));
        for (const { data, lo, hi } of parts) {
          const keepRow = whereFilter(q, data, schema);
          for (const id of ids) {
            const col = data.columns.get(id);
            if (col === undefined) continue;
            let rows = group.rows.get(id);
            if (rows === undefined) group.rows.set(id, (rows = []));
            for (let r = lo; r < hi; r++) {
              const v = col.values[r];
              if (v !== undefined && keepRow(r)) rows.push([data.times[r]!, data.nanos?.[r] ?? 0, v]);
            }
          }
        }
        if (q.groupBy === undefined) {
          yield* emitGroup(group);
          groups.delete(g.key);
        }
      }
      for (const g of groups.values()) yield* emitGroup(g);
      return;
    }
    const every = agg.every;
    const bucketOf = every === undefined ? () => q.fromMs : (t: number) => intervalStart(every, t);
    const everyMs = every !== undefined && 'ms' in every ? every.ms : undefined;
    const groups = new Map<string, { tags: Record<string, string>; aggs: Map<number, BucketAggregator> }>();
    const emit = function* (g: { tags: Record<string, string>; aggs: Map<number, BucketAggregator> }): Iterable<TsSeriesResult> {
      for (const name of wanted) {
        const meta = schema.byName.get(name)!;
        const a = g.aggs.get(meta.id);
        if (a === undefined) continue;
        const { times, values } = a.finish();
        if (times.length === 0) continue;
        if (desc) {
          times.reverse();
          values.reverse();
        }
        const n = Math.min(limit, times.length);
        const type: FieldType = agg.fn === 'count' ? 'integer' : agg.fn === 'first' || agg.fn === 'last' ? meta.type : 'float';
        yield { measurement: q.measurement, tags: g.tags, field: name, type, times: times.slice(0, n), values: values.slice(0, n) };
      }
    };
    for (const sid of sids) {
      const e = this.index.get(sid)!;
      const g = groupOf(e);
      let group = groups.get(g.key);
      if (group === undefined) groups.set(g.key, (group = { tags: g.tags, aggs: new Map() }));
      const aggOf = (id: number) => {
        let a = group!.aggs.get(id);
        if (a === undefined) group!.aggs.set(id, (a = new BucketAggregator(agg.fn, agg.percentile)));
        return a;
      };
      if (plan.segments.some((s) => s.level === 'raw')) {
        for (const { data, lo, hi } of await this.readRaw(sid, plan.segments, readIds, where)) {
          const keepRow = q.where === undefined ? undefined : whereFilter(q, data, schema);
          for (const id of ids) {
            const col = data.columns.get(id);
            if (col !== undefined) aggOf(id).addColumn(data.times, col.values, lo, hi, everyMs, bucketOf, keepRow);
          }
        }
      }
      for (const seg of plan.segments) {
        if (seg.level === 'raw') continue;
        for (const [b, fields] of await readRollups(this.db, sid, seg.level, seg.fromMs, seg.toMs, ids)) {
          for (const [id, a] of fields) if (ids.has(id)) aggOf(id).addAgg(bucketOf(b), a);
        }
      }
      if (q.groupBy === undefined) {
        yield* emit(group);
        groups.delete(g.key);
      }
    }
    for (const g of groups.values()) yield* emit(g);
  }

  // ------------------------------------------------------------------ stats, close

  stats(): TsStats {
    return { series: this.index.size, measurements: this.schemas.size, headPoints: this.headRows, ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    try {
      await this.exclusive(async () => {
        for (const sid of this.heads.keys()) this.dirty.add(sid);
        await this.sealDirty(true);
      });
    } finally {
      this.closed = true;
      await this.maintenance.catch(() => undefined);
      try {
        await this.headLog.close();
      } finally {
        await this.db.close();
      }
    }
  }
}

/** A write's bookkeeping while its points are checked. */
interface WriteState {
  now: number;
  /** Series and fields the write creates, by canonical key and by measurement + NUL + name. */
  reserved: Map<string, SeriesEntry>;
  newSeries: SeriesEntry[];
  fieldReserved: Map<string, FieldMeta>;
  newFields: Array<{ measurement: string; name: string; meta: FieldMeta }>;
  /** The accepted window's start per measurement. */
  acceptFrom: Map<string, number>;
}

function newWriteState(now: number): WriteState {
  return { now, reserved: new Map(), newSeries: [], fieldReserved: new Map(), newFields: [], acceptFrom: new Map() };
}

/** A point's error, prefixed with its index when the write has several points. */
function pointError(err: unknown, p: number, count: number): unknown {
  if (err instanceof StrataError && count > 1) return new StrataError(err.code, `point ${p}: ${err.message}`);
  return err;
}

/** A columns batch's arrays are as long as its length says, and its indexes in range. */
function checkColumnsShape(c: TsPointColumns): void {
  const bad = (what: string) => invalidArgument(`point columns: ${what}`);
  if (c === null || typeof c !== 'object' || !Number.isSafeInteger(c.length) || c.length < 0) throw bad('length must be a non-negative integer');
  const n = c.length;
  if (!Array.isArray(c.series) || !Array.isArray(c.layouts)) throw bad('series and layouts must be arrays');
  if (!(c.seriesOf instanceof Int32Array) || !(c.layoutOf instanceof Int32Array) || !(c.timeMs instanceof Float64Array) || !(c.valueStart instanceof Int32Array) || !(c.numbers instanceof Float64Array)) {
    throw bad('seriesOf, layoutOf and valueStart must be Int32Arrays, timeMs and numbers Float64Arrays');
  }
  if (c.seriesOf.length < n || c.layoutOf.length < n || c.timeMs.length < n || c.valueStart.length < n + 1 || (c.nanos !== undefined && (!(c.nanos instanceof Int32Array) || c.nanos.length < n))) {
    throw bad('an array is shorter than length');
  }
  for (const [l, layout] of c.layouts.entries()) {
    if (!Array.isArray(layout?.names) || !Array.isArray(layout.types) || layout.names.length !== layout.types.length) throw bad(`layout ${l}: names and types must be arrays of one length`);
  }
  for (let p = 0; p < n; p++) {
    const s = c.seriesOf[p]!;
    const l = c.layoutOf[p]!;
    if (s < 0 || s >= c.series.length || l < 0 || l >= c.layouts.length) throw bad(`point ${p}: series or layout index out of range`);
    const k = c.layouts[l]!.names.length;
    const base = c.valueStart[p]!;
    if (base < 0 || c.valueStart[p + 1] !== base + k || base + k > c.numbers.length) throw bad(`point ${p}: values out of range`);
  }
}

/** A layout's fields: at least one, names non-empty and unique, known types. */
function checkLayout(l: TsPointColumns['layouts'][number]): void {
  if (l.names.length === 0) throw invalidArgument('a point needs at least one field');
  for (let i = 0; i < l.names.length; i++) {
    const name = l.names[i]!;
    if (typeof name !== 'string' || name === '') throw invalidArgument('field names must be non-empty strings');
    if (l.types[i] !== 'float' && l.types[i] !== 'integer' && l.types[i] !== 'boolean' && l.types[i] !== 'string') throw invalidArgument(`field ${JSON.stringify(name)}: unknown field type ${JSON.stringify(l.types[i])}`);
    if (l.names.indexOf(name) !== i) throw invalidArgument(`field ${JSON.stringify(name)} appears twice`);
  }
}

function sameLayout(layout: { names: string[]; types: FieldType[] }, fields: readonly TsPoint['fields'][number][]): boolean {
  const n = layout.names.length;
  if (fields.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const f = fields[i]!;
    if (f.name !== layout.names[i] || f.type !== layout.types[i]) return false;
  }
  return true;
}

function checkValue(name: string, type: FieldType, value: FieldValue): void {
  const bad = (what: string) => invalidArgument(`field ${JSON.stringify(name)}: ${what}`);
  switch (type) {
    case 'float':
      if (typeof value !== 'number') throw bad('a float field needs a number');
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw bad(`integer ${String(value)} is not an integer within ±(2^53-1)`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw bad('a boolean field needs true or false');
      return;
    case 'string':
      if (typeof value !== 'string') throw bad('a string field needs a string');
      return;
    default:
      throw bad(`unknown field type ${JSON.stringify(type)}`);
  }
}

const AGG_FNS = new Set(['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'percentile']);

/** Checks a query's shape; returns it unchanged. */
export function validateQuery(q: TsQuery): TsQuery {
  if (q === null || typeof q !== 'object') throw invalidArgument('query must be an object');
  if (typeof q.measurement !== 'string' || q.measurement === '') throw invalidArgument('query.measurement must be a non-empty string');
  if (!Number.isSafeInteger(q.fromMs) || !Number.isSafeInteger(q.toMs)) throw invalidArgument('query.fromMs and query.toMs must be integer milliseconds');
  if (q.fromMs >= q.toMs) throw invalidArgument('query.fromMs must be before query.toMs');
  if (q.fields !== undefined && (!Array.isArray(q.fields) || q.fields.some((f) => typeof f !== 'string'))) throw invalidArgument('query.fields must be an array of field names');
  if (q.matchers !== undefined && !Array.isArray(q.matchers)) throw invalidArgument('query.matchers must be an array');
  if (q.groupBy !== undefined && (!Array.isArray(q.groupBy) || q.groupBy.some((g) => typeof g !== 'string'))) throw invalidArgument('query.groupBy must be an array of tag names');
  if (q.limit !== undefined && (!Number.isSafeInteger(q.limit) || q.limit < 0)) throw invalidArgument('query.limit must be a non-negative integer');
  if (q.order !== undefined && q.order !== 'asc' && q.order !== 'desc') throw invalidArgument('query.order must be asc or desc');
  if (q.level !== undefined && q.level !== 'auto' && q.level !== 'raw' && !ROLLUP_LEVELS.includes(q.level)) throw invalidArgument('query.level must be auto, raw, 1h, 1d, 1M or 1y');
  const a = q.aggregate;
  if (a !== undefined) {
    if (!AGG_FNS.has(a.fn)) throw invalidArgument(`unknown aggregate ${JSON.stringify(a.fn)} (count, sum, min, max, avg, first, last, percentile)`);
    if (a.fn === 'percentile' && (typeof a.percentile !== 'number' || !(a.percentile >= 0 && a.percentile <= 100))) throw invalidArgument('percentile needs aggregate.percentile in 0..100');
    if (a.every !== undefined) {
      const ok = 'ms' in a.every ? Number.isSafeInteger(a.every.ms) && a.every.ms > 0 : 'months' in a.every && Number.isSafeInteger(a.every.months) && a.every.months > 0;
      if (!ok) throw invalidArgument('aggregate.every must be {ms: n} or {months: n} with n a positive integer');
      const buckets = 'ms' in a.every ? (q.toMs - q.fromMs) / a.every.ms : (q.toMs - q.fromMs) / (28 * DAY_MS * a.every.months);
      if (buckets > 10_000_000) throw invalidArgument('aggregate.every is too small for the range (over 10,000,000 buckets)');
    }
    if (q.level !== undefined && q.level !== 'auto' && q.level !== 'raw' && a.every !== undefined) {
      const lv = q.level;
      if (!('ms' in a.every ? a.every.ms % levelWidthMs(lv) === 0 && (lv === '1h' || lv === '1d') : lv !== '1y' || a.every.months % 12 === 0)) {
        throw invalidArgument(`level ${lv} cannot answer buckets of this interval exactly`);
      }
    }
  }
  if (q.where !== undefined) {
    const w = q.where;
    if (typeof w.field !== 'string' || typeof w.value !== 'number' || !['>', '>=', '<', '<=', '=', '!='].includes(w.op)) throw invalidArgument('query.where must be {field, op (> >= < <= = !=), value: number}');
  }
  return q;
}

/** The comparison of a query's row filter. */
function whereTest(w: NonNullable<TsQuery['where']>): (v: number) => boolean {
  const x = w.value;
  return w.op === '>' ? (v) => v > x : w.op === '>=' ? (v) => v >= x : w.op === '<' ? (v) => v < x : w.op === '<=' ? (v) => v <= x : w.op === '=' ? (v) => v === x : (v) => v !== x;
}

/** A query's row filter: the field it tests (alone, as a field set to decode) and the test. */
interface RowFilter {
  id: number;
  only: ReadonlySet<number>;
  test: (v: number) => boolean;
}

/** Whether a row of `data` in [fromMs, toMs) passes the filter on field `where.id`. */
function anyRowPasses(data: ChunkData, where: RowFilter, fromMs: number, toMs: number): boolean {
  const col = data.columns.get(where.id);
  if (col === undefined) return false;
  const hi = lowerBound(data.times, toMs);
  for (let r = lowerBound(data.times, fromMs); r < hi; r++) {
    const v = col.values[r];
    if (typeof v === 'number' && where.test(v)) return true;
  }
  return false;
}

function whereFilter(q: TsQuery, data: ChunkData, schema: MeasurementSchema): (row: number) => boolean {
  const w = q.where;
  if (w === undefined) return () => true;
  const col = data.columns.get(schema.byName.get(w.field)!.id);
  if (col === undefined) return () => false;
  const test = whereTest(w);
  return (r) => {
    const v = col.values[r];
    return typeof v === 'number' && test(v);
  };
}

/** The rows of each part in order (each part's rows all later than the previous part's). */
function concatChunks(parts: readonly ChunkData[]): ChunkData {
  const nonEmpty = parts.filter((p) => p.times.length > 0);
  if (nonEmpty.length === 1) return nonEmpty[0]!;
  const times: number[] = [];
  const anyNanos = nonEmpty.some((p) => p.nanos !== undefined);
  const nanos: number[] | undefined = anyNanos ? [] : undefined;
  const columns = new Map<number, { type: FieldType; values: Array<FieldValue | undefined> }>();
  for (const p of nonEmpty) for (const [id, c] of p.columns) if (!columns.has(id)) columns.set(id, { type: c.type, values: [] });
  for (const p of nonEmpty) {
    const n = p.times.length;
    for (let r = 0; r < n; r++) times.push(p.times[r]!);
    if (nanos) for (let r = 0; r < n; r++) nanos.push(p.nanos?.[r] ?? 0);
    for (const [id, col] of columns) {
      const src = p.columns.get(id)?.values;
      for (let r = 0; r < n; r++) col.values.push(src?.[r]);
    }
  }
  return { times, nanos, columns };
}

const minOf = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));
const maxOf = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.max(a, b));

/** The first index whose time is >= t (times ascending). */
function lowerBound(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The stored buckets of `level` starting in [from, to) of a series, in time
 * order. 1h buckets live in day records (rollup-day.ts), or, when written
 * before those, in single-bucket records like the other levels (rollup.ts).
 * With `fields`, day records decode only those fields (other records may
 * hold more).
 */
async function readRollups(db: DB, sid: number, level: RollupLevel, from: number, to: number, fields?: ReadonlySet<number>): Promise<Array<[number, Map<number, Agg>]>> {
  const code = LEVEL_CODE[level];
  const out: Array<[number, Map<number, Agg>]> = [];
  const scanFrom = level === '1h' ? bucketStart('1d', from) : from;
  for (const [k, v] of await db.scanRange(rollupKey(sid, code, scanFrom), rollupKey(sid, code, to))) {
    const t = timeOfKey(k, TAG.rollup);
    const what = `rollup ${sid}/${level}@${t}`;
    if (level === '1h' && isDayRecord(v)) {
      for (const [h, byField] of decodeDayHours(v, t, what, fields)) if (h >= from && h < to) out.push([h, byField]);
    } else if (t >= from) out.push([t, decodeBucket(v, t, what)]);
  }
  return out;
}

/**
 * Rollup updates of one maintenance step: 1h buckets recomputed from a
 * window's merged raw rows, then each coarser bucket touched recomputed
 * from the finer level below it (reading through the updates pending in
 * this step), all into the step's engine batch.
 */
class RollupWriter {
  /** level → sid → bucket start → fields (null: the bucket is now empty). */
  private readonly pending = new Map<RollupLevel, Map<number, Map<number, Map<number, Agg> | null>>>(ROLLUP_LEVELS.map((l) => [l, new Map()]));
  written = 0;
  /** (sid, day) whose 1h changes went to single-hour records, and (sid, day) written as day records. */
  readonly singleDays: Array<[number, number]> = [];
  readonly foldedDays: Array<[number, number]> = [];

  constructor(
    private readonly db: DB,
    private readonly batch: WriteBatch,
  ) {}

  private bucketsOf(level: RollupLevel, sid: number): Map<number, Map<number, Agg> | null> {
    const bySid = this.pending.get(level)!;
    let m = bySid.get(sid);
    if (m === undefined) bySid.set(sid, (m = new Map()));
    return m;
  }

  async recomputeWindow(sid: number, w: number, windowMs: number, data: ChunkData, numericIds: ReadonlySet<number>): Promise<void> {
    const hours = this.bucketsOf('1h', sid);
    for (let h = w; h < w + windowMs; h += HOUR_MS) hours.set(h, null);
    const times = data.times;
    for (const [id, col] of data.columns) {
      if (!numericIds.has(id)) continue;
      // Rows are in time order: one pass per hour's run of rows.
      for (let r = 0; r < times.length; ) {
        const h = Math.floor(times[r]! / HOUR_MS) * HOUR_MS;
        const fields = hours.get(h);
        const prev = fields?.get(id);
        const a = prev ?? emptyAgg();
        r = addRowsBefore(a, times, col.values, r, times.length, h + HOUR_MS);
        if (a.count > 0 && prev === undefined) {
          if (fields === null || fields === undefined) hours.set(h, new Map([[id, a]]));
          else fields.set(id, a);
        }
      }
    }
  }

  /** Recomputes the coarser levels from the 1h changes and puts everything into the batch. */
  async cascade(): Promise<void> {
    for (let i = 1; i < ROLLUP_LEVELS.length; i++) {
      const level = ROLLUP_LEVELS[i]!;
      const finer = finerLevel(level)!;
      for (const [sid, buckets] of this.pending.get(finer)!) {
        const starts = new Set<number>();
        for (const t of buckets.keys()) starts.add(bucketStart(level, t));
        const out = this.bucketsOf(level, sid);
        for (const start of starts) out.set(start, await this.combine(sid, finer, start, bucketEnd(level, start)));
      }
    }
    for (const [sid, buckets] of this.pending.get('1h')!) await this.writeHours(sid, buckets);
    for (const level of ROLLUP_LEVELS) {
      if (level === '1h') continue;
      for (const [sid, buckets] of this.pending.get(level)!) {
        for (const [t, fields] of buckets) {
          const k = rollupKey(sid, LEVEL_CODE[level], t);
          if (fields === null || fields.size === 0) this.batch.delete(k);
          else {
            this.batch.put(k, encodeBucket(fields, t));
            this.written++;
          }
        }
      }
    }
  }

  /**
   * Puts the 1h bucket changes of a series into the batch. A day still being
   * filled keeps single-bucket records (each seal would otherwise rewrite the
   * whole day so far); once its last hour is written, and for every later
   * change, the day is one day record holding its stored buckets with the
   * changes applied (single-bucket records of the day folded in and deleted).
   * Days left with single-bucket records are listed in `singleDays`: the
   * store folds them when they are over (`foldDays`).
   */
  private async writeHours(sid: number, changes: ReadonlyMap<number, Map<number, Agg> | null>): Promise<void> {
    const days = new Map<number, Array<[number, Map<number, Agg> | null]>>();
    for (const [t, fields] of changes) {
      const day = bucketStart('1d', t);
      let list = days.get(day);
      if (list === undefined) days.set(day, (list = []));
      list.push([t, fields]);
    }
    const code = LEVEL_CODE['1h'];
    for (const [day, list] of days) {
      const key = rollupKey(sid, code, day);
      const last = day + DAY_MS - HOUR_MS;
      if (!list.some(([t, fields]) => t === last && fields !== null && fields.size > 0)) {
        const atDay = await this.db.get(key);
        if (atDay === undefined || !isDayRecord(atDay)) {
          for (const [t, fields] of list) {
            if (fields === null || fields.size === 0) this.batch.delete(rollupKey(sid, code, t));
            else {
              this.batch.put(rollupKey(sid, code, t), encodeBucket(fields, t));
              this.written++;
            }
          }
          this.singleDays.push([sid, day]);
          continue;
        }
      }
      await this.writeDay(sid, day, list);
    }
  }

  /** Folds a day's single-hour records (if any are left) into a day record. */
  async foldDay(sid: number, day: number): Promise<void> {
    await this.writeDay(sid, day, []);
  }

  /** Writes the day record of `day`: its stored 1h buckets with `changes` applied; single-hour records of the day are deleted. */
  private async writeDay(sid: number, day: number, changes: ReadonlyArray<[number, Map<number, Agg> | null]>): Promise<void> {
    const code = LEVEL_CODE['1h'];
    const key = rollupKey(sid, code, day);
    const hours = new Map<number, Map<number, Agg>>();
    for (const [k, v] of await this.db.scanRange(rollupKey(sid, code, day), rollupKey(sid, code, day + DAY_MS))) {
      const t = timeOfKey(k, TAG.rollup);
      const what = `rollup ${sid}/1h@${t}`;
      if (isDayRecord(v)) for (const [h, fields] of decodeDayHours(v, t, what)) hours.set(h, fields);
      else hours.set(t, decodeBucket(v, t, what));
      if (t !== day) this.batch.delete(k);
    }
    for (const [t, fields] of changes) {
      if (fields === null || fields.size === 0) hours.delete(t);
      else {
        hours.set(t, fields);
        this.written++;
      }
    }
    if (hours.size === 0) this.batch.delete(key);
    else this.batch.put(key, encodeDayHours(day, hours));
    this.foldedDays.push([sid, day]);
  }

  /** The aggregate of `level` buckets in [from, to) of a series: stored ones overlaid with this step's. */
  private async combine(sid: number, level: RollupLevel, from: number, to: number): Promise<Map<number, Agg> | null> {
    const parts = new Map<number, Map<number, Agg> | null>();
    for (const [t, fields] of await readRollups(this.db, sid, level, from, to)) parts.set(t, fields);
    for (const [t, fields] of this.bucketsOf(level, sid)) if (t >= from && t < to) parts.set(t, fields);
    const out = new Map<number, Agg>();
    for (const fields of parts.values()) {
      if (fields === null) continue;
      for (const [id, a] of fields) {
        const o = out.get(id);
        if (o === undefined) out.set(id, { ...a });
        else mergeAgg(o, a);
      }
    }
    return out.size === 0 ? null : out;
  }
}

/**
 * Rounds, in place, the float values of points whose measurement has a
 * float rounding setting (the columns are the caller's parse result).
 */
function roundColumns(c: TsPointColumns, rounding: ReadonlyMap<string, number>): void {
  const digitsOf = c.series.map((s) => rounding.get(s.measurement));
  if (digitsOf.every((d) => d === undefined)) return;
  const { seriesOf, layoutOf, valueStart, numbers } = c;
  for (let p = 0; p < c.length; p++) {
    const d = digitsOf[seriesOf[p]!];
    if (d === undefined) continue;
    const types = c.layouts[layoutOf[p]!]!.types;
    const base = valueStart[p]!;
    for (let i = 0; i < types.length; i++) if (types[i] === 'float') numbers[base + i] = roundSignificant(numbers[base + i]!, d);
  }
}

/**
 * Tags as an object. Assigned in a loop rather than Object.fromEntries:
 * series of a measurement share their tag names, so the objects share a
 * hidden class (fromEntries built a slower dictionary-like one here: 1.4 µs
 * against 0.2 for ten tags, and slower to serialize).
 */
function tagsObject(tags: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < tags.length; i++) setTag(o, tags[i]![0], tags[i]![1]);
  return o;
}

/** o[k] = v, except that a tag named __proto__ (which would set the prototype by assignment) is defined as data. */
function setTag(o: Record<string, string>, k: string, v: string): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}
