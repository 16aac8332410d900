/**
 * StrataDB helpers of `npm run bench:cluster` that go through the cluster's
 * public coordinator API only.
 */
import type { LocalCluster } from '../../src/cli/local-cluster.js';

interface ShardMap {
  shards: Array<{ id: number; leader: string; term: number; replicas: string[] }>;
}

/** How many shards each node leads, e.g. { n1: 12, n2: 3, n3: 1 }. */
export async function leaderCounts(cluster: LocalCluster, via = 0): Promise<Record<string, number>> {
  const map = await cluster.coordinator<ShardMap>(via, 'shard-map');
  const out: Record<string, number> = Object.fromEntries(cluster.nodes.map((n) => [n.id, 0]));
  for (const s of map.shards) if (s.leader !== '') out[s.leader] = (out[s.leader] ?? 0) + 1;
  return out;
}

export const fmtLeaders = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([id, n]) => `${id} ${n}`)
    .join(', ');

/**
 * Diagnostic (--balance-leaders): spreads shard leadership round-robin over
 * the nodes (shard i to node i mod N) with POST
 * /api/v1/coordinator/shard/{i}/election, then waits until the shard map
 * shows it (bounded; returns the counts reached).
 */
export async function balanceLeaders(cluster: LocalCluster, timeoutMs = 20_000): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const map = await cluster.coordinator<ShardMap>(0, 'shard-map');
    const wrong = map.shards.filter((s) => s.leader !== cluster.nodes[s.id % cluster.nodes.length]!.id);
    if (wrong.length === 0 || Date.now() > deadline) return leaderCounts(cluster);
    for (const s of wrong) {
      const target = cluster.nodes[s.id % cluster.nodes.length]!.id;
      if (!s.replicas.includes(target)) continue;
      await fetch(cluster.url(0, `/api/v1/coordinator/shard/${s.id}/election`), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ target }),
      }).catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}
