import type { Logger } from 'pino';
import type { KeyValueService } from '../base/index.js';
import type { TimeSeriesService } from '../tsdb/index.js';
import type { ClusterNode } from '../cluster/index.js';
import type { Authenticator } from './auth.js';
import type { ServerLimits } from './limits.js';
import type { ServerMetrics } from './metrics.js';

/** PEM material for a TLS listener, read from the configured files. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** When set, client certificates signed by this CA are requested (and required if requireClientCert). */
  ca?: Buffer;
  requireClientCert?: boolean;
}

/** What every front end (RESP, HTTP, gRPC) is built from. */
export interface FrontEndOptions {
  service: KeyValueService;
  /** This node's cluster membership (coordinator API, consistency levels); absent on a single node. */
  cluster?: ClusterNode | undefined;
  /** The node's time-series database; absent when the node runs without one. */
  tsdb?: TimeSeriesService | undefined;
  auth: Authenticator;
  limits: ServerLimits;
  metrics: ServerMetrics;
  logger: Logger;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  tls?: TlsMaterial | undefined;
}

/**
 * A listening front end. `close()` is graceful: stop accepting, let
 * in-flight requests finish (then close idle connections), resolve.
 */
export interface FrontEnd {
  readonly protocol: 'resp' | 'http' | 'grpc';
  /** Starts listening; resolves with the bound port. */
  start(): Promise<number>;
  close(): Promise<void>;
}
