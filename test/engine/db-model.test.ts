// Model-based property test of the DB API: random command sequences run
// against an in-memory model (a Map of hex key -> hex value, sorted on
// demand) and, at the same time, against several databases opened with
// different table/compaction options (metamorphic: every configuration must
// return exactly what the model returns, hence the same as each other).
//
// Deterministic: a fixed fast-check seed (override with STRATA_SEED); on a
// failure fast-check prints the seed and the shrunk command path.
// STRATA_LONG_TESTS=1 runs 20x more sequences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemFs } from '../../src/base/mem-fs.js';
import { ERROR_CODES, isStrataError } from '../../src/base/errors.js';
import { open } from '../../src/engine/db.js';
import type { BatchOperation, DB } from '../../src/engine/db.js';
import type { DbIterator, IteratorOptions } from '../../src/engine/db-iterator.js';
import type { OpenOptions } from '../../src/engine/options.js';
import type { Snapshot } from '../../src/engine/snapshot.js';
import { WriteBatch } from '../../src/engine/write-batch.js';

const LONG = process.env.STRATA_LONG_TESTS !== undefined && process.env.STRATA_LONG_TESTS !== '' && process.env.STRATA_LONG_TESTS !== '0';
const SEED = process.env.STRATA_SEED !== undefined ? Number(process.env.STRATA_SEED) : 20240607;
const NUM_RUNS = LONG ? 2000 : 100;
const MAX_COMMANDS = LONG ? 120 : 60;

// ------------------------------------------------------------------ key space

/** 30 short keys (latin1 bytes): shared prefixes, the empty key, 0x00 and 0xff bytes. */
const KEY_STRINGS = [
  '', 'a', 'aa', 'aab', 'ab', 'abc', 'abd', 'b', 'ba', 'bab',
  'bb', 'c', 'ca', 'cab', 'd', 'da', 'db', 'e', 'ee', 'eee',
  'k1', 'k10', 'k2', 'x', '\x00', 'a\x00', 'a\xff', '\xff', '\xff\xff', '\xff\xff\xff',
];
const KEYS = KEY_STRINGS.map((s) => Buffer.from(s, 'latin1').toString('hex'));
/** Bounds and seek targets: the keys plus a few strings between or beyond them. */
const BOUNDS = [...KEYS, ...['ab\x00', 'b\xff', 'k', 'k1\x00', 'zz', '\x00\x00', '\xfe'].map((s) => Buffer.from(s, 'latin1').toString('hex'))];

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const buf = (h: string): Buffer => Buffer.from(h, 'hex');

function makeValue(tag: number, len: number): string {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (tag * 7 + (tag >>> 8) + i * 131) & 0xff;
  if (len >= 2) b.writeUInt16BE(tag & 0xffff, 0);
  return b.toString('hex');
}

// ------------------------------------------------------------------ model

interface IterSpec {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  prefix?: string;
  reverse: boolean;
  limit?: number;
  seek?: string;
}

type Pairs = Array<[string, string]>;

/** What an iteration over `data` returns, computed the obvious way. */
function expectedScan(data: ReadonlyMap<string, string>, s: IterSpec): Pairs {
  // Hex strings of byte strings sort exactly like the bytes.
  let keys = [...data.keys()].sort();
  keys = keys.filter(
    (k) =>
      (s.gt === undefined || k > s.gt) &&
      (s.gte === undefined || k >= s.gte) &&
      (s.lt === undefined || k < s.lt) &&
      (s.lte === undefined || k <= s.lte) &&
      (s.prefix === undefined || k.startsWith(s.prefix)) &&
      (s.seek === undefined || (s.reverse ? k <= s.seek : k >= s.seek)),
  );
  if (s.reverse) keys.reverse();
  if (s.limit !== undefined && s.limit >= 0) keys = keys.slice(0, s.limit);
  return keys.map((k) => [k, data.get(k)!]);
}

