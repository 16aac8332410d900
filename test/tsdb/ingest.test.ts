/**
 * Write-path parsers (src/tsdb/ingest): line protocol (types, escapes,
 * precision, exact error positions, format/parse round trip), Prometheus
 * remote write (round trip, unknown fields, malformed and oversized bodies),
 * JSON points (paths in errors) and the shared validation limits.
 * Deterministic: fixed inputs and fast-check with fixed seeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compressSync } from 'snappy';
import { StrataError, isStrataError } from '../../src/base/index.js';
import {
  INGEST_LIMITS,
  LineProtocolError,
  checkPoint,
  decodeRemoteWrite,
  encodeRemoteWrite,
  formatLineProtocol,
  parseJsonPoints,
  parseLineProtocol,
  validatePoint,
} from '../../src/tsdb/ingest/index.js';
import type { TimePrecision } from '../../src/tsdb/ingest/index.js';
import type { TsField, TsPoint } from '../../src/tsdb/types.js';

/** Parsed points without their series hints (the series text, checked on its own below). */
function withoutHints(points: TsPoint[]): TsPoint[] {
  return points.map(({ seriesHint: _hint, ...rest }) => rest);
}

const NOW = 1_700_000_000_000;

function lp(body: string, precision?: TimePrecision): TsPoint[] {
  return parseLineProtocol(body, precision === undefined ? { nowMs: NOW } : { nowMs: NOW, precision });
}

function one(body: string, precision?: TimePrecision): TsPoint {
  const pts = lp(body, precision);
  assert.equal(pts.length, 1);
  return withoutHints(pts)[0]!;
}

function fieldsOf(p: TsPoint): Record<string, [string, unknown]> {
  return Object.fromEntries(p.fields.map((f) => [f.name, [f.type, f.value]]));
}

/** Asserts that parsing fails with a LineProtocolError at line/column whose message matches. */
function lpError(body: string, line: number, column: number, message: RegExp, precision?: TimePrecision): void {
  assert.throws(
    () => lp(body, precision),
    (err: unknown) => {
      assert.ok(err instanceof LineProtocolError, `expected LineProtocolError, got ${String(err)}`);
      assert.ok(err instanceof StrataError);
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.equal(err.line, line, `line of: ${err.message}`);
      assert.equal(err.column, column, `column of: ${err.message}`);
      assert.match(err.message, message);
      assert.ok(err.message.startsWith(`line ${line}, column ${column}: `), err.message);
      return true;
    },
  );
}

// ---------------------------------------------------------------- line protocol

test('line protocol: a full line with tags, every field type and a timestamp', () => {
  const p = one('weather,city=Paris,zone=eu temp=21.5,count=3i,big=12u,ok=true,msg="hello world" 1700000000123456789');
  assert.deepEqual(p, {
    measurement: 'weather',
    tags: [
      ['city', 'Paris'],
      ['zone', 'eu'],
    ],
    fields: [
      { name: 'temp', type: 'float', value: 21.5 },
      { name: 'count', type: 'integer', value: 3 },
      { name: 'big', type: 'integer', value: 12 },
      { name: 'ok', type: 'boolean', value: true },
      { name: 'msg', type: 'string', value: 'hello world' },
    ],
    timeMs: 1700000000123,
    nanos: 456789,
  });
});

test('line protocol: floats', () => {
  const p = one('m a=1,b=1.5,c=-1e3,d=1E+2,e=.5,f=1.,g=-0,h=0.1,i=123456789.123456789,j=1e-7,k=5e-324,l=1.7976931348623157e308,n=-2.5e-3');
  const f = fieldsOf(p);
  assert.deepEqual(f['a'], ['float', 1]);
  assert.deepEqual(f['b'], ['float', 1.5]);
  assert.deepEqual(f['c'], ['float', -1000]);
  assert.deepEqual(f['d'], ['float', 100]);
  assert.deepEqual(f['e'], ['float', 0.5]);
  assert.deepEqual(f['f'], ['float', 1]);
  assert.ok(Object.is(f['g']![1], -0));
  assert.deepEqual(f['h'], ['float', 0.1]);
  assert.deepEqual(f['i'], ['float', 123456789.123456789]);
  assert.deepEqual(f['j'], ['float', 1e-7]);
  assert.deepEqual(f['k'], ['float', 5e-324]);
  assert.deepEqual(f['l'], ['float', 1.7976931348623157e308]);
  assert.deepEqual(f['n'], ['float', -2.5e-3]);
});

test('line protocol: the float fast paths agree with Number() (fast-check)', () => {
  const agrees = (s: string) => {
    const v = fieldsOf(one(`m f=${s}`))['f']![1];
    assert.ok(Object.is(v, Number(s)), `${s}: ${String(v)} vs ${Number(s)}`);
  };
  fc.assert(fc.property(fc.stringMatching(/^-?[0-9]{1,17}(\.[0-9]{0,17})?$/), agrees), { seed: 42, numRuns: 300 });
  // 16 to 19 significant digits (the double-double path), e.g. what shortest round-trip printing writes.
  fc.assert(fc.property(fc.stringMatching(/^-?[1-9][0-9]{15,18}$/), fc.nat(19), (d, at) => agrees(d.replace(/^(-?)(\d+)$/, (_, sign: string, ds: string) => (at === 0 ? `${sign}${ds}` : `${sign}${ds.slice(0, -Math.min(at, ds.length - 1))}.${ds.slice(-Math.min(at, ds.length - 1))}`)))), {
    seed: 42,
    numRuns: 2000,
  });
  fc.assert(fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), (x) => agrees(String(x).includes('e') ? '1' : String(x))), { seed: 42, numRuns: 2000 });
  // Ties and near-ties between neighbouring doubles, powers of two, leading zeros, and more than 19 digits.
  for (const s of ['9007199254740993', '9007199254740995', '18014398509481985', '18014398509481986', '-9007199254740993', '4503599627370496.5', '1152921504606846977', '0.0000000000000000001', '00000000000000012345.5', '123456789012345678.9', '0.1000000000000000055511151231257827', '0.30000000000000004', '99.99999999999999', '9999999999999999999']) agrees(s);
});

test('line protocol: integers and unsigned integers up to ±(2^53-1)', () => {
  const f = fieldsOf(one('m a=0i,b=-0i,c=12i,d=-12i,e=9007199254740991i,f=-9007199254740991i,g=0u,h=9007199254740991u,i=007i'));
  assert.deepEqual(f['a'], ['integer', 0]);
  assert.ok(Object.is(f['b']![1], 0));
  assert.deepEqual(f['c'], ['integer', 12]);
  assert.deepEqual(f['d'], ['integer', -12]);
  assert.deepEqual(f['e'], ['integer', 9007199254740991]);
  assert.deepEqual(f['f'], ['integer', -9007199254740991]);
  assert.deepEqual(f['g'], ['integer', 0]);
  assert.deepEqual(f['h'], ['integer', 9007199254740991]);
  assert.deepEqual(f['i'], ['integer', 7]);
});

