import type { ServerLimits } from '../limits.js';
import { BATCH_OPS_MAX, EXPIRE_AT_MS_MAX, TTL_MS_MAX } from './batch-request.js';
import { CONDITION_FAILED } from './http-error.js';
import { EXPIRE_AT_HEADER } from './kv-routes.js';
import { SCAN_LIMIT_DEFAULT } from './scan-request.js';

/** A JSON value (the document is plain data). */
type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

const ref = (name: string): Json => ({ $ref: `#/components/responses/${name}` });

function errorResponses(...names: string[]): { [k: string]: Json } {
  const statuses: Record<string, string> = {
    BadRequest: '400',
    Unauthenticated: '401',
    PermissionDenied: '403',
    NotFound: '404',
    ConditionFailed: '412',
    TooLarge: '413',
    UnsupportedMediaType: '415',
    Internal: '500',
    Unavailable: '503',
  };
  const out: { [k: string]: Json } = {};
  for (const n of names) out[statuses[n]!] = ref(n);
  return out;
}

/** Responses every route except /health may give. */
const COMMON_ERRORS = ['BadRequest', 'Unauthenticated', 'Internal', 'Unavailable'];

const keyParam: Json = {
  name: 'key',
  in: 'path',
  required: true,
  description: 'The key as percent-encoded bytes: every byte may be written %XX (so %FF is the byte 0xff and %2F a slash inside the key); a + is a plus. The rest of the path after /v1/kv/ is the key, slashes included. Must not be empty.',
  schema: { type: 'string' },
};

