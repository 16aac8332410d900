// The peer wire format: the Raft message codec round-trips every field
// (fast-check, fixed seed; override with STRATA_SEED), every truncation and
// extension of a message or frame is CORRUPTION, the frame decoder gives the
// same frames however the stream is cut, and bad checksums, versions, kinds
// and sizes are refused with CORRUPTION or PROTOCOL, never another error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CODES, StrataError, crc32c, isStrataError, type ErrorCode } from '../../src/base/index.js';
import { MessageType, type Message } from '../../src/replication/index.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameKind,
  decodeFrame,
  decodeRaftMessage,
  encodeFrame,
  encodeRaftBatchFrame,
  encodeRaftMessage,
  type Frame,
} from '../../src/cluster/index.js';

const SEED = Number(process.env.STRATA_SEED ?? 20240815);
/** fast-check builds records without a prototype; decoders return plain objects. */
const plain = <T>(v: T): T => structuredClone(v);

const u53 = fc.oneof(fc.constantFrom(0, 1, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER), fc.nat(), fc.maxSafeNat());
const id = fc.string({ unit: 'grapheme', maxLength: 12 });
const bytes = fc.uint8Array({ maxLength: 40 });

const messageArb: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...Object.values(MessageType)),
  from: id,
  to: id,
  term: u53,
  index: u53,
  logTerm: u53,
  entries: fc.array(fc.record({ term: u53, index: u53, type: fc.constantFrom(0 as const, 1 as const), data: bytes }), { maxLength: 5 }),
  commit: u53,
  reject: fc.boolean(),
  rejectHint: u53,
  hintTerm: u53,
  context: fc.option(bytes, { nil: undefined }),
  snapshot: fc.option(
    fc.record({
      meta: fc.record({ index: u53, term: u53, conf: fc.record({ voters: fc.array(id, { maxLength: 5 }), learners: fc.array(id, { maxLength: 3 }) }) }),
      offset: u53,
      total: u53,
      data: bytes,
    }),
    { nil: undefined },
  ),
});

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ kind: fc.constant(FrameKind.Hello), nodeId: id, clusterId: id, protocolVersion: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ kind: fc.constant(FrameKind.RaftBatch), items: fc.array(fc.record({ group: id, message: messageArb }), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant(FrameKind.Request), id: fc.nat({ max: 0xffffffff }), method: id, payload: bytes }),
  fc.record({ kind: fc.constant(FrameKind.Response), id: fc.nat({ max: 0xffffffff }), ok: fc.constant(true as const), payload: bytes }),
  fc.record({ kind: fc.constant(FrameKind.Response), id: fc.nat({ max: 0xffffffff }), ok: fc.constant(false as const), code: id, message: id }),
);

/** A message using every field: entries of both types, a context and a snapshot chunk. */
const FULL: Message = {
  type: MessageType.Snap,
  from: 'n1',
  to: 'nœud-2',
  term: 7,
  index: 2 ** 40 + 3,
  logTerm: 6,
  entries: [
    { term: 6, index: 10, type: 0, data: Uint8Array.of(1, 2, 3) },
    { term: 7, index: 11, type: 1, data: new Uint8Array(0) },
  ],
  commit: 9,
  reject: true,
  rejectHint: 8,
  hintTerm: 5,
  context: Uint8Array.of(9, 9),
  snapshot: { meta: { index: 100, term: 6, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } }, offset: 4096, total: Number.MAX_SAFE_INTEGER, data: Uint8Array.of(7, 7, 7, 7) },
};

const HEARTBEAT: Message = { ...FULL, type: MessageType.Heartbeat, entries: [], context: undefined, snapshot: undefined, reject: false };

function errorCode(fn: () => unknown): ErrorCode | string {
  try {
    fn();
  } catch (err) {
    if (isStrataError(err)) return err.code;
    return `not a StrataError: ${String(err)}`;
  }
  return 'no error';
}

/** A frame whose header is correct for `body` (so only the body's structure is wrong). */
function frameOf(body: Uint8Array): Buffer {
  const out = Buffer.alloc(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32c(body), 4);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

function decodeStream(chunks: Uint8Array[], max?: number): Frame[] {
  const d = new FrameDecoder(max);
  const out: Frame[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let f = d.next(); f !== undefined; f = d.next()) out.push(f);
  }
  assert.equal(d.bufferedBytes, 0);
  return out;
}

test('raft messages round-trip every field (property)', () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      assert.deepStrictEqual(decodeRaftMessage(encodeRaftMessage(m)), plain(m));
    }),
    { seed: SEED, numRuns: 500 },
  );
});

