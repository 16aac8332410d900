import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeededRandom } from '../../src/base/index.js';
import { checkLinearizable, describeViolation, type CheckResult, type HistoryOp } from '../../src/sim/index.js';

// ---------------------------------------------------------------------------
// Builders. `ret: undefined` makes the op pending (outcome unknown).

function write(id: number, call: number, ret: number | undefined, value: string, key = 'x'): HistoryOp {
  return { id, client: `c${id}`, key, kind: 'write', value, call, ret };
}

function read(id: number, call: number, ret: number | undefined, output: string | undefined, key = 'x'): HistoryOp {
  return { id, client: `c${id}`, key, kind: 'read', call, ret, output };
}

function cas(
  id: number,
  call: number,
  ret: number | undefined,
  expected: string | undefined,
  value: string,
  output: boolean | undefined,
  key = 'x',
): HistoryOp {
  return { id, client: `c${id}`, key, kind: 'cas', expected, value, call, ret, output };
}

function assertOk(history: HistoryOp[], initial?: ReadonlyMap<string, string>): CheckResult {
  const result = checkLinearizable(history, { initial });
  assert.equal(result.ok, true, `expected linearizable:\n${JSON.stringify(result)}`);
  assert.deepEqual(result.violations, []);
  assert.ok(result.keys.every((k) => k.result === 'ok' && k.deepest === undefined));
  return result;
}

function assertViolation(history: HistoryOp[], initial?: ReadonlyMap<string, string>): CheckResult {
  const result = checkLinearizable(history, { initial });
  assert.equal(result.ok, false, 'expected a violation');
  assert.equal(result.violations.length, 1);
  assert.equal(result.violations[0]!.result, 'violation');
  assert.ok(Array.isArray(result.violations[0]!.deepest));
  return result;
}

// ---------------------------------------------------------------------------
// 1. Hand-written cases

test('a sequential history is linearizable; a wrong sequential read is not', () => {
  const history = [write(1, 0, 1, 'a'), read(2, 2, 3, 'a'), write(3, 4, 5, 'b'), read(4, 6, 7, 'b')];
  const result = assertOk(history);
  assert.equal(result.keys.length, 1);
  assert.equal(result.keys[0]!.key, 'x');
  assert.equal(result.keys[0]!.ops, 4);
  assert.ok(result.keys[0]!.steps > 0);
  assert.equal(result.totalOps, 4);
  assert.equal(result.longestKeyHistory, 4);
  assertViolation([write(1, 0, 1, 'a'), read(2, 2, 3, 'b')]);
  assertViolation([read(1, 0, 1, 'a')]); // reads a value never written
});

test('a read concurrent with a write may see either value', () => {
  assertOk([write(1, 0, 10, 'a'), read(2, 2, 5, undefined)]);
  assertOk([write(1, 0, 10, 'a'), read(2, 2, 5, 'a')]);
  // The read can also start before the write.
  assertOk([read(2, 0, 5, 'a'), write(1, 3, 10, 'a')]);
});

test('a stale read after a completed write is a violation', () => {
  const result = assertViolation([write(1, 0, 1, 'a'), write(2, 2, 3, 'b'), read(3, 4, 5, 'a')]);
  assert.deepEqual(result.violations[0]!.deepest, [1, 2]);
  // Absent after a completed write is stale too.
  assertViolation([write(1, 0, 1, 'a'), read(2, 2, 3, undefined)]);
});

test('a read of a value never written is a violation', () => {
  const result = assertViolation([write(1, 0, 10, 'a'), read(2, 1, 11, 'z')]);
  assert.deepEqual(result.violations[0]!.deepest, [1]);
});

test('reads seeing the new value and then the old one are a violation', () => {
  // Both reads overlap the second write, but read 3 strictly follows read 2.
  assertViolation([write(1, 0, 1, 'a'), write(2, 2, 20, 'b'), read(3, 3, 5, 'b'), read(4, 6, 8, 'a')]);
  // Old then new is fine.
  assertOk([write(1, 0, 1, 'a'), write(2, 2, 20, 'b'), read(3, 3, 5, 'a'), read(4, 6, 8, 'b')]);
  // Overlapping reads may be linearized in either order.
  assertOk([write(1, 0, 1, 'a'), write(2, 2, 20, 'b'), read(3, 3, 7, 'b'), read(4, 6, 8, 'a')]);
});

