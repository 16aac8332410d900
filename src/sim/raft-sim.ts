import { MemFs, SeededRandom, type Random } from '../base/index.js';
import {
  bootstrapLog,
  ConfChangeType,
  EntryType,
  MessageType,
  type ConfChange,
  type ConfState,
  Raft,
  type Entry,
  type Message,
  type NodeId,
  type RaftLogStore,
  type Ready,
} from '../replication/index.js';
import { FaultFs, isSimulatedCrash } from './fault-fs.js';
import { EventQueue } from './event-queue.js';
import { checkLinearizable, type CheckResult, type HistoryOp } from './linearizability.js';
import { encodeKvCommand, KvStateMachine, type KvApplied } from './raft-kv.js';

/**
 * Deliberately unsafe variants (positive controls): each must be caught.
 * - local-reads: nodes answer reads from local state without ReadIndex.
 * - ack-before-durable: a node sends a Ready's messages (votes, append
 *   acknowledgements) before its log is synced.
 * - early-read-index: a new leader serves ReadIndex before an entry of its
 *   term commits.
 */
export type UnsafeVariant = 'local-reads' | 'ack-before-durable' | 'early-read-index';

export interface RaftSimOptions {
  seed: number;
  /** Cluster size. Default 3. */
  nodes?: number;
  /** Concurrent clients, each with one operation outstanding. Default 4. */
  clients?: number;
  /** Distinct keys. Default 3. */
  keys?: number;
  /** Client operations to issue. Default 1000. */
  ops?: number;
  /** Inject faults (loss, duplication, delay, partitions, crashes). Default true. */
  faults?: boolean;
  readOnly?: 'safe' | 'lease';
  preVote?: boolean;
  /** Simulated milliseconds per tick (heartbeat = 1 tick, election = 10 ticks, as etcd's 100 ms / 1 s). */
  tickMs?: number;
  electionTicks?: number;
  /** Take a state machine snapshot every this many applied entries. Default 50. */
  snapshotEvery?: number;
  /** Bytes per InstallSnapshot chunk (small, so transfers take several chunks). Default 200. */
  snapshotChunkBytes?: number;
  /** Entry bytes per append message. Default 4 KiB. */
  maxSizePerMsg?: number;
  unsafe?: UnsafeVariant;
  /** Change membership under faults: remove voters, add fresh nodes as learners, promote them. Default: on for 5 nodes. */
  membership?: boolean;
  /** Opens a node's log over its (fault-injecting) file system. */
  openLog: (fs: FaultFs, dir: string) => RaftLogStore;
  /** Ops per key cap for the checker's budget (passed through). */
  maxStepsPerKey?: number;
}

export interface RaftSimStats {
  events: number;
  messages: number;
  dropped: number;
  simMs: number;
  elections: number;
  crashes: number;
  partitions: number;
  transfers: number;
  snapshotsInstalled: number;
  membershipChanges: number;
  committed: number;
  completed: number;
  unknown: number;
  duplicatesSuppressed: number;
}

export interface RaftSimResult {
  seed: number;
  history: HistoryOp[];
  /** Raft invariant violations (election safety, log matching, leader completeness, state machine safety, durability). */
  violations: string[];
  check: CheckResult;
  stats: RaftSimStats;
  /** FNV-1a over every event: the same seed must give the same hash. */
  traceHash: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Attempt {
  client: Client;
  op: HistoryOp;
  /** The session sequence number (writes and cas). */
  seq: number;
  node: number;
  live: boolean;
}

interface Client {
  id: string;
  index: number;
  seq: number;
  readSeq: number;
  current: Attempt | undefined;
  attempts: number;
  hint: number;
  /** The key of this client's last write (it may read it back next). */
  lastWritten: string | undefined;
}

type Reply = { ok: true; output: string | boolean | undefined } | { ok: false; leader: number };

type SimEvent =
  | { k: 'tick'; node: number; inc: number }
  | { k: 'msg'; m: Message; sentAt: number; senderInc: number }
  | { k: 'sync'; node: number; inc: number; rd: Ready }
  | { k: 'req'; attempt: Attempt }
  | { k: 'resp'; attempt: Attempt; reply: Reply }
  | { k: 'timeout'; attempt: Attempt }
  | { k: 'start'; client: Client }
  | { k: 'resend'; client: Client; op: HistoryOp; seq: number }
  | { k: 'fault' }
  | { k: 'heal' }
  | { k: 'restart'; node: number };

class SimNode {
  inc = 0;
  alive = true;
  raft!: Raft;
  log!: RaftLogStore;
  sm!: KvStateMachine;
  /** A Ready handed out and not yet advanced. */
  busy = false;
  writeWaiters = new Map<string, Attempt>();
  readWaiters = new Map<string, Attempt>();
  /** ReadIndex answers waiting for the state machine to catch up. */
  reads: { index: number; ctx: string }[] = [];
  lastSnap = 0;
  /** Simulated time until which this node's fsyncs are slow (a degraded disk). */
  slowDiskUntil = 0;
  /** Simulated time of the last crash. */
  crashedAt = -1;
  /** Removed from the cluster: stopped for good. */
  removed = false;
  /** Has appeared in a committed membership. */
  everMember = false;
  /** The latest vote this node sent (term and candidate). */
  votedTerm = 0;
  votedFor = '';
  constructor(
    readonly index: number,
    readonly id: NodeId,
    public fs: FaultFs,
  ) {}
}

const DIR = '/raft';
const CLIENT_TIMEOUT_MS = 600;
const MAX_ATTEMPTS = 10;

function fnv(h: number, n: number): number {
  h ^= n & 0xffff;
  h = Math.imul(h, 0x01000193);
  h ^= n >>> 16;
  return Math.imul(h, 0x01000193) >>> 0;
}

function hashBytes(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193) >>> 0;
  return h;
}

