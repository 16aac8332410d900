import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemFs } from '../../src/base/mem-fs.js';
import { SeededRandom } from '../../src/base/random.js';
import { StrataError } from '../../src/base/errors.js';
import { crc32c, maskCrc } from '../../src/base/crc32c.js';
import { INLINE_SYNC_MS, LogWriter, framedLength } from '../../src/engine/wal/log-writer.js';
import { LogReader } from '../../src/engine/wal/log-reader.js';
import { BLOCK_SIZE, HEADER_SIZE, RecordType } from '../../src/engine/wal/format.js';
import { FaultFs } from '../../src/sim/index.js';

function payload(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

interface Written {
  data: Buffer;
  /** Offset where each record's first fragment starts. */
  starts: number[];
  /** File size after each record. */
  ends: number[];
}

function writeLog(records: Buffer[]): Written {
  const fs = new MemFs();
  const file = fs.createWritable('/0001.log');
  const w = new LogWriter(file);
  const starts: number[] = [];
  const ends: number[] = [];
  for (const r of records) {
    const before = w.size;
    const left = BLOCK_SIZE - (before % BLOCK_SIZE);
    starts.push(left < HEADER_SIZE ? before + left : before);
    const n = w.addRecord(r);
    assert.equal(w.size, before + n);
    assert.equal(n, framedLength(before % BLOCK_SIZE, r.length));
    ends.push(w.size);
  }
  assert.equal(file.size, w.size);
  w.close();
  return { data: fs.readFile('/0001.log'), starts, ends };
}

function readAll(data: Buffer, name = '0001.log'): { records: Buffer[]; reader: LogReader } {
  const reader = new LogReader(data, name);
  const records: Buffer[] = [];
  for (let r = reader.readRecord(); r !== undefined; r = reader.readRecord()) records.push(Buffer.from(r));
  assert.equal(reader.readRecord(), undefined);
  assert.equal(reader.records, records.length);
  return { records, reader };
}

function expectCorruption(data: Buffer, offset: number, before: number): void {
  const reader = new LogReader(data, 'x.log');
  let n = 0;
  assert.throws(
    () => {
      while (reader.readRecord() !== undefined) n++;
    },
    (err: unknown) => {
      assert.ok(err instanceof StrataError, String(err));
      assert.equal(err.code, 'CORRUPTION');
      assert.equal(err.file, 'x.log');
      assert.equal(err.offset, offset, err.message);
      return true;
    },
  );
  assert.equal(n, before, 'records returned before the corruption');
}

/** Builds one fragment by hand. */
function frag(type: number, body: Buffer): Buffer {
  const out = Buffer.alloc(HEADER_SIZE + body.length);
  out.writeUInt16LE(body.length, 4);
  out[6] = type;
  body.copy(out, HEADER_SIZE);
  out.writeUInt32LE(maskCrc(crc32c(out.subarray(6))), 0);
  return out;
}

test('round trip of records from 0 bytes to several blocks', () => {
  const sizes = [0, 1, 2, 6, 7, 8, 100, 0, 1000, BLOCK_SIZE - 7, BLOCK_SIZE - 8, BLOCK_SIZE, BLOCK_SIZE + 1, 100 * 1024, 0, 3, 2 * BLOCK_SIZE, 5];
  const rnd = new SeededRandom(7);
  for (let i = 0; i < 200; i++) sizes.push(rnd.int(0, rnd.int(0, 1) === 0 ? 200 : 70000));
  const records = sizes.map((s, i) => payload(s, i + 1));
  const { data, ends } = writeLog(records);
  assert.equal(data.length, ends[ends.length - 1]);
  const { records: got, reader } = readAll(data);
  assert.equal(got.length, records.length);
  for (let i = 0; i < records.length; i++) assert.ok(got[i]!.equals(records[i]!), `record ${i}`);
  assert.equal(reader.tornTail, false);
  assert.equal(reader.droppedBytes, 0);
  assert.equal(reader.validLength, data.length);
  assert.deepEqual(reader.result(), { records: records.length, tornTail: false, droppedBytes: 0 });
});

test('empty log reads cleanly', () => {
  const { records, reader } = readAll(Buffer.alloc(0));
  assert.equal(records.length, 0);
  assert.equal(reader.tornTail, false);
});

test('records ending 0..8 bytes before a block end', () => {
  for (let d = 0; d <= 8; d++) {
    for (const nextLen of [0, 1, 10, BLOCK_SIZE + 100]) {
      const first = payload(BLOCK_SIZE - HEADER_SIZE - d, d);
      const second = payload(nextLen, 100 + d);
      const third = payload(20, 200);
      const { data, starts } = writeLog([first, second, third]);
      if (d < HEADER_SIZE) {
        assert.equal(starts[1], BLOCK_SIZE, 'padding skips to the next block');
        for (let i = BLOCK_SIZE - d; i < BLOCK_SIZE; i++) assert.equal(data[i], 0, 'trailer is zero');
      } else {
        assert.equal(starts[1], BLOCK_SIZE - d);
      }
      if (d === HEADER_SIZE && nextLen > 0) {
        // Exactly a header's room: an empty FIRST fragment, the rest in the next block.
        assert.equal(data[BLOCK_SIZE - 1], RecordType.FIRST);
        assert.equal(data.readUInt16LE(BLOCK_SIZE - 3), 0);
      }
      const { records, reader } = readAll(data);
      assert.equal(records.length, 3, `d=${d} next=${nextLen}`);
      assert.ok(records[0]!.equals(first));
      assert.ok(records[1]!.equals(second));
      assert.ok(records[2]!.equals(third));
      assert.equal(reader.tornTail, false);
    }
  }
});

test('a file ending inside block padding, or with zero preallocation, is clean', () => {
  const first = payload(BLOCK_SIZE - HEADER_SIZE - 3, 1);
  const { data } = writeLog([first]);
  const padded = Buffer.concat([data, Buffer.alloc(3)]);
  for (const d of [padded, Buffer.concat([data, Buffer.alloc(2)]), Buffer.concat([padded, Buffer.alloc(BLOCK_SIZE * 2 + 5)])]) {
    const { records, reader } = readAll(d);
    assert.equal(records.length, 1);
    assert.equal(reader.tornTail, false);
    assert.equal(reader.droppedBytes, 0);
  }
  const small = writeLog([payload(10, 1), payload(20, 2)]).data;
  const { records, reader } = readAll(Buffer.concat([small, Buffer.alloc(1000)]));
  assert.equal(records.length, 2);
  assert.equal(reader.tornTail, false);
  assert.equal(reader.validLength, small.length);
});

test('writer continuing an existing file (initialSize)', () => {
  const a = [payload(BLOCK_SIZE - 10, 1), payload(5, 2)];
  const part1 = writeLog(a).data;
  const fs = new MemFs();
  const w = new LogWriter(fs.createWritable('/x.log'), part1.length);
  const b = [payload(3000, 3), payload(BLOCK_SIZE * 2, 4), payload(0, 5)];
  for (const r of b) w.addRecord(r);
  const part2 = fs.readFile('/x.log');
  assert.equal(w.size, part1.length + part2.length);
  const { records } = readAll(Buffer.concat([part1, part2]));
  assert.equal(records.length, 5);
  [...a, ...b].forEach((r, i) => assert.ok(records[i]!.equals(r)));
});

test('one append per record', () => {
  const fs = new MemFs();
  const file = fs.createWritable('/x.log');
  let appends = 0;
  const counting = { path: file.path, size: 0, append: (d: Uint8Array) => { appends++; file.append(d); }, sync: () => file.sync(), close: () => file.close() };
  const w = new LogWriter(counting);
  w.addRecord(payload(3 * BLOCK_SIZE, 1));
  w.addRecord(payload(0, 2));
  assert.equal(appends, 2);
});

function checkTruncations(records: Buffer[], cuts: (from: number, to: number) => Iterable<number>): number {
  const { data, ends } = writeLog(records);
  const goodEnd = ends[ends.length - 2]!;
  let checked = 0;
  for (const c of cuts(goodEnd, data.length)) {
    const cut = data.subarray(0, c);
    const { records: got, reader } = readAll(cut);
    if (c === data.length) {
      assert.equal(got.length, records.length);
      assert.equal(reader.tornTail, false);
      continue;
    }
    assert.equal(got.length, records.length - 1, `cut at ${c}`);
    for (let i = 0; i < got.length; i++) assert.ok(got[i]!.equals(records[i]!));
    const tail = cut.subarray(goodEnd);
    const torn = tail.some((b) => b !== 0);
    assert.equal(reader.tornTail, torn, `cut at ${c}`);
    assert.equal(reader.droppedBytes, torn ? c - goodEnd : 0, `cut at ${c}`);
    assert.equal(reader.validLength, goodEnd);
    checked++;
  }
  return checked;
}

test('torn tail at every truncation point of the last record', () => {
  const every = function* (from: number, to: number): Iterable<number> {
    for (let c = from; c <= to; c++) yield c;
  };
  // Last record spans a block boundary and starts right after block padding.
  const prefix = [payload(100, 1), payload(BLOCK_SIZE - 2 * HEADER_SIZE - 100 - 4, 2)];
  assert.ok(checkTruncations([...prefix, payload(3000, 3)], every) > 3000);
  // Last record starts mid-block and spans three blocks; a FULL last record.
  assert.ok(checkTruncations([payload(20000, 4), payload(BLOCK_SIZE * 2, 5)], (from, to) => {
    const out: number[] = [];
    for (let c = from; c <= to; c++) {
      const inBlock = c % BLOCK_SIZE;
      if (c - from < 64 || to - c < 64 || inBlock < 16 || inBlock > BLOCK_SIZE - 16 || c % 97 === 0) out.push(c);
    }
    return out;
  }) > 100);
  checkTruncations([payload(10, 6), payload(1, 7), payload(0, 8)], every);
  checkTruncations([payload(100, 9)], every);
});

test('torn 100 KiB record at a stride of cut points', () => {
  const records = [payload(5000, 1), payload(100 * 1024, 2)];
  checkTruncations(records, function* (from, to) {
    for (let c = from; c <= to; c += 997) yield c;
    yield to - 1;
  });
});

test('a flipped byte in the middle is CORRUPTION with the damaged fragment offset', () => {
  const records: Buffer[] = [];
  for (let i = 0; i < 12; i++) records.push(payload(i === 4 ? 50000 : 9000 + i, i + 1));
  const { data, starts } = writeLog(records);
  assert.ok(data.length > 4 * BLOCK_SIZE);
  for (const idx of [0, 1, 2, 3, 6]) {
    for (const where of [0, 4, 5, 6, 7, 100, records[idx]!.length + HEADER_SIZE - 1]) {
      const bad = Buffer.from(data);
      const pos = starts[idx]! + where;
      bad[pos]! ^= 0x40;
      // The damaged fragment: the record's first, or a later one at a block start.
      const sameBlock = Math.floor(pos / BLOCK_SIZE) === Math.floor(starts[idx]! / BLOCK_SIZE);
      expectCorruption(bad, sameBlock ? starts[idx]! : pos - (pos % BLOCK_SIZE), idx);
    }
  }
  // Record 4 spans blocks: damage in its second fragment names that fragment.
  const pos = starts[4]! + 40000;
  const fragStart = pos - (pos % BLOCK_SIZE);
  assert.ok(fragStart > starts[4]!);
  const bad = Buffer.from(data);
  bad[pos]! ^= 1;
  expectCorruption(bad, fragStart, 4);
  // Garbage over a whole block in the middle.
  const garbage = Buffer.from(data);
  payload(BLOCK_SIZE, 99).copy(garbage, BLOCK_SIZE);
  const firstIn = starts.findIndex((s, i) => s + HEADER_SIZE + records[i]!.length > BLOCK_SIZE);
  const reader = new LogReader(garbage, 'g.log');
  assert.throws(() => {
    while (reader.readRecord() !== undefined);
  }, (err: unknown) => err instanceof StrataError && err.code === 'CORRUPTION');
  assert.ok(reader.records <= firstIn);
  // Zeros in the middle (a hole) followed by valid records in later blocks.
  const hole = Buffer.from(data);
  hole.fill(0, starts[2]!, starts[2]! + 100);
  expectCorruption(hole, starts[2]!, 2);
});

test('a flipped byte in the last record only is a torn tail', () => {
  for (const lastLen of [10, 3 * BLOCK_SIZE]) {
    const records = [payload(5000, 1), payload(20000, 2), payload(lastLen, 3)];
    const { data, starts, ends } = writeLog(records);
    const last = starts[2]!;
    for (const pos of [last, last + 6, last + 8, data.length - 1, last + BLOCK_SIZE]) {
      if (pos >= data.length) continue;
      const bad = Buffer.from(data);
      bad[pos]! ^= 0x10;
      const { records: got, reader } = readAll(bad);
      assert.equal(got.length, 2, `flip at ${pos}`);
      assert.equal(reader.tornTail, true);
      assert.equal(reader.droppedBytes, data.length - ends[1]!);
    }
  }
});

test('fragments out of order', () => {
  const a = frag(RecordType.FULL, payload(10, 1));
  // MIDDLE without FIRST, then a valid record in the next block: corruption at the MIDDLE.
  const middle = frag(RecordType.MIDDLE, payload(20, 2));
  const pad = Buffer.alloc(BLOCK_SIZE - a.length - middle.length);
  const next = frag(RecordType.FULL, payload(30, 3));
  expectCorruption(Buffer.concat([a, middle, pad, next]), a.length, 1);
  // ... and without anything after it: a torn tail.
  const { records, reader } = readAll(Buffer.concat([a, middle]));
  assert.equal(records.length, 1);
  assert.equal(reader.tornTail, true);
  assert.equal(reader.droppedBytes, middle.length);
  // FIRST whose continuation is missing, then a new record: corruption at the FIRST.
  const first = frag(RecordType.FIRST, payload(BLOCK_SIZE - a.length - HEADER_SIZE, 4));
  expectCorruption(Buffer.concat([a, first, next]), a.length, 1);
  // Unknown type.
  const weird = frag(9, payload(5, 5));
  expectCorruption(Buffer.concat([a, weird, Buffer.alloc(BLOCK_SIZE - a.length - weird.length), next]), a.length, 1);
  // Length crossing the block boundary.
  const long = frag(RecordType.FULL, payload(BLOCK_SIZE, 6)).subarray(0, BLOCK_SIZE - a.length);
  expectCorruption(Buffer.concat([a, long, next]), a.length, 1);
});

test('records returned are views or copies of the right bytes', () => {
  const records = [payload(10, 1), payload(BLOCK_SIZE * 2, 2)];
  const { data } = writeLog(records);
  const reader = new LogReader(data, 'v.log');
  const r0 = reader.readRecord()!;
  assert.equal(r0.buffer, data.buffer, 'a FULL record is a view');
  assert.equal(reader.lastRecordOffset, 0);
  const r1 = reader.readRecord()!;
  assert.ok(r1.equals(records[1]!));
  assert.equal(reader.lastRecordOffset, HEADER_SIZE + 10);
  assert.equal(reader.readRecord(), undefined);
});

test('crash images with torn writes: every synced record survives, the rest is a prefix', async () => {
  for (let seed = 1; seed <= 60; seed++) {
    const rnd = new SeededRandom(seed);
    const fs = new FaultFs(undefined, { random: new SeededRandom(seed * 31) });
    fs.mkdir('/db');
    const w = new LogWriter(fs.createWritable('/db/1.log'));
    await fs.syncDir('/db');
    const records: Buffer[] = [];
    let synced = 0;
    const n = rnd.int(1, 40);
    for (let i = 0; i < n; i++) {
      records.push(payload(rnd.int(0, 4) === 0 ? rnd.int(0, 80000) : rnd.int(0, 300), seed * 1000 + i));
      w.addRecord(records[i]!);
      if (rnd.int(0, 3) === 0) {
        await w.sync();
        synced = i + 1;
      }
    }
    const img = fs.crashImage({ tear: true });
    const { records: got, reader } = readAll(img.readFile('/db/1.log'), '1.log');
    assert.ok(got.length >= synced && got.length <= n, `seed ${seed}: ${got.length} of ${n}, ${synced} synced`);
    for (let i = 0; i < got.length; i++) assert.ok(got[i]!.equals(records[i]!), `seed ${seed} record ${i}`);
    if (got.length === n) assert.equal(reader.tornTail, false);
  }
});

test('random damage: a CORRUPTION error or a prefix of the records, never wrong data', () => {
  const rnd = new SeededRandom(99);
  const records: Buffer[] = [];
  for (let i = 0; i < 40; i++) records.push(payload(rnd.int(0, 3) === 0 ? rnd.int(0, 40000) : rnd.int(0, 500), i));
  const { data } = writeLog(records);
  for (let trial = 0; trial < 300; trial++) {
    const bad = Buffer.from(data);
    const flips = rnd.int(1, 3);
    for (let f = 0; f < flips; f++) bad[rnd.int(0, bad.length - 1)]! ^= 1 << rnd.int(0, 7);
    const cut = rnd.int(0, 1) === 0 ? bad : bad.subarray(0, rnd.int(0, bad.length));
    const reader = new LogReader(cut, 'r.log');
    let i = 0;
    try {
      for (let r = reader.readRecord(); r !== undefined; r = reader.readRecord()) {
        assert.ok(r.equals(records[i]!), `trial ${trial} record ${i}`);
        i++;
      }
    } catch (err) {
      assert.ok(err instanceof StrataError && err.code === 'CORRUPTION', String(err));
      assert.ok(err.offset !== undefined && err.offset >= 0 && err.offset < cut.length);
    }
  }
});

test('LogWriter.sync: fdatasync on the calling thread while syncs are fast, the thread pool after a slow one, back when fast again', async () => {
  let clock = 0;
  const calls: string[] = [];
  /** How long the next sync takes on the fake clock. */
  let nextTakes = 0.5;
  let failNext = false;
  const file = {
    path: '/x.log',
    size: 0,
    append(data: Uint8Array) {
      this.size += data.length;
    },
    syncNow() {
      calls.push('now');
      clock += nextTakes;
      if (failNext) throw new StrataError('IO', 'fsync failed');
    },
    async sync() {
      calls.push('pool');
      clock += nextTakes;
    },
    close() {},
  };
  const w = new LogWriter(file, 0, () => clock);
  w.addRecord(Buffer.from('a'));
  await w.sync(); // no sync timed yet: the first goes to the pool
  await w.sync(); // 0.5 ms: fast, so inline
  nextTakes = 2 * INLINE_SYNC_MS;
  await w.sync(); // inline, but slow
  nextTakes = 0.5;
  await w.sync(); // after a slow one: the pool
  await w.sync(); // fast again: inline
  assert.deepEqual(calls, ['pool', 'now', 'now', 'pool', 'now']);
  failNext = true;
  await assert.rejects(w.sync(), /fsync failed/, 'an inline failure rejects the sync');
  // A file system without syncNow always uses sync().
  const fs = new MemFs();
  const plain = new LogWriter(fs.createWritable('/y.log'), 0, () => 0);
  plain.addRecord(Buffer.from('b'));
  await plain.sync();
  await plain.sync();
});

test('LogWriter.close during a sync on the thread pool closes the file once that sync is done, never under it', async () => {
  const events: string[] = [];
  let finish!: () => void;
  const file = {
    path: '/x.log',
    size: 0,
    append: () => undefined,
    sync: () => {
      events.push('sync start');
      return new Promise<void>((r) => (finish = r)).then(() => void events.push('sync end'));
    },
    close: () => void events.push('close'),
  };
  // No syncNow: every sync goes to the (simulated) thread pool.
  const w = new LogWriter(file);
  const synced = w.sync();
  w.close();
  w.close();
  assert.deepEqual(events, ['sync start']);
  finish();
  await synced;
  assert.deepEqual(events, ['sync start', 'sync end', 'close']);
  // With no sync running, close is immediate.
  const events2: string[] = [];
  const w2 = new LogWriter({ ...file, close: () => void events2.push('close') });
  w2.close();
  assert.deepEqual(events2, ['close']);
});
