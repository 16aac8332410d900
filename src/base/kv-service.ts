/**
 * The key-value service the front ends (RESP, HTTP, gRPC) talk to
 * (DESIGN.md principle 3). A single node implements it over its local
 * engine (`LocalKvService` in `src/node`); the cluster router implements it
 * later over shards. Front ends know this interface and nothing below it.
 *
 * Semantics every implementation keeps:
 * - Keys and values are bytes. A missing key is `undefined`, not an error.
 * - A key whose expiry time has passed is absent for every operation at once
 *   (reads, scans, counts, conditions such as NX/XX).
 * - Point calls (get*, set*, delete, batch, update) take effect in the order
 *   they are made: each sees the effects of every write issued before it,
 *   even while those have not resolved yet (a pipelining front end issues a
 *   GET right after a SET without awaiting it). Whole-keyspace calls (scan,
 *   count, keyspaceInfo, clear) see writes once they have resolved.
 * - Each call is atomic: read-modify-write operations (`update`, `set` with a
 *   condition or `returnPrevious`, `setMany` with `nx`) see no interleaving
 *   write to the same keys, and `batch`/`setMany` apply all or nothing.
 * - Operating failures are `StrataError`s with stable codes (`NOT_INTEGER`,
 *   `OVERFLOW`, `READ_ONLY`, `INVALID_ARGUMENT`, ...); front ends map codes.
 * - Times are milliseconds since the Unix epoch, from `nowMs()` (injected
 *   clock), so TTL arithmetic in a front end uses the service's clock.
 */
export interface KeyValueService {
  /** The service's clock (milliseconds since the Unix epoch). */
  nowMs(): number;

  /** The value, or undefined when the key is absent or expired. */
  get(key: Uint8Array): Promise<Buffer | undefined>;
  /** The value with its expiry, or undefined when absent or expired. */
  getEntry(key: Uint8Array): Promise<KvEntry | undefined>;
  /** Values in the order of `keys`, from one consistent view. */
  getMany(keys: readonly Uint8Array[]): Promise<Array<Buffer | undefined>>;

  /** Writes one key (see KvSetOptions for conditions, expiry and the previous value). */
  set(key: Uint8Array, value: Uint8Array, options?: KvSetOptions): Promise<KvSetResult>;
  /**
   * Writes all pairs atomically, clearing their expiry. With `nx`, writes
   * nothing unless every key is absent. Returns whether it wrote.
   */
  setMany(pairs: ReadonlyArray<readonly [Uint8Array, Uint8Array]>, options?: { nx?: boolean }): Promise<boolean>;
  /** Deletes the keys atomically; returns how many of them existed (and were not expired). */
  delete(keys: readonly Uint8Array[]): Promise<number>;
  /** Applies puts and deletes atomically (all or none). Puts clear expiry unless `expireAtMs` is given. */
  batch(ops: readonly KvBatchOp[]): Promise<void>;
  /** One atomic read-modify-write on a key; see KvMutation for the kinds and their results. */
  update(key: Uint8Array, mutation: KvMutation): Promise<KvUpdateResult>;

  /**
   * A page of live entries in key order (or reverse), starting after
   * `options.after` when given. `nextAfter` is set when more may follow;
   * passing it back continues the scan, and stays valid across writes,
   * flushes and compactions (it is a key, not a position).
   */
  scan(options: KvScanOptions): Promise<KvScanPage>;
  /** The number of live keys (walks the keyspace: O(keys)). */
  count(): Promise<number>;
  /** Live keys, how many of them expire, and their average remaining TTL (walks the keyspace). */
  keyspaceInfo(): Promise<KvKeyspaceInfo>;
  /** Deletes every key; returns how many were deleted. */
  clear(): Promise<number>;

  /** Numbers for INFO and /metrics. */
  info(): KvServiceInfo;

  /**
   * The same service at other consistency levels (a cluster: reads
   * 'linearizable' (default) or 'stale' from any replica; writes
   * acknowledged by a 'quorum' (default) or by 'all' replicas once applied).
   * A single node keeps one copy and does not implement it.
   */
  withConsistency?(c: KvRequestOptions): KeyValueService;
}

