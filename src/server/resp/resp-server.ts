import { createServer as createTcpServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { KeyValueService } from '../../base/index.js';
import type { TimeSeriesService } from '../../tsdb/index.js';
import { ANONYMOUS_ADMIN } from '../auth.js';
import type { Authenticator } from '../auth.js';
import type { FrontEnd, FrontEndOptions, TlsMaterial } from '../front-end.js';
import type { ServerLimits } from '../limits.js';
import type { CommandMetrics, ServerMetrics } from '../metrics.js';
import type { CommandSpec } from './command-spec.js';
import { CommandTable } from './command-table.js';
import { KEY_COMMANDS } from './commands-keys.js';
import { SERVER_COMMANDS } from './commands-server.js';
import { STRING_COMMANDS } from './commands-strings.js';
import { TS_COMMANDS } from './commands-ts.js';
import { RespConnection } from './connection.js';
import type { ConnectionHost } from './connection.js';
import { INLINE_BYTES_MAX, MULTIBULK_COUNT_MAX } from './resp-decoder.js';
import type { RespDecoderLimits } from './resp-decoder.js';
import { RespWriter } from './resp-writer.js';
import { ScanCursors } from './scan-cursors.js';
import { ClientSession } from './session.js';
import type { RespStats } from './session.js';

export interface RespServerOptions extends FrontEndOptions {
  /** SCAN cursors remembered (least recently used ones are forgotten). Default 65536. */
  scanCursorsMax?: number;
  /** On close(), connections still open this long after being asked to end are destroyed. Default 5000. */
  closeGraceMs?: number;
}

/** Every command the RESP front end knows. */
export function respCommands(): CommandTable {
  return new CommandTable([...SERVER_COMMANDS, ...STRING_COMMANDS, ...KEY_COMMANDS, ...TS_COMMANDS]);
}

const MAX_CLIENTS_REPLY = '-ERR max number of clients reached\r\n';

/**
 * The Redis-protocol front end: RESP2/RESP3 over TCP (or TLS), talking to a
 * KeyValueService. See connection.ts for how one client's commands run.
 */
export class RespServer implements FrontEnd, ConnectionHost {
  readonly protocol = 'resp' as const;
  readonly service: KeyValueService;
  readonly tsdb: TimeSeriesService | undefined;
  readonly auth: Authenticator;
  readonly limits: ServerLimits;
  readonly logger: Logger;
  readonly cursors: ScanCursors;
  readonly stats: RespStats = { connectionsReceived: 0, connectionsRejected: 0, commandsProcessed: 0, protocolErrors: 0, instantaneousOpsPerSec: 0 };
  /** Samples commandsProcessed once a second for INFO's instantaneous_ops_per_sec. */
  private opsSampler: NodeJS.Timeout | undefined;
  private opsAtLastSample = 0;
  readonly commands: CommandTable;
  readonly tls: boolean;
  readonly host: string;
  readonly writer = new RespWriter();
  readonly decoderLimits: RespDecoderLimits;
  private boundPort = 0;
  private startedAt = 0;
  private readonly requestedPort: number;
  private readonly tlsMaterial: TlsMaterial | undefined;
  private readonly metrics: ServerMetrics;
  private readonly commandMetrics = new Map<CommandSpec, CommandMetrics>();
  private readonly unknownMetrics: CommandMetrics;
  private readonly connections = new Set<RespConnection>();
  private readonly closeGraceMs: number;
  private server: Server | undefined;
  private nextClientId = 1;
  private closing: Promise<void> | undefined;
  /** Connections with queued work, run together by the next tick. */
  private ready: RespConnection[] = [];
  private spare: RespConnection[] = [];
  private tickScheduled = false;
  /** performance.now() when the current tick started (a field, not a getter: read once per batch). */
  tickStartMs = 0;
  private allClosed: (() => void) | undefined;

  constructor(options: RespServerOptions) {
    this.service = options.service;
    this.tsdb = options.tsdb;
    this.auth = options.auth;
    this.limits = options.limits;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.host = options.host;
    this.requestedPort = options.port;
    this.tlsMaterial = options.tls;
    this.tls = options.tls !== undefined;
    this.cursors = new ScanCursors(options.scanCursorsMax ?? 64 * 1024);
    this.closeGraceMs = options.closeGraceMs ?? 5000;
    this.commands = respCommands();
    this.unknownMetrics = this.metrics.command('resp', 'unknown');
    this.decoderLimits = {
      bulkBytesMax: this.limits.requestBytesMax,
      requestBytesMax: this.limits.requestBytesMax,
      multibulkCountMax: MULTIBULK_COUNT_MAX,
      inlineBytesMax: INLINE_BYTES_MAX,
    };
  }

  get port(): number {
    return this.boundPort;
  }

  get startedAtMs(): number {
    return this.startedAt;
  }

  *sessions(): Iterable<ClientSession> {
    for (const c of this.connections) yield c.session;
  }

  clientCount(): number {
    return this.connections.size;
  }

  onAuthFailure(): void {
    this.metrics.rejectedRequest('resp', 'auth');
  }

  onProtocolError(): void {
    this.stats.protocolErrors++;
    this.metrics.rejectedRequest('resp', 'protocol');
  }

  metricsFor(spec: CommandSpec | undefined): CommandMetrics {
    if (spec === undefined) return this.unknownMetrics;
    let m = this.commandMetrics.get(spec);
    if (m === undefined) {
      m = this.metrics.command('resp', spec.name);
      this.commandMetrics.set(spec, m);
    }
    return m;
  }

  async start(): Promise<number> {
    if (this.server !== undefined) throw new Error('assertion failed: RespServer.start called twice');
    const t = this.tlsMaterial;
    const server: Server =
      t === undefined
        ? createTcpServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket))
        : createTlsServer(
            {
              allowHalfOpen: true,
              cert: t.cert,
              key: t.key,
              ...(t.ca !== undefined ? { ca: t.ca, requestCert: true, rejectUnauthorized: t.requireClientCert === true } : {}),
            },
            (socket) => this.accept(socket),
          );
    if (t !== undefined) {
      server.on('tlsClientError', (err: Error) => this.logger.debug({ err: err.message }, 'resp: TLS handshake failed'));
    }
    this.server = server;
    this.startedAt = this.service.nowMs();
    this.opsSampler = setInterval(() => {
      this.stats.instantaneousOpsPerSec = this.stats.commandsProcessed - this.opsAtLastSample;
      this.opsAtLastSample = this.stats.commandsProcessed;
    }, 1000);
    this.opsSampler.unref();
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen(this.requestedPort, this.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err: Error) => this.logger.error({ err }, 'resp: listener error'));
    const address = server.address();
    this.boundPort = typeof address === 'object' && address !== null ? address.port : this.requestedPort;
    this.logger.debug({ host: this.host, port: this.boundPort, tls: this.tls }, 'resp: listening');
    return this.boundPort;
  }

  private accept(socket: Socket): void {
    this.stats.connectionsReceived++;
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.limits.clientsMax) {
      this.stats.connectionsRejected++;
      this.metrics.rejectedRequest('resp', 'limit');
      this.logger.warn({ addr: socket.remoteAddress, clientsMax: this.limits.clientsMax }, 'resp: max number of clients reached, refusing a connection');
      socket.on('error', () => socket.destroy());
      socket.end(MAX_CLIENTS_REPLY);
      return;
    }
    const session = new ClientSession(
      this,
      this.nextClientId++,
      `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
      `${socket.localAddress ?? '?'}:${socket.localPort ?? 0}`,
      this.auth.required ? undefined : ANONYMOUS_ADMIN,
    );
    const conn = new RespConnection(this, socket, session);
    this.connections.add(conn);
    this.metrics.connectionOpened('resp');
    this.logger.debug({ client: session.id, addr: session.addr }, 'resp: client connected');
  }

  /**
   * Queues a connection for the next tick. One setImmediate runs every
   * ready connection, so the service calls of all of them are issued in one
   * synchronous run (one engine commit group for their writes).
   */
  schedule(conn: RespConnection): void {
    this.ready.push(conn);
    if (!this.tickScheduled) {
      this.tickScheduled = true;
      setImmediate(this.tick);
    }
  }

  private readonly tick = (): void => {
    this.tickScheduled = false;
    this.tickStartMs = performance.now();
    const list = this.ready;
    this.ready = this.spare;
    for (let i = 0; i < list.length; i++) list[i]!.run();
    list.length = 0;
    this.spare = list;
  };

  onConnectionClosed(conn: RespConnection): void {
    if (!this.connections.delete(conn)) return;
    this.metrics.connectionClosed('resp');
    this.logger.debug({ client: conn.session.id, addr: conn.session.addr }, 'resp: client disconnected');
    if (this.connections.size === 0) this.allClosed?.();
  }

  /** Stops accepting, lets every connection finish what it read and send the replies, then ends them. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    clearInterval(this.opsSampler);
    const server = this.server;
    const listenerClosed = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.connections.size > 0) {
      const drained = new Promise<void>((resolve) => {
        this.allClosed = resolve;
      });
      for (const c of this.connections) c.shutdown();
      const grace = setTimeout(() => {
        for (const c of this.connections) {
          this.logger.warn({ client: c.session.id, addr: c.session.addr }, 'resp: connection did not close in time, destroying it');
          c.destroy();
        }
      }, this.closeGraceMs);
      await drained;
      clearTimeout(grace);
    }
    await listenerClosed;
    this.logger.debug({ port: this.boundPort }, 'resp: closed');
  }
}
