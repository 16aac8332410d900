/**
 * Byte-level percent-encoding for keys in paths and values in query strings.
 *
 * `decodeURIComponent` rejects sequences that are not UTF-8 (`%FF`), so it
 * cannot carry binary keys; these helpers decode every `%XX` to the byte XX
 * and nothing else. Characters outside ASCII (which only reach us through
 * `fastify.inject`, since real clients percent-encode them) count as their
 * UTF-8 bytes.
 */

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * The bytes `text` percent-encodes, or undefined when a `%` is not followed
 * by two hex digits. With `plusIsSpace` (query strings, HTML form style) a
 * `+` is a space; in paths it is a plus.
 */
export function percentDecode(text: string, plusIsSpace: boolean): Buffer | undefined {
  const out = Buffer.allocUnsafe(text.length * 3);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25) {
      const hi = i + 2 < text.length ? hexValue(text.charCodeAt(i + 1)) : -1;
      const lo = hi >= 0 ? hexValue(text.charCodeAt(i + 2)) : -1;
      if (lo < 0) return undefined;
      out[n++] = hi * 16 + lo;
      i += 2;
    } else if (c === 0x2b && plusIsSpace) {
      out[n++] = 0x20;
    } else if (c < 0x80) {
      out[n++] = c;
    } else {
      // A code point (maybe a surrogate pair) as UTF-8.
      const cp = text.codePointAt(i)!;
      n += out.write(String.fromCodePoint(cp), n, 'utf8');
      if (cp > 0xffff) i++;
    }
  }
  return Buffer.from(out.subarray(0, n));
}

const UNRESERVED = /^[A-Za-z0-9\-_~]$/;

/** Percent-encodes every byte except A-Z a-z 0-9 - _ ~ (safe in a path segment and a query value). */
export function percentEncode(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    s += b < 0x80 && UNRESERVED.test(ch) ? ch : `%${HEX[b >> 4]!}${HEX[b & 15]!}`;
  }
  return s;
}

/** A request target split into its path and query (without the `?`); absolute-form targets lose their scheme and authority. */
export function splitTarget(target: string): { path: string; query: string } {
  let start = 0;
  if (target.charCodeAt(0) !== 0x2f) {
    const scheme = target.indexOf('://');
    const slash = scheme < 0 ? -1 : target.indexOf('/', scheme + 3);
    start = slash < 0 ? target.length : slash;
  }
  const hash = target.indexOf('#', start);
  const end = hash < 0 ? target.length : hash;
  const q = target.indexOf('?', start);
  if (q < 0 || q > end) return { path: target.slice(start, end), query: '' };
  return { path: target.slice(start, q), query: target.slice(q + 1, end) };
}

/**
 * Makes a request target safe for the router, which percent-decodes paths
 * as UTF-8 and rejects anything else: every `%` in the path becomes `%25`.
 * Handlers read the original target (`request.originalUrl`).
 */
export function escapePercentsInPath(target: string): string {
  const q = target.indexOf('?');
  const pathEnd = q < 0 ? target.length : q;
  const pct = target.indexOf('%');
  if (pct < 0 || pct > pathEnd) return target;
  return target.slice(0, pathEnd).replaceAll('%', '%25') + target.slice(pathEnd);
}
