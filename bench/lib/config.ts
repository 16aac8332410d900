/**
 * Command-line flags of the side-by-side engine benchmark and the workload
 * catalogue they select from.
 */
import { tmpdir } from 'node:os';

export const ENGINE_NAMES = ['strata', 'leveldb', 'lmdb'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export const ENGINE_LABELS: Record<EngineName, string> = {
  strata: 'StrataDB',
  leveldb: 'classic-level',
  lmdb: 'lmdb',
};

export const WORKLOAD_NAMES = [
  'fillseq',
  'fillrandom',
  'fillbatch',
  'overwrite',
  'readrandom',
  'readrandom16',
  'readmissing',
  'readseq',
  'readreverse',
  'seekrandom',
  'deleterandom',
  'readwhilewriting',
  'fillsync',
] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export interface WorkloadInfo {
  /** 'fresh': an empty directory; 'loaded': a copy of the bulk-loaded base DB. */
  start: 'fresh' | 'loaded';
  /** Writes user data: report write amplification (and space amplification after close). */
  writes: boolean;
  /** What one op is, for the table notes. */
  op: string;
  /** Minimum StrataDB / classic-level ratio for the bar check (default 1.0). */
  bar: number;
}

export const WORKLOADS: Record<WorkloadName, WorkloadInfo> = {
  fillseq: { start: 'fresh', writes: true, op: 'awaited put, sequential keys', bar: 3 },
  fillrandom: { start: 'fresh', writes: true, op: 'awaited put, random keys', bar: 3 },
  fillbatch: { start: 'fresh', writes: true, op: 'batch of 1,000 puts, random keys (op = one key)', bar: 1 },
  overwrite: { start: 'loaded', writes: true, op: 'awaited put, random existing keys', bar: 1 },
  readrandom: { start: 'loaded', writes: false, op: 'awaited get, random existing key', bar: 3 },
  readrandom16: { start: 'loaded', writes: false, op: 'get, 16 in flight (Promise.all)', bar: 1 },
  readmissing: { start: 'loaded', writes: false, op: 'awaited get, absent key', bar: 1 },
  readseq: { start: 'loaded', writes: false, op: 'one entry of a forward scan', bar: 1 },
  readreverse: { start: 'loaded', writes: false, op: 'one entry of a reverse scan', bar: 1 },
  seekrandom: { start: 'loaded', writes: false, op: 'seek to random key + 10 nexts', bar: 3 },
  deleterandom: { start: 'loaded', writes: false, op: 'awaited delete, random existing key', bar: 1 },
  readwhilewriting: { start: 'loaded', writes: false, op: 'awaited get while a writer loop puts', bar: 1 },
  fillsync: { start: 'fresh', writes: true, op: 'awaited put with sync:true (N/100 ops)', bar: 1 },
};

export interface BenchConfig {
  num: number;
  keySize: number;
  valueSize: number;
  cacheSize: number;
  writeBufferSize: number;
  workloads: WorkloadName[];
  engines: EngineName[];
  runs: number;
  /** Parent directory for the databases; a fresh sub-directory per run is created and removed. */
  dir: string;
  seed: number;
  /** Where the JSON and SVG go. */
  outDir: string | undefined;
  /**
   * 0 (default): loops never yield on purpose, as a plain `for … await` loop.
   * > 0: every loop (all engines alike) awaits one setImmediate once this many
   * ms have passed, checked every 1,024 ops: a diagnostic for engines whose
   * awaits resolve as microtasks and so never let the event loop turn.
   */
  yieldMs: number;
}

const MiB = 1024 * 1024;

export const USAGE = `Usage: npm run bench:engine -- [flags]
  --num N              keys (default 1000000)
  --key-size B         key bytes, zero-padded decimal (default 16)
  --value-size B       value bytes, half random / half repeated (default 100)
  --cache-size B       block cache bytes for StrataDB and classic-level (default 8388608)
  --write-buffer-size B  memtable bytes for StrataDB and classic-level (default 4194304)
  --workloads a,b,...  subset of ${WORKLOAD_NAMES.join(',')} (default all)
  --engines a,b,...    subset of ${ENGINE_NAMES.join(',')} (default all)
  --runs R             runs per engine and workload, median reported (default 3)
  --dir DIR            where databases are created (default os.tmpdir())
  --seed S             PRNG seed (default 301)
  --out DIR            where the JSON and SVG are written (default bench/results)
  --yield-ms T         diagnostic: every loop yields to the event loop (setImmediate) once T ms
                       have passed, checked every 1,024 ops (default 0: loops never yield on purpose)
`;

/** An integer flag value (underscores allowed as digit separators), at least `min`. */
export function intFlag(raw: string, name: string, min: number): number {
  const v = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${raw}`);
  return v;
}

function listFlag<T extends string>(raw: string, name: string, allowed: readonly T[]): T[] {
  const out: T[] = [];
  for (const part of raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    if (!(allowed as readonly string[]).includes(part)) {
      throw new Error(`--${name}: unknown '${part}' (expected some of ${allowed.join(',')})`);
    }
    if (!out.includes(part as T)) out.push(part as T);
  }
  if (out.length === 0) throw new Error(`--${name} is empty`);
  // Keep the canonical order whatever order they were given in.
  return allowed.filter((a) => out.includes(a));
}

/**
 * Walks `--name value` and `--name=value` flags, calling `onFlag` with each
 * name and value (undefined for the value-less `switches`). Returns true for
 * --help / -h; throws on anything else that is not a flag.
 */
export function walkFlags(argv: readonly string[], usage: string, switches: readonly string[], onFlag: (name: string, value: string) => void): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return true;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'\n${usage}`);
    let name = a.slice(2);
    let value: string | undefined;
    if (switches.includes(name)) {
      onFlag(name, '');
      continue;
    }
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    } else {
      value = argv[++i];
    }
    if (value === undefined) throw new Error(`--${name} needs a value`);
    onFlag(name, value);
  }
  return false;
}

