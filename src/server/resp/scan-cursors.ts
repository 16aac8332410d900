/**
 * SCAN cursors: a bounded server-wide table from a decimal cursor number to
 * the last key a page returned. The next page resumes after that key, so a
 * cursor stays valid across writes, flushes and compactions (it is a key,
 * not a position). Cursor 0 starts and ends a scan; the table forgets the
 * least recently used cursor when full, and a forgotten or never-issued
 * cursor is an error (`ERR invalid cursor`).
 */
export class ScanCursors {
  private readonly entries = new Map<number, Buffer>();
  private nextId = 1;

  constructor(readonly entriesMax = 64 * 1024) {}

  get size(): number {
    return this.entries.size;
  }

  /** A new cursor resuming after `lastKey`. */
  issue(lastKey: Buffer): number {
    const id = this.nextId++;
    this.entries.set(id, lastKey);
    if (this.entries.size > this.entriesMax) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    return id;
  }

  /** The key a cursor resumes after, or undefined when unknown. A hit becomes the most recently used. */
  lookup(id: number): Buffer | undefined {
    const key = this.entries.get(id);
    if (key !== undefined) {
      this.entries.delete(id);
      this.entries.set(id, key);
    }
    return key;
  }
}

/**
 * A SCAN cursor argument as redis-cli sends it and Redis reads it (strtoull,
 * base 10: no leading blank, optional sign, digits, nothing after; the
 * empty string is 0). Returns the number, 0 for the start, or undefined
 * when malformed or beyond 2^64-1. Negative numbers wrap as in C, so they
 * come back as huge numbers no table holds.
 */
export function parseCursor(arg: Uint8Array): number | undefined {
  const n = arg.length;
  if (n === 0) return 0;
  let i = 0;
  let negative = false;
  if (arg[0] === 0x2b || arg[0] === 0x2d) {
    negative = arg[0] === 0x2d;
    i = 1;
  }
  if (i === n) return undefined;
  let v = 0n;
  for (; i < n; i++) {
    const d = arg[i]! - 48;
    if (d < 0 || d > 9) return undefined;
    v = v * 10n + BigInt(d);
    if (v > 0xffffffffffffffffn) return undefined;
  }
  if (negative && v !== 0n) v = (1n << 64n) - v;
  return Number(v);
}
