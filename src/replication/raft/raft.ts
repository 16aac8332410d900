import { assert, type Random } from '../../base/index.js';
import { applyConfChangeTo, decodeConfChange, encodeConfChange } from './conf-change.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { entrySize, type RaftStorage } from './storage.js';
import {
  EntryType,
  MessageType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Role,
  type Snapshot,
  type SoftState,
} from './types.js';

export interface RaftConfig {
  id: NodeId;
  /** The durable log (read-only here: the driver persists each Ready). */
  storage: RaftStorage;
  /** Seeds the randomized election timeouts. */
  random: Random;
  /** Ticks without a leader's word before a follower campaigns (randomized in [e, 2e)). Default 10. */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats. Default 1. */
  heartbeatTicks?: number;
  /** Ask for pre-votes before disrupting a term (thesis §9.6). Default true. */
  preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum in an election timeout (§6.2). Default true. */
  checkQuorum?: boolean;
  /**
   * 'safe' (default): ReadIndex confirms leadership with a heartbeat round.
   * 'lease': the leader answers from its lease (needs checkQuorum; assumes
   * bounded clock drift between nodes).
   */
  readOnly?: 'safe' | 'lease';
  /** Entry bytes per append message. Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Append messages in flight per follower. Default 256. */
  maxInflightMsgs?: number;
  /** Entry bytes in flight per follower (0: no byte limit). Default 32 MiB. */
  maxInflightBytes?: number;
  /** Entry bytes proposed but not yet committed before proposals are refused (0: no limit). Default 64 MiB. */
  maxUncommittedBytes?: number;
  /** Committed entry bytes handed out per Ready. Default 4 MiB. */
  maxApplyBytesPerReady?: number;
  /**
   * How followers learn that the commit index moved. 'eager' (default, as
   * etcd): an append goes to every follower at once, empty if need be.
   * 'lazy': the next append carrying entries tells them, or else the next
   * tick; under load that saves a message each way and a Ready per follower
   * per commit, at the price of followers applying up to a tick later
   * (a leader applies at once either way).
   */
  commitBroadcast?: 'eager' | 'lazy';
  /** Bytes per InstallSnapshot chunk. Default 1 MiB. */
  snapshotChunkBytes?: number;
  /** The state machine's applied index on restart (entries up to it are not handed out again). */
  applied?: number;
  /**
   * Deliberately unsafe behaviour, for the simulation's positive controls only
   * (proof that the checkers can fail). Never set in production.
   */
  unsafe?: {
    /** Serve ReadIndex before the new leader has committed an entry of its term. */
    readIndexBeforeTermCommit?: boolean;
  };
}

/**
 * What the driver must do, in this order: persist `hardState`, `entries` and
 * `snapshot` (and sync when `mustSync`), then send `messages`, install
 * `snapshot` into the state machine, apply `committedEntries`, serve
 * `readStates` once applied reaches their index, and call `advance(ready)`.
 */
export interface Ready {
  softState: SoftState | undefined;
  hardState: HardState | undefined;
  entries: Entry[];
  snapshot: Snapshot | undefined;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
  mustSync: boolean;
}

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: true; forwarded: true }
  | { ok: false; reason: 'no-leader' | 'transferring' | 'too-many-uncommitted' | 'conf-change-pending' | 'invalid-conf-change' | 'not-a-member' };

/** A Vote caused by leadership transfer carries this context: it may disrupt a lease. */
export const TRANSFER_CONTEXT = new Uint8Array([0x74, 0x72]);

const EMPTY = new Uint8Array(0);

function message(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return { type, from, to, term, index: 0, logTerm: 0, entries: [], commit: 0, reject: false, rejectHint: 0, hintTerm: 0, context: undefined, snapshot: undefined };
}

function ctxKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!);
  return s;
}

interface PendingRead {
  index: number;
  from: NodeId;
  context: Uint8Array;
  acks: Set<NodeId>;
}

