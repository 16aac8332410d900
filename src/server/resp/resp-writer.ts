import { DoubleReply, ErrorReply, MapReply, NullArrayReply, SimpleReply, VerbatimReply } from './replies.js';
import type { Reply } from './replies.js';

/** Bulk values at least this long are referenced, not copied into the scratch buffer. */
const BIG_VALUE_BYTES = 32 * 1024;
/** A fresh scratch buffer is taken when less than this is left at the end of the current one. */
const SCRATCH_MIN_FREE_BYTES = 4 * 1024;
/** A scratch buffer that grew past this is replaced after `takeInto` (so one huge reply does not pin memory). */
const SCRATCH_KEEP_BYTES = 1024 * 1024;

const CRLF = Buffer.from('\r\n', 'latin1');
const NULL_BULK_2 = Buffer.from('$-1\r\n', 'latin1');
const NULL_ARRAY_2 = Buffer.from('*-1\r\n', 'latin1');
const NULL_3 = Buffer.from('_\r\n', 'latin1');
const TRUE_3 = Buffer.from('#t\r\n', 'latin1');
const FALSE_3 = Buffer.from('#f\r\n', 'latin1');

export type RespVersion = 2 | 3;

// A module binding rather than a global lookup on the hot path.
const isBuffer = Buffer.isBuffer;

/**
 * Encodes replies for RESP2 or RESP3 into a scratch buffer used as a bump
 * allocator.
 *
 * Lifetime: `takeInto` hands out a view of the bytes written since the last
 * take and moves the start past them; those bytes are never written again
 * (when the scratch runs out a new one is allocated, and the old one lives
 * as long as someone holds a view of it). So taking costs no copy and no
 * allocation, and one writer can be shared by every connection of a server
 * as long as each batch is encoded and taken without an `await` in between.
 * Large bulk values are not copied either: they are passed on by reference,
 * which is safe because handlers hand out Buffers nobody mutates afterwards.
 */
export class RespWriter {
  private buf: Buffer;
  /** Where the bytes not yet taken start. */
  private start = 0;
  /** Where the next byte goes. */
  private len = 0;
  private readonly refs: Buffer[] = [];
  private readonly initialBytes: number;

