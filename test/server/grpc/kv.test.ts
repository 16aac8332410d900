// gRPC KV front end: Get/Put/Delete/Batch over the real LocalKvService,
// status-code mapping, limits and metrics.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { ERROR_CODES } from '../../../src/base/index.js';
import { GRPC_STATUS } from '../../../src/server/errors.js';
import { CLOCK_START_MS, b, startServer, statusOf } from './harness.js';
import type { Harness, KvTestClient } from './harness.js';

const LIMITS = { keyBytesMax: 64, valueBytesMax: 1024, requestBytesMax: 4096 };
let h: Harness;
let c: KvTestClient;

before(async () => {
  h = await startServer({ limits: LIMITS });
  c = h.client();
});
after(async () => {
  await h.stop();
});

test('Put then Get round-trips binary keys and values', async () => {
  const key = Buffer.from([0x00, 0xff, 0x10, 0x00, 0x80]);
  const value = Buffer.from([0xde, 0xad, 0x00, 0xbe, 0xef, 0x00]);
  assert.deepEqual(await c.put({ key, value }), { written: true });
  const got = await c.get({ key });
  assert.equal(got.found, true);
  assert.deepEqual(got.value, value);
  assert.equal(got.expireAtMs, 0);
  // A key differing only in a trailing zero byte is a different key.
  assert.equal((await c.get({ key: Buffer.concat([key, Buffer.from([0])]) })).found, false);
  // An empty value is a value.
  await c.put({ key: b('rt/empty'), value: Buffer.alloc(0) });
  const empty = await c.get({ key: b('rt/empty') });
  assert.equal(empty.found, true);
  assert.equal(empty.value.length, 0);
});

test('Get of a missing key answers found=false, not an error', async () => {
  assert.deepEqual(await c.get({ key: b('missing/1') }), { found: false, value: Buffer.alloc(0), expireAtMs: 0 });
});

test('Put with ttl_ms expires on the service clock and Get reports expire_at_ms', async () => {
  const now = h.clock.nowMs();
  await c.put({ key: b('ttl/a'), value: b('1'), ttlMs: 5000 });
  const got = await c.get({ key: b('ttl/a') });
  assert.equal(got.found, true);
  assert.equal(got.expireAtMs, now + 5000);
  h.clock.advance(4999);
  assert.equal((await c.get({ key: b('ttl/a') })).found, true);
  h.clock.advance(1);
  assert.equal((await c.get({ key: b('ttl/a') })).found, false);
});

test('Put with expire_at_ms sets that absolute expiry; a plain Put clears it', async () => {
  const at = h.clock.nowMs() + 60_000;
  await c.put({ key: b('ttl/b'), value: b('1'), expireAtMs: at });
  assert.equal((await c.get({ key: b('ttl/b') })).expireAtMs, at);
  await c.put({ key: b('ttl/b'), value: b('2') });
  const got = await c.get({ key: b('ttl/b') });
  assert.equal(got.expireAtMs, 0);
  h.clock.advance(120_000);
  assert.deepEqual((await c.get({ key: b('ttl/b') })).value, b('2'));
});

test('Put conditions: IF_ABSENT writes only a new key, IF_PRESENT only an existing one', async () => {
  assert.deepEqual(await c.put({ key: b('cond/a'), value: b('1'), condition: 'IF_PRESENT' }), { written: false });
  assert.equal((await c.get({ key: b('cond/a') })).found, false);
  assert.deepEqual(await c.put({ key: b('cond/a'), value: b('1'), condition: 'IF_ABSENT' }), { written: true });
  assert.deepEqual(await c.put({ key: b('cond/a'), value: b('2'), condition: 'IF_ABSENT' }), { written: false });
  assert.deepEqual((await c.get({ key: b('cond/a') })).value, b('1'));
  assert.deepEqual(await c.put({ key: b('cond/a'), value: b('3'), condition: 'IF_PRESENT' }), { written: true });
  assert.deepEqual((await c.get({ key: b('cond/a') })).value, b('3'));
  // An expired key counts as absent.
  await c.put({ key: b('cond/b'), value: b('1'), ttlMs: 10 });
  h.clock.advance(10);
  assert.deepEqual(await c.put({ key: b('cond/b'), value: b('2'), condition: 'IF_PRESENT' }), { written: false });
  assert.deepEqual(await c.put({ key: b('cond/b'), value: b('2'), condition: 'IF_ABSENT' }), { written: true });
});