test('a return at the very time of a call orders the two ops', () => {
  // The write returns at 5 when the read is called: the read must see it.
  assertViolation([write(1, 0, 5, 'a'), read(2, 5, 6, undefined)]);
  assertOk([write(1, 0, 5, 'a'), read(2, 4, 6, undefined)]);
  assertViolation([write(1, 0, 3, 'a'), read(2, 3, 3, undefined)]); // zero-duration read
  // Two zero-duration ops at the same instant are concurrent.
  assertOk([write(1, 3, 3, 'a'), read(2, 3, 3, undefined)]);
  assertOk([write(1, 3, 3, 'a'), read(2, 3, 3, 'a')]);
});

test('compare-and-set successes and failures', () => {
  // Success, then the new value is visible.
  assertOk([write(1, 0, 1, 'a'), cas(2, 2, 3, 'a', 'b', true), read(3, 4, 5, 'b')]);
  // Failure on mismatch, with no effect.
  assertOk([write(1, 0, 1, 'a'), cas(2, 2, 3, 'z', 'b', false), read(3, 4, 5, 'a')]);
  // An absent key matches expected = undefined.
  assertOk([cas(1, 0, 1, undefined, 'a', true), read(2, 2, 3, 'a')]);
  assertViolation([write(1, 0, 1, 'a'), cas(2, 2, 3, undefined, 'b', true)]);
  // Reported failure although the expected value was there.
  assertViolation([write(1, 0, 1, 'a'), cas(2, 2, 3, 'a', 'b', false)]);
  // Reported success although the expected value was not there.
  assertViolation([write(1, 0, 1, 'a'), cas(2, 2, 3, 'z', 'b', true)]);
  // A failed cas must not take effect.
  assertViolation([write(1, 0, 1, 'a'), cas(2, 2, 3, 'z', 'b', false), read(3, 4, 5, 'b')]);
  // A successful cas must take effect.
  assertViolation([write(1, 0, 1, 'a'), cas(2, 2, 3, 'a', 'b', true), read(3, 4, 5, 'a')]);
  // Two concurrent cas from the same value: exactly one may win.
  assertOk([write(1, 0, 1, 'a'), cas(2, 2, 6, 'a', 'b', true), cas(3, 2, 6, 'a', 'c', false), read(4, 7, 8, 'b')]);
  assertViolation([write(1, 0, 1, 'a'), cas(2, 2, 6, 'a', 'b', true), cas(3, 2, 6, 'a', 'c', true)]);
  // ...unless they chain: a -> b -> c.
  assertOk([write(1, 0, 1, 'a'), cas(2, 2, 6, 'a', 'b', true), cas(3, 2, 6, 'b', 'c', true), read(4, 7, 8, 'c')]);
});

test('pending ops may take effect at any time after their call, or never', () => {
  // A pending write observed later.
  assertOk([write(1, 0, undefined, 'a'), read(2, 5, 6, 'a')]);
  // ...but not before it was called.
  assertViolation([read(2, 0, 1, 'a'), write(1, 5, undefined, 'a')]);
  // A pending write observed, then un-observed.
  assertViolation([write(1, 0, 1, 'a'), write(2, 2, undefined, 'b'), read(3, 3, 4, 'b'), read(4, 5, 6, 'a')]);
  // A pending write never observed.
  assertOk([write(1, 0, 1, 'a'), write(2, 2, undefined, 'b'), read(3, 3, 4, 'a'), read(4, 5, 6, 'a')]);
  assertOk([write(2, 0, undefined, 'b'), read(3, 3, 4, undefined), read(4, 5, 6, undefined)]);
  // A pending cas that took effect, and one that cannot have (expected value never there).
  assertOk([write(1, 0, 1, 'a'), cas(2, 2, undefined, 'a', 'b', undefined), read(3, 10, 11, 'b')]);
  assertViolation([write(1, 0, 1, 'a'), cas(2, 2, undefined, 'z', 'b', undefined), read(3, 10, 11, 'b')]);
  // A pending read's output is ignored.
  assertOk([write(1, 0, 1, 'a'), read(2, 2, undefined, 'nonsense')]);
  // A history of only pending ops is trivially linearizable.
  assertOk([write(1, 0, undefined, 'a'), cas(2, 1, undefined, 'q', 'r', undefined)]);
});