function errorResponse(description: string): Json {
  return { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
}

/**
 * The OpenAPI 3.1 description of the HTTP front end, written by hand (a test
 * checks that every registered route is in it and nothing else is).
 */
export function openApiDocument(limits: ServerLimits): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'StrataDB HTTP API',
      version: '1',
      description:
        'Keys and values are bytes. In paths, keys are percent-encoded bytes. In JSON (scans, batches) bytes travel as UTF-8 text or base64, chosen by `encoding`; with utf8, bytes that are not valid UTF-8 are sent as base64 and the entry says so with keyEncoding/valueEncoding. Every error is `{"error":{"code","message"}}`; codes are stable, messages are not.',
    },
    components: {
      securitySchemes: {
        basicAuth: { type: 'http', scheme: 'basic', description: 'A configured user name and password.' },
        bearerAuth: { type: 'http', scheme: 'bearer', description: "An API token ('strata new-token')." },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: {
                  type: 'string',
                  description: `A stable error code: one of the registry codes (docs/errors.md: NOT_FOUND, INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, LIMIT_EXCEEDED, PROTOCOL, UNAVAILABLE, IO, ...) or ${CONDITION_FAILED} (HTTP only: a PUT condition did not hold).`,
                },
                message: { type: 'string', description: 'For people; may change between releases.' },
              },
            },
          },
        },
        Encoding: { type: 'string', enum: ['utf8', 'base64'], default: 'utf8' },
        ScanEntry: {
          type: 'object',
          required: ['key'],
          properties: {
            key: { type: 'string' },
            keyEncoding: { type: 'string', const: 'base64', description: 'Present when the key is sent as base64 although utf8 was asked (it is not valid UTF-8).' },
            value: { type: 'string', description: 'Absent with keys_only.' },
            valueEncoding: { type: 'string', const: 'base64', description: 'Present when the value is sent as base64 although utf8 was asked.' },
            expireAtMs: { type: 'integer', description: 'Absolute expiry, ms since the epoch; absent when the key never expires.' },
          },
        },
        ScanPage: {
          type: 'object',
          required: ['entries'],
          properties: {
            entries: { type: 'array', items: { $ref: '#/components/schemas/ScanEntry' } },
            next: { type: 'string', description: 'base64url cursor: pass it as `after` to get the next page. Absent when the scan is complete. Stays valid across writes, flushes and compactions.' },
          },
        },
        BatchOp: {
          type: 'object',
          required: ['type', 'key'],
          additionalProperties: false,
          properties: {
            type: { type: 'string', enum: ['put', 'del'] },
            key: { type: 'string', description: `Non-empty, at most ${limits.keyBytesMax} bytes once decoded.` },
            value: { type: 'string', description: `Required for put, not allowed for del; at most ${limits.valueBytesMax} bytes once decoded.` },
            ttlMs: { type: 'integer', minimum: 1, maximum: TTL_MS_MAX, description: 'put only: expire this long from now.' },
            expireAtMs: { type: 'integer', minimum: 1, maximum: EXPIRE_AT_MS_MAX, description: 'put only: expire at this time (ms since the epoch).' },
            keyEncoding: { $ref: '#/components/schemas/Encoding' },
            valueEncoding: { $ref: '#/components/schemas/Encoding' },
          },
        },
        Batch: {
          type: 'object',
          required: ['ops'],
          additionalProperties: false,
          properties: {
            ops: { type: 'array', maxItems: BATCH_OPS_MAX, items: { $ref: '#/components/schemas/BatchOp' } },
            encoding: { $ref: '#/components/schemas/Encoding' },
          },
        },
      },
      responses: {
        BadRequest: errorResponse('INVALID_ARGUMENT or PROTOCOL: a parameter, header or body is invalid (unknown query parameters are errors too).'),
        Unauthenticated: {
          description: 'UNAUTHENTICATED: credentials are missing or wrong. Carries a WWW-Authenticate challenge.',
          headers: { 'WWW-Authenticate': { schema: { type: 'string' } } },
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
        PermissionDenied: errorResponse('PERMISSION_DENIED: the user is read-only and the request writes.'),
        NotFound: errorResponse('NOT_FOUND: no such key (or no such route).'),
        ConditionFailed: errorResponse(`${CONDITION_FAILED}: if=absent and the key exists, or if=present and it does not. Nothing was written.`),
        TooLarge: errorResponse(`LIMIT_EXCEEDED: the body (max ${limits.requestBytesMax} bytes), key (max ${limits.keyBytesMax}) or value (max ${limits.valueBytesMax}) is too large.`),
        UnsupportedMediaType: errorResponse('PROTOCOL: the body is not of a type this route accepts.'),
        Internal: errorResponse('IO, CORRUPTION or CONFIG: a server-side failure.'),
        Unavailable: errorResponse('UNAVAILABLE, CLOSED, LOCKED or READ_ONLY: the server cannot serve now (shutting down, read-only after a failed write); LIMIT_EXCEEDED when the server already has clientsMax connections.'),
      },
    },
    security: [{ basicAuth: [] }, { bearerAuth: [] }],
    paths: {
      '/v1/kv/{key}': {
        parameters: [keyParam],
        get: {
          operationId: 'kvGet',
          summary: 'Read a value',
          responses: {
            '200': {
              description: 'The value bytes.',
              headers: { [EXPIRE_AT_HEADER]: { description: 'Absolute expiry (ms since the epoch), present only when the key expires.', schema: { type: 'integer' } } },
              content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } },
            },
            ...errorResponses(...COMMON_ERRORS, 'NotFound', 'TooLarge'),
          },
        },
        put: {
          operationId: 'kvPut',
          summary: 'Write a value (the raw request body, any content type)',
          parameters: [
            { name: 'ttl_ms', in: 'query', schema: { type: 'integer', minimum: 1, maximum: TTL_MS_MAX }, description: 'Expire this many ms from now (by the server clock). Without ttl_ms or expire_at_ms the key never expires.' },
            { name: 'expire_at_ms', in: 'query', schema: { type: 'integer', minimum: 1, maximum: EXPIRE_AT_MS_MAX }, description: 'Expire at this time (ms since the epoch). Not with ttl_ms.' },
            { name: 'if', in: 'query', schema: { type: 'string', enum: ['absent', 'present'] }, description: 'Write only if the key is absent (like SET NX) or present (SET XX); otherwise 412.' },
          ],
          requestBody: { required: false, content: { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } },
          responses: {
            '200': {
              description: 'Written.',
              headers: { [EXPIRE_AT_HEADER]: { description: 'The expiry set, when one was asked for.', schema: { type: 'integer' } } },
              content: { 'application/json': { schema: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean', const: true }, expireAtMs: { type: 'integer' } } } } },
            },
            ...errorResponses(...COMMON_ERRORS, 'PermissionDenied', 'ConditionFailed', 'TooLarge'),
          },
        },
        delete: {
          operationId: 'kvDelete',
          summary: 'Delete a key',
          responses: {
            '200': {
              description: 'How many keys existed and were deleted (0 or 1).',
              content: { 'application/json': { schema: { type: 'object', required: ['deleted'], properties: { deleted: { type: 'integer', enum: [0, 1] } } } } },
            },
            ...errorResponses(...COMMON_ERRORS, 'PermissionDenied', 'TooLarge'),
          },
        },
      },
      '/v1/kv': {
        get: {
          operationId: 'kvScan',
          summary: 'List live entries in key order, a page at a time',
          description: `Pages hold at most \`limit\` entries and are cut shorter once they carry ${limits.requestBytesMax} bytes of keys and values. Follow \`next\` until it is absent to see every key exactly once, even across writes, flushes and compactions.`,
          parameters: [
            { name: 'prefix', in: 'query', schema: { type: 'string' }, description: 'Only keys starting with these bytes (in `encoding`: utf8 text with %XX for any byte, or base64).' },
            { name: 'start', in: 'query', schema: { type: 'string' }, description: 'Inclusive lower bound (in `encoding`).' },
            { name: 'end', in: 'query', schema: { type: 'string' }, description: 'Exclusive upper bound (in `encoding`).' },
            { name: 'after', in: 'query', schema: { type: 'string' }, description: 'The previous page\'s `next` cursor; always base64url, whatever `encoding` is.' },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: limits.scanLimitMax, default: Math.min(SCAN_LIMIT_DEFAULT, limits.scanLimitMax) } },
            { name: 'reverse', in: 'query', schema: { type: 'boolean', default: false }, description: 'Descending key order.' },
            { name: 'keys_only', in: 'query', schema: { type: 'boolean', default: false }, description: 'Leave values out.' },
            { name: 'encoding', in: 'query', schema: { $ref: '#/components/schemas/Encoding' }, description: 'How keys and values (and prefix/start/end) are written.' },
          ],
          responses: {
            '200': { description: 'A page of entries.', content: { 'application/json': { schema: { $ref: '#/components/schemas/ScanPage' } } } },
            ...errorResponses(...COMMON_ERRORS),
          },
        },
      },
      '/v1/kv/batch': {
        post: {
          operationId: 'kvBatch',
          summary: 'Apply puts and deletes atomically (all or none)',
          description: 'Every op is validated before any is applied; an error names the op index (ops[3].key: ...).',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Batch' } } } },
          responses: {
            '200': {
              description: 'Applied.',
              content: { 'application/json': { schema: { type: 'object', required: ['ok', 'ops'], properties: { ok: { type: 'boolean', const: true }, ops: { type: 'integer' } } } } },
            },
            ...errorResponses(...COMMON_ERRORS, 'PermissionDenied', 'TooLarge', 'UnsupportedMediaType'),
          },
        },
      },
      '/health': {
        get: {
          operationId: 'health',
          summary: 'Liveness: 200 while serving, 503 once shutdown has begun',
          security: [],
          responses: {
            '200': { description: 'Serving.', content: { 'application/json': { schema: { type: 'object', properties: { status: { type: 'string', const: 'ok' } } } } } },
            '503': { description: 'Shutting down.', content: { 'application/json': { schema: { type: 'object', properties: { status: { type: 'string', const: 'shutting_down' } } } } } },
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics (text exposition format)',
          responses: {
            '200': { description: 'Counters, histograms and gauges.', content: { 'text/plain': { schema: { type: 'string' } } } },
            ...errorResponses(...COMMON_ERRORS),
          },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          responses: {
            '200': { description: 'OpenAPI 3.1.', content: { 'application/json': { schema: { type: 'object' } } } },
            ...errorResponses(...COMMON_ERRORS),
          },
        },
      },
    },
  };
}
