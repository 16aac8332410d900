// Placement, key hashing and the meta state machine: pure functions every
// node computes the same way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryType, encodeConfChange, ConfChangeType } from '../../src/replication/index.js';
import { MetaStateMachine, ShardRouter, encodeMetaCommand, isMetaState, placeShards, subHashLimit, validateMetaCommand } from '../../src/cluster/index.js';
import type { MetaCommand, NodeInfo } from '../../src/cluster/index.js';

function node(id: string, rack = 'r1', datacenter = 'dc1'): NodeInfo {
  return { id, peer: `127.0.0.1:${7000 + id.length}`, resp: '', http: '', grpc: '', datacenter, rack, status: 'up', registeredAtMs: 0, statusSinceMs: 0 };
}

/** What a node sends to register (the meta group fills in status and times). */
function registration(id: string): Omit<NodeInfo, 'status' | 'registeredAtMs' | 'statusSinceMs'> {
  const { status, registeredAtMs, statusSinceMs, ...n } = node(id);
  void status;
  void registeredAtMs;
  void statusSinceMs;
  return n;
}

test('placement: distinct replicas, balanced within one, preferred leaders spread, deterministic', () => {
  for (const n of [1, 2, 3, 4, 5, 7]) {
    for (const shards of [1, 4, 16, 33]) {
      const nodes = Array.from({ length: n }, (_, i) => node(`n${i + 1}`));
      const placed = placeShards('default', shards, 3, nodes);
      assert.deepEqual(placed, placeShards('default', shards, 3, [...nodes].reverse()), 'independent of input order');
      const load = new Map<string, number>();
      const leads = new Map<string, number>();
      for (const s of placed) {
        assert.equal(s.replicas.length, Math.min(3, n));
        assert.equal(new Set(s.replicas).size, s.replicas.length);
        for (const r of s.replicas) load.set(r, (load.get(r) ?? 0) + 1);
        leads.set(s.replicas[0]!, (leads.get(s.replicas[0]!) ?? 0) + 1);
      }
      const loads = nodes.map((x) => load.get(x.id) ?? 0);
      assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `replicas balanced for ${n} nodes, ${shards} shards: ${loads}`);
      const ls = nodes.map((x) => leads.get(x.id) ?? 0);
      assert.ok(Math.max(...ls) - Math.min(...ls) <= 1, `preferred leaders balanced: ${ls}`);
    }
  }
});

test('placement puts a shard\'s replicas on different racks when it can', () => {
  const nodes = [node('a', 'r1'), node('b', 'r1'), node('c', 'r2'), node('d', 'r2'), node('e', 'r3'), node('f', 'r3')];
  for (const s of placeShards('default', 12, 3, nodes)) {
    const racks = s.replicas.map((id) => nodes.find((x) => x.id === id)!.rack);
    assert.equal(new Set(racks).size, 3, `shard ${s.id} spans three racks: ${s.replicas}`);
  }
});

test('keys spread over shards; the mapping is stable', () => {
  const counts = new Array<number>(16).fill(0);
  const router = new ShardRouter(16, Array.from({ length: 16 }, (_, id) => ({ id })));
  for (let i = 0; i < 16_000; i++) counts[router.shardOf(Buffer.from(`key:${i}`))]!++;
  for (const c of counts) assert.ok(c > 800 && c < 1200, `even spread: ${counts}`);
  assert.equal(router.shardOf(Buffer.from('hello')), router.shardOf(Buffer.from('hello')));
});

