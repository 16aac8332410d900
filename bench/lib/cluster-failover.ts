/**
 * Failover trials of `npm run bench:cluster`: how long a key cannot be
 * written after kill -9 of its leader, on a real 3-process cluster.
 *
 * One trial, the same for both systems:
 *  1. find the leader (etcd: the member every member names; StrataDB: the
 *     leader of a randomly drawn shard, from the shard map) and a key it
 *     leads (StrataDB: a key of that shard; etcd: any key);
 *  2. an open-loop writer puts that key every `intervalMs` through the two
 *     surviving members/nodes only (alternating), each write on its own
 *     stream (etcd: one gRPC call per write over the client's HTTP/2
 *     channels; StrataDB: a RESP connection from a pool that has no other
 *     command in flight), each given up after `writeTimeoutMs` (etcd: gRPC
 *     deadline; StrataDB: the connection is dropped), no client retries;
 *  3. after ≥ 20 acknowledged writes and ≥ 1 s, plus a uniform 0–999 ms (so
 *     the kill falls at any phase of the heartbeat and election timers),
 *     SIGKILL the leader's process by PID;
 *  4. measure from the kill to (a) the first acknowledged write that was
 *     sent after the kill — the write-unavailability window — and (b) a
 *     surviving member reporting another leader (polled every 20 ms);
 *  5. stop the writer, restart the killed process on its data and wait
 *     until the cluster is healthy again before the next trial.
 */
import { Redis } from 'ioredis';
import type { Etcd3 } from 'etcd3';
import type { SeededRandom } from '../../src/base/index.js';
import type { LocalCluster } from '../../src/cli/local-cluster.js';
import { ShardRouter } from '../../src/cluster/routing.js';
import { rawClient } from './cluster-etcd.js';
import type { EtcdCluster } from './cluster-etcd.js';
import { status } from './cluster-load.js';

export interface FailoverOptions {
  trials: number;
  intervalMs: number;
  writeTimeoutMs: number;
  limitMs: number;
  valueBytes: number;
  rnd: SeededRandom;
}

export interface FailoverTrial {
  trial: number;
  ok: boolean;
  error?: string;
  /** The killed process (etcd member name or StrataDB node id), and for StrataDB the shard whose leader it was. */
  killed: string;
  shard?: number;
  /** How many shards the killed StrataDB node led (all of them lose their leader at once). */
  shardsLed?: number;
  /** ms from the kill to the first acknowledged write sent after it. */
  writeMs: number;
  /** ms from the kill to a surviving member reporting another leader. */
  leaderMs: number;
  /** Term of the new leader minus the old one (-1 if unknown). */
  terms: number;
  /** Writes sent before the kill and acknowledged after it (committed by the new leader, or answered late). */
  ackedAcrossKill: number;
  /** Writes sent after the kill that failed before the first success, by error text. */
  errorsInWindow: Record<string, number>;
  /** Writes given up at the client timeout among those sent after the kill. */
  timeouts: number;
  writesBeforeKill: number;
  /** ms from the kill until the killed process was restarted and the cluster healthy again. */
  restoreMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 160);
/** Groups error texts that differ only in numbers (ports, indexes, ids). */
const errKey = (msg: string): string => msg.replace(/\d+/g, '#');

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`client timeout after ${ms} ms`);
  }
}

interface Writer {
  write(): Promise<void>;
  close(): Promise<void>;
}

interface Target {
  killed: string;
  shard?: number;
  shardsLed?: number;
  oldTerm: number;
  writer: Writer;
  kill: () => Promise<void>;
  /** The new leader's term once a surviving member names another leader, else undefined. */
  newLeaderTerm: () => Promise<number | undefined>;
  /** The term once a write went through again, when newLeaderTerm's may lag (etcd's Status reports the term of the last applied entry). */
  termAfter?: () => Promise<number | undefined>;
  restore: () => Promise<void>;
}

interface Rec {
  sent: number;
  acked?: number;
  failed?: number;
  err?: string;
  timeout?: boolean;
}

