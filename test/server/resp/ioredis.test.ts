// The RESP front end driven by ioredis, a real client: its connect handshake
// (INFO ready check, CLIENT SETINFO), binary-safe keys and values, a
// 1000-command pipeline, RESP3 through HELLO 3, TTLs with a manual clock,
// and SCAN over many keys with a flush and a compaction between pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { startHarness } from './harness.js';
import type { Harness, HarnessOptions } from './harness.js';

async function withRedis(fn: (redis: Redis, h: Harness) => Promise<void>, options: HarnessOptions = {}, clientOptions: RedisOptions = {}): Promise<void> {
  const h = await startHarness(options);
  const redis = new Redis({ host: '127.0.0.1', port: h.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...clientOptions });
  try {
    await redis.connect();
    await fn(redis, h);
  } finally {
    redis.disconnect();
    await h.close();
  }
}

test('ioredis: connects (ready check), strings, counters, binary-safe keys and values', { timeout: 30_000 }, () =>
  withRedis(async (redis) => {
    assert.equal(await redis.ping(), 'PONG');
    assert.equal(await redis.set('greeting', 'hello'), 'OK');
    assert.equal(await redis.get('greeting'), 'hello');
    assert.equal(await redis.incr('counter'), 1);
    assert.equal(await redis.incrby('counter', 41), 42);
    assert.equal(await redis.incrbyfloat('float', '2.5'), '2.5');
    const key = Buffer.from([0, 255, 13, 10, 36, 42]);
    const value = Buffer.alloc(70_000);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 255;
    assert.equal(await redis.set(key, value), 'OK');
    assert.ok((await redis.getBuffer(key))!.equals(value));
    assert.deepEqual(await redis.mgetBuffer(key, 'nope'), [value, null]);
    assert.equal(await redis.exists(key), 1);
    assert.equal(await redis.del(key), 1);
    assert.equal(await redis.getBuffer(key), null);
    assert.equal(await redis.set('greeting', 'v', 'NX'), null);
    assert.equal(await redis.set('k', 'v', 'EX', 100, 'NX'), 'OK');
    assert.equal(await redis.ttl('k'), 100);
    await assert.rejects(redis.incr('greeting'), /ERR value is not an integer or out of range/);
    assert.equal(await redis.client('GETNAME'), null);
  }));

test('ioredis: a 1000-command pipeline comes back in order, reads seeing earlier writes', { timeout: 30_000 }, () =>
  withRedis(async (redis) => {
    const p = redis.pipeline();
    for (let i = 0; i < 250; i++) {
      p.set(`key:${i % 10}`, `v${i}`);
      p.get(`key:${i % 10}`);
      p.incr('n');
      p.append('log', `${i},`);
    }
    const results = await p.exec();
    assert.ok(results !== null);
    assert.equal(results.length, 1000);
    for (let i = 0; i < 250; i++) {
      assert.deepEqual(results[i * 4], [null, 'OK']);
      assert.deepEqual(results[i * 4 + 1], [null, `v${i}`]);
      assert.deepEqual(results[i * 4 + 2], [null, i + 1]);
    }
    const log = await redis.get('log');
    assert.equal(log, Array.from({ length: 250 }, (_, i) => `${i},`).join(''));
  }));

test('ioredis with RESP3 (HELLO 3): nulls, maps and values', { timeout: 30_000 }, () =>
  withRedis(
    async (redis) => {
      assert.equal(await redis.set('a', '1'), 'OK');
      assert.equal(await redis.get('a'), '1');
      assert.equal(await redis.get('missing'), null);
      assert.deepEqual(await redis.mget('a', 'missing'), ['1', null]);
      const hello = (await redis.call('HELLO', '3')) as unknown;
      const proto = hello instanceof Map ? hello.get('proto') : Array.isArray(hello) ? hello[hello.indexOf('proto') + 1] : (hello as Record<string, unknown>).proto;
      assert.equal(proto, 3);
      const config = (await redis.call('CONFIG', 'GET', 'appendonly')) as unknown;
      const appendonly = config instanceof Map ? config.get('appendonly') : Array.isArray(config) ? config[1] : (config as Record<string, unknown>).appendonly;
      assert.equal(appendonly, 'yes');
      assert.match(String(await redis.info('server')), /redis_version/);
    },
    {},
    { protocol: 3 },
  ));

test('ioredis: TTLs follow the service clock (manual clock, no sleeping)', { timeout: 30_000 }, () =>
  withRedis(async (redis, h) => {
    assert.equal(await redis.set('session', 'x', 'EX', 30), 'OK');
    assert.equal(await redis.ttl('session'), 30);
    h.clock.advance(29_000);
    assert.equal(await redis.ttl('session'), 1);
    assert.equal(await redis.get('session'), 'x');
    h.clock.advance(1_000);
    assert.equal(await redis.get('session'), null);
    assert.equal(await redis.ttl('session'), -2);
    assert.equal(await redis.set('p', 'v', 'PX', 500), 'OK');
    assert.equal(await redis.persist('p'), 1);
    h.clock.advance(10_000);
    assert.equal(await redis.get('p'), 'v');
    assert.equal(await redis.pexpire('p', 250), 1);
    assert.equal(await redis.pttl('p'), 250);
  }));

test('ioredis: SCAN over 3000 keys with a flush and a compaction between pages returns every key exactly once', { timeout: 30_000 }, () =>
  withRedis(
    async (redis, h) => {
      const keys = Array.from({ length: 3000 }, (_, i) => `item:${String(i).padStart(5, '0')}`);
      const mset = redis.pipeline();
      for (let i = 0; i < keys.length; i += 100) mset.mset(...keys.slice(i, i + 100).flatMap((k) => [k, `value of ${k}`]));
      await mset.exec();
      await redis.set('other', 'x');
      const seen = new Map<string, number>();
      let cursor = '0';
      let pages = 0;
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', 'item:*', 'COUNT', 97);
        for (const k of batch) seen.set(k, (seen.get(k) ?? 0) + 1);
        cursor = next;
        pages++;
        if (pages === 5) await h.service.flush();
        if (pages === 12) await h.service.compact();
        if (pages === 20) {
          await h.service.flush();
          await h.service.compact();
        }
      } while (cursor !== '0');
      assert.ok(pages > 25, `pages ${pages}`);
      assert.equal(seen.size, keys.length);
      assert.deepEqual([...seen.keys()].sort(), keys);
      assert.ok([...seen.values()].every((n) => n === 1), 'no key twice');
      // ioredis' own scanStream drives the same cursors.
      const streamed: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const s = redis.scanStream({ match: 'item:0001*', count: 50 });
        s.on('data', (batch: string[]) => streamed.push(...batch));
        s.on('end', resolve);
        s.on('error', reject);
      });
      assert.deepEqual(streamed.sort(), keys.filter((k) => k.startsWith('item:0001')));
    },
    { engine: { writeBufferSize: 64 * 1024 } },
  ));