test('snapshot chunks, empty data and undefined context round-trip exactly', () => {
  for (const m of [FULL, HEARTBEAT, { ...FULL, context: new Uint8Array(0) }]) {
    const back = decodeRaftMessage(encodeRaftMessage(m));
    assert.deepStrictEqual(back, m);
    assert.equal('context' in back, true);
  }
  // An empty context is not an absent one.
  assert.notDeepStrictEqual(decodeRaftMessage(encodeRaftMessage({ ...HEARTBEAT, context: new Uint8Array(0) })), HEARTBEAT);
});

test('every truncation or extension of an encoded message is CORRUPTION', () => {
  for (const m of [FULL, HEARTBEAT]) {
    const buf = encodeRaftMessage(m);
    for (let cut = 0; cut < buf.length; cut++) assert.equal(errorCode(() => decodeRaftMessage(buf.subarray(0, cut))), ERROR_CODES.CORRUPTION, `cut at ${cut}`);
    assert.equal(errorCode(() => decodeRaftMessage(Buffer.concat([buf, Uint8Array.of(0)]))), ERROR_CODES.CORRUPTION);
  }
});

test('invalid fields are CORRUPTION with the offset; unencodable fields INVALID_ARGUMENT', () => {
  const buf = Buffer.from(encodeRaftMessage(HEARTBEAT));
  const bad = (patch: (b: Buffer) => void) => {
    const b = Buffer.from(buf);
    patch(b);
    return errorCode(() => decodeRaftMessage(b));
  };
  assert.equal(bad((b) => (b[0] = 200)), ERROR_CODES.CORRUPTION); // message type
  assert.equal(bad((b) => b.writeUInt16LE(0xffff, 1)), ERROR_CODES.CORRUPTION); // from length past the end
  assert.equal(bad((b) => (b[3] = 0xff)), ERROR_CODES.CORRUPTION); // from: invalid UTF-8
  const termAt = 1 + 2 + 2 + 2 + Buffer.byteLength('nœud-2');
  assert.equal(bad((b) => b.writeUInt32LE(0x200000, termAt + 4)), ERROR_CODES.CORRUPTION); // term >= 2^53
  assert.equal(bad((b) => (b[termAt + 32] = 2)), ERROR_CODES.CORRUPTION); // reject flag
  assert.equal(bad((b) => b.writeUInt32LE(0xffffffff, termAt + 49)), ERROR_CODES.CORRUPTION); // entry count
  assert.equal(bad((b) => (b[b.length - 1] = 0x80)), ERROR_CODES.CORRUPTION); // unknown flags
  try {
    decodeRaftMessage(buf.subarray(0, 10));
    assert.fail('no error');
  } catch (err) {
    assert.ok(err instanceof StrataError && err.offset !== undefined && /raft message/.test(err.message));
  }
  for (const m of [{ ...HEARTBEAT, term: -1 }, { ...HEARTBEAT, commit: 2 ** 53 }, { ...HEARTBEAT, index: 1.5 }, { ...HEARTBEAT, from: 'x'.repeat(70000) }]) {
    assert.equal(errorCode(() => encodeRaftMessage(m)), ERROR_CODES.INVALID_ARGUMENT);
  }
});

