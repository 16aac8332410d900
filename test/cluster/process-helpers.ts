/** Helpers for the multi-process cluster tests: RESP clients of the nodes, and the check that every acknowledged write reads back. */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { LocalCluster } from '../../src/cli/local-cluster.js';

/** A RESP client of node i that keeps retrying its connection (a killed node refuses connections until it restarts). */
export function respClient(c: LocalCluster, i: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port: c.nodes[i]!.ports.resp, lazyConnect: false, maxRetriesPerRequest: 0, enableOfflineQueue: true, retryStrategy: () => 50 });
  r.on('error', () => undefined);
  return r;
}

/** Reads every acknowledged key through `client` (linearizable reads) and compares it with what was acknowledged. */
export async function checkAcked(client: Redis, acked: ReadonlyMap<string, string>, label: string): Promise<void> {
  const keys = [...acked.keys()];
  for (let j = 0; j < keys.length; j += 200) {
    const part = keys.slice(j, j + 200);
    const values = await client.mget(...part);
    part.forEach((k, n) => assert.equal(values[n], acked.get(k), `${label}: acknowledged ${k} reads back`));
  }
}
