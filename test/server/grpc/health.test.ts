// grpc.health.v1 Health, and the graceful close() it reports.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { b, collect, nextMessage, startServer, statusOf } from './harness.js';
import type { Harness } from './harness.js';
import { loadGrpcDefinitions } from '../../../src/server/grpc/index.js';

let h: Harness;

before(async () => {
  h = await startServer();
});
after(async () => {
  await h.stop();
});

test('Check reports SERVING for "" and strata.v1.KV and NOT_FOUND for other services', async () => {
  const c = h.client();
  assert.deepEqual(await c.healthCheck(''), { status: 'SERVING' });
  assert.deepEqual(await c.healthCheck('strata.v1.KV'), { status: 'SERVING' });
  assert.equal((await statusOf(c.healthCheck('no.such.Service'))).code, grpc.status.NOT_FOUND);
});

test('Watch of an unknown service streams SERVICE_UNKNOWN', async () => {
  const watch = h.client().healthWatch('no.such.Service');
  assert.deepEqual(await nextMessage(watch), { status: 'SERVICE_UNKNOWN' });
  const ended = collect(watch).catch((err: grpc.ServiceError) => err.code);
  watch.cancel();
  assert.equal(await ended, grpc.status.CANCELLED);
});

test('a client made with grpc.loadPackageDefinition from the same files reaches the health service', async () => {
  const pkg = grpc.loadPackageDefinition(loadGrpcDefinitions().packageDefinition);
  const grpcNs = pkg['grpc'] as grpc.GrpcObject;
  const health = ((grpcNs['health'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject)['Health'] as grpc.ServiceClientConstructor;
  const client = new health(h.address, grpc.credentials.createInsecure());
  try {
    const check = client['Check'] as (req: object, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void) => void;
    const res = await new Promise<{ status: string } | undefined>((resolve, reject) => check.call(client, { service: '' }, (err, r) => (err ? reject(err) : resolve(r))));
    assert.deepEqual(res, { status: 'SERVING' });
  } finally {
    client.close();
  }
});

test('close(): watchers see NOT_SERVING, an in-flight Scan finishes, then new calls fail', { timeout: 15_000 }, async () => {
  const own = await startServer();
  const N = 12_000;
  const ops = Array.from({ length: N }, (_, i) => ({ type: 'put' as const, key: b(`k/${String(i).padStart(6, '0')}`), value: Buffer.alloc(32, 0x76) }));
  await own.service.batch(ops);
  const watcher = own.client();
  const server = watcher.healthWatch('');
  const kv = watcher.healthWatch('strata.v1.KV');
  assert.deepEqual(await nextMessage(server), { status: 'SERVING' });
  assert.deepEqual(await nextMessage(kv), { status: 'SERVING' });
  const serverRest = collect(server);
  const kvRest = collect(kv);

  const reader = own.client();
  const scan = reader.scan({ prefix: b('k/') });
  const first = await nextMessage(scan);
  scan.pause();

  let closed = false;
  const closing = own.server.close().then(() => {
    closed = true;
  });
  // Watchers are told, and their streams end with OK so the shutdown need not wait for them.
  assert.deepEqual(await serverRest, [{ status: 'NOT_SERVING' }]);
  assert.deepEqual(await kvRest, [{ status: 'NOT_SERVING' }]);
  assert.equal(own.server.healthStatus(''), 'NOT_SERVING');
  assert.equal(own.server.healthStatus('strata.v1.KV'), 'NOT_SERVING');
  assert.equal(closed, false, 'close() must wait for the in-flight scan');

  // The paused scan still delivers everything, then close() completes.
  let count = first.entries.length;
  const rest = collect(scan);
  scan.resume();
  for (const m of await rest) count += m.entries.length;
  assert.equal(count, N);
  await closing;
  assert.equal(closed, true);

  const late = own.client({ channel: { 'grpc.initial_reconnect_backoff_ms': 50 } });
  assert.equal((await statusOf(late.healthCheck(''))).code, grpc.status.UNAVAILABLE);
  await own.stop();
});

test('close() cancels calls still running after closeTimeoutMs', { timeout: 15_000 }, async () => {
  const own = await startServer({ closeTimeoutMs: 100 });
  await own.service.batch(Array.from({ length: 12_000 }, (_, i) => ({ type: 'put' as const, key: b(`k/${String(i).padStart(6, '0')}`), value: Buffer.alloc(32) })));
  const scan = own.client().scan({ prefix: b('k/') });
  await nextMessage(scan);
  scan.pause();
  const outcome = new Promise<number>((resolve) => scan.on('error', (err: grpc.ServiceError) => resolve(err.code)));
  await own.server.close();
  scan.resume();
  assert.notEqual(await outcome, grpc.status.OK);
  await own.stop();
});
