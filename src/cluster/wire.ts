/**
 * The peer protocol's bytes: the Raft `Message` codec and the frames nodes
 * exchange over one TCP (or TLS) connection per pair. Little-endian,
 * fixed-width integers (numbers below 2^53 as two u32, low word first),
 * strings as u16-length-prefixed UTF-8, byte strings as u32-length-prefixed.
 * Layout in docs/formats.md ("Cluster peer frames").
 *
 * Encoders size their output exactly, then write it in one pass. Decoders
 * check every length against the bytes left and fail with CORRUPTION (file
 * and offset), or PROTOCOL for a frame of an unknown version or kind or above
 * the size limit; never a RangeError. Byte fields of a decoded value are
 * views into the input (no copy): the input must not be modified afterwards.
 */
import { EntryType, type Entry, type Message, type MessageType, type SnapshotChunk } from '../replication/index.js';
import { ERROR_CODES, StrataError, corruption, crc32c, invalidArgument } from '../base/index.js';

/** The body format version every frame starts with. */
export const WIRE_VERSION = 1;
/** The peer protocol version HELLO announces (the semantics, not the bytes). */
export const PEER_PROTOCOL_VERSION = 1;
/** `u32 bodyLength | u32 crc32c(body)`. */
export const FRAME_HEADER_BYTES = 8;
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

