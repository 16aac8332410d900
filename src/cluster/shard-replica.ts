/**
 * One replica of a Raft keyspace's shard: its own engine (through the
 * LocalKvService, so every Redis-style operation means exactly what it
 * means on a single node) applying the shard's committed log. The Raft log
 * is the shard's write-ahead log; the engine's own WAL is not synced. The
 * writes of the entries one Ready applies, the applied index and the client
 * sessions they touch go to the engine in one batch, so after a crash the
 * engine holds all of them or none, and replay resumes after the applied
 * index it holds.
 *
 * Snapshots are checkpoints of the engine (shard-snapshot.ts): log
 * compaction flushes the engine and links its tables into a checkpoint, and
 * installing a snapshot swaps the engine for a checkpoint received from the
 * leader. No snapshot is ever built in memory.
 *
 * Splitting (routing.ts): a `split` entry cuts the range [at, hi) off the
 * shard. Every replica applying it checkpoints its engine (the state just
 * before the entry) as the new shard's first snapshot, index 1, and from
 * then on answers WRONG_SHARD for keys of that range. Both engines then
 * hold keys they do not own: reads, scans and counts skip them, and a
 * background pass deletes them (the new shard's replicas do the same with
 * the parent's keys).
 */
import { ERROR_CODES, StrataError, corruption, joinPath, NodeFs, systemClock } from '../base/index.js';
import { inRange, subHashLimit } from './routing.js';
import type { Clock, Fs, KeyValueService } from '../base/index.js';
import { LocalKvService, WriteBatch, encodeExpiringValue, expiryOf, payloadOf } from '../engine/index.js';
import type { OpenOptions } from '../engine/index.js';
import { EntryType } from '../replication/index.js';
import type { Entry, Snapshot } from '../replication/index.js';
import { ReplicaSnapshots, checkOwnership, decodeCheckpointDescriptor } from './shard-snapshot.js';
import type { ShardOwnership, SplitInit } from './shard-snapshot.js';
import { decodeKvCommand, encodeReadOutcome, encodeWriteOutcome, failure } from './kv-command.js';
import type { KvOutcome, KvRead, KvReadResult, KvSplit, KvWrite, KvWriteResult } from './kv-command.js';
import type { StateMachine } from './raft-group.js';

/** Keys from 0xFF 0xFF on belong to the replica (clients may not use them). */
export const SYSTEM_PREFIX = Buffer.from([0xff, 0xff]);
const APPLIED_KEY = Buffer.concat([SYSTEM_PREFIX, Buffer.from('applied')]);
const SESSION_PREFIX = Buffer.concat([SYSTEM_PREFIX, Buffer.from('session/')]);
/** The hash range a split shard owns (JSON ShardOwnership; absent: never split, owns its whole base shard). */
const OWNER_KEY = Buffer.concat([SYSTEM_PREFIX, Buffer.from('owner')]);
/** The range the last completed pass deleted every other key for (see `cleanup`). */
const CLEANED_KEY = Buffer.concat([SYSTEM_PREFIX, Buffer.from('cleaned')]);
/** Keys looked at, and at most deleted, per step of the clean-up pass. */
const CLEANUP_BATCH = 512;

/** A clock the applier pins to the proposing leader's time while an entry executes. */
class PinnedClock implements Clock {
  pinned: number | undefined;
  constructor(private readonly base: Clock) {}
  nowMs(): number {
    return this.pinned ?? this.base.nowMs();
  }
}

interface SessionRecord {
  seq: number;
  response: Uint8Array;
  /** The log time after which the session is forgotten (undefined: a record written before sessions expired). */
  expireAtMs: number | undefined;
}

/**
 * A client session unused for this long, by the log's clock, is forgotten:
 * its record expires (compaction drops it), and every replica treats it as
 * gone from the same entry on, since entries carry the leader's time. A
 * command retried later than that would apply again; requests give up
 * (requestTimeoutMs) long before.
 */
export const SESSION_TTL_MS = 60 * 60_000;

/** The session when it is still alive at log time `at`. */
function liveSession(rec: SessionRecord | undefined, at: number): SessionRecord | undefined {
  return rec !== undefined && (rec.expireAtMs === undefined || rec.expireAtMs > at) ? rec : undefined;
}

