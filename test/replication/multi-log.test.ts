/**
 * MultiRaftLog: every group behaves like a MemoryRaftLog (model test over
 * several groups, drops and re-creation, reopens and crashes after sync);
 * the per-group durability contract under simulated crashes at every
 * file-system call (with and without torn unsynced tails, small segments,
 * pending snapshots, calls made inside running syncs); group commit; segment
 * rotation and checkpoint rewrites; torn tails vs corruption; LOCK and
 * views; a failed fsync makes the whole log READ_ONLY.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CODES, MemFs, SeededRandom, isStrataError, joinPath, type Fs, type StrataError } from '../../src/base/index.js';
import { FaultFs, isSimulatedCrash } from '../../src/sim/index.js';
import { MultiRaftLog, multiLogSegmentName, multiLogSnapshotName, type MultiRaftLogGroup } from '../../src/replication/raft/multi-log.js';
import { MemoryRaftLog } from '../../src/replication/raft/memory-log.js';
import type { RaftLogStore } from '../../src/replication/raft/storage.js';
import type { Entry, Snapshot } from '../../src/replication/raft/types.js';

import { applyOp, bytes, concretize, confOf, describe, ent, hex, slowSyncFs, type AbsOp, type Op } from './raft-log-helpers.js';
const DIR = '/mraft';
/** STRATA_LONG_TESTS=1: more runs and scenarios. */
const LONG = !!process.env.STRATA_LONG_TESTS && process.env.STRATA_LONG_TESTS !== '0';
/** What a group the log does not hold looks like in a prefix list. */
const ABSENT = '<absent>';

// ------------------------------------------------------------------ helpers

const EMPTY_STATE = describe(new MemoryRaftLog());

/** describe() of group `id` as the log holds it (ABSENT if it holds none); leaves no view open. */
function stateOf(log: MultiRaftLog, id: string): string {
  if (!log.has(id)) return ABSENT;
  const v = log.group(id);
  const d = describe(v);
  v.close();
  return d;
}


/** A random abstract call (weights: append 50, hs 12, create `snap`, apply snap/2). */
function randomAbsOp(r: SeededRandom, snap = 10): AbsOp {
  const k = r.int(0, 61 + snap + Math.floor(snap / 2));
  if (k < 50) return { t: 'append', sel: r.int(0, 1000), n: r.int(1, 4), term: r.int(1, 6), seed: r.int(0, 10000), big: r.int(0, 3) === 0 };
  if (k < 62) return { t: 'hs', term: r.int(0, 9), vote: r.int(0, 9), commit: r.int(0, 50) };
  if (k < 62 + snap) return { t: 'create', sel: r.int(0, 1000), seed: r.int(0, 10000), conf: r.int(0, 12) };
  return { t: 'apply', delta: r.int(-3, 5), term: r.int(1, 6), seed: r.int(0, 10000), conf: r.int(0, 12) };
}

function segmentNames(fs: MemFs, dir = DIR): string[] {
  return fs.list(dir).filter((n) => n.endsWith('.mrlog'));
}
function snapNames(fs: MemFs, dir = DIR): string[] {
  return fs.list(dir).filter((n) => n.endsWith('.snap'));
}
/** Snapshot files of group `id`. */
function snapsOf(fs: MemFs, id: string): string[] {
  const prefix = `snap-${Buffer.from(id, 'utf8').toString('hex')}-`;
  return snapNames(fs).filter((n) => n.startsWith(prefix));
}

/** Offsets of the batches in a segment (after its 24-byte header). */
function batchOffsets(data: Buffer): number[] {
  const out: number[] = [];
  let pos = 24;
  while (pos + 8 <= data.length) {
    out.push(pos);
    pos += 8 + data.readUInt32LE(pos);
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

const tick = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));


/** A MemFs whose file fsyncs wait (having taken effect) until `release()`, while `held`. */
class GateFs {
  held = false;
  waiting: Array<() => void> = [];
  readonly fs: Fs;
  constructor(inner: MemFs) {
    this.fs = slowSyncFs(inner, () => (this.held ? new Promise<void>((resolve) => this.waiting.push(resolve)) : Promise.resolve()));
  }
  release(): void {
    this.held = false;
    const w = this.waiting;
    this.waiting = [];
    for (const r of w) r();
  }
}

// ------------------------------------------------------------------ model test

const IDS = ['g0', 'grüppe-1', 'g2', 'g3', 'g4'];

const callArb: fc.Arbitrary<AbsOp> = fc.oneof(
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
  { weight: 2, arbitrary: fc.record({ t: fc.constant('hs' as const), term: fc.nat(20), vote: fc.nat(10), commit: fc.nat(100) }) },
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
);

type GOp =
  | { t: 'call'; g: number; a: AbsOp }
  | { t: 'sync'; g: number }
  | { t: 'syncMany'; mask: number }
  | { t: 'logSync' }
  | { t: 'drop'; g: number }
  | { t: 'closeView'; g: number }
  | { t: 'reopen' }
  | { t: 'crash' };

const gopArb: fc.Arbitrary<GOp> = fc.oneof(
  { weight: 14, arbitrary: fc.record({ t: fc.constant('call' as const), g: fc.nat(4), a: callArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('sync' as const), g: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('syncMany' as const), mask: fc.nat(31) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'logSync' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('drop' as const), g: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('closeView' as const), g: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
);

test('model: every group behaves like its MemoryRaftLog, across drops, re-creation, reopens and crashes after sync (fast-check)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 3, max: 5 }),
      fc.integer({ min: 60, max: 3000 }),
      fc.array(gopArb, { minLength: 1, maxLength: 70, size: 'max' }),
      async (n, segmentBytes, ops) => {
        const ids = IDS.slice(0, n);
        let fs = new MemFs();
        let log = MultiRaftLog.open(fs, DIR, { segmentBytes });
        const models = new Map<string, MemoryRaftLog>();
        let views = new Map<string, MultiRaftLogGroup>();
        const view = (id: string): MultiRaftLogGroup => {
          let v = views.get(id);
          if (v === undefined) {
            v = log.group(id);
            views.set(id, v);
            if (!models.has(id)) models.set(id, new MemoryRaftLog());
          }
          return v;
        };
        const syncAll = async (): Promise<void> => {
          for (const id of models.keys()) view(id);
          await Promise.all([...[...views.values()].map((v) => v.sync()), log.sync()]);
        };
        const check = (what: string): void => {
          assert.deepEqual(log.groupIds().sort(), [...models.keys()].sort(), `${what}: groupIds`);
          for (const id of ids) {
            const m = models.get(id);
            assert.equal(log.has(id), m !== undefined, `${what}: has(${id})`);
            if (m === undefined) continue;
            const v = views.get(id);
            assert.equal(v !== undefined ? describe(v) : stateOf(log, id), describe(m), `${what}: group ${id}`);
          }
        };
        const reopenOn = (next: MemFs): void => {
          fs = next;
          log = MultiRaftLog.open(fs, DIR, { segmentBytes });
          views = new Map();
        };
        for (const [i, a] of ops.entries()) {
          switch (a.t) {
            case 'call': {
              const id = ids[a.g % n]!;
              const v = view(id);
              const op = concretize(models.get(id)!, a.a);
              if (!op) break;
              applyOp(models.get(id)!, op);
              applyOp(v, op);
              break;
            }
            case 'sync':
              await view(ids[a.g % n]!).sync();
              break;
            case 'syncMany': {
              const chosen = ids.filter((_, j) => (a.mask >> j) & 1);
              await Promise.all(chosen.map((id) => view(id).sync()));
              break;
            }
            case 'logSync':
              await log.sync();
              break;
            case 'drop': {
              const id = ids[a.g % n]!;
              log.dropGroup(id);
              models.delete(id);
              const v = views.get(id);
              views.delete(id);
              if (v !== undefined) assert.throws(() => v.setHardState({ term: 1, vote: '', commit: 0 }), (err: unknown) => isStrataError(err, ERROR_CODES.CLOSED));
              break;
            }
            case 'closeView': {
              const id = ids[a.g % n]!;
              views.get(id)?.close();
              views.delete(id);
              break;
            }
            case 'reopen':
              await syncAll();
              log.close();
              reopenOn(fs);
              break;
            case 'crash':
              // After every group's sync, a crash loses nothing.
              await syncAll();
              reopenOn(fs.crashImage());
              break;
          }
          check(`op ${i} (${a.t})`);
        }
        await syncAll();
        log.close();
        reopenOn(fs);
        check('final reopen');
        for (const id of ids) {
          assert.ok(snapsOf(fs, id).length <= (models.has(id) ? 1 : 0), `snapshot files of ${id}: ${snapsOf(fs, id).join(', ')}`);
        }
        log.close();
      },
    ),
    { seed: 0x6d756c74, numRuns: LONG ? 1500 : 120 },
  );
});

