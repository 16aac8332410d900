// Shared set-up for the gRPC front-end tests: a GrpcServer over the real
// LocalKvService (in-memory file system, manual clock) on 127.0.0.1:0, and a
// typed @grpc/grpc-js client built from the same .proto files.
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { ManualClock, MemFs } from '../../../src/base/index.js';
import { LocalKvService } from '../../../src/node/index.js';
// The server layer's parts are imported file by file so these tests do not
// depend on the other front ends that src/server/index.ts also exports.
import { Authenticator } from '../../../src/server/auth.js';
import type { UserConfig } from '../../../src/server/auth.js';
import type { TlsMaterial } from '../../../src/server/front-end.js';
import { DEFAULT_LIMITS } from '../../../src/server/limits.js';
import type { ServerLimits } from '../../../src/server/limits.js';
import { ServerMetrics } from '../../../src/server/metrics.js';
import type { CommandMetrics, Protocol } from '../../../src/server/metrics.js';
import { GrpcServer, loadGrpcDefinitions } from '../../../src/server/grpc/index.js';
import type {
  BatchRequest,
  BatchResponse,
  DeleteRequest,
  DeleteResponse,
  GetRequest,
  GetResponse,
  HealthCheckRequest,
  HealthCheckResponse,
  PutRequest,
  PutResponse,
  ScanRequest,
  ScanResponse,
} from '../../../src/server/grpc/index.js';

/** Request shapes a test may send: any subset of fields (the encoder fills defaults). */
export type RequestFields<T> = { [K in keyof T]?: T[K] | undefined };

/** ServerMetrics that also tells tests when a command finished (no sleeping until a handler is done). */
export class ObservedMetrics extends ServerMetrics {
  private readonly waiters: Array<{ command: string; resolve: (failed: boolean) => void }> = [];

  override command(protocol: Protocol, command: string): CommandMetrics {
    const inner = super.command(protocol, command);
    return {
      observe: (seconds: number, failed: boolean) => {
        inner.observe(seconds, failed);
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          const w = this.waiters[i]!;
          if (w.command !== command) continue;
          this.waiters.splice(i, 1);
          w.resolve(failed);
        }
      },
    };
  }

  /** Resolves (with `failed`) when the next `command` call finishes. */
  nextFinished(command: string): Promise<boolean> {
    return new Promise((resolve) => this.waiters.push({ command, resolve }));
  }

  /** The value of a counter or gauge sample, e.g. ('strata_connections', { protocol: 'grpc' }). */
  async sample(name: string, labels: Record<string, string>): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (metric === undefined) return 0;
    const data = await metric.get();
    const hit = data.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
    return hit?.value ?? 0;
  }
}

export interface StartOptions {
  users?: UserConfig[];
  limits?: Partial<ServerLimits>;
  tls?: TlsMaterial;
  closeTimeoutMs?: number;
}

export interface Harness {
  server: GrpcServer;
  port: number;
  address: string;
  service: LocalKvService;
  clock: ManualClock;
  metrics: ObservedMetrics;
  limits: ServerLimits;
  /** A client over a plaintext channel (only for servers without TLS). */
  client(options?: ClientOptions): KvTestClient;
  /** Closes the server, every client made by `client()`, and the service. */
  stop(): Promise<void>;
}

export const CLOCK_START_MS = 1_700_000_000_000;

export async function startServer(options: StartOptions = {}): Promise<Harness> {
  const clock = new ManualClock(CLOCK_START_MS);
  const service = await LocalKvService.open({ dir: '/db', fs: new MemFs(), clock });
  const metrics = new ObservedMetrics(service, { defaultMetrics: false });
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const server = new GrpcServer({
    service,
    auth: new Authenticator(options.users ?? []),
    limits,
    metrics,
    logger: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
    tls: options.tls,
    ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
  });
  const port = await server.start();
  const address = `127.0.0.1:${port}`;
  const clients: KvTestClient[] = [];
  return {
    server,
    port,
    address,
    service,
    clock,
    metrics,
    limits,
    client(clientOptions) {
      const c = new KvTestClient(address, grpc.credentials.createInsecure(), clientOptions);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await server.close();
      await service.close();
    },
  };
}

