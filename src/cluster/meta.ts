/**
 * The cluster's metadata and the pure logic over it: nodes, keyspaces and
 * the shard map, kept by the meta group (a Raft group on the first three
 * nodes) as a replicated state machine. Commands are small JSON documents;
 * the whole state is the meta group's snapshot. Placement and key hashing
 * are pure functions of the state, so every node computes the same answer.
 */
import { ERROR_CODES, StrataError, corruption } from '../base/index.js';
import { rangeOf, subHashLimit } from './routing.js';
import { EntryType, applyConfChangeTo, decodeConfChange } from '../replication/index.js';
import type { ConfState, Entry, NodeId, Snapshot } from '../replication/index.js';
import type { StateMachine } from './raft-group.js';

export type NodeStatus = 'up' | 'down';

export interface NodeInfo {
  id: NodeId;
  /** host:port of the peer transport. */
  peer: string;
  /** Client-facing addresses (host:port; '' when that front end is off). */
  resp: string;
  http: string;
  grpc: string;
  datacenter: string;
  rack: string;
  status: NodeStatus;
  /** When the node first registered (the meta leader's clock, ms). */
  registeredAtMs: number;
  /** When the meta leader last changed its status. */
  statusSinceMs: number;
  /** Being drained before its removal (DELETE /api/v1/coordinator/nodes/{id}): its replicas move off, none move on. */
  leaving?: boolean;
}

export interface KeyspaceInfo {
  name: string;
  strategy: 'raft';
  shards: number;
  replicationFactor: number;
  createdAtMs: number;
}

export interface ShardInfo {
  keyspace: string;
  id: number;
  /** Replica node ids; the first is the preferred leader. */
  replicas: NodeId[];
  /** Moves completed on this shard (absent: none). A replica bootstraps its log only while this is 0. */
  moves?: number;
  /**
   * The hash range the shard owns (routing.ts); absent on a shard never
   * split: its whole base shard (base = id).
   */
  base?: number;
  lo?: number;
  hi?: number;
  /** Being split off this shard: created by splitStart, routed to once splitDone clears it. */
  splitFrom?: number;
}

/** A shard split in flight: the parent cuts [at, hi) of its range off to the new shard `child`. */
export interface SplitRecord {
  keyspace: string;
  parent: number;
  child: number;
  at: number;
  startedAtMs: number;
}

/** A replica move in flight (see rebalance.ts): `add` joins as a learner, is promoted, then `remove` leaves. */
export interface MoveRecord {
  keyspace: string;
  shard: number;
  add: NodeId;
  remove: NodeId | null;
  reason: 'repair' | 'drain' | 'racks' | 'balance';
  startedAtMs: number;
}

export interface MetaState {
  nodes: Record<NodeId, NodeInfo>;
  keyspaces: Record<string, KeyspaceInfo>;
  shards: Record<string, ShardInfo[]>;
  /** Moves in flight by shard group name (absent in states written before rebalancing existed). */
  moves?: Record<string, MoveRecord>;
  /** Splits in flight by the new shard's group name. */
  splits?: Record<string, SplitRecord>;
  /** The meta log index of the last command applied: nodes cache the state and compare versions. */
  version: number;
}

export type MetaCommand =
  | { type: 'register'; node: Omit<NodeInfo, 'status' | 'registeredAtMs' | 'statusSinceMs'>; nowMs: number }
  | { type: 'status'; id: NodeId; status: NodeStatus; nowMs: number }
  | { type: 'remove'; id: NodeId }
  | { type: 'drain'; id: NodeId }
  | { type: 'createKeyspace'; keyspace: KeyspaceInfo; shards: ShardInfo[] }
  | { type: 'moveStart'; move: MoveRecord }
  | { type: 'moveDone'; keyspace: string; shard: number }
  | { type: 'moveAbort'; keyspace: string; shard: number; why: string }
  | { type: 'splitStart'; keyspace: string; shard: number; nowMs: number }
  | { type: 'splitDone'; keyspace: string; child: number }
  | { type: 'splitAbort'; keyspace: string; child: number; why: string };

export function emptyMetaState(): MetaState {
  return { nodes: {}, keyspaces: {}, shards: {}, version: 0 };
}