// ------------------------------------------------------------------ crash at every op

type CStep =
  | { t: 'call'; g: string; op: Op }
  | { t: 'create'; g: string }
  | { t: 'drop'; g: string }
  | { t: 'sync'; gs: string[] }
  | { t: 'reopen' };

interface CScenario {
  ids: string[];
  steps: CStep[];
  /** Per group: its state after j of its events (creation, calls, drop), j = 0..; [0] is ABSENT. */
  prefixes: Map<string, string[]>;
  segmentBytes: number;
}

interface ScenarioOptions {
  /** Events (creations, calls, drops) in all. */
  events: number;
  segmentBytes: number;
  /** Weight of createSnapshot among calls (applySnapshot: half of it). */
  snap?: number;
  drops?: boolean;
  /** Percent of steps that are syncs. */
  syncs?: number;
}

function makeScenario(seed: number, ids: string[], o: ScenarioOptions): CScenario {
  const r = new SeededRandom(seed);
  const models = new Map<string, MemoryRaftLog>();
  const prefixes = new Map(ids.map((id) => [id, [ABSENT]]));
  const steps: CStep[] = [];
  let events = 0;
  let reopened = false;
  let dropped = false;
  const push = (g: string, s: string): void => {
    prefixes.get(g)!.push(s);
    events++;
  };
  while (events < o.events) {
    if (!reopened && events > o.events / 2) {
      steps.push({ t: 'reopen' });
      reopened = true;
    }
    if (r.int(0, 99) < (o.syncs ?? 25)) {
      const live = ids.filter((id) => models.has(id));
      if (live.length === 0) continue;
      // One group, or several in the same turn.
      const gs = r.int(0, 2) === 0 ? live.filter(() => r.int(0, 1) === 0) : [live[r.int(0, live.length - 1)]!];
      if (gs.length > 0) steps.push({ t: 'sync', gs });
      continue;
    }
    const g = ids[r.int(0, ids.length - 1)]!;
    let m = models.get(g);
    if (m === undefined) {
      m = new MemoryRaftLog();
      models.set(g, m);
      steps.push({ t: 'create', g });
      push(g, describe(m));
      continue;
    }
    // At least one drop (a third of the way in), then now and then.
    if (o.drops && (r.int(0, 29) === 0 || (!dropped && events > o.events / 3))) {
      dropped = true;
      models.delete(g);
      steps.push({ t: 'drop', g });
      push(g, ABSENT);
      continue;
    }
    const op = concretize(m, randomAbsOp(r, o.snap));
    if (!op) continue;
    applyOp(m, op);
    steps.push({ t: 'call', g, op });
    push(g, describe(m));
  }
  return { ids, steps, prefixes, segmentBytes: o.segmentBytes };
}

/** Per-group durability bookkeeping of a run. */
class Tracker {
  /** Events of each group started (the last may have failed). */
  readonly issued = new Map<string, number>();
  /** Events of each group that must survive a crash now. */
  readonly durable = new Map<string, number>();
  /** Each group's number of events up to its last creation or drop. */
  readonly structural = new Map<string, number>();
  constructor(ids: readonly string[]) {
    for (const id of ids) {
      this.issued.set(id, 0);
      this.durable.set(id, 0);
      this.structural.set(id, 0);
    }
  }
  event(g: string, structural = false): void {
    const n = this.issued.get(g)! + 1;
    this.issued.set(g, n);
    if (structural) this.structural.set(g, n);
  }
  /**
   * Before the syncs of `gs` are asked for; the returned function records
   * their completion: every event of those groups so far is durable, and
   * every group's creations and drops so far (they need a flush, any flush).
   */
  syncing(gs: readonly string[]): () => void {
    const issued = new Map(this.issued);
    const structural = new Map(this.structural);
    return () => {
      const up = (g: string, n: number): void => {
        if (n > this.durable.get(g)!) this.durable.set(g, n);
      };
      for (const g of gs) up(g, issued.get(g)!);
      for (const [g, n] of structural) up(g, n);
    };
  }
}

async function runScenario(fs: Fs, sc: CScenario): Promise<{ t: Tracker; crashed: boolean }> {
  const t = new Tracker(sc.ids);
  let views = new Map<string, MultiRaftLogGroup>();
  let log: MultiRaftLog | undefined;
  const syncGroups = async (gs: string[]): Promise<void> => {
    const done = t.syncing(gs);
    await Promise.all(gs.map((g) => views.get(g)!.sync()));
    done();
  };
  const syncAll = async (): Promise<void> => {
    const done = t.syncing([...views.keys()]);
    await Promise.all([...[...views.values()].map((v) => v.sync()), log!.sync()]);
    done();
  };
  try {
    log = MultiRaftLog.open(fs, DIR, { segmentBytes: sc.segmentBytes });
    for (const s of sc.steps) {
      switch (s.t) {
        case 'create':
          t.event(s.g, true);
          views.set(s.g, log.group(s.g));
          break;
        case 'drop':
          t.event(s.g, true);
          log.dropGroup(s.g);
          views.delete(s.g);
          break;
        case 'call':
          t.event(s.g);
          applyOp(views.get(s.g)!, s.op);
          break;
        case 'sync':
          await syncGroups(s.gs);
          break;
        case 'reopen': {
          await syncAll();
          const live = [...views.keys()];
          log.close();
          log = MultiRaftLog.open(fs, DIR, { segmentBytes: sc.segmentBytes });
          views = new Map(live.map((id) => [id, log!.group(id)]));
          break;
        }
      }
    }
    await syncAll();
    log.close();
    return { t, crashed: false };
  } catch (err) {
    // A crash inside a flush's cleanup (after its syncs resolved) shows up as READ_ONLY at the next call.
    const crash = isSimulatedCrash(err) || (isStrataError(err, ERROR_CODES.READ_ONLY) && isSimulatedCrash(err.cause));
    if (!crash) throw err;
    return { t, crashed: true };
  }
}

/** Which of `prefixes[lo..hi]` equals `got` (-1: none). */
function findPrefix(prefixes: readonly string[], lo: number, hi: number, got: string): number {
  for (let j = lo; j <= hi; j++) if (prefixes[j] === got) return j;
  return -1;
}