test('line protocol: every boolean spelling', () => {
  const spellings: Array<[string, boolean]> = [
    ['t', true], ['T', true], ['true', true], ['True', true], ['TRUE', true],
    ['f', false], ['F', false], ['false', false], ['False', false], ['FALSE', false],
  ];
  for (const [s, v] of spellings) assert.deepEqual(fieldsOf(one(`m b=${s}`))['b'], ['boolean', v], s);
  for (const bad of ['tru', 'TRue', 'fALSE', 'yes', 'truee']) lpError(`m b=${bad}`, 1, 5, /invalid field value/);
});

test('line protocol: escapes in measurement, tag keys and values, field keys', () => {
  const p = one('my\\ meas\\,ure=x,tag\\ key\\,1\\==va\\ lue\\,\\=2 fi\\ eld\\=\\,=1i 0');
  assert.equal(p.measurement, 'my meas,ure=x');
  assert.deepEqual(p.tags, [['tag key,1=', 'va lue,=2']]);
  assert.deepEqual(p.fields, [{ name: 'fi eld=,', type: 'integer', value: 1 }]);
  // Backslash rules: "\\" is one backslash; a backslash before anything else is literal.
  const q = one('a\\b\\\\c,k\\x=v\\\\ f\\y=1');
  assert.equal(q.measurement, 'a\\b\\c');
  assert.deepEqual(q.tags, [['k\\x', 'v\\']]);
  assert.equal(q.fields[0]!.name, 'f\\y');
  // '=' is an ordinary character in a measurement, escaped or not.
  assert.equal(one('a=b\\=c f=1').measurement, 'a=b=c');
});

test('line protocol: string field values', () => {
  const f = fieldsOf(one('m a="",b="with \\"quotes\\"",c="back\\\\slash",d="literal \\n backslash",e="sp ace, comma=eq",f="ünï 文字 😀",g="end\\\\"'));
  assert.deepEqual(f['a'], ['string', '']);
  assert.deepEqual(f['b'], ['string', 'with "quotes"']);
  assert.deepEqual(f['c'], ['string', 'back\\slash']);
  assert.deepEqual(f['d'], ['string', 'literal \\n backslash']);
  assert.deepEqual(f['e'], ['string', 'sp ace, comma=eq']);
  assert.deepEqual(f['f'], ['string', 'ünï 文字 😀']);
  assert.deepEqual(f['g'], ['string', 'end\\']);
});

test('line protocol: UTF-8 names and values, Buffer and string bodies agree', () => {
  const body = '温度,城市=東京 值=1.5,说明="好" 1000000';
  const p = one(body);
  assert.equal(p.measurement, '温度');
  assert.deepEqual(p.tags, [['城市', '東京']]);
  assert.deepEqual(fieldsOf(p), { 值: ['float', 1.5], 说明: ['string', '好'] });
  assert.deepEqual(withoutHints(parseLineProtocol(Buffer.from(body), { nowMs: NOW })), [p]);
});

test('line protocol: blank lines, comments, CRLF, leading whitespace and a missing final newline', () => {
  const pts = lp('# header\r\n\r\n  m,a=1 f=1 1\r\n\t# indented comment\n\n   \nm,a=2 f=2 2\r\nm,a=1 f=3');
  assert.equal(pts.length, 3);
  assert.deepEqual(
    pts.map((p) => [p.tags[0]![1], p.fields[0]!.value, p.timeMs, p.nanos]),
    [
      ['1', 1, 0, 1],
      ['2', 2, 0, 2],
      ['1', 3, NOW, 0],
    ],
  );
  assert.deepEqual(lp(''), []);
  assert.deepEqual(lp('\n\n# only comments\n'), []);
  // Multiple spaces between sections and trailing spaces are fine.
  assert.deepEqual(one('m,a=1   f=1   5   ').timeMs, 0);
});

test('line protocol: tags keep their order; repeated series share validated tags', () => {
  const pts = lp('m,z=1,a=2 f=1 1\nm,z=1,a=2 f=2 2\nm,a=2,z=1 f=3 3\nn,z=1,a=2 f=4 4');
  assert.deepEqual(pts[0]!.tags, [['z', '1'], ['a', '2']]);
  assert.equal(pts[0]!.tags, pts[1]!.tags);
  assert.deepEqual(pts[2]!.tags, [['a', '2'], ['z', '1']]);
  assert.equal(pts[3]!.measurement, 'n');
  assert.deepEqual(pts[3]!.tags, [['z', '1'], ['a', '2']]);
});

test('line protocol: field keys that change between lines parse independently', () => {
  const pts = lp('m ab=1,c=2\nm a=1,c=2\nm a\\=b=1\nm a\\\\=1\nm a\\\\=2,c=3\nm ab=1,c=2');
  assert.deepEqual(
    pts.map((p) => p.fields.map((f) => f.name)),
    [['ab', 'c'], ['a', 'c'], ['a=b'], ['a\\'], ['a\\', 'c'], ['ab', 'c']],
  );
  lpError('m a=1,b=2\nm a=1,a=2', 2, 7, /duplicate field "a"/);
  // Past 16 fields duplicates are found with a set.
  const many = Array.from({ length: 20 }, (_, k) => `f${k}=${k}i`);
  assert.equal(one(`m ${many.join(',')}`).fields.length, 20);
  const prefix = `m ${many.join(',')},`;
  lpError(`${prefix}f3=1`, 1, prefix.length + 1, /duplicate field "f3"/);
  lpError(`${prefix}f19=1`, 1, prefix.length + 1, /duplicate field "f19"/);
});

test('line protocol: timestamp precisions convert exactly', () => {
  const t = (body: string, precision?: TimePrecision) => {
    const p = one(`m f=1 ${body}`, precision);
    return [p.timeMs, p.nanos];
  };
  assert.deepEqual(t('1451606400123456789'), [1451606400123, 456789]);
  assert.deepEqual(t('1451606400123456789', 'ns'), [1451606400123, 456789]);
  assert.deepEqual(t('1451606400123456', 'us'), [1451606400123, 456000]);
  assert.deepEqual(t('1451606400123', 'ms'), [1451606400123, 0]);
  assert.deepEqual(t('1451606400', 's'), [1451606400000, 0]);
  assert.deepEqual(t('0'), [0, 0]);
  assert.deepEqual(t('1'), [0, 1]);
  assert.deepEqual(t('999999'), [0, 999999]);
  assert.deepEqual(t('1000000'), [1, 0]);
  assert.deepEqual(t('00000000000000000000001'), [0, 1]);
  assert.deepEqual(t('9223372036854775807'), [9223372036854, 775807]);
  assert.deepEqual(t('9007199254740991', 'ms'), [9007199254740991, 0]);
  assert.deepEqual(t('9007199254740', 's'), [9007199254740000, 0]);
  assert.deepEqual(t('9007199254740991999', 'us'), [9007199254740991, 999000]);
});

