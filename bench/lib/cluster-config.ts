/**
 * Command-line flags of `npm run bench:cluster` (StrataDB 3-node cluster
 * against a 3-member etcd, both on loopback).
 */
import { tmpdir } from 'node:os';
import { intFlag, walkFlags } from './config.js';

export interface ClusterBenchConfig {
  /** Throughput runs per system (fresh clusters each), medians reported. */
  runs: number;
  /** Timed length of each put and get phase (ignored when `ops` > 0). */
  durationMs: number;
  /** > 0: each phase stops after this many completed ops instead of after `durationMs`. */
  ops: number;
  /** Untimed ops of the same kind before each timed phase (JIT, connections, caches), in ms. */
  warmupMs: number;
  /** Ops in flight (closed loop: each of `concurrency` workers awaits its op before the next). */
  concurrency: number;
  /** StrataDB RESP connections, spread round-robin over the 3 nodes (default = concurrency: one op in flight per connection). */
  connections: number;
  keys: number;
  keyBytes: number;
  valueBytes: number;
  /** StrataDB shards of the default keyspace (replication factor 3 on 3 nodes: every node holds every shard). */
  shards: number;
  failoverTrials: number;
  /** Failover writer: one write every this many ms (open loop), each given up after `failoverWriteTimeoutMs`. */
  failoverIntervalMs: number;
  failoverWriteTimeoutMs: number;
  /** A trial that has not recovered this long after the kill counts as failed. */
  failoverLimitMs: number;
  etcd: boolean;
  strata: boolean;
  etcdBin: string;
  /** Parent of the temp directories. */
  dir: string;
  out: string;
  seed: number;
  /** Diagnostic: write V8 CPU profiles of the StrataDB nodes of the throughput runs here (NODE_OPTIONS=--cpu-prof). */
  cpuProfDir: string | undefined;
  /** More `strata serve` arguments for every node. */
  strataArgs: string[];
  /** Diagnostic: extra StrataDB throughput runs (same workload, `runs` each) with these shard counts, reported apart from the bar. */
  diagShards: number[];
  /** Diagnostic: spread StrataDB shard leadership round-robin over the nodes after each start (the default leaves it where the elections put it). */
  balanceLeaders: boolean;
}

export const USAGE = `Usage: npm run bench:cluster -- [flags]
  --runs R                throughput runs per system, fresh clusters each, medians reported (default 3)
  --duration-ms T         timed length of each put and get phase (default 10000)
  --ops N                 instead: each timed phase stops after N completed ops
  --warmup-ms T           untimed ops before each timed phase (default 10000: V8 optimizes StrataDB's hot paths over the first ~15k operations; etcd gets the same)
  --concurrency C         ops in flight, closed loop (default 50)
  --connections N         StrataDB RESP connections over the 3 nodes (default = concurrency)
  --keys K                key space, every key written once before the timed phases (default 10000)
  --key-bytes B           key length (default 16)
  --value-bytes B         value length (default 100)
  --shards S              StrataDB shards (default 16, the cluster default)
  --failover-trials N     kill -9 trials per system, median reported (default 5; 0 skips)
  --failover-interval-ms T  failover writer: one write every T ms (default 10)
  --failover-write-timeout-ms T  failover writer: a write is given up after T ms (default 2000)
  --failover-limit-ms T   a trial not recovered T ms after the kill fails (default 30000)
  --no-etcd               StrataDB alone
  --no-strata             etcd alone
  --etcd-bin PATH         the etcd binary (default /usr/bin/etcd; Debian: apt-get install etcd-server)
  --strata-args "A B"     more \`strata serve\` arguments for every node (space separated)
  --diag-shards a,b,...   diagnostic: also run StrataDB's throughput runs with these shard counts (e.g. 1,4),
                          reported in their own table, not in the bar
  --balance-leaders       diagnostic: spread StrataDB shard leaders round-robin over the nodes after each start
                          (coordinator election API); by default leadership stays where the elections put it
  --cpu-prof DIR          diagnostic: V8 CPU profiles of the StrataDB nodes of the throughput runs
  --dir DIR               where temp data goes (default os.tmpdir())
  --out DIR               where cluster-<date>.{md,json,svg} go (default bench/results)
  --seed S                PRNG seed (default 2379)
`;

