// Commands through a real socket, checked byte for byte against Redis 7's
// replies and error words: strings, counters, expiry with a manual clock,
// keys, KEYS/SCAN, server and connection commands, RESP3 via HELLO 3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, T0_MS, bulk, encodeCommand, startHarness } from './harness.js';
import type { Harness } from './harness.js';

async function withClient(fn: (c: RawClient, h: Harness) => Promise<void>, options: Parameters<typeof startHarness>[0] = {}): Promise<void> {
  const h = await startHarness(options);
  const c = await RawClient.connect(h.port);
  try {
    await fn(c, h);
  } finally {
    c.close();
    await h.close();
  }
}

test('GET SET and their options, with Redis error words', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    assert.equal(await c.call('GET', 'k'), '$-1\r\n');
    assert.equal(await c.call('SET', 'k', 'v1'), '+OK\r\n');
    assert.equal(await c.call('GET', 'k'), bulk('v1'));
    assert.equal(await c.call('SET', 'k', 'v2', 'NX'), '$-1\r\n');
    assert.equal(await c.call('SET', 'k', 'v2', 'xx', 'GET'), bulk('v1'));
    assert.equal(await c.call('SET', 'new', 'x', 'XX'), '$-1\r\n');
    assert.equal(await c.call('SET', 'new', 'x', 'NX', 'GET'), '$-1\r\n');
    assert.equal(await c.call('GET', 'new'), bulk('x'));
    assert.equal(await c.call('SET', 'k', 'v', 'NX', 'XX'), '-ERR syntax error\r\n');
    assert.equal(await c.call('SET', 'k', 'v', 'EX', '10', 'PX', '10'), '-ERR syntax error\r\n');
    assert.equal(await c.call('SET', 'k', 'v', 'EX', '10', 'KEEPTTL'), '-ERR syntax error\r\n');
    assert.equal(await c.call('SET', 'k', 'v', 'EX'), '-ERR syntax error\r\n');
    assert.equal(await c.call('SET', 'k', 'v', 'BOGUS'), '-ERR syntax error\r\n');
    assert.equal(await c.call('SET', 'k', 'v', 'EX', 'ten'), '-ERR value is not an integer or out of range\r\n');
    assert.equal(await c.call('SET', 'k', 'v', 'EX', '0'), "-ERR invalid expire time in 'set' command\r\n");
    assert.equal(await c.call('SET', 'k', 'v', 'PX', '-5'), "-ERR invalid expire time in 'set' command\r\n");
    assert.equal(await c.call('SET', 'k', 'v', 'EX', '9223372036854775807'), "-ERR invalid expire time in 'set' command\r\n");
    assert.equal(await c.call('SET', 'k'), "-ERR wrong number of arguments for 'set' command\r\n");
    assert.equal(await c.call('GET'), "-ERR wrong number of arguments for 'get' command\r\n");
    assert.equal(await c.call('GET', 'a', 'b'), "-ERR wrong number of arguments for 'get' command\r\n");
    assert.equal(await c.call('get', 'k'), bulk('v2'), 'command names are case-insensitive');
  }));

test('unknown commands are reported with their first arguments', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    assert.equal(await c.call('FOO', 'a', 'b'), "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n");
    assert.equal(await c.call('nope'), "-ERR unknown command 'nope', with args beginning with: \r\n");
  }));

test('binary-safe keys and values', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    const key = Buffer.from([0, 1, 13, 10, 255, 32]);
    const value = Buffer.from([255, 0, 13, 10, 42, 36]);
    assert.equal(await c.call('SET', key, value), '+OK\r\n');
    assert.equal(await c.call('GET', key), bulk(value));
    assert.equal(await c.call('STRLEN', key), ':6\r\n');
    assert.equal(await c.call('EXISTS', key, key, 'missing'), ':2\r\n');
  }));

