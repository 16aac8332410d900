import type { AddressInfo, Socket } from 'node:net';
import { STATUS_CODES, createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { LogController, fastify } from 'fastify';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, InjectOptions, LightMyRequestResponse } from 'fastify';
import { ERROR_CODES, StrataError } from '../../base/index.js';
import { LineProtocolParsePool } from '../../tsdb/index.js';
import { Authenticator } from '../auth.js';
import type { FrontEnd, FrontEndOptions } from '../front-end.js';
import type { ServerLimits } from '../limits.js';
import type { ServerMetrics } from '../metrics.js';
import { ConnectionLimiter } from './connection-limiter.js';
import { HttpReplyError, errorReplyOf, rawErrorResponse } from './http-error.js';
import type { HttpApp } from './http-app.js';
import { registerCoordinatorRoutes } from './coordinator-routes.js';
import { EXPIRE_AT_HEADER, registerKvRoutes } from './kv-routes.js';
import { openApiDocument } from './openapi.js';
import { INFLUX_WRITE_ROUTE, TS_DECOMPRESSED_BYTES_DEFAULT, influxAuthorization, registerTsRoutes } from './ts-routes.js';
import { escapePercentsInPath, splitTarget } from './percent-encoding.js';
import { WWW_AUTHENTICATE } from './request-auth.js';
import { UNMATCHED_ROUTE_NAME } from './route-meta.js';
import type { RouteMeta } from './route-meta.js';

/** A registered route, as the router knows it (`url` in fastify syntax: `/v1/kv/*`). */
export interface HttpRoute {
  method: string;
  url: string;
}

/** The HTTP front end's options: every front end's, plus the time-series write limit. */
export interface HttpServerOptions extends FrontEndOptions {
  /** Largest decompressed time-series write body (tsdb.remoteWriteMaxBytes; default 64 MiB). */
  remoteWriteMaxBytes?: number | undefined;
  /** Line-protocol parser threads (tsdb.parseThreads; default 1; 0 parses on the event loop). */
  parseThreads?: number | undefined;
}

/** Room for the request line and headers besides the key: the longest key percent-encodes to 3 bytes a byte. */
const HEADER_BYTES_BASE = 16 * 1024;

/** Node's default keep-alive timeout (5 s) is shorter than most proxies'; fastify uses 72 s. */
const KEEP_ALIVE_TIMEOUT_DEFAULT_MS = 72_000;

function printable(s: string, max = 200): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s).slice(1, -1);
}

/**
 * The HTTP/JSON front end (fastify): `/v1/kv` routes over the
 * KeyValueService, the time-series routes (`/v1/ts`, `/api/v2/write`,
 * `/api/v1/write`; ts-routes.ts) when the node has a time-series database,
 * `/health`, `/metrics`, `/openapi.json`. See openapi.ts for the API and the
 * README for curl examples.
 *
 * Request path: the router sees the target with every `%` in the path
 * escaped (binary keys would make its UTF-8 decoding fail); handlers read
 * the original target. onRequest checks the connection limit, shutdown and
 * credentials; handlers throw StrataErrors (or HttpReplyErrors for the few
 * HTTP-only statuses) and one error handler writes every error as
 * `{"error":{"code","message"}}`; onResponse records metrics.
 */
export class HttpServer implements FrontEnd {
  readonly protocol = 'http' as const;
  private readonly app: HttpApp;
  private readonly limiter: ConnectionLimiter;
  private readonly registered: HttpRoute[] = [];
  private closing = false;
  private closed: Promise<void> | undefined = undefined;
  private parser: LineProtocolParsePool | undefined = undefined;

