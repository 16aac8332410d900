import { ErrorReply } from './replies.js';

/**
 * Argument parsing with Redis' rules and error words. Parsers return
 * undefined on bad input; callers throw the matching ErrorReply.
 */

export const ERR_NOT_INTEGER = new ErrorReply('ERR value is not an integer or out of range');
export const ERR_NOT_FLOAT = new ErrorReply('ERR value is not a valid float');
export const ERR_SYNTAX = new ErrorReply('ERR syntax error');

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/**
 * A signed 64-bit integer as Redis' string2ll reads it (optional `-`,
 * digits, no leading zeros, no `+`, no spaces). Undefined when malformed or
 * out of range.
 */
export function parseInt64(b: Uint8Array): bigint | undefined {
  const n = b.length;
  if (n === 0 || n > 20) return undefined;
  let i = 0;
  if (b[0] === 0x2d) {
    if (n === 1) return undefined;
    i = 1;
  }
  if (b[i] === 0x30 && n - i > 1) return undefined;
  if (b[i] === 0x30 && i === 1) return undefined;
  let small = 0;
  for (let j = i; j < n; j++) {
    const d = b[j]! - 48;
    if (d < 0 || d > 9) return undefined;
    if (j - i < 15) small = small * 10 + d;
  }
  if (n - i <= 15) return BigInt(i === 1 ? -small : small);
  const v = BigInt(Buffer.from(b.buffer, b.byteOffset, n).toString('latin1'));
  return v > INT64_MAX || v < INT64_MIN ? undefined : v;
}

/**
 * parseInt64 as a number: exact for up to 15 digits (the fast path, no
 * BigInt); longer in-range values are rounded to the nearest double.
 */
export function parseInteger(b: Uint8Array): number | undefined {
  const n = b.length;
  if (n > 0 && n <= 15) {
    // Fast path: short decimal strings without the BigInt detour.
    let i = 0;
    if (b[0] === 0x2d) {
      if (n === 1) return undefined;
      i = 1;
    }
    if (b[i] === 0x30 && (n - i > 1 || i === 1)) return undefined;
    let v = 0;
    for (let j = i; j < n; j++) {
      const d = b[j]! - 48;
      if (d < 0 || d > 9) return undefined;
      v = v * 10 + d;
    }
    return i === 1 ? -v : v;
  }
  const big = parseInt64(b);
  return big === undefined ? undefined : Number(big);
}

const FLOAT_RE = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity)$/i;

/** A float as Redis' strtold-based parsers accept it (no spaces, no NaN). Undefined when malformed. */
export function parseFloatArg(b: Uint8Array): number | undefined {
  if (b.length === 0 || b.length > 5000) return undefined;
  const s = Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
  if (!FLOAT_RE.test(s)) return undefined;
  const lowered = s.toLowerCase();
  if (lowered.endsWith('inf') || lowered.endsWith('infinity')) return s.startsWith('-') ? -Infinity : Infinity;
  return Number(s);
}

/** Case-insensitive comparison of an argument with an ASCII word given in lower case. */
export function argIs(arg: Uint8Array, lowerWord: string): boolean {
  const n = lowerWord.length;
  if (arg.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const c = arg[i]!;
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lowerWord.charCodeAt(i)) return false;
  }
  return true;
}

/** An argument as text for messages: UTF-8 with replacement characters, cut at `max` characters. */
export function argText(arg: Uint8Array, max = 128): string {
  const s = Buffer.from(arg.buffer, arg.byteOffset, Math.min(arg.length, max * 4)).toString('utf8');
  return s.length > max ? s.slice(0, max) : s;
}

/** An argument lower-cased as latin1 (command and option names). */
export function argLower(arg: Uint8Array): string {
  return Buffer.from(arg.buffer, arg.byteOffset, arg.length).toString('latin1').toLowerCase();
}
