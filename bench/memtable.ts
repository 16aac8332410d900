/**
 * Memtable micro-benchmark: 1M random inserts, then 1M random point gets
 * (all hits), 1M gets of absent keys (each next to a present one), and a full
 * forward scan.
 * Run: npx tsc -p . && node dist/bench/memtable.js [count]
 */
import { SeededRandom } from '../src/base/random.js';
import { MAX_SEQUENCE, ValueType } from '../src/engine/format.js';
import { Memtable } from '../src/engine/memtable.js';

const N = Number(process.argv[2] ?? 1_000_000);
const KEY_LEN = 16;
const VALUE_LEN = 100;

function makeKeys(rnd: SeededRandom, n: number, prefix: string): Buffer[] {
  const keys: Buffer[] = new Array<Buffer>(n);
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(KEY_LEN);
    b.write(prefix, 0, 'latin1');
    for (let j = prefix.length; j < KEY_LEN; j++) b[j] = 0x61 + rnd.int(0, 25);
    keys[i] = b;
  }
  return keys;
}

function report(label: string, ops: number, ms: number): void {
  const perSec = Math.round((ops / ms) * 1000);
  console.log(`${label.padEnd(28)} ${perSec.toLocaleString('en-US').padStart(12)} ops/s  (${ms.toFixed(0)} ms, ${((ms * 1e6) / ops).toFixed(0)} ns/op)`);
}

function main(): void {
  const rnd = new SeededRandom(1);
  const keys = makeKeys(rnd, N, 'k');
  const value = Buffer.alloc(VALUE_LEN, 0x76);
  // Lookup keys: copies of random inserted keys, allocated in query order so the
  // benchmark measures the memtable rather than cache misses on the key array.
  const queries: Buffer[] = new Array<Buffer>(N);
  for (let i = 0; i < N; i++) queries[i] = Buffer.from(keys[rnd.int(0, N - 1)]!);
  // Absent keys: a random inserted key with its last byte outside the alphabet, so each
  // lands right next to a present one.
  const absent: Buffer[] = new Array<Buffer>(N);
  for (let i = 0; i < N; i++) {
    const k = Buffer.from(keys[rnd.int(0, N - 1)]!);
    k[KEY_LEN - 1] = 0x30;
    absent[i] = k;
  }

  const mem = new Memtable();
  let t0 = performance.now();
  for (let i = 0; i < N; i++) mem.add(i + 1, ValueType.PUT, keys[i]!, value);
  report(`insert (${N} random keys)`, N, performance.now() - t0);

  let found = 0;
  t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const r = mem.get(queries[i]!, MAX_SEQUENCE);
    if (r !== undefined) found++;
  }
  report('get (hit)', N, performance.now() - t0);
  if (found !== N) throw new Error(`expected ${N} hits, got ${found}`);

  let missed = 0;
  t0 = performance.now();
  for (let i = 0; i < N; i++) if (mem.get(absent[i]!, MAX_SEQUENCE) === undefined) missed++;
  report('get (miss)', N, performance.now() - t0);
  if (missed !== N) throw new Error('unexpected hit');

  const it = mem.iterator();
  let scanned = 0;
  t0 = performance.now();
  for (it.seekToFirst(); it.valid(); it.next()) scanned++;
  report('scan (next)', scanned, performance.now() - t0);

  console.log(
    `entries ${mem.entries}, approximateBytes ${(mem.approximateBytes / 1048576).toFixed(1)} MiB, ` +
      `heap used ${(process.memoryUsage().heapUsed / 1048576).toFixed(0)} MiB`,
  );
}

main();
