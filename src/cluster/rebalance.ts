/**
 * Rebalancing, the pure core: which replica moves the coordinator starts
 * next, given the nodes, the shards and the moves already in flight. No I/O
 * and no clock of its own (time comes in), so the meta leader, the tests
 * and the deterministic simulation compute the same plan from the same
 * state.
 *
 * A move adds a replica on one node and (usually) removes one from
 * another. It runs in phases, each a single Raft membership change on the
 * shard: the new replica joins as a learner and catches up, is promoted to
 * voter, and only then is the old replica removed. A shard's voters are
 * thus never fewer than before the move, and a live majority is never lost
 * to a move.
 *
 * What the planner asks for, most urgent first:
 *  1. repair: a replica on a node that is dead (down longer than
 *     `deadAfterMs`) or gone from the registry is re-created elsewhere;
 *     so is a missing replica (a shard with fewer replicas than it should
 *     have while enough nodes are up);
 *  2. drain: replicas on a draining node (leaving the cluster) move off;
 *  3. diversify: a shard with two replicas in one rack moves one to an up
 *     node in a rack it does not use, when there is one;
 *  4. balance: while the most loaded up node holds two or more replicas
 *     more than the least loaded one, a replica moves from the first to
 *     the second (never costing a shard a rack).
 * Targets are up nodes that do not hold the shard, chosen to keep replicas
 * on distinct racks (then datacenters) where the current placement has
 * them distinct, then by fewest replicas (moves in flight counted), then by
 * id. At most one move per shard at a time, at most `maxMoves` in all, and
 * at most `maxMovesPerNode` touching one node.
 */
import type { NodeId } from '../replication/index.js';
import { lexLess, shardGroupName as shardKey } from './meta.js';

export type PlacementStatus = 'up' | 'down' | 'draining';

export interface PlacementNode {
  id: NodeId;
  rack: string;
  datacenter: string;
  status: PlacementStatus;
  /** When it went down (status 'down'); dead once down longer than deadAfterMs. */
  statusSinceMs: number;
}

export interface PlacementShard {
  keyspace: string;
  id: number;
  /** Voters; the first is the preferred leader. */
  replicas: NodeId[];
  /** Replicas the keyspace asks for. */
  replicationFactor: number;
}

export type MoveReason = 'repair' | 'drain' | 'racks' | 'balance';

export interface PlannedMove {
  keyspace: string;
  shard: number;
  /** The node that gets a new replica. */
  add: NodeId;
  /** The replica removed once the new one is a voter (null: the shard was short of replicas). */
  remove: NodeId | null;
  reason: MoveReason;
}

export interface PlanOptions {
  nowMs: number;
  /** A node down longer than this is dead: its replicas are re-created elsewhere. */
  deadAfterMs: number;
  /** Moves in flight at once, in all. */
  maxMoves: number;
  /** Moves in flight at once that add to or remove from one node. */
  maxMovesPerNode: number;
}

function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether `n` can take new replicas. */
function usable(n: PlacementNode | undefined): n is PlacementNode {
  return n !== undefined && n.status === 'up';
}

/** Whether a replica on `n` must be re-created elsewhere. */
export function isDead(n: PlacementNode | undefined, opts: Pick<PlanOptions, 'nowMs' | 'deadAfterMs'>): boolean {
  return n === undefined || (n.status === 'down' && opts.nowMs - n.statusSinceMs >= opts.deadAfterMs);
}

/** Replicas per node once the moves in flight are done (targets count, removed replicas do not). */
export function replicaLoad(nodes: readonly PlacementNode[], shards: readonly PlacementShard[], moves: readonly PlannedMove[]): Map<NodeId, number> {
  const load = new Map<NodeId, number>(nodes.map((n) => [n.id, 0]));
  for (const s of shards) for (const r of s.replicas) if (load.has(r)) load.set(r, load.get(r)! + 1);
  for (const m of moves) {
    if (load.has(m.add)) load.set(m.add, load.get(m.add)! + 1);
    if (m.remove !== null && load.has(m.remove)) load.set(m.remove, load.get(m.remove)! - 1);
  }
  return load;
}

/**
 * The moves to start now, in order (at most maxMoves minus those in flight).
 * Deterministic for the same input.
 */
