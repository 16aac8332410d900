import { createServer } from 'node:net';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ERROR_CODES, StrataError, assert } from '../../base/index.js';
import { Authenticator } from '../auth.js';
import type { FrontEnd, FrontEndOptions } from '../front-end.js';
import { principalOf } from './call-credentials.js';
import { ConnectionGate } from './connection-gate.js';
import { HealthService } from './health-service.js';
import { kvImplementation } from './kv-handlers.js';
import type { ServingStatus } from './messages.js';
import type { CallInfo } from './kv-handlers.js';
import { KV_SERVICE_NAME, TS_SERVICE_NAME, loadGrpcDefinitions } from './proto-files.js';
import { tsImplementation } from './ts-handlers.js';

export interface GrpcServerOptions extends FrontEndOptions {
  /** How long close() lets in-flight calls finish before cancelling them (default 10 s). */
  closeTimeoutMs?: number;
}

const CLOSE_TIMEOUT_MS_DEFAULT = 10_000;
/** Response headroom over the largest key and value: field tags, lengths, expiry. */
const RESPONSE_OVERHEAD_BYTES = 1024;

/**
 * The gRPC front end: strata.v1.KV, strata.v1.TimeSeries (ts-handlers.ts)
 * and grpc.health.v1.Health on one port.
 *
 * The listening socket is ours (a net.Server) and connections are handed to
 * grpc-js through a connection injector, so the server can count them
 * (limits.clientsMax, connection metrics) — grpc-js's own listener exposes
 * neither. TLS, when configured, is done by grpc-js on the injected socket.
 *
 * Limits: a message received over limits.requestBytesMax is refused with
 * RESOURCE_EXHAUSTED by grpc-js; keys and values are checked against their
 * limits; at most limits.pipelineDepthMax concurrent calls per connection
 * (HTTP/2 max concurrent streams); idle connections are closed after
 * limits.idleTimeoutMs when it is > 0.
 */
export class GrpcServer implements FrontEnd {
  readonly protocol = 'grpc' as const;
  private readonly server: grpc.Server;
  private readonly health: HealthService;
  private readonly gate: ConnectionGate;
  private readonly closeTimeoutMs: number;
  private listener: NetServer | undefined = undefined;
  private closing: Promise<void> | undefined = undefined;

  constructor(private readonly opts: GrpcServerOptions) {
    const { limits } = opts;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? CLOSE_TIMEOUT_MS_DEFAULT;
    const options: grpc.ServerOptions = {
      'grpc.max_receive_message_length': limits.requestBytesMax,
      'grpc.max_send_message_length': Math.max(limits.requestBytesMax, limits.keyBytesMax + limits.valueBytesMax + RESPONSE_OVERHEAD_BYTES),
      'grpc.max_concurrent_streams': limits.pipelineDepthMax,
      'grpc.enable_channelz': 0,
    };
    if (limits.idleTimeoutMs > 0) options['grpc.max_connection_idle_ms'] = limits.idleTimeoutMs;
    this.server = new grpc.Server(options);
    this.gate = new ConnectionGate(limits.clientsMax, opts.metrics);
    this.health = new HealthService(opts.tsdb === undefined ? ['', KV_SERVICE_NAME] : ['', KV_SERVICE_NAME, TS_SERVICE_NAME], 'SERVING');
    const defs = loadGrpcDefinitions();
    this.server.addService(defs.health, this.health.implementation());
    this.server.addService(
      defs.kv,
      kvImplementation({
        service: opts.service,
        limits,
        metrics: opts.metrics,
        logger: opts.logger,
        admit: (call, write) => this.admit(call, write),
      }),
    );
    // Registered even without a store, so clients get UNIMPLEMENTED with a reason rather than an unknown method.
    this.server.addService(
      defs.timeseries,
      tsImplementation({
        tsdb: opts.tsdb,
        metrics: opts.metrics,
        logger: opts.logger,
        admit: (call, write) => this.admit(call, write),
      }),
    );
  }

  /** Starts listening on opts.host:opts.port; resolves with the bound port. */
  async start(): Promise<number> {
    if (this.closing !== undefined) throw new StrataError(ERROR_CODES.CLOSED, 'gRPC server is closed');
    assert(this.listener === undefined, 'GrpcServer.start called twice');
    const injector = this.server.createConnectionInjector(this.credentials());
    const listener = createServer({ noDelay: true }, (socket: Socket) => {
      if (this.gate.accept(socket)) injector.injectConnection(socket);
    });
    this.listener = listener;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.opts.port, this.opts.host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    listener.on('error', (err) => this.opts.logger.error({ err }, 'gRPC listener error'));
    const port = (listener.address() as AddressInfo).port;
    this.opts.logger.debug({ host: this.opts.host, port, tls: this.opts.tls !== undefined }, 'gRPC front end listening');
    return port;
  }

  /**
   * Graceful: health turns NOT_SERVING (watchers are told, then their
   * streams end), no new connections are accepted, in-flight calls finish.
   * After closeTimeoutMs remaining calls are cancelled. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** The serving state the health service reports for `service` ("" is the whole server). */
  healthStatus(service = ''): ServingStatus | undefined {
    return this.health.status(service);
  }

  private async shutdown(): Promise<void> {
    this.health.setAll('NOT_SERVING');
    this.health.endWatches();
    const listener = this.listener;
    const listenerClosed =
      listener === undefined ? Promise.resolve() : new Promise<void>((resolve) => listener.close(() => resolve()));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.opts.logger.warn({ timeoutMs: this.closeTimeoutMs }, 'gRPC calls still running at close timeout; cancelling them');
        this.server.forceShutdown();
        resolve();
      }, this.closeTimeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    // Sockets that never became HTTP/2 sessions (e.g. a stalled TLS handshake).
    this.gate.destroyAll();
    await listenerClosed;
    this.opts.logger.debug('gRPC front end closed');
  }

  private credentials(): grpc.ServerCredentials {
    const tls = this.opts.tls;
    if (tls === undefined) return grpc.ServerCredentials.createInsecure();
    return grpc.ServerCredentials.createSsl(tls.ca ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.requireClientCert ?? false);
  }

  private admit(call: CallInfo, write: boolean): void {
    if (this.gate.isRefused(call.getPeer())) {
      this.opts.metrics.rejectedRequest('grpc', 'limit');
      throw new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `too many clients (limit ${this.opts.limits.clientsMax}); close other connections and retry`);
    }
    try {
      const principal = principalOf(call.metadata, this.opts.auth);
      if (write) Authenticator.checkWrite(principal);
    } catch (err) {
      this.opts.metrics.rejectedRequest('grpc', 'auth');
      throw err;
    }
  }
}
