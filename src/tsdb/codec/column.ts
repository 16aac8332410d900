/**
 * Column encoding by field type, the codec names shown by diagnostics, and
 * the presence bitmap of sparse fields.
 *
 *   float    floats.ts   (gorilla | decimal | const | delta)
 *   integer  integers.ts (const | simple8b | bitpack | varint | simple8b-for | bitpack-for | rice | rice-dod)
 *   boolean  booleans.ts (rle)
 *   string   strings.ts  (dict | plain)
 *
 * A presence bitmap (which rows of a chunk have a value for a field) uses the
 * boolean run-length format: the first-value byte, then the varint lengths of
 * every run but the last. A field present in every row costs one byte.
 *
 * Float columns keep every bit pattern exactly, but a NaN with a payload only
 * survives when it stays in a Float64Array (`encodeFloats`/`decodeFloats`):
 * V8 may canonicalize NaNs stored in plain JS arrays such as FieldValue[].
 */
import { invalidArgument } from '../../base/index.js';
import type { FieldType, FieldValue } from '../types.js';
import { decodeBooleans, decodeRuns, encodeBooleans } from './booleans.js';
import { decodeFloats, encodeFloats, floatsCodecName } from './floats.js';
import { decodeIntegers, encodeIntegers, integersCodecName } from './integers.js';
import { decodeStrings, encodeStrings, stringsCodecName } from './strings.js';

export function encodeColumn(type: FieldType, values: readonly FieldValue[]): Buffer {
  switch (type) {
    case 'float': {
      const f = new Float64Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (typeof v !== 'number') throw invalidArgument(`float column: ${String(v)} at index ${i} is not a number`);
        f[i] = v;
      }
      return encodeFloats(f);
    }
    case 'integer':
      for (let i = 0; i < values.length; i++) {
        if (typeof values[i] !== 'number') throw invalidArgument(`integer column: ${String(values[i])} at index ${i} is not a number`);
      }
      return encodeIntegers(values as readonly number[]);
    case 'boolean':
      return encodeBooleans(values as readonly boolean[]);
    case 'string':
      return encodeStrings(values as readonly string[]);
    default:
      throw invalidArgument(`unknown field type ${String(type)}`);
  }
}

export function decodeColumn(type: FieldType, buf: Uint8Array, count: number): FieldValue[] {
  switch (type) {
    case 'float':
      {
        const f = decodeFloats(buf, count);
        const out: FieldValue[] = new Array(count);
        for (let i = 0; i < count; i++) out[i] = f[i]!;
        return out;
      }
    case 'integer':
      return decodeIntegers(buf, count);
    case 'boolean':
      return decodeBooleans(buf, count);
    case 'string':
      return decodeStrings(buf, count);
    default:
      throw invalidArgument(`unknown field type ${String(type)}`);
  }
}

/**
 * The human name of the codec that wrote a column: 'gorilla', 'decimal', 'const', 'simple8b', 'bitpack',
 * 'simple8b-for', 'bitpack-for', 'varint', 'rle', 'dict', 'plain', 'empty' or 'unknown'.
 */
export function codecOf(type: FieldType, buf: Uint8Array): string {
  switch (type) {
    case 'float':
      return floatsCodecName(buf);
    case 'integer':
      return integersCodecName(buf);
    case 'boolean':
      return buf.length === 0 ? 'empty' : 'rle';
    case 'string':
      return stringsCodecName(buf);
    default:
      throw invalidArgument(`unknown field type ${String(type)}`);
  }
}

export function encodePresence(present: readonly boolean[]): Buffer {
  return encodeBooleans(present);
}

export function decodePresence(buf: Uint8Array, count: number): boolean[] {
  return decodeRuns(buf, count, 'presence');
}
