// The reply encoder: every reply kind in RESP2 and RESP3, large values passed
// by reference, and the scratch buffer reused without corrupting what a
// caller already took.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DoubleReply, ErrorReply, MapReply, NULL_ARRAY, OK, RespWriter, SimpleReply, VerbatimReply } from '../../../src/server/resp/index.js';
import type { Reply, RespVersion } from '../../../src/server/resp/index.js';

function encode(r: Reply, version: RespVersion): string {
  const w = new RespWriter(16);
  w.reply(r, version);
  const out: Buffer[] = [];
  w.takeInto(out);
  return Buffer.concat(out).toString('latin1');
}

test('scalars in RESP2 and RESP3', () => {
  const cases: Array<[Reply, string, string]> = [
    [OK, '+OK\r\n', '+OK\r\n'],
    [new SimpleReply('string'), '+string\r\n', '+string\r\n'],
    [new ErrorReply('ERR bad\r\nthing'), '-ERR bad  thing\r\n', '-ERR bad  thing\r\n'],
    [0, ':0\r\n', ':0\r\n'],
    [-7, ':-7\r\n', ':-7\r\n'],
    [1234567890, ':1234567890\r\n', ':1234567890\r\n'],
    [2 ** 40, `:${2 ** 40}\r\n`, `:${2 ** 40}\r\n`],
    [-(2 ** 40), `:${-(2 ** 40)}\r\n`, `:${-(2 ** 40)}\r\n`],
    [-2147483648, ':-2147483648\r\n', ':-2147483648\r\n'],
    [9223372036854775807n, ':9223372036854775807\r\n', ':9223372036854775807\r\n'],
    [-9223372036854775808n, ':-9223372036854775808\r\n', ':-9223372036854775808\r\n'],
    [Buffer.from([0, 13, 10]), '$3\r\n\x00\r\n\r\n', '$3\r\n\x00\r\n\r\n'],
    [Buffer.alloc(0), '$0\r\n\r\n', '$0\r\n\r\n'],
    ['héllo', '$6\r\nh\xc3\xa9llo\r\n', '$6\r\nh\xc3\xa9llo\r\n'],
    [undefined, '$-1\r\n', '_\r\n'],
    [NULL_ARRAY, '*-1\r\n', '_\r\n'],
    [true, ':1\r\n', '#t\r\n'],
    [false, ':0\r\n', '#f\r\n'],
    [new DoubleReply(1.5), '$3\r\n1.5\r\n', ',1.5\r\n'],
    [new DoubleReply(Infinity), '$3\r\ninf\r\n', ',inf\r\n'],
    [new DoubleReply(-Infinity), '$4\r\n-inf\r\n', ',-inf\r\n'],
    [new VerbatimReply('txt', 'a:b\r\n'), '$5\r\na:b\r\n\r\n', '=9\r\ntxt:a:b\r\n\r\n'],
  ];
  for (const [r, two, three] of cases) {
    assert.equal(encode(r, 2), two, `RESP2 ${String(r)}`);
    assert.equal(encode(r, 3), three, `RESP3 ${String(r)}`);
  }
});

test('arrays and maps nest; a map is a flat array in RESP2', () => {
  const r: Reply = [new MapReply([['a', 1], [Buffer.from('b'), [undefined, OK]]]), []];
  assert.equal(encode(r, 2), '*2\r\n*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n*2\r\n$-1\r\n+OK\r\n*0\r\n');
  assert.equal(encode(r, 3), '*2\r\n%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n*2\r\n_\r\n+OK\r\n*0\r\n');
});

test('big values are referenced, not copied, and come out in order with the small replies around them', () => {
  const big = Buffer.alloc(100 * 1024, 7);
  const w = new RespWriter(64);
  w.reply(1, 2);
  w.reply(big, 2);
  w.reply(OK, 2);
  const out: Buffer[] = [];
  w.takeInto(out);
  assert.ok(out.includes(big), 'the big value itself is one of the output Buffers');
  assert.equal(Buffer.concat(out).toString('latin1'), `:1\r\n$${big.length}\r\n${big.toString('latin1')}\r\n+OK\r\n`);
});

test('what was taken is not disturbed by later encoding into the reused scratch buffer', () => {
  const w = new RespWriter(32);
  const first: Buffer[] = [];
  w.reply(Buffer.from('first value'), 2);
  w.takeInto(first);
  const second: Buffer[] = [];
  for (let i = 0; i < 100; i++) w.reply(Buffer.from(`value ${i}`), 2);
  w.takeInto(second);
  assert.equal(Buffer.concat(first).toString(), '$11\r\nfirst value\r\n');
  assert.equal(w.pendingBytes, 0);
  assert.match(Buffer.concat(second).toString(), /^\$7\r\nvalue 0\r\n/);
});

test('taken bytes are views that later encoding never overwrites, across scratch rollovers', () => {
  for (const initial of [64, 4096, 64 * 1024]) {
    const w = new RespWriter(initial);
    const taken: Array<[Buffer[], string]> = [];
    for (let i = 0; i < 2000; i++) {
      const value = `v${i}:${'x'.repeat(i % 300)}`;
      w.reply(Buffer.from(value), 2);
      if (i % 7 === 0) w.reply(i, 2);
      const out: Buffer[] = [];
      w.takeInto(out);
      taken.push([out, `$${value.length}\r\n${value}\r\n${i % 7 === 0 ? `:${i}\r\n` : ''}`]);
    }
    for (const [out, text] of taken) assert.equal(Buffer.concat(out).toString('latin1'), text);
  }
});
