/**
 * One replica of a Raft keyspace's shard: its own engine (through the
 * LocalKvService, so every Redis-style operation means exactly what it
 * means on a single node) applying the shard's committed log. The Raft log
 * is the shard's write-ahead log; the engine's own WAL is not synced. The
 * writes of the entries one Ready applies, the applied index and the client
 * sessions they touch go to the engine in one batch, so after a crash the
 * engine holds all of them or none, and replay resumes after the applied
 * index it holds.
 */
import { ERROR_CODES, StrataError, corruption, systemClock } from '../base/index.js';
import type { Clock, Fs, KeyValueService } from '../base/index.js';
import { LocalKvService, WriteBatch, encodeExpiringValue, payloadOf } from '../engine/index.js';
import type { OpenOptions } from '../engine/index.js';
import { EntryType } from '../replication/index.js';
import type { Entry, Snapshot } from '../replication/index.js';
import { decodeKvCommand, encodeReadOutcome, encodeWriteOutcome, failure } from './kv-command.js';
import type { KvOutcome, KvRead, KvReadResult, KvWrite, KvWriteResult } from './kv-command.js';
import type { StateMachine } from './raft-group.js';

/** Keys from 0xFF 0xFF on belong to the replica (clients may not use them). */
export const SYSTEM_PREFIX = Buffer.from([0xff, 0xff]);
const APPLIED_KEY = Buffer.concat([SYSTEM_PREFIX, Buffer.from('applied')]);
const SESSION_PREFIX = Buffer.concat([SYSTEM_PREFIX, Buffer.from('session/')]);

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
}

export interface ShardReplicaOptions {
  dir: string;
  fs?: Fs;
  clock?: Clock;
  engine?: Partial<OpenOptions>;
}

/** Client sessions kept in memory per replica (the engine holds them all; these skip a lookup per write). */
const SESSION_CACHE = 4096;

export class ShardStateMachine implements StateMachine {
  private appliedIndex: number;
  /** Recently used sessions, as committed to the engine (insertion order is recency). */
  private readonly sessionCache = new Map<string, SessionRecord>();