test('Delete removes keys and counts those that existed', async () => {
  await c.put({ key: b('del/a'), value: b('1') });
  await c.put({ key: b('del/b'), value: b('1') });
  assert.deepEqual(await c.delete({ keys: [b('del/a'), b('del/b'), b('del/none')] }), { deleted: 2 });
  assert.equal((await c.get({ key: b('del/a') })).found, false);
  assert.equal((await c.get({ key: b('del/b') })).found, false);
  assert.deepEqual(await c.delete({ keys: [b('del/a')] }), { deleted: 0 });
});

test('Batch applies puts (with expiry) and deletes together', async () => {
  await c.put({ key: b('batch/old'), value: b('x') });
  const at = h.clock.nowMs() + 1000;
  await c.batch({
    ops: [
      { put: { key: b('batch/a'), value: b('A') } },
      { put: { key: b('batch/b'), value: b('B'), expireAtMs: at } },
      { put: { key: b('batch/c'), value: b('C'), ttlMs: 2000 } },
      { del: { key: b('batch/old') } },
    ],
  });
  assert.deepEqual((await c.get({ key: b('batch/a') })).value, b('A'));
  assert.equal((await c.get({ key: b('batch/b') })).expireAtMs, at);
  assert.equal((await c.get({ key: b('batch/c') })).expireAtMs, h.clock.nowMs() + 2000);
  assert.equal((await c.get({ key: b('batch/old') })).found, false);
});

test('Batch with one bad op is refused as a whole and writes nothing', async () => {
  await c.put({ key: b('atom/keep'), value: b('kept') });
  const emptyKey = await statusOf(
    c.batch({ ops: [{ put: { key: b('atom/a'), value: b('1') } }, { del: { key: b('atom/keep') } }, { put: { key: Buffer.alloc(0), value: b('x') } }] }),
  );
  assert.equal(emptyKey.code, status.INVALID_ARGUMENT);
  assert.match(emptyKey.details, /ops\[2\]/);
  const bigValue = await statusOf(
    c.batch({ ops: [{ put: { key: b('atom/a'), value: b('1') } }, { del: { key: b('atom/keep') } }, { put: { key: b('atom/z'), value: Buffer.alloc(LIMITS.valueBytesMax + 1) } }] }),
  );
  assert.equal(bigValue.code, status.RESOURCE_EXHAUSTED);
  const noOp = await statusOf(c.batch({ ops: [{ put: { key: b('atom/a'), value: b('1') } }, {}] }));
  assert.equal(noOp.code, status.INVALID_ARGUMENT);
  assert.equal((await c.get({ key: b('atom/a') })).found, false);
  assert.deepEqual((await c.get({ key: b('atom/keep') })).value, b('kept'));
  assert.equal((await statusOf(c.batch({ ops: [] }))).code, status.INVALID_ARGUMENT);
});

test('malformed requests are INVALID_ARGUMENT', async () => {
  const cases: Array<[string, Promise<unknown>]> = [
    ['Get empty key', c.get({ key: Buffer.alloc(0) })],
    ['Put empty key', c.put({ key: Buffer.alloc(0), value: b('v') })],
    ['Put ttl 0', c.put({ key: b('bad/a'), value: b('v'), ttlMs: 0 })],
    ['Put negative ttl', c.put({ key: b('bad/a'), value: b('v'), ttlMs: -5 })],
    ['Put expire_at 0', c.put({ key: b('bad/a'), value: b('v'), expireAtMs: 0 })],
    ['Put unknown condition', c.put({ key: b('bad/a'), value: b('v'), condition: 7 })],
    ['Delete no keys', c.delete({ keys: [] })],
    ['Delete empty key', c.delete({ keys: [b('bad/a'), Buffer.alloc(0)] })],
  ];
  for (const [name, p] of cases) assert.equal((await statusOf(p)).code, status.INVALID_ARGUMENT, name);
  assert.equal((await c.get({ key: b('bad/a') })).found, false);
});

