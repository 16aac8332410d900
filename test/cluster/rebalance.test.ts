/**
 * The rebalancing planner (src/cluster/rebalance.ts): unit cases, and a
 * deterministic simulation of joins, leaves (drains), failures and
 * returns while moves run phase by phase (learner, voter, old replica
 * removed), checking after every step that no shard is left without a live
 * majority of its voters, and that once the events stop the plan converges:
 * every shard fully replicated on up nodes, racks distinct where possible,
 * replicas per node within one.
 *
 * STRATA_LONG_TESTS=1 runs more seeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/base/index.js';
import { isBalanced, planMoves, replicaLoad } from '../../src/cluster/rebalance.js';
import type { PlacementNode, PlacementShard, PlanOptions, PlannedMove } from '../../src/cluster/rebalance.js';

const LONG = !!process.env.STRATA_LONG_TESTS && process.env.STRATA_LONG_TESTS !== '0';

const node = (id: string, rack = id, status: PlacementNode['status'] = 'up', statusSinceMs = 0): PlacementNode => ({ id, rack, datacenter: 'dc1', status, statusSinceMs });
const shard = (id: number, replicas: string[], rf = 3): PlacementShard => ({ keyspace: 'default', id, replicas, replicationFactor: rf });
const OPTS: PlanOptions = { nowMs: 1_000_000, deadAfterMs: 60_000, maxMoves: 100, maxMovesPerNode: 100 };

test('a new node receives replicas until nodes are within one; each move adds before it removes', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4'].map((id) => node(id));
  const shards = Array.from({ length: 8 }, (_, i) => shard(i, ['n1', 'n2', 'n3']));
  const moves = planMoves(nodes, shards, [], OPTS);
  // 24 replicas over 4 nodes: 6 each, so n4 takes 6 in all.
  assert.equal(moves.length, 6);
  for (const m of moves) {
    assert.equal(m.add, 'n4');
    assert.equal(m.reason, 'balance');
    assert.ok(m.remove !== null && ['n1', 'n2', 'n3'].includes(m.remove));
  }
  assert.equal(new Set(moves.map((m) => m.shard)).size, moves.length, 'one move per shard');
  const load = replicaLoad(nodes, shards, moves);
  assert.deepEqual([...load.values()], [6, 6, 6, 6]);
});

test('limits: maxMoves in all and maxMovesPerNode; moves in flight count', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4'].map((id) => node(id));
  const shards = Array.from({ length: 8 }, (_, i) => shard(i, ['n1', 'n2', 'n3']));
  assert.equal(planMoves(nodes, shards, [], { ...OPTS, maxMoves: 2 }).length, 2);
  assert.equal(planMoves(nodes, shards, [], { ...OPTS, maxMovesPerNode: 3 }).length, 3, 'n4 takes at most 3 at once');
  const first = planMoves(nodes, shards, [], { ...OPTS, maxMoves: 2 });
  const next = planMoves(nodes, shards, first, { ...OPTS, maxMoves: 3 });
  assert.equal(next.length, 1);
  assert.ok(!first.some((m) => m.shard === next[0]!.shard), 'a shard with a move in flight gets no second one');
});

test('repair: a dead node`s replicas are re-created elsewhere; a node only down (not yet dead) is left alone', () => {
  const shards = Array.from({ length: 4 }, (_, i) => shard(i, ['n1', 'n2', 'n3']));
  const downRecently = [node('n1'), node('n2'), node('n3', 'n3', 'down', OPTS.nowMs - 1000), node('n4')];
  // Not dead yet: only balance moves, never away from n3 (the down node cannot send a snapshot... it is a voter still).
  for (const m of planMoves(downRecently, shards, [], OPTS)) assert.notEqual(m.reason, 'repair');
  const dead = [node('n1'), node('n2'), node('n3', 'n3', 'down', OPTS.nowMs - 60_000), node('n4')];
  const moves = planMoves(dead, shards, [], OPTS);
  const repairs = moves.filter((m) => m.reason === 'repair');
  assert.equal(repairs.length, 4);
  for (const m of repairs) {
    assert.equal(m.remove, 'n3');
    assert.equal(m.add, 'n4');
  }
});

test('repair: a replica on a node gone from the registry, and a shard short of replicas', () => {
  const nodes = [node('n1'), node('n2'), node('n3')];
  const moves = planMoves(nodes, [shard(0, ['n1', 'n2', 'ghost']), shard(1, ['n1', 'n2'])], [], OPTS);
  assert.deepEqual(
    moves.map((m) => [m.shard, m.add, m.remove, m.reason]),
    [
      [0, 'n3', 'ghost', 'repair'],
      [1, 'n3', null, 'repair'],
    ],
  );
});

test('drain: every replica leaves a draining node; none is placed on it', () => {
  const nodes = [node('n1'), node('n2'), node('n3', 'n3', 'draining'), node('n4')];
  const shards = Array.from({ length: 4 }, (_, i) => shard(i, ['n1', 'n2', 'n3']));
  const moves = planMoves(nodes, shards, [], OPTS);
  assert.equal(moves.length, 4);
  for (const m of moves) {
    assert.equal(m.reason, 'drain');
    assert.equal(m.remove, 'n3');
    assert.equal(m.add, 'n4');
  }
});

test('racks: a new replica goes to a rack the shard does not use; balance never costs rack diversity', () => {
  // n1, n2 in rack a; n3 in rack b; n4 in rack c. Shard 0 on n1, n2, n3 spans racks a, b.
  const nodes = [node('n1', 'a'), node('n2', 'a'), node('n3', 'b'), node('n4', 'c')];
  const moves = planMoves(nodes, [shard(0, ['n1', 'n2', 'n3'])], [], OPTS);
  assert.equal(moves.length, 1);
  assert.equal(moves[0]!.add, 'n4');
  assert.ok(moves[0]!.remove === 'n1' || moves[0]!.remove === 'n2', 'the replica that shares a rack moves');
  // Balanced already and diverse: nothing to do.
  const two = [node('n1', 'a'), node('n2', 'b')];
  assert.deepEqual(planMoves(two, [shard(0, ['n1', 'n2'], 2)], [], OPTS), []);
});

test('deterministic: the same input gives the same plan', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => node(id, `r${id.charCodeAt(1) % 2}`));
  const shards = Array.from({ length: 16 }, (_, i) => shard(i, ['n1', 'n2', 'n3']));
  const a = planMoves(nodes, shards, [], { ...OPTS, maxMoves: 4 });
  const b = planMoves([...nodes].reverse(), [...shards].reverse(), [], { ...OPTS, maxMoves: 4 });
  assert.deepEqual(a, b);
});

// ------------------------------------------------------------------ simulation

interface SimMove extends PlannedMove {
  /** 'learner': catching up; 'voter': promoted, the old replica not yet removed. */
  phase: 'learner' | 'voter';
}

