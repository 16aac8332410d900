import { ERROR_CODES, StrataError, invalidArgument, systemClock } from '../base/index.js';
import type {
  Clock,
  Fs,
  KeyValueService,
  KvBatchOp,
  KvEntry,
  KvKeyspaceInfo,
  KvMutation,
  KvScanEntry,
  KvScanOptions,
  KvScanPage,
  KvServiceInfo,
  KvSetOptions,
  KvSetResult,
  KvUpdateResult,
} from '../base/index.js';
import { DB, open } from './db.js';
import type { EngineStats, WriteOptions } from './db.js';
import type { IteratorOptions } from './db-iterator.js';
import { EXPIRE_AT_MAX_MS, encodeExpiringValue, expiryOf, payloadOf } from './expiring-value.js';
import type { OpenOptions } from './options.js';
import type { Snapshot } from './snapshot.js';
import { WriteBatch } from './write-batch.js';

export interface LocalKvServiceOptions {
  /** The engine's data directory. */
  dir: string;
  fs?: Fs;
  clock?: Clock;
  /** Engine options (expiringValues is always on). */
  engine?: Partial<OpenOptions>;
  /** fsync the WAL before acknowledging each write (storage.syncMode always). Default false. */
  syncWrites?: boolean;
  /**
   * Writes skip the engine's WAL (WriteOptions.disableWal): for a caller that
   * keeps its own log and replays it after a crash (a cluster shard's Raft
   * log). Not with syncWrites.
   */
  disableWal?: boolean;
  /**
   * Keys starting with these bytes belong to the host, not to clients: a
   * client key may not start with them, and scans, counts and clear never
   * see them (a replicated shard keeps its applied index and client sessions
   * there, in the same engine, so they commit atomically with the data).
   */
  systemPrefix?: Uint8Array;
}

/** Redis' proto-max-bulk-len: APPEND/SETRANGE may not grow a value past this. */
export const STRING_BYTES_MAX = 512 * 1024 * 1024;
const SCAN_LIMIT_MAX = 100_000;
const CLEAR_BATCH = 1000;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INTEGER_TEXT = /^-?(?:0|[1-9][0-9]{0,19})$/;
const FLOAT_TEXT = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/** A write issued to the engine but not yet applied: reads inside read-modify-write operations see it. */
interface Pending {
  /** The stored (encoded) value, or null for a delete. */
  stored: Buffer | null;
  inFlight: number;
}

/** A decoded live value. */
interface Current {
  payload: Buffer;
  expireAtMs: number | undefined;
}

/**
 * The single-node KeyValueService over one local engine (DESIGN.md
 * principle 3). Values are stored in the engine's expiring-value layout, so
 * expired keys are absent on read at once and compaction removes them.
 *
 * Atomicity of read-modify-write without locks: every write is registered
 * in `pending` (by key) from the moment it is handed to the engine until
 * the engine applied it. The engine applies writes in the order they were
 * issued, so "pending, else the engine" is always the latest state of a
 * key; a read-modify-write reads it and issues its write synchronously, with
 * no await in between, so nothing can interleave.
 */
export class LocalKvService implements KeyValueService {
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  private readonly writeOptions: WriteOptions;

  private readonly systemPrefix: Buffer | undefined;
  /** While staging (see `beginStage`): the writes made so far and the pending ids they hold. */
  private staged: { batch: WriteBatch; ids: string[] } | undefined;
  /**
   * Keys the service answers for in scans, counts and clear (a split shard
   * whose engine still holds keys it gave away); undefined: every key.
   */
  keyFilter: ((key: Buffer) => boolean) | undefined;

  private constructor(
    readonly db: DB,
    private readonly clock: Clock,
    readonly dir: string,
    writeOptions: WriteOptions,
    systemPrefix: Uint8Array | undefined,
  ) {
    this.writeOptions = writeOptions;
    this.systemPrefix = systemPrefix === undefined || systemPrefix.length === 0 ? undefined : Buffer.from(systemPrefix);
  }

  static async open(options: LocalKvServiceOptions): Promise<LocalKvService> {
    const clock = options.clock ?? systemClock;
    // The engine drops expired values in compaction by its own clock: the service's unless the caller gives one.
    const engine: OpenOptions = { ...options.engine, expiringValues: true, clock: options.engine?.clock ?? clock };
    if (options.fs !== undefined) engine.fs = options.fs;
    const db = await open(options.dir, engine);
    const writeOptions: WriteOptions = options.disableWal === true ? { disableWal: true } : { sync: options.syncWrites === true };
    return new LocalKvService(db, clock, options.dir, writeOptions, options.systemPrefix);
  }

