export { LogWriter } from './log-writer.js';
export { LogReader } from './log-reader.js';
export type { LogReaderOptions, LogReadResult } from './log-reader.js';