export const FrameKind = {
  Hello: 1,
  RaftBatch: 2,
  Request: 3,
  Response: 4,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** First frame each way: the dialer's, then the acceptor's answer. */
export interface HelloFrame {
  kind: typeof FrameKind.Hello;
  nodeId: string;
  clusterId: string;
  protocolVersion: number;
}

export interface RaftBatchItem {
  /** The Raft group (shard) the message belongs to. */
  group: string;
  message: Message;
}

export interface RaftBatchFrame {
  kind: typeof FrameKind.RaftBatch;
  items: RaftBatchItem[];
}

export interface RequestFrame {
  kind: typeof FrameKind.Request;
  id: number;
  method: string;
  payload: Uint8Array;
}

export type ResponseFrame =
  | { kind: typeof FrameKind.Response; id: number; ok: true; payload: Uint8Array }
  | { kind: typeof FrameKind.Response; id: number; ok: false; code: string; message: string };

export type Frame = HelloFrame | RaftBatchFrame | RequestFrame | ResponseFrame;

/** A Raft message already encoded (`encodeRaftMessage`), as a transport queues it. */
export interface EncodedRaftItem {
  group: string;
  encoded: Uint8Array;
}

// Message types by wire code. A `Record` over MessageType makes the compiler
// insist every type has a code; codes are never renumbered.
const MESSAGE_TYPE_CODES: Record<MessageType, number> = {
  prop: 0,
  app: 1,
  appResp: 2,
  vote: 3,
  voteResp: 4,
  preVote: 5,
  preVoteResp: 6,
  heartbeat: 7,
  heartbeatResp: 8,
  snap: 9,
  snapResp: 10,
  readIndex: 11,
  readIndexResp: 12,
  timeoutNow: 13,
  transferLeader: 14,
};
const MESSAGE_TYPES: MessageType[] = [];
for (const [t, code] of Object.entries(MESSAGE_TYPE_CODES)) MESSAGE_TYPES[code] = t as MessageType;

const FLAG_CONTEXT = 1;
const FLAG_SNAPSHOT = 2;

const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const TWO_32 = 0x100000000;
/** The high word of any number below 2^53. */
const HIGH_WORD_MAX = 0x1fffff;
/** u64 term, u64 index, u8 type, u32 data length. */
const ENTRY_FIXED_BYTES = 21;

const MESSAGE_FILE = '<raft message>';
const FRAME_FILE = '<peer frame>';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------- writing

function strSize(s: string, field: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  if (n > U16_MAX) throw invalidArgument(`${field} is ${n} bytes of UTF-8, above the ${U16_MAX}-byte limit`);
  return 2 + n;
}

function bytesSize(b: Uint8Array, field: string): number {
  if (b.length > U32_MAX) throw invalidArgument(`${field} of ${b.length} bytes is too large`);
  return 4 + b.length;
}

function checkU53(n: number, field: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw invalidArgument(`${field} must be an integer in [0, 2^53), got ${n}`);
}

/** Writes into a buffer sized beforehand; `finish` asserts the size was exact. */
class Writer {
  readonly buf: Buffer;
  pos: number;
  constructor(size: number, start = 0) {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = start;
  }
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.pos = this.buf.writeUInt16LE(v, this.pos);
  }
  u32(v: number): void {
    this.pos = this.buf.writeUInt32LE(v, this.pos);
  }
  u53(v: number): void {
    this.pos = this.buf.writeUInt32LE(v % TWO_32, this.pos);
    this.pos = this.buf.writeUInt32LE(Math.floor(v / TWO_32), this.pos);
  }
  str(s: string): void {
    const n = this.buf.write(s, this.pos + 2, 'utf8');
    this.buf.writeUInt16LE(n, this.pos);
    this.pos += 2 + n;
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  finish(): Buffer {
    if (this.pos !== this.buf.length) throw new Error(`assertion failed: encoder wrote ${this.pos} of ${this.buf.length} bytes`);
    return this.buf;
  }
}

function messageSize(m: Message): number {
  if (!(m.type in MESSAGE_TYPE_CODES)) throw invalidArgument(`unknown raft message type ${String(m.type)}`);
  for (const [field, v] of [
    ['term', m.term],
    ['index', m.index],
    ['logTerm', m.logTerm],
    ['commit', m.commit],
    ['rejectHint', m.rejectHint],
    ['hintTerm', m.hintTerm],
  ] as const) {
    checkU53(v, `raft message ${field}`);
  }
  if (m.entries.length > U32_MAX) throw invalidArgument('too many raft entries');
  let size = 1 + strSize(m.from, 'raft message from') + strSize(m.to, 'raft message to') + 6 * 8 + 1 + 4 + 1;
  for (const e of m.entries) {
    checkU53(e.term, 'entry term');
    checkU53(e.index, 'entry index');
    if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) throw invalidArgument(`unknown entry type ${String(e.type)}`);
    size += ENTRY_FIXED_BYTES + e.data.length;
  }
  if (m.context !== undefined) size += bytesSize(m.context, 'raft message context');
  const s = m.snapshot;
  if (s !== undefined) {
    for (const [field, v] of [
      ['snapshot index', s.meta.index],
      ['snapshot term', s.meta.term],
      ['snapshot offset', s.offset],
      ['snapshot total', s.total],
    ] as const) {
      checkU53(v, field);
    }
    size += 8 + 8 + 4 + 4 + 8 + 8 + bytesSize(s.data, 'snapshot chunk');
    for (const id of s.meta.conf.voters) size += strSize(id, 'voter id');
    for (const id of s.meta.conf.learners) size += strSize(id, 'learner id');
  }
  return size;
}

function writeMessage(w: Writer, m: Message): void {
  w.u8(MESSAGE_TYPE_CODES[m.type]);
  w.str(m.from);
  w.str(m.to);
  w.u53(m.term);
  w.u53(m.index);
  w.u53(m.logTerm);
  w.u53(m.commit);
  w.u8(m.reject ? 1 : 0);
  w.u53(m.rejectHint);
  w.u53(m.hintTerm);
  w.u32(m.entries.length);
  for (const e of m.entries) {
    w.u53(e.term);
    w.u53(e.index);
    w.u8(e.type);
    w.bytes(e.data);
  }
  w.u8((m.context !== undefined ? FLAG_CONTEXT : 0) | (m.snapshot !== undefined ? FLAG_SNAPSHOT : 0));
  if (m.context !== undefined) w.bytes(m.context);
  const s = m.snapshot;
  if (s !== undefined) {
    w.u53(s.meta.index);
    w.u53(s.meta.term);
    w.u32(s.meta.conf.voters.length);
    for (const id of s.meta.conf.voters) w.str(id);
    w.u32(s.meta.conf.learners.length);
    for (const id of s.meta.conf.learners) w.str(id);
    w.u53(s.offset);
    w.u53(s.total);
    w.bytes(s.data);
  }
}

