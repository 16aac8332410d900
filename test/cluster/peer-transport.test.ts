// PeerTransport over real TCP on 127.0.0.1 (port 0): Raft batches and
// requests both ways over one connection per pair, the simultaneous-dial
// tie-break, error propagation, timeouts, reconnect after a restart,
// blocking, queue bounds, backpressure, bad frames and mutual TLS. Waits on
// promises and events; `waitFor` polls only connection state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { ERROR_CODES, StrataError, isStrataError, type ErrorCode } from '../../src/base/index.js';
import { MessageType, type Message } from '../../src/replication/index.js';
import { FrameKind, PeerTransport, encodeFrame, type PeerTransportOptions } from '../../src/cluster/index.js';
import { makeTestCerts } from '../helpers/tls.js';

const CLUSTER = 'test-cluster';

function msg(from: string, to: string, n: number, data = new Uint8Array(0)): Message {
  return {
    type: MessageType.App,
    from,
    to,
    term: 1,
    index: n,
    logTerm: 1,
    entries: [{ term: 1, index: n + 1, type: 0, data }],
    commit: n,
    reject: false,
    rejectHint: 0,
    hintTerm: 0,
    context: undefined,
    snapshot: undefined,
  };
}

interface Received {
  group: string;
  msg: Message;
  from: string;
}

/** Raft messages a node received; `waitFor(n)` resolves once there are n. */
class Inbox {
  readonly items: Received[] = [];
  private waiters: Array<{ n: number; resolve(): void }> = [];
  push(r: Received): void {
    this.items.push(r);
    this.waiters = this.waiters.filter((w) => (this.items.length >= w.n ? (w.resolve(), false) : true));
  }
  waitFor(n: number, timeoutMs = 5000): Promise<void> {
    if (this.items.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inbox has ${this.items.length} of ${n} messages after ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
  commits(): number[] {
    return this.items.map((r) => r.msg.commit);
  }
}

interface TestNode {
  id: string;
  t: PeerTransport;
  inbox: Inbox;
  errors: Error[];
  address: string;
}

type Book = Map<string, string>;

async function start(id: string, book: Book, extra: Partial<PeerTransportOptions> = {}): Promise<TestNode> {
  const inbox = new Inbox();
  const errors: Error[] = [];
  const t = await PeerTransport.listen({
    nodeId: id,
    clusterId: CLUSTER,
    host: '127.0.0.1',
    port: 0,
    resolve: (peer) => book.get(peer),
    onRaft: (group, m, from) => inbox.push({ group, msg: m, from }),
    onRequest: async (from, method, payload) => {
      switch (method) {
        case 'echo':
          return payload;
        case 'whoami':
          return Buffer.from(`${id}<-${from}`);
        case 'notFound':
          throw new StrataError(ERROR_CODES.NOT_FOUND, 'no such shard');
        case 'boom':
          throw new Error('kaboom');
        case 'hang':
          return new Promise<Uint8Array>(() => {});
        default:
          throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, `unknown method ${method}`);
      }
    },
    onError: (err) => errors.push(err),
    ...extra,
  });
  const address = `127.0.0.1:${t.port}`;
  book.set(id, address);
  return { id, t, inbox, errors, address };
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function peerStats(n: TestNode, peer: string) {
  return n.t.stats().peers.find((p) => p.nodeId === peer);
}

async function codeOf(p: Promise<unknown>): Promise<ErrorCode | string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return isStrataError(err) ? err.code : `not a StrataError: ${String(err)}`;
  }
}

const text = (b: Uint8Array) => Buffer.from(b).toString();

async function closeAll(nodes: TestNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.t.close()));
}

