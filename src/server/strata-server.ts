import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { ERROR_CODES, StrataError } from '../base/index.js';
import type { Clock, Fs } from '../base/index.js';
import type { KeyValueService } from '../base/index.js';
import { isLoopbackHost, openClusterNode, openNodeStorage, openNodeTsdb, tsdbPaths } from '../node/index.js';
import type { ClusterNode, LocalKvService, StrataConfig } from '../node/index.js';
import type { TimeSeriesStore } from '../tsdb/index.js';
import { Authenticator } from './auth.js';
import type { FrontEnd, FrontEndOptions, TlsMaterial } from './front-end.js';
import { GrpcServer } from './grpc/index.js';
import { HttpServer } from './http/index.js';
import { ServerMetrics } from './metrics.js';
import { RespServer } from './resp/index.js';

export interface StrataServerOptions {
  /** Defaults to a pino logger built from config.log. */
  logger?: Logger;
  fs?: Fs;
  clock?: Clock;
}

/** Builds the pino logger config.log describes (JSON lines). */
export function createLogger(config: StrataConfig): Logger {
  const { level, destination } = config.log;
  const dest = destination === 'stdout' ? 1 : destination === 'stderr' ? 2 : destination;
  return pino({ level, base: { service: 'strata' } }, pino.destination({ dest, sync: false }));
}

