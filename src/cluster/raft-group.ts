/**
 * The runtime around one Raft core: it carries out each Ready (persist to
 * the group's durable log, sync, send, apply to the state machine, serve
 * reads, advance), and turns proposals and ReadIndex requests into promises.
 * A node hosts many groups (its meta replica and its shard replicas); they
 * share the node's one tick timer and the peer transport, which coalesces
 * every message to a peer queued in one turn of the event loop (heartbeats
 * of all groups included) into one frame.
 */
import { ERROR_CODES, StrataError } from '../base/index.js';
import type { Random } from '../base/index.js';
import { MessageType, Raft } from '../replication/index.js';
import type { ConfChange, Entry, Message, NodeId, RaftLogStore, ReadState, Snapshot } from '../replication/index.js';

/** What a group replicates. Entries arrive in index order, each exactly once per process lifetime past `applied`. */
export interface StateMachine {
  /** The last index whose effects are durable in the state machine (restart resumes after it). */
  readonly applied: number;
  /**
   * Applies committed entries (conf changes included: the state machine
   * only records their index). Returns the encoded outcome of each Normal
   * entry by index, for the proposer waiting on it.
   */
  apply(entries: readonly Entry[]): Promise<Map<number, Uint8Array>>;
  /** Replaces the whole state with a snapshot's (a follower that fell behind the leader's log). */
  restore(snapshot: Snapshot): Promise<void>;
  /**
   * The whole state as of `applied`, for a snapshot that lets the log drop
   * the entries before it (the bytes themselves, or a description of files
   * that hold it: a checkpoint). No apply runs until it resolves.
   */
  snapshotData(): Uint8Array | Promise<Uint8Array>;
}

export interface RaftGroupOptions {
  /** The group's name on the wire ("meta", "default/3"). */
  group: string;
  nodeId: NodeId;
  /** The group's durable log (on a node: its view of the node's shared MultiRaftLog). */
  log: RaftLogStore;
  sm: StateMachine;
  random: Random;
  send(to: NodeId, group: string, msg: Message): void;
  electionTicks: number;
  heartbeatTicks: number;
  /** A proposal or read not answered within this many ms fails with UNAVAILABLE (outcome unknown for writes). */
  requestTimeoutMs: number;
  /** An unanswered ReadIndex request is asked again this often (default 200 ms). */
  retryReadMs?: number;
  /** Snapshot and truncate the log past this many applied entries (undefined: never). */
  snapshotEntries?: number;
  /** Makes read contexts unique across this process's restarts (a leader drops a context it already holds). */
  bootId: Uint8Array;
  onError(err: unknown): void;
  /** Called when this replica's view of the leader or its role changes. */
  onLeaderChange?(leader: NodeId, term: number): void;
}

interface Waiter {
  term: number;
  resolve(out: { index: number; outcome: Uint8Array }): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface ReadWaiter {
  index: number;
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  /** Re-asks while unanswered: a ReadIndex request lost on the way to the leader is never resent by the core. */
  retry: NodeJS.Timeout | undefined;
  /** The contexts asked under (one per attempt); the first answer serves the read. */
  contexts: string[];
}

/** Message types a leader may send before its Ready is durable. */
const LEADER_EARLY: ReadonlySet<string> = new Set([MessageType.App, MessageType.Heartbeat]);

/** NOT_LEADER, carrying the leader this replica knows of ('' when none) for the caller to retry there. */
export class NotLeaderError extends StrataError {
  constructor(
    readonly group: string,
    readonly leader: NodeId,
  ) {
    super(ERROR_CODES.NOT_LEADER, leader === '' ? `${group}: no leader elected yet` : `${group}: not the leader; leader is ${leader}`);
  }
}

export class RaftGroup {
  readonly raft: Raft;
  readonly group: string;
  /** Snapshots received from a leader and installed (this replica had fallen behind its log). */
  snapshotsInstalled = 0;
  /** Snapshots taken here to truncate the log. */
  snapshotsTaken = 0;
  /** When a leader last handed this replica its leadership (a transfer), ms; 0 if never. */
  leadershipHandedAt = 0;
  private readonly opts: RaftGroupOptions;
  private driving = false;
  private again = false;
  private closed = false;
  private readonly waiters = new Map<number, Waiter>();
  /** ReadIndex requests sent, by context id, until their ReadState arrives. */
  private readonly reads = new Map<string, ReadWaiter>();
  /** ReadStates received whose index is not applied yet. */
  private readonly readyReads: ReadWaiter[] = [];
  private appliedWaiters: Array<{ index: number; resolve(): void; reject(err: Error): void }> = [];
  private nextReadId = 1;
  private compactNow = false;
  private lastLeader = '';
  private lastTerm = 0;
  /** Resolved when the drive loop is idle (close waits for it). */
  private idle: Promise<void> = Promise.resolve();

