/**
 * Counters shared by one database's components. Plain numeric fields so that
 * incrementing on hot paths costs nothing; `DB.stats()` copies them out.
 */
export class EngineCounters {
  blockCacheHits = 0;
  blockCacheMisses = 0;
  /** Point lookups a table's bloom filter answered "definitely not here". */
  bloomNegatives = 0;
  /** Point lookups that consulted a bloom filter at all. */
  bloomChecks = 0;
  /** Bloom said "maybe" but the key was not in the table. */
  bloomFalsePositives = 0;
  /** Block reads of gets issued together (see DB.getConcurrent): done by the read helper thread, or taken back by the event loop. */
  helperReads = 0;
  helperReadsTakenBack = 0;
  walBytesWritten = 0;
  walSyncs = 0;
  /** WAL records written (one per commit group). */
  walRecords = 0;
  /** Bytes of torn WAL tails dropped during recovery. */
  walTornBytesDropped = 0;
  flushBytesWritten = 0;
  flushes = 0;
  compactions = 0;
  /** Compactions picked because reads kept paying for a table (seek compaction). */
  seekCompactions = 0;
  compactionBytesRead = 0;
  compactionBytesWritten = 0;
  /** Writes delayed because L0 had too many files (slowdown). */
  writeSlowdowns = 0;
  /** Writes that waited for a flush or for L0 to shrink (stop). */
  writeStalls = 0;
  writeStallMs = 0;
  /** Logical bytes (keys + values) accepted by writes. */
  userBytesWritten = 0;
}
