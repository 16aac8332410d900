import { closedError } from '../base/index.js';

/**
 * A consistent read view at a sequence number. Reads and iterators given a
 * snapshot see exactly the writes committed before it was taken. Release it
 * when done: compaction keeps every version a live snapshot can see.
 */
export class Snapshot {
  private released = false;
  constructor(
    readonly sequence: number,
    private readonly onRelease: (s: Snapshot) => void,
  ) {}

  get isReleased(): boolean {
    return this.released;
  }

  /** @internal Throws CLOSED if the snapshot was released. */
  check(): number {
    if (this.released) throw closedError('snapshot');
    return this.sequence;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}

/** Live snapshots; the oldest one bounds what compaction may drop. */
export class SnapshotList {
  private readonly live = new Set<Snapshot>();

  create(sequence: number): Snapshot {
    const s = new Snapshot(sequence, (x) => this.live.delete(x));
    this.live.add(s);
    return s;
  }

  /** Sequence of the oldest live snapshot, or `fallback` (the last sequence) if none. */
  oldest(fallback: number): number {
    let min = fallback;
    for (const s of this.live) if (s.sequence < min) min = s.sequence;
    return min;
  }

  get size(): number {
    return this.live.size;
  }

  releaseAll(): void {
    for (const s of [...this.live]) s.release();
  }
}