test('two nodes: raft batches and requests both ways over one connection', async () => {
  const book: Book = new Map();
  const a = await start('a', book);
  const b = await start('b', book);
  try {
    // Three messages in one tick leave as one RAFT_BATCH frame.
    for (let i = 1; i <= 3; i++) a.t.sendRaft('b', 'g1', msg('a', 'b', i));
    await b.inbox.waitFor(3);
    assert.deepEqual(b.inbox.commits(), [1, 2, 3]);
    assert.deepEqual(b.inbox.items[0], { group: 'g1', msg: msg('a', 'b', 1), from: 'a' });
    assert.equal(peerStats(a, 'b')?.sentFrames, 1);

    b.t.sendRaft('a', 'g2', msg('b', 'a', 9));
    await a.inbox.waitFor(1);
    assert.deepEqual(a.inbox.items[0], { group: 'g2', msg: msg('b', 'a', 9), from: 'b' });

    assert.equal(text(await a.t.request('b', 'whoami', new Uint8Array(0))), 'b<-a');
    assert.equal(text(await b.t.request('a', 'whoami', new Uint8Array(0))), 'a<-b');
    const big = new Uint8Array(300_000).map((_, i) => i & 0xff);
    assert.deepEqual(await a.t.request('b', 'echo', big), big);

    const sa = a.t.stats();
    const sb = b.t.stats();
    assert.equal(sa.dialedConnections + sb.dialedConnections, 1);
    assert.equal(sa.acceptedConnections + sb.acceptedConnections, 1);
    assert.deepEqual(
      sa.peers.map((p) => [p.nodeId, p.connected, p.queuedBytes, p.droppedMessages, p.reconnects]),
      [['b', true, 0, 0, 0]],
    );
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  } finally {
    await closeAll([a, b]);
  }
});

test('three nodes: every pair talks both ways over a single connection', async () => {
  const book: Book = new Map();
  const nodes = [await start('a', book), await start('b', book), await start('c', book)];
  try {
    for (const x of nodes) {
      for (const y of nodes) {
        if (x === y) continue;
        const before = y.inbox.items.length;
        x.t.sendRaft(y.id, 'g', msg(x.id, y.id, before));
        await y.inbox.waitFor(before + 1);
        assert.equal(y.inbox.items.at(-1)?.from, x.id);
        assert.equal(text(await x.t.request(y.id, 'whoami', new Uint8Array(0))), `${y.id}<-${x.id}`);
      }
    }
    const stats = nodes.map((n) => n.t.stats());
    assert.equal(stats.reduce((s, x) => s + x.dialedConnections, 0), 3);
    assert.equal(stats.reduce((s, x) => s + x.acceptedConnections, 0), 3);
    for (const s of stats) assert.deepEqual(s.peers.map((p) => p.connected), [true, true]);
  } finally {
    await closeAll(nodes);
  }
});

test('simultaneous dials: one connection survives (dialed by the smaller id) and nothing queued is lost', async () => {
  for (let round = 0; round < 5; round++) {
    const book: Book = new Map();
    const a = await start('a', book);
    const b = await start('b', book);
    try {
      // Same tick, no connection yet: both dial.
      for (let i = 0; i < 3; i++) {
        a.t.sendRaft('b', 'g', msg('a', 'b', i));
        b.t.sendRaft('a', 'g', msg('b', 'a', i));
      }
      const replies = await Promise.all([a.t.request('b', 'whoami', new Uint8Array(0)), b.t.request('a', 'whoami', new Uint8Array(0))]);
      assert.deepEqual(replies.map(text), ['b<-a', 'a<-b']);
      await Promise.all([a.inbox.waitFor(3), b.inbox.waitFor(3)]);
      assert.deepEqual(a.inbox.commits(), [0, 1, 2]);
      assert.deepEqual(b.inbox.commits(), [0, 1, 2]);
      assert.equal(a.t.stats().dialedConnections, 1);
      assert.equal(b.t.stats().dialedConnections, 1);
      await waitFor(() => peerStats(a, 'b')?.connected === true && peerStats(b, 'a')?.connected === true, 'both sides connected');
      // The survivor carries further traffic both ways without new dials.
      assert.equal(text(await b.t.request('a', 'whoami', new Uint8Array(0))), 'a<-b');
      assert.equal(text(await a.t.request('b', 'whoami', new Uint8Array(0))), 'b<-a');
      assert.equal(a.t.stats().dialedConnections + b.t.stats().dialedConnections, 2);
      assert.equal(peerStats(a, 'b')?.droppedMessages, 0);
      assert.equal(peerStats(b, 'a')?.droppedMessages, 0);
    } finally {
      await closeAll([a, b]);
    }
  }
});

test('a remote StrataError keeps its code and message; other errors become UNAVAILABLE', async () => {
  const book: Book = new Map();
  const a = await start('a', book);
  const b = await start('b', book);
  try {
    await assert.rejects(a.t.request('b', 'notFound', new Uint8Array(0)), (err) => isStrataError(err, ERROR_CODES.NOT_FOUND) && err.message === 'no such shard');
    await assert.rejects(a.t.request('b', 'boom', new Uint8Array(0)), (err) => isStrataError(err, ERROR_CODES.UNAVAILABLE) && /internal error: kaboom/.test(err.message));
    assert.ok(b.errors.some((e) => /kaboom/.test(e.message)));
    assert.equal(await codeOf(a.t.request('a', 'echo', new Uint8Array(0))), ERROR_CODES.INVALID_ARGUMENT);
  } finally {
    await closeAll([a, b]);
  }
});

