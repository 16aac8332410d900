/**
 * `npm run bench:cluster`: a 3-node StrataDB cluster against a 3-member etcd
 * (Debian `etcd-server`), both on loopback on this machine, driven by the
 * same Node load generator at the same concurrency.
 *
 *   npm run bench:cluster -- [--runs 3] [--duration-ms 10000] [--concurrency 50]
 *                            [--keys 10000] [--value-bytes 100] [--failover-trials 5]
 *                            [--no-etcd] [--no-strata] [--out bench/results]
 *
 * Throughput, per run and system (alternating which system goes first; only
 * one cluster runs at a time, fresh data directories each run):
 *  1. start the cluster (StrataDB: LocalCluster, 3 nodes, replication
 *     factor 3; etcd: 3 `etcd` processes, default heartbeat/election);
 *  2. write every key once (untimed);
 *  3. put phase: `warmup-ms` untimed, then `duration-ms` (or `--ops`) timed,
 *     `concurrency` workers in a closed loop, each putting a uniformly
 *     random key; then the get phase the same way with linearizable gets
 *     (each must return a value of the right size);
 *  4. stop the cluster by PID and remove its data.
 * etcd is driven through the npm `etcd3` client (one client, all three
 * endpoints), StrataDB over RESP through `ioredis` (connections spread over
 * the three nodes; any node serves any key).
 *
 * Failover (bench/lib/cluster-failover.ts): on a fresh cluster per system,
 * `failover-trials` kill -9 trials of a leader while an open-loop writer
 * puts a key it leads through the surviving members; the median time from
 * the kill to the first acknowledged write is the failover time.
 *
 * Results: markdown on stdout and bench/results/cluster-<date>.md, JSON with
 * every run and trial (.json), and an SVG chart (.svg).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SeededRandom } from '../src/base/index.js';
import { LocalCluster } from '../src/cli/local-cluster.js';
import { defaultConfig } from '../src/node/config.js';
import { deriveSeed } from './lib/data.js';
import { USAGE, keyOf, parseClusterArgs } from './lib/cluster-config.js';
import type { ClusterBenchConfig } from './lib/cluster-config.js';
import { ETCD_ELECTION_MS, ETCD_HEARTBEAT_MS, EtcdCluster, etcdInstalled, etcdVersion } from './lib/cluster-etcd.js';
import { etcdFailover, strataFailover } from './lib/cluster-failover.js';
import type { FailoverOptions } from './lib/cluster-failover.js';
import { EtcdDriver, RespDriver, fmtCount, preload, runPhase, status } from './lib/cluster-load.js';
import { balanceLeaders, fmtLeaders, leaderCounts } from './lib/cluster-strata.js';
import type { KvDriver, PhaseResult } from './lib/cluster-load.js';
import { SYSTEM_LABELS, barCheck, fmtInt, fmtMs, fmtRatio, markdown, summarize, svgChart } from './lib/cluster-report.js';
import type { System, SystemResult, SystemRun } from './lib/cluster-report.js';
import { gitDescribe, localDate } from './lib/run-info.js';

const SCRIPT = fileURLToPath(import.meta.url);
/** The repository root: this file runs as dist/bench/cluster.js. */
const ROOT = resolve(dirname(SCRIPT), '..', '..');

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
/** The first line and, when the message carries a node's output after it, its last line. */
const errBrief = (err: unknown): string => {
  const lines = (err instanceof Error ? err.message : String(err)).split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines.length > 1 ? `${lines[0]} … ${lines[lines.length - 1]!.slice(0, 300)}` : (lines[0] ?? '');
};
/** The whole message (a node's last output lines follow the first line), bounded. */
const errFull = (err: unknown): string => {
  const m = (err instanceof Error ? err.message : String(err)).trim();
  return m.length > 3000 ? `${m.slice(0, 1000)}\n…\n${m.slice(-2000)}` : m;
};

/** Printable values (half random, half repeated), `size` bytes each. */
function valuePool(size: number, rnd: SeededRandom, count = 64): Buffer[] {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Array.from({ length: count }, () => {
    const b = Buffer.alloc(size, 'x');
    for (let i = 0; i < Math.ceil(size / 2); i++) b[i] = alphabet.charCodeAt(rnd.int(0, alphabet.length - 1));
    return b;
  });
}

/** One started cluster of either kind, as the throughput runs need it. */
interface Running {
  pids(): number[];
  /** StrataDB: shards led per node once started (after --balance-leaders if given). */
  leaders?: Record<string, number>;
  /** Processes that died, with the tail of their output (for error messages). */
  dead(): string;
  driver(): Promise<KvDriver>;
  stop(): Promise<void>;
}

