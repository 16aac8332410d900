import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ArrayIterator } from '../../src/engine/array-iterator.js';
import type { ArrayEntry } from '../../src/engine/array-iterator.js';
import { ConcatIterator } from '../../src/engine/concat-iterator.js';
import { ValueType, compareInternalKeys, makeInternalKey } from '../../src/engine/format.js';
import type { InternalIterator } from '../../src/engine/iterator.js';
import { MergingIterator } from '../../src/engine/merging-iterator.js';
import { Memtable } from '../../src/engine/memtable.js';

// ---------------------------------------------------------------------------
// Helpers

function ik(userKey: string, seq: number, type: ValueType = ValueType.PUT): Buffer {
  return makeInternalKey(Buffer.from(userKey, 'latin1'), seq, type);
}

function entry(userKey: string, seq: number, value: string, type: ValueType = ValueType.PUT): ArrayEntry {
  return { key: ik(userKey, seq, type), value: Buffer.from(value) };
}

function sorted(entries: ArrayEntry[]): ArrayEntry[] {
  // Array.prototype.sort is stable: equal keys keep their order.
  return [...entries].sort((a, b) => compareInternalKeys(a.key, b.key));
}

function forwardValues(it: InternalIterator): string[] {
  const out: string[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) out.push(it.value().toString());
  return out;
}

function backwardValues(it: InternalIterator): string[] {
  const out: string[] = [];
  for (it.seekToLast(); it.valid(); it.prev()) out.push(it.value().toString());
  return out;
}

type Op =
  | { op: 'first' }
  | { op: 'last' }
  | { op: 'seek'; target: Buffer }
  | { op: 'seekForPrev'; target: Buffer }
  | { op: 'next' }
  | { op: 'prev' };

function describeOp(o: Op): string {
  return 'target' in o ? `${o.op}(${o.target.toString('hex')})` : o.op;
}

/**
 * Applies `ops` to `it` and to a position in `model` (the expected merged
 * sequence), checking validity, key and value after each step. next/prev
 * are skipped while invalid.
 */
function checkAgainstModel(it: InternalIterator, model: ArrayEntry[], ops: Op[]): void {
  let pos = -1;
  const trace: string[] = [];
  for (const o of ops) {
    switch (o.op) {
      case 'first':
        it.seekToFirst();
        pos = model.length > 0 ? 0 : -1;
        break;
      case 'last':
        it.seekToLast();
        pos = model.length - 1;
        break;
      case 'seek':
        it.seek(o.target);
        pos = model.findIndex((e) => compareInternalKeys(e.key, o.target) >= 0);
        break;
      case 'seekForPrev': {
        it.seekForPrev(o.target);
        pos = -1;
        for (let i = model.length - 1; i >= 0; i--) {
          if (compareInternalKeys(model[i]!.key, o.target) <= 0) {
            pos = i;
            break;
          }
        }
        break;
      }
      case 'next':
        if (pos < 0) continue;
        it.next();
        pos = pos + 1 < model.length ? pos + 1 : -1;
        break;
      case 'prev':
        if (pos < 0) continue;
        it.prev();
        pos = pos - 1;
        break;
    }
    trace.push(describeOp(o));
    const where = trace.join(' ');
    if (pos < 0) {
      assert.equal(it.valid(), false, `expected invalid after ${where}`);
    } else {
      assert.equal(it.valid(), true, `expected valid after ${where}`);
      assert.deepEqual(it.key(), model[pos]!.key, `key after ${where}`);
      assert.equal(it.value().toString(), model[pos]!.value.toString(), `value after ${where}`);
    }
  }
}

/** The expected merge: all entries ordered by (internal key, child index, position in child). */
function mergeModel(children: ArrayEntry[][]): ArrayEntry[] {
  const all: { e: ArrayEntry; child: number; pos: number }[] = [];
  children.forEach((c, child) => c.forEach((e, pos) => all.push({ e, child, pos })));
  all.sort((a, b) => compareInternalKeys(a.e.key, b.e.key) || a.child - b.child || a.pos - b.pos);
  return all.map((x) => x.e);
}