async function runTrial(trial: number, t: Target, o: FailoverOptions): Promise<FailoverTrial> {
  const recs: Rec[] = [];
  let stopped = false;
  let acks = 0;
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  let slot = 0;
  const tick = (): void => {
    if (stopped) return;
    const rec: Rec = { sent: performance.now() };
    recs.push(rec);
    const p = t.writer.write().then(
      () => {
        rec.acked = performance.now();
        acks++;
      },
      (err: unknown) => {
        rec.failed = performance.now();
        rec.err = errText(err);
        rec.timeout = err instanceof TimeoutError;
      },
    );
    pending.add(p);
    void p.finally(() => pending.delete(p));
    // Fixed-rate slots; a late event loop skips the slots it missed rather than bursting.
    const now = performance.now();
    slot = Math.max(slot + 1, Math.floor((now - start) / o.intervalMs) + 1);
    setTimeout(tick, Math.max(0, start + slot * o.intervalMs - now));
  };
  const base: FailoverTrial = { trial, ok: false, killed: t.killed, writeMs: NaN, leaderMs: NaN, terms: -1, ackedAcrossKill: 0, errorsInWindow: {}, timeouts: 0, writesBeforeKill: 0, restoreMs: NaN };
  if (t.shard !== undefined) base.shard = t.shard;
  if (t.shardsLed !== undefined) base.shardsLed = t.shardsLed;
  tick();
  try {
    // Steady writes first.
    const warmDeadline = performance.now() + 30_000;
    while (acks < 20 || performance.now() - start < 1000) {
      if (performance.now() > warmDeadline) throw new Error(`only ${acks} writes acknowledged in 30 s before the kill`);
      await sleep(20);
    }
    await sleep(o.rnd.int(0, 999));
    const killAt = performance.now();
    base.writesBeforeKill = acks;
    const killed = t.kill();
    // (b) poll for another leader.
    let leaderAt: number | undefined;
    let newTerm: number | undefined;
    const poll = (async () => {
      while (!stopped && leaderAt === undefined) {
        const term = await t.newLeaderTerm().catch(() => undefined);
        if (term !== undefined) {
          leaderAt = performance.now();
          newTerm = term;
          return;
        }
        await sleep(20);
      }
    })();
    await killed;
    // (a) wait for the first write sent after the kill to be acknowledged.
    const firstAck = (): number | undefined => {
      let best: number | undefined;
      for (const r of recs) if (r.sent >= killAt && r.acked !== undefined && (best === undefined || r.acked < best)) best = r.acked;
      return best;
    };
    while ((firstAck() === undefined || leaderAt === undefined) && performance.now() - killAt < o.limitMs) await sleep(10);
    const ack = firstAck();
    stopped = true;
    await poll;
    await Promise.all([...pending]);
    base.writeMs = ack === undefined ? NaN : ack - killAt;
    base.leaderMs = leaderAt === undefined ? NaN : leaderAt - killAt;
    if (ack !== undefined && t.termAfter !== undefined) newTerm = (await t.termAfter().catch(() => undefined)) ?? newTerm;
    base.terms = newTerm === undefined ? -1 : newTerm - t.oldTerm;
    base.ackedAcrossKill = recs.filter((r) => r.sent < killAt && r.acked !== undefined && r.acked >= killAt).length;
    const windowEnd = ack ?? Infinity;
    for (const r of recs) {
      if (r.sent < killAt || r.err === undefined || r.failed! > windowEnd) continue;
      const k = errKey(r.err);
      base.errorsInWindow[k] = (base.errorsInWindow[k] ?? 0) + 1;
    }
    base.timeouts = recs.filter((r) => r.sent >= killAt && r.timeout === true).length;
    base.ok = ack !== undefined && leaderAt !== undefined;
    if (!base.ok) base.error = `not recovered within ${o.limitMs} ms of the kill (write ${ack === undefined ? 'none' : 'ok'}, new leader ${leaderAt === undefined ? 'not seen' : 'seen'})`;
    await t.restore();
    base.restoreMs = performance.now() - killAt;
  } catch (err) {
    base.error = errText(err);
  } finally {
    stopped = true;
    await Promise.all([...pending]);
    await t.writer.close();
  }
  return base;
}

