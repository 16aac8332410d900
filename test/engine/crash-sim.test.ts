/**
 * Simulated crashes at every file-system call.
 *
 * A workload (sync puts, deletes, batches, with flushes, compactions, MANIFEST
 * rewrites and a reopen in the middle) runs once on a FaultFs without faults
 * to count its file-system operations N. Then, for every k in 0..N (a seeded
 * sample in the default suite; all of them with STRATA_LONG_TESTS), it runs
 * again with crashAfter(k), and the crash image (plain, and with torn unsynced
 * tails) is opened with a plain MemFs and checked:
 *   - open succeeds;
 *   - the state equals the model after the first j writes, for some j that
 *     includes every acknowledged write and no more than were issued (so no
 *     acknowledged write is lost, no deleted key comes back, batches are
 *     all-or-nothing);
 *   - point reads agree with the scan; the database takes a write and closes;
 *     a second open sees the same state.
 * Also: fsync failures make the database read-only and never lose an
 * acknowledged write.
 *
 * Replay: every failure message starts with SEED=<n>; STRATA_SEED=<n> runs
 * that seed, STRATA_CRASH_K=<k> only that crash point.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/base/clock.js';
import { ERROR_CODES, isStrataError } from '../../src/base/errors.js';
import type { FileLock, Fs, RandomAccessFile, WritableFile } from '../../src/base/fs.js';
import { MemFs } from '../../src/base/mem-fs.js';
import { SeededRandom } from '../../src/base/random.js';
import { DB } from '../../src/engine/db.js';
import type { OpenOptions } from '../../src/engine/options.js';
import { FaultFs, isSimulatedCrash } from '../../src/sim/index.js';

const LONG = !!process.env.STRATA_LONG_TESTS && process.env.STRATA_LONG_TESTS !== '0';
const SEED_OVERRIDE = process.env.STRATA_SEED === undefined ? undefined : Number(process.env.STRATA_SEED);
const K_OVERRIDE = process.env.STRATA_CRASH_K === undefined ? undefined : Number(process.env.STRATA_CRASH_K);
const DIR = '/db';
const KEY_SPACE = 48;
const PROBE_KEY = 'zz-probe';

// ------------------------------------------------------------------ workload

type Mut = { t: 'put'; k: string; v: string } | { t: 'del'; k: string };

interface Write {
  /** Issue order (index into Workload.writes). */
  w: number;
  sync: boolean;
  /** As one batch (db.write) or a single put/delete. */
  batch: boolean;
  muts: Mut[];
}

type Step = { t: 'writes'; ws: Write[] } | { t: 'flush' } | { t: 'compact' } | { t: 'reopen' };

interface Workload {
  seed: number;
  steps: Step[];
  writes: Write[];
}

const keyName = (i: number) => `k${String(i).padStart(3, '0')}`;
const ALL_KEYS = Array.from({ length: KEY_SPACE }, (_, i) => keyName(i));

/** Incompressible-ish filler so that tables have several blocks. */
function filler(seed: number): string {
  const r = new SeededRandom(seed ^ 0x5eed);
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let s = '';
  for (let i = 0; i < 48 * 1024; i++) s += chars[r.int(0, chars.length - 1)];
  return s;
}

/**
 * `nWrites` writes in groups of 1..4 issued together (group commit), with an
 * explicit flush, a reopen and a compactRange at fixed fractions.
 * `mixedSync`: about a third of the writes are sync:false.
 */
function makeWorkload(seed: number, nWrites: number, mixedSync = false): Workload {
  const r = new SeededRandom(seed);
  const fill = filler(seed);
  const value = (w: number, k: string): string => {
    const big = r.int(0, 59) === 0;
    const len = big ? r.int(33 * 1024, 40 * 1024) : r.int(60, 1500);
    const off = r.int(0, fill.length - len);
    return `${k}@${w}:${fill.slice(off, off + len)}`;
  };
  const mut = (w: number): Mut => {
    const k = keyName(r.int(0, KEY_SPACE - 1));
    return r.int(0, 3) === 0 ? { t: 'del', k } : { t: 'put', k, v: value(w, k) };
  };
  const steps: Step[] = [];
  const writes: Write[] = [];
  const marks: Array<[number, Step['t']]> = [
    [Math.floor(nWrites * 0.3), 'flush'],
    [Math.floor(nWrites * 0.55), 'reopen'],
    [Math.floor(nWrites * 0.8), 'compact'],
  ];
  while (writes.length < nWrites) {
    while (marks.length > 0 && writes.length >= marks[0]![0]) steps.push({ t: marks.shift()![1] } as Step);
    const width = r.int(0, 1) === 0 ? 1 : r.int(2, 4);
    const ws: Write[] = [];
    for (let i = 0; i < width && writes.length < nWrites; i++) {
      const w = writes.length;
      const kind = r.int(0, 9);
      const sync = mixedSync ? r.int(0, 2) !== 0 : true;
      let wr: Write;
      if (kind < 6) {
        const k = keyName(r.int(0, KEY_SPACE - 1));
        wr = { w, sync, batch: false, muts: [{ t: 'put', k, v: value(w, k) }] };
      } else if (kind < 8) {
        wr = { w, sync, batch: false, muts: [{ t: 'del', k: keyName(r.int(0, KEY_SPACE - 1)) }] };
      } else {
        const n = r.int(2, 5);
        const muts: Mut[] = [];
        for (let j = 0; j < n; j++) muts.push(mut(w));
        wr = { w, sync, batch: true, muts };
      }
      writes.push(wr);
      ws.push(wr);
    }
    steps.push({ t: 'writes', ws });
  }
  return { seed, steps, writes };
}

