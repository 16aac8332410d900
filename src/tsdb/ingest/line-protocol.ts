/**
 * InfluxDB line protocol (v2 reference semantics) to `TsPoint`s and back.
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * - Escapes: in the measurement, tag keys, tag values and field keys a
 *   backslash before `,`, space, `=` or `\` stands for that character; a
 *   backslash before anything else is a literal backslash. In string field
 *   values `\"` and `\\` are escapes, other backslashes are literal. An
 *   unescaped `=` is allowed in the measurement but not in a tag value.
 * - Field values: floats (`1`, `-1.5`, `1e3`; NaN and infinities are
 *   rejected), integers `12i` and unsigned integers `12u` (both become type
 *   'integer'), booleans (t T true True TRUE f F false False FALSE) and
 *   double-quoted strings. Integers are JS numbers, so they are limited to
 *   ±(2^53-1): larger ones are rejected with "integer out of range" instead of
 *   silently losing precision.
 * - Timestamps: an optional signed 64-bit integer in the request's precision
 *   (default ns); missing means `nowMs`. The conversion to `timeMs` and
 *   `nanos` works on the digits, so nanosecond timestamps are exact; negative
 *   timestamps floor (`nanos` stays in 0..999,999).
 * - A line ends at `\n` (a preceding `\r` is dropped); a string value cannot
 *   span lines. Blank lines and lines starting with `#` are skipped.
 *
 * The parser walks the bytes once without splitting lines or using regular
 * expressions, decodes only finished tokens, and caches the measurement and
 * tag set per distinct series key within a request. It stops at the first
 * bad line (a write is all or nothing) and throws a `LineProtocolError` with
 * the 1-based line and column (in Unicode code points of that line).
 */
import { ERROR_CODES, StrataError, grownCopy, invalidArgument } from '../../base/index.js';
import { columnsToPoints } from '../columns.js';
import type { FieldType, TsColumnsLayout, TsPoint, TsPointColumns } from '../types.js';
import { INGEST_LIMITS, checkName, checkPoint, checkTagValue } from './validate.js';
import { ByteWriter } from '../codec/index.js';

export type TimePrecision = 'ns' | 'us' | 'ms' | 's';

export interface LineProtocolOptions {
  /** Unit of the timestamps in the body. Default 'ns'. */
  precision?: TimePrecision;
  /** Time given to points without a timestamp (ms since the epoch). */
  nowMs: number;
  /** Most points (non-blank, non-comment lines) accepted; more is LIMIT_EXCEEDED. Default unlimited. */
  maxLines?: number;
}

/**
 * A malformed line: INVALID_ARGUMENT with the 1-based line and column of the
 * problem (the column counts Unicode code points, so 'é' and '😀' are one each).
 */
export class LineProtocolError extends StrataError {
  readonly line: number;
  readonly column: number;
  /** The message without the position prefix. */
  readonly detail: string;

  constructor(line: number, column: number, detail: string) {
    super(ERROR_CODES.INVALID_ARGUMENT, `line ${line}, column ${column}: ${detail}`);
    this.name = 'LineProtocolError';
    this.line = line;
    this.column = column;
    this.detail = detail;
  }
}

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const QUOTE = 0x22;
const HASH = 0x23;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const EQ = 0x3d;
const UPPER_E = 0x45;
const BSL = 0x5c;
const LOWER_E = 0x65;
const LOWER_I = 0x69;
const LOWER_U = 0x75;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Powers of ten that are exact doubles (the fast float path divides by them). */
const POW10: readonly number[] = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));
const INT64_MAX_DIGITS = '9223372036854775807';
const INT64_MIN_DIGITS = '9223372036854775808';

// ------------------------------------------------------------------ decimals of 16..19 digits

/** Veltkamp's splitter for doubles: 2^27 + 1. */
const SPLITTER = 134217729;
/** The low part of the last twoProduct (its result is the rounded product; the two sum to the exact one). */
let productErr = 0;

/** a * b rounded; sets `productErr` so that a * b = result + productErr exactly (Dekker; no overflow here). */
function twoProduct(a: number, b: number): number {
  const p = a * b;
  let c = SPLITTER * a;
  const ah = c - (c - a);
  const al = a - ah;
  c = SPLITTER * b;
  const bh = c - (c - b);
  const bl = b - bh;
  productErr = ah * bh - p + ah * bl + al * bh + al * bl;
  return p;
}

const ulpBits = new Float64Array(1);
const ulpWords = new Uint32Array(ulpBits.buffer);
/** Index of the high 32-bit word of a double in `ulpWords` (platform byte order). */
const HIGH_WORD = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f ? 1 : 0;

/**
 * The double nearest the decimal whose `nd` digits (16..19, not all zero,
 * no exponent) are in buf[a, b) with `fd` of them after the point (fd <= 22),
 * ignoring a leading '-'; NaN when it cannot be decided cheaply (the caller
 * then parses the text). The digits make an exact integer m = hi * 10^k + lo
 * (hi below 10^15, held as the double-double mh + ml); the candidate
 * m / 10^fd is refined once and then checked: the exact residual
 * m - v * 10^fd must be under half an ulp of v times 10^fd by a margin far
 * above the residual's own rounding error (about 2^-52 of that bound), so
 * near-ties and powers of two (where the ulp below is half) are left to the
 * slow path.
 */
