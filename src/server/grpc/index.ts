export { GrpcServer } from './grpc-server.js';
export type { GrpcServerOptions } from './grpc-server.js';
export { HealthService } from './health-service.js';
export { PROTO_FILES, PROTO_LOADER_OPTIONS, KV_SERVICE_NAME, HEALTH_SERVICE_NAME, loadGrpcDefinitions, protoDir } from './proto-files.js';
export type { GrpcDefinitions } from './proto-files.js';
export { SCAN_CHUNK_BYTES_MAX, SCAN_PAGE_ENTRIES } from './scan-stream.js';
export type * from './messages.js';