function applyWrite(model: Map<string, string>, wr: Write): void {
  for (const m of wr.muts) {
    if (m.t === 'put') model.set(m.k, m.v);
    else model.delete(m.k);
  }
}

function modelAt(wl: Workload, j: number): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < j; i++) applyWrite(m, wl.writes[i]!);
  return m;
}

function sameState(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function describeDiff(expected: Map<string, string>, actual: Map<string, string>): string {
  const out: string[] = [];
  const short = (v: string | undefined) => (v === undefined ? 'absent' : JSON.stringify(v.slice(0, 24)));
  for (const k of new Set([...expected.keys(), ...actual.keys()])) {
    if (expected.get(k) !== actual.get(k)) out.push(`${k}: expected ${short(expected.get(k))}, got ${short(actual.get(k))}`);
    if (out.length >= 6) break;
  }
  return out.join('; ');
}

/** Smallest j in [lo, hi] with state == model after j writes, or -1. */
function matchPrefix(wl: Workload, state: Map<string, string>, lo: number, hi: number): number {
  const m = new Map<string, string>();
  for (let j = 0; j <= hi; j++) {
    if (j >= lo && sameState(m, state)) return j;
    if (j < wl.writes.length) applyWrite(m, wl.writes[j]!);
  }
  return -1;
}

// ------------------------------------------------------------------ running

const OPTIONS: OpenOptions = {
  writeBufferSize: 64 * 1024,
  level0CompactionTrigger: 2,
  // No 1 ms slowdown sleeps: they would make the interleaving timing-dependent.
  level0SlowdownTrigger: 1000,
  level0StopTrigger: 1000,
  maxBytesForLevelBase: 64 * 1024,
  targetFileSize: 16 * 1024,
  blockSize: 1024,
  blockCacheSize: 256 * 1024,
  // snappy@7.4.3's compressSync/uncompressSync leak native memory (several KB a call): the
  // long run, with thousands of databases, would need many GB. Compression does not change
  // what a crash leaves, and the short run keeps the default codec covered.
  compression: LONG ? 'none' : 'snappy',
  // The engine ends an event-loop turn after 10 ms on its clock: on the system clock, a loaded
  // machine would interleave operations differently from run to run (and from the traced run).
  clock: new ManualClock(0),
};

interface RunLog {
  /** Writes issued: 0..issued-1. */
  issued: number;
  acked: boolean[];
  /** Order in which writes were acknowledged. */
  ackOrder: number[];
  /** Index of the last acknowledged write (-1: none). */
  lastAck: number;
  /** Index of the last acknowledged sync:true write (-1: none). */
  lastSyncAck: number;
  /** Errors that are neither a simulated crash, READ_ONLY nor (with fsync faults) IO. */
  unexpected: string[];
  /** The workload stopped early because an operation failed. */
  stopped: boolean;
  /** Set when the database reported an fsync failure as READ_ONLY (or open failed with IO). */
  sawFailure: boolean;
  /** Flushes and compactions done by the workload (summed over its database sessions). */
  flushes: number;
  compactions: number;
  /** stats().backgroundError after the last close, if any. */
  bgErrorAtClose?: string;
}

function classify(err: unknown, log: RunLog, allowIo: boolean, what: string): void {
  if (isSimulatedCrash(err)) return;
  if (isStrataError(err, ERROR_CODES.READ_ONLY)) {
    log.sawFailure = true;
    return;
  }
  if (allowIo && isStrataError(err, ERROR_CODES.IO)) {
    log.sawFailure = true;
    return;
  }
  log.unexpected.push(`${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}

function issue(db: DB, wr: Write): Promise<void> {
  const opts = { sync: wr.sync };
  if (wr.batch) {
    return db.write(
      wr.muts.map((m) => (m.t === 'put' ? { type: 'put' as const, key: m.k, value: m.v } : { type: 'del' as const, key: m.k })),
      opts,
    );
  }
  const m = wr.muts[0]!;
  return m.t === 'put' ? db.put(m.k, m.v, opts) : db.delete(m.k, opts);
}

/**
 * Runs the workload on `fs` until the end or the first failed operation. A
 * failed write is followed by one more write, which must fail too.
 */
async function runWorkload(fs: Fs, wl: Workload, allowIo = false): Promise<RunLog> {
  const log: RunLog = {
    issued: 0,
    acked: new Array<boolean>(wl.writes.length).fill(false),
    ackOrder: [],
    lastAck: -1,
    lastSyncAck: -1,
    unexpected: [],
    stopped: false,
    sawFailure: false,
    flushes: 0,
    compactions: 0,
  };
  let db: DB | undefined;
  const closeDb = async (d: DB): Promise<void> => {
    let st = d.stats();
    log.flushes += st.flush.count;
    log.compactions += st.compaction.count;
    await d.close();
    // A background flush or compaction that failed while close() waited for it is reported only here.
    st = d.stats();
    if (st.backgroundError !== undefined) {
      log.sawFailure = true;
      log.bgErrorAtClose = st.backgroundError;
    }
  };
  const openDb = async (): Promise<boolean> => {
    try {
      db = await DB.open(DIR, { ...OPTIONS, fs });
      return true;
    } catch (err) {
      db = undefined;
      classify(err, log, allowIo, 'open');
      return false;
    }
  };
  if (!(await openDb())) {
    log.stopped = true;
    return log;
  }
  for (const step of wl.steps) {
    const d = db!;
    let failed = false;
    if (step.t === 'writes') {
      const ps = step.ws.map((wr) => {
        log.issued = wr.w + 1;
        return issue(d, wr).then(
          () => {
            log.acked[wr.w] = true;
            log.ackOrder.push(wr.w);
            log.lastAck = Math.max(log.lastAck, wr.w);
            if (wr.sync) log.lastSyncAck = Math.max(log.lastSyncAck, wr.w);
          },
          (err: unknown) => {
            failed = true;
            classify(err, log, allowIo, `write ${wr.w}`);
          },
        );
      });
      await Promise.all(ps);
    } else if (step.t === 'flush' || step.t === 'compact') {
      try {
        await (step.t === 'flush' ? d.flush() : d.compactRange());
      } catch (err) {
        failed = true;
        classify(err, log, allowIo, step.t);
      }
    } else {
      try {
        await closeDb(d);
      } catch (err) {
        failed = true;
        classify(err, log, allowIo, 'close before reopen');
      }
      if (!failed && !(await openDb())) {
        log.stopped = true;
        return log;
      }
    }
    if (failed) {
      log.stopped = true;
      // A close that failed part-way leaves the handle closed: nothing more to try on it.
      if (step.t === 'reopen') return log;
      // Nothing is acknowledged after a failure.
      const extra = wl.writes[wl.writes.length - 1]!;
      try {
        await d.put(extra.muts[0]!.k, 'after-failure', { sync: true });
        log.unexpected.push('a write after a failure was acknowledged');
      } catch (err) {
        classify(err, log, allowIo, 'write after failure');
      }
      try {
        await closeDb(d);
      } catch (err) {
        classify(err, log, allowIo, 'close after failure');
      }
      return log;
    }
  }
  try {
    await closeDb(db!);
  } catch (err) {
    classify(err, log, allowIo, 'final close');
  }
  return log;
}

function readState(db: DB): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8' })) {
    if (k !== PROBE_KEY) m.set(k, v);
  }
  return m;
}


/**
 * Opens `img`, checks it holds a prefix of the writes that includes write
 * `lo - 1` and at most `hi` writes, that reads agree, that it accepts a write,
 * and that a second open sees the same. Returns the prefix length.
 */
async function verifyImage(img: MemFs, wl: Workload, lo: number, hi: number, ctx: string, reopen = true): Promise<number> {
  let db: DB;
  try {
    db = await DB.open(DIR, { ...OPTIONS, fs: img });
  } catch (err) {
    assert.fail(`${ctx}: open of the crash image failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  let j = -1;
  try {
    const state = readState(db);
    j = matchPrefix(wl, state, lo, hi);
    if (j < 0) {
      assert.fail(
        `${ctx}: recovered state is no prefix of the issued writes with ${lo} <= j <= ${hi}; ` +
          `vs first ${lo}: ${describeDiff(modelAt(wl, lo), state)} | vs first ${hi}: ${describeDiff(modelAt(wl, hi), state)}`,
      );
    }
    const model = modelAt(wl, j);
    for (const k of ALL_KEYS) {
      assert.equal(db.getSync(k)?.toString('utf8'), model.get(k), `${ctx}: get(${k}) disagrees with the scan (prefix ${j})`);
    }
    await db.put(PROBE_KEY, ctx, { sync: true });
    assert.equal(await db.get(PROBE_KEY, { encoding: 'utf8' }), ctx, `${ctx}: probe write not readable`);
  } finally {
    await db.close();
  }
  if (!reopen) return j;
  const again = await DB.open(DIR, { ...OPTIONS, fs: img });
  try {
    const state = readState(again);
    assert.ok(sameState(state, modelAt(wl, j)), `${ctx}: second open differs from the first (prefix ${j}): ${describeDiff(modelAt(wl, j), state)}`);
    assert.equal(await again.get(PROBE_KEY, { encoding: 'utf8' }), ctx, `${ctx}: probe write lost by a clean close/open`);
  } finally {
    await again.close();
  }
  return j;
}

function checkLog(log: RunLog, ctx: string): void {
  assert.deepEqual(log.unexpected, [], `${ctx}: unexpected errors`);
  for (let i = 1; i < log.ackOrder.length; i++) {
    assert.ok(log.ackOrder[i - 1]! < log.ackOrder[i]!, `${ctx}: writes acknowledged out of issue order: ${log.ackOrder.slice(Math.max(0, i - 3), i + 1).join(',')}`);
  }
  // Acknowledged writes form a prefix of the issued ones (each group waits for the one before).
  for (let i = 0; i <= log.lastAck; i++) assert.ok(log.acked[i], `${ctx}: write ${i} not acknowledged but write ${log.lastAck} was`);
}

/** Evenly spread seeded sample of `count` values in [0, n], always including 0..2 and n. */
function samplePoints(n: number, count: number, r: SeededRandom): number[] {
  if (count >= n + 1) return Array.from({ length: n + 1 }, (_, i) => i);
  const set = new Set<number>([0, 1, 2, n]);
  const stride = (n + 1) / count;
  for (let i = 0; set.size < count && i < count; i++) set.add(Math.min(n, Math.floor(i * stride + r.int(0, Math.max(0, Math.floor(stride) - 1)))));
  return [...set].sort((a, b) => a - b);
}

/**
 * Records the name of every call that FaultFs counts as an operation, in the
 * same order: trace[k] is the operation that crashAfter(k) makes fail.
 * Names are normalised (file numbers → N) so they group into kinds.
 */
class TracingFs implements Fs {
  readonly trace: string[] = [];
  /** `numbered`: keep file numbers in the trace (by default they read N, so runs compare). */
  constructor(
    private readonly fs: Fs,
    private readonly numbered = false,
  ) {}
  private t(op: string, p: string): void {
    const name = p.replace(/^.*\//, '');
    this.trace.push(`${op} ${this.numbered ? name : name.replace(/[0-9]+/g, 'N')}`);
  }
  createWritable(p: string): WritableFile {
    this.t('createWritable', p);
    const f = this.fs.createWritable(p);
    const t = (op: string) => this.t(op, p);
    return {
      path: f.path,
      get size() {
        return f.size;
      },
      append: (d: Uint8Array) => {
        t('append');
        f.append(d);
      },
      sync: () => {
        t('sync');
        return f.sync();
      },
      close: () => {
        t('close');
        f.close();
      },
    };
  }
  openRandomAccess(p: string): RandomAccessFile {
    this.t('openRandomAccess', p);
    const f = this.fs.openRandomAccess(p);
    const t = (op: string) => this.t(op, p);
    return {
      path: f.path,
      size: f.size,
      read: (position: number, length: number, into?: Buffer) => {
        t('read');
        return f.read(position, length, into);
      },
      close: () => {
        t('close');
        f.close();
      },
    };
  }
  readFile(p: string): Buffer {
    this.t('readFile', p);
    return this.fs.readFile(p);
  }
  exists(p: string): boolean {
    this.t('exists', p);
    return this.fs.exists(p);
  }
  list(d: string): string[] {
    this.t('list', d);
    return this.fs.list(d);
  }
  fileSize(p: string): number {
    this.t('fileSize', p);
    return this.fs.fileSize(p);
  }
  remove(p: string): void {
    this.t('remove', p);
    this.fs.remove(p);
  }
  removeAsync(p: string): Promise<void> {
    this.remove(p);
    return Promise.resolve();
  }
  removeDir(p: string): void {
    this.t('removeDir', p);
    this.fs.removeDir(p);
  }
  rename(from: string, to: string): void {
    this.t('rename', `${from}->${to.replace(/^.*\//, '')}`);
    this.fs.rename(from, to);
  }
  link(from: string, to: string): void {
    this.t('link', `${from}->${to.replace(/^.*\//, '')}`);
    this.fs.link(from, to);
  }
  mkdir(d: string): void {
    this.t('mkdir', d);
    this.fs.mkdir(d);
  }
  syncDir(d: string): Promise<void> {
    this.t('syncDir', d);
    return this.fs.syncDir(d);
  }
  lock(p: string): FileLock {
    this.t('lock', p);
    const l = this.fs.lock(p);
    return {
      release: () => {
        this.t('release', p);
        l.release();
      },
    };
  }
}

interface Baseline {
  wl: Workload;
  ops: number;
  /** trace[k]: the operation crashAfter(k) fails. */
  trace: string[];
  flushes: number;
  compactions: number;
}

/** Runs `wl` without faults: every write must be acknowledged; returns the op count and trace. */
async function baseline(wl: Workload): Promise<Baseline> {
  const fault = new FaultFs();
  const fs = new TracingFs(fault);
  const log = await runWorkload(fs, wl);
  const ctx = `SEED=${wl.seed} fault-free run`;
  checkLog(log, ctx);
  assert.equal(log.stopped, false, ctx);
  assert.equal(log.lastAck, wl.writes.length - 1, ctx);
  const ops = fault.opCount;
  assert.equal(fs.trace.length, ops, `${ctx}: trace does not match FaultFs operation count`);
  const db = await DB.open(DIR, { ...OPTIONS, fs: fault.inner });
  const st = db.stats();
  const state = readState(db);
  await db.close();
  assert.ok(sameState(state, modelAt(wl, wl.writes.length)), `${ctx}: final state differs: ${describeDiff(modelAt(wl, wl.writes.length), state)}`);
  // The run must have exercised flushes, compactions and MANIFEST rewrites.
  assert.ok(log.flushes >= 3, `${ctx}: only ${log.flushes} flushes`);
  assert.ok(log.compactions >= 1, `${ctx}: no compaction`);
  assert.ok(st.levels.slice(1).some((l) => l.files > 0), `${ctx}: nothing below L0`);
  assert.ok(fs.trace.filter((n) => n.startsWith('rename')).length >= 2, `${ctx}: fewer than two MANIFEST installs`);
  return { wl, ops, trace: fs.trace, flushes: log.flushes, compactions: log.compactions };
}

/**
 * Crash points: every kind of operation (by trace name) at up to `perKind`
 * spread-out occurrences, then seeded random fill up to `total`; all of 0..N
 * when `total` > N. N itself (after the final close) is always included.
 */
function crashPoints(base: Baseline, perKind: number | ((name: string) => number), total: number, r: SeededRandom, only?: (name: string) => boolean): number[] {
  const n = base.ops;
  if (!only && total > n) return Array.from({ length: n + 1 }, (_, i) => i);
  const byKind = new Map<string, number[]>();
  base.trace.forEach((name, k) => {
    if (only && !only(name)) return;
    let a = byKind.get(name);
    if (!a) byKind.set(name, (a = []));
    a.push(k);
  });
  const set = new Set<number>(only ? [] : [0, n]);
  for (const [name, ks] of byKind) {
    const want = typeof perKind === 'number' ? perKind : perKind(name);
    if (ks.length <= want) for (const k of ks) set.add(k);
    else for (let i = 0; i < want; i++) set.add(ks[Math.floor(((i + r.float()) * ks.length) / want)]!);
  }
  const all = only ? [...byKind.values()].flat() : undefined;
  const limit = Math.min(total, all ? all.length : n + 1);
  while (set.size < limit) set.add(all ? all[r.int(0, all.length - 1)]! : r.int(0, n));
  return [...set].sort((a, b) => a - b);
}

/** Operations that change what a crash leaves (durability points) get more crash points than reads. */
const DURABILITY_OPS = (name: string): number => (/^(sync|syncDir|rename) /.test(name) ? 2 : 1);

function kindCounts(base: Baseline, points: number[]): string {
  const c = new Map<string, number>();
  for (const k of points) {
    const name = k < base.trace.length ? base.trace[k]!.split(' ')[0]! : 'none';
    c.set(name, (c.get(name) ?? 0) + 1);
  }
  return [...c].map(([k, v]) => `${k}:${v}`).join(' ');
}

async function crashAt(wl: Workload, k: number): Promise<{ log: RunLog; fs: FaultFs }> {
  const fs = new FaultFs();
  fs.crashAfter(k);
  const log = await runWorkload(fs, wl);
  return { log, fs };
}

const seeds = SEED_OVERRIDE !== undefined ? [SEED_OVERRIDE] : [1, 2];
const N_WRITES = LONG ? 700 : 320;

for (const seed of seeds) {
  test(`crash at every file-system call: acknowledged writes survive, state is a prefix (seed ${seed})`, async () => {
    const wl = makeWorkload(seed, N_WRITES);
    const base = await baseline(wl);
    const r = new SeededRandom(seed * 31 + 7);
    const points = K_OVERRIDE !== undefined ? [K_OVERRIDE] : LONG ? crashPoints(base, 0, base.ops + 1, r) : crashPoints(base, DURABILITY_OPS, 40, r);
    let torn = 0;
    for (const k of points) {
      const ctx = `SEED=${seed} STRATA_CRASH_K=${k} (of ${base.ops} ops, crash at "${base.trace[k] ?? 'after the end'}")`;
      const { log, fs } = await crashAt(wl, k);
      checkLog(log, ctx);
      if (k < base.ops) assert.ok(fs.crashed, `${ctx}: the run did not reach the crash point`);
      const lo = log.lastAck + 1;
      // The second open (recovery of a recovered database) is checked on the torn image only (time).
      await verifyImage(fs.crashImage(), wl, lo, log.issued, `${ctx} plain image`, LONG);
      const tornImg = fs.crashImage({ tear: true, random: new SeededRandom(seed * 100003 + k) });
      await verifyImage(tornImg, wl, lo, log.issued, `${ctx} torn image`);
      torn++;
    }
    console.log(
      `# crash-sim SEED=${seed}: ${base.ops} fs ops, ${wl.writes.length} writes, ${base.flushes} flushes, ` +
        `${base.compactions} compactions; ${points.length} crash points x 2 images (${torn} torn): ${kindCounts(base, points)}`,
    );
  });
}

test('crash during recovery of a torn crash image (double crash)', async () => {
  const seed = SEED_OVERRIDE ?? 3;
  const wl = makeWorkload(seed, LONG ? 400 : 200);
  const base = await baseline(wl);
  const r = new SeededRandom(seed * 17 + 1);
  const firstPoints = crashPoints(base, LONG ? 1 : 0, LONG ? 40 : 6, r);
  let cases = 0;
  for (const k of firstPoints) {
    const { log, fs } = await crashAt(wl, k);
    const ctx0 = `SEED=${seed} STRATA_CRASH_K=${k}`;
    checkLog(log, ctx0);
    const img = fs.crashImage({ tear: true, random: new SeededRandom(seed * 100003 + k) });
    // Count the operations of a fault-free recovery of this image.
    const probe = new FaultFs(img.clone());
    const db = await DB.open(DIR, { ...OPTIONS, fs: probe });
    await db.close();
    const recoveryOps = probe.opCount;
    const second = samplePoints(recoveryOps, LONG ? recoveryOps + 1 : 5, r);
    for (const m of second) {
      const ctx = `${ctx0} recovery crash m=${m} (of ${recoveryOps})`;
      const f2 = new FaultFs(img.clone());
      f2.crashAfter(m);
      try {
        const d2 = await DB.open(DIR, { ...OPTIONS, fs: f2 });
        await d2.close();
      } catch (err) {
        assert.ok(isSimulatedCrash(err), `${ctx}: recovery failed with ${String(err)}`);
      }
      const img2 = f2.crashImage({ tear: true, random: new SeededRandom(seed * 7 + m) });
      await verifyImage(img2, wl, log.lastAck + 1, log.issued, ctx);
      cases++;
    }
  }
  console.log(`# crash-sim double crash SEED=${seed}: ${cases} (crash, recovery crash) pairs`);
});

test('fsync failure of the WAL: the write rejects, the database turns READ_ONLY, reads still work, reopen recovers', async () => {
  const seed = SEED_OVERRIDE ?? 4;
  const wl = makeWorkload(seed, 160);
  const r = new SeededRandom(seed);
  const trials = LONG ? 40 : 6;
  for (let trial = 0; trial < trials; trial++) {
    const failAtWrite = r.int(1, wl.writes.length - 40);
    const ctx = `SEED=${seed} trial=${trial} failAtWrite=${failAtWrite}`;
    const fs = new FaultFs();
    const db = await DB.open(DIR, { ...OPTIONS, fs });
    const model = new Map<string, string>();
    let lastAck = -1;
    let w = 0;
    for (; w < failAtWrite; w++) {
      await issue(db, wl.writes[w]!);
      applyWrite(model, wl.writes[w]!);
      lastAck = w;
    }
    let failedPath = '';
    fs.failSyncWhen((info) => {
      if (info.kind !== 'sync' || !info.path.endsWith('.log')) return false;
      failedPath = info.path;
      return true;
    });
    // A group of concurrent writes whose WAL fsync fails: all reject.
    const group = wl.writes.slice(w, w + 3);
    const results = await Promise.allSettled(group.map((wr) => issue(db, wr)));
    const issued = w + group.length;
    assert.ok(failedPath.endsWith('.log'), `${ctx}: the WAL sync was not attempted`);
    for (const res of results) {
      assert.equal(res.status, 'rejected', `${ctx}: a write whose fsync failed was acknowledged`);
      const err = (res as PromiseRejectedResult).reason;
      assert.ok(isStrataError(err, ERROR_CODES.READ_ONLY), `${ctx}: expected READ_ONLY, got ${String(err)}`);
    }
    // Every later write (and flush, compaction) rejects with READ_ONLY.
    for (const wr of wl.writes.slice(issued, issued + 5)) {
      await assert.rejects(issue(db, { ...wr, sync: wr.w % 2 === 0 }), (err: unknown) => isStrataError(err, ERROR_CODES.READ_ONLY), ctx);
    }
    await assert.rejects(db.flush(), (err: unknown) => isStrataError(err, ERROR_CODES.READ_ONLY), `${ctx}: flush`);
    await assert.rejects(db.compactRange(), (err: unknown) => isStrataError(err, ERROR_CODES.READ_ONLY), `${ctx}: compactRange`);
    assert.ok(db.stats().backgroundError, `${ctx}: stats().backgroundError not set`);
    // Reads still work and show exactly the acknowledged writes.
    const live = readState(db);
    assert.ok(sameState(live, model), `${ctx}: live reads after the failure: ${describeDiff(model, live)}`);
    for (const k of ALL_KEYS) assert.equal(await db.get(k, { encoding: 'utf8' }), model.get(k), `${ctx}: get(${k})`);
    await db.close();
    // A power loss now, or a restart of the process on the same files: a prefix with every acknowledged write.
    await verifyImage(fs.crashImage(), wl, lastAck + 1, issued, `${ctx} crash image`);
    await verifyImage(fs.crashImage({ tear: true, random: new SeededRandom(trial) }), wl, lastAck + 1, issued, `${ctx} torn image`);
    await verifyImage(fs.inner, wl, lastAck + 1, issued, `${ctx} same files`);
  }
});

test('fsync failure anywhere (table, MANIFEST, CURRENT, directory, WAL): never an acknowledged write lost', async () => {
  const seed = SEED_OVERRIDE ?? 5;
  const wl = makeWorkload(seed, LONG ? 400 : 220);
  const base = await baseline(wl);
  const r = new SeededRandom(seed * 13);
  // k: a sync or directory sync in the fault-free trace; the run fails exactly that one (op k+1).
  const points = crashPoints(base, LONG ? 20 : 3, LONG ? 400 : 22, r, (name) => name.startsWith('sync'));
  const kinds = new Map<string, number>();
  for (const n of points) {
    const fs = new FaultFs();
    let failed: string | undefined;
    const from = n;
    fs.failSyncWhen((info) => {
      if (info.op <= from) return false;
      failed = `${info.kind} ${info.path.replace(/^.*\//, '')}`;
      return true;
    });
    const log = await runWorkload(fs, wl, true);
    const ctx = `SEED=${seed} failSync after op ${n} (${failed ?? 'none'})`;
    checkLog(log, ctx);
    assert.ok(failed !== undefined, `${ctx}: no sync failed`);
    const kind = failed.replace(/[0-9]+/g, 'N');
    // The runs are deterministic: the failed sync is the one the fault-free trace has at k.
    assert.equal(kind, base.trace[n], `${ctx}: failed a different operation than traced`);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    // The failure surfaces: a write, flush, compaction or open fails (READ_ONLY, or IO from open),
    // or, when it hit a background flush/compaction that close() waited for, stats().backgroundError
    // says so after the close (close itself succeeds; the reopen step then recovers from the WAL).
    assert.ok(log.sawFailure, `${ctx}: a failed fsync went unreported`);
    assert.ok(log.stopped || log.bgErrorAtClose !== undefined, `${ctx}: the workload went on after the failure`);
    await verifyImage(fs.crashImage(), wl, log.lastAck + 1, log.issued, `${ctx} crash image`);
    await verifyImage(fs.inner, wl, log.lastAck + 1, log.issued, `${ctx} same files`);
  }
  console.log(`# crash-sim fsync failures SEED=${seed}: ${points.length} points; failed syncs: ${[...kinds].map(([k, v]) => `${k} x${v}`).join(', ')}`);
});

test('sync:false writes mixed in: a crash image still opens and keeps every write up to the last acknowledged sync write', async () => {
  const seed = SEED_OVERRIDE ?? 6;
  const wl = makeWorkload(seed, LONG ? 500 : 260, true);
  const base = await baseline(wl);
  const r = new SeededRandom(seed * 29);
  const points = K_OVERRIDE !== undefined ? [K_OVERRIDE] : LONG ? crashPoints(base, 0, base.ops + 1, r) : crashPoints(base, 1, 24, r);
  for (const k of points) {
    const ctx = `SEED=${seed} STRATA_CRASH_K=${k} (mixed sync, of ${base.ops} ops)`;
    const { log, fs } = await crashAt(wl, k);
    checkLog(log, ctx);
    // An acknowledged sync write makes it and everything issued before it durable.
    await verifyImage(fs.crashImage(), wl, log.lastSyncAck + 1, log.issued, `${ctx} plain image`, LONG);
    await verifyImage(fs.crashImage({ tear: true, random: new SeededRandom(seed * 100003 + k) }), wl, log.lastSyncAck + 1, log.issued, `${ctx} torn image`);
  }
  console.log(`# crash-sim mixed sync SEED=${seed}: ${base.ops} fs ops, ${points.length} crash points x 2 images: ${kindCounts(base, points)}`);
});

test('minimal: sync:false writes then a WAL switch, crash while the old memtable is being flushed', async () => {
  // sync:false writes fill the memtable; the write that switches to a new WAL
  // is sync:true and acknowledged; the old memtable's flush writes its table,
  // and the crash comes at the flush's MANIFEST sync, so the old WAL is still
  // needed. Its records (sync:false writes before an acknowledged sync write)
  // were never fsynced.
  const seed = SEED_OVERRIDE ?? 7;
  const fs = new FaultFs();
  let sawTable = false;
  fs.failSyncWhen((info) => {
    if (info.kind === 'sync' && info.path.endsWith('.sst')) sawTable = true;
    if (!sawTable || info.kind !== 'sync' || !info.path.includes('MANIFEST')) return false;
    fs.crash();
    return true;
  });
  const wl: Workload = { seed, steps: [], writes: [] };
  const fill = filler(seed);
  for (let w = 0; w < 200; w++) {
    const k = keyName(w % KEY_SPACE);
    wl.writes.push({ w, sync: false, batch: false, muts: [{ t: 'put', k, v: `${k}@${w}:${fill.slice(w * 7, w * 7 + 1500)}` }] });
  }
  const db = await DB.open(DIR, { ...OPTIONS, fs });
  let lastSyncAck = -1;
  let issued = 0;
  for (const wr of wl.writes) {
    issued = wr.w + 1;
    const st = db.stats();
    // This write will switch the memtable and WAL: make it a sync write.
    wr.sync = st.immutableMemtables === 0 && st.memtableBytes >= OPTIONS.writeBufferSize!;
    try {
      await issue(db, wr);
    } catch (err) {
      assert.ok(isSimulatedCrash(err) || isStrataError(err, ERROR_CODES.READ_ONLY), String(err));
      break;
    }
    if (wr.sync) lastSyncAck = wr.w;
  }
  await db.close().catch(() => undefined);
  assert.ok(fs.crashed, `SEED=${seed}: the crash point was not reached`);
  const ctx = `SEED=${seed} minimal WAL-switch crash (last sync ack ${lastSyncAck}, issued ${issued})`;
  await verifyImage(fs.crashImage(), wl, lastSyncAck + 1, issued, `${ctx} plain image`);
  const half = { int: (a: number, b: number) => a + Math.floor((b - a) / 2), float: () => 0.5 };
  await verifyImage(fs.crashImage({ tear: true, random: half }), wl, lastSyncAck + 1, issued, `${ctx} torn image`);
});

test('a WAL switch leaves the old WAL unsynced: the next sync write syncs it, then the directory, then the new WAL; flushed ones are closed', async () => {
  const fs = new TracingFs(new MemFs(), true);
  const db = await DB.open(DIR, { ...OPTIONS, fs, compression: 'none' });
  const logs = () => fs.trace.filter((t) => t.startsWith('createWritable') && t.endsWith('.log')).map((t) => t.split(' ')[1]!);
  const first = logs();
  assert.equal(first.length, 1);
  let i = 0;
  while (db.stats().memtableBytes < OPTIONS.writeBufferSize!) await db.put(keyName(i++ % KEY_SPACE), 'x'.repeat(500));
  const beforeSwitch = fs.trace.length;
  // Switches to a new WAL, then commits to it and syncs.
  await db.put('sync-write', 'y', { sync: true });
  const after = fs.trace.slice(beforeSwitch);
  const [old] = first;
  const created = logs().filter((l) => l !== old);
  assert.equal(created.length, 1, `one new WAL: ${created.join(' ')}`);
  const syncOld = after.indexOf(`sync ${old}`);
  const syncDir = after.indexOf('syncDir db');
  const syncNew = after.indexOf(`sync ${created[0]}`);
  assert.ok(fs.trace.slice(0, beforeSwitch).every((t) => t !== `sync ${old}`), 'the sync:false writes synced the WAL');
  assert.ok(after.indexOf(`createWritable ${created[0]}`) < syncOld, `the old WAL was synced at the switch: ${after.join(', ')}`);
  assert.ok(syncOld >= 0 && syncOld < syncDir && syncDir < syncNew, `sync order: old WAL ${syncOld}, directory ${syncDir}, new WAL ${syncNew}`);

  // sync:false writes over several more switches; once flushed, every WAL but the current one is closed, synced or not.
  while (logs().length < 5) await db.put(keyName(i++ % KEY_SPACE), 'x'.repeat(500));
  await db.flush();
  const all = logs();
  const open = all.filter((l) => !fs.trace.includes(`close ${l}`));
  assert.deepEqual(open, [all[all.length - 1]], `WALs still open after the flush: ${open.join(' ')}`);
  const unsynced = all.slice(2, -1).filter((l) => !fs.trace.includes(`sync ${l}`));
  assert.ok(unsynced.length > 0, 'every switched-away WAL was synced, though only sync:false writes went to them');
  await db.close();
});

/** MemFs whose files refuse a sync after close (as a closed fd does), and whose directory syncs can be held. */
class StrictMemFs extends MemFs {
  held: Array<() => void> | undefined;
  override createWritable(p: string): WritableFile {
    const f = super.createWritable(p);
    let closed = false;
    return {
      path: f.path,
      get size() {
        return f.size;
      },
      append: (d: Uint8Array) => f.append(d),
      sync: () => (closed ? Promise.reject(new Error(`EBADF: sync of ${p} after close`)) : f.sync()),
      close: () => {
        closed = true;
        f.close();
      },
    };
  }
  override syncDir(d: string): Promise<void> {
    const held = this.held;
    if (held === undefined) return super.syncDir(d);
    return new Promise<void>((resolve) => held.push(() => void super.syncDir(d).then(resolve)));
  }
}

test('a WAL switch while a periodic sync is still running: the old WAL stays an unsynced older WAL, synced before a later sync write, never closed under a sync', async () => {
  const fs = new StrictMemFs();
  const opts = { ...OPTIONS, fs, compression: 'none' as const, level0CompactionTrigger: 100 };
  const db = await DB.open(DIR, opts);
  const periodic = db as unknown as { periodicWalSync(): void; periodicSync: Promise<void> | undefined };
  const turn = () => new Promise<void>((r) => setImmediate(r));
  const turns = async (until: () => boolean) => {
    for (let t = 0; t < 200 && !until(); t++) await turn();
    assert.ok(until(), 'timed out waiting');
  };
  // A first memtable, switched and flushed: the second WAL's directory entry is not synced yet.
  let i = 0;
  while (db.stats().memtableBytes < opts.writeBufferSize!) await db.put(keyName(i++ % KEY_SPACE), 'x'.repeat(500));
  await db.put('b', 'in the second WAL');
  await turns(() => db.stats().immutableMemtables === 0);
  // Let the obsolete-file cleanup and its directory sync finish.
  for (let t = 0; t < 50; t++) await turn();

  fs.held = [];
  // 1. The periodic sync (called directly: no timer) clears walDirty and waits on the directory.
  periodic.periodicWalSync();
  await turns(() => fs.held!.length === 1);
  // 2. flush() switches to a third WAL with no write in between; its MANIFEST update waits on the directory.
  const flushed = db.flush();
  await turns(() => fs.held!.length === 2);
  // 3. A sync write in the third WAL: syncs the second one first, then waits on the directory.
  let acked = false;
  const c = db.put('c', 'in the third WAL', { sync: true }).then(() => (acked = true));
  await turns(() => fs.held!.length === 3);
  const [periodicDir, flushDir, writeDir] = fs.held;
  fs.held = undefined;
  periodicDir!();
  writeDir!();
  await c;
  assert.ok(acked);
  assert.equal(db.stats().backgroundError, undefined);
  // A power loss now (the flush of the second memtable not done) keeps "c", so it keeps "b" too.
  const image = fs.crashImage();
  flushDir!();
  await flushed;
  await periodic.periodicSync;
  assert.equal(db.stats().backgroundError, undefined);
  await db.close();
  const again = await DB.open(DIR, { ...opts, fs: image });
  assert.equal(await again.get('c', { encoding: 'utf8' }), 'in the third WAL');
  assert.equal(await again.get('b', { encoding: 'utf8' }), 'in the second WAL');
  await again.close();
});

test('minimal: a failed directory fsync during flush() turns the database READ_ONLY', async () => {
  const fs = new FaultFs();
  const db = await DB.open(DIR, { ...OPTIONS, fs });
  for (let i = 0; i < 30; i++) await db.put(keyName(i), `v${i}`, { sync: true });
  fs.failSyncWhen((info) => info.kind === 'syncDir');
  await assert.rejects(db.flush(), (err: unknown) => isStrataError(err, ERROR_CODES.READ_ONLY) || isStrataError(err, ERROR_CODES.IO));
  // The fsync failure is not retried and nothing is acknowledged after it.
  await assert.rejects(db.put('after', 'x', { sync: true }), (err: unknown) => isStrataError(err, ERROR_CODES.READ_ONLY));
  assert.ok(db.stats().backgroundError, 'stats().backgroundError not set');
  assert.equal(await db.get(keyName(3), { encoding: 'utf8' }), 'v3');
  await db.close();
  const again = await DB.open(DIR, { ...OPTIONS, fs: fs.crashImage() });
  for (let i = 0; i < 30; i++) assert.equal(await again.get(keyName(i), { encoding: 'utf8' }), `v${i}`);
  await again.close();
});