/**
 * The Raft consensus core (Ongaro's thesis; the structure follows etcd/raft):
 * a deterministic state machine with no timers, sockets or files. Inputs are
 * `tick`, `step`, `propose`, `readIndex`, `transferLeader`; outputs are
 * gathered into a `Ready`.
 */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = '';
  lead: NodeId = '';
  role: Role = 'follower';
  readonly log: RaftLog;

  private readonly random: Random;
  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly leaseRead: boolean;
  private readonly maxSizePerMsg: number;
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;
  private readonly maxUncommittedBytes: number;
  private readonly maxApplyBytes: number;
  private readonly chunkBytes: number;
  private readonly unsafeEarlyRead: boolean;

  /** Membership as of the commit index (changes take effect when committed). */
  private conf: ConfState = { voters: [], learners: [] };
  private readonly prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId = '';
  /** Index of the last membership change proposed; another waits until it commits. */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  /** Appends are batched: proposals mark followers dirty and `ready()` sends. */
  private pendingBroadcast = false;
  /** commitBroadcast 'lazy': followers have not been told the latest commit index yet. */
  private commitDue = false;
  private readonly lazyCommit: boolean;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private readonly pendingReads = new Map<string, PendingRead>();
  private readQueue: string[] = [];
  /** ReadIndex requests waiting for the new leader's first commit in its term. */
  private readsBeforeCommit: Message[] = [];
  /** A snapshot being received in chunks. */
  private incoming: { meta: Snapshot['meta']; from: NodeId; parts: Uint8Array[]; received: number } | undefined;

  private prevHard: HardState;
  private prevSoft: SoftState;
  private confChangedIndex = 0;
  /** Leader only: ticks as leader, heartbeat rounds sent, and the tick each round went out. */
  private leaderTicks = 0;
  private hbRound = 0;
  private readonly roundTicks = new Map<number, number>();

  constructor(config: RaftConfig) {
    this.id = config.id;
    this.random = config.random;
    this.electionTimeout = config.electionTicks ?? 10;
    this.heartbeatTimeout = config.heartbeatTicks ?? 1;
    assert(this.heartbeatTimeout > 0 && this.electionTimeout > this.heartbeatTimeout, 'election ticks must exceed heartbeat ticks');
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.leaseRead = config.readOnly === 'lease';
    assert(!this.leaseRead || this.checkQuorum, 'lease reads need checkQuorum');
    this.maxSizePerMsg = config.maxSizePerMsg ?? 1 << 20;
    this.maxInflightMsgs = config.maxInflightMsgs ?? 256;
    this.maxInflightBytes = config.maxInflightBytes ?? 32 << 20;
    this.maxUncommittedBytes = config.maxUncommittedBytes ?? 64 << 20;
    this.maxApplyBytes = config.maxApplyBytesPerReady ?? 4 << 20;
    this.lazyCommit = config.commitBroadcast === 'lazy';
    this.chunkBytes = config.snapshotChunkBytes ?? 1 << 20;
    this.unsafeEarlyRead = config.unsafe?.readIndexBeforeTermCommit ?? false;

    this.log = new RaftLog(config.storage, config.applied ?? 0);
    const { hardState, confState } = config.storage.initialState();
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.conf = { voters: [...confState.voters], learners: [...confState.learners] };
    // Membership changes committed after the snapshot are in effect already.
    this.onCommitted(this.log.firstIndex() - 1);
    this.prevHard = this.hardState();
    this.becomeFollower(this.term, '');
    this.prevSoft = this.softState();
  }

  // ---- queries ----

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }
  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }
  confState(): ConfState {
    return { voters: [...this.conf.voters], learners: [...this.conf.learners] };
  }
  /** The leader's view of each peer (empty on followers). */
  progress(): ReadonlyMap<NodeId, Progress> {
    return this.prs;
  }
  isVoter(id: NodeId = this.id): boolean {
    return this.conf.voters.includes(id);
  }

  // ---- inputs ----

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  /** Proposes a command (or, with `confChange`, a membership change). */
  propose(data: Uint8Array, confChange?: ConfChange): ProposeResult {
    const type = confChange ? EntryType.ConfChange : EntryType.Normal;
    if (this.role !== 'leader') {
      if (this.lead === '') return { ok: false, reason: 'no-leader' };
      const m = message(MessageType.Prop, this.id, this.lead, 0);
      m.entries = [{ term: 0, index: 0, type, data }];
      this.send(m);
      return { ok: true, forwarded: true };
    }
    return this.appendProposal(type, data);
  }

  /** Proposes a single-server membership change (one at a time; it takes effect once committed). */
  proposeConfChange(cc: ConfChange): ProposeResult {
    return this.propose(encodeConfChange(cc), cc);
  }

  /** Asks for a linearizable read point; the answer arrives as a ReadState in a later Ready. */
  readIndex(context: Uint8Array): { ok: true } | { ok: false; reason: 'no-leader' } {
    if (this.role === 'leader') {
      const m = message(MessageType.ReadIndex, this.id, this.id, 0);
      m.context = context;
      this.stepLeaderReadIndex(m);
      return { ok: true };
    }
    if (this.lead === '') return { ok: false, reason: 'no-leader' };
    const m = message(MessageType.ReadIndex, this.id, this.lead, 0);
    m.context = context;
    this.send(m);
    return { ok: true };
  }

  /**
   * On a leader: the snapshot being sent to `to` could not be delivered
   * (the driver could not ship what it names). The follower is probed
   * again, and gets the log's snapshot as of then if it still needs one.
   */
  abortSnapshot(to: NodeId): void {
    const pr = this.role === 'leader' ? this.prs.get(to) : undefined;
    if (pr === undefined || pr.state !== 'snapshot') return;
    pr.snapshot = undefined;
    pr.becomeProbe();
  }

  /** Asks the leader to hand leadership to `target` (forwarded when called on a follower). */
  transferLeader(target: NodeId): boolean {
    if (this.role === 'leader') {
      this.startTransfer(target);
      return true;
    }
    if (this.lead === '') return false;
    const m = message(MessageType.TransferLeader, target, this.lead, 0);
    this.send(m);
    return true;
  }

  /** Starts an election now (as a timeout would). */
  campaign(): void {
    if (this.role !== 'leader' && this.promotable()) this.startElection(false);
  }

  /** Handles a message from a peer. */
  step(m: Message): void {
    if (m.term === 0) {
      // Forwarded proposals, read requests and transfer requests carry no term.
      this.stepLocal(m);
      return;
    }
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context !== undefined && ctxKey(m.context) === ctxKey(TRANSFER_CONTEXT);
        const inLease = this.checkQuorum && this.lead !== '' && this.electionElapsed < this.electionTimeout;
        // A node that heard from a live leader recently ignores disruptive (pre)votes (§4.2.3).
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // Never change term for a pre-vote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term; counted below.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, '');
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.App || m.type === MessageType.Heartbeat)) {
        // A stale leader (say, after a partition heals) learns the new term and steps down.
        this.send(message(MessageType.AppResp, this.id, m.from, this.term));
      } else if (m.type === MessageType.PreVote) {
        const r = message(MessageType.PreVoteResp, this.id, m.from, this.term);
        r.reject = true;
        this.send(r);
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  // ---- Ready / advance ----

  hasReady(): boolean {
    this.flushBroadcast();
    if (this.msgs.length > 0 || this.readStates.length > 0) return true;
    if (this.log.unstable.entries.length > 0 || this.log.unstable.snapshot) return true;
    if (this.log.hasNextCommitted()) return true;
    const hs = this.hardState();
    if (hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit) return true;
    const ss = this.softState();
    return ss.leader !== this.prevSoft.leader || ss.role !== this.prevSoft.role;
  }

  /** Collects what the driver must do now. Call `advance(ready)` when done. */
  ready(): Ready {
    this.flushBroadcast();
    const hs = this.hardState();
    const hardChanged = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit;
    const ss = this.softState();
    const softChanged = ss.leader !== this.prevSoft.leader || ss.role !== this.prevSoft.role;
    const entries = this.log.unstable.entries.slice();
    const rd: Ready = {
      softState: softChanged ? ss : undefined,
      hardState: hardChanged ? hs : undefined,
      entries,
      snapshot: this.log.unstable.snapshot,
      committedEntries: this.log.nextCommitted(this.maxApplyBytes),
      messages: this.msgs,
      readStates: this.readStates,
      mustSync: entries.length > 0 || hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote,
    };
    this.msgs = [];
    this.readStates = [];
    if (softChanged) this.prevSoft = ss;
    if (hardChanged) this.prevHard = hs;
    return rd;
  }

  /** The driver persisted, sent and applied everything in `rd`. */
  advance(rd: Ready): void {
    if (rd.snapshot) {
      this.log.unstable.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > this.log.applied) this.log.applied = rd.snapshot.meta.index;
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      this.log.unstable.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      this.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    }
    if (this.role === 'leader') {
      // The leader's own entries count toward commit only once durable here.
      const self = this.prs.get(this.id);
      if (self && self.maybeUpdate(this.log.stableLastIndex()) && this.maybeCommit()) {
        if (this.lazyCommit) this.commitDue = true;
        else this.pendingBroadcast = true;
      }
    }
  }

  // ---- roles ----

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = '';
    }
    this.lead = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.random.int(0, this.electionTimeout - 1);
    this.leadTransferee = '';
    this.votes = new Map();
    this.prs.clear();
    this.pendingReads.clear();
    this.readQueue = [];
    this.readsBeforeCommit = [];
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.pendingBroadcast = false;
    this.commitDue = false;
    this.leaderTicks = 0;
    this.hbRound = 0;
    this.roundTicks.clear();
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    // A pre-candidate changes neither term nor vote.
    this.votes = new Map();
    this.lead = '';
    this.role = 'pre-candidate';
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const last = this.log.lastIndex();
    for (const id of [...this.conf.voters, ...this.conf.learners]) {
      const pr = new Progress(id, last + 1, this.conf.learners.includes(id), this.maxInflightMsgs, this.maxInflightBytes);
      this.prs.set(id, pr);
    }
    const self = this.prs.get(this.id);
    if (self) {
      self.match = this.log.stableLastIndex();
      self.becomeReplicate();
      self.recentActive = true;
    }
    // No membership change until everything before this term commits (the
    // fix for the single-server change bug: the new leader's empty entry
    // must commit first).
    this.pendingConfIndex = last;
    // An empty entry of the new term: committing it commits everything before (§5.4.2, §6.4).
    this.appendEntries([{ term: this.term, index: last + 1, type: EntryType.Normal, data: EMPTY }]);
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id) && !this.log.unstable.snapshot;
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startElection(false);
    }
  }

  private tickHeartbeat(): void {
    this.leaderTicks++;
    // Rounds older than an election timeout can no longer back a lease.
    for (const [round, at] of this.roundTicks) {
      if (this.leaderTicks - at < this.electionTimeout) break;
      this.roundTicks.delete(round);
    }
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.commitDue) this.pendingBroadcast = true;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, '');
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.leadTransferee = '';
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat(undefined);
      for (const pr of this.prs.values()) {
        if (pr.id === this.id) continue;
        if (pr.state === 'probe') pr.probeSent = false;
        if (pr.state === 'snapshot' && ++pr.snapIdleTicks >= this.electionTimeout) {
          // A chunk or its ack was lost: resend from the last acknowledged offset.
          pr.snapIdleTicks = 0;
          this.sendSnapshotChunk(pr);
        }
      }
    }
  }

  /** Whether a quorum of voters was heard from since the last check; resets the marks. */
  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.conf.voters) {
      const pr = this.prs.get(id);
      if (!pr) continue;
      if (id === this.id || pr.recentActive) active++;
      if (id !== this.id) pr.recentActive = false;
    }
    return active >= this.quorum();
  }

  private quorum(): number {
    return (this.conf.voters.length >> 1) + 1;
  }

  private startElection(transfer: boolean): void {
    if (this.preVote && !transfer) {
      this.becomePreCandidate();
      this.requestVotes(MessageType.PreVote, this.term + 1, undefined);
    } else {
      this.startRealElection(transfer ? TRANSFER_CONTEXT : undefined);
    }
  }

  private startRealElection(context: Uint8Array | undefined): void {
    this.becomeCandidate();
    this.requestVotes(MessageType.Vote, this.term, context);
  }

  private requestVotes(type: MessageType, term: number, context: Uint8Array | undefined): void {
    // Our own vote counts at once (it is persisted with the hard state before any request is sent).
    if (this.recordVote(this.id, true) === 'won') return;
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      const m = message(type, this.id, id, term);
      m.index = this.log.lastIndex();
      m.logTerm = this.log.lastTerm();
      m.context = context;
      this.send(m);
    }
  }

  /** Records a (pre)vote answer; on a win or loss, moves on. */
  private recordVote(from: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const id of this.conf.voters) {
      const v = this.votes.get(id);
      if (v === true) yes++;
      else if (v === false) no++;
    }
    const q = this.quorum();
    if (yes >= q) {
      // A won pre-vote starts the real election (without another pre-vote round).
      if (this.role === 'pre-candidate') this.startRealElection(undefined);
      else this.becomeLeader();
      return 'won';
    }
    if (no > this.conf.voters.length - q) {
      this.becomeFollower(this.term, '');
      return 'lost';
    }
    return 'pending';
  }

  private handleVoteRequest(m: Message): void {
    const isPre = m.type === MessageType.PreVote;
    const canVote = this.vote === m.from || (this.vote === '' && this.lead === '') || (isPre && m.term > this.term);
    const r = message(isPre ? MessageType.PreVoteResp : MessageType.VoteResp, this.id, m.from, this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A granted pre-vote answers in the future term so the pre-candidate counts it.
      r.term = m.term;
      if (!isPre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      r.reject = true;
    }
    this.send(r);
  }

  // ---- leader ----

  private appendProposal(type: EntryType, data: Uint8Array): ProposeResult {
    if (this.leadTransferee !== '') return { ok: false, reason: 'transferring' };
    if (!this.prs.has(this.id)) return { ok: false, reason: 'not-a-member' };
    if (this.maxUncommittedBytes > 0 && this.uncommittedBytes > 0 && this.uncommittedBytes + data.length > this.maxUncommittedBytes) {
      return { ok: false, reason: 'too-many-uncommitted' };
    }
    if (type === EntryType.ConfChange) {
      if (this.pendingConfIndex > this.log.committed) return { ok: false, reason: 'conf-change-pending' };
      let cc: ConfChange;
      try {
        cc = decodeConfChange(data);
      } catch {
        return { ok: false, reason: 'invalid-conf-change' };
      }
      const next = applyConfChangeTo(this.conf, cc);
      if (next.voters.length === 0) return { ok: false, reason: 'invalid-conf-change' };
    }
    const index = this.log.lastIndex() + 1;
    this.appendEntries([{ term: this.term, index, type, data }]);
    if (type === EntryType.ConfChange) this.pendingConfIndex = index;
    return { ok: true, index, term: this.term };
  }

  private appendEntries(ents: Entry[]): void {
    for (const e of ents) this.uncommittedBytes += e.data.length;
    this.log.append(ents);
    // The leader's own progress advances in `advance`, once the entries are durable.
    this.pendingBroadcast = true;
  }

  private flushBroadcast(): void {
    if (!this.pendingBroadcast || this.role !== 'leader') {
      this.pendingBroadcast = false;
      return;
    }
    this.pendingBroadcast = false;
    // Every follower hears the current commit index now.
    this.commitDue = false;
    for (const pr of this.prs.values()) if (pr.id !== this.id) this.sendAppends(pr, true);
  }

  /** Sends appends to `pr` until its window is full or it has everything. */
  private sendAppends(pr: Progress, sendIfEmpty: boolean): void {
    if (!this.maybeSendAppend(pr, sendIfEmpty)) return;
    while (pr.state === 'replicate' && this.maybeSendAppend(pr, false)) {
      /* keep the pipeline full */
    }
  }

  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const id of this.conf.voters) matches.push(this.prs.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    const idx = matches[this.quorum() - 1] ?? 0;
    const before = this.log.committed;
    if (!this.log.maybeCommit(idx, this.term)) return false;
    this.onCommitted(before);
    return true;
  }

  /**
   * Bookkeeping once commit advanced past `before`, in one pass over the
   * newly committed entries: membership changes take effect, and (on the
   * leader) they leave the uncommitted budget.
   */
  private onCommitted(before: number): void {
    const hi = this.log.committed;
    const lo = Math.max(before + 1, this.log.firstIndex());
    if (lo <= hi) {
      for (const e of this.log.slice(lo, hi + 1, Number.MAX_SAFE_INTEGER)) {
        if (this.role === 'leader') this.uncommittedBytes = Math.max(0, this.uncommittedBytes - e.data.length);
        if (e.type === EntryType.ConfChange && e.index > this.confChangedIndex) {
          this.confChangedIndex = e.index;
          this.applyConfChange(decodeConfChange(e.data));
        }
      }
    }
    if (this.role === 'leader' && this.readsBeforeCommit.length > 0 && this.committedInTerm()) {
      const waiting = this.readsBeforeCommit;
      this.readsBeforeCommit = [];
      for (const m of waiting) this.stepLeaderReadIndex(m);
    }
  }

  private committedInTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Sends appends (or a snapshot) to `pr` if it is not paused; `sendIfEmpty` sends even with no entries. */
  private maybeSendAppend(pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    let ents: Entry[] = [];
    let unavailable = prevTerm === undefined;
    if (!unavailable && pr.next <= this.log.lastIndex()) {
      if (pr.next < this.log.firstIndex()) unavailable = true;
      else ents = this.log.slice(pr.next, this.log.lastIndex() + 1, this.maxSizePerMsg);
    }
    if (unavailable) {
      const snap = this.log.snapshot();
      if (snap.meta.index === 0 || !pr.recentActive) {
        // Wait for the follower to answer before sending it a whole snapshot.
        return false;
      }
      pr.becomeSnapshot(snap);
      this.sendSnapshotChunk(pr);
      return true;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    const m = message(MessageType.App, this.id, pr.id, this.term);
    m.index = prevIndex;
    m.logTerm = prevTerm!;
    m.entries = ents;
    m.commit = this.log.committed;
    if (ents.length > 0) {
      const last = ents[ents.length - 1]!.index;
      if (pr.state === 'replicate') {
        // Optimistic pipelining: assume delivery.
        let bytes = 0;
        for (const e of ents) bytes += entrySize(e);
        pr.inflights.add(last, bytes);
        pr.next = last + 1;
      } else if (pr.state === 'probe') {
        pr.probeSent = true;
      }
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    this.send(m);
    return true;
  }

  private sendSnapshotChunk(pr: Progress): void {
    const snap = pr.snapshot!;
    const total = snap.data.length;
    const end = Math.min(total, pr.snapOffset + this.chunkBytes);
    const m = message(MessageType.Snap, this.id, pr.id, this.term);
    m.snapshot = { meta: snap.meta, offset: pr.snapOffset, total, data: snap.data.subarray(pr.snapOffset, end) };
    this.send(m);
  }

  private broadcastHeartbeat(context: Uint8Array | undefined): void {
    const round = ++this.hbRound;
    this.roundTicks.set(round, this.leaderTicks);
    for (const pr of this.prs.values()) {
      if (pr.id === this.id) continue;
      const m = message(MessageType.Heartbeat, this.id, pr.id, this.term);
      m.index = round;
      // Never tell a follower to commit beyond what it is known to hold.
      m.commit = Math.min(pr.match, this.log.committed);
      m.context = context;
      this.send(m);
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    switch (m.type) {
      case MessageType.AppResp: {
        if (!pr) return;
        pr.recentActive = true;
        if (m.reject) {
          let hint = m.rejectHint;
          if (m.hintTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.hintTerm);
          if (pr.maybeDecrTo(m.index, hint)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.maybeSendAppend(pr, true);
          }
          return;
        }
        const wasPaused = pr.isPaused();
        if (pr.maybeUpdate(m.index)) {
          if (pr.state === 'probe') pr.becomeReplicate();
          else if (pr.state === 'snapshot' && pr.match >= (pr.snapshot?.meta.index ?? 0)) {
            // The follower holds the snapshot and said where it stands: replicate from there at once (as etcd does).
            // Left in probe, a follower with nothing newer to send stays there until the next proposal: a learner of
            // a quiet shard was never promoted.
            pr.becomeProbe();
            pr.becomeReplicate();
          }
          else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
          const committed = this.maybeCommit();
          if (committed && !this.lazyCommit) {
            // Tell everyone the new commit index.
            this.pendingBroadcast = true;
            this.flushBroadcast();
          } else {
            // Lazy: the next append with entries (or the next tick) tells everyone the new commit index.
            if (committed) this.commitDue = true;
            // A follower that was waiting hears from us even with nothing new (it learns the commit index).
            this.sendAppends(pr, wasPaused);
          }
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
        }
        return;
      }
      case MessageType.HeartbeatResp: {
        if (!pr) return;
        pr.recentActive = true;
        pr.probeSent = false;
        if (m.index > pr.ackedRound) pr.ackedRound = m.index;
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.maybeSendAppend(pr, true);
        if (m.context !== undefined && m.context.length > 0) this.ackRead(m.context, m.from);
        return;
      }
      case MessageType.SnapResp: {
        if (!pr || pr.state !== 'snapshot' || !pr.snapshot) return;
        pr.recentActive = true;
        if (m.index !== pr.snapshot.meta.index) return;
        pr.snapIdleTicks = 0;
        if (m.reject) {
          // The follower lost track (restart, or a chunk was dropped): restart from its offset.
          pr.snapOffset = Math.min(m.rejectHint, pr.snapshot.data.length);
        } else {
          pr.snapOffset = m.rejectHint;
        }
        if (pr.snapOffset < pr.snapshot.data.length || (pr.snapshot.data.length === 0 && m.reject)) this.sendSnapshotChunk(pr);
        return;
      }
      case MessageType.TransferLeader:
        this.startTransfer(m.from);
        return;
      default:
        return;
    }
  }

  private startTransfer(target: NodeId): void {
    const pr = this.prs.get(target);
    if (!pr || pr.isLearner || target === this.id || this.leadTransferee === target) return;
    this.leadTransferee = target;
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.maybeSendAppend(pr, true);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(message(MessageType.TimeoutNow, this.id, to, this.term));
  }

  private stepLeaderReadIndex(m: Message): void {
    const context = m.context ?? EMPTY;
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
      this.answerRead(m.from, this.log.committed, context);
      return;
    }
    if (!this.committedInTerm() && !this.unsafeEarlyRead) {
      // Our commit index may lag the last leader's until an entry of our term commits (§6.4).
      this.readsBeforeCommit.push(m);
      return;
    }
    if (this.leaseRead && this.leadTransferee === '' && this.leaseValid()) {
      this.answerRead(m.from, this.log.committed, context);
      return;
    }
    const key = ctxKey(context);
    if (this.pendingReads.has(key)) return;
    this.pendingReads.set(key, { index: this.log.committed, from: m.from, context, acks: new Set([this.id]) });
    this.readQueue.push(key);
    this.broadcastHeartbeat(context);
  }

  /**
   * The leader lease: a quorum answered a heartbeat round sent at leader tick
   * t, and each of them refuses to vote for anyone else for an election
   * timeout after hearing it (the in-lease check in `step`). So no other
   * leader can exist before t + electionTimeout; two ticks are kept as margin
   * for tick phase and drift between nodes.
   */
  private leaseValid(): boolean {
    const rounds: number[] = [];
    for (const id of this.conf.voters) {
      const pr = this.prs.get(id);
      rounds.push(id === this.id ? this.hbRound : (pr?.ackedRound ?? 0));
    }
    rounds.sort((a, b) => b - a);
    const round = rounds[this.quorum() - 1] ?? 0;
    const sentAt = this.roundTicks.get(round);
    if (round === 0 || sentAt === undefined) return false;
    return this.leaderTicks - sentAt < this.electionTimeout - 2;
  }

  private ackRead(context: Uint8Array, from: NodeId): void {
    const key = ctxKey(context);
    const read = this.pendingReads.get(key);
    if (!read || !this.conf.voters.includes(from)) return;
    read.acks.add(from);
    let acks = 0;
    for (const id of read.acks) if (this.conf.voters.includes(id)) acks++;
    if (acks < this.quorum()) return;
    // Leadership is confirmed as of this heartbeat round, so for every earlier request too.
    const upTo = this.readQueue.indexOf(key);
    const done = this.readQueue.splice(0, upTo + 1);
    for (const k of done) {
      const r = this.pendingReads.get(k)!;
      this.pendingReads.delete(k);
      this.answerRead(r.from, r.index, r.context);
    }
  }

  private answerRead(to: NodeId, index: number, context: Uint8Array): void {
    if (to === this.id) {
      this.readStates.push({ index, context });
      return;
    }
    const r = message(MessageType.ReadIndexResp, this.id, to, this.term);
    r.index = index;
    r.context = context;
    this.send(r);
  }

  // ---- candidate / follower ----

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.App:
      case MessageType.Heartbeat:
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case MessageType.PreVoteResp:
        if (this.role === 'pre-candidate') this.recordVote(m.from, !m.reject);
        return;
      case MessageType.VoteResp:
        if (this.role === 'candidate') this.recordVote(m.from, !m.reject);
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
      case MessageType.Heartbeat:
      case MessageType.Snap:
        // Word from the leader of our term.
        this.electionElapsed = 0;
        this.lead = m.from;
        if (m.type === MessageType.App) this.handleAppend(m);
        else if (m.type === MessageType.Heartbeat) this.handleHeartbeat(m);
        else this.handleSnapshotChunk(m);
        return;
      case MessageType.TimeoutNow:
        if (this.promotable()) this.startElection(true);
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context ?? EMPTY });
        return;
      default:
        return;
    }
  }

  /** Forwarded proposals, reads and transfer requests (term 0). */
  private stepLocal(m: Message): void {
    if (this.role === 'leader') {
      if (m.type === MessageType.Prop) {
        for (const e of m.entries) this.appendProposal(e.type, e.data);
      } else if (m.type === MessageType.ReadIndex) {
        this.stepLeaderReadIndex(m);
      } else if (m.type === MessageType.TransferLeader) {
        this.startTransfer(m.from);
      }
      return;
    }
    // Not the leader (any more): drop it. Forwarding is one hop; the client retries.
  }

  private handleAppend(m: Message): void {
    const r = message(MessageType.AppResp, this.id, m.from, this.term);
    if (m.index < this.log.committed) {
      r.index = this.log.committed;
      this.send(r);
      return;
    }
    const before = this.log.committed;
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      r.index = lastNew;
      if (this.log.committed > before) this.onCommitted(before);
    } else {
      // Fast backtracking (§5.3): tell the leader the last index whose term could match.
      const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
      r.reject = true;
      r.index = m.index;
      r.rejectHint = hintIndex;
      r.hintTerm = this.log.term(hintIndex) ?? 0;
    }
    this.send(r);
  }

  private handleHeartbeat(m: Message): void {
    const before = this.log.committed;
    if (m.commit > before && m.commit <= this.log.lastIndex()) {
      this.log.commitTo(m.commit);
      this.onCommitted(before);
    }
    const r = message(MessageType.HeartbeatResp, this.id, m.from, this.term);
    r.index = m.index;
    r.context = m.context;
    this.send(r);
  }

  private handleSnapshotChunk(m: Message): void {
    const chunk = m.snapshot!;
    const meta = chunk.meta;
    const r = message(MessageType.SnapResp, this.id, m.from, this.term);
    r.index = meta.index;
    if (meta.index <= this.log.committed) {
      // Already have everything it covers: tell the leader where we are.
      this.incoming = undefined;
      const a = message(MessageType.AppResp, this.id, m.from, this.term);
      a.index = this.log.committed;
      this.send(a);
      return;
    }
    if (chunk.offset === 0) this.incoming = { meta, from: m.from, parts: [], received: 0 };
    const inc = this.incoming;
    if (!inc || inc.meta.index !== meta.index || inc.meta.term !== meta.term || inc.received !== chunk.offset) {
      r.reject = true;
      r.rejectHint = inc && inc.meta.index === meta.index && inc.meta.term === meta.term ? inc.received : 0;
      this.send(r);
      return;
    }
    inc.parts.push(chunk.data);
    inc.received += chunk.data.length;
    if (inc.received < chunk.total) {
      r.rejectHint = inc.received;
      this.send(r);
      return;
    }
    this.incoming = undefined;
    const data = new Uint8Array(inc.received);
    let off = 0;
    for (const p of inc.parts) {
      data.set(p, off);
      off += p.length;
    }
    this.restore({ meta, data });
    const a = message(MessageType.AppResp, this.id, m.from, this.term);
    a.index = this.log.lastIndex();
    this.send(a);
  }

  /** Installs a snapshot received from the leader (unless the log already holds it). */
  private restore(s: Snapshot): void {
    if (s.meta.index <= this.log.committed) return;
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      // Our log already has it: just fast-forward the commit index.
      const before = this.log.committed;
      this.log.commitTo(s.meta.index);
      this.onCommitted(before);
      return;
    }
    this.log.restore(s);
    this.conf = { voters: [...s.meta.conf.voters], learners: [...s.meta.conf.learners] };
    this.confChangedIndex = s.meta.index;
  }

  // ---- membership ----

  private applyConfChange(cc: ConfChange): void {
    this.conf = applyConfChangeTo(this.conf, cc);
    if (this.role !== 'leader') return;
    const isVoter = this.conf.voters.includes(cc.node);
    const isLearner = this.conf.learners.includes(cc.node);
    if (!isVoter && !isLearner) {
      this.prs.delete(cc.node);
      if (cc.node === this.id) {
        // Removed: step down (the entry that removed us is committed).
        this.becomeFollower(this.term, '');
        return;
      }
      if (this.leadTransferee === cc.node) this.leadTransferee = '';
    } else {
      let pr = this.prs.get(cc.node);
      if (!pr) {
        pr = new Progress(cc.node, this.log.lastIndex() + 1, isLearner, this.maxInflightMsgs, this.maxInflightBytes);
        pr.recentActive = true;
        this.prs.set(cc.node, pr);
        this.maybeSendAppend(pr, true);
      }
      pr.isLearner = isLearner;
    }
    // Fewer voters may mean a smaller quorum already holds more.
    if (this.prs.size > 0) this.maybeCommit();
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }
}
