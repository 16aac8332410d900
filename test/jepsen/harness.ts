/**
 * A Jepsen-style harness against a real multi-process StrataDB cluster
 * (LocalCluster: `strata serve` processes on loopback).
 *
 * - Clients. `clients` logical clients run in this process, each with its
 *   own ioredis connection to one node (client i talks to node i mod n; any
 *   node serves any key by forwarding) and at most one operation in flight.
 *   Operations: GET k (read), SET k v (write) and SET k v IFEQ e
 *   (compare-and-set), values unique per write. Every operation is recorded
 *   Jepsen-style as an `invoke` event and one completion event:
 *     ok   — the server answered (a cas answered nil is an ok cas that did
 *            not apply: the checker verifies the value really differed);
 *     fail — certainly no effect: any failed read, and a write that was never
 *            sent (connection not writable) or refused as a syntax error;
 *     info — outcome unknown: a write that timed out, lost its connection or
 *            got any other error reply (NOT_LEADER included: the cluster
 *            retries internally, so an error does not prove the write was
 *            never proposed). After an `info` the client continues as a new
 *            process (Jepsen's convention) and reads until a read succeeds,
 *            which keeps the number of pending writes, the checker's cost,
 *            low.
 *   Times are performance.now() of this one process: `call` is taken before
 *   the command is sent, `ret` after the answer arrived, so every real
 *   interval lies inside the recorded one.
 * - Nemesis (seeded): kill -9 a random node then restart it; SIGSTOP a
 *   random node then SIGCONT it; cut a random node off from the others then
 *   heal. One fault at a time, with quiet periods between. During a
 *   partition a probe writes a fresh key through the majority, waits for the
 *   acknowledgement and then reads it through the isolated node, with the
 *   run's read mode: a linearizable read there must fail or time out, a stale
 *   (READONLY) read returns the old value, which the checker must flag (the
 *   positive control, made deterministic by the probe). `membership` grows
 *   the cluster by two nodes (replicas move onto them), then drains both
 *   back out (`DELETE /api/v1/coordinator/nodes/{id}`) and stops them: every
 *   move of the change happens inside the recorded history. `split` splits a
 *   random shard in two by hash range (POST .../shard/{id}/split) and waits
 *   until the new shard serves and the split is recorded.
 * - End: resume, restart, heal everything, wait until the cluster is
 *   healthy, read every key with linearizable reads (part of the history),
 *   then check the history with the WGL linearizability checker, and check
 *   that every key with an acknowledged write still has a value.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { SeededRandom } from '../../src/base/index.js';
import { LocalCluster } from '../../src/cli/local-cluster.js';
import { checkLinearizable, describeViolation } from '../../src/sim/index.js';
import type { CheckResult, HistoryOp, KvOpKind } from '../../src/sim/index.js';

export type FaultKind = 'kill' | 'pause' | 'partition' | 'membership' | 'split';

export interface JepsenOptions {
  seed: number;
  nodes: number;
  /** Workload keys (`k0` .. `k<keys-1>`); the partition probe adds its own `probe<n>` keys. */
  keys: number;
  clients: number;
  /**
   * How long the clients run at least: they go on until the nemesis has
   * injected every kind in `faults` once; past the first round it starts only
   * faults that end before this time.
   */
  durationMs: number;
  faults: FaultKind[];
  /** The clients' reads go over READONLY connections (stale reads allowed): the positive control. */
  staleReads?: boolean;
  /** Parent of the nodes' data directories (unused when `cluster` is given). */
  baseDir: string;
  /**
   * Run against this cluster (started by `startJepsenCluster`, healthy)
   * instead of starting one; it is left running, healthy, at the end. Give
   * each run on it its own `keyPrefix`.
   */
  cluster?: LocalCluster;
  /** Prefix of every key of the run (default ''). */
  keyPrefix?: string;
  log?: (line: string) => void;
  shards?: number;
  replicationFactor?: number;
  /** Client-side timeout of one command (default 3000 ms); a write that times out has an unknown outcome. */
  commandTimeoutMs?: number;
  /** How long a fault lasts, [min, max] ms (default [2000, 4000]). */
  faultMs?: [number, number];
  /** Quiet time after each fault, [min, max] ms (default [1500, 3000]). */
  quietMs?: [number, number];
  /** Stop issuing operations after this many (default 100_000): keeps the checker's work bounded. */
  maxOps?: number;
  /** Operation mix weights (default read 50, write 30, cas 20). */
  mix?: { read: number; write: number; cas: number };
  /** More `strata serve` arguments for every node. */
  serverArgs?: string[];
  /** Write the history (events as JSON lines) to this file. */
  historyFile?: string;
  /** Checker search budget per key (default the checker's). */
  maxStepsPerKey?: number;
}

