export { Block, BlockIterator, BYTEWISE_ORDER, INTERNAL_KEY_ORDER } from './block.js';
export type { KeyOrder } from './block.js';
export { BlockBuilder } from './block-builder.js';
export { BloomFilter, BloomFilterBuilder, bloomHash, bloomProbes } from './bloom.js';
export {
  BLOCK_TRAILER_SIZE,
  CompressionType,
  FOOTER_SIZE,
  FORMAT_VERSION,
  TABLE_MAGIC,
  decodeFooter,
  decodeHandle,
  encodeFooter,
  encodeHandle,
} from './format.js';
export type { BlockHandle, Footer } from './format.js';
export { DEFAULT_TABLE_BUILDER_OPTIONS, TableBuilder, shortSuccessor, shortestSeparator } from './table-builder.js';
export type { TableBuilderOptions, TableProperties } from './table-builder.js';
export { FIND_DELETED, FIND_MISS, FIND_NONE, FIND_VALUE, TableReader } from './table-reader.js';
export type { FindResult } from './table-reader.js';
export type { TableReaderOptions } from './table-reader.js';
export { BlockCache } from '../block-cache.js';
export { blockPoolStats, releaseBlock } from './block-pool.js';