  nowMs(): number {
    return this.clock.nowMs();
  }

  // ---- reads ----

  get(key: Uint8Array): Promise<Buffer | undefined> {
    try {
      const cur = this.current(key);
      return Promise.resolve(cur?.payload);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  getEntry(key: Uint8Array): Promise<KvEntry | undefined> {
    try {
      const cur = this.current(key);
      return Promise.resolve(cur === undefined ? undefined : { value: cur.payload, expireAtMs: cur.expireAtMs });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  getMany(keys: readonly Uint8Array[]): Promise<Array<Buffer | undefined>> {
    try {
      return Promise.resolve(keys.map((k) => this.current(k)?.payload));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ---- writes ----

  set(key: Uint8Array, value: Uint8Array, options?: KvSetOptions): Promise<KvSetResult> {
    try {
      this.checkKey(key);
      checkBytes(value, 'value');
      let expireAtMs = options?.expireAtMs;
      if (expireAtMs !== undefined) checkExpireAt(expireAtMs);
      let previous: Buffer | undefined;
      const cond = options?.condition;
      const ifEquals = options?.ifEquals;
      if (ifEquals !== undefined) checkBytes(ifEquals, 'ifEquals');
      if (cond !== undefined || ifEquals !== undefined || options?.returnPrevious === true || options?.keepTtl === true) {
        const cur = this.current(key);
        if ((cond === 'nx' && cur !== undefined) || (cond === 'xx' && cur === undefined) || (ifEquals !== undefined && (cur === undefined || !cur.payload.equals(ifEquals)))) {
          return Promise.resolve({ written: false, previous: cur?.payload });
        }
        previous = cur?.payload;
        if (options?.keepTtl === true && cur !== undefined) expireAtMs = cur.expireAtMs;
      }
      if (expireAtMs !== undefined && expireAtMs <= this.clock.nowMs()) {
        // Already expired (Redis: SET with an expiry in the past deletes the key).
        return this.writeOne(key, null).then(() => ({ written: true, previous }));
      }
      return this.writeOne(key, encodeExpiringValue(value, expireAtMs)).then(() => ({ written: true, previous }));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  setMany(pairs: ReadonlyArray<readonly [Uint8Array, Uint8Array]>, options?: { nx?: boolean }): Promise<boolean> {
    try {
      for (const [k, v] of pairs) {
        this.checkKey(k);
        checkBytes(v, 'value');
      }
      if (options?.nx === true && pairs.some(([k]) => this.current(k) !== undefined)) return Promise.resolve(false);
      const writes = pairs.map(([k, v]) => [k, encodeExpiringValue(v, undefined)] as const);
      return this.writeMany(writes).then(() => true);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  delete(keys: readonly Uint8Array[]): Promise<number> {
    try {
      let existed = 0;
      const seen = new Set<string>();
      for (const k of keys) {
        this.checkKey(k);
        const id = Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1');
        if (seen.has(id)) continue;
        seen.add(id);
        if (this.current(k) !== undefined) existed++;
      }
      if (existed === 0) return Promise.resolve(0);
      return this.writeMany(keys.map((k) => [k, null] as const)).then(() => existed);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  batch(ops: readonly KvBatchOp[]): Promise<void> {
    try {
      const now = this.clock.nowMs();
      const writes = ops.map((op, i) => {
        if (op === null || typeof op !== 'object') throw invalidArgument(`batch op ${i} must be an object`);
        checkBytes(op.key, `batch op ${i} key`);
        if (op.type === 'del') return [op.key, null] as const;
        if (op.type !== 'put') throw invalidArgument(`batch op ${i}: type must be put or del`);
        checkBytes(op.value, `batch op ${i} value`);
        if (op.expireAtMs !== undefined) checkExpireAt(op.expireAtMs);
        if (op.expireAtMs !== undefined && op.expireAtMs <= now) return [op.key, null] as const;
        return [op.key, encodeExpiringValue(op.value, op.expireAtMs)] as const;
      });
      if (writes.length === 0) return Promise.resolve();
      return this.writeMany(writes);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  update(key: Uint8Array, mutation: KvMutation): Promise<KvUpdateResult> {
    try {
      this.checkKey(key);
      const cur = this.current(key);
      const keepExpiry = cur?.expireAtMs;
      switch (mutation.kind) {
        case 'incrBy': {
          const base = cur === undefined ? 0n : parseInteger(cur.payload);
          const next = base + mutation.by;
          if (next < INT64_MIN || next > INT64_MAX) throw new StrataError(ERROR_CODES.OVERFLOW, 'increment or decrement would overflow');
          return this.writeOne(key, encodeExpiringValue(Buffer.from(next.toString()), keepExpiry)).then(() => ({ integer: next }));
        }
        case 'incrByFloat': {
          const base = cur === undefined ? 0 : parseFloatValue(cur.payload);
          if (!Number.isFinite(mutation.by)) throw new StrataError(ERROR_CODES.NOT_FLOAT, 'value is not a valid float');
          const next = base + mutation.by;
          if (!Number.isFinite(next)) throw new StrataError(ERROR_CODES.NOT_FLOAT, 'increment would produce NaN or Infinity');
          const text = Buffer.from(formatFloat(next));
          return this.writeOne(key, encodeExpiringValue(text, keepExpiry)).then(() => ({ value: text }));
        }
        case 'append': {
          const old = cur?.payload ?? EMPTY;
          checkStringSize(old.length + mutation.data.length);
          const next = Buffer.concat([old, mutation.data]);
          return this.writeOne(key, encodeExpiringValue(next, keepExpiry)).then(() => ({ length: next.length }));
        }
        case 'setRange': {
          const old = cur?.payload ?? EMPTY;
          const { offset, data } = mutation;
          if (!Number.isInteger(offset) || offset < 0) throw invalidArgument('offset is out of range');
          if (data.length === 0) return Promise.resolve({ length: old.length });
          checkStringSize(offset + data.length);
          const next = Buffer.alloc(Math.max(old.length, offset + data.length));
          old.copy(next, 0);
          next.set(data, offset);
          return this.writeOne(key, encodeExpiringValue(next, keepExpiry)).then(() => ({ length: next.length }));
        }
        case 'getDel': {
          if (cur === undefined) return Promise.resolve({ value: undefined });
          return this.writeOne(key, null).then(() => ({ value: cur.payload }));
        }
        case 'getEx': {
          if (cur === undefined) return Promise.resolve({ value: undefined });
          if (mutation.persist === true) {
            if (cur.expireAtMs === undefined) return Promise.resolve({ value: cur.payload });
            return this.writeOne(key, encodeExpiringValue(cur.payload, undefined)).then(() => ({ value: cur.payload }));
          }
          if (mutation.expireAtMs === undefined) return Promise.resolve({ value: cur.payload });
          checkExpireAt(mutation.expireAtMs);
          const stored = mutation.expireAtMs <= this.clock.nowMs() ? null : encodeExpiringValue(cur.payload, mutation.expireAtMs);
          return this.writeOne(key, stored).then(() => ({ value: cur.payload }));
        }
        case 'expire': {
          if (cur === undefined) return Promise.resolve({ applied: false });
          const at = mutation.expireAtMs;
          checkExpireAt(at);
          const old = cur.expireAtMs;
          const ok =
            mutation.condition === undefined ||
            (mutation.condition === 'nx' && old === undefined) ||
            (mutation.condition === 'xx' && old !== undefined) ||
            (mutation.condition === 'gt' && old !== undefined && at > old) ||
            (mutation.condition === 'lt' && (old === undefined || at < old));
          if (!ok) return Promise.resolve({ applied: false });
          const stored = at <= this.clock.nowMs() ? null : encodeExpiringValue(cur.payload, at);
          return this.writeOne(key, stored).then(() => ({ applied: true }));
        }
        case 'persist': {
          if (cur === undefined || cur.expireAtMs === undefined) return Promise.resolve({ applied: false });
          return this.writeOne(key, encodeExpiringValue(cur.payload, undefined)).then(() => ({ applied: true }));
        }
        default: {
          const never: never = mutation;
          throw invalidArgument(`unknown mutation ${String((never as { kind: unknown }).kind)}`);
        }
      }
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ---- scans ----

  async scan(options: KvScanOptions): Promise<KvScanPage> {
    const limit = options.limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > SCAN_LIMIT_MAX) throw invalidArgument(`scan limit must be an integer in [1, ${SCAN_LIMIT_MAX}]`);
    const it = this.db.iterator(this.clientRange(this.iteratorOptions(options)));
    const now = this.clock.nowMs();
    const entries: KvScanEntry[] = [];
    let last: Buffer | undefined;
    let exhausted = false;
    let more = false;
    // Expired entries are skipped but bounded, so one page never walks the whole keyspace.
    let budget = limit * 16 + 1024;
    try {
      while (entries.length < limit && budget > 0) {
        const chunk = it.nextvSync(Math.min(256, limit - entries.length));
        if (chunk.length === 0) {
          exhausted = true;
          break;
        }
        const filter = this.keyFilter;
        for (const [k, v] of chunk) {
          budget--;
          last = k;
          if (filter !== undefined && !filter(k)) continue;
          const at = expiryOf(v);
          if (typeof at === 'number' && at <= now) continue;
          const payload = payloadOf(v) ?? v;
          entries.push({ key: k, value: options.keysOnly === true ? EMPTY : payload, expireAtMs: typeof at === 'number' ? at : undefined });
        }
        if (entries.length < limit) await yieldIfBusy();
      }
      // One look ahead, so a page that ends exactly at the end says so.
      if (!exhausted) more = it.nextvSync(1).length > 0;
    } finally {
      it.close();
    }
    return { entries, nextAfter: more ? last : undefined };
  }

  async count(): Promise<number> {
    return (await this.keyspaceInfo()).keys;
  }

  async keyspaceInfo(): Promise<KvKeyspaceInfo> {
    let keys = 0;
    let expires = 0;
    let ttlSum = 0;
    const now = this.clock.nowMs();
    const it = this.db.iterator(this.clientRange({ fillCache: false }));
    try {
      for (;;) {
        const chunk = it.nextvSync(1024);
        if (chunk.length === 0) break;
        const filter = this.keyFilter;
        for (const [k, v] of chunk) {
          if (filter !== undefined && !filter(k)) continue;
          const at = expiryOf(v);
          if (typeof at === 'number') {
            if (at <= now) continue;
            expires++;
            ttlSum += at - now;
          }
          keys++;
        }
        await yieldIfBusy();
      }
    } finally {
      it.close();
    }
    return { keys, expires, avgTtlMs: expires === 0 ? 0 : Math.round(ttlSum / expires) };
  }

  async clear(): Promise<number> {
    let n = 0;
    const now = this.clock.nowMs();
    const it = this.db.iterator(this.clientRange({ fillCache: false }));
    try {
      for (;;) {
        const all = it.nextvSync(CLEAR_BATCH);
        if (all.length === 0) break;
        const filter = this.keyFilter;
        const chunk = filter === undefined ? all : all.filter(([k]) => filter(k));
        for (const [, v] of chunk) {
          const at = expiryOf(v);
          if (!(typeof at === 'number' && at <= now)) n++;
        }
        if (chunk.length > 0) await this.writeMany(chunk.map(([k]) => [k, null] as const));
      }
    } finally {
      it.close();
    }
    return n;
  }

  info(): KvServiceInfo {
    return { engine: flattenStats(this.db.stats()), dataDir: this.dir };
  }

  /**
   * Staging, for a replicated shard applying committed log entries: from
   * here until `commitStage`, writes resolve at once without reaching the
   * engine; every read and read-modify-write sees them (they are pending),
   * and `commitStage` writes them all in one engine batch together with the
   * caller's own records (its applied index, client sessions), so a crash
   * keeps all of them or none. Not for `clear` (it walks the engine).
   */
  beginStage(): void {
    if (this.staged !== undefined) throw new Error('already staging');
    this.staged = { batch: new WriteBatch(), ids: [] };
  }

  /** Drops everything staged, writing nothing (an apply that failed half-way). */
  abortStage(): void {
    const staged = this.staged;
    if (staged === undefined) return;
    this.staged = undefined;
    for (const id of staged.ids) this.untrack(id);
  }

  /** Writes the staged writes and `extra` as one engine batch (see beginStage). */
  async commitStage(extra: WriteBatch): Promise<void> {
    const staged = this.staged;
    if (staged === undefined) throw new Error('not staging');
    this.staged = undefined;
    staged.batch.append(extra);
    try {
      await this.db.write(staged.batch, this.writeOptions);
    } finally {
      for (const id of staged.ids) this.untrack(id);
    }
  }

  /** Flushes the memtable to a table file (tests, admin). */
  flush(): Promise<void> {
    return this.db.flush();
  }

  /** Compacts the whole keyspace (drops expired keys and tombstones). */
  compact(): Promise<void> {
    return this.db.compactRange();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  // ---- internals ----

  /** The live value of a key: the latest pending write, else the engine; undefined if absent or expired. */
  private current(key: Uint8Array): Current | undefined {
    if (this.systemPrefix !== undefined) this.checkKey(key);
    let stored: Buffer | null | undefined;
    if (this.pending.size > 0) {
      const p = this.pending.get(keyId(key));
      if (p !== undefined) stored = p.stored;
    }
    if (stored === undefined) stored = this.db.getSync(key) ?? null;
    if (stored === null) return undefined;
    const at = expiryOf(stored);
    const payload = payloadOf(stored);
    if (at === null || payload === null) {
      throw new StrataError(ERROR_CODES.CORRUPTION, `value of key ${Buffer.from(key).toString('hex').slice(0, 64)} does not carry the expiring-value header`);
    }
    if (at !== undefined && at <= this.clock.nowMs()) return undefined;
    return { payload, expireAtMs: at };
  }

  /** A client key: bytes, and not in the host's system range. */
  private checkKey(key: Uint8Array): void {
    checkBytes(key, 'key');
    const sp = this.systemPrefix;
    if (sp !== undefined && key.length >= sp.length && sp.compare(key, 0, sp.length) === 0) {
      throw invalidArgument(`keys starting with 0x${sp.toString('hex')} are reserved`);
    }
  }

  private writeOne(key: Uint8Array, stored: Buffer | null): Promise<void> {
    if (this.staged !== undefined) return this.writeMany([[key, stored]]);
    const id = keyId(key);
    this.track(id, stored);
    const done = stored === null ? this.db.delete(key, this.writeOptions) : this.db.put(key, stored, this.writeOptions);
    return done.finally(() => this.untrack(id));
  }

  private writeMany(writes: ReadonlyArray<readonly [Uint8Array, Buffer | null]>): Promise<void> {
    const staged = this.staged;
    if (staged !== undefined) {
      for (const [k, stored] of writes) {
        if (stored === null) staged.batch.delete(k);
        else staged.batch.put(k, stored);
        const id = keyId(k);
        staged.ids.push(id);
        this.track(id, stored);
      }
      return Promise.resolve();
    }
    const batch = new WriteBatch();
    const ids: string[] = [];
    for (const [k, stored] of writes) {
      if (stored === null) batch.delete(k);
      else batch.put(k, stored);
      const id = keyId(k);
      ids.push(id);
      this.track(id, stored);
    }
    return this.db.write(batch, this.writeOptions).finally(() => {
      for (const id of ids) this.untrack(id);
    });
  }

  private track(id: string, stored: Buffer | null): void {
    const p = this.pending.get(id);
    if (p === undefined) this.pending.set(id, { stored, inFlight: 1 });
    else {
      p.stored = stored;
      p.inFlight++;
    }
  }

  private untrack(id: string): void {
    const p = this.pending.get(id);
    if (p !== undefined && --p.inFlight === 0) this.pending.delete(id);
  }

  /** Bounds an iteration below the system range (when there is one). */
  private clientRange(io: IteratorOptions<Snapshot>): IteratorOptions<Snapshot> {
    const sp = this.systemPrefix;
    if (sp === undefined) return io;
    if (io.lt === undefined || Buffer.compare(io.lt as Uint8Array, sp) > 0) io.lt = sp;
    return io;
  }

  private iteratorOptions(o: KvScanOptions): IteratorOptions<Snapshot> {
    const io: IteratorOptions<Snapshot> = { reverse: o.reverse === true };
    if (o.prefix !== undefined) io.prefix = o.prefix;
    if (o.start !== undefined) io.gte = o.start;
    if (o.end !== undefined) io.lt = o.end;
    // `after` replaces the bound on the side the scan comes from, when it is inside the range.
    if (o.after !== undefined) {
      if (o.reverse === true) {
        if (o.end === undefined || Buffer.compare(o.after, o.end) < 0) io.lt = o.after;
      } else if (o.start === undefined || Buffer.compare(o.after, o.start) >= 0) {
        delete io.gte;
        io.gt = o.after;
      }
    }
    return io;
  }
}

const EMPTY = Buffer.alloc(0);

function keyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

function checkBytes(b: unknown, what: string): asserts b is Uint8Array {
  if (!(b instanceof Uint8Array)) throw invalidArgument(`${what} must be bytes`);
}

function checkExpireAt(at: number): void {
  if (!Number.isFinite(at) || at < 0 || at > EXPIRE_AT_MAX_MS) throw invalidArgument('invalid expire time');
}

function checkStringSize(n: number): void {
  if (n > STRING_BYTES_MAX) throw new StrataError(ERROR_CODES.LIMIT_EXCEEDED, 'string exceeds maximum allowed size (proto-max-bulk-len)');
}

function parseInteger(b: Buffer): bigint {
  if (b.length === 0 || b.length > 20) throw new StrataError(ERROR_CODES.NOT_INTEGER, 'value is not an integer or out of range');
  const s = b.toString('latin1');
  if (!INTEGER_TEXT.test(s)) throw new StrataError(ERROR_CODES.NOT_INTEGER, 'value is not an integer or out of range');
  const n = BigInt(s);
  if (n < INT64_MIN || n > INT64_MAX) throw new StrataError(ERROR_CODES.NOT_INTEGER, 'value is not an integer or out of range');
  return n;
}

function parseFloatValue(b: Buffer): number {
  const s = b.toString('latin1');
  if (b.length === 0 || b.length > 5000 || !FLOAT_TEXT.test(s)) throw new StrataError(ERROR_CODES.NOT_FLOAT, 'value is not a valid float');
  const n = Number(s);
  if (!Number.isFinite(n)) throw new StrataError(ERROR_CODES.NOT_FLOAT, 'value is not a valid float');
  return n;
}

/** Redis-style float text: shortest round-trip digits, never exponent notation. */
export function formatFloat(n: number): string {
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (m === null) return s;
  const [, sign, lead, frac = '', expText] = m;
  const digits = lead! + frac;
  const exp = Number(expText);
  if (exp >= 0) return sign + digits.padEnd(exp + 1, '0');
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
}

/** Engine stats as flat snake_case numbers for INFO and /metrics. */
function flattenStats(s: EngineStats): Record<string, number> {
  const out: Record<string, number> = {
    sequence: s.sequence,
    memtable_bytes: s.memtableBytes,
    memtable_entries: s.memtableEntries,
    immutable_memtables: s.immutableMemtables,
    live_snapshots: s.liveSnapshots,
    open_iterators: s.openIterators,
    table_cache_size: s.tableCacheSize,
    block_cache_capacity_bytes: s.blockCache.capacityBytes,
    block_cache_usage_bytes: s.blockCache.usageBytes,
    block_cache_hits: s.blockCache.hits,
    block_cache_misses: s.blockCache.misses,
    bloom_checks: s.bloom.checks,
    bloom_negatives: s.bloom.negatives,
    wal_bytes_written: s.wal.bytesWritten,
    wal_syncs: s.wal.syncs,
    flush_count: s.flush.count,
    compaction_count: s.compaction.count,
    compaction_bytes_read: s.compaction.bytesRead,
    compaction_bytes_written: s.compaction.bytesWritten,
    write_amplification: s.writeAmplification,
    stall_slowdowns: s.stalls.slowdowns,
    stall_stops: s.stalls.stops,
    stall_ms: s.stalls.stallMs,
    user_bytes_written: s.userBytesWritten,
    read_only: s.backgroundError === undefined ? 0 : 1,
  };
  let files = 0;
  let bytes = 0;
  s.levels.forEach((l, i) => {
    out[`level${i}_files`] = l.files;
    out[`level${i}_bytes`] = l.bytes;
    files += l.files;
    bytes += l.bytes;
  });
  out.table_files = files;
  out.table_bytes = bytes;
  return out;
}

let opsSinceYield = 0;
/** Long scans give the event loop a turn every few thousand entries. */
function yieldIfBusy(): Promise<void> | undefined {
  if (++opsSinceYield < 16) return undefined;
  opsSinceYield = 0;
  return new Promise((resolve) => setImmediate(resolve));
}
