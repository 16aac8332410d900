/**
 * The KeyValueService of a cluster node (DESIGN.md principle 3: front ends
 * talk to the same interface a single node implements). Each key belongs to
 * one shard of the default keyspace; an operation on keys of one shard runs
 * there, atomically. An operation spanning shards is split by shard:
 *
 * - getMany, delete, batch, setMany (without nx): each shard's part is
 *   atomic and linearizable on its own; the parts are not one transaction
 *   (a reader may see one shard's part before another's).
 * - setMany with nx (MSETNX) must be all or nothing, so keys on different
 *   shards are refused (as Redis Cluster answers CROSSSLOT).
 * - scan, count, keyspaceInfo, clear visit every shard; a scan page merges
 *   the shards' pages in key order. They are not a point-in-time snapshot.
 */
import { ERROR_CODES, StrataError, invalidArgument } from '../base/index.js';
import type {
  KeyValueService,
  KvBatchOp,
  KvRequestOptions,
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
import type { ClusterNode, ReadConsistency, WriteConsistency } from './cluster-node.js';
import type { KvRead, KvReadResult, KvWrite, KvWriteResult } from './kv-command.js';
import { shardOfKey } from './meta.js';

const SCAN_LIMIT_MAX = 100_000;

interface Levels {
  read: ReadConsistency;
  write: WriteConsistency;
  session: { client: string; seq: number } | undefined;
  direct: boolean;
}

export class ClusterKvService implements KeyValueService {
  constructor(
    readonly node: ClusterNode,
    readonly consistency: Levels = { read: 'linearizable', write: 'quorum', session: undefined, direct: false },
  ) {}

  /** The same service with other levels (a RESP READONLY connection; HTTP `consistency=`, SDK session and routing headers). */
  withConsistency(c: KvRequestOptions): ClusterKvService {
    const l = this.consistency;
    return new ClusterKvService(this.node, { read: c.read ?? l.read, write: c.write ?? l.write, session: c.session ?? l.session, direct: c.direct ?? l.direct });
  }

  nowMs(): number {
    return Date.now();
  }

  private shardOf(key: Uint8Array): number {
    if (!(key instanceof Uint8Array)) throw invalidArgument('key must be bytes');
    return shardOfKey(key, this.node.keyspace().info.shards);
  }

  private shardCount(): number {
    return this.node.keyspace().info.shards;
  }

  private write<T extends KvWriteResult['op']>(shard: number, w: KvWrite & { op: T }): Promise<Extract<KvWriteResult, { op: T }>> {
    const l = this.consistency;
    return this.node.write(shard, w, l.write, l.session, l.direct) as Promise<Extract<KvWriteResult, { op: T }>>;
  }

  private read<T extends KvReadResult['op']>(shard: number, q: KvRead & { op: T }): Promise<Extract<KvReadResult, { op: T }>> {
    return this.node.read(shard, q, this.consistency.read, this.consistency.direct) as Promise<Extract<KvReadResult, { op: T }>>;
  }

  /** Groups indexes of `keys` by shard. */
  private byShard(keys: readonly Uint8Array[]): Map<number, number[]> {
    const out = new Map<number, number[]>();
    for (let i = 0; i < keys.length; i++) {
      const s = this.shardOf(keys[i]!);
      const list = out.get(s);
      if (list === undefined) out.set(s, [i]);
      else list.push(i);
    }
    return out;
  }

  // ---- reads ----

  async get(key: Uint8Array): Promise<Buffer | undefined> {
    return (await this.read(this.shardOf(key), { op: 'get', key })).value;
  }

  async getEntry(key: Uint8Array): Promise<KvEntry | undefined> {
    return (await this.read(this.shardOf(key), { op: 'getEntry', key })).entry;
  }

  async getMany(keys: readonly Uint8Array[]): Promise<Array<Buffer | undefined>> {
    const out = new Array<Buffer | undefined>(keys.length);
    await Promise.all(
      [...this.byShard(keys)].map(async ([shard, idx]) => {
        const r = await this.read(shard, { op: 'getMany', keys: idx.map((i) => keys[i]!) });
        idx.forEach((i, j) => (out[i] = r.values[j]));
      }),
    );
    return out;
  }

  // ---- writes ----

  async set(key: Uint8Array, value: Uint8Array, options: KvSetOptions = {}): Promise<KvSetResult> {
    return (await this.write(this.shardOf(key), { op: 'set', key, value, options })).result;
  }

  async setMany(pairs: ReadonlyArray<readonly [Uint8Array, Uint8Array]>, options?: { nx?: boolean }): Promise<boolean> {
    const groups = this.byShard(pairs.map((p) => p[0]));
    const nx = options?.nx === true;
    if (nx && groups.size > 1) throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, 'CROSSSLOT keys in an all-or-nothing write (MSETNX) hash to different shards');
    const results = await Promise.all(
      [...groups].map(([shard, idx]) => this.write(shard, { op: 'setMany', pairs: idx.map((i) => [pairs[i]![0], pairs[i]![1]] as [Uint8Array, Uint8Array]), nx })),
    );
    return results.every((r) => r.written);
  }

  async delete(keys: readonly Uint8Array[]): Promise<number> {
    const results = await Promise.all([...this.byShard(keys)].map(([shard, idx]) => this.write(shard, { op: 'delete', keys: idx.map((i) => keys[i]!) })));
    return results.reduce((n, r) => n + r.deleted, 0);
  }

  async batch(ops: readonly KvBatchOp[]): Promise<void> {
    const groups = this.byShard(ops.map((o) => o.key));
    await Promise.all([...groups].map(([shard, idx]) => this.write(shard, { op: 'batch', ops: idx.map((i) => ops[i]!) })));
  }

  async update(key: Uint8Array, mutation: KvMutation): Promise<KvUpdateResult> {
    return (await this.write(this.shardOf(key), { op: 'update', key, mutation })).result;
  }

  // ---- whole keyspace ----

  async scan(options: KvScanOptions): Promise<KvScanPage> {
    const limit = options.limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > SCAN_LIMIT_MAX) throw invalidArgument(`scan limit must be an integer in [1, ${SCAN_LIMIT_MAX}]`);
    const n = this.shardCount();
    const pages = await Promise.all(Array.from({ length: n }, (_, s) => this.read(s, { op: 'scan', options })));
    const all: KvScanEntry[] = pages.flatMap((p) => p.page.entries);
    const dir = options.reverse === true ? -1 : 1;
    all.sort((a, b) => dir * Buffer.compare(a.key, b.key));
    const entries = all.slice(0, limit);
    // More may follow when this page dropped merged entries, or a shard had more than it sent.
    const more = all.length > limit || pages.some((p) => p.page.nextAfter !== undefined);
    return { entries, nextAfter: more && entries.length > 0 ? entries[entries.length - 1]!.key : undefined };
  }

  async count(): Promise<number> {
    return (await this.keyspaceInfo()).keys;
  }

  async keyspaceInfo(): Promise<KvKeyspaceInfo> {
    const n = this.shardCount();
    const infos = await Promise.all(Array.from({ length: n }, (_, s) => this.read(s, { op: 'keyspaceInfo' })));
    let keys = 0;
    let expires = 0;
    let ttlSum = 0;
    for (const { info } of infos) {
      keys += info.keys;
      expires += info.expires;
      ttlSum += info.avgTtlMs * info.expires;
    }
    return { keys, expires, avgTtlMs: expires === 0 ? 0 : Math.round(ttlSum / expires) };
  }

  async clear(): Promise<number> {
    const n = this.shardCount();
    const results = await Promise.all(Array.from({ length: n }, (_, s) => this.write(s, { op: 'clear' })));
    return results.reduce((acc, r) => acc + r.deleted, 0);
  }

  info(): KvServiceInfo {
    return { engine: this.node.engineTotals(), dataDir: this.node.opts.dataDir };
  }
}
