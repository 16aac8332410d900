export * from './fault-fs.js';