  constructor(private readonly opts: HttpServerOptions) {
    const { limits, metrics, tls } = opts;
    this.limiter = new ConnectionLimiter(limits.clientsMax, metrics);
    const maxHeaderSize = Math.max(HEADER_BYTES_BASE, limits.keyBytesMax * 3 + HEADER_BYTES_BASE);
    const keepAliveTimeoutMs = limits.idleTimeoutMs > 0 ? limits.idleTimeoutMs : KEEP_ALIVE_TIMEOUT_DEFAULT_MS;
    this.app = fastify<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>({
      loggerInstance: opts.logger,
      // No per-request log lines (they would carry keys at info level); errors are logged in sendError.
      logController: new LogController({ disableRequestLogging: true }),
      // No child logger per request (pino's child() took ~5 µs of every request): the few
      // request-scoped lines (errors) carry reqId themselves.
      childLoggerFactory: (logger) => logger,
      exposeHeadRoutes: false,
      // Routes read their parameters from the raw target (QueryParams: strict, with limits); the
      // router's own parse of every query string into request.query would be wasted (a GET
      // /v1/ts/query carries the whole query there).
      routerOptions: { querystringParser: () => ({}) },
      return503OnClosing: false,
      forceCloseConnections: 'idle',
      bodyLimit: limits.requestBytesMax,
      serverFactory: (handler) => {
        const server: Server = tls
          ? createHttpsServer(
              {
                cert: tls.cert,
                key: tls.key,
                ...(tls.ca !== undefined ? { ca: tls.ca, requestCert: true, rejectUnauthorized: tls.requireClientCert === true } : {}),
                maxHeaderSize,
              },
              handler,
            )
          : createHttpServer({ maxHeaderSize }, handler);
        server.keepAliveTimeout = keepAliveTimeoutMs;
        // An idle connection (no request in progress) is closed after idleTimeoutMs.
        if (limits.idleTimeoutMs > 0) server.setTimeout(limits.idleTimeoutMs);
        return server;
      },
      rewriteUrl: (req) => escapePercentsInPath(req.url ?? '/'),
      clientErrorHandler: (err, socket) => this.onClientError(err, socket),
      frameworkErrors: (err, request, reply) => {
        this.sendError(request, reply, err);
      },
    });

    // TLS connections count once the handshake is done, so an over-limit client can be told why.
    this.app.server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => this.limiter.admit(socket));
    this.app.addHook('onRoute', (route) => {
      for (const method of Array.isArray(route.method) ? route.method : [route.method]) this.registered.push({ method, url: route.url });
    });

