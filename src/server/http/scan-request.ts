import type { KvScanOptions, KvScanPage } from '../../base/index.js';
import type { ServerLimits } from '../limits.js';
import type { QueryParams } from './query-params.js';
import { WIRE_ENCODINGS, decodeBase64, encodeBytes, paramBytes } from './wire-bytes.js';
import type { WireEncoding } from './wire-bytes.js';

/** Query parameters of `GET /v1/kv`. */
export const SCAN_PARAMS = ['prefix', 'start', 'end', 'after', 'limit', 'reverse', 'keys_only', 'encoding'] as const;

/** Entries in a page when `limit` is not given. */
export const SCAN_LIMIT_DEFAULT = 100;

export interface ScanRequest {
  options: KvScanOptions;
  encoding: WireEncoding;
}

/**
 * Reads the scan parameters. prefix, start and end are in the requested
 * encoding (utf8: the percent-decoded bytes as they are; base64: base64 or
 * base64url text). `after` is always base64url: it is the `next` cursor of
 * the previous page, passed back unchanged.
 */
export function parseScanRequest(q: QueryParams, limits: ServerLimits): ScanRequest {
  const encoding = q.choice('encoding', WIRE_ENCODINGS) ?? 'utf8';
  const options: KvScanOptions = {
    limit: q.integer('limit', 1, limits.scanLimitMax) ?? Math.min(SCAN_LIMIT_DEFAULT, limits.scanLimitMax),
    reverse: q.flag('reverse', false),
    keysOnly: q.flag('keys_only', false),
  };
  const prefix = q.bytes('prefix');
  if (prefix !== undefined) options.prefix = paramBytes(prefix, encoding, "query parameter 'prefix'");
  const start = q.bytes('start');
  if (start !== undefined) options.start = paramBytes(start, encoding, "query parameter 'start'");
  const end = q.bytes('end');
  if (end !== undefined) options.end = paramBytes(end, encoding, "query parameter 'end'");
  const after = q.bytes('after');
  if (after !== undefined) options.after = decodeBase64(after.toString('latin1'), "query parameter 'after'");
  return { options, encoding };
}

export interface ScanEntryJson {
  key: string;
  keyEncoding?: 'base64';
  value?: string;
  valueEncoding?: 'base64';
  expireAtMs?: number;
}

export interface ScanPageJson {
  entries: ScanEntryJson[];
  /** base64url cursor: pass as `after` for the next page; absent when the scan is complete. */
  next?: string;
}

/**
 * The JSON for a page. With utf8, a key or value that is not valid UTF-8 is
 * sent as base64 and its entry says so (`keyEncoding`/`valueEncoding`).
 * A page is cut short once it holds `bytesMax` bytes of keys and values
 * (at least one entry), with `next` pointing after the last entry sent.
 */
export function scanPageJson(page: KvScanPage, request: ScanRequest, bytesMax: number): ScanPageJson {
  const entries: ScanEntryJson[] = [];
  const keysOnly = request.options.keysOnly === true;
  let bytes = 0;
  let next = page.nextAfter;
  for (let i = 0; i < page.entries.length; i++) {
    const e = page.entries[i]!;
    if (i > 0 && bytes + e.key.length + e.value.length > bytesMax) {
      next = page.entries[i - 1]!.key;
      break;
    }
    bytes += e.key.length + e.value.length;
    const key = encodeBytes(e.key, request.encoding);
    const out: ScanEntryJson = { key: key.text };
    if (key.encoding !== request.encoding) out.keyEncoding = 'base64';
    if (!keysOnly) {
      const value = encodeBytes(e.value, request.encoding);
      out.value = value.text;
      if (value.encoding !== request.encoding) out.valueEncoding = 'base64';
    }
    if (e.expireAtMs !== undefined) out.expireAtMs = e.expireAtMs;
    entries.push(out);
  }
  const json: ScanPageJson = { entries };
  if (next !== undefined) json.next = next.toString('base64url');
  return json;
}
