export * from './types.js';
export { TimeSeriesStore, validateQuery } from './store.js';
export type { TsStoreOptions } from './store.js';
export { LocalDirObjectStore } from './object-store.js';
export type { ObjectStore } from './object-store.js';
export { bucketStart, bucketEnd, intervalStart } from './rollup.js';
export { planSegments } from './planner.js';
export * from './ingest/index.js';
export { columnValue, columnsToPoints } from './columns.js';
