/**
 * The throughput half of `npm run bench:raft`: N Raft cores in this process,
 * joined by an in-memory FIFO transport, each persisting its Readys to its
 * own log (MemoryRaftLog, or DiskRaftLog on the real file system), with a
 * driver that keeps K proposals outstanding on the leader.
 *
 * The Ready contract (src/replication/raft/raft.ts): persist hard state,
 * entries and snapshot, sync when the Ready needs it, then send, apply and
 * `advance`. One Ready per node is outstanding at a time; messages that
 * arrive meanwhile are stepped into the core and go out with its next Ready,
 * which is where batching (and, on disk, group commit) comes from.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeFs, SeededRandom } from '../../src/base/index.js';
import { bootstrapLog, DiskRaftLog, EntryType, MemoryRaftLog, MessageType, Raft, type Message, type RaftLogStore, type Ready } from '../../src/replication/index.js';

export const PAYLOAD_BYTES = 100;
/** Wall-clock milliseconds per Raft tick while a throughput run goes (heartbeat 1 tick, election 10, as etcd). */
const TICK_MS = 100;

export interface ThroughputParams {
  nodes: number;
  inflight: number;
  entries: number;
  storage: 'memory' | 'disk';
  /** Disk only: stop a run after this many wall-clock seconds (the rate is then over the entries committed so far). */
  maxSeconds: number;
  seed: number;
  /** Called every ~200 ms (TTY) with the entries committed so far. */
  progress: (done: number) => void;
}

export interface ThroughputResult {
  nodes: number;
  inflight: number;
  storage: 'memory' | 'disk';
  /** Client entries committed (applied on the leader) in the timed window. */
  committed: number;
  target: number;
  /** The run hit maxSeconds before `target`. */
  capped: boolean;
  seconds: number;
  commitsPerSec: number;
  /** Every message any node sent in the window. */
  messages: number;
  /** Append messages that carried at least one entry, and the entries they carried. */
  appsWithEntries: number;
  appEntries: number;
  /** Ready-level syncs (each at least one fdatasync on disk) on all nodes, and the entries they made durable. */
  syncs: number;
  syncedEntries: number;
  leaderSyncs: number;
  leaderSyncedEntries: number;
  readys: number;
  ticks: number;
  rssPeakBytes: number;
}

interface Node {
  index: number;
  id: string;
  raft: Raft;
  log: RaftLogStore;
  /** A Ready handed out and not yet advanced (waiting for its sync). */
  busy: boolean;
}

/**
 * The cluster and its transport. Messages go into one FIFO queue; delivering
 * one steps it into the target core and pumps that node's Readys. With
 * `durable` false (MemoryRaftLog, whose sync() makes nothing more durable) a
 * Ready completes synchronously; with `durable` true the driver awaits the
 * log's sync() before it sends, applies and advances.
 */
class Cluster {
  readonly nodes: Node[] = [];
  private q: Message[] = [];
  private qHead = 0;
  private draining = false;
  /** Counting is on only inside the timed window. */
  counting = false;
  stats = { messages: 0, appsWithEntries: 0, appEntries: 0, syncs: 0, syncedEntries: 0, leaderSyncs: 0, leaderSyncedEntries: 0, readys: 0 };
  failure: unknown;
  /** Called for each committed client entry as the leader applies it. */
  onLeaderApply: (n: number) => void = () => {};
  /** Called every 1,024 deliveries (ticks and progress in the synchronous mode). */
  onBeat: () => void = () => {};
  private beat = 0;

  constructor(
    private readonly durable: boolean,
    logs: RaftLogStore[],
    seed: number,
  ) {
    const ids = logs.map((_, i) => `n${i + 1}`);
    logs.forEach((log, i) => {
      const raft = new Raft({ id: ids[i]!, storage: log, random: new SeededRandom(seed * 97 + i), electionTicks: 10, heartbeatTicks: 1 });
      this.nodes.push({ index: i, id: ids[i]!, raft, log, busy: false });
    });
  }

  node(id: string): Node {
    return this.nodes[Number(id.slice(1)) - 1]!;
  }

  leader(): Node | undefined {
    return this.nodes.find((n) => n.raft.role === 'leader');
  }