    this.app.removeAllContentTypeParsers();
    // Values are raw bytes of any type; the batch route parses its JSON itself.
    this.app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.requestBytesMax }, (_request, body, done) => {
      done(null, body);
    });
    // Callback-style hooks: an async hook costs a promise and a microtask turn on every request.
    this.app.addHook('onRequest', (request, reply, done) => {
      let answered: boolean;
      try {
        answered = this.checkRequest(request, reply);
      } catch (err) {
        done(err as Error);
        return;
      }
      // An answered request (rejected) must not reach its handler.
      if (!answered) done();
    });
    this.app.addHook('onSend', (_request, reply, payload, done) => {
      // Requests that were in flight when close() began: their connections close after the reply, so close() can finish.
      if (this.closing) reply.header('connection', 'close');
      done(null, payload);
    });
    this.app.addHook('onResponse', (request, reply, done) => {
      const name = request.routeOptions.config.strata?.name ?? UNMATCHED_ROUTE_NAME;
      metrics.command('http', name).observe(reply.elapsedTime / 1000, reply.statusCode >= 400);
      done();
    });
    this.app.setErrorHandler((err, request, reply) => {
      this.sendError(request, reply, err);
    });
    this.app.setNotFoundHandler((request, reply) => {
      const { path } = splitTarget(request.originalUrl);
      this.sendError(request, reply, new StrataError(ERROR_CODES.NOT_FOUND, `no route ${request.method} ${printable(path)}`));
    });

    this.registerServiceRoutes(limits, metrics);
    registerKvRoutes(this.app, { service: opts.service, limits });
    if (opts.cluster !== undefined) registerCoordinatorRoutes(this.app, opts.cluster);
    if (opts.tsdb !== undefined) {
      this.parser = new LineProtocolParsePool(opts.parseThreads !== undefined ? { threads: opts.parseThreads } : {});
      registerTsRoutes(this.app, { tsdb: opts.tsdb, limits, decompressedBytesMax: this.decompressedBytesMax, parser: this.parser });
    }
  }

  private get decompressedBytesMax(): number {
    return this.opts.remoteWriteMaxBytes ?? TS_DECOMPRESSED_BYTES_DEFAULT;
  }

  /** Every route registered, for the OpenAPI coverage test. */
  get routes(): readonly HttpRoute[] {
    return this.registered;
  }

  /** Open client connections within clientsMax. */
  get connectionCount(): number {
    return this.limiter.openCount;
  }

  /** A request without a socket (fastify.inject), for tests and fuzzing. */
  inject(options: InjectOptions): Promise<LightMyRequestResponse> {
    return this.app.inject(options);
  }

  async start(): Promise<number> {
    if (this.closing) throw new StrataError(ERROR_CODES.CLOSED, 'HTTP server is closed');
    await this.app.listen({ host: this.opts.host, port: this.opts.port });
    const address = this.app.server.address() as AddressInfo;
    this.opts.logger.debug({ host: this.opts.host, port: address.port, tls: this.opts.tls !== undefined }, 'HTTP front end listening');
    return address.port;
  }

  /**
   * Graceful: /health turns 503 at once, the listener stops accepting,
   * requests in flight finish, idle connections close, then it resolves.
   */
  close(): Promise<void> {
    if (this.closed === undefined) {
      this.closing = true;
      this.closed = this.app.close().then(() => this.parser?.close());
    }
    return this.closed;
  }

  private registerServiceRoutes(limits: ServerLimits, metrics: ServerMetrics): void {
    const meta = (name: string, isPublic = false): { config: { strata: RouteMeta } } => ({ config: { strata: { name, write: false, public: isPublic } } });
    this.app.get('/health', meta('health', true), async (_request, reply) => {
      if (this.closing) return reply.code(503).send({ status: 'shutting_down' });
      return { status: 'ok' };
    });
    this.app.get('/metrics', meta('metrics'), async (_request, reply) => {
      const text = await metrics.text();
      return reply.type(metrics.contentType).send(text);
    });
    const doc = JSON.stringify(openApiDocument(limits, {
        tsdb: this.opts.tsdb !== undefined,
        decompressedBytesMax: this.decompressedBytesMax,
        cluster: this.opts.cluster !== undefined,
        faultInjection: this.opts.cluster?.opts.faultInjection === true,
      }));
    this.app.get('/openapi.json', meta('openapi'), async (_request, reply) => reply.type('application/json; charset=utf-8').send(doc));
  }

  /** onRequest: connection limit, shutdown, credentials and role. True when it answered the request itself; throws to answer with an error. */
  private checkRequest(request: FastifyRequest, reply: FastifyReply): boolean {
    const meta = request.routeOptions.config.strata;
    if (this.limiter.isRejected(request.raw.socket)) {
      reply.header('connection', 'close');
      const err = new HttpReplyError(503, ERROR_CODES.LIMIT_EXCEEDED, `too many connections (clientsMax ${this.opts.limits.clientsMax}); try again later`);
      this.sendError(request, reply, err, false);
      return true;
    }
    if (this.closing && meta?.name !== 'health') {
      reply.header('connection', 'close');
      this.sendError(request, reply, new StrataError(ERROR_CODES.UNAVAILABLE, 'the server is shutting down'));
      return true;
    }
    if (meta?.public === true) return false;
    // Unknown routes need credentials too, so they answer 401 before 404.
    // InfluxDB clients send `Authorization: Token <api token>` to the InfluxDB-compatible route.
    const authorization = meta?.name === INFLUX_WRITE_ROUTE ? influxAuthorization(request.headers.authorization) : request.headers.authorization;
    const principal = this.opts.auth.principalOfAuthorization(authorization);
    if (meta?.write === true) Authenticator.checkWrite(principal);
    return false;
  }

  /** Writes any error as JSON with its status; logs server-side failures (never values). */
  private sendError(request: FastifyRequest, reply: FastifyReply, err: unknown, countRejection = true): void {
    const r = errorReplyOf(err);
    // Overload and a shard between leaders are expected and answered; only real failures are logged.
    if (r.status >= 500 && r.body.error.code !== ERROR_CODES.LIMIT_EXCEEDED && r.body.error.code !== ERROR_CODES.NOT_LEADER) {
      request.log.error({ err, reqId: request.id, route: request.routeOptions.config.strata?.name, method: request.method }, 'HTTP request failed');
    }
    if (countRejection && r.rejection !== undefined) this.opts.metrics.rejectedRequest('http', r.rejection);
    if (r.body.error.code === ERROR_CODES.UNAUTHENTICATED) reply.header('www-authenticate', WWW_AUTHENTICATE);
    reply.removeHeader(EXPIRE_AT_HEADER);
    reply.code(r.status).type('application/json; charset=utf-8').send(r.body);
  }

  /** Errors Node's HTTP parser reports before there is a request (bad framing, headers too large, timeouts). */
  private onClientError(err: Error & { code?: string }, socket: Socket): void {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let status = 400;
    let code: string = ERROR_CODES.PROTOCOL;
    let message = 'malformed HTTP request';
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      code = ERROR_CODES.LIMIT_EXCEEDED;
      message = 'request line and headers are too large';
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      message = 'request not received in time';
    }
    this.opts.metrics.rejectedRequest('http', code === ERROR_CODES.LIMIT_EXCEEDED ? 'limit' : 'protocol');
    this.opts.logger.debug({ code: err.code }, 'HTTP client error');
    if (socket.writable) socket.end(rawErrorResponse(status, STATUS_CODES[status] ?? 'Error', code, message), () => socket.destroy());
    else socket.destroy();
  }
}
