import type { ServerLimits } from '../limits.js';
import { BATCH_OPS_MAX, EXPIRE_AT_MS_MAX, TTL_MS_MAX } from './batch-request.js';
import { CONDITION_FAILED } from './http-error.js';
import { EXPIRE_AT_HEADER } from './kv-routes.js';
import { SCAN_LIMIT_DEFAULT } from './scan-request.js';
import { TS_DECOMPRESSED_BYTES_DEFAULT, TS_SERIES_LIMIT_DEFAULT, TS_STREAM_POINTS_PER_LINE } from './ts-routes.js';

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
    SchemaConflict: '409',
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

/** What the document describes besides the key-value routes. */
export interface OpenApiOptions {
  /** The node runs a time-series database: the /v1/ts, /api/v2/write and /api/v1/write routes exist. */
  tsdb: boolean;
  /** tsdb.remoteWriteMaxBytes. */
  decompressedBytesMax: number;
  /** The node is a cluster member: the /api/v1/coordinator routes exist. */
  cluster?: boolean;
  /** cluster.faultInjection: the coordinator's debug partition route exists. */
  faultInjection?: boolean;
}

const JSON_OBJECT: Json = { 'application/json': { schema: { type: 'object' } } };

/** The coordinator API of a cluster node (coordinator-routes.ts). */
function coordinatorPaths(faultInjection: boolean): { [path: string]: Json } {
  const ok = (description: string): Json => ({ description, content: JSON_OBJECT });
  const paths: { [path: string]: Json } = {
    '/api/v1/coordinator/health': {
      get: { operationId: 'coordinatorHealth', summary: "This node's view of the cluster: node statuses, meta leader, shards without a leader", responses: { '200': ok('status is ok, degraded or forming.'), ...errorResponses(...COMMON_ERRORS) } },
    },
    '/api/v1/coordinator/shard-map': {
      get: { operationId: 'coordinatorShardMap', summary: 'Keyspaces, shards with replicas, leader and term, nodes, meta group', responses: { '200': ok('The shard map as this node knows it.'), ...errorResponses(...COMMON_ERRORS) } },
    },
    '/api/v1/coordinator/rebalance': {
      get: {
        operationId: 'coordinatorRebalance',
        summary: 'Rebalancing: replica moves in flight (shard, from, to, reason, phase, age, snapshot transfer: bytes done of total, rate, ETA), replicas per node, whether nodes are within one',
        responses: { '200': ok('moves, nodes (id, status, replicas, leaders), balanced.'), ...errorResponses(...COMMON_ERRORS) },
      },
    },
    '/api/v1/coordinator/leader': {
      get: {
        operationId: 'coordinatorLeader',
        summary: 'The shard of a key (or of a series metric) and its leader',
        parameters: [
          { name: 'key', in: 'query', schema: { type: 'string' } },
          { name: 'metric', in: 'query', schema: { type: 'string' } },
        ],
        responses: { '200': ok('keyspace, shard, leader, term, replicas, leaderAddresses.'), ...errorResponses(...COMMON_ERRORS) },
      },
    },
    '/api/v1/coordinator/nodes': {
      post: {
        operationId: 'coordinatorRegisterNode',
        summary: 'Register a node (forwarded to the meta leader)',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['id', 'peer'], properties: { id: { type: 'string' }, peer: { type: 'string' }, resp: { type: 'string' }, http: { type: 'string' }, grpc: { type: 'string' }, datacenter: { type: 'string' }, rack: { type: 'string' } } } } } },
        responses: { '201': ok('Registered.'), ...errorResponses(...COMMON_ERRORS, 'PermissionDenied') },
      },
    },
    '/api/v1/coordinator/nodes/{nodeId}': {
      parameters: [{ name: 'nodeId', in: 'path', required: true, schema: { type: 'string' } }],
      delete: {
        operationId: 'coordinatorRemoveNode',
        summary: 'Remove a node: at once when it holds no shard replicas (200); otherwise drain it first (202: its replicas move to other nodes, then the meta leader removes it). 412 when too few other nodes are up for the replication factor.',
        responses: { '200': ok('Removed.'), '202': ok('Draining: {draining: true, replicas}.'), ...errorResponses(...COMMON_ERRORS, 'PermissionDenied', 'NotFound') },
      },
    },
    '/api/v1/coordinator/shard/{shardId}/election': {
      parameters: [{ name: 'shardId', in: 'path', required: true, schema: { type: 'integer' } }],
      post: {
        operationId: 'coordinatorElection',
        summary: "Transfer a shard's leadership to a replica (body {target}; without one, to the next replica)",
        responses: { '200': ok('{group, from, to}; the transfer completes within an election timeout.'), ...errorResponses(...COMMON_ERRORS, 'PermissionDenied', 'NotFound') },
      },
    },
  };
  if (faultInjection) {
    paths['/api/v1/coordinator/debug/partition'] = {
      post: { operationId: 'coordinatorDebugPartition', summary: 'Tests only (cluster.faultInjection): drop peer traffic to and from these nodes', responses: { '200': ok('Blocked.'), ...errorResponses(...COMMON_ERRORS) } },
    };
  }
  return paths;
}