export function fmtTrial(r: FailoverTrial): string {
  const errs = Object.entries(r.errorsInWindow)
    .map(([m, c]) => `${c}× ${m}`)
    .join('; ');
  return r.ok
    ? `write ${Math.round(r.writeMs)} ms, new leader seen ${Math.round(r.leaderMs)} ms (+${r.terms} term${r.terms === 1 ? '' : 's'}), killed ${r.killed}${r.shard !== undefined ? ` (leader of shard ${r.shard} and ${(r.shardsLed ?? 1) - 1} other(s))` : ''}${errs ? `; failed writes in the window: ${errs}` : ''}`
    : `FAILED: ${r.error ?? '?'}`;
}

// ------------------------------------------------------------------ etcd

export async function etcdFailover(cluster: EtcdCluster, o: FailoverOptions): Promise<FailoverTrial[]> {
  const out: FailoverTrial[] = [];
  const value = Buffer.alloc(o.valueBytes, 'f');
  for (let trial = 1; trial <= o.trials; trial++) {
    await cluster.waitHealthy();
    const leader = await cluster.leaderIndex();
    if (leader < 0) throw new Error('etcd: no agreed leader');
    const oldTerm = (await cluster.status(leader))?.raftTerm ?? 0;
    const survivors = cluster.members.filter((m) => m.index !== leader).map((m) => m.index);
    const client: Etcd3 = rawClient(survivors.map((i) => cluster.endpoint(i)));
    const oldId = cluster.members[leader]!.memberId;
    const writer: Writer = {
      write: async () => {
        try {
          await client.put('failover-key').value(value).options({ deadline: Date.now() + o.writeTimeoutMs }).exec();
        } catch (err) {
          if (/DEADLINE_EXCEEDED|deadline exceeded/i.test(errText(err)) || (err as { code?: number }).code === 4) throw new TimeoutError(o.writeTimeoutMs);
          throw err;
        }
      },
      close: async () => client.close(),
    };
    const r = await runTrial(
      trial,
      {
        killed: cluster.members[leader]!.name,
        oldTerm,
        writer,
        kill: () => cluster.kill(leader),
        newLeaderTerm: async () => {
          const st = await Promise.all(survivors.map((i) => cluster.status(i, 200)));
          const s = st.find((x) => x !== undefined && x.leader !== '0' && x.leader !== oldId);
          return s?.raftTerm;
        },
        termAfter: async () => {
          const st = await Promise.all(survivors.map((i) => cluster.status(i, 500)));
          const terms = st.filter((x) => x !== undefined).map((x) => x!.raftTerm);
          return terms.length > 0 ? Math.max(...terms) : undefined;
        },
        restore: async () => {
          await cluster.restart(leader);
          await cluster.waitHealthy();
        },
      },
      o,
    );
    out.push(r);
    status(`  etcd failover ${trial}/${o.trials}: ${fmtTrial(r)}`);
    if (!r.ok && cluster.members[leader]!.child === undefined) {
      await cluster.restart(leader);
      await cluster.waitHealthy();
    }
    await sleep(500);
  }
  return out;
}

// ------------------------------------------------------------------ StrataDB

interface ShardMap {
  shards: Array<{ id: number; leader: string; term: number; replicas: string[] }>;
}

/** A key of `shard` in a keyspace of `shards` shards never split (routing.ts). */
export function keyOfShard(shard: number, shards: number): string {
  const router = new ShardRouter(shards, Array.from({ length: shards }, (_, id) => ({ id })));
  for (let i = 0; ; i++) {
    const k = `failover-${i}`;
    if (router.shardOf(Buffer.from(k)) === shard) return k;
  }
}

