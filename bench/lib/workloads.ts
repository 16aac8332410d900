/**
 * The child-process side: prepares one database, runs one timed workload on
 * one engine, checks the answers, and measures. Every loop below is shared
 * by all engines (they differ only behind the Engine adapter), keys and
 * orders are generated before the clock starts, and a loop awaits once per
 * op where the workload says so.
 */
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { logicalBytes, opsFor, WORKLOADS } from './config.js';
import type { BenchConfig, EngineName, WorkloadName } from './config.js';
import { makeKeys, makeMissingKeys, makeValuePool, permutation, rng, uniformIndices, VALUE_POOL } from './data.js';
import { openEngine } from './engines.js';
import type { Engine } from './engines.js';
import { dirBytes, Meter, readIo, settle, yieldToLoop } from './measure.js';
import type { EventLoopDelay, IoCounters } from './measure.js';

export interface ChildTask {
  /** 'load' builds the base DB the read workloads copy; 'run' times one workload. */
  kind: 'load' | 'run';
  engine: EngineName;
  workload: WorkloadName;
  run: number;
  runs: number;
  cfg: BenchConfig;
  dbDir: string;
  /** For workloads that start from the loaded DB: the base to copy. */
  baseDir?: string;
}

export interface CorrectnessCheck {
  what: string;
  expected: number;
  actual: number;
  ok: boolean;
}

export interface RunResult {
  kind: 'load' | 'run';
  engine: EngineName;
  workload: WorkloadName | 'load';
  run: number;
  ok: boolean;
  error?: string;
  ops: number;
  elapsedMs: number;
  opsPerSec: number;
  usPerOp: number;
  checks: CorrectnessCheck[];
  /** readwhilewriting: puts the writer loop completed while the reads ran. */
  concurrentWrites?: number;
  concurrentWritesPerSec?: number;
  /** /proc/self/io delta from the first op to after close (including the settle wait). */
  io: IoCounters;
  logicalBytesWritten: number;
  writeAmp: number | null;
  disk: { allocated: number; apparent: number } | null;
  liveKeys: number | null;
  spaceAmp: number | null;
  rss: { baselineBytes: number; peakBytes: number };
  eventLoopDelay: EventLoopDelay;
  settleMs: number;
  engineStats: Record<string, unknown>;
}

const SAMPLE = 1000;
const BATCH = 1000;
const SEEK_ENTRIES = 11; // the seek's own entry + 10 nexts
const QUIET_MS = 1000;
const SETTLE_MAX_MS = 60_000;

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

/** Mutable per-run context the loops write into. */
interface Ctx {
  cfg: BenchConfig;
  e: Engine;
  m: Meter;
  keys: Buffer[];
  pool: Buffer[];
  checks: CorrectnessCheck[];
  concurrentWrites?: number;
  /** Set by the workload: its correctness guard, run after the clock stopped. */
  verify: () => Promise<void>;
}

function check(ctx: Ctx, what: string, expected: number, actual: number): void {
  ctx.checks.push({ what, expected, actual, ok: expected === actual });
}

/** Counts how many of `sample` keys (spread over `order[0..n)`) an engine finds. Untimed. */
async function countFound(e: Engine, keys: Buffer[], order: ArrayLike<number>, n: number): Promise<{ sampled: number; found: number }> {
  const step = Math.max(1, Math.floor(n / SAMPLE));
  let sampled = 0;
  let found = 0;
  for (let i = 0; i < n; i += step) {
    sampled++;
    if ((await e.get(keys[order[i]!]!)) !== undefined) found++;
  }
  return { sampled, found };
}

// ------------------------------------------------------------------ the timed loops

async function putLoop(ctx: Ctx, order: Uint32Array, n: number): Promise<void> {
  const { e, m, keys, pool } = ctx;
  const mask = VALUE_POOL - 1;
  for (let i = 0; i < n; i++) {
    await e.put(keys[order[i]!]!, pool[i & mask]!);
    if ((i & 1023) === 1023 && m.tick(i + 1)) await yieldToLoop();
  }
}

async function batchLoop(ctx: Ctx, order: Uint32Array, n: number): Promise<void> {
  const { e, m, keys, pool } = ctx;
  const mask = VALUE_POOL - 1;
  const bk = new Array<Buffer>(BATCH);
  const bv = new Array<Buffer>(BATCH);
  for (let i = 0; i < n; ) {
    const end = Math.min(n, i + BATCH);
    let j = 0;
    for (; i < end; i++, j++) {
      bk[j] = keys[order[i]!]!;
      bv[j] = pool[i & mask]!;
    }
    await e.writeBatch(bk, bv, j);
    if (m.tick(i)) await yieldToLoop();
  }
}

