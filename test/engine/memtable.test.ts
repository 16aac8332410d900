import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeededRandom } from '../../src/base/random.js';
import {
  MAX_SEQUENCE,
  ValueType,
  compareInternalKeys,
  makeInternalKey,
  seqOf,
  typeOf,
  userKeyOf,
} from '../../src/engine/format.js';
import type { InternalIterator } from '../../src/engine/iterator.js';
import { Memtable } from '../../src/engine/memtable.js';

interface Entry {
  ikey: Buffer;
  value: Buffer;
}

const ALPHABET = [0x00, 0x01, 0x61, 0x62, 0xfe, 0xff];

function randomUserKey(rnd: SeededRandom, maxLen: number): Buffer {
  const len = rnd.int(0, maxLen);
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = ALPHABET[rnd.int(0, ALPHABET.length - 1)]!;
  return b;
}

/** Newest entry for userKey with seq <= snap, from a plain list. */
function modelGet(entries: Entry[], userKey: Buffer, snap: number): { kind: 'value'; value: Buffer } | { kind: 'deleted' } | undefined {
  let best: Entry | undefined;
  for (const e of entries) {
    if (e.ikey.length !== userKey.length + 8 || !userKeyOf(e.ikey).equals(userKey)) continue;
    const s = seqOf(e.ikey);
    if (s > snap) continue;
    if (best === undefined || s > seqOf(best.ikey)) best = e;
  }
  if (best === undefined) return undefined;
  return typeOf(best.ikey) === ValueType.DELETE ? { kind: 'deleted' } : { kind: 'value', value: best.value };
}

function collectForward(it: InternalIterator): Buffer[] {
  const out: Buffer[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) out.push(it.key());
  return out;
}

function collectBackward(it: InternalIterator): Buffer[] {
  const out: Buffer[] = [];
  for (it.seekToLast(); it.valid(); it.prev()) out.push(it.key());
  return out;
}

/** Fills a memtable with random keys/versions/deletes; returns the model sorted by internal key. */
function fill(mem: Memtable, rnd: SeededRandom, n: number, maxKeyLen: number, startSeq = 1): Entry[] {
  const entries: Entry[] = [];
  // Unique but shuffled sequence numbers, to exercise ordering independent of insert order.
  const seqs = Array.from({ length: n }, (_, i) => startSeq + i);
  for (let i = seqs.length - 1; i > 0; i--) {
    const j = rnd.int(0, i);
    [seqs[i], seqs[j]] = [seqs[j]!, seqs[i]!];
  }
  for (const seq of seqs) {
    const uk = randomUserKey(rnd, maxKeyLen);
    const type = rnd.int(0, 3) === 0 ? ValueType.DELETE : ValueType.PUT;
    const value = type === ValueType.DELETE ? Buffer.alloc(0) : Buffer.from(`v${seq}`);
    mem.add(seq, type, uk, value);
    entries.push({ ikey: makeInternalKey(uk, seq, type), value });
  }
  entries.sort((a, b) => compareInternalKeys(a.ikey, b.ikey));
  return entries;
}

test('empty memtable', () => {
  const mem = new Memtable();
  assert.equal(mem.entries, 0);
  assert.equal(mem.approximateBytes, 0);
  assert.equal(mem.firstKey(), undefined);
  assert.equal(mem.lastKey(), undefined);
  assert.equal(mem.get(Buffer.from('a'), MAX_SEQUENCE), undefined);
  const it = mem.iterator();
  assert.equal(it.valid(), false);
  it.seekToFirst();
  assert.equal(it.valid(), false);
  it.seekToLast();
  assert.equal(it.valid(), false);
  it.seek(makeInternalKey(Buffer.from('a'), 5, ValueType.PUT));
  assert.equal(it.valid(), false);
  it.seekForPrev(makeInternalKey(Buffer.from('a'), 5, ValueType.PUT));
  assert.equal(it.valid(), false);
  it.close();
});

