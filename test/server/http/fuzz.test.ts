import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { errorOf, startHarness } from './harness.js';
import type { Harness } from './harness.js';
import { RawConnection } from './raw-http.js';

const SEED = Number(process.env['FC_SEED'] ?? 20240611);

/** Pieces that exercise the decoders: escapes good and bad, separators, non-ASCII, route words. */
const BAD_ESCAPES = ['%', '%2', '%zz'];
const PATH_PIECES = ['a', 'Z', '0', '-', '_', '.', '~', '%00', '%FF', '%2F', '%25', '%C3%A9', '+', '/', ';', ':', '@', '!', '*', "'", '(', ')', ',', '$', '=', '&', '?', 'é', 'batch', 'kv', 'v1'];
const QUERY_NAMES = ['prefix', 'start', 'end', 'after', 'limit', 'reverse', 'keys_only', 'encoding', 'ttl_ms', 'expire_at_ms', 'if', 'x', '', '%zz', 'limit%00'];
const QUERY_VALUES = ['', '0', '1', '-1', '100', '100000', '1e3', '99999999999999999999', 'true', 'false', 'utf8', 'base64', 'hex', 'absent', 'present', '%FF', '%zz', 'a+b', 'YWJj', 'YW Jj', '====', '***', 'é'];

const pieceArb = fc.oneof({ arbitrary: fc.constantFrom(...PATH_PIECES), weight: 30 }, { arbitrary: fc.constantFrom(...BAD_ESCAPES), weight: 1 });
const keyPathArb = fc.array(pieceArb, { maxLength: 12 }).map((parts) => `/v1/kv/${parts.join('')}`);
const pathArb = fc.oneof(
  fc.constantFrom('/v1/kv', '/v1/kv/', '/v1/kv/batch', '/health', '/metrics', '/openapi.json', '/', '/v1', '/v2/kv/x', '//v1/kv/x'),
  keyPathArb,
  fc.array(pieceArb, { maxLength: 8 }).map((parts) => `/${parts.join('')}`),
);
/** A query string: mostly names some route knows (so requests get past the parameter check), sometimes junk. */
function queryArb(names: readonly string[]): fc.Arbitrary<string> {
  const name = names.length === 0 ? fc.constantFrom(...QUERY_NAMES) : fc.oneof({ arbitrary: fc.constantFrom(...names), weight: 9 }, { arbitrary: fc.constantFrom(...QUERY_NAMES), weight: 1 });
  const pairs = fc.array(fc.tuple(name, fc.option(fc.constantFrom(...QUERY_VALUES), { nil: undefined, freq: 8 })), { maxLength: 4 });
  return fc.oneof(fc.constant(''), pairs.map((ps) => (ps.length === 0 ? '' : `?${ps.map(([n, v]) => (v === undefined ? n : `${n}=${v}`)).join('&')}`)));
}
const encodingArb = fc.constantFrom('utf8', 'base64', 'hex', undefined, 7);
const wildOpArb = fc.record(
  {
    type: fc.constantFrom('put', 'del', 'get', 1),
    key: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('', 'YWJj', '***', 'k'), fc.integer()),
    value: fc.oneof(fc.string({ maxLength: 8 }), fc.constant('/w=='), fc.constant(null)),
    ttlMs: fc.oneof(fc.integer({ min: -5, max: 10_000 }), fc.double(), fc.constant('5')),
    expireAtMs: fc.integer({ min: 0, max: 2 ** 53 }),
    keyEncoding: encodingArb,
    valueEncoding: encodingArb,
    junk: fc.string({ maxLength: 3 }),
  },
  { requiredKeys: [] },
);
const goodOpArb = fc.oneof(
  fc.record({ type: fc.constant('put'), key: fc.string({ minLength: 1, maxLength: 12 }), value: fc.string({ maxLength: 40 }) }),
  fc.record({ type: fc.constant('del'), key: fc.string({ minLength: 1, maxLength: 12 }) }),
);
const opArb = fc.oneof({ arbitrary: goodOpArb, weight: 4 }, { arbitrary: wildOpArb, weight: 1 });
const batchDocArb = fc
  .oneof(
    { arbitrary: fc.record({ ops: fc.array(opArb, { maxLength: 4 }) }), weight: 4 },
    { arbitrary: fc.record({ ops: fc.array(opArb, { maxLength: 4 }), encoding: encodingArb }, { requiredKeys: [] }), weight: 1 },
  )
  .map((d) => Buffer.from(JSON.stringify(d)));
