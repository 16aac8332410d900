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
 *
 * Keys route by the node's shard map (routing.ts). A shard that answers
 * WRONG_SHARD has had the key's range split off since: the keys are routed
 * again (to the new shard) and only that part is retried; nothing of a
 * refused part was applied.
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

  /** Every shard of the default keyspace (scans and counts visit them all). */
  private shardIds(): readonly number[] {
    return this.node.router().shardIds();
  }

  private write<T extends KvWriteResult['op']>(shard: number, w: KvWrite & { op: T }): Promise<Extract<KvWriteResult, { op: T }>> {
    const l = this.consistency;
    return this.node.write(shard, w, l.write, l.session, l.direct) as Promise<Extract<KvWriteResult, { op: T }>>;
  }

  private read<T extends KvReadResult['op']>(shard: number, q: KvRead & { op: T }): Promise<Extract<KvReadResult, { op: T }>> {
    return this.node.read(shard, q, this.consistency.read, this.consistency.direct) as Promise<Extract<KvReadResult, { op: T }>>;
  }

  /** Groups the indexes `idx` of `keys` by the shard owning each key. */
  private byShard(keys: readonly Uint8Array[], idx: readonly number[]): Map<number, number[]> {
    const router = this.node.router();
    const out = new Map<number, number[]>();
    for (const i of idx) {
      const key = keys[i]!;
      if (!(key instanceof Uint8Array)) throw invalidArgument('key must be bytes');
      const s = router.shardOf(key);
      const list = out.get(s);
      if (list === undefined) out.set(s, [i]);
      else list.push(i);
    }
    return out;
  }

  /**
   * Runs `run` once per shard over the indexes of the keys it owns, and
   * returns each part's result with its indexes. A part refused with
   * WRONG_SHARD (a split took its range) is routed again and retried,
   * until the request timeout.
   */
  private async perShard<T>(keys: readonly Uint8Array[], run: (shard: number, idx: number[]) => Promise<T>): Promise<Array<[number[], T]>> {
    const out: Array<[number[], T]> = [];
    const deadline = Date.now() + this.node.opts.requestTimeoutMs;
    const go = async (idx: readonly number[], attempt: number): Promise<void> => {
      await Promise.all(
        [...this.byShard(keys, idx)].map(async ([shard, part]) => {
          try {
            out.push([part, await run(shard, part)]);
          } catch (err) {
            if (!(err instanceof StrataError && err.code === ERROR_CODES.WRONG_SHARD) || Date.now() >= deadline) throw err;
            // Learnt from the refusal when the shard map lists the split; else wait for a newer map.
            if (!part.some((i) => this.node.learnSplit(keys[i]!))) await pause(attempt);
            await go(part, attempt + 1);
          }
        }),
      );
    };
    await go(
      keys.map((_, i) => i),
      0,
    );
    return out;
  }

  /** Runs `run` on the shard owning `key`, routing again after WRONG_SHARD (see perShard; no grouping on the hot path). */
  private async oneKey<T>(key: Uint8Array, run: (shard: number) => Promise<T>): Promise<T> {
    if (!(key instanceof Uint8Array)) throw invalidArgument('key must be bytes');
    let deadline = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await run(this.node.router().shardOf(key));
      } catch (err) {
        if (!(err instanceof StrataError && err.code === ERROR_CODES.WRONG_SHARD)) throw err;
        if (deadline === 0) deadline = Date.now() + this.node.opts.requestTimeoutMs;
        else if (Date.now() >= deadline) throw err;
        if (!this.node.learnSplit(key)) await pause(attempt);
      }
    }
  }

  // ---- reads ----

  async get(key: Uint8Array): Promise<Buffer | undefined> {
    return (await this.oneKey(key, (shard) => this.read(shard, { op: 'get', key }))).value;
  }

  async getEntry(key: Uint8Array): Promise<KvEntry | undefined> {
    return (await this.oneKey(key, (shard) => this.read(shard, { op: 'getEntry', key }))).entry;
  }

  async getMany(keys: readonly Uint8Array[]): Promise<Array<Buffer | undefined>> {
    const out = new Array<Buffer | undefined>(keys.length);
    for (const [idx, r] of await this.perShard(keys, (shard, idx) => this.read(shard, { op: 'getMany', keys: idx.map((i) => keys[i]!) }))) {
      idx.forEach((i, j) => (out[i] = r.values[j]));
    }
    return out;
  }

  // ---- writes ----

  async set(key: Uint8Array, value: Uint8Array, options: KvSetOptions = {}): Promise<KvSetResult> {
    return (await this.oneKey(key, (shard) => this.write(shard, { op: 'set', key, value, options }))).result;
  }

  async setMany(pairs: ReadonlyArray<readonly [Uint8Array, Uint8Array]>, options?: { nx?: boolean }): Promise<boolean> {
    const keys = pairs.map((p) => p[0]);
    const all = keys.map((_, i) => i);
    const part = (idx: number[]) => idx.map((i) => [pairs[i]![0], pairs[i]![1]] as [Uint8Array, Uint8Array]);
    if (options?.nx !== true) {
      const results = await this.perShard(keys, (shard, idx) => this.write(shard, { op: 'setMany', pairs: part(idx), nx: false }));
      return results.every(([, r]) => r.written);
    }
    // All or nothing: one shard must hold every key, also when a split turns out to have divided them.
    const deadline = Date.now() + this.node.opts.requestTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      const groups = [...this.byShard(keys, all)];
      if (groups.length > 1) throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, 'CROSSSLOT keys in an all-or-nothing write (MSETNX) hash to different shards');
      if (groups.length === 0) return true;
      try {
        return (await this.write(groups[0]![0], { op: 'setMany', pairs: part(all), nx: true })).written;
      } catch (err) {
        if (!(err instanceof StrataError && err.code === ERROR_CODES.WRONG_SHARD) || Date.now() >= deadline) throw err;
        if (!keys.some((k) => this.node.learnSplit(k))) await pause(attempt);
      }
    }
  }

  async delete(keys: readonly Uint8Array[]): Promise<number> {
    const results = await this.perShard(keys, (shard, idx) => this.write(shard, { op: 'delete', keys: idx.map((i) => keys[i]!) }));
    return results.reduce((n, [, r]) => n + r.deleted, 0);
  }

  async batch(ops: readonly KvBatchOp[]): Promise<void> {
    await this.perShard(
      ops.map((o) => o.key),
      (shard, idx) => this.write(shard, { op: 'batch', ops: idx.map((i) => ops[i]!) }),
    );
  }

  async update(key: Uint8Array, mutation: KvMutation): Promise<KvUpdateResult> {
    return (await this.oneKey(key, (shard) => this.write(shard, { op: 'update', key, mutation }))).result;
  }

  // ---- whole keyspace ----

  async scan(options: KvScanOptions): Promise<KvScanPage> {
    const limit = options.limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > SCAN_LIMIT_MAX) throw invalidArgument(`scan limit must be an integer in [1, ${SCAN_LIMIT_MAX}]`);
    const pages = await Promise.all(this.shardIds().map((s) => this.read(s, { op: 'scan', options })));
    const dir = options.reverse === true ? -1 : 1;
    // A shard that has more stopped at its nextAfter (a full page, or one cut short by skipped keys): the merged
    // page must not go past the earliest such stop, or that shard's keys in between would never be returned.
    let stop: Uint8Array | undefined;
    for (const p of pages) {
      const at = p.page.nextAfter;
      if (at !== undefined && (stop === undefined || dir * Buffer.compare(at, stop) < 0)) stop = at;
    }
    let all: KvScanEntry[] = pages.flatMap((p) => p.page.entries);
    if (stop !== undefined) all = all.filter((e) => dir * Buffer.compare(e.key, stop) <= 0);
    all.sort((a, b) => dir * Buffer.compare(a.key, b.key));
    const entries = all.slice(0, limit);
    if (all.length > limit) return { entries, nextAfter: entries[entries.length - 1]!.key };
    return { entries, nextAfter: stop === undefined ? undefined : Buffer.from(stop) };
  }

  async count(): Promise<number> {
    return (await this.keyspaceInfo()).keys;
  }

  async keyspaceInfo(): Promise<KvKeyspaceInfo> {
    const infos = await Promise.all(this.shardIds().map((s) => this.read(s, { op: 'keyspaceInfo' })));
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
    const results = await Promise.all(this.shardIds().map((s) => this.write(s, { op: 'clear' })));
    return results.reduce((acc, r) => acc + r.deleted, 0);
  }

  info(): KvServiceInfo {
    return { engine: this.node.engineTotals(), dataDir: this.node.opts.dataDir };
  }
}

/** Backs off before routing a refused part again (the shard map is on its way). */
function pause(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(20 * 2 ** Math.min(attempt, 4), 250)));
}
