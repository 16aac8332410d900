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
    const scan = mem.scan();
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

/** One long-lived worker thread; jobs run one at a time. The worker does not keep the process alive when idle. */
export class WorkerCompactionRunner implements CompactionRunner {
  private worker: Worker | undefined;
  private nextId = 1;
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

  private post<T>(msg: object, transfer: ArrayBuffer[] = []): Promise<T> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      w.ref();
      w.postMessage({ id, ...msg }, transfer);
    });
  }

  async run(spec: CompactionJobSpec): Promise<CompactionJobResult> {
    const r = await this.post<CompactionJobResult>({ kind: 'compact', spec: { ...spec, yieldEvery: 0 } });
    r.outputs = r.outputs.map(revive);
    return r;
  }

  async flush(dir: string, number: number, mem: Memtable, table: TableBuilderOptions): Promise<FileMeta | undefined> {
    const { arena, used } = mem.exportArena();
    const spec: FlushJobSpec = { dir, number, arena, used, table };
    const meta = await this.post<FileMeta | undefined>({ kind: 'flush', spec }, [arena]);
    return meta === undefined ? undefined : revive(meta);
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
