/**
 * One thin adapter per engine so the timed loops in workloads.ts are the same
 * code for all of them. Each adapter maps an operation to the engine's
 * natural call for it (see the notes per method); nothing is buffered or
 * cached on the harness side. Engine modules are imported lazily so a child
 * process only loads the engine it measures.
 */
import type { BenchConfig, EngineName } from './config.js';
import { yieldToLoop } from './measure.js';

export interface ScanResult {
  count: number;
  first: Buffer | undefined;
}

export interface OpenFlags {
  /** fsync every write before acknowledging it (fillsync). Default false: OS-buffered, as db_bench. */
  sync: boolean;
}

export interface Engine {
  readonly name: EngineName;
  put(key: Buffer, value: Buffer): Promise<unknown>;
  /** A value, undefined when absent; lmdb answers synchronously (the loop awaits it all the same). */
  get(key: Buffer): Promise<Buffer | undefined> | Buffer | undefined;
  del(key: Buffer): Promise<unknown>;
  /** keys[0..n) / values[0..n) as one atomic batch. */
  writeBatch(keys: Buffer[], values: Buffer[], n: number): Promise<unknown>;
  /** Seeks to the first key >= `key` and reads up to `count` entries from there; returns how many it read. */
  seekRead(key: Buffer, count: number): Promise<number> | number;
  /**
   * A full scan; `progress` is called now and then with the entries seen so
   * far and returns true when the scan should yield to the event loop (--yield-ms).
   */
  scan(reverse: boolean, progress: (n: number) => boolean): Promise<ScanResult>;
  /** Engine-reported statistics worth keeping in the JSON (taken before close). */
  engineStats(): Record<string, unknown>;
  close(): Promise<void>;
}

const SCAN_BATCH = 1000;

/** A full scan with one awaited nextv per SCAN_BATCH entries (the same loop for both LSM engines). */
async function scanInBatches(
  it: { nextv(n: number): Promise<Array<[Buffer, Buffer]>>; close(): unknown },
  progress: (count: number) => boolean,
): Promise<ScanResult> {
  let count = 0;
  let first: Buffer | undefined;
  try {
    for (;;) {
      const batch = await it.nextv(SCAN_BATCH);
      if (batch.length === 0) break;
      if (first === undefined) first = batch[0]![0];
      count += batch.length;
      if (progress(count)) await yieldToLoop();
    }
  } finally {
    await it.close();
  }
  return { count, first };
}

export async function openEngine(name: EngineName, dir: string, cfg: BenchConfig, flags: OpenFlags): Promise<Engine> {
  switch (name) {
    case 'strata':
      return openStrata(dir, cfg, flags);
    case 'leveldb':
      return openLevel(dir, cfg, flags);
    case 'lmdb':
      return openLmdb(dir, cfg, flags);
  }
}

async function openStrata(dir: string, cfg: BenchConfig, flags: OpenFlags): Promise<Engine> {
  const { open } = await import('../../src/index.js');
  const db = await open(dir, {
    blockCacheSize: cfg.cacheSize,
    writeBufferSize: cfg.writeBufferSize,
    compression: 'snappy',
  });
  const wo = { sync: flags.sync };
  // One long-lived iterator for seekrandom, re-positioned by seek() for each op.
  let seeker: ReturnType<typeof db.iterator> | undefined;
  return {
    name: 'strata',
    put: (k, v) => db.put(k, v, wo),
    get: (k) => db.get(k),
    del: (k) => db.delete(k, wo),
    writeBatch(keys, values, n) {
      const b = db.batch();
      for (let i = 0; i < n; i++) b.put(keys[i]!, values[i]!);
      return db.write(b, wo);
    },
    async seekRead(key, count) {
      // Same shape as classic-level's: seek, then one awaited nextv for the entries.
      seeker ??= db.iterator({ fillCache: true });
      seeker.seek(key);
      return (await seeker.nextv(count)).length;
    },
    scan: (reverse, progress) => scanInBatches(db.iterator({ reverse, fillCache: false }), progress),
    engineStats() {
      const s = db.stats();
      return {
        writeAmplification: s.writeAmplification,
        levels: s.levels.filter((l) => l.files > 0).map((l) => `L${l.level}:${l.files}f/${(l.bytes / 1048576).toFixed(1)}MiB`).join(' '),
        compactions: s.compaction.count,
        compactionBytesWritten: s.compaction.bytesWritten,
        flushBytesWritten: s.flush.bytesWritten,
        walBytesWritten: s.wal.bytesWritten,
        userBytesWritten: s.userBytesWritten,
        stalls: s.stalls,
        blockCache: s.blockCache,
        bloom: s.bloom,
        parallelReads: s.parallelReads,
      };
    },
    async close() {
      seeker?.close();
      seeker = undefined;
      await db.close();
    },
  };
}

