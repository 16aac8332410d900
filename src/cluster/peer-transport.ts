/**
 * TCP (optionally mutual-TLS) transport between cluster nodes: Raft messages,
 * batched per event-loop tick into one RAFT_BATCH frame per peer, and a small
 * request/response RPC, over ONE connection per pair of nodes.
 *
 * Connections. The dialer sends HELLO and waits; the acceptor decides whether
 * to keep the connection and, if so, answers HELLO. A HELLO answer therefore
 * means "the acceptor chose this connection", and the dialer drops any other
 * it had to that peer. When both nodes dial each other at once the acceptor
 * keeps the connection dialed by the smaller node id and closes the other
 * before answering, so both sides pick the same one. Nothing but HELLO is
 * written on a connection before it is chosen, and outbound traffic is queued
 * per peer rather than per connection, so losing the race loses nothing.
 *
 * Failures. A dial that fails before the TCP/TLS connection is up marks the
 * peer unreachable: its queued requests fail with UNAVAILABLE, queued Raft
 * messages are dropped (and counted), and Raft messages sent during the
 * backoff are dropped at once. A connection closed after connecting but
 * before HELLO (the tie-break above, or a refusal) keeps the queue and
 * redials after the backoff. Requests already written on a connection that
 * dies fail with UNAVAILABLE: whether the peer executed them is unknown, so
 * the caller decides about retries. A bad frame closes its connection.
 *
 * Node ids in HELLO are not authenticated beyond TLS (any certificate the
 * cluster CA signed may claim any id).
 */
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { ERROR_CODES, SeededRandom, StrataError, crc32c, invalidArgument, type ErrorCode, type Random } from '../base/index.js';
import type { Message } from '../replication/index.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameKind,
  PEER_PROTOCOL_VERSION,
  RAFT_BATCH_OVERHEAD_BYTES,
  encodeFrame,
  encodeRaftBatchFrame,
  encodeRaftMessage,
  raftBatchItemBytes,
  type EncodedRaftItem,
  type Frame,
  type RequestFrame,
  type ResponseFrame,
} from './wire.js';

export interface PeerTransportOptions {
  nodeId: string;
  /** HELLO carries it; a peer with another cluster id is refused (connection closed, reported via onError). */
  clusterId: string;
  /** Where to listen (port 0 = pick a free one). */
  host: string;
  port: number;
  /** The address ("host:port") of a peer node, from the shard map / config; undefined when unknown. Called on every (re)connect. */
  resolve(nodeId: string): string | undefined;
  onRaft(group: string, msg: Message, from: string): void;
  /**
   * Serves a request. A thrown StrataError becomes an error response with
   * its code and message; any other error becomes UNAVAILABLE ("internal
   * error: ...") and is reported via onError.
   */
  onRequest(from: string, method: string, payload: Uint8Array): Promise<Uint8Array>;
  /** Mutual TLS: both sides present certificates signed by `ca` and verify the peer's. */
  tls?: { cert: Buffer; key: Buffer; ca: Buffer };
  /** Largest frame body sent or accepted; default 64 MiB. */
  maxFrameBytes?: number;
  /**
   * Per-peer outbound queue bound; default 64 MiB. Raft messages beyond it
   * are dropped and counted, requests fail with LIMIT_EXCEEDED. An empty
   * queue always admits one item (itself bounded by maxFrameBytes).
   */
  maxQueueBytes?: number;
  /** Reconnect backoff: doubles from initialMs to maxMs, each delay jittered to 50..100%. Default 50 ms → 2 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** Source of the backoff jitter; default seeded from the node id. */
  random?: Random;
  /** Time allowed for connect, TLS and the HELLO exchange; default 5000 ms. */
  connectTimeoutMs?: number;
  onError?(err: Error): void;
}

export interface PeerStats {
  nodeId: string;
  connected: boolean;
  queuedBytes: number;
  sentFrames: number;
  /** Raft messages dropped: peer unreachable or blocked, queue full, unencodable. */
  droppedMessages: number;
  /** Times a connection to this peer was established after the first. */
  reconnects: number;
}

export interface PeerTransportStats {
  peers: PeerStats[];
  /** Connections this node accepted (every TCP connection, even refused ones) and dialed, since listen. */
  acceptedConnections: number;
  dialedConnections: number;
}

const DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024;
const DEFAULT_BACKOFF = { initialMs: 50, maxMs: 2000 };
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
/** TCP keepalive probes find peers that vanished without a FIN (power loss, partition). */
const KEEPALIVE_DELAY_MS = 10_000;
/** Error messages are clipped so that their UTF-8 fits a u16 length (3 bytes per UTF-16 unit at most). */
const ERROR_MESSAGE_CHARS_MAX = 16_384;
const KNOWN_CODES = new Set<string>(Object.values(ERROR_CODES));

function unavailable(message: string, cause?: unknown): StrataError {
  return new StrataError(ERROR_CODES.UNAVAILABLE, message, cause === undefined ? undefined : { cause });
}

function parseAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  let host = address.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (colon <= 0 || host === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalidArgument(`peer address ${JSON.stringify(address)} is not "host:port"`);
  }
  return { host, port };
}

type Outbound =
  | { kind: 'request'; id: number; bytes: Uint8Array }
  /** A response belongs to the connection its request came on; it is dropped if that one is gone. */
  | { kind: 'response'; conn: Conn; bytes: Uint8Array };

interface QueuedRaft extends EncodedRaftItem {
  size: number;
}

interface PendingRequest {
  id: number;
  resolve(payload: Uint8Array): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  /** The connection the request was written on; undefined while queued. */
  conn: Conn | undefined;
}

class Conn {
  readonly decoder: FrameDecoder;
  /** The peer: the dial target, else known from its HELLO. */
  peerId: string | undefined;
  /** Transport-level connection (TCP connect or TLS handshake) completed. */
  connected: boolean;
  /** HELLO exchanged and chosen as the peer's connection. */
  established = false;
  waitingDrain = false;
  closed = false;
  handshakeTimer: NodeJS.Timeout | undefined = undefined;
  /** Requests written here and not answered. */
  readonly inflight = new Set<number>();
  /** Requests to an address (peer id unknown) waiting for this dial's HELLO. */
  readonly addressRequests: Array<{ id: number; bytes: Uint8Array }> = [];

  constructor(
    readonly socket: Socket,
    readonly dialed: boolean,
    /** For error messages: the peer and its address. */
    public label: string,
    maxFrameBytes: number,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes);
    this.peerId = undefined;
    this.connected = !dialed;
  }
}

class Peer {
  /** The chosen connection; undefined while there is none. */
  conn: Conn | undefined = undefined;
  /** Our dial in progress (before HELLO). */
  dialing: Conn | undefined = undefined;
  backoffTimer: NodeJS.Timeout | undefined = undefined;
  backoffMs: number;
  /** The last dial failed to connect; Raft messages are dropped until the backoff ends. */
  unreachable = false;
  readonly frames: Outbound[] = [];
  readonly raft: QueuedRaft[] = [];
  queuedBytes = 0;
  sentFrames = 0;
  droppedMessages = 0;
  reconnects = 0;
  everEstablished = false;

  constructor(
    readonly id: string,
    initialBackoffMs: number,
  ) {
    this.backoffMs = initialBackoffMs;
  }

  hasQueued(): boolean {
    return this.frames.length > 0 || this.raft.length > 0;
  }
}

export class PeerTransport {
  private readonly server: Server;
  private listenPort = 0;
  private readonly peers = new Map<string, Peer>();
  private readonly conns = new Set<Conn>();
  /** Raw accepted sockets, TLS handshakes included, so close() can end them all. */
  private readonly acceptedSockets = new Set<Socket>();
  private readonly pending = new Map<number, PendingRequest>();
  private nextRequestId = 1;
  private blocked = new Set<string>();
  private readonly dirty = new Set<Peer>();
  private flushImmediate: NodeJS.Immediate | undefined = undefined;
  private closed = false;
  private acceptedCount = 0;
  private dialedCount = 0;
  private readonly maxFrameBytes: number;
  private readonly maxQueueBytes: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly connectTimeoutMs: number;
  private readonly random: Random;

