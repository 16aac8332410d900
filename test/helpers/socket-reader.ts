// Buffers what a test's raw socket receives and hands out whole messages, so
// protocol tests can control exactly what is on the wire and when.
import type { Socket } from 'node:net';

export class SocketReader {
  private buffered = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.waiter?.();
        resolve();
      });
    });
    // A reset shows up as 'close' too; next() reports the missing message.
    socket.on('error', () => {
      this.ended = true;
    });
  }

  /**
   * The next whole message: `parse` looks at the unread bytes and returns the
   * message and how many bytes it took, or undefined while it is incomplete.
   * Rejects when the connection closes first.
   */
  async next<T>(parse: (buf: Buffer) => { value: T; bytes: number } | undefined, what: string): Promise<T> {
    for (;;) {
      const got = this.buffered.length > 0 ? parse(this.buffered) : undefined;
      if (got !== undefined) {
        this.buffered = this.buffered.subarray(got.bytes);
        return got.value;
      }
      if (this.ended) throw new Error(`connection closed before a complete ${what} (unread ${JSON.stringify(this.unread)})`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
  }

  /** Bytes received and not yet returned. */
  get unread(): string {
    return this.buffered.toString('latin1');
  }
}
