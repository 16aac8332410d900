/**
 * Redis glob matching (util.c stringmatchlen) over bytes: `*` any run, `?`
 * one byte, `[abc]` `[^abc]` `[a-z]` classes (a reversed range is swapped;
 * `\` escapes inside a class), `\x` a literal x. An unterminated class runs
 * to the end of the pattern, as in Redis.
 *
 * Unlike Redis' recursive version this one backtracks to the last `*` in a
 * loop (every other token matches exactly one byte, so that is equivalent):
 * no recursion over input, O(pattern × string) at worst.
 */
export function globMatch(pattern: Uint8Array, str: Uint8Array, nocase = false): boolean {
  const plen = pattern.length;
  const slen = str.length;
  // Redis' loop never starts on an empty string: only an empty pattern matches it.
  if (slen === 0) return plen === 0;
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < slen) {
    if (p < plen) {
      const c = pattern[p]!;
      if (c === 0x2a) {
        while (p + 1 < plen && pattern[p + 1] === 0x2a) p++;
        if (p + 1 === plen) return true;
        starP = p;
        starS = s;
        p++;
        continue;
      }
      const next = matchOne(pattern, p, str[s]!, nocase);
      if (next >= 0) {
        p = next;
        s++;
        continue;
      }
    }
    if (starP < 0) return false;
    // Let the last star swallow one more byte and retry.
    starS++;
    s = starS;
    p = starP + 1;
  }
  while (p < plen && pattern[p] === 0x2a) p++;
  return p === plen;
}

const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 32 : c);

/** Matches the single-byte token at `p` against `c`: the pattern offset after the token, or -1. */
function matchOne(pattern: Uint8Array, p: number, c: number, nocase: boolean): number {
  const plen = pattern.length;
  const tok = pattern[p]!;
  if (tok === 0x3f) return p + 1;
  if (tok === 0x5b) return matchClass(pattern, p + 1, c, nocase);
  if (tok === 0x5c && p + 1 < plen) p++;
  const lit = pattern[p]!;
  const equal = nocase ? lower(lit) === lower(c) : lit === c;
  return equal ? p + 1 : -1;
}

/** A `[...]` class whose body starts at `p`: the offset after it, or -1 when `c` is not in it. */
function matchClass(pattern: Uint8Array, p: number, c: number, nocase: boolean): number {
  const plen = pattern.length;
  const not = p < plen && pattern[p] === 0x5e;
  if (not) p++;
  let match = false;
  for (;;) {
    if (p >= plen) {
      // Unterminated: Redis steps back so the token ends at the pattern's end.
      break;
    }
    const t = pattern[p]!;
    if (t === 0x5c && plen - p >= 2) {
      p++;
      if (pattern[p] === c) match = true;
    } else if (t === 0x5d) {
      p++;
      break;
    } else if (plen - p >= 3 && pattern[p + 1] === 0x2d) {
      let start = pattern[p]!;
      let end = pattern[p + 2]!;
      let ch = c;
      if (start > end) [start, end] = [end, start];
      if (nocase) {
        start = lower(start);
        end = lower(end);
        ch = lower(ch);
      }
      p += 2;
      if (ch >= start && ch <= end) match = true;
    } else if (nocase ? lower(t) === lower(c) : t === c) {
      match = true;
    }
    p++;
  }
  if (not) match = !match;
  return match ? p : -1;
}

/**
 * The literal bytes every match of `pattern` starts with (up to the first
 * wildcard or escape), so a scan can be narrowed to that prefix.
 */
export function globLiteralPrefix(pattern: Uint8Array): Uint8Array {
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === 0x2a || c === 0x3f || c === 0x5b || c === 0x5c) break;
    i++;
  }
  return pattern.subarray(0, i);
}

/** True when the pattern has no wildcard at all (matches exactly one string: itself, unescaped). */
export function isMatchAll(pattern: Uint8Array): boolean {
  return pattern.length === 1 && pattern[0] === 0x2a;
}
