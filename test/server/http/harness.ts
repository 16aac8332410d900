// Starts a real HttpServer on 127.0.0.1 (port 0) over a real LocalKvService
// (in-memory file system, manual clock) for the HTTP front-end tests.
import { pino } from 'pino';
import { ManualClock, MemFs } from '../../../src/base/index.js';
import { LocalKvService } from '../../../src/node/index.js';
// The server layer's own files rather than its index: the index also pulls in the other front ends.
import { Authenticator } from '../../../src/server/auth.js';
import type { UserConfig } from '../../../src/server/auth.js';
import type { TlsMaterial } from '../../../src/server/front-end.js';
import { DEFAULT_LIMITS } from '../../../src/server/limits.js';
import type { ServerLimits } from '../../../src/server/limits.js';
import { ServerMetrics } from '../../../src/server/metrics.js';
import { HttpServer, percentEncode } from '../../../src/server/http/index.js';

export const T0_MS = 1_700_000_000_000;

export interface Harness {
  server: HttpServer;
  service: LocalKvService;
  metrics: ServerMetrics;
  clock: ManualClock;
  port: number;
  /** http://127.0.0.1:<port> (https:// with TLS) */
  base: string;
  /** The URL of a key: /v1/kv/ and every byte percent-encoded. */
  keyUrl(key: string | Uint8Array): string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  limits?: Partial<ServerLimits>;
  users?: UserConfig[];
  tls?: TlsMaterial;
  /** Engine options (small write buffers make flushes happen). */
  engine?: { writeBufferSize?: number };
  /** Don't listen: tests that only inject. */
  listen?: boolean;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = new ManualClock(T0_MS);
  const service = await LocalKvService.open({ dir: '/db', fs: new MemFs(), clock, engine: { ...options.engine } });
  const metrics = new ServerMetrics(service, { defaultMetrics: false });
  const server = new HttpServer({
    service,
    auth: new Authenticator(options.users ?? []),
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    metrics,
    logger: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
    tls: options.tls,
  });
  const port = options.listen === false ? 0 : await server.start();
  const base = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    server,
    service,
    metrics,
    clock,
    port,
    base,
    keyUrl: (key) => `/v1/kv/${percentEncode(typeof key === 'string' ? Buffer.from(key, 'utf8') : key)}`,
    async close() {
      await server.close();
      await service.close();
    },
  };
}

/** The parsed JSON error of a response, asserting the shape {error:{code,message}}. */
export function errorOf(json: unknown): { code: string; message: string } {
  if (typeof json !== 'object' || json === null || !('error' in json)) throw new Error(`not an error body: ${JSON.stringify(json)}`);
  const e = (json as { error: unknown }).error;
  if (typeof e !== 'object' || e === null) throw new Error(`not an error body: ${JSON.stringify(json)}`);
  const { code, message } = e as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || typeof message !== 'string' || Object.keys(json).length !== 1) throw new Error(`not an error body: ${JSON.stringify(json)}`);
  return { code, message };
}
