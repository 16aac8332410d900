/**
 * The current entry as byte ranges, without allocating (merges, compactions
 * and the user iterator read these): key = keySrc[keyStart, keyEnd) (an
 * internal key), value = valSrc[valStart, valEnd). Only while valid(),
 * until the next move.
 */
export interface EntryRanges {
  readonly keySrc: Buffer;
  readonly keyStart: number;
  readonly keyEnd: number;
  readonly valSrc: Buffer;
  readonly valStart: number;
  readonly valEnd: number;
}

/**
 * The internal iterator contract (LevelDB style), shared by memtables, blocks,
 * tables, levels and the merging iterator. All methods are synchronous.
 *
 * - After construction the iterator is not valid; call a positioning method.
 * - `key()`/`value()` may only be called while `valid()`. The returned buffers
 *   stay valid until the next positioning call (`seek*`, `next`, `prev`) on
 *   this iterator; copy them to keep them longer.
 * - Keys are internal keys (user key + 8-byte trailer), in internal-key order.
 * - A read or checksum error throws a StrataError (CORRUPTION or IO) from the
 *   positioning call; the iterator is then invalid.
 */
export interface InternalIterator extends EntryRanges {
  valid(): boolean;
  seekToFirst(): void;
  seekToLast(): void;
  /** Positions at the first entry with key >= target (internal-key order). */
  seek(target: Buffer): void;
  /** Positions at the last entry with key <= target (internal-key order). */
  seekForPrev(target: Buffer): void;
  next(): void;
  prev(): void;
  key(): Buffer;
  value(): Buffer;
  /** Releases resources (file references, cache pins). Idempotent. */
  close(): void;
}