test('get sees the newest version at or below the snapshot', () => {
  const mem = new Memtable();
  const k = Buffer.from('key');
  mem.add(10, ValueType.PUT, k, Buffer.from('a'));
  mem.add(20, ValueType.DELETE, k, Buffer.alloc(0));
  mem.add(30, ValueType.PUT, k, Buffer.from('c'));
  mem.add(15, ValueType.PUT, Buffer.from('ke'), Buffer.from('prefix'));
  mem.add(16, ValueType.PUT, Buffer.from('key\x00'), Buffer.from('longer'));
  assert.equal(mem.get(k, 9), undefined);
  assert.deepEqual(mem.get(k, 10), { kind: 'value', value: Buffer.from('a') });
  assert.deepEqual(mem.get(k, 19), { kind: 'value', value: Buffer.from('a') });
  assert.deepEqual(mem.get(k, 20), { kind: 'deleted' });
  assert.deepEqual(mem.get(k, 29), { kind: 'deleted' });
  assert.deepEqual(mem.get(k, 30), { kind: 'value', value: Buffer.from('c') });
  assert.deepEqual(mem.get(k, MAX_SEQUENCE), { kind: 'value', value: Buffer.from('c') });
  assert.deepEqual(mem.get(Buffer.from('ke'), 100), { kind: 'value', value: Buffer.from('prefix') });
  assert.equal(mem.get(Buffer.from('ke'), 14), undefined);
  assert.equal(mem.get(Buffer.from('k'), 100), undefined);
  assert.equal(mem.get(Buffer.from('kez'), 100), undefined);
  assert.equal(mem.get(Buffer.alloc(0), 100), undefined);
  assert.equal(mem.entries, 5);
});

test('add copies the key and the value (callers may reuse their buffers)', () => {
  const mem = new Memtable();
  const k = Buffer.from('abc');
  const v = Buffer.from('value');
  mem.add(1, ValueType.PUT, k, v);
  k[0] = 0x7a; // caller reuses its key buffer
  v[0] = 0x56; // and its value buffer
  const r = mem.get(Buffer.from('abc'), 1);
  assert.ok(r !== undefined && r.kind === 'value');
  assert.equal(r.value.toString(), 'value');
  assert.equal(mem.get(Buffer.from('zbc'), 1), undefined);
});

test('a big value makes the arena grow and earlier views keep their bytes', () => {
  const mem = new Memtable(64 * 1024);
  mem.add(1, ValueType.PUT, Buffer.from('a'), Buffer.from('first'));
  const before = mem.get(Buffer.from('a'), 1);
  mem.add(2, ValueType.PUT, Buffer.from('b'), Buffer.alloc(1 << 20, 0x62));
  const big = mem.get(Buffer.from('b'), 2);
  assert.ok(big?.kind === 'value' && big.value.length === 1 << 20 && big.value.every((x) => x === 0x62));
  assert.ok(before?.kind === 'value' && before.value.toString() === 'first');
  const after = mem.get(Buffer.from('a'), 2);
  assert.ok(after?.kind === 'value' && after.value.toString() === 'first');
});

test('duplicate internal key is a bug', () => {
  const mem = new Memtable();
  mem.add(7, ValueType.PUT, Buffer.from('a'), Buffer.from('x'));
  assert.throws(() => mem.add(7, ValueType.PUT, Buffer.from('a'), Buffer.from('y')), /duplicate/);
  assert.throws(() => mem.add(-1, ValueType.PUT, Buffer.from('a'), Buffer.from('y')), /sequence/);
  assert.throws(() => mem.add(1.5, ValueType.PUT, Buffer.from('a'), Buffer.from('y')), /sequence/);
});

test('large sequence numbers order correctly', () => {
  const mem = new Memtable();
  const k = Buffer.from('k');
  const seqs = [1, 0xff, 0x100, 0xffffff, 0x1000000, 2 ** 32 + 5, 2 ** 40, MAX_SEQUENCE - 1, MAX_SEQUENCE];
  for (const s of seqs) mem.add(s, ValueType.PUT, k, Buffer.from(String(s)));
  assert.deepEqual(
    collectForward(mem.iterator()).map(seqOf),
    [...seqs].sort((a, b) => b - a),
  );
  for (const s of seqs) {
    assert.deepEqual(mem.get(k, s), { kind: 'value', value: Buffer.from(String(s)) });
  }
  assert.deepEqual(mem.get(k, 2 ** 40 - 1), { kind: 'value', value: Buffer.from(String(2 ** 32 + 5)) });
});

