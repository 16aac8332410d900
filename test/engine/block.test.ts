import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isStrataError } from '../../src/base/errors.js';
import { compareInternalKeys, makeInternalKey, ValueType } from '../../src/engine/format.js';
import { Block, BYTEWISE_ORDER } from '../../src/engine/table/block.js';
import type { BlockIterator } from '../../src/engine/table/block.js';
import { BlockBuilder } from '../../src/engine/table/block-builder.js';

interface Entry {
  key: Buffer;
  value: Buffer;
}

/** Sorted entries with long shared prefixes, several versions per user key, and varied sizes. */
function makeEntries(n: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const user = Buffer.from(`user/${String(Math.floor(i / 3)).padStart(6, '0')}/${'x'.repeat(i % 7 === 0 ? 90 : 2)}`);
    const seq = 1000 - (i % 3); // descending within a user key
    const value = Buffer.from(`v${i}:${'y'.repeat(i % 11 === 0 ? 200 : i % 5)}`);
    out.push({ key: makeInternalKey(user, seq, i % 4 === 0 ? ValueType.DELETE : ValueType.PUT), value });
  }
  out.sort((a, b) => compareInternalKeys(a.key, b.key));
  for (let i = 1; i < out.length; i++) assert.ok(compareInternalKeys(out[i - 1]!.key, out[i]!.key) < 0);
  return out;
}

function buildBlock(entries: Entry[], restartInterval: number): Block {
  const b = new BlockBuilder(restartInterval);
  for (const e of entries) b.add(e.key, e.value);
  return new Block(Buffer.from(b.finish()), 'test-block', 1234);
}

function assertAt(it: BlockIterator, e: Entry | undefined, msg: string): void {
  if (e === undefined) {
    assert.equal(it.valid(), false, msg);
    return;
  }
  assert.ok(it.valid(), msg);
  assert.deepEqual(it.key(), e.key, msg);
  assert.deepEqual(it.value(), e.value, msg);
}

/** An internal key just after `k` (same user key, one lower sequence). */
function justAfter(k: Buffer): Buffer {
  const user = k.subarray(0, k.length - 8);
  const seq = k.readUInt32LE(k.length - 8) >>> 8;
  assert.ok(seq > 0);
  return makeInternalKey(user, seq - 1, ValueType.PUT);
}

const entries = makeEntries(600);

for (const interval of [1, 2, 3, 16, 1000]) {
  test(`block: forward, backward and seeks with restart interval ${interval}`, () => {
    const block = buildBlock(entries, interval);
    const it = block.iterator();
    assert.equal(it.valid(), false);

    let i = 0;
    for (it.seekToFirst(); it.valid(); it.next()) assertAt(it, entries[i++], `forward ${i}`);
    assert.equal(i, entries.length);

    i = entries.length - 1;
    for (it.seekToLast(); it.valid(); it.prev()) assertAt(it, entries[i--], `backward ${i}`);
    assert.equal(i, -1);

    for (let j = 0; j < entries.length; j++) {
      const e = entries[j]!;
      it.seek(e.key);
      assertAt(it, e, `seek present ${j}`);
      it.seekForPrev(e.key);
      assertAt(it, e, `seekForPrev present ${j}`);
      // Absent key strictly between entries j and j+1.
      const between = justAfter(e.key);
      if (j + 1 < entries.length && compareInternalKeys(between, entries[j + 1]!.key) < 0) {
        it.seek(between);
        assertAt(it, entries[j + 1], `seek absent ${j}`);
        it.seekForPrev(between);
        assertAt(it, e, `seekForPrev absent ${j}`);
      }
      // Mixing directions after a seek.
      it.seek(e.key);
      if (j > 0) {
        it.prev();
        assertAt(it, entries[j - 1], `prev after seek ${j}`);
        it.next();
        assertAt(it, e, `next after prev ${j}`);
      }
    }

    // Before the first and after the last key.
    const first = entries[0]!.key;
    const before = makeInternalKey(Buffer.from('a'), 1, ValueType.PUT);
    const after = makeInternalKey(Buffer.from('zzz'), 1, ValueType.PUT);
    it.seek(before);
    assertAt(it, entries[0], 'seek before first');
    it.seekForPrev(before);
    assertAt(it, undefined, 'seekForPrev before first');
    it.seek(after);
    assertAt(it, undefined, 'seek after last');
    it.seekForPrev(after);
    assertAt(it, entries[entries.length - 1], 'seekForPrev after last');
    it.seek(first);
    it.prev();
    assertAt(it, undefined, 'prev from first');
    it.seekToLast();
    it.next();
    assertAt(it, undefined, 'next from last');
  });
}