/** Asserts that every group of `log` is a prefix of its events including the durable ones. */
function checkPrefixes(log: MultiRaftLog, sc: CScenario, t: Tracker, what: string): { beyond: boolean } {
  let beyond = false;
  for (const id of sc.ids) {
    const got = stateOf(log, id);
    const lo = t.durable.get(id)!;
    const hi = t.issued.get(id)!;
    const j = findPrefix(sc.prefixes.get(id)!, lo, hi, got);
    assert.ok(j >= 0, `${what}: group ${id} matches no prefix of its events in [${lo}, ${hi}]\n${got}`);
    if (j > lo) beyond = true;
  }
  const live = sc.ids.filter((id) => log.has(id));
  assert.deepEqual(log.groupIds().sort(), live.sort(), `${what}: groupIds`);
  return { beyond };
}

interface CrashStats {
  points: number;
  torn: number;
  beyondDurable: number;
  maxSegments: number;
}

async function crashEveryOp(sc: CScenario): Promise<CrashStats> {
  const clean = new FaultFs();
  const r0 = await runScenario(clean, sc);
  assert.equal(r0.crashed, false);
  for (const id of sc.ids) assert.equal(r0.t.issued.get(id), sc.prefixes.get(id)!.length - 1);
  {
    // The clean run's final state is the model's.
    const log = MultiRaftLog.open(clean.crashImage(), DIR, { segmentBytes: sc.segmentBytes });
    for (const id of sc.ids) assert.equal(stateOf(log, id), sc.prefixes.get(id)!.at(-1), `clean run: group ${id}`);
    log.close();
  }
  const total = clean.opCount;
  const stats: CrashStats = { points: total + 1, torn: 0, beyondDurable: 0, maxSegments: 0 };
  for (let k = 0; k <= total; k++) {
    for (const tear of [false, true]) {
      const ffs = new FaultFs(new MemFs(), { random: new SeededRandom(k * 31 + 7) });
      ffs.crashAfter(k);
      const r = await runScenario(ffs, sc);
      assert.equal(r.crashed, k < total, `k=${k}: crashed=${r.crashed}`);
      if (ffs.inner.exists(DIR)) stats.maxSegments = Math.max(stats.maxSegments, segmentNames(ffs.inner).length);
      const img = ffs.crashImage({ tear });
      let log: MultiRaftLog;
      try {
        log = MultiRaftLog.open(img, DIR, { segmentBytes: sc.segmentBytes });
      } catch (err) {
        assert.fail(`k=${k} tear=${tear}: reopen failed: ${String(err)}`);
      }
      const what = `k=${k} tear=${tear}`;
      if (checkPrefixes(log, sc, r.t, what).beyond) stats.beyondDurable++;
      if (log.recovery.tornTail) stats.torn++;
      // The recovered log takes writes; after every group's sync a crash loses nothing.
      const views = log.groupIds().map((id) => log.group(id));
      for (const v of views) {
        v.append([ent(v.lastIndex() + 1, 77, `after crash ${k}`)]);
        v.setHardState({ term: 77, vote: 'n9', commit: 1 });
      }
      const fresh = log.group(`new-${k}`);
      fresh.append([ent(1, 1, 'fresh')]);
      views.push(fresh);
      await Promise.all(views.map((v) => v.sync()));
      const want = views.map((v) => [v.id, describe(v)] as const);
      const again = MultiRaftLog.open(img.crashImage(), DIR, { segmentBytes: sc.segmentBytes });
      for (const [id, d] of want) assert.equal(stateOf(again, id), d, `${what}: second recovery, group ${id}`);
      assert.equal(again.groupIds().length, want.length, `${what}: second recovery groupIds`);
      again.close();
      log.close();
    }
  }
  return stats;
}

const CRASH_SEEDS = LONG ? Array.from({ length: 12 }, (_, i) => 200 + i) : [21];

test('crash at every file-system operation, 3 groups (one segment): each group recovers a prefix including every call before its last sync', async () => {
  for (const seed of CRASH_SEEDS) {
    const sc = makeScenario(seed, ['a', 'b', 'grüppe-c'], { events: 70, segmentBytes: 64 * 1024 * 1024, drops: true });
    assert.ok(sc.steps.some((s) => s.t === 'drop'));
    const res = await crashEveryOp(sc);
    assert.ok(res.points > 80, `only ${res.points} crash points`);
    assert.ok(res.torn > 0, 'no crash left a torn tail');
    assert.ok(res.beyondDurable > 0, 'no crash kept an unsynced call');
  }
});

test('crash at every file-system operation, 4 groups, small segments (rotation, checkpoint rewrites, segment removal)', async () => {
  for (const seed of CRASH_SEEDS) {
    const sc = makeScenario(seed + 50, ['a', 'b', 'c', 'd'], { events: 70, segmentBytes: 250 + (seed % 4) * 60, drops: true });
    const res = await crashEveryOp(sc);
    assert.ok(res.points > 80, `only ${res.points} crash points`);
    assert.ok(res.torn > 0, 'no crash left a torn tail');
    assert.ok(res.maxSegments >= 2, 'no rotation happened');
  }
});

test('crash at every file-system operation with snapshots pending (many snapshots, other groups syncing meanwhile)', async () => {
  for (const seed of CRASH_SEEDS) {
    const sc = makeScenario(seed + 100, ['a', 'b', 'c'], { events: 60, segmentBytes: 400, snap: 40, syncs: 20 });
    const snaps = sc.steps.filter((s) => s.t === 'call' && (s.op.t === 'create' || s.op.t === 'apply')).length;
    assert.ok(snaps >= 8, `only ${snaps} snapshot calls`);
    const res = await crashEveryOp(sc);
    assert.ok(res.points > 80, `only ${res.points} crash points`);
  }
});

test('calls of every group at every point inside running syncs: each sync covers the calls of its group made before it', async () => {
  for (const seed of LONG ? [1, 2, 3, 4, 5, 6, 7, 8] : [1, 2, 3]) {
    const mem = new MemFs();
    const ids = ['a', 'b', 'c'];
    const segmentBytes = 300 + seed * 80;
    const log = MultiRaftLog.open(slowSyncFs(mem), DIR, { segmentBytes });
    const models = new Map(ids.map((id) => [id, new MemoryRaftLog()]));
    const views = new Map(ids.map((id) => [id, log.group(id)]));
    const sc: CScenario = { ids, steps: [], prefixes: new Map(ids.map((id) => [id, [ABSENT, EMPTY_STATE]])), segmentBytes };
    const t = new Tracker(ids);
    for (const id of ids) t.event(id, true);
    const r = new SeededRandom(seed);
    const tearRandom = new SeededRandom(seed + 100);
    const doOp = (): void => {
      const id = ids[r.int(0, ids.length - 1)]!;
      const op = concretize(models.get(id)!, randomAbsOp(r, 20));
      if (!op) return;
      t.event(id);
      applyOp(models.get(id)!, op);
      applyOp(views.get(id)!, op);
      sc.prefixes.get(id)!.push(describe(models.get(id)!));
    };
    const crashCheck = (what: string): void => {
      const img = mem.crashImage((_path, synced, length) => tearRandom.int(synced, length));
      const got = MultiRaftLog.open(img, DIR, { segmentBytes });
      checkPrefixes(got, sc, t, what);
      got.close();
    };
    for (let round = 0; round < 20; round++) {
      // Some groups ask for a sync, in this turn or in later ones, while calls go on.
      let pending = 0;
      const starts = ids.filter(() => r.int(0, 1) === 0);
      if (starts.length === 0) starts.push(ids[round % ids.length]!);
      const startSync = (id: string): void => {
        const done = t.syncing([id]);
        pending++;
        void views
          .get(id)!
          .sync()
          .then(() => {
            done();
            pending--;
          });
      };
      startSync(starts[0]!);
      const later = starts.slice(1);
      let steps = 0;
      while (pending > 0 || later.length > 0) {
        if (r.int(0, 2) !== 0) doOp();
        if (later.length > 0 && r.int(0, 1) === 0) startSync(later.shift()!);
        crashCheck(`seed ${seed} round ${round} step ${steps}`);
        await tick();
        steps++;
        assert.ok(steps < 1000, 'syncs never completed');
      }
      crashCheck(`seed ${seed} round ${round} end`);
      for (const id of ids) assert.equal(describe(views.get(id)!), describe(models.get(id)!));
    }
    await Promise.all(ids.map((id) => views.get(id)!.sync()));
    const img = MultiRaftLog.open(mem.crashImage(), DIR, { segmentBytes });
    for (const id of ids) assert.equal(stateOf(img, id), describe(models.get(id)!));
    img.close();
    log.close();
  }
});

