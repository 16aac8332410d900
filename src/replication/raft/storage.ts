import type { ConfState, Entry, HardState, Snapshot } from './types.js';

/**
 * What the Raft core reads of the durable log. Everything here is durable
 * state (or about to be: the caller appends a Ready's entries before calling
 * `advance`). The core never writes through this interface; the driver does,
 * through `RaftLogStore`.
 */
export interface RaftStorage {
  /** The state to restart from. */
  initialState(): { hardState: HardState; confState: ConfState };
  /** Index of the first entry still held (the snapshot's index + 1). */
  firstIndex(): number;
  /** Index of the last entry (the snapshot's index when the log is empty). */
  lastIndex(): number;
  /**
   * Term of entry `index`, for firstIndex()-1 <= index <= lastIndex() (the
   * term at firstIndex()-1 is the snapshot's term); undefined outside.
   */
  term(index: number): number | undefined;
  /**
   * Entries [lo, hi), firstIndex() <= lo < hi <= lastIndex()+1. Stops early
   * once `maxBytes` of entry data is reached, but always returns at least one.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The latest snapshot (index 0 when there is none). */
  snapshot(): Snapshot;
}

/**
 * The write side a driver uses to persist a Ready. Writes are buffered until
 * `sync` resolves; only then may the driver send the Ready's messages and call
 * `advance`. Implementations: `MemoryRaftLog` and the file-based `DiskRaftLog`.
 */
export interface RaftLogStore extends RaftStorage {
  /**
   * Appends entries; entries[0].index may be <= lastIndex()+1, in which case
   * every held entry at or after it is replaced (conflict truncation).
   */
  append(entries: readonly Entry[]): void;
  setHardState(hs: HardState): void;
  /** Replaces the whole log with the snapshot (a follower installing one). */
  applySnapshot(snap: Snapshot): void;
  /**
   * Records a snapshot of the local state machine taken at `index` (applied)
   * and drops the entries up to `index`.
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): void;
  /** Makes every write so far durable. */
  sync(): Promise<void>;
  close(): void;
}

/** Bytes an entry costs for batching and flow control. */
export function entrySize(e: Entry): number {
  return e.data.length + 16;
}

export function emptyHardState(): HardState {
  return { term: 0, vote: '', commit: 0 };
}
