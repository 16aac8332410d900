import type { ServerWritableStream } from '@grpc/grpc-js';
import type { KeyValueService } from '../../base/index.js';
import type { ScanEntry, ScanRequest, ScanResponse } from './messages.js';
import type { ScanPlan } from './request-checks.js';
import { streamStopped, writeMessage } from './stream-write.js';

/** Entries asked of `service.scan` per page. */
export const SCAN_PAGE_ENTRIES = 256;
/** A ScanResponse message holds entries up to this many key and value bytes (one larger entry goes alone). */
export const SCAN_CHUNK_BYTES_MAX = 1024 * 1024;

type ScanCall = ServerWritableStream<ScanRequest, ScanResponse>;

/**
 * Streams a scan in pages of SCAN_PAGE_ENTRIES, each page as one or more
 * ScanResponse messages of at most SCAN_CHUNK_BYTES_MAX. Backpressure: when
 * `call.write` returns false no further page is read until 'drain', so a
 * slow client holds at most the stream's buffer in memory. Stops as soon as
 * the client cancels (the call is then destroyed; no more pages are read).
 * Returns the number of entries streamed; the caller ends the call.
 */
export async function streamScan(call: ScanCall, service: KeyValueService, plan: ScanPlan): Promise<number> {
  let after = plan.options.after;
  let remaining = plan.totalMax;
  let streamed = 0;
  while (remaining > 0 && !streamStopped(call)) {
    const page = await service.scan({ ...plan.options, after, limit: Math.min(SCAN_PAGE_ENTRIES, remaining) });
    remaining -= page.entries.length;
    let chunk: ScanEntry[] = [];
    let chunkBytes = 0;
    for (const e of page.entries) {
      const bytes = e.key.length + e.value.length;
      if (chunk.length > 0 && chunkBytes + bytes > SCAN_CHUNK_BYTES_MAX) {
        if (!(await writeMessage(call, { entries: chunk }))) return streamed;
        streamed += chunk.length;
        chunk = [];
        chunkBytes = 0;
      }
      chunk.push({ key: e.key, value: e.value, expireAtMs: e.expireAtMs ?? 0 });
      chunkBytes += bytes;
    }
    if (chunk.length > 0) {
      if (!(await writeMessage(call, { entries: chunk }))) return streamed;
      streamed += chunk.length;
    }
    if (page.nextAfter === undefined) break;
    after = page.nextAfter;
  }
  return streamed;
}
