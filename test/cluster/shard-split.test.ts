// Splitting a shard by hash range, at the replica: the split entry cuts
// the upper half of the range off, the parent refuses and hides those keys
// and then deletes them, and the new shard starts from the checkpoint the
// entry made, owning exactly them. Routing keeps every key on exactly one
// shard through any sequence of splits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ManualClock, MemFs, crc32c } from '../../src/base/index.js';
import { EntryType } from '../../src/replication/index.js';
import { ShardRouter, ShardStateMachine, decodeWriteOutcome, encodeKvCommand, inRange, rangeOf, subHashLimit } from '../../src/cluster/index.js';
import type { KvCommand, KvWrite, RoutedShard } from '../../src/cluster/index.js';
import { ReplicaSnapshots, encodeCheckpointDescriptor } from '../../src/cluster/shard-snapshot.js';
import { SnapshotSender, Throttle, serveSnapshotRequest } from '../../src/cluster/snapshot-transfer.js';
import { MessageType } from '../../src/replication/index.js';
import type { Message } from '../../src/replication/index.js';

let index = 0;
function entry(c: Partial<KvCommand> & { write: KvWrite }) {
  return { term: 1, index: ++index, type: EntryType.Normal, data: encodeKvCommand({ nowMs: 1000, client: '', seq: 0, ...c }) };
}
const b = (s: string) => Buffer.from(s);
const keysOf = async (sm: ShardStateMachine) => (await sm.service.scan({ limit: 10_000, keysOnly: true })).entries.map((e) => e.key.toString());
const codeOf = async (p: Promise<unknown>) => p.then(
  () => 'ok',
  (err: { code?: string }) => err.code ?? 'unknown',
);