/** Whether a shard is part of a split in flight (as the parent or the new shard): no move may start on it. */
export function inSplit(s: MetaState, keyspace: string, shard: number): boolean {
  return Object.values(s.splits ?? {}).some((x) => x.keyspace === keyspace && (x.parent === shard || x.child === shard));
}

/** The group name of a shard on the wire and on disk. */
export function shardGroupName(keyspace: string, shard: number): string {
  return `${keyspace}/${shard}`;
}

/**
 * Places `shards` shards of `rf` replicas on the nodes: each replica goes
 * to the node holding the fewest replicas so far (the first, the preferred
 * leader, to the node with the fewest preferred leaderships first),
 * preferring a rack (then a datacenter) the shard does not use yet; ties
 * break by id rotated per shard, so replicas and preferred leaders spread
 * evenly. Deterministic.
 */
export function placeShards(keyspace: string, shards: number, rf: number, nodes: readonly NodeInfo[]): ShardInfo[] {
  const live = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (live.length === 0) throw new StrataError(ERROR_CODES.UNAVAILABLE, 'no nodes to place shards on');
  const n = Math.min(rf, live.length);
  const load = new Map<NodeId, number>(live.map((x) => [x.id, 0]));
  const leads = new Map<NodeId, number>(live.map((x) => [x.id, 0]));
  const out: ShardInfo[] = [];
  for (let s = 0; s < shards; s++) {
    const chosen: NodeInfo[] = [];
    for (let r = 0; r < n; r++) {
      let best: NodeInfo | undefined;
      let bestKey: number[] = [];
      for (let i = 0; i < live.length; i++) {
        const cand = live[(i + s) % live.length]!;
        if (chosen.includes(cand)) continue;
        const key = [
          chosen.some((c) => c.rack === cand.rack && c.datacenter === cand.datacenter) ? 1 : 0,
          chosen.some((c) => c.datacenter === cand.datacenter) ? 1 : 0,
          r === 0 ? leads.get(cand.id)! : 0,
          load.get(cand.id)!,
          i,
        ];
        if (best === undefined || lexLess(key, bestKey)) {
          best = cand;
          bestKey = key;
        }
      }
      chosen.push(best!);
      load.set(best!.id, load.get(best!.id)! + 1);
      if (r === 0) leads.set(best!.id, leads.get(best!.id)! + 1);
    }
    out.push({ keyspace, id: s, replicas: chosen.map((c) => c.id) });
  }
  return out;
}

/** Whether `a` sorts before `b`, element by element. */
export function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]!;
  }
  return false;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length <= max;
const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const ID = /^[A-Za-z0-9_.-]{1,64}$/;

function badCommand(why: string): never {
  throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, `meta command: ${why}`);
}

/** Shards a keyspace may grow to by splitting. */
export const MAX_SHARDS = 4096;

function checkShards(ks: KeyspaceInfo, shards: unknown, exact: boolean): void {
  if (!Array.isArray(shards) || (exact ? shards.length !== ks.shards : shards.length < ks.shards || shards.length > MAX_SHARDS)) {
    badCommand(`keyspace ${ks.name} needs ${ks.shards} shards`);
  }
  const limit = subHashLimit(ks.shards);
  shards.forEach((s: unknown, i) => {
    if (!isObj(s) || s.keyspace !== ks.name || s.id !== i || !Array.isArray(s.replicas) || s.replicas.length === 0 || s.replicas.some((r) => !isStr(r) || !ID.test(r))) {
      badCommand(`shard ${i} of ${ks.name} is malformed`);
    }
    const ranged = s.lo !== undefined || s.hi !== undefined || s.base !== undefined;
    if (ranged && !(isInt(s.base, 0, ks.shards - 1) && isInt(s.lo, 0, limit - 1) && isInt(s.hi, 1, limit) && (s.lo as number) < (s.hi as number))) {
      badCommand(`shard ${i} of ${ks.name} has a malformed hash range`);
    }
    if (!ranged && i >= ks.shards) badCommand(`shard ${i} of ${ks.name} (split off another) has no hash range`);
  });
}

/**
 * Checks a meta command's shape before the meta leader proposes it (it may
 * come from a peer): a malformed command in the meta log would break every
 * replica that applies it.
 */