test('a pending op used on one path is still available on another', () => {
  // The search first reaches {1, 2, 4} with state "z" by using pending write 3
  // to make cas 2 fail; read 5 then needs 3 again. The same configuration is
  // reachable without 3 (cas 2 first, on the absent key), leaving 3 for read
  // 5: the memo must not let the first visit, which used more pending ops,
  // stand in for the second.
  assertOk([
    write(1, 0, 10, 'a'),
    cas(2, 1, 10, 'a', 'q', false),
    write(3, 0, undefined, 'x'),
    write(4, 11, 12, 'z'),
    read(5, 13, 14, 'x'),
  ]);
});

test('keys are checked independently and only the violating key is reported', () => {
  const history = [
    write(1, 0, 1, 'a', 'x'),
    read(2, 2, 3, 'a', 'x'),
    write(3, 0, 1, 'a', 'y'),
    read(4, 2, 3, 'b', 'y'),
    read(5, 0, 1, undefined, 'z'),
    write(6, 4, 5, 'q', 'z'),
  ];
  const result = checkLinearizable(history);
  assert.equal(result.ok, false);
  assert.deepEqual(
    result.keys.map((k) => [k.key, k.result, k.ops]),
    [
      ['x', 'ok', 2],
      ['y', 'violation', 2],
      ['z', 'ok', 2],
    ],
  );
  assert.deepEqual(result.violations.map((k) => k.key), ['y']);
  assert.deepEqual(result.violations[0]!.deepest, [3]);
  assert.deepEqual(result.unknown, []);
  assert.equal(result.totalOps, 6);
  assert.equal(result.longestKeyHistory, 2);
  // A value written on one key is not visible on another.
  assertViolation([write(1, 0, 1, 'a', 'x'), read(2, 2, 3, 'a', 'y')]);
});

test('initial values', () => {
  const initial = new Map([['x', 'a']]);
  assertOk([read(1, 0, 1, 'a')], initial);
  assertViolation([read(1, 0, 1, 'a')]);
  assertViolation([read(1, 0, 1, undefined)], initial);
  assertOk([cas(1, 0, 1, 'a', 'b', true), read(2, 2, 3, 'b')], initial);
  assertViolation([cas(1, 0, 1, undefined, 'b', true)], initial);
  // Other keys still start absent.
  assertOk([read(1, 0, 1, undefined, 'y')], initial);
});

test('an exhausted step budget yields unknown, not ok', () => {
  const history = [write(1, 0, 10, 'a'), write(2, 0, 10, 'b'), read(3, 11, 12, 'a'), read(4, 0, 1, 'x', 'other')];
  assertOk(history.slice(0, 3));
  const result = checkLinearizable(history, { maxStepsPerKey: 2 });
  assert.equal(result.ok, false);
  assert.deepEqual(result.unknown.map((k) => k.key), ['x']);
  assert.equal(result.unknown[0]!.steps, 2);
  assert.deepEqual(result.violations.map((k) => k.key), ['other']);
});

test('malformed histories are rejected', () => {
  assert.throws(() => checkLinearizable([write(1, 0, 1, 'a'), read(1, 2, 3, 'a')]), /duplicate op id 1/);
  assert.throws(() => checkLinearizable([write(1, 5, 4, 'a')]), /ret/);
  assert.throws(() => checkLinearizable([cas(1, 0, 1, 'a', 'b', undefined)]), /boolean/);
});

// ---------------------------------------------------------------------------
// 2. Cross-check against brute force on small random histories