test('the meta state machine applies registrations, status, keyspaces and removals; conf changes track voters', async () => {
  const sm = new MetaStateMachine();
  const changes: number[] = [];
  sm.onChange = (s) => changes.push(s.version);
  let index = 0;
  const entry = (c: MetaCommand) => ({ term: 1, index: ++index, type: EntryType.Normal, data: encodeMetaCommand(c) });
  const { status, registeredAtMs, statusSinceMs, ...n1 } = node('n1');
  void status;
  void registeredAtMs;
  void statusSinceMs;
  const out = await sm.apply([
    { term: 1, index: ++index, type: EntryType.ConfChange, data: encodeConfChange({ type: ConfChangeType.AddVoter, node: 'n1' }) },
    entry({ type: 'register', node: n1, nowMs: 10 }),
    entry({ type: 'register', node: { ...n1, id: 'n2' }, nowMs: 20 }),
    entry({ type: 'status', id: 'n2', status: 'down', nowMs: 30 }),
    entry({ type: 'createKeyspace', keyspace: { name: 'default', strategy: 'raft', shards: 2, replicationFactor: 2, createdAtMs: 40 }, shards: placeShards('default', 2, 2, [node('n1'), node('n2')]) }),
    entry({ type: 'remove', id: 'n2' }),
    entry({ type: 'status', id: 'nX', status: 'up', nowMs: 50 }),
  ]);
  assert.deepEqual(sm.conf.voters, ['n1']);
  assert.equal(sm.applied, 7);
  assert.equal(sm.state.nodes.n2!.status, 'down');
  assert.equal(sm.state.nodes.n2!.statusSinceMs, 30);
  assert.equal(sm.state.nodes.n1!.registeredAtMs, 10);
  assert.equal(sm.state.shards.default!.length, 2);
  const answers = [...out.values()].map((b) => JSON.parse(Buffer.from(b).toString()) as { ok?: true; error?: string });
  assert.match(answers[4]!.error!, /still holds shard replicas/);
  assert.match(answers[5]!.error!, /unknown node nX/);
  assert.deepEqual(changes, [7], 'one change per apply batch; the version is the applied index');
  // The snapshot restores the same state.
  const copy = new MetaStateMachine();
  await copy.restore({ meta: { index: 7, term: 1, conf: sm.conf }, data: sm.snapshotData() });
  assert.deepEqual(copy.state, sm.state);
  assert.equal(copy.applied, 7);
});

/** A meta state machine and entries for it, numbered from 1. */
function metaLog() {
  const sm = new MetaStateMachine();
  let index = 0;
  const entry = (c: MetaCommand) => ({ term: 1, index: ++index, type: EntryType.Normal, data: encodeMetaCommand(c) });
  const reg = (id: string) => entry({ type: 'register', node: registration(id), nowMs: 1 });
  return { sm, entry, reg, last: () => index };
}

const TWO_SHARDS: MetaCommand = {
  type: 'createKeyspace',
  keyspace: { name: 'default', strategy: 'raft', shards: 2, replicationFactor: 3, createdAtMs: 2 },
  shards: [
    { keyspace: 'default', id: 0, replicas: ['n1', 'n2', 'n3'] },
    { keyspace: 'default', id: 1, replicas: ['n2', 'n3', 'n1'] },
  ],
};

