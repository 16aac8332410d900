// Users and roles on the RESP front end: NOAUTH before authentication (only
// AUTH, HELLO and QUIT run), AUTH in both forms, HELLO 3 AUTH ... SETNAME,
// WRONGPASS, and NOPERM for writes by a read-only user; plus AUTH on a
// server without users. Users come from hashPassword, as in the config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { hashPassword } from '../../../src/server/auth.js';
import type { UserConfig } from '../../../src/server/auth.js';
import { RawClient, bulk, startHarness } from './harness.js';

// scrypt is slow on purpose: hash once for the whole file (a fixed salt keeps it deterministic).
const USERS: UserConfig[] = [
  { name: 'default', passwordHash: hashPassword('default-secret', Buffer.from('0123456789abcdef')), role: 'read-write' },
  { name: 'alice', passwordHash: hashPassword('alice-secret', Buffer.from('fedcba9876543210')), role: 'read-write' },
  { name: 'reader', passwordHash: hashPassword('reader-secret', Buffer.from('00112233445566778899')), role: 'read-only' },
];

test('before AUTH only AUTH, HELLO and QUIT run; others get NOAUTH', { timeout: 30_000 }, async () => {
  const h = await startHarness({ users: USERS });
  const c = await RawClient.connect(h.port);
  try {
    assert.equal(await c.call('GET', 'k'), '-NOAUTH Authentication required.\r\n');
    assert.equal(await c.call('PING'), '-NOAUTH Authentication required.\r\n');
    assert.equal(await c.call('SET', 'k', 'v'), '-NOAUTH Authentication required.\r\n');
    assert.equal(await c.call('NOSUCH'), "-ERR unknown command 'NOSUCH', with args beginning with: \r\n", 'as in Redis, unknown commands are reported first');
    assert.equal(
      await c.call('HELLO', '3'),
      '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n',
    );
    assert.equal(await c.call('AUTH', 'wrong'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    assert.equal(await c.call('AUTH', 'alice', 'wrong'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    assert.equal(await c.call('AUTH', 'nobody', 'x'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    assert.equal(await c.call('AUTH', 'a', 'b', 'c'), '-ERR syntax error\r\n');
    assert.equal(await c.call('GET', 'k'), '-NOAUTH Authentication required.\r\n');
    assert.equal(await c.call('AUTH', 'default-secret'), '+OK\r\n', 'the one-argument form is the default user');
    assert.equal(await c.call('SET', 'k', 'v'), '+OK\r\n');
    assert.equal(await c.call('QUIT'), '+OK\r\n');
    await c.closed;
    assert.match(await h.metrics.text(), /strata_rejected_total\{protocol="resp",reason="auth"\} [1-9]/);
  } finally {
    c.close();
    await h.close();
  }
});

test('HELLO 3 AUTH user pass SETNAME authenticates and switches protocol at once; a read-only user gets NOPERM on writes', { timeout: 30_000 }, async () => {
  const h = await startHarness({ users: USERS });
  const c = await RawClient.connect(h.port);
  const r = await RawClient.connect(h.port);
  try {
    assert.equal(await c.call('HELLO', '3', 'AUTH', 'alice', 'nope'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    assert.match(await c.call('HELLO', '3', 'AUTH', 'alice', 'alice-secret', 'SETNAME', 'app'), /^%7\r\n/);
    assert.equal(await c.call('SET', 'k', 'v'), '+OK\r\n');
    assert.equal(await c.call('CLIENT', 'GETNAME'), bulk('app'));
    assert.match(await c.call('CLIENT', 'LIST'), /name=app .*user=alice/);
    assert.equal(await r.call('AUTH', 'reader', 'reader-secret'), '+OK\r\n');
    assert.equal(await r.call('GET', 'k'), bulk('v'));
    assert.equal(await r.call('SET', 'k', 'x'), "-NOPERM this user has no permissions to run the 'set' command\r\n");
    assert.equal(await r.call('INCR', 'n'), "-NOPERM this user has no permissions to run the 'incr' command\r\n");
    assert.equal(await r.call('DEL', 'k'), "-NOPERM this user has no permissions to run the 'del' command\r\n");
    assert.equal(await r.call('FLUSHDB'), "-NOPERM this user has no permissions to run the 'flushdb' command\r\n");
    assert.equal(await r.call('EXISTS', 'k'), ':1\r\n');
    assert.deepEqual(await h.service.get(Buffer.from('k')), Buffer.from('v'), 'nothing the reader tried was written');
  } finally {
    c.close();
    r.close();
    await h.close();
  }
});

test('ioredis authenticates with username and password; a wrong password fails the connection', { timeout: 30_000 }, async () => {
  const h = await startHarness({ users: USERS });
  const good = new Redis({ host: '127.0.0.1', port: h.port, username: 'alice', password: 'alice-secret', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const bad = new Redis({ host: '127.0.0.1', port: h.port, username: 'alice', password: 'wrong', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const errors: string[] = [];
  bad.on('error', (err: Error) => errors.push(err.message));
  try {
    await good.connect();
    assert.equal(await good.set('x', '1'), 'OK');
    await assert.rejects(bad.connect());
    assert.ok(
      errors.some((m) => m.includes('WRONGPASS')),
      errors.join('; '),
    );
  } finally {
    good.disconnect();
    bad.disconnect();
    await h.close();
  }
});

test('without users every client is the read-write default user; AUTH <password> is refused as in Redis', { timeout: 30_000 }, async () => {
  const h = await startHarness();
  const c = await RawClient.connect(h.port);
  try {
    assert.equal(await c.call('SET', 'k', 'v'), '+OK\r\n');
    assert.equal(await c.call('AUTH', 'whatever'), '-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n');
    assert.equal(await c.call('AUTH', 'default', 'anything'), '+OK\r\n');
    assert.equal(await c.call('AUTH', 'someone', 'anything'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
  } finally {
    c.close();
    await h.close();
  }
});
