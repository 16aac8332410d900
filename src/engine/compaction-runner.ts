import { Worker } from 'node:worker_threads';
import type { Fs } from '../base/index.js';
import { reviveError, runCompactionJob } from './compaction-job.js';
import type { CompactionJobResult, CompactionJobSpec } from './compaction-job.js';
import type { FileMeta } from './version-edit.js';

/** Runs compaction jobs: in a worker thread (real files) or inline with periodic yields (any Fs). */
export interface CompactionRunner {
  run(spec: CompactionJobSpec): Promise<CompactionJobResult>;
  close(): Promise<void>;
}

export class InlineCompactionRunner implements CompactionRunner {
  constructor(private readonly fs: Fs) {}
  run(spec: CompactionJobSpec): Promise<CompactionJobResult> {
    return runCompactionJob(this.fs, { ...spec, yieldEvery: spec.yieldEvery || 1000 });
  }
  async close(): Promise<void> {}
}

const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** One long-lived worker thread; jobs run one at a time. The worker does not keep the process alive when idle. */
export class WorkerCompactionRunner implements CompactionRunner {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: CompactionJobResult) => void; reject: (e: Error) => void }>();

  private start(): Worker {
    if (this.worker) return this.worker;
    // Flags such as --input-type or --eval make no sense for the worker's own module file.
    const execArgv = process.execArgv.filter((a) => !/^--(input-type|eval|print)\b|^-[ep]$/.test(a));
    const w = new Worker(new URL('./compaction-worker.js', import.meta.url), { execArgv });
    w.on('message', (msg: { id: number; result?: CompactionJobResult; error?: { code?: string; message: string } }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) w.unref();
      if (msg.error) p.reject(reviveError(msg.error));
      else {
        const r = msg.result!;
        r.outputs = r.outputs.map((f: FileMeta) => ({ number: f.number, size: f.size, smallest: buf(f.smallest), largest: buf(f.largest) }));
        p.resolve(r);
      }
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

  run(spec: CompactionJobSpec): Promise<CompactionJobResult> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ id, spec: { ...spec, yieldEvery: 0 } });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