export interface ShardReplicaOptions {
  /** The engine's directory. */
  dir: string;
  /** Where checkpoints live (default: `snap` beside the engine's directory). */
  snapDir?: string;
  fs?: Fs;
  clock?: Clock;
  engine?: Partial<OpenOptions>;
  /** Where a shard split off this one keeps its checkpoints (its `snap/`); without it, splits are refused. */
  childSnapDir?: (child: number) => string;
  /** Called once a split entry is applied (the node opens the new shard's replica). */
  onSplit?: (child: number) => void;
  /** A background task (the clean-up after a split) failed. */
  onError?: (err: unknown) => void;
  /**
   * A shard split off another that has never started: when `snap/1` holds
   * the checkpoint the split entry made, its files become the engine before
   * the engine first opens (one open instead of an empty one, then a swap).
   */
  startFromSplit?: boolean;
}

/** Client sessions kept in memory per replica (the engine holds them all; these skip a lookup per write). */
const SESSION_CACHE = 4096;

export class ShardStateMachine implements StateMachine {
  private appliedIndex: number;
  /** Recently used sessions, as committed to the engine (insertion order is recency). */
  private readonly sessionCache = new Map<string, SessionRecord>();
  /** What this shard owns once it or its parent was split (undefined: everything it is sent). */
  private ownership: ShardOwnership | undefined;
  /** Bumped whenever the engine is replaced or closed: a clean-up pass of an older one stops. */
  private generation = 0;
  private cleaning: Promise<void> | undefined;
  /** The generation a clean-up pass runs for (-1: none). */
  private cleaningGen = -1;
  /** Keys deleted by clean-up passes (tests, health). */
  cleanedKeys = 0;

  private constructor(
    private kvService: LocalKvService,
    private readonly clock: PinnedClock,
    /** The log's time as of the applied index (see `open`). */
    private readonly logClock: { ms: number },
    /** Opens the engine again (after a snapshot replaced its files). */
    private readonly reopen: () => Promise<LocalKvService>,
    readonly snapshots: ReplicaSnapshots,
    private readonly dir: string,
    private readonly options: ShardReplicaOptions,
    private readonly fs: Fs,
  ) {
    this.appliedIndex = 0;
    this.readApplied();
  }

  private readApplied(): void {
    const raw = this.kv.db.getSync(APPLIED_KEY);
    const applied = raw === undefined ? { index: 0, timeMs: 0 } : readApplied(raw);
    this.appliedIndex = applied.index;
    this.logClock.ms = applied.timeMs;
    const owner = this.kv.db.getSync(OWNER_KEY);
    this.setOwnership(owner === undefined ? undefined : readOwnership(owner));
  }

  /** What the shard owns (undefined: never split, every key it is sent). */
  get owner(): ShardOwnership | undefined {
    return this.ownership;
  }

  private setOwnership(o: ShardOwnership | undefined): void {
    this.ownership = o;
    this.kv.keyFilter = o === undefined ? undefined : (key) => inRange(key, o, o.n0);
    if (o !== undefined) this.startCleanup();
  }

  /** Approximate bytes the replica's engine holds: its tables and memtables (keys a split gave away count until deleted and compacted). */
  approximateBytes(): number {
    const st = this.kv.db.stats();
    return st.levels.reduce((n, l) => n + l.bytes, 0) + st.memtableBytes;
  }

  /** Whether this shard owns `key`. */
  owns(key: Uint8Array): boolean {
    const o = this.ownership;
    return o === undefined || inRange(key, o, o.n0);
  }

  private checkOwned(keys: Iterable<Uint8Array>): void {
    if (this.ownership === undefined) return;
    for (const k of keys) {
      if (!this.owns(k)) throw new StrataError(ERROR_CODES.WRONG_SHARD, `shard ${this.ownership.shard} no longer owns this key (its range was split off); route it again`);
    }
  }

  get kv(): LocalKvService {
    return this.kvService;
  }

