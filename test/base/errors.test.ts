import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ERROR_CODES, StrataError, corruption, isStrataError, ioError } from '../../src/base/index.js';

const root = resolve(dirname(new URL(import.meta.url).pathname), '../../..');

test('every error code is documented in docs/errors.md', () => {
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  for (const code of Object.values(ERROR_CODES)) assert.ok(doc.includes(`| \`${code}\` |`), `${code} missing from docs/errors.md`);
});

test('codes are stable strings equal to their keys', () => {
  for (const [k, v] of Object.entries(ERROR_CODES)) assert.equal(k, v);
});

test('corruption names file and offset; ioError wraps OS errors but keeps StrataErrors', () => {
  const c = corruption('/db/000001.sst', 4096, 'bad checksum');
  assert.equal(c.code, 'CORRUPTION');
  assert.equal(c.file, '/db/000001.sst');
  assert.equal(c.offset, 4096);
  assert.match(c.message, /000001\.sst.*4096/);
  assert.ok(isStrataError(c, 'CORRUPTION'));
  assert.ok(!isStrataError(c, 'IO'));
  const os = Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
  const w = ioError('read', '/x', os);
  assert.equal(w.code, 'IO');
  assert.equal(w.cause, os);
  assert.equal(ioError('read', '/x', c), c);
  assert.ok(new StrataError('CLOSED', 'x') instanceof Error);
});
