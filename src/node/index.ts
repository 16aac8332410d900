export * from './local-kv-service.js';
export * from './config.js';
export * from './node.js';