  constructor(initialBytes = 64 * 1024) {
    this.initialBytes = initialBytes;
    this.buf = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Bytes written and not yet taken. */
  get pendingBytes(): number {
    let n = this.len - this.start;
    for (const r of this.refs) n += r.length;
    return n;
  }

  /**
   * Moves what was written into `out` as Buffers the caller owns, in order.
   * Usually one Buffer; more when big values were referenced.
   */
  takeInto(out: Buffer[]): void {
    if (this.refs.length > 0) {
      for (const r of this.refs) out.push(r);
      this.refs.length = 0;
    }
    if (this.len > this.start) out.push(this.takeScratch());
    if (this.buf.length - this.len < SCRATCH_MIN_FREE_BYTES || this.buf.length > SCRATCH_KEEP_BYTES) {
      this.buf = Buffer.allocUnsafeSlow(this.initialBytes);
      this.start = 0;
      this.len = 0;
    }
  }

  /** Encodes one reply. */
  reply(r: Reply, version: RespVersion): void {
    if (isBuffer(r)) this.bulk(r);
    else if (r === undefined) this.nil(version);
    else if (typeof r === 'number') this.integer(r);
    else if (typeof r === 'string') this.bulkString(r);
    else if (r instanceof SimpleReply) this.raw(r.bytes);
    else if (r instanceof ErrorReply) this.error(r.text);
    else if (typeof r === 'bigint') this.bigInteger(r);
    else if (typeof r === 'boolean') this.boolean(r, version);
    else if (r instanceof MapReply) {
      this.mapHeader(r.entries.length, version);
      for (const [k, v] of r.entries) {
        this.reply(k, version);
        this.reply(v, version);
      }
    } else if (r instanceof DoubleReply) this.double(r.value, version);
    else if (r instanceof VerbatimReply) this.verbatim(r.format, r.text, version);
    else if (r instanceof NullArrayReply) this.raw(version === 3 ? NULL_3 : NULL_ARRAY_2);
    else {
      this.arrayHeader(r.length);
      for (let i = 0; i < r.length; i++) this.reply(r[i], version);
    }
  }

  /** `+text` (text must not contain CR or LF). */
  simple(text: string): void {
    this.ensure(text.length * 3 + 3);
    this.buf[this.len++] = 0x2b;
    this.len += this.buf.write(text, this.len, 'utf8');
    this.crlf();
  }

  /** `-text`; CR and LF become spaces so a message can never break the framing. */
  error(text: string): void {
    const clean = /[\r\n]/.test(text) ? text.replace(/[\r\n]/g, ' ') : text;
    this.ensure(clean.length * 3 + 3);
    this.buf[this.len++] = 0x2d;
    this.len += this.buf.write(clean, this.len, 'utf8');
    this.crlf();
  }

  integer(n: number): void {
    this.ensure(24);
    this.buf[this.len++] = 0x3a;
    this.decimal(n);
    this.crlf();
  }

  bigInteger(n: bigint): void {
    const s = n.toString();
    this.ensure(s.length + 3);
    this.buf[this.len++] = 0x3a;
    this.len += this.buf.write(s, this.len, 'latin1');
    this.crlf();
  }

  bulk(value: Buffer): void {
    const n = value.length;
    if (n >= BIG_VALUE_BYTES) {
      this.ensure(24);
      this.buf[this.len++] = 0x24;
      this.decimal(n);
      this.crlf();
      this.refs.push(this.takeScratch(), value);
      this.raw(CRLF);
      return;
    }
    this.ensure(n + 24);
    const buf = this.buf;
    buf[this.len++] = 0x24;
    this.decimal(n);
    buf[this.len++] = 0x0d;
    buf[this.len++] = 0x0a;
    buf.set(value, this.len);
    this.len += n;
    buf[this.len++] = 0x0d;
    buf[this.len++] = 0x0a;
  }

  bulkString(text: string): void {
    const n = Buffer.byteLength(text, 'utf8');
    this.ensure(n + 24);
    this.buf[this.len++] = 0x24;
    this.decimal(n);
    this.crlf();
    this.len += this.buf.write(text, this.len, 'utf8');
    this.crlf();
  }

  nil(version: RespVersion): void {
    this.raw(version === 3 ? NULL_3 : NULL_BULK_2);
  }

  boolean(b: boolean, version: RespVersion): void {
    if (version === 3) this.raw(b ? TRUE_3 : FALSE_3);
    else this.integer(b ? 1 : 0);
  }

  double(d: number, version: RespVersion): void {
    const s = formatDouble(d);
    if (version === 2) {
      this.bulkString(s);
      return;
    }
    this.ensure(s.length + 3);
    this.buf[this.len++] = 0x2c;
    this.len += this.buf.write(s, this.len, 'latin1');
    this.crlf();
  }

  verbatim(format: string, text: string, version: RespVersion): void {
    if (version === 2) {
      this.bulkString(text);
      return;
    }
    const n = Buffer.byteLength(text, 'utf8') + 4;
    this.ensure(n + 24);
    this.buf[this.len++] = 0x3d;
    this.decimal(n);
    this.crlf();
    this.len += this.buf.write(`${format}:`, this.len, 'latin1');
    this.len += this.buf.write(text, this.len, 'utf8');
    this.crlf();
  }

  arrayHeader(count: number): void {
    this.ensure(24);
    this.buf[this.len++] = 0x2a;
    this.decimal(count);
    this.crlf();
  }

  mapHeader(pairs: number, version: RespVersion): void {
    this.ensure(24);
    if (version === 3) {
      this.buf[this.len++] = 0x25;
      this.decimal(pairs);
    } else {
      this.buf[this.len++] = 0x2a;
      this.decimal(pairs * 2);
    }
    this.crlf();
  }

  raw(bytes: Buffer): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  private crlf(): void {
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
  }

  /** Writes a non-negative or negative safe integer in decimal (the caller reserved 24 bytes). */
  private decimal(n: number): void {
    const buf = this.buf;
    if (n < 0) {
      if (n <= -0x80000000) {
        this.len += buf.write(String(n), this.len, 'latin1');
        return;
      }
      buf[this.len++] = 0x2d;
      n = -n;
    }
    if (n < 10) {
      buf[this.len++] = 48 + n;
      return;
    }
    if (n > 0x7fffffff) {
      this.len += buf.write(String(n), this.len, 'latin1');
      return;
    }
    let digits = 1;
    for (let t = n; t >= 10; t = (t / 10) | 0) digits++;
    let pos = this.len + digits - 1;
    while (n >= 10) {
      const q = (n / 10) | 0;
      buf[pos--] = 48 + (n - q * 10);
      n = q;
    }
    buf[pos] = 48 + n;
    this.len += digits;
  }

  /** Room for `extra` more bytes: a new scratch buffer (with the untaken bytes moved over) when the current one is full. */
  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const pending = this.len - this.start;
    let size = Math.max(this.initialBytes, this.buf.length);
    while (size < 2 * (pending + extra)) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    next.set(this.buf.subarray(this.start, this.len), 0);
    this.buf = next;
    this.start = 0;
    this.len = pending;
  }

  /** A view of the bytes written since the last take; they will not be written again. */
  private takeScratch(): Buffer {
    const out = this.buf.subarray(this.start, this.len);
    this.start = this.len;
    return out;
  }
}

/** A double as Redis prints it: shortest round-trip digits, `inf`, `-inf`, `nan`. */
export function formatDouble(d: number): string {
  if (Number.isNaN(d)) return 'nan';
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  return String(d);
}
