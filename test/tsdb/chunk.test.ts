// Chunks: every field type, sparse columns, nanos and the deflate pass
// round-trip; a query's field subset decodes alone; chunks of the older
// layout (version 1) still decode; damage is CORRUPTION.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, isStrataError, putVarint } from '../../src/base/index.js';
import { decodeChunk, encodeChunk } from '../../src/tsdb/chunk.js';
import type { ChunkData } from '../../src/tsdb/chunk.js';
import { encodeColumn, encodePresence, encodeTimestamps } from '../../src/tsdb/codec/index.js';
import type { FieldValue } from '../../src/tsdb/types.js';

const T0 = Date.UTC(2024, 0, 1);

function sample(): ChunkData {
  const n = 200;
  const times = Array.from({ length: n }, (_, i) => T0 + i * 10_000 + (i > 150 ? 5 : 0));
  return {
    times,
    nanos: undefined,
    columns: new Map<number, ChunkData['columns'] extends Map<number, infer C> ? C : never>([
      [1, { type: 'float', values: times.map((_, i) => Math.round(5000 + 300 * Math.sin(i / 7)) / 100) }],
      [2, { type: 'integer', values: times.map((_, i) => i * i) }],
      [3, { type: 'boolean', values: times.map((_, i) => (i % 3 === 0 ? i % 2 === 0 : undefined)) }],
      [7, { type: 'string', values: times.map((_, i) => (i % 5 === 0 ? `s${i % 4}` : undefined)) }],
    ]),
  };
}

test('chunks round-trip every field type, sparse columns, nanos and the deflate pass', () => {
  const d = sample();
  for (const data of [d, { ...d, nanos: d.times.map((_, i) => (i * 37) % 1_000_000) }]) {
    for (const deflate of [false, true]) {
      const buf = encodeChunk(data, { deflate });
      assert.equal(buf[0], 2);
      const back = decodeChunk(buf, 'test');
      assert.deepEqual(back.times, data.times);
      assert.deepEqual(back.nanos, data.nanos);
      assert.deepEqual([...back.columns.keys()], [...data.columns.keys()]);
      for (const [id, col] of data.columns) assert.deepEqual(back.columns.get(id), col, `field ${id}`);
      // A subset of fields decodes alone.
      const some = decodeChunk(buf, 'test', new Set([2, 7]));
      assert.deepEqual([...some.columns.keys()], [2, 7]);
      assert.deepEqual(some.columns.get(7), data.columns.get(7));
    }
  }
});

/** The version 1 layout (two bytes after each field id), as stores written before 2026-12 hold it. */
function encodeVersion1(data: ChunkData): Buffer {
  const parts: Buffer[] = [];
  const varint = (n: number) => {
    const b = Buffer.alloc(9);
    return b.subarray(0, putVarint(b, 0, n));
  };
  const ts = encodeTimestamps(data.times);
  parts.push(varint(ts.length), ts, varint(data.columns.size));
  const codes = { float: 1, integer: 2, boolean: 3, string: 4 } as const;
  for (const [id, col] of data.columns) {
    const sparse = col.values.includes(undefined);
    parts.push(varint(id), Buffer.from([codes[col.type], sparse ? 1 : 0]));
    if (sparse) {
      const p = encodePresence(col.values.map((v) => v !== undefined));
      parts.push(varint(p.length), p);
    }
    const c = encodeColumn(col.type, col.values.filter((v): v is FieldValue => v !== undefined));
    parts.push(varint(c.length), c);
  }
  const body = Buffer.concat([Buffer.from([1, 0]), varint(data.times.length), ...parts]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32c(body));
  return Buffer.concat([body, crc]);
}

test('version 1 chunks (a type byte and a flags byte per column) still decode; version 2 is a byte a column smaller', () => {
  const data = sample();
  const v1 = encodeVersion1(data);
  const back = decodeChunk(v1, 'v1');
  assert.deepEqual(back.times, data.times);
  for (const [id, col] of data.columns) assert.deepEqual(back.columns.get(id), col, `field ${id}`);
  assert.equal(encodeChunk(data).length, v1.length - data.columns.size);
});

test('damaged chunks are CORRUPTION: checksum, version, type code', () => {
  const buf = encodeChunk(sample());
  const isCorruption = (e: unknown) => isStrataError(e, 'CORRUPTION');
  for (let n = 0; n < buf.length; n += 7) assert.throws(() => decodeChunk(buf.subarray(0, n), 'cut'), isCorruption, `prefix ${n}`);
  const flipped = Buffer.from(buf);
  flipped[buf.length >> 1] = flipped[buf.length >> 1]! ^ 1;
  assert.throws(() => decodeChunk(flipped, 'flip'), /checksum/);
  // Re-sealed with a valid checksum: an unknown version, then an unknown type code.
  const reseal = (b: Buffer) => {
    b.writeUInt32LE(crc32c(b.subarray(0, b.length - 4)), b.length - 4);
    return b;
  };
  const v9 = Buffer.from(buf);
  v9[0] = 9;
  assert.throws(() => decodeChunk(reseal(v9), 'v9'), /unknown chunk version 9/);
  const data: ChunkData = { times: [T0], nanos: undefined, columns: new Map([[1, { type: 'float', values: [1.5] }]]) };
  const one = encodeChunk(data);
  // Layout: version, flags, count, ts len, ts, field count, field id, type byte.
  const typeAt = 3 + 1 + one[3]! + 2;
  assert.equal(one[typeAt], 1);
  const bad = Buffer.from(one);
  bad[typeAt] = 6;
  assert.throws(() => decodeChunk(reseal(bad), 'type'), (e: unknown) => isCorruption(e) && /unknown field type code 6/.test(String(e)));
});