const measurementParam: Json = {
  name: 'measurement',
  in: 'path',
  required: true,
  description: 'The measurement name, percent-encoded (UTF-8).',
  schema: { type: 'string' },
};

const precisionParam = (fallback: string): Json => ({
  name: 'precision',
  in: 'query',
  schema: { type: 'string', enum: ['ns', 'us', 'ms', 's'], default: fallback },
  description: 'Unit of the line-protocol timestamps.',
});

const noContent: Json = { description: 'Written (all points or none).' };

const tsQueryBody: Json = { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/TsQuery' } } } };

const TS_SCHEMAS: { [k: string]: Json } = {
  TagMatcher: {
    type: 'object',
    required: ['tag', 'op', 'value'],
    additionalProperties: false,
    properties: {
      tag: { type: 'string' },
      op: { type: 'string', enum: ['=', '!=', '=~', '!~'] },
      value: { type: 'string', description: 'A literal for = and !=; a regular expression that must match the whole value for =~ and !~.' },
    },
  },
  TsQuery: {
    type: 'object',
    required: ['measurement', 'fromMs', 'toMs'],
    additionalProperties: false,
    description: 'Unknown keys are refused.',
    properties: {
      measurement: { type: 'string' },
      matchers: { type: 'array', items: { oneOf: [{ $ref: '#/components/schemas/TagMatcher' }, { type: 'string', description: 'tag=value, tag!=value, tag=~regex or tag!~regex' }] }, description: 'All must match.' },
      fields: { type: 'array', items: { type: 'string' }, description: 'Default: every field of the measurement.' },
      fromMs: { type: 'integer', description: 'Inclusive start, ms since the epoch.' },
      toMs: { type: 'integer', description: 'Exclusive end, ms since the epoch.' },
      aggregate: {
        type: 'object',
        required: ['fn'],
        additionalProperties: false,
        properties: {
          fn: { type: 'string', enum: ['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'percentile'] },
          percentile: { type: 'number', minimum: 0, maximum: 100, description: 'For fn percentile.' },
          every: {
            oneOf: [
              { type: 'object', required: ['ms'], additionalProperties: false, properties: { ms: { type: 'integer', minimum: 1 } } },
              { type: 'object', required: ['months'], additionalProperties: false, properties: { months: { type: 'integer', minimum: 1 } } },
            ],
            description: 'Bucket width, aligned to the epoch (UTC). Omitted: one bucket over the range.',
          },
        },
      },
      groupBy: { type: 'array', items: { type: 'string' }, description: 'Absent: each series alone; []: all merged; ["host"]: merged per host.' },
      where: {
        type: 'object',
        required: ['field', 'op', 'value'],
        additionalProperties: false,
        properties: { field: { type: 'string' }, op: { type: 'string', enum: ['>', '>=', '<', '<=', '=', '!='] }, value: { type: 'number' } },
      },
      limit: { type: 'integer', minimum: 0, description: 'Points (raw) or buckets (aggregates) per series.' },
      order: { type: 'string', enum: ['asc', 'desc'], default: 'asc' },
      level: { type: 'string', enum: ['auto', 'raw', '1h', '1d', '1M', '1y'], default: 'auto', description: 'Force a storage level for aggregates.' },
    },
  },
  TsPlan: {
    type: 'object',
    required: ['series', 'segments', 'reason'],
    properties: {
      series: { type: 'integer' },
      segments: {
        type: 'array',
        items: { type: 'object', properties: { level: { type: 'string', enum: ['raw', '1h', '1d', '1M', '1y'] }, fromMs: { type: 'integer' }, toMs: { type: 'integer' } } },
      },
      reason: { type: 'string' },
    },
  },
  TsSeriesResult: {
    type: 'object',
    required: ['measurement', 'tags', 'field', 'type', 'times', 'values'],
    properties: {
      measurement: { type: 'string' },
      tags: { type: 'object', additionalProperties: { type: 'string' } },
      field: { type: 'string' },
      type: { type: 'string', enum: ['float', 'integer', 'boolean', 'string'] },
      times: { type: 'array', items: { type: 'integer' }, description: 'Point times (raw) or bucket starts (aggregates), ms.' },
      nanos: { type: 'array', items: { type: 'integer' }, description: 'Raw only, present when some point has them: nanoseconds within the millisecond.' },
      values: {
        type: 'array',
        items: { type: ['number', 'boolean', 'string'] },
        description: 'For type float, values that are not finite are the strings "NaN", "+Inf" and "-Inf" (the Prometheus convention).',
      },
    },
  },
  RetentionPolicy: {
    type: 'object',
    additionalProperties: false,
    description: 'Per storage level, how long to keep data: ms, or a duration "500ms", "30s", "10m", "12h", "30d", "1w", "1y" (365 days). 0 or absent keeps forever.',
    properties: Object.fromEntries(['raw', '1h', '1d', '1M', '1y'].map((l) => [l, { type: ['integer', 'string'] }])),
  },
  FloatRounding: {
    type: 'object',
    description: 'Float values of the measurement written from now on are stored rounded to this many significant decimal digits (relative error at most 5 × 10^-significantDigits); null: exact, the default.',
    properties: { measurement: { type: 'string' }, significantDigits: { type: ['integer', 'null'], minimum: 1, maximum: 15 } },
  },
};

function tsPaths(limits: ServerLimits, o: OpenApiOptions): { [k: string]: Json } {
  const writeErrors = errorResponses(...COMMON_ERRORS, 'PermissionDenied', 'SchemaConflict', 'TooLarge', 'UnsupportedMediaType');
  const lineProtocol: Json = { schema: { type: 'string', description: 'InfluxDB line protocol: measurement[,tag=value...] field=value[,...] [timestamp]' } };
  const gzipNote = `A body with Content-Encoding: gzip is decompressed first (at most ${o.decompressedBytesMax} bytes once decompressed, tsdb.remoteWriteMaxBytes).`;
  const tsQueryResponses: Json = {
    '200': {
      description: 'The result.',
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['series', 'plan'],
            properties: { series: { type: 'array', items: { $ref: '#/components/schemas/TsSeriesResult' } }, plan: { $ref: '#/components/schemas/TsPlan' } },
          },
        },
        'application/x-ndjson': { schema: { type: 'string' } },
      },
    },
    ...errorResponses(...COMMON_ERRORS, 'UnsupportedMediaType'),
  };
  return {
    '/v1/ts/write': {
      post: {
        operationId: 'tsWrite',
        summary: 'Write points: line protocol (default) or JSON ({"points":[...]}, Content-Type: application/json)',
        description: `All points or none. A bad line is 400 and the message names it: "line 2, column 17: ...". A field whose type differs from the one the measurement has is 409 SCHEMA_CONFLICT. ${gzipNote}`,
        parameters: [precisionParam('ns')],
        requestBody: {
          required: true,
          content: {
            'text/plain': lineProtocol,
            'application/json': {
              schema: {
                type: 'object',
                required: ['points'],
                properties: {
                  points: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['measurement', 'fields'],
                      additionalProperties: false,
                      properties: {
                        measurement: { type: 'string' },
                        tags: { type: 'object', additionalProperties: { type: 'string' } },
                        fields: { type: 'object', description: 'name → number (float), {"integer": n}, boolean or string.' },
                        time: { type: ['integer', 'string'], description: 'ms since the epoch or RFC 3339; absent: now.' },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        responses: { '204': noContent, ...writeErrors },
      },
    },
    '/api/v2/write': {
      post: {
        operationId: 'influxWrite',
        summary: 'InfluxDB 2 compatible write (Telegraf outputs.influxdb_v2, InfluxDB client libraries)',
        description: `Line protocol. bucket is required (and org accepted) for compatibility; one node holds one database, so both are otherwise ignored. Credentials: Authorization: Token <api token> (the same tokens as Bearer), Bearer or Basic. ${gzipNote}`,
        parameters: [
          { name: 'bucket', in: 'query', required: true, schema: { type: 'string' } },
          { name: 'org', in: 'query', schema: { type: 'string' } },
          { name: 'orgID', in: 'query', schema: { type: 'string' } },
          precisionParam('ns'),
        ],
        requestBody: { required: true, content: { 'text/plain': lineProtocol } },
        responses: { '204': noContent, ...writeErrors },
      },
    },
    '/api/v1/write': {
      post: {
        operationId: 'promRemoteWrite',
        summary: 'Prometheus remote write 1.0 (snappy-compressed protobuf WriteRequest)',
        description: `Each sample becomes a point: measurement = __name__, tags = the other labels, one float field "value" (NaN staleness markers kept). Send Content-Encoding: snappy, Content-Type: application/x-protobuf, X-Prometheus-Remote-Write-Version: 0.1.0; remote write 2.0 is refused with 415. At most ${o.decompressedBytesMax} bytes once decompressed (tsdb.remoteWriteMaxBytes), ${limits.requestBytesMax} compressed.`,
        requestBody: { required: true, content: { 'application/x-protobuf': { schema: { type: 'string', contentMediaType: 'application/x-protobuf' } } } },
        responses: { '204': noContent, ...writeErrors },
      },
    },
    '/v1/ts/query': {
      get: {
        operationId: 'tsQueryGet',
        summary: 'Query raw points or aggregates, the query URL-encoded in q (as POST, for clients and tools that send GET)',
        parameters: [
          { name: 'q', in: 'query', required: true, schema: { type: 'string' }, description: 'The query as JSON (the POST body), URL-encoded; the request line may take up to 16 KiB.' },
          { name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'ndjson'] }, description: 'Default json, or ndjson when the Accept header asks for it.' },
        ],
        responses: tsQueryResponses,
      },
      post: {
        operationId: 'tsQuery',
        summary: 'Query raw points or aggregates',
        description: `With format=ndjson or Accept: application/x-ndjson the result streams as JSON lines: first {"plan": ...}, then one TsSeriesResult per line, at most ${TS_STREAM_POINTS_PER_LINE} points each (a series longer than that spans several lines); a failure after the first line is a last line {"error":{"code","message"}}. Non-finite floats are "NaN", "+Inf", "-Inf".`,
        parameters: [{ name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'ndjson'] }, description: 'Default json, or ndjson when the Accept header asks for it.' }],
        requestBody: tsQueryBody,
        responses: tsQueryResponses,
      },
    },
    '/v1/ts/explain': {
      post: {
        operationId: 'tsExplain',
        summary: 'Which storage levels would answer a query, and why',
        requestBody: tsQueryBody,
        responses: {
          '200': { description: 'The plan.', content: { 'application/json': { schema: { type: 'object', required: ['plan'], properties: { plan: { $ref: '#/components/schemas/TsPlan' } } } } } },
          ...errorResponses(...COMMON_ERRORS, 'UnsupportedMediaType'),
        },
      },
    },
    '/v1/ts/series': {
      get: {
        operationId: 'tsSeries',
        summary: 'Series of a measurement matching tag selectors',
        parameters: [
          { name: 'measurement', in: 'query', required: true, schema: { type: 'string' } },
          { name: 'match', in: 'query', schema: { type: 'array', items: { type: 'string' } }, style: 'form', explode: true, description: 'Repeatable: tag=value, tag!=value, tag=~regex, tag!~regex (all must match).' },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: limits.scanLimitMax, default: Math.min(TS_SERIES_LIMIT_DEFAULT, limits.scanLimitMax) } },
        ],
        responses: {
          '200': {
            description: 'Series infos, ids ascending; firstMs/lastMs are null for a series without points.',
            content: { 'application/json': { schema: { type: 'object', required: ['series'], properties: { series: { type: 'array', items: { type: 'object' } } } } } },
          },
          ...errorResponses(...COMMON_ERRORS),
        },
      },
    },
    '/v1/ts/measurements': {
      get: {
        operationId: 'tsMeasurements',
        summary: 'Measurement names',
        responses: {
          '200': { description: 'The names.', content: { 'application/json': { schema: { type: 'object', required: ['measurements'], properties: { measurements: { type: 'array', items: { type: 'string' } } } } } } },
          ...errorResponses(...COMMON_ERRORS),
        },
      },
    },
    '/v1/ts/schema/{measurement}': {
      parameters: [measurementParam],
      get: {
        operationId: 'tsSchema',
        summary: "A measurement's field types",
        responses: {
          '200': {
            description: 'Field name → float, integer, boolean or string.',
            content: { 'application/json': { schema: { type: 'object', required: ['measurement', 'fields'], properties: { measurement: { type: 'string' }, fields: { type: 'object', additionalProperties: { type: 'string' } } } } } },
          },
          ...errorResponses(...COMMON_ERRORS, 'NotFound'),
        },
      },
    },
    '/v1/ts/delete': {
      post: {
        operationId: 'tsDelete',
        summary: 'Delete the points of matching series in [fromMs, toMs); rollups are corrected',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['measurement', 'fromMs', 'toMs'],
                additionalProperties: false,
                properties: {
                  measurement: { type: 'string' },
                  matchers: { type: 'array', items: { $ref: '#/components/schemas/TagMatcher' } },
                  fromMs: { type: 'integer' },
                  toMs: { type: 'integer' },
                },
              },
            },
          },
        },
        responses: {
          '200': { description: 'Points deleted.', content: { 'application/json': { schema: { type: 'object', required: ['deleted'], properties: { deleted: { type: 'integer' } } } } } },
          ...errorResponses(...COMMON_ERRORS, 'PermissionDenied', 'UnsupportedMediaType'),
        },
      },
    },
    '/v1/ts/retention/{measurement}': {
      parameters: [measurementParam],
      get: {
        operationId: 'tsRetentionGet',
        summary: "A measurement's retention policy (ms per level)",
        responses: {
          '200': { description: 'The policy; an empty object keeps everything forever.', content: { 'application/json': { schema: { type: 'object', properties: { measurement: { type: 'string' }, retention: { type: 'object' } } } } } },
          ...errorResponses(...COMMON_ERRORS),
        },
      },
      put: {
        operationId: 'tsRetentionSet',
        summary: "Replace a measurement's retention policy",
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/RetentionPolicy' } } } },
        responses: {
          '200': { description: 'The policy as stored (ms per level).', content: { 'application/json': { schema: { type: 'object', properties: { measurement: { type: 'string' }, retention: { type: 'object' } } } } } },
          ...errorResponses(...COMMON_ERRORS, 'PermissionDenied', 'UnsupportedMediaType'),
        },
      },
    },
    '/v1/ts/rounding/{measurement}': {
      parameters: [measurementParam],
      get: {
        operationId: 'tsRoundingGet',
        summary: "A measurement's float rounding (significant digits; null: exact)",
        responses: {
          '200': { description: 'The setting.', content: { 'application/json': { schema: { $ref: '#/components/schemas/FloatRounding' } } } },
          ...errorResponses(...COMMON_ERRORS),
        },
      },
      put: {
        operationId: 'tsRoundingSet',
        summary: 'Round float values written from now on to significantDigits (1..15); null keeps them exact',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', properties: { significantDigits: { type: ['integer', 'null'], minimum: 1, maximum: 15 } }, additionalProperties: false } } } },
        responses: {
          '200': { description: 'The setting as stored.', content: { 'application/json': { schema: { $ref: '#/components/schemas/FloatRounding' } } } },
          ...errorResponses(...COMMON_ERRORS, 'PermissionDenied', 'UnsupportedMediaType'),
        },
      },
    },
    '/v1/ts/flush': {
      post: {
        operationId: 'tsFlush',
        summary: 'Seal every head buffer into chunks, update rollups, flush the engine',
        responses: {
          '200': { description: 'Flushed.', content: { 'application/json': { schema: { type: 'object', properties: { ok: { type: 'boolean', const: true } } } } } },
          ...errorResponses(...COMMON_ERRORS, 'PermissionDenied'),
        },
      },
    },
  };
}

