// gRPC connection limits: clientsMax and the idle timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { b, startServer, statusOf } from './harness.js';
import type { Harness } from './harness.js';

/** Waits (polling the metrics, bounded by the test's timeout) until the server counts `n` open gRPC connections. */
async function connectionsReach(h: Harness, n: number): Promise<void> {
  while ((await h.metrics.sample('strata_connections', { protocol: 'grpc' })) !== n) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a connection beyond clientsMax gets RESOURCE_EXHAUSTED for KV calls; a freed slot is reused', { timeout: 10_000 }, async () => {
  const h = await startServer({ limits: { clientsMax: 1 } });
  try {
    const first = h.client();
    assert.deepEqual(await first.put({ key: b('a'), value: b('1') }), { written: true });
    const second = h.client();
    const refused = await statusOf(second.put({ key: b('a'), value: b('2') }));
    assert.equal(refused.code, status.RESOURCE_EXHAUSTED);
    assert.match(refused.details, /too many clients/);
    assert.equal((await statusOf(second.scanAll({}))).code, status.RESOURCE_EXHAUSTED);
    // Health stays available to the refused connection (load balancers); the first client is unaffected.
    assert.deepEqual(await second.healthCheck(''), { status: 'SERVING' });
    assert.deepEqual((await first.get({ key: b('a') })).value, b('1'));
    assert.equal(await h.metrics.sample('strata_rejected_total', { protocol: 'grpc', reason: 'limit' }), 2);

    first.close();
    await connectionsReach(h, 1);
    const third = h.client();
    assert.deepEqual(await third.put({ key: b('a'), value: b('3') }), { written: true });
  } finally {
    await h.stop();
  }
});

test('an idle connection is closed after idleTimeoutMs and the client reconnects', { timeout: 10_000 }, async () => {
  const h = await startServer({ limits: { idleTimeoutMs: 150 } });
  try {
    const c = h.client();
    await c.put({ key: b('idle'), value: b('1') });
    assert.equal(await h.metrics.sample('strata_connections', { protocol: 'grpc' }), 1);
    await connectionsReach(h, 0);
    assert.deepEqual((await c.get({ key: b('idle') })).value, b('1'));
    assert.equal(await h.metrics.sample('strata_connections_total', { protocol: 'grpc' }), 2);
  } finally {
    await h.stop();
  }
});