function iteratorOptions(s: IterSpec, snapshot?: Snapshot): IteratorOptions<Snapshot> {
  const o: IteratorOptions<Snapshot> = { reverse: s.reverse };
  if (s.gt !== undefined) o.gt = buf(s.gt);
  if (s.gte !== undefined) o.gte = buf(s.gte);
  if (s.lt !== undefined) o.lt = buf(s.lt);
  if (s.lte !== undefined) o.lte = buf(s.lte);
  if (s.prefix !== undefined) o.prefix = buf(s.prefix);
  if (s.limit !== undefined) o.limit = s.limit;
  if (snapshot !== undefined) o.snapshot = snapshot;
  return o;
}

interface Model {
  data: Map<string, string>;
  /** Copies of `data` at each live snapshot, oldest first. */
  snapshots: Array<Map<string, string>>;
  /** The entries the live iterator still has to return. */
  iter: Pairs | undefined;
}

interface Real {
  configs: OpenOptions[];
  fss: MemFs[];
  dbs: DB[];
  /** snapshots[i][d]: snapshot i of database d. */
  snapshots: Snapshot[][];
  iters: DbIterator[] | undefined;
  /** For the coverage check. */
  reopens: number;
  /** Compactions finished before each reopen (which resets the counters) and during compactRange calls. */
  closedCompactions: number;
  manualCompactions: number;
}

type Cmd = fc.AsyncCommand<Model, Real>;

function tag(real: Real, d: number): string {
  return `db ${d} ${JSON.stringify({ ...real.configs[d], fs: undefined })}`;
}

function pairs(entries: Array<[Buffer, Buffer]>): Pairs {
  return entries.map(([k, v]) => [hex(k), hex(v)]);
}

type ReadMode = 'nextv' | 'for-of' | 'for-await' | 'next' | 'scan';

async function readAll(db: DB, s: IterSpec, mode: ReadMode, chunk: number, snapshot?: Snapshot): Promise<Pairs> {
  const opts = iteratorOptions(s, snapshot);
  if (mode === 'scan' && s.seek === undefined) return pairs(await db.scan(opts));
  const it = db.iterator(opts);
  if (s.seek !== undefined) it.seek(buf(s.seek));
  const out: Array<[Buffer, Buffer]> = [];
  try {
    if (mode === 'for-of') {
      for (const e of it) out.push(e);
      assert.throws(() => it.nextSync(), (e: unknown) => isStrataError(e, ERROR_CODES.CLOSED), 'for-of must close the iterator');
    } else if (mode === 'for-await') {
      for await (const e of it) out.push(e);
    } else if (mode === 'next') {
      for (let e = await it.next(); e !== undefined; e = await it.next()) out.push(e);
      assert.equal(await it.next(), undefined, 'an exhausted iterator stays exhausted');
    } else {
      for (;;) {
        const batch = await it.nextv(chunk);
        assert.ok(batch.length <= chunk);
        out.push(...batch);
        if (batch.length < chunk) break;
      }
    }
  } finally {
    it.close();
  }
  return pairs(out);
}

// ------------------------------------------------------------------ commands

class PutCmd implements Cmd {
  constructor(
    readonly key: string,
    readonly value: string,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    for (const db of r.dbs) await db.put(buf(this.key), buf(this.value));
    m.data.set(this.key, this.value);
  }
  toString(): string {
    return `put(${this.key}, ${this.value.length / 2}B)`;
  }
}

class DelCmd implements Cmd {
  constructor(readonly key: string) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    for (const db of r.dbs) await (this.key.length % 4 === 0 ? db.del(buf(this.key)) : db.delete(buf(this.key)));
    m.data.delete(this.key);
  }
  toString(): string {
    return `del(${this.key})`;
  }
}

type Op = { put: true; key: string; value: string } | { put: false; key: string };

