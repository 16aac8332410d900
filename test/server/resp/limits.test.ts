// Limits on the RESP front end: max clients, value and request sizes, a
// protocol error closing only its own connection, pipeline depth as
// backpressure (not an error), the output buffer of a client that does not
// read, idle connections, and a graceful close that finishes in-flight work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, bulk, encodeCommand, startHarness } from './harness.js';

test('clientsMax: the extra client gets an error and is closed; a freed slot is reusable', { timeout: 30_000 }, async () => {
  const h = await startHarness({ limits: { clientsMax: 2 } });
  const a = await RawClient.connect(h.port);
  const b = await RawClient.connect(h.port);
  try {
    assert.equal(await a.call('PING'), '+PONG\r\n');
    assert.equal(await b.call('PING'), '+PONG\r\n');
    const extra = await RawClient.connect(h.port);
    assert.equal(await extra.reply(), '-ERR max number of clients reached\r\n');
    await extra.closed;
    assert.equal(await a.call('PING'), '+PONG\r\n', 'the others are unaffected');
    b.close();
    await b.closed;
    // The server notices b's close before accepting a new client only once it processed it: wait for the count.
    while (h.server.clientCount() > 1) await new Promise((r) => setImmediate(r));
    const c = await RawClient.connect(h.port);
    assert.equal(await c.call('PING'), '+PONG\r\n');
    c.close();
    assert.match(await h.metrics.text(), /strata_rejected_total\{protocol="resp",reason="limit"\} 1/);
  } finally {
    a.close();
    await h.close();
  }
});

test('a value over valueBytesMax is refused with clear words and the connection stays usable; a key over keyBytesMax too', { timeout: 30_000 }, async () => {
  const h = await startHarness({ limits: { valueBytesMax: 1000, keyBytesMax: 100 } });
  const c = await RawClient.connect(h.port);
  try {
    assert.equal(await c.call('SET', 'k', 'x'.repeat(1001)), '-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n');
    assert.equal(await c.call('APPEND', 'k', 'x'.repeat(1001)), '-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n');
    assert.equal(await c.call('MSET', 'a', '1', 'b', 'x'.repeat(1001)), '-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n');
    assert.equal(await c.call('SET', 'k'.repeat(101), 'v'), '-ERR key is 101 bytes, over the limit of 100 bytes\r\n');
    assert.equal(await c.call('SET', 'k', 'x'.repeat(1000)), '+OK\r\n');
    assert.equal(await c.call('GET', 'a'), '$-1\r\n');
    assert.equal(await c.call('STRLEN', 'k'), ':1000\r\n');
  } finally {
    c.close();
    await h.close();
  }
});

test('a request over requestBytesMax and a protocol error close only that connection', { timeout: 30_000 }, async () => {
  const h = await startHarness({ limits: { requestBytesMax: 4096 } });
  const bystander = await RawClient.connect(h.port);
  try {
    const big = await RawClient.connect(h.port);
    big.send(encodeCommand('SET', 'k', 'x'.repeat(5000)));
    assert.equal(await big.reply(), '-ERR Protocol error: invalid bulk length\r\n');
    await big.closed;
    const bad = await RawClient.connect(h.port);
    bad.send('*2\r\n$4\r\nECHO\r\n$2\r\nok\r\n*1\r\n$x\r\n*1\r\n$4\r\nPING\r\n');
    assert.equal(await bad.reply(), bulk('ok'), 'commands before the bad bytes still run');
    assert.equal(await bad.reply(), '-ERR Protocol error: invalid bulk length\r\n');
    await bad.closed;
    assert.equal(bad.unread, '', 'nothing after the error ran');
    const star = await RawClient.connect(h.port);
    star.send('*1\r\nxyz\r\n');
    assert.equal(await star.reply(), "-ERR Protocol error: expected '$', got 'x'\r\n");
    await star.closed;
    assert.equal(await bystander.call('PING'), '+PONG\r\n');
    assert.equal(await bystander.call('SET', 'k', 'x'.repeat(4000)), '+OK\r\n');
    await h.logged('protocol error');
    assert.match(await h.metrics.text(), /strata_rejected_total\{protocol="resp",reason="protocol"\} 3/);
  } finally {
    bystander.close();
    await h.close();
  }
});

test('pipelineDepthMax is backpressure: 500 commands through a depth of 4 all run, in order', { timeout: 30_000 }, async () => {
  const h = await startHarness({ limits: { pipelineDepthMax: 4 } });
  const c = await RawClient.connect(h.port);
  try {
    const cmds: Buffer[] = [];
    for (let i = 0; i < 500; i++) cmds.push(encodeCommand('INCR', 'n'));
    c.send(Buffer.concat(cmds));
    const replies = await c.replies(500);
    assert.deepEqual(
      replies,
      Array.from({ length: 500 }, (_, i) => `:${i + 1}\r\n`),
    );
  } finally {
    c.close();
    await h.close();
  }
});

test('a client that does not read its replies is disconnected past twice outputBufferBytesMax; others are unaffected', { timeout: 30_000 }, async () => {
  const h = await startHarness({ limits: { outputBufferBytesMax: 64 * 1024 } });
  const other = await RawClient.connect(h.port);
  const c = await RawClient.connect(h.port);
  try {
    assert.equal(await c.call('SET', 'big', Buffer.alloc(512 * 1024, 120)), '+OK\r\n');
    c.socket.pause();
    const gets: Buffer[] = [];
    for (let i = 0; i < 64; i++) gets.push(encodeCommand('GET', 'big'));
    c.send(Buffer.concat(gets));
    await h.logged('does not read its replies');
    while (h.server.clientCount() > 1) await new Promise((r) => setImmediate(r));
    assert.equal(await other.call('PING'), '+PONG\r\n');
  } finally {
    c.close();
    other.close();
    await h.close();
  }
});

test('idle connections are closed after idleTimeoutMs', { timeout: 30_000 }, async () => {
  const h = await startHarness({ limits: { idleTimeoutMs: 50 } });
  const c = await RawClient.connect(h.port);
  try {
    assert.equal(await c.call('PING'), '+PONG\r\n');
    await c.closed;
  } finally {
    c.close();
    await h.close();
  }
});

test('close() finishes in-flight commands and sends their replies, then ends the connection', { timeout: 30_000 }, async () => {
  const h = await startHarness();
  const c = await RawClient.connect(h.port);
  try {
    // Enough keys that KEYS takes several event-loop turns (the service yields while scanning).
    const mset: Buffer[] = [];
    for (let i = 0; i < 20; i++) mset.push(encodeCommand('MSET', ...Array.from({ length: 1000 }, (_, j) => [`key:${i}:${j}`, 'v']).flat()));
    c.send(Buffer.concat(mset));
    await c.replies(20);
    // Learn when KEYS is running (the real service, observed, not replaced).
    const service = h.service;
    const scan = service.scan.bind(service);
    let scanning: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (scanning = resolve));
    service.scan = (options) => {
      scanning();
      return scan(options);
    };
    c.send(Buffer.concat([encodeCommand('SET', 'a', '1'), encodeCommand('KEYS', 'key:*'), encodeCommand('GET', 'a')]));
    await started;
    const closing = h.server.close();
    assert.equal(await c.reply(), '+OK\r\n');
    assert.match(await c.reply(), /^\*20000\r\n/);
    assert.equal(await c.reply(), bulk('1'));
    await c.closed;
    await closing;
    await assert.rejects(RawClient.connect(h.port), 'no longer accepting');
  } finally {
    c.close();
    await h.close();
  }
});
