// Starts a real RespServer on 127.0.0.1 (port 0) over a real LocalKvService
// (in-memory file system, manual clock), and a raw RESP client that returns
// each reply's exact bytes, for the RESP front-end tests.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SocketReader } from '../../helpers/socket-reader.js';
import { ManualClock, MemFs } from '../../../src/base/index.js';
import { LocalKvService } from '../../../src/node/index.js';
// The server layer's own files rather than its index: the index also pulls in the other front ends.
import { Authenticator } from '../../../src/server/auth.js';
import type { UserConfig } from '../../../src/server/auth.js';
import type { TlsMaterial } from '../../../src/server/front-end.js';
import { DEFAULT_LIMITS } from '../../../src/server/limits.js';
import type { ServerLimits } from '../../../src/server/limits.js';
import { ServerMetrics } from '../../../src/server/metrics.js';
import { RespServer } from '../../../src/server/resp/index.js';

export const T0_MS = 1_700_000_000_000;

export interface Harness {
  server: RespServer;
  service: LocalKvService;
  metrics: ServerMetrics;
  clock: ManualClock;
  port: number;
  /** Log lines (JSON) at warn and above. */
  logs: string[];
  /** Resolves when a warn/error log line contains `text`. */
  logged(text: string): Promise<string>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  limits?: Partial<ServerLimits>;
  users?: UserConfig[];
  tls?: TlsMaterial;
  /** Engine options (small write buffers make flushes happen). */
  engine?: { writeBufferSize?: number };
  scanCursorsMax?: number;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = new ManualClock(T0_MS);
  const service = await LocalKvService.open({ dir: '/db', fs: new MemFs(), clock, engine: { ...options.engine } });
  const metrics = new ServerMetrics(service, { defaultMetrics: false });
  const logs: string[] = [];
  const waiters: Array<{ text: string; resolve: (line: string) => void }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const line = chunk.toString();
      logs.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (line.includes(waiters[i]!.text)) waiters.splice(i, 1)[0]!.resolve(line);
      }
      done();
    },
  });
  const server = new RespServer({
    service,
    auth: new Authenticator(options.users ?? []),
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    metrics,
    logger: pino({ level: 'warn' }, sink),
    host: '127.0.0.1',
    port: 0,
    tls: options.tls,
    ...(options.scanCursorsMax !== undefined ? { scanCursorsMax: options.scanCursorsMax } : {}),
  });
  const port = await server.start();
  return {
    server,
    service,
    metrics,
    clock,
    port,
    logs,
    logged(text: string) {
      const hit = logs.find((l) => l.includes(text));
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve) => waiters.push({ text, resolve }));
    },
    async close() {
      await server.close();
      await service.close();
    },
  };
}

/** One command in multibulk form. */
export function encodeCommand(...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * The length of the first complete RESP2/RESP3 reply in `buf`, or -1 when
 * it has not fully arrived. Written independently of the server's encoder.
 */
export function replyLength(buf: Buffer, start = 0): number {
  const lineEnd = buf.indexOf('\r\n', start);
  if (lineEnd < 0) return -1;
  const type = String.fromCharCode(buf[start]!);
  const header = buf.toString('latin1', start + 1, lineEnd);
  const after = lineEnd + 2;
  switch (type) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
      return after - start;
    case '$':
    case '=':
    case '!': {
      const n = Number(header);
      if (n < 0) return after - start;
      return buf.length >= after + n + 2 ? after + n + 2 - start : -1;
    }
    case '*':
    case '~':
    case '>':
    case '%': {
      let n = Number(header);
      if (n < 0) return after - start;
      if (type === '%') n *= 2;
      let pos = after;
      for (let i = 0; i < n; i++) {
        const len = replyLength(buf, pos);
        if (len < 0) return -1;
        pos += len;
      }
      return pos - start;
    }
    default:
      throw new Error(`not a RESP reply at ${start}: ${JSON.stringify(buf.toString('latin1', start, start + 40))}`);
  }
}

/** A raw RESP client: write any bytes, read replies as their exact text (latin1). */
export class RawClient {
  private readonly reader: SocketReader;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.reader = new SocketReader(socket);
    this.closed = this.reader.closed;
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends one command and returns its reply. */
  call(...args: Array<string | Buffer>): Promise<string> {
    this.send(encodeCommand(...args));
    return this.reply();
  }

  /** The next complete reply as latin1 text; rejects when the connection closes first. */
  reply(): Promise<string> {
    return this.reader.next((buf) => {
      const n = replyLength(buf);
      return n < 0 ? undefined : { value: buf.toString('latin1', 0, n), bytes: n };
    }, 'reply');
  }

  /** The next `n` replies. */
  async replies(n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await this.reply());
    return out;
  }

  /** Bytes received and not yet returned as replies. */
  get unread(): string {
    return this.reader.unread;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** RESP2 bulk string text for `s`. */
export const bulk = (s: string | Buffer): string => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return `$${b.length}\r\n${b.toString('latin1')}\r\n`;
};