  /**
   * Opens the replica's engine. Two clocks: client reads judge expiry by the
   * wall clock, while applying entries and compaction use the log's time
   * (the latest leader time applied so far, never going back), so whether a
   * key has expired when an entry runs is the same on every replica, however
   * late one replays the entry, and compaction never drops a value an entry
   * still to be applied could see as live.
   */
  static async open(options: ShardReplicaOptions): Promise<ShardStateMachine> {
    const clock = new PinnedClock(options.clock ?? systemClock);
    const logClock = { ms: 0 };
    const fs = options.fs ?? new NodeFs();
    const snapshots = new ReplicaSnapshots(fs, options.snapDir ?? joinPath(joinPath(options.dir, '..'), 'snap'));
    // A crash while a received snapshot replaced the engine's files: finish that first.
    await snapshots.recoverInstall(options.dir);
    const open = () =>
      LocalKvService.open({
        dir: options.dir,
        clock,
        systemPrefix: SYSTEM_PREFIX,
        // The Raft log is the shard's write-ahead log: after a crash the log replays what the memtable lost.
        disableWal: true,
        fs,
        engine: { ...options.engine, clock: { nowMs: () => logClock.ms } },
      });
    const first = options.startFromSplit === true ? snapshots.info(1) : undefined;
    if (first?.init !== undefined) await snapshots.install(options.dir, 1);
    const sm = new ShardStateMachine(await open(), clock, logClock, open, snapshots, options.dir, options, fs);
    if (first?.init !== undefined) await sm.claim(first.init);
    return sm;
  }

  /**
   * Makes the engine, holding the parent's checkpoint a split made, this
   * shard's state at index 1: its applied record (with the split entry's
   * log time) and its range. Not flushed here: an engine that lost them in a
   * crash still names its parent's range, and the node installs the first
   * snapshot again before anything else (see ClusterNode.openReplica).
   */
  private async claim(init: SplitInit): Promise<void> {
    const b = new WriteBatch();
    b.put(APPLIED_KEY, encodeApplied(1, init.logTimeMs));
    b.put(OWNER_KEY, encodeOwnership(init.owner));
    await this.kv.db.write(b, { disableWal: true });
    this.readApplied();
  }

  get applied(): number {
    return this.appliedIndex;
  }

  /** The replica's data for reads (callers decide whether the read is linearizable first). */
  get service(): KeyValueService {
    return this.kv;
  }

