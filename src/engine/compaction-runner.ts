import { Worker } from 'node:worker_threads';
import type { Fs } from '../base/index.js';
import { buildTable, reviveError, runCompactionJob } from './compaction-job.js';
import type { CompactionJobResult, CompactionJobSpec, FlushJobSpec } from './compaction-job.js';
import type { Memtable } from './memtable.js';
import type { TableBuilderOptions } from './table/index.js';
import type { FileMeta } from './version-edit.js';

/** Runs compactions and memtable flushes: in a worker thread (real files) or inline with periodic yields (any Fs). */
export interface CompactionRunner {
  run(spec: CompactionJobSpec): Promise<CompactionJobResult>;
  /** Writes the entries of `it` (a frozen memtable) as table `number`, synced; undefined if empty. */
  flush(dir: string, number: number, mem: Memtable, table: TableBuilderOptions): Promise<FileMeta | undefined>;
  close(): Promise<void>;
  /** Gets ready for a first job (a worker starts its thread); a no-op where there is nothing to start. */
  warmUp(): void;
}

export class InlineCompactionRunner implements CompactionRunner {
  constructor(private readonly fs: Fs) {}
  run(spec: CompactionJobSpec): Promise<CompactionJobResult> {
    return runCompactionJob(this.fs, { ...spec, yieldEvery: spec.yieldEvery || 1000 });
  }
  async flush(dir: string, number: number, mem: Memtable, table: TableBuilderOptions): Promise<FileMeta | undefined> {
    const scan = mem.iterator();
    try {
      return await buildTable(this.fs, dir, number, scan, table, 2000);
    } finally {
      scan.close();
    }
  }
  async close(): Promise<void> {}
  warmUp(): void {}
}

const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
/** FileMeta keys arrive as Uint8Array (structured clone). */
const revive = (f: FileMeta): FileMeta => ({ number: f.number, size: f.size, smallest: buf(f.smallest), largest: buf(f.largest) });

/**
 * Entries a job handles between yields to the worker's event loop: jobs in
 * flight (compactions and flushes, of every database in the process) take
 * turns of about a millisecond, so a flush never waits for a long compaction
 * to finish before it starts.
 */
const WORKER_YIELD_EVERY = 2000;

/** Idle shared flush arenas kept for reuse (one per database flushing concurrently is typical). */
const MAX_SPARE_ARENAS = 4;

/**
 * The background thread of every database in the process: one worker (a
 * Node worker costs ~23 MB of RSS before it does anything, and a cluster
 * node opens an engine per shard replica), shared through `acquire`, and
 * terminated when the last database lets go. Jobs posted while others run
 * interleave in it (see WORKER_YIELD_EVERY). It does not keep the process
 * alive when idle.
 */
export class WorkerCompactionRunner implements CompactionRunner {
  private static shared: WorkerCompactionRunner | undefined;
  private users = 0;

  /** The process's runner, with one more user (release it with `close`). */
  static acquire(): WorkerCompactionRunner {
    const r = (WorkerCompactionRunner.shared ??= new WorkerCompactionRunner());
    r.users++;
    return r;
  }

  private worker: Worker | undefined;
  private nextId = 1;
  /**
   * Shared arenas no flush is using: the next flush copies its memtable into
   * one (the smallest large enough). Shared and reused, never transferred:
   * transferring an ArrayBuffer detaches it, which costs every isolate that
   * does it its optimized typed-array code (V8 drops each function that
   * relied on no buffer ever being detached: ~20 recompiles on the event
   * loop's side, ~10 of the hottest table-building functions in the worker,
   * in the first seconds of every process); and a fresh SharedArrayBuffer
   * per flush would stay allocated until the rarely collecting worker heap
   * let go of it (peak RSS 64 MB higher over 70 flushes). At most as many
   * exist as flushes ever ran at once (plus MAX_SPARE_ARENAS kept idle).
   */
  private readonly spareArenas: SharedArrayBuffer[] = [];
  private readonly pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();

  /**
   * Starts the thread now rather than at the first job: creating one holds
   * the event loop for a few ms, and the new thread boots for ~50–100 ms of
   * CPU, so it is better done before a flush is waited for.
   */
  warmUp(): void {
    this.start();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // The worker runs compiled code of its own and needs none of the parent's flags; some
    // (--input-type, --eval, --expose-gc, ...) are even refused for workers. STRATA_WORKER_NODE_ARGS
    // passes flags for diagnosis (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
    const execArgv = (process.env.STRATA_WORKER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    const w = new Worker(new URL('./compaction-worker.js', import.meta.url), { execArgv });
    w.on('message', (msg: { id: number; result?: unknown; error?: { code?: string; message: string } }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) w.unref();
      if (msg.error) p.reject(reviveError(msg.error));
      else p.resolve(msg.result);
    });
    const failAll = (err: Error) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.worker = undefined;
    };
    w.on('error', failAll);
    w.on('exit', (code) => failAll(new Error(`compaction worker exited with code ${code}`)));
    w.unref();
    this.worker = w;
    return w;
  }

  private post<T>(msg: object): Promise<T> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      w.ref();
      w.postMessage({ id, ...msg });
    });
  }

  async run(spec: CompactionJobSpec): Promise<CompactionJobResult> {
    const r = await this.post<CompactionJobResult>({ kind: 'compact', spec: { ...spec, yieldEvery: WORKER_YIELD_EVERY } });
    r.outputs = r.outputs.map(revive);
    return r;
  }

  async flush(dir: string, number: number, mem: Memtable, table: TableBuilderOptions): Promise<FileMeta | undefined> {
    const shared = this.takeArena(mem.arenaBytes, mem.arenaCapacity);
    const { used, ref } = mem.exportArena(shared);
    const spec: FlushJobSpec = { dir, number, arena: shared, used, ref, table, yieldEvery: WORKER_YIELD_EVERY };
    try {
      const meta = await this.post<FileMeta | undefined>({ kind: 'flush', spec });
      return meta === undefined ? undefined : revive(meta);
    } finally {
      // The worker answers after its last read of the arena.
      this.spareArenas.push(shared);
      if (this.spareArenas.length > MAX_SPARE_ARENAS) this.spareArenas.sort((a, b) => b.byteLength - a.byteLength).length = MAX_SPARE_ARENAS;
    }
  }

  /** The smallest spare arena of at least `need` bytes, or a new one of `size` bytes. */
  private takeArena(need: number, size: number): SharedArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.spareArenas.length; i++) {
      const len = this.spareArenas[i]!.byteLength;
      if (len >= need && (best < 0 || len < this.spareArenas[best]!.byteLength)) best = i;
    }
    if (best < 0) return new SharedArrayBuffer(Math.max(need, size));
    return this.spareArenas.splice(best, 1)[0]!;
  }

  /** Lets go of the runner; the last user's close terminates the thread. */
  async close(): Promise<void> {
    if (this.users > 0 && --this.users > 0) return;
    if (WorkerCompactionRunner.shared === this) WorkerCompactionRunner.shared = undefined;
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
