/**
 * The decoded shapes of the messages in proto/strata/v1/kv.proto and
 * proto/grpc/health/v1/health.proto under PROTO_LOADER_OPTIONS (camelCase
 * fields, int64 as number, enums as names, bytes as Buffer, defaults filled,
 * oneof members absent unless set). Requests are typed as they arrive;
 * responses as the server builds them.
 *
 * An enum number the .proto does not name arrives as a number, so enum
 * fields in requests are typed `string | number` and checked.
 */

export interface GetRequest {
  key: Buffer;
  consistency?: string | number;
}

export interface GetResponse {
  found: boolean;
  value: Uint8Array;
  expireAtMs: number;
}

export type PutCondition = 'NONE' | 'IF_ABSENT' | 'IF_PRESENT';

/** The `expiry` oneof shared by PutRequest and BatchPut. */
export interface ExpiryFields {
  expiry?: 'ttlMs' | 'expireAtMs';
  ttlMs?: number;
  expireAtMs?: number;
}

export interface PutRequest extends ExpiryFields {
  key: Buffer;
  value: Buffer;
  condition: PutCondition | string | number;
  consistency?: string | number;
}

export interface PutResponse {
  written: boolean;
}

export interface DeleteRequest {
  keys: Buffer[];
  consistency?: string | number;
}

export interface DeleteResponse {
  deleted: number;
}

export interface BatchPut extends ExpiryFields {
  key: Buffer;
  value: Buffer;
}

export interface BatchDelete {
  key: Buffer;
}

export interface BatchOp {
  op?: 'put' | 'del';
  put?: BatchPut;
  del?: BatchDelete;
}

export interface BatchRequest {
  ops: BatchOp[];
  consistency?: string | number;
}

export type BatchResponse = Record<string, never>;

export interface ScanRequest {
  prefix: Buffer;
  start: Buffer;
  end: Buffer;
  after: Buffer;
  limit: number;
  reverse: boolean;
  keysOnly: boolean;
  consistency?: string | number;
}

export interface ScanEntry {
  key: Uint8Array;
  value: Uint8Array;
  expireAtMs: number;
}

export interface ScanResponse {
  entries: ScanEntry[];
}

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: ServingStatus;
}