test('block: empty and single-entry blocks', () => {
  const empty = new BlockBuilder(16);
  assert.equal(empty.empty, true);
  const eb = new Block(Buffer.from(empty.finish()), 'f', 0);
  assert.equal(eb.data.length, 8);
  const it = eb.iterator();
  const k = makeInternalKey(Buffer.from('k'), 5, ValueType.PUT);
  it.seekToFirst();
  assert.equal(it.valid(), false);
  it.seekToLast();
  assert.equal(it.valid(), false);
  it.seek(k);
  assert.equal(it.valid(), false);
  it.seekForPrev(k);
  assert.equal(it.valid(), false);

  const one = new BlockBuilder(16);
  const v = Buffer.alloc(0);
  one.add(k, v);
  const ob = new Block(Buffer.from(one.finish()), 'f', 0);
  const oi = ob.iterator();
  oi.seekToLast();
  assert.deepEqual(oi.key(), k);
  assert.equal(oi.value().length, 0);
  oi.prev();
  assert.equal(oi.valid(), false);
  oi.seek(makeInternalKey(Buffer.from('k'), 4, ValueType.PUT));
  assert.equal(oi.valid(), false);
  oi.seekForPrev(makeInternalKey(Buffer.from('k'), 4, ValueType.PUT));
  assert.deepEqual(oi.key(), k);
  oi.seekForPrev(makeInternalKey(Buffer.from('k'), 6, ValueType.PUT));
  assert.equal(oi.valid(), false);
});

test('block: builder reset reuses the buffer and key views survive only as documented', () => {
  const b = new BlockBuilder(4);
  for (const e of entries.slice(0, 10)) b.add(e.key, e.value);
  const first = Buffer.from(b.finish());
  b.reset();
  for (const e of entries.slice(0, 10)) b.add(e.key, e.value);
  assert.deepEqual(Buffer.from(b.finish()), first);
  assert.ok(b.currentSize() >= first.length);
});

test('block: large keys and values (multi-byte varints, key buffer growth)', () => {
  const big: Entry[] = [];
  for (let i = 0; i < 50; i++) {
    big.push({
      key: makeInternalKey(Buffer.from(`${'p'.repeat(300)}${String(i).padStart(3, '0')}${'s'.repeat(i * 10)}`), 7, ValueType.PUT),
      value: Buffer.alloc(i * 1000, i),
    });
  }
  const block = buildBlock(big, 8);
  const it = block.iterator();
  let i = 0;
  for (it.seekToFirst(); it.valid(); it.next()) assertAt(it, big[i++], `big ${i}`);
  assert.equal(i, big.length);
  i = big.length - 1;
  for (it.seekToLast(); it.valid(); it.prev()) assertAt(it, big[i--], `big back ${i}`);
});

test('block: bytewise-ordered block (meta blocks)', () => {
  const b = new BlockBuilder(1);
  const names = ['a', 'ab', 'abc', 'b', 'strata.x'];
  for (const n of names) b.add(Buffer.from(n), Buffer.from(n.toUpperCase()));
  const block = new Block(Buffer.from(b.finish()), 'meta', 0, BYTEWISE_ORDER);
  const it = block.iterator();
  it.seek(Buffer.from('abb'));
  assert.equal(it.key().toString(), 'abc');
  assert.equal(it.value().toString(), 'ABC');
  it.seekForPrev(Buffer.from('abb'));
  assert.equal(it.key().toString(), 'ab');
  it.seek(Buffer.from('strata.x'));
  assert.equal(it.value().toString(), 'STRATA.X');
});

function expectCorruption(fn: () => void, what: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isStrataError(err, 'CORRUPTION'), `${what}: expected CORRUPTION, got ${String(err)}`);
    assert.equal(err.file, 'bad-file', what);
    assert.equal(err.offset, 777, what);
    return true;
  }, what);
}

/** Every way of walking the block, so any malformation is reached. */
function walkAll(block: Block): void {
  const it = block.iterator();
  for (it.seekToFirst(); it.valid(); it.next()) it.key();
  for (it.seekToLast(); it.valid(); it.prev()) it.key();
  for (const e of entries) it.seek(e.key);
}

