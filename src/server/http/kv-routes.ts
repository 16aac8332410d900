import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, StrataError, invalidArgument } from '../../base/index.js';
import type { KeyValueService, KvSetOptions } from '../../base/index.js';
import type { ServerLimits } from '../limits.js';
import { EXPIRE_AT_MS_MAX, TTL_MS_MAX, parseBatch, parseJsonBody } from './batch-request.js';
import { CONDITION_FAILED, HttpReplyError } from './http-error.js';
import type { HttpApp } from './http-app.js';
import { percentDecode, splitTarget } from './percent-encoding.js';
import { QueryParams } from './query-params.js';
import { SCAN_PARAMS, parseScanRequest, scanPageJson } from './scan-request.js';

/** The response header carrying a key's absolute expiry (ms since the epoch). */
export const EXPIRE_AT_HEADER = 'x-strata-expire-at-ms';

const KEY_PREFIX = '/v1/kv/';
const PUT_PARAMS = ['ttl_ms', 'expire_at_ms', 'if', 'consistency'] as const;
const READ_CONSISTENCY = ['linearizable', 'stale'] as const;
const WRITE_CONSISTENCY = ['quorum', 'all'] as const;

/**
 * `?consistency=` on a cluster node: reads take linearizable (default) or
 * stale (any replica, as it is); writes take quorum (default) or all
 * (acknowledged once every replica applied it). A single node keeps one
 * copy, so every level means the same there.
 */
function readService(service: KeyValueService, q: QueryParams, request: FastifyRequest): KeyValueService {
  const read = q.choice('consistency', READ_CONSISTENCY);
  const direct = directOf(request);
  if (service.withConsistency === undefined || (read === undefined && !direct)) return service;
  return service.withConsistency({ ...(read !== undefined ? { read } : {}), direct });
}

function writeService(service: KeyValueService, q: QueryParams, request: FastifyRequest): KeyValueService {
  const write = q.choice('consistency', WRITE_CONSISTENCY);
  const direct = directOf(request);
  const session = sessionOf(request);
  if (service.withConsistency === undefined || (write === undefined && !direct && session === undefined)) return service;
  return service.withConsistency({ ...(write !== undefined ? { write } : {}), ...(session !== undefined ? { session } : {}), direct });
}

/** The SDK's headers (stratadb/client): `x-strata-session: <client>/<seq>` makes a retried write apply once. */
export const SESSION_HEADER = 'x-strata-session';
/** `x-strata-forward: never`: answer NOT_LEADER (naming the leader) instead of forwarding to it. */
export const FORWARD_HEADER = 'x-strata-forward';

function sessionOf(request: FastifyRequest): { client: string; seq: number } | undefined {
  const raw = request.headers[SESSION_HEADER];
  if (raw === undefined) return undefined;
  const m = typeof raw === 'string' ? /^([A-Za-z0-9._:-]{1,128})\/([1-9][0-9]{0,14})$/.exec(raw) : null;
  if (m === null) throw invalidArgument(`${SESSION_HEADER} must be <client id>/<sequence number>`);
  return { client: `sdk:${m[1]!}`, seq: Number(m[2]) };
}

function directOf(request: FastifyRequest): boolean {
  const raw = request.headers[FORWARD_HEADER];
  if (raw === undefined) return false;
  if (raw !== 'never') throw invalidArgument(`${FORWARD_HEADER} must be 'never' when given`);
  return true;
}
const IF_CONDITIONS = ['absent', 'present'] as const;

export interface KvRouteContext {
  service: KeyValueService;
  limits: ServerLimits;
}

function queryOf(request: FastifyRequest, allowed: readonly string[]): QueryParams {
  return new QueryParams(splitTarget(request.originalUrl).query, allowed);
}

/**
 * The key in `/v1/kv/<key>`: the rest of the original path, percent-decoded
 * to bytes (so `%FF` is the byte 0xff and `%2F` a slash inside the key).
 */
function keyOf(request: FastifyRequest, limits: ServerLimits): Buffer {
  const { path } = splitTarget(request.originalUrl);
  // The router matched /v1/kv/* on this very path (see escapePercentsInPath), so the prefix is there.
  const encoded = path.startsWith(KEY_PREFIX) ? path.slice(KEY_PREFIX.length) : '';
  const key = percentDecode(encoded, false);
  if (key === undefined) throw new StrataError(ERROR_CODES.PROTOCOL, 'malformed percent-encoding in the key');
  if (key.length === 0) throw invalidArgument('the key must not be empty');
  if (key.length > limits.keyBytesMax) throw new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `key is ${key.length} bytes; at most ${limits.keyBytesMax}`);
  return key;
}