/** Encodes a Raft message; INVALID_ARGUMENT if a field cannot be represented. */
export function encodeRaftMessage(m: Message): Uint8Array {
  const w = new Writer(messageSize(m));
  writeMessage(w, m);
  return w.finish();
}

function frameWriter(bodySize: number, kind: FrameKind): Writer {
  const w = new Writer(FRAME_HEADER_BYTES + 2 + bodySize, FRAME_HEADER_BYTES);
  w.u8(WIRE_VERSION);
  w.u8(kind);
  return w;
}

function finishFrame(w: Writer): Buffer {
  const buf = w.finish();
  const body = buf.subarray(FRAME_HEADER_BYTES);
  buf.writeUInt32LE(body.length, 0);
  buf.writeUInt32LE(crc32c(body), 4);
  return buf;
}

/** Bytes one item adds to a RAFT_BATCH frame (for callers that split batches at a size limit). */
export function raftBatchItemBytes(item: EncodedRaftItem): number {
  return strSize(item.group, 'raft group id') + 4 + item.encoded.length;
}

/** Bytes of a RAFT_BATCH frame before its items: header, version, kind, count. */
export const RAFT_BATCH_OVERHEAD_BYTES = FRAME_HEADER_BYTES + 2 + 4;

/** A RAFT_BATCH frame from messages encoded beforehand. */
export function encodeRaftBatchFrame(items: readonly EncodedRaftItem[]): Uint8Array {
  let size = 4;
  for (const it of items) size += raftBatchItemBytes(it);
  const w = frameWriter(size, FrameKind.RaftBatch);
  w.u32(items.length);
  for (const it of items) {
    w.str(it.group);
    w.bytes(it.encoded);
  }
  return finishFrame(w);
}

/** A whole frame (header and body). INVALID_ARGUMENT if a field cannot be represented. */
export function encodeFrame(f: Frame): Uint8Array {
  switch (f.kind) {
    case FrameKind.Hello: {
      if (!Number.isInteger(f.protocolVersion) || f.protocolVersion < 0 || f.protocolVersion > U16_MAX) {
        throw invalidArgument(`protocol version ${f.protocolVersion} is not a u16`);
      }
      const w = frameWriter(strSize(f.nodeId, 'node id') + strSize(f.clusterId, 'cluster id') + 2, FrameKind.Hello);
      w.str(f.nodeId);
      w.str(f.clusterId);
      w.u16(f.protocolVersion);
      return finishFrame(w);
    }
    case FrameKind.RaftBatch:
      return encodeRaftBatchFrame(f.items.map((it) => ({ group: it.group, encoded: encodeRaftMessage(it.message) })));
    case FrameKind.Request: {
      checkRequestId(f.id);
      const w = frameWriter(4 + strSize(f.method, 'method') + bytesSize(f.payload, 'payload'), FrameKind.Request);
      w.u32(f.id);
      w.str(f.method);
      w.bytes(f.payload);
      return finishFrame(w);
    }
    case FrameKind.Response: {
      checkRequestId(f.id);
      if (f.ok) {
        const w = frameWriter(4 + 1 + bytesSize(f.payload, 'payload'), FrameKind.Response);
        w.u32(f.id);
        w.u8(1);
        w.bytes(f.payload);
        return finishFrame(w);
      }
      const w = frameWriter(4 + 1 + strSize(f.code, 'error code') + strSize(f.message, 'error message'), FrameKind.Response);
      w.u32(f.id);
      w.u8(0);
      w.str(f.code);
      w.str(f.message);
      return finishFrame(w);
    }
  }
}