test('a request times out with UNAVAILABLE and the connection stays usable', async () => {
  const book: Book = new Map();
  const a = await start('a', book);
  const b = await start('b', book);
  try {
    await assert.rejects(a.t.request('b', 'hang', new Uint8Array(0), 100), (err) => isStrataError(err, ERROR_CODES.UNAVAILABLE) && /timed out/.test(err.message));
    assert.equal(text(await a.t.request('b', 'whoami', new Uint8Array(0))), 'b<-a');
    assert.equal(peerStats(a, 'b')?.reconnects, 0);
  } finally {
    await closeAll([a, b]);
  }
});

test('a killed peer fails pending requests with UNAVAILABLE; after a restart on the same port traffic flows again', async () => {
  const book: Book = new Map();
  const a = await start('a', book);
  const b = await start('b', book);
  let b2: TestNode | undefined;
  try {
    assert.equal(text(await a.t.request('b', 'whoami', new Uint8Array(0))), 'b<-a');
    const pending = a.t.request('b', 'hang', new Uint8Array(0), 10_000);
    await b.t.close();
    await assert.rejects(pending, (err) => isStrataError(err, ERROR_CODES.UNAVAILABLE) && /lost/.test(err.message));
    // While b is down: connect failures, reported, requests fail fast.
    assert.equal(await codeOf(a.t.request('b', 'whoami', new Uint8Array(0))), ERROR_CODES.UNAVAILABLE);

    b2 = await start('b', new Map(book), { port: b.t.port });
    assert.equal(b2.t.port, b.t.port);
    // The request waits out a's backoff, then redials.
    assert.equal(text(await a.t.request('b', 'whoami', new Uint8Array(0))), 'b<-a');
    a.t.sendRaft('b', 'g', msg('a', 'b', 42));
    await b2.inbox.waitFor(1);
    assert.equal(b2.inbox.items[0]?.msg.commit, 42);
    assert.ok((peerStats(a, 'b')?.reconnects ?? 0) >= 1);
    assert.ok(a.errors.some((e) => isStrataError(e, ERROR_CODES.UNAVAILABLE)));
  } finally {
    await closeAll(b2 ? [a, b, b2] : [a, b]);
  }
});

test('disconnect drops the connection; the next send reconnects', async () => {
  const book: Book = new Map();
  const a = await start('a', book);
  const b = await start('b', book);
  try {
    a.t.sendRaft('b', 'g', msg('a', 'b', 1));
    await b.inbox.waitFor(1);
    a.t.disconnect('b');
    assert.equal(peerStats(a, 'b')?.connected, false);
    await waitFor(() => peerStats(b, 'a')?.connected === false, 'b to see the close');
    a.t.sendRaft('b', 'g', msg('a', 'b', 2));
    await b.inbox.waitFor(2);
    assert.equal(peerStats(a, 'b')?.reconnects, 1);
  } finally {
    await closeAll([a, b]);
  }
});

test('setBlocked drops traffic both ways until lifted', async () => {
  const book: Book = new Map();
  const a = await start('a', book);
  const b = await start('b', book);
  try {
    a.t.sendRaft('b', 'g', msg('a', 'b', 1));
    await b.inbox.waitFor(1);
    b.t.sendRaft('a', 'g', msg('b', 'a', 1));
    await a.inbox.waitFor(1);

    a.t.setBlocked(['b']);
    a.t.sendRaft('b', 'g', msg('a', 'b', 2)); // dropped at a
    assert.equal(peerStats(a, 'b')?.droppedMessages, 1);
    assert.equal(await codeOf(a.t.request('b', 'whoami', new Uint8Array(0))), ERROR_CODES.UNAVAILABLE);
    b.t.sendRaft('a', 'g', msg('b', 'a', 2)); // dropped on receipt at a
    assert.equal(await codeOf(b.t.request('a', 'whoami', new Uint8Array(0), 200)), ERROR_CODES.UNAVAILABLE);

    a.t.setBlocked([]);
    a.t.sendRaft('b', 'g', msg('a', 'b', 3));
    b.t.sendRaft('a', 'g', msg('b', 'a', 3));
    await Promise.all([a.inbox.waitFor(2), b.inbox.waitFor(2)]);
    // One ordered connection each way: had 2 got through, it would have come before 3.
    assert.deepEqual(b.inbox.commits(), [1, 3]);
    assert.deepEqual(a.inbox.commits(), [1, 3]);
    assert.equal(text(await b.t.request('a', 'whoami', new Uint8Array(0))), 'a<-b');
  } finally {
    await closeAll([a, b]);
  }
});

