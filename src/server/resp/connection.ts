import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ERROR_CODES, isStrataError } from '../../base/index.js';
import type { StrataError } from '../../base/index.js';
import { Authenticator } from '../auth.js';
import { RESP_ERROR_PREFIX } from '../errors.js';
import type { CommandMetrics } from '../metrics.js';
import { ERR_NOT_INTEGER, argText } from './arguments.js';
import { lastKeyIndex } from './command-spec.js';
import type { CommandSpec } from './command-spec.js';
import { ERR_NOAUTH, wrongArity } from './commands-server.js';
import { RespDecoder } from './resp-decoder.js';
import type { RespDecoderLimits } from './resp-decoder.js';
import type { RespWriter } from './resp-writer.js';
import { ErrorReply, OK } from './replies.js';
import type { Reply } from './replies.js';
import type { ClientSession, ServerState } from './session.js';

/** What a connection needs from its server beyond what handlers see. */
export interface ConnectionHost extends ServerState {
  /** Shared by all connections: each segment is encoded and taken without an await in between. */
  readonly writer: RespWriter;
  readonly decoderLimits: RespDecoderLimits;
  metricsFor(spec: CommandSpec | undefined): CommandMetrics;
  onProtocolError(): void;
  onConnectionClosed(conn: RespConnection): void;
  /** performance.now() when the current scheduler tick started (the start of every batch it runs). */
  readonly tickStartMs: number;
  /** Runs `conn.run()` soon, together with every other connection that has work (see RespServer.schedule). */
  schedule(conn: RespConnection): void;
}

/** Pending service calls in one segment before the connection waits for them anyway (bounds the key-conflict checks). */
const SEGMENT_PROMISES_MAX = 256;
/** Commands in one getMany/setMany group. */
const GROUP_COMMANDS_MAX = 256;
/** Queue slots kept before the consumed front of the command queue is cut off. */
const QUEUE_COMPACT_AT = 1024;

const ERR_INTERNAL = new ErrorReply('ERR internal error');
const ERR_OVERFLOW = new ErrorReply('ERR increment or decrement would overflow');
// A module binding rather than a global lookup on the hot path.
const NativePromise = Promise;

/**
 * One client connection: decodes commands from socket reads, runs them in
 * order and writes their replies in order, one socket write per batch.
 *
 * A batch is the commands queued when it starts (at most pipelineDepthMax).
 * Its service calls are issued back to back without waiting: the service
 * orders point calls (each one sees every write issued before it, resolved
 * or not; see KeyValueService), so neither reads nor writes wait for earlier
 * writes. The connection waits ("settles a segment") only before barrier
 * commands (whole-keyspace commands, which see resolved writes only, and
 * HELLO) and to bound the number of pending calls. Runs of plain
 * GETs or plain SETs become one getMany or setMany call (one promise, one
 * engine write batch). Replies are encoded after each segment settles, and
 * the batch's bytes go out in one write (a cork/uncork pair when a big
 * value made it several Buffers).
 *
 * Scheduling: a read only queues the commands; the host runs every
 * connection with queued work from one setImmediate callback. All service
 * calls of one event-loop turn are thus issued in one synchronous run, so
 * the engine commits their writes as one group (one WAL write), much as
 * Redis writes its AOF once per event-loop iteration.
 *
 * Backpressure: reading pauses while pipelineDepthMax commands are queued;
 * a batch does not start while the socket holds more than
 * outputBufferBytesMax unsent bytes, and past twice that the client is
 * disconnected.
 */
export class RespConnection {
  readonly session: ClientSession;
  private readonly decoder: RespDecoder;
  /** Decoded commands not yet run: queue[head..tail). Consumed entries are cleared. */
  private readonly queue: Array<Buffer[] | undefined> = [];
  private head = 0;
  private tail = 0;
  private batchEnd = 0;
  private batchStartMs = 0;
  private busy = false;
  private scheduled = false;
  private readPaused = false;
  private waitingForDrain = false;
  /** Stop after the queued work: server close, QUIT or a protocol error. */
  private closing = false;
  private protocolFailure: StrataError | undefined;
  private closed = false;