class BatchCmd implements Cmd {
  constructor(
    readonly ops: Op[],
    readonly asArray: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    for (const db of r.dbs) {
      if (this.asArray) {
        const ops: BatchOperation[] = this.ops.map((o) => (o.put ? { type: 'put', key: buf(o.key), value: buf(o.value) } : { type: 'del', key: buf(o.key) }));
        await db.write(ops);
      } else {
        const b = db.batch();
        assert.ok(b instanceof WriteBatch);
        for (const o of this.ops) {
          if (o.put) b.put(buf(o.key), buf(o.value));
          else b.delete(buf(o.key));
        }
        await db.write(b);
      }
    }
    for (const o of this.ops) {
      if (o.put) m.data.set(o.key, o.value);
      else m.data.delete(o.key);
    }
  }
  toString(): string {
    return `batch(${this.asArray ? 'array' : 'WriteBatch'}, ${this.ops.length} ops: ${this.ops
      .slice(0, 6)
      .map((o) => (o.put ? `+${o.key}` : `-${o.key}`))
      .join(' ')}${this.ops.length > 6 ? ' ...' : ''})`;
  }
}

class GetCmd implements Cmd {
  constructor(readonly key: string) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const want = m.data.get(this.key);
    for (let d = 0; d < r.dbs.length; d++) {
      const db = r.dbs[d]!;
      const got = await db.get(buf(this.key));
      assert.equal(got === undefined ? undefined : hex(got), want, `get ${this.key} on ${tag(r, d)}`);
      const sync = db.getSync(buf(this.key));
      assert.equal(sync === undefined ? undefined : hex(sync), want, `getSync ${this.key} on ${tag(r, d)}`);
      assert.equal(await db.has(buf(this.key)), want !== undefined, `has ${this.key} on ${tag(r, d)}`);
    }
  }
  toString(): string {
    return `get(${this.key})`;
  }
}

class GetManyCmd implements Cmd {
  constructor(readonly keys: string[]) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const want = this.keys.map((k) => m.data.get(k));
    for (let d = 0; d < r.dbs.length; d++) {
      const got = await r.dbs[d]!.getMany(this.keys.map(buf));
      assert.deepEqual(
        got.map((v) => (v === undefined ? undefined : hex(v))),
        want,
        `getMany on ${tag(r, d)}`,
      );
    }
  }
  toString(): string {
    return `getMany(${this.keys.join(',')})`;
  }
}

class IterateCmd implements Cmd {
  constructor(
    readonly spec: IterSpec,
    readonly mode: ReadMode,
    readonly chunk: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const want = expectedScan(m.data, this.spec);
    for (let d = 0; d < r.dbs.length; d++) {
      const got = await readAll(r.dbs[d]!, this.spec, this.mode, this.chunk);
      assert.deepEqual(got, want, `iterate ${JSON.stringify(this.spec)} via ${this.mode} on ${tag(r, d)}`);
    }
  }
  toString(): string {
    return `iterate(${JSON.stringify(this.spec)}, ${this.mode}/${this.chunk})`;
  }
}

class SnapshotCmd implements Cmd {
  check(m: Readonly<Model>): boolean {
    return m.snapshots.length < 4;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.snapshots.push(r.dbs.map((db) => db.snapshot()));
    m.snapshots.push(new Map(m.data));
  }
  toString(): string {
    return 'snapshot()';
  }
}

class SnapGetCmd implements Cmd {
  constructor(
    readonly idx: number,
    readonly keys: string[],
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.snapshots.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const i = this.idx % m.snapshots.length;
    const view = m.snapshots[i]!;
    const want = this.keys.map((k) => view.get(k));
    for (let d = 0; d < r.dbs.length; d++) {
      const snapshot = r.snapshots[i]![d]!;
      const db = r.dbs[d]!;
      const got = await db.getMany(this.keys.map(buf), { snapshot });
      assert.deepEqual(
        got.map((v) => (v === undefined ? undefined : hex(v))),
        want,
        `getMany at snapshot ${i} on ${tag(r, d)}`,
      );
      const one = await db.get(buf(this.keys[0]!), { snapshot });
      assert.equal(one === undefined ? undefined : hex(one), want[0], `get at snapshot ${i} on ${tag(r, d)}`);
    }
  }
  toString(): string {
    return `snapGet(#${this.idx}, ${this.keys.join(',')})`;
  }
}