  async apply(entries: readonly Entry[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    const extra = new WriteBatch();
    const sessions = new Map<string, SessionRecord>();
    let last = this.appliedIndex;
    this.kv.beginStage();
    try {
      for (const e of entries) {
        if (e.index <= this.appliedIndex) continue;
        last = e.index;
        if (e.type !== EntryType.Normal || e.data.length === 0) continue;
        let cmd;
        try {
          cmd = decodeKvCommand(e.data);
        } catch (err) {
          // The log checked its checksum: a command that does not decode is a bug; answer it, change nothing.
          out.set(e.index, encodeWriteOutcome(failure(err)));
          continue;
        }
        // The entry's time: the leader's clock, but never before an entry applied earlier (leaders' clocks differ).
        const at = Math.max(cmd.nowMs, this.logClock.ms);
        if (cmd.client !== '') {
          const seen = liveSession(sessions.get(cmd.client) ?? this.session(cmd.client), at);
          if (seen !== undefined && cmd.seq <= seen.seq) {
            out.set(
              e.index,
              cmd.seq === seen.seq
                ? seen.response
                : encodeWriteOutcome({ ok: false, code: ERROR_CODES.INVALID_ARGUMENT, message: `session ${cmd.client}: command ${cmd.seq} is older than ${seen.seq}, already answered` }),
            );
            continue;
          }
        }
        let outcome: KvOutcome<KvWriteResult>;
        if (cmd.write.op === 'clear' || cmd.write.op === 'split') {
          // clear walks the engine and split checkpoints it: everything staged so far goes in first.
          extra.put(APPLIED_KEY, encodeApplied(e.index - 1, this.logClock.ms));
          await this.kv.commitStage(extra);
          extra.clear();
          this.clock.pinned = at;
          let owner: ShardOwnership | undefined;
          try {
            if (cmd.write.op === 'clear') outcome = { ok: true, value: { op: 'clear', deleted: await this.kv.clear() } };
            else {
              owner = this.checkSplit(cmd.write);
              outcome = { ok: true, value: { op: 'split' } };
            }
          } catch (err) {
            outcome = failure(err);
          } finally {
            this.clock.pinned = undefined;
          }
          // Making the new shard's checkpoint is not the command's outcome: a failure here (I/O) fails the apply.
          if (owner !== undefined && owner !== this.ownership) await this.makeSplitCheckpoint(cmd.write as KvSplit, at);
          this.kv.beginStage();
          if (owner !== undefined && owner !== this.ownership) {
            // Committed with this batch's applied index; entries after it in the batch already see the new range.
            extra.put(OWNER_KEY, encodeOwnership(owner));
            this.setOwnership(owner);
            this.options.onSplit?.(owner.children[owner.children.length - 1]!);
          }
        } else {
          outcome = await this.execute(cmd.write, at);
        }
        this.logClock.ms = at;
        const encoded = encodeWriteOutcome(outcome);
        out.set(e.index, encoded);
        if (cmd.client !== '') {
          sessions.set(cmd.client, { seq: cmd.seq, response: encoded, expireAtMs: at + SESSION_TTL_MS });
          extra.put(sessionKey(cmd.client), encodeExpiringValue(encodeSession(cmd.seq, encoded), at + SESSION_TTL_MS));
        }
      }
    } catch (err) {
      // Nothing of a failed batch reaches the engine: replaying it later applies every entry once.
      this.kv.abortStage();
      throw err;
    }
    if (last > this.appliedIndex) extra.put(APPLIED_KEY, encodeApplied(last, this.logClock.ms));
    await this.kv.commitStage(extra);
    this.appliedIndex = last;
    for (const [client, rec] of sessions) this.cacheSession(client, rec);
    return out;
  }

  /**
   * Checks a split entry against the range this replica owns (the same on
   * every replica: the outcome is deterministic) and returns the range it
   * keeps; the current one when the entry was applied already.
   */
  private checkSplit(w: KvSplit): ShardOwnership {
    const o = this.ownership;
    if (o?.children.includes(w.child) === true) return o;
    const mine = o ?? { shard: w.shard, n0: w.n0, base: w.base, lo: 0, hi: subHashLimit(w.n0), children: [] };
    if (mine.shard !== w.shard || mine.n0 !== w.n0 || mine.base !== w.base || mine.lo !== w.lo || mine.hi !== w.hi || !(w.lo < w.at && w.at < w.hi)) {
      throw new StrataError(
        ERROR_CODES.INVALID_ARGUMENT,
        `split of shard ${w.shard}: it owns [${mine.lo}, ${mine.hi}) of base ${mine.base}, not [${w.lo}, ${w.hi}) of base ${w.base} cut at ${w.at}`,
      );
    }
    if (this.options.childSnapDir === undefined) throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, `split of shard ${w.shard}: this replica keeps no other shards`);
    return { ...mine, hi: w.at, children: [...mine.children, w.child] };
  }

  /** Checkpoints the engine (the state just before the split entry) as the new shard's first snapshot. */
  private async makeSplitCheckpoint(w: KvSplit, logTimeMs: number): Promise<void> {
    const child = new ReplicaSnapshots(this.fs, this.options.childSnapDir!(w.child));
    await child.createSplit(this.kv.db, { owner: { shard: w.child, n0: w.n0, base: w.base, lo: w.at, hi: w.hi, children: [] }, logTimeMs, replicas: [...w.replicas] });
  }

  /** Runs one write with the leader's clock pinned for its synchronous part (where every decision is made). */
  private execute(w: KvWrite, nowMs: number): Promise<KvOutcome<KvWriteResult>> {
    if (this.ownership !== undefined) {
      try {
        this.checkOwned(writeKeys(w));
      } catch (err) {
        return Promise.resolve(failure(err));
      }
    }
    this.clock.pinned = nowMs;
    let p: Promise<KvWriteResult>;
    try {
      const kv = this.kv;
      switch (w.op) {
        case 'set':
          p = kv.set(w.key, w.value, w.options).then((result) => ({ op: 'set', result }));
          break;
        case 'setMany':
          p = kv.setMany(w.pairs, { nx: w.nx }).then((written) => ({ op: 'setMany', written }));
          break;
        case 'delete':
          p = kv.delete(w.keys).then((deleted) => ({ op: 'delete', deleted }));
          break;
        case 'batch':
          p = kv.batch(w.ops).then(() => ({ op: 'batch' }));
          break;
        case 'update':
          p = kv.update(w.key, w.mutation).then((result) => ({ op: 'update', result }));
          break;
        case 'clear':
        case 'split':
          throw new Error(`${w.op} is applied on its own`);
      }
    } finally {
      this.clock.pinned = undefined;
    }
    return p.then(
      (value): KvOutcome<KvWriteResult> => ({ ok: true, value }),
      (err: unknown) => failure(err),
    );
  }

