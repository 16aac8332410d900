/**
 * DiskRaftLog: same observable behaviour as MemoryRaftLog (model test), the
 * durability contract under simulated crashes at every file-system call
 * (with and without torn unsynced tails), torn tails vs corruption, segment
 * rotation and removal, hard state, LOCK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CODES, MemFs, SeededRandom, isStrataError, joinPath, type Fs, type StrataError } from '../../src/base/index.js';
import { FaultFs, isSimulatedCrash } from '../../src/sim/index.js';
import { DiskRaftLog, raftSegmentName } from '../../src/replication/raft/disk-log.js';
import { MemoryRaftLog } from '../../src/replication/raft/memory-log.js';
import type { RaftLogStore } from '../../src/replication/raft/storage.js';

import { applyOp, bytes, concretize, describe, ent, hex, slowSyncFs, type AbsOp, type Op } from './raft-log-helpers.js';
const DIR = '/raft';
/** STRATA_LONG_TESTS=1: more scenarios for the crash-at-every-operation tests. */
const LONG = !!process.env.STRATA_LONG_TESTS && process.env.STRATA_LONG_TESTS !== '0';

// ------------------------------------------------------------------ helpers


function segmentNames(fs: MemFs, dir = DIR): string[] {
  return fs.list(dir).filter((n) => n.endsWith('.rlog'));
}
function snapNames(fs: MemFs, dir = DIR): string[] {
  return fs.list(dir).filter((n) => n.endsWith('.snap'));
}

/** Offsets of the records in a segment (after its 24-byte header). */
function recordOffsets(data: Buffer): number[] {
  const out: number[] = [];
  let pos = 24;
  while (pos + 9 <= data.length) {
    out.push(pos);
    pos += 9 + data.readUInt32LE(pos);
  }
  return out;
}

/** Replaces a file's contents in a MemFs (durably). */
async function overwrite(fs: MemFs, path: string, data: Uint8Array): Promise<void> {
  const w = fs.createWritable(path);
  w.append(data);
  await w.sync();
  await fs.syncDir(DIR);
}

function assertCorruption(fn: () => unknown, file: string, offset?: number): StrataError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(isStrataError(caught, ERROR_CODES.CORRUPTION), `expected CORRUPTION, got ${String(caught)}`);
  assert.equal(caught.file, file);
  if (offset !== undefined) assert.equal(caught.offset, offset, caught.message);
  return caught;
}

// ------------------------------------------------------------------ model test

const absOp: fc.Arbitrary<AbsOp | { t: 'sync' } | { t: 'reopen' } | { t: 'crash' }> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('append' as const),
      sel: fc.nat(1000),
      n: fc.integer({ min: 1, max: 5 }),
      term: fc.integer({ min: 1, max: 9 }),
      seed: fc.nat(10000),
      big: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('hs' as const), term: fc.nat(20), vote: fc.nat(10), commit: fc.nat(100) }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('create' as const), sel: fc.nat(1000), seed: fc.nat(10000), conf: fc.nat(12) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('apply' as const),
      delta: fc.integer({ min: -4, max: 6 }),
      term: fc.integer({ min: 0, max: 9 }),
      seed: fc.nat(10000),
      conf: fc.nat(12),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ t: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
);

test('model: same observable behaviour as MemoryRaftLog, across reopens and crashes after sync (fast-check)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 40, max: 2000 }), fc.array(absOp, { minLength: 1, maxLength: 60, size: 'max' }), async (segmentBytes, ops) => {
      let fs = new MemFs();
      let log = DiskRaftLog.open(fs, DIR, { segmentBytes });
      const model = new MemoryRaftLog();
      for (const a of ops) {
        if (a.t === 'sync') {
          await log.sync();
        } else if (a.t === 'reopen') {
          await log.sync();
          log.close();
          log = DiskRaftLog.open(fs, DIR, { segmentBytes });
        } else if (a.t === 'crash') {
          // After a completed sync, a crash loses nothing.
          await log.sync();
          fs = fs.crashImage();
          log = DiskRaftLog.open(fs, DIR, { segmentBytes });
        } else {
          const op = concretize(model, a);
          if (!op) continue;
          applyOp(model, op);
          applyOp(log, op);
        }
        assert.equal(describe(log), describe(model));
      }
      await log.sync();
      log.close();
      const again = DiskRaftLog.open(fs, DIR, { segmentBytes });
      assert.equal(describe(again), describe(model));
      // At most the newest snapshot file is kept.
      assert.ok(snapNames(fs).length <= 1, snapNames(fs).join(', '));
      again.close();
    }),
    { seed: 0x5eed, numRuns: LONG ? 2000 : 150 },
  );
});

