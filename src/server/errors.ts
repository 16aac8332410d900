import { ERROR_CODES, isStrataError } from '../base/index.js';
import type { ErrorCode } from '../base/index.js';

/**
 * One table per protocol maps error codes to what the client sees
 * (STYLE.md: codes, never messages). A test checks every code has a row.
 */

/** The RESP error prefix (the first word of a `-` reply). */
export const RESP_ERROR_PREFIX: Record<ErrorCode, string> = {
  NOT_FOUND: 'ERR',
  CORRUPTION: 'ERR',
  CLOSED: 'ERR',
  INVALID_ARGUMENT: 'ERR',
  IO: 'ERR',
  LOCKED: 'ERR',
  READ_ONLY: 'READONLY',
  NOT_INTEGER: 'ERR',
  NOT_FLOAT: 'ERR',
  OVERFLOW: 'ERR',
  UNAUTHENTICATED: 'NOAUTH',
  PERMISSION_DENIED: 'NOPERM',
  LIMIT_EXCEEDED: 'ERR',
  PROTOCOL: 'ERR',
  UNAVAILABLE: 'ERR',
  CONDITION_FAILED: 'ERR',
  SCHEMA_CONFLICT: 'ERR',
  NOT_LEADER: 'TRYAGAIN',
  WRONG_SHARD: 'TRYAGAIN',
  CONFIG: 'ERR',
};

/** The HTTP status for each code. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  CORRUPTION: 500,
  CLOSED: 503,
  INVALID_ARGUMENT: 400,
  IO: 500,
  LOCKED: 503,
  READ_ONLY: 503,
  NOT_INTEGER: 400,
  NOT_FLOAT: 400,
  OVERFLOW: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  LIMIT_EXCEEDED: 413,
  PROTOCOL: 400,
  UNAVAILABLE: 503,
  CONDITION_FAILED: 412,
  SCHEMA_CONFLICT: 409,
  NOT_LEADER: 503,
  WRONG_SHARD: 503,
  CONFIG: 500,
};

/** gRPC status numbers (grpc.status) for each code. */
export const GRPC_STATUS: Record<ErrorCode, number> = {
  NOT_FOUND: 5, // NOT_FOUND
  CORRUPTION: 15, // DATA_LOSS
  CLOSED: 14, // UNAVAILABLE
  INVALID_ARGUMENT: 3, // INVALID_ARGUMENT
  IO: 13, // INTERNAL
  LOCKED: 14, // UNAVAILABLE
  READ_ONLY: 9, // FAILED_PRECONDITION
  NOT_INTEGER: 9, // FAILED_PRECONDITION
  NOT_FLOAT: 9, // FAILED_PRECONDITION
  OVERFLOW: 11, // OUT_OF_RANGE
  UNAUTHENTICATED: 16, // UNAUTHENTICATED
  PERMISSION_DENIED: 7, // PERMISSION_DENIED
  LIMIT_EXCEEDED: 8, // RESOURCE_EXHAUSTED
  PROTOCOL: 3, // INVALID_ARGUMENT
  UNAVAILABLE: 14, // UNAVAILABLE
  CONDITION_FAILED: 9, // FAILED_PRECONDITION
  SCHEMA_CONFLICT: 9, // FAILED_PRECONDITION
  NOT_LEADER: 14, // UNAVAILABLE
  WRONG_SHARD: 14, // UNAVAILABLE
  CONFIG: 13, // INTERNAL
};

/** The code of any thrown value: a StrataError's own, else an internal IO-class failure. */
export function errorCodeOf(err: unknown): ErrorCode {
  return isStrataError(err) ? err.code : ERROR_CODES.IO;
}

/** The message a client may see: a StrataError's message, else a generic one (internals stay in the log). */
export function clientMessageOf(err: unknown): string {
  return isStrataError(err) ? err.message : 'internal error';
}
