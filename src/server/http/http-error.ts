import { ERROR_CODES, isStrataError } from '../../base/index.js';
import { HTTP_STATUS, clientMessageOf, errorCodeOf } from '../errors.js';

/**
 * Every error reply is `{"error":{"code","message"}}`. The code is a
 * registry code (src/base/errors.ts) with its status from HTTP_STATUS, or
 * one of the few HTTP-only cases below that need a status of their own.
 */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** HTTP-only code: a PUT condition (`if=absent|present`) did not hold; status 412. */
export const CONDITION_FAILED = ERROR_CODES.CONDITION_FAILED;

/** An error whose HTTP status is not the one HTTP_STATUS gives its code (412, 415, 503 for a full server, ...). */
export class HttpReplyError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'HttpReplyError';
    this.status = status;
    this.code = code;
  }
}

export interface ErrorReply {
  status: number;
  body: ErrorBody;
  /** What the metrics' rejected counter calls it, when it is a rejection rather than a failure. */
  rejection: 'auth' | 'limit' | 'protocol' | undefined;
}

/** Fastify's own errors carry a string `code` starting FST_ and a 4xx/5xx `statusCode`. */
function fastifyStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  if (typeof code !== 'string' || !code.startsWith('FST_') || typeof statusCode !== 'number') return undefined;
  return statusCode;
}

function rejectionOf(code: string): ErrorReply['rejection'] {
  if (code === ERROR_CODES.UNAUTHENTICATED || code === ERROR_CODES.PERMISSION_DENIED) return 'auth';
  if (code === ERROR_CODES.LIMIT_EXCEEDED) return 'limit';
  if (code === ERROR_CODES.PROTOCOL) return 'protocol';
  return undefined;
}

function reply(status: number, code: string, message: string): ErrorReply {
  return { status, body: { error: { code, message } }, rejection: rejectionOf(code) };
}

/** The status and JSON for any thrown value; codes are mapped, messages never inspected. */
export function errorReplyOf(err: unknown): ErrorReply {
  if (err instanceof HttpReplyError) return reply(err.status, err.code, err.message);
  if (isStrataError(err)) return reply(HTTP_STATUS[err.code], err.code, err.message);
  const status = fastifyStatusOf(err);
  if (status !== undefined && status >= 400 && status < 500) {
    // Fastify's 4xx messages are written for clients ("Request body is too large").
    const message = err instanceof Error ? err.message : 'bad request';
    if (status === 413) return reply(413, ERROR_CODES.LIMIT_EXCEEDED, message);
    if (status === 404) return reply(404, ERROR_CODES.NOT_FOUND, message);
    return reply(status, ERROR_CODES.PROTOCOL, message);
  }
  const code = errorCodeOf(err);
  return reply(HTTP_STATUS[code], code, clientMessageOf(err));
}

/** The bytes of a complete HTTP/1.1 error response, for places with only a socket (client errors). */
export function rawErrorResponse(status: number, statusText: string, code: string, message: string): string {
  const body = JSON.stringify({ error: { code, message } } satisfies ErrorBody);
  return `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