  private constructor(
    readonly kv: LocalKvService,
    private readonly clock: PinnedClock,
    /** The log's time as of the applied index (see `open`). */
    private readonly logClock: { ms: number },
  ) {
    const raw = kv.db.getSync(APPLIED_KEY);
    const applied = raw === undefined ? { index: 0, timeMs: 0 } : readApplied(raw);
    this.appliedIndex = applied.index;
    logClock.ms = applied.timeMs;
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
    const kv = await LocalKvService.open({
      dir: options.dir,
      clock,
      systemPrefix: SYSTEM_PREFIX,
      // The Raft log is the shard's write-ahead log: after a crash the log replays what the memtable lost.
      disableWal: true,
      ...(options.fs !== undefined ? { fs: options.fs } : {}),
      engine: { ...options.engine, clock: { nowMs: () => logClock.ms } },
    });
    return new ShardStateMachine(kv, clock, logClock);
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
        if (cmd.client !== '') {
          const seen = sessions.get(cmd.client) ?? this.session(cmd.client);
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
        // The entry's time: the leader's clock, but never before an entry applied earlier (leaders' clocks differ).
        const at = Math.max(cmd.nowMs, this.logClock.ms);
        if (cmd.write.op === 'clear') {
          // clear walks the engine: everything staged so far goes in first, then it runs directly.
          extra.put(APPLIED_KEY, encodeApplied(e.index - 1, this.logClock.ms));
          await this.kv.commitStage(extra);
          extra.clear();
          this.clock.pinned = at;
          try {
            outcome = { ok: true, value: { op: 'clear', deleted: await this.kv.clear() } };
          } catch (err) {
            outcome = failure(err);
          } finally {
            this.clock.pinned = undefined;
          }
          this.kv.beginStage();
        } else {
          outcome = await this.execute(cmd.write, at);
        }
        this.logClock.ms = at;
        const encoded = encodeWriteOutcome(outcome);
        out.set(e.index, encoded);
        if (cmd.client !== '') {
          sessions.set(cmd.client, { seq: cmd.seq, response: encoded });
          extra.put(sessionKey(cmd.client), encodeExpiringValue(encodeSession(cmd.seq, encoded), undefined));
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

  /** Runs one write with the leader's clock pinned for its synchronous part (where every decision is made). */
  private execute(w: KvWrite, nowMs: number): Promise<KvOutcome<KvWriteResult>> {
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
          throw new Error('clear is applied on its own');
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
   * The whole replica as of `applied`, for a Raft snapshot: every stored
   * entry (client data with its expiry header, sessions), as
   * `log time f64 | count u32 | (key length u32 | key | value length u32 | value)*`. Read
   * synchronously, so no apply interleaves. The whole shard is in memory
   * while it is built (streaming engine files comes with rebalancing).
   */
  snapshotData(): Uint8Array {
    const parts: Buffer[] = [];
    let count = 0;
    const it = this.kv.db.iterator({ fillCache: false });
    try {
      for (;;) {
        const chunk = it.nextvSync(1024);
        if (chunk.length === 0) break;
        for (const [k, v] of chunk) {
          if (k.equals(APPLIED_KEY)) continue;
          const h = Buffer.alloc(4);
          h.writeUInt32LE(k.length, 0);
          const hv = Buffer.alloc(4);
          hv.writeUInt32LE(v.length, 0);
          parts.push(h, k, hv, v);
          count++;
        }
      }
    } finally {
      it.close();
    }
    const head = Buffer.alloc(12);
    head.writeDoubleLE(this.logClock.ms, 0);
    head.writeUInt32LE(count, 8);
    return Buffer.concat([head, ...parts]);
  }

  /** Replaces everything with a snapshot's contents, in one engine batch with the snapshot's index as applied. */
  async restore(snapshot: Snapshot): Promise<void> {
    const data = Buffer.from(snapshot.data.buffer, snapshot.data.byteOffset, snapshot.data.byteLength);
    const batch = new WriteBatch();
    const it = this.kv.db.iterator({ fillCache: false });
    try {
      for (;;) {
        const chunk = it.nextvSync(1024);
        if (chunk.length === 0) break;
        for (const [k] of chunk) batch.delete(k);
      }
    } finally {
      it.close();
    }
    let snapTime = 0;
    if (data.length > 0) {
      const fail = (at: number, what: string): never => {
        throw corruption('shard snapshot', at, what);
      };
      if (data.length < 12) fail(0, 'truncated');
      snapTime = data.readDoubleLE(0);
      const count = data.readUInt32LE(8);
      let off = 12;
      for (let i = 0; i < count; i++) {
        if (off + 4 > data.length) fail(off, 'truncated key length');
        const kl = data.readUInt32LE(off);
        if (off + 4 + kl + 4 > data.length) fail(off, 'key runs past the end');
        const k = data.subarray(off + 4, off + 4 + kl);
        off += 4 + kl;
        const vl = data.readUInt32LE(off);
        if (off + 4 + vl > data.length) fail(off, 'value runs past the end');
        batch.put(k, data.subarray(off + 4, off + 4 + vl));
        off += 4 + vl;
      }
      if (off !== data.length) fail(off, 'trailing bytes');
    }
    const timeMs = Number.isFinite(snapTime) ? snapTime : 0;
    batch.put(APPLIED_KEY, encodeApplied(snapshot.meta.index, timeMs));
    await this.kv.db.write(batch, { sync: true });
    this.appliedIndex = snapshot.meta.index;
    this.logClock.ms = timeMs;
    this.sessionCache.clear();
  }

  close(): Promise<void> {
    return this.kv.close();
  }

  private session(client: string): SessionRecord | undefined {
    const cached = this.sessionCache.get(client);
    if (cached !== undefined) return cached;
    const raw = this.kv.db.getSync(sessionKey(client));
    if (raw === undefined) return undefined;
    const v = payloadOf(raw);
    if (v === null || v.length < 8) throw new StrataError(ERROR_CODES.CORRUPTION, `session record of ${client} is malformed`);
    const rec = { seq: v.readDoubleLE(0), response: v.subarray(8) };
    this.cacheSession(client, rec);
    return rec;
  }

  private cacheSession(client: string, rec: SessionRecord): void {
    this.sessionCache.delete(client);
    this.sessionCache.set(client, rec);
    if (this.sessionCache.size > SESSION_CACHE) this.sessionCache.delete(this.sessionCache.keys().next().value as string);
  }
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
