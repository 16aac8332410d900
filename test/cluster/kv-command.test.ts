// The cluster's key-value command codec: every write, read and outcome
// round-trips exactly; every truncation and corruption is CORRUPTION.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ERROR_CODES, isStrataError } from '../../src/base/index.js';
import type { KvBatchOp, KvMutation, KvSetOptions } from '../../src/base/index.js';
import {
  decodeKvCommand,
  decodeKvRead,
  decodeReadOutcome,
  decodeWriteOutcome,
  encodeKvCommand,
  encodeKvRead,
  encodeReadOutcome,
  encodeWriteOutcome,
  withCommandTime,
} from '../../src/cluster/index.js';
import type { KvCommand, KvRead, KvWrite } from '../../src/cluster/index.js';

const bytes = fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b));
const setOptions: fc.Arbitrary<KvSetOptions> = fc.record(
  {
    expireAtMs: fc.integer({ min: 0, max: 2 ** 50 }),
    keepTtl: fc.constant(true),
    returnPrevious: fc.constant(true),
    condition: fc.constantFrom('nx' as const, 'xx' as const),
    ifEquals: bytes,
  },
  { requiredKeys: [], noNullPrototype: true },
);
const mutation: fc.Arbitrary<KvMutation> = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((by) => ({ kind: 'incrBy' as const, by })),
  fc.double({ noNaN: true }).map((by) => ({ kind: 'incrByFloat' as const, by })),
  bytes.map((data) => ({ kind: 'append' as const, data })),
  fc.tuple(fc.nat(), bytes).map(([offset, data]) => ({ kind: 'setRange' as const, offset, data })),
  fc.constant({ kind: 'getDel' as const }),
  fc.constant({ kind: 'persist' as const }),
  fc.record({ kind: fc.constant('getEx' as const), expireAtMs: fc.nat(), persist: fc.constant(true) }, { requiredKeys: ['kind'], noNullPrototype: true }),
  fc.record({ kind: fc.constant('expire' as const), expireAtMs: fc.nat(), condition: fc.constantFrom('nx' as const, 'xx' as const, 'gt' as const, 'lt' as const) }, { requiredKeys: ['kind', 'expireAtMs'], noNullPrototype: true }),
);
const batchOp: fc.Arbitrary<KvBatchOp> = fc.oneof(
  bytes.map((key) => ({ type: 'del' as const, key })),
  fc.tuple(bytes, bytes).map(([key, value]) => ({ type: 'put' as const, key, value })),
  fc.tuple(bytes, bytes, fc.nat()).map(([key, value, expireAtMs]) => ({ type: 'put' as const, key, value, expireAtMs })),
);
const write: fc.Arbitrary<KvWrite> = fc.oneof(
  fc.tuple(bytes, bytes, setOptions).map(([key, value, options]) => ({ op: 'set' as const, key, value, options })),
  fc.tuple(fc.array(fc.tuple(bytes, bytes), { maxLength: 5 }), fc.boolean()).map(([pairs, nx]) => ({ op: 'setMany' as const, pairs, nx })),
  fc.array(bytes, { maxLength: 5 }).map((keys) => ({ op: 'delete' as const, keys })),
  fc.array(batchOp, { maxLength: 5 }).map((ops) => ({ op: 'batch' as const, ops })),
  fc.tuple(bytes, mutation).map(([key, m]) => ({ op: 'update' as const, key, mutation: m })),
  fc.constant({ op: 'clear' as const }),
  fc
    .tuple(fc.nat(4095), fc.nat(4095), fc.integer({ min: 1, max: 4096 }), fc.nat(2 ** 31), fc.integer({ min: 1, max: 2 ** 20 }), fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }))
    .map(([shard, child, n0, lo, width, replicas]) => ({ op: 'split' as const, shard, child, n0, base: shard % n0, lo, at: lo + width, hi: lo + 2 * width, replicas })),
);
const command: fc.Arbitrary<KvCommand> = fc.record({ nowMs: fc.nat(), client: fc.string({ maxLength: 20 }), seq: fc.nat(), write }, { noNullPrototype: true });

function corruptionOnly(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.ok(isStrataError(err, ERROR_CODES.CORRUPTION), `CORRUPTION, got ${String(err)}`);
  }
}

