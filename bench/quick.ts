/**
 * A quick single-engine measurement (the side-by-side benchmark against
 * LevelDB is `npm run bench:engine`, a separate harness). Usage:
 *   npm run bench -- [--num 1000000] [--value-size 100] [--dir /tmp/strata-quick]
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from '../src/index.js';
import { SeededRandom } from '../src/base/index.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const num = Number(arg('num', '1000000'));
const valueSize = Number(arg('value-size', '100'));
const dir = arg('dir', join(tmpdir(), 'strata-quick-bench'));
const rnd = new SeededRandom(301);

const key = (i: number) => {
  const b = Buffer.alloc(16, 0x30);
  b.write(String(i), 16 - String(i).length, 'latin1');
  return b;
};
const value = Buffer.alloc(valueSize, 0x61);
for (let i = 0; i < valueSize; i++) value[i] = 0x61 + rnd.int(0, 25);

function report(name: string, ops: number, ms: number): void {
  const perSec = Math.round(ops / (ms / 1000));
  console.log(`${name.padEnd(26)} ${String(perSec).padStart(10)} ops/s ${(1000 * ms / ops).toFixed(2).padStart(9)} µs/op`);
}

async function main(): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  console.log(`StrataDB quick bench: ${num} keys, 16-byte keys, ${valueSize}-byte values, dir ${dir}`);
  let db = await open(dir);
  let t = performance.now();
  for (let i = 0; i < num; i++) await db.put(key(i), value);
  report('fillseq (awaited put)', num, performance.now() - t);
  await db.close();
  rmSync(dir, { recursive: true, force: true });

  db = await open(dir);
  const order = Array.from({ length: num }, (_, i) => i);
  for (let i = num - 1; i > 0; i--) {
    const j = rnd.int(0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  t = performance.now();
  for (let i = 0; i < num; i++) await db.put(key(order[i]!), value);
  report('fillrandom (awaited put)', num, performance.now() - t);

  t = performance.now();
  for (let i = 0; i < num; i += 1000) {
    const b = db.batch();
    for (let j = i; j < Math.min(num, i + 1000); j++) b.put(key(order[j]!), value);
    await db.write(b);
  }
  report('overwrite (batch 1000)', num, performance.now() - t);
  await db.flush();

  let found = 0;
  t = performance.now();
  for (let i = 0; i < num; i++) if ((await db.get(key(rnd.int(0, num - 1)))) !== undefined) found++;
  report('readrandom (awaited get)', num, performance.now() - t);
  if (found !== num) throw new Error(`readrandom found ${found}/${num}`);

  t = performance.now();
  let n = 0;
  for (const _ of db.iterator()) n++;
  report('readseq (iterator)', n, performance.now() - t);
  if (n !== num) throw new Error(`readseq saw ${n}/${num}`);

  const s = db.stats();
  console.log(`levels ${s.levels.map((l) => l.files).join('/')}, write amplification ${s.writeAmplification.toFixed(2)}, stalls ${s.stalls.stops}, compactions ${s.compaction.count}`);
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