test('a key or value over its limit is RESOURCE_EXHAUSTED; at the limit it is fine', async () => {
  const keyMax = Buffer.alloc(LIMITS.keyBytesMax, 0x6b);
  const valueMax = Buffer.alloc(LIMITS.valueBytesMax, 0x76);
  assert.deepEqual(await c.put({ key: keyMax, value: valueMax }), { written: true });
  assert.deepEqual((await c.get({ key: keyMax })).value, valueMax);
  const cases: Array<[string, Promise<unknown>]> = [
    ['Put long key', c.put({ key: Buffer.alloc(LIMITS.keyBytesMax + 1, 0x6b), value: b('v') })],
    ['Put long value', c.put({ key: b('big/a'), value: Buffer.alloc(LIMITS.valueBytesMax + 1) })],
    ['Get long key', c.get({ key: Buffer.alloc(LIMITS.keyBytesMax + 1, 0x6b) })],
    ['Delete long key', c.delete({ keys: [Buffer.alloc(LIMITS.keyBytesMax + 1, 0x6b)] })],
  ];
  for (const [name, p] of cases) assert.equal((await statusOf(p)).code, status.RESOURCE_EXHAUSTED, name);
  assert.equal((await c.get({ key: b('big/a') })).found, false);
});

test('a message over requestBytesMax is refused with RESOURCE_EXHAUSTED before it is handled', async () => {
  const batch = { ops: Array.from({ length: 8 }, (_, i) => ({ put: { key: b(`huge/${i}`), value: Buffer.alloc(LIMITS.valueBytesMax) } })) };
  const { code } = await statusOf(c.batch(batch));
  assert.equal(code, status.RESOURCE_EXHAUSTED);
  assert.equal((await c.get({ key: b('huge/0') })).found, false);
});

test('every call is counted in the grpc command metrics, failures as errors', async () => {
  const ok = await h.metrics.sample('strata_commands_total', { protocol: 'grpc', command: 'Put', status: 'ok' });
  const failed = await h.metrics.sample('strata_commands_total', { protocol: 'grpc', command: 'Put', status: 'error' });
  await c.put({ key: b('metrics/a'), value: b('1') });
  await statusOf(c.put({ key: Buffer.alloc(0), value: b('1') }));
  assert.equal(await h.metrics.sample('strata_commands_total', { protocol: 'grpc', command: 'Put', status: 'ok' }), ok + 1);
  assert.equal(await h.metrics.sample('strata_commands_total', { protocol: 'grpc', command: 'Put', status: 'error' }), failed + 1);
  assert.equal(await h.metrics.sample('strata_connections', { protocol: 'grpc' }), 1);
});

test('StrataError codes from the service map through GRPC_STATUS (a closed service is UNAVAILABLE)', async () => {
  const own = await startServer();
  try {
    const client = own.client();
    await client.put({ key: b('k'), value: b('v') });
    assert.equal(own.clock.nowMs(), CLOCK_START_MS);
    await own.service.close();
    const got = await statusOf(client.get({ key: b('k') }));
    assert.equal(got.code, GRPC_STATUS[ERROR_CODES.CLOSED]);
    assert.equal(got.code, status.UNAVAILABLE);
    assert.equal((await statusOf(client.put({ key: b('k'), value: b('v') }))).code, status.UNAVAILABLE);
  } finally {
    await own.stop();
  }
});
