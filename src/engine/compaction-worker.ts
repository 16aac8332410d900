/**
 * Entry point of the compaction worker thread: receives CompactionJobSpecs,
 * runs the merge with the real file system, posts back the result. Buffers
 * arrive as Uint8Array (structured clone) and are rewrapped as Buffers.
 */
import { parentPort } from 'node:worker_threads';
import { NodeFs } from '../base/index.js';
import { runCompactionJob } from './compaction-job.js';
import type { CompactionJobSpec } from './compaction-job.js';
import type { FileMeta } from './version-edit.js';

const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
const meta = (f: FileMeta): FileMeta => ({ number: f.number, size: f.size, smallest: buf(f.smallest), largest: buf(f.largest) });

const fs = new NodeFs();
parentPort?.on('message', (msg: { id: number; spec: CompactionJobSpec }) => {
  const spec: CompactionJobSpec = {
    ...msg.spec,
    inputs: msg.spec.inputs.map((i) => ({ level: i.level, files: i.files.map(meta) })),
    deeperLevels: msg.spec.deeperLevels.map((files) => files.map(meta)),
  };
  runCompactionJob(fs, spec).then(
    (result) => parentPort?.postMessage({ id: msg.id, result }),
    (err: unknown) => {
      const e = err as { code?: string; message?: string; file?: string; offset?: number };
      parentPort?.postMessage({ id: msg.id, error: { code: e.code, message: e.message ?? String(err), file: e.file, offset: e.offset } });
    },
  );
});
