// Rebalancing with real `strata serve` processes on loopback: a fourth node
// joins a 3-node cluster while writes go on, and the coordinator moves
// replicas onto it (learner, catch-up, promotion, removal of the old
// replica) until nodes hold replicas within one; then `strata cluster
// remove` drains it and removes it; then a fifth node joins and is killed,
// and once it is dead its replicas are re-created on the others; it comes
// back and deletes them, and while replicas move onto it the meta leader is
// killed. After
// each step every shard has its replication factor, no move is left in
// flight, and every acknowledged write reads back.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { CLI_PATH, LocalCluster } from '../../src/cli/local-cluster.js';
import { backgroundSets, checkAcked as checkAckedOn, respClient, waitForCluster } from './process-helpers.js';

interface ShardMap {
  shards: Array<{ id: number; leader: string; replicas: string[] }>;
  nodes: Array<{ id: string; status: string }>;
}
interface Rebalance {
  moves: Array<{ shard: number; add: string; remove: string | null; reason: string }>;
}


const SHARDS = 6;

describe('rebalancing across processes', { timeout: 300_000 }, () => {
  let dir: string;
  let cluster: LocalCluster;
  const clients: Redis[] = [];
  const acked = new Map<string, string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-rebalance-'));
    cluster = await LocalCluster.start({
      nodes: 3,
      baseDir: dir,
      shards: SHARDS,
      replicationFactor: 3,
      args: ['--set', 'cluster.requestTimeoutMs=5000', '--set', 'cluster.snapshotEntries=50', '--set', 'cluster.nodeTimeoutMs=3000', '--set', 'cluster.deadNodeMs=4000', '--set', 'cluster.maxMoves=3'],
    });
    for (let i = 0; i < 3; i++) clients.push(respClient(cluster, i));
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function checkAcked(i: number): Promise<void> {
    await checkAckedOn(clients[i]!, acked, `node ${i}`);
  }


  const waitFor = (what: string, ok: (map: ShardMap, moves: Rebalance) => boolean, timeoutMs = 90_000): Promise<ShardMap> =>
    waitForCluster<ShardMap, Rebalance>(cluster, what, ok, { timeoutMs });

  const perNode = (map: ShardMap): Map<string, number> => {
    const m = new Map<string, number>();
    for (const s of map.shards) for (const r of s.replicas) m.set(r, (m.get(r) ?? 0) + 1);
    return m;
  };

  test('a fourth node joins under writes: replicas move onto it until nodes are within one, and no write is lost', async () => {
    for (let n = 0; n < 600; n++) {
      const k = `a:${n}`;
      assert.equal(await clients[n % 3]!.set(k, `v${n}`), 'OK');
      acked.set(k, `v${n}`);
    }
    const n4 = await cluster.addNode();
    // Writes keep going while the moves run.
    // (A write failing in an election during a leadership hand-over is not acknowledged, so not checked.)
    const writer = backgroundSets(clients.slice(0, 3), acked, 'b');
    const map = await waitFor('balance with the new node', (m, r) => {
      const load = perNode(m);
      const counts = ['n1', 'n2', 'n3', n4.id].map((id) => load.get(id) ?? 0);
      return r.moves.length === 0 && Math.max(...counts) - Math.min(...counts) <= 1 && (load.get(n4.id) ?? 0) > 0;
    });
    await writer.stop();
    for (const s of map.shards) assert.equal(new Set(s.replicas).size, 3, `shard ${s.id} has three replicas: ${s.replicas.join(',')}`);
    const load = perNode(map);
    assert.equal([...load.values()].reduce((a, b) => a + b, 0), SHARDS * 3);
    assert.ok((load.get(n4.id) ?? 0) >= Math.floor((SHARDS * 3) / 4), `n4 holds ${load.get(n4.id)} replicas`);
    assert.ok(acked.size > 600, 'writes were acknowledged during the moves');
    for (let i = 0; i < 3; i++) await checkAcked(i);
    // Every shard's log was truncated past its start (100 writes per shard, snapshots every 50 entries): the new
    // replicas began from snapshots, whose engine files were streamed to n4.
    const health = await cluster.coordinator<{ snapshots: { installed: number } }>(3, 'health');
    assert.ok(health.snapshots.installed >= Math.floor((SHARDS * 3) / 4), `n4 installed ${health.snapshots.installed} snapshots`);
    // The new node serves reads of moved data too.
    const c4 = respClient(cluster, 3);
    clients.push(c4);
    await checkAcked(3);
  });

  test('strata cluster remove drains the fourth node (its replicas move back) and removes it, under writes', async () => {
    const writer = backgroundSets(clients.slice(0, 3), acked, 'c');
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [CLI_PATH, 'cluster', 'remove', 'n4', '--url', cluster.url(1, '/'), '--watch'], { timeout: 120_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
      );
    });
    await writer.stop();
    assert.match(out, /node n4 is draining: \d+ replica/);
    assert.match(out, /node n4 drained and removed/);
    const map = await waitFor('n4 gone', (m, r) => r.moves.length === 0 && !m.nodes.some((n) => n.id === 'n4'));
    for (const s of map.shards) assert.deepEqual([...s.replicas].sort(), ['n1', 'n2', 'n3']);
    for (let i = 0; i < 3; i++) await checkAcked(i);
    // With three nodes left and replication factor 3, another node cannot be drained: there is nowhere to go.
    const refused = await fetch(cluster.url(0, '/api/v1/coordinator/nodes/n3'), { method: 'DELETE' });
    assert.equal(refused.status, 412);
  });

  test('a dead node`s replicas are re-created on the others', async () => {
    const n5 = await cluster.addNode();
    await waitFor('n5 gets replicas', (m, r) => r.moves.length === 0 && m.shards.some((s) => s.replicas.includes(n5.id)));
    await cluster.kill(n5.index, 'SIGKILL');
    const map = await waitFor('the dead node`s replicas to be replaced', (m, r) => r.moves.length === 0 && m.shards.every((s) => !s.replicas.includes(n5.id) && s.replicas.length === 3));
    for (const s of map.shards) assert.deepEqual([...s.replicas].sort(), ['n1', 'n2', 'n3']);
    for (let i = 0; i < 3; i++) await checkAcked(i);
    // It comes back: it learns that its replicas live elsewhere now and deletes them.
    await cluster.restart(n5.index);
    const deadline = Date.now() + 60_000;
    while (!/removing stale replica default\/\d+/.test(n5.output)) {
      assert.ok(Date.now() < deadline, `n5 never removed its stale replicas:\n${n5.output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  test('the meta leader is killed while moves run: the moves finish under the next one, nothing is lost', async () => {
    // n5 is back and empty, so the planner is moving replicas onto it now (or soon).
    await waitFor('a move in flight', (_m, r) => r.moves.length > 0, 60_000);
    const before = await cluster.coordinator<ShardMap & { metaLeader: string }>(0, 'shard-map');
    const leaderIndex = cluster.nodes.findIndex((n) => n.id === before.metaLeader);
    assert.ok(leaderIndex >= 0 && leaderIndex < 3, `meta leader ${before.metaLeader}`);
    await cluster.kill(leaderIndex, 'SIGKILL');
    await cluster.restart(leaderIndex);
    const via = leaderIndex === 0 ? 1 : 0;
    // On a timeout this prints the last view and every node's log (a slow move logs its learner's progress).
    await waitForCluster<ShardMap, Rebalance & { balanced: boolean }>(
      cluster,
      'the moves to finish after the meta leader was killed',
      (m, r) => r.moves.length === 0 && r.balanced && m.shards.every((x) => new Set(x.replicas).size === 3) && m.shards.some((x) => x.replicas.includes('n5')),
      { timeoutMs: 120_000, via },
    );
    for (let i = 0; i < 3; i++) await checkAcked(i);
  });
});
