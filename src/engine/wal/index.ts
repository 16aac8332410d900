export { LogWriter } from './log-writer.js';
export { LogReader } from './log-reader.js';
export type { LogReadResult } from './log-reader.js';