function checkRequestId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > U32_MAX) throw invalidArgument(`request id ${id} is not a u32`);
}

// ---------------------------------------------------------------- reading

/** A bounds-checked cursor over `buf[pos, end)`; errors name `file` and the offset plus `base`. */
class Reader {
  private readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
    readonly file: string,
    readonly base: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  fail(what: string, at = this.pos): never {
    throw corruption(this.file, this.base + at, what);
  }
  private need(n: number, field: string): void {
    if (this.end - this.pos < n) this.fail(`truncated ${field}: needs ${n} bytes, ${this.end - this.pos} left`);
  }
  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }
  u16(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u53(field: string): number {
    this.need(8, field);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    if (hi > HIGH_WORD_MAX) this.fail(`${field} is not below 2^53`);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }
  /** A u32-length-prefixed byte string, as a view (plain Uint8Array whatever the input's class). */
  bytes(field: string): Uint8Array {
    const at = this.pos;
    const n = this.u32(`${field} length`);
    if (n > this.remaining) this.fail(`${field} length ${n} runs past the end (${this.remaining} bytes left)`, at);
    const out = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return out;
  }
  str(field: string): string {
    const at = this.pos;
    const n = this.u16(`${field} length`);
    if (n > this.remaining) this.fail(`${field} length ${n} runs past the end (${this.remaining} bytes left)`, at);
    const raw = this.buf.subarray(this.pos, this.pos + n);
    let s: string;
    try {
      s = utf8.decode(raw);
    } catch {
      // TextDecoder's TypeError says nothing useful beyond "invalid".
      this.fail(`${field} is not valid UTF-8`, at);
    }
    this.pos += n;
    return s;
  }
  /** Fails unless a count of items each at least `minBytes` long can fit in what is left. */
  count(field: string, minBytes: number): number {
    const at = this.pos;
    const n = this.u32(field);
    if (n * minBytes > this.remaining) this.fail(`${field} ${n} cannot fit in ${this.remaining} bytes`, at);
    return n;
  }
  expectEnd(what: string): void {
    if (this.pos !== this.end) this.fail(`${this.end - this.pos} bytes after the ${what}`);
  }
}

function readMessage(r: Reader): Message {
  const code = r.u8('message type');
  const type = MESSAGE_TYPES[code];
  if (type === undefined) r.fail(`unknown message type ${code}`, r.pos - 1);
  const from = r.str('from');
  const to = r.str('to');
  const term = r.u53('term');
  const index = r.u53('index');
  const logTerm = r.u53('logTerm');
  const commit = r.u53('commit');
  const rejectByte = r.u8('reject');
  if (rejectByte > 1) r.fail(`reject flag is ${rejectByte}`, r.pos - 1);
  const rejectHint = r.u53('rejectHint');
  const hintTerm = r.u53('hintTerm');
  const entryCount = r.count('entry count', ENTRY_FIXED_BYTES);
  const entries: Entry[] = new Array<Entry>(entryCount);
  for (let i = 0; i < entryCount; i++) {
    const eTerm = r.u53('entry term');
    const eIndex = r.u53('entry index');
    const eType = r.u8('entry type');
    if (eType !== EntryType.Normal && eType !== EntryType.ConfChange) r.fail(`entry ${i} has unknown type ${eType}`, r.pos - 1);
    entries[i] = { term: eTerm, index: eIndex, type: eType, data: r.bytes('entry data') };
  }
  const flags = r.u8('flags');
  if ((flags & ~(FLAG_CONTEXT | FLAG_SNAPSHOT)) !== 0) r.fail(`unknown message flags ${flags}`, r.pos - 1);
  const context = (flags & FLAG_CONTEXT) !== 0 ? r.bytes('context') : undefined;
  let snapshot: SnapshotChunk | undefined;
  if ((flags & FLAG_SNAPSHOT) !== 0) {
    const sIndex = r.u53('snapshot index');
    const sTerm = r.u53('snapshot term');
    const voters = readIds(r, 'voter');
    const learners = readIds(r, 'learner');
    const offset = r.u53('snapshot offset');
    const total = r.u53('snapshot total');
    snapshot = { meta: { index: sIndex, term: sTerm, conf: { voters, learners } }, offset, total, data: r.bytes('snapshot data') };
  }
  return { type, from, to, term, index, logTerm, entries, commit, reject: rejectByte === 1, rejectHint, hintTerm, context, snapshot };
}

