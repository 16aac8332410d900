import { compareBytes } from '../base/index.js';
import { decodeChunk } from './chunk.js';
import type { ChunkColumn, ChunkData } from './chunk.js';

interface Entry {
  /** The chunk bytes the columns were decoded from. */
  raw: Uint8Array;
  times: number[];
  nanos: number[] | undefined;
  /** Decoded columns by field id. */
  columns: Map<number, ChunkColumn>;
  /** Field ids decoded so far, found or not. */
  tried: Set<number>;
  bytes: number;
}

/**
 * Recently read chunks in decoded form: what the engine's block cache is for
 * its blocks, one level up. Reading a chunk means checking its checksum and
 * decoding timestamps and each wanted column (delta-of-delta, XOR, Rice
 * codes), often more work than the query's arithmetic; repeated reads of the
 * same windows (dashboards refreshing, the recent past) skip it.
 *
 * An entry is keyed by series and window and remembers the exact bytes it
 * was decoded from: a read whose bytes differ (the window was rewritten by
 * a seal, a delete or retention) decodes afresh and replaces it, so there is
 * nothing to invalidate. Columns are decoded on demand, per field. The
 * least recently used entries go once the decoded size (8 bytes a value)
 * passes `capacityBytes`. Returned data is shared: callers must not modify it.
 */
export class DecodedChunkCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly capacityBytes: number) {}

  /** The chunk `raw` (series `sid`, window `w`) with at least the columns `fields`. */
  get(sid: number, w: number, raw: Uint8Array, what: string, fields: ReadonlySet<number>): ChunkData {
    if (this.capacityBytes <= 0) return decodeChunk(raw, what, fields);
    const key = `${sid}/${w}`;
    let e = this.entries.get(key);
    if (e !== undefined && !sameBytes(e.raw, raw)) {
      this.drop(key, e);
      e = undefined;
    }
    if (e === undefined) {
      const d = decodeChunk(raw, what, fields);
      // A copy: the engine's buffer may be a view into a larger block (and a plain
      // Uint8Array copies at memcpy speed, where slicing a Buffer goes the slow way).
      e = { raw: new Uint8Array(raw), times: d.times, nanos: d.nanos, columns: d.columns, tried: new Set(fields), bytes: raw.length + 8 * d.times.length + 64 };
      for (const col of d.columns.values()) e.bytes += columnBytes(col);
      this.bytes += e.bytes;
    } else {
      this.entries.delete(key); // re-inserted below: most recently used
      let missing: Set<number> | undefined;
      for (const id of fields) if (!e.tried.has(id)) (missing ??= new Set()).add(id);
      if (missing !== undefined) {
        const d = decodeChunk(raw, what, missing);
        let added = 0;
        for (const [id, col] of d.columns) {
          e.columns.set(id, col);
          added += columnBytes(col);
        }
        for (const id of missing) e.tried.add(id);
        e.bytes += added;
        this.bytes += added;
      }
    }
    this.entries.set(key, e);
    while (this.bytes > this.capacityBytes && this.entries.size > 1) {
      const [oldKey, old] = this.entries.entries().next().value as [string, Entry];
      this.drop(oldKey, old);
    }
    const columns = new Map<number, ChunkColumn>();
    for (const id of fields) {
      const col = e.columns.get(id);
      if (col !== undefined) columns.set(id, col);
    }
    return { times: e.times, nanos: e.nanos, columns };
  }

  private drop(key: string, e: Entry): void {
    this.entries.delete(key);
    this.bytes -= e.bytes;
  }
}

/** About what a decoded column holds: 8 bytes a value, strings by their length. */
function columnBytes(col: ChunkColumn): number {
  let n = 8 * col.values.length;
  if (col.type === 'string') for (const v of col.values) if (typeof v === 'string') n += 2 * v.length + 16;
  return n;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}