const bodyArb = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  batchDocArb,
  fc.json({ maxDepth: 3 }).map((j) => Buffer.from(j)),
);
const headersArb = fc.record(
  {
    'content-type': fc.constantFrom('application/json', 'application/octet-stream', 'text/plain', 'application/x-www-form-urlencoded', 'application/vnd.x+json; charset=utf-8', 'multipart/form-data; boundary=x', ''),
    authorization: fc.constantFrom('Basic Zm9vOmJhcg==', 'Bearer abc', 'Basic', 'garbage'),
    accept: fc.constantFrom('*/*', 'text/html', 'application/json'),
    'x-random': fc.stringMatching(/^[A-Za-z0-9 ._-]{0,10}$/),
  },
  { requiredKeys: [] },
);

const requestArb = fc.oneof(
  fc.record({ method: fc.constant('GET'), path: keyPathArb, query: queryArb([]) }),
  fc.record({ method: fc.constant('PUT'), path: keyPathArb, query: queryArb(['ttl_ms', 'expire_at_ms', 'if']) }),
  fc.record({ method: fc.constant('DELETE'), path: keyPathArb, query: queryArb([]) }),
  fc.record({ method: fc.constant('GET'), path: fc.constant('/v1/kv'), query: queryArb(['prefix', 'start', 'end', 'after', 'limit', 'reverse', 'keys_only', 'encoding']) }),
  fc.record({ method: fc.constant('POST'), path: fc.constant('/v1/kv/batch'), query: queryArb([]), batch: fc.constant(true) }),
  fc.record({ method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'), path: pathArb, query: queryArb(QUERY_NAMES) }),
);

describe('HTTP fuzz', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ limits: { keyBytesMax: 16, valueBytesMax: 32, requestBytesMax: 256, scanLimitMax: 50 } });
  });
  after(async () => {
    await h.close();
  });

  test('random methods, paths, queries, headers and bodies: every answer is well-formed JSON (or the value/metrics) and never 5xx', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(requestArb, headersArb, bodyArb, fc.option(batchDocArb, { nil: undefined, freq: 4 }), async ({ method, path, query, ...rest }, randomHeaders, randomBody, batchDoc) => {
        // Batch requests mostly carry a batch document as JSON; everything else random headers and bodies.
        const isBatch = 'batch' in rest;
        const body = isBatch && batchDoc !== undefined ? batchDoc : randomBody;
        const headers = isBatch && batchDoc !== undefined ? { ...randomHeaders, 'content-type': 'application/json' } : randomHeaders;
        const withBody = method !== 'GET' && method !== 'HEAD' && body !== undefined;
        const r = await h.server.inject({ method, url: path + query, headers, ...(withBody ? { payload: body } : {}) });
        assert.ok(r.statusCode < 500, `${method} ${path}${query} -> ${r.statusCode} ${r.body}`);
        const type = String(r.headers['content-type'] ?? '');
        if (method === 'HEAD') return;
        if (r.statusCode === 200 && method === 'GET' && path.startsWith('/v1/kv/') && !query.includes('=')) {
          assert.equal(type, 'application/octet-stream');
          return;
        }
        if (r.statusCode === 200 && path === '/metrics') {
          assert.match(type, /^text\/plain/);
          return;
        }
        assert.match(type, /^application\/json/, `${method} ${path}${query} -> ${r.statusCode} ${type}`);
        const json: unknown = JSON.parse(r.body);
        if (r.statusCode >= 400) errorOf(json);
        else assert.ok(typeof json === 'object' && json !== null && !('error' in json));
      }),
      { numRuns: 600, seed: SEED },
    );
    assert.equal((await h.server.inject({ method: 'GET', url: '/health' })).statusCode, 200);
  });

  test('random bytes on a real socket: the server answers with an HTTP error or closes, and keeps serving', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          fc.tuple(fc.constantFrom('GET', 'PUT', 'POST', 'BREW'), fc.stringMatching(/^[\x21-\x7e]{0,40}$/), fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'HTTP/1.1\r\nContent-Length: -1', 'HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz'))
            .map(([m, p, v]) => Buffer.from(`${m} /${p} ${v}\r\nHost: x\r\n\r\n`)),
        ),
        async (bytes) => {
          const c = await RawConnection.open(h.port);
          c.socket.end(bytes); // half-close: a server waiting for more must give up
          let data = '';
          c.socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
          await c.closed;
          for (const m of data.matchAll(/HTTP\/1\.1 (\d{3})/g)) assert.ok(Number(m[1]) < 500, data);
        },
      ),
      { numRuns: 60, seed: SEED },
    );
    assert.equal((await fetch(`${h.base}/health`)).status, 200);
  });
});
