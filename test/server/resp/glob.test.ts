// Redis glob matching (stringmatchlen semantics) used by KEYS, SCAN MATCH and
// CONFIG GET, and the literal prefix that narrows scans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { globLiteralPrefix, globMatch } from '../../../src/server/resp/index.js';

const m = (pattern: string, s: string, nocase = false) => globMatch(Buffer.from(pattern, 'latin1'), Buffer.from(s, 'latin1'), nocase);

test('stars, question marks and literals', () => {
  assert.ok(m('*', 'anything'));
  assert.ok(m('h?llo', 'hello'));
  assert.ok(!m('h?llo', 'hllo'));
  assert.ok(m('h*llo', 'hllo'));
  assert.ok(m('h*llo', 'heeeello'));
  assert.ok(m('user:*:name', 'user:42:name'));
  assert.ok(!m('user:*:name', 'user:42:names'));
  assert.ok(m('a*b*c', 'aXXbYYc'));
  assert.ok(m('a*b*c', 'abbbc'));
  assert.ok(!m('a*b*c', 'acb'));
  assert.ok(m('a**', 'a'));
  assert.ok(!m('abc', 'ab'));
  assert.ok(!m('ab', 'abc'));
  assert.ok(m('', ''));
  assert.ok(!m('*', ''), 'as in Redis, a pattern never matches the empty string except the empty pattern');
});

test('classes: sets, negation, ranges (reversed too), escapes, unterminated', () => {
  assert.ok(m('h[ae]llo', 'hello'));
  assert.ok(m('h[ae]llo', 'hallo'));
  assert.ok(!m('h[ae]llo', 'hillo'));
  assert.ok(m('h[^e]llo', 'hallo'));
  assert.ok(!m('h[^e]llo', 'hello'));
  assert.ok(m('h[a-b]llo', 'hbllo'));
  assert.ok(m('h[b-a]llo', 'hbllo'), 'a reversed range is swapped');
  assert.ok(!m('h[a-b]llo', 'hcllo'));
  assert.ok(m('[\\]]', ']'));
  assert.ok(m('[\\-]', '-'));
  assert.ok(m('[abc', 'b'), 'an unterminated class runs to the end of the pattern');
  assert.ok(!m('[abc', 'd'));
  assert.ok(m('[^', 'x'));
});

test('escapes outside classes and case folding', () => {
  assert.ok(m('a\\*b', 'a*b'));
  assert.ok(!m('a\\*b', 'aXb'));
  assert.ok(m('a\\?', 'a?'));
  assert.ok(m('\\[x]', '[x]'));
  assert.ok(m('trailing\\', 'trailing\\'), 'a lone backslash at the end is a literal backslash');
  assert.ok(m('SAVE', 'save', true));
  assert.ok(!m('SAVE', 'save'));
  assert.ok(m('max*', 'MAXMEMORY', true));
  assert.ok(m('[A-C]x', 'bx', true));
});

test('a model check: patterns of literals, ? and * against a regular-expression translation', () => {
  const toRegExp = (p: string) => new RegExp(`^${[...p].map((c) => (c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c)).join('')}$`);
  const alphabet = fc.constantFrom('a', 'b', '*', '?');
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 8 }), fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 10 }), (pat, str) => {
      const p = pat.join('');
      const s = str.join('');
      assert.equal(m(p, s), toRegExp(p).test(s), `${p} vs ${s}`);
    }),
    { numRuns: 2000, seed: 7 },
  );
});

test('literal prefix stops at the first special character', () => {
  assert.equal(Buffer.from(globLiteralPrefix(Buffer.from('user:*'))).toString(), 'user:');
  assert.equal(Buffer.from(globLiteralPrefix(Buffer.from('a?c'))).toString(), 'a');
  assert.equal(Buffer.from(globLiteralPrefix(Buffer.from('a\\*c'))).toString(), 'a');
  assert.equal(Buffer.from(globLiteralPrefix(Buffer.from('[ab]'))).toString(), '');
  assert.equal(Buffer.from(globLiteralPrefix(Buffer.from('plain'))).toString(), 'plain');
});
