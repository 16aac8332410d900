/**
 * The one HTTP client of `npm run bench:tsdb` (node:http with a keep-alive
 * agent), used the same way for both databases: the load loop with K
 * requests in flight and its progress line, and timed single requests for
 * the queries.
 */
import { Agent, request } from 'node:http';
import type { Batch } from './tsdb-data.js';

export interface HttpResponse {
  status: number;
  body: Buffer;
  /** From writing the request to the last body byte, ms. */
  ms: number;
}

export class HttpClient {
  private readonly agent: Agent;

  constructor(
    readonly base: string,
    maxSockets: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /** One request; the body is read completely before the promise resolves (the time includes it). */
  send(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<HttpResponse> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          headers: { ...headers, ...(payload ? { 'content-length': String(payload.length) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<{ status: number; value: T; ms: number; text: string }> {
    const r = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? {} : { 'content-type': 'application/json' });
    const text = r.body.toString('utf8');
    let value: T;
    try {
      value = JSON.parse(text) as T;
    } catch {
      value = undefined as T;
    }
    return { status: r.status, value, ms: r.ms, text };
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface LoadResult {
  rows: number;
  batches: number;
  ms: number;
  rowsPerSec: number;
}

/** 1.2M, 310.5k, 999. */
export const fmtCount = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));

/**
 * POSTs every batch to `path` with `concurrency` requests in flight; any
 * status other than `okStatus` aborts the load with the server's answer.
 * The progress line ("loaded 1.2M / 8.6M rows, 310k rows/s") goes to
 * stderr every 200 ms on a terminal, every 10 s otherwise.
 */
export async function loadBatches(
  client: HttpClient,
  path: string,
  batches: AsyncIterable<Batch>,
  opts: { concurrency: number; totalRows: number; label: string; okStatus: number; contentType: string },
): Promise<LoadResult> {
  const tty = process.stderr.isTTY === true;
  const iter = batches[Symbol.asyncIterator]();
  let rows = 0;
  let sent = 0;
  let failure: Error | undefined;
  const t0 = performance.now();
  let lastDraw = t0;
  const draw = (final: boolean) => {
    const secs = (performance.now() - t0) / 1000;
    const line = `  ${opts.label}: loaded ${fmtCount(rows)} / ${fmtCount(opts.totalRows)} rows, ${fmtCount(Math.round(rows / Math.max(secs, 1e-9)))} rows/s`;
    if (tty) process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
  // The iterator is shared by the workers; each pulls its next batch when its request is answered.
  let pulling: Promise<unknown> = Promise.resolve();
  const next = (): Promise<IteratorResult<Batch>> => {
    const p = pulling.then(() => iter.next());
    pulling = p.catch(() => undefined);
    return p;
  };
  const worker = async () => {
    for (;;) {
      if (failure) return;
      const n = await next();
      if (n.done) return;
      sent++;
      const res = await client.send('POST', path, n.value.body, { 'content-type': opts.contentType });
      if (res.status !== opts.okStatus) {
        failure ??= new Error(`${opts.label}: POST ${path} answered ${res.status}: ${res.body.toString('utf8').slice(0, 400)}`);
        return;
      }
      rows += n.value.rows;
      const now = performance.now();
      if (now - lastDraw >= (tty ? 200 : 10_000)) {
        lastDraw = now;
        draw(false);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  if (failure) {
    if (tty) process.stderr.write('\n');
    await iter.return?.(undefined);
    throw failure;
  }
  const ms = performance.now() - t0;
  draw(true);
  return { rows, batches: sent, ms, rowsPerSec: rows / (ms / 1000) };
}
