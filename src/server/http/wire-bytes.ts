import { isUtf8 } from 'node:buffer';
import { invalidArgument } from '../../base/index.js';

/**
 * How keys and values travel inside JSON (scan results, batch documents) and
 * query parameters. `utf8`: the bytes as text; `base64`: standard or URL-safe
 * base64 (both are accepted on input, standard is sent).
 */
export const WIRE_ENCODINGS = ['utf8', 'base64'] as const;
export type WireEncoding = (typeof WIRE_ENCODINGS)[number];

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/**
 * The bytes of a base64 or base64url string; INVALID_ARGUMENT naming `what`
 * when it is not one (Buffer.from alone skips bad characters silently).
 * Spaces count as `+`, since a form-encoded query string turns `+` into one.
 */
export function decodeBase64(text: string, what: string): Buffer {
  const s = text.replaceAll(' ', '+');
  if (!BASE64.test(s) || s.replace(/=+$/, '').length % 4 === 1) throw invalidArgument(`${what} is not valid base64`);
  return Buffer.from(s, 'base64');
}

/** A query parameter's bytes in the request's encoding (utf8: the percent-decoded bytes as they are). */
export function paramBytes(raw: Buffer, encoding: WireEncoding, what: string): Buffer {
  return encoding === 'utf8' ? raw : decodeBase64(raw.toString('latin1'), what);
}

/** A JSON string field's bytes in the given encoding. */
export function stringBytes(text: string, encoding: WireEncoding, what: string): Buffer {
  return encoding === 'utf8' ? Buffer.from(text, 'utf8') : decodeBase64(text, what);
}

/**
 * Bytes as a JSON string in the requested encoding. Text that is not valid
 * UTF-8 cannot be sent as utf8, so it goes as base64 and the result says so.
 */
export function encodeBytes(bytes: Buffer, encoding: WireEncoding): { text: string; encoding: WireEncoding } {
  if (encoding === 'utf8' && isUtf8(bytes)) return { text: bytes.toString('utf8'), encoding: 'utf8' };
  return { text: bytes.toString('base64'), encoding: 'base64' };
}
