export * from './types.js';
export * from './storage.js';
export * from './memory-log.js';
export * from './conf-change.js';
export * from './raft.js';
export * from './sessions.js';
export { Progress, Inflights, type ProgressState } from './progress.js';
export * from './disk-log.js';
export * from './multi-log.js';
