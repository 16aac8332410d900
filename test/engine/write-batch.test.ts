import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StrataError } from '../../src/base/errors.js';
import { ValueType } from '../../src/engine/format.js';
import { BATCH_HEADER_SIZE, WriteBatch } from '../../src/engine/write-batch.js';

type Op = [ValueType, string, string | undefined];

function ops(batch: WriteBatch): Op[] {
  const out: Op[] = [];
  batch.forEach((type, key, value) => out.push([type, key.toString('latin1'), value?.toString('latin1')]));
  return out;
}

function isCorruption(file: string, offset?: number) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof StrataError, String(err));
    assert.equal(err.code, 'CORRUPTION');
    assert.equal(err.file, file);
    if (offset !== undefined) assert.equal(err.offset, offset, err.message);
    return true;
  };
}

test('put/delete, counters and encode/decode round trip', () => {
  const b = new WriteBatch();
  assert.equal(b.count, 0);
  assert.equal(b.byteLength, BATCH_HEADER_SIZE);
  b.put('a', '1').delete('bb').put(Buffer.from([0, 255]), new Uint8Array([7, 8, 9])).put('', '');
  assert.equal(b.count, 4);
  assert.equal(b.payloadBytes, 1 + 1 + 2 + 2 + 3);
  // 12 + (1+1+1+1+1) + (1+1+2) + (1+1+2+1+3) + (1+1+1)
  assert.equal(b.byteLength, 12 + 5 + 4 + 8 + 3);
  const rep = b.encode(42);
  assert.equal(rep.length, b.byteLength);
  assert.equal(rep.readUInt32LE(0), 42);
  assert.equal(rep.readUInt32LE(4), 0);
  assert.equal(rep.readUInt32LE(8), 4);
  const { seq, batch } = WriteBatch.decode(Buffer.from(rep));
  assert.equal(seq, 42);
  assert.equal(batch.count, 4);
  assert.equal(batch.byteLength, b.byteLength);
  assert.equal(batch.payloadBytes, b.payloadBytes);
  const expected: Op[] = [
    [ValueType.PUT, 'a', '1'],
    [ValueType.DELETE, 'bb', undefined],
    [ValueType.PUT, '\x00\xff', '\x07\x08\x09'],
    [ValueType.PUT, '', ''],
  ];
  assert.deepEqual(ops(b), expected);
  assert.deepEqual(ops(batch), expected);
});

test('strings are UTF-8', () => {
  const b = new WriteBatch().put('clé', '値').delete('ü');
  const seen: Array<[string, string | undefined]> = [];
  b.forEach((_t, k, v) => seen.push([k.toString('utf8'), v?.toString('utf8')]));
  assert.deepEqual(seen, [['clé', '値'], ['ü', undefined]]);
  assert.equal(b.payloadBytes, 4 + 3 + 2);
});

test('short, long, ASCII and non-ASCII strings encode as UTF-8', () => {
  const samples = ['', 'a', 'x'.repeat(63), 'y'.repeat(64), 'z'.repeat(127), 'w'.repeat(128), 'é'.repeat(63), 'é'.repeat(64),
    `${'a'.repeat(62)}é`, `${'b'.repeat(200)}\u{1F600}`, '\u{1F600}', 'lone \ud800 surrogate', '値'.repeat(100)];
  const b = new WriteBatch(1);
  let payload = 0;
  for (const s of samples) {
    b.put(s, s).delete(s);
    payload += 3 * Buffer.byteLength(s);
  }
  assert.equal(b.payloadBytes, payload);
  const { batch } = WriteBatch.decode(Buffer.from(b.encode(1)));
  const seen: string[] = [];
  batch.forEach((type, key, value) => {
    assert.ok(key.equals(Buffer.from(samples[Math.floor(seen.length / 2)]!)));
    if (type === ValueType.PUT) assert.ok(value!.equals(key));
    seen.push(key.toString());
  });
  assert.equal(seen.length, samples.length * 2);
  assert.equal(batch.payloadBytes, payload);
});

test('large sequences, large values and growth', () => {
  const b = new WriteBatch(16);
  const big = Buffer.alloc(300_000, 0xab);
  for (let i = 0; i < 1000; i++) b.put(`key-${i}`, `value-${i}`);
  b.put('big', big);
  const max = Number.MAX_SAFE_INTEGER;
  const { seq, batch } = WriteBatch.decode(Buffer.from(b.encode(max)));
  assert.equal(seq, max);
  assert.equal(batch.count, 1001);
  let i = 0;
  batch.forEach((type, key, value) => {
    assert.equal(type, ValueType.PUT);
    if (i < 1000) {
      assert.equal(key.toString(), `key-${i}`);
      assert.equal(value!.toString(), `value-${i}`);
    } else {
      assert.ok(value!.equals(big));
    }
    i++;
  });
  assert.equal(i, 1001);
  assert.equal(WriteBatch.decode(b.encode(2 ** 32 + 5)).seq, 2 ** 32 + 5);
  assert.throws(() => b.encode(2 ** 53), (e: unknown) => e instanceof StrataError && e.code === 'INVALID_ARGUMENT');
  assert.throws(() => b.encode(-1), (e: unknown) => e instanceof StrataError && e.code === 'INVALID_ARGUMENT');
});

