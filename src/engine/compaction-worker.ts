/**
 * Entry point of a background worker thread: receives compaction and flush
 * jobs, runs them with the real file system, posts back the result. Buffers
 * arrive as Uint8Array (structured clone) and are rewrapped as Buffers.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { NodeFs } from '../base/index.js';
import { runCompactionJob, runFlushJob } from './compaction-job.js';
import type { CompactionJobSpec, FlushJobSpec } from './compaction-job.js';
import type { FileMeta } from './version-edit.js';

const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
const meta = (f: FileMeta): FileMeta => ({ number: f.number, size: f.size, smallest: buf(f.smallest), largest: buf(f.largest) });

const fs = new NodeFs();

/**
 * How much this thread lowers its CPU priority (its nice value) at start, as
 * RocksDB lowers its compaction pool's: flushes and compactions yield the CPU
 * to the event loop and to V8's garbage-collection threads when they compete
 * for it (two cores, an event loop busy with reads and writes), and still get
 * all of it otherwise. Measured in an in-process readwhilewriting (300k keys):
 * the event loop's run-queue wait fell from 931 to 492 ms and from 1129 to
 * 596 ms (two pairs of runs). STRATA_WORKER_NICE overrides it (0-19), for diagnosis.
 */
const BACKGROUND_NICE = 10;

/** Adds `by` to this thread's nice value (Linux: a thread id is a valid setpriority target). */
function lowerPriority(by: number): void {
  if (!Number.isInteger(by) || by <= 0 || by > 19) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, getPriority(tid) + by));
  } catch {
    // Not Linux, or not permitted: the thread keeps the process's priority.
  }
}
lowerPriority(process.env.STRATA_WORKER_NICE !== undefined ? Number(process.env.STRATA_WORKER_NICE) : BACKGROUND_NICE);
type Job = { id: number; kind: 'compact'; spec: CompactionJobSpec } | { id: number; kind: 'flush'; spec: FlushJobSpec };

function run(msg: Job): Promise<unknown> {
  if (msg.kind === 'flush') return runFlushJob(fs, msg.spec);
  return runCompactionJob(fs, {
    ...msg.spec,
    inputs: msg.spec.inputs.map((i) => ({ level: i.level, files: i.files.map(meta) })),
    deeperLevels: msg.spec.deeperLevels.map((files) => files.map(meta)),
  });
}

parentPort?.on('message', (msg: Job) => {
  run(msg).then(
    (result) => parentPort?.postMessage({ id: msg.id, result }),
    (err: unknown) => {
      const e = err as { code?: string; message?: string; file?: string; offset?: number };
      parentPort?.postMessage({ id: msg.id, error: { code: e.code, message: e.message ?? String(err), file: e.file, offset: e.offset } });
    },
  );
});