test('random inserts: get at various snapshots matches the model', () => {
  const rnd = new SeededRandom(42);
  const mem = new Memtable();
  const n = 3000;
  const entries = fill(mem, rnd, n, 3);
  assert.equal(mem.entries, n);
  for (let i = 0; i < 3000; i++) {
    const uk = randomUserKey(rnd, 3);
    const snap = rnd.int(0, n + 1);
    assert.deepEqual(mem.get(uk, snap), modelGet(entries, uk, snap), `get(${uk.toString('hex')}, ${snap})`);
  }
  assert.deepEqual(mem.firstKey(), entries[0]!.ikey);
  assert.deepEqual(mem.lastKey(), entries[entries.length - 1]!.ikey);
});

test('iterator order, seeks and seekForPrev match the sorted model', () => {
  const rnd = new SeededRandom(7);
  const mem = new Memtable();
  const entries = fill(mem, rnd, 2000, 3);
  const keys = entries.map((e) => e.ikey);
  const it = mem.iterator();
  assert.deepEqual(collectForward(it), keys);
  assert.deepEqual(collectBackward(it), [...keys].reverse());
  // Values line up with keys.
  let i = 0;
  for (it.seekToFirst(); it.valid(); it.next(), i++) assert.deepEqual(it.value(), entries[i]!.value);

  for (let round = 0; round < 2000; round++) {
    const type = rnd.int(0, 1) as ValueType;
    const target = makeInternalKey(randomUserKey(rnd, 3), rnd.int(0, 2100), type);
    // seek: first >= target
    const ge = keys.findIndex((k) => compareInternalKeys(k, target) >= 0);
    it.seek(target);
    if (ge < 0) assert.equal(it.valid(), false);
    else assert.deepEqual(it.key(), keys[ge]);
    // seekForPrev: last <= target
    let le = -1;
    for (let j = keys.length - 1; j >= 0; j--) {
      if (compareInternalKeys(keys[j]!, target) <= 0) {
        le = j;
        break;
      }
    }
    it.seekForPrev(target);
    if (le < 0) assert.equal(it.valid(), false);
    else assert.deepEqual(it.key(), keys[le]);
    // Walk a few steps in mixed directions from the seekForPrev position.
    let pos = le;
    for (let step = 0; step < 6 && it.valid(); step++) {
      if (rnd.int(0, 1) === 0) {
        it.next();
        pos++;
      } else {
        it.prev();
        pos--;
      }
      if (pos < 0 || pos >= keys.length) assert.equal(it.valid(), false);
      else assert.deepEqual(it.key(), keys[pos]);
    }
  }
});

test('seek with an exact internal key, and type ordering at equal sequence', () => {
  const mem = new Memtable();
  mem.add(5, ValueType.DELETE, Buffer.from('a'), Buffer.alloc(0));
  mem.add(6, ValueType.PUT, Buffer.from('b'), Buffer.from('x'));
  const it = mem.iterator();
  // (a,5,PUT) sorts before (a,5,DELETE): seek lands on it, seekForPrev finds nothing.
  it.seek(makeInternalKey(Buffer.from('a'), 5, ValueType.PUT));
  assert.deepEqual(it.key(), makeInternalKey(Buffer.from('a'), 5, ValueType.DELETE));
  it.seekForPrev(makeInternalKey(Buffer.from('a'), 5, ValueType.PUT));
  assert.equal(it.valid(), false);
  it.seekForPrev(makeInternalKey(Buffer.from('a'), 5, ValueType.DELETE));
  assert.deepEqual(it.key(), makeInternalKey(Buffer.from('a'), 5, ValueType.DELETE));
  it.seek(makeInternalKey(Buffer.from('a'), 4, ValueType.PUT));
  assert.deepEqual(it.key(), makeInternalKey(Buffer.from('b'), 6, ValueType.PUT));
  it.seekForPrev(makeInternalKey(Buffer.from('z'), 0, ValueType.DELETE));
  assert.deepEqual(it.key(), makeInternalKey(Buffer.from('b'), 6, ValueType.PUT));
  it.prev();
  assert.deepEqual(it.key(), makeInternalKey(Buffer.from('a'), 5, ValueType.DELETE));
  it.prev();
  assert.equal(it.valid(), false);
});

