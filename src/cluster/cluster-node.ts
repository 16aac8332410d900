/**
 * One cluster member: the peer transport, this node's meta replica, its
 * shard replicas, and the routing that lets it serve any key.
 *
 * - Formation. A node started without `join` bootstraps the meta group
 *   with itself as the only voter. A node started with `join` registers
 *   through any member (requests reach the meta leader by forwarding); the
 *   meta leader makes the first three registered nodes meta voters, and
 *   once `bootstrapExpect` nodes are up it places the default keyspace's
 *   shards. Each node opens the replicas the shard map gives it; every
 *   replica of a shard bootstraps its log with the same member list.
 * - Heartbeats. Every node reports to the meta leader (its status and the
 *   shards it leads); the answer carries the meta state when it changed and
 *   the leader hints of every shard, so any node knows where to send a key.
 * - Requests. Writes go to the shard leader (locally, or forwarded over the
 *   peer transport), on NOT_LEADER to the leader it names. Linearizable
 *   reads use ReadIndex on any replica (the node's own when it has one);
 *   stale reads use the nearest replica as it is.
 */
import { randomBytes } from 'node:crypto';
import { ERROR_CODES, NodeFs, SeededRandom, StrataError, joinPath } from '../base/index.js';
import type { Fs } from '../base/index.js';
import type { OpenOptions } from '../engine/index.js';
import { ConfChangeType, MessageType, MultiRaftLog, bootstrapLog } from '../replication/index.js';
import type { RaftLogStore } from '../replication/index.js';
import type { Message, NodeId } from '../replication/index.js';
import { decodeKvRead, withCommandTime, decodeReadOutcome, decodeWriteOutcome, encodeKvCommand, encodeKvRead, unwrap } from './kv-command.js';
import type { KvRead, KvReadResult, KvWrite, KvWriteResult } from './kv-command.js';
import { MetaStateMachine, emptyMetaState, encodeMetaCommand, inSplit, isMetaState, placeShards, shardGroupName, validateMetaCommand } from './meta.js';
import type { KeyspaceInfo, MetaCommand, MetaState, MoveRecord, NodeInfo, ShardInfo, SplitRecord } from './meta.js';
import { ShardRouter, inRange, rangeOf } from './routing.js';
import { isDead, planMoves } from './rebalance.js';
import type { PlacementNode, PlacementShard } from './rebalance.js';
import { PeerTransport } from './peer-transport.js';
import { NotLeaderError, RaftGroup } from './raft-group.js';
import { ShardStateMachine } from './shard-replica.js';
import { SnapshotSender, Throttle, serveSnapshotRequest } from './snapshot-transfer.js';
import { encodeCheckpointDescriptor, isCheckpointDescriptor, removeCheckpoints } from './shard-snapshot.js';
import type { TransferProgress } from './snapshot-transfer.js';

export const DEFAULT_KEYSPACE = 'default';
const META_GROUP = 'meta';
const META_VOTERS = 3;
/** How long leader balancing leaves alone a shard whose leadership an operator moved. */
const MANUAL_TRANSFER_HOLD_MS = 10 * 60_000;
/** Method prefix of a meta request one node passed on to the meta leader. */
const FORWARDED = 'fwd:';
/** A learner this close to the commit index is promoted to voter. */
const PROMOTE_LAG_ENTRIES = 64;
/** A move in flight longer than this logs a warning with its learner's progress (again as often). */
const MOVE_SLOW_MS = 30_000;
/** Meta log entries kept past a snapshot of the meta state. */
const META_SNAPSHOT_EVERY = 1000;

export type ReadConsistency = 'linearizable' | 'stale';
export type WriteConsistency = 'quorum' | 'all';

export interface ClusterNodeOptions {
  nodeId: NodeId;
  clusterId: string;
  dataDir: string;
  fs?: Fs;
  /** Where the peer transport listens, and the address others dial. */
  peerHost: string;
  peerPort: number;
  advertiseHost: string;
  join: string[];
  bootstrapExpect: number;
  shards: number;
  replicationFactor: number;
  datacenter: string;
  rack: string;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  heartbeatMs: number;
  nodeTimeoutMs: number;
  requestTimeoutMs: number;
  /** Client-facing addresses, published in the node registry (filled in once the front ends listen). */
  addresses?: { resp: string; http: string; grpc: string };
  engine?: Partial<OpenOptions>;
  tls?: { cert: Buffer; key: Buffer; ca: Buffer };
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Seeds election timeouts (tests pass one for repeatable runs). */
  seed?: number;
  /** Tests and the Jepsen harness: the coordinator's debug partition route is served. */
  faultInjection?: boolean;
  /** A replica snapshots and truncates its log past this many applied entries (default 50 000). */
  snapshotEntries?: number;
  /** Rebalancing: replica moves in flight at once (default 2), and per node (default 1). */
  maxMoves?: number;
  maxMovesPerNode?: number;
  /** A node down this long is dead: its replicas are re-created on other nodes (default 5 minutes). */
  deadNodeMs?: number;
  /** Snapshot files streamed to other nodes (moves, replicas that fell behind), bytes/s over all transfers; 0 = unlimited (default 64 MiB/s). */
  snapshotBytesPerSec?: number;
  /** Bytes per snapshot chunk (default 1 MiB). */
  snapshotChunkBytes?: number;
}

interface Replica {
  info: ShardInfo;
  sm: ShardStateMachine;
  group: RaftGroup;
}

interface HeartbeatRequest {
  node: NodeId;
  version: number;
  /** Shards this node leads: group name → term. */
  leads: Record<string, number>;
  /** Snapshot transfers this node (a shard leader) is sending, for the rebalance status. */
  transfers?: TransferProgress[];
  /** Approximate bytes of each shard this node leads (its engine's tables and memtable). */
  sizes?: Record<string, number>;
}

interface HeartbeatResponse {
  state?: MetaState;
  metaVoters: NodeId[];
  metaLeader: NodeId;
  /** Shard group → [leader, term]. */
  leaders: Record<string, [NodeId, number]>;
  /** When the meta leader last heard from each node (its clock, ms). */
  lastSeen: Record<NodeId, number>;
  /** The version of the meta leader's state when it answered. */
  version?: number;
  /** Shard group → approximate bytes, as leaders report. */
  sizes?: Record<string, number>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const json = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));
