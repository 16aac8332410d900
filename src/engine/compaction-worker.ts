/**
 * Entry point of a background worker thread: receives compaction and flush
 * jobs, runs them with the real file system, posts back the result. Buffers
 * arrive as Uint8Array (structured clone) and are rewrapped as Buffers.
 */
import { parentPort } from 'node:worker_threads';
import { NodeFs } from '../base/index.js';
import { runCompactionJob, runFlushJob } from './compaction-job.js';
import type { CompactionJobSpec, FlushJobSpec } from './compaction-job.js';
import type { FileMeta } from './version-edit.js';

const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
const meta = (f: FileMeta): FileMeta => ({ number: f.number, size: f.size, smallest: buf(f.smallest), largest: buf(f.largest) });

const fs = new NodeFs();
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
