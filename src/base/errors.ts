/**
 * One error class with a stable string `code`. Messages may change between
 * releases; codes do not. Every code is listed in `ERROR_CODES` and documented
 * in docs/errors.md; protocol front ends map codes, never messages.
 */
export const ERROR_CODES = {
  /** A key that the API promised exists does not (missing keys are `undefined` elsewhere). */
  NOT_FOUND: 'NOT_FOUND',
  /** Bytes on disk failed a checksum or structural check. Names file and offset. */
  CORRUPTION: 'CORRUPTION',
  /** The database (or iterator, snapshot) was closed. */
  CLOSED: 'CLOSED',
  /** An argument or option is invalid (wrong type, out of range, too large). */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** The operating system reported an I/O failure. */
  IO: 'IO',
  /** Another process or handle holds the database LOCK file. */
  LOCKED: 'LOCKED',
  /** A previous fsync or write failed; the database refuses writes until reopened. */
  READ_ONLY: 'READ_ONLY',
  /** The stored value is not an integer (INCR and friends), or the result would not be one. */
  NOT_INTEGER: 'NOT_INTEGER',
  /** The stored value or the increment is not a valid finite float (INCRBYFLOAT). */
  NOT_FLOAT: 'NOT_FLOAT',
  /** An increment would overflow a signed 64-bit integer. */
  OVERFLOW: 'OVERFLOW',
  /** The request needs an authenticated user (no credentials were given). */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** The user's role does not allow the operation (or, on RESP, AUTH was refused). */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** A configured limit was reached: request or value size, clients, pipeline depth, output buffer. */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  /** The bytes a client sent do not follow the protocol (RESP framing, HTTP body, gRPC message). */
  PROTOCOL: 'PROTOCOL',
  /** The server is shutting down or not ready to serve. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** A conditional write's condition did not hold (HTTP `if=absent|present`). */
  CONDITION_FAILED: 'CONDITION_FAILED',
  /** A configuration file, environment variable or flag is invalid. Names the key. */
  CONFIG: 'CONFIG',
  /** A time-series write gave a field a different type than the measurement already holds for it. */
  SCHEMA_CONFLICT: 'SCHEMA_CONFLICT',
  /** A cluster replica that is not its shard's leader was asked to lead; the message names the leader when known. Retry there. */
  NOT_LEADER: 'NOT_LEADER',
  /** A cluster shard was asked about a key it no longer owns (a split moved the key's range to another shard). Route again. */
  WRONG_SHARD: 'WRONG_SHARD',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export class StrataError extends Error {
  readonly code: ErrorCode;
  /** For CORRUPTION: the file that failed its check. */
  readonly file: string | undefined;
  /** For CORRUPTION: the byte offset in `file` where the bad data starts. */
  readonly offset: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; file?: string; offset?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StrataError';
    this.code = code;
    this.file = options?.file;
    this.offset = options?.offset;
  }
}

export function isStrataError(err: unknown, code?: ErrorCode): err is StrataError {
  return err instanceof StrataError && (code === undefined || err.code === code);
}

export function invalidArgument(message: string): StrataError {
  return new StrataError(ERROR_CODES.INVALID_ARGUMENT, message);
}

export function corruption(file: string, offset: number, what: string): StrataError {
  return new StrataError(ERROR_CODES.CORRUPTION, `corruption in ${file} at offset ${offset}: ${what}`, { file, offset });
}

export function closedError(what = 'database'): StrataError {
  return new StrataError(ERROR_CODES.CLOSED, `${what} is closed`);
}

/** Wraps an operating-system error (anything that is not already a StrataError) as IO. */
export function ioError(op: string, path: string, cause: unknown): StrataError {
  if (cause instanceof StrataError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new StrataError(ERROR_CODES.IO, `${op} ${path}: ${detail}`, { cause });
}

/** A broken invariant: a bug, never an operating condition. Crashes loudly. */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}