test('SETNX GETSET GETDEL MGET MSET MSETNX DEL UNLINK EXISTS TYPE', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    assert.equal(await c.call('SETNX', 'a', '1'), ':1\r\n');
    assert.equal(await c.call('SETNX', 'a', '2'), ':0\r\n');
    assert.equal(await c.call('GETSET', 'a', '3'), bulk('1'));
    assert.equal(await c.call('GETSET', 'fresh', 'x'), '$-1\r\n');
    assert.equal(await c.call('MSET', 'b', '2', 'c', '3'), '+OK\r\n');
    assert.equal(await c.call('MSET', 'b', '2', 'c'), "-ERR wrong number of arguments for 'mset' command\r\n");
    assert.equal(await c.call('MGET', 'a', 'nope', 'c'), `*3\r\n${bulk('3')}$-1\r\n${bulk('3')}`);
    assert.equal(await c.call('MSETNX', 'c', '9', 'd', '4'), ':0\r\n');
    assert.equal(await c.call('GET', 'd'), '$-1\r\n');
    assert.equal(await c.call('MSETNX', 'd', '4', 'e', '5'), ':1\r\n');
    assert.equal(await c.call('TYPE', 'd'), '+string\r\n');
    assert.equal(await c.call('TYPE', 'nope'), '+none\r\n');
    assert.equal(await c.call('GETDEL', 'd'), bulk('4'));
    assert.equal(await c.call('GETDEL', 'd'), '$-1\r\n');
    assert.equal(await c.call('EXISTS', 'a', 'b', 'zz'), ':2\r\n');
    assert.equal(await c.call('DEL', 'a', 'b', 'zz'), ':2\r\n');
    assert.equal(await c.call('UNLINK', 'c', 'e'), ':2\r\n');
    assert.equal(await c.call('DBSIZE'), ':1\r\n');
  }));

test('APPEND STRLEN GETRANGE SETRANGE with Redis index rules', { timeout: 30_000 }, () =>
  withClient(
    async (c) => {
      assert.equal(await c.call('APPEND', 's', 'Hello'), ':5\r\n');
      assert.equal(await c.call('APPEND', 's', ' World'), ':11\r\n');
      assert.equal(await c.call('STRLEN', 's'), ':11\r\n');
      assert.equal(await c.call('STRLEN', 'nope'), ':0\r\n');
      assert.equal(await c.call('GETRANGE', 's', '0', '4'), bulk('Hello'));
      assert.equal(await c.call('GETRANGE', 's', '-5', '-1'), bulk('World'));
      assert.equal(await c.call('GETRANGE', 's', '-1', '-5'), bulk(''));
      assert.equal(await c.call('GETRANGE', 's', '6', '100'), bulk('World'));
      assert.equal(await c.call('GETRANGE', 's', '20', '30'), bulk(''));
      assert.equal(await c.call('GETRANGE', 'nope', '0', '-1'), bulk(''));
      assert.equal(await c.call('GETRANGE', 's', 'a', '1'), '-ERR value is not an integer or out of range\r\n');
      assert.equal(await c.call('SETRANGE', 's', '6', 'Redis'), ':11\r\n');
      assert.equal(await c.call('GET', 's'), bulk('Hello Redis'));
      assert.equal(await c.call('SETRANGE', 'z', '2', 'ab'), ':4\r\n');
      assert.equal(await c.call('GET', 'z'), bulk(Buffer.from([0, 0, 97, 98])));
      assert.equal(await c.call('SETRANGE', 'empty', '5', ''), ':0\r\n');
      assert.equal(await c.call('EXISTS', 'empty'), ':0\r\n');
      assert.equal(await c.call('SETRANGE', 's', '-1', 'x'), '-ERR offset is out of range\r\n');
      assert.equal(await c.call('SETRANGE', 's', '1000', 'x'), '-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n');
    },
    { limits: { valueBytesMax: 1000 } },
  ));