test('append merges batches and clear empties', () => {
  const a = new WriteBatch().put('a', '1');
  const b = new WriteBatch().delete('b').put('c', '33');
  a.append(b);
  a.append(new WriteBatch());
  assert.equal(a.count, 3);
  assert.equal(a.payloadBytes, 2 + 1 + 3);
  assert.deepEqual(ops(a), [
    [ValueType.PUT, 'a', '1'],
    [ValueType.DELETE, 'b', undefined],
    [ValueType.PUT, 'c', '33'],
  ]);
  assert.equal(WriteBatch.decode(a.encode(1)).batch.count, 3);
  a.clear();
  assert.equal(a.count, 0);
  assert.equal(a.byteLength, BATCH_HEADER_SIZE);
  assert.equal(a.payloadBytes, 0);
  assert.deepEqual(ops(a), []);
  a.put('x', 'y');
  assert.deepEqual(ops(a), [[ValueType.PUT, 'x', 'y']]);
});

test('a decoded batch never writes into the buffer it was decoded from', () => {
  const src = Buffer.from(new WriteBatch().put('k', 'v').encode(7));
  const copy = Buffer.from(src);
  const { batch } = WriteBatch.decode(src);
  batch.encode(99);
  batch.clear();
  batch.put('zz', 'yy');
  assert.ok(src.equals(copy));
  assert.deepEqual(ops(batch), [[ValueType.PUT, 'zz', 'yy']]);
  const again = WriteBatch.decode(src).batch;
  again.put('more', '1');
  assert.ok(src.equals(copy));
  assert.equal(again.count, 2);
});

test('decode rejects every truncation', () => {
  const rep = Buffer.from(new WriteBatch().put('key', 'value').delete('gone').put('', 'x').encode(5));
  for (let n = 0; n < rep.length; n++) {
    assert.throws(() => WriteBatch.decode(rep.subarray(0, n), 'w.log', 1000), isCorruption('w.log'), `length ${n}`);
  }
});

test('decode rejects garbled reps with the right offset', () => {
  const good = new WriteBatch().put('a', 'b').delete('c').encode(3);
  // op 0 at 12: [1, 1, 'a', 1, 'b'], op 1 at 17: [0, 1, 'c']
  const badType = Buffer.from(good);
  badType[17] = 7;
  assert.throws(() => WriteBatch.decode(badType, 'f.log', 100), isCorruption('f.log', 117));
  const countHigh = Buffer.from(good);
  countHigh.writeUInt32LE(3, 8);
  assert.throws(() => WriteBatch.decode(countHigh, 'f.log', 100), isCorruption('f.log', 120));
  const countLow = Buffer.from(good);
  countLow.writeUInt32LE(1, 8);
  assert.throws(() => WriteBatch.decode(countLow, 'f.log', 100), isCorruption('f.log', 117));
  const keyTooLong = Buffer.from(good);
  keyTooLong[13] = 50;
  assert.throws(() => WriteBatch.decode(keyTooLong, 'f.log', 0), isCorruption('f.log', 12));
  const valueTooLong = Buffer.from(good);
  valueTooLong[15] = 5;
  assert.throws(() => WriteBatch.decode(valueTooLong), isCorruption('<write batch>', 12));
  const badVarint = Buffer.concat([good.subarray(0, 17), Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]);
  assert.throws(() => WriteBatch.decode(badVarint, 'f.log'), isCorruption('f.log', 17));
  const seqTooBig = Buffer.from(good);
  seqTooBig.writeUInt32LE(0x200000, 4);
  assert.throws(() => WriteBatch.decode(seqTooBig, 'f.log', 9), isCorruption('f.log', 9));
  // Empty batch is valid.
  const empty = new WriteBatch().encode(0);
  assert.equal(WriteBatch.decode(empty).batch.count, 0);
});

test('maxKeyBytes and maxValueBytes track the longest key and value through put, delete, append, clear and decode', () => {
  const b = new WriteBatch();
  b.put('ab', 'xyz').delete('abcdef').put(Buffer.alloc(3), Buffer.alloc(10));
  assert.equal(b.maxKeyBytes, 6);
  assert.equal(b.maxValueBytes, 10);
  const c = new WriteBatch().put('k', Buffer.alloc(40));
  c.append(b);
  assert.equal(c.maxKeyBytes, 6);
  assert.equal(c.maxValueBytes, 40);
  const d = WriteBatch.decode(Buffer.from(c.encode(7))).batch;
  assert.equal(d.maxKeyBytes, 6);
  assert.equal(d.maxValueBytes, 40);
  c.clear();
  assert.equal(c.maxKeyBytes, 0);
  assert.equal(c.maxValueBytes, 0);
});