// ------------------------------------------------------------------ crash at every op

type Step = { t: 'op'; op: Op } | { t: 'sync' } | { t: 'reopen' };

interface Scenario {
  steps: Step[];
  /** describe(model) after j mutating calls, j = 0..mutations. */
  prefixes: string[];
  segmentBytes: number;
}

function makeScenario(seed: number, mutations: number, segmentBytes: number): Scenario {
  const r = new SeededRandom(seed);
  const model = new MemoryRaftLog();
  const steps: Step[] = [];
  const prefixes = [describe(model)];
  let reopened = false;
  while (prefixes.length <= mutations) {
    if (!reopened && prefixes.length > mutations / 2) {
      steps.push({ t: 'reopen' });
      reopened = true;
    }
    const k = r.int(0, 99);
    let a: AbsOp;
    if (k < 50) a = { t: 'append', sel: r.int(0, 1000), n: r.int(1, 4), term: r.int(1, 6), seed: r.int(0, 10000), big: r.int(0, 3) === 0 };
    else if (k < 62) a = { t: 'hs', term: r.int(0, 9), vote: r.int(0, 9), commit: r.int(0, 50) };
    else if (k < 72) a = { t: 'create', sel: r.int(0, 1000), seed: r.int(0, 10000), conf: r.int(0, 12) };
    else if (k < 77) a = { t: 'apply', delta: r.int(-3, 5), term: r.int(1, 6), seed: r.int(0, 10000), conf: r.int(0, 12) };
    else {
      steps.push({ t: 'sync' });
      continue;
    }
    const op = concretize(model, a);
    if (!op) continue;
    applyOp(model, op);
    steps.push({ t: 'op', op });
    prefixes.push(describe(model));
  }
  return { steps, prefixes, segmentBytes };
}

interface RunResult {
  /** Mutating calls started (the last may have failed). */
  issued: number;
  /** Mutating calls made before the last sync() that resolved. */
  durable: number;
  crashed: boolean;
}

async function runScenario(fs: Fs, sc: Scenario): Promise<RunResult> {
  let issued = 0;
  let durable = 0;
  const sync = async (log: DiskRaftLog) => {
    const before = issued;
    await log.sync();
    durable = before;
  };
  try {
    let log = DiskRaftLog.open(fs, DIR, { segmentBytes: sc.segmentBytes });
    for (const s of sc.steps) {
      if (s.t === 'sync') {
        await sync(log);
      } else if (s.t === 'reopen') {
        await sync(log);
        log.close();
        log = DiskRaftLog.open(fs, DIR, { segmentBytes: sc.segmentBytes });
      } else {
        issued++;
        applyOp(log, s.op);
      }
    }
    await sync(log);
    log.close();
    return { issued, durable, crashed: false };
  } catch (err) {
    if (!isSimulatedCrash(err)) throw err;
    return { issued, durable, crashed: true };
  }
}

