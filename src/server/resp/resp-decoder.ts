import { ERROR_CODES, StrataError } from '../../base/index.js';

/** Caps the decoder enforces; each violation is a protocol error. */
export interface RespDecoderLimits {
  /** Largest bulk string (one argument). */
  bulkBytesMax: number;
  /** Largest sum of the arguments of one command. */
  requestBytesMax: number;
  /** Most arguments in one multibulk command. */
  multibulkCountMax: number;
  /** Longest inline command line, and longest `*`/`$` header line. */
  inlineBytesMax: number;
}

export const MULTIBULK_COUNT_MAX = 1024 * 1024;
export const INLINE_BYTES_MAX = 64 * 1024;

/** A protocol error: the reply is `-ERR <message>` and the connection is closed. */
export function protocolError(what: string): StrataError {
  return new StrataError(ERROR_CODES.PROTOCOL, `Protocol error: ${what}`);
}

/** Buffers smaller than this are not worth keeping a tail for; a new one is at least this big. */
const GROW_MIN_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);
const INCOMPLETE = -1;
/** Commands with at most this many arguments are tried on the fast path first. */
const FAST_ARGS_MAX = 64;
const MALFORMED = -2;

/**
 * An incremental RESP request decoder (no I/O). `push` hands it the bytes of
 * a socket read; `next` returns one whole command at a time, as an array of
 * arguments, or undefined when more bytes are needed. Both multibulk
 * (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline (`GET k\r\n`) commands are
 * understood, as Redis does.
 *
 * Ownership: the argument Buffers are views into memory the decoder never
 * writes again (it only appends after what it has handed out), so a caller
 * may keep them as long as it likes. After a protocol error (`next` throws a
 * StrataError with code PROTOCOL) the decoder is unusable; the connection
 * replies with the error and closes.
 *
 * Cost: a partial command left at the end of a read is copied once into a
 * growable buffer; later reads append to it, so a large value arriving in
 * many reads is copied once, not once per read.
 */
export class RespDecoder {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private end = 0;
  /** True when `buf` is ours and bytes after `end` may be written. */
  private owned = false;
  /** Where the last unsuccessful search for a line end stopped (so a long partial line is not rescanned). */
  private searchFrom = 0;
  /** Bytes the command in progress still needs at least (a hint for sizing the buffer). */
  private needHint = 0;

  // The multibulk command in progress.
  private args: Buffer[] | undefined = undefined;
  private argsLeft = 0;
  private requestBytes = 0;
  private failed = false;
  /** The integer `headerInt` read last. */
  private header = 0;
  /** The last command name returned (see commandName). */
  private lastName: Buffer | undefined = undefined;

  constructor(private readonly limits: RespDecoderLimits) {}

  /** Bytes received and not yet returned as commands. */
  get bufferedBytes(): number {
    return this.end - this.pos;
  }