// ------------------------------------------------------------------ group commit

test('group commit: the syncs of N groups asked for in the same turn are one flush (one write, one fdatasync)', async () => {
  const ffs = new FaultFs();
  const log = MultiRaftLog.open(ffs, DIR);
  const N = 8;
  const views = Array.from({ length: N }, (_, i) => log.group(`g${i}`));
  await Promise.all(views.map((v) => v.sync()));
  assert.equal(log.flushes, 1, 'the first syncs of all groups: one flush');
  for (let round = 1; round <= 5; round++) {
    const before: number = log.flushes;
    const opsBefore = ffs.opCount;
    let fsyncs = 0;
    ffs.failSyncWhen((info) => {
      if (info.kind === 'sync') fsyncs++;
      return false;
    });
    for (const [i, v] of views.entries()) {
      v.append([ent(round, 1, `g${i} r${round}`)]);
      v.setHardState({ term: 1, vote: 'n1', commit: round - 1 });
    }
    await Promise.all(views.map((v) => v.sync()));
    assert.equal(log.flushes, before + 1, `round ${round}: ${N} syncs in one turn took ${log.flushes - before} flushes`);
    assert.equal(fsyncs, 1, `round ${round}: fsyncs`);
    // One append and one fsync (no directory change, nothing to remove).
    assert.equal(ffs.opCount - opsBefore, 2, `round ${round}: file-system operations`);
  }
  ffs.clearFaults();
  // The log-wide sync joins the groups' flush too.
  const before = log.flushes;
  views[0]!.append([ent(6, 1, 'x')]);
  await Promise.all([views[0]!.sync(), views[1]!.sync(), log.sync()]);
  assert.equal(log.flushes, before + 1);
  // Nothing written: a sync still resolves (and flushes nothing new to the file).
  const size = segmentNames(ffs.inner).map((n) => ffs.inner.fileSize(joinPath(DIR, n)));
  await views[2]!.sync();
  assert.deepEqual(
    segmentNames(ffs.inner).map((n) => ffs.inner.fileSize(joinPath(DIR, n))),
    size,
  );
  log.close();
  const again = MultiRaftLog.open(ffs.crashImage(), DIR);
  for (const [i, v] of views.entries()) {
    const g = again.group(`g${i}`);
    assert.equal(describe(g), describe(v));
  }
  again.close();
});

test('group commit: syncs asked for while a flush runs are served together by the next flush', async () => {
  const mem = new MemFs();
  const gate = new GateFs(mem);
  const log = MultiRaftLog.open(gate.fs, DIR);
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => log.group(id)) as [MultiRaftLogGroup, MultiRaftLogGroup, MultiRaftLogGroup, MultiRaftLogGroup];
  await Promise.all([a, b, c, d].map((v) => v.sync()));
  const before = log.flushes;
  gate.held = true;
  const order: string[] = [];
  a.append([ent(1, 1, 'a1')]);
  const pa = a.sync().then(() => order.push('a'));
  // Until the flush serving a is inside its fdatasync.
  for (let i = 0; gate.waiting.length === 0; i++) {
    assert.ok(i < 100, 'the flush never reached its fsync');
    await tick();
  }
  // b, c and d ask while it runs, in different turns.
  b.append([ent(1, 1, 'b1')]);
  const pb = b.sync().then(() => order.push('b'));
  await tick();
  c.setHardState({ term: 2, vote: 'c', commit: 0 });
  const pc = c.sync().then(() => order.push('c'));
  await tick();
  d.append([ent(1, 2, 'd1')]);
  const pd = d.sync().then(() => order.push('d'));
  await tick();
  assert.deepEqual(order, [], 'nothing resolves before the fsync');
  assert.equal(log.flushes, before);
  // b's records are not in the running flush: a crash now keeps a1 only.
  {
    const img = MultiRaftLog.open(mem.crashImage(), DIR);
    assert.equal(stateOf(img, 'a'), describe(a));
    assert.equal(JSON.parse(stateOf(img, 'b')).last, 0);
    img.close();
  }
  gate.release();
  await pa;
  assert.equal(log.flushes, before + 1);
  await Promise.all([pb, pc, pd]);
  assert.equal(log.flushes, before + 2, 'b, c and d shared the second flush');
  assert.equal(order[0], 'a');
  const img = MultiRaftLog.open(mem.crashImage(), DIR);
  for (const v of [a, b, c, d]) assert.equal(stateOf(img, v.id), describe(v));
  img.close();
  log.close();
});

// ------------------------------------------------------------------ rotation, rewrites, removal

