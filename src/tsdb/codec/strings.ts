/**
 * String column codec.
 *
 * An empty column (count 0) is zero bytes. Otherwise byte 0 is the codec id:
 *
 *   1 dict   varint d (1..count), then d distinct strings in first-seen order,
 *            each a varint UTF-8 byte length and the bytes; then the rest of the
 *            buffer is an integer column (integers.ts format) of count indexes
 *            into the dictionary (0..d-1)
 *   2 plain  count strings, each a varint UTF-8 byte length and the bytes
 *
 * The encoder writes whichever is smaller. Strings must be well-formed UTF-16
 * (no lone surrogates), since those cannot round-trip through UTF-8; decoders
 * reject bytes that are not valid UTF-8.
 */
import { isUtf8 } from 'node:buffer';
import { invalidArgument } from '../../base/index.js';
import { ByteReader, ByteWriter, checkCount, varintSize } from './bits.js';
import { decodeIntegersRange, encodeIntegers } from './integers.js';

export const STR_DICT = 1;
export const STR_PLAIN = 2;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The human name of the string codec that wrote `buf`. */
export function stringsCodecName(buf: Uint8Array): string {
  if (buf.length === 0) return 'empty';
  return buf[0] === STR_DICT ? 'dict' : buf[0] === STR_PLAIN ? 'plain' : 'unknown';
}

export function encodeStrings(values: ArrayLike<string>): Buffer {
  const n = values.length;
  if (n === 0) return Buffer.alloc(0);
  const dict = new Map<string, number>();
  const distinct: string[] = [];
  const lengths: number[] = [];
  const indexes = new Array<number>(n);
  let plainSize = 1;
  let dictStringsSize = 0;
  for (let i = 0; i < n; i++) {
    const s = values[i]!;
    let idx = dict.get(s);
    let len: number;
    if (idx === undefined) {
      if (typeof s !== 'string') throw invalidArgument(`string column: ${String(s)} at index ${i} is not a string`);
      if (LONE_SURROGATE.test(s)) throw invalidArgument(`string column: value at index ${i} has a lone surrogate (not valid UTF-8)`);
      idx = distinct.length;
      len = Buffer.byteLength(s, 'utf8');
      dict.set(s, idx);
      distinct.push(s);
      lengths.push(len);
      dictStringsSize += varintSize(len) + len;
    } else {
      len = lengths[idx]!;
    }
    indexes[i] = idx;
    plainSize += varintSize(len) + len;
  }
  const d = distinct.length;
  // The index column costs at least a byte and a few bits per value; skip the dictionary when it cannot pay.
  if (1 + varintSize(d) + dictStringsSize + 2 < plainSize) {
    const ints = encodeIntegers(indexes);
    const dictSize = 1 + varintSize(d) + dictStringsSize + ints.length;
    if (dictSize < plainSize) {
      const w = new ByteWriter(dictSize);
      w.byte(STR_DICT);
      w.varint(d);
      for (let k = 0; k < d; k++) {
        w.varint(lengths[k]!);
        w.utf8(distinct[k]!, lengths[k]!);
      }
      w.bytes(ints);
      return w.finish();
    }
  }
  const w = new ByteWriter(plainSize);
  w.byte(STR_PLAIN);
  for (let i = 0; i < n; i++) {
    const len = lengths[indexes[i]!]!;
    w.varint(len);
    w.utf8(values[i]!, len);
  }
  return w.finish();
}

export function decodeStrings(buf: Uint8Array, count: number): string[] {
  checkCount(count, 'strings');
  const r = new ByteReader(buf);
  if (count === 0) {
    r.expectEnd('strings: empty column');
    return [];
  }
  const id = r.byte();
  if (id === STR_PLAIN) {
    if (count > r.remaining) r.fail(`strings: ${count} values cannot fit in ${r.remaining} bytes`);
    const out = new Array<string>(count);
    for (let i = 0; i < count; i++) out[i] = readString(r);
    r.expectEnd('strings: plain');
    return out;
  }
  if (id !== STR_DICT) return r.fail(`strings: unknown codec id ${id}`, 0);
  const at = r.pos;
  const d = r.varint();
  if (d < 1 || d > count || d > r.remaining) r.fail(`strings: dictionary size ${d} for ${count} values`, at);
  const dict = new Array<string>(d);
  for (let k = 0; k < d; k++) dict[k] = readString(r);
  const start = r.pos;
  const idx = decodeIntegersRange(buf, start, buf.length, count, 'strings/dict indexes');
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const x = idx[i]!;
    if (x < 0 || x >= d) r.fail(`strings: index ${x} outside a dictionary of ${d}`, start);
    out[i] = dict[x]!;
  }
  return out;
}

function readString(r: ByteReader): string {
  const at = r.pos;
  const len = r.varint();
  const bytes = r.bytes(len);
  if (!isUtf8(bytes)) r.fail('strings: invalid UTF-8', at);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}
