/**
 * Deterministic benchmark data, generated before any timing starts: keys as
 * zero-padded decimal (db_bench's "%016d"), a pool of half-compressible
 * values, and the key orders each workload visits.
 */
import { SeededRandom } from '../../src/base/index.js';

/**
 * Keys 0..n-1 as `size`-byte zero-padded decimal strings. One slab holds the
 * bytes; each key is a Buffer view into it, so a loop only indexes an array.
 */
export function makeKeys(n: number, size: number): Buffer[] {
  const slab = Buffer.alloc(n * size, 0x30);
  const keys = new Array<Buffer>(n);
  for (let i = 0; i < n; i++) {
    const off = i * size;
    let v = i;
    for (let p = off + size - 1; v > 0; p--) {
      slab[p] = 0x30 + (v % 10);
      v = Math.floor(v / 10);
    }
    keys[i] = slab.subarray(off, off + size);
  }
  return keys;
}

/**
 * `n` keys that are certainly absent but fall between present ones:
 * (size-1) zero-padded digits then '.', like db_bench's readmissing suffix.
 * '.' sorts below '0', so "…012." lands between "…0119" and "…0120" and a
 * lookup has to ask the table (and its bloom filter) rather than fall off
 * the end of the key range.
 */
export function makeMissingKeys(n: number, present: number, size: number, rnd: SeededRandom): Buffer[] {
  const prefixes = Math.max(1, Math.floor((present - 1) / 10) + 1);
  const slab = Buffer.alloc(n * size, 0x30);
  const keys = new Array<Buffer>(n);
  for (let i = 0; i < n; i++) {
    const off = i * size;
    slab[off + size - 1] = 0x2e; // '.'
    let v = rnd.int(0, prefixes - 1);
    for (let p = off + size - 2; v > 0; p--) {
      slab[p] = 0x30 + (v % 10);
      v = Math.floor(v / 10);
    }
    keys[i] = slab.subarray(off, off + size);
  }
  return keys;
}

/** Power of two number of distinct values cycled through by writes. */
export const VALUE_POOL = 16384;

/**
 * db_bench-like values: each is ceil(size/2) random bytes repeated to fill
 * `size`, so Snappy compresses a value roughly 2:1. A large pool keeps equal
 * values from meeting inside one block (which would compress better).
 */
export function makeValuePool(size: number, rnd: SeededRandom): Buffer[] {
  const slab = Buffer.alloc(VALUE_POOL * size);
  const half = Math.ceil(size / 2);
  const pool = new Array<Buffer>(VALUE_POOL);
  for (let i = 0; i < VALUE_POOL; i++) {
    const off = i * size;
    for (let j = 0; j < half; j++) slab[off + j] = rnd.int(0, 255);
    for (let j = half; j < size; j++) slab[off + j] = slab[off + j - half]!;
    pool[i] = slab.subarray(off, off + size);
  }
  return pool;
}

/** 0..n-1 in a random order (every key exactly once). */
export function permutation(n: number, rnd: SeededRandom): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rnd.int(0, i);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

/** `count` uniform draws from 0..n-1 (with replacement, as db_bench's random workloads). */
export function uniformIndices(count: number, n: number, rnd: SeededRandom): Uint32Array {
  const a = new Uint32Array(count);
  for (let i = 0; i < count; i++) a[i] = rnd.int(0, n - 1);
  return a;
}

/** A stable 31-bit seed for (base seed, label, run): the same sequence for every engine. */
export function deriveSeed(seed: number, label: string, run: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  h = Math.imul(h ^ run, 0x85ebca6b) >>> 0;
  return h & 0x7fffffff;
}

export function rng(seed: number, label: string, run: number): SeededRandom {
  return new SeededRandom(deriveSeed(seed, label, run));
}