export function parseArgs(argv: readonly string[]): BenchConfig | 'help' {
  const cfg: BenchConfig = {
    num: 1_000_000,
    keySize: 16,
    valueSize: 100,
    cacheSize: 8 * MiB,
    writeBufferSize: 4 * MiB,
    workloads: [...WORKLOAD_NAMES],
    engines: [...ENGINE_NAMES],
    runs: 3,
    dir: tmpdir(),
    seed: 301,
    outDir: undefined,
    yieldMs: 0,
  };
  const help = walkFlags(argv, USAGE, [], (name, value) => {
    switch (name) {
      case 'num':
        cfg.num = intFlag(value, name, 100);
        break;
      case 'key-size':
        cfg.keySize = intFlag(value, name, 4);
        break;
      case 'value-size':
        cfg.valueSize = intFlag(value, name, 2);
        break;
      case 'cache-size':
        cfg.cacheSize = intFlag(value, name, 0);
        break;
      case 'write-buffer-size':
        cfg.writeBufferSize = intFlag(value, name, 64 * 1024);
        break;
      case 'workloads':
        cfg.workloads = listFlag(value, name, WORKLOAD_NAMES);
        break;
      case 'engines':
        cfg.engines = listFlag(value, name, ENGINE_NAMES);
        break;
      case 'runs':
        cfg.runs = intFlag(value, name, 1);
        break;
      case 'dir':
        cfg.dir = value;
        break;
      case 'seed':
        cfg.seed = intFlag(value, name, 0);
        break;
      case 'out':
        cfg.outDir = value;
        break;
      case 'yield-ms':
        cfg.yieldMs = intFlag(value, name, 0);
        break;
      default:
        throw new Error(`unknown flag --${name}\n${USAGE}`);
    }
  });
  if (help) return 'help';
  if (String(cfg.num - 1).length > cfg.keySize) {
    throw new Error(`--key-size ${cfg.keySize} cannot hold ${cfg.num} zero-padded decimal keys`);
  }
  return cfg;
}

/** Ops a workload performs for this configuration. */
export function opsFor(w: WorkloadName, cfg: BenchConfig): number {
  return w === 'fillsync' ? Math.max(1, Math.floor(cfg.num / 100)) : cfg.num;
}

export function logicalBytes(cfg: BenchConfig, keys: number): number {
  return keys * (cfg.keySize + cfg.valueSize);
}
