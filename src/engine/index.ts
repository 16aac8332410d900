export { DB, open } from './db.js';
export type { BatchOperation, EngineStats, LevelStats, ReadOptions, WriteOptions } from './db.js';
export { DbIterator } from './db-iterator.js';
export type { Encoding, Entry, IteratorOptions } from './db-iterator.js';
export { DEFAULT_OPTIONS } from './options.js';
export type { OpenOptions } from './options.js';
export { Snapshot } from './snapshot.js';
export { WriteBatch } from './write-batch.js';
export { EXPIRE_AT_MAX_MS, encodeExpiringValue, expiryOf, isExpired, payloadOf } from './expiring-value.js';
