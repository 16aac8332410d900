import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemFs } from '../../src/base/index.js';
import { open } from '../../src/engine/index.js';
import { YieldGate } from '../../src/engine/yield-gate.js';

test('the gate asks for a turn after every workPerTurn units of work', async () => {
  const g = new YieldGate(8);
  const seen: boolean[] = [];
  for (let t = 0; t < 2; t++) {
    for (let i = 0; i < 8; i++) seen.push(g.shouldYield());
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(seen.map((y, i) => (y ? i : -1)).filter((i) => i >= 0), [7, 15]);
  assert.equal(g.shouldYield(20), true, 'a batch counts its entries');
  await new Promise((r) => setImmediate(r));
  assert.equal(g.shouldYield(), false);
});

test('once a turn is used up, every caller yields until the event loop turns: two loops awaiting one gate share one budget', async () => {
  const g = new YieldGate(8);
  const op = () => (g.shouldYield() ? new Promise<void>((r) => setImmediate(r)) : Promise.resolve());
  let turn = 0;
  let stop = false;
  const tick = () => {
    turn++;
    if (!stop) setImmediate(tick);
  };
  setImmediate(tick);
  const perTurn = new Map<number, number>();
  const loop = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await op();
      perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
    }
  };
  await Promise.all([loop(100), loop(100)]);
  stop = true;
  const most = Math.max(...perTurn.values());
  // With a budget each (the old behaviour) one turn completed 8 + 8 operations.
  assert.ok(most <= 9, `operations completed in one turn: ${most} (per turn: ${[...perTurn.values()].join(' ')})`);
  assert.ok(perTurn.size >= 200 / 9, `turns: ${perTurn.size}`);
});

test('the gate also asks for a turn once maxTurnMs have passed on its clock, and nextv stops early then', async () => {
  let now = 1000;
  const g = new YieldGate(256, () => now, 10);
  assert.equal(g.shouldYield(), false);
  now += 9;
  assert.equal(g.shouldYield(), false);
  assert.equal(g.turnExpired(), false);
  now += 1;
  assert.equal(g.turnExpired(), true);
  assert.equal(g.shouldYield(), true, 'slow operations: a turn after 10 ms, long before 256 of them');
  // The turn stays used up until the event loop turns: every other caller in it yields too.
  assert.equal(g.turnExpired(), true);
  assert.equal(g.shouldYield(), true);
  now += 5;
  await new Promise((r) => setImmediate(r));
  assert.equal(g.turnExpired(), false, 'the next turn starts a new budget');
  assert.equal(g.shouldYield(), false);
  now += 9;
  assert.equal(g.shouldYield(), false, 'the new turn\'s clock started when it began');

  // In the engine: an iterator's nextv returns fewer entries when the turn ran out, and an empty array only at the end.
  const clock = { t: 0, nowMs: () => clock.t };
  const db = await open('/db', { fs: new MemFs(), clock });
  for (let i = 0; i < 1000; i++) await db.put(`k${String(i).padStart(4, '0')}`, 'v');
  const it = db.iterator();
  assert.equal((await it.nextv(300)).length, 300, 'the clock stands still: all 300');
  clock.t += 60_000;
  const short = await it.nextv(300);
  assert.ok(short.length > 0 && short.length < 300, `a turn over its time: ${short.length} entries`);
  let total = 300 + short.length;
  for (let b = await it.nextv(300); b.length > 0; b = await it.nextv(300)) total += b.length;
  assert.equal(total, 1000);
  it.close();
  await db.close();
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