/** Cluster starts that failed and were retried (on a shared machine a freshly picked free port can be taken before the process binds it). */
const startRetries: string[] = [];

/** Starts a cluster, retrying twice on a fresh directory when a process dies before it is ready or the cluster never gets healthy. */
async function startWithRetry<T>(label: string, dir: string, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3) throw err;
      startRetries.push(`${label}: start attempt ${attempt} failed (${errBrief(err)}); retried`);
      status(`${label}: start attempt ${attempt} failed: ${errFull(err)}; retrying`);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Every cluster alive, so Ctrl-C can kill them by PID. */
const live = new Set<{ kill: () => void }>();

async function startSystem(sys: System, cfg: ClusterBenchConfig, dir: string, cpuProfDir: string | undefined): Promise<Running> {
  if (sys === 'etcd') {
    const c = await startWithRetry('etcd', dir, () => EtcdCluster.start(cfg.etcdBin, dir));
    const handle = { kill: () => c.members.forEach((m) => m.child?.kill('SIGKILL')) };
    live.add(handle);
    return {
      pids: () => c.members.map((m) => m.child?.pid).filter((p): p is number => p !== undefined),
      dead: () =>
        c.members
          .filter((m) => m.child !== undefined && m.child.exitCode !== null)
          .map((m) => `${m.name} exited (${String(m.child!.exitCode)}): ${m.output.trim().split('\n').slice(-3).join(' | ')}`)
          .join('; '),
      driver: async () => new EtcdDriver(c.endpoints),
      stop: async () => {
        await c.stop();
        live.delete(handle);
      },
    };
  }
  const env: Record<string, string> = {};
  if (cpuProfDir !== undefined) {
    // Node refuses --cpu-prof in NODE_OPTIONS: a preload starts the profiler instead (bench/lib/cluster-cpuprof.ts).
    mkdirSync(cpuProfDir, { recursive: true });
    env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(join(dirname(SCRIPT), 'lib', 'cluster-cpuprof.js')).href}`.trim();
    env.BENCH_CLUSTER_CPU_PROF = cpuProfDir;
  }
  const c = await startWithRetry('StrataDB', dir, () => LocalCluster.start({ nodes: 3, baseDir: dir, shards: cfg.shards, replicationFactor: 3, args: cfg.strataArgs, env }));
  const handle = { kill: () => c.nodes.forEach((n) => n.child?.kill('SIGKILL')) };
  live.add(handle);
  const leaders = cfg.balanceLeaders ? await balanceLeaders(c) : await leaderCounts(c);
  return {
    leaders,
    pids: () => c.nodes.map((n) => n.child?.pid).filter((p): p is number => p !== undefined),
    dead: () =>
      c.nodes
        .filter((n) => n.child !== undefined && (n.child.exitCode !== null || n.child.signalCode !== null))
        .map((n) => `${n.id} exited (${String(n.child!.exitCode ?? n.child!.signalCode)}): ${n.output.trim().split('\n').slice(-3).join(' | ')}`)
        .join('; '),
    driver: () => RespDriver.open(c.nodes.map((n) => n.ports.resp), cfg.connections),
    stop: async () => {
      await c.stop(cpuProfDir !== undefined ? 30_000 : 5000);
      live.delete(handle);
    },
  };
}

async function throughputRun(sys: System, run: number, cfg: ClusterBenchConfig, work: string, keys: string[], values: Buffer[], out: SystemResult, tag = ''): Promise<void> {
  const label = `${SYSTEM_LABELS[sys]}${tag} run ${run}/${cfg.runs}`;
  const dir = join(work, `${sys}-s${cfg.shards}-run${run}`);
  const t0 = performance.now();
  const loadAvg1 = loadavg()[0]!;
  status(`${label}: starting 3 ${sys === 'etcd' ? 'members' : 'nodes'} (load average ${loadAvg1.toFixed(1)})`);
  const cpuProf = sys === 'strata' && cfg.cpuProfDir !== undefined ? resolve(cfg.cpuProfDir, `run${run}`) : undefined;
  const running = await startSystem(sys, cfg, dir, cpuProf);
  const startMs = performance.now() - t0;
  let driver: KvDriver | undefined;
  try {
    driver = await running.driver();
    const pre = await preload(driver, keys, values, cfg.concurrency, `${label} preload`);
    const rnd = new SeededRandom(deriveSeed(cfg.seed, sys, run));
    const phase = async (kind: 'put' | 'get'): Promise<PhaseResult> => {
      const common = { kind, driver: driver!, keys, values, concurrency: cfg.concurrency, rnd, serverPids: () => running.pids() };
      if (cfg.warmupMs > 0) await runPhase({ ...common, durationMs: cfg.warmupMs, ops: 0, label: `${label} ${kind} warm-up`, quiet: true });
      return runPhase({ ...common, durationMs: cfg.durationMs, ops: cfg.ops, label: `${label} ${kind}` });
    };
    const put = await phase('put');
    const get = await phase('get');
    out.runs.push({ run, startMs, preloadMs: pre.ms, loadAvg1, ...(running.leaders ? { leaders: running.leaders } : {}), put, get });
    const line = (p: PhaseResult) => `${fmtInt(p.opsPerSec)}/s (p50 ${fmtMs(p.p50Ms)} / p99 ${fmtMs(p.p99Ms)} ms${p.errors > 0 ? `, ${p.errors} errors: ${p.errorExamples[0]}` : ''})`;
    status(`${label}: puts ${line(put)}, linearizable gets ${line(get)}; started in ${(startMs / 1000).toFixed(1)} s${running.leaders ? ` (shards led: ${fmtLeaders(running.leaders)})` : ''}, ${fmtCount(keys.length)} keys preloaded in ${(pre.ms / 1000).toFixed(1)} s`);
  } catch (err) {
    const dead = running.dead();
    throw dead === '' ? err : new Error(`${errText(err)} (${dead})`);
  } finally {
    await driver?.close();
    await running.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function failoverTrials(sys: System, cfg: ClusterBenchConfig, work: string, out: SystemResult): Promise<void> {
  const dir = join(work, `${sys}-failover`);
  const o: FailoverOptions = {
    trials: cfg.failoverTrials,
    intervalMs: cfg.failoverIntervalMs,
    writeTimeoutMs: cfg.failoverWriteTimeoutMs,
    limitMs: cfg.failoverLimitMs,
    valueBytes: cfg.valueBytes,
    rnd: new SeededRandom(deriveSeed(cfg.seed, `${sys}-failover`, 0)),
  };
  status(`${SYSTEM_LABELS[sys]} failover: ${cfg.failoverTrials} trials of kill -9 of a leader`);
  if (sys === 'etcd') {
    const c = await startWithRetry('etcd failover', dir, () => EtcdCluster.start(cfg.etcdBin, dir));
    const handle = { kill: () => c.members.forEach((m) => m.child?.kill('SIGKILL')) };
    live.add(handle);
    try {
      out.failover = await etcdFailover(c, o);
    } finally {
      await c.stop();
      live.delete(handle);
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    const c = await startWithRetry('StrataDB failover', dir, () => LocalCluster.start({ nodes: 3, baseDir: dir, shards: cfg.shards, replicationFactor: 3, args: cfg.strataArgs }));
    const handle = { kill: () => c.nodes.forEach((n) => n.child?.kill('SIGKILL')) };
    live.add(handle);
    try {
      if (cfg.balanceLeaders) await balanceLeaders(c);
      out.failover = await strataFailover(c, cfg.shards, o);
    } finally {
      await c.stop();
      live.delete(handle);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** StrataDB's default Raft timing (what `strata serve` runs with unless --strata-args or a config file changes it). */
function strataTiming(): { tickMs: number; electionTicks: number; heartbeatTicks: number; requestTimeoutMs: number } {
  return defaultConfig().cluster;
}

async function main(): Promise<number> {
  let cfg: ClusterBenchConfig;
  try {
    const parsed = parseClusterArgs(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    cfg = parsed;
  } catch (err) {
    process.stderr.write(`${errText(err)}\n`);
    return 1;
  }
  const started = new Date();
  const notes: string[] = [];
  if (cfg.etcd && !etcdInstalled(cfg.etcdBin)) {
    status(`etcd is not installed at ${cfg.etcdBin}: running StrataDB alone. Install it with \`apt-get install etcd-server\` (Debian/Ubuntu) or pass --etcd-bin.`);
    notes.push(`etcd skipped: no binary at ${cfg.etcdBin} (apt-get install etcd-server).`);
    cfg.etcd = false;
    if (!cfg.strata) return 1;
  }
  const systems: System[] = [...(cfg.etcd ? (['etcd'] as const) : []), ...(cfg.strata ? (['strata'] as const) : [])];
  const results: Partial<Record<System, SystemResult>> = {};
  const etcdV = cfg.etcd ? etcdVersion(cfg.etcdBin) : '';
  for (const sys of systems) results[sys] = { system: sys, version: sys === 'etcd' ? etcdV : '', runs: [], failover: [], errors: [] };

  const cpu = cpus();
  const git = gitDescribe(ROOT);
  const envLine =
    `Machine: ${cpu[0]?.model.trim() ?? '?'} × ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${platform()} ${release()}; ` +
    `Node ${process.version}; ${cfg.etcd ? `etcd ${etcdV}; ` : ''}git ${git ?? '?'}; load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}. ` +
    'Servers and the load generator share these cores.';
  const phaseLen = cfg.ops > 0 ? `${fmtInt(cfg.ops)} ops` : `${(cfg.durationMs / 1000).toFixed(1)} s`;
  const configLine =
    `Workload: ${fmtInt(cfg.keys)} keys of ${cfg.keyBytes} bytes, values of ${cfg.valueBytes} bytes; every key written once (untimed), then per run a put phase and a linearizable-get phase of ${phaseLen} each ` +
    `(after ${(cfg.warmupMs / 1000).toFixed(1)} s untimed warm-up), uniformly random keys, ${cfg.concurrency} ops in flight (closed loop); ${cfg.runs} run(s) per system on fresh clusters, ` +
    `alternating which system goes first; failover: ${cfg.failoverTrials} trial(s) per system` +
    (cfg.diagShards.length > 0 ? `; diagnostic StrataDB runs with ${cfg.diagShards.join(', ')} shard(s).` : '.');
  status(envLine);
  status(configLine);

  // LocalCluster adds one process 'exit' listener per cluster (its nodes die with the launcher) and keeps it:
  // a full run starts a dozen or more clusters, past Node's default warning threshold of 10.
  process.setMaxListeners(Math.max(process.getMaxListeners(), 100));
  const work = mkdtempSync(join(cfg.dir, 'strata-bench-cluster-'));
  const onSignal = () => {
    for (const h of live) h.kill();
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const keys = Array.from({ length: cfg.keys }, (_, i) => keyOf(i, cfg.keyBytes));
  const values = valuePool(cfg.valueBytes, new SeededRandom(deriveSeed(cfg.seed, 'values', 0)));
  const t0 = performance.now();
  try {
    for (let run = 1; run <= cfg.runs; run++) {
      const order = run % 2 === 1 ? systems : [...systems].reverse();
      for (const sys of order) {
        try {
          await throughputRun(sys, run, cfg, work, keys, values, results[sys]!);
        } catch (err) {
          results[sys]!.errors.push(`run ${run}: ${errBrief(err)}`);
          status(`${SYSTEM_LABELS[sys]} run ${run}: FAILED: ${errFull(err)}`);
        }
      }
    }
    if (cfg.strata && cfg.diagShards.length > 0) {
      const strata = results.strata!;
      strata.shardRuns = [];
      for (const shards of cfg.diagShards.filter((x) => x !== cfg.shards)) {
        const d = { shards, runs: [] as SystemRun[] };
        strata.shardRuns.push(d);
        for (let run = 1; run <= cfg.runs; run++) {
          const sink: SystemResult = { system: 'strata', version: '', runs: d.runs, failover: [], errors: [] };
          try {
            await throughputRun('strata', run, { ...cfg, shards }, work, keys, values, sink, ` (${shards} shards)`);
          } catch (err) {
            strata.errors.push(`${shards} shards, run ${run}: ${errBrief(err)}`);
            status(`StrataDB (${shards} shards) run ${run}: FAILED: ${errFull(err)}`);
          }
        }
      }
    }
    if (cfg.failoverTrials > 0) {
      for (const sys of systems) {
        try {
          await failoverTrials(sys, cfg, work, results[sys]!);
        } catch (err) {
          results[sys]!.errors.push(`failover: ${errBrief(err)}`);
          status(`${SYSTEM_LABELS[sys]} failover: FAILED: ${errFull(err)}`);
        }
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    rmSync(work, { recursive: true, force: true });
  }

  notes.push(...startRetries);
  const timing = strataTiming();
  const settings = [
    `etcd ${etcdV || '(not run)'}: 3 members, \`--heartbeat-interval ${ETCD_HEARTBEAT_MS} --election-timeout ${ETCD_ELECTION_MS}\` (etcd's defaults), otherwise default flags ` +
      '(WAL fsync per Raft Ready, i.e. per batch of proposals; no --unsafe-no-fsync); client: npm `etcd3` (gRPC, @grpc/grpc-js), one client over all three endpoints ' +
      '(a random endpoint per call; a follower forwards puts to the leader and serves linearizable gets by ReadIndex), default retry policy; gets are linearizable (etcd3 sends serializable=false by default).',
    `StrataDB: \`LocalCluster\` (3 \`strata serve\` processes), ${cfg.shards} shards, replication factor 3 (every node holds every shard), ` +
      `Raft tick ${timing.tickMs} ms, heartbeat ${timing.heartbeatTicks} ticks = ${timing.heartbeatTicks * timing.tickMs} ms, election ${timing.electionTicks} ticks = ${timing.electionTicks * timing.tickMs} ms randomized to [${timing.electionTicks * timing.tickMs}, ${2 * timing.electionTicks * timing.tickMs}) ms, request timeout ${timing.requestTimeoutMs} ms (defaults)` +
      `${cfg.strataArgs.length > 0 ? `, extra serve args \`${cfg.strataArgs.join(' ')}\`` : ''}; ` +
      (cfg.balanceLeaders
        ? 'shard leadership spread round-robin over the nodes after each start (--balance-leaders, a diagnostic: not the default); '
        : 'shard leadership left where the elections put it (no rebalancing; shards led per node are in the runs table); ') +
      `client: \`ioredis\` over RESP, ${cfg.connections} connections spread round-robin over the 3 nodes ` +
      `(${cfg.connections === cfg.concurrency ? 'one op in flight per connection' : `${(cfg.concurrency / cfg.connections).toFixed(1)} ops in flight per connection on average`}); any node routes a key to its shard's leader; GET is linearizable (ReadIndex) by default.`,
    'Durability is comparable: etcd fsyncs its WAL before acknowledging; every StrataDB shard\'s Raft log is fsynced per Ready batch before its messages go out and before anything is applied or acknowledged, ' +
      'whatever `storage.syncMode` says (that setting, default periodic, governs the shard engines\' own WALs; the Raft log is what makes an acknowledged write durable). Both write to the same disk under the same temp directory.',
    `Failover writer: one put of a ${cfg.valueBytes}-byte value every ${cfg.failoverIntervalMs} ms (open loop) through the two surviving members/nodes, each put on its own gRPC call / idle RESP connection, ` +
      `given up after ${cfg.failoverWriteTimeoutMs} ms, no client retries; StrataDB: a key of a randomly drawn shard, and the node killed is that shard's leader (which usually leads other shards too); ` +
      'etcd: the cluster\'s leader. Another leader: polled every 20 ms (etcd maintenance Status on the survivors; StrataDB GET /api/v1/coordinator/shard-map on the survivors).',
  ];
  const report = {
    date: localDate(started),
    strataShards: cfg.shards,
    envLine,
    configLine,
    results,
    settings,
    notes,
    command: `npm run bench:cluster --${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
  };
  const md = markdown(report);
  process.stdout.write(`\n${md}`);
  const es = results.etcd ? summarize(results.etcd) : undefined;
  const ss = results.strata ? summarize(results.strata) : undefined;
  const bars = barCheck(es, ss);
  if (bars.length > 0) {
    process.stdout.write('\nStrataDB / etcd: ' + bars.map((b) => `${b.what} ${fmtRatio(b.ratio)} (${b.bar}: ${b.pass ? 'pass' : 'FAIL'})`).join(', ') + '\n');
  }
  const outDir = resolve(cfg.out);
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `cluster-${report.date}`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(
    `${base}.json`,
    JSON.stringify(
      {
        benchmark: 'cluster',
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        wallSeconds: (performance.now() - t0) / 1000,
        command: report.command,
        config: { ...cfg, out: outDir },
        environment: { node: process.version, cpu: cpu[0]?.model.trim(), cores: cpu.length, totalMemoryBytes: totalmem(), platform: `${platform()} ${release()}`, git, etcd: etcdV, loadAverageAtStart: loadavg() },
        settings,
        notes,
        summary: { etcd: es, strata: ss, bar: bars },
        results,
      },
      null,
      2,
    ) + '\n',
  );
  const subtitle = `${cfg.concurrency} in flight, ${fmtInt(cfg.keys)} keys, ${cfg.valueBytes}-byte values, ${cfg.runs} run(s); ${cpu[0]?.model.trim() ?? ''} × ${cpu.length}, ${report.date}`;
  writeFileSync(`${base}.svg`, svgChart(results, 'StrataDB 3-node cluster vs etcd 3 members (loopback)', subtitle));
  status(`wrote ${base}.md, .json and .svg`);
  const anyError = systems.some((sys) => results[sys]!.errors.length > 0 || results[sys]!.failover.some((t) => !t.ok));
  return anyError ? 2 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    for (const h of live) h.kill();
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  },
);