const MSG_CODE: Record<string, number> = Object.fromEntries(Object.values(MessageType).map((t, i) => [t, i + 1]));

/**
 * One seeded run: N Raft nodes over a simulated network and fault-injecting
 * disks, a replicated KV store, and clients whose history is checked for
 * linearizability. Time is simulated; nothing reads the wall clock.
 */
export class RaftSim {
  readonly rnd: Random;
  private readonly q = new EventQueue<SimEvent>();
  private now = 0;
  private hash = 0x811c9dc5;
  readonly nodes: SimNode[] = [];
  private readonly clients: Client[] = [];
  readonly history: HistoryOp[] = [];
  readonly violations: string[] = [];
  private readonly o: Required<Omit<RaftSimOptions, 'unsafe' | 'maxStepsPerKey' | 'membership'>> & Pick<RaftSimOptions, 'unsafe' | 'maxStepsPerKey'>;
  private readonly membership: boolean;
  private opsIssued = 0;
  private opIds = 0;
  /** blocked[a][b]: messages from a to b are lost (partitions). */
  private blocked: boolean[][];
  private dropRate = 0.01;
  private faultsOn: boolean;
  private killLeaderAfterAck = false;
  /** The latest membership applied anywhere, and its index. */
  private conf: ConfState = { voters: [], learners: [] };
  private confIndex = 0;
  /** Every committed entry seen applied anywhere: index -> term and data hash. */
  private readonly committed = new Map<number, { term: number; hash: number }>();
  private maxCommitted = 0;
  private readonly leaders = new Map<number, NodeId>();
  readonly stats: RaftSimStats = {
    events: 0, messages: 0, dropped: 0, simMs: 0, elections: 0, crashes: 0, partitions: 0, transfers: 0,
    snapshotsInstalled: 0, membershipChanges: 0, committed: 0, completed: 0, unknown: 0, duplicatesSuppressed: 0,
  };

  constructor(options: RaftSimOptions) {
    this.o = {
      nodes: 3, clients: 4, keys: 3, ops: 1000, faults: true, readOnly: 'safe', preVote: true, tickMs: 100,
      electionTicks: 10, snapshotEvery: 50, snapshotChunkBytes: 200, maxSizePerMsg: 4096, ...options,
    };
    this.rnd = new SeededRandom(options.seed);
    this.faultsOn = this.o.faults;
    const n = this.o.nodes;
    this.membership = options.membership ?? n >= 5;
    // Room for nodes added by membership changes.
    const capacity = n + (this.membership ? 32 : 0);
    this.blocked = Array.from({ length: capacity }, () => new Array<boolean>(capacity).fill(false));
    const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    this.conf = { voters: [...ids].sort(), learners: [] };
    this.confIndex = n;
    for (let i = 0; i < n; i++) {
      const fs = new FaultFs(new MemFs(), { random: new SeededRandom(options.seed * 31 + i) });
      const node = new SimNode(i, ids[i]!, fs);
      this.nodes.push(node);
      const log = this.o.openLog(fs, DIR);
      bootstrapLog(log, ids);
      // The bootstrap entries are durable before the node starts.
      void log.sync();
      log.close();
      this.boot(node);
    }
    for (let c = 0; c < this.o.clients; c++) {
      const client: Client = { id: `c${c}`, index: c, seq: 0, readSeq: 0, current: undefined, attempts: 0, hint: this.rnd.int(0, n - 1), lastWritten: undefined };
      this.clients.push(client);
      this.q.push(this.rnd.int(0, 50), { k: 'start', client });
    }
    if (this.faultsOn) this.q.push(this.rnd.int(500, 3000), { k: 'fault' });
  }