  // The segment in progress: replies (or promises of them) in command order,
  // in reused arrays with explicit counts (no per-batch allocation).
  private readonly slots: Array<Reply | Promise<Reply>> = [];
  private readonly slotSpecs: Array<CommandSpec | undefined> = [];
  private slotCount = 0;
  /** Service calls of the segment not yet settled; their callbacks fill `slots`. */
  private promiseCount = 0;
  /** True when the segment waits for promiseCount to reach 0. */
  private waiting = false;
  private readonly okHandlers: Array<((r: Reply) => void) | undefined> = [];
  private readonly failHandlers: Array<((err: unknown) => void) | undefined> = [];
  /** Keys of pending writes in this segment. */
  private barrierPending = false;
  /** The open group of plain GETs or SETs (see join): their argv and slots. */
  private groupSpec: CommandSpec | undefined = undefined;
  private readonly groupArgv: Buffer[][] = [];
  private readonly groupSlots: number[] = [];
  private groupCount = 0;
  /** Encoded replies of the batch, written when it ends. */
  private readonly out: Buffer[] = [];

  constructor(
    private readonly host: ConnectionHost,
    private readonly socket: Socket,
    session: ClientSession,
  ) {
    this.session = session;
    this.decoder = new RespDecoder(host.decoderLimits);
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    if (host.limits.idleTimeoutMs > 0) socket.setTimeout(host.limits.idleTimeoutMs, this.onIdleTimeout);
  }

  /** Graceful close: finish what was read, send the replies, then end the connection. */
  shutdown(): void {
    if (this.closed) return;
    this.closing = true;
    this.updateReading();
    this.kick();
  }

