import type { Socket } from 'node:net';
import type { ServerMetrics } from '../metrics.js';

/** Over-limit connections kept open at once to be told why (beyond this they are closed at once). */
export const REJECTED_OPEN_MAX = 64;
/** How long an over-limit connection may take to send a request before it is closed. */
export const REJECTED_GRACE_MS = 5_000;

/**
 * Counts client connections against `clientsMax`. A connection over the
 * limit is marked rather than dropped, so its first request gets a proper
 * 503 JSON error (LIMIT_EXCEEDED) and `Connection: close`; one that sends
 * nothing is closed after REJECTED_GRACE_MS, and past REJECTED_OPEN_MAX such
 * connections the next ones are closed without a word.
 */
export class ConnectionLimiter {
  private accepted = 0;
  private rejectedOpen = 0;
  private readonly rejected = new WeakSet<Socket>();

  constructor(
    private readonly clientsMax: number,
    private readonly metrics: ServerMetrics,
  ) {}

  /** Open accepted (not rejected) connections. */
  get openCount(): number {
    return this.accepted;
  }

  /** Call once for every new connection (for TLS, once the handshake is done). */
  admit(socket: Socket): void {
    if (this.accepted < this.clientsMax) {
      this.accepted++;
      this.metrics.connectionOpened('http');
      socket.once('close', () => {
        this.accepted--;
        this.metrics.connectionClosed('http');
      });
      return;
    }
    this.metrics.rejectedRequest('http', 'limit');
    if (this.rejectedOpen >= REJECTED_OPEN_MAX) {
      socket.destroy();
      return;
    }
    this.rejectedOpen++;
    this.rejected.add(socket);
    socket.setTimeout(REJECTED_GRACE_MS, () => socket.destroy());
    socket.once('close', () => {
      this.rejectedOpen--;
    });
  }

  /** True when the socket was over the limit: answer its request with an error and close it. */
  isRejected(socket: Socket): boolean {
    return this.rejected.has(socket);
  }
}
