// A real 3-node cluster of `strata serve` processes on loopback: writes
// through every node, kill -9 of a shard leader while writes are in
// flight, restart and catch-up, a node that was down rejoins and serves.
// Every fault ends with a check that no acknowledged write is missing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { LocalCluster } from '../../src/cli/local-cluster.js';
import { checkAcked as checkAckedOn, respClient } from './process-helpers.js';

interface ShardMap {
  shards: Array<{ id: number; leader: string; term: number; replicas: string[] }>;
  nodes: Array<{ id: string; status: string }>;
  metaLeader: string;
  metaVoters: string[];
}


describe('a 3-node cluster of processes', { timeout: 240_000 }, () => {
  let dir: string;
  let cluster: LocalCluster;
  const clients: Redis[] = [];
  /** Every acknowledged write: key → value. */
  const acked = new Map<string, string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-cluster-'));
    cluster = await LocalCluster.start({ nodes: 3, baseDir: dir, shards: 4, replicationFactor: 3, faultInjection: true, args: ['--set', 'cluster.requestTimeoutMs=3000', '--set', 'cluster.snapshotEntries=100'] });
    for (let i = 0; i < 3; i++) clients.push(respClient(cluster, i));
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Reads every acknowledged key through node i (linearizable) and compares. */
  async function checkAcked(i: number): Promise<void> {
    await checkAckedOn(clients[i]!, acked, `node ${i}`);
  }


  test('the cluster forms: one meta group of three, every shard has three replicas and a leader', async () => {
    // Leader balancing hands shards to their preferred replicas right after formation: a shard between leaders shows
    // none for a moment, so look once that settled.
    await cluster.waitLeadersSettled();
    const map = await cluster.coordinator<ShardMap>(0, 'shard-map');
    assert.deepEqual([...map.metaVoters].sort(), ['n1', 'n2', 'n3']);
    assert.equal(map.shards.length, 4);
    for (const s of map.shards) {
      assert.equal(new Set(s.replicas).size, 3);
      assert.ok(s.leader !== '', `shard ${s.id} has a leader`);
    }
    assert.deepEqual(map.nodes.map((n) => n.status), ['up', 'up', 'up']);
  });

  test('writes through every node are read back through every node', async () => {
    for (let n = 0; n < 300; n++) {
      const k = `w:${n}`;
      const v = `v${n}`;
      assert.equal(await clients[n % 3]!.set(k, v), 'OK');
      acked.set(k, v);
    }
    for (let i = 0; i < 3; i++) await checkAcked(i);
    assert.equal(await clients[1]!.incr('ctr'), 1);
    assert.equal(await clients[2]!.incr('ctr'), 2);
    assert.equal(await clients[0]!.get('ctr'), '2');
    acked.set('ctr', '2');
    // Multi-key commands split by shard; MSETNX across shards is refused (not atomic across shards).
    assert.equal(await clients[0]!.mset('m:a', '1', 'm:b', '2', 'm:c', '3'), 'OK');
    assert.deepEqual(await clients[2]!.mget('m:a', 'm:b', 'm:c'), ['1', '2', '3']);
    for (const [k, v] of [['m:a', '1'], ['m:b', '2'], ['m:c', '3']] as const) acked.set(k, v);
    assert.equal(await clients[1]!.dbsize(), acked.size);
    // Compare-and-set (SET ... IFEQ) through a node that may not lead the key's shard.
    assert.equal(await clients[2]!.call('set', 'w:0', 'cas1', 'ifeq', 'v0'), 'OK');
    assert.equal(await clients[1]!.call('set', 'w:0', 'cas2', 'ifeq', 'v0'), null);
    acked.set('w:0', 'cas1');
  });

  test('consistency=all: once acknowledged, a stale read on every replica sees the write', async () => {
    for (let n = 0; n < 20; n++) {
      const r = await fetch(cluster.url(n % 3, `/v1/kv/all:${n}?consistency=all`), { method: 'PUT', body: `a${n}` });
      assert.equal(r.status, 200, await r.clone().text());
      acked.set(`all:${n}`, `a${n}`);
      for (let i = 0; i < 3; i++) {
        const g = await fetch(cluster.url(i, `/v1/kv/all:${n}?consistency=stale`));
        assert.equal(await g.text(), `a${n}`, `node ${i} applied it before the acknowledgement`);
      }
    }
    assert.equal((await fetch(cluster.url(0, '/v1/kv/x?consistency=sometimes'))).status, 400);
  });

  test('the coordinator API answers on every node', async () => {
    for (let i = 0; i < 3; i++) {
      const h = await cluster.coordinator<{ status: string; shardsWithoutLeader: number }>(i, 'health');
      assert.equal(h.status, 'ok');
      const l = await cluster.coordinator<{ shard: number; leader: string; replicas: string[] }>(i, 'leader?key=w%3A1');
      assert.ok(l.replicas.includes(l.leader));
    }
    // Leadership transfer of shard 0 to another replica.
    const before = (await cluster.coordinator<ShardMap>(0, 'shard-map')).shards[0]!;
    const target = before.replicas.find((r) => r !== before.leader)!;
    const r = await fetch(cluster.url(1, '/api/v1/coordinator/shard/0/election'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target }) });
    assert.equal(r.status, 200, await r.clone().text());
    await waitFor(async () => (await cluster.coordinator<ShardMap>(0, 'shard-map')).shards[0]!.leader === target, 'leadership moves to the target');
    // A node holding replicas cannot be removed before it is drained.
    const del = await fetch(cluster.url(0, '/api/v1/coordinator/nodes/n2'), { method: 'DELETE' });
    assert.equal(del.status, 412);
  });

  test('kill -9 of a shard leader under load: writes go on after the election, none acknowledged is lost', async () => {
    const map = await cluster.coordinator<ShardMap>(0, 'shard-map');
    const victimId = map.shards[1]!.leader;
    const victim = cluster.nodes.findIndex((n) => n.id === victimId);
    const survivors = [0, 1, 2].filter((i) => i !== victim);
    let stop = false;
    let errors = 0;
    const writer = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const k = `load:${w}:${n}`;
        try {
          const c = clients[survivors[n % 2]!]!;
          if ((await c.set(k, String(n))) === 'OK') acked.set(k, String(n));
        } catch {
          errors++; // unknown outcome: not counted as acknowledged
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    await waitFor(async () => acked.size > 500, 'load is running');
    await cluster.kill(victim);
    const killedAt = acked.size;
    await waitFor(async () => acked.size > killedAt + 300, 'writes continue after the leader died');
    stop = true;
    await Promise.all(writers);
    for (const i of survivors) await checkAcked(i);
    assert.ok(errors < acked.size, `errors only in the election window (${errors})`);

    // Restart: the node catches up from the logs and serves every acknowledged key.
    await cluster.restart(victim);
    clients[victim]!.disconnect();
    clients[victim] = respClient(cluster, victim);
    await cluster.waitHealthy();
    await checkAcked(victim);
  });

  test('a node that was down while others wrote rejoins, catches up and serves', async () => {
    await cluster.kill(2);
    // 800 writes over 4 shards: every shard's log grows by far more than snapshotEntries (100), so the
    // survivors truncate past everything node 3 had.
    for (let n = 0; n < 800; n += 8) {
      const batch = [];
      for (let j = n; j < n + 8; j++) batch.push(clients[j % 2]!.set(`down:${j}`, `d${j}`).then((r) => (assert.equal(r, 'OK'), acked.set(`down:${j}`, `d${j}`))));
      await Promise.all(batch);
    }
    const down = await waitFor(async () => {
      const m = await cluster.coordinator<ShardMap>(0, 'shard-map');
      return m.nodes.find((x) => x.id === 'n3')?.status === 'down' || m.nodes.length === 3;
    }, 'the cluster still serves');
    assert.ok(down);
    await cluster.restart(2);
    clients[2]!.disconnect();
    clients[2] = respClient(cluster, 2);
    await cluster.waitHealthy();
    // The others truncated their logs past what node 3 had (snapshotEntries=100): it caught up from snapshots.
    await waitFor(async () => (await cluster.coordinator<{ snapshots: { installed: number } }>(2, 'health')).snapshots.installed > 0, 'node 3 installs snapshots');
    // Stale reads on node 3 (READONLY) reach its own replicas once they caught up.
    await checkAcked(2);
    const stale = respClient(cluster, 2);
    try {
      assert.equal(await stale.call('readonly'), 'OK');
      await waitFor(async () => (await stale.get('down:799')) === 'd799', 'the restarted replica applied the writes it missed');
    } finally {
      stale.disconnect();
    }
  });

  test('a partitioned minority node cannot serve linearizable reads or writes; after healing it serves again', async () => {
    const c = new Redis({ host: '127.0.0.1', port: cluster.nodes[2]!.ports.resp, maxRetriesPerRequest: 0, commandTimeout: 15_000 });
    c.on('error', () => undefined);
    assert.equal(await c.ping(), 'PONG'); // connected before the partition: what fails below is the cluster's answer
    await cluster.partition([[0, 1], [2]]);
    try {
      await assert.rejects(c.set('part:x', '1'), /TRYAGAIN|ERR/);
      assert.equal(await clients[0]!.set('part:y', 'majority'), 'OK');
      acked.set('part:y', 'majority');
      await assert.rejects(c.get('part:y'), /TRYAGAIN|ERR/);
    } finally {
      c.disconnect();
    }
    await cluster.heal();
    await cluster.waitHealthy();
    await waitFor(async () => {
      try {
        return (await clients[2]!.get('part:y')) === 'majority';
      } catch {
        return false;
      }
    }, 'the healed node serves');
    for (let i = 0; i < 3; i++) await checkAcked(i);
  });
});

async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