test('INCR family and INCRBYFLOAT, with overflow and type errors', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    assert.equal(await c.call('INCR', 'n'), ':1\r\n');
    assert.equal(await c.call('INCRBY', 'n', '41'), ':42\r\n');
    assert.equal(await c.call('DECR', 'n'), ':41\r\n');
    assert.equal(await c.call('DECRBY', 'n', '-9'), ':50\r\n');
    assert.equal(await c.call('INCRBY', 'n', 'x'), '-ERR value is not an integer or out of range\r\n');
    assert.equal(await c.call('INCRBY', 'n', '1.5'), '-ERR value is not an integer or out of range\r\n');
    assert.equal(await c.call('DECRBY', 'n', '-9223372036854775808'), '-ERR decrement would overflow\r\n');
    assert.equal(await c.call('SET', 'max', '9223372036854775807'), '+OK\r\n');
    assert.equal(await c.call('INCR', 'max'), '-ERR increment or decrement would overflow\r\n');
    assert.equal(await c.call('SET', 'text', 'abc'), '+OK\r\n');
    assert.equal(await c.call('INCR', 'text'), '-ERR value is not an integer or out of range\r\n');
    assert.equal(await c.call('INCRBYFLOAT', 'f', '10.5'), bulk('10.5'));
    assert.equal(await c.call('INCRBYFLOAT', 'f', '0.1'), bulk('10.6'));
    assert.equal(await c.call('INCRBYFLOAT', 'f', '5.0e3'), bulk('5010.6'));
    assert.equal(await c.call('INCRBYFLOAT', 'f', 'abc'), '-ERR value is not a valid float\r\n');
    assert.equal(await c.call('INCRBYFLOAT', 'text', '1'), '-ERR value is not a valid float\r\n');
    assert.equal(await c.call('INCRBYFLOAT', 'f', 'inf'), '-ERR increment would produce NaN or Infinity\r\n');
    assert.equal(await c.call('SET', 'huge', '1e308'), '+OK\r\n');
    assert.equal(await c.call('INCRBYFLOAT', 'huge', '1e308'), '-ERR increment would produce NaN or Infinity\r\n');
  }));