test('the outbound queue is bounded: raft messages are dropped and counted, requests fail with LIMIT_EXCEEDED', async () => {
  const book: Book = new Map();
  const a = await start('a', book, { maxQueueBytes: 1000 });
  const b = await start('b', book);
  try {
    // All in one tick, before the connection is up: the first fills the queue.
    const data = new Uint8Array(600);
    for (let i = 0; i < 3; i++) a.t.sendRaft('b', 'g', msg('a', 'b', i, data));
    assert.equal(await codeOf(a.t.request('b', 'echo', data)), ERROR_CODES.LIMIT_EXCEEDED);
    assert.equal(peerStats(a, 'b')?.droppedMessages, 2);
    await b.inbox.waitFor(1);
    assert.equal(text(await a.t.request('b', 'whoami', new Uint8Array(0))), 'b<-a');
    assert.deepEqual(b.inbox.commits(), [0]);
  } finally {
    await closeAll([a, b]);
  }
});

test('backpressure: a burst far above the socket buffer arrives complete and in order', async () => {
  const book: Book = new Map();
  const a = await start('a', book);
  const b = await start('b', book);
  try {
    const data = new Uint8Array(64 * 1024).fill(7);
    let sent = 0;
    for (let tick = 0; tick < 40; tick++) {
      for (let i = 0; i < 10; i++) a.t.sendRaft('b', 'g', msg('a', 'b', sent++, data));
      await new Promise((r) => setImmediate(r));
    }
    await b.inbox.waitFor(sent, 20_000);
    assert.deepEqual(b.inbox.commits(), Array.from({ length: sent }, (_, i) => i));
    assert.ok(b.inbox.items.every((r) => r.msg.entries[0]!.data.length === data.length));
    const s = peerStats(a, 'b')!;
    assert.equal(s.droppedMessages, 0);
    assert.equal(s.queuedBytes, 0);
    assert.ok(s.sentFrames <= 40 * 2, `${s.sentFrames} frames`);
  } finally {
    await closeAll([a, b]);
  }
});

test('a request to an address reaches a node whose id is not known yet, and the connection is reused', async () => {
  const book: Book = new Map();
  const a = await start('a', book);
  const b = await start('b', book);
  book.delete('b'); // a cannot resolve b
  try {
    assert.equal(text(await a.t.request({ address: b.address }, 'whoami', new Uint8Array(0))), 'b<-a');
    assert.equal(peerStats(a, 'b')?.connected, true);
    assert.equal(text(await a.t.request('b', 'whoami', new Uint8Array(0))), 'b<-a');
    assert.equal(a.t.stats().dialedConnections, 1);
    assert.equal(await codeOf(a.t.request({ address: '127.0.0.1:1' }, 'whoami', new Uint8Array(0))), ERROR_CODES.UNAVAILABLE);
    assert.equal(await codeOf(a.t.request({ address: 'nonsense' }, 'whoami', new Uint8Array(0))), ERROR_CODES.INVALID_ARGUMENT);
    // Unknown address for an id: unreachable at once.
    assert.equal(await codeOf(a.t.request('zz', 'whoami', new Uint8Array(0))), ERROR_CODES.UNAVAILABLE);
  } finally {
    await closeAll([a, b]);
  }
});

test('a peer of another cluster is refused', async () => {
  const book: Book = new Map();
  const a = await start('a', book);
  const x = await start('x', book, { clusterId: 'other' });
  try {
    assert.equal(await codeOf(x.t.request('a', 'whoami', new Uint8Array(0), 1000)), ERROR_CODES.UNAVAILABLE);
    assert.ok(a.errors.some((e) => isStrataError(e, ERROR_CODES.PERMISSION_DENIED) && /cluster/.test(e.message)));
  } finally {
    await closeAll([a, x]);
  }
});

