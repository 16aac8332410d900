/**
 * StrataDB's public entry. Embedded use:
 *
 *   import { open } from 'stratadb';
 *   const db = await open('./data');
 *   await db.put('hello', 'world');
 *   console.log(await db.get('hello', { encoding: 'utf8' }));
 *   await db.close();
 */
export { DB, DbIterator, DEFAULT_OPTIONS, open, Snapshot, WriteBatch } from './engine/index.js';
export type { BatchOperation, Encoding, EngineStats, Entry, IteratorOptions, LevelStats, OpenOptions, ReadOptions, WriteOptions } from './engine/index.js';
export { ERROR_CODES, isStrataError, MemFs, NodeFs, StrataError } from './base/index.js';
export type { ErrorCode, Fs } from './base/index.js';
export { SeededRandom } from './base/index.js';
/** The Raft consensus core and its logs (`raft.Raft`, `raft.DiskRaftLog`, ...). */
export * as raft from './replication/index.js';
export * as tsdb from './tsdb/index.js';