/** Reference model, written independently of the checker's. */
function referenceStep(op: HistoryOp, state: string | undefined): { state: string | undefined } | null {
  const known = op.ret !== undefined;
  if (op.kind === 'read') return !known || op.output === state ? { state } : null;
  if (op.kind === 'write') return { state: op.value };
  const matches = state === op.expected;
  if (known && op.output !== matches) return null;
  return { state: matches ? op.value : state };
}

/** Real-time order: a's response arrived no later than b's call (two instants at the same time are concurrent). */
function precedes(a: HistoryOp, b: HistoryOp): boolean {
  if (a.ret === undefined) return false;
  if (a.ret < b.call) return true;
  return a.ret === b.call && !(a.call === a.ret && b.call === b.ret);
}

/** Some order of `ops` respects real time and the model? (Tries every order.) */
function someValidOrder(ops: readonly HistoryOp[], state: string | undefined): boolean {
  if (ops.length === 0) return true;
  return ops.some((op) => {
    if (ops.some((other) => other !== op && precedes(other, op))) return false;
    const next = referenceStep(op, state);
    return next !== null && someValidOrder(ops.filter((other) => other !== op), next.state);
  });
}

/** Linearizable iff for some subset of the pending ops, all completed ops plus that subset have a valid order. */
function bruteForceLinearizable(history: readonly HistoryOp[], initial: string | undefined): boolean {
  const pending = history.filter((op) => op.ret === undefined);
  const completed = history.filter((op) => op.ret !== undefined);
  for (let mask = 0; mask < 1 << pending.length; mask++) {
    const chosen = pending.filter((_, i) => (mask & (1 << i)) !== 0);
    if (someValidOrder([...completed, ...chosen], initial)) return true;
  }
  return false;
}

test('agrees with a brute-force search on small random histories', () => {
  const value = fc.constantFrom('a', 'b');
  const maybeValue = fc.constantFrom<string | undefined>(undefined, 'a', 'b');
  const opArb = fc.record({
    kind: fc.constantFrom<HistoryOp['kind']>('read', 'write', 'cas'),
    value,
    expected: maybeValue,
    readOutput: maybeValue,
    casOutput: fc.boolean(),
    call: fc.integer({ min: 0, max: 8 }),
    duration: fc.integer({ min: 0, max: 5 }),
    pending: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  });
  const historyArb = fc.record({
    ops: fc.array(opArb, { minLength: 1, maxLength: 7 }),
    initial: fc.constantFrom<string | undefined>(undefined, undefined, 'a'),
  });
  let linearizable = 0;
  let violations = 0;
  let withPending = 0;
  fc.assert(
    fc.property(historyArb, ({ ops, initial }) => {
      const history: HistoryOp[] = ops.map((o, i) => ({
        id: 100 - i * 7, // ids unrelated to position
        client: `c${i}`,
        key: 'k',
        kind: o.kind,
        value: o.kind === 'read' ? undefined : o.value,
        expected: o.kind === 'cas' ? o.expected : undefined,
        call: o.call,
        ret: o.pending ? undefined : o.call + o.duration,
        output: o.kind === 'read' ? o.readOutput : o.kind === 'cas' ? o.casOutput : undefined,
      }));
      const expected = bruteForceLinearizable(history, initial);
      const result = checkLinearizable(history, {
        initial: initial === undefined ? undefined : new Map([['k', initial]]),
      });
      assert.equal(result.ok, expected);
      assert.equal(result.keys[0]!.result, expected ? 'ok' : 'violation');
      if (expected) linearizable++;
      else violations++;
      if (history.some((op) => op.ret === undefined)) withPending++;
    }),
    { seed: 42, numRuns: 2000 },
  );
  // Both outcomes must be well represented for the cross-check to mean anything.
  assert.ok(linearizable >= 200, `only ${linearizable} linearizable cases`);
  assert.ok(violations >= 200, `only ${violations} violations`);
  assert.ok(withPending >= 200, `only ${withPending} histories with pending ops`);
});