test('rotation: segments stay bounded under sustained writes (an idle group is rewritten); unnamed snapshot files go; reopen equals the model', async () => {
  const fs = new MemFs();
  const opts = { segmentBytes: 600 };
  // Leftovers no group names: a snapshot of a group the log never held, and a temporary file.
  fs.mkdir(DIR);
  await overwrite(fs, joinPath(DIR, multiLogSnapshotName('ghost', 5, 3)), bytes(1, 40));
  await overwrite(fs, joinPath(DIR, `${multiLogSnapshotName('ghost', 6, 4)}.tmp`), bytes(2, 40));
  let log = MultiRaftLog.open(fs, DIR, opts);
  const active = ['a', 'b', 'ç'];
  const ids = [...active, 'idle'];
  const models = new Map(ids.map((id) => [id, new MemoryRaftLog()]));
  let views = new Map(ids.map((id) => [id, log.group(id)]));
  const both = (id: string, f: (l: RaftLogStore) => void): void => {
    f(models.get(id)!);
    f(views.get(id)!);
  };
  const syncAll = () => Promise.all([...views.values()].map((v) => v.sync()));
  both('idle', (l) => l.append([ent(1, 1, 'idle one'), ent(2, 1, 'idle two')]));
  both('idle', (l) => l.setHardState({ term: 1, vote: 'n1', commit: 1 }));
  await syncAll();
  assert.deepEqual(snapNames(fs), [], 'leftover snapshot files were removed');
  assert.deepEqual(
    fs.list(DIR).filter((n) => n.endsWith('.tmp')),
    [],
  );
  const firstSegment = segmentNames(fs)[0]!;
  const seen = new Set<string>();
  let maxSegs = 0;
  const round = async (i: number, snapshots: boolean): Promise<void> => {
    for (const [j, id] of active.entries()) {
      both(id, (l) => l.append([ent(l.lastIndex() + 1, 1 + Math.floor(i / 40), bytes(i * 7 + j, 20 + ((i + j) % 30)))]));
      if (i % 5 === j) both(id, (l) => l.setHardState({ term: 1 + Math.floor(i / 40), vote: 'n1', commit: l.lastIndex() - 1 }));
      if (snapshots && i % 12 === j * 4) {
        both(id, (l) => l.createSnapshot(l.lastIndex() - 2, confOf(i), bytes(i, 30 + j)));
        // Calls held behind the pending snapshot.
        both(id, (l) => l.append([ent(l.lastIndex() + 1, 1 + Math.floor(i / 40), `held ${i}`)]));
      }
    }
    await syncAll();
    for (const n of segmentNames(fs)) seen.add(n);
    maxSegs = Math.max(maxSegs, segmentNames(fs).length);
    assert.ok(segmentNames(fs).length <= 3, `round ${i}: segments ${segmentNames(fs).join(', ')}`);
    for (const id of ids) assert.ok(snapsOf(fs, id).length <= 1, `round ${i}: snapshot files of ${id}: ${snapsOf(fs, id).join(', ')}`);
  };
  // First without snapshots: only the rewrites of every group's checkpoint let segments go.
  for (let i = 1; i <= 60; i++) await round(i, false);
  assert.ok(seen.size >= 8, `only ${seen.size} segments were ever written`);
  assert.ok(!segmentNames(fs).includes(firstSegment), 'the first segment (the idle group checkpoint) is still there');
  for (let i = 61; i <= 160; i++) await round(i, true);
  assert.ok(seen.size >= 20, `only ${seen.size} segments were ever written`);
  for (const id of active) assert.equal(snapsOf(fs, id).length, 1, `snapshot file of ${id}`);
  assert.equal(snapsOf(fs, 'idle').length, 0);
  // Reopen (the segment that begins with the FULL checkpoint is long gone): equals the model.
  log.close();
  log = MultiRaftLog.open(fs, DIR, opts);
  assert.deepEqual(log.groupIds().sort(), [...ids].sort());
  for (const id of ids) assert.equal(stateOf(log, id), describe(models.get(id)!), `after reopen: group ${id}`);
  views = new Map(ids.map((id) => [id, log.group(id)]));
  for (let i = 161; i <= 200; i++) await round(i, true);
  // Dropping a group removes its snapshot file once the DROP is durable.
  assert.equal(snapsOf(fs, 'a').length, 1);
  log.dropGroup('a');
  views.delete('a');
  models.delete('a');
  await syncAll();
  assert.deepEqual(snapsOf(fs, 'a'), []);
  log.close();
  log = MultiRaftLog.open(fs, DIR, opts);
  assert.deepEqual(log.groupIds().sort(), ['b', 'idle', 'ç']);
  for (const id of models.keys()) assert.equal(stateOf(log, id), describe(models.get(id)!), `final: group ${id}`);
  assert.ok(maxSegs <= 3);
  log.close();
});

test('rotation: truncation across segments, reopen mid-stream, and a recreated group after a drop', async () => {
  const fs = new MemFs();
  const opts = { segmentBytes: 256 };
  let log = MultiRaftLog.open(fs, DIR, opts);
  const models = new Map<string, MemoryRaftLog>();
  const views = new Map<string, MultiRaftLogGroup>();
  const open = (id: string): void => {
    views.set(id, log.group(id));
    if (!models.has(id)) models.set(id, new MemoryRaftLog());
  };
  const both = (id: string, f: (l: RaftLogStore) => void): void => {
    f(models.get(id)!);
    f(views.get(id)!);
  };
  for (const id of ['x', 'y']) open(id);
  for (let i = 1; i <= 30; i++) {
    both('x', (l) => l.append([ent(i, 1, bytes(i, 30))]));
    if (i % 3 === 0) both('y', (l) => l.append([ent(i / 3, 1, bytes(100 + i, 10))]));
    await Promise.all([...views.values()].map((v) => v.sync()));
  }
  // Conflict truncation at 5: entries 5..30 live in older segments.
  both('x', (l) => l.append([ent(5, 2, 'x5'), ent(6, 2, 'x6')]));
  both('x', (l) => l.setHardState({ term: 2, vote: 'n1', commit: 4 }));
  log.dropGroup('y');
  views.delete('y');
  models.delete('y');
  open('y');
  both('y', (l) => l.append([ent(1, 5, 'new y')]));
  await Promise.all([...views.values()].map((v) => v.sync()));
  log.close();
  log = MultiRaftLog.open(fs, DIR, opts);
  for (const id of ['x', 'y']) assert.equal(stateOf(log, id), describe(models.get(id)!), `group ${id}`);
  assert.equal(log.recovery.groups, 2);
  log.close();
});

// ------------------------------------------------------------------ torn tails and corruption

interface ThreeBatches {
  path: string;
  /** Batch offsets in the segment (the first holds FULL and the two creations). */
  offs: number[];
  full: Buffer;
  /** describe() of groups a and b after 1, 2 and 3 batches. */
  states: Array<{ a: string; b: string }>;
}

/** A log whose one segment holds three batches, each with records of groups a and b. */
async function threeBatches(fs: MemFs): Promise<ThreeBatches> {
  const log = MultiRaftLog.open(fs, DIR);
  const a = log.group('a');
  const b = log.group('b');
  const states: Array<{ a: string; b: string }> = [];
  const both = async (): Promise<void> => {
    await Promise.all([a.sync(), b.sync()]);
    states.push({ a: describe(a), b: describe(b) });
  };
  a.append([ent(1, 1, 'a1'), ent(2, 1, 'a2')]);
  b.append([ent(1, 1, 'b1')]);
  await both();
  a.append([ent(3, 1, 'a3')]);
  b.setHardState({ term: 2, vote: 'n2', commit: 1 });
  await both();
  a.append([ent(4, 2, 'a4'), ent(5, 2, 'a5')]);
  b.append([ent(2, 2, 'b2')]);
  await both();
  log.close();
  const segs = segmentNames(fs);
  assert.equal(segs.length, 1);
  const path = joinPath(DIR, segs[0]!);
  const full = fs.readFile(path);
  const offs = batchOffsets(full);
  assert.equal(offs.length, 3, 'one batch per flush');
  return { path, offs, full, states };
}

test('torn tail: a batch cut off at any byte is dropped whole (every group); later writes survive reopen', async () => {
  const fs = new MemFs();
  const { path, offs, full, states } = await threeBatches(fs);
  const ends = [offs[1]!, offs[2]!, full.length];
  for (let cut = offs[1]! + 1; cut <= full.length; cut++) {
    const kept = ends.filter((e) => e <= cut).length;
    const boundary = ends[kept - 1]!;
    const img = fs.clone();
    await overwrite(img, path, full.subarray(0, cut));
    const log = MultiRaftLog.open(img, DIR);
    const want = states[kept - 1]!;
    assert.equal(stateOf(log, 'a'), want.a, `cut ${cut}: group a`);
    assert.equal(stateOf(log, 'b'), want.b, `cut ${cut}: group b`);
    assert.equal(log.recovery.tornTail, cut !== boundary, `cut ${cut}: tornTail`);
    assert.equal(log.recovery.droppedBytes, cut - boundary);
    assert.equal(log.recovery.batches, kept);
    const a = log.group('a');
    a.append([ent(a.lastIndex() + 1, 3, 'after tear')]);
    const wantA = describe(a);
    await a.sync();
    log.close();
    const again = MultiRaftLog.open(img, DIR);
    assert.equal(stateOf(again, 'a'), wantA);
    assert.equal(stateOf(again, 'b'), want.b);
    // The run's FULL checkpoint (made durable by the sync) starts replay: the torn segment is gone.
    assert.equal(again.recovery.tornTail, false);
    assert.ok(!img.exists(path), 'the torn segment was removed');
    again.close();
  }
});

