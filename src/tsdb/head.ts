import { grownCopy } from '../base/index.js';
import type { ChunkColumn, ChunkData } from './chunk.js';
import type { FieldType, FieldValue, TsPointColumns } from './types.js';

/**
 * One field's rows in a head. Numbers (floats, integers, booleans as 1/0)
 * live in a Float64Array, strings in an array; `present` marks the rows that
 * have a value, and is absent while every row so far has one.
 */
interface HeadColumn {
  type: FieldType;
  nums: Float64Array | undefined;
  strs: Array<string | undefined> | undefined;
  present: Uint8Array | undefined;
}

/** Eight doubles: V8 keeps typed arrays this small inside its heap (no separate allocation). */
const INITIAL_ROWS = 8;

/**
 * The unsealed points of one series, in arrival order (late and
 * out-of-order points welcome). Rows are sorted and merged by time only
 * when they are sealed into a chunk or read.
 *
 * Rows sit in typed arrays that double as they fill: the values of a
 * busy series are a few large buffers outside the JS heap rather than
 * growing arrays inside it, which the young-generation collector would copy
 * on every scavenge until they were promoted (measured: most of the
 * collector's work while ingesting).
 */
export class SeriesHead {
  private n = 0;
  private cap = INITIAL_ROWS;
  private times = new Float64Array(INITIAL_ROWS);
  /** Head-log sequence of each row. */
  private seqs = new Float64Array(INITIAL_ROWS);
  private nanos: Int32Array | undefined = undefined;
  readonly columns = new Map<number, HeadColumn>();
  /** The store's clock at the last append (how long the series has been idle). */
  lastWriteMs = 0;
  /** Lowest head-log sequence whose rows are still here (the log must keep it). */
  minSeq = Infinity;
  minTime = Infinity;
  maxTime = -Infinity;
  /** The columns of the last `ids` appended (rows of a series mostly repeat their fields). */
  private lastIds: readonly number[] | undefined = undefined;
  private lastCols: HeadColumn[] = [];

  get rows(): number {
    return this.n;
  }

  private grow(): void {
    const cap = this.cap * 2;
    this.times = grownCopy(this.times, cap);
    this.seqs = grownCopy(this.seqs, cap);
    if (this.nanos) this.nanos = grownCopy(this.nanos, cap);
    for (const col of this.columns.values()) {
      if (col.nums) col.nums = grownCopy(col.nums, cap);
      if (col.present) col.present = grownCopy(col.present, cap);
    }
    this.cap = cap;
  }

  /** A column that has had no value in rows [0, row). */
  private newColumn(type: FieldType, row: number): HeadColumn {
    const col: HeadColumn = {
      type,
      nums: type === 'string' ? undefined : new Float64Array(this.cap),
      strs: type === 'string' ? new Array<string | undefined>(row).fill(undefined) : undefined,
      present: row > 0 ? new Uint8Array(this.cap) : undefined,
    };
    return col;
  }

  /** One row: field `ids[i]` of type `types[i]` has value `values[i]`, or that of the columns `c` at `base + i`. */
  append(
    seq: number,
    timeMs: number,
    nanos: number,
    ids: readonly number[],
    types: readonly FieldType[],
    values: readonly FieldValue[] | undefined,
    c?: TsPointColumns,
    base = 0,
  ): void {
    const row = this.n;
    if (row === this.cap) this.grow();
    this.times[row] = timeMs;
    this.seqs[row] = seq;
    if (nanos !== 0 || this.nanos !== undefined) {
      this.nanos ??= new Int32Array(this.cap);
      this.nanos[row] = nanos;
    }
    if (ids !== this.lastIds) {
      const cols: HeadColumn[] = new Array(ids.length);
      for (let i = 0; i < ids.length; i++) {
        let col = this.columns.get(ids[i]!);
        if (col === undefined) {
          col = this.newColumn(types[i]!, row);
          this.columns.set(ids[i]!, col);
        }
        cols[i] = col;
      }
      this.lastIds = ids;
      this.lastCols = cols;
    }
    const cols = this.lastCols;
    for (let i = 0; i < cols.length; i++) {
      const col = cols[i]!;
      if (col.nums !== undefined) {
        if (c !== undefined) col.nums[row] = c.numbers[base + i]!;
        else {
          const v = values![i]!;
          col.nums[row] = typeof v === 'boolean' ? (v ? 1 : 0) : (v as number);
        }
      } else col.strs![row] = c !== undefined ? c.strings?.get(base + i) : (values![i] as string);
      if (col.present !== undefined) col.present[row] = 1;
    }
    if (cols.length !== this.columns.size) {
      // Fields this row does not have: marked absent.
      for (const col of this.columns.values()) {
        if (cols.includes(col)) continue;
        if (col.present === undefined) {
          col.present = new Uint8Array(this.cap);
          col.present.fill(1, 0, row);
        }
        col.present[row] = 0;
        if (col.strs !== undefined) col.strs[row] = undefined;
      }
    }
    this.n = row + 1;
    if (seq < this.minSeq) this.minSeq = seq;
    if (timeMs < this.minTime) this.minTime = timeMs;
    if (timeMs > this.maxTime) this.maxTime = timeMs;
  }