test('expiry: EX PX EXAT PXAT KEEPTTL, EXPIRE family with NX XX GT LT, TTL PTTL PERSIST, GETEX (manual clock)', { timeout: 30_000 }, () =>
  withClient(async (c, h) => {
    const clock = h.clock;
    assert.equal(await c.call('SET', 'k', 'v', 'EX', '10'), '+OK\r\n');
    assert.equal(await c.call('TTL', 'k'), ':10\r\n');
    assert.equal(await c.call('PTTL', 'k'), ':10000\r\n');
    clock.advance(2_400);
    assert.equal(await c.call('TTL', 'k'), ':8\r\n', 'TTL rounds 7.6 s to 8, as Redis does');
    assert.equal(await c.call('PTTL', 'k'), ':7600\r\n');
    assert.equal(await c.call('EXPIRETIME', 'k'), `:${(T0_MS + 10_000) / 1000}\r\n`);
    assert.equal(await c.call('PEXPIRETIME', 'k'), `:${T0_MS + 10_000}\r\n`);
    assert.equal(await c.call('SET', 'k', 'v2', 'KEEPTTL'), '+OK\r\n');
    assert.equal(await c.call('PTTL', 'k'), ':7600\r\n');
    clock.advance(7_600);
    assert.equal(await c.call('GET', 'k'), '$-1\r\n', 'gone at its expiry time');
    assert.equal(await c.call('TTL', 'k'), ':-2\r\n');
    assert.equal(await c.call('SET', 'p', 'v'), '+OK\r\n');
    assert.equal(await c.call('TTL', 'p'), ':-1\r\n');
    assert.equal(await c.call('EXPIRETIME', 'p'), ':-1\r\n');
    assert.equal(await c.call('EXPIRE', 'p', '100', 'XX'), ':0\r\n');
    assert.equal(await c.call('EXPIRE', 'p', '100', 'NX'), ':1\r\n');
    assert.equal(await c.call('EXPIRE', 'p', '50', 'GT'), ':0\r\n');
    assert.equal(await c.call('EXPIRE', 'p', '200', 'GT'), ':1\r\n');
    assert.equal(await c.call('PEXPIRE', 'p', '500', 'LT'), ':1\r\n');
    assert.equal(await c.call('PTTL', 'p'), ':500\r\n');
    assert.equal(await c.call('PERSIST', 'p'), ':1\r\n');
    assert.equal(await c.call('PERSIST', 'p'), ':0\r\n');
    assert.equal(await c.call('EXPIRE', 'p', '10', 'XX', 'LT'), ':0\r\n', 'XX LT needs an expiry');
    assert.equal(await c.call('EXPIRE', 'p', '10', 'LT'), ':1\r\n', 'LT alone: no expiry counts as infinite');
    assert.equal(await c.call('EXPIRE', 'p', '5', 'XX', 'LT'), ':1\r\n');
    assert.equal(await c.call('EXPIRE', 'p', '5', 'NX', 'GT'), '-ERR NX and XX, GT or LT options at the same time are not compatible\r\n');
    assert.equal(await c.call('EXPIRE', 'p', '5', 'GT', 'LT'), '-ERR GT and LT options at the same time are not compatible\r\n');
    assert.equal(await c.call('EXPIRE', 'p', '5', 'SOON'), '-ERR Unsupported option SOON\r\n');
    assert.equal(await c.call('EXPIRE', 'p', 'x'), '-ERR value is not an integer or out of range\r\n');
    assert.equal(await c.call('EXPIRE', 'p', '9223372036854775807'), "-ERR invalid expire time in 'expire' command\r\n");
    assert.equal(await c.call('EXPIRE', 'missing', '5'), ':0\r\n');
    assert.equal(await c.call('EXPIREAT', 'p', String((T0_MS + 10_000 + 60_000) / 1000)), ':1\r\n');
    assert.equal(await c.call('TTL', 'p'), ':60\r\n');
    assert.equal(await c.call('PEXPIREAT', 'p', String(T0_MS + 10_000 + 1_000)), ':1\r\n');
    assert.equal(await c.call('PTTL', 'p'), ':1000\r\n');
    assert.equal(await c.call('EXPIRE', 'p', '-1'), ':1\r\n', 'a time in the past deletes');
    assert.equal(await c.call('EXISTS', 'p'), ':0\r\n');
    assert.equal(await c.call('SET', 'g', 'v', 'PXAT', String(clock.nowMs() + 3_000)), '+OK\r\n');
    assert.equal(await c.call('PTTL', 'g'), ':3000\r\n');
    assert.equal(await c.call('GETEX', 'g', 'PERSIST'), bulk('v'));
    assert.equal(await c.call('TTL', 'g'), ':-1\r\n');
    assert.equal(await c.call('GETEX', 'g', 'EX', '30'), bulk('v'));
    assert.equal(await c.call('TTL', 'g'), ':30\r\n');
    assert.equal(await c.call('GETEX', 'g', 'EX', '0'), "-ERR invalid expire time in 'getex' command\r\n");
    assert.equal(await c.call('GETEX', 'g', 'PERSIST', 'EX', '5'), '-ERR syntax error\r\n');
    assert.equal(await c.call('GETEX', 'nope'), '$-1\r\n');
    assert.equal(await c.call('SETEX', 'se', '5', 'v'), '+OK\r\n');
    assert.equal(await c.call('TTL', 'se'), ':5\r\n');
    assert.equal(await c.call('SETEX', 'se', '0', 'v'), "-ERR invalid expire time in 'setex' command\r\n");
    assert.equal(await c.call('PSETEX', 'se', '1500', 'v'), '+OK\r\n');
    assert.equal(await c.call('PTTL', 'se'), ':1500\r\n');
    assert.equal(await c.call('SET', 'at', 'v', 'EXAT', String(Math.floor(clock.nowMs() / 1000) + 20)), '+OK\r\n');
    assert.equal(await c.call('TTL', 'at'), ':20\r\n');
    clock.advance(1_500);
    assert.equal(await c.call('EXISTS', 'se'), ':0\r\n');
  }));