test('torn tail: garbage or zeros after the last batch are dropped; a damaged last batch is a torn tail', async () => {
  const fs = new MemFs();
  const { path, offs, full, states } = await threeBatches(fs);
  for (const tail of [Buffer.alloc(100), Buffer.from(bytes(3, 57)), Buffer.from([0xff]), Buffer.alloc(3)]) {
    const img = fs.clone();
    await overwrite(img, path, Buffer.concat([full, tail]));
    const log = MultiRaftLog.open(img, DIR);
    assert.equal(stateOf(log, 'a'), states[2]!.a);
    assert.equal(stateOf(log, 'b'), states[2]!.b);
    assert.equal(log.recovery.tornTail, true);
    assert.equal(log.recovery.droppedBytes, tail.length);
    log.close();
  }
  // The last batch's payload or checksum damaged, nothing valid after it: dropped.
  for (const at of [offs[2]! + 5, offs[2]! + 8 + 10, full.length - 1]) {
    const bad = Buffer.from(full);
    bad[at]! ^= 0x20;
    const img = fs.clone();
    await overwrite(img, path, bad);
    const log = MultiRaftLog.open(img, DIR);
    assert.equal(stateOf(log, 'a'), states[1]!.a, `damage at ${at}`);
    assert.equal(stateOf(log, 'b'), states[1]!.b, `damage at ${at}`);
    assert.equal(log.recovery.tornTail, true);
    log.close();
  }
});

test('a damaged batch followed by a valid batch is CORRUPTION naming file and offset', async () => {
  const fs = new MemFs();
  const { path, offs, full } = await threeBatches(fs);
  const b2 = offs[1]!;
  for (const at of [b2 + 8 + 3, b2 + 4, b2 + 7, offs[2]! - 1]) {
    const bad = Buffer.from(full);
    bad[at]! ^= 0x40;
    const img = fs.clone();
    await overwrite(img, path, bad);
    const err = assertCorruption(() => MultiRaftLog.open(img, DIR), path, b2);
    assert.match(err.message, new RegExp(`valid batch follows at ${offs[2]}`));
    // The failed open released the lock.
    assert.doesNotThrow(() => img.lock(joinPath(DIR, 'LOCK')).release());
  }
  // The first batch (the FULL checkpoint) damaged: still CORRUPTION, not an empty log.
  const bad = Buffer.from(full);
  bad[offs[0]! + 8 + 2]! ^= 0x01;
  const img = fs.clone();
  await overwrite(img, path, bad);
  assertCorruption(() => MultiRaftLog.open(img, DIR), path, offs[0]);
});

test('bad segment magic, version, header checksum or sequence is CORRUPTION naming the file', async () => {
  const fs = new MemFs();
  const { path, full } = await threeBatches(fs);
  for (const [at, offset] of [
    [0, 0],
    [7, 0],
    [9, 8],
    [21, 20],
  ] as const) {
    const bad = Buffer.from(full);
    bad[at]! ^= 0x01;
    const img = fs.clone();
    await overwrite(img, path, bad);
    assertCorruption(() => MultiRaftLog.open(img, DIR), path, offset);
    assert.doesNotThrow(() => img.lock(joinPath(DIR, 'LOCK')).release());
  }
  // A segment under another name than its sequence.
  const img = fs.clone();
  const renamed = joinPath(DIR, multiLogSegmentName(999));
  img.rename(path, renamed);
  await img.syncDir(DIR);
  assertCorruption(() => MultiRaftLog.open(img, DIR), renamed, 12);
});

test('a short, empty or zeroed newer segment left by a crash is a torn empty segment', async () => {
  const fs = new MemFs();
  const { states } = await threeBatches(fs);
  const next = joinPath(DIR, multiLogSegmentName(1000));
  const header = Buffer.alloc(24);
  for (const content of [Buffer.alloc(0), Buffer.from('STRATA'), Buffer.alloc(10), Buffer.alloc(80), header]) {
    const img = fs.clone();
    await overwrite(img, next, content);
    const log = MultiRaftLog.open(img, DIR);
    assert.equal(stateOf(log, 'a'), states[2]!.a);
    assert.equal(stateOf(log, 'b'), states[2]!.b);
    log.close();
  }
  // Not a prefix of a segment header: CORRUPTION.
  const img = fs.clone();
  await overwrite(img, next, Buffer.from('garbage'));
  assertCorruption(() => MultiRaftLog.open(img, DIR), next, 0);
});

test('a torn tail followed by a later segment holding batches is CORRUPTION', async () => {
  const fs = new MemFs();
  const log = MultiRaftLog.open(fs, DIR, { segmentBytes: 150 });
  const a = log.group('a');
  const b = log.group('b');
  for (let i = 1; i <= 12; i++) {
    a.append([ent(i, 1, bytes(i, 40))]);
    b.append([ent(i, 1, bytes(50 + i, 10))]);
    await Promise.all([a.sync(), b.sync()]);
  }
  log.close();
  const segs = segmentNames(fs);
  assert.ok(segs.length >= 2, `segments: ${segs.join(', ')}`);
  const older = joinPath(DIR, segs[segs.length - 2]!);
  const data = fs.readFile(older);
  const offs = batchOffsets(data);
  const img = fs.clone();
  await overwrite(img, older, data.subarray(0, data.length - 3));
  assertCorruption(() => MultiRaftLog.open(img, DIR), older, offs[offs.length - 1]);
});

test('snapshot file: damaged or missing is CORRUPTION naming it; intact it is back after reopen', async () => {
  const fs = new MemFs();
  const log = MultiRaftLog.open(fs, DIR);
  const a = log.group('a');
  const b = log.group('b');
  for (let i = 1; i <= 6; i++) a.append([ent(i, 2, `e${i}`)]);
  b.append([ent(1, 1, 'b1')]);
  a.createSnapshot(4, { voters: ['a', 'b'], learners: ['c'] }, bytes(1, 300));
  await Promise.all([a.sync(), b.sync()]);
  log.close();
  const snaps = snapNames(fs);
  assert.equal(snaps.length, 1);
  assert.deepEqual(snapsOf(fs, 'a'), snaps);
  const path = joinPath(DIR, snaps[0]!);
  const data = fs.readFile(path);
  for (const at of [0, 100, data.length - 1]) {
    const bad = Buffer.from(data);
    bad[at]! ^= 0x10;
    const img = fs.clone();
    await overwrite(img, path, bad);
    assertCorruption(() => MultiRaftLog.open(img, DIR), path);
  }
  const img = fs.clone();
  img.remove(path);
  await img.syncDir(DIR);
  assertCorruption(() => MultiRaftLog.open(img, DIR), path, 0);
  const again = MultiRaftLog.open(fs, DIR);
  const ga = again.group('a');
  assert.deepEqual(ga.snapshot().meta, { index: 4, term: 2, conf: { voters: ['a', 'b'], learners: ['c'] } });
  assert.equal(hex(ga.snapshot().data), hex(bytes(1, 300)));
  assert.deepEqual(ga.initialState().confState, { voters: ['a', 'b'], learners: ['c'] });
  assert.equal(ga.firstIndex(), 5);
  assert.equal(ga.lastIndex(), 6);
  assert.equal(again.group('b').lastIndex(), 1);
  again.close();
});