/**
 * The OpenAPI 3.1 description of the HTTP front end, written by hand (a test
 * checks that every registered route is in it and nothing else is).
 */
export function openApiDocument(limits: ServerLimits, options: OpenApiOptions = { tsdb: false, decompressedBytesMax: TS_DECOMPRESSED_BYTES_DEFAULT }): Json {
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
        bearerAuth: { type: 'http', scheme: 'bearer', description: "An API token ('strata new-token'). On /api/v2/write, Authorization: Token <api token> works too." },
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
        ...(options.tsdb ? TS_SCHEMAS : {}),
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
        SchemaConflict: errorResponse('SCHEMA_CONFLICT: a time-series write gives a field another type than the measurement already has for it. Nothing was written.'),
        TooLarge: errorResponse(`LIMIT_EXCEEDED: the body (max ${limits.requestBytesMax} bytes), key (max ${limits.keyBytesMax}) or value (max ${limits.valueBytesMax}) is too large.`),
        UnsupportedMediaType: errorResponse('PROTOCOL: the body is not of a type this route accepts.'),
        Internal: errorResponse('IO, CORRUPTION or CONFIG: a server-side failure.'),
        Unavailable: errorResponse('UNAVAILABLE, CLOSED, LOCKED or READ_ONLY: the server cannot serve now (shutting down, read-only after a failed write); LIMIT_EXCEEDED when the server already has clientsMax connections.'),
      },
    },
    security: [{ basicAuth: [] }, { bearerAuth: [] }],
    paths: {
      ...(options.tsdb ? tsPaths(limits, options) : {}),
      ...(options.cluster === true ? coordinatorPaths(options.faultInjection === true) : {}),
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
