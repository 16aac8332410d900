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

/** Two loops awaiting operations through `g` (each op advances `clock` by `opMs`): operations completed per event-loop turn, per loop. */
async function twoLoops(g: YieldGate, clock: { t: number }, opMs: number, ops: number): Promise<Array<[number, number]>> {
  const op = () => {
    clock.t += opMs;
    return g.shouldYield() ? new Promise<void>((r) => setImmediate(r)) : Promise.resolve();
  };
  let turn = 0;
  let stop = false;
  const tick = () => {
    turn++;
    if (!stop) setImmediate(tick);
  };
  setImmediate(tick);
  const perTurn: Array<[number, number]> = [];
  const loop = async (which: 0 | 1) => {
    for (let i = 0; i < ops; i++) {
      await op();
      (perTurn[turn] ??= [0, 0])[which]++;
    }
  };
  await Promise.all([loop(0), loop(1)]);
  stop = true;
  return perTurn.filter((x) => x !== undefined);
}

/** Turns in which a loop that had operations left completed none. */
function starved(turns: Array<[number, number]>, ops: number): number {
  const done: [number, number] = [0, 0];
  let n = 0;
  for (const t of turns) {
    for (const w of [0, 1] as const) if (t[w] === 0 && done[w] < ops) n++;
    done[0] += t[0];
    done[1] += t[1];
  }
  return n;
}

test('the turn\'s time is shared by every caller: two loops of slow operations hold the event loop for maxTurnMs, not maxTurnMs each, and both go on', async () => {
  const clock = { t: 0 };
  const turns = await twoLoops(new YieldGate(256, () => clock.t, 10), clock, 1, 200);
  const most = Math.max(...turns.map(([a, b]) => a + b));
  const shape = turns.map((x) => x.join('+')).join(' ');
  // 10 operations in the turn's time, the one that ran over it, and the other loop's one (with a clock per loop: 21).
  assert.ok(most <= 12, `operations completed in one turn: ${most} (${shape})`);
  assert.equal(starved(turns, 200), 0, `a loop with operations left completed none in a turn: ${shape}`);
});

test('the count is a caller\'s: two loops of fast operations each complete workPerTurn in every turn', async () => {
  const clock = { t: 0 };
  const turns = await twoLoops(new YieldGate(8, () => clock.t, 10), clock, 0, 200);
  const shape = turns.map((x) => x.join('+')).join(' ');
  assert.ok(turns.slice(1).every(([a, b]) => a <= 8 && b <= 8), shape);
  assert.ok(turns.filter(([a, b]) => a === 8 && b === 8).length >= 20, shape);
  assert.equal(starved(turns, 200), 0, shape);
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
  const clock = { t: 0, step: 0, nowMs: () => (clock.t += clock.step) };
  const db = await open('/db', { fs: new MemFs(), clock });
  for (let i = 0; i < 1000; i++) await db.put(`k${String(i).padStart(4, '0')}`, 'v');
  const it = db.iterator();
  assert.equal((await it.nextv(300)).length, 300, 'the clock stands still: all 300');
  clock.step = 5; // every reading of the clock: 5 ms later
  const short = await it.nextv(300);
  clock.step = 0;
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
