export * from './http-server.js';
export { HttpReplyError, CONDITION_FAILED, errorReplyOf } from './http-error.js';
export type { ErrorBody } from './http-error.js';
export { EXPIRE_AT_HEADER } from './kv-routes.js';
export { openApiDocument } from './openapi.js';
export { percentDecode, percentEncode } from './percent-encoding.js';
export { BATCH_OPS_MAX } from './batch-request.js';
export { SCAN_LIMIT_DEFAULT } from './scan-request.js';
export type { WireEncoding } from './wire-bytes.js';