  /** Hands out and persists this node's Readys until one must wait for its sync. */
  pump(node: Node): void {
    while (!node.busy && this.failure === undefined && node.raft.hasReady()) {
      const rd = node.raft.ready();
      if (rd.snapshot) node.log.applySnapshot(rd.snapshot);
      node.log.append(rd.entries);
      if (rd.hardState) node.log.setHardState(rd.hardState);
      const needsSync = rd.mustSync || rd.snapshot !== undefined || rd.entries.length > 0;
      if (this.counting) {
        this.stats.readys++;
        if (needsSync) {
          this.stats.syncs++;
          this.stats.syncedEntries += rd.entries.length;
          if (node.raft.role === 'leader') {
            this.stats.leaderSyncs++;
            this.stats.leaderSyncedEntries += rd.entries.length;
          }
        }
      }
      if (this.durable && needsSync) {
        node.busy = true;
        node.log.sync().then(
          () => {
            node.busy = false;
            this.complete(node, rd);
            this.pump(node);
            this.deliverAll();
          },
          (err: unknown) => {
            this.failure ??= err;
          },
        );
        return;
      }
      this.complete(node, rd);
    }
  }

  /** After persistence: send, apply, advance. */
  private complete(node: Node, rd: Ready): void {
    for (const m of rd.messages) {
      if (this.counting) {
        this.stats.messages++;
        if (m.type === MessageType.App && m.entries.length > 0) {
          this.stats.appsWithEntries++;
          this.stats.appEntries += m.entries.length;
        }
      }
      this.q.push(m);
    }
    if (node.raft.role === 'leader') {
      let n = 0;
      for (const e of rd.committedEntries) if (e.type === EntryType.Normal && e.data.length === PAYLOAD_BYTES) n++;
      if (n > 0) this.onLeaderApply(n);
    }
    node.raft.advance(rd);
  }

  /** Delivers queued messages (FIFO) until the queue is empty; re-entrant calls return at once. */
  deliverAll(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.qHead < this.q.length && this.failure === undefined) {
        const m = this.q[this.qHead++]!;
        const to = this.node(m.to);
        to.raft.step(m);
        this.pump(to);
        if (++this.beat >= 1024) {
          this.beat = 0;
          this.onBeat();
        }
        if (this.qHead >= 65536) {
          this.q = this.q.slice(this.qHead);
          this.qHead = 0;
        }
      }
      if (this.qHead >= this.q.length) {
        this.q = [];
        this.qHead = 0;
      }
    } finally {
      this.draining = false;
    }
  }

}

function makePayloadPool(seed: number): Uint8Array {
  const rnd = new SeededRandom(seed);
  const pool = new Uint8Array(PAYLOAD_BYTES * 1024);
  for (let i = 0; i < pool.length; i++) pool[i] = rnd.int(0, 255);
  return pool;
}