  // ---- running ----

  async run(): Promise<RaftSimResult> {
    const budgetMs = 10_000_000;
    while (this.q.size > 0) {
      const { time, item } = this.q.pop();
      this.now = time;
      if (time > budgetMs) {
        this.violations.push(`run exceeded ${budgetMs} simulated ms`);
        break;
      }
      this.stats.events++;
      await this.handle(item);
      if (this.stats.events % 2000 === 0) this.checkLogMatching();
      if (this.opsIssued >= this.o.ops && this.clients.every((c) => c.current === undefined)) break;
    }
    await this.settle();
    this.stats.simMs = this.now;
    this.stats.completed = this.history.filter((h) => h.ret !== undefined).length;
    this.stats.unknown = this.history.length - this.stats.completed;
    this.stats.committed = this.maxCommitted;
    for (const node of this.nodes) if (node.sm) this.stats.duplicatesSuppressed = Math.max(this.stats.duplicatesSuppressed, node.sm.duplicates);
    const check = checkLinearizable(this.history, this.o.maxStepsPerKey === undefined ? undefined : { maxStepsPerKey: this.o.maxStepsPerKey });
    return { seed: this.o.seed, history: this.history, violations: this.violations, check, stats: this.stats, traceHash: this.hash.toString(16).padStart(8, '0') };
  }

  private trace(...nums: number[]): void {
    let h = fnv(this.hash, this.now);
    for (const n of nums) h = fnv(h, n);
    this.hash = h;
  }

  private async handle(ev: SimEvent): Promise<void> {
    switch (ev.k) {
      case 'tick': {
        const node = this.nodes[ev.node]!;
        if (!node.alive || node.inc !== ev.inc) return;
        this.trace(1, ev.node);
        node.raft.tick();
        this.q.push(this.now + this.o.tickMs, ev);
        await this.pump(node);
        return;
      }
      case 'msg': {
        const to = this.nodeOf(ev.m.to);
        if (!to || !to.alive) return;
        // A process that died in the instant it sent this never got it onto the wire.
        const from = this.nodeOf(ev.m.from)!;
        if (from.inc !== ev.senderInc && from.crashedAt === ev.sentAt) return;
        this.trace(2, to.index, MSG_CODE[ev.m.type]!, ev.m.term, ev.m.index);
        this.stepSafely(to, ev.m);
        await this.pump(to);
        return;
      }
      case 'sync': {
        const node = this.nodes[ev.node]!;
        if (!node.alive || node.inc !== ev.inc) return;
        this.trace(3, ev.node);
        await this.finishReady(node, ev.rd);
        return;
      }
      case 'req':
        this.trace(4, ev.attempt.node, ev.attempt.op.id);
        await this.onRequest(ev.attempt);
        return;
      case 'resp':
        this.trace(5, ev.attempt.op.id, ev.reply.ok ? 1 : 0);
        this.onReply(ev.attempt, ev.reply);
        return;
      case 'timeout':
        if (!ev.attempt.live) return;
        this.trace(6, ev.attempt.op.id);
        this.retry(ev.attempt, -1);
        return;
      case 'start':
        this.trace(7, ev.client.index);
        this.startOp(ev.client);
        return;
      case 'resend':
        this.trace(11, ev.client.index, ev.op.id);
        this.send(ev.client, ev.op, ev.seq);
        return;
      case 'fault':
        this.trace(8);
        await this.injectFault();
        return;
      case 'heal':
        this.trace(9);
        this.heal();
        return;
      case 'restart': {
        const node = this.nodes[ev.node]!;
        if (node.alive || node.removed) return;
        this.trace(10, ev.node);
        this.boot(node);
        await this.pump(node);
        return;
      }
    }
  }

  private nodeOf(id: NodeId): SimNode | undefined {
    return this.nodes[Number(id.slice(1)) - 1];
  }

