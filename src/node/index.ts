export { LocalKvService, STRING_BYTES_MAX, formatFloat } from '../engine/index.js';
export type { LocalKvServiceOptions } from '../engine/index.js';
export * from './config.js';
export * from './node.js';
export { ClusterNode, ClusterKvService } from '../cluster/index.js';