async function getLoop(ctx: Ctx, keys: Buffer[], idx: Uint32Array, n: number): Promise<number> {
  const { e, m } = ctx;
  const vsize = ctx.cfg.valueSize;
  let found = 0;
  for (let i = 0; i < n; i++) {
    const v = await e.get(keys[idx[i]!]!);
    if (v !== undefined && v.length === vsize) found++;
    if ((i & 1023) === 1023 && m.tick(i + 1)) await yieldToLoop();
  }
  return found;
}

async function get16Loop(ctx: Ctx, idx: Uint32Array, n: number): Promise<number> {
  const { e, m, keys } = ctx;
  const vsize = ctx.cfg.valueSize;
  let found = 0;
  for (let i = 0; i < n; ) {
    const end = Math.min(n, i + 16);
    const inflight = new Array<Promise<Buffer | undefined> | Buffer | undefined>(end - i);
    for (let j = 0; i < end; i++, j++) inflight[j] = e.get(keys[idx[i]!]!);
    const vs = await Promise.all(inflight);
    for (let k = 0; k < vs.length; k++) {
      const v = vs[k];
      if (v !== undefined && v.length === vsize) found++;
    }
    if ((i & 1023) < 16 && m.tick(i)) await yieldToLoop();
  }
  return found;
}

async function deleteLoop(ctx: Ctx, order: Uint32Array, n: number): Promise<void> {
  const { e, m, keys } = ctx;
  for (let i = 0; i < n; i++) {
    await e.del(keys[order[i]!]!);
    if ((i & 1023) === 1023 && m.tick(i + 1)) await yieldToLoop();
  }
}

async function seekLoop(ctx: Ctx, idx: Uint32Array, n: number): Promise<number> {
  const { e, m, keys } = ctx;
  let entries = 0;
  for (let i = 0; i < n; i++) {
    entries += await e.seekRead(keys[idx[i]!]!, SEEK_ENTRIES);
    if ((i & 1023) === 1023 && m.tick(i + 1)) await yieldToLoop();
  }
  return entries;
}

// ------------------------------------------------------------------ workloads

/** Per-workload inputs, generated before the engine opens so the RSS baseline includes them. */
interface Inputs {
  ops: number;
  /** Key indices in visiting order (fills, deletes, random reads, seeks). */
  order?: Uint32Array;
  /** readwhilewriting: the writer's key indices. */
  writerOrder?: Uint32Array;
  /** readmissing: absent keys. */
  missing?: Buffer[];
  /** seekrandom: entries seek + 10 nexts must return in total. */
  expectedEntries?: number;
}

function prepareInputs(cfg: BenchConfig, w: WorkloadName | 'load', run: number): Inputs {
  const n = cfg.num;
  const seed = cfg.seed;
  switch (w) {
    case 'load':
      return { ops: n, order: permutation(n, rng(seed, w, 0)) };
    case 'fillseq':
      return { ops: n, order: identityIdx(n) };
    case 'fillrandom':
    case 'fillbatch':
    case 'deleterandom':
      // Every key exactly once: the DB ends full (fills) or empty (deletes), so space amp compares.
      return { ops: n, order: permutation(n, rng(seed, w, run)) };
    case 'fillsync': {
      const ops = opsFor(w, cfg);
      return { ops, order: permutation(n, rng(seed, w, run)).subarray(0, ops) };
    }
    case 'overwrite':
    case 'readrandom':
    case 'readrandom16':
      return { ops: n, order: uniformIndices(n, n, rng(seed, w, run)) };
    case 'readmissing': {
      const missing = makeMissingKeys(n, n, cfg.keySize, rng(seed, w, run));
      return { ops: n, order: identityIdx(n), missing };
    }
    case 'readseq':
    case 'readreverse':
      return { ops: n };
    case 'seekrandom': {
      const order = uniformIndices(n, n, rng(seed, w, run));
      let expectedEntries = 0;
      for (let i = 0; i < n; i++) expectedEntries += Math.min(SEEK_ENTRIES, n - order[i]!);
      return { ops: n, order, expectedEntries };
    }
    case 'readwhilewriting': {
      const r = rng(seed, w, run);
      return { ops: n, order: uniformIndices(n, n, r), writerOrder: uniformIndices(n, n, r) };
    }
  }
}

interface Timed {
  ops: number;
  elapsedMs: number;
  logicalBytesWritten: number;
  liveKeys: number | null;
}