  private stepSafely(node: SimNode, m: Message): void {
    try {
      node.raft.step(m);
    } catch (err) {
      this.violations.push(`t=${this.now} ${node.id} step ${m.type} from ${m.from}: ${(err as Error).message}`);
      this.crash(node);
    }
  }

  // ---- nodes ----

  /** Starts (or restarts) a node from what its disk holds. */
  private boot(node: SimNode): void {
    node.inc++;
    node.alive = true;
    node.busy = false;
    node.writeWaiters.clear();
    node.readWaiters.clear();
    node.reads = [];
    node.log = this.o.openLog(node.fs, DIR);
    // Durability: a vote once sent survives a restart (or a double vote becomes possible).
    const hs = node.log.initialState().hardState;
    if (hs.term < node.votedTerm || (hs.term === node.votedTerm && hs.vote !== node.votedFor)) {
      this.violations.push(`durability: ${node.id} voted for ${node.votedFor} in term ${node.votedTerm} but restarted with term ${hs.term}, vote '${hs.vote}'`);
    }
    const snap = node.log.snapshot();
    node.sm = snap.meta.index > 0 ? KvStateMachine.restore(snap) : new KvStateMachine();
    node.lastSnap = snap.meta.index;
    node.raft = new Raft({
      id: node.id,
      storage: node.log,
      random: new SeededRandom(this.rnd.int(0, 0x7fffffff)),
      electionTicks: this.o.electionTicks,
      heartbeatTicks: 1,
      preVote: this.o.preVote,
      checkQuorum: true,
      readOnly: this.o.readOnly,
      maxSizePerMsg: this.o.maxSizePerMsg,
      maxInflightMsgs: 8,
      snapshotChunkBytes: this.o.snapshotChunkBytes,
      applied: snap.meta.index,
      unsafe: { readIndexBeforeTermCommit: this.o.unsafe === 'early-read-index' },
    });
    this.q.push(this.now + this.rnd.int(1, this.o.tickMs), { k: 'tick', node: node.index, inc: node.inc });
  }

  private crash(node: SimNode): void {
    if (!node.alive) return;
    this.stats.crashes++;
    node.alive = false;
    node.crashedAt = this.now;
    node.inc++;
    // What survives: synced bytes, plus (sometimes) a torn prefix of the unsynced tail.
    node.fs = new FaultFs(node.fs.crashImage({ tear: this.rnd.int(0, 1) === 1 }), { random: new SeededRandom(this.rnd.int(0, 0x7fffffff)) });
  }

  /** Hands out the next Ready (one at a time per node) and persists it. */
  private async pump(node: SimNode): Promise<void> {
    while (node.alive && !node.busy && node.raft.hasReady()) {
      const rd = node.raft.ready();
      node.busy = true;
      this.observeReady(node, rd);
      try {
        if (rd.snapshot) node.log.applySnapshot(rd.snapshot);
        node.log.append(rd.entries);
        if (rd.hardState) node.log.setHardState(rd.hardState);
      } catch (err) {
        if (!isSimulatedCrash(err)) this.violations.push(`t=${this.now} ${node.id} persist: ${(err as Error).message}`);
        this.crash(node);
        return;
      }
      const needsDisk = rd.mustSync || rd.snapshot !== undefined || rd.entries.length > 0;
      if (this.o.unsafe === 'ack-before-durable') {
        // Unsafe: everything goes out at once; the disk catches up later.
        const inc = node.inc;
        await this.completeReady(node, rd);
        if (needsDisk) this.q.push(this.now + this.diskLatency(node), { k: 'sync', node: node.index, inc, rd: undefined as unknown as Ready });
        continue;
      }
      if (needsDisk) {
        this.q.push(this.now + this.diskLatency(node), { k: 'sync', node: node.index, inc: node.inc, rd });
        return;
      }
      await this.completeReady(node, rd);
    }
  }

  private async finishReady(node: SimNode, rd: Ready | undefined): Promise<void> {
    try {
      await node.log.sync();
    } catch (err) {
      if (!isSimulatedCrash(err)) this.violations.push(`t=${this.now} ${node.id} sync: ${(err as Error).message}`);
      this.crash(node);
      return;
    }
    if (rd === undefined) return; // the unsafe variant's deferred sync
    await this.completeReady(node, rd);
    await this.pump(node);
  }