async function crashEveryOp(sc: Scenario): Promise<{ points: number; torn: number; beyondDurable: number }> {
  const clean = new FaultFs();
  const r0 = await runScenario(clean, sc);
  assert.equal(r0.crashed, false);
  assert.equal(r0.issued, sc.prefixes.length - 1);
  const total = clean.opCount;
  let torn = 0;
  let beyondDurable = 0;
  for (let k = 0; k <= total; k++) {
    for (const tear of [false, true]) {
      const ffs = new FaultFs(new MemFs(), { random: new SeededRandom(k * 31 + 7) });
      ffs.crashAfter(k);
      const r = await runScenario(ffs, sc);
      assert.equal(r.crashed, k < total, `k=${k}: crashed=${r.crashed}`);
      const img = ffs.crashImage({ tear });
      let log: DiskRaftLog;
      try {
        log = DiskRaftLog.open(img, DIR, { segmentBytes: sc.segmentBytes });
      } catch (err) {
        assert.fail(`k=${k} tear=${tear}: reopen failed: ${String(err)}`);
      }
      const got = describe(log);
      let match = -1;
      for (let j = r.durable; j <= r.issued; j++) {
        if (sc.prefixes[j] === got) {
          match = j;
          break;
        }
      }
      assert.ok(match >= 0, `k=${k} tear=${tear}: recovered state matches no prefix in [${r.durable}, ${r.issued}]\n${got}`);
      if (log.recovery.tornTail) torn++;
      if (match > r.durable) beyondDurable++;
      // The recovered log takes writes; after a sync a crash loses nothing.
      const next = ent(log.lastIndex() + 1, 77, `after crash ${k}`);
      log.append([next]);
      log.setHardState({ term: 77, vote: 'n9', commit: 1 });
      await log.sync();
      const want = describe(log);
      const img2 = img.crashImage();
      const again = DiskRaftLog.open(img2, DIR, { segmentBytes: sc.segmentBytes });
      assert.equal(describe(again), want, `k=${k} tear=${tear}: second recovery`);
      again.close();
    }
  }
  return { points: total + 1, torn, beyondDurable };
}

const CRASH_SEEDS = LONG ? Array.from({ length: 20 }, (_, i) => 100 + i) : [11];

test('crash at every file-system operation (no rotation): recovers a prefix including every synced call', async () => {
  for (const seed of CRASH_SEEDS) {
    const sc = makeScenario(seed, 70, 64 * 1024 * 1024);
    const res = await crashEveryOp(sc);
    assert.ok(res.points > 100, `only ${res.points} crash points`);
    assert.ok(res.torn > 0, 'no crash left a torn tail');
    assert.ok(res.beyondDurable > 0, 'no crash kept an unsynced call');
  }
});

test('crash at every file-system operation (small segments): recovers a prefix including every synced call', async () => {
  for (const seed of CRASH_SEEDS) {
    const sc = makeScenario(seed + 12, 70, 200 + (seed % 5) * 50);
    const res = await crashEveryOp(sc);
    assert.ok(res.points > 100, `only ${res.points} crash points`);
    assert.ok(res.torn > 0, 'no crash left a torn tail');
  }
});

test('calls made while a sync is in flight: each sync covers the calls made before it', async () => {
  const fs = new MemFs();
  const log = DiskRaftLog.open(fs, DIR, { segmentBytes: 200 });
  const model = new MemoryRaftLog();
  const prefixes = [describe(model)];
  const r = new SeededRandom(5);
  const doOp = (a: AbsOp) => {
    const op = concretize(model, a);
    if (!op) return;
    applyOp(model, op);
    applyOp(log, op);
    prefixes.push(describe(model));
  };
  for (let round = 0; round < 30; round++) {
    const before = prefixes.length - 1;
    const p = log.sync();
    // Calls while the sync is in flight (it has not resumed yet).
    doOp({ t: 'append', sel: r.int(0, 1000), n: r.int(1, 3), term: r.int(1, 5), seed: r.int(0, 999), big: true });
    if (round % 4 === 1) doOp({ t: 'create', sel: r.int(0, 1000), seed: r.int(0, 999), conf: round });
    if (round % 7 === 3) doOp({ t: 'apply', delta: -1, term: 3, seed: round, conf: round });
    doOp({ t: 'hs', term: round, vote: round, commit: round });
    await p;
    const got = describe(DiskRaftLog.open(fs.crashImage(), DIR));
    const j = prefixes.indexOf(got, before);
    assert.ok(j >= before, `round ${round}: state after the sync is not a prefix including the first ${before} calls`);
  }
  await log.sync();
  assert.equal(describe(DiskRaftLog.open(fs.crashImage(), DIR)), describe(model));
  log.close();
});