/** Starts the meter and the clock, runs the loop, stops the clock (the meter is stopped by the caller). */
async function runTimed(ctx: Ctx, w: WorkloadName | 'load', inp: Inputs): Promise<Timed> {
  const { cfg, e, m, keys } = ctx;
  const n = cfg.num;
  const ops = inp.ops;
  const entry = cfg.keySize + cfg.valueSize;
  const order = inp.order!;
  let t0: number;
  switch (w) {
    case 'load':
    case 'fillbatch': {
      await m.start();
      t0 = performance.now();
      await batchLoop(ctx, order, ops);
      const elapsedMs = performance.now() - t0;
      ctx.verify = async () => {
        const r = await countFound(e, keys, order, ops);
        check(ctx, 'sampled keys found after the load', r.sampled, r.found);
      };
      return { ops, elapsedMs, logicalBytesWritten: ops * entry, liveKeys: n };
    }
    case 'fillseq':
    case 'fillrandom':
    case 'fillsync':
    case 'overwrite': {
      await m.start();
      t0 = performance.now();
      await putLoop(ctx, order, ops);
      const elapsedMs = performance.now() - t0;
      ctx.verify = async () => {
        const r = await countFound(e, keys, order, ops);
        check(ctx, 'sampled written keys found', r.sampled, r.found);
      };
      return { ops, elapsedMs, logicalBytesWritten: ops * entry, liveKeys: w === 'fillsync' ? ops : n };
    }
    case 'readrandom':
    case 'readmissing': {
      const source = inp.missing ?? keys;
      await m.start();
      t0 = performance.now();
      const found = await getLoop(ctx, source, order, ops);
      const elapsedMs = performance.now() - t0;
      ctx.verify = async () =>
        w === 'readrandom' ? check(ctx, 'gets that found the key', ops, found) : check(ctx, 'gets of absent keys that found a value', 0, found);
      return { ops, elapsedMs, logicalBytesWritten: 0, liveKeys: null };
    }
    case 'readrandom16': {
      await m.start();
      t0 = performance.now();
      const found = await get16Loop(ctx, order, ops);
      const elapsedMs = performance.now() - t0;
      ctx.verify = async () => check(ctx, 'gets that found the key', ops, found);
      return { ops, elapsedMs, logicalBytesWritten: 0, liveKeys: null };
    }
    case 'readseq':
    case 'readreverse': {
      const reverse = w === 'readreverse';
      await m.start();
      t0 = performance.now();
      const r = await e.scan(reverse, (k) => m.tick(k));
      const elapsedMs = performance.now() - t0;
      ctx.verify = async () => {
        check(ctx, 'entries scanned', n, r.count);
        const want = keys[reverse ? n - 1 : 0]!;
        check(ctx, 'first scanned key is the expected end of the range', 1, r.first !== undefined && r.first.equals(want) ? 1 : 0);
      };
      return { ops: r.count, elapsedMs, logicalBytesWritten: 0, liveKeys: null };
    }
    case 'seekrandom': {
      await m.start();
      t0 = performance.now();
      const entries = await seekLoop(ctx, order, ops);
      const elapsedMs = performance.now() - t0;
      ctx.verify = async () => check(ctx, 'entries read by seek + 10 nexts', inp.expectedEntries!, entries);
      return { ops, elapsedMs, logicalBytesWritten: 0, liveKeys: null };
    }
    case 'deleterandom': {
      await m.start();
      t0 = performance.now();
      await deleteLoop(ctx, order, ops);
      const elapsedMs = performance.now() - t0;
      ctx.verify = async () => {
        const r = await countFound(e, keys, order, ops);
        check(ctx, 'sampled deleted keys still found', 0, r.found);
      };
      return { ops, elapsedMs, logicalBytesWritten: ops * cfg.keySize, liveKeys: 0 };
    }
    case 'readwhilewriting': {
      const widx = inp.writerOrder!;
      const mask = VALUE_POOL - 1;
      const pool = ctx.pool;
      let stop = false;
      let writes = 0;
      await m.start();
      // The writer: awaited puts of random existing keys for as long as the reads run.
      const writer = (async () => {
        for (let j = 0; !stop; j++) {
          await e.put(keys[widx[j % n]!]!, pool[(j + 7) & mask]!);
          writes++;
        }
      })();
      t0 = performance.now();
      const found = await getLoop(ctx, keys, order, ops);
      const elapsedMs = performance.now() - t0;
      ctx.concurrentWrites = writes;
      stop = true;
      await writer;
      ctx.verify = async () => check(ctx, 'gets that found the key', ops, found);
      return { ops, elapsedMs, logicalBytesWritten: writes * entry, liveKeys: null };
    }
  }
}