test('moves in the meta state: start checks the shard and nodes, done puts the new replica in the old one`s place, abort forgets', async () => {
  const { sm, entry, reg } = metaLog();
  const move = (shard: number, add: string, remove: string | null) => ({ keyspace: 'default', shard, add, remove, reason: 'balance' as const, startedAtMs: 5 });
  const out = await sm.apply([
    reg('n1'),
    reg('n2'),
    reg('n3'),
    reg('n4'),
    entry(TWO_SHARDS),
    entry({ type: 'moveStart', move: move(0, 'n4', 'n1') }), // 6: ok
    entry({ type: 'moveStart', move: move(0, 'n4', 'n2') }), // 7: a move is in flight on shard 0
    entry({ type: 'moveStart', move: move(1, 'n2', 'n1') }), // 8: n2 already holds shard 1
    entry({ type: 'moveStart', move: move(1, 'n4', 'n9') }), // 9: n9 does not hold shard 1
    entry({ type: 'moveStart', move: move(7, 'n4', 'n1') }), // 10: no shard 7
    entry({ type: 'status', id: 'n4', status: 'down', nowMs: 6 }),
    entry({ type: 'moveStart', move: move(1, 'n4', 'n1') }), // 12: n4 is not up
    entry({ type: 'moveDone', keyspace: 'default', shard: 0 }), // 13: ok
    entry({ type: 'moveDone', keyspace: 'default', shard: 0 }), // 14: nothing in flight
    entry({ type: 'status', id: 'n4', status: 'up', nowMs: 7 }),
    entry({ type: 'moveStart', move: move(1, 'n4', null) }), // 16: ok (a replica added, none removed)
    entry({ type: 'moveAbort', keyspace: 'default', shard: 1, why: 'test' }), // 17: ok
  ]);
  const answer = (i: number) => JSON.parse(Buffer.from(out.get(i)!).toString()) as { ok?: true; error?: string };
  assert.deepEqual(answer(6), { ok: true });
  assert.match(answer(7).error!, /already has a move/);
  assert.match(answer(8).error!, /already holds/);
  assert.match(answer(9).error!, /does not hold/);
  assert.match(answer(10).error!, /no shard/);
  assert.match(answer(12).error!, /not up/);
  assert.deepEqual(answer(13), { ok: true });
  assert.match(answer(14).error!, /no move in flight/);
  assert.deepEqual(answer(16), { ok: true });
  assert.deepEqual(answer(17), { ok: true });
  // n4 took n1's place (and its turn as preferred leader); the shard counts one move.
  assert.deepEqual(sm.state.shards.default![0]!.replicas, ['n4', 'n2', 'n3']);
  assert.equal(sm.state.shards.default![0]!.moves, 1);
  assert.deepEqual(sm.state.shards.default![1]!.replicas, ['n2', 'n3', 'n1']);
  assert.deepEqual(sm.state.moves, {});
  // Malformed move commands never reach the log.
  assert.throws(() => validateMetaCommand({ type: 'moveStart', move: { ...move(0, 'n4', 'n4') } }), /moveStart/);
  assert.throws(() => validateMetaCommand({ type: 'moveStart', move: { ...move(0, 'n4', 'n1'), reason: 'whim' } }), /moveStart/);
  assert.throws(() => validateMetaCommand({ type: 'moveDone', keyspace: 'default' }), /moveDone/);
});