test('block: malformed contents are CORRUPTION with file and block offset', () => {
  const good = Buffer.from(buildBlock(entries.slice(0, 40), 4).data);
  const n = good.readUInt32LE(good.length - 4);
  const restartsAt = good.length - 4 - 4 * n;
  const mk = (data: Buffer): Block => new Block(data, 'bad-file', 777);

  expectCorruption(() => mk(Buffer.alloc(3)), 'too short');
  expectCorruption(() => mk(Buffer.from([0, 0, 0, 0])), 'zero restarts');

  const tooMany = Buffer.from(good);
  tooMany.writeUInt32LE(1_000_000, tooMany.length - 4);
  expectCorruption(() => mk(tooMany), 'restart count too large');

  const outOfRange = Buffer.from(good);
  outOfRange.writeUInt32LE(restartsAt + 10, restartsAt + 4);
  expectCorruption(() => mk(outOfRange), 'restart offset out of range');

  const unordered = Buffer.from(good);
  unordered.writeUInt32LE(unordered.readUInt32LE(restartsAt + 8), restartsAt + 4);
  expectCorruption(() => mk(unordered), 'restart offsets not increasing');

  // First entry claims a huge value: runs past the end.
  const pastEnd = Buffer.from(good);
  pastEnd[1] = 0x7f;
  pastEnd[2] = 0xff;
  pastEnd[3] = 0xff;
  pastEnd[4] = 0x7f;
  expectCorruption(() => walkAll(mk(pastEnd)), 'entry past end');

  // Varint overrun: a header of continuation bytes reaching the restart array.
  const b = new BlockBuilder(16);
  b.add(makeInternalKey(Buffer.from('k'), 1, ValueType.PUT), Buffer.from('v'));
  const one = Buffer.from(b.finish());
  const overrun = Buffer.from(one);
  overrun.fill(0xff, 0, overrun.length - 8);
  expectCorruption(() => walkAll(mk(overrun)), 'varint overrun');

  // A restart entry (shared must be 0) claiming shared bytes.
  const sharedAtRestart = Buffer.from(one);
  sharedAtRestart[0] = 3;
  expectCorruption(() => walkAll(mk(sharedAtRestart)), 'shared at restart');

  // A key shorter than the 8-byte internal-key trailer.
  const b2 = new BlockBuilder(16);
  b2.add(Buffer.from('abc'), Buffer.from('v'));
  expectCorruption(() => walkAll(mk(Buffer.from(b2.finish()))), 'short internal key');

  // A non-restart entry sharing more than the previous key has.
  const b3 = new BlockBuilder(16);
  const k1 = makeInternalKey(Buffer.from('aa'), 1, ValueType.PUT);
  const k2 = makeInternalKey(Buffer.from('ab'), 1, ValueType.PUT);
  b3.add(k1, Buffer.alloc(0));
  b3.add(k2, Buffer.alloc(0));
  const two = Buffer.from(b3.finish());
  const secondEntry = 3 + k1.length;
  assert.equal(two[secondEntry], 1); // shared = 1 ('a')
  two[secondEntry] = 40;
  expectCorruption(() => walkAll(mk(two)), 'shared longer than previous key');

  // After an error the iterator is not valid; it never returned wrong data.
  const it = mk(pastEnd).iterator();
  assert.throws(() => it.seekToFirst());
  assert.equal(it.valid(), false);
});

test('block: random walks of next/prev/seek/seekForPrev match a sorted model', () => {
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (const interval of [1, 4, 16]) {
    const block = buildBlock(entries, interval);
    const it = block.iterator();
    let pos = -1; // model position; -1 or entries.length = not valid
    for (let step = 0; step < 5000; step++) {
      const op = pos >= 0 && pos < entries.length ? rnd(6) : 2 + rnd(4);
      if (op === 0 || op === 1) {
        // next and prev are weighted, as in scans
        if (rnd(2) === 0) {
          it.next();
          pos++;
        } else {
          it.prev();
          pos--;
        }
      } else if (op === 2) {
        const j = rnd(entries.length);
        it.seek(entries[j]!.key);
        pos = j;
      } else if (op === 3) {
        const target = justAfter(entries[rnd(entries.length)]!.key);
        it.seekForPrev(target);
        pos = entries.length - 1;
        while (pos >= 0 && compareInternalKeys(entries[pos]!.key, target) > 0) pos--;
      } else if (op === 4) {
        it.seekToLast();
        pos = entries.length - 1;
      } else {
        it.seekToFirst();
        pos = 0;
      }
      if (pos < 0 || pos >= entries.length) {
        assert.equal(it.valid(), false, `step ${step}`);
        pos = -1;
      } else {
        assertAt(it, entries[pos], `interval ${interval} step ${step}`);
      }
    }
  }
});
