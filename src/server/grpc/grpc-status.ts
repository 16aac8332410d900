import { status as GrpcCode } from '@grpc/grpc-js';
import type { StatusObject } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { isStrataError } from '../../base/index.js';
import { GRPC_STATUS, clientMessageOf, errorCodeOf } from '../errors.js';

/** A status a handler passes to its callback or emits on its stream. */
export interface GrpcErrorStatus extends Partial<StatusObject> {
  code: GrpcCode;
  details: string;
}

/**
 * The gRPC status for a thrown value, by its StrataError code (never its
 * message) through GRPC_STATUS. Anything that is not a StrataError is a bug
 * or an unexpected failure: it is logged and the client sees INTERNAL with a
 * generic message.
 */
export function grpcStatusOf(err: unknown, logger: Logger, method: string): GrpcErrorStatus {
  if (!isStrataError(err)) logger.error({ err, method }, 'gRPC call failed unexpectedly');
  return { code: GRPC_STATUS[errorCodeOf(err)], details: clientMessageOf(err) };
}