export function parseClusterArgs(argv: readonly string[]): ClusterBenchConfig | 'help' {
  const cfg: ClusterBenchConfig = {
    runs: 3,
    durationMs: 10_000,
    ops: 0,
    warmupMs: 10_000,
    concurrency: 50,
    connections: 0,
    keys: 10_000,
    keyBytes: 16,
    valueBytes: 100,
    shards: 16,
    failoverTrials: 5,
    failoverIntervalMs: 10,
    failoverWriteTimeoutMs: 2_000,
    failoverLimitMs: 30_000,
    etcd: true,
    strata: true,
    etcdBin: '/usr/bin/etcd',
    dir: tmpdir(),
    out: 'bench/results',
    seed: 2379,
    cpuProfDir: undefined,
    strataArgs: [],
    balanceLeaders: false,
    diagShards: [],
  };
  const help = walkFlags(argv, USAGE, ['no-etcd', 'no-strata', 'balance-leaders'], (name, value) => {
    switch (name) {
      case 'runs':
        cfg.runs = intFlag(value, name, 1);
        break;
      case 'duration-ms':
        cfg.durationMs = intFlag(value, name, 100);
        break;
      case 'ops':
        cfg.ops = intFlag(value, name, 1);
        break;
      case 'warmup-ms':
        cfg.warmupMs = intFlag(value, name, 0);
        break;
      case 'concurrency':
        cfg.concurrency = intFlag(value, name, 1);
        break;
      case 'connections':
        cfg.connections = intFlag(value, name, 1);
        break;
      case 'keys':
        cfg.keys = intFlag(value, name, 1);
        break;
      case 'key-bytes':
        cfg.keyBytes = intFlag(value, name, 4);
        break;
      case 'value-bytes':
        cfg.valueBytes = intFlag(value, name, 1);
        break;
      case 'shards':
        cfg.shards = intFlag(value, name, 1);
        break;
      case 'failover-trials':
        cfg.failoverTrials = intFlag(value, name, 0);
        break;
      case 'failover-interval-ms':
        cfg.failoverIntervalMs = intFlag(value, name, 1);
        break;
      case 'failover-write-timeout-ms':
        cfg.failoverWriteTimeoutMs = intFlag(value, name, 50);
        break;
      case 'failover-limit-ms':
        cfg.failoverLimitMs = intFlag(value, name, 1000);
        break;
      case 'no-etcd':
        cfg.etcd = false;
        break;
      case 'no-strata':
        cfg.strata = false;
        break;
      case 'diag-shards':
        cfg.diagShards = [...new Set(value.split(',').map((x) => x.trim()).filter((x) => x.length > 0).map((x) => intFlag(x, name, 1)))];
        break;
      case 'balance-leaders':
        cfg.balanceLeaders = true;
        break;
      case 'etcd-bin':
        cfg.etcdBin = value;
        break;
      case 'strata-args':
        cfg.strataArgs = value.split(/\s+/).filter((s) => s.length > 0);
        break;
      case 'cpu-prof':
        cfg.cpuProfDir = value;
        break;
      case 'dir':
        cfg.dir = value;
        break;
      case 'out':
        cfg.out = value;
        break;
      case 'seed':
        cfg.seed = intFlag(value, name, 0);
        break;
      default:
        throw new Error(`unknown flag --${name}\n${USAGE}`);
    }
  });
  if (help) return 'help';
  if (!cfg.etcd && !cfg.strata) throw new Error('--no-etcd and --no-strata together leave nothing to run');
  if (cfg.connections === 0) cfg.connections = cfg.concurrency;
  if (String(cfg.keys - 1).length + 1 > cfg.keyBytes) throw new Error(`--key-bytes ${cfg.keyBytes} cannot hold ${cfg.keys} keys ('k' + zero-padded decimal)`);
  return cfg;
}

/** Key i: 'k' + zero-padded decimal, `keyBytes` long. */
export function keyOf(i: number, keyBytes: number): string {
  return `k${String(i).padStart(keyBytes - 1, '0')}`;
}
