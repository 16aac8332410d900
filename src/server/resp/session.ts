import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { KeyValueService } from '../../base/index.js';
import type { TimeSeriesService } from '../../tsdb/index.js';
import type { Authenticator, Principal } from '../auth.js';
import type { ServerLimits } from '../limits.js';
import type { CommandTable } from './command-table.js';
import type { RespVersion } from './resp-writer.js';
import type { ScanCursors } from './scan-cursors.js';

/** Counters INFO reports. */
export interface RespStats {
  connectionsReceived: number;
  connectionsRejected: number;
  commandsProcessed: number;
  protocolErrors: number;
  /** Commands processed during the last whole second (sampled once a second). */
  instantaneousOpsPerSec: number;
}

/** What command handlers may see of the server. */
export interface ServerState {
  readonly service: KeyValueService;
  /** The node's time-series database (TS.* commands); undefined when the node runs without one. */
  readonly tsdb?: TimeSeriesService | undefined;
  readonly auth: Authenticator;
  readonly limits: ServerLimits;
  readonly logger: Logger;
  readonly cursors: ScanCursors;
  readonly stats: RespStats;
  readonly commands: CommandTable;
  readonly tls: boolean;
  readonly host: string;
  /** The bound port (0 before start). */
  readonly port: number;
  /** Service clock time the server started. */
  readonly startedAtMs: number;
  /** Every open client. */
  sessions(): Iterable<ClientSession>;
  /** Open clients. */
  clientCount(): number;
  /** Counts a failed AUTH/HELLO AUTH (metrics). */
  onAuthFailure(): void;
}

/**
 * The per-connection state commands read and change: identity, chosen
 * protocol version, name, and what INFO and CLIENT LIST report.
 */
export class ClientSession {
  /** The server's service and limits, as plain fields (handlers read them on every command). READONLY swaps the service for its stale-read view. */
  service: KeyValueService;
  readonly limits: ServerLimits;
  readonly createdAtMs: number;
  private readonly createdAtPerfMs: number;
  /** Who is authenticated; undefined until AUTH/HELLO when the server requires users. */
  principal: Principal | undefined;
  resp: RespVersion = 2;
  name = '';
  libName = '';
  libVersion = '';
  /** performance.now() when the client's last batch started (for CLIENT LIST idle). */
  lastCommandAtMs = 0;
  lastCommand = 'NULL';
  /** Set by QUIT: reply, then close without running anything after it. */
  quitRequested = false;

  constructor(
    readonly server: ServerState,
    readonly id: number,
    readonly addr: string,
    readonly localAddr: string,
    principal: Principal | undefined,
  ) {
    this.principal = principal;
    this.service = server.service;
    this.limits = server.limits;
    this.createdAtMs = server.service.nowMs();
    this.createdAtPerfMs = performance.now();
    this.lastCommandAtMs = this.createdAtPerfMs;
  }


  /**
   * READONLY / READWRITE (as Redis Cluster's): on a cluster node, READONLY
   * lets this connection's reads be served by any replica as it is (stale
   * allowed, no leader round trip); READWRITE restores linearizable reads.
   * A single node has one copy of each key, so both change nothing there.
   */
  setReadConsistency(read: 'linearizable' | 'stale'): void {
    const base = this.server.service;
    this.service = base.withConsistency !== undefined ? base.withConsistency({ read }) : base;
  }

  /** A CLIENT LIST line (without the newline), in Redis 7's field order. */
  describe(): string {
    const now = performance.now();
    const age = Math.max(0, Math.floor((now - this.createdAtPerfMs) / 1000));
    const idle = Math.max(0, Math.floor((now - this.lastCommandAtMs) / 1000));
    const user = this.principal?.user ?? 'default';
    return (
      `id=${this.id} addr=${this.addr} laddr=${this.localAddr} fd=-1 name=${this.name} age=${age} idle=${idle} flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 ` +
      `qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=${this.lastCommand} user=${user} redir=-1 resp=${this.resp} ` +
      `lib-name=${this.libName} lib-ver=${this.libVersion}`
    );
  }
}