test('KEYS with glob patterns; SCAN with MATCH, COUNT and TYPE; cursor errors', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    const keys = ['user:1', 'user:2', 'user:10', 'order:1', 'h?llo', 'hello', 'hallo'];
    for (const k of keys) assert.equal(await c.call('SET', k, 'v'), '+OK\r\n');
    const sorted = (reply: string) =>
      reply
        .split('\r\n')
        .filter((l) => l !== '' && !l.startsWith('*') && !l.startsWith('$'))
        .sort();
    assert.deepEqual(sorted(await c.call('KEYS', '*')), [...keys].sort());
    assert.deepEqual(sorted(await c.call('KEYS', 'user:?')), ['user:1', 'user:2']);
    assert.deepEqual(sorted(await c.call('KEYS', 'h[ae]llo')), ['hallo', 'hello']);
    assert.deepEqual(sorted(await c.call('KEYS', 'h\\?llo')), ['h?llo']);
    assert.equal(await c.call('KEYS', 'nothing*'), '*0\r\n');
    // SCAN over everything with COUNT 2: every key once, cursor 0 at the end.
    const seen: string[] = [];
    let cursor = '0';
    let rounds = 0;
    do {
      const reply = await c.call('SCAN', cursor, 'COUNT', '2');
      const m = /^\*2\r\n\$\d+\r\n(\d+)\r\n\*(\d+)\r\n/.exec(reply);
      assert.ok(m, reply);
      cursor = m[1]!;
      seen.push(...sorted(reply.slice(m[0].length)));
      rounds++;
    } while (cursor !== '0' && rounds < 100);
    assert.deepEqual(seen.sort(), [...keys].sort());
    assert.ok(rounds >= 4);
    const matched = await c.call('SCAN', '0', 'MATCH', 'user:*', 'COUNT', '100');
    assert.equal(matched, `*2\r\n${bulk('0')}*3\r\n${bulk('user:1')}${bulk('user:10')}${bulk('user:2')}`);
    assert.equal(await c.call('SCAN', '0', 'TYPE', 'hash', 'COUNT', '100'), `*2\r\n${bulk('0')}*0\r\n`);
    assert.equal(await c.call('SCAN', '0', 'TYPE', 'string', 'MATCH', 'order*'), `*2\r\n${bulk('0')}*1\r\n${bulk('order:1')}`);
    assert.equal(await c.call('SCAN', '12345'), '-ERR invalid cursor\r\n');
    assert.equal(await c.call('SCAN', 'abc'), '-ERR invalid cursor\r\n');
    assert.equal(await c.call('SCAN', '-1'), '-ERR invalid cursor\r\n');
    assert.equal(await c.call('SCAN', '0', 'COUNT', '0'), '-ERR syntax error\r\n');
    assert.equal(await c.call('SCAN', '0', 'COUNT', 'x'), '-ERR value is not an integer or out of range\r\n');
    assert.equal(await c.call('SCAN', '0', 'MATCH'), '-ERR syntax error\r\n');
  }));

test('SCAN cursors are decimal numbers in a bounded table: the oldest are forgotten', { timeout: 30_000 }, () =>
  withClient(
    async (c) => {
      for (let i = 0; i < 10; i++) assert.equal(await c.call('SET', `k${i}`, 'v'), '+OK\r\n');
      const cursorOf = (reply: string) => /^\*2\r\n\$\d+\r\n(\d+)\r\n/.exec(reply)![1]!;
      const first = cursorOf(await c.call('SCAN', '0', 'COUNT', '1'));
      assert.match(first, /^[1-9][0-9]*$/);
      const others: string[] = [];
      for (let i = 0; i < 4; i++) others.push(cursorOf(await c.call('SCAN', '0', 'COUNT', '1')));
      assert.equal(await c.call('SCAN', first, 'COUNT', '1'), '-ERR invalid cursor\r\n', 'evicted (table holds 3)');
      assert.match(await c.call('SCAN', others[3]!, 'COUNT', '1'), /^\*2\r\n/);
    },
    { scanCursorsMax: 3 },
  ));

test('FLUSHDB and FLUSHALL empty the keyspace; DBSIZE counts; INFO keyspace', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    assert.equal(await c.call('MSET', 'a', '1', 'b', '2', 'c', '3'), '+OK\r\n');
    assert.equal(await c.call('DBSIZE'), ':3\r\n');
    assert.match(await c.call('INFO', 'keyspace'), /# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n/);
    assert.equal(await c.call('PEXPIRE', 'a', '1000'), ':1\r\n');
    assert.equal(await c.call('PEXPIRE', 'b', '3000'), ':1\r\n');
    assert.match(await c.call('INFO', 'keyspace'), /# Keyspace\r\ndb0:keys=3,expires=2,avg_ttl=2000\r\n/);
    assert.equal(await c.call('FLUSHDB', 'NOW'), '-ERR syntax error\r\n');
    assert.equal(await c.call('FLUSHDB'), '+OK\r\n');
    assert.equal(await c.call('DBSIZE'), ':0\r\n');
    assert.equal(await c.call('SET', 'x', '1'), '+OK\r\n');
    assert.equal(await c.call('FLUSHALL', 'ASYNC'), '+OK\r\n');
    assert.equal(await c.call('DBSIZE'), ':0\r\n');
  }));

