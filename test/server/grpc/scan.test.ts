// gRPC Scan: streaming across many service pages, order, bounds, limits,
// backpressure and client cancellation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import type { KvScanOptions, KvScanPage } from '../../../src/base/index.js';
import { SCAN_PAGE_ENTRIES } from '../../../src/server/grpc/index.js';
import { b, nextMessage, startServer, statusOf } from './harness.js';
import type { Harness, KvTestClient } from './harness.js';

/** Keys row/00000.. : several service pages (SCAN_PAGE_ENTRIES each). */
const ROWS = SCAN_PAGE_ENTRIES * 5 + 17;
/** Keys bulk/...: many more pages than the stream's buffers can hold, for backpressure and cancellation. */
const BULK = 24_000;
const BULK_PAGES = Math.ceil(BULK / SCAN_PAGE_ENTRIES);

const row = (i: number): string => `row/${String(i).padStart(5, '0')}`;
let h: Harness;
let c: KvTestClient;
/** How many pages the server has asked the service for. */
let scanCalls = 0;

before(async () => {
  h = await startServer({ limits: { scanLimitMax: 1000 } });
  c = h.client();
  const svc = h.service;
  const ops = [];
  for (let i = 0; i < ROWS; i++) ops.push({ type: 'put' as const, key: b(row(i)), value: b(`value-${i}`) });
  ops.push({ type: 'put' as const, key: b('rox'), value: b('after the row/ prefix') });
  ops.push({ type: 'put' as const, key: b('aaa'), value: b('before it') });
  await svc.batch(ops);
  for (let start = 0; start < BULK; start += 5000) {
    const bulk = [];
    for (let i = start; i < Math.min(BULK, start + 5000); i++) bulk.push({ type: 'put' as const, key: b(`bulk/${String(i).padStart(6, '0')}`), value: Buffer.alloc(32, 0x62) });
    await svc.batch(bulk);
  }
  const scan = svc.scan.bind(svc);
  svc.scan = (options: KvScanOptions): Promise<KvScanPage> => {
    scanCalls++;
    return scan(options);
  };
});
after(async () => {
  await h.stop();
});

test('Scan streams every key of a prefix in order across several pages', async () => {
  const before = scanCalls;
  const { keys, values, messages } = await c.scanAll({ prefix: b('row/') });
  assert.equal(keys.length, ROWS);
  assert.deepEqual(keys, Array.from({ length: ROWS }, (_, i) => row(i)));
  assert.deepEqual(values[ROWS - 1], b(`value-${ROWS - 1}`));
  assert.ok(messages >= Math.ceil(ROWS / SCAN_PAGE_ENTRIES), `${messages} messages`);
  assert.ok(scanCalls - before >= Math.ceil(ROWS / SCAN_PAGE_ENTRIES));
});

test('Scan reverse streams the same keys in descending order', async () => {
  const { keys } = await c.scanAll({ prefix: b('row/'), reverse: true });
  assert.deepEqual(keys, Array.from({ length: ROWS }, (_, i) => row(ROWS - 1 - i)));
});

test('Scan honours start/end, after, limit and keys_only', async () => {
  const range = await c.scanAll({ start: b(row(10)), end: b(row(20)) });
  assert.deepEqual(range.keys, Array.from({ length: 10 }, (_, i) => row(10 + i)));
  const resumed = await c.scanAll({ prefix: b('row/'), after: b(row(ROWS - 3)) });
  assert.deepEqual(resumed.keys, [row(ROWS - 2), row(ROWS - 1)]);
  const backwards = await c.scanAll({ prefix: b('row/'), after: b(row(2)), reverse: true });
  assert.deepEqual(backwards.keys, [row(1), row(0)]);
  const limited = await c.scanAll({ prefix: b('row/'), limit: 600 });
  assert.equal(limited.keys.length, 600);
  assert.equal(limited.keys[599], row(599));
  const keysOnly = await c.scanAll({ prefix: b('row/'), limit: 3, keysOnly: true });
  assert.deepEqual(keysOnly.keys, [row(0), row(1), row(2)]);
  assert.ok(keysOnly.values.every((v) => v.length === 0));
  const all = await c.scanAll({ end: b('bulk/') });
  assert.deepEqual(all.keys, ['aaa']);
});

test('Scan streams expire_at_ms and skips expired keys', async () => {
  const now = h.clock.nowMs();
  await c.put({ key: b('exp/a'), value: b('1'), ttlMs: 100 });
  await c.put({ key: b('exp/b'), value: b('2'), ttlMs: 200 });
  const stream = c.scan({ prefix: b('exp/') });
  const first = await nextMessage(stream);
  assert.deepEqual(first.entries.map((e) => e.expireAtMs), [now + 100, now + 200]);
  h.clock.advance(150);
  const { keys } = await c.scanAll({ prefix: b('exp/') });
  assert.deepEqual(keys, ['exp/b']);
});

test('Scan with a bad limit is INVALID_ARGUMENT', async () => {
  const err = await statusOf(c.scanAll({ prefix: b('row/'), limit: 1001 }));
  assert.equal(err.code, status.INVALID_ARGUMENT);
  assert.match(err.details, /limit/);
});

test('Scan stops reading pages while the client does not read, and stops for good when it cancels', { timeout: 15_000 }, async () => {
  const finished = h.metrics.nextFinished('Scan');
  const before = scanCalls;
  const stream = c.scan({ prefix: b('bulk/') });
  const first = await nextMessage(stream);
  assert.equal(first.entries[0]?.key.toString(), 'bulk/000000');
  const clientStatus = new Promise<number>((resolve) => stream.on('error', (err: Error & { code: number }) => resolve(err.code)));
  stream.pause();
  stream.cancel();
  assert.equal(await clientStatus, status.CANCELLED);
  await finished;
  const pages = scanCalls - before;
  assert.ok(pages < BULK_PAGES / 2, `the server read ${pages} of ${BULK_PAGES} pages for a cancelled scan`);
});