test('calls made at every point inside a running sync: each sync covers the calls made before it', async () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const mem = new MemFs();
    const log = DiskRaftLog.open(slowSyncFs(mem), DIR, { segmentBytes: 150 + seed * 40 });
    const model = new MemoryRaftLog();
    const prefixes = [describe(model)];
    const r = new SeededRandom(seed);
    const doOp = () => {
      const k = r.int(0, 9);
      const a: AbsOp =
        k < 5
          ? { t: 'append', sel: r.int(0, 1000), n: r.int(1, 3), term: r.int(1, 5), seed: r.int(0, 999), big: r.int(0, 1) === 0 }
          : k < 7
            ? { t: 'hs', term: r.int(0, 9), vote: r.int(0, 9), commit: r.int(0, 50) }
            : k < 9
              ? { t: 'create', sel: r.int(0, 1000), seed: r.int(0, 999), conf: r.int(0, 12) }
              : { t: 'apply', delta: r.int(-2, 3), term: r.int(1, 5), seed: r.int(0, 999), conf: r.int(0, 12) };
      const op = concretize(model, a);
      if (!op) return;
      applyOp(model, op);
      applyOp(log, op);
      prefixes.push(describe(model));
    };
    const tearRandom = new SeededRandom(seed + 100);
    let durable = 0;
    for (let round = 0; round < 25; round++) {
      const before = prefixes.length - 1;
      let settled = false;
      const p = log.sync().finally(() => {
        settled = true;
      });
      // One call (or none) per macrotask until this sync resolves; a crash
      // now (torn unsynced tails) must leave a prefix with every call before
      // the last completed sync.
      while (!settled) {
        if (r.int(0, 2) !== 0) doOp();
        const img = mem.crashImage((_path, synced, length) => tearRandom.int(synced, length));
        const now = describe(DiskRaftLog.open(img, DIR));
        assert.ok(prefixes.indexOf(now, durable) >= durable, `seed ${seed} round ${round}: a crash inside sync lost a synced call`);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await p;
      durable = before;
      const got = describe(DiskRaftLog.open(mem.crashImage(), DIR));
      const j = prefixes.indexOf(got, before);
      assert.ok(j >= before, `seed ${seed} round ${round}: the state after the sync is not a prefix including the first ${before} calls`);
      assert.equal(describe(log), describe(model));
    }
    await log.sync();
    assert.equal(describe(DiskRaftLog.open(mem.crashImage(), DIR)), describe(model));
    log.close();
  }
});

// ------------------------------------------------------------------ torn tails and corruption

async function fiveEntries(fs: MemFs): Promise<string> {
  const log = DiskRaftLog.open(fs, DIR);
  for (let i = 1; i <= 5; i++) log.append([ent(i, 1, `e${i}`)]);
  await log.sync();
  log.close();
  const segs = segmentNames(fs);
  return joinPath(DIR, segs[segs.length - 1]!);
}

test('torn tail: a record cut off at any byte is dropped; later appends survive reopen', async () => {
  const fs = new MemFs();
  const path = await fiveEntries(fs);
  const full = fs.readFile(path);
  const offs = recordOffsets(full);
  const lastStart = offs[offs.length - 1]!;
  for (let cut = lastStart + 1; cut < full.length; cut++) {
    const img = fs.clone();
    await overwrite(img, path, full.subarray(0, cut));
    const log = DiskRaftLog.open(img, DIR);
    assert.equal(log.lastIndex(), 4);
    assert.equal(log.recovery.tornTail, true);
    assert.equal(log.recovery.droppedBytes, cut - lastStart);
    log.append([ent(5, 2, 'new five'), ent(6, 2, 'six')]);
    await log.sync();
    log.close();
    const again = DiskRaftLog.open(img, DIR);
    assert.equal(again.lastIndex(), 6);
    assert.equal(Buffer.from(again.entries(5, 6, 100)[0]!.data).toString(), 'new five');
    assert.equal(again.recovery.tornTail, false, 'the damaged segment is gone after the checkpoint');
    again.close();
  }
  // Cut exactly at a record boundary: the last call is simply absent.
  const img = fs.clone();
  await overwrite(img, path, full.subarray(0, lastStart));
  const log = DiskRaftLog.open(img, DIR);
  assert.equal(log.lastIndex(), 4);
  assert.equal(log.recovery.tornTail, false);
  log.close();
});