/** Extra empty children: the merge must not depend on how many there are or where. */
const HEAP_PADDING = 3;

function merging(children: ArrayEntry[][], pad: boolean): { it: MergingIterator; arrays: ArrayIterator[] } {
  // Padding puts an empty child before every real one and a few after them all
  // (relative order of the real children, hence tie order, is unchanged).
  const all: ArrayIterator[] = [];
  for (const c of children) {
    if (pad) all.push(new ArrayIterator([]));
    all.push(new ArrayIterator(c));
  }
  if (pad) for (let i = 0; i < HEAP_PADDING; i++) all.push(new ArrayIterator([]));
  return { it: new MergingIterator(all), arrays: all };
}

// Arbitraries: a tiny user-key alphabet and small sequences, so that collisions
// (equal user keys, even equal internal keys) are frequent.
const userKeyArb = fc
  .array(fc.constantFrom('a', 'b', 'c', '\x00', '\xff'), { maxLength: 2 })
  .map((cs) => cs.join(''));
const internalKeyArb = fc
  .tuple(userKeyArb, fc.nat(6), fc.constantFrom(ValueType.PUT, ValueType.DELETE))
  .map(([uk, seq, type]) => ik(uk, seq, type));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant<Op>({ op: 'first' }), weight: 1 },
  { arbitrary: fc.constant<Op>({ op: 'last' }), weight: 1 },
  { arbitrary: internalKeyArb.map((target): Op => ({ op: 'seek', target })), weight: 2 },
  { arbitrary: internalKeyArb.map((target): Op => ({ op: 'seekForPrev', target })), weight: 2 },
  { arbitrary: fc.constant<Op>({ op: 'next' }), weight: 5 },
  { arbitrary: fc.constant<Op>({ op: 'prev' }), weight: 5 },
);

// ---------------------------------------------------------------------------
// MergingIterator

test('merging: property — matches a sorted model (with and without extra empty children)', () => {
  const childArb = fc.array(internalKeyArb, { maxLength: 10 });
  fc.assert(
    fc.property(fc.array(childArb, { maxLength: 12 }), fc.array(opArb, { maxLength: 40 }), (rawChildren, ops) => {
      // Each child: sorted, with values naming (child, position) so ties are checked exactly.
      const children = rawChildren.map((keys, c) =>
        [...keys]
          .sort(compareInternalKeys)
          .map((key, p): ArrayEntry => ({ key, value: Buffer.from(`${c}:${p}`) })),
      );
      const model = mergeModel(children);
      for (const pad of [false, true]) {
        const { it, arrays } = merging(children, pad);
        checkAgainstModel(it, model, ops);
        // Full scans both ways, after whatever state the ops left.
        assert.deepEqual(forwardValues(it), model.map((e) => e.value.toString()));
        assert.deepEqual(backwardValues(it), model.map((e) => e.value.toString()).reverse());
        it.close();
        for (const a of arrays) assert.equal(a.closed, true);
      }
    }),
    { numRuns: 1500, seed: 20240601 },
  );
});

test('merging: no children', () => {
  const it = new MergingIterator([]);
  assert.equal(it.valid(), false);
  it.seekToFirst();
  assert.equal(it.valid(), false);
  it.seekToLast();
  assert.equal(it.valid(), false);
  it.seek(ik('a', 1));
  assert.equal(it.valid(), false);
  it.seekForPrev(ik('a', 1));
  assert.equal(it.valid(), false);
  assert.throws(() => it.next(), /assertion/);
  assert.throws(() => it.prev(), /assertion/);
  assert.throws(() => it.key(), /assertion/);
  it.close();
  it.close();
});

test('merging: empty children are ignored', () => {
  for (const pad of [false, true]) {
    const { it } = merging([[], [entry('b', 1, 'b1')], [], [entry('a', 2, 'a2'), entry('c', 3, 'c3')], []], pad);
    assert.deepEqual(forwardValues(it), ['a2', 'b1', 'c3']);
    assert.deepEqual(backwardValues(it), ['c3', 'b1', 'a2']);
    const { it: allEmpty } = merging([[], [], []], pad);
    allEmpty.seekToFirst();
    assert.equal(allEmpty.valid(), false);
    allEmpty.seekToLast();
    assert.equal(allEmpty.valid(), false);
  }
});