export function validateMetaCommand(c: unknown): asserts c is MetaCommand {
  if (!isObj(c)) badCommand('not an object');
  switch (c.type) {
    case 'register': {
      const n = c.node;
      if (!isObj(n) || !isStr(n.id) || !ID.test(n.id) || !isStr(n.peer) || !/^[^\s:]+:\d{1,5}$/.test(n.peer)) badCommand('register needs a node id and peer host:port');
      for (const k of ['resp', 'http', 'grpc', 'datacenter', 'rack']) if (!isStr(n[k])) badCommand(`register: ${k} must be a string`);
      if (!isInt(c.nowMs, 0, 2 ** 53)) badCommand('register: nowMs');
      return;
    }
    case 'status':
      if (!isStr(c.id) || (c.status !== 'up' && c.status !== 'down') || !isInt(c.nowMs, 0, 2 ** 53)) badCommand('status needs id, up|down, nowMs');
      return;
    case 'remove':
    case 'drain':
      if (!isStr(c.id)) badCommand(`${c.type} needs an id`);
      return;
    case 'createKeyspace': {
      const k = c.keyspace;
      if (!isObj(k) || !isStr(k.name) || !ID.test(k.name) || k.strategy !== 'raft' || !isInt(k.shards, 1, 4096) || !isInt(k.replicationFactor, 1, 7) || !isInt(k.createdAtMs, 0, 2 ** 53)) {
        badCommand('createKeyspace needs name, strategy raft, shards, replicationFactor, createdAtMs');
      }
      checkShards(k as unknown as KeyspaceInfo, c.shards, true);
      return;
    }
    case 'moveStart': {
      const m = c.move;
      if (
        !isObj(m) || !isStr(m.keyspace) || !isInt(m.shard, 0, 4095) || !isStr(m.add) || !ID.test(m.add) ||
        !(m.remove === null || (isStr(m.remove) && ID.test(m.remove))) || m.add === m.remove ||
        !['repair', 'drain', 'racks', 'balance'].includes(m.reason as string) || !isInt(m.startedAtMs, 0, 2 ** 53)
      ) {
        badCommand('moveStart needs keyspace, shard, add, remove (or null), reason, startedAtMs');
      }
      return;
    }
    case 'moveDone':
    case 'moveAbort':
      if (!isStr(c.keyspace) || !isInt(c.shard, 0, 4095) || (c.type === 'moveAbort' && !isStr(c.why, 1000))) badCommand(`${c.type} needs keyspace and shard`);
      return;
    case 'splitStart':
      if (!isStr(c.keyspace) || !isInt(c.shard, 0, MAX_SHARDS - 1) || !isInt(c.nowMs, 0, 2 ** 53)) badCommand('splitStart needs keyspace, shard, nowMs');
      return;
    case 'splitDone':
    case 'splitAbort':
      if (!isStr(c.keyspace) || !isInt(c.child, 0, MAX_SHARDS - 1) || (c.type === 'splitAbort' && !isStr(c.why, 1000))) badCommand(`${c.type} needs keyspace and child`);
      return;
    default:
      badCommand(`unknown type ${String(c.type).slice(0, 40)}`);
  }
}