/** A raw socket to `node`; resolves when it is connected. */
async function rawSocket(node: TestNode): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port: node.t.port });
  await once(s, 'connect');
  s.on('error', () => {}); // the transport may reset it
  return s;
}

test('an oversize or corrupt frame closes that connection and is reported; the node keeps serving', async () => {
  const book: Book = new Map();
  const a = await start('a', book, { maxFrameBytes: 4096 });
  const b = await start('b', book);
  try {
    // A header announcing 1 MiB: refused before the body arrives.
    const s1 = await rawSocket(a);
    const header = Buffer.alloc(8);
    header.writeUInt32LE(1024 * 1024, 0);
    s1.write(header);
    await once(s1, 'close');
    await waitFor(() => a.errors.some((e) => isStrataError(e, ERROR_CODES.PROTOCOL) && /limit/.test(e.message)), 'the oversize report');

    // A HELLO with a flipped checksum bit.
    const s2 = await rawSocket(a);
    const hello = Buffer.from(encodeFrame({ kind: FrameKind.Hello, nodeId: 'evil', clusterId: CLUSTER, protocolVersion: 1 }));
    hello[4]! ^= 1;
    s2.write(hello);
    await once(s2, 'close');
    await waitFor(() => a.errors.some((e) => isStrataError(e, ERROR_CODES.CORRUPTION)), 'the checksum report');

    // A well-formed frame that is not HELLO first.
    const s3 = await rawSocket(a);
    s3.write(encodeFrame({ kind: FrameKind.Request, id: 1, method: 'whoami', payload: new Uint8Array(0) }));
    await once(s3, 'close');

    // A real peer sending a frame above a's limit loses its connection (and the request), then recovers.
    assert.equal(await codeOf(b.t.request('a', 'echo', new Uint8Array(10_000))), ERROR_CODES.UNAVAILABLE);
    assert.equal(text(await b.t.request('a', 'whoami', new Uint8Array(0))), 'a<-b');
    // And a's own oversize request fails locally.
    assert.equal(await codeOf(a.t.request('b', 'echo', new Uint8Array(10_000))), ERROR_CODES.LIMIT_EXCEEDED);
  } finally {
    await closeAll([a, b]);
  }
});

test('close fails pending requests and refuses new ones', async () => {
  const book: Book = new Map();
  const a = await start('a', book);
  const b = await start('b', book);
  try {
    const pending = a.t.request('b', 'hang', new Uint8Array(0), 10_000);
    await waitFor(() => peerStats(a, 'b')?.connected === true, 'the connection');
    await a.t.close();
    assert.equal(await codeOf(pending), ERROR_CODES.CLOSED);
    assert.equal(await codeOf(a.t.request('b', 'whoami', new Uint8Array(0))), ERROR_CODES.CLOSED);
    a.t.sendRaft('b', 'g', msg('a', 'b', 1)); // no throw
  } finally {
    await closeAll([a, b]);
  }
});

test('mutual TLS: peers with CA-signed certificates talk; a certificate from another CA is refused', async () => {
  const certs = makeTestCerts();
  const rogue = makeTestCerts();
  const tls = { cert: certs.cert, key: certs.key, ca: certs.ca };
  const book: Book = new Map();
  const a = await start('a', book, { tls });
  const b = await start('b', book, { tls });
  // Trusts the cluster CA but presents a certificate it did not sign.
  const x = await start('x', book, { tls: { cert: rogue.cert, key: rogue.key, ca: certs.ca } });
  try {
    a.t.sendRaft('b', 'g', msg('a', 'b', 5));
    await b.inbox.waitFor(1);
    assert.equal(text(await b.t.request('a', 'whoami', new Uint8Array(0))), 'a<-b');
    assert.equal(text(await a.t.request('b', 'whoami', new Uint8Array(0))), 'b<-a');

    assert.equal(await codeOf(x.t.request('a', 'whoami', new Uint8Array(0), 1000)), ERROR_CODES.UNAVAILABLE);
    await waitFor(() => a.errors.some((e) => /TLS/.test(e.message)), 'a to report the refused handshake');
    // And a refuses x's server certificate when it dials x.
    assert.equal(await codeOf(a.t.request('x', 'whoami', new Uint8Array(0), 1000)), ERROR_CODES.UNAVAILABLE);
    assert.equal(x.inbox.items.length, 0);
  } finally {
    await closeAll([a, b, x]);
  }
});
