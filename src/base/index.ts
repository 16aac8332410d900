export * from './errors.js';
export * from './bytes.js';
export * from './crc32c.js';
export * from './fs.js';
export * from './mem-fs.js';
export * from './clock.js';
export * from './random.js';
export * from './kv-service.js';
