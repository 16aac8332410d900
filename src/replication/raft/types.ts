/**
 * The Raft core's data types. Node ids are strings; indexes and terms are
 * non-negative integers below 2^53. Index 0 / term 0 is the empty log.
 */
export type NodeId = string;

export const EntryType = {
  /** An application command (or an empty entry a new leader appends). */
  Normal: 0,
  /** A single-server membership change (`ConfChange`, see `encodeConfChange`). */
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must be durable before any message of the same Ready is sent. */
export interface HardState {
  term: number;
  /** The candidate voted for in `term` ('' for none). */
  vote: NodeId;
  commit: number;
}

/** The cluster's membership. A node is in at most one of the two lists. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMeta {
  /** The last log index the snapshot covers, and its term. */
  index: number;
  term: number;
  /** Membership as of `index`. */
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** The state machine's serialized state as of `meta.index`. */
  data: Uint8Array;
}

export const ConfChangeType = {
  AddVoter: 0,
  AddLearner: 1,
  RemoveNode: 2,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** One membership step. Adding an existing learner as voter promotes it. */
export interface ConfChange {
  type: ConfChangeType;
  node: NodeId;
}

export const MessageType = {
  /** A proposal (local, or forwarded by a follower to the leader). */
  Prop: 'prop',
  App: 'app',
  AppResp: 'appResp',
  Vote: 'vote',
  VoteResp: 'voteResp',
  PreVote: 'preVote',
  PreVoteResp: 'preVoteResp',
  Heartbeat: 'heartbeat',
  HeartbeatResp: 'heartbeatResp',
  /** One chunk of an InstallSnapshot transfer. */
  Snap: 'snap',
  SnapResp: 'snapResp',
  /** A ReadIndex request (local, or forwarded by a follower to the leader). */
  ReadIndex: 'readIndex',
  ReadIndexResp: 'readIndexResp',
  /** Leadership transfer: the leader tells the target to campaign now. */
  TimeoutNow: 'timeoutNow',
  /** Leadership transfer request (local, or forwarded to the leader). */
  TransferLeader: 'transferLeader',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** One chunk of a snapshot in flight. */
export interface SnapshotChunk {
  meta: SnapshotMeta;
  /** Byte offset of `data` within the whole snapshot, and the whole size. */
  offset: number;
  total: number;
  data: Uint8Array;
}

/**
 * A Raft message. One flat shape (as etcd's raftpb.Message) so a transport
 * encodes one thing; each type uses the fields its comment in raft.ts names.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** App: the index/term the new entries follow. AppResp: the follower's match (or the rejected index). */
  index: number;
  logTerm: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** AppResp rejection: the follower's hint for fast backtracking (an index, and its term). */
  rejectHint: number;
  hintTerm: number;
  /** ReadIndex / Heartbeat(Resp) context; a Vote caused by leadership transfer carries TRANSFER_CONTEXT. */
  context: Uint8Array | undefined;
  snapshot: SnapshotChunk | undefined;
}

/** A ReadIndex answer: once `applied >= index`, a read for `context` is linearizable. */
export interface ReadState {
  index: number;
  context: Uint8Array;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

export interface SoftState {
  leader: NodeId;
  role: Role;
}