class SnapIterateCmd implements Cmd {
  constructor(
    readonly idx: number,
    readonly spec: IterSpec,
    readonly mode: ReadMode,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.snapshots.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const i = this.idx % m.snapshots.length;
    const want = expectedScan(m.snapshots[i]!, this.spec);
    for (let d = 0; d < r.dbs.length; d++) {
      const got = await readAll(r.dbs[d]!, this.spec, this.mode, 3, r.snapshots[i]![d]!);
      assert.deepEqual(got, want, `iterate ${JSON.stringify(this.spec)} at snapshot ${i} on ${tag(r, d)}`);
    }
  }
  toString(): string {
    return `snapIterate(#${this.idx}, ${JSON.stringify(this.spec)}, ${this.mode})`;
  }
}

class ReleaseCmd implements Cmd {
  constructor(readonly idx: number) {}
  check(m: Readonly<Model>): boolean {
    return m.snapshots.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const i = this.idx % m.snapshots.length;
    const [snaps] = r.snapshots.splice(i, 1);
    for (let d = 0; d < r.dbs.length; d++) {
      const s = snaps![d]!;
      s.release();
      assert.equal(s.isReleased, true);
      await assert.rejects(r.dbs[d]!.get(Buffer.from('a'), { snapshot: s }), (e: unknown) => isStrataError(e, ERROR_CODES.CLOSED));
      assert.equal(r.dbs[d]!.stats().liveSnapshots, r.snapshots.length, `liveSnapshots on ${tag(r, d)}`);
    }
    m.snapshots.splice(i, 1);
  }
  toString(): string {
    return `release(#${this.idx})`;
  }
}

/** Opens a long-lived iterator: it must keep returning the state at its creation. */
class IterOpenCmd implements Cmd {
  constructor(readonly spec: IterSpec) {}
  check(m: Readonly<Model>): boolean {
    return m.iter === undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.iters = r.dbs.map((db) => {
      const it = db.iterator(iteratorOptions(this.spec));
      if (this.spec.seek !== undefined) it.seek(buf(this.spec.seek));
      return it;
    });
    m.iter = expectedScan(m.data, this.spec);
  }
  toString(): string {
    return `iterOpen(${JSON.stringify(this.spec)})`;
  }
}

class IterStepCmd implements Cmd {
  constructor(readonly n: number) {}
  check(m: Readonly<Model>): boolean {
    return m.iter !== undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    const want = m.iter!.slice(0, this.n);
    for (let d = 0; d < r.dbs.length; d++) {
      const got = pairs(r.iters![d]!.nextvSync(this.n));
      assert.deepEqual(got, want, `live iterator step ${this.n} on ${tag(r, d)}`);
    }
    m.iter = m.iter!.slice(this.n);
  }
  toString(): string {
    return `iterStep(${this.n})`;
  }
}

class IterCloseCmd implements Cmd {
  check(m: Readonly<Model>): boolean {
    return m.iter !== undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    for (let d = 0; d < r.dbs.length; d++) {
      const it = r.iters![d]!;
      it.close();
      it.close(); // idempotent
      assert.throws(() => it.nextSync(), (e: unknown) => isStrataError(e, ERROR_CODES.CLOSED));
    }
    r.iters = undefined;
    m.iter = undefined;
  }
  toString(): string {
    return 'iterClose()';
  }
}

class FlushCmd implements Cmd {
  check(): boolean {
    return true;
  }
  async run(_m: Model, r: Real): Promise<void> {
    for (let d = 0; d < r.dbs.length; d++) {
      const db = r.dbs[d]!;
      await db.flush();
      const st = db.stats();
      assert.equal(st.memtableEntries, 0, `memtable empty after flush on ${tag(r, d)}`);
      assert.equal(st.immutableMemtables, 0, `no immutable memtable after flush on ${tag(r, d)}`);
    }
  }
  toString(): string {
    return 'flush()';
  }
}

