import { performance } from 'node:perf_hooks';
import type { Metadata, ServerUnaryCall, ServerWritableStream, UntypedServiceImplementation, handleUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { invalidArgument } from '../../base/index.js';
import type { KeyValueService } from '../../base/index.js';
import type { ServerLimits } from '../limits.js';
import type { ServerMetrics } from '../metrics.js';
import { grpcStatusOf } from './grpc-status.js';
import type {
  BatchRequest,
  BatchResponse,
  DeleteRequest,
  DeleteResponse,
  GetRequest,
  GetResponse,
  PutRequest,
  PutResponse,
  ScanRequest,
  ScanResponse,
} from './messages.js';
import { batchOpsOf, checkKey, checkValue, deleteKeysOf, putOptionsOf, scanPlanOf } from './request-checks.js';
import { streamScan } from './scan-stream.js';

/** What admission needs to know about a call. */
export interface CallInfo {
  readonly metadata: Metadata;
  getPeer(): string;
}

export interface KvHandlerDeps {
  service: KeyValueService;
  limits: ServerLimits;
  metrics: ServerMetrics;
  logger: Logger;
  /**
   * Throws (UNAUTHENTICATED, PERMISSION_DENIED, LIMIT_EXCEEDED) unless the
   * call may run; `write` asks for the read-write role.
   */
  admit(call: CallInfo, write: boolean): void;
}

/** The service at a request's ReadConsistency (cluster nodes; a single node has one level). */
function readService(service: KeyValueService, level: string | number | undefined): KeyValueService {
  const read = level === 'STALE' || level === 2 ? 'stale' : level === 'LINEARIZABLE' || level === 1 ? 'linearizable' : undefined;
  if (read === undefined && level !== undefined && level !== 'READ_DEFAULT' && level !== 0) throw invalidArgument(`unknown read consistency ${String(level)}`);
  return read === undefined || service.withConsistency === undefined ? service : service.withConsistency({ read });
}

/** The service at a request's WriteConsistency. */
function writeService(service: KeyValueService, level: string | number | undefined): KeyValueService {
  const write = level === 'ALL' || level === 2 ? 'all' : level === 'QUORUM' || level === 1 ? 'quorum' : undefined;
  if (write === undefined && level !== undefined && level !== 'WRITE_DEFAULT' && level !== 0) throw invalidArgument(`unknown write consistency ${String(level)}`);
  return write === undefined || service.withConsistency === undefined ? service : service.withConsistency({ write });
}

/**
 * The strata.v1.KV methods over a KeyValueService. Each call is admitted
 * (connection limit, credentials, role), its request checked in full before
 * anything is written, and its duration and outcome recorded in
 * metrics.command('grpc', method).
 */
export function kvImplementation(deps: KvHandlerDeps): UntypedServiceImplementation {
  const { service, limits } = deps;
  const Get = unary<GetRequest, GetResponse>(deps, 'Get', false, async (req) => {
    const entry = await readService(service, req.consistency).getEntry(checkKey(req.key, limits));
    return entry === undefined
      ? { found: false, value: EMPTY, expireAtMs: 0 }
      : { found: true, value: entry.value, expireAtMs: entry.expireAtMs ?? 0 };
  });
  const Put = unary<PutRequest, PutResponse>(deps, 'Put', true, async (req) => {
    const key = checkKey(req.key, limits);
    const value = checkValue(req.value, limits);
    const { written } = await writeService(service, req.consistency).set(key, value, putOptionsOf(req, service.nowMs()));
    return { written };
  });
  const Delete = unary<DeleteRequest, DeleteResponse>(deps, 'Delete', true, async (req) => {
    return { deleted: await writeService(service, req.consistency).delete(deleteKeysOf(req.keys, limits)) };
  });
  const Batch = unary<BatchRequest, BatchResponse>(deps, 'Batch', true, async (req) => {
    await writeService(service, req.consistency).batch(batchOpsOf(req.ops, limits, service.nowMs()));
    return {};
  });
  const scanMetric = deps.metrics.command('grpc', 'Scan');
  const Scan = (call: ServerWritableStream<ScanRequest, ScanResponse>): void => {
    const started = performance.now();
    const run = async (): Promise<void> => {
      deps.admit(call, false);
      await streamScan(call, readService(service, call.request.consistency), scanPlanOf(call.request, limits));
    };
    run().then(
      () => {
        scanMetric.observe(secondsSince(started), false);
        if (!call.cancelled) call.end();
      },
      (err: unknown) => {
        scanMetric.observe(secondsSince(started), true);
        if (!call.cancelled) call.emit('error', grpcStatusOf(err, deps.logger, 'Scan'));
      },
    );
  };
  return { Get, Put, Delete, Batch, Scan };
}

const EMPTY = Buffer.alloc(0);

function unary<Req, Res>(deps: KvHandlerDeps, method: string, write: boolean, run: (req: Req) => Promise<Res>): handleUnaryCall<Req, Res> {
  const metric = deps.metrics.command('grpc', method);
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    const started = performance.now();
    const attempt = async (): Promise<Res> => {
      deps.admit(call, write);
      return run(call.request);
    };
    attempt().then(
      (res) => {
        metric.observe(secondsSince(started), false);
        callback(null, res);
      },
      (err: unknown) => {
        metric.observe(secondsSince(started), true);
        callback(grpcStatusOf(err, deps.logger, method));
      },
    );
  };
}

function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