test('PING ECHO SELECT TIME INFO CONFIG GET COMMAND CLIENT', { timeout: 30_000 }, () =>
  withClient(async (c, h) => {
    assert.equal(await c.call('PING'), '+PONG\r\n');
    assert.equal(await c.call('PING', 'hi'), bulk('hi'));
    assert.equal(await c.call('PING', 'a', 'b'), "-ERR wrong number of arguments for 'ping' command\r\n");
    assert.equal(await c.call('ECHO', 'x\r\ny'), bulk('x\r\ny'));
    assert.equal(await c.call('SELECT', '0'), '+OK\r\n');
    assert.equal(await c.call('SELECT', '1'), '-ERR DB index is out of range\r\n');
    assert.equal(await c.call('SELECT', 'x'), '-ERR value is not an integer or out of range\r\n');
    assert.equal(await c.call('TIME'), `*2\r\n${bulk(String(T0_MS / 1000))}${bulk('0')}`);
    const info = await c.call('INFO');
    for (const section of ['# Server', '# Clients', '# Memory', '# Stats', '# Keyspace']) assert.ok(info.includes(`${section}\r\n`), section);
    assert.match(info, /redis_version:7\.\d+\.\d+\r\n/);
    assert.match(info, /connected_clients:1\r\n/);
    assert.match(info, new RegExp(`tcp_port:${h.port}\\r\\n`));
    const server = await c.call('INFO', 'server');
    assert.ok(!server.includes('# Clients'));
    assert.equal(await c.call('CONFIG', 'GET', 'save'), `*2\r\n${bulk('save')}${bulk('')}`);
    assert.equal(await c.call('CONFIG', 'GET', 'appendonly'), `*2\r\n${bulk('appendonly')}${bulk('yes')}`);
    assert.equal(await c.call('CONFIG', 'GET', 'MAXMEM*', 'databases'), `*6\r\n${bulk('maxmemory')}${bulk('0')}${bulk('maxmemory-policy')}${bulk('noeviction')}${bulk('databases')}${bulk('1')}`);
    assert.equal(await c.call('CONFIG', 'GET', 'nothing-like-this'), '*0\r\n');
    assert.equal(await c.call('CONFIG', 'GET'), "-ERR wrong number of arguments for 'config|get' command\r\n");
    assert.equal(await c.call('CONFIG', 'FROB'), "-ERR unknown subcommand 'FROB'. Try CONFIG HELP.\r\n");
    const count = Number(/^:(\d+)/.exec(await c.call('COMMAND', 'COUNT'))![1]);
    assert.ok(count >= 45, `COMMAND COUNT ${count}`);
    assert.match(await c.call('COMMAND'), new RegExp(`^\\*${count}\\r\\n`));
    assert.equal(
      await c.call('COMMAND', 'INFO', 'get', 'nosuch'),
      `*2\r\n*10\r\n${bulk('get')}:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n$-1\r\n`,
    );
    assert.match(await c.call('COMMAND', 'DOCS', 'set'), /^\*2\r\n\$3\r\nset\r\n\*6\r\n\$7\r\nsummary\r\n/);
    assert.match(await c.call('CLIENT', 'ID'), /^:\d+\r\n$/);
    assert.equal(await c.call('CLIENT', 'GETNAME'), '$-1\r\n');
    assert.equal(await c.call('CLIENT', 'SETNAME', 'has space'), '-ERR Client names cannot contain spaces, newlines or special characters.\r\n');
    assert.equal(await c.call('CLIENT', 'SETNAME', 'worker-1'), '+OK\r\n');
    assert.equal(await c.call('CLIENT', 'GETNAME'), bulk('worker-1'));
    assert.equal(await c.call('CLIENT', 'SETINFO', 'LIB-NAME', 'raw'), '+OK\r\n');
    assert.match(await c.call('CLIENT', 'LIST'), /id=\d+ addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:\d+ .*name=worker-1 .*resp=2 lib-name=raw/);
    assert.equal(await c.call('CLIENT', 'SETNAME'), "-ERR wrong number of arguments for 'client|setname' command\r\n");
    assert.equal(await c.call('CLIENT', 'KILLALL'), "-ERR unknown subcommand 'KILLALL'. Try CLIENT HELP.\r\n");
  }));