class CompactCmd implements Cmd {
  constructor(
    readonly lo: string | undefined,
    readonly hi: string | undefined,
  ) {}
  check(): boolean {
    return true;
  }
  async run(_m: Model, r: Real): Promise<void> {
    for (let d = 0; d < r.dbs.length; d++) {
      const db = r.dbs[d]!;
      const before = db.stats().compaction.count;
      await db.compactRange(this.lo === undefined ? undefined : buf(this.lo), this.hi === undefined ? undefined : buf(this.hi));
      assert.equal(db.stats().backgroundError, undefined, `no background error on ${tag(r, d)}`);
      r.manualCompactions += db.stats().compaction.count - before;
    }
  }
  toString(): string {
    return `compactRange(${this.lo ?? '-'}, ${this.hi ?? '-'})`;
  }
}

/**
 * Writes issued together without waiting for each other, with a flush() and a
 * compactRange() started in the middle of them: the commit queue keeps their
 * order, so the result is the ops applied in order.
 */
class BurstCmd implements Cmd {
  constructor(
    readonly ops: Op[],
    readonly flushAt: number,
    readonly compactAt: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    for (const db of r.dbs) {
      const ps: Promise<void>[] = [];
      this.ops.forEach((o, i) => {
        if (i === this.flushAt) ps.push(db.flush());
        if (i === this.compactAt) ps.push(db.compactRange());
        ps.push(o.put ? db.put(buf(o.key), buf(o.value), { sync: i % 7 === 0 }) : db.delete(buf(o.key)));
      });
      await Promise.all(ps);
    }
    for (const o of this.ops) {
      if (o.put) m.data.set(o.key, o.value);
      else m.data.delete(o.key);
    }
  }
  toString(): string {
    return `burst(${this.ops.length} ops, flush@${this.flushAt}, compact@${this.compactAt})`;
  }
}

class ReopenCmd implements Cmd {
  /** `pending`: writes issued (not awaited) right before close(), which must finish them. */
  constructor(readonly pending: Op[] = []) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const oldSnaps = r.snapshots.flat();
    const oldIters = r.iters;
    for (const db of r.dbs) r.closedCompactions += db.stats().compaction.count;
    // Every pending op takes one sequence number.
    const seqs = r.dbs.map((db) => db.stats().sequence + this.pending.length);
    const acks: Promise<void>[] = [];
    for (const db of r.dbs) {
      for (const o of this.pending) acks.push(o.put ? db.put(buf(o.key), buf(o.value)) : db.delete(buf(o.key)));
    }
    for (const o of this.pending) {
      if (o.put) m.data.set(o.key, o.value);
      else m.data.delete(o.key);
    }
    const closes = r.dbs.map((db) => db.close());
    for (const db of r.dbs) await assert.rejects(db.put(Buffer.from('late'), Buffer.from('x')), (e: unknown) => isStrataError(e, ERROR_CODES.CLOSED));
    await Promise.all(acks);
    await Promise.all(closes);
    for (const s of oldSnaps) assert.equal(s.isReleased, true, 'close releases snapshots');
    for (const it of oldIters ?? []) assert.throws(() => it.nextSync(), (e: unknown) => isStrataError(e, ERROR_CODES.CLOSED));
    for (let d = 0; d < r.dbs.length; d++) {
      r.dbs[d] = await open('/db', { ...r.configs[d], fs: r.fss[d] });
      assert.equal(r.dbs[d]!.stats().sequence, seqs[d], `sequence survives reopen on ${tag(r, d)}`);
    }
    r.snapshots = [];
    r.iters = undefined;
    r.reopens++;
    m.snapshots = [];
    m.iter = undefined;
  }
  toString(): string {
    return `reopen(${this.pending.map((o) => (o.put ? `+${o.key}` : `-${o.key}`)).join(' ')})`;
  }
}

// ------------------------------------------------------------------ arbitraries

