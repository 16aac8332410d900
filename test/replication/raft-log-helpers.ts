/** Helpers shared by the file-based Raft log tests (DiskRaftLog, MultiRaftLog): data, a model of the calls, and a comparable description of a log. */
import { SeededRandom } from '../../src/base/index.js';
import type { Fs, MemFs } from '../../src/base/index.js';
import type { RaftLogStore, RaftStorage } from '../../src/replication/raft/storage.js';
import type { ConfState, Entry, HardState, Snapshot } from '../../src/replication/raft/types.js';

export function bytes(seed: number, len: number): Uint8Array {
  const r = new SeededRandom(seed);
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = r.int(0, 255);
  return b;
}

export function ent(index: number, term: number, data: Uint8Array | string, type: 0 | 1 = 0): Entry {
  return { index, term, type, data: typeof data === 'string' ? new Uint8Array(Buffer.from(data)) : data };
}

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Everything observable through RaftStorage, as one comparable string. */
export function describe(log: RaftStorage): string {
  const first = log.firstIndex();
  const last = log.lastIndex();
  const ents = last >= first ? log.entries(first, last + 1, Number.POSITIVE_INFINITY) : [];
  const terms: Array<number | undefined> = [];
  for (let i = first - 2; i <= last + 1; i++) terms.push(log.term(i));
  const snap = log.snapshot();
  const st = log.initialState();
  return JSON.stringify({
    first,
    last,
    terms,
    // Field by field: key order is not observable.
    hs: { term: st.hardState.term, vote: st.hardState.vote, commit: st.hardState.commit },
    conf: st.confState,
    snap: { meta: snap.meta, data: hex(snap.data) },
    ents: ents.map((e) => [e.index, e.term, e.type, hex(e.data)]),
  });
}

export const VOTES = ['', 'n1', 'n2', 'nöde-ü', 'n3'];

export function confOf(n: number): ConfState {
  const voters = Array.from({ length: 1 + (n % 4) }, (_, i) => `n${i + 1}`);
  const learners = n % 3 === 0 ? [] : Array.from({ length: n % 3 }, (_, i) => `l${i}-ñ`);
  return { voters, learners };
}

export type Op =
  | { t: 'append'; entries: Entry[] }
  | { t: 'hs'; hs: HardState }
  | { t: 'create'; index: number; conf: ConfState; data: Uint8Array }
  | { t: 'apply'; snap: Snapshot };

export function applyOp(log: RaftLogStore, op: Op): void {
  switch (op.t) {
    case 'append':
      log.append(op.entries);
      break;
    case 'hs':
      log.setHardState(op.hs);
      break;
    case 'create':
      log.createSnapshot(op.index, op.conf, op.data);
      break;
    case 'apply':
      log.applySnapshot(op.snap);
      break;
  }
}

/** Operations chosen by numbers, made concrete against the current state. */
export type AbsOp =
  | { t: 'append'; sel: number; n: number; term: number; seed: number; big: boolean }
  | { t: 'hs'; term: number; vote: number; commit: number }
  | { t: 'create'; sel: number; seed: number; conf: number }
  | { t: 'apply'; delta: number; term: number; seed: number; conf: number };

export function concretize(model: RaftStorage, a: AbsOp): Op | undefined {
  const off = model.firstIndex() - 1;
  const last = model.lastIndex();
  switch (a.t) {
    case 'append': {
      // From a little before the snapshot (skipped entries) to right after the last one.
      const lo = Math.max(1, off - 2);
      const start = lo + (a.sel % (last + 2 - lo));
      const entries: Entry[] = [];
      for (let i = 0; i < a.n; i++) {
        entries.push(ent(start + i, a.term, bytes(a.seed + i, a.big ? 150 + i : (a.seed + i) % 24), ((a.seed + i) % 2) as 0 | 1));
      }
      return { t: 'append', entries };
    }
    case 'hs':
      return { t: 'hs', hs: { term: a.term, vote: VOTES[a.vote % VOTES.length]!, commit: a.commit } };
    case 'create':
      if (last <= off) return undefined;
      return { t: 'create', index: off + 1 + (a.sel % (last - off)), conf: confOf(a.conf), data: bytes(a.seed, a.seed % 70) };
    case 'apply':
      return {
        t: 'apply',
        snap: { meta: { index: Math.max(0, last + a.delta), term: a.term, conf: confOf(a.conf) }, data: bytes(a.seed, a.seed % 90) },
      };
  }
}

/**
 * A MemFs whose sync and syncDir take effect when called but resolve only
 * after a macrotask, so that calls can be made at every await inside a sync.
 * `fileSyncWait` replaces the macrotask for file syncs (a test that holds them).
 */
export function slowSyncFs(inner: MemFs, fileSyncWait?: () => Promise<void>): Fs {
  const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
  const fileWait = fileSyncWait ?? tick;
  return {
    createWritable(path) {
      const f = inner.createWritable(path);
      return {
        path: f.path,
        get size() {
          return f.size;
        },
        append: (data) => f.append(data),
        sync: async () => {
          const done = f.sync();
          await fileWait();
          await done;
        },
        close: () => f.close(),
      };
    },
    openRandomAccess: (path) => inner.openRandomAccess(path),
    readFile: (path) => inner.readFile(path),
    exists: (path) => inner.exists(path),
    list: (dir) => inner.list(dir),
    fileSize: (path) => inner.fileSize(path),
    remove: (path) => inner.remove(path),
    removeAsync: (path) => inner.removeAsync(path),
    removeDir: (dir) => inner.removeDir(dir),
    rename: (from, to) => inner.rename(from, to),
    link: (from, to) => inner.link(from, to),
    mkdir: (dir) => inner.mkdir(dir),
    syncDir: async (dir) => {
      const done = inner.syncDir(dir);
      await tick();
      await done;
    },
    lock: (path) => inner.lock(path),
  };
}