test('random bytes never raise anything but CORRUPTION or PROTOCOL (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 4 }), (b, kind) => {
      // kind 0: the bytes as a raft message; else as the payload of a frame of that kind.
      const frame = () => decodeStream([frameOf(Buffer.concat([Uint8Array.of(1, kind), b]))]);
      const code = kind === 0 ? errorCode(() => decodeRaftMessage(b)) : errorCode(frame);
      assert.ok(code === 'no error' || code === ERROR_CODES.CORRUPTION || code === ERROR_CODES.PROTOCOL, code);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

test('frames round-trip, whole and through the stream decoder cut anywhere (property)', () => {
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, cuts) => {
      const encoded = frames.map(encodeFrame);
      for (let i = 0; i < frames.length; i++) assert.deepStrictEqual(decodeFrame(encoded[i]!), plain(frames[i]));
      const stream = Buffer.concat(encoded);
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      const chunks: Uint8Array[] = [];
      let at = 0;
      for (const p of [...points, stream.length]) {
        chunks.push(stream.subarray(at, p));
        at = p;
      }
      assert.deepStrictEqual(decodeStream(chunks), plain(frames));
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test('a raft batch from pre-encoded messages equals one encoded from messages', () => {
  const items = [
    { group: 'g1', message: FULL },
    { group: 'shard-2', message: HEARTBEAT },
  ];
  const a = encodeFrame({ kind: FrameKind.RaftBatch, items });
  const b = encodeRaftBatchFrame(items.map((it) => ({ group: it.group, encoded: encodeRaftMessage(it.message) })));
  assert.deepStrictEqual(Buffer.from(a), Buffer.from(b));
});

test('every truncation or extension of a frame is CORRUPTION; the stream decoder waits instead', () => {
  const frames = [
    encodeFrame({ kind: FrameKind.RaftBatch, items: [{ group: 'g', message: FULL }] }),
    encodeFrame({ kind: FrameKind.Hello, nodeId: 'a', clusterId: 'c', protocolVersion: 1 }),
    encodeFrame({ kind: FrameKind.Request, id: 7, method: 'join', payload: Uint8Array.of(1) }),
    encodeFrame({ kind: FrameKind.Response, id: 7, ok: false, code: 'NOT_FOUND', message: 'gone' }),
  ];
  for (const f of frames) {
    const body = f.subarray(FRAME_HEADER_BYTES);
    for (let cut = 0; cut < f.length; cut++) {
      assert.equal(errorCode(() => decodeFrame(f.subarray(0, cut))), ERROR_CODES.CORRUPTION, `frame cut at ${cut}`);
      const d = new FrameDecoder();
      d.push(f.subarray(0, cut));
      assert.equal(d.next(), undefined);
      d.push(f.subarray(cut));
      assert.deepStrictEqual(d.next(), decodeFrame(f));
    }
    // Truncated bodies under a correct header and checksum: the body's own structure is checked.
    for (let cut = 0; cut < body.length; cut++) assert.equal(errorCode(() => decodeFrame(frameOf(body.subarray(0, cut)))), ERROR_CODES.CORRUPTION, `body cut at ${cut}`);
    assert.equal(errorCode(() => decodeFrame(frameOf(Buffer.concat([body, Uint8Array.of(0)])))), ERROR_CODES.CORRUPTION);
    assert.equal(errorCode(() => decodeFrame(Buffer.concat([f, Uint8Array.of(0)]))), ERROR_CODES.CORRUPTION);
  }
});

test('a bad checksum is CORRUPTION, and the decoder stays failed', () => {
  const f = Buffer.from(encodeFrame({ kind: FrameKind.Request, id: 1, method: 'm', payload: Uint8Array.of(1, 2, 3) }));
  for (const at of [4, FRAME_HEADER_BYTES + 3, f.length - 1]) {
    const bad = Buffer.from(f);
    bad[at]! ^= 0x01;
    assert.equal(errorCode(() => decodeFrame(bad)), ERROR_CODES.CORRUPTION);
    const d = new FrameDecoder();
    d.push(f);
    d.push(bad);
    assert.equal(d.next()?.kind, FrameKind.Request); // the good frame before it still comes out
    assert.throws(() => d.next(), (err) => isStrataError(err, ERROR_CODES.CORRUPTION) && /checksum/.test(err.message) && err.offset === f.length + 4);
    d.push(f);
    assert.throws(() => d.next(), (err) => isStrataError(err, ERROR_CODES.CORRUPTION));
  }
});

test('an oversize frame is refused as soon as its header arrives; unknown versions and kinds are PROTOCOL', () => {
  const f = encodeFrame({ kind: FrameKind.Request, id: 1, method: 'm', payload: new Uint8Array(1000) });
  const d = new FrameDecoder(100);
  d.push(f.subarray(0, FRAME_HEADER_BYTES));
  assert.throws(() => d.next(), (err) => isStrataError(err, ERROR_CODES.PROTOCOL) && /limit/.test(err.message));
  const huge = Buffer.alloc(FRAME_HEADER_BYTES);
  huge.writeUInt32LE(DEFAULT_MAX_FRAME_BYTES + 1, 0);
  assert.equal(errorCode(() => decodeStream([huge])), ERROR_CODES.PROTOCOL);
  assert.equal(errorCode(() => decodeFrame(frameOf(Uint8Array.of(2, FrameKind.Hello)))), ERROR_CODES.PROTOCOL);
  assert.equal(errorCode(() => decodeFrame(frameOf(Uint8Array.of(1, 99)))), ERROR_CODES.PROTOCOL);
  assert.equal(errorCode(() => decodeFrame(frameOf(Uint8Array.of(1)))), ERROR_CODES.CORRUPTION);
});