test('commands round-trip; every truncation is CORRUPTION', () => {
  fc.assert(
    fc.property(command, (c) => {
      const enc = encodeKvCommand(c);
      assert.deepEqual(decodeKvCommand(enc), c);
      for (let n = 0; n < enc.length; n++) assert.throws(() => decodeKvCommand(enc.subarray(0, n)), (e) => isStrataError(e, ERROR_CODES.CORRUPTION));
      assert.throws(() => decodeKvCommand(Buffer.concat([enc, Buffer.from([0])])), (e) => isStrataError(e, ERROR_CODES.CORRUPTION));
      // The leader's time stamp changes the time and nothing else.
      assert.deepEqual(decodeKvCommand(withCommandTime(enc, 123_456)), { ...c, nowMs: 123_456 });
      assert.throws(() => withCommandTime(enc.subarray(0, 5), 1), (e) => isStrataError(e, ERROR_CODES.CORRUPTION));
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('random bytes never decode to anything but a command or CORRUPTION', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      corruptionOnly(() => decodeKvCommand(b));
      corruptionOnly(() => decodeKvRead(b));
      corruptionOnly(() => decodeWriteOutcome(b));
      corruptionOnly(() => decodeReadOutcome(b));
    }),
    { seed: 7, numRuns: 2000 },
  );
});

test('reads and outcomes round-trip', () => {
  const reads: KvRead[] = [
    { op: 'get', key: Buffer.from('a') },
    { op: 'getEntry', key: Buffer.from('b') },
    { op: 'getMany', keys: [Buffer.from('a'), Buffer.alloc(0)] },
    { op: 'scan', options: { prefix: Buffer.from('p'), start: Buffer.from('s'), end: Buffer.from('z'), after: Buffer.from('t'), limit: 10, reverse: true, keysOnly: true } },
    { op: 'scan', options: { limit: 1 } },
    { op: 'keyspaceInfo' },
  ];
  for (const q of reads) assert.deepEqual(decodeKvRead(encodeKvRead(q)), q);
  const writes = [
    { ok: true as const, value: { op: 'set' as const, result: { written: true, previous: Buffer.from('old') } } },
    { ok: true as const, value: { op: 'set' as const, result: { written: false, previous: undefined } } },
    { ok: true as const, value: { op: 'setMany' as const, written: true } },
    { ok: true as const, value: { op: 'delete' as const, deleted: 3 } },
    { ok: true as const, value: { op: 'batch' as const } },
    { ok: true as const, value: { op: 'update' as const, result: { integer: -(2n ** 63n) } } },
    { ok: true as const, value: { op: 'update' as const, result: { value: Buffer.from('v'), length: 5, applied: false } } },
    { ok: true as const, value: { op: 'clear' as const, deleted: 12 } },
    { ok: false as const, code: ERROR_CODES.NOT_INTEGER, message: 'value is not an integer' },
  ];
  for (const o of writes) assert.deepEqual(decodeWriteOutcome(encodeWriteOutcome(o)), o);
  const page = { entries: [{ key: Buffer.from('k'), value: Buffer.from('v'), expireAtMs: 5 }, { key: Buffer.from('k2'), value: Buffer.alloc(0), expireAtMs: undefined }], nextAfter: Buffer.from('k2') };
  const outs = [
    { ok: true as const, value: { op: 'get' as const, value: Buffer.from('x') } },
    { ok: true as const, value: { op: 'get' as const, value: undefined } },
    { ok: true as const, value: { op: 'getEntry' as const, entry: { value: Buffer.from('x'), expireAtMs: 99 } } },
    { ok: true as const, value: { op: 'getMany' as const, values: [Buffer.from('x'), undefined] } },
    { ok: true as const, value: { op: 'scan' as const, page } },
    { ok: true as const, value: { op: 'keyspaceInfo' as const, info: { keys: 3, expires: 1, avgTtlMs: 20 } } },
    { ok: false as const, code: ERROR_CODES.NOT_LEADER, message: 'default/1: not the leader; leader is n2' },
  ];
  for (const o of outs) assert.deepEqual(decodeReadOutcome(encodeReadOutcome(o)), o);
});
