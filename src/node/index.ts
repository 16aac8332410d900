export * from './local-kv-service.js';