test('torn tail: garbage or zeros after the last record are dropped', async () => {
  const fs = new MemFs();
  const path = await fiveEntries(fs);
  const full = fs.readFile(path);
  for (const tail of [Buffer.alloc(100), Buffer.from(bytes(3, 57)), Buffer.from([0xff])]) {
    const img = fs.clone();
    await overwrite(img, path, Buffer.concat([full, tail]));
    const log = DiskRaftLog.open(img, DIR);
    assert.equal(log.lastIndex(), 5);
    assert.equal(log.recovery.tornTail, true);
    assert.equal(log.recovery.droppedBytes, tail.length);
    log.close();
  }
});

test('torn tail: an incomplete multi-entry append is dropped whole', async () => {
  const fs = new MemFs();
  const log = DiskRaftLog.open(fs, DIR);
  log.append([ent(1, 1, 'a')]);
  log.append([ent(2, 1, 'b'), ent(3, 1, 'c'), ent(4, 1, 'd')]);
  await log.sync();
  log.close();
  const path = joinPath(DIR, segmentNames(fs)[0]!);
  const full = fs.readFile(path);
  const offs = recordOffsets(full);
  // Keep entries 2 and 3 of the group but not 4: the group is incomplete.
  const img = fs.clone();
  await overwrite(img, path, full.subarray(0, offs[offs.length - 1]!));
  const got = DiskRaftLog.open(img, DIR);
  assert.equal(got.lastIndex(), 1);
  assert.equal(got.recovery.tornTail, true);
  got.close();
});

test('a short or empty segment header left by a crash is a torn (empty) segment', async () => {
  const fs = new MemFs();
  await fiveEntries(fs);
  const next = raftSegmentName(1000);
  for (const content of [Buffer.alloc(0), Buffer.from('STRATA'), Buffer.alloc(10)]) {
    const img = fs.clone();
    await overwrite(img, joinPath(DIR, next), content);
    const log = DiskRaftLog.open(img, DIR);
    assert.equal(log.lastIndex(), 5);
    log.close();
  }
});

test('a damaged record followed by a valid one is CORRUPTION naming file and offset', async () => {
  const fs = new MemFs();
  const path = await fiveEntries(fs);
  const full = fs.readFile(path);
  const offs = recordOffsets(full);
  // offs: checkpoint mark, hard state, e1..e5. Damage e2 (payload byte, then checksum byte).
  const e2 = offs[3]!;
  for (const at of [e2 + 9 + 17, e2 + 5, e2 + 8]) {
    const bad = Buffer.from(full);
    bad[at]! ^= 0x40;
    const img = fs.clone();
    await overwrite(img, path, bad);
    assertCorruption(() => DiskRaftLog.open(img, DIR), path, e2);
  }
});

test('bad segment magic, version or header checksum is CORRUPTION naming the file', async () => {
  const fs = new MemFs();
  const path = await fiveEntries(fs);
  const full = fs.readFile(path);
  for (const [at, offset] of [
    [0, 0],
    [9, 8],
    [21, 20],
  ] as const) {
    const bad = Buffer.from(full);
    bad[at]! ^= 0x01;
    const img = fs.clone();
    await overwrite(img, path, bad);
    assertCorruption(() => DiskRaftLog.open(img, DIR), path, offset);
    // The failed open released the lock.
    assert.doesNotThrow(() => img.lock(joinPath(DIR, 'LOCK')).release());
  }
});

test('a torn tail followed by a later segment holding records is CORRUPTION', async () => {
  const fs = new MemFs();
  const log = DiskRaftLog.open(fs, DIR, { segmentBytes: 100 });
  for (let i = 1; i <= 12; i++) {
    log.append([ent(i, 1, bytes(i, 40))]);
    await log.sync();
  }
  log.close();
  const segs = segmentNames(fs);
  assert.ok(segs.length >= 3, `segments: ${segs.join(', ')}`);
  const middle = joinPath(DIR, segs[1]!);
  const data = fs.readFile(middle);
  const img = fs.clone();
  await overwrite(img, middle, data.subarray(0, data.length - 3));
  const offs = recordOffsets(data);
  assertCorruption(() => DiskRaftLog.open(img, DIR), middle, offs[offs.length - 1]);
});