  /** Immediate close. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Called by the host's scheduler: runs queued batches. */
  run(): void {
    this.scheduled = false;
    this.pump();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.closing || this.protocolFailure !== undefined) return;
    this.decoder.push(chunk);
    try {
      for (;;) {
        const argv = this.decoder.next();
        if (argv === undefined) break;
        this.queue[this.tail++] = argv;
      }
    } catch (err) {
      if (!isStrataError(err, ERROR_CODES.PROTOCOL)) throw err;
      this.protocolFailure = err;
      this.host.onProtocolError();
    }
    this.updateReading();
    this.kick();
  };

  /** The client finished sending (half-close): answer what it sent, then end our side too. */
  private readonly onEnd = (): void => {
    this.closing = true;
    this.kick();
  };

  private readonly onClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.host.onConnectionClosed(this);
  };

  private readonly onError = (err: Error): void => {
    this.host.logger.debug({ client: this.session.id, addr: this.session.addr, err: err.message }, 'resp: socket error');
  };

  private readonly onIdleTimeout = (): void => {
    if (this.busy || this.head < this.tail) return;
    this.host.logger.debug({ client: this.session.id, addr: this.session.addr }, 'resp: closing idle connection');
    this.socket.destroy();
  };

  private readonly onDrain = (): void => {
    this.waitingForDrain = false;
    this.kick();
  };

  /** Asks the host to run this connection's queued work, unless it is running, scheduled or waiting. */
  private kick(): void {
    if (this.busy || this.scheduled || this.waitingForDrain || this.closed) return;
    this.scheduled = true;
    this.host.schedule(this);
  }

  private updateReading(): void {
    const stop = this.closing || this.protocolFailure !== undefined || this.tail - this.head >= this.host.limits.pipelineDepthMax;
    if (stop && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    } else if (!stop && this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
  }

  /** Runs batches while commands are queued and nothing is pending. */
  private pump(): void {
    while (!this.busy && !this.closed) {
      if (this.head >= this.tail) {
        this.idle();
        return;
      }
      if (this.socket.writableLength > this.host.limits.outputBufferBytesMax) {
        if (!this.waitingForDrain) {
          this.waitingForDrain = true;
          this.socket.once('drain', this.onDrain);
        }
        return;
      }
      this.busy = true;
      this.barrierPending = false;
      this.batchEnd = Math.min(this.tail, this.head + this.host.limits.pipelineDepthMax);
      this.batchStartMs = this.host.tickStartMs;
      this.session.lastCommandAtMs = this.batchStartMs;
      if (!this.runSegment()) return;
      this.finishBatch();
    }
  }

  /** Nothing queued: close if asked to. */
  private idle(): void {
    this.head = 0;
    this.tail = 0;
    this.batchEnd = 0;
    if (this.protocolFailure !== undefined) {
      const message = this.protocolFailure.message;
      this.host.logger.warn({ client: this.session.id, addr: this.session.addr, error: message }, 'resp: protocol error, closing the connection');
      const w = this.host.writer;
      w.error(`ERR ${message}`);
      w.takeInto(this.out);
      this.flush();
      this.socket.end();
      return;
    }
    if (this.closing) {
      this.socket.end();
      return;
    }
    this.updateReading();
  }

  /**
   * Dispatches the batch's commands until one must wait for pending ones.
   * True when the batch finished without waiting (its replies are encoded).
   */
  private runSegment(): boolean {
    const queue = this.queue;
    while (this.head < this.batchEnd) {
      const argv = queue[this.head]!;
      const spec = this.host.commands.lookup(argv[0]!);
      if (spec !== undefined) {
        const pending = this.promiseCount + this.groupCount;
        if (spec.access === 'barrier') {
          this.flushGroup();
          if (this.promiseCount > 0) return this.awaitSegment();
          // Replies before a barrier are encoded with the protocol version they were made for (HELLO may change it).
          if (this.slotCount > 0) this.encodeSlots();
        } else if (pending > 0 && (this.barrierPending || pending >= SEGMENT_PROMISES_MAX)) {
          this.flushGroup();
          if (this.promiseCount > 0) return this.awaitSegment();
        }
      }
      queue[this.head++] = undefined;
      this.dispatch(spec, argv);
      if (this.session.quitRequested) {
        // QUIT: nothing after it runs; its reply and the earlier ones are sent, then the connection ends.
        for (let i = this.head; i < this.tail; i++) queue[i] = undefined;
        this.tail = this.head;
        this.batchEnd = this.head;
        this.closing = true;
        this.updateReading();
      }
    }
    this.flushGroup();
    if (this.promiseCount > 0) return this.awaitSegment();
    this.encodeSlots();
    return true;
  }

  /** Waits for the segment's pending service calls; the last one to settle continues the batch. */
  private awaitSegment(): false {
    this.waiting = true;
    return false;
  }

  /** The settle callbacks of slot `i`, made once per slot index and reused (no closure per command). */
  private watch(p: Promise<Reply>, i: number): void {
    let ok = this.okHandlers[i];
    let fail = this.failHandlers[i];
    if (ok === undefined || fail === undefined) {
      ok = (r: Reply) => this.settle(i, r);
      fail = (err: unknown) => this.settle(i, this.errorReply(err, this.slotSpecs[i]));
      this.okHandlers[i] = ok;
      this.failHandlers[i] = fail;
    }
    p.then(ok, fail);
  }

  private settle(i: number, r: Reply): void {
    this.slots[i] = r;
    this.settled();
  }

  private settled(): void {
    if (--this.promiseCount === 0 && this.waiting) {
      this.waiting = false;
      this.segmentSettled();
    }
  }

  private segmentSettled(): void {
    this.barrierPending = false;
    if (this.closed) {
      for (let i = 0; i < this.slotCount; i++) this.slots[i] = undefined;
      this.slotCount = 0;
      this.busy = false;
      return;
    }
    this.encodeSlots();
    if (!this.runSegment()) return;
    this.finishBatch();
    this.kick();
  }

  private dispatch(spec: CommandSpec | undefined, argv: Buffer[]): void {
    const s = this.session;
    let r: Reply | Promise<Reply>;
    if (spec === undefined) {
      r = unknownCommand(argv);
    } else if (spec.arity > 0 ? argv.length !== spec.arity : argv.length < -spec.arity) {
      r = wrongArity(spec.name);
    } else if (s.principal === undefined && !spec.noAuth) {
      this.host.onAuthFailure();
      r = ERR_NOAUTH;
    } else {
      s.lastCommand = spec.name;
      let refused: ErrorReply | undefined;
      try {
        if (spec.write && s.principal !== undefined && s.principal.role !== 'read-write') Authenticator.checkWrite(s.principal);
        refused = this.checkKeys(spec, argv);
      } catch (err) {
        refused = this.errorReply(err, spec);
      }
      if (refused === undefined) {
        const i = this.slotCount++;
        this.slotSpecs[i] = spec;
        if (spec.coalesce === 'get' ? argv.length === 2 : spec.coalesce === 'set' && argv.length === 3 && argv[2]!.length <= this.host.limits.valueBytesMax) {
          this.join(spec, argv, i);
        } else {
          // Service calls are issued in command order: an open group goes first.
          this.flushGroup();
          this.issue(spec, argv, i);
        }
        return;
      }
      r = refused;
    }
    const i = this.slotCount++;
    this.slots[i] = r;
    this.slotSpecs[i] = spec;
  }

  /** Runs a command's handler for slot `i` and watches the promise it returns. */
  private issue(spec: CommandSpec, argv: Buffer[], i: number): void {
    let r: Reply | Promise<Reply>;
    try {
      r = spec.handler(this.session, argv);
    } catch (err) {
      r = this.errorReply(err, spec);
    }
    this.slots[i] = r;
    if (r instanceof NativePromise) {
      this.promiseCount++;
      this.watch(r, i);
      if (spec.access === 'barrier') this.barrierPending = true;
    }
  }

  /**
   * Adds a plain GET or SET to the open group of its kind (issuing the open
   * group of the other kind first). A group becomes one getMany or setMany
   * call: one promise and one engine write batch for many commands.
   */
  private join(spec: CommandSpec, argv: Buffer[], i: number): void {
    if (this.groupCount > 0 && (this.groupSpec !== spec || this.groupCount >= GROUP_COMMANDS_MAX)) this.flushGroup();
    this.groupSpec = spec;
    this.groupArgv[this.groupCount] = argv;
    this.groupSlots[this.groupCount++] = i;
    this.slots[i] = undefined;
  }

  /** Issues the open group, if any: a lone command through its handler, more as one getMany/setMany. */
  private flushGroup(): void {
    const n = this.groupCount;
    if (n === 0) return;
    const spec = this.groupSpec!;
    const argvs = this.groupArgv;
    this.groupCount = 0;
    if (n === 1) {
      this.issue(spec, argvs[0]!, this.groupSlots[0]!);
      argvs[0] = NO_ARGS;
      return;
    }
    const slots = this.groupSlots.slice(0, n);
    let p: Promise<Array<Buffer | undefined>> | Promise<boolean>;
    try {
      if (spec.coalesce === 'get') {
        const keys = new Array<Buffer>(n);
        for (let j = 0; j < n; j++) keys[j] = argvs[j]![1]!;
        p = this.session.service.getMany(keys);
      } else {
        const pairs = new Array<readonly [Buffer, Buffer]>(n);
        for (let j = 0; j < n; j++) pairs[j] = [argvs[j]![1]!, argvs[j]![2]!];
        p = this.session.service.setMany(pairs);
      }
    } catch (err) {
      for (let j = 0; j < n; j++) this.slots[slots[j]!] = this.errorReply(err, spec);
      return;
    } finally {
      for (let j = 0; j < n; j++) argvs[j] = NO_ARGS;
    }
    this.promiseCount++;
    p.then(
      (result: Array<Buffer | undefined> | boolean) => {
        if (Array.isArray(result)) for (let j = 0; j < n; j++) this.slots[slots[j]!] = result[j];
        else for (let j = 0; j < n; j++) this.slots[slots[j]!] = OK;
        this.settled();
      },
      (err: unknown) => {
        const reply = this.errorReply(err, spec);
        for (let j = 0; j < n; j++) this.slots[slots[j]!] = reply;
        this.settled();
      },
    );
  }

  /** An error when a key argument is over limits.keyBytesMax. */
  private checkKeys(spec: CommandSpec, argv: Buffer[]): ErrorReply | undefined {
    const max = this.host.limits.keyBytesMax;
    const last = lastKeyIndex(spec, argv.length);
    for (let i = spec.firstKey; i <= last; i += spec.step) {
      const n = argv[i]!.length;
      if (n > max) return new ErrorReply(`ERR key is ${n} bytes, over the limit of ${max} bytes`);
    }
    return undefined;
  }

  /** The reply for a thrown or rejected error: ErrorReplies as they are, StrataErrors by code (never by message). */
  private errorReply(err: unknown, spec: CommandSpec | undefined): ErrorReply {
    if (err instanceof ErrorReply) return err;
    if (isStrataError(err)) {
      const words = spec?.errors[err.code];
      if (words !== undefined) return new ErrorReply(words);
      switch (err.code) {
        case ERROR_CODES.NOT_INTEGER:
          return ERR_NOT_INTEGER;
        case ERROR_CODES.NOT_FLOAT:
          // The service says which: the stored value is not a float, or the result would be NaN or Infinity.
          return new ErrorReply(`ERR ${err.message}`);
        case ERROR_CODES.OVERFLOW:
          return ERR_OVERFLOW;
        case ERROR_CODES.UNAUTHENTICATED:
          return ERR_NOAUTH;
        case ERROR_CODES.PERMISSION_DENIED:
          this.host.onAuthFailure();
          return new ErrorReply(`NOPERM this user has no permissions to run the '${spec?.name ?? 'unknown'}' command`);
        default:
          return new ErrorReply(`${RESP_ERROR_PREFIX[err.code]} ${err.message}`);
      }
    }
    this.host.logger.error({ client: this.session.id, command: spec?.name, err }, 'resp: command failed with an unexpected error');
    return ERR_INTERNAL;
  }

  /** Encodes the segment's replies (all settled) into the batch output and records metrics. */
  private encodeSlots(): void {
    const n = this.slotCount;
    if (n === 0) return;
    const slots = this.slots;
    const specs = this.slotSpecs;
    const w = this.host.writer;
    const version = this.session.resp;
    const seconds = (performance.now() - this.batchStartMs) / 1000;
    let spec = specs[0];
    let metrics = this.host.metricsFor(spec);
    for (let i = 0; i < n; i++) {
      const r = slots[i] as Reply;
      slots[i] = undefined;
      w.reply(r, version);
      if (specs[i] !== spec) {
        spec = specs[i];
        metrics = this.host.metricsFor(spec);
      }
      metrics.observe(seconds, r instanceof ErrorReply);
    }
    this.slotCount = 0;
    this.host.stats.commandsProcessed += n;
    w.takeInto(this.out);
  }

  private finishBatch(): void {
    this.busy = false;
    this.flush();
    if (this.head >= this.tail) {
      this.head = 0;
      this.tail = 0;
    } else if (this.head >= QUEUE_COMPACT_AT) {
      this.queue.copyWithin(0, this.head, this.tail);
      this.queue.fill(undefined, this.tail - this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    this.batchEnd = this.head;
    if (this.socket.writableLength > 2 * this.host.limits.outputBufferBytesMax) {
      this.host.logger.warn(
        { client: this.session.id, addr: this.session.addr, pendingBytes: this.socket.writableLength, limit: this.host.limits.outputBufferBytesMax },
        'resp: client does not read its replies (output buffer over twice the limit), disconnecting',
      );
      this.socket.destroy();
      return;
    }
    if (this.readPaused) this.updateReading();
  }

  /** One write for everything encoded since the last flush. */
  private flush(): void {
    const out = this.out;
    const n = out.length;
    if (n === 0) return;
    if (this.socket.writable) {
      if (n === 1) {
        this.socket.write(out[0]!);
      } else {
        this.socket.cork();
        for (let i = 0; i < n; i++) this.socket.write(out[i]!);
        this.socket.uncork();
      }
    }
    if (n === 1) out.pop();
    else out.length = 0;
  }
}

const NO_ARGS: Buffer[] = [];

/** Redis 7's words: the name and up to 128 characters of quoted arguments. */
function unknownCommand(argv: readonly Buffer[]): ErrorReply {
  let args = '';
  for (let i = 1; i < argv.length && args.length < 128; i++) args += `'${argText(argv[i]!, 128 - args.length)}' `;
  return new ErrorReply(`ERR unknown command '${argText(argv[0]!, 128)}', with args beginning with: ${args}`);
}