function readIds(r: Reader, what: string): string[] {
  const n = r.count(`${what} count`, 2);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(r.str(`${what} id`));
  return ids;
}

/** Decodes exactly one Raft message filling `buf`; CORRUPTION on anything else. */
export function decodeRaftMessage(buf: Uint8Array): Message {
  const r = new Reader(buf, 0, buf.length, MESSAGE_FILE, 0);
  const m = readMessage(r);
  r.expectEnd('raft message');
  return m;
}

function protocolError(message: string): StrataError {
  return new StrataError(ERROR_CODES.PROTOCOL, message);
}

/**
 * Decodes a frame body (version, kind, payload). `streamOffset` is where the
 * body starts in its stream, for error offsets. PROTOCOL for an unknown
 * version or kind (a peer speaking something else), CORRUPTION otherwise.
 */
export function decodeFrameBody(body: Uint8Array, streamOffset = 0): Frame {
  const r: Reader = new Reader(body, 0, body.length, FRAME_FILE, streamOffset);
  const version = r.u8('frame version');
  if (version !== WIRE_VERSION) throw protocolError(`peer frame version ${version} (this node speaks ${WIRE_VERSION})`);
  const kind = r.u8('frame kind');
  let frame: Frame;
  switch (kind) {
    case FrameKind.Hello:
      frame = { kind, nodeId: r.str('node id'), clusterId: r.str('cluster id'), protocolVersion: r.u16('protocol version') };
      break;
    case FrameKind.RaftBatch: {
      const n = r.count('raft batch count', 2 + 4);
      const items: RaftBatchItem[] = [];
      for (let i = 0; i < n; i++) {
        const group = r.str('raft group id');
        const msgLen = r.u32('raft message length');
        if (msgLen > r.remaining) r.fail(`raft message length ${msgLen} runs past the end (${r.remaining} bytes left)`, r.pos - 4);
        // A nested reader: the message must fill exactly its length.
        const mr = new Reader(body, r.pos, r.pos + msgLen, FRAME_FILE, streamOffset);
        const message = readMessage(mr);
        mr.expectEnd('raft message');
        r.pos += msgLen;
        items.push({ group, message });
      }
      frame = { kind, items };
      break;
    }
    case FrameKind.Request:
      frame = { kind, id: r.u32('request id'), method: r.str('method'), payload: r.bytes('payload') };
      break;
    case FrameKind.Response: {
      const id = r.u32('request id');
      const ok = r.u8('response ok');
      if (ok === 1) frame = { kind, id, ok: true, payload: r.bytes('payload') };
      else if (ok === 0) frame = { kind, id, ok: false, code: r.str('error code'), message: r.str('error message') };
      else r.fail(`response ok flag is ${ok}`, r.pos - 1);
      break;
    }
    default:
      throw protocolError(`unknown peer frame kind ${kind}`);
  }
  r.expectEnd('frame');
  return frame;
}

function readHeader(buf: Uint8Array, at: number): { length: number; crc: number } {
  const view = new DataView(buf.buffer, buf.byteOffset + at, FRAME_HEADER_BYTES);
  return { length: view.getUint32(0, true), crc: view.getUint32(4, true) };
}