test('snapshot file: damaged or missing is CORRUPTION naming it', async () => {
  const fs = new MemFs();
  const log = DiskRaftLog.open(fs, DIR);
  for (let i = 1; i <= 6; i++) log.append([ent(i, 2, `e${i}`)]);
  log.createSnapshot(4, { voters: ['a', 'b'], learners: ['c'] }, bytes(1, 300));
  await log.sync();
  log.close();
  const snaps = snapNames(fs);
  assert.equal(snaps.length, 1);
  const path = joinPath(DIR, snaps[0]!);
  const data = fs.readFile(path);
  for (const at of [0, 100, data.length - 1]) {
    const bad = Buffer.from(data);
    bad[at]! ^= 0x10;
    const img = fs.clone();
    await overwrite(img, path, bad);
    assertCorruption(() => DiskRaftLog.open(img, DIR), path);
  }
  const img = fs.clone();
  img.remove(path);
  assertCorruption(() => DiskRaftLog.open(img, DIR), path, 0);
  // Intact: the snapshot is back as it was.
  const again = DiskRaftLog.open(fs, DIR);
  assert.deepEqual(again.snapshot().meta, { index: 4, term: 2, conf: { voters: ['a', 'b'], learners: ['c'] } });
  assert.equal(hex(again.snapshot().data), hex(bytes(1, 300)));
  assert.deepEqual(again.initialState().confState, { voters: ['a', 'b'], learners: ['c'] });
  assert.equal(again.firstIndex(), 5);
  assert.equal(again.lastIndex(), 6);
  again.close();
});

// ------------------------------------------------------------------ segments

test('segments rotate at segmentBytes; truncation across segments survives reopen; a snapshot removes old segments', async () => {
  const fs = new MemFs();
  const opts = { segmentBytes: 256 };
  let log = DiskRaftLog.open(fs, DIR, opts);
  const model = new MemoryRaftLog();
  const both = (f: (l: RaftLogStore) => void) => {
    f(model);
    f(log);
  };
  for (let i = 1; i <= 40; i++) {
    both((l) => l.append([ent(i, 1, bytes(i, 30))]));
    await log.sync();
  }
  const many = segmentNames(fs);
  assert.ok(many.length >= 5, `segments: ${many.join(', ')}`);
  // Conflict truncation at 5: entries 5..40 live in older segments.
  both((l) => l.append([ent(5, 2, 'x5'), ent(6, 2, 'x6'), ent(7, 2, 'x7')]));
  both((l) => l.setHardState({ term: 2, vote: 'n1', commit: 4 }));
  await log.sync();
  log.close();
  log = DiskRaftLog.open(fs, DIR, opts);
  assert.equal(log.recovery.segments, segmentNames(fs).length - 1, 'replayed every segment but the new one');
  assert.equal(describe(log), describe(model));
  assert.equal(log.lastIndex(), 7);
  assert.equal(log.term(4), 1);
  assert.equal(log.term(5), 2);
  // The first sync after open makes its checkpoint durable: the old segments go.
  await log.sync();
  assert.equal(segmentNames(fs).length, 1);
  for (let i = 8; i <= 30; i++) {
    both((l) => l.append([ent(i, 2, bytes(i, 30))]));
    await log.sync();
  }
  assert.ok(segmentNames(fs).length > 3);
  both((l) => l.createSnapshot(25, { voters: ['n1'], learners: [] }, bytes(9, 10)));
  await log.sync();
  assert.equal(segmentNames(fs).length, 1);
  assert.equal(snapNames(fs).length, 1);
  both((l) => l.createSnapshot(28, { voters: ['n1', 'n2'], learners: [] }, bytes(10, 10)));
  await log.sync();
  const snaps = snapNames(fs);
  assert.equal(snaps.length, 1);
  assert.match(snaps[0]!, /^snap-000000000000001c-\d{20}\.snap$/);
  log.close();
  const again = DiskRaftLog.open(fs, DIR, opts);
  assert.equal(describe(again), describe(model));
  assert.equal(again.firstIndex(), 29);
  again.close();
});