function decimal19(buf: Buffer, a: number, b: number, nd: number, fd: number): number {
  const k = nd - 15;
  let hi = 0;
  let lo = 0;
  let seen = 0;
  for (let j = a; j < b; j++) {
    const d = buf[j]! - 48;
    if (d < 0 || d > 9) continue; // '-' and '.'
    if (seen < 15) hi = hi * 10 + d;
    else lo = lo * 10 + d;
    seen++;
  }
  // m = hi * 10^k + lo as mh + ml (|ml| <= ulp(mh) / 2).
  const p = twoProduct(hi, POW10[k]!);
  const pe = productErr;
  const s = p + lo;
  const bv = s - p;
  const se = p - (s - bv) + (lo - bv); // Knuth's TwoSum: s + se = p + lo exactly
  const t = se + pe; // exact: both are integers below 2^12
  const mh = s + t;
  const ml = t - (mh - s);
  const P = POW10[fd]!;
  // Candidate, refined by the residual of the first quotient.
  let v = mh / P;
  let q = twoProduct(v, P);
  v += (mh - q - productErr + ml) / P;
  // Check: |m - v * P| < ulp(v) / 2 * P (mh - q is exact: q is within a few ulps of mh).
  q = twoProduct(v, P);
  const r = mh - q - productErr + ml;
  ulpBits[0] = v;
  const e = (ulpWords[HIGH_WORD]! >>> 20) & 0x7ff;
  if ((ulpWords[HIGH_WORD]! & 0xfffff) === 0 && ulpWords[1 - HIGH_WORD] === 0) return NaN; // a power of two
  if (e <= 53) return NaN; // tiny: not reached with m >= 1 and fd <= 22
  ulpWords[HIGH_WORD] = (e - 52) << 20;
  ulpWords[1 - HIGH_WORD] = 0;
  const halfUlpTimesP = 0.5 * ulpBits[0]! * P;
  return Math.abs(r) < halfUlpTimesP * (1 - 2 ** -30) ? v : NaN;
}

/** Whether the digits buf[at, at + limit.length) read as a larger number than `limit` (same length; no string made). */
function digitsAbove(buf: Buffer, at: number, limit: string): boolean {
  for (let i = 0; i < limit.length; i++) {
    const d = buf[at + i]!;
    const l = limit.charCodeAt(i);
    if (d !== l) return d > l;
  }
  return false;
}

interface FastSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}
const SLICE_PROTO = Buffer.prototype as unknown as Partial<FastSlices>;
const HAS_FAST_SLICES = typeof SLICE_PROTO.latin1Slice === 'function' && typeof SLICE_PROTO.utf8Slice === 'function';

/** Bytes [a, b) as one char per byte (exact for ASCII; an injective key for anything). */
function latin1(buf: Buffer, a: number, b: number): string {
  return HAS_FAST_SLICES ? (buf as unknown as FastSlices).latin1Slice(a, b) : buf.toString('latin1', a, b);
}

function utf8(buf: Buffer, a: number, b: number): string {
  return HAS_FAST_SLICES ? (buf as unknown as FastSlices).utf8Slice(a, b) : buf.toString('utf8', a, b);
}

function isKeyEscapable(c: number | undefined): boolean {
  return c === COMMA || c === SP || c === EQ || c === BSL;
}

/** Decodes a measurement, tag or field key token, dropping escape backslashes. */
function unescapeKey(buf: Buffer, a: number, b: number): string {
  const out = Buffer.allocUnsafe(b - a);
  let n = 0;
  for (let j = a; j < b; j++) {
    const c = buf[j]!;
    if (c === BSL && j + 1 < b && isKeyEscapable(buf[j + 1])) {
      out[n++] = buf[++j]!;
    } else {
      out[n++] = c;
    }
  }
  return out.toString('utf8', 0, n);
}

/** Decodes the inside of a string field value, resolving `\"` and `\\`. */
function unescapeString(buf: Buffer, a: number, b: number): string {
  const out = Buffer.allocUnsafe(b - a);
  let n = 0;
  for (let j = a; j < b; j++) {
    const c = buf[j]!;
    if (c === BSL && j + 1 < b && (buf[j + 1] === QUOTE || buf[j + 1] === BSL)) {
      out[n++] = buf[++j]!;
    } else {
      out[n++] = c;
    }
  }
  return out.toString('utf8', 0, n);
}

function quote(s: string): string {
  return JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s);
}

interface SeriesEntry {
  measurement: string;
  tags: ReadonlyArray<readonly [string, string]>;
  /** The line's series text (bytes as latin1): the store's series hint. */
  hint: string;
  /** Position in the batch's series list. */
  index: number;
  /** The field list of this series' previous line (lines of one series mostly repeat it). */
  layout: Layout | undefined;
  /** Where this series' key text first appeared in the request: start and length. */
  keyStart: number;
  keyLen: number;
  /** The series of the line that followed this series' previous line (agents write series in a steady order). */
  next: SeriesEntry | undefined;
}

interface Layout extends TsColumnsLayout {
  names: string[];
  types: FieldType[];
  index: number;
}

function bytesEqual(buf: Buffer, a: number, b: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (buf[a + k] !== buf[b + k]) return false;
  return true;
}

/** FNV-1a (32-bit) of bytes [a, b). */
function fnv(buf: Buffer, a: number, b: number): number {
  let h = 0x811c9dc5;
  for (let k = a; k < b; k++) h = Math.imul(h ^ buf[k]!, 0x01000193);
  return h | 0;
}