const parse = <T>(b: Uint8Array): T => {
  try {
    return JSON.parse(dec.decode(b)) as T;
  } catch {
    throw new StrataError(ERROR_CODES.PROTOCOL, 'malformed JSON in a peer request');
  }
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The leader a NOT_LEADER error names ('' when none). */
export function leaderHintOf(err: unknown): NodeId {
  if (err instanceof NotLeaderError) return err.leader;
  if (err instanceof StrataError && err.code === ERROR_CODES.NOT_LEADER) {
    const m = /leader is (\S+)$/.exec(err.message);
    return m?.[1] ?? '';
  }
  return '';
}

/**
 * Client sessions for the writes this node routes: each write carries a
 * (client, seq) the shard's state machine remembers, so a retry after a
 * lost answer or connection applies once. A session has one write in flight
 * at a time (sessions are pooled); the client ids carry a per-process boot
 * id, so a restarted node never reuses a sequence number.
 */
class SessionPool {
  private readonly free: Array<{ client: string; seq: number }> = [];
  private created = 0;
  constructor(private readonly prefix: string) {}
  acquire(): { client: string; seq: number } {
    const s = this.free.pop() ?? { client: `${this.prefix}.${this.created++}`, seq: 0 };
    s.seq++;
    return s;
  }
  release(s: { client: string; seq: number }): void {
    this.free.push(s);
  }
}

export class ClusterNode {
  readonly id: NodeId;
  readonly opts: ClusterNodeOptions;
  private transport!: PeerTransport;
  private readonly fs: Fs;
  private meta!: RaftGroup;
  private readonly metaSm = new MetaStateMachine();
  /** Every group's Raft log: one set of files, one fsync per round for all groups. */
  private raftLog!: MultiRaftLog;
  /** The meta state this node knows: its own replica's when it is a meta voter, else the last one a heartbeat brought. */
  private state: MetaState = emptyMetaState();
  private metaLeaderHint: NodeId = '';
  private metaVoters: NodeId[] = [];
  private readonly replicas = new Map<string, Replica>();
  private readonly opening = new Map<string, Promise<void>>();
  /** Shard group → [leader, term] as last reported. */
  private leaderHints = new Map<string, [NodeId, number]>();
  /** On the meta leader: when each node last reported, and the shards leaders reported. */
  private readonly lastSeen = new Map<NodeId, number>();
  private readonly reportedLeaders = new Map<string, [NodeId, number]>();
  /** On the meta leader: the snapshot transfers each node last reported. */
  private readonly reportedTransfers = new Map<NodeId, TransferProgress[]>();
  private snapSender!: SnapshotSender;
  /** Snapshot chunk bytes other nodes sent here. */
  private snapshotBytesReceived = 0;
  private tickTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private registered = false;
  private readonly random: SeededRandom;
  private coordinatorBusy = false;
  /** When the meta leader last heard from each node, as its last answer said. */
  private lastHeartbeats: Record<NodeId, number> = {};
  private readonly sessions: SessionPool;
  /** Random per process start: read contexts and session ids are never reused by a restarted node. */
  private readonly bootId: Uint8Array;
  /** On the meta leader: nodes that actually reported here (only they may become meta voters). */
  private readonly heard = new Set<NodeId>();
  private beating = false;
  /** When this node last handed each shard's leadership to its preferred leader. */
  private readonly lastTransfer = new Map<string, number>();
  /** Moves: when this node (a shard leader) last proposed a step, and which move it reported done. */
  private readonly moveStepAt = new Map<string, number>();
  private readonly moveReported = new Map<string, number>();
  private readonly moveWarnedAt = new Map<string, number>();
  /** Replicas being removed. */
  private readonly closing = new Set<string>();
  /** Splits: when this node (the parent's leader) last proposed the split entry, and which it reported done. */
  private readonly splitProposedAt = new Map<string, number>();
  private readonly splitReported = new Set<string>();
  /** Shards still being split off (by the shard map) that a parent already said serve their range (WRONG_SHARD). */
  private readonly serving = new Map<string, Set<number>>();
  private routerCache: { version: number; servingSize: number; router: ShardRouter } | undefined;
  /** Approximate bytes per shard group as its leader last reported (or this node measured, leading it). */
  private readonly shardSizes = new Map<string, number>();
  /** The meta state version stale replicas were last looked for at. */
  private staleChecked = -1;
  /** The newest meta state version a meta leader reported (a state this node has caught up with is not a replay of old history). */
  private leaderVersion = 0;

  private constructor(opts: ClusterNodeOptions) {
    this.opts = opts;
    this.id = opts.nodeId;
    this.fs = opts.fs ?? new NodeFs();
    this.random = new SeededRandom(opts.seed ?? (Date.now() ^ (process.pid << 8)));
    this.bootId = randomBytes(8);
    this.sessions = new SessionPool(`${opts.nodeId}.${Buffer.from(this.bootId).toString('hex')}`);
  }

  static async start(opts: ClusterNodeOptions): Promise<ClusterNode> {
    const node = new ClusterNode(opts);
    await node.startInternal();
    return node;
  }

  private log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(level, msg, fields);
  }

  /** The bound peer port. */
  get peerPort(): number {
    return this.transport.port;
  }

  get peerAddress(): string {
    return `${this.opts.advertiseHost}:${this.transport.port}`;
  }

  private async startInternal(): Promise<void> {
    const o = this.opts;
    this.transport = await PeerTransport.listen({
      nodeId: this.id,
      clusterId: o.clusterId,
      host: o.peerHost,
      port: o.peerPort,
      resolve: (id) => this.state.nodes[id]?.peer,
      onRaft: (group, msg) => this.onRaft(group, msg),
      onRequest: (from, method, payload) => this.onRequest(from, method, payload),
      ...(o.tls !== undefined ? { tls: o.tls } : {}),
      onError: (err) => this.log('warn', 'peer transport', { err: err.message }),
    });
    this.snapSender = new SnapshotSender({
      fs: this.fs,
      throttle: new Throttle(o.snapshotBytesPerSec ?? 64 * 1024 * 1024),
      ...(o.snapshotChunkBytes !== undefined ? { chunkBytes: o.snapshotChunkBytes } : {}),
      request: (to, method, payload) => this.transport.request(to, method, payload, Math.max(o.requestTimeoutMs, 10_000)),
      forward: (to, group, msg) => this.transport.sendRaft(to, group, msg),
      snapshotsOf: (group) => this.replicas.get(group)?.sm.snapshots,
      onMissing: (group, to) => {
        const r = this.replicas.get(group);
        r?.group.requestSnapshot();
        r?.group.abortSnapshot(to);
      },
      log: (level, msg, fields) => this.log(level, msg, fields),
    });
    const clusterDir = joinPath(o.dataDir, 'cluster');
    if (this.fs.exists(joinPath(clusterDir, 'meta'))) {
      throw new StrataError(
        ERROR_CODES.INVALID_ARGUMENT,
        `${clusterDir} holds per-group Raft logs (cluster/meta, cluster/shards/*/raft) written by an older build; this build keeps one shared log in cluster/raft. Start this node with an empty data directory and let it catch up from its peers.`,
      );
    }
    // Every group's sync asked during one turn of the event loop shares one write and fdatasync.
    this.raftLog = MultiRaftLog.open(this.fs, joinPath(clusterDir, 'raft'), { defer: (run) => setImmediate(run) });
    const metaLog = this.raftLog.group(META_GROUP);
    const fresh = metaLog.lastIndex() === 0;
    if (fresh && o.join.length === 0) bootstrapLog(metaLog, [this.id]);
    const snap = metaLog.snapshot();
    if (snap.meta.index > 0) await this.metaSm.restore(snap);
    this.metaSm.onChange = (s) => this.onMetaState(s, true);
    this.meta = this.newGroup(META_GROUP, metaLog, this.metaSm);
    this.tickTimer = setInterval(() => this.tickAll(), o.tickMs);
    this.tickTimer.unref?.();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), o.heartbeatMs);
    this.heartbeatTimer.unref?.();
    if (o.addresses !== undefined) void this.heartbeat();
  }

  /**
   * Publishes the node's client addresses and registers it (the server
   * calls this once its front ends listen, so the registry never holds a
   * port nobody answers on).
   */
  announce(addresses: { resp: string; http: string; grpc: string }): void {
    this.opts.addresses = addresses;
    void this.heartbeat();
  }

  private newGroup(name: string, log: RaftLogStore, sm: ConstructorParameters<typeof RaftGroup>[0]['sm']): RaftGroup {
    const o = this.opts;
    return new RaftGroup({
      group: name,
      bootId: this.bootId,
      snapshotEntries: name === META_GROUP ? META_SNAPSHOT_EVERY : (o.snapshotEntries ?? 50_000),
      nodeId: this.id,
      log,
      sm,
      random: new SeededRandom(this.random.int(0, 0x7fffffff)),
      // A shard's snapshot names checkpoint files: they are streamed to the follower before the message goes.
      send: (to, group, msg) => (msg.type === MessageType.Snap && group !== META_GROUP ? this.snapSender.send(to, group, msg) : this.transport.sendRaft(to, group, msg)),
      electionTicks: o.electionTicks,
      heartbeatTicks: o.heartbeatTicks,
      requestTimeoutMs: o.requestTimeoutMs,
      onError: (err) => this.log('error', `raft group ${name} failed`, { err: err instanceof Error ? err.message : String(err) }),
      onLeaderChange: (leader, term) => {
        if (name === META_GROUP) {
          if (leader !== '') this.metaLeaderHint = leader;
        } else this.leaderHints.set(name, [leader, term]);
      },
    });
  }

  private tickAll(): void {
    for (const g of [this.meta, ...[...this.replicas.values()].map((r) => r.group)]) {
      try {
        g.tick();
      } catch (err) {
        // One group's failure (a log that can no longer write) must not stop the others' clocks.
        this.log('error', `raft group ${g.group}: tick failed`, { err: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  private onRaft(group: string, msg: Message): void {
    if (group === META_GROUP) {
      this.meta.step(msg);
      return;
    }
    const r = this.replicas.get(group);
    if (r !== undefined && msg.type === MessageType.Snap && !this.hasSnapshotFiles(r, msg)) return;
    if (r !== undefined) r.group.step(msg);
    // A message for a replica not opened yet (the shard map is still on its way) is dropped; Raft resends.
  }

  /**
   * Whether a shard snapshot message may reach the core: the checkpoint it
   * names must be here, complete (its sender streams the files first). One
   * that is not (its files were lost with a removed replica) is dropped; the
   * leader offers the files again on a later resend.
   */
  private hasSnapshotFiles(r: Replica, msg: Message): boolean {
    const chunk = msg.snapshot;
    if (chunk === undefined || chunk.offset !== 0 || !isCheckpointDescriptor(chunk.data)) return true;
    if (chunk.meta.index <= r.sm.applied) return true; // the core answers with where this replica is
    try {
      if (r.sm.snapshots.info(chunk.meta.index) !== undefined) return true;
    } catch (err) {
      this.log('warn', `snapshot ${chunk.meta.index} of ${r.group.group}: checkpoint unreadable`, { err: err instanceof Error ? err.message : String(err) });
    }
    this.log('warn', `dropped snapshot ${chunk.meta.index} of ${r.group.group}: its files are not here (the leader sends them again)`);
    return false;
  }

  // ---- meta state ----

  /** A new meta state (from the local replica or a heartbeat answer): adopt it and open the replicas it assigns here. */
  private onMetaState(s: MetaState, local: boolean): void {
    if (!local && (s.version <= this.state.version || this.isMetaVoter() || !isMetaState(s))) return;
    this.state = s;
    if (local) this.metaVoters = [...this.metaSm.conf.voters];
    // A split just recorded: its parent's leader proposes the split entry now rather than at the next heartbeat.
    if (s.splits !== undefined && Object.keys(s.splits).length > 0) this.driveSplits();
    this.reconcile().catch((err: unknown) => this.log('error', 'cannot apply the shard map', { err: err instanceof Error ? err.message : String(err) }));
  }

  private isMetaVoter(): boolean {
    return this.meta !== undefined && this.meta.raft.isVoter();
  }

  /**
   * Opens every replica the shard map places on this node (and those a move
   * is adding here), and removes the ones a finished move took away.
   */
  private async reconcile(): Promise<void> {
    const moves = this.state.moves ?? {};
    for (const [ks, list] of Object.entries(this.state.shards)) {
      for (const info of list) {
        const name = shardGroupName(ks, info.id);
        const move = moves[name];
        const here = info.replicas.includes(this.id) || move?.add === this.id;
        const open = this.replicas.get(name);
        if (open !== undefined) open.info = info;
        if (!here) {
          if (open !== undefined && !this.closing.has(name)) void this.destroyReplica(name);
          continue;
        }
        if (this.replicas.has(name) || this.opening.has(name) || !this.splitReady(info)) continue;
        const p = this.openReplica(info).catch((err: unknown) => {
          this.log('error', `cannot open replica ${name}`, { err: err instanceof Error ? err.message : String(err) });
        });
        this.opening.set(name, p);
        void p.finally(() => this.opening.delete(name));
      }
    }
    this.removeStaleReplicas();
  }

  /**
   * Whether a shard being split off its parent may open here: once the
   * parent's replica here has applied the split entry (it made the new
   * shard's first checkpoint), or at once when no replica of the parent is
   * here to make one (the new shard's leader then sends it). A shard whose
   * split is done opens as any other.
   */
  private splitReady(info: ShardInfo): boolean {
    if (info.splitFrom === undefined) return true;
    const parent = shardGroupName(info.keyspace, info.splitFrom);
    if (this.opening.has(parent)) return false;
    const p = this.replicas.get(parent);
    if (p === undefined) return this.state.shards[info.keyspace]?.[info.splitFrom]?.replicas.includes(this.id) !== true;
    return p.sm.owner?.children.includes(info.id) === true;
  }

  /**
   * A node that was down while the cluster re-created its replicas elsewhere
   * (or that crashed while removing one) still holds their logs and files:
   * once it knows the shard map, it deletes every replica the map no longer
   * places here.
   */
  private removeStaleReplicas(): void {
    const s = this.state;
    if (Object.keys(s.keyspaces).length === 0 || this.staleChecked === s.version) return;
    // Only on a state as new as the meta leader's: a meta voter replaying its own log after a restart passes
    // through old states that do not yet list replicas it was given later.
    const fresh = this.meta.isLeader ? this.metaSm.applied >= this.meta.raft.hardState().commit : this.leaderVersion > 0 && s.version >= this.leaderVersion;
    if (!fresh) return;
    this.staleChecked = s.version;
    const mine = (name: string): boolean => {
      if (this.replicas.has(name) || this.opening.has(name) || this.closing.has(name)) return true;
      const slash = name.lastIndexOf('/');
      const info = s.shards[name.slice(0, slash)]?.[Number(name.slice(slash + 1))];
      return info === undefined || info.replicas.includes(this.id) || s.moves?.[name]?.add === this.id;
    };
    for (const name of this.raftLog.groupIds()) {
      if (name === META_GROUP || mine(name)) continue;
      this.log('warn', `removing stale replica ${name}: the shard map no longer places it on this node`);
      this.raftLog.dropGroup(name);
      const slash = name.lastIndexOf('/');
      removeTree(this.fs, this.replicaDir({ keyspace: name.slice(0, slash), id: Number(name.slice(slash + 1)), replicas: [] }));
    }
  }

  /** Closes a replica a move took off this node and deletes its log and engine. */
  private async destroyReplica(name: string): Promise<void> {
    const r = this.replicas.get(name);
    if (r === undefined) return;
    this.closing.add(name);
    try {
      this.replicas.delete(name);
      await r.group.close();
      await r.sm.close();
      this.raftLog.dropGroup(name);
      removeTree(this.fs, this.replicaDir(r.info));
      this.log('info', `removed replica ${name} (moved to another node)`);
    } catch (err) {
      this.log('error', `cannot remove replica ${name}`, { err: err instanceof Error ? err.message : String(err) });
    } finally {
      this.closing.delete(name);
    }
  }

  private replicaDir(info: ShardInfo): string {
    return joinPath(joinPath(joinPath(this.opts.dataDir, 'cluster'), 'shards'), `${info.keyspace}-${info.id}`);
  }

  private async openReplica(info: ShardInfo): Promise<void> {
    const name = shardGroupName(info.keyspace, info.id);
    const began = Date.now();
    const dir = this.replicaDir(info);
    const n0 = this.state.keyspaces[info.keyspace]?.shards ?? 0;
    const log = this.raftLog.group(name);
    const fresh = log.lastIndex() === 0 && log.snapshot().meta.index === 0 && log.initialState().hardState.term === 0;
    const sm = await ShardStateMachine.open({
      dir: joinPath(dir, 'engine'),
      fs: this.fs,
      // Split off another shard and never started: from the checkpoint the split entry made here, if it did.
      startFromSplit: info.id >= n0 && fresh,
      ...(this.opts.engine !== undefined ? { engine: this.opts.engine } : {}),
      childSnapDir: (child) => joinPath(this.replicaDir({ keyspace: info.keyspace, id: child, replicas: [] }), 'snap'),
      onSplit: (child) => {
        this.log('info', `split applied: ${name} cut shard ${child} off`);
        void this.reconcile()
          .then(() => this.opening.get(shardGroupName(info.keyspace, child)))
          .then(() => this.leadNewShard(name, shardGroupName(info.keyspace, child)))
          .catch(() => undefined);
      },
      onError: (err) => this.log('error', `replica ${name}: clean-up after a split failed`, { err: err instanceof Error ? err.message : String(err) }),
    }).catch((err: unknown) => {
      log.close();
      throw err;
    });
    try {
      if (info.id >= n0) {
        // Split off another shard: its first snapshot is the parent's checkpoint the split entry made here (none
        // when this node's parent replica skipped the entry by installing a later snapshot: the leader sends it).
        const first = sm.snapshots.info(1);
        if (fresh && first?.init !== undefined) {
          log.applySnapshot({ meta: { index: 1, term: 1, conf: { voters: [...first.init.replicas], learners: [] } }, data: encodeCheckpointDescriptor(first) });
          log.setHardState({ term: 1, vote: '', commit: 1 });
        }
      } else if ((info.moves ?? 0) === 0 && info.replicas.includes(this.id)) {
        // Only the shard's first replicas start from the bootstrap entries; one a move adds starts empty and
        // receives the log (or a snapshot) from the leader.
        bootstrapLog(log, info.replicas);
      }
      // The engine's own WAL is not synced: after a crash it may be behind the log's snapshot; start from the snapshot then.
      // (A split-off shard's engine that does not name it yet crashed while taking its first snapshot: take it again.)
      const snap = log.snapshot();
      const unclaimed = info.id >= n0 && snap.meta.index > 0 && sm.owner?.shard !== info.id;
      if (snap.meta.index > sm.applied || unclaimed) await sm.restore(snap);
    } catch (err) {
      log.close();
      await sm.close().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      log.close();
      await sm.close();
      return;
    }
    const group = this.newGroup(name, log, sm);
    this.replicas.set(name, { info, sm, group });
    this.log('info', `opened replica ${name}`, { replicas: info.replicas, ms: Date.now() - began });
  }

  // ---- talking to the meta leader ----

  /** Proposes a meta command on the meta leader (here, or forwarded). */
  private async metaPropose(cmd: MetaCommand): Promise<void> {
    const answer = parse<{ ok?: true; error?: string }>(await this.metaCall('meta.propose', json(cmd)));
    if (answer.error !== undefined) throw new StrataError(ERROR_CODES.CONDITION_FAILED, answer.error);
  }

  /** Sends a meta request to the meta leader: handled here when this node leads the meta group, else forwarded. */
  private async metaCall(method: string, payload: Uint8Array): Promise<Uint8Array> {
    if (this.meta.isLeader) return this.onMetaRequest(method, payload);
    const leader = this.meta.leader !== '' ? this.meta.leader : this.metaLeaderHint;
    if (leader !== '' && leader !== this.id) return this.transport.request(leader, method, payload, this.opts.requestTimeoutMs);
    // No leader known yet (a node joining): ask a join address, which forwards.
    const candidates = [...this.opts.join, ...this.metaVoters.map((v) => this.state.nodes[v]?.peer).filter((a): a is string => a !== undefined && a !== this.peerAddress)];
    let last: unknown = new StrataError(ERROR_CODES.UNAVAILABLE, 'no meta leader known and nothing to join through');
    for (const address of candidates) {
      try {
        return await this.transport.request({ address }, method, payload, this.opts.requestTimeoutMs);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  private async heartbeat(): Promise<void> {
    if (this.closed || this.opts.addresses === undefined || this.beating) return;
    this.beating = true;
    try {
      if (!this.registered) {
        const a = this.opts.addresses;
        await this.metaPropose({
          type: 'register',
          node: { id: this.id, peer: this.peerAddress, resp: a.resp, http: a.http, grpc: a.grpc, datacenter: this.opts.datacenter, rack: this.opts.rack },
          nowMs: Date.now(),
        });
        this.registered = true;
        this.log('info', 'registered with the cluster', { node: this.id });
      }
      this.balanceLeaders();
      this.driveMoves();
      this.driveSplits();
      const leads: Record<string, number> = {};
      for (const [name, r] of this.replicas) if (r.group.isLeader) leads[name] = r.group.term;
      this.snapSender.forget((g) => this.replicas.get(g)?.group.isLeader === true);
      const transfers = this.snapSender.progress();
      const sizes: Record<string, number> = {};
      for (const g of Object.keys(leads)) {
        const bytes = this.replicas.get(g)?.sm.approximateBytes();
        if (bytes !== undefined) this.shardSizes.set(g, (sizes[g] = bytes));
      }
      const req: HeartbeatRequest = { node: this.id, version: this.state.version, leads, sizes, ...(transfers.length > 0 ? { transfers } : {}) };
      const res = parse<HeartbeatResponse>(await this.metaCall('meta.heartbeat', json(req)));
      if (typeof res.version === 'number' && res.version > this.leaderVersion) this.leaderVersion = res.version;
      if (res.state !== undefined) this.onMetaState(res.state, false);
      this.removeStaleReplicas();
      this.metaVoters = res.metaVoters;
      this.lastHeartbeats = res.lastSeen;
      if (res.metaLeader !== '') this.metaLeaderHint = res.metaLeader;
      for (const [g, bytes] of Object.entries(res.sizes ?? {})) if (!(g in sizes) && typeof bytes === 'number') this.shardSizes.set(g, bytes);
      for (const [g, [leader, term]] of Object.entries(res.leaders)) {
        const mine = this.replicas.get(g);
        if (mine !== undefined) continue; // a local replica knows better
        const cur = this.leaderHints.get(g);
        if (cur === undefined || term >= cur[1]) this.leaderHints.set(g, [leader, term]);
      }
    } catch (err) {
      if (!this.closed) this.log('warn', 'heartbeat to the meta leader failed', { err: err instanceof Error ? err.message : String(err) });
    } finally {
      this.beating = false;
    }
  }

  /**
   * Hands each shard this node leads to its preferred leader (the first
   * replica in the shard map, spread evenly by placement) once that node is
   * up and fully caught up, so leaders, and the work they do, spread over
   * the nodes instead of staying wherever the first election happened to
   * land. At most one attempt per shard per nodeTimeout; a shard whose
   * leadership was transferred here is left alone for MANUAL_TRANSFER_HOLD_MS.
   */
  private balanceLeaders(): void {
    const now = Date.now();
    for (const [name, r] of this.replicas) {
      if (!r.group.isLeader || this.state.moves?.[name] !== undefined) continue;
      const preferred = r.info.replicas[0]!;
      if (preferred === this.id || this.state.nodes[preferred]?.status !== 'up') continue;
      // Leadership handed here on purpose (an operator's transfer) holds a while before balancing undoes it.
      if (r.group.leadershipHandedAt > now - MANUAL_TRANSFER_HOLD_MS) continue;
      if ((this.lastTransfer.get(name) ?? 0) > now - this.opts.nodeTimeoutMs) continue;
      const pr = r.group.raft.progress().get(preferred);
      if (pr === undefined || pr.match < r.group.raft.hardState().commit) continue;
      this.lastTransfer.set(name, now);
      r.group.transferLeader(preferred);
    }
  }

  /**
   * Carries out the moves of the shards this node leads, one Raft
   * membership change at a time: the new replica joins as a learner; once
   * it has caught up it is promoted to voter; then the replica the move
   * takes away is removed (a leader that is itself being removed hands its
   * leadership to the new replica first); then the meta group hears that
   * the move is done. Learners no move asks for are removed.
   */
  private driveMoves(): void {
    const moves = this.state.moves ?? {};
    const now = Date.now();
    for (const [name, r] of this.replicas) {
      if (!r.group.isLeader) continue;
      const conf = r.group.raft.confState();
      const m = moves[name];
      for (const l of conf.learners) {
        if (l !== m?.add) r.group.proposeConfChange({ type: ConfChangeType.RemoveNode, node: l });
      }
      if (m === undefined) {
        // A move aborted (its target went down) after its replica was promoted left a voter the shard map does
        // not list: remove it. Only a node that is not up: a fresh voter on an up node may just be a move this
        // node's meta state has not caught up with yet.
        const stray = conf.voters.find((v) => !r.info.replicas.includes(v) && this.state.nodes[v]?.status !== 'up');
        if (stray !== undefined && conf.voters.length > 1) r.group.proposeConfChange({ type: ConfChangeType.RemoveNode, node: stray });
        continue;
      }
      // A move that takes long says where it stands (operators, and the logs a failed test prints).
      if (now - m.startedAtMs > MOVE_SLOW_MS && (this.moveWarnedAt.get(name) ?? 0) <= now - MOVE_SLOW_MS) {
        this.moveWarnedAt.set(name, now);
        const pr = r.group.raft.progress().get(m.add);
        this.log('warn', `move of ${name} to ${m.add} is slow`, {
          ageMs: now - m.startedAtMs,
          learner: pr === undefined ? 'not a member yet' : pr.state,
          match: pr?.match ?? 0,
          commit: r.group.raft.hardState().commit,
          voters: conf.voters,
          learners: conf.learners,
        });
      }
      // One step per shard per heartbeat: a step is a log entry, which must commit before the next.
      if ((this.moveStepAt.get(name) ?? 0) > now - this.opts.heartbeatMs) continue;
      if (!conf.voters.includes(m.add) && !conf.learners.includes(m.add)) {
        if (r.group.proposeConfChange({ type: ConfChangeType.AddLearner, node: m.add })) this.moveStepAt.set(name, now);
        continue;
      }
      if (conf.learners.includes(m.add)) {
        const pr = r.group.raft.progress().get(m.add);
        // Caught up: replicating, within a few entries of the commit index (under load it never equals it).
        if (pr !== undefined && pr.state === 'replicate' && pr.match + PROMOTE_LAG_ENTRIES >= r.group.raft.hardState().commit) {
          if (r.group.proposeConfChange({ type: ConfChangeType.AddVoter, node: m.add })) this.moveStepAt.set(name, now);
        }
        continue;
      }
      if (m.remove !== null && conf.voters.includes(m.remove)) {
        if (m.remove === this.id) {
          // Leaving: the new replica (a caught-up voter) leads from here on and finishes the move.
          r.group.transferLeader(m.add);
        } else if (r.group.proposeConfChange({ type: ConfChangeType.RemoveNode, node: m.remove })) {
          this.moveStepAt.set(name, now);
        }
        continue;
      }
      if (this.moveReported.get(name) === m.startedAtMs) continue;
      this.moveReported.set(name, m.startedAtMs);
      this.metaPropose({ type: 'moveDone', keyspace: m.keyspace, shard: m.shard })
        .then(() => this.log('info', `move done: ${name} ${m.remove ?? '(new replica)'} → ${m.add}`))
        .catch((err: unknown) => {
          this.moveReported.delete(name);
          this.log('warn', `cannot report the move of ${name}`, { err: err instanceof Error ? err.message : String(err) });
        });
    }
  }

  /**
   * Carries out the splits in flight: on the parent's leader, proposes the
   * split entry to the parent's log (again each heartbeat until applied);
   * on the new shard's leader, once it serves, tells the meta group the
   * split is done, which shrinks the parent's range in the shard map.
   */
  private driveSplits(): void {
    const now = Date.now();
    for (const [name, x] of Object.entries(this.state.splits ?? {})) {
      const ks = this.state.keyspaces[x.keyspace];
      const list = this.state.shards[x.keyspace];
      if (ks === undefined || list === undefined) continue;
      const parentName = shardGroupName(x.keyspace, x.parent);
      const p = this.replicas.get(parentName);
      if (p !== undefined && p.group.isLeader && p.sm.owner?.children.includes(x.child) !== true && (this.splitProposedAt.get(name) ?? 0) <= now - this.opts.heartbeatMs) {
        this.splitProposedAt.set(name, now);
        const r = rangeOf(list[x.parent]!, ks.shards);
        const body = encodeKvCommand({
          nowMs: now,
          client: '',
          seq: 0,
          write: { op: 'split', shard: x.parent, child: x.child, n0: ks.shards, base: r.base, lo: r.lo, at: x.at, hi: r.hi, replicas: [...list[x.child]!.replicas] },
        });
        p.group
          .propose(body)
          .then(async ({ outcome }) => {
            const o = decodeWriteOutcome(outcome);
            if (o.ok) return;
            // Refused by every replica alike (the range they own is not the shard map's): the split cannot happen.
            this.log('error', `split of ${parentName} refused by its replicas; abandoning it`, { err: o.message });
            await this.metaPropose({ type: 'splitAbort', keyspace: x.keyspace, child: x.child, why: o.message.slice(0, 500) });
          })
          .catch((err: unknown) => this.log('warn', `cannot propose the split of ${parentName}`, { err: err instanceof Error ? err.message : String(err) }));
      }
      const c = this.replicas.get(name);
      // The new shard starts without a leader: the parent's leader (its replicas follow that node already) stands
      // first rather than wait out an election timeout.
      if (c !== undefined && c.group.leader === '' && p?.group.isLeader === true && c.sm.applied >= 1) c.group.campaign();
      if (c !== undefined && c.group.isLeader && c.sm.applied >= 1 && !this.splitReported.has(name)) {
        this.splitReported.add(name);
        this.metaPropose({ type: 'splitDone', keyspace: x.keyspace, child: x.child })
          .then(() => this.log('info', `split done: ${parentName} → ${name}`))
          .catch((err: unknown) => {
            this.splitReported.delete(name);
            this.log('warn', `cannot report the split of ${name}`, { err: err instanceof Error ? err.message : String(err) });
          });
      }
    }
  }

  /**
   * On the parent's leader, right after a split: stands for the new shard's
   * leadership, again every 100 ms while it has none (the other replicas
   * open it as they apply the split entry; a vote request that reaches one
   * before that is dropped), so requests for the moved range wait about as
   * long as the slowest replica takes to apply the entry, not election
   * timeouts. Gives up after 3 s (elections take over).
   */
  private async leadNewShard(parentName: string, childName: string): Promise<void> {
    for (let i = 0; i < 30 && !this.closed; i++) {
      const p = this.replicas.get(parentName);
      const c = this.replicas.get(childName);
      if (p === undefined || !p.group.isLeader || (c !== undefined && c.group.leader !== '')) return;
      if (c !== undefined && c.sm.applied >= 1) c.group.campaign();
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Splits shard `shard` of the default keyspace in two by hash range
   * (POST /api/v1/coordinator/shard/{id}/split): the new shard gets the
   * upper half of its range, on the same replicas. Returns at once; the
   * split is carried out in the background (GET .../rebalance shows it).
   */
  async splitShard(shard: number): Promise<SplitRecord> {
    const { shards } = this.keyspace();
    if (shards[shard] === undefined) throw new StrataError(ERROR_CODES.NOT_FOUND, `no shard ${shard}`);
    await this.metaPropose({ type: 'splitStart', keyspace: DEFAULT_KEYSPACE, shard, nowMs: Date.now() });
    const x = Object.values(this.metaOrLocalState().splits ?? {}).find((r) => r.keyspace === DEFAULT_KEYSPACE && r.parent === shard);
    if (x !== undefined) return x;
    // This node's copy of the shard map has not caught up yet: ask the meta leader.
    const s = parse<MetaState>(await this.metaCall('meta.state', new Uint8Array(0)));
    const found = Object.values(s.splits ?? {}).find((r) => r.keyspace === DEFAULT_KEYSPACE && r.parent === shard);
    if (found === undefined) throw new StrataError(ERROR_CODES.UNAVAILABLE, `the split of shard ${shard} finished before it could be reported; see the shard map`);
    return found;
  }

  private metaOrLocalState(): MetaState {
    return this.meta.isLeader ? this.metaSm.state : this.state;
  }

  /**
   * The meta leader's rebalancing step: aborts moves that can no longer
   * finish (their target is down or gone) and starts the moves the planner
   * asks for (src/cluster/rebalance.ts).
   */
  private async planRebalance(s: MetaState, now: number): Promise<void> {
    const deadAfterMs = this.opts.deadNodeMs ?? 5 * 60_000;
    for (const m of Object.values(s.moves ?? {})) {
      if (s.nodes[m.add]?.status !== 'up') {
        await this.meta.propose(encodeMetaCommand({ type: 'moveAbort', keyspace: m.keyspace, shard: m.shard, why: `node ${m.add} is not up` }));
      }
    }
    const nodes: PlacementNode[] = Object.values(s.nodes).map((n) => ({
      id: n.id,
      rack: n.rack,
      datacenter: n.datacenter,
      status: n.status === 'up' && n.leaving === true ? 'draining' : n.status,
      statusSinceMs: n.statusSinceMs,
    }));
    const shards: PlacementShard[] = [];
    for (const [ks, list] of Object.entries(s.shards)) {
      const rf = s.keyspaces[ks]?.replicationFactor ?? 3;
      // A shard being split keeps its replicas until the split is done (both halves start on the same nodes).
      for (const sh of list) if (!inSplit(s, ks, sh.id)) shards.push({ keyspace: ks, id: sh.id, replicas: sh.replicas, replicationFactor: rf });
    }
    const inFlight = Object.values(s.moves ?? {});
    const opts = { nowMs: now, deadAfterMs, maxMoves: this.opts.maxMoves ?? 2, maxMovesPerNode: this.opts.maxMovesPerNode ?? 1 };
    for (const p of planMoves(nodes, shards, inFlight, opts)) {
      const move: MoveRecord = { ...p, startedAtMs: now };
      await this.meta.propose(encodeMetaCommand({ type: 'moveStart', move }));
      this.log('info', `move started: ${shardGroupName(p.keyspace, p.shard)} ${p.remove ?? '(new replica)'} → ${p.add} (${p.reason})`, {
        dead: p.remove !== null && isDead(nodes.find((n) => n.id === p.remove), opts),
      });
    }
    // A drained node holds nothing any more: it leaves the registry.
    for (const n of Object.values(s.nodes)) {
      if (n.leaving !== true || holdsReplicas(s, n.id)) continue;
      await this.meta.propose(encodeMetaCommand({ type: 'remove', id: n.id }));
      this.log('info', `node ${n.id} drained and removed`);
    }
  }

  /** Meta requests, served by the meta leader. */
  private async onMetaRequest(method: string, payload: Uint8Array): Promise<Uint8Array> {
    if (!this.meta.isLeader) throw new NotLeaderError(META_GROUP, this.meta.leader);
    switch (method) {
      case 'meta.propose': {
        validateMetaCommand(parse<unknown>(payload));
        const { outcome } = await this.meta.propose(payload);
        return outcome;
      }
      case 'meta.heartbeat': {
        const req = parse<HeartbeatRequest>(payload);
        if (typeof req.node !== 'string' || typeof req.version !== 'number' || typeof req.leads !== 'object' || req.leads === null) {
          throw new StrataError(ERROR_CODES.PROTOCOL, 'malformed heartbeat');
        }
        this.lastSeen.set(req.node, Date.now());
        this.heard.add(req.node);
        this.reportedTransfers.set(req.node, Array.isArray(req.transfers) ? req.transfers.slice(0, 1000) : []);
        for (const [g, bytes] of Object.entries(req.sizes ?? {})) if (typeof bytes === 'number' && req.leads[g] !== undefined) this.shardSizes.set(g, bytes);
        for (const [g, term] of Object.entries(req.leads)) {
          const cur = this.reportedLeaders.get(g);
          if (cur === undefined || term >= cur[1]) this.reportedLeaders.set(g, [req.node, term]);
        }
        void this.coordinate();
        const s = this.metaSm.state;
        const res: HeartbeatResponse = {
          metaVoters: [...this.metaSm.conf.voters],
          metaLeader: this.id,
          leaders: Object.fromEntries(this.reportedLeaders),
          sizes: Object.fromEntries(this.shardSizes),
          lastSeen: Object.fromEntries(this.lastSeen),
          version: this.metaSm.state.version,
        };
        if (req.version !== s.version) res.state = s;
        return json(res);
      }
      case 'meta.state':
        return json(this.metaSm.state);
      default:
        throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, `unknown meta method ${method}`);
    }
  }

  /**
   * The meta leader's duties, run on heartbeats: grow the meta group to
   * three voters, place the default keyspace once enough nodes are up, and
   * mark silent nodes down (and back up).
   */
  private async coordinate(): Promise<void> {
    if (this.coordinatorBusy || !this.meta.isLeader) return;
    this.coordinatorBusy = true;
    try {
      const s = this.metaSm.state;
      const now = Date.now();
      const nodes = Object.values(s.nodes);
      const voters = this.metaSm.conf.voters;
      if (voters.length < META_VOTERS) {
        // Only a node that reported here itself becomes a voter: one merely registered (and perhaps never
        // started) must not join the quorum.
        const next = nodes
          .filter((n) => n.status === 'up' && this.heard.has(n.id) && !voters.includes(n.id))
          .sort((a, b) => a.registeredAtMs - b.registeredAtMs || (a.id < b.id ? -1 : 1))[0];
        if (next !== undefined) this.meta.proposeConfChange({ type: ConfChangeType.AddVoter, node: next.id });
      }
      for (const n of nodes) {
        if (n.id === this.id) continue;
        const seen = this.lastSeen.get(n.id);
        if (seen === undefined) {
          this.lastSeen.set(n.id, now); // a new meta leader gives everyone a full timeout
          continue;
        }
        const status = now - seen > this.opts.nodeTimeoutMs ? 'down' : 'up';
        if (status !== n.status) await this.meta.propose(encodeMetaCommand({ type: 'status', id: n.id, status, nowMs: now }));
      }
      const up = nodes.filter((n) => n.status === 'up');
      if (s.keyspaces[DEFAULT_KEYSPACE] === undefined && up.length >= this.opts.bootstrapExpect) {
        const keyspace: KeyspaceInfo = { name: DEFAULT_KEYSPACE, strategy: 'raft', shards: this.opts.shards, replicationFactor: this.opts.replicationFactor, createdAtMs: now };
        const shards = placeShards(DEFAULT_KEYSPACE, keyspace.shards, keyspace.replicationFactor, up);
        await this.meta.propose(encodeMetaCommand({ type: 'createKeyspace', keyspace, shards }));
        this.log('info', 'placed the default keyspace', { shards: keyspace.shards, rf: keyspace.replicationFactor, nodes: up.map((n) => n.id) });
      } else if (s.keyspaces[DEFAULT_KEYSPACE] !== undefined) {
        await this.planRebalance(s, now);
      }
    } catch (err) {
      this.log('warn', 'coordinator step failed', { err: err instanceof Error ? err.message : String(err) });
    } finally {
      this.coordinatorBusy = false;
    }
  }

  // ---- peer requests ----

  private async onRequest(_from: NodeId, method: string, payload: Uint8Array): Promise<Uint8Array> {
    switch (method) {
      case 'kv.write': {
        const { group, consistency, body } = unpackKv(payload);
        return this.writeHere(group, body, consistency);
      }
      case 'kv.read': {
        const { group, consistency, body } = unpackKv(payload);
        const r = this.replicas.get(group);
        if (r === undefined) throw new NotLeaderError(group, this.hintFor(group));
        if (consistency === 1) await r.group.readBarrier();
        return r.sm.readEncoded(decodeKvRead(body));
      }
      case 'kv.applied': {
        const { group, body } = unpackKv(payload);
        const r = this.replicas.get(group);
        if (r === undefined) throw new StrataError(ERROR_CODES.UNAVAILABLE, `${group} has no replica on ${this.id}`);
        const index = Buffer.from(body).readDoubleLE(0);
        await withTimeout(r.group.waitApplied(index), this.opts.requestTimeoutMs, `${group}: index ${index} not applied on ${this.id}`);
        return new Uint8Array(0);
      }
      case 'snap.begin':
      case 'snap.chunk':
      case 'snap.file':
      case 'snap.finish':
        if (method === 'snap.chunk') this.snapshotBytesReceived += payload.length;
        return serveSnapshotRequest(method, payload, (group) => (this.closing.has(group) ? undefined : this.replicas.get(group)?.sm.snapshots));
      case 'shard.transfer': {
        const { group, target } = parse<{ group: string; target: NodeId }>(payload);
        return json(this.transferLocal(group, target));
      }
      default:
        if (method.startsWith(FORWARDED)) {
          // Forwarded once already: answer here or say who leads; never a second hop (no loops between stale hints).
          return this.onMetaRequest(method.slice(FORWARDED.length), payload);
        }
        if (method.startsWith('meta.')) {
          if (this.meta.isLeader) return this.onMetaRequest(method, payload);
          const leader = this.meta.leader !== '' ? this.meta.leader : this.metaLeaderHint;
          if (leader === '' || leader === this.id) throw new NotLeaderError(META_GROUP, '');
          return this.transport.request(leader, FORWARDED + method, payload, this.opts.requestTimeoutMs);
        }
        throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, `unknown peer method ${method}`);
    }
  }

  /** Executes a write on the local leader replica of `group` (NOT_LEADER when it is not the leader). */
  private async writeHere(group: string, commandBytes: Uint8Array, consistency: number): Promise<Uint8Array> {
    const r = this.replicas.get(group);
    if (r === undefined || !r.group.isLeader) throw new NotLeaderError(group, r?.group.leader ?? this.hintFor(group));
    // The leader's clock goes into the entry: expiry decisions are the same on every replica.
    // (A malformed body from a peer is answered CORRUPTION when applied and changes nothing.)
    const { index, outcome } = await r.group.propose(withCommandTime(commandBytes, Date.now()));
    if (consistency === 2) {
      const others = r.info.replicas.filter((n) => n !== this.id);
      const idx = Buffer.alloc(8);
      idx.writeDoubleLE(index, 0);
      await Promise.all(others.map((n) => this.transport.request(n, 'kv.applied', packKv(group, 0, idx), this.opts.requestTimeoutMs)));
    }
    return outcome;
  }

  private hintFor(group: string): NodeId {
    const local = this.replicas.get(group);
    if (local !== undefined && local.group.leader !== '') return local.group.leader;
    return this.leaderHints.get(group)?.[0] ?? '';
  }

  // ---- routing (what the cluster's KeyValueService calls) ----

  /**
   * Routes keys of the default keyspace (routing.ts) by this node's shard
   * map, plus the new shards a parent already said serve their range.
   */
  router(): ShardRouter {
    const c = this.routerCache;
    const servingSize = this.serving.get(DEFAULT_KEYSPACE)?.size ?? 0;
    if (c !== undefined && c.version === this.state.version && c.servingSize === servingSize) return c.router;
    const { info, shards } = this.keyspace();
    const serving = this.serving.get(info.name) ?? new Set<number>();
    const router = new ShardRouter(info.shards, shards, serving);
    this.routerCache = { version: this.state.version, servingSize, router };
    return router;
  }

  /**
   * A shard answered WRONG_SHARD for `key`: a split took its range before
   * this node's shard map says so. Routes the range to the shard being
   * split off that holds it; false when no split in the map explains it
   * (wait for a newer map).
   */
  learnSplit(key: Uint8Array): boolean {
    const { info, shards } = this.keyspace();
    const set = this.serving.get(info.name) ?? new Set<number>();
    const child = shards.find((sh) => sh.splitFrom !== undefined && !set.has(sh.id) && inRange(key, rangeOf(sh, info.shards), info.shards));
    if (child === undefined) return false;
    set.add(child.id);
    this.serving.set(info.name, set);
    return true;
  }

  /** The default keyspace, or UNAVAILABLE while the cluster is still forming. */
  keyspace(name = DEFAULT_KEYSPACE): { info: KeyspaceInfo; shards: ShardInfo[] } {
    const info = this.state.keyspaces[name];
    const shards = this.state.shards[name];
    if (info === undefined || shards === undefined) {
      const up = Object.values(this.state.nodes).filter((n) => n.status === 'up').length;
      throw new StrataError(ERROR_CODES.UNAVAILABLE, `the cluster is forming: keyspace ${name} is placed once ${this.opts.bootstrapExpect} nodes are up (${up} so far)`);
    }
    return { info, shards };
  }

  /**
   * Runs a write on shard `shard` of the default keyspace wherever its
   * leader is, following NOT_LEADER. Every write carries a client session
   * (the caller's, or one of this node's), so it is retried on any failure
   * to get an answer until the request timeout, and still applies once.
   */
  async write(shard: number, write: KvWrite, consistency: WriteConsistency = 'quorum', session?: { client: string; seq: number }, direct = false): Promise<KvWriteResult> {
    if (direct) {
      // A topology-aware client routed this here: serve it as the leader, or name the leader.
      const group = this.groupOf(shard);
      const body = encodeKvCommand({ nowMs: 0, client: session?.client ?? '', seq: session?.seq ?? 0, write });
      return unwrap(decodeWriteOutcome(await this.writeHere(group, body, consistency === 'all' ? 2 : 1)));
    }
    if (session !== undefined) return this.writeWithSession(shard, write, consistency, session);
    const own = this.sessions.acquire();
    try {
      return await this.writeWithSession(shard, write, consistency, own);
    } finally {
      this.sessions.release(own);
    }
  }

  private groupOf(shard: number): string {
    const info = this.keyspace().shards[shard];
    if (info === undefined) throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, `no shard ${shard}`);
    return shardGroupName(info.keyspace, info.id);
  }

  private async writeWithSession(shard: number, write: KvWrite, consistency: WriteConsistency, session: { client: string; seq: number }): Promise<KvWriteResult> {
    const { shards } = this.keyspace();
    const info = shards[shard]!;
    const group = shardGroupName(info.keyspace, info.id);
    const body = encodeKvCommand({ nowMs: 0, client: session.client, seq: session.seq, write });
    const c = consistency === 'all' ? 2 : 1;
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    let target = this.hintFor(group) || info.replicas[0]!;
    for (let attempt = 0; ; attempt++) {
      try {
        const out = target === this.id ? await this.writeHere(group, body, c) : await this.transport.request(target, 'kv.write', packKv(group, c, body), this.opts.requestTimeoutMs);
        return unwrap(decodeWriteOutcome(out));
      } catch (err) {
        // The session makes a retry safe: a command applied already is answered from the session table.
        if (!(isNotLeader(err) || isUnavailable(err)) || Date.now() >= deadline) throw err;
        target = await this.nextTarget(group, info, target, leaderHintOf(err), attempt);
      }
    }
  }

  /** Runs a read on shard `shard`: linearizable (ReadIndex) by default, or stale from the nearest replica. */
  async read(shard: number, q: KvRead, consistency: ReadConsistency = 'linearizable', direct = false): Promise<KvReadResult> {
    if (direct) {
      const group = this.groupOf(shard);
      const r = this.replicas.get(group);
      if (r === undefined || (consistency === 'linearizable' && !r.group.isLeader)) throw new NotLeaderError(group, this.hintFor(group));
      if (consistency === 'linearizable') await r.group.readBarrier();
      return r.sm.read(q);
    }
    const { shards } = this.keyspace();
    const info = shards[shard]!;
    const group = shardGroupName(info.keyspace, info.id);
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    let target = this.replicas.has(group) ? this.id : this.hintFor(group) || info.replicas[0]!;
    for (let attempt = 0; ; attempt++) {
      try {
        if (target === this.id) {
          const r = this.replicas.get(group);
          if (r === undefined) throw new NotLeaderError(group, this.hintFor(group));
          if (consistency === 'linearizable') await r.group.readBarrier();
          return await r.sm.read(q);
        }
        const out = await this.transport.request(target, 'kv.read', packKv(group, consistency === 'linearizable' ? 1 : 0, encodeKvRead(q)), this.opts.requestTimeoutMs);
        return unwrap(decodeReadOutcome(out));
      } catch (err) {
        // Reads change nothing, so any failure to reach an answer is retried until the deadline.
        if (!(isNotLeader(err) || isUnavailable(err)) || Date.now() >= deadline) throw err;
        target = await this.nextTarget(group, info, target, leaderHintOf(err), attempt);
      }
    }
  }

  /** Where to try next: the leader an error named, else (after a pause) the next replica in turn. */
  private async nextTarget(group: string, info: ShardInfo, tried: NodeId, hint: NodeId, attempt: number): Promise<NodeId> {
    if (hint !== '' && hint !== tried) return hint;
    await sleep(Math.min(20 * 2 ** Math.min(attempt, 4), 250));
    const known = this.hintFor(group);
    if (known !== '' && known !== tried) return known;
    const i = info.replicas.indexOf(tried);
    return info.replicas[(i + 1) % info.replicas.length]!;
  }

  // ---- the coordinator's view (REST API) ----

  /** The meta state as this node knows it, with leader hints. */
  shardMap(): {
    version: number;
    keyspaces: KeyspaceInfo[];
    shards: Array<ShardInfo & { leader: NodeId; term: number; bytes: number | null }>;
    nodes: Array<NodeInfo & { lastHeartbeatMs: number | null }>;
    metaLeader: NodeId;
    metaVoters: NodeId[];
  } {
    const s = this.state;
    const shards = Object.values(s.shards)
      .flat()
      .map((sh) => {
        const g = shardGroupName(sh.keyspace, sh.id);
        const local = this.replicas.get(g);
        const [leader, term] = local !== undefined && local.group.leader !== '' ? [local.group.leader, local.group.term] : (this.leaderHints.get(g) ?? ['', 0]);
        return { ...sh, leader, term, bytes: this.shardSizes.get(g) ?? null };
      });
    return {
      version: s.version,
      keyspaces: Object.values(s.keyspaces),
      shards,
      nodes: Object.values(s.nodes).map((n) => ({ ...n, lastHeartbeatMs: (this.meta.isLeader ? this.lastSeen.get(n.id) : this.lastHeartbeats[n.id]) ?? null })),
      metaLeader: this.meta.leader !== '' ? this.meta.leader : this.metaLeaderHint,
      metaVoters: this.isMetaVoter() ? [...this.metaSm.conf.voters] : this.metaVoters,
    };
  }

  /**
   * Rebalancing as this node knows it (GET /api/v1/coordinator/rebalance):
   * the moves in flight with their phase as the shard's leader here sees it
   * ('pending': not yet a member, 'learner', 'voter'; 'remote' when another
   * node leads the shard), replicas and leaders per node, and whether the up nodes hold
   * replicas within one of each other.
   */
  rebalanceStatus(): {
    moves: Array<MoveRecord & { phase: 'pending' | 'learner' | 'voter' | 'remote'; ageMs: number; transfer?: TransferProgress }>;
    splits: Array<SplitRecord & { phase: 'cutting' | 'serving'; ageMs: number }>;
    nodes: Array<{ id: NodeId; status: string; replicas: number; leaders: number }>;
    balanced: boolean;
  } {
    const map = this.shardMap();
    const now = Date.now();
    // Snapshot transfers: this node's own, and those shard leaders reported in their heartbeats.
    const reports = [this.snapSender.progress(), ...this.reportedTransfers.values()];
    const moves = Object.entries(this.state.moves ?? {}).map(([name, m]) => {
      const r = this.replicas.get(name);
      let phase: 'pending' | 'learner' | 'voter' | 'remote' = 'remote';
      if (r !== undefined && r.group.isLeader) {
        const conf = r.group.raft.confState();
        phase = conf.learners.includes(m.add) ? 'learner' : conf.voters.includes(m.add) ? 'voter' : 'pending';
      }
      // The snapshot streaming to the new replica (the newest transfer reported for it).
      let transfer: TransferProgress | undefined;
      for (const list of reports) {
        for (const t of list) if (t.group === name && t.to === m.add && (transfer === undefined || t.startedAtMs > transfer.startedAtMs)) transfer = t;
      }
      return { ...m, phase, ageMs: Math.max(0, now - m.startedAtMs), ...(transfer !== undefined ? { transfer } : {}) };
    });
    const nodes = map.nodes.map((n) => ({
      id: n.id,
      status: n.status,
      replicas: map.shards.filter((s) => s.replicas.includes(n.id)).length,
      leaders: map.shards.filter((s) => s.leader === n.id).length,
    }));
    const up = nodes.filter((n) => n.status === 'up').map((n) => n.replicas);
    // Splits: 'cutting' until the new shard has a leader, then 'serving' until the meta group records it done.
    const splits = Object.values(this.state.splits ?? {}).map((x) => {
      const child = map.shards.find((sh) => sh.keyspace === x.keyspace && sh.id === x.child);
      return { ...x, phase: child !== undefined && child.leader !== '' ? ('serving' as const) : ('cutting' as const), ageMs: Math.max(0, now - x.startedAtMs) };
    });
    return { moves, splits, nodes, balanced: up.length === 0 || Math.max(...up) - Math.min(...up) <= 1 };
  }

  /** Registers (or re-registers) a node through the meta leader (POST /api/v1/coordinator/nodes). */
  async registerNode(node: Omit<NodeInfo, 'status' | 'registeredAtMs' | 'statusSinceMs'>): Promise<void> {
    await this.metaPropose({ type: 'register', node, nowMs: Date.now() });
  }

  /**
   * DELETE /api/v1/coordinator/nodes/{id}: removes a node that holds no
   * replicas at once; one that holds some is drained first (its replicas
   * move to the other nodes, then the meta leader removes it). Refused
   * (CONDITION_FAILED) when too few other nodes are up to keep every
   * keyspace's replication factor.
   */
  async removeNode(id: NodeId): Promise<{ removed: boolean; draining: boolean; replicas: number }> {
    const s = this.state;
    if (s.nodes[id] === undefined) throw new StrataError(ERROR_CODES.NOT_FOUND, `no node ${id}`);
    const replicas = Object.values(s.shards).flat().filter((sh) => sh.replicas.includes(id)).length;
    if (!holdsReplicas(s, id)) {
      await this.metaPropose({ type: 'remove', id });
      return { removed: true, draining: false, replicas: 0 };
    }
    const others = Object.values(s.nodes).filter((n) => n.id !== id && n.status === 'up' && n.leaving !== true).length;
    const rf = Math.max(0, ...Object.values(s.keyspaces).map((k) => k.replicationFactor));
    if (others < rf) {
      throw new StrataError(ERROR_CODES.CONDITION_FAILED, `node ${id} holds ${replicas} replicas and only ${others} other nodes are up for replication factor ${rf}: add a node first`);
    }
    await this.metaPropose({ type: 'drain', id });
    return { removed: false, draining: true, replicas };
  }

  /** Transfers a shard's leadership to `target` (a replica), or to the next replica when target is ''. */
  async transferLeadership(shard: number, target: NodeId): Promise<{ group: string; from: NodeId; to: NodeId }> {
    const { shards } = this.keyspace();
    const info = shards[shard];
    if (info === undefined) throw new StrataError(ERROR_CODES.NOT_FOUND, `no shard ${shard}`);
    const group = shardGroupName(info.keyspace, info.id);
    const leader = this.hintFor(group);
    if (leader === '') throw new NotLeaderError(group, '');
    const to = target !== '' ? target : info.replicas.find((n) => n !== leader)!;
    if (!info.replicas.includes(to)) throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, `${to} is not a replica of shard ${shard}`);
    if (leader === this.id) return this.transferLocal(group, to);
    return parse(await this.transport.request(leader, 'shard.transfer', json({ group, target: to }), this.opts.requestTimeoutMs));
  }

  private transferLocal(group: string, to: NodeId): { group: string; from: NodeId; to: NodeId } {
    const r = this.replicas.get(group);
    if (r === undefined || !r.group.isLeader) throw new NotLeaderError(group, this.hintFor(group));
    if (to === this.id) return { group, from: this.id, to };
    if (!r.group.transferLeader(to)) throw new StrataError(ERROR_CODES.UNAVAILABLE, `${group}: cannot transfer leadership to ${to} now`);
    return { group, from: this.id, to };
  }

  /** Health: this node's view of nodes, meta group and shards (GET /api/v1/coordinator/health). */
  health(): {
    node: NodeId;
    status: 'ok' | 'degraded' | 'forming';
    nodes: Record<string, string>;
    metaLeader: NodeId;
    shardsWithoutLeader: number;
    replicasHere: number;
    /** Replicas the shard map places here (more than replicasHere while they open). */
    replicasAssigned: number;
    leadersHere: number;
    /** Snapshots taken here, installed here, and the checkpoint bytes streamed to and from other nodes. */
    snapshots: { taken: number; installed: number; bytesSent: number; bytesReceived: number };
    /** Keys the replicas here deleted after splits because their shard no longer owns them, and passes still running. */
    splitCleanup: { keysDeleted: number; pending: number };
  } {
    const map = this.shardMap();
    const nodes = Object.fromEntries(map.nodes.map((n) => [n.id, n.status]));
    const noLeader = map.shards.filter((s) => s.leader === '').length;
    const leadersHere = [...this.replicas.values()].filter((r) => r.group.isLeader).length;
    const assigned = map.shards.filter((s) => s.replicas.includes(this.id)).length;
    const status =
      map.keyspaces.length === 0 ? 'forming' : noLeader > 0 || map.nodes.some((n) => n.status !== 'up') || map.metaLeader === '' || this.replicas.size < assigned ? 'degraded' : 'ok';
    const groups = [this.meta, ...[...this.replicas.values()].map((r) => r.group)];
    const snapshots = {
      taken: groups.reduce((n, g) => n + g.snapshotsTaken, 0),
      installed: groups.reduce((n, g) => n + g.snapshotsInstalled, 0),
      bytesSent: this.snapSender.bytesSent,
      bytesReceived: this.snapshotBytesReceived,
    };
    const sms = [...this.replicas.values()].map((r) => r.sm);
    const splitCleanup = { keysDeleted: sms.reduce((n, sm) => n + sm.cleanedKeys, 0), pending: sms.filter((sm) => sm.cleanupPending).length };
    return { node: this.id, status, nodes, metaLeader: map.metaLeader, shardsWithoutLeader: noLeader, replicasHere: this.replicas.size, replicasAssigned: assigned, leadersHere, snapshots, splitCleanup };
  }

  /** Engine numbers of every local replica, summed (INFO, /metrics). */
  engineTotals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.replicas.values()) {
      for (const [k, v] of Object.entries(r.sm.service.info().engine)) out[k] = (out[k] ?? 0) + v;
    }
    return out;
  }

  /** Peer transport numbers (tests, metrics). */
  transportStats(): ReturnType<PeerTransport['stats']> {
    return this.transport.stats();
  }

  /** Fault injection (tests, the Jepsen nemesis): drop all traffic to and from these nodes. */
  setBlocked(ids: readonly NodeId[]): void {
    this.transport.setBlocked(ids);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    await Promise.allSettled([...this.opening.values()]);
    this.snapSender.close();
    await this.transport.close();
    for (const r of this.replicas.values()) {
      await r.group.close();
      await r.sm.close();
    }
    this.replicas.clear();
    await this.meta.close();
    this.raftLog.close();
  }
}

/** Whether the shard map places a replica on `id`, or a move is adding one there. */
function holdsReplicas(s: MetaState, id: NodeId): boolean {
  return Object.values(s.shards).some((list) => list.some((sh) => sh.replicas.includes(id))) || Object.values(s.moves ?? {}).some((m) => m.add === id);
}

/** Removes a replica's directory: `engine/` (files only), `snap/` (checkpoint directories of files, markers) and the directory itself. */
function removeTree(fs: Fs, dir: string): void {
  if (!fs.exists(dir)) return;
  const removeFiles = (d: string) => {
    for (const name of fs.list(d)) fs.remove(joinPath(d, name));
    fs.removeDir(d);
  };
  const engine = joinPath(dir, 'engine');
  if (fs.exists(engine)) removeFiles(engine);
  removeCheckpoints(fs, joinPath(dir, 'snap'));
  fs.removeDir(dir);
}

function isNotLeader(err: unknown): boolean {
  return err instanceof StrataError && err.code === ERROR_CODES.NOT_LEADER;
}

function isUnavailable(err: unknown): boolean {
  return err instanceof StrataError && (err.code === ERROR_CODES.UNAVAILABLE || err.code === ERROR_CODES.CLOSED);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new StrataError(ERROR_CODES.UNAVAILABLE, what)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** A forwarded key-value request: u8 consistency, u16 group name length, the name, the body. */
function packKv(group: string, consistency: number, body: Uint8Array): Buffer {
  const g = Buffer.from(group, 'utf8');
  const out = Buffer.alloc(3 + g.length + body.length);
  out[0] = consistency;
  out.writeUInt16LE(g.length, 1);
  g.copy(out, 3);
  out.set(body, 3 + g.length);
  return out;
}

function unpackKv(payload: Uint8Array): { group: string; consistency: number; body: Uint8Array } {
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (b.length < 3) throw new StrataError(ERROR_CODES.PROTOCOL, 'kv request too short');
  const len = b.readUInt16LE(1);
  if (3 + len > b.length) throw new StrataError(ERROR_CODES.PROTOCOL, 'kv request group name runs past the end');
  return { consistency: b[0]!, group: b.toString('utf8', 3, 3 + len), body: b.subarray(3 + len) };
}