test('agrees with a brute-force search on mutated generated histories', () => {
  // Histories linearizable by construction (few values, many pending ops),
  // most with one output or value changed: denser in the interleavings that
  // exercise the search's pending-op pruning than fully random ones.
  const rng = new SeededRandom(2024);
  const values = [undefined, 'v1', 'v2', 'v3'];
  let linearizable = 0;
  let violations = 0;
  for (let run = 0; run < 1500; run++) {
    const history = generateHistory(run, rng.int(6, 10), rng.int(2, 4), 0.2 + rng.float() * 0.3, rng.int(2, 3));
    assert.equal(checkLinearizable(history).ok, true, `run ${run} as generated`);
    if (rng.int(0, 2) > 0) {
      const op = history[rng.int(0, history.length - 1)]!;
      if (op.kind === 'read') op.output = values[rng.int(0, values.length - 1)];
      else if (op.kind === 'write') op.value = values[rng.int(1, values.length - 1)];
      else if (rng.float() < 0.5) op.output = op.output === false;
      else op.expected = values[rng.int(0, values.length - 1)];
    }
    const expected = bruteForceLinearizable(history, undefined);
    assert.equal(checkLinearizable(history).ok, expected, `run ${run}: ${JSON.stringify(history)}`);
    if (expected) linearizable++;
    else violations++;
  }
  assert.ok(linearizable >= 200, `only ${linearizable} linearizable cases`);
  assert.ok(violations >= 200, `only ${violations} violations`);
});

// ---------------------------------------------------------------------------
// 3. Larger histories, linearizable by construction

interface GeneratedOp {
  op: HistoryOp;
  /** When the op took effect on the register; undefined = never (pending only). */
  at: number | undefined;
}

/**
 * Simulates `clients` sequential clients against an atomic register: every op
 * gets an interval and an effect point inside it (pending ops: anywhere after
 * the call, or never), and outputs are computed by applying ops in effect
 * order. The result is linearizable by construction. Written values are
 * unique unless `distinctValues` is given, in which case they are drawn from
 * that many values (duplicates make the search harder).
 */
function generateHistory(
  seed: number,
  opCount: number,
  clients: number,
  pendingRate: number,
  distinctValues?: number,
): HistoryOp[] {
  const rng = new SeededRandom(seed);
  const cursors = new Array<number>(clients).fill(0);
  const generated: GeneratedOp[] = [];
  for (let id = 0; id < opCount; id++) {
    const c = rng.int(0, clients - 1);
    const call = cursors[c]! + rng.int(0, 3);
    const duration = rng.int(1, 20);
    const pending = rng.float() < pendingRate;
    cursors[c] = call + duration; // a pending op times out after `duration`
    const roll = rng.float();
    const kind = roll < 0.4 ? 'read' : roll < 0.7 ? 'write' : 'cas';
    const op: HistoryOp = { id, client: `c${c}`, key: 'k', kind, call, ret: pending ? undefined : call + duration };
    if (kind !== 'read') op.value = distinctValues === undefined ? `v${id}` : `v${rng.int(1, distinctValues)}`;
    let at: number | undefined = call + (rng.int(1, 99) / 100) * duration;
    if (pending) at = rng.float() < 0.5 ? undefined : call + rng.float() * 3 * duration;
    generated.push({ op, at });
  }
  // Apply the ops in effect order. A cas usually expects the current value
  // (so that many succeed), otherwise an older one or absent.
  let state: string | undefined;
  const seen: string[] = [];
  const effective = generated.filter((g) => g.at !== undefined).sort((a, b) => a.at! - b.at! || a.op.id - b.op.id);
  for (const { op } of effective) {
    if (op.kind === 'read') op.output = state;
    else if (op.kind === 'write') state = op.value;
    else {
      op.expected = rng.float() < 0.6 || seen.length === 0 ? state : seen[rng.int(0, seen.length - 1)];
      op.output = state === op.expected;
      if (op.output) state = op.value;
    }
    if (state !== undefined) seen.push(state);
  }
  for (const { op, at } of generated) {
    if (op.kind === 'cas' && at === undefined) op.expected = seen[rng.int(0, seen.length - 1)];
  }
  return generated.map((g) => g.op);
}