/**
 * A direct-mapped cache of values decoded from byte ranges of one request's
 * buffer: a slot per hash, verified by comparing the bytes, overwritten on a
 * conflict (a miss only costs decoding again). Fixed-size typed arrays: no
 * allocation or rehashing per entry.
 */
class BytesCache<T> {
  private readonly mask: number;
  private readonly hashes: Int32Array;
  private readonly starts: Float64Array;
  /** 0 marks an empty slot (cached ranges are never empty). */
  private readonly lens: Int32Array;
  private readonly values: Array<T | undefined>;

  constructor(size: number) {
    this.mask = size - 1;
    this.hashes = new Int32Array(size);
    this.starts = new Float64Array(size);
    this.lens = new Int32Array(size);
    this.values = new Array<T | undefined>(size).fill(undefined);
  }

  private slot(hash: number): number {
    return (hash ^ (hash >>> 13)) & this.mask;
  }

  get(buf: Buffer, pos: number, len: number, hash: number): T | undefined {
    const s = this.slot(hash);
    if (this.hashes[s] === hash && this.lens[s] === len && bytesEqual(buf, this.starts[s]!, pos, len)) return this.values[s];
    return undefined;
  }

  set(pos: number, len: number, hash: number, value: T): void {
    const s = this.slot(hash);
    this.hashes[s] = hash;
    this.starts[s] = pos;
    this.lens[s] = len;
    this.values[s] = value;
  }

  /**
   * A cache of `size` slots, empty: one a finished parse in this thread gave
   * back, or a new one. Requests of one size keep reusing the same few
   * (a 16,384-slot cache is ~400 KB that every request otherwise allocated).
   */
  static take<T>(size: number): BytesCache<T> {
    const i = spareCaches.findIndex((c) => c.mask === size - 1);
    if (i < 0) return new BytesCache<T>(size);
    return spareCaches.splice(i, 1)[0] as BytesCache<T>;
  }

  /** Empties the cache (its values must not outlive the request) and keeps it for the next `take`. */
  giveBack(): void {
    this.lens.fill(0);
    this.values.fill(undefined);
    if (spareCaches.length < MAX_SPARE_CACHES) spareCaches.push(this as BytesCache<unknown>);
  }
}

/** Empty caches kept for the next parse in this thread (see BytesCache.take). */
const spareCaches: BytesCache<unknown>[] = [];
const MAX_SPARE_CACHES = 4;

/** Cache slots for a body of `bytes` bytes: about one per 64 bytes, a power of two in 16..16384. */
function cacheSize(bytes: number): number {
  let size = 16;
  while (size < 16384 && size * 64 < bytes) size *= 2;
  return size;
}

/** One request's parse: the buffer, the current line (for errors) and the request's caches. */
class LineParser {
  private line = 0;
  private lineStart = 0;
  /** Series keys (measurement and tag set), measurements and tag pairs seen in this request. */
  private readonly series: BytesCache<SeriesEntry>;
  private readonly measurements = new BytesCache<string>(16);
  private readonly tagPairs: BytesCache<readonly [string, string]>;
  /**
   * The previous line's field keys by position (bytes and decoded name):
   * lines of one request mostly repeat them, so a byte comparison replaces
   * decoding and validating them again.
   */
  private readonly keyPos: number[] = [];
  private readonly keyLen: number[] = [];
  private readonly keyName: string[] = [];
  /** The previous line's series (its `next` predicts the current line's). */
  private prevEntry: SeriesEntry | undefined = undefined;
  /** Results of parseTimestamp / parseString / parseScalar (avoids allocating a tuple per call). */
  private tMs = 0;
  private tNanos = 0;
  private str = '';
  private vType: FieldType = 'float';
  private vNum = 0;
  /** The current line's field names and types. */
  private readonly names: string[] = [];
  private readonly types: FieldType[] = [];
  /** The columns being filled (see TsPointColumns); grown by doubling. */
  private points = 0;
  private seriesOf: Int32Array;
  private layoutOf: Int32Array;
  private timeMs: Float64Array;
  private nanos: Int32Array | undefined = undefined;
  private valueStart: Int32Array;
  private numbers: Float64Array;
  private strings: Map<number, string> | undefined = undefined;
  private readonly seriesList: SeriesEntry[] = [];
  private readonly layouts: Layout[] = [];
  private readonly layoutIndex = new Map<string, Layout>();

  constructor(
    private readonly buf: Buffer,
    private readonly precision: TimePrecision,
    private readonly nowMs: number,
    private readonly maxLines: number,
  ) {
    const size = cacheSize(buf.length);
    this.series = BytesCache.take(size);
    this.tagPairs = BytesCache.take(size);
    // About one point per 100 bytes and four values per point to start with.
    const points = Math.max(16, Math.ceil(buf.length / 100));
    this.seriesOf = new Int32Array(points);
    this.layoutOf = new Int32Array(points);
    this.timeMs = new Float64Array(points);
    this.valueStart = new Int32Array(points + 1);
    this.numbers = new Float64Array(points * 4);
  }

  private growPoints(): void {
    const cap = this.seriesOf.length * 2;
    this.seriesOf = grownCopy(this.seriesOf, cap);
    this.layoutOf = grownCopy(this.layoutOf, cap);
    this.timeMs = grownCopy(this.timeMs, cap);
    this.valueStart = grownCopy(this.valueStart, cap + 1);
    if (this.nanos) this.nanos = grownCopy(this.nanos, cap);
  }

  private growValues(): void {
    this.numbers = grownCopy(this.numbers, this.numbers.length * 2);
  }

