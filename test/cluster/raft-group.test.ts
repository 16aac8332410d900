// The runtime around one Raft core: a one-member group elects itself,
// commits proposals with their outcomes, serves linearizable reads when
// idle (the answer comes back at once), and compacts its log.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemFs, SeededRandom } from '../../src/base/index.js';
import { DiskRaftLog, bootstrapLog } from '../../src/replication/index.js';
import type { Entry, Snapshot } from '../../src/replication/index.js';
import { RaftGroup } from '../../src/cluster/index.js';
import type { StateMachine } from '../../src/cluster/index.js';

class Counter implements StateMachine {
  applied = 0;
  total = 0;
  restored = 0;
  async apply(entries: readonly Entry[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    for (const e of entries) {
      this.applied = e.index;
      if (e.data.length === 0 || e.type !== 0) continue;
      this.total += e.data[0]!;
      out.set(e.index, new Uint8Array([this.total]));
    }
    return out;
  }
  async restore(s: Snapshot): Promise<void> {
    this.applied = s.meta.index;
    this.total = s.data[0] ?? 0;
    this.restored++;
  }
  snapshots = 0;
  snapshotData(): Uint8Array {
    this.snapshots++;
    return new Uint8Array([this.total]);
  }
}

test('a one-member group: proposals, idle linearizable reads, log compaction', async () => {
  const fs = new MemFs();
  const log = DiskRaftLog.open(fs, '/g');
  bootstrapLog(log, ['n1']);
  const sm = new Counter();
  const errors: unknown[] = [];
  const g = new RaftGroup({
    group: 'g',
    nodeId: 'n1',
    log,
    sm,
    random: new SeededRandom(1),
    send: () => undefined,
    electionTicks: 5,
    heartbeatTicks: 1,
    requestTimeoutMs: 2000,
    snapshotEntries: 20,
    bootId: new Uint8Array([1, 2, 3, 4]),
    onError: (e) => errors.push(e),
  });
  for (let i = 0; i < 20 && !g.isLeader; i++) g.tick();
  await new Promise((r) => setImmediate(r));
  assert.ok(g.isLeader);
  const first = await g.propose(new Uint8Array([5]));
  assert.deepEqual([...first.outcome], [5]);
  // An idle leader: the read index answer arrives synchronously; the read must still resolve (not time out).
  await new Promise((r) => setTimeout(r, 10));
  const t0 = Date.now();
  await g.readBarrier();
  assert.ok(Date.now() - t0 < 1000, 'an idle read is answered at once');
  for (let i = 0; i < 50; i++) await g.propose(new Uint8Array([1]));
  assert.equal(sm.total, 55);
  assert.ok(g.snapshotsTaken >= 2, `the log was compacted (${g.snapshotsTaken} snapshots)`);
  assert.ok(log.firstIndex() > 30, `entries before the snapshot are gone (first index ${log.firstIndex()})`);
  await g.waitApplied(sm.applied);
  await assert.rejects(g.waitApplied(Number.NaN), /bad log index/);
  // A requested snapshot (its files went missing) runs at once, even where the log already starts at the
  // applied index: the state machine makes its copy again, the log stays as it is.
  const taken = sm.snapshots;
  while (log.firstIndex() <= sm.applied) {
    g.requestSnapshot();
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(log.firstIndex(), sm.applied + 1);
  const before = sm.snapshots;
  assert.ok(before > taken);
  g.requestSnapshot();
  for (let i = 0; i < 5 && sm.snapshots === before; i++) await new Promise((r) => setImmediate(r));
  assert.equal(sm.snapshots, before + 1);
  assert.equal(log.firstIndex(), sm.applied + 1);
  await g.propose(new Uint8Array([1]));
  await g.close();
  assert.deepEqual(errors, []);

  // Reopen: the log starts at its latest snapshot, which holds the state as of its index.
  const log2 = DiskRaftLog.open(fs, '/g');
  const snap = log2.snapshot();
  assert.ok(snap.meta.index > 30 && snap.meta.index <= sm.applied);
  assert.equal(log2.firstIndex(), snap.meta.index + 1);
  log2.close();
});
