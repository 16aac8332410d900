/**
 * Command-line flags of `npm run bench:tsdb`.
 */
import { tmpdir } from 'node:os';
import { intFlag, walkFlags } from './config.js';
import { VARIANTS } from './tsdb-data.js';
import type { Variant } from './tsdb-data.js';

/** The queries run by default: the TSBS set of the brief plus the in-process one-year rollup query. */
export const DEFAULT_QUERIES = ['single-groupby-1-1-1', 'single-groupby-5-1-12', 'double-groupby-1', 'high-cpu-1', 'lastpoint', 'year-daily-avg'];

/** Query names accepted by --queries (see tsdb-queries.ts for what each means). */
export const QUERY_NAME_PATTERN = /^(single-groupby-(1|5|10)-(1|8)-(1|12)|cpu-max-all-(1|8)|double-groupby-(1|5|all)|high-cpu-(1|all)|lastpoint|year-daily-avg)$/;

export interface TsdbBenchConfig {
  hosts: number;
  days: number;
  variants: Variant[];
  /** Full ingest runs per database and variant (fresh directories each); the median is reported. */
  runs: number;
  /** Timed rounds per query type; every round runs all draws on every target. */
  rounds: number;
  /** Random parameter draws per query type (lastpoint has one). */
  draws: number;
  /** HTTP requests in flight while loading. */
  concurrency: number;
  /** Lines per write request / store.write call. */
  batchLines: number;
  queries: string[];
  vm: boolean;
  vmBin: string;
  /** Parent of the temp directories (spool files, data dirs). */
  dir: string;
  out: string;
  seed: number;
  /** Untimed passes over every query draw before the timed rounds. */
  warmup: number;
  /** Untimed passes over every draw of every query type on every target before the first timed query. */
  serverWarmup: number;
  /** Series created for the series-index measurement (0 skips it). */
  indexSeries: number;
  /**
   * Full-precision variant only: one more in-process load per run with the
   * measurement's floats rounded to this many significant digits, for bytes
   * at VictoriaMetrics' precision or finer (0 skips it).
   */
  likeForLikeDigits: number;
}

export const USAGE = `Usage: npm run bench:tsdb -- [flags]
  --hosts N          hosts (series per field) (default 100)
  --index-series N   series created to time the series index (default 1000000; 0 skips)
  --warmup W         untimed passes over every query draw before timing (default 3)
  --server-warmup P  before any query is timed, P untimed passes over every draw of every
                     query type on every target (default 30; a just-started StrataDB runs
                     on a cold JIT for its first several hundred requests)
  --days D           days of data at 10 s per row (default 1)
  --variant V        tsbs | sensor | both: full-precision floats, two decimals, or both (default both)
  --runs R           full ingest runs per database and variant into fresh dirs, median reported (default 3)
  --rounds R         timed rounds per query type (default 10, minimum 3)
  --draws N          random parameter draws per query type and round (default 10; lastpoint: 1)
  --concurrency C    write requests in flight while loading (default 4)
  --batch L          lines per write request (default 10000)
  --queries a,b,...  query types (default ${DEFAULT_QUERIES.join(',')});
                     also single-groupby-{1,5,10}-{1,8}-{1,12}, cpu-max-all-{1,8}, double-groupby-{1,5,all}, high-cpu-{1,all}
  --no-vm            StrataDB alone
  --vm-bin PATH      the VictoriaMetrics binary (default /usr/bin/victoria-metrics)
  --dir DIR          where temp data goes (default os.tmpdir())
  --out DIR          where tsdb-<date>.{md,json,svg} go (default bench/results)
  --seed S           PRNG seed (default 2016)
  --like-for-like-digits D
                     tsbs variant: one more in-process load per run with floats rounded to D
                     significant digits (max relative error 5e-D; VictoriaMetrics keeps values
                     to a relative error of up to 1e-12), for bytes at equal precision (default 13; 0 skips)
`;

export function parseTsdbArgs(argv: readonly string[]): TsdbBenchConfig | 'help' {
  const cfg: TsdbBenchConfig = {
    hosts: 100,
    days: 1,
    variants: [...VARIANTS],
    runs: 3,
    rounds: 10,
    draws: 10,
    concurrency: 4,
    batchLines: 10_000,
    queries: [...DEFAULT_QUERIES],
    vm: true,
    vmBin: '/usr/bin/victoria-metrics',
    dir: tmpdir(),
    out: 'bench/results',
    seed: 2016,
    indexSeries: 1_000_000,
    warmup: 3,
    serverWarmup: 30,
    likeForLikeDigits: 13,
  };
  const help = walkFlags(argv, USAGE, ['no-vm'], (name, value) => {
    switch (name) {
      case 'no-vm':
        cfg.vm = false;
        break;
      case 'hosts':
        cfg.hosts = intFlag(value, name, 1);
        break;
      case 'days':
        cfg.days = intFlag(value, name, 1);
        break;
      case 'variant':
        if (value === 'both') cfg.variants = [...VARIANTS];
        else if ((VARIANTS as readonly string[]).includes(value)) cfg.variants = [value as Variant];
        else throw new Error(`--variant must be tsbs, sensor or both, got ${value}`);
        break;
      case 'runs':
        cfg.runs = intFlag(value, name, 1);
        break;
      case 'rounds':
        cfg.rounds = intFlag(value, name, 3);
        break;
      case 'draws':
        cfg.draws = intFlag(value, name, 1);
        break;
      case 'concurrency':
        cfg.concurrency = intFlag(value, name, 1);
        break;
      case 'batch':
        cfg.batchLines = intFlag(value, name, 1);
        break;
      case 'queries': {
        const qs = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
        for (const q of qs) if (!QUERY_NAME_PATTERN.test(q)) throw new Error(`--queries: unknown query '${q}'\n${USAGE}`);
        cfg.queries = [...new Set(qs)];
        break;
      }
      case 'vm-bin':
        cfg.vmBin = value;
        break;
      case 'dir':
        cfg.dir = value;
        break;
      case 'out':
        cfg.out = value;
        break;
      case 'warmup':
        cfg.warmup = intFlag(value, name, 0);
        break;
      case 'server-warmup':
        cfg.serverWarmup = intFlag(value, name, 0);
        break;
      case 'like-for-like-digits':
        cfg.likeForLikeDigits = intFlag(value, name, 0);
        if (cfg.likeForLikeDigits > 15) throw new Error('--like-for-like-digits must be 0 (skip) or 1..15');
        break;
      case 'index-series':
        cfg.indexSeries = intFlag(value, name, 0);
        break;
      case 'seed':
        cfg.seed = intFlag(value, name, 0);
        break;
      default:
        throw new Error(`unknown flag --${name}\n${USAGE}`);
    }
  });
  if (help) return 'help';
  const needs8 = cfg.queries.find((q) => /-(8)-\d+$|cpu-max-all-8/.test(q));
  if (needs8 && cfg.hosts < 8) throw new Error(`${needs8} needs --hosts >= 8`);
  return cfg;
}