  /**
   * A column's values at the rows `idx` (sorted by time), rows at one time
   * merged (the later value wins where it has one): `size` values, or
   * undefined when none is defined. Numbers are read straight from the
   * typed array into an array of that size (no per-value call, which would
   * box each double).
   */
  private columnRows(col: HeadColumn, idx: readonly number[], size: number): Array<FieldValue | undefined> | undefined {
    const times = this.times;
    const out: Array<FieldValue | undefined> = new Array(size);
    const { nums, strs, present } = col;
    const bool = col.type === 'boolean';
    let any = false;
    let w = -1;
    let last = -Infinity;
    for (let i = 0; i < idx.length; i++) {
      const r = idx[i]!;
      const t = times[r]!;
      const has = present === undefined || present[r] === 1;
      if (t !== last) {
        w++;
        last = t;
        if (!has) {
          out[w] = undefined;
          continue;
        }
      } else if (!has) continue;
      any = true;
      if (strs !== undefined) out[w] = strs[r];
      else if (bool) out[w] = nums![r] === 1;
      else out[w] = nums![r]!;
    }
    return any ? out : undefined;
  }

  /** Row indexes grouped by `keyOf(time)` (e.g. the chunk window). */
  groupRows(keyOf: (t: number) => number): Map<number, number[]> {
    const out = new Map<number, number[]>();
    for (let r = 0; r < this.n; r++) {
      const k = keyOf(this.times[r]!);
      const g = out.get(k);
      if (g === undefined) out.set(k, [r]);
      else g.push(r);
    }
    return out;
  }

  /**
   * The rows selected by `pick` (by time) as chunk data: sorted by time,
   * rows at the same time merged in arrival order (later fields win).
   */
  toChunk(pick: (t: number) => boolean, fields?: ReadonlySet<number>): ChunkData {
    const idx: number[] = [];
    for (let r = 0; r < this.n; r++) if (pick(this.times[r]!)) idx.push(r);
    return this.rowsToChunk(idx, fields);
  }

  /** `toChunk` for a list of row indexes in arrival order. */
  rowsToChunk(idx: number[], fields?: ReadonlySet<number>): ChunkData {
    const times = this.times;
    let sorted = true;
    for (let i = 1; i < idx.length && sorted; i++) if (times[idx[i]!]! <= times[idx[i - 1]!]!) sorted = false;
    if (!sorted) idx = [...idx].sort((a, b) => times[a]! - times[b]! || a - b);
    const outTimes: number[] = [];
    const nanos: number[] | undefined = this.nanos ? [] : undefined;
    for (const r of idx) {
      const t = times[r]!;
      if (outTimes.length > 0 && outTimes[outTimes.length - 1] === t) {
        if (nanos) nanos[nanos.length - 1] = this.nanos![r]!;
      } else {
        outTimes.push(t);
        nanos?.push(this.nanos![r]!);
      }
    }
    const columns = new Map<number, ChunkColumn>();
    for (const [id, col] of this.columns) {
      if (fields !== undefined && !fields.has(id)) continue;
      const values = this.columnRows(col, idx, outTimes.length);
      if (values !== undefined) columns.set(id, { type: col.type, values });
    }
    return { times: outTimes, nanos: nanos?.some((x) => x !== 0) ? nanos : undefined, columns };
  }

  /** Drops the rows `drop` selects (by time and row index); recomputes min/max time and minSeq. */
  remove(drop: (t: number, row: number) => boolean): number {
    const n = this.n;
    let w = 0;
    const cols = [...this.columns.values()];
    for (let r = 0; r < n; r++) {
      if (drop(this.times[r]!, r)) continue;
      if (w !== r) {
        this.times[w] = this.times[r]!;
        this.seqs[w] = this.seqs[r]!;
        if (this.nanos) this.nanos[w] = this.nanos[r]!;
        for (const col of cols) {
          if (col.nums) col.nums[w] = col.nums[r]!;
          else col.strs![w] = col.strs![r];
          if (col.present) col.present[w] = col.present[r]!;
        }
      }
      w++;
    }
    const removed = n - w;
    if (removed === 0) return 0;
    this.n = w;
    this.lastIds = undefined;
    for (const [id, col] of this.columns) {
      if (col.strs) col.strs.length = w;
      let any = w > 0 && col.present === undefined;
      if (col.present) for (let r = 0; r < w && !any; r++) if (col.present[r] === 1) any = true;
      if (!any) this.columns.delete(id);
    }
    // A head emptied by a seal starts small again, as a new one would.
    if (w === 0 && this.cap > INITIAL_ROWS) {
      this.cap = INITIAL_ROWS;
      this.times = new Float64Array(INITIAL_ROWS);
      this.seqs = new Float64Array(INITIAL_ROWS);
      this.nanos = undefined;
      this.columns.clear();
    }
    this.minTime = Infinity;
    this.maxTime = -Infinity;
    this.minSeq = Infinity;
    for (let r = 0; r < w; r++) {
      const q = this.seqs[r]!;
      const t = this.times[r]!;
      if (q < this.minSeq) this.minSeq = q;
      if (t < this.minTime) this.minTime = t;
      if (t > this.maxTime) this.maxTime = t;
    }
    return removed;
  }
}