test('iterator stays valid across interleaved inserts', () => {
  const rnd = new SeededRandom(99);
  const mem = new Memtable();
  const initial = fill(mem, rnd, 500, 4, 1);
  const initialKeys = initial.map((e) => e.ikey);
  const it = mem.iterator();
  let seq = 10_000;
  const seen: Buffer[] = [];
  const added: Buffer[] = [];
  // Forward scan, inserting several entries (some right after the current key) after each step.
  for (it.seekToFirst(); it.valid(); it.next()) {
    const k = it.key();
    seen.push(k);
    // A key right after the current one (only for keys of <= 4 bytes, so chains stay short), and
    // sometimes a random one (rarely enough that the scan still ends).
    const uks: Buffer[] = [];
    if (userKeyOf(k).length <= 4) uks.push(Buffer.concat([userKeyOf(k), Buffer.from([0x00])]));
    if (rnd.int(0, 3) === 0) uks.push(randomUserKey(rnd, 4));
    for (const uk of uks) {
      mem.add(seq, ValueType.PUT, uk, Buffer.from('new'));
      added.push(makeInternalKey(uk, seq, ValueType.PUT));
      seq++;
    }
    assert.ok(seen.length < 100_000, 'scan terminates');
  }
  for (let i = 1; i < seen.length; i++) assert.ok(compareInternalKeys(seen[i - 1]!, seen[i]!) < 0, 'strictly increasing');
  // Every entry present before the scan was seen.
  const seenHex = new Set(seen.map((b) => b.toString('hex')));
  for (const k of initialKeys) assert.ok(seenHex.has(k.toString('hex')));
  // Backward scan with inserts between steps.
  const back: Buffer[] = [];
  for (it.seekToLast(); it.valid(); it.prev()) {
    back.push(it.key());
    const uk = randomUserKey(rnd, 4);
    mem.add(seq++, ValueType.DELETE, uk, Buffer.alloc(0));
    assert.ok(back.length < 100_000, 'scan terminates');
  }
  for (let i = 1; i < back.length; i++) assert.ok(compareInternalKeys(back[i - 1]!, back[i]!) > 0, 'strictly decreasing');
  const backHex = new Set(back.map((b) => b.toString('hex')));
  for (const k of [...initialKeys, ...added]) assert.ok(backHex.has(k.toString('hex')));
  assert.equal(mem.entries, initialKeys.length + added.length + back.length);
  // A full scan now sees everything in order.
  const all = collectForward(mem.iterator());
  assert.equal(all.length, mem.entries);
  for (let i = 1; i < all.length; i++) assert.ok(compareInternalKeys(all[i - 1]!, all[i]!) < 0);
});

test('approximateBytes counts each entry\'s record (32-byte header, key, trailer, value, padded to 8 bytes) and 16 bytes for its tree slot', () => {
  const mem = new Memtable();
  let last = mem.approximateBytes;
  for (let i = 0; i < 1000; i++) {
    const key = `key${i}`;
    mem.add(i + 1, ValueType.PUT, Buffer.from(key), Buffer.alloc(100));
    const grew = mem.approximateBytes - last;
    const payload = key.length + 8 + 100;
    assert.equal(grew, ((32 + payload + 7) & ~7) + 16, `grew by ${grew} for a ${payload}-byte entry`);
    last = mem.approximateBytes;
  }
});