test('a split entry hands the upper half of the range to the new shard: refused and hidden on the parent, then deleted; the new shard starts with exactly those keys', async () => {
  index = 0;
  const fs = new MemFs();
  const clock = new ManualClock(1000);
  const split: number[] = [];
  const parent = await ShardStateMachine.open({ dir: '/p/engine', fs, clock, childSnapDir: (c) => `/c${c}/snap`, onSplit: (c) => split.push(c) });
  const limit = subHashLimit(1);
  const at = Math.floor(limit / 2);
  const upper = (k: string) => crc32c(b(k)) >= at; // n0 = 1: q is the whole hash
  const keys = Array.from({ length: 300 }, (_, i) => `key-${i}`);
  const sessionKey = keys.filter(upper).sort()[1]!;
  await parent.apply([
    ...keys.map((k) => entry({ write: { op: 'set', key: b(k), value: b(`v-${k}`), options: {} } })),
    entry({ client: 'c1', seq: 1, write: { op: 'set', key: b(sessionKey), value: b('session'), options: {} } }),
  ]);
  const moved = keys.filter(upper).sort();
  const kept = keys.filter((k) => !upper(k)).sort();
  assert.ok(moved.length > 100 && kept.length > 100, 'the cut halves the keys');

  const cut: KvWrite = { op: 'split', shard: 0, child: 1, n0: 1, base: 0, lo: 0, at, hi: limit, replicas: ['n1', 'n2', 'n3'] };
  const movedKey = moved[0]!;
  const keptKey = kept[0]!;
  const out = await parent.apply([
    entry({ write: { op: 'set', key: b(movedKey), value: b('before'), options: {} } }),
    entry({ write: cut }),
    entry({ write: { op: 'set', key: b(movedKey), value: b('after'), options: {} } }),
    entry({ write: { op: 'delete', keys: [b(keptKey), b(movedKey)] } }),
    entry({ write: { op: 'set', key: b(keptKey), value: b('after'), options: {} } }),
  ]);
  const o = (i: number) => decodeWriteOutcome(out.get(i)!);
  const splitAt = index - 3;
  assert.deepEqual(o(splitAt), { ok: true, value: { op: 'split' } });
  assert.equal(o(splitAt + 1).ok === false && (o(splitAt + 1) as { code: string }).code, 'WRONG_SHARD', 'a write of a moved key is refused');
  assert.equal(o(splitAt + 2).ok === false && (o(splitAt + 2) as { code: string }).code, 'WRONG_SHARD', 'a write touching any moved key is refused whole');
  assert.equal(o(splitAt + 3).ok, true);
  assert.deepEqual(split, [1]);
  assert.deepEqual(parent.owner, { shard: 0, n0: 1, base: 0, lo: 0, hi: at, children: [1] });

  // Reads: a moved key is refused, scans and counts skip moved keys even before the clean-up pass removed them.
  assert.equal(await codeOf(parent.read({ op: 'get', key: b(movedKey) })), 'WRONG_SHARD');
  assert.equal(await codeOf(parent.read({ op: 'getMany', keys: [b(keptKey), b(movedKey)] })), 'WRONG_SHARD');
  assert.deepEqual(await keysOf(parent), kept);
  assert.equal((await parent.service.keyspaceInfo()).keys, kept.length);
  await parent.cleanupSettled();
  assert.equal(parent.cleanedKeys, moved.length, 'the clean-up pass deleted exactly the moved keys');
  assert.deepEqual(await keysOf(parent), kept);

  // The same entry again (a replay after a crash) changes nothing.
  const replay = await parent.apply([{ ...entry({ write: cut }) }]);
  assert.deepEqual(decodeWriteOutcome(replay.get(index)!), { ok: true, value: { op: 'split' } });
  assert.deepEqual(parent.owner?.children, [1]);
  // A split of a range the replica does not own is refused (deterministically, on every replica).
  const wrong = await parent.apply([entry({ write: { ...cut, child: 2, hi: limit } })]);
  assert.equal(decodeWriteOutcome(wrong.get(index)!).ok, false);
  assert.equal(parent.owner?.hi, at);

  // The new shard: its first snapshot is the checkpoint the entry made, as of just before the entry.
  const snaps = new ReplicaSnapshots(fs, '/c1/snap');
  const first = snaps.info(1)!;
  assert.deepEqual(first.init?.owner, { shard: 1, n0: 1, base: 0, lo: at, hi: limit, children: [] });
  assert.deepEqual(first.init?.replicas, ['n1', 'n2', 'n3']);
  // On a node whose parent replica made it, the new shard's engine starts as that checkpoint.
  let child = await ShardStateMachine.open({ dir: '/c1/engine', fs, clock, startFromSplit: true });
  assert.equal(child.applied, 1);
  // Its records as the new shard are not flushed at once: after a crash the engine still names the parent's range,
  // which is how the node knows to install the first snapshot again (ClusterNode.openReplica).
  {
    const crashed = fs.crashImage();
    const again = await ShardStateMachine.open({ dir: '/c1/engine', fs: crashed, clock });
    assert.notEqual(again.owner?.shard, 1);
    await again.restore({ meta: { index: 1, term: 1, conf: { voters: ['n1', 'n2', 'n3'], learners: [] } }, data: encodeCheckpointDescriptor(first) });
    assert.deepEqual([again.applied, again.owner?.shard], [1, 1]);
    assert.deepEqual(await keysOf(again), moved);
    await again.close();
  }
  assert.deepEqual(await keysOf(child), moved);
  assert.equal((await child.service.get(b(movedKey)))?.toString(), 'before', 'the state as of the entry before the split');
  assert.equal(await codeOf(child.read({ op: 'get', key: b(keptKey) })), 'WRONG_SHARD');
  // Client sessions came along: the session command retried on the new shard is answered, not applied again.
  const retried = await child.apply([{ term: 2, index: 2, type: EntryType.Normal, data: encodeKvCommand({ nowMs: 1000, client: 'c1', seq: 1, write: { op: 'set', key: b(sessionKey), value: b('twice'), options: {} } }) }]);
  assert.equal(decodeWriteOutcome(retried.get(2)!).ok, true);
  assert.equal((await child.service.get(b(sessionKey)))?.toString(), 'session');
  await child.cleanupSettled();
  assert.equal(child.cleanedKeys, kept.length);

  // A replica whose parent skipped the entry starts empty and receives the first snapshot's files from the new
  // shard's leader: the descriptor (and so the range it installs) travels with them.
  const empty = await ShardStateMachine.open({ dir: '/r1/engine', fs, clock });
  const forwarded: Message[] = [];
  const sent = new Promise<void>((resolve) => {
    const sender = new SnapshotSender({
      fs,
      throttle: new Throttle(0),
      request: async (_to, method, payload) => serveSnapshotRequest(method, payload, () => empty.snapshots),
      forward: (_to, _group, msg) => {
        forwarded.push(msg);
        resolve();
      },
      snapshotsOf: () => snaps,
      onMissing: () => assert.fail('the first snapshot is there'),
      log: () => undefined,
    });
    const data = encodeCheckpointDescriptor(first);
    sender.send('r', 'ks/1', {
      type: MessageType.Snap, from: 'l', to: 'r', term: 2, index: 0, logTerm: 0, entries: [], commit: 0, reject: false, rejectHint: 0, hintTerm: 0, context: undefined,
      snapshot: { meta: { index: 1, term: 1, conf: { voters: ['n1', 'n2', 'n3'], learners: [] } }, offset: 0, total: data.length, data },
    });
  });
  await sent;
  assert.deepEqual(empty.snapshots.info(1)?.init, first.init);
  await empty.restore({ meta: forwarded[0]!.snapshot!.meta, data: forwarded[0]!.snapshot!.data });
  assert.deepEqual([empty.applied, empty.owner?.shard], [1, 1]);
  assert.deepEqual(await keysOf(empty), moved);
  await empty.close();
  await child.close();
  // Reopened, the new shard still knows its range and index (closing flushed them).
  child = await ShardStateMachine.open({ dir: '/c1/engine', fs, clock });
  assert.equal(child.owner?.shard, 1);
  assert.ok(child.applied >= 1);
  assert.deepEqual(await keysOf(child), moved);
  await child.close();
  await parent.close();
});

