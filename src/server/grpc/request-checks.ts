import { ERROR_CODES, StrataError, invalidArgument } from '../../base/index.js';
import type { KvBatchOp, KvScanOptions, KvSetOptions } from '../../base/index.js';
import type { ServerLimits } from '../limits.js';
import type { BatchOp, ExpiryFields, PutRequest, ScanRequest } from './messages.js';

/**
 * Checks and converts decoded requests into KeyValueService arguments.
 * Every function throws a StrataError before anything is written:
 * INVALID_ARGUMENT for a malformed request, LIMIT_EXCEEDED (gRPC
 * RESOURCE_EXHAUSTED) for a key or value over the configured limits.
 */

/** A key: 1..keyBytesMax bytes. `what` names it in the message (e.g. "keys[3]"). */
export function checkKey(key: Uint8Array, limits: ServerLimits, what = 'key'): Uint8Array {
  if (key.length === 0) throw invalidArgument(`${what} must not be empty`);
  if (key.length > limits.keyBytesMax) throw limitExceeded(`${what} is ${key.length} bytes; the limit is ${limits.keyBytesMax}`);
  return key;
}

/** A value: at most valueBytesMax bytes. */
export function checkValue(value: Uint8Array, limits: ServerLimits, what = 'value'): Uint8Array {
  if (value.length > limits.valueBytesMax) throw limitExceeded(`${what} is ${value.length} bytes; the limit is ${limits.valueBytesMax}`);
  return value;
}

/** The absolute expiry of a put's `expiry` oneof, or undefined when unset. */
export function expireAtOf(fields: ExpiryFields, nowMs: number, what: string): number | undefined {
  switch (fields.expiry) {
    case undefined:
      return undefined;
    case 'ttlMs': {
      const ttl = fields.ttlMs ?? 0;
      if (!Number.isSafeInteger(ttl) || ttl <= 0) throw invalidArgument(`${what}.ttl_ms must be a positive number of milliseconds`);
      const at = nowMs + ttl;
      if (!Number.isSafeInteger(at)) throw invalidArgument(`${what}.ttl_ms is too large`);
      return at;
    }
    case 'expireAtMs': {
      const at = fields.expireAtMs ?? 0;
      if (!Number.isSafeInteger(at) || at <= 0) throw invalidArgument(`${what}.expire_at_ms must be a positive time in ms since the epoch`);
      return at;
    }
  }
}

/** set() options for a PutRequest. */
export function putOptionsOf(req: PutRequest, nowMs: number): KvSetOptions {
  const options: KvSetOptions = {};
  const expireAtMs = expireAtOf(req, nowMs, 'put');
  if (expireAtMs !== undefined) options.expireAtMs = expireAtMs;
  switch (req.condition) {
    case 'NONE':
      break;
    case 'IF_ABSENT':
      options.condition = 'nx';
      break;
    case 'IF_PRESENT':
      options.condition = 'xx';
      break;
    default:
      throw invalidArgument(`unknown put condition ${String(req.condition)}`);
  }
  return options;
}

/** The service's batch ops, all checked before any is applied. */
export function batchOpsOf(ops: readonly BatchOp[], limits: ServerLimits, nowMs: number): KvBatchOp[] {
  if (ops.length === 0) throw invalidArgument('a batch needs at least one op');
  return ops.map((op, i): KvBatchOp => {
    const what = `ops[${i}]`;
    if (op.op === 'put' && op.put !== undefined) {
      const put = op.put;
      const key = checkKey(put.key, limits, `${what}.put.key`);
      const value = checkValue(put.value, limits, `${what}.put.value`);
      const expireAtMs = expireAtOf(put, nowMs, `${what}.put`);
      return expireAtMs === undefined ? { type: 'put', key, value } : { type: 'put', key, value, expireAtMs };
    }
    if (op.op === 'del' && op.del !== undefined) return { type: 'del', key: checkKey(op.del.key, limits, `${what}.del.key`) };
    throw invalidArgument(`${what} sets neither put nor del`);
  });
}

/** Delete's keys: at least one, each checked. */
export function deleteKeysOf(keys: readonly Buffer[], limits: ServerLimits): Uint8Array[] {
  if (keys.length === 0) throw invalidArgument('delete needs at least one key');
  return keys.map((k, i) => checkKey(k, limits, `keys[${i}]`));
}

/** A checked ScanRequest: the service options without a page limit, and the total to stream (Infinity for all). */
export interface ScanPlan {
  options: Omit<KvScanOptions, 'limit'>;
  totalMax: number;
}

export function scanPlanOf(req: ScanRequest, limits: ServerLimits): ScanPlan {
  if (!Number.isInteger(req.limit) || req.limit < 0 || req.limit > limits.scanLimitMax) {
    throw invalidArgument(`scan limit must be 0 (the whole range) or 1..${limits.scanLimitMax}, got ${req.limit}`);
  }
  const options: Omit<KvScanOptions, 'limit'> = { reverse: req.reverse, keysOnly: req.keysOnly };
  const bound = (b: Buffer, what: string): Buffer | undefined => {
    if (b.length === 0) return undefined;
    if (b.length > limits.keyBytesMax) throw limitExceeded(`scan ${what} is ${b.length} bytes; the key limit is ${limits.keyBytesMax}`);
    return b;
  };
  const prefix = bound(req.prefix, 'prefix');
  const start = bound(req.start, 'start');
  const end = bound(req.end, 'end');
  const after = bound(req.after, 'after');
  if (prefix !== undefined) options.prefix = prefix;
  if (start !== undefined) options.start = start;
  if (end !== undefined) options.end = end;
  if (after !== undefined) options.after = after;
  return { options, totalMax: req.limit === 0 ? Infinity : req.limit };
}

function limitExceeded(message: string): StrataError {
  return new StrataError(ERROR_CODES.LIMIT_EXCEEDED, message);
}