/** One Jepsen-style history event. */
export interface JepsenEvent {
  index: number;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  process: string;
  f: KvOpKind;
  key: string;
  /** write / cas: the value written. */
  value?: string;
  /** cas: the value expected. */
  expected?: string;
  /** ok read: the value read (null = absent); ok cas: whether it applied. */
  result?: string | null | boolean;
  error?: string;
  /** ms since the run started (performance.now() of the harness). */
  time: number;
  /** The node the client talked to. */
  node: string;
  /** The op id (invoke and completion share it; it is the HistoryOp id). */
  op: number;
}

export interface FaultRecord {
  kind: FaultKind;
  node: string;
  start: number;
  end: number;
  /** partition: what the probe saw. */
  note?: string;
}

export interface JepsenStats {
  seed: number;
  /** Operations invoked (final reads and probe ops included). */
  ops: number;
  ok: number;
  fail: number;
  info: number;
  byKind: Record<KvOpKind, { ok: number; fail: number; info: number }>;
  casApplied: number;
  casRefused: number;
  /** Faults injected, in order. */
  faults: FaultRecord[];
  faultCounts: Record<FaultKind, number>;
  /** Keys whose sub-history is not linearizable, with their op count. */
  anomalies: Array<{ key: string; ops: number }>;
  /** Keys the checker could not decide within its budget. */
  undecided: Array<{ key: string; ops: number }>;
  keysChecked: number;
  longestKeyHistory: number;
  /** Keys with an acknowledged write whose final (linearizable) read found nothing. */
  lostWrites: string[];
  /** Keys the final read never managed to read. */
  finalUnread: string[];
  /** Probe writes acknowledged then read through the isolated node: what came back. */
  probes: Array<{ key: string; written: string; read: string | null | 'failed' }>;
  runMs: number;
  checkMs: number;
  totalMs: number;
}

export interface JepsenResult {
  history: HistoryOp[];
  events: JepsenEvent[];
  result: CheckResult;
  stats: JepsenStats;
  /** describeViolation of the first few anomalous keys. */
  reports: string[];
}