/** A meta state as another node sent it (a heartbeat answer), checked before a node routes by it. */
export function isMetaState(s: unknown): s is MetaState {
  if (!isObj(s) || !isInt(s.version, 0, 2 ** 53) || !isObj(s.nodes) || !isObj(s.keyspaces) || !isObj(s.shards)) return false;
  try {
    for (const [name, ks] of Object.entries(s.keyspaces)) {
      if (!isObj(ks) || ks.name !== name || !isInt(ks.shards, 1, 4096)) return false;
      checkShards(ks as unknown as KeyspaceInfo, s.shards[name], false);
    }
  } catch {
    return false;
  }
  return true;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeMetaCommand(c: MetaCommand): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

/** The meta group's replicated state machine. Its state lives in memory; the meta log and its snapshots make it durable. */
export class MetaStateMachine implements StateMachine {
  state: MetaState = emptyMetaState();
  conf: ConfState = { voters: [], learners: [] };
  private appliedIndex = 0;
  /** Called after every apply, with the new state (nodes refresh routing, open replicas). */
  onChange: ((s: MetaState) => void) | undefined;

  get applied(): number {
    return this.appliedIndex;
  }

  apply(entries: readonly Entry[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    let changed = false;
    for (const e of entries) {
      if (e.index <= this.appliedIndex) continue;
      this.appliedIndex = e.index;
      if (e.type === EntryType.ConfChange) {
        this.conf = applyConfChangeTo(this.conf, decodeConfChange(e.data));
        continue;
      }
      if (e.data.length === 0) continue;
      let cmd: unknown;
      try {
        cmd = JSON.parse(dec.decode(e.data));
      } catch {
        throw corruption('meta log', e.index, 'command is not JSON');
      }
      try {
        validateMetaCommand(cmd);
      } catch (err) {
        // Checked before proposing; one that slipped in anyway changes nothing on any replica.
        out.set(e.index, enc.encode(JSON.stringify({ error: err instanceof Error ? err.message : String(err) })));
        continue;
      }
      out.set(e.index, enc.encode(JSON.stringify(this.execute(cmd))));
      changed = true;
    }
    if (changed) {
      // The applied index: the same on every replica for the same state (batches differ between replicas).
      this.state.version = this.appliedIndex;
      this.onChange?.(this.state);
    }
    return Promise.resolve(out);
  }

  /** Applies one command; returns its answer ({ ok } or { error }). Deterministic: time comes in the command. */
  private execute(c: MetaCommand): { ok: true } | { error: string } {
    const s = this.state;
    switch (c.type) {
      case 'register': {
        const prev = s.nodes[c.node.id];
        s.nodes[c.node.id] = {
          ...c.node,
          status: 'up',
          registeredAtMs: prev?.registeredAtMs ?? c.nowMs,
          statusSinceMs: prev?.status === 'up' ? prev.statusSinceMs : c.nowMs,
        };
        return { ok: true };
      }
      case 'status': {
        const n = s.nodes[c.id];
        if (n === undefined) return { error: `unknown node ${c.id}` };
        if (n.status !== c.status) {
          n.status = c.status;
          n.statusSinceMs = c.nowMs;
        }
        return { ok: true };
      }
      case 'remove': {
        if (s.nodes[c.id] === undefined) return { error: `unknown node ${c.id}` };
        for (const list of Object.values(s.shards)) {
          if (list.some((sh) => sh.replicas.includes(c.id))) return { error: `node ${c.id} still holds shard replicas; drain it first` };
        }
        if (Object.values(s.moves ?? {}).some((m) => m.add === c.id)) return { error: `a move is adding a replica to node ${c.id}` };
        delete s.nodes[c.id];
        return { ok: true };
      }
      case 'drain': {
        const n = s.nodes[c.id];
        if (n === undefined) return { error: `unknown node ${c.id}` };
        n.leaving = true;
        return { ok: true };
      }
      case 'createKeyspace': {
        if (s.keyspaces[c.keyspace.name] !== undefined) return { error: `keyspace ${c.keyspace.name} exists` };
        s.keyspaces[c.keyspace.name] = c.keyspace;
        s.shards[c.keyspace.name] = c.shards;
        return { ok: true };
      }
      case 'moveStart': {
        const m = c.move;
        const sh = s.shards[m.keyspace]?.[m.shard];
        const name = shardGroupName(m.keyspace, m.shard);
        if (sh === undefined) return { error: `no shard ${name}` };
        if (s.moves?.[name] !== undefined) return { error: `shard ${name} already has a move in flight` };
        if (inSplit(s, m.keyspace, m.shard)) return { error: `shard ${name} is being split` };
        if (s.nodes[m.add]?.status !== 'up') return { error: `node ${m.add} is not up` };
        if (s.nodes[m.add]!.leaving === true) return { error: `node ${m.add} is leaving the cluster` };
        if (sh.replicas.includes(m.add)) return { error: `node ${m.add} already holds ${name}` };
        if (m.remove !== null && !sh.replicas.includes(m.remove)) return { error: `node ${m.remove} does not hold ${name}` };
        (s.moves ??= {})[name] = { ...m };
        return { ok: true };
      }
      case 'moveDone': {
        const name = shardGroupName(c.keyspace, c.shard);
        const m = s.moves?.[name];
        const sh = s.shards[c.keyspace]?.[c.shard];
        if (m === undefined || sh === undefined) return { error: `no move in flight on ${name}` };
        // The new replica takes the removed one's place (and its turn as preferred leader).
        const at = m.remove === null ? -1 : sh.replicas.indexOf(m.remove);
        if (at >= 0) sh.replicas[at] = m.add;
        else sh.replicas.push(m.add);
        sh.moves = (sh.moves ?? 0) + 1;
        delete s.moves![name];
        return { ok: true };
      }
      case 'moveAbort': {
        const name = shardGroupName(c.keyspace, c.shard);
        if (s.moves?.[name] === undefined) return { error: `no move in flight on ${name}` };
        delete s.moves[name];
        return { ok: true };
      }
      case 'splitStart': {
        const ks = s.keyspaces[c.keyspace];
        const list = s.shards[c.keyspace];
        const parent = list?.[c.shard];
        const name = shardGroupName(c.keyspace, c.shard);
        if (ks === undefined || list === undefined || parent === undefined) return { error: `no shard ${name}` };
        if (parent.splitFrom !== undefined) return { error: `shard ${name} is still being split off shard ${parent.splitFrom}` };
        if (Object.values(s.splits ?? {}).some((x) => x.keyspace === c.keyspace)) return { error: `keyspace ${c.keyspace} already has a split in flight` };
        if (s.moves?.[name] !== undefined) return { error: `shard ${name} has a move in flight; split it once the move is done` };
        if (list.length >= MAX_SHARDS) return { error: `keyspace ${c.keyspace} has ${MAX_SHARDS} shards, the most it may have` };
        const r = rangeOf(parent, ks.shards);
        if (r.hi - r.lo < 2) return { error: `shard ${name} owns too small a hash range to split` };
        const at = r.lo + Math.floor((r.hi - r.lo) / 2);
        const child = list.length;
        list.push({ keyspace: c.keyspace, id: child, replicas: [...parent.replicas], base: r.base, lo: at, hi: r.hi, splitFrom: c.shard });
        (s.splits ??= {})[shardGroupName(c.keyspace, child)] = { keyspace: c.keyspace, parent: c.shard, child, at, startedAtMs: c.nowMs };
        return { ok: true };
      }
      case 'splitDone': {
        const name = shardGroupName(c.keyspace, c.child);
        const x = s.splits?.[name];
        const list = s.shards[c.keyspace];
        const ks = s.keyspaces[c.keyspace];
        if (x === undefined || list === undefined || ks === undefined) return { error: `no split in flight for ${name}` };
        // The parent gives up the range from here on in the shard map too.
        const parent = list[x.parent]!;
        const r = rangeOf(parent, ks.shards);
        Object.assign(parent, { base: r.base, lo: r.lo, hi: x.at });
        delete list[x.child]!.splitFrom;
        delete s.splits![name];
        return { ok: true };
      }
      case 'splitAbort': {
        // Only a split whose entry the parent's replicas refused: no replica of the new shard ever held data.
        const name = shardGroupName(c.keyspace, c.child);
        const list = s.shards[c.keyspace];
        if (s.splits?.[name] === undefined || list === undefined || list.length - 1 !== c.child) return { error: `no split in flight for ${name}` };
        list.pop();
        delete s.splits[name];
        return { ok: true };
      }
    }
  }

  /** The serialized state for a meta snapshot. */
  snapshotData(): Uint8Array {
    return enc.encode(JSON.stringify(this.state));
  }

  restore(snapshot: Snapshot): Promise<void> {
    this.appliedIndex = snapshot.meta.index;
    this.conf = { voters: [...snapshot.meta.conf.voters], learners: [...snapshot.meta.conf.learners] };
    if (snapshot.data.length > 0) {
      try {
        this.state = JSON.parse(dec.decode(snapshot.data)) as MetaState;
      } catch {
        throw corruption('meta snapshot', 0, 'state is not JSON');
      }
    }
    this.onChange?.(this.state);
    return Promise.resolve();
  }
}
