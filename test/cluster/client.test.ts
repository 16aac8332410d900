// The topology-aware SDK (stratadb/client) against a real 3-node cluster:
// it routes to leaders, follows NOT_LEADER after a leadership change, rides
// out a killed leader, and a write retried with its session applies once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalCluster } from '../../src/cli/local-cluster.js';
import { StrataClient } from '../../src/client/index.js';

describe('stratadb/client against a 3-node cluster', { timeout: 180_000 }, () => {
  let dir: string;
  let cluster: LocalCluster;
  let client: StrataClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-sdk-'));
    cluster = await LocalCluster.start({ nodes: 3, baseDir: dir, shards: 4, args: ['--set', 'cluster.requestTimeoutMs=3000'] });
    await cluster.waitLeadersSettled();
    client = await StrataClient.connect({ nodes: [cluster.url(0, '')], timeoutMs: 20_000 });
  });

  after(async () => {
    client?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('routes every key straight to its leader: no redirects on a settled cluster', async () => {
    for (let i = 0; i < 100; i++) await client.put(`k${i}`, `v${i}`);
    for (let i = 0; i < 100; i++) assert.equal((await client.get(`k${i}`))?.toString(), `v${i}`);
    // Straight to the leaders: a redirect only if an election happened meanwhile (a loaded machine), never one per key.
    assert.ok(client.stats.redirects <= 4, `redirects: ${client.stats.redirects}`);
    assert.ok(client.stats.requests <= 204);
    assert.equal(await client.get('missing'), undefined);
    assert.equal(await client.delete('k0'), true);
    assert.equal(await client.delete('k0'), false);
    assert.equal((await client.get('k1', { consistency: 'stale' }))?.toString(), 'v1');
    // Bytes that are not UTF-8 travel as bytes.
    const key = Buffer.from([0, 1, 0xfe, 0x2f, 0x25]);
    await client.put(key, Buffer.from([9, 8, 7]));
    assert.deepEqual(await client.get(key), Buffer.from([9, 8, 7]));
  });

  test('follows NOT_LEADER after a leadership transfer', async () => {
    const map = client.topology()!;
    const shard = map.shards[0]!;
    const target = shard.replicas.find((r) => r !== shard.leader)!;
    const r = await fetch(cluster.url(0, '/api/v1/coordinator/shard/0/election'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target }) });
    assert.equal(r.status, 200);
    for (;;) {
      const m = await cluster.coordinator<{ shards: Array<{ leader: string }> }>(0, 'shard-map');
      if (m.shards[0]!.leader === target) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    // Keys of shard 0: the client's map still names the old leader.
    const before = client.stats.redirects;
    for (let i = 0; i < 100; i++) await client.put(`t${i}`, 'x');
    assert.ok(client.stats.redirects > before, 'the old leader answered NOT_LEADER and the client followed');
    assert.equal(client.topology()!.shards[0]!.leader === target || client.stats.mapRefreshes > 1, true);
  });

  test('a write retried with the same session applies once', async () => {
    const url = `${cluster.url(1, '/v1/kv/once')}`;
    const put = (value: string) => fetch(url, { method: 'PUT', body: value, headers: { 'x-strata-session': 'test-client.0/1' } });
    assert.equal((await put('first')).status, 200);
    assert.equal((await put('second')).status, 200); // the retry is answered from the session table
    assert.equal((await client.get('once'))?.toString(), 'first');
    assert.equal((await fetch(url, { method: 'PUT', body: 'bad', headers: { 'x-strata-session': 'nope' } })).status, 400);
  });

  test('keeps writing through a kill -9 of a leader; every acknowledged write is there', async () => {
    const map = await cluster.coordinator<{ shards: Array<{ leader: string }> }>(0, 'shard-map');
    const victim = cluster.nodes.findIndex((n) => n.id === map.shards[1]!.leader);
    const seed = cluster.nodes.findIndex((_, i) => i !== victim);
    const c = await StrataClient.connect({ nodes: [cluster.url(seed, '')], timeoutMs: 20_000 });
    const acked: string[] = [];
    let killed = false;
    for (let i = 0; i < 300; i++) {
      if (i === 100) {
        await cluster.kill(victim);
        killed = true;
      }
      await c.put(`f${i}`, `v${i}`);
      acked.push(`f${i}`);
    }
    assert.ok(killed);
    for (const k of acked) assert.equal((await c.get(k))?.toString(), `v${k.slice(1)}`);
    c.close();
    await cluster.restart(victim);
    await cluster.waitHealthy();
  });
});