/** Starts a cluster the nemesis can partition (cluster.faultInjection), on loopback. */
export function startJepsenCluster(o: { nodes: number; baseDir: string; shards?: number; replicationFactor?: number; serverArgs?: string[] }): Promise<LocalCluster> {
  return LocalCluster.start({
    nodes: o.nodes,
    baseDir: o.baseDir,
    shards: o.shards ?? 4,
    replicationFactor: o.replicationFactor ?? 3,
    faultInjection: true,
    args: o.serverArgs ?? [],
    logLevel: 'error',
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** A history recorder: events in order, and the HistoryOps they make. */
class Recorder {
  readonly events: JepsenEvent[] = [];
  private readonly invocations = new Map<number, JepsenEvent>();
  private nextOp = 0;
  constructor(readonly t0: number) {}

  now(): number {
    return performance.now() - this.t0;
  }

  invoke(process: string, node: string, f: KvOpKind, key: string, value?: string, expected?: string): number {
    const op = this.nextOp++;
    const e: JepsenEvent = { index: this.events.length, type: 'invoke', process, f, key, time: this.now(), node, op };
    if (value !== undefined) e.value = value;
    if (expected !== undefined) e.expected = expected;
    this.events.push(e);
    this.invocations.set(op, e);
    return op;
  }

  complete(op: number, type: 'ok' | 'fail' | 'info', result?: string | null | boolean, error?: string): void {
    const inv = this.invocations.get(op);
    if (inv === undefined) throw new Error(`no invoke for op ${op}`);
    this.invocations.delete(op);
    const e: JepsenEvent = { ...inv, index: this.events.length, type, time: this.now() };
    if (result !== undefined) e.result = result;
    if (error !== undefined) e.error = error;
    this.events.push(e);
  }
}

/**
 * The checker's history: an ok op is complete, an info op pending (ret
 * undefined), a failed op had no effect and is left out, as is an op with no
 * completion (none are left when a run ends normally).
 */
export function historyOf(events: readonly JepsenEvent[]): HistoryOp[] {
  const done = new Map<number, JepsenEvent>();
  for (const e of events) if (e.type !== 'invoke') done.set(e.op, e);
  const out: HistoryOp[] = [];
  for (const inv of events) {
    if (inv.type !== 'invoke') continue;
    const end = done.get(inv.op);
    if (end === undefined || end.type === 'fail') continue;
    const op: HistoryOp = { id: inv.op, client: inv.process, key: inv.key, kind: inv.f, call: inv.time };
    if (inv.value !== undefined) op.value = inv.value;
    if (inv.expected !== undefined) op.expected = inv.expected;
    if (end.type === 'ok') {
      op.ret = end.time;
      if (inv.f === 'read') op.output = typeof end.result === 'string' ? end.result : undefined;
      else if (inv.f === 'cas') op.output = end.result === true;
    }
    out.push(op);
  }
  return out;
}

/** Writes the events as JSON lines (one event a line). */
export function writeHistoryJsonl(file: string, events: readonly JepsenEvent[]): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
}

type Outcome = { type: 'ok'; value: unknown } | { type: 'fail' | 'info'; error: string };

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name === 'Error' ? '' : err.name + ': '}${err.message}` : String(err);
}

/** Whether an error proves a write had no effect. */
function writeDefinitelyFailed(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // Never sent: ioredis refuses commands on a connection that is not writable.
  if (/Stream isn't writeable/.test(err.message)) return true;
  // Refused before running: a malformed command (a harness bug; counted as fail).
  return err.name === 'ReplyError' && /^ERR (syntax error|wrong number of arguments)/.test(err.message);
}

async function attempt(kind: KvOpKind, run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { type: 'ok', value: await run() };
  } catch (err) {
    if (kind === 'read' || writeDefinitelyFailed(err)) return { type: 'fail', error: errorText(err) };
    return { type: 'info', error: errorText(err) };
  }
}

function connect(port: number, opts: { timeoutMs: number; readOnly: boolean }): Redis {
  const o: RedisOptions = {
    host: '127.0.0.1',
    port,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    retryStrategy: () => 100,
    commandTimeout: opts.timeoutMs,
    connectTimeout: opts.timeoutMs,
    // READONLY is sent again after every reconnect (a new server connection starts linearizable).
    readOnly: opts.readOnly,
  };
  const r = new Redis(o);
  r.on('error', () => {}); // connection errors surface as failed commands; reconnects are automatic
  return r;
}

async function waitReady(conns: readonly Redis[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (conns.some((c) => c.status !== 'ready')) {
    if (Date.now() > deadline) throw new Error('client connections not ready');
    await sleep(20);
  }
}

/** Runs one Jepsen-style test: starts a cluster, runs clients and nemesis, checks. The cluster is stopped at the end. */
export async function runJepsen(options: JepsenOptions): Promise<JepsenResult> {
  const o = options;
  const log = o.log ?? (() => {});
  const timeoutMs = o.commandTimeoutMs ?? 3000;
  const [faultMin, faultMax] = o.faultMs ?? [2000, 4000];
  const [quietMin, quietMax] = o.quietMs ?? [1500, 3000];
  const maxOps = o.maxOps ?? 100_000;
  const mix = o.mix ?? { read: 50, write: 30, cas: 20 };
  const totalStart = performance.now();
  const own = o.cluster === undefined;
  const cluster = o.cluster ?? (await startJepsenCluster(o));
  const nodes = cluster.nodes.length;
  const prefix = o.keyPrefix ?? '';
  log(`jepsen: seed ${o.seed}, ${nodes} nodes, ${o.keys} keys, ${o.clients} clients, ${o.durationMs} ms, faults ${o.faults.join(',') || 'none'}${o.staleReads ? ', STALE READS (control)' : ''}`);

  const rec = new Recorder(performance.now());
  const faults: FaultRecord[] = [];
  const probes: JepsenStats['probes'] = [];
  const conns: Redis[] = [];
  const keys = Array.from({ length: o.keys }, (_, i) => `${prefix}k${i}`);
  const allKeys = new Set(keys);
  /** The last value known for each key (ok reads and writes), for cas's expected value. */
  const known = new Map<string, string>();
  let opsIssued = 0;
  let runMs = 0;
  const nodeName = (i: number) => cluster.nodes[i]!.id;

  try {
    // ---- connections
    const clientConns = Array.from({ length: o.clients }, (_, i) => connect(cluster.nodes[i % nodes]!.ports.resp, { timeoutMs, readOnly: o.staleReads === true }));
    conns.push(...clientConns);
    // The probe: linearizable connections for writes (longer timeout: a write may wait for an election), and read connections in the run's mode.
    const probeWriters = cluster.nodes.map((n) => connect(n.ports.resp, { timeoutMs: 2 * timeoutMs, readOnly: false }));
    const probeReaders = cluster.nodes.map((n) => connect(n.ports.resp, { timeoutMs, readOnly: o.staleReads === true }));
    conns.push(...probeWriters, ...probeReaders);
    await waitReady(conns, 30_000);

    const t0 = performance.now();
    const end = t0 + o.durationMs;
    // The clients run for the duration, and on until the nemesis has injected every kind of fault once.
    let nemesisBusy = o.faults.length > 0;
    let aborted = false;
    const running = () => !aborted && (performance.now() < end || nemesisBusy) && opsIssued < maxOps;

    /** Runs one recorded operation on `conn`. */
    const op = async (conn: Redis, process: string, node: string, f: KvOpKind, key: string, value?: string, expected?: string): Promise<Outcome> => {
      opsIssued++;
      const id = rec.invoke(process, node, f, key, value, expected);
      const out = await attempt(f, () =>
        f === 'read' ? conn.get(key) : f === 'write' ? conn.set(key, value!) : conn.call('SET', key, value!, 'IFEQ', expected!),
      );
      if (out.type === 'ok') {
        if (f === 'read') {
          const v = out.value === null ? null : String(out.value);
          rec.complete(id, 'ok', v);
          if (v !== null) known.set(key, v);
        } else if (f === 'write') {
          rec.complete(id, 'ok');
          known.set(key, value!);
        } else {
          const applied = out.value === 'OK';
          rec.complete(id, 'ok', applied);
          if (applied) known.set(key, value!);
        }
      } else rec.complete(id, out.type, undefined, out.error);
      return out;
    };

    // ---- clients
    const client = async (i: number): Promise<void> => {
      const rnd = new SeededRandom((o.seed * 7919 + i * 104_729 + 1) >>> 0);
      const conn = clientConns[i]!;
      const node = nodeName(i % nodes);
      let incarnation = 0;
      let seq = 0;
      let mustRead = false;
      const total = mix.read + mix.write + mix.cas;
      while (running()) {
        if (conn.status !== 'ready') {
          await sleep(50);
          continue;
        }
        const process = `c${i + incarnation * o.clients}`;
        const key = keys[rnd.int(0, keys.length - 1)]!;
        const pick = rnd.int(0, total - 1);
        let f: KvOpKind = mustRead || pick < mix.read ? 'read' : pick < mix.read + mix.write ? 'write' : 'cas';
        const expected = known.get(key);
        if (f === 'cas' && expected === undefined) f = 'write';
        const value = f === 'read' ? undefined : `c${i}-${seq++}`;
        const out = await op(conn, process, node, f, key, value, f === 'cas' ? expected : undefined);
        if (out.type === 'info') {
          incarnation++;
          mustRead = true;
        } else if (out.type === 'ok' && f === 'read') mustRead = false;
        if (out.type !== 'ok') await sleep(rnd.int(50, 250));
      }
    };

    // ---- nemesis
    let probeSeq = 0;
    /** The probe's process: a new one after an op with an unknown outcome (a process never has two ops open). */
    let probeProcess = 0;
    const probe = async (isolated: number, rnd: SeededRandom): Promise<string> => {
      const key = `${prefix}probe${probeSeq++}`;
      allKeys.add(key);
      const others = cluster.nodes.map((n) => n.index).filter((j) => j !== isolated);
      let written: string | undefined;
      for (let a = 0; a < 8 && written === undefined && performance.now() < end + 5000; a++) {
        const w = others[rnd.int(0, others.length - 1)]!;
        const value = `${key}-w${a}`;
        const out = await op(probeWriters[w]!, `probe${probeProcess}`, nodeName(w), 'write', key, value);
        if (out.type === 'ok') written = value;
        else {
          if (out.type === 'info') probeProcess++;
          await sleep(300);
        }
      }
      if (written === undefined) return `${key}: no write acknowledged through the majority`;
      const r = await op(probeReaders[isolated]!, `probe${probeProcess}`, nodeName(isolated), 'read', key);
      const read = r.type === 'ok' ? (r.value === null ? null : String(r.value)) : 'failed';
      probes.push({ key, written, read });
      return `${key}: wrote ${written} via majority, read on ${nodeName(isolated)} -> ${read === 'failed' ? `failed (${(r as { error: string }).error})` : JSON.stringify(read)}`;
    };

    const nemesis = async (): Promise<void> => {
      const rnd = new SeededRandom(o.seed >>> 0);
      if (o.faults.length === 0) return;
      // Every kind once (in a seeded order), then random kinds.
      const order = [...o.faults];
      for (let i = order.length - 1; i > 0; i--) {
        const j = rnd.int(0, i);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      await sleep(rnd.int(quietMin, quietMax));
      for (let n = 0; ; n++) {
        const hold = rnd.int(faultMin, faultMax);
        const quiet = rnd.int(quietMin, quietMax);
        // Every kind gets its turn; after that, only faults that end before the clients stop.
        if (n >= order.length && performance.now() + hold + 1000 > end) return;
        const kind = n < order.length ? order[n]! : o.faults[rnd.int(0, o.faults.length - 1)]!;
        const victim = rnd.int(0, nodes - 1);
        const name = kind === 'membership' || kind === 'split' ? 'cluster' : nodeName(victim);
        const start = rec.now();
        let note: string | undefined;
        log(`  ${(start / 1000).toFixed(1)}s nemesis: ${kind} ${name}${kind === 'membership' || kind === 'split' ? '' : ` for ${hold} ms`}`);
        if (kind === 'kill') {
          await cluster.kill(victim);
          await sleep(hold);
          const began = performance.now();
          await cluster.restart(victim);
          note = `restarted in ${Math.round(performance.now() - began)} ms`;
        } else if (kind === 'membership') {
          note = await growAndShrink(cluster, 2, o.replicationFactor ?? 3, 180_000);
        } else if (kind === 'split') {
          note = await splitOne(cluster, rnd, 120_000);
        } else if (kind === 'pause') {
          cluster.pause(victim);
          await sleep(hold);
          cluster.resume(victim);
        } else {
          const rest = cluster.nodes.map((m) => m.index).filter((j) => j !== victim);
          await cluster.partition([[victim], rest]);
          const began = performance.now();
          // Let the majority elect leaders for the shards the isolated node led, then probe.
          await sleep(Math.min(1200, hold));
          note = await probe(victim, rnd);
          log(`  ${(rec.now() / 1000).toFixed(1)}s probe: ${note}`);
          await sleep(hold - (performance.now() - began));
          await cluster.heal();
        }
        faults.push({ kind, node: name, start, end: rec.now(), ...(note !== undefined ? { note } : {}) });
        log(`  ${(rec.now() / 1000).toFixed(1)}s nemesis: ${kind} ${name} over${kind === 'kill' || kind === 'membership' || kind === 'split' ? ` (${note})` : ''}`);
        await sleep(quiet);
      }
    };

    const nemesisDone = nemesis()
      .catch((err: unknown) => {
        aborted = true;
        throw err;
      })
      .finally(() => (nemesisBusy = false));
    await Promise.all([...clientConns.map((_, i) => client(i)), nemesisDone]);
    runMs = performance.now() - t0;

    // ---- recovery: everything back up, then a final linearizable read of every key
    // The run's own nodes: nodes a membership change added are gone again.
    const members = cluster.nodes.slice(0, nodes);
    for (const n of members) cluster.resume(n.index);
    for (const n of members) if (n.child === undefined) await cluster.restart(n.index);
    await cluster.heal();
    await cluster.waitHealthy(60_000);
    const finalConns = members.map((n) => connect(n.ports.resp, { timeoutMs, readOnly: false }));
    conns.push(...finalConns);
    await waitReady(finalConns, 30_000);
    const queue = [...allKeys];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(8, queue.length) }, async (_, w) => {
        while (next < queue.length) {
          const key = queue[next++]!;
          for (let a = 0; a < 10; a++) {
            const j = (w + a) % nodes;
            const out = await op(finalConns[j]!, `final${w}`, nodeName(j), 'read', key);
            if (out.type === 'ok') break;
            await sleep(200);
          }
        }
      }),
    );
  } finally {
    for (const c of conns) c.disconnect();
    if (own) await cluster.stop();
  }

  // ---- checking
  const events = rec.events;
  const history = historyOf(events);
  const checkStart = performance.now();
  const checkOptions = o.maxStepsPerKey !== undefined ? { maxStepsPerKey: o.maxStepsPerKey } : {};
  const result = checkLinearizable(history, checkOptions);
  const checkMs = performance.now() - checkStart;

  const stats = summarize(o.seed, events, faults, result, probes);
  stats.runMs = runMs;
  stats.checkMs = checkMs;
  stats.totalMs = performance.now() - totalStart;
  const finalValue = new Map<string, string | null>();
  const acked = new Set<string>();
  for (const e of events) {
    if (e.type !== 'ok') continue;
    if (e.process.startsWith('final')) finalValue.set(e.key, e.result as string | null);
    else if (e.f === 'write' || (e.f === 'cas' && e.result === true)) acked.add(e.key);
  }
  for (const key of allKeys) {
    if (!finalValue.has(key)) stats.finalUnread.push(key);
    else if (acked.has(key) && finalValue.get(key) === null) stats.lostWrites.push(key);
  }
  const reports = result.violations.slice(0, 3).map((v) => describeViolation(history, v.key, checkOptions));
  if (o.historyFile !== undefined) writeHistoryJsonl(o.historyFile, events);
  log(formatStats(stats));
  return { history, events, result, stats, reports };
}

/**
 * The membership nemesis: `by` new nodes join (the planner moves replicas
 * onto them until nodes are within one), then each is drained and removed
 * and its process stopped. Checks on the way that every shard keeps its
 * replication factor. Returns what happened, with times.
 */
async function growAndShrink(cluster: LocalCluster, by: number, rf: number, timeoutMs: number): Promise<string> {
  interface Map {
    shards: Array<{ id: number; replicas: string[] }>;
    nodes: Array<{ id: string }>;
  }
  const via = cluster.nodes.findIndex((n) => n.child !== undefined);
  const until = async (what: string, ok: (map: Map, r: { moves: unknown[]; balanced: boolean }) => boolean): Promise<Map> => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      try {
        const map = await cluster.coordinator<Map>(via, 'shard-map');
        const r = await cluster.coordinator<{ moves: unknown[]; balanced: boolean }>(via, 'rebalance');
        if (ok(map, r)) return map;
      } catch {
        // an election: ask again
      }
      if (performance.now() > deadline) throw new Error(`membership change: timed out waiting until ${what}`);
      await sleep(250);
    }
  };
  const began = performance.now();
  const start = cluster.nodes.filter((n) => n.child !== undefined).length;
  const added = [];
  for (let i = 0; i < by; i++) added.push(await cluster.addNode());
  const ids = added.map((n) => n.id);
  const grown = await until('replicas moved onto the new nodes', (m, r) => r.moves.length === 0 && r.balanced && ids.every((id) => m.shards.some((s) => s.replicas.includes(id))));
  const grownMs = performance.now() - began;
  for (const id of ids) {
    const res = await fetch(cluster.url(via, `/api/v1/coordinator/nodes/${id}`), { method: 'DELETE' });
    if (res.status !== 200 && res.status !== 202) throw new Error(`membership change: removing ${id} answered ${res.status} ${await res.text()}`);
  }
  const shrunk = await until('the new nodes drained and left', (m, r) => r.moves.length === 0 && ids.every((id) => !m.nodes.some((x) => x.id === id)));
  for (const n of added) await cluster.kill(n.index);
  for (const map of [grown, shrunk]) {
    for (const s of map.shards) if (new Set(s.replicas).size !== rf) throw new Error(`membership change: shard ${s.id} has replicas ${s.replicas.join(',')}`);
  }
  return `grew ${start} → ${start + by} nodes in ${Math.round(grownMs)} ms, shrank back in ${Math.round(performance.now() - began - grownMs)} ms; every shard kept ${rf} replicas`;
}

/**
 * The split nemesis: once no replica move is in flight, splits a random
 * shard in two by hash range and waits until the new shard has a leader and
 * the split is recorded. Returns what happened, with the time.
 */
async function splitOne(cluster: LocalCluster, rnd: SeededRandom, timeoutMs: number): Promise<string> {
  interface Map {
    shards: Array<{ id: number; leader: string; splitFrom?: number }>;
  }
  type Status = { moves: unknown[]; splits: unknown[] };
  const via = cluster.nodes.findIndex((n) => n.child !== undefined);
  const deadline = performance.now() + timeoutMs;
  const until = async (what: string, ok: (map: Map, r: Status) => boolean): Promise<Map> => {
    for (;;) {
      try {
        const map = await cluster.coordinator<Map>(via, 'shard-map');
        if (ok(map, await cluster.coordinator<Status>(via, 'rebalance'))) return map;
      } catch {
        // an election: ask again
      }
      if (performance.now() > deadline) throw new Error(`split: timed out waiting until ${what}`);
      await sleep(100);
    }
  };
  const before = await until('no move or split is in flight', (_m, r) => r.moves.length === 0 && r.splits.length === 0);
  const parent = before.shards[rnd.int(0, before.shards.length - 1)]!.id;
  const began = performance.now();
  let child = -1;
  while (child < 0) {
    const res = await fetch(cluster.url(via, `/api/v1/coordinator/shard/${parent}/split`), { method: 'POST' });
    if (res.status === 202) child = ((await res.json()) as { split: { child: number } }).split.child;
    else if (res.status !== 412 || performance.now() > deadline) throw new Error(`split: shard ${parent} answered ${res.status} ${await res.text()}`);
    else await sleep(200); // a move started meanwhile: after it
  }
  const after = await until(`shard ${child} serves`, (m, r) => r.splits.length === 0 && m.shards.some((s) => s.id === child && s.splitFrom === undefined && s.leader !== ''));
  return `shard ${parent} split in ${Math.round(performance.now() - began)} ms: shard ${child} took the upper half of its range; ${after.shards.length} shards`;
}

function summarize(seed: number, events: readonly JepsenEvent[], faults: FaultRecord[], result: CheckResult, probes: JepsenStats['probes']): JepsenStats {
  const byKind: JepsenStats['byKind'] = { read: { ok: 0, fail: 0, info: 0 }, write: { ok: 0, fail: 0, info: 0 }, cas: { ok: 0, fail: 0, info: 0 } };
  let ops = 0;
  let casApplied = 0;
  let casRefused = 0;
  for (const e of events) {
    if (e.type === 'invoke') {
      ops++;
      continue;
    }
    byKind[e.f][e.type]++;
    if (e.f === 'cas' && e.type === 'ok') {
      if (e.result === true) casApplied++;
      else casRefused++;
    }
  }
  const sum = (t: 'ok' | 'fail' | 'info') => byKind.read[t] + byKind.write[t] + byKind.cas[t];
  const faultCounts: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0, membership: 0, split: 0 };
  for (const f of faults) faultCounts[f.kind]++;
  return {
    seed,
    ops,
    ok: sum('ok'),
    fail: sum('fail'),
    info: sum('info'),
    byKind,
    casApplied,
    casRefused,
    faults,
    faultCounts,
    anomalies: result.violations.map((k) => ({ key: k.key, ops: k.ops })),
    undecided: result.unknown.map((k) => ({ key: k.key, ops: k.ops })),
    keysChecked: result.keys.length,
    longestKeyHistory: result.longestKeyHistory,
    lostWrites: [],
    finalUnread: [],
    probes,
    runMs: 0,
    checkMs: 0,
    totalMs: 0,
  };
}

/** A few lines describing a run. */
export function formatStats(s: JepsenStats): string {
  const k = s.byKind;
  return [
    `seed ${s.seed}: ${s.ops} ops (ok ${s.ok}, fail ${s.fail}, info ${s.info}) in ${(s.runMs / 1000).toFixed(1)} s; ` +
      `read ${k.read.ok}/${k.read.fail}/${k.read.info}, write ${k.write.ok}/${k.write.fail}/${k.write.info}, cas ${k.cas.ok}/${k.cas.fail}/${k.cas.info} (ok/fail/info); cas applied ${s.casApplied}, refused ${s.casRefused}`,
    `  faults: ${s.faults.map((f) => `${f.kind} ${f.node} @${(f.start / 1000).toFixed(1)}s`).join(', ') || 'none'}`,
    `  checker: ${s.keysChecked} keys, longest key history ${s.longestKeyHistory}, ${(s.checkMs / 1000).toFixed(2)} s; ` +
      `anomalies ${s.anomalies.length}${s.anomalies.length > 0 ? ` (${s.anomalies.map((a) => `${a.key}:${a.ops} ops`).join(', ')})` : ''}, undecided ${s.undecided.length}; ` +
      `lost writes ${s.lostWrites.length}, unread at the end ${s.finalUnread.length}`,
  ].join('\n');
}
