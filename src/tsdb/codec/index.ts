/** Columnar codecs for time-series chunks; each file's comment documents its byte format. */
export { BitReader, BitWriter, ByteReader, ByteWriter, CHUNK_FILE, MAX_COLUMN_VALUES, bitWidth, unzigzag, varintSize, zigzag } from './bits.js';
export { decodeIntegers, encodeIntegers, integersCodecName } from './integers.js';
export { decodeTimestamps, encodeTimestamps, timestampsCodecName } from './timestamps.js';
export { decodeFloats, encodeFloats, encodeFloatsGorilla, floatsCodecDetail, floatsCodecName } from './floats.js';
export { decodeBooleans, encodeBooleans } from './booleans.js';
export { decodeStrings, encodeStrings, stringsCodecName } from './strings.js';
export { codecOf, decodeColumn, decodePresence, encodeColumn, encodePresence } from './column.js';
