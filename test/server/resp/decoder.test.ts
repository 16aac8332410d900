// The incremental RESP request decoder: multibulk and inline commands, any
// split of the bytes, Redis' protocol error words, the caps; and a
// fast-check fuzz (random bytes never throw anything but a protocol error;
// random valid commands split at random points decode exactly).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CODES, isStrataError } from '../../../src/base/index.js';
import { RespDecoder } from '../../../src/server/resp/index.js';
import type { RespDecoderLimits } from '../../../src/server/resp/index.js';
import { encodeCommand } from './harness.js';

const LIMITS: RespDecoderLimits = { bulkBytesMax: 1024 * 1024, requestBytesMax: 2 * 1024 * 1024, multibulkCountMax: 1024 * 1024, inlineBytesMax: 64 * 1024 };
const SEED = Number(process.env.STRATA_SEED ?? 20240611);

/** Feeds the chunks one by one and collects every command, as strings (latin1). */
function decodeAll(chunks: Buffer[], limits = LIMITS): string[][] {
  const d = new RespDecoder(limits);
  const out: string[][] = [];
  for (const c of chunks) {
    d.push(c);
    for (let cmd = d.next(); cmd !== undefined; cmd = d.next()) out.push(cmd.map((a) => a.toString('latin1')));
  }
  return out;
}

