// RESP over TLS with a throwaway CA (openssl CLI): ioredis verifies the
// server certificate against the CA; a plain-TCP client gets nothing it can
// read as RESP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { makeTestCerts } from '../../helpers/tls.js';
import { RawClient, startHarness } from './harness.js';

test('TLS: ioredis connects with the CA, runs commands; plain TCP does not get RESP', { timeout: 30_000 }, async () => {
  const certs = makeTestCerts();
  const h = await startHarness({ tls: { cert: certs.cert, key: certs.key } });
  const redis = new Redis({ host: '127.0.0.1', port: h.port, tls: { ca: certs.ca, servername: 'localhost' }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    assert.equal(await redis.set('secure', 'yes'), 'OK');
    assert.equal(await redis.get('secure'), 'yes');
    const p = redis.pipeline();
    for (let i = 0; i < 100; i++) p.incr('n');
    const results = await p.exec();
    assert.deepEqual(results?.at(-1), [null, 100]);
    assert.match((await redis.info('server')) as string, /tls:yes/);
    const plain = await RawClient.connect(h.port);
    plain.send('*1\r\n$4\r\nPING\r\n');
    await plain.closed;
    assert.ok(!plain.unread.includes('PONG'), 'a plain client gets no RESP reply');
  } finally {
    redis.disconnect();
    await h.close();
  }
});