  /** The layout of the current line's `n` fields (names and types in `this.names` / `this.types`, unique). */
  private layoutOfLine(n: number): Layout {
    let key = '';
    for (let k = 0; k < n; k++) key += `${this.names[k]!}\n${this.types[k]!}\n`;
    let layout = this.layoutIndex.get(key);
    if (layout === undefined) {
      layout = { names: this.names.slice(0, n), types: this.types.slice(0, n), index: this.layouts.length };
      this.layouts.push(layout);
      this.layoutIndex.set(key, layout);
    }
    return layout;
  }

  run(): TsPointColumns {
    try {
      return this.parseAll();
    } finally {
      this.series.giveBack();
      this.tagPairs.giveBack();
    }
  }

  private parseAll(): TsPointColumns {
    const buf = this.buf;
    const len = buf.length;
    let pos = 0;
    while (pos < len) {
      this.line++;
      this.lineStart = pos;
      let nl = buf.indexOf(LF, pos);
      if (nl < 0) nl = len;
      let end = nl;
      if (end > pos && buf[end - 1] === CR) end--;
      let i = pos;
      while (i < end && (buf[i] === SP || buf[i] === TAB)) i++;
      if (i < end && buf[i] !== HASH) {
        if (this.points >= this.maxLines) {
          throw new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `line protocol: more than ${this.maxLines} lines (line ${this.line})`);
        }
        this.parseLine(i, end);
      }
      pos = nl + 1;
    }
    const out: TsPointColumns = {
      length: this.points,
      series: this.seriesList,
      layouts: this.layouts,
      seriesOf: this.seriesOf,
      layoutOf: this.layoutOf,
      timeMs: this.timeMs,
      valueStart: this.valueStart,
      numbers: this.numbers,
    };
    if (this.nanos) out.nanos = this.nanos;
    if (this.strings) out.strings = this.strings;
    return out;
  }

  private fail(pos: number, detail: string): never {
    const buf = this.buf;
    let chars = 0;
    for (let j = this.lineStart; j < pos; j++) if ((buf[j]! & 0xc0) !== 0x80) chars++;
    throw new LineProtocolError(this.line, chars + 1, detail);
  }

  private parseLine(start: number, end: number): void {
    const buf = this.buf;
    // The series key (measurement and tags) runs to the first unescaped space. The series that
    // followed the previous line's series last time, byte for byte and then a space, is this
    // line's: scanning would stop at that same space (the scan depends only on these bytes).
    let i = start;
    let entry = this.prevEntry?.next;
    const plen = entry === undefined ? 0 : entry.keyLen;
    if (entry !== undefined && start + plen < end && buf[start + plen] === SP && bytesEqual(buf, entry.keyStart, start, plen)) {
      i = start + plen;
    } else {
      let h = 0x811c9dc5 | 0;
      while (i < end) {
        const c = buf[i]!;
        if (c === SP) break;
        h = Math.imul(h ^ c, 0x01000193);
        if (c === BSL && i + 1 < end) {
          h = Math.imul(h ^ buf[i + 1]!, 0x01000193);
          i += 2;
        } else {
          i++;
        }
      }
      entry = this.series.get(buf, start, i - start, h);
      if (entry === undefined) {
        entry = this.parseSeriesKey(start, i);
        entry.hint = latin1(buf, start, i);
        entry.index = this.seriesList.length;
        entry.keyStart = start;
        entry.keyLen = i - start;
        this.seriesList.push(entry);
        this.series.set(start, i - start, h, entry);
      }
      if (this.prevEntry !== undefined) this.prevEntry.next = entry;
    }
    this.prevEntry = entry;

    while (i < end && buf[i] === SP) i++;
    if (i >= end) this.fail(i, 'missing fields');

    // Field names and types collect in reused arrays, values go straight into the columns.
    // While they repeat the series' previous layout, names need no duplicate check.
    const names = this.names;
    const types = this.types;
    const cand = entry.layout;
    let match = cand !== undefined;
    const vbase = this.valueStart[this.points]!;
    let n = 0;
    const keyPos = this.keyPos;
    const keyLen = this.keyLen;
    const keyName = this.keyName;
    let seen: Set<string> | undefined;
    for (;;) {
      // Field key, up to an unescaped '='.
      const ks = i;
      const idx = n;
      let name: string;
      const plen = idx < keyPos.length ? keyLen[idx]! : -1;
      if (plen > 0 && buf[ks + plen] === EQ && ks + plen < end && bytesEqual(buf, keyPos[idx]!, ks, plen)) {
        // The previous line's key at this position, byte for byte, followed by '=': scanning would
        // stop at that same '=' (the scan depends only on these bytes), so reuse its checked name.
        name = keyName[idx]!;
        i = ks + plen;
      } else {
        let esc = false;
        let high = false;
        while (i < end) {
          const c = buf[i]!;
          if (c === EQ || c === COMMA || c === SP) break;
          if (c === BSL) {
            esc = true;
            if (i + 1 < end && isKeyEscapable(buf[i + 1])) {
              i += 2;
              continue;
            }
          } else if (c < 0x20 || c === 0x7f) {
            this.fail(i, 'field key must not contain control characters');
          } else if (c >= 0x80) {
            high = true;
          }
          i++;
        }
        if (i === ks) this.fail(ks, 'missing field key');
        name = esc ? unescapeKey(buf, ks, i) : high ? utf8(buf, ks, i) : latin1(buf, ks, i);
        if (i >= end || buf[i] !== EQ) this.fail(i, `expected "=" after field key ${quote(name)}`);
        if (i - ks > INGEST_LIMITS.maxNameBytes && Buffer.byteLength(name, 'utf8') > INGEST_LIMITS.maxNameBytes) {
          this.fail(ks, `field key is longer than ${INGEST_LIMITS.maxNameBytes} bytes`);
        }
        keyPos[idx] = ks;
        keyLen[idx] = i - ks;
        keyName[idx] = name;
      }
      if (match && (n >= cand!.names.length || cand!.names[n] !== name)) match = false;
      if (match) {
        // The same name at the same position as in a layout with unique names.
      } else if (seen === undefined) {
        for (let k = 0; k < n; k++) if (names[k] === name) this.fail(ks, `duplicate field ${quote(name)}`);
        if (n >= 16) seen = new Set(names.slice(0, n));
      } else if (seen.has(name)) {
        this.fail(ks, `duplicate field ${quote(name)}`);
      }
      seen?.add(name);
      i++; // '='

      // Field value.
      const vs = i;
      if (vbase + n >= this.numbers.length) this.growValues();
      if (i < end && buf[i] === QUOTE) {
        i = this.parseString(name, i, end);
        this.vType = 'string';
        this.vNum = NaN;
        (this.strings ??= new Map()).set(vbase + n, this.str);
        if (i < end && buf[i] !== COMMA && buf[i] !== SP) this.fail(i, `unexpected character after the string value of field ${quote(name)}`);
      } else {
        while (i < end) {
          const c = buf[i]!;
          if (c === COMMA || c === SP) break;
          i++;
        }
        if (i === vs) this.fail(vs, `missing value for field ${quote(name)}`);
        this.parseScalar(name, vs, i);
      }
      if (match && cand!.types[n] !== this.vType) match = false;
      names[n] = name;
      types[n] = this.vType;
      this.numbers[vbase + n] = this.vNum;
      n++;
      if (i >= end || buf[i] === SP) break;
      i++; // ','
    }
    const layout = match && n === cand!.names.length ? cand! : this.layoutOfLine(n);
    entry.layout = layout;

    // Timestamp.
    let timeMs = this.nowMs;
    let nanos = 0;
    while (i < end && buf[i] === SP) i++;
    if (i < end) {
      const ts = i;
      while (i < end && buf[i] !== SP) i++;
      this.parseTimestamp(ts, i);
      timeMs = this.tMs;
      nanos = this.tNanos;
      while (i < end && buf[i] === SP) i++;
      if (i < end) this.fail(i, 'unexpected text after the timestamp');
    }
    const p = this.points;
    if (p + 1 >= this.seriesOf.length) this.growPoints();
    this.seriesOf[p] = entry.index;
    this.layoutOf[p] = layout.index;
    this.timeMs[p] = timeMs;
    if (nanos !== 0 && this.nanos === undefined) this.nanos = new Int32Array(this.seriesOf.length);
    if (this.nanos) this.nanos[p] = nanos;
    this.valueStart[p + 1] = vbase + n;
    this.points = p + 1;
  }

  /** Measurement and tag set of bytes [start, end) (no unescaped spaces inside). */
  private parseSeriesKey(start: number, end: number): SeriesEntry {
    const buf = this.buf;
    let i = start;
    let esc = false;
    while (i < end) {
      const c = buf[i]!;
      if (c === COMMA) break;
      if (c === BSL) {
        esc = true;
        if (i + 1 < end && isKeyEscapable(buf[i + 1])) {
          i += 2;
          continue;
        }
      }
      i++;
    }
    if (i === start) this.fail(start, 'measurement must not be empty');
    const mh = fnv(buf, start, i);
    let measurement = this.measurements.get(buf, start, i - start, mh);
    if (measurement === undefined) {
      measurement = esc ? unescapeKey(buf, start, i) : utf8(buf, start, i);
      const mp = checkName(measurement);
      if (mp !== undefined) this.fail(start, `measurement ${mp}`);
      this.measurements.set(start, i - start, mh, measurement);
    }

    const tags: Array<readonly [string, string]> = [];
    while (i < end) {
      i++; // ','
      const ks = i;
      let keyEsc = false;
      while (i < end) {
        const c = buf[i]!;
        if (c === EQ || c === COMMA) break;
        if (c === BSL) {
          keyEsc = true;
          if (i + 1 < end && isKeyEscapable(buf[i + 1])) {
            i += 2;
            continue;
          }
        }
        i++;
      }
      const ke = i;
      if (ke === ks) this.fail(ks, 'missing tag key');
      if (ke >= end || buf[ke] !== EQ) this.fail(ke, `expected "=" after tag key ${quote(keyEsc ? unescapeKey(buf, ks, ke) : utf8(buf, ks, ke))}`);
      i++; // '='
      const vs = i;
      let valueEsc = false;
      while (i < end) {
        const c = buf[i]!;
        if (c === COMMA) break;
        if (c === EQ) this.fail(i, `unescaped "=" in the value of tag ${quote(keyEsc ? unescapeKey(buf, ks, ke) : utf8(buf, ks, ke))}`);
        if (c === BSL) {
          valueEsc = true;
          if (i + 1 < end && isKeyEscapable(buf[i + 1])) {
            i += 2;
            continue;
          }
        }
        i++;
      }
      // Tag pairs repeat across series: one validated, shared tuple per distinct pair of bytes.
      const ph = fnv(buf, ks, i);
      let pair = this.tagPairs.get(buf, ks, i - ks, ph);
      if (pair === undefined) {
        const key = keyEsc ? unescapeKey(buf, ks, ke) : utf8(buf, ks, ke);
        const kp = checkName(key);
        if (kp !== undefined) this.fail(ks, `tag key ${kp}`);
        if (i === vs) this.fail(vs, `tag ${quote(key)} has an empty value`);
        const value = valueEsc ? unescapeKey(buf, vs, i) : utf8(buf, vs, i);
        const vp = checkTagValue(value);
        if (vp !== undefined) this.fail(vs, `value of tag ${quote(key)} ${vp}`);
        pair = [key, value];
        this.tagPairs.set(ks, i - ks, ph, pair);
      }
      const key = pair[0];
      for (let t = 0; t < tags.length; t++) if (tags[t]![0] === key) this.fail(ks, `duplicate tag key ${quote(key)}`);
      tags.push(pair);
    }
    return { measurement, tags, hint: '', index: -1, layout: undefined, keyStart: 0, keyLen: 0, next: undefined };
  }

  /** String value whose opening quote is at `q`; sets `this.str`, returns the index after the closing quote. */
  private parseString(name: string, q: number, end: number): number {
    const buf = this.buf;
    let j = q + 1;
    let esc = false;
    let high = false;
    for (;;) {
      if (j >= end) this.fail(q, `unterminated string value for field ${quote(name)}`);
      const c = buf[j]!;
      if (c === QUOTE) break;
      if (c === BSL) {
        esc = true;
        if (j + 1 < end && (buf[j + 1] === QUOTE || buf[j + 1] === BSL)) {
          j += 2;
          continue;
        }
      } else if (c >= 0x80) {
        high = true;
      }
      j++;
    }
    const s = esc ? unescapeString(buf, q + 1, j) : high ? utf8(buf, q + 1, j) : latin1(buf, q + 1, j);
    if (j - q - 1 > INGEST_LIMITS.maxStringValueBytes && Buffer.byteLength(s, 'utf8') > INGEST_LIMITS.maxStringValueBytes) {
      this.fail(q, `string value of field ${quote(name)} is longer than ${INGEST_LIMITS.maxStringValueBytes} bytes`);
    }
    this.str = s;
    return j + 1;
  }

  private invalidValue(name: string, a: number, b: number): never {
    this.fail(a, `invalid field value ${quote(utf8(this.buf, a, b))} for field ${quote(name)}`);
  }

  /** A non-string value token [a, b): boolean, integer, unsigned or float; sets `vType` and `vNum`. */
  private parseScalar(name: string, a: number, b: number): void {
    const buf = this.buf;
    const first = buf[a]!;
    if (first === 0x74 || first === 0x54 || first === 0x66 || first === 0x46) {
      // t T f F
      const n = b - a;
      this.vType = 'boolean';
      if (n === 1) {
        this.vNum = first === 0x74 || first === 0x54 ? 1 : 0;
        return;
      }
      if (n === 4 || n === 5) {
        const s = latin1(buf, a, b);
        if (s === 'true' || s === 'True' || s === 'TRUE') {
          this.vNum = 1;
          return;
        }
        if (s === 'false' || s === 'False' || s === 'FALSE') {
          this.vNum = 0;
          return;
        }
      }
      this.invalidValue(name, a, b);
    }
    const last = buf[b - 1]!;
    if (last === LOWER_I || last === LOWER_U) {
      const unsigned = last === LOWER_U;
      let j = a;
      let neg = false;
      if (buf[j] === MINUS && !unsigned) {
        neg = true;
        j++;
      }
      const stop = b - 1;
      if (j >= stop) this.invalidValue(name, a, b);
      let v = 0;
      for (; j < stop; j++) {
        const d = buf[j]! - 48;
        if (d < 0 || d > 9) this.invalidValue(name, a, b);
        v = v * 10 + d;
      }
      // JS numbers hold integers exactly only up to 2^53-1; reject rather than round.
      if (v > MAX_SAFE) {
        this.fail(a, `integer out of range for field ${quote(name)}: ${quote(utf8(buf, a, b))} (limit ±(2^53-1))`);
      }
      this.vType = 'integer';
      this.vNum = neg ? 0 - v : v;
      return;
    }
    // Float: -?digits[.digits][e[+-]digits], at least one mantissa digit.
    let j = a;
    let neg = false;
    if (buf[j] === MINUS) {
      neg = true;
      j++;
    }
    let m = 0;
    let nd = 0;
    let fd = 0;
    let d = 0;
    while (j < b && (d = buf[j]! - 48) >= 0 && d <= 9) {
      m = m * 10 + d;
      nd++;
      j++;
    }
    if (j < b && buf[j] === DOT) {
      j++;
      while (j < b && (d = buf[j]! - 48) >= 0 && d <= 9) {
        m = m * 10 + d;
        nd++;
        fd++;
        j++;
      }
    }
    if (nd === 0) this.invalidValue(name, a, b);
    let exp = false;
    if (j < b && (buf[j] === LOWER_E || buf[j] === UPPER_E)) {
      exp = true;
      j++;
      if (j < b && (buf[j] === PLUS || buf[j] === MINUS)) j++;
      const es = j;
      while (j < b && (d = buf[j]! - 48) >= 0 && d <= 9) j++;
      if (j === es) this.invalidValue(name, a, b);
    }
    if (j !== b) this.invalidValue(name, a, b);
    let v: number;
    if (!exp && (nd <= 15 || m <= MAX_SAFE) && fd <= 22) {
      // Exact mantissa (every partial sum stayed below 2^53) and exact power of ten:
      // one correctly rounded division equals parsing.
      v = fd === 0 ? m : m / POW10[fd]!;
      if (neg) v = -v;
    } else if (!exp && nd <= 19 && fd <= 22 && m > 0 && !Number.isNaN((v = decimal19(buf, a, b, nd, fd)))) {
      // Up to 19 digits (shortest round-trip doubles print 17): exact double-double arithmetic.
      if (neg) v = -v;
    } else {
      v = Number(latin1(buf, a, b));
      if (!Number.isFinite(v)) this.fail(a, `float out of range for field ${quote(name)}: ${quote(utf8(buf, a, b))}`);
    }
    this.vType = 'float';
    this.vNum = v;
  }

  /** Timestamp token [a, b) in the request's precision; sets `tMs` and `tNanos`. */
  private parseTimestamp(a: number, b: number): void {
    const buf = this.buf;
    let j = a;
    let neg = false;
    if (buf[j] === MINUS) {
      neg = true;
      j++;
    }
    for (let k = j; k < b; k++) {
      const d = buf[k]! - 48;
      if (d < 0 || d > 9) this.fail(a, `invalid timestamp ${quote(utf8(buf, a, b))}`);
    }
    if (j === b) this.fail(a, `invalid timestamp ${quote(utf8(buf, a, b))}`);
    while (j < b - 1 && buf[j] === 0x30) j++; // leading zeros
    const nd = b - j;
    if (nd > 19 || (nd === 19 && digitsAbove(buf, j, neg ? INT64_MIN_DIGITS : INT64_MAX_DIGITS))) {
      this.fail(a, `timestamp ${quote(utf8(buf, a, b))} is out of range (signed 64-bit)`);
    }
    // Digits below the millisecond: 6 for ns, 3 for us.
    const sub = this.precision === 'ns' ? 6 : this.precision === 'us' ? 3 : 0;
    const cut = b - sub > j ? b - sub : j;
    let hi = 0;
    let lo = 0;
    for (let k = j; k < cut; k++) hi = hi * 10 + (buf[k]! - 48);
    for (let k = cut; k < b; k++) lo = lo * 10 + (buf[k]! - 48);
    if (this.precision === 's') hi *= 1000;
    let ms: number;
    let nanos: number;
    if (!neg) {
      ms = hi;
      nanos = lo;
    } else if (lo === 0) {
      ms = 0 - hi;
      nanos = 0;
    } else {
      // Floor: -1.5 ms is ms -2 plus 0.5 ms.
      ms = -hi - 1;
      nanos = POW10[sub]! - lo;
    }
    if (sub === 3) nanos *= 1000;
    if (!Number.isSafeInteger(ms)) this.fail(a, `timestamp ${quote(utf8(buf, a, b))} is out of range (milliseconds beyond ±(2^53-1))`);
    this.tMs = ms;
    this.tNanos = nanos;
  }
}