  /** Serves a read from this replica's state (the caller made it linearizable first, or asked for a stale read). */
  async read(q: KvRead): Promise<KvReadResult> {
    const kv = this.kv;
    if (q.op === 'get' || q.op === 'getEntry') this.checkOwned([q.key]);
    else if (q.op === 'getMany') this.checkOwned(q.keys);
    switch (q.op) {
      case 'get':
        return { op: 'get', value: await kv.get(q.key) };
      case 'getEntry':
        return { op: 'getEntry', entry: await kv.getEntry(q.key) };
      case 'getMany':
        return { op: 'getMany', values: await kv.getMany(q.keys) };
      case 'scan':
        return { op: 'scan', page: await kv.scan(q.options) };
      case 'keyspaceInfo':
        return { op: 'keyspaceInfo', info: await kv.keyspaceInfo() };
    }
  }

  async readEncoded(q: KvRead): Promise<Uint8Array> {
    try {
      return encodeReadOutcome({ ok: true, value: await this.read(q) });
    } catch (err) {
      return encodeReadOutcome(failure(err));
    }
  }

  /**
   * A Raft snapshot as of `applied`: a checkpoint of the engine (a flush
   * and a hard link per table, nothing read), described by the returned
   * bytes. Runs between applies (the group's drive loop waits for it), so
   * the engine holds exactly the state as of `applied`.
   */
  snapshotData(): Promise<Uint8Array> {
    return this.snapshots.create(this.kv.db, this.appliedIndex);
  }

  /**
   * Replaces everything with a snapshot's: the engine is closed, its files
   * replaced by the checkpoint the snapshot names (received from the leader
   * beforehand), and opened again, holding the snapshot's index as applied.
   */
  async restore(snapshot: Snapshot): Promise<void> {
    const info = decodeCheckpointDescriptor(snapshot.data);
    if (info.index !== snapshot.meta.index) throw corruption('shard snapshot', 0, `names checkpoint ${info.index}, not ${snapshot.meta.index}`);
    this.generation++;
    await this.kvService.close();
    await this.snapshots.install(this.dir, info.index);
    this.kvService = await this.reopen();
    // A split's first snapshot: the parent's engine, from here on this shard's at index 1 with its own range.
    if (info.init !== undefined) await this.claim(info.init);
    else this.readApplied();
    this.sessionCache.clear();
    if (this.appliedIndex !== info.index) {
      throw corruption(this.dir, 0, `checkpoint ${info.index} holds applied index ${this.appliedIndex}`);
    }
  }

  async close(): Promise<void> {
    this.generation++;
    this.snapshots.close();
    await this.kv.close();
    await this.cleaning?.catch(() => undefined);
  }

  /** Whether keys this shard gave away (a split) may still be in its engine (reads skip them meanwhile). */
  get cleanupPending(): boolean {
    return this.ownership !== undefined && this.cleaningGen === this.generation;
  }

  /** Resolves when the current clean-up pass (if any) has finished (tests). */
  async cleanupSettled(): Promise<void> {
    await this.cleaning;
  }

  private startCleanup(): void {
    if (this.cleaningGen === this.generation) return;
    const gen = (this.cleaningGen = this.generation);
    this.cleaning = this.cleanup(gen)
      .catch((err: unknown) => {
        // A pass stopped by the engine closing (a snapshot installed, the replica closed) is not a failure.
        if (gen === this.generation) this.options.onError?.(err);
      })
      .finally(() => {
        if (this.cleaningGen === gen) this.cleaningGen = -1;
      });
  }

