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

/**
 * Polls node `via`'s shard map and rebalance status until `ok` holds (a
 * bounded poll of observable state, never a sleep as synchronisation). On
 * timeout it throws with the last view and each node's last log lines.
 */
export async function waitForCluster<M extends { shards: unknown }, R>(
  cluster: LocalCluster,
  what: string,
  ok: (map: M, rebalance: R) => boolean,
  opts: { timeoutMs?: number; pollMs?: number; via?: number } = {},
): Promise<M> {
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  let last: M | undefined;
  let lastR: R | undefined;
  for (;;) {
    try {
      last = await cluster.coordinator<M>(opts.via ?? 0, 'shard-map');
      lastR = await cluster.coordinator<R>(opts.via ?? 0, 'rebalance');
      if (ok(last, lastR)) return last;
    } catch {
      // a node restarting or an election: ask again
    }
    if (Date.now() > deadline) {
      const logs = cluster.nodes.map((n) => `--- ${n.id}:\n${n.output.split('\n').slice(-40).join('\n')}`).join('\n');
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last?.shards)}\nrebalance: ${JSON.stringify(lastR)}\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
}

/**
 * SETs of fresh keys `${prefix}:${n}` through the clients in turn, one at a
 * time, until stopped; each acknowledged one goes into `acked` (a write that
 * failed was not acknowledged, so it is not checked). `stop` resolves with
 * the number of failed writes.
 */
export function backgroundSets(clients: readonly Redis[], acked: Map<string, string>, prefix: string): { stop(): Promise<number> } {
  let stopped = false;
  let errors = 0;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const k = `${prefix}:${n}`;
      try {
        if ((await clients[n % clients.length]!.set(k, `${prefix}${n}`)) === 'OK') acked.set(k, `${prefix}${n}`);
      } catch {
        errors++;
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return errors;
    },
  };
}