// ------------------------------------------------------------------ snapshots

test('snapshots: calls held behind a pending snapshot; other groups are not held; close without sync loses a suffix', async () => {
  const fs = new MemFs();
  const log = MultiRaftLog.open(fs, DIR);
  const a = log.group('a');
  const b = log.group('b');
  const ma = new MemoryRaftLog();
  for (let i = 1; i <= 5; i++) {
    a.append([ent(i, 1, `e${i}`)]);
    ma.append([ent(i, 1, `e${i}`)]);
  }
  await a.sync();
  const synced = describe(ma);
  a.createSnapshot(3, { voters: ['a'], learners: [] }, bytes(1, 5));
  a.append([ent(6, 1, 'e6')]);
  // b's sync writes b's records, not a's held ones.
  b.append([ent(1, 1, 'b1')]);
  await b.sync();
  assert.deepEqual(snapNames(fs), [], "b's sync did not write a's snapshot");
  {
    const img = MultiRaftLog.open(fs.crashImage(), DIR);
    assert.equal(stateOf(img, 'a'), synced);
    assert.equal(stateOf(img, 'b'), describe(b));
    img.close();
  }
  // applySnapshot supersedes the pending one; a's sync writes only the newest.
  a.applySnapshot({ meta: { index: 9, term: 3, conf: { voters: ['x'], learners: ['y'] } }, data: bytes(4, 33) });
  a.append([ent(10, 3, 'ten')]);
  const wantA = describe(a);
  await a.sync();
  assert.equal(snapNames(fs).length, 1);
  assert.equal(snapNames(fs)[0], multiLogSnapshotName('a', 9, Number(/-(\d{20})\.snap$/.exec(snapNames(fs)[0]!)![1])));
  // A new snapshot then close without sync: a's state is as of its last sync.
  a.createSnapshot(10, { voters: ['x'], learners: [] }, bytes(5, 7));
  a.append([ent(11, 3, 'eleven')]);
  log.close();
  const again = MultiRaftLog.open(fs, DIR);
  assert.equal(stateOf(again, 'a'), wantA);
  again.close();
});

test('a view closed with a snapshot pending keeps it; the next view`s sync writes it', async () => {
  const fs = new MemFs();
  const log = MultiRaftLog.open(fs, DIR);
  let a = log.group('a');
  for (let i = 1; i <= 4; i++) a.append([ent(i, 1, `e${i}`)]);
  a.createSnapshot(2, { voters: ['n1'], learners: [] }, bytes(3, 10));
  a.append([ent(5, 1, 'e5')]);
  const want = describe(a);
  a.close();
  await log.sync();
  a = log.group('a');
  assert.equal(describe(a), want);
  await a.sync();
  log.close();
  const again = MultiRaftLog.open(fs.crashImage(), DIR);
  assert.equal(stateOf(again, 'a'), want);
  again.close();
});

test('regression: a second snapshot removes the first one`s file; checkpoints naming it still replay', async () => {
  const fs = new MemFs();
  let log = MultiRaftLog.open(fs, DIR);
  const a = log.group('a');
  for (let i = 1; i <= 6; i++) a.append([ent(i, 1, `e${i}`)]);
  a.createSnapshot(2, { voters: ['n1'], learners: [] }, bytes(1, 10));
  await a.sync();
  const first = snapsOf(fs, 'a');
  assert.equal(first.length, 1);
  // The same segment now holds two checkpoints of a; the older one names a file cleanup removes.
  a.createSnapshot(4, { voters: ['n1', 'n2'], learners: [] }, bytes(2, 10));
  await a.sync();
  assert.equal(snapsOf(fs, 'a').length, 1);
  assert.notDeepEqual(snapsOf(fs, 'a'), first);
  const want = describe(a);
  log.close();
  log = MultiRaftLog.open(fs, DIR);
  assert.equal(stateOf(log, 'a'), want);
  // Again after the reopen: the FULL checkpoint names the file the next snapshot replaces.
  const a2 = log.group('a');
  a2.createSnapshot(5, { voters: ['n3'], learners: [] }, bytes(3, 10));
  await a2.sync();
  const want2 = describe(a2);
  log.close();
  log = MultiRaftLog.open(fs.crashImage(), DIR);
  assert.equal(stateOf(log, 'a'), want2);
  log.close();
  // The newest checkpoint's file missing is still CORRUPTION.
  const img = fs.clone();
  const path = joinPath(DIR, snapsOf(fs, 'a')[0]!);
  img.remove(path);
  assertCorruption(() => MultiRaftLog.open(img, DIR), path, 0);
});

test('regression: once the segment with the FULL checkpoint is removed, records before a group`s checkpoint are skipped', async () => {
  const fs = new MemFs();
  const opts = { segmentBytes: 60 };
  let log = MultiRaftLog.open(fs, DIR, opts);
  const g = log.group('g');
  await g.sync();
  const fullSegment = segmentNames(fs)[0]!;
  // Entry 1 is queued before the snapshot; it lands in the next segment, ahead of g's checkpoint.
  g.append([ent(1, 1, 'one')]);
  g.createSnapshot(1, { voters: ['n1'], learners: [] }, bytes(1, 4));
  g.append([ent(2, 1, 'two')]);
  await g.sync();
  const want = describe(g);
  assert.ok(!segmentNames(fs).includes(fullSegment), 'the FULL segment is gone');
  log.close();
  log = MultiRaftLog.open(fs, DIR, opts);
  assert.equal(log.recovery.startSegment, undefined);
  assert.equal(stateOf(log, 'g'), want);
  log.close();
});

test(
  'a group whose snapshot is pending (no sync since) does not pin every segment: rotation writes its snapshot',
  async () => {
    const fs = new MemFs();
    const log = MultiRaftLog.open(fs, DIR, { segmentBytes: 300 });
    const a = log.group('a');
    const idle = log.group('idle');
    idle.append([ent(1, 1, 'x'), ent(2, 1, 'y')]);
    await idle.sync();
    // A compaction the group never syncs after (it has nothing more to write).
    idle.createSnapshot(1, { voters: ['n1'], learners: [] }, bytes(1, 3));
    for (let i = 1; i <= 100; i++) {
      a.append([ent(i, 1, bytes(i, 40))]);
      await a.sync();
    }
    const n = segmentNames(fs).length;
    log.close();
    assert.ok(n <= 3, `${n} segments`);
  },
);

// ------------------------------------------------------------------ lock, views, data, failures

test('LOCK: a second open of the same directory fails while open', () => {
  const fs = new MemFs();
  const log = MultiRaftLog.open(fs, DIR);
  assert.throws(
    () => MultiRaftLog.open(fs, DIR),
    (err: unknown) => isStrataError(err, ERROR_CODES.LOCKED),
  );
  log.close();
  const again = MultiRaftLog.open(fs, DIR);
  again.close();
  assert.throws(
    () => again.group('a'),
    (err: unknown) => isStrataError(err, ERROR_CODES.CLOSED),
  );
  assert.throws(() => MultiRaftLog.open(new MemFs(), DIR, { segmentBytes: 0 }), (err: unknown) => isStrataError(err, ERROR_CODES.INVALID_ARGUMENT));
});