test('HELLO 3 switches to RESP3: maps, nulls, doubles-as-bulk kept where Redis keeps them, verbatim INFO', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    assert.equal(await c.call('HELLO', '4'), '-NOPROTO unsupported protocol version\r\n');
    assert.equal(await c.call('HELLO', 'x'), '-ERR Protocol version is not an integer or out of range\r\n');
    assert.equal(await c.call('HELLO', '3', 'BOGUS'), "-ERR Syntax error in HELLO option 'BOGUS'\r\n");
    assert.equal(await c.call('GET', 'nope'), '$-1\r\n', 'still RESP2 after failed HELLOs');
    const hello = await c.call('HELLO', '3', 'SETNAME', 'r3');
    assert.match(hello, /^%7\r\n\$6\r\nserver\r\n\$5\r\nredis\r\n\$7\r\nversion\r\n\$5\r\n7\.\d\.\d\r\n\$5\r\nproto\r\n:3\r\n\$2\r\nid\r\n:\d+\r\n\$4\r\nmode\r\n\$10\r\nstandalone\r\n\$4\r\nrole\r\n\$6\r\nmaster\r\n\$7\r\nmodules\r\n\*0\r\n$/);
    assert.equal(await c.call('GET', 'nope'), '_\r\n');
    assert.equal(await c.call('MGET', 'nope', 'nope'), '*2\r\n_\r\n_\r\n');
    assert.equal(await c.call('CLIENT', 'GETNAME'), bulk('r3'));
    assert.equal(await c.call('CONFIG', 'GET', 'databases'), `%1\r\n${bulk('databases')}${bulk('1')}`);
    assert.match(await c.call('INFO', 'server'), /^=\d+\r\ntxt:# Server\r\n/);
    assert.equal(await c.call('INCRBYFLOAT', 'f', '1.5'), bulk('1.5'));
    assert.match(await c.call('HELLO', '2'), /^\*14\r\n/);
    assert.equal(await c.call('GET', 'nope'), '$-1\r\n');
  }));