test('merging: all equal user keys with different seqs across children', () => {
  const children = [
    [entry('k', 9, 's9'), entry('k', 4, 's4'), entry('k', 1, 's1')],
    [entry('k', 8, 's8'), entry('k', 5, 's5', ValueType.DELETE)],
    [entry('k', 7, 's7'), entry('k', 6, 's6'), entry('k', 3, 's3'), entry('k', 2, 's2')],
  ];
  for (const pad of [false, true]) {
    const { it } = merging(children, pad);
    assert.deepEqual(forwardValues(it), ['s9', 's8', 's7', 's6', 's5', 's4', 's3', 's2', 's1']);
    assert.deepEqual(backwardValues(it), ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9']);
    it.seek(ik('k', 6));
    assert.equal(it.value().toString(), 's6');
    it.seekForPrev(ik('k', 6));
    assert.equal(it.value().toString(), 's6');
    it.seek(ik('k', 100));
    assert.equal(it.value().toString(), 's9');
    it.seekForPrev(ik('k', 0, ValueType.DELETE));
    assert.equal(it.value().toString(), 's1');
    it.seek(ik('k', 0, ValueType.DELETE));
    assert.equal(it.valid(), false);
    it.seekForPrev(ik('k', 10));
    assert.equal(it.valid(), false);
  }
});

test('merging: identical internal keys are ordered by child index', () => {
  const children = [
    [entry('a', 1, 'c0a'), entry('b', 1, 'c0b')],
    [entry('a', 1, 'c1a'), entry('b', 1, 'c1b')],
    [entry('a', 1, 'c2a')],
  ];
  for (const pad of [false, true]) {
    const { it } = merging(children, pad);
    assert.deepEqual(forwardValues(it), ['c0a', 'c1a', 'c2a', 'c0b', 'c1b']);
    assert.deepEqual(backwardValues(it), ['c1b', 'c0b', 'c2a', 'c1a', 'c0a']);
    // Direction switches in the middle of a run of ties.
    it.seekToFirst();
    it.next(); // c1a
    assert.equal(it.value().toString(), 'c1a');
    it.prev();
    assert.equal(it.value().toString(), 'c0a');
    it.next();
    assert.equal(it.value().toString(), 'c1a');
    it.next();
    assert.equal(it.value().toString(), 'c2a');
    it.prev();
    assert.equal(it.value().toString(), 'c1a');
    it.prev();
    assert.equal(it.value().toString(), 'c0a');
    it.prev();
    assert.equal(it.valid(), false);
  }
});

test('merging: seekForPrev past the end and seek before the start', () => {
  const children = [[entry('b', 2, 'b2'), entry('d', 4, 'd4')], [entry('c', 3, 'c3')]];
  for (const pad of [false, true]) {
    const { it } = merging(children, pad);
    it.seekForPrev(ik('zzz', 1));
    assert.equal(it.value().toString(), 'd4');
    it.prev();
    assert.equal(it.value().toString(), 'c3');
    it.seek(ik('zzz', 1));
    assert.equal(it.valid(), false);
    it.seekForPrev(ik('a', 1));
    assert.equal(it.valid(), false);
    it.seek(ik('a', 1));
    assert.equal(it.value().toString(), 'b2');
    it.next();
    it.next();
    assert.equal(it.value().toString(), 'd4');
    it.next();
    assert.equal(it.valid(), false);
  }
});

test('merging: switching direction repeatedly', () => {
  const children = [
    [entry('a', 1, 'a'), entry('d', 1, 'd'), entry('g', 1, 'g')],
    [entry('b', 1, 'b'), entry('e', 1, 'e'), entry('h', 1, 'h')],
    [entry('c', 1, 'c'), entry('f', 1, 'f'), entry('i', 1, 'i')],
  ];
  for (const pad of [false, true]) {
    const { it } = merging(children, pad);
    it.seek(ik('e', 1));
    for (let i = 0; i < 10; i++) {
      it.next();
      assert.equal(it.value().toString(), 'f');
      it.prev();
      assert.equal(it.value().toString(), 'e');
      it.prev();
      assert.equal(it.value().toString(), 'd');
      it.next();
      assert.equal(it.value().toString(), 'e');
    }
    // Walk to the end, back to the start, and off both ends.
    const path: string[] = [];
    while (it.valid()) {
      path.push(it.value().toString());
      it.next();
    }
    it.seekToLast();
    while (it.valid()) {
      path.push(it.value().toString());
      it.prev();
    }
    assert.equal(path.join(''), 'efghi' + 'ihgfedcba');
  }
});

test('merging: over memtables and a concat iterator', () => {
  const m1 = new Memtable();
  const m2 = new Memtable();
  const expected: ArrayEntry[] = [];
  let seq = 1;
  for (let i = 0; i < 200; i++) {
    const uk = Buffer.from(`k${String(i % 50).padStart(3, '0')}`);
    const m = i % 3 === 0 ? m1 : m2;
    const v = Buffer.from(`v${seq}`);
    m.add(seq, ValueType.PUT, uk, v);
    expected.push({ key: makeInternalKey(uk, seq, ValueType.PUT), value: v });
    seq++;
  }
  // Two non-overlapping "files" for a level below.
  const f1 = sorted([entry('a1', 1000, 'f1a'), entry('a2', 1001, 'f1b')]);
  const f2 = sorted([entry('z1', 1002, 'f2a')]);
  const files = [
    { smallest: f1[0]!.key, largest: f1[1]!.key },
    { smallest: f2[0]!.key, largest: f2[0]!.key },
  ];
  const level = new ConcatIterator(files, (i) => new ArrayIterator(i === 0 ? f1 : f2));
  expected.push(...f1, ...f2);
  const model = sorted(expected);
  const it = new MergingIterator([m1.iterator(), m2.iterator(), level]);
  assert.deepEqual(forwardValues(it), model.map((e) => e.value.toString()));
  assert.deepEqual(backwardValues(it), model.map((e) => e.value.toString()).reverse());
  it.close();
});

// ---------------------------------------------------------------------------
// ConcatIterator

interface Level {
  files: { smallest: Buffer; largest: Buffer }[];
  contents: ArrayEntry[][];
  model: ArrayEntry[];
}

/**
 * Splits sorted distinct keys into consecutive files. A file marked empty keeps
 * its bounds but its iterator yields nothing.
 */
function buildLevel(keys: Buffer[], cuts: boolean[], empties: boolean[]): Level {
  const files: Level['files'] = [];
  const contents: ArrayEntry[][] = [];
  const model: ArrayEntry[] = [];
  let chunk: Buffer[] = [];
  const flush = (): void => {
    if (chunk.length === 0) return;
    const i = files.length;
    const empty = empties[i % Math.max(1, empties.length)] ?? false;
    files.push({ smallest: chunk[0]!, largest: chunk[chunk.length - 1]! });
    const entries = empty ? [] : chunk.map((key, j): ArrayEntry => ({ key, value: Buffer.from(`f${i}:${j}`) }));
    contents.push(entries);
    model.push(...entries);
    chunk = [];
  };
  keys.forEach((k, i) => {
    chunk.push(k);
    if (cuts[i % Math.max(1, cuts.length)] ?? false) flush();
  });
  flush();
  return { files, contents, model };
}

/** A concat iterator that records how many file iterators are open. */
function tracked(level: Level): { it: ConcatIterator; openNow: () => number; opened: () => number } {
  const live = new Set<ArrayIterator>();
  let opened = 0;
  const it = new ConcatIterator(level.files, (i) => {
    for (const a of [...live]) if (a.closed) live.delete(a);
    const a = new ArrayIterator(level.contents[i]!);
    live.add(a);
    opened++;
    assert.equal(live.size, 1, 'previous file iterator closed before opening the next');
    return a;
  });
  return {
    it,
    openNow: () => [...live].filter((a) => !a.closed).length,
    opened: () => opened,
  };
}

function distinctSortedKeys(keys: Buffer[]): Buffer[] {
  const s = [...keys].sort(compareInternalKeys);
  return s.filter((k, i) => i === 0 || compareInternalKeys(s[i - 1]!, k) !== 0);
}

test('concat: property — matches a sorted model, with empty files', () => {
  fc.assert(
    fc.property(
      fc.array(internalKeyArb, { maxLength: 30 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
      fc.array(opArb, { maxLength: 40 }),
      (rawKeys, cuts, empties, ops) => {
        const level = buildLevel(distinctSortedKeys(rawKeys), cuts, empties);
        const { it, openNow } = tracked(level);
        checkAgainstModel(it, level.model, ops);
        assert.ok(openNow() <= 1);
        assert.deepEqual(forwardValues(it), level.model.map((e) => e.value.toString()));
        assert.deepEqual(backwardValues(it), level.model.map((e) => e.value.toString()).reverse());
        it.close();
        assert.equal(openNow(), 0);
        // Also inside a merging iterator, next to a second level.
        const other = buildLevel(distinctSortedKeys(rawKeys.map((k) => Buffer.concat([k.subarray(0, k.length - 8), Buffer.from('x'), k.subarray(k.length - 8)]))), cuts, empties);
        const merged = new MergingIterator([tracked(level).it, tracked(other).it]);
        checkAgainstModel(merged, mergeModel([level.model, other.model]), ops);
        merged.close();
      },
    ),
    { numRuns: 1500, seed: 777 },
  );
});

test('concat: no files and only empty files', () => {
  const none = new ConcatIterator([], () => assert.fail('must not open'));
  none.seekToFirst();
  assert.equal(none.valid(), false);
  none.seekToLast();
  assert.equal(none.valid(), false);
  none.seek(ik('a', 1));
  assert.equal(none.valid(), false);
  none.seekForPrev(ik('a', 1));
  assert.equal(none.valid(), false);
  none.close();

  const level = buildLevel([ik('a', 1), ik('b', 1), ik('c', 1)], [true], [true]);
  assert.equal(level.files.length, 3);
  const { it, openNow, opened } = tracked(level);
  it.seekToFirst();
  assert.equal(it.valid(), false);
  assert.equal(opened(), 3);
  assert.equal(openNow(), 0);
  it.seekToLast();
  assert.equal(it.valid(), false);
  it.seek(ik('b', 1));
  assert.equal(it.valid(), false);
  it.seekForPrev(ik('b', 1));
  assert.equal(it.valid(), false);
  assert.equal(openNow(), 0);
});

test('concat: opens lazily and skips empty files both ways', () => {
  const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((k) => ik(k, 1));
  // Files: [a b] [c d]=empty [e f] [g h]
  const level = buildLevel(keys, [false, true], [false, true, false, false]);
  assert.equal(level.files.length, 4);
  const { it, opened, openNow } = tracked(level);
  it.seek(ik('f', 1));
  assert.equal(opened(), 1, 'one file opened for a seek');
  assert.equal(it.value().toString(), 'f2:1');
  it.prev();
  assert.equal(it.value().toString(), 'f2:0');
  it.prev(); // skips the empty file
  assert.equal(it.value().toString(), 'f0:1');
  it.next();
  assert.equal(it.value().toString(), 'f2:0');
  // seek into the empty file lands on the next non-empty one; seekForPrev on the previous.
  it.seek(ik('c', 1));
  assert.equal(it.value().toString(), 'f2:0');
  it.seekForPrev(ik('d', 1));
  assert.equal(it.value().toString(), 'f0:1');
  // Between files: (b,0) sorts after (b,1) and before c.
  it.seek(ik('b', 0));
  assert.equal(it.value().toString(), 'f2:0');
  it.seekForPrev(ik('zz', 1));
  assert.equal(it.value().toString(), 'f3:1');
  it.next();
  assert.equal(it.valid(), false);
  assert.equal(openNow(), 0, 'file closed once the level is exhausted');
  it.seekForPrev(ik('a', 2));
  assert.equal(it.valid(), false);
  it.seekToFirst();
  assert.equal(openNow(), 1);
  it.close();
  assert.equal(openNow(), 0);
  it.close();
});
