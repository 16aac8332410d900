/**
 * The Redis-protocol (RESP2/RESP3) front end. `RespServer` is what a node
 * starts; the decoder, writer and glob matcher are exported for tests and
 * tools.
 */
export { RespServer, respCommands } from './resp-server.js';
export type { RespServerOptions } from './resp-server.js';
export { RespDecoder, protocolError, MULTIBULK_COUNT_MAX, INLINE_BYTES_MAX, splitInlineArgs } from './resp-decoder.js';
export type { RespDecoderLimits } from './resp-decoder.js';
export { RespWriter, formatDouble } from './resp-writer.js';
export type { RespVersion } from './resp-writer.js';
export { DoubleReply, ErrorReply, MapReply, NULL_ARRAY, NullArrayReply, OK, PONG, SimpleReply, VerbatimReply } from './replies.js';
export type { Reply } from './replies.js';
export { globMatch, globLiteralPrefix } from './glob.js';
export { ScanCursors, parseCursor } from './scan-cursors.js';
export { CommandTable } from './command-table.js';
export type { CommandSpec, CommandAccess } from './command-spec.js';
