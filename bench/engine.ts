/**
 * Side-by-side engine benchmark (db_bench style): StrataDB, classic-level
 * (LevelDB) and lmdb run the same workloads one after the other, each
 * engine + workload + run in its own child process (a fork of this script),
 * on fresh directories, with the same durability (sync:false unless the
 * workload says otherwise). Usage:
 *
 *   npm run bench:engine -- [--num 1000000] [--runs 3] [--workloads readrandom,seekrandom]
 *                           [--engines strata,leveldb,lmdb] [--key-size 16] [--value-size 100]
 *                           [--cache-size 8388608] [--dir /tmp] [--seed 301] [--out bench/results]
 *
 * Read workloads (and overwrite, deleterandom, readwhilewriting) start from a
 * copy of a base DB built once per engine: a random-order bulk load in
 * batches of 1,000, then close and reopen (each engine turns its WAL into
 * tables from on-disk state, as a restart would), a wait until the process
 * has written nothing for 1 s (background compaction settled), and close.
 *
 * Output: markdown tables and the bar check on stdout; progress on stderr;
 * bench/results/engine-<date>.json (raw runs, medians, environment),
 * bench/results/engine-<date>.md (the tables and the bar check) and
 * bench/results/engine-<date>.svg.
 */
import { execFileSync, fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINE_LABELS, logicalBytes, opsFor, parseArgs, USAGE, WORKLOADS } from './lib/config.js';
import type { BenchConfig, EngineName } from './lib/config.js';
import { ioAvailable } from './lib/measure.js';
import { aggregate, barCheck, fmtOps, markdown, svgChart } from './lib/report.js';
import type { BaseLoad } from './lib/report.js';
import { runTask } from './lib/workloads.js';
import type { ChildTask, RunResult } from './lib/workloads.js';
import { createRequire } from 'node:module';

function lmdbInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('lmdb');
    return true;
  } catch {
    return false;
  }
}

const CHILD_FLAG = '--bench-engine-child';
const SCRIPT = fileURLToPath(import.meta.url);
/** The repository root: this file runs as dist/bench/engine.js. */
const ROOT = resolve(dirname(SCRIPT), '..', '..');

// ------------------------------------------------------------------ child

