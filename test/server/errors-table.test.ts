// Every error code has a row in each protocol's table, and docs/errors.md
// shows the same mapping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ERROR_CODES, StrataError } from '../../src/base/index.js';
import { GRPC_STATUS, HTTP_STATUS, RESP_ERROR_PREFIX, clientMessageOf, errorCodeOf } from '../../src/server/index.js';

const root = resolve(dirname(new URL(import.meta.url).pathname), '../../..');

test('each code maps to a RESP prefix, an HTTP status and a gRPC status', () => {
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  for (const code of Object.values(ERROR_CODES)) {
    assert.match(RESP_ERROR_PREFIX[code], /^[A-Z]+$/, code);
    assert.ok(HTTP_STATUS[code] >= 400 && HTTP_STATUS[code] < 600, code);
    assert.ok(GRPC_STATUS[code] >= 1 && GRPC_STATUS[code] <= 16, code);
    const row = doc.split('\n').find((l) => l.startsWith(`| ${code} |`));
    assert.ok(row !== undefined, `${code} has a row in the protocol table of docs/errors.md`);
    assert.ok(row.includes(`| ${HTTP_STATUS[code]} |`), `${code}: docs show HTTP ${HTTP_STATUS[code]}`);
    assert.ok(row.includes(`-${RESP_ERROR_PREFIX[code]}`), `${code}: docs show -${RESP_ERROR_PREFIX[code]}`);
  }
  assert.equal(Object.keys(HTTP_STATUS).length, Object.keys(ERROR_CODES).length);
});

test('non-StrataErrors are internal, and their messages stay out of replies', () => {
  assert.equal(errorCodeOf(new TypeError('x is undefined')), 'IO');
  assert.equal(clientMessageOf(new TypeError('secret internals')), 'internal error');
  assert.equal(clientMessageOf(new StrataError('NOT_INTEGER', 'value is not an integer or out of range')), 'value is not an integer or out of range');
});