test('line protocol: negative timestamps floor to the millisecond below', () => {
  const t = (body: string, precision?: TimePrecision) => {
    const p = one(`m f=1 ${body}`, precision);
    return [p.timeMs, p.nanos];
  };
  assert.deepEqual(t('-1'), [-1, 999999]);
  assert.deepEqual(t('-1000000'), [-1, 0]);
  assert.deepEqual(t('-1500000'), [-2, 500000]);
  assert.deepEqual(t('-123456789'), [-124, 543211]);
  assert.deepEqual(t('-0'), [0, 0]);
  assert.deepEqual(t('-9223372036854775808'), [-9223372036855, 224192]);
  assert.deepEqual(t('-1', 'us'), [-1, 999000]);
  assert.deepEqual(t('-1000', 'us'), [-1, 0]);
  assert.deepEqual(t('-1001', 'us'), [-2, 999000]);
  assert.deepEqual(t('-5', 'ms'), [-5, 0]);
  assert.deepEqual(t('-2', 's'), [-2000, 0]);
});

test('line protocol: the ns conversion matches BigInt arithmetic (fast-check)', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (ns) => {
      const p = one(`m f=1 ${ns}`);
      const ms = ns >= 0n ? ns / 1_000_000n : -((-ns + 999_999n) / 1_000_000n);
      assert.equal(BigInt(p.timeMs), ms);
      assert.equal(BigInt(p.nanos!), ns - ms * 1_000_000n);
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('line protocol: errors name the line and column', () => {
  lpError('# comment\ncpu v=1\ncpu,host=a temp=abc 5', 3, 17, /^line 3, column 17: invalid field value "abc" for field "temp"$/);
  // Missing fields: the column is where the field set should start.
  lpError('cpu,host=a', 1, 11, /missing fields/);
  lpError('cpu,host=a   ', 1, 14, /missing fields/);
  lpError('cpu', 1, 4, /missing fields/);
  // Bad float.
  lpError('m f=1.5.5', 1, 5, /invalid field value "1\.5\.5" for field "f"/);
  lpError('m x=1,f=1e', 1, 9, /invalid field value "1e"/);
  lpError('m f=+1', 1, 5, /invalid field value/);
  lpError('m f=1_000', 1, 5, /invalid field value/);
  lpError('m f=0x10', 1, 5, /invalid field value/);
  lpError('m f=1e400', 1, 5, /float out of range/);
  // Integer overflow beyond 2^53-1.
  lpError('m i=9007199254740992i', 1, 5, /integer out of range for field "i".*2\^53-1/);
  lpError('m a=1,i=-9007199254740992i', 1, 9, /integer out of range/);
  lpError('m i=18446744073709551615u', 1, 5, /integer out of range/);
  lpError('m i=-1u', 1, 5, /invalid field value "-1u"/);
  lpError('m i=1.5i', 1, 5, /invalid field value/);
  lpError('m i=i', 1, 5, /invalid field value/);
  // Unterminated strings: the column of the opening quote; a newline ends the line.
  lpError('m s="abc', 1, 5, /unterminated string value for field "s"/);
  lpError('m a=1,s="abc\ndef"', 1, 9, /unterminated string/);
  lpError('m s="abc\\"', 1, 5, /unterminated string/);
  lpError('m f=1\nm s="abc\r\n', 2, 5, /unterminated string/);
  // Duplicates.
  lpError('m a=1,b=2,a=3', 1, 11, /duplicate field "a"/);
  lpError('m,a=1,a=2 f=1', 1, 7, /duplicate tag key "a"/);
  // Bad timestamps.
  lpError('m f=1 12x', 1, 7, /invalid timestamp "12x"/);
  lpError('m f=1 -', 1, 7, /invalid timestamp "-"/);
  lpError('m f=1 1.5', 1, 7, /invalid timestamp/);
  lpError('m f=1 9223372036854775808', 1, 7, /out of range/);
  lpError('m f=1 -9223372036854775809', 1, 7, /out of range/);
  lpError('m f=1 12345678901234567890', 1, 7, /out of range/);
  lpError('m f=1 9007199254740992', 1, 7, /out of range/, 'ms');
  lpError('m f=1 9007199254741', 1, 7, /out of range/, 's');
  // Trailing garbage.
  lpError('m f=1 123 456', 1, 11, /unexpected text after the timestamp/);
  lpError('m s="x"y', 1, 8, /unexpected character after the string value of field "s"/);
  // Structure.
  lpError(',a=1 f=1', 1, 1, /measurement must not be empty/);
  lpError('m,a= f=1', 1, 5, /tag "a" has an empty value/);
  lpError('m,a=1, f=1', 1, 7, /missing tag key/);
  lpError('m,a f=1', 1, 4, /expected "=" after tag key "a"/);
  lpError('m,a=b=c f=1', 1, 6, /unescaped "=" in the value of tag "a"/);
  lpError('m f', 1, 4, /expected "=" after field key "f"/);
  lpError('m f=1,', 1, 7, /missing field key/);
  lpError('m f=1,,g=2', 1, 7, /missing field key/);
  lpError('m =1', 1, 3, /missing field key/);
  lpError('m f=', 1, 5, /missing value for field "f"/);
  lpError('m f=,g=1', 1, 5, /missing value for field "f"/);
  // NaN and infinities are not line protocol floats.
  for (const bad of ['NaN', 'nan', 'inf', '-inf', 'Inf', 'Infinity', '+Inf']) lpError(`m f=${bad}`, 1, 5, /invalid field value/);
});

test('line protocol: columns count characters, not bytes; CRLF and leading whitespace', () => {
  lpError('温度 f=abc', 1, 6, /invalid field value "abc"/);
  lpError('m,城市=東京 f=1,😀=x', 1, 15, /invalid field value "x" for field "😀"/);
  lpError('m f=1\r\nm f=x\r\n', 2, 5, /invalid field value "x"/);
  lpError('  m f=x', 1, 7, /invalid field value/);
});

test('line protocol: validation limits', () => {
  const n256 = 'n'.repeat(INGEST_LIMITS.maxNameBytes);
  assert.equal(one(`${n256},${n256}=v ${n256}=1`).measurement, n256);
  lpError(`${n256}x f=1`, 1, 1, /measurement is longer than 256 bytes/);
  lpError(`m,${n256}x=v f=1`, 1, 3, /tag key is longer than 256 bytes/);
  lpError(`m ${n256}x=1`, 1, 3, /field key is longer than 256 bytes/);
  // 128 two-byte characters are 256 bytes; 129 are too many.
  const e128 = 'é'.repeat(128);
  assert.equal(one(`${e128} f=1`).measurement, e128);
  lpError(`m ${e128}é=1`, 1, 3, /field key is longer than 256 bytes/);
  const v1024 = 'v'.repeat(INGEST_LIMITS.maxTagValueBytes);
  assert.equal(one(`m,t=${v1024} f=1`).tags[0]![1], v1024);
  lpError(`m,t=${v1024}v f=1`, 1, 5, /value of tag "t" is longer than 1024 bytes/);
  const s64k = 's'.repeat(INGEST_LIMITS.maxStringValueBytes);
  assert.equal(one(`m s="${s64k}"`).fields[0]!.value, s64k);
  lpError(`m s="${s64k}s"`, 1, 5, /string value of field "s" is longer than 65536 bytes/);
  // Control characters.
  lpError('m\tx f=1', 1, 1, /measurement must not contain control characters/);
  lpError('m f\u0001=1', 1, 4, /field key must not contain control characters/);
  lpError('m,t=a\u0000b f=1', 1, 5, /value of tag "t" must not contain control characters/);
});

test('line protocol: maxLines and options', () => {
  assert.equal(parseLineProtocol('m f=1\n# c\n\nm f=2\n', { nowMs: NOW, maxLines: 2 }).length, 2);
  assert.throws(
    () => parseLineProtocol('m f=1\nm f=2\nm f=3\n', { nowMs: NOW, maxLines: 2 }),
    (err: unknown) => isStrataError(err, 'LIMIT_EXCEEDED') && /more than 2 lines/.test(err.message),
  );
  assert.throws(() => parseLineProtocol('m f=1', { nowMs: NOW, precision: 'm' as TimePrecision }), (err: unknown) => isStrataError(err, 'INVALID_ARGUMENT'));
  assert.throws(() => parseLineProtocol('m f=1', { nowMs: 1.5 }), (err: unknown) => isStrataError(err, 'INVALID_ARGUMENT'));
});

test('format: escaping, types and timestamps', () => {
  const points: TsPoint[] = [
    {
      measurement: 'my meas,ure=x\\',
      tags: [['tag key,1=', 'va lue\\']],
      fields: [
        { name: 'f=,', type: 'float', value: -0 },
        { name: 'i', type: 'integer', value: -42 },
        { name: 'b', type: 'boolean', value: false },
        { name: 's', type: 'string', value: 'say "hi" \\ ok' },
      ],
      timeMs: -1,
      nanos: 999_999,
    },
  ];
  const text = formatLineProtocol(points);
  assert.equal(text, 'my\\ meas\\,ure=x\\\\,tag\\ key\\,1\\==va\\ lue\\\\ f\\=\\,=-0,i=-42i,b=false,s="say \\"hi\\" \\\\ ok" -1\n');
  assert.deepEqual(withoutHints(parseLineProtocol(text, { nowMs: NOW })), points);

  const p = (timeMs: number, nanos: number): TsPoint => ({ measurement: 'm', tags: [], fields: [{ name: 'f', type: 'float', value: 1 }], timeMs, nanos });
  assert.equal(formatLineProtocol([p(1451606400123, 456789)]), 'm f=1 1451606400123456789\n');
  assert.equal(formatLineProtocol([p(1451606400123, 456789)], 'us'), 'm f=1 1451606400123456\n');
  assert.equal(formatLineProtocol([p(1451606400123, 456789)], 'ms'), 'm f=1 1451606400123\n');
  assert.equal(formatLineProtocol([p(1451606400123, 456789)], 's'), 'm f=1 1451606400\n');
  assert.equal(formatLineProtocol([p(0, 5)]), 'm f=1 5\n');
  assert.equal(formatLineProtocol([p(-124, 543211)]), 'm f=1 -123456789\n');
  assert.equal(formatLineProtocol([p(-1, 0)]), 'm f=1 -1000000\n');
  assert.equal(formatLineProtocol([p(-1, 500)]), 'm f=1 -999500\n');
  assert.equal(formatLineProtocol([p(-2, 999_000)], 'us'), 'm f=1 -1001\n');
  assert.equal(formatLineProtocol([p(-1500, 0)], 's'), 'm f=1 -2\n');
  assert.equal(formatLineProtocol([]), '');

  const bad = (q: TsPoint, re: RegExp) => assert.throws(() => formatLineProtocol([p(0, 0), q]), (err: unknown) => isStrataError(err, 'INVALID_ARGUMENT') && re.test(err.message));
  bad({ ...p(0, 0), measurement: '#m' }, /point 1: .*comment/);
  bad({ ...p(0, 0), fields: [{ name: 's', type: 'string', value: 'a\nb' }] }, /newline/);
  bad({ ...p(0, 0), fields: [{ name: 'f', type: 'float', value: NaN }] }, /finite/);
  bad({ ...p(0, 0), fields: [] }, /at least one field/);
  bad({ ...p(0, 0), tags: [['t', '']] }, /must not be empty/);
  // Points that share a tags array with an earlier valid point are still checked in full.
  const shared = p(0, 0);
  const same = (q: Partial<TsPoint>, re: RegExp) =>
    assert.throws(() => formatLineProtocol([shared, { ...shared, ...q }]), (err: unknown) => isStrataError(err, 'INVALID_ARGUMENT') && re.test(err.message));
  same({ fields: [{ name: '', type: 'float', value: 1 }] }, /point 1: field name "" must not be empty/);
  same({ fields: [{ name: 'a\u0000', type: 'float', value: 1 }] }, /point 1: .*control characters/);
  same({ fields: [{ name: 'f', type: 'integer', value: 0.5 }] }, /point 1: .*must be an integer/);
  same({ fields: [{ name: 'f', type: 'boolean', value: 'yes' }] }, /point 1: .*true or false/);
  same({ fields: [{ name: 'f', type: 'string', value: 's'.repeat(70000) }] }, /point 1: .*longer than 65536 bytes/);
  same({ fields: [{ name: 'f', type: 'string', value: 'a\nb' }] }, /point 1: .*newline/);
  same({ fields: [{ name: 'f', type: 'float', value: 1 }, { name: 'f', type: 'float', value: 2 }] }, /point 1: duplicate field "f"/);
  same({ timeMs: 2 ** 53 }, /point 1: time must be a safe integer/);
  same({ nanos: -1 }, /point 1: nanos must be/);
});

const nameChars = fc.constantFrom('a', 'b', 'Z', '0', '_', '-', '.', ' ', ',', '=', '\\', '"', '#', 'é', '文', '😀');
const nameArb = fc.string({ unit: nameChars, minLength: 1, maxLength: 8 });
const stringValueArb = fc.string({ unit: fc.constantFrom('a', ' ', ',', '=', '\\', '"', '\r', '\t', 'ü', '字', '😀', '\\"'), maxLength: 10 });
const fieldValueArb: fc.Arbitrary<Omit<TsField, 'name'>> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => ({ type: 'float' as const, value })),
  fc.maxSafeInteger().map((value) => ({ type: 'integer' as const, value })),
  fc.boolean().map((value) => ({ type: 'boolean' as const, value })),
  stringValueArb.map((value) => ({ type: 'string' as const, value })),
);
const pointArb: fc.Arbitrary<TsPoint> = fc.record({
  measurement: nameArb.filter((s) => !s.startsWith('#')),
  tags: fc.uniqueArray(fc.tuple(nameArb, nameArb), { maxLength: 4, selector: ([k]) => k }),
  fields: fc
    .uniqueArray(fc.tuple(nameArb, fieldValueArb), { minLength: 1, maxLength: 5, selector: ([k]) => k })
    .map((fs) => fs.map(([name, v]): TsField => ({ name, type: v.type, value: v.value }))),
  timeMs: fc.tuple(fc.integer({ min: -9000, max: 9000 }), fc.integer({ min: 0, max: 999_999_999 })).map(([a, b]) => a * 1_000_000_000 + b),
  nanos: fc.integer({ min: 0, max: 999_999 }),
}).map((p) => ({ ...p })); // fc.record builds null-prototype objects