function readTls(config: StrataConfig): TlsMaterial | undefined {
  const t = config.security.tls;
  if (!t.enabled) return undefined;
  const read = (file: string, key: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new StrataError(ERROR_CODES.CONFIG, `config security.tls.${key}: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  return {
    cert: read(t.certFile, 'certFile'),
    key: read(t.keyFile, 'keyFile'),
    ...(t.caFile !== '' ? { ca: read(t.caFile, 'caFile') } : {}),
    requireClientCert: t.requireClientCert,
  };
}

/**
 * One running node: its storage behind the KeyValueService, its
 * time-series database (unless tsdb.enabled is false) and the front ends
 * the configuration names, all on server.host. `close()` is the graceful
 * shutdown: stop accepting, let in-flight requests finish (up to
 * server.shutdownTimeoutMs), seal and flush the time-series heads, flush
 * the memtable, close both engines.
 */
export class StrataServer {
  private closing: Promise<void> | undefined;

  private constructor(
    readonly config: StrataConfig,
    /** The key-value service front ends use: the local engine, or (cluster.enabled) the cluster's router. */
    readonly service: KeyValueService,
    /** The local engine of a single node; undefined in a cluster (data lives in shard replicas). */
    readonly local: LocalKvService | undefined,
    /** This node's cluster membership; undefined on a single node. */
    readonly cluster: ClusterNode | undefined,
    /** The time-series database; undefined with tsdb.enabled false. */
    readonly tsdb: TimeSeriesStore | undefined,
    readonly metrics: ServerMetrics,
    readonly logger: Logger,
    private readonly frontEnds: FrontEnd[],
    /** The bound port of each running front end. */
    readonly ports: Partial<Record<'resp' | 'http' | 'grpc', number>>,
  ) {}

  static async start(config: StrataConfig, options: StrataServerOptions = {}): Promise<StrataServer> {
    const logger = options.logger ?? createLogger(config);
    const auth = new Authenticator(config.security.users);
    const host = config.server.host;
    if (!isLoopbackHost(host) && !auth.required) {
      if (!config.server.insecure) {
        throw new StrataError(
          ERROR_CODES.CONFIG,
          `config server.host: refusing to listen on ${host} without authentication; configure security.users (strata hash-password) or pass --insecure`,
        );
      }
      logger.warn({ host }, 'listening on a non-loopback address WITHOUT authentication (--insecure): anyone who can reach this host can read and write every key');
    }
    const tls = readTls(config);
    const storageOptions = { ...(options.fs ? { fs: options.fs } : {}), ...(options.clock ? { clock: options.clock } : {}) };
    let local: LocalKvService | undefined;
    let cluster: ClusterNode | undefined;
    let service: KeyValueService;
    if (config.cluster.enabled) {
      const log = logger.child({ component: 'cluster' });
      const member = await openClusterNode(config, { ...(options.fs ? { fs: options.fs } : {}), log: (level, msg, fields) => log[level](fields ?? {}, msg) });
      cluster = member;
      service = member.service;
    } else {
      local = await openNodeStorage(config, storageOptions);
      service = local;
    }
    const closeStorage = async () => {
      await local?.close();
      await cluster?.close();
    };
    let tsdb: TimeSeriesStore | undefined;
    if (config.tsdb.enabled) {
      try {
        tsdb = await openNodeTsdb(config, storageOptions);
      } catch (err) {
        await closeStorage();
        throw err;
      }
    }
    const metrics = new ServerMetrics(service, { tsdb });
    const frontEnds: FrontEnd[] = [];
    const ports: Partial<Record<'resp' | 'http' | 'grpc', number>> = {};
    try {
      for (const protocol of config.server.protocols) {
        const base: FrontEndOptions = {
          service,
          cluster,
          tsdb,
          auth,
          limits: { ...config.limits },
          metrics,
          logger: logger.child({ protocol }),
          host,
          port: config.server[`${protocol}Port`],
          tls,
        };
        const fe: FrontEnd =
          protocol === 'resp' ? new RespServer(base) : protocol === 'http' ? new HttpServer({ ...base, remoteWriteMaxBytes: config.tsdb.remoteWriteMaxBytes, parseThreads: config.tsdb.parseThreads }) : new GrpcServer({ ...base, closeTimeoutMs: config.server.shutdownTimeoutMs });
        ports[protocol] = await fe.start();
        frontEnds.push(fe);
        logger.info({ protocol, host, port: ports[protocol], tls: tls !== undefined }, `${protocol} listening on ${host}:${ports[protocol]}`);
      }
    } catch (err) {
      await Promise.allSettled(frontEnds.map((f) => f.close()));
      await tsdb?.close().catch(() => undefined);
      await closeStorage();
      throw err;
    }
    if (cluster !== undefined) {
      const addr = (p: 'resp' | 'http' | 'grpc') => (ports[p] !== undefined ? `${host}:${ports[p]}` : '');
      cluster.announce({ resp: addr('resp'), http: addr('http'), grpc: addr('grpc') });
      logger.info({ node: cluster.id, peer: cluster.peerAddress, join: config.cluster.join }, `cluster member ${cluster.id}, peers at ${cluster.peerAddress}`);
    }
    logger.info(
      { dataDir: config.storage.dataDir, syncMode: config.storage.syncMode, auth: auth.required, tsdb: tsdb !== undefined ? tsdbPaths(config).dir : false },
      'strata ready',
    );
    return new StrataServer(config, service, local, cluster, tsdb, metrics, logger, frontEnds, ports);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.logger.info('shutting down: no new connections, finishing in-flight requests');
    const timeoutMs = this.config.server.shutdownTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    const closed = Promise.allSettled(this.frontEnds.map((f) => f.close()));
    const outcome = await Promise.race([closed, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.logger.warn({ timeoutMs }, 'in-flight requests did not finish in time; closing the engine anyway');
    else for (const r of outcome) if (r.status === 'rejected') this.logger.error({ err: r.reason }, 'a front end failed to close cleanly');
    if (this.tsdb !== undefined) {
      try {
        await this.tsdb.flush();
      } catch (err) {
        this.logger.error({ err }, 'time-series flush at shutdown failed (its head log still holds every acknowledged point)');
      }
      try {
        await this.tsdb.close();
      } catch (err) {
        this.logger.error({ err }, 'closing the time-series database failed');
      }
    }
    if (this.local !== undefined) {
      try {
        await this.local.flush();
      } catch (err) {
        this.logger.error({ err }, 'flush at shutdown failed (the WAL still holds every acknowledged write)');
      }
      await this.local.close();
    }
    // A cluster member's replicas need no flush: each shard's Raft log holds every acknowledged write.
    await this.cluster?.close();
    this.logger.info('stopped');
    this.logger.flush();
  }
}