test('views: group(id) twice throws; close() then group(id) gives the same state; closing the log closes its views', async () => {
  const fs = new MemFs();
  const log = MultiRaftLog.open(fs, DIR);
  const a = log.group('a');
  assert.throws(
    () => log.group('a'),
    (err: unknown) => isStrataError(err, ERROR_CODES.INVALID_ARGUMENT),
  );
  assert.throws(() => log.group(''), (err: unknown) => isStrataError(err, ERROR_CODES.INVALID_ARGUMENT));
  a.append([ent(1, 1, 'one'), ent(2, 1, 'two')]);
  a.setHardState({ term: 1, vote: 'n1', commit: 1 });
  const want = describe(a);
  a.close();
  a.close();
  assert.throws(
    () => a.append([ent(3, 1, 'x')]),
    (err: unknown) => isStrataError(err, ERROR_CODES.CLOSED),
  );
  await assert.rejects(a.sync(), (err: unknown) => isStrataError(err, ERROR_CODES.CLOSED));
  const a2 = log.group('a');
  assert.equal(describe(a2), want);
  a2.append([ent(3, 1, 'three')]);
  // The old view's close does not detach the new one.
  a.close();
  a2.append([ent(4, 1, 'four')]);
  await a2.sync();
  const want2 = describe(a2);
  const b = log.group('b');
  log.close();
  for (const v of [a2, b]) {
    assert.throws(
      () => v.append([ent(v.lastIndex() + 1, 1, 'x')]),
      (err: unknown) => isStrataError(err, ERROR_CODES.CLOSED),
    );
    await assert.rejects(v.sync(), (err: unknown) => isStrataError(err, ERROR_CODES.CLOSED));
  }
  await assert.rejects(log.sync(), (err: unknown) => isStrataError(err, ERROR_CODES.CLOSED));
  const again = MultiRaftLog.open(fs, DIR);
  assert.equal(stateOf(again, 'a'), want2);
  // b was created but never synced: gone with the close.
  assert.equal(again.has('b'), false);
  again.close();
});

test('entry data and group ids are binary-safe', async () => {
  const fs = new MemFs();
  const log = MultiRaftLog.open(fs, DIR);
  const ids = ['ü-group', 'x'.repeat(300), '\u0000nul', '🙂'];
  const all = new Uint8Array(256).map((_, i) => i);
  const views = ids.map((id) => log.group(id));
  await Promise.all(views.map((v) => v.sync()));
  const segment = fs.readFile(joinPath(DIR, segmentNames(fs)[0]!));
  const datas = [all, new Uint8Array(0), new Uint8Array(segment), new Uint8Array(1000).fill(0), new Uint8Array(70000).fill(0xff)];
  for (const [j, v] of views.entries()) {
    v.append(datas.map((d, i) => ent(1 + i, 1 + j, d, (i % 2) as 0 | 1)));
    v.setHardState({ term: 1 + j, vote: ids[j]!, commit: 2 });
  }
  await Promise.all(views.map((v) => v.sync()));
  log.close();
  const again = MultiRaftLog.open(fs, DIR);
  assert.deepEqual(again.groupIds().sort(), [...ids].sort());
  for (const [j, v] of views.entries()) assert.equal(stateOf(again, ids[j]!), describe(v));
  again.close();
});

test('a failed fsync makes the log refuse writes for every group; reopening recovers prefixes', async () => {
  const ffs = new FaultFs();
  const log = MultiRaftLog.open(ffs, DIR);
  const [a, b, c] = ['a', 'b', 'c'].map((id) => log.group(id)) as [MultiRaftLogGroup, MultiRaftLogGroup, MultiRaftLogGroup];
  a.append([ent(1, 1, 'a')]);
  b.append([ent(1, 1, 'b')]);
  c.append([ent(1, 1, 'c')]);
  await Promise.all([a.sync(), b.sync(), c.sync()]);
  a.append([ent(2, 1, 'a2')]);
  b.append([ent(2, 1, 'b2')]);
  ffs.failSyncAfter(0);
  const res = await Promise.allSettled([a.sync(), b.sync()]);
  for (const r of res) assert.ok(r.status === 'rejected' && isStrataError(r.reason, ERROR_CODES.IO), String(r.status === 'rejected' ? r.reason : r.status));
  const readOnly = (err: unknown) => isStrataError(err, ERROR_CODES.READ_ONLY);
  // Every group, not only the ones whose sync failed.
  for (const v of [a, b, c]) {
    assert.throws(() => v.append([ent(v.lastIndex() + 1, 1, 'x')]), readOnly);
    assert.throws(() => v.setHardState({ term: 2, vote: '', commit: 0 }), readOnly);
    assert.throws(() => v.createSnapshot(1, { voters: [], learners: [] }, new Uint8Array(0)), readOnly);
    await assert.rejects(v.sync(), readOnly);
  }
  assert.throws(() => log.group('d'), readOnly);
  assert.throws(() => log.dropGroup('c'), readOnly);
  await assert.rejects(log.sync(), readOnly);
  assert.equal(c.lastIndex(), 1);
  log.close();
  const again = MultiRaftLog.open(ffs.crashImage(), DIR);
  assert.ok([1, 2].includes(again.group('a').lastIndex()));
  assert.ok([1, 2].includes(again.group('b').lastIndex()));
  assert.equal(again.group('c').lastIndex(), 1);
  again.close();
});

test('a failed snapshot-file fsync or directory fsync makes the log READ_ONLY for every group', async () => {
  for (const which of ['snapshot', 'syncDir'] as const) {
    const ffs = new FaultFs();
    const log = MultiRaftLog.open(ffs, DIR);
    const a = log.group('a');
    const b = log.group('b');
    for (let i = 1; i <= 4; i++) a.append([ent(i, 1, `a${i}`)]);
    b.append([ent(1, 1, 'b1')]);
    await Promise.all([a.sync(), b.sync()]);
    const want = { a: describe(a), b: describe(b) };
    a.createSnapshot(3, { voters: ['n1'], learners: [] }, bytes(7, 20));
    if (which === 'snapshot') ffs.failSyncWhen((info) => info.kind === 'sync' && info.path.endsWith('.snap.tmp'));
    else ffs.failSyncWhen((info) => info.kind === 'syncDir');
    await assert.rejects(a.sync(), (err: unknown) => isStrataError(err, ERROR_CODES.IO));
    assert.throws(
      () => b.append([ent(2, 1, 'b2')]),
      (err: unknown) => isStrataError(err, ERROR_CODES.READ_ONLY),
      which,
    );
    await assert.rejects(b.sync(), (err: unknown) => isStrataError(err, ERROR_CODES.READ_ONLY));
    log.close();
    const again = MultiRaftLog.open(ffs.crashImage(), DIR);
    assert.equal(stateOf(again, 'a'), want.a, which);
    assert.equal(stateOf(again, 'b'), want.b, which);
    again.close();
  }
});

test('invalid calls are refused before anything is written', async () => {
  const fs = new MemFs();
  const log = MultiRaftLog.open(fs, DIR);
  const a = log.group('a');
  a.append([ent(1, 1, 'a')]);
  assert.throws(() => a.append([ent(3, 1, 'gap')]));
  assert.throws(() => a.createSnapshot(2, { voters: [], learners: [] }, new Uint8Array(0)));
  assert.throws(() => a.append([ent(2, -1, 'bad term')]), (err: unknown) => isStrataError(err, ERROR_CODES.INVALID_ARGUMENT));
  assert.throws(() => a.setHardState({ term: 1.5, vote: '', commit: 0 }), (err: unknown) => isStrataError(err, ERROR_CODES.INVALID_ARGUMENT));
  assert.equal(a.lastIndex(), 1);
  await a.sync();
  log.close();
  const again = MultiRaftLog.open(fs, DIR);
  assert.equal(again.group('a').lastIndex(), 1);
  again.close();
});