test('format/parse round trip (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(pointArb, { maxLength: 5 }), (points) => {
      const text = formatLineProtocol(points);
      assert.deepEqual(withoutHints(parseLineProtocol(text, { nowMs: NOW })), points);
      assert.deepEqual(withoutHints(parseLineProtocol(Buffer.from(text.replace(/\n/g, '\r\n')), { nowMs: NOW })), points);
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('format/parse round trip at coarser precisions (fast-check)', () => {
  fc.assert(
    fc.property(pointArb, fc.constantFrom<TimePrecision>('us', 'ms', 's'), (point, precision) => {
      const [back] = parseLineProtocol(formatLineProtocol([point], precision), { nowMs: NOW, precision });
      const ns = BigInt(point.timeMs) * 1_000_000n + BigInt(point.nanos!);
      const unit = precision === 'us' ? 1_000n : precision === 'ms' ? 1_000_000n : 1_000_000_000n;
      const floored = (ns >= 0n ? ns / unit : -((-ns + unit - 1n) / unit)) * unit;
      assert.equal(BigInt(back!.timeMs) * 1_000_000n + BigInt(back!.nanos!), floored);
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('line protocol: a body parses like its lines parsed one by one (request caches and series prediction are invisible; fast-check)', () => {
  // Small pools make lines repeat series keys, tag pairs and field keys, or share prefixes with them.
  const piece = fc.constantFrom('a', 'ab', 'a\\', 'a\\=', 'a\\ b', 'a\\,', 'b', 'é', '=', '"', 'x y');
  const tagPart = fc.array(fc.tuple(piece, piece), { maxLength: 3 }).map((ts) => ts.map(([k, v]) => `,${k}=${v}`).join(''));
  const fieldPart = fc
    .array(fc.tuple(piece, fc.constantFrom('1', '2i', 't', '"s"', '"a b"', 'x', '')), { minLength: 1, maxLength: 3 })
    .map((fs) => fs.map(([k, v]) => `${k}=${v}`).join(','));
  const line = fc.tuple(fc.constantFrom('m', 'm\\ n', 'mm'), tagPart, fieldPart, fc.constantFrom('', ' 5', ' -7', ' x')).map(([m, t, f, ts]) => `${m}${t} ${f}${ts}`);
  const outcome = (body: string) => {
    try {
      return { points: lp(body) };
    } catch (err) {
      assert.ok(err instanceof LineProtocolError, String(err));
      return { line: err.line, column: err.column, detail: err.detail };
    }
  };
  // Bodies that cycle through a few series, as agents write them (the parser predicts a line's series
  // from the one that followed the previous line's last time), with other lines breaking the cycle.
  const cyclic = fc
    .tuple(fc.array(line, { minLength: 1, maxLength: 4 }), fc.array(line, { maxLength: 3 }), fc.integer({ min: 2, max: 4 }))
    .map(([cycle, other, times]) => [...Array.from({ length: times }, () => cycle).flat(), ...other, ...cycle, ...cycle]);
  fc.assert(
    fc.property(fc.oneof(fc.array(line, { minLength: 1, maxLength: 12 }), cyclic), (lines) => {
      const whole = outcome(lines.join('\n'));
      const points: TsPoint[] = [];
      for (let i = 0; i < lines.length; i++) {
        const alone = outcome(lines[i]!);
        if (alone.points === undefined) {
          assert.deepEqual(whole, { ...alone, line: i + 1 });
          return;
        }
        points.push(...alone.points);
      }
      assert.deepEqual(whole, { points });
    }),
    { seed: 42, numRuns: 300 },
  );
});

// ---------------------------------------------------------------- remote write

/** Minimal protobuf writer for hand-built bodies. */
function pbVarint(n: bigint): number[] {
  let v = BigInt.asUintN(64, n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const pbKey = (field: number, wt: number) => pbVarint(BigInt(field * 8 + wt));
const pbBytes = (field: number, payload: number[]) => [...pbKey(field, 2), ...pbVarint(BigInt(payload.length)), ...payload];
const pbString = (field: number, s: string) => pbBytes(field, [...Buffer.from(s, 'utf8')]);
const pbDouble = (field: number, v: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return [...pbKey(field, 1), ...b];
};
const pbInt = (field: number, v: bigint) => [...pbKey(field, 0), ...pbVarint(v)];
const label = (name: string, value: string) => pbBytes(1, [...pbString(1, name), ...pbString(2, value)]);
const sample = (value: number, ts: bigint) => pbBytes(2, [...pbDouble(1, value), ...pbInt(2, ts)]);
const snappyOf = (bytes: number[]) => compressSync(Buffer.from(bytes));

function rwError(body: Buffer, code: string, message: RegExp, max = 1 << 20): void {
  assert.throws(
    () => decodeRemoteWrite(body, { maxDecompressedBytes: max }),
    (err: unknown) => {
      assert.ok(isStrataError(err), String(err));
      assert.equal(err.code, code, err.message);
      assert.match(err.message, message);
      return true;
    },
  );
}

test('remote write: encode/decode round trip with NaN, infinities and negative timestamps', () => {
  const body = encodeRemoteWrite([
    {
      labels: { __name__: 'http_requests_total', job: 'api', instance: 'host:9090' },
      samples: [
        { value: 1.5, timestampMs: 1700000000000 },
        { value: NaN, timestampMs: 1700000015000 },
        { value: -Infinity, timestampMs: -1 },
        { value: Infinity, timestampMs: -1700000000000 },
        { value: 0, timestampMs: 0 },
        { value: -0, timestampMs: Number.MAX_SAFE_INTEGER },
        { value: 5e-324, timestampMs: -Number.MAX_SAFE_INTEGER },
      ],
    },
    { labels: { __name__: 'up', 'ünï': '文字' }, samples: [{ value: 1, timestampMs: 42 }] },
    { labels: { __name__: 'no_samples' }, samples: [] },
  ]);
  const pts = decodeRemoteWrite(body, { maxDecompressedBytes: 1 << 20 });
  assert.equal(pts.length, 8);
  const tags: Array<readonly [string, string]> = [
    ['job', 'api'],
    ['instance', 'host:9090'],
  ];
  const expect = (value: number, timeMs: number): TsPoint => ({
    measurement: 'http_requests_total',
    tags,
    fields: [{ name: 'value', type: 'float', value }],
    timeMs,
    nanos: 0,
  });
  assert.deepEqual(pts.slice(0, 7), [
    expect(1.5, 1700000000000),
    expect(NaN, 1700000015000),
    expect(-Infinity, -1),
    expect(Infinity, -1700000000000),
    expect(0, 0),
    expect(-0, Number.MAX_SAFE_INTEGER),
    expect(5e-324, -Number.MAX_SAFE_INTEGER),
  ]);
  assert.ok(Number.isNaN(pts[1]!.fields[0]!.value));
  assert.ok(Object.is(pts[5]!.fields[0]!.value, -0));
  assert.deepEqual(pts[7], { measurement: 'up', tags: [['ünï', '文字']], fields: [{ name: 'value', type: 'float', value: 1 }], timeMs: 42, nanos: 0 });
  // Points of one series share their tags.
  assert.equal(pts[0]!.tags, pts[6]!.tags);
  for (const p of pts) assert.equal(checkPoint(p, { allowNonFinite: true }), undefined);
});

test('remote write: round trip (fast-check)', () => {
  const labelName = fc.string({ unit: fc.constantFrom('a', 'b', '_', ':', 'é', '😀'), minLength: 1, maxLength: 6 }).filter((s) => s !== '__name__');
  const seriesArb = fc.record({
    name: labelName,
    labels: fc.uniqueArray(fc.tuple(labelName, fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s))), {
      maxLength: 4,
      selector: ([k]) => k,
    }),
    samples: fc.array(fc.record({ value: fc.double(), timestampMs: fc.maxSafeInteger() }), { maxLength: 4 }),
  });
  fc.assert(
    fc.property(fc.array(seriesArb, { maxLength: 4 }), (series) => {
      const input = series.map((s) => ({ labels: { __name__: s.name, ...Object.fromEntries(s.labels) }, samples: s.samples }));
      const pts = decodeRemoteWrite(encodeRemoteWrite(input), { maxDecompressedBytes: 1 << 20 });
      const expected = input.flatMap((s) =>
        s.samples.map((x) => ({
          measurement: s.labels.__name__,
          tags: Object.entries(s.labels).filter(([k]) => k !== '__name__'),
          fields: [{ name: 'value', type: 'float', value: x.value }],
          timeMs: x.timestampMs,
          nanos: 0,
        })),
      );
      assert.deepEqual(pts, expected);
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('remote write: unknown fields of every wire type are skipped', () => {
  const unknown = [
    ...pbInt(9, 123456789n),
    ...pbKey(10, 1), 1, 2, 3, 4, 5, 6, 7, 8,
    ...pbBytes(11, [1, 2, 3]),
    ...pbKey(12, 5), 1, 2, 3, 4,
  ];
  const series = pbBytes(1, [
    ...label('__name__', 'cpu'),
    ...unknown,
    ...pbBytes(1, [...pbString(1, 'host'), ...unknown, ...pbString(2, 'a')]),
    ...pbBytes(3, [...label('trace_id', 'abc'), ...sample(9, 9n)]), // exemplar
    ...pbBytes(4, [...pbInt(1, 5n), ...pbDouble(2, 1)]), // native histogram
    ...pbBytes(2, [...unknown, ...pbDouble(1, 2.5), ...pbInt(2, -5n), ...unknown]),
    ...label('empty', ''), // an empty label value is the same as no label
  ]);
  const metadata = pbBytes(3, [...pbInt(1, 1n), ...pbString(2, 'cpu'), ...pbString(4, 'help text'), ...pbString(5, 'seconds')]);
  const body = snappyOf([...metadata, ...unknown, ...series, ...metadata]);
  assert.deepEqual(decodeRemoteWrite(body, { maxDecompressedBytes: 1 << 20 }), [
    { measurement: 'cpu', tags: [['host', 'a']], fields: [{ name: 'value', type: 'float', value: 2.5 }], timeMs: -5, nanos: 0 },
  ]);
  // Absent fields take their proto3 defaults.
  assert.deepEqual(decodeRemoteWrite(snappyOf(pbBytes(1, [...label('__name__', 'x'), ...pbBytes(2, [])])), { maxDecompressedBytes: 100 }), [
    { measurement: 'x', tags: [], fields: [{ name: 'value', type: 'float', value: 0 }], timeMs: 0, nanos: 0 },
  ]);
  assert.deepEqual(decodeRemoteWrite(snappyOf([]), { maxDecompressedBytes: 100 }), []);
});

test('remote write: truncated and malformed protobuf is PROTOCOL', () => {
  const good = [...pbBytes(1, [...label('__name__', 'cpu'), ...sample(1, 1700000000000n)])];
  // Every strict prefix fails (the first byte alone is a key without its value).
  for (let n = 1; n < good.length; n++) rwError(snappyOf(good.slice(0, n)), 'PROTOCOL', /^remote write: protobuf: /);
  rwError(snappyOf([0x0a]), 'PROTOCOL', /^remote write: protobuf: truncated varint at offset 1$/);
  rwError(snappyOf([0x0a, 0x05, 1]), 'PROTOCOL', /length 5 at offset 1 runs past the end/);
  rwError(snappyOf(new Array<number>(11).fill(0xff)), 'PROTOCOL', /varint longer than 10 bytes at offset 0/);
  rwError(snappyOf([0x13]), 'PROTOCOL', /unsupported wire type 3 at offset 0/);
  rwError(snappyOf([0x14]), 'PROTOCOL', /unsupported wire type 4 at offset 0/);
  rwError(snappyOf(pbBytes(1, [0x1e])), 'PROTOCOL', /unsupported wire type 6 at offset 2/);
  rwError(snappyOf([0x00]), 'PROTOCOL', /field number 0/);
  rwError(snappyOf([0x08, 0x01]), 'PROTOCOL', /WriteRequest.timeseries has wire type 0, expected 2/);
  rwError(snappyOf(pbBytes(1, [...pbKey(2, 0), 1])), 'PROTOCOL', /TimeSeries.samples has wire type 0/);
  const named = (sampleBytes: number[]) => snappyOf(pbBytes(1, [...label('__name__', 'm'), ...pbBytes(2, sampleBytes)]));
  rwError(named([...pbKey(1, 0), 1]), 'PROTOCOL', /Sample.value has wire type 0, expected 1/);
  rwError(named([...pbKey(2, 1), 1]), 'PROTOCOL', /Sample.timestamp has wire type 1, expected 0/);
  rwError(named([...pbKey(1, 1), 1, 2]), 'PROTOCOL', /truncated fixed64/);
  rwError(named([...pbKey(9, 5), 1, 2]), 'PROTOCOL', /truncated fixed32/);
  rwError(named([...pbKey(2, 0), 0x80]), 'PROTOCOL', /truncated varint/);
  rwError(snappyOf(pbBytes(1, pbBytes(1, [...pbKey(1, 0), 1]))), 'PROTOCOL', /Label.name has wire type 0, expected 2/);
  // A nested length that runs past its parent message (but not past the buffer).
  rwError(snappyOf([...pbKey(1, 2), 2, ...pbKey(1, 2), 5, 0, 0, 0, 0, 0]), 'PROTOCOL', /runs past the end of its message/);
  // Garbage (fast-check): never anything but a StrataError.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodeRemoteWrite(compressSync(Buffer.from(bytes)), { maxDecompressedBytes: 1 << 20 });
      } catch (err) {
        assert.ok(isStrataError(err), String(err));
        assert.ok(['PROTOCOL', 'INVALID_ARGUMENT'].includes(err.code), err.message);
      }
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('remote write: bad snappy is PROTOCOL; an oversized length is refused before decompressing', () => {
  rwError(Buffer.alloc(0), 'PROTOCOL', /^remote write: snappy: empty body$/);
  rwError(Buffer.from([0x80, 0x80]), 'PROTOCOL', /^remote write: snappy: truncated length preamble$/);
  rwError(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 'PROTOCOL', /^remote write: snappy: /);
  rwError(Buffer.from([0x05, 0xff, 0xff, 0xff]), 'PROTOCOL', /^remote write: snappy: /);
  rwError(Buffer.from('this is not snappy at all'), 'PROTOCOL', /^remote write: snappy: /);
  // The preamble claims 10 MB; the rest is garbage that would fail to decompress.
  const huge = Buffer.from([0x80, 0xad, 0xe2, 0x04, 0xde, 0xad, 0xbe, 0xef]);
  rwError(huge, 'LIMIT_EXCEEDED', /decompressed size 10000000 bytes exceeds the limit of 1000 bytes/, 1000);
  const body = encodeRemoteWrite([{ labels: { __name__: 'x' }, samples: [{ value: 1, timestampMs: 1 }] }]);
  const size = body[0]!; // small: a one-byte preamble
  assert.equal(decodeRemoteWrite(body, { maxDecompressedBytes: size }).length, 1);
  rwError(body, 'LIMIT_EXCEEDED', /exceeds the limit/, size - 1);
});

test('remote write: series that break the data rules are INVALID_ARGUMENT', () => {
  const s = (labels: number[]) => snappyOf(pbBytes(1, [...labels, ...sample(1, 1n)]));
  rwError(s(label('job', 'a')), 'INVALID_ARGUMENT', /^remote write: series 0: missing label "__name__"$/);
  rwError(s([...label('__name__', '')]), 'INVALID_ARGUMENT', /missing label "__name__"/);
  rwError(s([...label('__name__', 'a'), ...label('__name__', 'b')]), 'INVALID_ARGUMENT', /duplicate label "__name__"/);
  rwError(s([...label('__name__', 'a'), ...label('job', 'x'), ...label('job', 'y')]), 'INVALID_ARGUMENT', /duplicate label "job"/);
  rwError(s([...label('__name__', 'a'), ...label('', 'x')]), 'INVALID_ARGUMENT', /label name "" must not be empty/);
  rwError(s([...label('__name__', 'a'), ...label('j', 'x'.repeat(1025))]), 'INVALID_ARGUMENT', /value of label "j" is longer than 1024 bytes/);
  rwError(s([...label('__name__', 'm'.repeat(257))]), 'INVALID_ARGUMENT', /metric name .* is longer than 256 bytes/);
  const farFuture = snappyOf(pbBytes(1, [...label('__name__', 'a'), ...sample(1, 2n ** 53n)]));
  rwError(farFuture, 'INVALID_ARGUMENT', /timestamp out of range/);
  const farPast = snappyOf(pbBytes(1, [...label('__name__', 'a'), ...sample(1, -(2n ** 62n))]));
  rwError(farPast, 'INVALID_ARGUMENT', /timestamp out of range/);
  // The second series is the bad one.
  const two = snappyOf([...pbBytes(1, [...label('__name__', 'a'), ...sample(1, 1n)]), ...pbBytes(1, [...label('x', 'y'), ...sample(1, 1n)])]);
  rwError(two, 'INVALID_ARGUMENT', /series 1: missing label/);
});

// ---------------------------------------------------------------- JSON points

function jsonError(body: unknown, message: RegExp): void {
  assert.throws(
    () => parseJsonPoints(body, NOW),
    (err: unknown) => {
      assert.ok(isStrataError(err, 'INVALID_ARGUMENT'), String(err));
      assert.match(err.message, message);
      return true;
    },
  );
}

test('json points: the documented example and every value type', () => {
  const body = JSON.parse(
    '{"points":[{"measurement":"cpu","tags":{"host":"a"},"fields":{"temp":21.5,"count":{"integer":3},"ok":true,"msg":"x"},"time":1700000000000},' +
      '{"measurement":"cpu","fields":{"big":{"integer":"-9007199254740991"},"zero":{"integer":"-0"},"n":-2}}]}',
  ) as unknown;
  assert.deepEqual(parseJsonPoints(body, NOW), [
    {
      measurement: 'cpu',
      tags: [['host', 'a']],
      fields: [
        { name: 'temp', type: 'float', value: 21.5 },
        { name: 'count', type: 'integer', value: 3 },
        { name: 'ok', type: 'boolean', value: true },
        { name: 'msg', type: 'string', value: 'x' },
      ],
      timeMs: 1700000000000,
      nanos: 0,
    },
    {
      measurement: 'cpu',
      tags: [],
      fields: [
        { name: 'big', type: 'integer', value: -9007199254740991 },
        { name: 'zero', type: 'integer', value: 0 },
        { name: 'n', type: 'float', value: -2 },
      ],
      timeMs: NOW,
      nanos: 0,
    },
  ]);
  assert.ok(Object.is(parseJsonPoints(body, NOW)[1]!.fields[1]!.value, 0));
  assert.deepEqual(parseJsonPoints({ points: [] }, NOW), []);
});

test('json points: RFC 3339 times keep nanoseconds', () => {
  const t = (time: string) => {
    const [p] = parseJsonPoints({ points: [{ measurement: 'm', fields: { f: 1 }, time }] }, NOW);
    return [p!.timeMs, p!.nanos];
  };
  assert.deepEqual(t('2016-01-01T00:00:00.123456789Z'), [1451606400123, 456789]);
  assert.deepEqual(t('2016-01-01T00:00:00Z'), [1451606400000, 0]);
  assert.deepEqual(t('2016-01-01t00:00:00.5z'), [1451606400500, 0]);
  assert.deepEqual(t('2016-01-01T02:00:00.000001+02:00'), [1451606400000, 1000]);
  assert.deepEqual(t('2015-12-31T19:30:00-04:30'), [1451606400000, 0]);
  assert.deepEqual(t('1970-01-01T00:00:00Z'), [0, 0]);
  assert.deepEqual(t('1969-12-31T23:59:59.999999999Z'), [-1, 999999]);
  assert.deepEqual(t('2024-02-29T12:00:00Z'), [Date.UTC(2024, 1, 29, 12), 0]);
  assert.deepEqual(t('0001-01-01T00:00:00Z'), [-62135596800000, 0]);
  assert.deepEqual(t('9999-12-31T23:59:59.999Z'), [253402300799999, 0]);
  // Against Date for a spread of instants (ms precision).
  fc.assert(
    // Days from 0000-01-01 to 9999-12-31 (the four-digit years of RFC 3339).
    fc.property(fc.integer({ min: -719_528, max: 2_932_896 }), fc.integer({ min: 0, max: 86_399_999 }), (day, msOfDay) => {
      const timeMs = day * 86_400_000 + msOfDay;
      assert.deepEqual(t(new Date(timeMs).toISOString()), [timeMs, 0]);
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('json points: errors name the JSON path', () => {
  const pt = (extra: Record<string, unknown>) => ({ points: [{ measurement: 'm', fields: { f: 1 } }, { measurement: 'm', fields: { f: 1 }, ...extra }] });
  jsonError(null, /the body must be an object with a "points" array/);
  jsonError([], /the body must be an object/);
  jsonError({}, /^points: is missing$/);
  jsonError({ points: {} }, /^points: must be an array, got an object$/);
  jsonError({ points: [], extra: 1 }, /^extra: unknown key/);
  jsonError({ points: [1] }, /^points\[0\]: must be an object, got number 1$/);
  jsonError(pt({ timestamp: 5 }), /^points\[1\]\.timestamp: unknown key/);
  jsonError({ points: [{ fields: { f: 1 } }] }, /^points\[0\]\.measurement: is missing$/);
  jsonError(pt({ measurement: 5 }), /^points\[1\]\.measurement: must be a string, got number 5$/);
  jsonError(pt({ measurement: '' }), /^points\[1\]\.measurement: must not be empty$/);
  jsonError(pt({ measurement: 'x'.repeat(257) }), /^points\[1\]\.measurement: is longer than 256 bytes$/);
  jsonError(pt({ tags: [] }), /^points\[1\]\.tags: must be an object, got an array$/);
  jsonError(pt({ tags: { host: 1 } }), /^points\[1\]\.tags\.host: must be a string, got number 1$/);
  jsonError(pt({ tags: { host: '' } }), /^points\[1\]\.tags\.host: must not be empty$/);
  jsonError(pt({ tags: { '': 'x' } }), /^points\[1\]\.tags\[""\]: tag key must not be empty$/);
  jsonError(pt({ fields: undefined }), /^points\[1\]\.fields: is missing$/);
  jsonError(pt({ fields: {} }), /^points\[1\]\.fields: must have at least one field$/);
  jsonError(pt({ fields: { temp: Infinity } }), /^points\[1\]\.fields\.temp: must be a finite number$/);
  jsonError(pt({ fields: { temp: null } }), /^points\[1\]\.fields\.temp: must be a number, boolean, string or \{"integer": n\}, got null$/);
  jsonError(pt({ fields: { temp: [1] } }), /^points\[1\]\.fields\.temp: must be a number.*got an array$/);
  jsonError(pt({ fields: { 'a b': { float: 1 } } }), /^points\[1\]\.fields\["a b"\]: must be a number/);
  jsonError(pt({ fields: { c: { integer: 1.5 } } }), /^points\[1\]\.fields\.c\.integer: must be an integer, got 1\.5$/);
  jsonError(pt({ fields: { c: { integer: 2 ** 53 } } }), /^points\[1\]\.fields\.c\.integer: integer out of range/);
  jsonError(pt({ fields: { c: { integer: '9007199254740992' } } }), /^points\[1\]\.fields\.c\.integer: integer out of range/);
  jsonError(pt({ fields: { c: { integer: '1e3' } } }), /^points\[1\]\.fields\.c\.integer: must be a decimal integer string, got "1e3"$/);
  jsonError(pt({ fields: { c: { integer: true } } }), /^points\[1\]\.fields\.c\.integer: must be a number or a decimal string, got boolean true$/);
  jsonError(pt({ fields: { c: { integer: 1, extra: 2 } } }), /^points\[1\]\.fields\.c: must be a number/);
  jsonError(pt({ fields: { s: 'x'.repeat(65537) } }), /^points\[1\]\.fields\.s: string value is longer than 65536 bytes$/);
  jsonError(pt({ fields: { ['\u0001']: 1 } }), /^points\[1\]\.fields\["\\u0001"\]: field name must not contain control characters$/);
  jsonError(pt({ time: 1.5 }), /^points\[1\]\.time: must be an integer number of milliseconds/);
  jsonError(pt({ time: 2 ** 53 }), /^points\[1\]\.time: must be an integer number of milliseconds/);
  jsonError(pt({ time: true }), /^points\[1\]\.time: must be milliseconds \(a number\) or an RFC 3339 string, got boolean true$/);
  jsonError(pt({ time: '2016-01-01' }), /^points\[1\]\.time: invalid RFC 3339 time "2016-01-01"/);
  jsonError(pt({ time: '2016-01-01T00:00:00' }), /^points\[1\]\.time: invalid RFC 3339 time/);
  jsonError(pt({ time: '2016-13-01T00:00:00Z' }), /^points\[1\]\.time: month out of range/);
  jsonError(pt({ time: '2015-02-29T00:00:00Z' }), /^points\[1\]\.time: day out of range/);
  jsonError(pt({ time: '2016-01-01T24:00:00Z' }), /^points\[1\]\.time: hour out of range/);
  jsonError(pt({ time: '2016-01-01T00:60:00Z' }), /^points\[1\]\.time: minute out of range/);
  jsonError(pt({ time: '2016-12-31T23:59:60Z' }), /^points\[1\]\.time: second out of range .*leap seconds/);
  jsonError(pt({ time: '2016-01-01T00:00:00.1234567891Z' }), /^points\[1\]\.time: more than 9 fractional second digits/);
  jsonError(pt({ time: '2016-01-01T00:00:00+24:00' }), /^points\[1\]\.time: time zone offset out of range/);
});

// ---------------------------------------------------------------- validation

test('validatePoint applies the shared rules', () => {
  const ok: TsPoint = { measurement: 'm', tags: [['t', 'v']], fields: [{ name: 'f', type: 'float', value: 1 }], timeMs: 1, nanos: 0 };
  validatePoint(ok);
  const bad = (p: Partial<TsPoint>, re: RegExp, options?: { allowNonFinite?: boolean }) =>
    assert.throws(() => validatePoint({ ...ok, ...p }, options), (err: unknown) => isStrataError(err, 'INVALID_ARGUMENT') && re.test(err.message));
  bad({ measurement: '' }, /measurement must not be empty/);
  bad({ measurement: 'a\u0000b' }, /control characters/);
  bad({ tags: [['t', 'a'], ['t', 'b']] }, /duplicate tag key "t"/);
  bad({ tags: [['t', '']] }, /tag "t": value must not be empty/);
  bad({ fields: [] }, /at least one field/);
  bad({ fields: [{ name: 'f', type: 'float', value: 1 }, { name: 'f', type: 'integer', value: 1 }] }, /duplicate field "f"/);
  bad({ fields: [{ name: 'f', type: 'float', value: NaN }] }, /finite/);
  bad({ fields: [{ name: 'f', type: 'integer', value: 2 ** 53 }] }, /integer out of range/);
  bad({ fields: [{ name: 'f', type: 'integer', value: 1.5 }] }, /must be an integer/);
  bad({ fields: [{ name: 'f', type: 'boolean', value: 1 }] }, /true or false/);
  bad({ fields: [{ name: 'f', type: 'string', value: 'x'.repeat(65537) }] }, /longer than 65536 bytes/);
  bad({ timeMs: 1.5 }, /time must be a safe integer/);
  bad({ nanos: 1_000_000 }, /nanos must be an integer in 0\.\.999999/);
  validatePoint({ ...ok, fields: [{ name: 'f', type: 'float', value: NaN }] }, { allowNonFinite: true });
  const tags20 = Array.from({ length: 20 }, (_, k): readonly [string, string] => [`t${k}`, 'v']);
  validatePoint({ ...ok, tags: tags20 });
  bad({ tags: [...tags20, ['t7', 'w']] }, /duplicate tag key "t7"/);
});

test('line protocol: points of one series carry the same series hint, its text as written', () => {
  const pts = parseLineProtocol('m,b=2,a=1 v=1 1\nm,b=2,a=1 v=2 2\nm,a=1,b=2 v=3 3\n', { nowMs: NOW });
  assert.equal(pts[0]!.seriesHint, 'm,b=2,a=1');
  assert.equal(pts[1]!.seriesHint, 'm,b=2,a=1');
  assert.equal(pts[2]!.seriesHint, 'm,a=1,b=2');
});
