import type { Socket } from 'node:net';
import type { ServerMetrics } from '../metrics.js';

/**
 * Counts client connections for `limits.clientsMax`. gRPC has no way to
 * refuse a connection with a status, so a connection beyond the limit is
 * still accepted, but marked refused: every KV call on it fails with
 * RESOURCE_EXHAUSTED (the client sees why) and it does not count towards the
 * limit. Once refused connections alone reach clientsMax as well, further
 * connections are closed at once (the total stays bounded).
 *
 * Calls name their connection by peer address (`call.getPeer()`), which
 * grpc-js forms as `remoteAddress:remotePort` of the session's socket.
 */
export class ConnectionGate {
  private admitted = 0;
  private readonly refusedPeers = new Set<string>();
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly clientsMax: number,
    private readonly metrics: ServerMetrics,
  ) {}

  /** Registers a new connection; false when it was closed at once (hard cap). */
  accept(socket: Socket): boolean {
    const peer = peerOf(socket);
    if (peer === undefined || (this.admitted >= this.clientsMax && this.refusedPeers.size >= this.clientsMax)) {
      if (peer !== undefined) this.metrics.rejectedRequest('grpc', 'limit');
      socket.destroy();
      return false;
    }
    const refused = this.admitted >= this.clientsMax;
    if (refused) this.refusedPeers.add(peer);
    else this.admitted++;
    this.sockets.add(socket);
    this.metrics.connectionOpened('grpc');
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (refused) this.refusedPeers.delete(peer);
      else this.admitted--;
      this.metrics.connectionClosed('grpc');
    });
    return true;
  }

  /** True when calls from this peer must be refused (its connection is over the limit). */
  isRefused(peer: string): boolean {
    return this.refusedPeers.size > 0 && this.refusedPeers.has(peer);
  }

  /** Open connections (admitted and refused). */
  get openCount(): number {
    return this.sockets.size;
  }

  /** Destroys every connection still open (the last step of a shutdown). */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}

function peerOf(socket: Socket): string | undefined {
  const { remoteAddress, remotePort } = socket;
  if (remoteAddress === undefined) return undefined;
  return remotePort === undefined ? remoteAddress : `${remoteAddress}:${remotePort}`;
}