/** Per-request options a cluster honours (see KeyValueService.withConsistency). */
export interface KvRequestOptions {
  read?: 'linearizable' | 'stale';
  write?: 'quorum' | 'all';
  /** A client session (the SDK's): a write retried with the same client and seq applies once. */
  session?: { client: string; seq: number };
  /** Serve only here: answer NOT_LEADER (naming the leader) instead of forwarding (a topology-aware client routes itself). */
  direct?: boolean;
}

export interface KvEntry {
  value: Buffer;
  /** Absolute expiry in ms since the epoch; undefined when the key never expires. */
  expireAtMs: number | undefined;
}

export interface KvSetOptions {
  /** Absolute expiry (ms since the epoch). Without it (and without keepTtl) the key never expires. */
  expireAtMs?: number;
  /** Keep the key's current expiry (Redis KEEPTTL). */
  keepTtl?: boolean;
  /** 'nx': write only if absent; 'xx': only if present. */
  condition?: 'nx' | 'xx';
  /** Return the previous value (Redis SET ... GET, GETSET). */
  returnPrevious?: boolean;
  /** Write only if the key holds exactly these bytes (compare-and-set; Valkey SET ... IFEQ). */
  ifEquals?: Uint8Array;
}

export interface KvSetResult {
  /** False when the condition stopped the write. */
  written: boolean;
  /** The value before this call, when returnPrevious was asked (undefined if absent). */
  previous: Buffer | undefined;
}

export type KvBatchOp =
  | { type: 'put'; key: Uint8Array; value: Uint8Array; expireAtMs?: number }
  | { type: 'del'; key: Uint8Array };

/**
 * Read-modify-write kinds and what `update` returns for each:
 * - incrBy: adds a signed 64-bit integer (absent counts as 0), keeps expiry; `integer`.
 * - incrByFloat: adds a float, keeps expiry; `value` (the new value as stored, e.g. "10.5").
 * - append: appends bytes (absent counts as empty), keeps expiry; `length`.
 * - setRange: overwrites at `offset`, zero-padding, keeps expiry; `length`.
 *   With empty `data` it never creates the key.
 * - getDel: deletes the key; `value` is what it held.
 * - getEx: returns `value`; sets expireAtMs when given, removes expiry when `persist`.
 * - expire: sets the expiry (a time not after now deletes the key); `applied`.
 *   condition nx: only if no expiry; xx: only if one; gt/lt: only if later/earlier
 *   than the current one (no expiry counts as infinite).
 * - persist: removes the expiry; `applied` is true when there was one.
 */
export type KvMutation =
  | { kind: 'incrBy'; by: bigint }
  | { kind: 'incrByFloat'; by: number }
  | { kind: 'append'; data: Uint8Array }
  | { kind: 'setRange'; offset: number; data: Uint8Array }
  | { kind: 'getDel' }
  | { kind: 'getEx'; expireAtMs?: number; persist?: boolean }
  | { kind: 'expire'; expireAtMs: number; condition?: 'nx' | 'xx' | 'gt' | 'lt' }
  | { kind: 'persist' };

export interface KvUpdateResult {
  value?: Buffer | undefined;
  integer?: bigint;
  length?: number;
  applied?: boolean;
}

export interface KvScanOptions {
  /** Only keys starting with these bytes. */
  prefix?: Uint8Array;
  /** Inclusive lower bound. */
  start?: Uint8Array;
  /** Exclusive upper bound. */
  end?: Uint8Array;
  /** Continue after this key (exclusive, in scan direction): a page's `nextAfter`. */
  after?: Uint8Array;
  /** Largest number of entries in the page (1..100000). */
  limit: number;
  reverse?: boolean;
  /** Leave `value` empty (cheaper for KEYS/SCAN). */
  keysOnly?: boolean;
}

export interface KvScanEntry {
  key: Buffer;
  /** Empty when keysOnly. */
  value: Buffer;
  expireAtMs: number | undefined;
}

export interface KvScanPage {
  entries: KvScanEntry[];
  /** Pass as `after` to get the next page; undefined when the scan is complete. */
  nextAfter: Buffer | undefined;
}

export interface KvKeyspaceInfo {
  keys: number;
  /** Live keys with an expiry. */
  expires: number;
  /** Average remaining time to live of those keys, in ms (0 when none). */
  avgTtlMs: number;
}

export interface KvServiceInfo {
  /** Engine counters and shape as numbers (bytes, counts), named in snake_case. */
  engine: Record<string, number>;
  /** Where the data lives (for INFO), e.g. the data directory. */
  dataDir: string;
}