const keyArb = fc.constantFrom(...KEYS);
const boundArb = fc.option(fc.constantFrom(...BOUNDS), { nil: undefined, freq: 3 });
const valueArb = fc.record({ tag: fc.nat(0xffff), len: fc.nat(300) }).map(({ tag: t, len }) => makeValue(t, len));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ put: fc.constant(true as const), key: keyArb, value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ put: fc.constant(false as const), key: keyArb }) },
);
const specArb: fc.Arbitrary<IterSpec> = fc
  .record({
    gt: boundArb,
    gte: boundArb,
    lt: boundArb,
    lte: boundArb,
    prefix: fc.option(fc.constantFrom(...KEYS.filter((k) => k.length <= 4), '61', '6162', 'ff', 'ffff', '00'), { nil: undefined, freq: 3 }),
    reverse: fc.boolean(),
    limit: fc.option(fc.integer({ min: -1, max: 12 }), { nil: undefined, freq: 2 }),
    seek: fc.option(fc.constantFrom(...BOUNDS), { nil: undefined, freq: 4 }),
  })
  .map((s) => {
    // Keep the spec printable and minimal: drop undefined fields.
    const out: IterSpec = { reverse: s.reverse };
    for (const k of ['gt', 'gte', 'lt', 'lte', 'prefix', 'limit', 'seek'] as const) if (s[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = s[k];
    return out;
  });
const modeArb = fc.constantFrom<ReadMode>('nextv', 'for-of', 'for-await', 'next', 'scan');

const commandArbs: Array<fc.Arbitrary<Cmd>> = [
  fc.tuple(keyArb, valueArb).map(([k, v]) => new PutCmd(k, v)),
  fc.tuple(keyArb, valueArb).map(([k, v]) => new PutCmd(k, v)),
  fc.tuple(keyArb, valueArb).map(([k, v]) => new PutCmd(k, v)),
  keyArb.map((k) => new DelCmd(k)),
  keyArb.map((k) => new DelCmd(k)),
  fc.tuple(fc.array(opArb, { minLength: 1, maxLength: 20 }), fc.boolean()).map(([ops, a]) => new BatchCmd(ops, a)),
  // Occasionally a large batch (~30-60 KiB), so memtables fill and flush on their own.
  fc.tuple(fc.array(opArb, { minLength: 150, maxLength: 400 }), fc.boolean()).map(([ops, a]) => new BatchCmd(ops, a)),
  keyArb.map((k) => new GetCmd(k)),
  fc.array(keyArb, { minLength: 0, maxLength: 8 }).map((ks) => new GetManyCmd(ks)),
  fc.tuple(specArb, modeArb, fc.integer({ min: 1, max: 7 })).map(([s, mode, c]) => new IterateCmd(s, mode, c)),
  fc.tuple(specArb, modeArb, fc.integer({ min: 1, max: 7 })).map(([s, mode, c]) => new IterateCmd(s, mode, c)),
  fc.constant(new SnapshotCmd()),
  fc.tuple(fc.nat(7), fc.array(keyArb, { minLength: 1, maxLength: 6 })).map(([i, ks]) => new SnapGetCmd(i, ks)),
  fc.tuple(fc.nat(7), specArb, modeArb).map(([i, s, mode]) => new SnapIterateCmd(i, s, mode)),
  fc.tuple(fc.nat(7), modeArb).map(([i, mode]) => new SnapIterateCmd(i, { reverse: false }, mode)),
  fc.nat(7).map((i) => new ReleaseCmd(i)),
  specArb.map((s) => new IterOpenCmd(s)),
  fc.integer({ min: 1, max: 6 }).map((n) => new IterStepCmd(n)),
  fc.constant(new IterCloseCmd()),
  fc.constant(new FlushCmd()),
  fc.tuple(boundArb, boundArb).map(([lo, hi]) => new CompactCmd(lo, hi)),
  fc.array(opArb, { maxLength: 4 }).map((ops) => new ReopenCmd(ops)),
  fc
    .tuple(fc.array(opArb, { minLength: 1, maxLength: 120 }), fc.nat(130), fc.nat(130))
    .map(([ops, f, c]) => new BurstCmd(ops, f, c)),
];

// ------------------------------------------------------------------ runner

const BASE: OpenOptions = { writeBufferSize: 64 * 1024 };

interface Coverage {
  runs: number;
  flushes: number;
  compactions: number;
  autoCompactions: number;
  maxTables: number;
  reopens: number;
}

async function runSequences(configs: OpenOptions[], seed: number, numRuns: number): Promise<Coverage> {
  const cov: Coverage = { runs: 0, flushes: 0, compactions: 0, autoCompactions: 0, maxTables: 0, reopens: 0 };
  await fc.assert(
    fc.asyncProperty(fc.commands(commandArbs, { maxCommands: MAX_COMMANDS, size: 'max' }), async (cmds) => {
      const real: Real = { configs, fss: [], dbs: [], snapshots: [], iters: undefined, reopens: 0, closedCompactions: 0, manualCompactions: 0 };
      try {
        for (const c of configs) {
          const fs = new MemFs();
          real.fss.push(fs);
          real.dbs.push(await open('/db', { ...c, fs }));
        }
        const model: Model = { data: new Map(), snapshots: [], iter: undefined };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        cov.runs++;
        cov.reopens += real.reopens;
        for (const db of real.dbs) {
          const st = db.stats();
          cov.flushes += st.flush.count;
          real.closedCompactions += st.compaction.count;
          cov.maxTables = Math.max(cov.maxTables, st.levels.reduce((n, l) => n + l.files, 0));
        }
        cov.compactions += real.closedCompactions;
        cov.autoCompactions += real.closedCompactions - real.manualCompactions;
        // Final full comparison, then again after a reopen (WAL replay + MANIFEST).
        const all = expectedScan(model.data, { reverse: false });
        for (let d = 0; d < real.dbs.length; d++) {
          assert.deepEqual(pairs(await real.dbs[d]!.scan()), all, `final scan on ${tag(real, d)}`);
        }
        await new ReopenCmd().run(model, real);
        for (let d = 0; d < real.dbs.length; d++) {
          assert.deepEqual(pairs(await real.dbs[d]!.scan({ reverse: true })), [...all].reverse(), `final reverse scan after reopen on ${tag(real, d)}`);
        }
      } finally {
        for (const it of real.iters ?? []) it.close();
        for (const db of real.dbs) await db.close();
      }
    }),
    { seed, numRuns },
  );
  return cov;
}

/** The sequences must really exercise flushes, compactions (background and manual) and reopens. */
function assertCoverage(cov: Coverage): void {
  assert.ok(cov.flushes > cov.runs, `flushes ${JSON.stringify(cov)}`);
  assert.ok(cov.compactions > 0 && cov.autoCompactions > 0, `compactions ${JSON.stringify(cov)}`);
  assert.ok(cov.maxTables >= 3, `tables ${JSON.stringify(cov)}`);
  assert.ok(cov.reopens > 0, `reopens ${JSON.stringify(cov)}`);
}

test('model: compression none vs snappy, bloom 0 vs 10, restart interval 1 vs 16, block 256 vs 4096', async () => {
  const cov = await runSequences(
    [
      { ...BASE, compression: 'none', bloomBitsPerKey: 0, blockRestartInterval: 1, blockSize: 256, blockCacheSize: 0, level0CompactionTrigger: 2 },
      { ...BASE, compression: 'snappy', bloomBitsPerKey: 10, blockRestartInterval: 16, blockSize: 4096 },
    ],
    SEED,
    NUM_RUNS,
  );
  console.log('# coverage', JSON.stringify(cov));
  assertCoverage(cov);
});

test('model: eager compaction (L0 trigger 1, 3 levels, 16 KiB outputs, few open files) vs defaults', async () => {
  const cov = await runSequences(
    [
      {
        ...BASE,
        numLevels: 3,
        level0CompactionTrigger: 1,
        targetFileSize: 16 * 1024,
        maxBytesForLevelBase: 64 * 1024,
        levelSizeMultiplier: 2,
        maxOpenFiles: 16,
        blockSize: 512,
        blockRestartInterval: 3,
        verifyChecksums: false,
      },
      { ...BASE },
    ],
    SEED + 1,
    NUM_RUNS,
  );
  console.log('# coverage', JSON.stringify(cov));
  assertCoverage(cov);
});
