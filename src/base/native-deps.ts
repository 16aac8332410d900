/**
 * The native packages (CommonJS loaders of N-API binaries), loaded with
 * `require` rather than `import`: an ESM import of a CommonJS module runs
 * Node's cjs-module-lexer over its source to find the export names. For
 * these two ~29 KB loaders that took 23-28 ms instead of 11-15 at startup,
 * plus ~75 ms of TurboFan compiling the lexer's hot loop in every thread
 * that loads them; the engine's worker thread loads them while the first
 * writes run, and that compile competed with them for the CPU.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const snappy = require('snappy') as typeof import('snappy');
export const nodeRsCrc32 = require('@node-rs/crc32') as typeof import('@node-rs/crc32');