test('a pipeline in one write: replies in order, GETs see earlier SETs of the same pipeline, HELLO switches mid-pipeline', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    const parts: string[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 200; i++) {
      parts.push(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${String(i).length}\r\n${i}\r\n`, '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n', '*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n');
      expected.push('+OK\r\n', bulk(String(i)), `:${i + 1}\r\n`);
    }
    parts.push('*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n', '*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n', '*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n', 'PING\r\n', '*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n', '*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n');
    c.send(parts.join(''));
    const got = await c.replies(expected.length + 6);
    assert.deepEqual(got.slice(0, expected.length), expected);
    const tail = got.slice(expected.length);
    assert.equal(tail[0], '$-1\r\n');
    assert.match(tail[1]!, /^%7\r\n/);
    assert.equal(tail[2], '_\r\n');
    assert.equal(tail[3], '+PONG\r\n');
    assert.match(tail[4]!, /^\*14\r\n/);
    assert.equal(tail[5], '$-1\r\n');
  }));

test('QUIT replies OK, runs nothing after it, and closes', { timeout: 30_000 }, () =>
  withClient(async (c, h) => {
    c.send('*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*1\r\n$4\r\nQUIT\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n');
    assert.deepEqual(await c.replies(2), ['+OK\r\n', '+OK\r\n']);
    await c.closed;
    assert.equal(c.unread, '');
    assert.deepEqual(await h.service.get(Buffer.from('a')), Buffer.from('1'));
    assert.equal(await h.service.get(Buffer.from('b')), undefined, 'the SET after QUIT did not run');
  }));

test('inline commands work as with telnet', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    c.send('SET greeting "hello world"\r\nGET greeting\r\nPING\n');
    assert.deepEqual(await c.replies(3), ['+OK\r\n', bulk('hello world'), '+PONG\r\n']);
  }));

test('metrics count each command by name and status', { timeout: 30_000 }, () =>
  withClient(async (c, h) => {
    await c.call('SET', 'a', '1');
    await c.call('GET', 'a');
    await c.call('GET', 'a');
    await c.call('INCR', 'a', 'b');
    await c.call('NOSUCH');
    const text = await h.metrics.text();
    assert.match(text, /strata_commands_total\{protocol="resp",command="get",status="ok"\} 2/);
    assert.match(text, /strata_commands_total\{protocol="resp",command="set",status="ok"\} 1/);
    assert.match(text, /strata_commands_total\{protocol="resp",command="unknown",status="error"\} 1/);
    assert.match(text, /strata_command_duration_seconds_count\{protocol="resp",command="get"\} 2/);
    assert.match(text, /strata_connections\{protocol="resp"\} 1/);
  }));

test('a client that half-closes right after sending still gets every reply, then the server closes', { timeout: 30_000 }, () =>
  withClient(async (c) => {
    c.socket.end('*3\r\n$3\r\nSET\r\n$1\r\nh\r\n$2\r\nhi\r\n*2\r\n$3\r\nGET\r\n$1\r\nh\r\nPING\r\n');
    assert.deepEqual(await c.replies(3), ['+OK\r\n', bulk('hi'), '+PONG\r\n']);
    await c.closed;
  }));

test('runs of plain GETs and SETs in one pipeline go to the service as getMany/setMany and reply exactly as one by one', { timeout: 30_000 }, () =>
  withClient(
    async (c, h) => {
      const service = h.service;
      const calls: string[] = [];
      const getMany = service.getMany.bind(service);
      const setMany = service.setMany.bind(service);
      service.getMany = (keys) => {
        calls.push(`getMany ${keys.map(String).join(',')}`);
        return getMany(keys);
      };
      service.setMany = (pairs, options) => {
        calls.push(`setMany ${pairs.map(([k, v]) => `${String(k)}=${String(v)}`).join(',')}`);
        return setMany(pairs, options);
      };
      const cmds: Array<Array<string | Buffer>> = [
        ['SET', 'a', '1'],
        ['SET', 'b', '2'],
        ['SET', 'a', '3'],
        ['GET', 'a'],
        ['GET', 'b'],
        ['GET', 'c'],
        ['SET', 'c', 'x'],
        ['GET', 'c'],
        ['GET', 'a', 'a'],
        ['SET', 'big', 'y'.repeat(101)],
        ['SET', 'd', '4', 'EX', '10'],
        ['GET', 'd'],
        ['SET', 'e', '5'],
        ['SET', 'f', '6'],
        ['MGET', 'e', 'f'],
        ['GET', 'e'],
        ['GET', 'f'],
      ];
      c.send(Buffer.concat(cmds.map((a) => encodeCommand(...a))));
      assert.deepEqual(await c.replies(cmds.length), [
        '+OK\r\n',
        '+OK\r\n',
        '+OK\r\n',
        bulk('3'),
        bulk('2'),
        '$-1\r\n',
        '+OK\r\n',
        bulk('x'),
        "-ERR wrong number of arguments for 'get' command\r\n",
        '-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n',
        '+OK\r\n',
        bulk('4'),
        '+OK\r\n',
        '+OK\r\n',
        `*2\r\n${bulk('5')}${bulk('6')}`,
        bulk('5'),
        bulk('6'),
      ]);
      assert.equal(await c.call('TTL', 'd'), ':10\r\n');
      assert.deepEqual(calls, ['setMany a=1,b=2,a=3', 'getMany a,b,c', 'setMany e=5,f=6', 'getMany e,f', 'getMany e,f']);
    },
    { limits: { valueBytesMax: 100 } },
  ));
