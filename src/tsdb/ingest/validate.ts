/**
 * Validation shared by the write-path parsers (line protocol, Prometheus
 * remote write, JSON points). The checks return a problem description (or
 * `undefined` when the value is fine) so each parser can wrap it in its own
 * error with a position (line and column, JSON path, series index);
 * `validatePoint` runs every check on a finished point and throws.
 *
 * Rules:
 * - measurement, tag and field names: non-empty, at most
 *   `INGEST_LIMITS.maxNameBytes` bytes of UTF-8, no control characters
 *   (U+0000..U+001F, U+007F: they cannot be written in line protocol and
 *   would break series keys);
 * - tag values: non-empty, at most `maxTagValueBytes`, no control characters;
 * - at least one field; field names unique; tag names unique;
 * - string field values at most `maxStringValueBytes`;
 * - integer field values safe integers (±(2^53-1)); float values finite
 *   unless the caller allows non-finite ones (remote write keeps NaN
 *   staleness markers and ±Inf);
 * - `timeMs` a safe integer, `nanos` an integer in 0..999,999.
 */
import { invalidArgument } from '../../base/index.js';
import type { TsField, TsPoint } from '../types.js';

/** Size limits of the write path, in bytes of UTF-8. Change them here. */
export const INGEST_LIMITS = {
  /** Measurement, tag and field names. */
  maxNameBytes: 256,
  /** Tag values. */
  maxTagValueBytes: 1024,
  /** String field values (64 KiB). */
  maxStringValueBytes: 64 * 1024,
} as const;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** UTF-8 length of `s` compared with `limit` without encoding when the answer is obvious. */
function utf8LongerThan(s: string, limit: number): boolean {
  if (s.length > limit) return true; // a UTF-16 unit is at least one byte
  if (s.length * 3 <= limit) return false; // a UTF-16 unit is at most three bytes
  return Buffer.byteLength(s, 'utf8') > limit;
}

/** Problem with a measurement, tag or field name, or undefined. */
export function checkName(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (utf8LongerThan(name, INGEST_LIMITS.maxNameBytes)) return `is longer than ${INGEST_LIMITS.maxNameBytes} bytes`;
  if (CONTROL.test(name)) return 'must not contain control characters';
  return undefined;
}

/** Problem with a tag value, or undefined. */
export function checkTagValue(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (utf8LongerThan(value, INGEST_LIMITS.maxTagValueBytes)) return `is longer than ${INGEST_LIMITS.maxTagValueBytes} bytes`;
  if (CONTROL.test(value)) return 'must not contain control characters';
  return undefined;
}

/** Problem with a string field value, or undefined. */
export function checkStringValue(value: string): string | undefined {
  if (utf8LongerThan(value, INGEST_LIMITS.maxStringValueBytes)) return `is longer than ${INGEST_LIMITS.maxStringValueBytes} bytes`;
  return undefined;
}

/** Problem with a point's millisecond timestamp, or undefined. */
export function checkTimeMs(timeMs: number): string | undefined {
  if (!Number.isSafeInteger(timeMs)) return `must be a safe integer number of milliseconds, got ${String(timeMs)}`;
  return undefined;
}

/** Problem with a field (name, type and value), or undefined. */
export function checkField(field: TsField, allowNonFinite = false): string | undefined {
  const nameProblem = checkName(field.name);
  if (nameProblem !== undefined) return `field name ${JSON.stringify(field.name)} ${nameProblem}`;
  const v = field.value;
  switch (field.type) {
    case 'float':
      if (typeof v !== 'number') return `field ${JSON.stringify(field.name)}: float value must be a number`;
      if (!allowNonFinite && !Number.isFinite(v)) return `field ${JSON.stringify(field.name)}: float value must be finite`;
      return undefined;
    case 'integer':
      if (typeof v !== 'number' || !Number.isInteger(v)) return `field ${JSON.stringify(field.name)}: integer value must be an integer`;
      if (!Number.isSafeInteger(v)) return `field ${JSON.stringify(field.name)}: integer out of range (limit ±(2^53-1))`;
      return undefined;
    case 'boolean':
      return typeof v === 'boolean' ? undefined : `field ${JSON.stringify(field.name)}: boolean value must be true or false`;
    case 'string': {
      if (typeof v !== 'string') return `field ${JSON.stringify(field.name)}: string value must be a string`;
      const p = checkStringValue(v);
      return p === undefined ? undefined : `field ${JSON.stringify(field.name)}: string value ${p}`;
    }
    default:
      return `field ${JSON.stringify((field as TsField).name)}: unknown type ${JSON.stringify((field as TsField).type)}`;
  }
}

/** The first name that repeats (pairwise for short lists, a Set for long ones), or undefined. */
function firstDuplicate<T>(items: readonly T[], nameOf: (item: T) => string): string | undefined {
  if (items.length <= 16) {
    for (let i = 1; i < items.length; i++) {
      const n = nameOf(items[i]!);
      for (let j = 0; j < i; j++) if (nameOf(items[j]!) === n) return n;
    }
    return undefined;
  }
  const seen = new Set<string>();
  for (const item of items) {
    const n = nameOf(item);
    if (seen.has(n)) return n;
    seen.add(n);
  }
  return undefined;
}

/** Every rule of the module applied to one point; the first problem found, or undefined. */
export function checkPoint(p: TsPoint, options: { allowNonFinite?: boolean } = {}): string | undefined {
  const m = checkName(p.measurement);
  if (m !== undefined) return `measurement ${m}`;
  const tags = p.tags;
  for (let i = 0; i < tags.length; i++) {
    const [k, v] = tags[i]!;
    const kp = checkName(k);
    if (kp !== undefined) return `tag key ${JSON.stringify(k)} ${kp}`;
    const vp = checkTagValue(v);
    if (vp !== undefined) return `tag ${JSON.stringify(k)}: value ${vp}`;
  }
  const dupTag = firstDuplicate(tags, (t) => t[0]);
  if (dupTag !== undefined) return `duplicate tag key ${JSON.stringify(dupTag)}`;
  const fields = p.fields;
  if (fields.length === 0) return 'a point needs at least one field';
  for (let i = 0; i < fields.length; i++) {
    const fp = checkField(fields[i]!, options.allowNonFinite === true);
    if (fp !== undefined) return fp;
  }
  const dupField = firstDuplicate(fields, (f) => f.name);
  if (dupField !== undefined) return `duplicate field ${JSON.stringify(dupField)}`;
  const tp = checkTimeMs(p.timeMs);
  if (tp !== undefined) return `time ${tp}`;
  if (p.nanos !== undefined && !(Number.isInteger(p.nanos) && p.nanos >= 0 && p.nanos <= 999_999)) {
    return `nanos must be an integer in 0..999999, got ${String(p.nanos)}`;
  }
  return undefined;
}

/** Throws INVALID_ARGUMENT naming the first problem of `p` (see `checkPoint`). */
export function validatePoint(p: TsPoint, options: { allowNonFinite?: boolean } = {}): void {
  const problem = checkPoint(p, options);
  if (problem !== undefined) throw invalidArgument(`invalid point: ${problem}`);
}