test('routing: every key has exactly one owner through any sequence of splits, and an unsplit keyspace routes by crc32c mod n', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 9 }), fc.array(fc.nat(), { maxLength: 12 }), fc.array(fc.uint8Array({ maxLength: 12 }), { minLength: 1, maxLength: 60 }), (n0, picks, keys) => {
      const shards: RoutedShard[] = Array.from({ length: n0 }, (_, id) => ({ id }));
      const plain = new ShardRouter(n0, shards);
      for (const k of keys) assert.equal(plain.shardOf(k), crc32c(k) % n0);
      for (const p of picks) {
        const parent = shards[p % shards.length]!;
        const r = rangeOf(parent, n0);
        if (r.hi - r.lo < 2) continue;
        const at = r.lo + Math.floor((r.hi - r.lo) / 2);
        shards.push({ id: shards.length, base: r.base, lo: at, hi: r.hi });
        Object.assign(parent, { base: r.base, lo: r.lo, hi: at });
      }
      const router = new ShardRouter(n0, shards);
      for (const k of keys) {
        const owners = shards.filter((sh) => inRange(k, rangeOf(sh, n0), n0)).map((sh) => sh.id);
        assert.equal(owners.length, 1);
        assert.equal(router.shardOf(k), owners[0]);
      }
    }),
    { numRuns: 300, seed: 20261206 },
  );
});

test('routing: a shard being split off routes nothing until a parent says it serves; then the narrower range wins', () => {
  const n0 = 2;
  const limit = subHashLimit(n0);
  const at = Math.floor(limit / 2);
  const shards: RoutedShard[] = [{ id: 0 }, { id: 1 }, { id: 2, base: 1, lo: at, hi: limit, splitFrom: 1 }];
  const keys = Array.from({ length: 400 }, (_, i) => b(`k${i}`));
  const upperOfOne = keys.filter((k) => crc32c(k) % n0 === 1 && Math.floor(crc32c(k) / n0) >= at);
  assert.ok(upperOfOne.length > 50);
  const before = new ShardRouter(n0, shards);
  for (const k of upperOfOne) assert.equal(before.shardOf(k), 1);
  assert.deepEqual(before.shardIds(), [0, 1, 2], 'scans visit the shard being split off too');
  const after = new ShardRouter(n0, shards, new Set([2]));
  for (const k of upperOfOne) assert.equal(after.shardOf(k), 2);
  for (const k of keys.filter((k) => !upperOfOne.includes(k))) assert.equal(after.shardOf(k), crc32c(k) % n0);
});