/**
 * Parses a line-protocol body. Throws `LineProtocolError` (INVALID_ARGUMENT)
 * for the first bad line, StrataError LIMIT_EXCEEDED past `maxLines` points,
 * INVALID_ARGUMENT for bad options.
 */
export function parseLineProtocol(body: Buffer | string, options: LineProtocolOptions): TsPoint[] {
  return columnsToPoints(parseLineProtocolColumns(body, options));
}

/** `parseLineProtocol` into columns (no object per point): what `TimeSeriesService.writeColumns` takes. */
export function parseLineProtocolColumns(body: Buffer | string, options: LineProtocolOptions): TsPointColumns {
  const precision = options.precision ?? 'ns';
  if (precision !== 'ns' && precision !== 'us' && precision !== 'ms' && precision !== 's') {
    throw invalidArgument(`line protocol: precision must be ns, us, ms or s, got ${JSON.stringify(precision)}`);
  }
  if (!Number.isSafeInteger(options.nowMs)) throw invalidArgument(`line protocol: nowMs must be a safe integer, got ${String(options.nowMs)}`);
  const maxLines = options.maxLines ?? Infinity;
  if (!(maxLines >= 0)) throw invalidArgument(`line protocol: maxLines must be >= 0, got ${String(maxLines)}`);
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return new LineParser(buf, precision, options.nowMs, maxLines).run();
}

