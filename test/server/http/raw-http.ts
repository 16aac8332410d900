// A bare HTTP/1.1 client over one TCP socket, for tests that need to control
// exactly what is on the wire and when (pipelining, partial requests,
// connection limits). Responses must carry Content-Length (ours do).
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { SocketReader } from '../../helpers/socket-reader.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export class RawConnection {
  private readonly reader: SocketReader;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.reader = new SocketReader(socket);
    this.closed = this.reader.closed;
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** The next complete response (an interim 100 Continue counts as one). */
  readResponse(): Promise<RawResponse> {
    return this.reader.next(parseResponse, 'response');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function parseResponse(buf: Buffer): { value: RawResponse; bytes: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? '0');
  if (buf.length < end + 4 + length) return undefined;
  const body = buf.subarray(end + 4, end + 4 + length).toString('utf8');
  return { value: { status, headers, body }, bytes: end + 4 + length };
}

export const GET_HEALTH = 'GET /health HTTP/1.1\r\nHost: test\r\n\r\n';
