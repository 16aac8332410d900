export * from './auth.js';
export * from './limits.js';
export * from './metrics.js';
export * from './errors.js';
export * from './front-end.js';
export * from './strata-server.js';
