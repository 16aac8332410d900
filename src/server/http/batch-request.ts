import { ERROR_CODES, StrataError, invalidArgument } from '../../base/index.js';
import type { KvBatchOp } from '../../base/index.js';
import type { ServerLimits } from '../limits.js';
import { WIRE_ENCODINGS, stringBytes } from './wire-bytes.js';
import type { WireEncoding } from './wire-bytes.js';

/** Operations one batch request may carry. */
export const BATCH_OPS_MAX = 100_000;

/** Longest expiry a batch or PUT may ask for relative to now (about 100 years). */
export const TTL_MS_MAX = 100 * 365 * 24 * 3600 * 1000;
/** Latest absolute expiry accepted (year 275760, the largest JavaScript date). */
export const EXPIRE_AT_MS_MAX = 8_640_000_000_000_000;

const DOC_FIELDS = ['ops', 'encoding'];
const OP_FIELDS = ['type', 'key', 'value', 'ttlMs', 'expireAtMs', 'keyEncoding', 'valueEncoding'];

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function encodingField(obj: JsonObject, field: string, where: string, fallback: WireEncoding): WireEncoding {
  const v = obj[field];
  if (v === undefined) return fallback;
  const hit = WIRE_ENCODINGS.find((e) => e === v);
  if (hit === undefined) throw invalidArgument(`${where}.${field} must be one of ${WIRE_ENCODINGS.join(', ')}`);
  return hit;
}

function unknownField(obj: JsonObject, allowed: readonly string[]): string | undefined {
  return Object.keys(obj).find((k) => !allowed.includes(k));
}

function positiveInteger(v: unknown, where: string, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > max) throw invalidArgument(`${where} must be an integer from 1 to ${max}`);
  return v;
}

/** Parses a request body as JSON; PROTOCOL (400) when it is not JSON. */
export function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    // JSON.parse throws SyntaxError for bad text and RangeError for nesting too deep to parse.
    throw new StrataError(ERROR_CODES.PROTOCOL, 'request body is not valid JSON', { cause: err });
  }
}

/**
 * Validates a batch document `{ops:[{type,key,value?,ttlMs?,expireAtMs?,keyEncoding?,valueEncoding?}], encoding?}`
 * and turns it into service ops. Every op is checked before anything is
 * applied; errors name the op (`ops[3].key: ...`): INVALID_ARGUMENT (400),
 * or LIMIT_EXCEEDED (413) for a key, value or op count over its limit.
 */
export function parseBatch(doc: unknown, limits: ServerLimits, nowMs: number): KvBatchOp[] {
  if (!isObject(doc)) throw invalidArgument('batch body must be a JSON object {"ops":[...]}');
  const extra = unknownField(doc, DOC_FIELDS);
  if (extra !== undefined) throw invalidArgument(`unknown field '${extra.slice(0, 64)}' in the batch (allowed: ${DOC_FIELDS.join(', ')})`);
  const encoding = encodingField(doc, 'encoding', 'batch', 'utf8');
  const ops = doc['ops'];
  if (!Array.isArray(ops)) throw invalidArgument('batch.ops must be an array');
  if (ops.length > BATCH_OPS_MAX) throw new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `batch has ${ops.length} ops; at most ${BATCH_OPS_MAX}`);
  const out: KvBatchOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    const where = `ops[${i}]`;
    const op: unknown = ops[i];
    if (!isObject(op)) throw invalidArgument(`${where} must be an object`);
    const bad = unknownField(op, OP_FIELDS);
    if (bad !== undefined) throw invalidArgument(`${where}: unknown field '${bad.slice(0, 64)}' (allowed: ${OP_FIELDS.join(', ')})`);
    const type = op['type'];
    if (type !== 'put' && type !== 'del') throw invalidArgument(`${where}.type must be 'put' or 'del'`);
    if (typeof op['key'] !== 'string') throw invalidArgument(`${where}.key must be a string`);
    const key = stringBytes(op['key'], encodingField(op, 'keyEncoding', where, encoding), `${where}.key`);
    if (key.length === 0) throw invalidArgument(`${where}.key must not be empty`);
    if (key.length > limits.keyBytesMax) throw new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `${where}.key is ${key.length} bytes; at most ${limits.keyBytesMax}`);
    if (type === 'del') {
      for (const f of ['value', 'ttlMs', 'expireAtMs', 'valueEncoding']) {
        if (op[f] !== undefined) throw invalidArgument(`${where}.${f} is not allowed on a del`);
      }
      out.push({ type: 'del', key });
      continue;
    }
    if (typeof op['value'] !== 'string') throw invalidArgument(`${where}.value must be a string`);
    const value = stringBytes(op['value'], encodingField(op, 'valueEncoding', where, encoding), `${where}.value`);
    if (value.length > limits.valueBytesMax) throw new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `${where}.value is ${value.length} bytes; at most ${limits.valueBytesMax}`);
    if (op['ttlMs'] !== undefined && op['expireAtMs'] !== undefined) throw invalidArgument(`${where}: give ttlMs or expireAtMs, not both`);
    if (op['ttlMs'] !== undefined) {
      out.push({ type: 'put', key, value, expireAtMs: nowMs + positiveInteger(op['ttlMs'], `${where}.ttlMs`, TTL_MS_MAX) });
    } else if (op['expireAtMs'] !== undefined) {
      out.push({ type: 'put', key, value, expireAtMs: positiveInteger(op['expireAtMs'], `${where}.expireAtMs`, EXPIRE_AT_MS_MAX) });
    } else {
      out.push({ type: 'put', key, value });
    }
  }
  return out;
}