test('property: memtable matches a sorted model', () => {
  const opArb = fc.record({
    key: fc.uint8Array({ maxLength: 3 }).map((a) => Buffer.from(a.map((x) => ALPHABET[x % ALPHABET.length]!))),
    del: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 80 }), fc.array(fc.nat(100), { maxLength: 20 }), (ops, snaps) => {
      const mem = new Memtable();
      const entries: Entry[] = [];
      ops.forEach((op, i) => {
        const type = op.del ? ValueType.DELETE : ValueType.PUT;
        const value = Buffer.from([i]);
        mem.add(i + 1, type, op.key, value);
        entries.push({ ikey: makeInternalKey(op.key, i + 1, type), value });
      });
      entries.sort((a, b) => compareInternalKeys(a.ikey, b.ikey));
      const it = mem.iterator();
      assert.deepEqual(collectForward(it), entries.map((e) => e.ikey));
      assert.deepEqual(collectBackward(it), entries.map((e) => e.ikey).reverse());
      for (const s of snaps) {
        for (const op of ops) assert.deepEqual(mem.get(op.key, s), modelGet(entries, op.key, s));
      }
    }),
    { numRuns: 200, seed: 1234 },
  );
});

test('any arena size works: a size that is not a multiple of 8 is rounded up (writeBufferSize 22369621)', () => {
  for (const size of [22_369_621, 65_537]) {
    const m = new Memtable(size);
    m.add(1, 1, Buffer.from('k'), Buffer.from('v'));
    assert.equal(m.entries, 1);
  }
});

test('memtable: exportArena copies into a given buffer when it is large enough, else into a new one; fromArena reads either', () => {
  const m = new Memtable(1 << 16);
  for (let i = 0; i < 500; i++) m.add(i + 1, ValueType.PUT, Buffer.from(`k${String(i).padStart(5, '0')}`), Buffer.from(`v${i}`));
  const fresh = m.exportArena();
  const big = new ArrayBuffer(fresh.used + 4096);
  new Uint8Array(big).fill(0xee); // stale bytes of an earlier flush
  const reused = m.exportArena(big);
  assert.equal(reused.arena, big);
  assert.equal(reused.used, fresh.used);
  const small = new ArrayBuffer(fresh.used - 8);
  const other = m.exportArena(small);
  assert.notEqual(other.arena, small);
  for (const { arena, used } of [fresh, reused, other]) {
    const it = Memtable.fromArena(arena, used).iterator();
    let n = 0;
    for (it.seekToFirst(); it.valid(); it.next()) {
      assert.equal(userKeyOf(it.key()).toString(), `k${String(n).padStart(5, '0')}`);
      assert.equal(it.value().toString(), `v${n}`);
      n++;
    }
    it.close();
    assert.equal(n, 500);
  }
});