/**
 * An open-loop RESP writer: each write takes an idle connection from a pool
 * (alternating between the given ports) or opens one, so no write waits
 * behind another on a connection; a write unanswered after `timeoutMs`
 * drops its connection.
 */
class RespPoolWriter implements Writer {
  private readonly idle = new Map<number, Redis[]>();
  private readonly all = new Set<Redis>();
  private turn = 0;
  constructor(
    private readonly ports: number[],
    private readonly key: string,
    private readonly value: Buffer,
    private readonly timeoutMs: number,
  ) {
    for (const p of ports) this.idle.set(p, []);
  }

  private open(port: number): Redis {
    const c = new Redis({ host: '127.0.0.1', port, enableAutoPipelining: false, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false, connectTimeout: this.timeoutMs });
    c.on('error', () => {
      // Surfaced through the command's promise.
    });
    this.all.add(c);
    return c;
  }

  async prime(perPort: number): Promise<void> {
    for (const p of this.ports) {
      const conns = Array.from({ length: perPort }, () => this.open(p));
      await Promise.all(conns.map((c) => c.ping()));
      this.idle.get(p)!.push(...conns);
    }
  }

  async write(): Promise<void> {
    const port = this.ports[this.turn++ % this.ports.length]!;
    const c = this.idle.get(port)!.pop() ?? this.open(port);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new TimeoutError(this.timeoutMs)), this.timeoutMs);
    });
    try {
      await Promise.race([c.set(this.key, this.value), timeout]);
      this.idle.get(port)!.push(c);
    } catch (err) {
      if (err instanceof TimeoutError || c.status !== 'ready') {
        this.all.delete(c);
        c.disconnect();
      } else {
        this.idle.get(port)!.push(c); // an error reply: the connection is fine
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    for (const c of this.all) c.disconnect();
    this.all.clear();
  }
}

export async function strataFailover(cluster: LocalCluster, shards: number, o: FailoverOptions): Promise<FailoverTrial[]> {
  const out: FailoverTrial[] = [];
  const value = Buffer.alloc(o.valueBytes, 'f');
  for (let trial = 1; trial <= o.trials; trial++) {
    await cluster.waitHealthy();
    const shard = o.rnd.int(0, shards - 1);
    const map = await cluster.coordinator<ShardMap>(0, 'shard-map');
    const info = map.shards.find((s) => s.id === shard);
    if (info === undefined || info.leader === '') throw new Error(`StrataDB: shard ${shard} has no leader in the shard map`);
    const leader = cluster.nodes.findIndex((n) => n.id === info.leader);
    if (leader < 0) throw new Error(`StrataDB: shard ${shard}'s leader ${info.leader} is not a known node`);
    const survivors = cluster.nodes.filter((n) => n.index !== leader);
    const key = keyOfShard(shard, shards);
    const writer = new RespPoolWriter(
      survivors.map((n) => n.ports.resp),
      key,
      value,
      o.writeTimeoutMs,
    );
    await writer.prime(16);
    const r = await runTrial(
      trial,
      {
        killed: info.leader,
        shard,
        shardsLed: map.shards.filter((s) => s.leader === info.leader).length,
        oldTerm: info.term,
        writer,
        kill: () => cluster.kill(leader),
        newLeaderTerm: async () => {
          const maps = await Promise.all(survivors.map((n) => cluster.coordinator<ShardMap>(n.index, 'shard-map').catch(() => undefined)));
          for (const m of maps) {
            const s = m?.shards.find((x) => x.id === shard);
            if (s !== undefined && s.leader !== '' && s.leader !== info.leader) return s.term;
          }
          return undefined;
        },
        restore: async () => {
          await cluster.restart(leader);
          await cluster.waitHealthy();
        },
      },
      o,
    );
    out.push(r);
    status(`  StrataDB failover ${trial}/${o.trials}: ${fmtTrial(r)}`);
    if (!r.ok && cluster.nodes[leader]!.child === undefined) {
      await cluster.restart(leader);
      await cluster.waitHealthy();
    }
    await sleep(500);
  }
  return out;
}