function identityIdx(n: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** Runs one task in this (child) process and returns its measurements. */
export async function runTask(task: ChildTask): Promise<RunResult> {
  const { cfg, engine, kind } = task;
  const w = kind === 'load' ? 'load' : task.workload;
  const info = kind === 'load' ? undefined : WORKLOADS[task.workload];

  rmSync(task.dbDir, { recursive: true, force: true });
  mkdirSync(dirname(task.dbDir), { recursive: true });
  if (info?.start === 'loaded') {
    if (task.baseDir === undefined) throw new Error(`${task.workload} needs the loaded base DB`);
    cpSync(task.baseDir, task.dbDir, { recursive: true });
  }

  // Everything the loop reads is generated before the engine opens; the RSS baseline
  // (harness + data, no engine) is taken right after.
  const keys = makeKeys(cfg.num, cfg.keySize);
  const pool = makeValuePool(cfg.valueSize, rng(cfg.seed, 'values', 0));
  const inputs = prepareInputs(cfg, w, task.run);
  gc();
  const baselineRss = process.memoryUsage.rss();
  const meter = new Meter({ engine, workload: w, run: task.run, runs: task.runs, total: inputs.ops }, cfg.yieldMs);
  const e = await openEngine(engine, task.dbDir, cfg, { sync: w === 'fillsync' });
  const ctx: Ctx = { cfg, e, m: meter, keys, pool, checks: [], verify: async () => {} };
  gc();

  const io0 = readIo();
  let timed: Timed;
  let eld: EventLoopDelay;
  try {
    timed = await runTimed(ctx, w, inputs);
  } finally {
    eld = await meter.stop();
  }
  await ctx.verify();

  let settleMs = 0;
  let engine2: Engine = e;
  let statsBeforeReopen: Record<string, unknown> | undefined;
  if (kind === 'load') {
    statsBeforeReopen = e.engineStats();
    // Close and reopen so every engine starts the read workloads from its on-disk state
    // (LevelDB and StrataDB both turn the replayed WAL into an L0 table on open), then
    // wait for background compaction to go quiet before the final close.
    await e.close();
    engine2 = await openEngine(engine, task.dbDir, cfg, { sync: false });
    settleMs = await settle(QUIET_MS, SETTLE_MAX_MS);
  } else if (info?.writes) {
    // Let flushes/compactions the workload triggered finish so write amplification includes them.
    settleMs = await settle(QUIET_MS, SETTLE_MAX_MS);
  }
  const stats = statsBeforeReopen ? { ...statsBeforeReopen, afterReopen: engine2.engineStats() } : engine2.engineStats();
  await engine2.close();
  const io1 = readIo();
  const io: IoCounters = {
    writeBytes: io1.writeBytes - io0.writeBytes,
    cancelledWriteBytes: io1.cancelledWriteBytes - io0.cancelledWriteBytes,
    wchar: io1.wchar - io0.wchar,
  };
  const measureSpace = kind === 'load' || info?.writes === true;
  const disk = measureSpace ? dirBytes(task.dbDir) : null;
  const live = measureSpace ? timed.liveKeys : null;
  const writeAmp = timed.logicalBytesWritten > 0 && io1.writeBytes > 0 && (kind === 'load' || info?.writes) ? io.writeBytes / timed.logicalBytesWritten : null;
  const spaceAmp = disk && live ? disk.allocated / logicalBytes(cfg, live) : null;
  const ok = ctx.checks.every((c) => c.ok);
  const result: RunResult = {
    kind,
    engine,
    workload: w,
    run: task.run,
    ok,
    ...(ok ? {} : { error: ctx.checks.filter((c) => !c.ok).map((c) => `${c.what}: expected ${c.expected}, got ${c.actual}`).join('; ') }),
    ops: timed.ops,
    elapsedMs: timed.elapsedMs,
    opsPerSec: timed.ops / (timed.elapsedMs / 1000),
    usPerOp: (timed.elapsedMs * 1000) / Math.max(1, timed.ops),
    checks: ctx.checks,
    io,
    logicalBytesWritten: timed.logicalBytesWritten,
    writeAmp,
    disk,
    liveKeys: live,
    spaceAmp,
    rss: { baselineBytes: baselineRss, peakBytes: Math.max(meter.peakRss, baselineRss) },
    eventLoopDelay: eld,
    settleMs,
    engineStats: stats,
  };
  if (ctx.concurrentWrites !== undefined) {
    result.concurrentWrites = ctx.concurrentWrites;
    result.concurrentWritesPerSec = ctx.concurrentWrites / (timed.elapsedMs / 1000);
  }
  return result;
}