async function childMain(): Promise<void> {
  const task = JSON.parse(process.argv[process.argv.indexOf(CHILD_FLAG) + 1]!) as ChildTask;
  let msg: { result: RunResult } | { error: string };
  try {
    msg = { result: await runTask(task) };
  } catch (err) {
    msg = { error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  process.send!(msg, () => process.exit(0));
}

// ------------------------------------------------------------------ parent

/** The child running now, so Ctrl-C can stop it before the directories go. */
let activeChild: ChildProcess | undefined;

function runChild(task: ChildTask): Promise<RunResult> {
  return new Promise((resolveRun, rejectRun) => {
    const child = fork(SCRIPT, [CHILD_FLAG, JSON.stringify(task)], {
      // BENCH_ENGINE_NODE_ARGS: extra Node flags for the children, for diagnosis (e.g. "--trace-gc" or "--cpu-prof").
      execArgv: ['--expose-gc', ...(process.env.BENCH_ENGINE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    activeChild = child;
    let reply: { result: RunResult } | { error: string } | undefined;
    child.on('message', (m) => {
      reply = m as typeof reply;
    });
    child.on('error', rejectRun);
    child.on('exit', (code, signal) => {
      activeChild = undefined;
      if (reply && 'result' in reply) return resolveRun(reply.result);
      const why = reply && 'error' in reply ? reply.error : `child exited with ${signal ?? `code ${code}`} and no result`;
      resolveRun(failedResult(task, why));
    });
  });
}

/** A run that crashed or threw: kept in the JSON and shown as FAILED. */
function failedResult(task: ChildTask, error: string): RunResult {
  return {
    kind: task.kind,
    engine: task.engine,
    workload: task.kind === 'load' ? 'load' : task.workload,
    run: task.run,
    ok: false,
    error,
    ops: 0,
    elapsedMs: NaN,
    opsPerSec: NaN,
    usPerOp: NaN,
    checks: [],
    io: { writeBytes: 0, cancelledWriteBytes: 0, wchar: 0 },
    logicalBytesWritten: 0,
    writeAmp: null,
    disk: null,
    liveKeys: null,
    spaceAmp: null,
    rss: { baselineBytes: 0, peakBytes: 0 },
    eventLoopDelay: { p50Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0 },
    settleMs: 0,
    engineStats: {},
  };
}

function localDate(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function gitDescribe(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty.length > 0 ? `${head}+dirty` : head;
  } catch {
    return undefined;
  }
}

function environment(cfg: BenchConfig) {
  const cpuList = cpus();
  let stratadb = 'unknown';
  try {
    stratadb = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // keep 'unknown'
  }
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${platform()} ${release()}`,
    arch: process.arch,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    totalMemoryBytes: totalmem(),
    procIo: ioAvailable(),
    git: gitDescribe(),
    packages: { stratadb, 'classic-level': packageVersion('classic-level'), lmdb: packageVersion('lmdb') },
    num: cfg.num,
    keySize: cfg.keySize,
    valueSize: cfg.valueSize,
    logicalBytes: logicalBytes(cfg, cfg.num),
    cacheSize: cfg.cacheSize,
    writeBufferSize: cfg.writeBufferSize,
    runs: cfg.runs,
    dbDir: cfg.dir,
  };
}

function status(line: string): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  process.stderr.write(`${line}\n`);
}

function describe(r: RunResult): string {
  if (!r.ok && !Number.isFinite(r.opsPerSec)) return `FAILED: ${(r.error ?? '').split('\n')[0]}`;
  const parts = [`${fmtOps(r.opsPerSec).padStart(7)} ops/s`, `${r.usPerOp.toFixed(2).padStart(8)} µs/op`];
  if (r.writeAmp !== null) parts.push(`WA ${r.writeAmp.toFixed(2)}`);
  if (r.spaceAmp !== null) parts.push(`SA ${r.spaceAmp.toFixed(2)}`);
  parts.push(`RSS ${(r.rss.peakBytes / 1048576).toFixed(0)} MB`, `loop max ${r.eventLoopDelay.maxMs.toFixed(0)} ms`);
  if (r.concurrentWritesPerSec !== undefined) parts.push(`writer ${fmtOps(r.concurrentWritesPerSec)} puts/s`);
  if (!r.ok) parts.push(`GUARD FAILED: ${r.error ?? ''}`);
  return parts.join('  ');
}

async function parentMain(): Promise<number> {
  let cfg: BenchConfig;
  try {
    const parsed = parseArgs(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    cfg = parsed;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  if (cfg.engines.includes('lmdb') && !lmdbInstalled()) {
    // lmdb is not a devDependency: its lock-file entries for other platforms do not resolve on
    // every registry mirror, which breaks `npm ci`. Install it by hand to get the third column.
    status('lmdb is not installed: its column is skipped (add it with `npm install --no-save lmdb`)');
    cfg.engines = cfg.engines.filter((e) => e !== 'lmdb');
  }
  const env = environment(cfg);
  const outDir = resolve(cfg.outDir ?? join(ROOT, 'bench', 'results'));
  mkdirSync(cfg.dir, { recursive: true });
  const work = mkdtempSync(join(cfg.dir, 'strata-bench-engine-'));
  const started = new Date();
  status(
    `engine bench: ${cfg.engines.map((e) => ENGINE_LABELS[e]).join(' vs ')}; N=${cfg.num.toLocaleString('en-US')}, ` +
      `${cfg.keySize}B keys, ${cfg.valueSize}B values, ${cfg.runs} run(s); ${env.cpuModel} × ${env.cores}, node ${env.node}; dbs in ${work}`,
  );

  // Ctrl-C: the children get the signal too; remove the databases before going.
  const onSigint = () => {
    activeChild?.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    process.stderr.write('\ninterrupted; removed the benchmark databases\n');
    process.exit(130);
  };
  process.once('SIGINT', onSigint);

  const results: RunResult[] = [];
  const bases: BaseLoad[] = [];
  const baseDir = (e: EngineName) => join(work, `${e}-base`);
  try {
    // 1. One bulk-loaded base DB per engine for the workloads that start from a full DB.
    if (cfg.workloads.some((w) => WORKLOADS[w].start === 'loaded')) {
      for (const engine of cfg.engines) {
        const r = await runChild({ kind: 'load', engine, workload: 'fillbatch', run: 1, runs: 1, cfg, dbDir: baseDir(engine) });
        results.push(r);
        bases.push({ engine, result: r });
        status(`  ${engine.padEnd(7)} ${'bulk load'.padEnd(16)}         ${describe(r)}  (settled ${(r.settleMs / 1000).toFixed(1)} s)`);
      }
    }
    // 2. Workload-major, then run, then engine (rotated per run so no engine always goes first).
    for (const w of cfg.workloads) {
      for (let run = 1; run <= cfg.runs; run++) {
        const order = cfg.engines.map((_, i) => cfg.engines[(i + run - 1) % cfg.engines.length]!);
        for (const engine of order) {
          const base = bases.find((b) => b.engine === engine);
          if (WORKLOADS[w].start === 'loaded' && (!base || !base.result.ok)) {
            results.push(failedResult({ kind: 'run', engine, workload: w, run, runs: cfg.runs, cfg, dbDir: '' }, 'bulk load failed'));
            continue;
          }
          const dbDir = join(work, `${engine}-${w}-${run}`);
          const task: ChildTask = { kind: 'run', engine, workload: w, run, runs: cfg.runs, cfg, dbDir };
          if (WORKLOADS[w].start === 'loaded') task.baseDir = baseDir(engine);
          const r = await runChild(task);
          rmSync(dbDir, { recursive: true, force: true });
          results.push(r);
          status(`  ${engine.padEnd(7)} ${w.padEnd(16)} run ${run}/${cfg.runs}  ${describe(r)}`);
        }
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    rmSync(work, { recursive: true, force: true });
  }

  // 3. Report.
  const medians = aggregate(cfg, results);
  const failures = results.filter((r) => !r.ok).map((r) => `${r.engine} ${r.workload} run ${r.run}: ${(r.error ?? '').split('\n')[0]}`);
  const envLine =
    `${env.cpuModel} × ${env.cores} cores, ${(env.totalMemoryBytes / 2 ** 30).toFixed(0)} GiB, ${env.platform}, node ${env.node}; ` +
    `StrataDB ${env.packages.stratadb}${env.git ? ` (${env.git})` : ''}, classic-level ${env.packages['classic-level']}, lmdb ${env.packages.lmdb}; ` +
    `${localDate(started)}. fillsync: ${opsFor('fillsync', cfg).toLocaleString('en-US')} ops.`;
  const md = markdown(cfg, medians, bases, envLine);
  const checks = barCheck(cfg, medians, bases, failures);
  const checkText = ['### Bar check', '', ...checks.map((c) => `- ${c.pass ? 'PASS' : 'FAIL'}  ${c.text}`)].join('\n');
  process.stdout.write(`\n${md}\n\n${checkText}\n`);

  const date = localDate(started);
  mkdirSync(outDir, { recursive: true });
  const jsonPath = join(outDir, `engine-${date}.json`);
  const svgPath = join(outDir, `engine-${date}.svg`);
  const mdPath = join(outDir, `engine-${date}.md`);
  const ratios: Record<string, Record<string, number | null>> = {};
  for (const w of cfg.workloads) {
    const row: Record<string, number | null> = {};
    const s = medians[w]?.strata;
    for (const e of cfg.engines) {
      if (e === 'strata') continue;
      const o = medians[w]?.[e];
      row[`strata/${e}`] = s && o && s.failedRuns < s.runs && o.failedRuns < o.runs ? s.opsPerSec / o.opsPerSec : null;
    }
    ratios[w] = row;
  }
  const json = {
    benchmark: 'engine',
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: env,
    config: { ...cfg, outDir },
    method: {
      process: 'each engine + workload + run in a fresh child process (fork of this script, --expose-gc)',
      durability: 'sync:false (OS-buffered, no fsync) everywhere except fillsync; lmdb: noSync:true, fillsync noSync:false + overlappingSync:false',
      base: 'read workloads, overwrite, deleterandom and readwhilewriting copy a per-engine base DB: random-order load in batches of 1,000, close, reopen, settle until no disk writes for 1 s, close',
      writeAmp: '/proc/self/io write_bytes delta (all threads) from the first op through settle and close, / logical bytes written',
      spaceAmp: 'allocated bytes (st_blocks * 512) of the DB directory after close / (live keys * (keySize + valueSize))',
      rss: 'process.memoryUsage.rss() every 50 ms (timer and op-loop tick), max; baseline = before the engine opened, after generating inputs',
      eventLoopDelay: 'perf_hooks.monitorEventLoopDelay({resolution: 1}) enabled for the timed loop only',
    },
    workloads: Object.fromEntries(cfg.workloads.map((w) => [w, WORKLOADS[w]])),
    runs: results,
    medians,
    ratios,
    barCheck: checks,
  };
  writeFileSync(jsonPath, JSON.stringify(json, null, 2) + '\n');
  const subtitle = `N=${cfg.num.toLocaleString('en-US')}, ${cfg.keySize}B keys, ${cfg.valueSize}B values, median of ${cfg.runs}; ${env.cpuModel} × ${env.cores}, node ${env.node}, ${date}`;
  writeFileSync(svgPath, svgChart(cfg, medians, `${cfg.engines.map((e) => ENGINE_LABELS[e]).join(' vs ')}: median ops/s per workload`, subtitle));
  writeFileSync(mdPath, `${md}\n\n${checkText}\n`);
  status(`wrote ${mdPath}, ${jsonPath} and ${svgPath}`);
  // A failed correctness guard means some numbers are not to be trusted: say so in the exit code.
  return failures.length > 0 ? 2 : 0;
}

if (process.argv.includes(CHILD_FLAG)) {
  await childMain();
} else {
  process.exitCode = await parentMain();
}