/** The protocol error message `bytes` produce (fed in one piece), or undefined. */
function protocolErrorOf(bytes: string | Buffer, limits = LIMITS): string | undefined {
  try {
    decodeAll([Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1')], limits);
    return undefined;
  } catch (err) {
    assert.ok(isStrataError(err, ERROR_CODES.PROTOCOL), `not a protocol error: ${String(err)}`);
    return err.message;
  }
}

/** Every way of cutting `buf` into two pieces, plus byte-by-byte. */
function splits(buf: Buffer): Buffer[][] {
  const out: Buffer[][] = [[buf], [...buf].map((b) => Buffer.from([b]))];
  for (let i = 1; i < buf.length; i++) out.push([buf.subarray(0, i), buf.subarray(i)]);
  return out;
}

test('multibulk commands decode whole and from every split, binary safe', () => {
  const bytes = Buffer.concat([encodeCommand('SET', 'k', 'v'), encodeCommand('GET', Buffer.from([0, 13, 10, 255])), encodeCommand('PING')]);
  const expected = [['SET', 'k', 'v'], ['GET', Buffer.from([0, 13, 10, 255]).toString('latin1')], ['PING']];
  for (const chunks of splits(bytes)) assert.deepEqual(decodeAll(chunks), expected);
});

test('a command is returned only once complete; empty and negative multibulk counts are skipped', () => {
  const d = new RespDecoder(LIMITS);
  d.push(Buffer.from('*2\r\n$3\r\nGET\r\n$1\r'));
  assert.equal(d.next(), undefined);
  d.push(Buffer.from('\nk'));
  assert.equal(d.next(), undefined, 'the bulk needs its CRLF too');
  d.push(Buffer.from('\r\n*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n'));
  assert.deepEqual(d.next()?.map(String), ['GET', 'k']);
  assert.deepEqual(d.next()?.map(String), ['PING']);
  assert.equal(d.next(), undefined);
  assert.equal(d.bufferedBytes, 0);
});

test('inline commands: blanks, quotes and escapes as in sdssplitargs; blank lines are skipped', () => {
  assert.deepEqual(decodeAll([Buffer.from('PING\r\n\r\n  set  key   value \n')]), [['PING'], ['set', 'key', 'value']]);
  assert.deepEqual(decodeAll([Buffer.from('SET "a b" \'c\\\'d\' "\\x41\\n\\t\\\\"\r\n')]), [['SET', 'a b', "c'd", 'A\n\t\\']]);
  assert.deepEqual(decodeAll([Buffer.from('ECHO ab"cd"\r\n')]), [['ECHO', 'abcd']]);
  for (const chunks of splits(Buffer.from('GET k\r\nECHO "x y"\n'))) assert.deepEqual(decodeAll(chunks), [['GET', 'k'], ['ECHO', 'x y']]);
  assert.equal(protocolErrorOf('SET "unterminated\r\n'), 'Protocol error: unbalanced quotes in request');
  assert.equal(protocolErrorOf('SET "a"b\r\n'), 'Protocol error: unbalanced quotes in request');
});

test('protocol errors use Redis words', () => {
  assert.equal(protocolErrorOf('*1\r\n$x\r\n'), 'Protocol error: invalid bulk length');
  assert.equal(protocolErrorOf('*1\r\n$-1\r\n'), 'Protocol error: invalid bulk length');
  assert.equal(protocolErrorOf('*1\r\n$01\r\nab\r\n'), 'Protocol error: invalid bulk length');
  assert.equal(protocolErrorOf('*abc\r\n'), 'Protocol error: invalid multibulk length');
  assert.equal(protocolErrorOf('*1\r\nx\r\n'), "Protocol error: expected '$', got 'x'");
  assert.equal(protocolErrorOf(`*${1024 * 1024 + 1}\r\n`), 'Protocol error: invalid multibulk length');
  assert.equal(protocolErrorOf('*1\r\n$1\r\nabc\r\n'), "Protocol error: expected '\\r\\n' after bulk data");
  assert.equal(protocolErrorOf(`*1\r\n$${LIMITS.bulkBytesMax + 1}\r\n`), 'Protocol error: invalid bulk length');
  assert.equal(protocolErrorOf(Buffer.alloc(64 * 1024 + 10, 'a')), 'Protocol error: too big inline request');
  const small = { ...LIMITS, bulkBytesMax: 100, requestBytesMax: 150 };
  assert.match(protocolErrorOf(encodeCommand('SET', 'k'.repeat(80), 'v'.repeat(80)), small) ?? '', /^Protocol error: too big request/);
});

test('after a protocol error the decoder keeps failing, and commands before it were returned', () => {
  const d = new RespDecoder(LIMITS);
  d.push(Buffer.from('*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n'));
  assert.deepEqual(d.next()?.map(String), ['PING']);
  assert.throws(() => d.next(), (e) => isStrataError(e, ERROR_CODES.PROTOCOL));
  assert.throws(() => d.next(), (e) => isStrataError(e, ERROR_CODES.PROTOCOL));
});

test('a large value arriving in many reads is assembled once and stays intact', () => {
  const value = Buffer.alloc(300 * 1024);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 255;
  const bytes = Buffer.concat([encodeCommand('SET', 'big', value), encodeCommand('GET', 'big')]);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 1000) chunks.push(bytes.subarray(i, i + 1000));
  const d = new RespDecoder(LIMITS);
  const got: Buffer[][] = [];
  for (const c of chunks) {
    d.push(c);
    for (let cmd = d.next(); cmd !== undefined; cmd = d.next()) got.push(cmd);
  }
  assert.equal(got.length, 2);
  assert.ok(got[0]![2]!.equals(value));
  assert.deepEqual(got[1]!.map(String), ['GET', 'big']);
});

test('returned arguments stay valid after later pushes (the decoder never rewrites handed-out bytes)', () => {
  const d = new RespDecoder(LIMITS);
  d.push(Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n*2\r\n$3\r\nGET\r\n$3\r\nx'));
  const first = d.next()!;
  assert.equal(d.next(), undefined);
  for (let i = 0; i < 100; i++) d.push(Buffer.from('yz\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nx'));
  for (let cmd = d.next(); cmd !== undefined; cmd = d.next());
  assert.deepEqual(first.map(String), ['GET', 'abc']);
});

/** Splits `bytes` at the given cut points (sorted, deduplicated, inside the buffer). */
function cut(bytes: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of at) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

test('fuzz: random valid multibulk and inline commands, split at random points, decode exactly', () => {
  const arg = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u));
  const multibulk = fc.array(arg, { minLength: 1, maxLength: 6 }).map((args) => ({ bytes: encodeCommand(...args), args }));
  const inlineWord = fc.stringMatching(/^[A-Za-z0-9:_.-]{1,12}$/);
  const inline = fc.array(inlineWord, { minLength: 1, maxLength: 5 }).map((words) => ({ bytes: Buffer.from(`${words.join(' ')}\r\n`), args: words.map((w) => Buffer.from(w)) }));
  fc.assert(
    fc.property(fc.array(fc.oneof(multibulk, inline), { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (cmds, points) => {
      const bytes = Buffer.concat(cmds.map((c) => c.bytes));
      const got = decodeAll(cut(bytes, points));
      assert.deepEqual(
        got,
        cmds.map((c) => c.args.map((a) => a.toString('latin1'))),
      );
    }),
    { numRuns: 300, seed: SEED },
  );
});

test('fuzz: random bytes only ever yield commands or a protocol error, and never hang', () => {
  // Bytes biased towards RESP's own characters so the parser gets deep.
  const byte = fc.oneof(fc.constantFrom(...Buffer.from('*$\r\n-0123456789 "\'\\x')), fc.integer({ min: 0, max: 255 }));
  fc.assert(
    fc.property(fc.array(byte, { maxLength: 300 }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, points) => {
      const buf = Buffer.from(bytes);
      const d = new RespDecoder({ ...LIMITS, bulkBytesMax: 1000, requestBytesMax: 2000, multibulkCountMax: 1000, inlineBytesMax: 200 });
      let steps = 0;
      try {
        for (const c of cut(buf, points)) {
          d.push(c);
          for (let cmd = d.next(); cmd !== undefined; cmd = d.next()) {
            assert.ok(cmd.length > 0);
            steps++;
            assert.ok(steps <= buf.length + 1, 'more commands than bytes: the decoder is looping');
          }
        }
      } catch (err) {
        assert.ok(isStrataError(err, ERROR_CODES.PROTOCOL), `unexpected error: ${String(err)}`);
        assert.match(err.message, /^Protocol error: /);
      }
    }),
    { numRuns: 2000, seed: SEED },
  );
});
