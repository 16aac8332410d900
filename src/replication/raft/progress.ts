import type { NodeId, Snapshot } from './types.js';

/**
 * Messages (and bytes) of appends sent to one follower and not yet
 * acknowledged: the flow-control window. A ring buffer of last indexes.
 */
export class Inflights {
  private idx: number[] = [];
  private sizes: number[] = [];
  private start = 0;
  count = 0;
  bytes = 0;
  constructor(
    readonly maxMsgs: number,
    readonly maxBytes: number,
  ) {}

  full(): boolean {
    return this.count >= this.maxMsgs || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }
  add(lastIndex: number, bytes: number): void {
    const cap = this.idx.length;
    if (this.count === cap) {
      // Grow (rebuilding in order) up to maxMsgs.
      const n = Math.min(Math.max(cap * 2, 4), this.maxMsgs);
      const idx: number[] = new Array<number>(n);
      const sizes: number[] = new Array<number>(n);
      for (let i = 0; i < this.count; i++) {
        idx[i] = this.idx[(this.start + i) % cap]!;
        sizes[i] = this.sizes[(this.start + i) % cap]!;
      }
      this.idx = idx;
      this.sizes = sizes;
      this.start = 0;
    }
    const at = (this.start + this.count) % this.idx.length;
    this.idx[at] = lastIndex;
    this.sizes[at] = bytes;
    this.count++;
    this.bytes += bytes;
  }
  /** Frees every in-flight append whose last index is <= `to`. */
  freeLE(to: number): void {
    const cap = this.idx.length;
    while (this.count > 0 && this.idx[this.start]! <= to) {
      this.bytes -= this.sizes[this.start]!;
      this.start = (this.start + 1) % cap;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }
  /** Frees the oldest in-flight append (a heartbeat answer shows the follower is alive but the window is stuck). */
  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.idx[this.start]!);
  }
  reset(): void {
    this.count = 0;
    this.bytes = 0;
    this.start = 0;
  }
}

/**
 * probe: send one append per heartbeat interval until the follower's match is
 * found; replicate: stream appends optimistically (up to the inflight
 * window); snapshot: an InstallSnapshot transfer is in progress.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one follower (or learner). */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append was sent this heartbeat interval; wait for its answer. */
  probeSent = false;
  /** Set by any response; CheckQuorum counts these every election timeout. */
  recentActive = false;
  readonly inflights: Inflights;
  /** In snapshot state: the snapshot being sent, the next chunk's offset, and ticks since the last chunk ack. */
  snapshot: Snapshot | undefined;
  snapOffset = 0;
  snapIdleTicks = 0;
  /** The latest heartbeat round this follower answered (for lease reads). */
  ackedRound = 0;

  constructor(
    readonly id: NodeId,
    next: number,
    public isLearner: boolean,
    maxInflightMsgs: number,
    maxInflightBytes: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.state = state;
    this.snapshot = undefined;
    this.snapOffset = 0;
    this.snapIdleTicks = 0;
    this.inflights.reset();
  }
  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.snapshot?.meta.index ?? 0;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }
  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }
  becomeSnapshot(snap: Snapshot): void {
    this.resetState('snapshot');
    this.snapshot = snap;
  }

  /** A successful append response up to n; false if it was stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejected append at `rejected`; `matchHint` is the highest index that
   * may match (from the follower's hint). False if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending appends must wait (probe already sent, window full, or snapshotting). */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
