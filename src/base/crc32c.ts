import { nodeRsCrc32 } from './native-deps.js';

const nativeCrc32c = nodeRsCrc32.crc32c;

/** CRC-32C (Castagnoli) of `data`, continuing from `initial` (0 to start). Native, SIMD. */
export function crc32c(data: Uint8Array, initial = 0): number {
  return nativeCrc32c(data as Buffer, initial) >>> 0;
}

const MASK_DELTA = 0xa282ead8;

/**
 * LevelDB's masking: a CRC stored next to data that itself contains CRCs is
 * rotated and offset so that computing the CRC of a CRC is not degenerate.
 */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