test('applySnapshot replaces the whole log, also after reopen', async () => {
  const fs = new MemFs();
  const log = DiskRaftLog.open(fs, DIR, { segmentBytes: 128 });
  for (let i = 1; i <= 10; i++) log.append([ent(i, 1, `e${i}`)]);
  log.applySnapshot({ meta: { index: 6, term: 3, conf: { voters: ['x'], learners: ['y'] } }, data: bytes(4, 33) });
  // Held behind the pending snapshot until the sync writes it.
  log.append([ent(7, 3, 'seven')]);
  assert.equal(log.firstIndex(), 7);
  assert.equal(log.lastIndex(), 7);
  await log.sync();
  log.close();
  const again = DiskRaftLog.open(fs, DIR);
  assert.equal(again.firstIndex(), 7);
  assert.equal(again.lastIndex(), 7);
  assert.equal(again.term(6), 3);
  assert.equal(Buffer.from(again.entries(7, 8, 0)[0]!.data).toString(), 'seven');
  assert.deepEqual(again.initialState().confState, { voters: ['x'], learners: ['y'] });
  again.close();
});

test('close without sync after a snapshot loses a suffix of the calls, never more', async () => {
  const fs = new MemFs();
  const log = DiskRaftLog.open(fs, DIR);
  const model = new MemoryRaftLog();
  for (let i = 1; i <= 5; i++) {
    log.append([ent(i, 1, `e${i}`)]);
    model.append([ent(i, 1, `e${i}`)]);
  }
  await log.sync();
  log.setHardState({ term: 1, vote: 'a', commit: 2 });
  model.setHardState({ term: 1, vote: 'a', commit: 2 });
  const beforeSnapshot = describe(model);
  log.createSnapshot(3, { voters: ['a'], learners: [] }, bytes(1, 5));
  log.append([ent(6, 1, 'e6')]);
  log.close();
  const again = DiskRaftLog.open(fs, DIR);
  assert.equal(describe(again), beforeSnapshot);
  again.close();
});

test('close while a sync is running: the sync stops, reopening recovers a prefix', async () => {
  const mem = new MemFs();
  const log = DiskRaftLog.open(slowSyncFs(mem), DIR);
  const model = new MemoryRaftLog();
  const prefixes = [describe(model)];
  const both = (f: (l: RaftLogStore) => void) => {
    f(model);
    f(log);
    prefixes.push(describe(model));
  };
  for (let i = 1; i <= 6; i++) both((l) => l.append([ent(i, 1, `e${i}`)]));
  await log.sync();
  both((l) => l.createSnapshot(4, { voters: ['a'], learners: [] }, bytes(2, 20)));
  both((l) => l.append([ent(7, 1, 'e7')]));
  const p = log.sync();
  await new Promise<void>((resolve) => setImmediate(resolve));
  log.close();
  await p.then(
    () => undefined,
    (err: unknown) => assert.ok(isStrataError(err, ERROR_CODES.CLOSED), String(err)),
  );
  const again = DiskRaftLog.open(mem, DIR);
  assert.ok(prefixes.indexOf(describe(again), 6) >= 6);
  again.close();
});

test('sync() then close() without awaiting: the sync still makes the written calls durable', async () => {
  const ffs = new FaultFs();
  const log = DiskRaftLog.open(ffs, DIR);
  log.append([ent(1, 1, 'n1'), ent(2, 1, 'n2'), ent(3, 1, 'n3')]);
  log.setHardState({ term: 1, vote: '', commit: 3 });
  const want = describe(log);
  const p = log.sync();
  log.close();
  // Reopened at once (the lock is free), before the first sync ran.
  const next = DiskRaftLog.open(ffs, DIR);
  assert.equal(describe(next), want);
  await p;
  const img = ffs.crashImage({ tear: true });
  assert.equal(describe(DiskRaftLog.open(img, DIR)), want);
  next.close();
});

// ------------------------------------------------------------------ hard state, lock, data, failures

