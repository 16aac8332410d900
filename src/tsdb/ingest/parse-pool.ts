/**
 * Line-protocol parsing off the event loop. A large write body (hundreds of
 * KB to MB: agents batch thousands of lines) takes tens of milliseconds to
 * parse; on the event loop that time is taken from every other request and
 * from the store's own work. The pool hands bodies of at least `minBytes`
 * to parser threads (started when first needed; one by default) and gets
 * the columns back with their typed arrays transferred, not copied; smaller
 * bodies are parsed inline, where a thread hop would cost more than it
 * saves. The answers and the errors (LineProtocolError with
 * its line and column) are the same either way.
 */
import { Worker } from 'node:worker_threads';
import { ERROR_CODES, StrataError } from '../../base/index.js';
import type { ErrorCode } from '../../base/index.js';
import type { TsPointColumns } from '../types.js';
import { LineProtocolError, parseLineProtocolColumns } from './line-protocol.js';
import type { LineProtocolOptions } from './line-protocol.js';

export interface ParseJob {
  id: number;
  body: Uint8Array;
  options: LineProtocolOptions;
}

export type ParseReply =
  | { id: number; columns: TsPointColumns; error?: undefined }
  | { id: number; columns?: undefined; error: { code: string | undefined; message: string; line?: number; column?: number } };

/** The buffers of a columns batch's typed arrays (distinct), for a transfer list. */
export function columnsTransferList(c: TsPointColumns): ArrayBuffer[] {
  const arrays = [c.seriesOf, c.layoutOf, c.timeMs, c.valueStart, c.numbers, c.nanos];
  const out = new Set<ArrayBuffer>();
  for (const a of arrays) if (a !== undefined && a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  return [...out];
}

export interface ParsePoolOptions {
  /** Parser threads; 0 parses every body inline. Default 1 (it parses faster than one store applies). */
  threads?: number;
  /** Bodies smaller than this are parsed inline. Default 64 KiB. */
  minBytes?: number;
}

interface Pending {
  resolve: (c: TsPointColumns) => void;
  reject: (e: Error) => void;
}

class ParserThread {
  private worker: Worker | undefined;
  readonly pending = new Map<number, Pending>();

  private start(): Worker {
    if (this.worker) return this.worker;
    // Compiled code of its own: none of the parent's flags (some are refused for workers).
    const w = new Worker(new URL('./parse-worker.js', import.meta.url), { execArgv: [] });
    w.on('message', (msg: ParseReply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) w.unref();
      if (msg.error === undefined) p.resolve(msg.columns);
      else if (msg.error.line !== undefined) p.reject(new LineProtocolError(msg.error.line, msg.error.column ?? 0, msg.error.message));
      else if (msg.error.code !== undefined) p.reject(new StrataError(msg.error.code as ErrorCode, msg.error.message));
      else p.reject(new Error(msg.error.message));
    });
    const failAll = (err: Error) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.worker = undefined;
    };
    w.on('error', failAll);
    w.on('exit', (code) => failAll(new StrataError(ERROR_CODES.UNAVAILABLE, `line-protocol parser thread exited with code ${code}`)));
    w.unref();
    this.worker = w;
    return w;
  }

  parse(id: number, body: Buffer, options: LineProtocolOptions): Promise<TsPointColumns> {
    const w = this.start();
    // A body that owns its whole memory moves to the thread; any other is copied there.
    const owns = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    return new Promise<TsPointColumns>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      const job: ParseJob = { id, body, options };
      w.postMessage(job, owns ? [body.buffer as ArrayBuffer] : []);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}

export class LineProtocolParsePool {
  private readonly threads: ParserThread[];
  private readonly minBytes: number;
  private nextId = 1;
  private closed = false;

  constructor(opts: ParsePoolOptions = {}) {
    const threads = opts.threads ?? 1;
    this.threads = Array.from({ length: Math.max(0, Math.floor(threads)) }, () => new ParserThread());
    this.minBytes = opts.minBytes ?? 64 * 1024;
  }

  /**
   * `parseLineProtocolColumns(body, options)`, in a parser thread when the
   * body is large enough. A body handed to a thread may be detached
   * afterwards: the caller must not read it again.
   */
  parse(body: Buffer, options: LineProtocolOptions): Promise<TsPointColumns> {
    if (this.closed || this.threads.length === 0 || body.length < this.minBytes) {
      try {
        return Promise.resolve(parseLineProtocolColumns(body, options));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    // The thread with the fewest bodies in hand.
    let best = this.threads[0]!;
    for (const t of this.threads) if (t.pending.size < best.pending.size) best = t;
    return best.parse(this.nextId++, body, options);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