async function openLevel(dir: string, cfg: BenchConfig, flags: OpenFlags): Promise<Engine> {
  const { ClassicLevel } = await import('classic-level');
  const db = new ClassicLevel<Buffer, Buffer>(dir, {
    keyEncoding: 'buffer',
    valueEncoding: 'buffer',
    cacheSize: cfg.cacheSize,
    writeBufferSize: cfg.writeBufferSize,
    compression: true,
  });
  await db.open();
  const wo = { sync: flags.sync };
  let seeker: ReturnType<typeof db.iterator> | undefined;
  return {
    name: 'leveldb',
    put: (k, v) => db.put(k, v, wo),
    get: (k) => db.get(k),
    del: (k) => db.del(k, wo),
    writeBatch(keys, values, n) {
      const b = db.batch();
      for (let i = 0; i < n; i++) b.put(keys[i]!, values[i]!);
      return b.write(wo);
    },
    async seekRead(key, count) {
      // classic-level iterators default to fillCache:false; point-read-like seeks fill it, as StrataDB's do.
      seeker ??= db.iterator({ fillCache: true });
      seeker.seek(key);
      // One native call fetching `count` entries: the cheapest way to do "seek + nexts" in classic-level.
      const entries = await seeker.nextv(count);
      return entries.length;
    },
    scan: (reverse, progress) => scanInBatches(db.iterator({ reverse, fillCache: false }), progress),
    engineStats() {
      const text = db.getProperty('leveldb.stats');
      // "Level Files Size(MB) Time(sec) Read(MB) Write(MB)": flush and compaction output, not the WAL.
      let tableWriteMB = 0;
      for (const line of text.split('\n')) {
        const cols = line.trim().split(/\s+/);
        if (cols.length === 6 && /^\d+$/.test(cols[0]!)) tableWriteMB += Number(cols[5]);
      }
      const files: string[] = [];
      for (let l = 0; l < 7; l++) {
        const f = Number(db.getProperty(`leveldb.num-files-at-level${l}`));
        if (f > 0) files.push(`L${l}:${f}f`);
      }
      return {
        levels: files.join(' '),
        tableWriteMB,
        approximateMemoryUsage: Number(db.getProperty('leveldb.approximate-memory-usage')),
        stats: text,
      };
    },
    async close() {
      if (seeker) await seeker.close();
      seeker = undefined;
      await db.close();
    },
  };
}

/** The part of lmdb's API the adapter uses. */
interface LmdbDatabase {
  put(key: Buffer, value: Buffer): Promise<boolean>;
  get(key: Buffer): Buffer | undefined;
  remove(key: Buffer): Promise<boolean>;
  transaction<T>(fn: () => T): Promise<T>;
  getRange(options: { start?: Buffer; end?: Buffer; limit?: number; reverse?: boolean }): Iterable<{ key: Buffer; value: Buffer }>;
  close(): Promise<void>;
  getStats(): unknown;
}
interface LmdbModule {
  open<K, V>(options: Record<string, unknown>): LmdbDatabase & { readonly __types?: [K, V] };
}

async function openLmdb(dir: string, cfg: BenchConfig, flags: OpenFlags): Promise<Engine> {
  // Loaded by name so the harness builds without lmdb installed (it is optional; see engine.ts).
  const moduleName = 'lmdb';
  const lmdb = (await import(moduleName)) as LmdbModule;
  const logical = cfg.num * (cfg.keySize + cfg.valueSize);
  const db = lmdb.open<Buffer, Buffer>({
    path: dir,
    encoding: 'binary',
    keyEncoding: 'binary',
    // sync:false equivalent: commits reach the OS but are not fsynced. fillsync: fsync each commit
    // and resolve only once it is durable (no overlapping sync).
    noSync: !flags.sync,
    overlappingSync: false,
    // Room for the data and the B-tree's free pages without remapping mid-run.
    mapSize: Math.max(1 << 30, logical * 8),
  });
  return {
    name: 'lmdb',
    put: (k, v) => db.put(k, v),
    get: (k) => db.get(k),
    del: (k) => db.remove(k),
    writeBatch(keys, values, n) {
      return db.transaction(() => {
        for (let i = 0; i < n; i++) void db.put(keys[i]!, values[i]!);
      });
    },
    seekRead(key, count) {
      let n = 0;
      for (const _ of db.getRange({ start: key, limit: count })) n++;
      return n;
    },
    async scan(reverse, progress) {
      let count = 0;
      let first: Buffer | undefined;
      for (const e of db.getRange({ reverse })) {
        if (first === undefined) first = e.key;
        if ((++count & 1023) === 0 && progress(count)) await yieldToLoop();
      }
      return { count, first };
    },
    engineStats() {
      return { stats: db.getStats() };
    },
    async close() {
      await db.close();
    },
  };
}