const KEY_SPECIAL = /[\\, =]/;
const KEY_SPECIAL_G = /[\\, =]/g;
const MEASUREMENT_SPECIAL = /[\\, ]/;
const MEASUREMENT_SPECIAL_G = /[\\, ]/g;
const STRING_SPECIAL = /[\\"]/;
const STRING_SPECIAL_G = /[\\"]/g;

function escapeKey(s: string): string {
  return KEY_SPECIAL.test(s) ? s.replace(KEY_SPECIAL_G, '\\$&') : s;
}

function escapeMeasurement(s: string): string {
  return MEASUREMENT_SPECIAL.test(s) ? s.replace(MEASUREMENT_SPECIAL_G, '\\$&') : s;
}

/** `n` (0 <= n < 10^width) left-padded with zeros. */
function pad(n: number, width: number): string {
  const s = String(n);
  return s.length >= width ? s : '0'.repeat(width - s.length) + s;
}

/** ms + sub/10^width as the digits of one integer (exact, also for negative ms). */
function scaledDigits(ms: number, sub: number, width: number): string {
  if (ms >= 0) return ms === 0 ? String(sub) : String(ms) + pad(sub, width);
  if (sub === 0) return `-${String(-ms)}${'0'.repeat(width)}`;
  const hi = -ms - 1;
  const lo = POW10[width]! - sub;
  return hi === 0 ? `-${String(lo)}` : `-${String(hi)}${pad(lo, width)}`;
}

function formatTimestamp(ms: number, nanos: number, precision: TimePrecision): string {
  switch (precision) {
    case 'ns':
      return scaledDigits(ms, nanos, 6);
    case 'us':
      return scaledDigits(ms, Math.floor(nanos / 1000), 3);
    case 'ms':
      return String(ms);
    case 's':
      return String(Math.floor(ms / 1000));
  }
}

/** Appends text to a growing byte buffer (ASCII byte by byte, anything else as UTF-8). */
class TextWriter extends ByteWriter {
  text(str: string): void {
    this.utf8(str, Buffer.byteLength(str, 'utf8'));
  }

  override toString(): string {
    return this.finish().toString('utf8');
  }
}

/** True when the fields and time of `p` pass validation (field names are checked once per name by the caller). */
function fieldsAndTimeValid(p: TsPoint): boolean {
  const fields = p.fields;
  const n = fields.length;
  if (n === 0 || n > 16 || !Number.isSafeInteger(p.timeMs)) return false;
  const nanos = p.nanos;
  if (nanos !== undefined && !(Number.isInteger(nanos) && nanos >= 0 && nanos <= 999_999)) return false;
  for (let k = 0; k < n; k++) {
    const f = fields[k]!;
    const v = f.value;
    switch (f.type) {
      case 'float':
        if (typeof v !== 'number' || !Number.isFinite(v)) return false;
        break;
      case 'integer':
        if (!Number.isSafeInteger(v)) return false;
        break;
      case 'boolean':
        if (typeof v !== 'boolean') return false;
        break;
      case 'string':
        if (typeof v !== 'string' || v.length * 3 > INGEST_LIMITS.maxStringValueBytes) return false;
        break;
      default:
        return false;
    }
    for (let j = 0; j < k; j++) if (fields[j]!.name === f.name) return false;
  }
  return true;
}

/**
 * Writes points as line protocol, one line per point each ending in `\n`,
 * always with a timestamp in `precision` (default ns; coarser precisions
 * floor the sub-unit part). `parseLineProtocol` gives the points back exactly
 * (ns precision). Throws INVALID_ARGUMENT for points that fail validation or
 * cannot be written: a measurement starting with `#` (a comment), a string
 * value with a newline, a non-finite float.
 */
export function formatLineProtocol(points: readonly TsPoint[], precision: TimePrecision = 'ns'): string {
  if (precision !== 'ns' && precision !== 'us' && precision !== 'ms' && precision !== 's') {
    throw invalidArgument(`line protocol: precision must be ns, us, ms or s, got ${JSON.stringify(precision)}`);
  }
  const w = new TextWriter(points.length * 128);
  // Escaped "measurement,tags" per tags array (points of one series usually share it) and escaped field names.
  const prefixes = new Map<TsPoint['tags'], { measurement: string; text: string }>();
  const names = new Map<string, string>();
  for (let idx = 0; idx < points.length; idx++) {
    const p = points[idx]!;
    let prefix = prefixes.get(p.tags);
    const fresh = prefix === undefined || prefix.measurement !== p.measurement;
    if (fresh || !fieldsAndTimeValid(p)) {
      const problem = checkPoint(p);
      if (problem !== undefined) throw invalidArgument(`line protocol: point ${idx}: ${problem}`);
    }
    if (prefix === undefined || fresh) {
      if (p.measurement.charCodeAt(0) === HASH) {
        throw invalidArgument(`line protocol: point ${idx}: a measurement starting with "#" would be read as a comment`);
      }
      let text = escapeMeasurement(p.measurement);
      for (const [k, v] of p.tags) text += `,${escapeKey(k)}=${escapeKey(v)}`;
      prefix = { measurement: p.measurement, text };
      prefixes.set(p.tags, prefix);
    }
    w.text(prefix.text);
    const fields = p.fields;
    for (let k = 0; k < fields.length; k++) {
      const f = fields[k]!;
      let name = names.get(f.name);
      if (name === undefined) {
        const np = checkName(f.name);
        if (np !== undefined) throw invalidArgument(`line protocol: point ${idx}: field name ${JSON.stringify(f.name)} ${np}`);
        name = escapeKey(f.name);
        names.set(f.name, name);
      }
      w.byte(k === 0 ? SP : COMMA);
      w.text(name);
      w.byte(EQ);
      const v = f.value;
      switch (f.type) {
        case 'float':
          w.text(Object.is(v, -0) ? '-0' : String(v));
          break;
        case 'integer':
          w.text(String(v));
          w.byte(LOWER_I);
          break;
        case 'boolean':
          w.text(v ? 'true' : 'false');
          break;
        case 'string': {
          const str = v as string;
          if (str.includes('\n')) {
            throw invalidArgument(`line protocol: point ${idx}: string value of field ${quote(f.name)} contains a newline`);
          }
          w.byte(QUOTE);
          w.text(STRING_SPECIAL.test(str) ? str.replace(STRING_SPECIAL_G, '\\$&') : str);
          w.byte(QUOTE);
          break;
        }
      }
    }
    w.byte(SP);
    w.text(formatTimestamp(p.timeMs, p.nanos ?? 0, precision));
    w.byte(LF);
  }
  return w.toString();
}
