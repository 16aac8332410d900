import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemFs } from '../../src/base/index.js';
import { open } from '../../src/engine/index.js';
import { YieldGate } from '../../src/engine/yield-gate.js';

test('the gate asks for a turn after every workPerTurn units of work', () => {
  const g = new YieldGate(8);
  const seen: boolean[] = [];
  for (let i = 0; i < 16; i++) seen.push(g.shouldYield());
  assert.deepEqual(seen.map((y, i) => (y ? i : -1)).filter((i) => i >= 0), [7, 15]);
  assert.equal(g.shouldYield(20), true, 'a batch counts its entries');
  assert.equal(g.shouldYield(), false);
});

test('a loop of awaited reads and writes lets the event loop turn (timers run before the loop ends)', async () => {
  const db = await open('/db', { fs: new MemFs() });
  let turns = 0;
  const tick = () => {
    turns++;
    if (!stop) setImmediate(tick);
  };
  let stop = false;
  setImmediate(tick);
  for (let i = 0; i < 5000; i++) await db.put(`k${i}`, 'v');
  const afterWrites = turns;
  for (let i = 0; i < 5000; i++) await db.get(`k${i}`);
  const it = db.iterator();
  while ((await it.nextv(100)).length > 0);
  it.close();
  stop = true;
  // Without the gate every await above settles on a microtask and `tick` runs at most once.
  assert.ok(afterWrites >= 10, `event loop turned ${afterWrites} times during 5000 awaited puts`);
  assert.ok(turns - afterWrites >= 10, `event loop turned ${turns - afterWrites} times during reads`);
  await db.close();
});