  constructor(opts: RaftGroupOptions) {
    this.opts = opts;
    this.group = opts.group;
    this.raft = new Raft({
      id: opts.nodeId,
      storage: opts.log,
      random: opts.random,
      electionTicks: opts.electionTicks,
      heartbeatTicks: opts.heartbeatTicks,
      // Many groups share a node: followers learn a new commit index from the next append (or tick), not from
      // an empty append per commit per group.
      commitBroadcast: 'lazy',
      applied: opts.sm.applied,
    });
  }

  get leader(): NodeId {
    return this.raft.softState().leader;
  }
  get isLeader(): boolean {
    return this.raft.softState().role === 'leader';
  }
  get term(): number {
    return this.raft.hardState().term;
  }

  tick(): void {
    if (this.closed) return;
    this.raft.tick();
    this.schedule();
  }

  step(msg: Message): void {
    if (this.closed) return;
    if (msg.type === MessageType.TimeoutNow) this.leadershipHandedAt = Date.now();
    this.raft.step(msg);
    this.schedule();
  }

  /** Proposes `data` on this replica, which must be the leader; resolves with the entry's index and outcome once applied here. */
  propose(data: Uint8Array): Promise<{ index: number; outcome: Uint8Array }> {
    if (this.closed) return Promise.reject(new StrataError(ERROR_CODES.UNAVAILABLE, `${this.group}: replica closed`));
    if (!this.isLeader) return Promise.reject(new NotLeaderError(this.group, this.leader));
    const r = this.raft.propose(data);
    if (!r.ok) {
      if (r.reason === 'too-many-uncommitted') return Promise.reject(new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `${this.group}: too many uncommitted writes; retry`));
      return Promise.reject(new NotLeaderError(this.group, this.leader));
    }
    if (!('index' in r)) return Promise.reject(new NotLeaderError(this.group, this.leader));
    const { index, term } = r;
    // A waiter still at this index proposed an entry that a leader change truncated: it was never committed.
    const stale = this.waiters.get(index);
    if (stale !== undefined) {
      clearTimeout(stale.timer);
      stale.reject(new NotLeaderError(this.group, this.leader));
    }
    this.schedule();
    return new Promise<{ index: number; outcome: Uint8Array }>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.waiters.get(index)?.timer === timer) this.waiters.delete(index);
        reject(new StrataError(ERROR_CODES.UNAVAILABLE, `${this.group}: write not committed within ${this.opts.requestTimeoutMs} ms (outcome unknown)`));
      }, this.opts.requestTimeoutMs);
      this.waiters.set(index, { term, resolve, reject, timer });
    });
  }

  /**
   * Resolves once a read on this replica is linearizable (ReadIndex: the
   * leader confirmed its leadership with a quorum after the request arrived,
   * and this replica applied up to the commit index it saw then). Works on
   * followers too (the core forwards the request to the leader).
   */
  readBarrier(): Promise<void> {
    if (this.closed) return Promise.reject(new StrataError(ERROR_CODES.UNAVAILABLE, `${this.group}: replica closed`));
    let resolveFn!: () => void;
    let rejectFn!: (err: Error) => void;
    const promise = new Promise<void>((resolve, reject) => {
      resolveFn = resolve;
      rejectFn = reject;
    });
    const w: ReadWaiter = { index: 0, resolve: resolveFn, reject: rejectFn, contexts: [], retry: undefined, timer: undefined as unknown as NodeJS.Timeout };
    w.timer = setTimeout(() => {
      this.dropRead(w);
      const i = this.readyReads.indexOf(w);
      if (i >= 0) this.readyReads.splice(i, 1);
      rejectFn(new StrataError(ERROR_CODES.UNAVAILABLE, `${this.group}: read index not confirmed within ${this.opts.requestTimeoutMs} ms`));
    }, this.opts.requestTimeoutMs);
    // Asking again later is still linearizable: any confirmation after the read began will do.
    w.retry = setInterval(() => this.askReadIndex(w), Math.max(20, this.opts.retryReadMs ?? 200));
    // Timers and the waiter are in place before the request goes out: a one-member leader answers at once.
    if (!this.askReadIndex(w)) {
      this.dropRead(w);
      return Promise.reject(new NotLeaderError(this.group, this.leader));
    }
    return promise;
  }

  /** Sends one ReadIndex request for `w` under a fresh context (boot id + counter); false when no leader is known. */
  private askReadIndex(w: ReadWaiter): boolean {
    const ctx = Buffer.alloc(this.opts.bootId.length + 8);
    ctx.set(this.opts.bootId, 0);
    ctx.writeDoubleLE(this.nextReadId++, this.opts.bootId.length);
    const key = ctx.toString('latin1');
    this.reads.set(key, w);
    w.contexts.push(key);
    if (!this.raft.readIndex(ctx).ok) {
      this.reads.delete(key);
      w.contexts.pop();
      return false;
    }
    this.schedule();
    return true;
  }

  /** Stops asking for `w` (and its timeout, unless it still waits for the apply). */
  private dropRead(w: ReadWaiter, keepTimer = false): void {
    if (!keepTimer) clearTimeout(w.timer);
    if (w.retry !== undefined) clearInterval(w.retry);
    for (const c of w.contexts) this.reads.delete(c);
  }

  /** Resolves once this replica applied `index`. */
  waitApplied(index: number): Promise<void> {
    if (!Number.isSafeInteger(index) || index < 0) return Promise.reject(new StrataError(ERROR_CODES.INVALID_ARGUMENT, `${this.group}: bad log index ${index}`));
    if (this.closed) return Promise.reject(new StrataError(ERROR_CODES.UNAVAILABLE, `${this.group}: replica closed`));
    if (this.opts.sm.applied >= index) return Promise.resolve();
    return new Promise((resolve, reject) => this.appliedWaiters.push({ index, resolve, reject }));
  }

  /**
   * Log compaction (run by the drive loop once a batch of Readies is done,
   * so never while one is being carried out): once more than
   * `snapshotEntries` applied entries sit in the log, snapshot the state
   * machine at its applied index and drop them (a follower that needs them
   * gets the snapshot instead).
   */
  private async compactIfDue(): Promise<void> {
    const every = this.opts.snapshotEntries;
    if (every === undefined || this.closed) return;
    const applied = this.opts.sm.applied;
    const log = this.opts.log;
    if (applied - log.firstIndex() < every && !this.compactNow) return;
    this.compactNow = false;
    const conf = this.raft.confState();
    const data = await this.opts.sm.snapshotData();
    // Already the log's snapshot (a requested one whose files went missing): the state machine made them again.
    if (this.closed || applied < log.firstIndex()) return;
    log.createSnapshot(applied, conf, data);
    this.snapshotsTaken++;
  }

  /** Makes the next turn of the drive loop take a snapshot whatever the log's length (a snapshot's files went missing). */
  requestSnapshot(): void {
    this.compactNow = true;
    if (this.driving) this.again = true;
    else this.startDrive();
  }

  /** Proposes a membership change on this replica (the leader); false when the core refuses it now. */
  proposeConfChange(cc: ConfChange): boolean {
    const ok = this.raft.proposeConfChange(cc).ok;
    this.schedule();
    return ok;
  }

  /** The snapshot for `to` could not be shipped: the core probes it again (and picks the log's snapshot then). */
  abortSnapshot(to: NodeId): void {
    this.raft.abortSnapshot(to);
    this.schedule();
  }

  transferLeader(target: NodeId): boolean {
    const ok = this.raft.transferLeader(target);
    this.schedule();
    return ok;
  }

  /** Starts an election now (a single-member group's first start, or tests). */
  campaign(): void {
    this.raft.campaign();
    this.schedule();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle;
    const err = new StrataError(ERROR_CODES.UNAVAILABLE, `${this.group}: replica closed`);
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
    for (const r of new Set(this.reads.values())) {
      this.dropRead(r);
      r.reject(err);
    }
    this.reads.clear();
    for (const r of this.readyReads) {
      this.dropRead(r);
      r.reject(err);
    }
    this.readyReads.length = 0;
    for (const w of this.appliedWaiters) w.reject(err);
    this.appliedWaiters = [];
    this.opts.log.close();
  }

  private schedule(): void {
    if (this.driving) {
      this.again = true;
      return;
    }
    if (!this.raft.hasReady()) return;
    this.startDrive();
  }

  private startDrive(): void {
    this.driving = true;
    this.idle = this.drive().catch((err: unknown) => {
      this.driving = false;
      this.opts.onError(err);
    });
  }

  /**
   * Carries out Readies until none is left. `driving` is cleared in the
   * same synchronous step as the last look at `again`, so a proposal made
   * in between (from a microtask) is never left waiting for the next tick.
   */
  private async drive(): Promise<void> {
    for (;;) {
      this.again = false;
      while (!this.closed && this.raft.hasReady()) {
        const rd = this.raft.ready();
        const log = this.opts.log;
        // A leader's appends and heartbeats may leave before its own fsync (thesis §10.2.1): the core counts
        // the leader's own entries toward commit only once advance() says they are durable, so the fsyncs of
        // leader and followers overlap. Anything else (votes, answers to a leader) waits for the disk.
        const early = this.raft.softState().role === 'leader' && rd.snapshot === undefined && rd.messages.every((m) => LEADER_EARLY.has(m.type));
        if (early) for (const m of rd.messages) this.opts.send(m.to, this.group, m);
        if (rd.snapshot !== undefined) log.applySnapshot(rd.snapshot);
        if (rd.entries.length > 0) log.append(rd.entries);
        if (rd.hardState !== undefined) log.setHardState(rd.hardState);
        if (rd.mustSync || rd.snapshot !== undefined) await log.sync();
        if (!early) for (const m of rd.messages) this.opts.send(m.to, this.group, m);
        if (rd.snapshot !== undefined) {
          await this.opts.sm.restore(rd.snapshot);
          this.snapshotsInstalled++;
          this.wakeAppliedWaiters();
        }
        for (const rs of rd.readStates) this.onReadState(rs);
        if (rd.committedEntries.length > 0) {
          const outcomes = await this.opts.sm.apply(rd.committedEntries);
          this.settle(rd.committedEntries, outcomes);
        }
        this.raft.advance(rd);
        this.serveReads();
        this.noteLeader();
      }
      await this.compactIfDue();
      if (this.closed || (!this.again && !this.raft.hasReady())) {
        this.driving = false;
        return;
      }
    }
  }

  private settle(entries: readonly Entry[], outcomes: Map<number, Uint8Array>): void {
    for (const e of entries) {
      const w = this.waiters.get(e.index);
      if (w === undefined) continue;
      this.waiters.delete(e.index);
      clearTimeout(w.timer);
      const out = outcomes.get(e.index);
      // Another leader's entry took the index: ours was never committed, so a retry is safe.
      if (e.term !== w.term || out === undefined) w.reject(new NotLeaderError(this.group, this.leader));
      else w.resolve({ index: e.index, outcome: out });
    }
    this.wakeAppliedWaiters();
  }

  private wakeAppliedWaiters(): void {
    if (this.appliedWaiters.length === 0) return;
    const applied = this.opts.sm.applied;
    const still: typeof this.appliedWaiters = [];
    for (const w of this.appliedWaiters) {
      if (w.index <= applied) w.resolve();
      else still.push(w);
    }
    this.appliedWaiters = still;
  }

  private onReadState(rs: ReadState): void {
    const key = Buffer.from(rs.context).toString('latin1');
    const w = this.reads.get(key);
    if (w === undefined) return;
    this.dropRead(w, true);
    w.index = rs.index;
    this.readyReads.push(w);
  }

  private serveReads(): void {
    if (this.readyReads.length === 0) return;
    const applied = this.opts.sm.applied;
    let i = 0;
    while (i < this.readyReads.length) {
      const w = this.readyReads[i]!;
      if (w.index <= applied) {
        this.dropRead(w);
        w.resolve();
        this.readyReads.splice(i, 1);
      } else i++;
    }
  }

  private noteLeader(): void {
    const leader = this.leader;
    const term = this.term;
    if (leader === this.lastLeader && term === this.lastTerm) return;
    this.lastLeader = leader;
    this.lastTerm = term;
    this.opts.onLeaderChange?.(leader, term);
  }
}