  private constructor(private readonly opts: PeerTransportOptions) {
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxQueueBytes = opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.random = opts.random ?? new SeededRandom(crc32c(Buffer.from(opts.nodeId, 'utf8')));
    if (opts.nodeId === '') throw invalidArgument('nodeId must not be empty');
    if (!Number.isInteger(this.maxFrameBytes) || this.maxFrameBytes < 64 || this.maxFrameBytes > 0xffffffff) {
      throw invalidArgument(`maxFrameBytes must be an integer in [64, 2^32), got ${this.maxFrameBytes}`);
    }
    if (!Number.isInteger(this.maxQueueBytes) || this.maxQueueBytes < 1) throw invalidArgument(`maxQueueBytes must be a positive integer`);
    if (!(this.backoff.initialMs > 0 && this.backoff.maxMs >= this.backoff.initialMs)) throw invalidArgument('backoff needs 0 < initialMs <= maxMs');
    if (!(this.connectTimeoutMs > 0)) throw invalidArgument('connectTimeoutMs must be positive');

    const onSocket = (socket: Socket) => this.onAccept(socket);
    const tls = opts.tls;
    this.server = tls
      ? createTlsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, onSocket)
      : createTcpServer(onSocket);
    this.server.on('connection', (raw: Socket) => {
      this.acceptedCount++;
      this.acceptedSockets.add(raw);
      raw.once('close', () => this.acceptedSockets.delete(raw));
    });
    this.server.on('tlsClientError', (err: Error, socket: Socket) => {
      this.report(unavailable(`TLS handshake with ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} failed: ${err.message}`, err));
    });
    this.server.on('error', (err) => this.report(err));
  }

  static async listen(opts: PeerTransportOptions): Promise<PeerTransport> {
    const t = new PeerTransport(opts);
    await new Promise<void>((resolve, reject) => {
      t.server.once('error', reject);
      t.server.listen(opts.port, opts.host, () => {
        t.server.off('error', reject);
        resolve();
      });
    });
    t.listenPort = (t.server.address() as AddressInfo).port;
    return t;
  }

  get port(): number {
    return this.listenPort;
  }

  sendRaft(to: string, group: string, msg: Message): void {
    if (this.closed) return;
    const peer = this.peerFor(to);
    if (peer === undefined) return; // to this node itself: the Raft core never does that
    if (this.blocked.has(to) || peer.unreachable) {
      peer.droppedMessages++;
      return;
    }
    let item: QueuedRaft;
    try {
      const encoded = encodeRaftMessage(msg);
      item = { group, encoded, size: raftBatchItemBytes({ group, encoded }) };
    } catch (err) {
      peer.droppedMessages++;
      this.report(err);
      return;
    }
    if (RAFT_BATCH_OVERHEAD_BYTES - FRAME_HEADER_BYTES + item.size > this.maxFrameBytes) {
      peer.droppedMessages++;
      this.report(new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `raft message of ${item.size} bytes to ${to} exceeds the ${this.maxFrameBytes}-byte frame limit`));
      return;
    }
    if (!this.fits(peer, item.size)) {
      peer.droppedMessages++;
      return;
    }
    peer.raft.push(item);
    peer.queuedBytes += item.size;
    this.ensureConnection(peer);
    this.scheduleFlush(peer);
  }

  request(to: string | { address: string }, method: string, payload: Uint8Array, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new StrataError(ERROR_CODES.CLOSED, 'peer transport is closed'));
    if (!(timeoutMs > 0)) return Promise.reject(invalidArgument(`timeoutMs must be positive, got ${timeoutMs}`));
    if (typeof to === 'string' && to === this.opts.nodeId) return Promise.reject(invalidArgument('a node cannot send a request to itself'));
    const id = this.allocateRequestId();
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame({ kind: FrameKind.Request, id, method, payload });
    } catch (err) {
      return Promise.reject(err);
    }
    if (bytes.length - FRAME_HEADER_BYTES > this.maxFrameBytes) {
      return Promise.reject(new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `request of ${bytes.length} bytes exceeds the ${this.maxFrameBytes}-byte frame limit`));
    }
    const target = typeof to === 'string' ? `node ${to}` : to.address;
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => this.settle(id, unavailable(`request ${method} to ${target} timed out after ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(id, { id, resolve, reject, timer, conn: undefined });
      if (typeof to !== 'string') {
        this.requestAddress(to.address, id, bytes);
        return;
      }
      const peer = this.peerFor(to)!;
      if (this.blocked.has(to)) return this.settle(id, unavailable(`node ${to} is blocked`));
      if (!this.fits(peer, bytes.length)) {
        return this.settle(id, new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `outbound queue to node ${to} is full (${peer.queuedBytes} bytes)`));
      }
      peer.frames.push({ kind: 'request', id, bytes });
      peer.queuedBytes += bytes.length;
      this.ensureConnection(peer);
      this.scheduleFlush(peer);
    });
  }

  disconnect(nodeId: string): void {
    const peer = this.peers.get(nodeId);
    if (peer === undefined) return;
    // Not a failure: no backoff, the next send dials at once.
    for (const c of [peer.conn, peer.dialing]) if (c !== undefined) this.drop(c);
  }

  setBlocked(nodeIds: readonly string[]): void {
    this.blocked = new Set(nodeIds);
    for (const id of this.blocked) {
      const peer = this.peers.get(id);
      if (peer !== undefined) this.failQueued(peer, unavailable(`node ${id} is blocked`));
    }
  }

  stats(): PeerTransportStats {
    const peers = [...this.peers.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((p) => ({
        nodeId: p.id,
        connected: p.conn !== undefined,
        queuedBytes: p.queuedBytes,
        sentFrames: p.sentFrames,
        droppedMessages: p.droppedMessages,
        reconnects: p.reconnects,
      }));
    return { peers, acceptedConnections: this.acceptedCount, dialedConnections: this.dialedCount };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushImmediate !== undefined) clearImmediate(this.flushImmediate);
    this.flushImmediate = undefined;
    const err = new StrataError(ERROR_CODES.CLOSED, `peer transport of node ${this.opts.nodeId} is closed`);
    for (const peer of this.peers.values()) {
      clearTimeout(peer.backoffTimer);
      peer.backoffTimer = undefined;
    }
    for (const id of [...this.pending.keys()]) this.settle(id, err);
    for (const conn of [...this.conns]) this.drop(conn);
    for (const raw of this.acceptedSockets) raw.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ------------------------------------------------------------ connections

  private peerFor(id: string): Peer | undefined {
    if (id === this.opts.nodeId) return undefined;
    let peer = this.peers.get(id);
    if (peer === undefined) {
      peer = new Peer(id, this.backoff.initialMs);
      this.peers.set(id, peer);
    }
    return peer;
  }

  private ensureConnection(peer: Peer): void {
    if (this.closed || peer.conn !== undefined || peer.dialing !== undefined || peer.backoffTimer !== undefined) return;
    if (this.blocked.has(peer.id)) return;
    let address: string | undefined;
    try {
      address = this.opts.resolve(peer.id);
    } catch (err) {
      this.report(err);
    }
    let err: StrataError;
    if (address === undefined) err = unavailable(`no address known for node ${peer.id}`);
    else {
      try {
        peer.dialing = this.dial(address, peer.id);
        return;
      } catch (e) {
        // A malformed address from the shard map is, to the caller, an unreachable node.
        err = unavailable(`node ${peer.id} at ${JSON.stringify(address)}: ${e instanceof Error ? e.message : String(e)}`, e);
      }
    }
    this.report(err);
    this.unreachable(peer, err);
  }

  private requestAddress(address: string, id: number, bytes: Uint8Array): void {
    let conn: Conn;
    try {
      conn = this.dial(address, undefined);
    } catch (err) {
      return this.settle(id, err instanceof Error ? err : unavailable(String(err)));
    }
    conn.addressRequests.push({ id, bytes });
  }

  private dial(address: string, peerId: string | undefined): Conn {
    const { host, port } = parseAddress(address);
    const tls = this.opts.tls;
    const socket = tls ? tlsConnect({ host, port, cert: tls.cert, key: tls.key, ca: tls.ca, rejectUnauthorized: true }) : tcpConnect({ host, port });
    const conn = new Conn(socket, true, peerId === undefined ? address : `node ${peerId} (${address})`, this.maxFrameBytes);
    conn.peerId = peerId;
    this.dialedCount++;
    this.watch(conn);
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      conn.connected = true;
      socket.write(encodeFrame({ kind: FrameKind.Hello, nodeId: this.opts.nodeId, clusterId: this.opts.clusterId, protocolVersion: PEER_PROTOCOL_VERSION }));
    });
    return conn;
  }

  private onAccept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const conn = new Conn(socket, false, `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, this.maxFrameBytes);
    this.watch(conn);
  }

  private watch(conn: Conn): void {
    const socket = conn.socket;
    this.conns.add(conn);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    conn.handshakeTimer = setTimeout(() => this.drop(conn, unavailable(`${conn.label}: no HELLO within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
    let socketError: Error | undefined;
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('drain', () => {
      conn.waitingDrain = false;
      const peer = conn.peerId === undefined ? undefined : this.peers.get(conn.peerId);
      if (peer !== undefined && peer.conn === conn) this.flush(peer);
    });
    socket.on('error', (err) => {
      socketError = err;
    });
    socket.on('close', () => this.drop(conn, socketError === undefined ? undefined : unavailable(`${conn.label}: ${socketError.message}`, socketError)));
  }

  /**
   * Closes `conn` (idempotent) and settles what depended on it. Callers that
   * replace a connection unlink it from its peer first, so only a real loss
   * reaches the redial and unreachable paths below.
   */
  private drop(conn: Conn, err?: Error): void {
    if (conn.closed) return;
    conn.closed = true;
    this.conns.delete(conn);
    clearTimeout(conn.handshakeTimer);
    conn.socket.destroy();
    if (err !== undefined && !this.closed) this.report(err);
    const lost = unavailable(`connection to ${conn.label} lost${err === undefined ? '' : `: ${err.message}`}`, err);
    for (const id of conn.inflight) this.settle(id, lost);
    for (const r of conn.addressRequests) this.settle(r.id, lost);
    conn.addressRequests.length = 0;
    const peer = conn.peerId === undefined ? undefined : this.peers.get(conn.peerId);
    if (peer === undefined || this.closed) return;
    if (peer.conn === conn) {
      peer.conn = undefined;
      this.dropResponses(peer);
      if (peer.hasQueued()) this.ensureConnection(peer);
    } else if (peer.dialing === conn) {
      peer.dialing = undefined;
      if (!conn.connected) this.unreachable(peer, lost);
      else this.scheduleRedial(peer);
    }
  }

  /** A dial could not connect (already reported): fail what waits for this peer, back off. */
  private unreachable(peer: Peer, err: StrataError): void {
    peer.unreachable = true;
    this.failQueued(peer, err);
    this.scheduleRedial(peer);
  }

  private scheduleRedial(peer: Peer): void {
    if (peer.backoffTimer !== undefined || this.closed) return;
    const delayMs = Math.round(peer.backoffMs * (0.5 + 0.5 * this.random.float()));
    peer.backoffMs = Math.min(peer.backoffMs * 2, this.backoff.maxMs);
    peer.backoffTimer = setTimeout(() => {
      peer.backoffTimer = undefined;
      peer.unreachable = false;
      if (peer.hasQueued()) this.ensureConnection(peer);
    }, delayMs);
  }

  /** The HELLO exchange made `conn` the connection to `peerId`; any other goes. */
  private establish(conn: Conn, peerId: string): void {
    clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = undefined;
    conn.peerId = peerId;
    conn.established = true;
    conn.label = conn.dialed ? conn.label : `node ${peerId} (${conn.label})`;
    const peer = this.peerFor(peerId)!;
    const others = [peer.conn, peer.dialing].filter((c): c is Conn => c !== undefined && c !== conn);
    peer.conn = conn;
    peer.dialing = undefined;
    for (const c of others) this.drop(c);
    clearTimeout(peer.backoffTimer);
    peer.backoffTimer = undefined;
    peer.unreachable = false;
    peer.backoffMs = this.backoff.initialMs;
    if (peer.everEstablished) peer.reconnects++;
    peer.everEstablished = true;
    for (const r of conn.addressRequests) {
      peer.frames.push({ kind: 'request', id: r.id, bytes: r.bytes });
      peer.queuedBytes += r.bytes.length;
    }
    conn.addressRequests.length = 0;
    this.flush(peer);
  }

  /** The acceptor's half of the tie-break: keep a connection `remoteId` dialed? */
  private acceptorKeeps(peer: Peer, remoteId: string): boolean {
    const ours = peer.dialing ?? (peer.conn !== undefined && peer.conn.dialed ? peer.conn : undefined);
    // An accepted connection from the same peer is stale: the peer dials only when it has none.
    if (ours === undefined) return true;
    return remoteId < this.opts.nodeId;
  }

  // ------------------------------------------------------------ receiving

  private onData(conn: Conn, chunk: Buffer): void {
    if (conn.closed) return;
    conn.decoder.push(chunk);
    try {
      for (let f = conn.decoder.next(); f !== undefined; f = conn.decoder.next()) {
        this.onFrame(conn, f);
        if (conn.closed) return;
      }
    } catch (err) {
      const code = err instanceof StrataError ? err.code : ERROR_CODES.PROTOCOL;
      this.drop(conn, new StrataError(code, `${conn.label}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
  }

  private onFrame(conn: Conn, f: Frame): void {
    if (!conn.established) return this.onHandshake(conn, f);
    const from = conn.peerId!;
    if (this.blocked.has(from)) return;
    switch (f.kind) {
      case FrameKind.Hello:
        throw new StrataError(ERROR_CODES.PROTOCOL, 'a second HELLO on an established connection');
      case FrameKind.RaftBatch:
        for (const it of f.items) {
          if (conn.closed) return; // a handler disconnected or closed
          try {
            this.opts.onRaft(it.group, it.message, from);
          } catch (err) {
            this.report(err);
          }
        }
        return;
      case FrameKind.Request:
        return this.serve(conn, from, f);
      case FrameKind.Response: {
        const p = this.pending.get(f.id);
        if (p === undefined || p.conn !== conn) return; // timed out already
        if (f.ok) return this.settle(f.id, undefined, f.payload);
        const code = KNOWN_CODES.has(f.code) ? (f.code as ErrorCode) : ERROR_CODES.UNAVAILABLE;
        return this.settle(f.id, new StrataError(code, code === f.code ? f.message : `${f.code}: ${f.message}`));
      }
    }
  }

  private onHandshake(conn: Conn, f: Frame): void {
    if (f.kind !== FrameKind.Hello) throw new StrataError(ERROR_CODES.PROTOCOL, `expected HELLO, got frame kind ${f.kind}`);
    if (f.protocolVersion !== PEER_PROTOCOL_VERSION) {
      throw new StrataError(ERROR_CODES.PROTOCOL, `node ${f.nodeId} speaks peer protocol ${f.protocolVersion}, this node ${PEER_PROTOCOL_VERSION}`);
    }
    if (f.clusterId !== this.opts.clusterId) {
      throw new StrataError(ERROR_CODES.PERMISSION_DENIED, `node ${f.nodeId} belongs to cluster ${JSON.stringify(f.clusterId)}, not ${JSON.stringify(this.opts.clusterId)}`);
    }
    if (f.nodeId === this.opts.nodeId) throw new StrataError(ERROR_CODES.PROTOCOL, `peer claims this node's own id ${f.nodeId}`);
    if (conn.dialed) {
      if (conn.peerId !== undefined && conn.peerId !== f.nodeId) {
        throw unavailable(`dialed node ${conn.peerId} but node ${f.nodeId} answered (stale address?)`);
      }
      if (this.blocked.has(f.nodeId)) return this.drop(conn);
      return this.establish(conn, f.nodeId);
    }
    const peer = this.peerFor(f.nodeId)!;
    // Refusals here are the tie-break or a partition, not errors: close quietly.
    if (this.blocked.has(f.nodeId) || !this.acceptorKeeps(peer, f.nodeId)) return this.drop(conn);
    conn.socket.write(encodeFrame({ kind: FrameKind.Hello, nodeId: this.opts.nodeId, clusterId: this.opts.clusterId, protocolVersion: PEER_PROTOCOL_VERSION }));
    this.establish(conn, f.nodeId);
  }

  private serve(conn: Conn, from: string, f: RequestFrame): void {
    let p: Promise<Uint8Array>;
    try {
      p = this.opts.onRequest(from, f.method, f.payload);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (payload) => this.respond(conn, { kind: FrameKind.Response, id: f.id, ok: true, payload }),
      (err: unknown) => this.respond(conn, this.errorResponse(f.id, err)),
    );
  }

  private errorResponse(id: number, err: unknown): ResponseFrame {
    if (err instanceof StrataError) return { kind: FrameKind.Response, id, ok: false, code: err.code, message: err.message.slice(0, ERROR_MESSAGE_CHARS_MAX) };
    this.report(err);
    const detail = err instanceof Error ? err.message : String(err);
    return { kind: FrameKind.Response, id, ok: false, code: ERROR_CODES.UNAVAILABLE, message: `internal error: ${detail}`.slice(0, ERROR_MESSAGE_CHARS_MAX) };
  }

  private respond(conn: Conn, frame: ResponseFrame): void {
    // The requester has failed the request already if its connection went.
    const peer = conn.peerId === undefined ? undefined : this.peers.get(conn.peerId);
    if (this.closed || conn.closed || peer === undefined || peer.conn !== conn || this.blocked.has(peer.id)) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(frame);
    } catch (err) {
      bytes = encodeFrame(this.errorResponse(frame.id, err));
    }
    if (bytes.length - FRAME_HEADER_BYTES > this.maxFrameBytes) {
      bytes = encodeFrame(this.errorResponse(frame.id, new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `response of ${bytes.length} bytes exceeds the ${this.maxFrameBytes}-byte frame limit`)));
    } else if (!this.fits(peer, bytes.length)) {
      // A small error keeps the requester from waiting out its timeout.
      bytes = encodeFrame(this.errorResponse(frame.id, new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `outbound queue to node ${peer.id} is full`)));
    }
    peer.frames.push({ kind: 'response', conn, bytes });
    peer.queuedBytes += bytes.length;
    this.scheduleFlush(peer);
  }

  // ------------------------------------------------------------ sending

  private fits(peer: Peer, bytes: number): boolean {
    return peer.queuedBytes === 0 || peer.queuedBytes + bytes <= this.maxQueueBytes;
  }

  /** Everything queued in this tick leaves together, after the current I/O callbacks. */
  private scheduleFlush(peer: Peer): void {
    this.dirty.add(peer);
    if (this.flushImmediate !== undefined || this.closed) return;
    this.flushImmediate = setImmediate(() => {
      this.flushImmediate = undefined;
      const peers = [...this.dirty];
      this.dirty.clear();
      for (const p of peers) this.flush(p);
    });
  }

  /** Writes the peer's queue until it is empty or the socket asks us to wait for 'drain'. */
  private flush(peer: Peer): void {
    const conn = peer.conn;
    if (conn === undefined || conn.closed || conn.waitingDrain || this.blocked.has(peer.id)) return;
    const socket = conn.socket;
    socket.cork();
    try {
      while (!conn.waitingDrain) {
        const out = peer.frames.shift();
        if (out !== undefined) {
          peer.queuedBytes -= out.bytes.length;
          if (out.kind === 'response' && out.conn !== conn) continue;
          if (out.kind === 'request') {
            const p = this.pending.get(out.id);
            if (p === undefined) continue; // timed out while queued
            p.conn = conn;
            conn.inflight.add(out.id);
          }
          this.write(peer, conn, out.bytes);
          continue;
        }
        if (peer.raft.length === 0) break;
        // As many messages as fit one frame; each fits alone (checked in sendRaft).
        const budget = this.maxFrameBytes - (RAFT_BATCH_OVERHEAD_BYTES - FRAME_HEADER_BYTES);
        let n = 0;
        let size = 0;
        while (n < peer.raft.length && (n === 0 || size + peer.raft[n]!.size <= budget)) size += peer.raft[n++]!.size;
        const items = peer.raft.splice(0, n);
        peer.queuedBytes -= size;
        this.write(peer, conn, encodeRaftBatchFrame(items));
      }
    } finally {
      socket.uncork();
    }
  }

  private write(peer: Peer, conn: Conn, bytes: Uint8Array): void {
    peer.sentFrames++;
    if (!conn.socket.write(bytes)) conn.waitingDrain = true;
  }

  /** Fails queued requests with `err` and drops queued Raft messages and responses. */
  private failQueued(peer: Peer, err: StrataError): void {
    peer.droppedMessages += peer.raft.length;
    peer.raft.length = 0;
    const frames = peer.frames.splice(0);
    peer.queuedBytes = 0;
    for (const out of frames) if (out.kind === 'request') this.settle(out.id, err);
  }

  private dropResponses(peer: Peer): void {
    const keep = peer.frames.filter((o) => o.kind === 'request');
    for (const o of peer.frames) if (o.kind === 'response') peer.queuedBytes -= o.bytes.length;
    peer.frames.splice(0, peer.frames.length, ...keep);
  }

  // ------------------------------------------------------------ requests

  private allocateRequestId(): number {
    let id = this.nextRequestId;
    while (this.pending.has(id)) id = (id + 1) >>> 0;
    this.nextRequestId = (id + 1) >>> 0;
    return id;
  }

  private settle(id: number, err: Error | undefined, payload?: Uint8Array): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.conn?.inflight.delete(id);
    if (err !== undefined) p.reject(err);
    else p.resolve(payload!);
  }

  private report(err: unknown): void {
    this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  }
}