test('a 300-op history with cas and pending ops, linearizable by construction', (t) => {
  const history = generateHistory(7, 300, 10, 0.1);
  const pending = history.filter((op) => op.ret === undefined).length;
  const casOk = history.filter((op) => op.kind === 'cas' && op.output === true && op.ret !== undefined).length;
  assert.ok(pending >= 15 && pending <= 50, `pending ops: ${pending}`);
  assert.ok(casOk >= 10, `successful cas: ${casOk}`);

  const started = process.hrtime.bigint();
  const result = checkLinearizable(history);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const steps = result.keys[0]!.steps;
  t.diagnostic(`300 ops (${pending} pending, ${casOk} successful cas): ${steps} steps, ${ms.toFixed(1)} ms`);
  assert.equal(result.ok, true);
  assert.equal(result.longestKeyHistory, 300);
  // The search stays near-linear: far below the default budget.
  assert.ok(steps < 1_000_000, `${steps} steps`);

  // Corrupt one completed read (in the middle) to a value never written.
  const reads = history.filter((op) => op.kind === 'read' && op.ret !== undefined);
  const victim = reads[Math.floor(reads.length / 2)]!;
  const corrupted = history.map((op) => (op === victim ? { ...op, output: 'never-written' } : op));
  const badStarted = process.hrtime.bigint();
  const bad = checkLinearizable(corrupted);
  const badMs = Number(process.hrtime.bigint() - badStarted) / 1e6;
  t.diagnostic(`corrupted read #${victim.id}: ${bad.keys[0]!.steps} steps, ${badMs.toFixed(1)} ms`);
  assert.equal(bad.ok, false);
  assert.equal(bad.violations.length, 1);
  assert.ok(!bad.violations[0]!.deepest!.includes(victim.id));
});

test('other seeds stay linearizable, and break when an observed write is dropped', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const history = generateHistory(seed, 200, 8, 0.1);
    const result = checkLinearizable(history);
    assert.equal(result.ok, true, `seed ${seed}`);
    // Dropping a completed write that was read breaks it.
    const readValues = new Set(history.filter((op) => op.kind === 'read' && op.ret !== undefined).map((op) => op.output));
    const target = history.find((op) => op.kind === 'write' && readValues.has(op.value));
    assert.ok(target !== undefined);
    assert.equal(checkLinearizable(history.filter((op) => op !== target)).ok, false, `seed ${seed}`);
  }
});

test('low-cardinality values (harder search) stay linearizable', (t) => {
  for (const seed of [11, 12, 13]) {
    const history = generateHistory(seed, 300, 10, 0.1, 3);
    const result = checkLinearizable(history);
    t.diagnostic(`seed ${seed}, 300 ops over 3 values: ${result.keys[0]!.steps} steps`);
    assert.equal(result.ok, true, `seed ${seed}`);
  }
});

// ---------------------------------------------------------------------------
// 4. describeViolation

test('describeViolation explains the violation with the key and op ids', () => {
  const history = [
    write(11, 0, 1, 'a', 'acct'),
    write(12, 2, 3, 'b', 'acct'),
    read(13, 4, 5, 'a', 'acct'),
    write(14, 6, undefined, 'c', 'acct'),
    read(15, 0, 1, undefined, 'other'),
  ];
  const text = describeViolation(history, 'acct');
  assert.match(text, /"acct"/);
  assert.match(text, /NOT linearizable/);
  for (const id of [11, 12, 13, 14]) assert.match(text, new RegExp(`#${id}\\b`));
  assert.doesNotMatch(text, /#15\b/);
  assert.match(text, /deepest partial linearization \(2 ops, 2 of 3 completed\)/);
  assert.match(text, /could not be linearized[^\n]*\n\s+#13 /);

  assert.match(describeViolation(history, 'other'), /"other".*no violation/);
  const initial = new Map([['acct', 'a']]);
  assert.match(describeViolation([read(1, 0, 1, 'a', 'acct')], 'acct', { initial }), /no violation/);
});
