/**
 * Entry point of a line-protocol parser thread (see parse-pool.ts): parses
 * a body into columns and posts them back, the typed arrays transferred.
 */
import { parentPort } from 'node:worker_threads';
import { LineProtocolError, parseLineProtocolColumns } from './line-protocol.js';
import type { ParseJob, ParseReply } from './parse-pool.js';
import { columnsTransferList } from './parse-pool.js';

parentPort?.on('message', (job: ParseJob) => {
  let reply: ParseReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    const c = parseLineProtocolColumns(body, job.options);
    // Only what TsPointColumns says: the parser's own bookkeeping on series and layouts stays here.
    const columns = {
      ...c,
      series: c.series.map((s) => ({ measurement: s.measurement, tags: s.tags, hint: s.hint })),
      layouts: c.layouts.map((l) => ({ names: l.names, types: l.types })),
    };
    transfer = columnsTransferList(columns);
    reply = { id: job.id, columns };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    reply = {
      id: job.id,
      error: err instanceof LineProtocolError ? { code: e.code, message: err.detail, line: err.line, column: err.column } : { code: e.code, message: e.message ?? String(err) },
    };
  }
  parentPort?.postMessage(reply, transfer);
});