  /** After persistence: send, install the snapshot, apply, serve reads, advance. */
  private async completeReady(node: SimNode, rd: Ready): Promise<void> {
    for (const m of rd.messages) this.sendMsg(m);
    if (rd.snapshot) {
      node.sm = KvStateMachine.restore(rd.snapshot);
      node.lastSnap = rd.snapshot.meta.index;
      this.stats.snapshotsInstalled++;
    }
    for (const e of rd.committedEntries) {
      if (e.index <= node.sm.applied) continue;
      this.checkApplied(node, e);
      const out = node.sm.apply(e);
      if (out) this.answerWrite(node, out);
      if (e.type === EntryType.ConfChange) this.onMembership(node.sm.conf, e.index);
    }
    for (const rs of rd.readStates) node.reads.push({ index: rs.index, ctx: dec.decode(rs.context) });
    node.raft.advance(rd);
    node.busy = false;
    this.serveReads(node);
    this.maybeSnapshot(node);
  }

  /** fsync time: 1-5 ms, with a slow tail, and much slower while the node's disk is degraded. */
  private diskLatency(node: SimNode): number {
    if (!this.faultsOn) return this.rnd.int(1, 5);
    if (node.slowDiskUntil > this.now) return this.rnd.int(50, 400);
    return this.rnd.float() < 0.05 ? this.rnd.int(20, 150) : this.rnd.int(1, 5);
  }

  private maybeSnapshot(node: SimNode): void {
    if (node.sm.applied - node.lastSnap < this.o.snapshotEvery) return;
    try {
      node.log.createSnapshot(node.sm.applied, node.sm.conf, node.sm.snapshotData());
      node.lastSnap = node.sm.applied;
    } catch (err) {
      if (!isSimulatedCrash(err)) this.violations.push(`t=${this.now} ${node.id} snapshot: ${(err as Error).message}`);
      this.crash(node);
    }
  }

  // ---- invariants ----