function bodyOf(request: FastifyRequest): Buffer {
  const body: unknown = request.body;
  // No body at all (no Content-Length, no Transfer-Encoding) is an empty one.
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (!Buffer.isBuffer(body)) throw new StrataError(ERROR_CODES.PROTOCOL, 'unexpected request body');
  return body;
}

/** GET/PUT/DELETE /v1/kv/<key>, GET /v1/kv (scan) and POST /v1/kv/batch. */
export function registerKvRoutes(app: HttpApp, ctx: KvRouteContext): void {
  const { service, limits } = ctx;

  app.get('/v1/kv/*', { config: { strata: { name: 'kv.get', write: false, public: false } } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const q = queryOf(request, ['consistency']);
    const key = keyOf(request, limits);
    const entry = await readService(service, q, request).getEntry(key);
    if (entry === undefined) throw new StrataError(ERROR_CODES.NOT_FOUND, 'key not found');
    if (entry.expireAtMs !== undefined) reply.header(EXPIRE_AT_HEADER, String(entry.expireAtMs));
    return reply.code(200).header('cache-control', 'no-store').type('application/octet-stream').send(entry.value);
  });

  app.put('/v1/kv/*', { config: { strata: { name: 'kv.put', write: true, public: false } } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const q = queryOf(request, PUT_PARAMS);
    const key = keyOf(request, limits);
    const value = bodyOf(request);
    if (value.length > limits.valueBytesMax) throw new StrataError(ERROR_CODES.LIMIT_EXCEEDED, `value is ${value.length} bytes; at most ${limits.valueBytesMax}`);
    const ttlMs = q.integer('ttl_ms', 1, TTL_MS_MAX);
    const expireAtMs = q.integer('expire_at_ms', 1, EXPIRE_AT_MS_MAX);
    if (ttlMs !== undefined && expireAtMs !== undefined) throw invalidArgument("give 'ttl_ms' or 'expire_at_ms', not both");
    const cond = q.choice('if', IF_CONDITIONS);
    const options: KvSetOptions = {};
    const expiry = ttlMs !== undefined ? service.nowMs() + ttlMs : expireAtMs;
    if (expiry !== undefined) options.expireAtMs = expiry;
    if (cond !== undefined) options.condition = cond === 'absent' ? 'nx' : 'xx';
    const result = await writeService(service, q, request).set(key, value, options);
    if (!result.written) {
      throw new HttpReplyError(412, CONDITION_FAILED, cond === 'absent' ? 'the key exists (if=absent)' : 'the key does not exist (if=present)');
    }
    if (expiry !== undefined) reply.header(EXPIRE_AT_HEADER, String(expiry));
    return reply.code(200).send(expiry === undefined ? { ok: true } : { ok: true, expireAtMs: expiry });
  });

  app.delete('/v1/kv/*', { config: { strata: { name: 'kv.delete', write: true, public: false } } }, async (request: FastifyRequest) => {
    const q = queryOf(request, ['consistency']);
    const key = keyOf(request, limits);
    return { deleted: await writeService(service, q, request).delete([key]) };
  });

  app.get('/v1/kv', { config: { strata: { name: 'kv.scan', write: false, public: false } } }, async (request: FastifyRequest) => {
    const q = queryOf(request, [...SCAN_PARAMS, 'consistency']);
    const scan = parseScanRequest(q, limits);
    const page = await readService(service, q, request).scan(scan.options);
    return scanPageJson(page, scan, limits.requestBytesMax);
  });

  app.post('/v1/kv/batch', { config: { strata: { name: 'kv.batch', write: true, public: false } } }, async (request: FastifyRequest) => {
    const q = queryOf(request, ['consistency']);
    const type = request.headers['content-type'];
    if (type !== undefined && !/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(type)) {
      throw new HttpReplyError(415, ERROR_CODES.PROTOCOL, 'a batch body must be JSON (Content-Type: application/json)');
    }
    const ops = parseBatch(parseJsonBody(bodyOf(request)), limits, service.nowMs());
    await writeService(service, q, request).batch(ops);
    return { ok: true, ops: ops.length };
  });
}