test('splits in the meta state: the new shard takes the upper half of the parent`s range on its replicas; done shrinks the parent; moves wait', async () => {
  const { sm, entry, reg, last } = metaLog();
  const out = await sm.apply([
    reg('n1'),
    reg('n2'),
    reg('n3'),
    reg('n4'),
    entry(TWO_SHARDS),
    entry({ type: 'splitStart', keyspace: 'default', shard: 1, nowMs: 9 }), // 6: ok, shard 2 is split off shard 1
    entry({ type: 'splitStart', keyspace: 'default', shard: 0, nowMs: 9 }), // 7: one split at a time
    entry({ type: 'moveStart', move: { keyspace: 'default', shard: 1, add: 'n4', remove: 'n1', reason: 'balance', startedAtMs: 9 } }), // 8: shard 1 is being split
    entry({ type: 'moveStart', move: { keyspace: 'default', shard: 2, add: 'n4', remove: 'n1', reason: 'balance', startedAtMs: 9 } }), // 9: so is shard 2
    entry({ type: 'splitStart', keyspace: 'default', shard: 5, nowMs: 9 }), // 10: no shard 5
    entry({ type: 'splitDone', keyspace: 'default', child: 2 }), // 11: ok
    entry({ type: 'splitDone', keyspace: 'default', child: 2 }), // 12: nothing in flight
    entry({ type: 'moveStart', move: { keyspace: 'default', shard: 0, add: 'n4', remove: 'n1', reason: 'balance', startedAtMs: 9 } }), // 13: ok
    entry({ type: 'splitStart', keyspace: 'default', shard: 0, nowMs: 9 }), // 14: shard 0 has a move in flight
    entry({ type: 'splitStart', keyspace: 'default', shard: 2, nowMs: 10 }), // 15: ok, shard 3 is split off shard 2
    entry({ type: 'splitAbort', keyspace: 'default', child: 2, why: 'test' }), // 16: shard 2's split is done
    entry({ type: 'splitStart', keyspace: 'default', shard: 0, nowMs: 10 }), // 17: still one split in flight
  ]);
  const answer = (i: number) => JSON.parse(Buffer.from(out.get(i)!).toString()) as { ok?: true; error?: string };
  assert.deepEqual(answer(6), { ok: true });
  assert.match(answer(7).error!, /already has a split in flight/);
  assert.match(answer(8).error!, /being split/);
  assert.match(answer(9).error!, /being split/);
  assert.match(answer(10).error!, /no shard/);
  assert.deepEqual(answer(11), { ok: true });
  assert.match(answer(12).error!, /no split in flight/);
  assert.deepEqual(answer(13), { ok: true });
  assert.match(answer(14).error!, /move in flight/);
  assert.deepEqual(answer(15), { ok: true });
  assert.match(answer(16).error!, /no split in flight/);
  assert.match(answer(17).error!, /already has a split/);
  const limit = subHashLimit(2);
  const half = Math.floor(limit / 2);
  const [s0, s1, s2, s3] = sm.state.shards.default!;
  assert.equal(s0!.lo, undefined, 'a shard never split keeps no range');
  assert.deepEqual([s1!.base, s1!.lo, s1!.hi, s1!.splitFrom], [1, 0, half, undefined]);
  assert.deepEqual([s2!.base, s2!.lo, s2!.hi, s2!.splitFrom, s2!.replicas], [1, half, limit, undefined, ['n2', 'n3', 'n1']]);
  assert.deepEqual([s3!.base, s3!.lo, s3!.hi, s3!.splitFrom], [1, half + Math.floor((limit - half) / 2), limit, 2]);
  assert.deepEqual(Object.keys(sm.state.splits!), ['default/3']);
  // A split its parent's replicas refused is abandoned: the new shard leaves the map.
  const aborted = await sm.apply([entry({ type: 'splitAbort', keyspace: 'default', child: 3, why: 'refused' })]);
  assert.deepEqual(JSON.parse(Buffer.from(aborted.get(last())!).toString()), { ok: true });
  assert.equal(sm.state.shards.default!.length, 3);
  assert.deepEqual(sm.state.splits, {});
  // The state (as a snapshot or a heartbeat carries it) still checks out with more shards than the keyspace began with.
  assert.ok(isMetaState(JSON.parse(JSON.stringify(sm.state))));
  assert.throws(() => validateMetaCommand({ type: 'splitStart', keyspace: 'default', shard: -1, nowMs: 1 }), /splitStart/);
  assert.throws(() => validateMetaCommand({ type: 'splitDone', keyspace: 'default' }), /splitDone/);
});

test('drain marks a node leaving: no move may add to it, and it can be removed once it holds nothing', async () => {
  const { sm, entry, reg } = metaLog();
  const out = await sm.apply([
    reg('n1'),
    reg('n2'),
    entry({ type: 'createKeyspace', keyspace: { name: 'default', strategy: 'raft', shards: 1, replicationFactor: 1, createdAtMs: 2 }, shards: [{ keyspace: 'default', id: 0, replicas: ['n1'] }] }),
    entry({ type: 'drain', id: 'n2' }), // 4
    entry({ type: 'moveStart', move: { keyspace: 'default', shard: 0, add: 'n2', remove: 'n1', reason: 'balance', startedAtMs: 3 } }), // 5: refused
    entry({ type: 'drain', id: 'n9' }), // 6: unknown
    entry({ type: 'remove', id: 'n2' }), // 7: ok, holds nothing
  ]);
  const answer = (i: number) => JSON.parse(Buffer.from(out.get(i)!).toString()) as { ok?: true; error?: string };
  assert.deepEqual(answer(4), { ok: true });
  assert.match(answer(5).error!, /leaving/);
  assert.match(answer(6).error!, /unknown node/);
  assert.deepEqual(answer(7), { ok: true });
  assert.equal(sm.state.nodes.n2, undefined);
});
