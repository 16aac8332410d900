import type { ChunkColumn, ChunkData } from './chunk.js';
import { columnValue } from './columns.js';
import type { FieldType, FieldValue, TsPointColumns } from './types.js';

interface HeadColumn {
  type: FieldType;
  values: Array<FieldValue | undefined>;
}

/**
 * The unsealed points of one series, in arrival order (late and
 * out-of-order points welcome). Rows are sorted and merged by time only
 * when they are sealed into a chunk or read.
 */
export class SeriesHead {
  times: number[] = [];
  /** Head-log sequence of each row. */
  seqs: number[] = [];
  nanos: number[] | undefined = undefined;
  readonly columns = new Map<number, HeadColumn>();
  /** Lowest head-log sequence whose rows are still here (the log must keep it). */
  minSeq = Infinity;
  minTime = Infinity;
  maxTime = -Infinity;

  get rows(): number {
    return this.times.length;
  }

  /** The columns of the last `ids` appended (rows of a series mostly repeat their fields). */
  private lastIds: readonly number[] | undefined = undefined;
  private lastCols: HeadColumn[] = [];

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
    const row = this.times.length;
    this.times.push(timeMs);
    this.seqs.push(seq);
    if (nanos !== 0 || this.nanos !== undefined) {
      if (this.nanos === undefined) this.nanos = new Array<number>(row).fill(0);
      this.nanos.push(nanos);
    }
    if (ids !== this.lastIds) {
      const cols: HeadColumn[] = new Array(ids.length);
      for (let i = 0; i < ids.length; i++) {
        let col = this.columns.get(ids[i]!);
        if (col === undefined) {
          col = { type: types[i]!, values: new Array<FieldValue | undefined>(row).fill(undefined) };
          this.columns.set(ids[i]!, col);
        }
        cols[i] = col;
      }
      this.lastIds = ids;
      this.lastCols = cols;
    }
    const cols = this.lastCols;
    for (let i = 0; i < cols.length; i++) cols[i]!.values.push(c !== undefined ? columnValue(c, types[i]!, base + i) : values![i]);
    if (cols.length !== this.columns.size) for (const col of this.columns.values()) if (col.values.length === row) col.values.push(undefined);
    if (seq < this.minSeq) this.minSeq = seq;
    if (timeMs < this.minTime) this.minTime = timeMs;
    if (timeMs > this.maxTime) this.maxTime = timeMs;
  }

  /** Row indexes grouped by `keyOf(time)` (e.g. the chunk window). */
  groupRows(keyOf: (t: number) => number): Map<number, number[]> {
    const out = new Map<number, number[]>();
    for (let r = 0; r < this.times.length; r++) {
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
    for (let r = 0; r < this.times.length; r++) if (pick(this.times[r]!)) idx.push(r);
    return this.rowsToChunk(idx, fields);
  }

  /** `toChunk` for a list of row indexes in arrival order. */
  rowsToChunk(idx: number[], fields?: ReadonlySet<number>): ChunkData {
    let sorted = true;
    for (let i = 1; i < idx.length && sorted; i++) if (this.times[idx[i]!]! <= this.times[idx[i - 1]!]!) sorted = false;
    if (!sorted) idx = [...idx].sort((a, b) => this.times[a]! - this.times[b]! || a - b);
    const times: number[] = [];
    const nanos: number[] | undefined = this.nanos ? [] : undefined;
    const columns = new Map<number, ChunkColumn>();
    const sources: Array<Array<FieldValue | undefined>> = [];
    const targets: Array<Array<FieldValue | undefined>> = [];
    for (const [id, col] of this.columns) {
      if (fields !== undefined && !fields.has(id)) continue;
      const values: Array<FieldValue | undefined> = [];
      columns.set(id, { type: col.type, values });
      sources.push(col.values);
      targets.push(values);
    }
    for (const r of idx) {
      const t = this.times[r]!;
      const merge = times.length > 0 && times[times.length - 1] === t;
      if (!merge) {
        times.push(t);
        nanos?.push(this.nanos![r]!);
      } else if (nanos) nanos[nanos.length - 1] = this.nanos![r]!;
      for (let c = 0; c < sources.length; c++) {
        const v = sources[c]![r];
        const out = targets[c]!;
        if (!merge) out.push(v);
        else if (v !== undefined) out[out.length - 1] = v;
      }
    }
    for (const [id, col] of columns) if (col.values.every((v) => v === undefined)) columns.delete(id);
    return { times, nanos: nanos?.some((n) => n !== 0) ? nanos : undefined, columns };
  }

  /** Drops the rows `drop` selects (by time and row index); recomputes min/max time and minSeq. */
  remove(drop: (t: number, row: number) => boolean): number {
    const keep: number[] = [];
    for (let r = 0; r < this.times.length; r++) if (!drop(this.times[r]!, r)) keep.push(r);
    const removed = this.times.length - keep.length;
    if (removed === 0) return 0;
    this.lastIds = undefined;
    this.times = keep.map((r) => this.times[r]!);
    this.seqs = keep.map((r) => this.seqs[r]!);
    if (this.nanos) this.nanos = keep.map((r) => this.nanos![r]!);
    for (const [id, col] of this.columns) {
      col.values = keep.map((r) => col.values[r]);
      if (col.values.every((v) => v === undefined)) this.columns.delete(id);
    }
    this.minTime = Infinity;
    this.maxTime = -Infinity;
    this.minSeq = Infinity;
    for (const q of this.seqs) if (q < this.minSeq) this.minSeq = q;
    for (const t of this.times) {
      if (t < this.minTime) this.minTime = t;
      if (t > this.maxTime) this.maxTime = t;
    }
    return removed;
  }
}