test('hard state survives reopen (last one wins)', async () => {
  const fs = new MemFs();
  let log = DiskRaftLog.open(fs, DIR);
  assert.deepEqual(log.initialState().hardState, { term: 0, vote: '', commit: 0 });
  log.setHardState({ term: 3, vote: 'n2', commit: 0 });
  log.append([ent(1, 3, 'a')]);
  log.setHardState({ term: 4, vote: 'nöde-ü', commit: 1 });
  await log.sync();
  log.close();
  log = DiskRaftLog.open(fs, DIR);
  assert.deepEqual(log.initialState().hardState, { term: 4, vote: 'nöde-ü', commit: 1 });
  await log.sync();
  log.close();
  log = DiskRaftLog.open(fs.crashImage(), DIR);
  assert.deepEqual(log.initialState().hardState, { term: 4, vote: 'nöde-ü', commit: 1 });
  log.close();
});

test('LOCK: a second open of the same directory fails until close', () => {
  const fs = new MemFs();
  const log = DiskRaftLog.open(fs, DIR);
  assert.throws(
    () => DiskRaftLog.open(fs, DIR),
    (err: unknown) => isStrataError(err, ERROR_CODES.LOCKED),
  );
  log.close();
  const again = DiskRaftLog.open(fs, DIR);
  again.close();
  assert.throws(
    () => again.append([ent(1, 1, 'x')]),
    (err: unknown) => isStrataError(err, ERROR_CODES.CLOSED),
  );
});

test('entry data is binary-safe (every byte value, empty, record-shaped bytes)', async () => {
  const fs = new MemFs();
  const log = DiskRaftLog.open(fs, DIR);
  const all = new Uint8Array(256).map((_, i) => i);
  // A whole segment (header and records) as entry data.
  log.append([ent(1, 1, 'inner')]);
  await log.sync();
  const segmentBytes = fs.readFile(joinPath(DIR, segmentNames(fs)[0]!));
  const datas = [all, new Uint8Array(0), new Uint8Array(segmentBytes), new Uint8Array(1000).fill(0), new Uint8Array(70000).fill(0xff)];
  log.append(datas.map((d, i) => ent(2 + i, 1, d, (i % 2) as 0 | 1)));
  await log.sync();
  log.close();
  const again = DiskRaftLog.open(fs, DIR);
  const got = again.entries(2, 2 + datas.length, Number.POSITIVE_INFINITY);
  assert.equal(got.length, datas.length);
  got.forEach((e, i) => {
    assert.equal(hex(e.data), hex(datas[i]!));
    assert.equal(e.type, i % 2);
  });
  again.close();
});

test('a failed sync makes the log refuse writes; reopening recovers a prefix', async () => {
  const ffs = new FaultFs();
  const log = DiskRaftLog.open(ffs, DIR);
  log.append([ent(1, 1, 'a')]);
  await log.sync();
  log.append([ent(2, 1, 'b')]);
  ffs.failSyncAfter(0);
  await assert.rejects(log.sync(), (err: unknown) => isStrataError(err, ERROR_CODES.IO));
  assert.throws(
    () => log.append([ent(3, 1, 'c')]),
    (err: unknown) => isStrataError(err, ERROR_CODES.READ_ONLY),
  );
  await assert.rejects(log.sync(), (err: unknown) => isStrataError(err, ERROR_CODES.READ_ONLY));
  log.close();
  const again = DiskRaftLog.open(ffs.crashImage(), DIR);
  assert.ok(again.lastIndex() === 1 || again.lastIndex() === 2);
  again.close();
});

test('invalid calls are refused before anything is written', () => {
  const fs = new MemFs();
  const log = DiskRaftLog.open(fs, DIR);
  log.append([ent(1, 1, 'a')]);
  assert.throws(() => log.append([ent(3, 1, 'gap')]));
  assert.throws(() => log.createSnapshot(2, { voters: [], learners: [] }, new Uint8Array(0)));
  assert.throws(() => DiskRaftLog.open(new MemFs(), DIR, { segmentBytes: 0 }), (err: unknown) => isStrataError(err, ERROR_CODES.INVALID_ARGUMENT));
  assert.equal(log.lastIndex(), 1);
  log.close();
});
