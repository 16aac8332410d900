/**
 * Boolean column codec (also the presence bitmap of sparse fields): run
 * lengths.
 *
 * An empty column (count 0) is zero bytes. Otherwise:
 *   byte 0      the first value: 0 = false, 1 = true
 *   varints     the length (>= 1) of every run but the last, runs alternating
 *               in value starting with the first; the last run is the rest of
 *               the count (so a column of one value is a single byte)
 */
import { invalidArgument } from '../../base/index.js';
import { ByteReader, ByteWriter, checkCount } from './bits.js';

export function encodeBooleans(values: ArrayLike<boolean>): Buffer {
  const n = values.length;
  if (n === 0) return Buffer.alloc(0);
  const w = new ByteWriter(16);
  let cur = values[0]!;
  if (typeof cur !== 'boolean') throw invalidArgument(`boolean column: ${String(cur)} at index 0 is not a boolean`);
  w.byte(cur ? 1 : 0);
  let runStart = 0;
  for (let i = 1; i < n; i++) {
    const v = values[i]!;
    if (v === cur) continue;
    if (typeof v !== 'boolean') throw invalidArgument(`boolean column: ${String(v)} at index ${i} is not a boolean`);
    w.varint(i - runStart);
    runStart = i;
    cur = v;
  }
  return w.finish();
}

export function decodeBooleans(buf: Uint8Array, count: number): boolean[] {
  return decodeRuns(buf, count, 'booleans');
}

/** Decodes the run-length format above; `what` names the column kind in errors. */
export function decodeRuns(buf: Uint8Array, count: number, what: string): boolean[] {
  checkCount(count, what);
  const r = new ByteReader(buf);
  if (count === 0) {
    r.expectEnd(`${what}: empty column`);
    return [];
  }
  const first = r.byte();
  if (first > 1) r.fail(`${what}: first value flag ${first} is not 0 or 1`, 0);
  const out = new Array<boolean>(count);
  let v = first === 1;
  let i = 0;
  while (r.remaining > 0) {
    const at = r.pos;
    const run = r.varint();
    if (run < 1 || run >= count - i) r.fail(`${what}: run of ${run} with ${count - i} values left`, at);
    out.fill(v, i, i + run);
    i += run;
    v = !v;
  }
  out.fill(v, i, count);
  return out;
}