  /**
   * Deletes the keys this shard no longer owns, a batch at a time between
   * other work, and records the range it did so for. Directly in the
   * engine, not through the log: no replica serves those keys any more,
   * so deleting them changes nothing anyone can observe. A crash loses
   * unflushed deletions and the record together, and the pass runs again.
   */
  private async cleanup(gen: number): Promise<void> {
    for (;;) {
      const o = this.ownership;
      if (o === undefined || gen !== this.generation) return;
      const db = this.kv.db;
      const tag = encodeOwnership({ ...o, children: [] });
      const done = db.getSync(CLEANED_KEY);
      if (done !== undefined && done.equals(tag)) return;
      const it = db.iterator({ lt: SYSTEM_PREFIX, fillCache: false });
      try {
        for (;;) {
          if (gen !== this.generation) return;
          const chunk = it.nextvSync(CLEANUP_BATCH);
          if (chunk.length === 0) break;
          const b = new WriteBatch();
          let n = 0;
          for (const [k] of chunk) {
            if (!inRange(k, o, o.n0)) {
              b.delete(k);
              n++;
            }
          }
          if (n > 0) {
            await db.write(b, { disableWal: true });
            this.cleanedKeys += n;
          }
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } finally {
        it.close();
      }
      if (gen !== this.generation) return;
      if (this.ownership !== o) continue; // split again meanwhile: another pass for the new range
      await db.write(new WriteBatch().put(CLEANED_KEY, tag), { disableWal: true });
      return;
    }
  }

  private session(client: string): SessionRecord | undefined {
    const cached = this.sessionCache.get(client);
    if (cached !== undefined) return cached;
    const raw = this.kv.db.getSync(sessionKey(client));
    if (raw === undefined) return undefined;
    const v = payloadOf(raw);
    const expireAtMs = expiryOf(raw);
    if (v === null || v.length < 8 || expireAtMs === null) throw new StrataError(ERROR_CODES.CORRUPTION, `session record of ${client} is malformed`);
    const rec = { seq: v.readDoubleLE(0), response: v.subarray(8), expireAtMs };
    this.cacheSession(client, rec);
    return rec;
  }

  private cacheSession(client: string, rec: SessionRecord): void {
    this.sessionCache.delete(client);
    this.sessionCache.set(client, rec);
    if (this.sessionCache.size > SESSION_CACHE) this.sessionCache.delete(this.sessionCache.keys().next().value as string);
  }
}

/** The keys a write touches (each must be owned by the shard). */
function writeKeys(w: KvWrite): Uint8Array[] {
  switch (w.op) {
    case 'set':
    case 'update':
      return [w.key];
    case 'setMany':
      return w.pairs.map((p) => p[0]);
    case 'delete':
      return w.keys;
    case 'batch':
      return w.ops.map((o) => o.key);
    case 'clear':
    case 'split':
      return [];
  }
}

function encodeOwnership(o: ShardOwnership): Buffer {
  return encodeExpiringValue(Buffer.from(JSON.stringify({ shard: o.shard, n0: o.n0, base: o.base, lo: o.lo, hi: o.hi, children: o.children }), 'utf8'), undefined);
}

function readOwnership(raw: Buffer): ShardOwnership {
  const v = payloadOf(raw);
  let o: unknown;
  try {
    o = v === null ? undefined : JSON.parse(v.toString('utf8'));
  } catch {
    o = undefined;
  }
  const bad = checkOwnership(o);
  if (bad !== undefined) throw new StrataError(ERROR_CODES.CORRUPTION, `the shard's range record is malformed: ${bad}`);
  return o as ShardOwnership;
}

function sessionKey(client: string): Buffer {
  return Buffer.concat([SESSION_PREFIX, Buffer.from(client, 'utf8')]);
}

function encodeSession(seq: number, response: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + response.length);
  b.writeDoubleLE(seq, 0);
  b.set(response, 8);
  return b;
}

/** The applied record: f64 index | f64 log time (ms). */
function encodeApplied(index: number, timeMs: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeDoubleLE(index, 0);
  b.writeDoubleLE(timeMs, 8);
  return encodeExpiringValue(b, undefined);
}

function readApplied(raw: Buffer): { index: number; timeMs: number } {
  const v = payloadOf(raw);
  if (v === null || v.length !== 16) throw new StrataError(ERROR_CODES.CORRUPTION, 'applied index record is malformed');
  return { index: v.readDoubleLE(0), timeMs: v.readDoubleLE(8) };
}