interface Sim {
  now: number;
  nodes: Map<string, PlacementNode>;
  shards: PlacementShard[];
  moves: SimMove[];
  nextNode: number;
}

const majority = (n: number): number => Math.floor(n / 2) + 1;

function liveVoters(sim: Sim, s: PlacementShard): number {
  return s.replicas.filter((r) => {
    const n = sim.nodes.get(r);
    return n !== undefined && n.status !== 'down';
  }).length;
}

function runSimulation(seed: number, steps: number): void {
  const rnd = new SeededRandom(seed);
  const racks = rnd.int(1, 3);
  const opts = (sim: Sim): PlanOptions => ({ nowMs: sim.now, deadAfterMs: 5_000, maxMoves: rnd.int(1, 6), maxMovesPerNode: rnd.int(1, 3) });
  const sim: Sim = { now: 0, nodes: new Map(), shards: [], moves: [], nextNode: 1 };
  const addNode = (): void => {
    const id = `n${sim.nextNode++}`;
    sim.nodes.set(id, { id, rack: `r${rnd.int(0, racks - 1)}`, datacenter: 'dc1', status: 'up', statusSinceMs: sim.now });
  };
  for (let i = 0; i < 3; i++) addNode();
  const rf = 3;
  const ids = [...sim.nodes.keys()];
  for (let i = 0; i < rnd.int(4, 24); i++) sim.shards.push({ keyspace: 'default', id: i, replicas: [...ids], replicationFactor: rf });
  const where = (): string => `seed ${seed}, t=${sim.now}`;

  const checkSafety = (): void => {
    for (const s of sim.shards) {
      // A move never costs a live majority: at most one node is down at a time, and voters are only removed
      // once the replacement votes.
      assert.ok(liveVoters(sim, s) >= majority(s.replicas.length), `${where()}: shard ${s.id} voters ${s.replicas.join(',')} lost a live majority`);
      assert.equal(new Set(s.replicas).size, s.replicas.length, `${where()}: shard ${s.id} holds a node twice`);
    }
  };

  /** Starts what the planner asks for, after checking each move is well formed. */
  const plan = (): void => {
    const planned = planMoves([...sim.nodes.values()], sim.shards, sim.moves, opts(sim));
    for (const m of planned) {
      const s = sim.shards.find((x) => x.id === m.shard)!;
      assert.equal(sim.nodes.get(m.add)?.status, 'up', `${where()}: target ${m.add} is not up`);
      assert.ok(!s.replicas.includes(m.add), `${where()}: ${m.add} already holds shard ${s.id}`);
      assert.ok(m.remove === null || s.replicas.includes(m.remove), `${where()}: ${m.remove} does not hold shard ${s.id}`);
      assert.ok(!sim.moves.some((x) => x.shard === m.shard), `${where()}: second move on shard ${s.id}`);
      sim.moves.push({ ...m, phase: 'learner' });
    }
  };

  /** One phase of one move (learner → voter → old replica removed); a move whose target left is abandoned. */
  const progress = (m: SimMove): void => {
    const s = sim.shards.find((x) => x.id === m.shard)!;
    const target = sim.nodes.get(m.add);
    if (m.phase === 'learner') {
      if (target === undefined || target.status !== 'up') {
        sim.moves.splice(sim.moves.indexOf(m), 1);
        return;
      }
      s.replicas.push(m.add);
      m.phase = 'voter';
      return;
    }
    if (m.remove !== null) s.replicas = s.replicas.filter((r) => r !== m.remove);
    sim.moves.splice(sim.moves.indexOf(m), 1);
  };

  const removeDrained = (): void => {
    for (const n of [...sim.nodes.values()]) {
      if (n.status !== 'draining') continue;
      if (sim.shards.some((s) => s.replicas.includes(n.id)) || sim.moves.some((m) => m.add === n.id || m.remove === n.id)) continue;
      sim.nodes.delete(n.id);
    }
  };

  for (let step = 0; step < steps; step++) {
    sim.now += rnd.int(100, 3_000);
    const down = [...sim.nodes.values()].filter((n) => n.status === 'down');
    const up = [...sim.nodes.values()].filter((n) => n.status === 'up');
    const ev = rnd.int(0, 19);
    if (ev === 0 && sim.nodes.size < 9) addNode();
    else if (ev === 1 && down.length === 0 && up.length > 3) {
      // A failure: only one node down at a time (RF 3 survives one), and only while every shard has a spare live voter.
      const victim = up[rnd.int(0, up.length - 1)]!;
      if (sim.shards.every((s) => !s.replicas.includes(victim.id) || liveVoters(sim, s) - 1 >= majority(s.replicas.length))) {
        victim.status = 'down';
        victim.statusSinceMs = sim.now;
      }
    } else if (ev === 2 && down.length > 0) {
      const back = down[0]!;
      back.status = 'up';
      back.statusSinceMs = sim.now;
    } else if (ev === 3 && up.length > 3) {
      up[rnd.int(0, up.length - 1)]!.status = 'draining';
    }
    plan();
    checkSafety();
    // Some moves advance one phase.
    for (const m of [...sim.moves]) if (rnd.int(0, 2) === 0) progress(m);
    checkSafety();
    removeDrained();
  }

  // Quiet: failed nodes come back or stay dead, no new events; the plan must converge.
  for (const n of sim.nodes.values()) if (n.status === 'down' && rnd.int(0, 1) === 0) n.status = 'up';
  sim.now += 10_000;
  let rounds = 0;
  for (;;) {
    plan();
    checkSafety();
    removeDrained();
    if (sim.moves.length === 0) break;
    for (const m of [...sim.moves]) progress(m);
    checkSafety();
    assert.ok(++rounds < 500, `${where()}: no convergence after 500 rounds`);
  }
  const nodes = [...sim.nodes.values()];
  const ups = nodes.filter((n) => n.status === 'up');
  for (const s of sim.shards) {
    assert.equal(s.replicas.length, Math.min(rf, ups.length), `${where()}: shard ${s.id} has ${s.replicas.length} replicas`);
    for (const r of s.replicas) assert.equal(sim.nodes.get(r)?.status, 'up', `${where()}: shard ${s.id} still on ${r}`);
    const racksUsed = new Set(s.replicas.map((r) => sim.nodes.get(r)!.rack)).size;
    const racksUp = new Set(ups.map((n) => n.rack)).size;
    assert.equal(racksUsed, Math.min(racksUp, s.replicas.length), `${where()}: shard ${s.id} spans ${racksUsed} of ${racksUp} racks`);
  }
  assert.ok(!nodes.some((n) => n.status === 'draining'), `${where()}: a draining node was never emptied`);
  // Within one, unless racks make it impossible (then the planner keeps diversity): check it where every node has its own rack or all share one.
  const rackCount = new Set(ups.map((n) => n.rack)).size;
  if (rackCount === 1 || rackCount === ups.length) assert.ok(isBalanced(nodes, sim.shards), `${where()}: not balanced: ${JSON.stringify([...replicaLoad(nodes, sim.shards, [])])}`);
}

test('simulation: random joins, drains, failures and returns never cost a shard its live majority, and always converge', () => {
  const seeds = LONG ? 2000 : 150;
  for (let seed = 1; seed <= seeds; seed++) runSimulation(seed, 200);
});