  private observeReady(node: SimNode, rd: Ready): void {
    if (rd.softState?.role !== 'leader') return;
    this.stats.elections++;
    const term = node.raft.term;
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== node.id) this.violations.push(`election safety: ${prev} and ${node.id} both led term ${term}`);
    this.leaders.set(term, node.id);
    // Leader completeness: the new leader holds every committed entry.
    const first = node.raft.log.firstIndex();
    for (let i = Math.max(first, 1); i <= this.maxCommitted; i++) {
      const c = this.committed.get(i);
      if (!c) continue;
      const t = node.raft.log.term(i);
      if (t !== c.term) {
        this.violations.push(`leader completeness: ${node.id} leads term ${term} without committed entry ${i} (term ${c.term}, has ${t})`);
        return;
      }
    }
  }

  private checkApplied(node: SimNode, e: Entry): void {
    const h = hashBytes(e.data);
    const c = this.committed.get(e.index);
    if (!c) {
      this.committed.set(e.index, { term: e.term, hash: h });
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
    } else if (c.term !== e.term || c.hash !== h) {
      this.violations.push(`state machine safety: ${node.id} applied entry ${e.index} term ${e.term}, another node applied term ${c.term}`);
    }
  }

  /** Log matching: if two logs hold an entry with the same index and term, they agree up to it. */
  checkLogMatching(): void {
    const live = this.nodes.filter((n) => n.alive);
    for (let a = 0; a < live.length; a++) {
      for (let b = a + 1; b < live.length; b++) {
        const la = live[a]!.raft.log;
        const lb = live[b]!.raft.log;
        const lo = Math.max(la.firstIndex(), lb.firstIndex());
        const hi = Math.min(la.lastIndex(), lb.lastIndex());
        let agreeFrom = -1;
        for (let i = hi; i >= lo; i--) {
          if (la.term(i) === lb.term(i)) {
            agreeFrom = i;
            break;
          }
        }
        for (let i = agreeFrom; i >= lo && agreeFrom >= 0; i--) {
          const ea = la.slice(i, i + 1, 1 << 30)[0]!;
          const eb = lb.slice(i, i + 1, 1 << 30)[0]!;
          if (ea.term !== eb.term || hashBytes(ea.data) !== hashBytes(eb.data)) {
            this.violations.push(`log matching: ${live[a]!.id} and ${live[b]!.id} agree at ${agreeFrom} but differ at ${i}`);
            return;
          }
        }
      }
    }
  }

  // ---- network ----

  private sendMsg(m: Message): void {
    this.stats.messages++;
    const from = this.nodeOf(m.from);
    const to = this.nodeOf(m.to);
    if (!from || !to) return;
    if (m.type === MessageType.VoteResp && !m.reject && m.term > from.votedTerm) {
      from.votedTerm = m.term;
      from.votedFor = m.to;
    }
    if (this.blocked[from.index]![to.index] || (this.faultsOn && this.rnd.float() < this.dropRate)) {
      this.stats.dropped++;
      return;
    }
    const ev: SimEvent = { k: 'msg', m, sentAt: this.now, senderInc: from.inc };
    this.q.push(this.now + this.delay(), ev);
    if (this.faultsOn && this.rnd.float() < 0.01) this.q.push(this.now + this.delay(), ev);
  }

  private delay(): number {
    if (this.faultsOn && this.rnd.float() < 0.03) return this.rnd.int(50, 400);
    return this.rnd.int(1, 10);
  }

  private async injectFault(): Promise<void> {
    const n = this.nodes.length;
    const kind = this.rnd.int(0, this.membership ? 11 : 9);
    if (kind >= 10) {
      await this.changeMembership();
      this.q.push(this.now + this.rnd.int(500, 3000), { k: 'fault' });
      return;
    }
    const down = this.nodes.filter((x) => !x.alive).length;
    if (kind <= 2) {
      // Symmetric partition: a random split.
      this.stats.partitions++;
      const side = this.nodes.map(() => this.rnd.int(0, 1));
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) this.blocked[a]![b] = side[a] !== side[b];
      this.q.push(this.now + this.rnd.int(300, 4000), { k: 'heal' });
    } else if (kind === 3) {
      // One-way: some links lose messages in one direction only.
      this.stats.partitions++;
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b && this.rnd.int(0, 3) === 0) this.blocked[a]![b] = true;
      this.q.push(this.now + this.rnd.int(300, 4000), { k: 'heal' });
    } else if (kind === 4) {
      // Isolate the current leader (it must step down; a new one is elected).
      const leader = this.nodes.find((x) => x.alive && x.raft.role === 'leader');
      if (leader) {
        this.stats.partitions++;
        for (let b = 0; b < n; b++) if (b !== leader.index) this.blocked[leader.index]![b] = this.blocked[b]![leader.index] = true;
        this.q.push(this.now + this.rnd.int(1000, 4000), { k: 'heal' });
      }
    } else if (kind === 5 && this.rnd.int(0, 1) === 0) {
      // Kill the leader at the worst moment: right after it acknowledges a write.
      this.killLeaderAfterAck = true;
    } else if (kind <= 7) {
      const victim = this.nodes[this.rnd.int(0, n - 1)]!;
      if (!victim.removed && (down < Math.floor(n / 2) || this.rnd.int(0, 4) === 0)) {
        this.crash(victim);
        this.q.push(this.now + this.rnd.int(50, 3000), { k: 'restart', node: victim.index });
      }
    } else if (kind === 8 && this.rnd.int(0, 1) === 0) {
      // A degraded disk: fsyncs take hundreds of milliseconds for a while.
      const victim = this.nodes[this.rnd.int(0, n - 1)]!;
      victim.slowDiskUntil = this.now + this.rnd.int(1000, 5000);
    } else if (kind === 8) {
      // Leadership transfer to a random node.
      const leader = this.nodes.find((x) => x.alive && x.raft.role === 'leader');
      if (leader) {
        this.stats.transfers++;
        leader.raft.transferLeader(this.nodes[this.rnd.int(0, n - 1)]!.id);
        await this.pump(leader);
      }
    } else {
      this.dropRate = this.rnd.int(0, 1) === 0 ? 0.2 : 0.01;
      this.q.push(this.now + this.rnd.int(500, 3000), { k: 'heal' });
    }
    this.q.push(this.now + this.rnd.int(500, 3000), { k: 'fault' });
  }

  private heal(): void {
    for (const row of this.blocked) row.fill(false);
    this.dropRate = 0.01;
  }

  // ---- clients ----

  private startOp(client: Client): void {
    if (this.opsIssued >= this.o.ops) return;
    this.opsIssued++;
    // Read-your-writes is a common pattern, and the one that exposes stale reads.
    const readBack = client.lastWritten !== undefined && this.rnd.int(0, 2) === 0;
    const key = readBack ? client.lastWritten! : `k${this.rnd.int(0, this.o.keys - 1)}`;
    const r = readBack ? 0 : this.rnd.int(0, 9);
    client.lastWritten = undefined;
    const op: HistoryOp = { id: this.opIds++, client: client.id, key, kind: r < 4 ? 'read' : r < 8 ? 'write' : 'cas', call: this.now };
    if (op.kind !== 'read') client.lastWritten = key;
    if (op.kind !== 'read') {
      op.value = `${client.id}.${client.seq + 1}`;
      client.seq++;
    }
    if (op.kind === 'cas') {
      // Expect a value this client saw recently, or absence.
      const last = this.history.filter((h) => h.key === key && h.ret !== undefined && typeof h.output === 'string').slice(-3);
      const pick = this.rnd.int(0, last.length);
      if (pick < last.length) op.expected = last[pick]!.output as string;
    }
    this.history.push(op);
    client.attempts = 0;
    this.send(client, op, client.seq);
  }

  private send(client: Client, op: HistoryOp, seq: number): void {
    client.attempts++;
    const attempt: Attempt = { client, op, seq, node: client.hint, live: true };
    client.current = attempt;
    this.q.push(this.now + this.rnd.int(1, 5), { k: 'req', attempt });
    this.q.push(this.now + CLIENT_TIMEOUT_MS, { k: 'timeout', attempt });
  }

  private retry(attempt: Attempt, leader: number): void {
    attempt.live = false;
    const client = attempt.client;
    if (client.attempts >= MAX_ATTEMPTS) {
      // Give up: the outcome stays unknown (the op may still take effect).
      client.current = undefined;
      this.q.push(this.now + this.rnd.int(0, 20), { k: 'start', client });
      return;
    }
    client.hint = leader >= 0 && leader !== attempt.node ? leader : (attempt.node + 1 + this.rnd.int(0, this.nodes.length - 2)) % this.nodes.length;
    // Same op, same session sequence: a retried command applies at most once.
    this.q.push(this.now + this.rnd.int(5, 50), { k: 'resend', client, op: attempt.op, seq: attempt.seq });
  }

  private async onRequest(attempt: Attempt): Promise<void> {
    const node = this.nodes[attempt.node]!;
    if (!attempt.live || !node.alive) return;
    const op = attempt.op;
    const reject = (): void => this.reply(attempt, { ok: false, leader: this.leaderIndex(node) });
    if (op.kind === 'read') {
      if (this.o.unsafe === 'local-reads') {
        this.reply(attempt, { ok: true, output: node.sm.map.get(op.key) });
        return;
      }
      const ctx = `${attempt.client.id}/r${++attempt.client.readSeq}`;
      const r = node.raft.readIndex(enc.encode(ctx));
      if (!r.ok) return reject();
      node.readWaiters.set(ctx, attempt);
    } else {
      const data = encodeKvCommand({ client: attempt.client.id, seq: attempt.seq, op: op.kind === 'cas' ? 'cas' : 'write', key: op.key, value: op.value!, ...(op.expected !== undefined ? { expected: op.expected } : {}) });
      const r = node.raft.propose(data);
      if (!r.ok) return reject();
      node.writeWaiters.set(`${attempt.client.id}:${attempt.seq}`, attempt);
    }
    await this.pump(node);
  }

  private leaderIndex(node: SimNode): number {
    const lead = node.raft.lead;
    return lead === '' ? -1 : (this.nodeOf(lead)?.index ?? -1);
  }

  private answerWrite(node: SimNode, out: KvApplied): void {
    const key = `${out.client}:${out.seq}`;
    const attempt = node.writeWaiters.get(key);
    if (!attempt) return;
    node.writeWaiters.delete(key);
    this.reply(attempt, { ok: true, output: attempt.op.kind === 'cas' ? out.ok : undefined });
    if (this.killLeaderAfterAck && node.raft.role === 'leader') {
      // The client's answer is out; the commit index has not reached the followers.
      this.killLeaderAfterAck = false;
      this.crash(node);
      this.q.push(this.now + this.rnd.int(500, 3000), { k: 'restart', node: node.index });
    }
  }

  private serveReads(node: SimNode): void {
    while (node.reads.length > 0 && node.reads[0]!.index <= node.sm.applied) {
      const { ctx } = node.reads.shift()!;
      const attempt = node.readWaiters.get(ctx);
      if (!attempt) continue;
      node.readWaiters.delete(ctx);
      this.reply(attempt, { ok: true, output: node.sm.map.get(attempt.op.key) });
    }
  }

  private reply(attempt: Attempt, reply: Reply): void {
    if (this.faultsOn && this.rnd.float() < this.dropRate) return;
    this.q.push(this.now + this.rnd.int(1, 5), { k: 'resp', attempt, reply });
  }

  private onReply(attempt: Attempt, reply: Reply): void {
    if (!attempt.live) return;
    if (!reply.ok) {
      this.retry(attempt, reply.leader);
      return;
    }
    attempt.live = false;
    const client = attempt.client;
    const op = attempt.op;
    op.ret = this.now;
    if (op.kind !== 'write') op.output = reply.output;
    client.current = undefined;
    client.hint = attempt.node;
    this.q.push(this.now + this.rnd.int(0, 20), { k: 'start', client });
  }

  // ---- the end ----

  /** Heals every fault, restarts crashed nodes, lets the cluster converge, and checks it did. */
  private async settle(): Promise<void> {
    this.faultsOn = false;
    this.heal();
    for (const node of this.nodes) if (!node.alive && !node.removed) this.boot(node);
    const until = this.now + 30_000;
    while (this.q.size > 0 && this.q.peekTime()! <= until) {
      const { time, item } = this.q.pop();
      this.now = time;
      if (item.k === 'fault' || item.k === 'start' || item.k === 'resend' || item.k === 'timeout' || item.k === 'heal' || item.k === 'restart') continue;
      await this.handle(item);
      if (this.converged()) break;
    }
    if (!this.converged()) {
      this.violations.push(`no convergence: applied ${this.nodes.map((n) => `${n.id}=${n.sm.applied}`).join(' ')}, max committed ${this.maxCommitted}`);
      return;
    }
    this.checkLogMatching();
    const members = this.members();
    const ref = JSON.stringify([...members[0]!.sm.map].sort());
    for (const node of members.slice(1)) {
      if (JSON.stringify([...node.sm.map].sort()) !== ref) this.violations.push(`replicas differ after convergence: ${members[0]!.id} vs ${node.id}`);
    }
  }

  private converged(): boolean {
    const leader = this.nodes.find((n) => n.alive && n.raft.role === 'leader');
    if (!leader) return false;
    const target = leader.raft.log.lastIndex();
    return target >= this.maxCommitted && this.members().every((n) => n.alive && n.sm.applied === target && n.raft.log.committed === target);
  }

  /** A membership change was applied somewhere; the first node to apply it acts on it. */
  private onMembership(conf: ConfState, index: number): void {
    if (index <= this.confIndex) return;
    this.confIndex = index;
    this.conf = conf;
    for (const id of [...conf.voters, ...conf.learners]) {
      const n = this.nodeOf(id);
      if (n) n.everMember = true;
    }
    if (!this.membership) return;
    // Stop nodes a committed change removed (as an operator decommissions them).
    for (const node of this.nodes) {
      if (node.removed || !node.everMember || conf.voters.includes(node.id) || conf.learners.includes(node.id)) continue;
      node.removed = true;
      this.crash(node);
    }
  }

  /** Nodes in the latest committed membership. */
  private members(): SimNode[] {
    return this.nodes.filter((n) => !n.removed && (this.conf.voters.includes(n.id) || this.conf.learners.includes(n.id)));
  }

  // ---- membership ----

  /**
   * One single-server step, proposed on the leader: promote a learner, else
   * remove a voter (down to 3), else add a brand-new node (fresh id and
   * empty disk) as a learner.
   */
  private async changeMembership(): Promise<void> {
    const leader = this.nodes.find((x) => x.alive && x.raft.role === 'leader');
    if (!leader) return;
    const conf = leader.raft.confState();
    let cc: ConfChange;
    if (conf.learners.length > 0) {
      cc = { type: ConfChangeType.AddVoter, node: conf.learners[0]! };
    } else if (conf.voters.length > 3) {
      cc = { type: ConfChangeType.RemoveNode, node: conf.voters[this.rnd.int(0, conf.voters.length - 1)]! };
    } else {
      if (this.nodes.length >= this.blocked.length) return;
      const index = this.nodes.length;
      const node = new SimNode(index, `n${index + 1}`, new FaultFs(new MemFs(), { random: new SeededRandom(this.o.seed * 31 + index) }));
      this.nodes.push(node);
      this.boot(node);
      cc = { type: ConfChangeType.AddLearner, node: node.id };
    }
    if (leader.raft.proposeConfChange(cc).ok) this.stats.membershipChanges++;
    else if (cc.type === ConfChangeType.AddLearner) {
      // Refused (another change is pending): the new node is never used.
      const node = this.nodeOf(cc.node)!;
      node.removed = true;
      this.crash(node);
    }
    await this.pump(leader);
  }
}

export async function runRaftSim(options: RaftSimOptions): Promise<RaftSimResult> {
  return new RaftSim(options).run();
}