export interface ClientOptions {
  /** Sent with every call (e.g. authorization). */
  metadata?: Record<string, string>;
  /** Channel options; each client gets its own connection regardless. */
  channel?: grpc.ChannelOptions;
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;

/**
 * A typed client over the service definitions loaded from proto/ (the same
 * files and loader options as the server). Each instance has its own
 * connection (local subchannel pool), so tests can count connections.
 */
export class KvTestClient {
  readonly raw: grpc.Client;
  private readonly defs = loadGrpcDefinitions();
  private readonly baseMetadata: Record<string, string>;

  constructor(address: string, credentials: grpc.ChannelCredentials, options: ClientOptions = {}) {
    this.raw = new grpc.Client(address, credentials, {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': 128 * 1024 * 1024,
      'grpc.max_send_message_length': 128 * 1024 * 1024,
      ...options.channel,
    });
    this.baseMetadata = options.metadata ?? {};
  }

  metadata(extra: Record<string, string> = {}): grpc.Metadata {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries({ ...this.baseMetadata, ...extra })) md.set(k, v);
    return md;
  }

  private unary<Req, Res>(service: 'kv' | 'health', method: string, req: Req, extra?: Record<string, string>): Promise<Res> {
    const def = this.defs[service][method];
    if (def === undefined) throw new Error(`no method ${method}`);
    return new Promise<Res>((resolve, reject) => {
      const cb: Callback<Res> = (err, value) => (err !== null ? reject(err) : resolve(value as Res));
      this.raw.makeUnaryRequest<Req, Res>(def.path, def.requestSerialize, def.responseDeserialize, req, this.metadata(extra), cb);
    });
  }

  get(req: RequestFields<GetRequest>, extra?: Record<string, string>): Promise<GetResponse & { value: Buffer }> {
    return this.unary('kv', 'Get', req, extra);
  }
  put(req: RequestFields<PutRequest>, extra?: Record<string, string>): Promise<PutResponse> {
    return this.unary('kv', 'Put', req, extra);
  }
  delete(req: RequestFields<DeleteRequest>, extra?: Record<string, string>): Promise<DeleteResponse> {
    return this.unary('kv', 'Delete', req, extra);
  }
  batch(req: RequestFields<BatchRequest>, extra?: Record<string, string>): Promise<BatchResponse> {
    return this.unary('kv', 'Batch', req, extra);
  }
  scan(req: RequestFields<ScanRequest>, extra?: Record<string, string>): grpc.ClientReadableStream<ScanResponse & { entries: Array<{ key: Buffer; value: Buffer; expireAtMs: number }> }> {
    const def = this.defs.kv['Scan'];
    if (def === undefined) throw new Error('no method Scan');
    return this.raw.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, req, this.metadata(extra));
  }
  /** All entries of a scan, and how many messages carried them. */
  async scanAll(req: RequestFields<ScanRequest>, extra?: Record<string, string>): Promise<{ keys: string[]; values: Buffer[]; messages: number }> {
    const keys: string[] = [];
    const values: Buffer[] = [];
    let messages = 0;
    for await (const msg of this.scan(req, extra)) {
      const m = msg as ScanResponse & { entries: Array<{ key: Buffer; value: Buffer }> };
      messages++;
      for (const e of m.entries) {
        keys.push(e.key.toString('latin1'));
        values.push(e.value);
      }
    }
    return { keys, values, messages };
  }
  healthCheck(service: string): Promise<HealthCheckResponse> {
    return this.unary<HealthCheckRequest, HealthCheckResponse>('health', 'Check', { service });
  }
  healthWatch(service: string): grpc.ClientReadableStream<HealthCheckResponse> {
    const def = this.defs.health['Watch'];
    if (def === undefined) throw new Error('no method Watch');
    return this.raw.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, { service }, this.metadata());
  }
  close(): void {
    this.raw.close();
  }
}

/** The gRPC status code a rejected promise carries (fails the test if it resolved). */
export async function statusOf(p: Promise<unknown>): Promise<{ code: grpc.status; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}

/** Reads a server stream to its end; resolves with the messages, rejects with the stream's error. */
export function collect<T>(stream: grpc.ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    stream.on('data', (m: T) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

/** Resolves with the next message of a stream. */
export function nextMessage<T>(stream: grpc.ClientReadableStream<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const onData = (m: T): void => {
      stream.off('error', onError);
      resolve(m);
    };
    const onError = (err: Error): void => {
      stream.off('data', onData);
      reject(err);
    };
    stream.once('data', onData);
    stream.once('error', onError);
  });
}

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