test('reference prefixes: order, get, seeks and an exported copy match the model for keys below, inside, above and shorter than the reference', () => {
  for (const ref of [[0x61], [0x61, 0x62], [0x00, 0x01, 0x61], [0xff], [0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61]]) {
    const rnd = new SeededRandom(ref.length * 31 + ref[0]!);
    const mem = new Memtable(0, Buffer.from(ref));
    const entries: Entry[] = [];
    const key = (): Buffer => {
      const tail = randomUserKey(rnd, 9);
      const cut = rnd.int(0, ref.length);
      // Most keys begin with the reference; the others with a part of it, or anything.
      const roll = rnd.int(0, 9);
      return roll < 6 ? Buffer.concat([Buffer.from(ref), tail]) : roll < 8 ? Buffer.concat([Buffer.from(ref.slice(0, cut)), tail]) : tail;
    };
    for (let seq = 1; seq <= 3000; seq++) {
      const uk = key();
      const type = rnd.int(0, 4) === 0 ? ValueType.DELETE : ValueType.PUT;
      const value = type === ValueType.DELETE ? Buffer.alloc(0) : Buffer.from(`v${seq}`);
      mem.add(seq, type, uk, value);
      entries.push({ ikey: makeInternalKey(uk, seq, type), value });
    }
    entries.sort((a, b) => compareInternalKeys(a.ikey, b.ikey));
    const keys = entries.map((e) => e.ikey);
    const { arena, used, ref: exportedRef } = mem.exportArena();
    for (const m of [mem, Memtable.fromArena(arena, used, exportedRef)]) {
      const it = m.iterator();
      assert.deepEqual(collectForward(it), keys, `ref ${ref}`);
      assert.deepEqual(collectBackward(it), [...keys].reverse(), `ref ${ref}`);
      for (let round = 0; round < 500; round++) {
        const target = makeInternalKey(key(), rnd.int(0, 3100), rnd.int(0, 1) as ValueType);
        const ge = keys.findIndex((k) => compareInternalKeys(k, target) >= 0);
        it.seek(target);
        if (ge < 0) assert.equal(it.valid(), false);
        else assert.deepEqual(it.key(), keys[ge]);
        const le = ge < 0 ? keys.length - 1 : compareInternalKeys(keys[ge]!, target) === 0 ? ge : ge - 1;
        it.seekForPrev(target);
        if (le < 0) assert.equal(it.valid(), false);
        else assert.deepEqual(it.key(), keys[le]);
      }
      it.close();
    }
    for (let round = 0; round < 500; round++) {
      const uk = key();
      const snap = rnd.int(0, 3100);
      assert.deepEqual(mem.get(uk, snap), modelGet(entries, uk, snap), `get ${uk.toString('hex')} at ${snap}`);
    }
    // The next memtable's reference: what every key here begins with (nothing, with keys outside it).
    assert.equal(mem.commonPrefix().length, 0);
  }
  const m = new Memtable();
  for (let i = 0; i < 100; i++) m.add(i + 1, ValueType.PUT, Buffer.from(`user:${String(i).padStart(8, '0')}`), Buffer.from('v'));
  assert.equal(m.commonPrefix().toString(), 'user:000000');
  const few = new Memtable();
  for (let i = 0; i < 10; i++) few.add(i + 1, ValueType.PUT, Buffer.from(`user:${i}`), Buffer.from('v'));
  assert.equal(few.commonPrefix().length, 0, 'too few keys to go by');
});

test('retire: the memory goes to recycle once no iterator reads the memtable; a memtable built on it holds only its own entries', () => {
  const rnd = new SeededRandom(77);
  const old = new Memtable(256 * 1024);
  fill(old, rnd, 2000, 12);
  const it1 = old.iterator();
  const it2 = old.iterator();
  it1.seekToFirst();
  const recycled: Memtable[] = [];
  old.retire((m) => recycled.push(m));
  assert.equal(recycled.length, 0, 'recycled while two iterators were open');
  it1.close();
  it1.close(); // a second close does not count twice
  assert.equal(recycled.length, 0, 'recycled while one iterator was open');
  it2.close();
  assert.deepEqual(recycled, [old]);
  assert.throws(() => old.retire(() => undefined), /retired twice/);

  const fresh = new Memtable(256 * 1024, undefined, recycled[0]);
  const model = fill(fresh, rnd, 1500, 12, 10_000);
  assert.deepEqual(collectForward(fresh.iterator()), model.map((e) => e.ikey));
  assert.deepEqual(collectBackward(fresh.iterator()), model.map((e) => e.ikey).reverse());
  for (const e of model) assert.deepEqual(fresh.get(userKeyOf(e.ikey), MAX_SEQUENCE), modelGet(model, userKeyOf(e.ikey), MAX_SEQUENCE));
  // A memory still in use is refused.
  assert.throws(() => new Memtable(256 * 1024, undefined, fresh), /still in use/);
});

test('retire: a memtable retired with no iterator open is recycled at once', () => {
  const small = new Memtable(64 * 1024);
  small.add(1, ValueType.PUT, Buffer.from('a'), Buffer.from('1'));
  let got: Memtable | undefined;
  small.retire((m) => (got = m));
  assert.equal(got, small);
  const next = new Memtable(64 * 1024, undefined, got);
  next.add(1, ValueType.PUT, Buffer.from('b'), Buffer.from('2'));
  assert.equal(next.get(Buffer.from('a'), MAX_SEQUENCE), undefined);
  assert.deepEqual(collectForward(next.iterator()), [makeInternalKey(Buffer.from('b'), 1, ValueType.PUT)]);
});