/** One throughput run. Disk runs create their logs under a fresh os.tmpdir() directory and remove it. */
export async function runThroughput(p: ThroughputParams): Promise<ThroughputResult> {
  const durable = p.storage === 'disk';
  const dir = durable ? mkdtempSync(join(tmpdir(), 'strata-bench-raft-')) : undefined;
  const ids = Array.from({ length: p.nodes }, (_, i) => `n${i + 1}`);
  const logs: RaftLogStore[] = [];
  try {
    const fs = new NodeFs();
    for (let i = 0; i < p.nodes; i++) {
      const log = durable ? DiskRaftLog.open(fs, join(dir!, ids[i]!)) : new MemoryRaftLog();
      logs.push(log);
      bootstrapLog(log, ids);
      await log.sync();
    }
    const c = new Cluster(durable, logs, p.seed);
    const pool = makePayloadPool(p.seed);

    // Elect n1 and let its first (empty) entry commit everywhere before timing.
    c.nodes[0]!.raft.campaign();
    c.pump(c.nodes[0]!);
    c.deliverAll();
    // (No ticks here: on disk a tick per poll would shrink the election timeout to milliseconds.)
    const settled = (): boolean => {
      const l = c.leader();
      return l !== undefined && c.nodes.every((n) => n.raft.log.applied === l.raft.log.lastIndex());
    };
    for (let i = 0; i < 2000 && !settled() && c.failure === undefined; i++) {
      await new Promise<void>((r) => setTimeout(r, 5));
      c.deliverAll();
    }
    if (c.failure !== undefined) throw c.failure;
    const leader = c.leader();
    if (!leader) throw new Error('no leader elected before the run');

    let committed = 0;
    let proposed = 0;
    let done = false;
    let capped = false;
    let endNs = 0n;
    let ticks = 0;
    let rssPeak = process.memoryUsage.rss();
    const target = p.entries;
    const propose = (): void => {
      while (!done && proposed - committed < p.inflight && proposed < target) {
        const off = (proposed & 1023) * PAYLOAD_BYTES;
        const r = leader.raft.propose(pool.subarray(off, off + PAYLOAD_BYTES));
        if (!r.ok) throw new Error(`proposal refused: ${r.reason}`);
        if ('forwarded' in r) throw new Error(`${leader.id} lost leadership during the run`);
        proposed++;
      }
    };
    let finish: () => void = () => {};
    const finished = new Promise<void>((r) => (finish = r));
    c.onLeaderApply = (n) => {
      committed += n;
      if (committed >= target) {
        if (!done) {
          done = true;
          endNs = process.hrtime.bigint();
          c.counting = false;
          finish();
        }
        return;
      }
      propose();
    };
    const startNs = process.hrtime.bigint();
    let lastTick = startNs;
    let lastDraw = startNs;
    const drawEveryNs = BigInt(process.stderr.isTTY ? 200 : 10_000) * 1_000_000n;
    const maxNs = Number.isFinite(p.maxSeconds) ? BigInt(Math.round(p.maxSeconds * 1000)) * 1_000_000n : undefined;
    /** Wall-clock ticks and the progress line; in the synchronous mode from inside the delivery loop. */
    const housekeeping = (): void => {
      const now = process.hrtime.bigint();
      if (now - lastTick >= BigInt(TICK_MS) * 1_000_000n) {
        lastTick = now;
        ticks++;
        for (const n of c.nodes) n.raft.tick();
        for (const n of c.nodes) c.pump(n);
        const rss = process.memoryUsage.rss();
        if (rss > rssPeak) rssPeak = rss;
      }
      if (now - lastDraw >= drawEveryNs) {
        lastDraw = now;
        p.progress(committed);
      }
      if (maxNs !== undefined && !done && now - startNs >= maxNs) {
        done = true;
        capped = true;
        endNs = now;
        c.counting = false;
        finish();
      }
    };
    c.onBeat = housekeeping;
    c.counting = true;
    p.progress(0);
    propose();
    c.pump(leader);
    c.deliverAll();
    if (durable) {
      // Asynchronous: fsync completions drive the cluster; a timer ticks and draws.
      const timer = setInterval(() => {
        housekeeping();
        c.deliverAll();
      }, 20);
      const failed = new Promise<void>((_, reject) => {
        const poll = setInterval(() => {
          if (c.failure !== undefined) {
            clearInterval(poll);
            reject(c.failure instanceof Error ? c.failure : new Error(String(c.failure)));
          }
          if (done) clearInterval(poll);
        }, 50);
      });
      try {
        await Promise.race([finished, failed]);
      } finally {
        clearInterval(timer);
      }
      // Let the syncs still in flight settle before the logs are closed.
      for (let i = 0; i < 500 && c.nodes.some((n) => n.busy); i++) await new Promise<void>((r) => setTimeout(r, 2));
    } else {
      if (!done) throw new Error(`run stalled at ${committed}/${target} committed`);
    }
    if (c.failure !== undefined) throw c.failure;
    // Guard: one leader throughout, and every follower's committed prefix matches the leader's log.
    if (c.leader() !== leader) throw new Error(`${leader.id} is no longer the only leader after the run`);
    for (const n of c.nodes) {
      const i = n.raft.log.committed;
      if (n.raft.log.term(i) !== leader.raft.log.term(i)) {
        throw new Error(`${n.id} committed ${i} (term ${n.raft.log.term(i)}) does not match leader ${leader.id} (term ${leader.raft.log.term(i)})`);
      }
    }
    const seconds = Number(endNs - startNs) / 1e9;
    const s = c.stats;
    return {
      nodes: p.nodes,
      inflight: p.inflight,
      storage: p.storage,
      committed,
      target,
      capped,
      seconds,
      commitsPerSec: committed / seconds,
      messages: s.messages,
      appsWithEntries: s.appsWithEntries,
      appEntries: s.appEntries,
      syncs: s.syncs,
      syncedEntries: s.syncedEntries,
      leaderSyncs: s.leaderSyncs,
      leaderSyncedEntries: s.leaderSyncedEntries,
      readys: s.readys,
      ticks,
      rssPeakBytes: rssPeak,
    };
  } finally {
    for (const log of logs) {
      try {
        log.close();
      } catch {
        // Best effort: the directory goes next anyway.
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