export function planMoves(nodes: readonly PlacementNode[], shards: readonly PlacementShard[], inFlight: readonly PlannedMove[], opts: PlanOptions): PlannedMove[] {
  const nodeById = new Map(nodes.map((n) => [n.id, n]));
  const moving = new Set(inFlight.map((m) => shardKey(m.keyspace, m.shard)));
  const perNode = new Map<NodeId, number>();
  const touch = (id: NodeId | null, d: number): void => {
    if (id !== null) perNode.set(id, (perNode.get(id) ?? 0) + d);
  };
  for (const m of inFlight) {
    touch(m.add, 1);
    touch(m.remove, 1);
  }
  const planned: PlannedMove[] = [];
  const all = [...inFlight];
  const budget = (): boolean => all.length < opts.maxMoves;
  const free = (id: NodeId | null): boolean => id === null || (perNode.get(id) ?? 0) < opts.maxMovesPerNode;
  const sorted = [...shards].sort((a, b) => byId(a.keyspace, b.keyspace) || a.id - b.id);
  const upCount = nodes.filter((n) => n.status === 'up').length;

  const rackOf = (id: NodeId): string => {
    const n = nodeById.get(id);
    return n === undefined ? `?${id}` : `${n.datacenter}/${n.rack}`;
  };
  const distinctRacks = (ids: readonly NodeId[]): number => new Set(ids.map(rackOf)).size;
  const record = (m: PlannedMove): void => {
    planned.push(m);
    all.push(m);
    moving.add(shardKey(m.keyspace, m.shard));
    touch(m.add, 1);
    touch(m.remove, 1);
  };
  const start = (s: PlacementShard, remove: NodeId | null, reason: MoveReason): void => {
    if (!free(remove)) return;
    const keep = s.replicas.filter((r) => r !== remove);
    const target = pickTarget(s, keep, nodeById, replicaLoad(nodes, shards, all), (id) => free(id));
    if (target !== undefined) record({ keyspace: s.keyspace, shard: s.id, add: target, remove, reason });
  };

  // 1. Repair: dead replicas first, then shards short of replicas.
  for (const s of sorted) {
    if (!budget()) return planned;
    if (moving.has(shardKey(s.keyspace, s.id))) continue;
    const dead = s.replicas.filter((r) => isDead(nodeById.get(r), opts));
    if (dead.length > 0) {
      start(s, dead[0]!, 'repair');
      continue;
    }
    const want = Math.min(s.replicationFactor, upCount);
    if (s.replicas.length < want) start(s, null, 'repair');
  }
  // 2. Drain.
  for (const s of sorted) {
    if (!budget()) return planned;
    if (moving.has(shardKey(s.keyspace, s.id))) continue;
    const leaving = s.replicas.find((r) => nodeById.get(r)?.status === 'draining');
    if (leaving !== undefined) start(s, leaving, 'drain');
  }
  // 3. Diversify: a shard with two replicas in one rack while an up node in a rack it does not use exists.
  const racksUp = new Set(nodes.filter((n) => n.status === 'up').map((n) => `${n.datacenter}/${n.rack}`));
  for (const s of sorted) {
    if (!budget()) return planned;
    if (moving.has(shardKey(s.keyspace, s.id))) continue;
    if (distinctRacks(s.replicas) >= Math.min(racksUp.size, s.replicas.length)) continue;
    // The replica to move: one sharing its rack with another, on the most loaded node.
    const load = replicaLoad(nodes, shards, all);
    const crowded = s.replicas
      .filter((r) => s.replicas.some((o) => o !== r && rackOf(o) === rackOf(r)))
      .sort((a, b) => (load.get(b) ?? 0) - (load.get(a) ?? 0) || byId(a, b));
    for (const from of crowded) {
      if (!free(from)) continue;
      const keep = s.replicas.filter((r) => r !== from);
      const target = pickTarget(s, keep, nodeById, load, (id) => free(id) && !keep.some((k) => rackOf(k) === rackOf(id)));
      if (target === undefined) continue;
      record({ keyspace: s.keyspace, shard: s.id, add: target, remove: from, reason: 'racks' });
      break;
    }
  }
  // 4. Balance: most loaded up node to least loaded, one replica at a time.
  for (;;) {
    if (!budget()) return planned;
    const load = replicaLoad(nodes, shards, all);
    const ups = nodes.filter((n) => n.status === 'up').sort((a, b) => byId(a.id, b.id));
    if (ups.length < 2) return planned;
    let moved = false;
    // Sources from the most loaded down; each tries the shards it holds in order.
    const sources = [...ups].sort((a, b) => load.get(b.id)! - load.get(a.id)! || byId(a.id, b.id));
    const min = Math.min(...ups.map((n) => load.get(n.id)!));
    for (const src of sources) {
      if (load.get(src.id)! - min < 2) break;
      if (!free(src.id)) continue;
      for (const s of sorted) {
        if (moving.has(shardKey(s.keyspace, s.id)) || !s.replicas.includes(src.id)) continue;
        const keep = s.replicas.filter((r) => r !== src.id);
        const target = pickTarget(s, keep, nodeById, load, (id) => free(id) && load.get(id)! <= load.get(src.id)! - 2);
        if (target === undefined) continue;
        // Never trade rack diversity for balance.
        if (distinctRacks([...keep, target]) < distinctRacks(s.replicas)) continue;
        record({ keyspace: s.keyspace, shard: s.id, add: target, remove: src.id, reason: 'balance' });
        moved = true;
        break;
      }
      if (moved) break;
    }
    if (!moved) return planned;
  }
}

/** The best up node for a new replica of `s` next to `keep`: a new rack, then a new datacenter, then fewest replicas, then id. */
function pickTarget(
  s: PlacementShard,
  keep: readonly NodeId[],
  nodes: Map<NodeId, PlacementNode>,
  load: Map<NodeId, number>,
  allowed: (id: NodeId) => boolean,
): NodeId | undefined {
  const kept = keep.map((id) => nodes.get(id)).filter((n): n is PlacementNode => n !== undefined);
  let best: PlacementNode | undefined;
  let bestKey: number[] = [];
  for (const cand of [...nodes.values()].sort((a, b) => byId(a.id, b.id))) {
    if (!usable(cand) || s.replicas.includes(cand.id) || !allowed(cand.id)) continue;
    const key = [
      kept.some((k) => k.rack === cand.rack && k.datacenter === cand.datacenter) ? 1 : 0,
      kept.some((k) => k.datacenter === cand.datacenter) ? 1 : 0,
      load.get(cand.id) ?? 0,
    ];
    if (best === undefined || lexLess(key, bestKey)) {
      best = cand;
      bestKey = key;
    }
  }
  return best?.id;
}

/** Whether the up nodes hold replicas within one of each other. */
export function isBalanced(nodes: readonly PlacementNode[], shards: readonly PlacementShard[]): boolean {
  const load = replicaLoad(nodes, shards, []);
  const ups = nodes.filter((n) => n.status === 'up').map((n) => load.get(n.id)!);
  return ups.length === 0 || Math.max(...ups) - Math.min(...ups) <= 1;
}