  /** Adds the bytes of one read. The decoder keeps a reference to `chunk`; do not modify it afterwards. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const left = this.end - this.pos;
    if (left === 0) {
      this.buf = chunk;
      this.pos = 0;
      this.end = chunk.length;
      this.owned = false;
      this.searchFrom = 0;
      return;
    }
    if (this.owned && this.end + chunk.length <= this.buf.length) {
      chunk.copy(this.buf, this.end);
      this.end += chunk.length;
      return;
    }
    const need = left + chunk.length;
    let size = Math.max(GROW_MIN_BYTES, 2 * need, left + this.needHint);
    if (size < need) size = need;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, this.pos, this.end);
    chunk.copy(next, left);
    this.searchFrom = Math.max(0, this.searchFrom - this.pos);
    this.buf = next;
    this.pos = 0;
    this.end = need;
    this.owned = true;
  }

  /** The next whole command, or undefined when more bytes are needed. Throws PROTOCOL errors. */
  next(): Buffer[] | undefined {
    if (this.failed) throw protocolError('the connection already failed');
    try {
      return this.decode();
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private decode(): Buffer[] | undefined {
    for (;;) {
      if (this.args === undefined) {
        if (this.pos >= this.end) return undefined;
        if (this.buf[this.pos] !== 0x2a) {
          const inline = this.inline();
          if (inline === undefined) return undefined;
          if (inline.length === 0) continue;
          return inline;
        }
        const next = this.headerInt(this.pos + 1);
        if (next === INCOMPLETE) return undefined;
        if (next === MALFORMED || this.header > this.limits.multibulkCountMax) throw protocolError('invalid multibulk length');
        if (this.header <= 0) {
          this.pos = next;
          continue;
        }
        if (this.header <= FAST_ARGS_MAX) {
          const whole = this.wholeCommand(next, this.header);
          if (whole !== undefined) return whole;
        }
        this.pos = next;
        this.args = [];
        this.argsLeft = this.header;
        this.requestBytes = 0;
      }
      // Arguments of the multibulk command in progress.
      const args = this.args;
      while (this.argsLeft > 0) {
        if (this.pos >= this.end) return undefined;
        const buf = this.buf;
        if (buf[this.pos] !== 0x24) throw protocolError(`expected '$', got '${String.fromCharCode(buf[this.pos]!)}'`);
        const start = this.headerInt(this.pos + 1);
        if (start === INCOMPLETE) return undefined;
        const len = this.header;
        if (start === MALFORMED || len < 0 || len > this.limits.bulkBytesMax) throw protocolError('invalid bulk length');
        if (this.requestBytes + len > this.limits.requestBytesMax) throw protocolError(`too big request (more than ${this.limits.requestBytesMax} bytes)`);
        if (this.end - start < len + 2) {
          this.needHint = len + 2 - (this.end - start);
          return undefined;
        }
        if (buf[start + len] !== 0x0d || buf[start + len + 1] !== 0x0a) throw protocolError("expected '\\r\\n' after bulk data");
        args.push(buf.subarray(start, start + len));
        this.requestBytes += len;
        this.pos = start + len + 2;
        this.needHint = 0;
        this.argsLeft--;
      }
      this.args = undefined;
      return args;
    }
  }

  /**
   * The fast path: when a command's arguments have all arrived and are well
   * formed, take them in one pass with local variables. Anything else
   * (incomplete, malformed, over a limit) returns undefined and the
   * incremental path handles it (and words the error).
   */
  private wholeCommand(p: number, count: number): Buffer[] | undefined {
    const buf = this.buf;
    const end = this.end;
    const bulkMax = this.limits.bulkBytesMax;
    const args = new Array<Buffer>(count);
    let total = 0;
    for (let i = 0; i < count; i++) {
      if (p >= end || buf[p] !== 0x24) return undefined;
      let q = p + 1;
      const first = q;
      let len = 0;
      for (;;) {
        if (q >= end) return undefined;
        const d = buf[q]! - 48;
        if (d < 0 || d > 9) break;
        len = len * 10 + d;
        q++;
      }
      const digits = q - first;
      if (digits === 0 || digits > 18 || (digits > 1 && buf[first] === 0x30) || buf[q] !== 0x0d || q + 1 >= end || buf[q + 1] !== 0x0a) return undefined;
      const start = q + 2;
      total += len;
      if (len > bulkMax || total > this.limits.requestBytesMax || end - start < len + 2) return undefined;
      if (buf[start + len] !== 0x0d || buf[start + len + 1] !== 0x0a) return undefined;
      args[i] = i === 0 ? this.commandName(start, len) : buf.subarray(start, start + len);
      p = start + len + 2;
    }
    this.pos = p;
    return args;
  }

  /**
   * The command name at buf[start, start+len): the previous command's name
   * Buffer when the bytes are the same (clients repeat commands), which
   * saves making a Buffer view per command. Names are never written to.
   */
  private commandName(start: number, len: number): Buffer {
    const last = this.lastName;
    if (last !== undefined && last.length === len && len <= 16) {
      const buf = this.buf;
      let same = true;
      for (let i = 0; i < len; i++) {
        if (last[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return last;
    }
    const name = this.buf.subarray(start, start + len);
    this.lastName = name;
    return name;
  }

  /**
   * Reads the integer of a `*` or `$` header whose digits start at `i`, as
   * Redis' string2ll does (optional `-`, no leading zeros, at most 18
   * digits), then CRLF. Sets `header`; returns the offset after the CRLF,
   * INCOMPLETE when the line has not fully arrived, MALFORMED otherwise.
   */
  private headerInt(i: number): number {
    const buf = this.buf;
    const end = this.end;
    let negative = false;
    if (i < end && buf[i] === 0x2d) {
      negative = true;
      i++;
    }
    const first = i;
    let n = 0;
    for (;;) {
      if (i >= end) return INCOMPLETE;
      const c = buf[i]!;
      if (c === 0x0d) break;
      const d = c - 48;
      if (d < 0 || d > 9 || i - first >= 18) return MALFORMED;
      n = n * 10 + d;
      i++;
    }
    const digits = i - first;
    if (digits === 0 || (digits > 1 && buf[first] === 0x30) || (negative && n === 0)) return MALFORMED;
    if (i + 1 >= end) return INCOMPLETE;
    if (buf[i + 1] !== 0x0a) return MALFORMED;
    this.header = negative ? -n : n;
    return i + 2;
  }

  /** One inline command (possibly empty: a blank line), or undefined when its line has not ended yet. */
  private inline(): Buffer[] | undefined {
    const from = Math.max(this.pos, this.searchFrom);
    const nl = (this.owned ? this.buf.subarray(0, this.end) : this.buf).indexOf(0x0a, from);
    if (nl < 0) {
      if (this.end - this.pos > this.limits.inlineBytesMax) throw protocolError('too big inline request');
      this.searchFrom = this.end;
      return undefined;
    }
    if (nl - this.pos > this.limits.inlineBytesMax) throw protocolError('too big inline request');
    let lineEnd = nl;
    if (lineEnd > this.pos && this.buf[lineEnd - 1] === 0x0d) lineEnd--;
    const args = splitInlineArgs(this.buf, this.pos, lineEnd);
    this.pos = nl + 1;
    this.searchFrom = this.pos;
    if (args === undefined) throw protocolError('unbalanced quotes in request');
    return args;
  }
}

const isSpace = (c: number | undefined) => c === 0x20 || (c !== undefined && c >= 0x09 && c <= 0x0d);
const isHex = (c: number | undefined) => c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46));
const hexValue = (c: number) => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10);

/**
 * Splits an inline command line like Redis' sdssplitargs: blanks separate
 * arguments; "double quotes" allow \n \r \t \b \a \xHH and \<any> escapes;
 * 'single quotes' allow \' only; a closing quote must be followed by a blank
 * or the end. A NUL byte ends the line (as in C). Undefined on unbalanced quotes.
 */
export function splitInlineArgs(buf: Buffer, from: number, to: number): Buffer[] | undefined {
  const out: Buffer[] = [];
  const at = (i: number): number => (i < to ? buf[i]! : 0);
  let p = from;
  for (;;) {
    while (at(p) !== 0 && isSpace(at(p))) p++;
    if (at(p) === 0) return out;
    let inDouble = false;
    let inSingle = false;
    // Unquoted tokens are views into `buf`; once a quote appears the token is collected byte by byte.
    let bytes: number[] | undefined;
    const start = p;
    let tokenEnd = -1;
    while (tokenEnd < 0) {
      const c = at(p);
      if (inDouble) {
        if (c === 0x5c && at(p + 1) === 0x78 && isHex(at(p + 2)) && isHex(at(p + 3))) {
          bytes!.push(hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)));
          p += 3;
        } else if (c === 0x5c && at(p + 1) !== 0) {
          p++;
          const e = at(p);
          bytes!.push(e === 0x6e ? 0x0a : e === 0x72 ? 0x0d : e === 0x74 ? 0x09 : e === 0x62 ? 0x08 : e === 0x61 ? 0x07 : e);
        } else if (c === 0x22) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return undefined;
          tokenEnd = p;
        } else if (c === 0) {
          return undefined;
        } else {
          bytes!.push(c);
        }
      } else if (inSingle) {
        if (c === 0x5c && at(p + 1) === 0x27) {
          p++;
          bytes!.push(0x27);
        } else if (c === 0x27) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return undefined;
          tokenEnd = p;
        } else if (c === 0) {
          return undefined;
        } else {
          bytes!.push(c);
        }
      } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0) {
        tokenEnd = p;
      } else if (c === 0x22 || c === 0x27) {
        bytes ??= Array.from(buf.subarray(start, p));
        if (c === 0x22) inDouble = true;
        else inSingle = true;
      } else if (bytes !== undefined) {
        bytes.push(c);
      }
      if (at(p) !== 0) p++;
    }
    out.push(bytes !== undefined ? Buffer.from(bytes) : buf.subarray(start, tokenEnd));
  }
}