function checkLength(length: number, maxFrameBytes: number, streamOffset: number): void {
  if (length > maxFrameBytes) throw protocolError(`peer frame body of ${length} bytes exceeds the ${maxFrameBytes}-byte limit`);
  if (length < 2) throw corruption(FRAME_FILE, streamOffset, `frame body length ${length} is below the 2-byte minimum`);
}

/** Decodes exactly one whole frame filling `buf` (tests, tools); the transport uses FrameDecoder. */
export function decodeFrame(buf: Uint8Array, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Frame {
  if (buf.length < FRAME_HEADER_BYTES) throw corruption(FRAME_FILE, 0, `truncated frame header: ${buf.length} bytes`);
  const { length, crc } = readHeader(buf, 0);
  checkLength(length, maxFrameBytes, 0);
  if (buf.length !== FRAME_HEADER_BYTES + length) {
    throw corruption(FRAME_FILE, 0, `frame of ${buf.length} bytes, header says ${FRAME_HEADER_BYTES + length}`);
  }
  const body = buf.subarray(FRAME_HEADER_BYTES);
  if (crc32c(body) !== crc) throw corruption(FRAME_FILE, 4, 'frame checksum mismatch');
  return decodeFrameBody(body, FRAME_HEADER_BYTES);
}

/**
 * Turns a byte stream cut anywhere into frames, with no I/O. `push` each
 * chunk as it arrives, then call `next` until it returns undefined (the rest
 * of a frame has not arrived). A bad frame (oversize, checksum, structure)
 * throws a StrataError, and every later call throws it again: the stream
 * cannot be resynchronised, so the connection must be closed.
 *
 * An oversize length is rejected as soon as its header arrives, so a peer
 * cannot make this buffer more than one chunk beyond `maxFrameBytes`.
 * Pushed chunks are kept, not copied (a frame inside one chunk is decoded in
 * place): do not modify a chunk after pushing it.
 */
export class FrameDecoder {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already consumed. */
  private head = 0;
  private buffered = 0;
  /** Stream offset of the next frame, for error messages. */
  private consumed = 0;
  private failed: StrataError | undefined = undefined;

  constructor(readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes received and not yet returned as frames. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  next(): Frame | undefined {
    if (this.failed !== undefined) throw this.failed;
    try {
      return this.decodeNext();
    } catch (err) {
      this.failed = err instanceof StrataError ? err : protocolError(`peer frame: ${String(err)}`);
      throw this.failed;
    }
  }

  private decodeNext(): Frame | undefined {
    if (this.buffered < FRAME_HEADER_BYTES) return undefined;
    const { length, crc } = readHeader(this.peek(FRAME_HEADER_BYTES), 0);
    checkLength(length, this.maxFrameBytes, this.consumed);
    if (this.buffered < FRAME_HEADER_BYTES + length) return undefined;
    this.take(FRAME_HEADER_BYTES);
    const body = this.take(length);
    const bodyOffset = this.consumed + FRAME_HEADER_BYTES;
    if (crc32c(body) !== crc) throw corruption(FRAME_FILE, this.consumed + 4, 'frame checksum mismatch');
    const frame = decodeFrameBody(body, bodyOffset);
    this.consumed = bodyOffset + length;
    return frame;
  }

  /** The next `n` buffered bytes without consuming them (n <= buffered). */
  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = new Uint8Array(n);
    let filled = 0;
    for (let i = 0, off = this.head; filled < n; i++, off = 0) {
      const c = this.chunks[i]!;
      const k = Math.min(n - filled, c.length - off);
      out.set(c.subarray(off, off + k), filled);
      filled += k;
    }
    return out;
  }

  /** Consumes `n` buffered bytes: a view when they lie in one chunk, else a fresh copy. */
  private take(n: number): Uint8Array {
    const out = this.peek(n);
    this.buffered -= n;
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      const k = Math.min(left, c.length - this.head);
      left -= k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }
}
