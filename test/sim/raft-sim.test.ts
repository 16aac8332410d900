/**
 * Raft proven by deterministic simulation: seeded runs of 3- and 5-node
 * clusters over a lossy, partitioning network with crashing disks, each
 * checked for Raft's invariants and its client history for linearizability.
 * RAFT_SEEDS=N runs more seeds (default 200); RAFT_SEED=s replays one.
 * Each run issues 1,100 client operations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DiskRaftLog } from '../../src/replication/index.js';
import { describeViolation, runRaftSim, type RaftSimOptions, type RaftSimResult, type UnsafeVariant } from '../../src/sim/index.js';

const openLog: RaftSimOptions['openLog'] = (fs, dir) => DiskRaftLog.open(fs, dir, { segmentBytes: 16 * 1024 });

/** The configuration a seed runs: sizes, read mode and pre-vote rotate with the seed. */
export function configFor(seed: number): RaftSimOptions {
  const variant = seed % 4;
  return {
    seed,
    openLog,
    ops: 1100,
    nodes: variant === 1 ? 5 : 3,
    readOnly: variant === 2 ? 'lease' : 'safe',
    preVote: variant !== 3,
  };
}

function explain(r: RaftSimResult): string {
  const parts = [`seed ${r.seed} failed (replay: RAFT_SEED=${r.seed} npm test -- raft-sim)`];
  parts.push(...r.violations.slice(0, 10));
  for (const v of r.check.violations.slice(0, 2)) parts.push(describeViolation(r.history, v.key));
  if (r.check.unknown.length > 0) parts.push(`checker budget exceeded on keys ${r.check.unknown.map((k) => k.key).join(', ')}`);
  return parts.join('\n');
}

const seedCount = Number(process.env.RAFT_SEEDS ?? 200);
const only = process.env.RAFT_SEED === undefined ? undefined : Number(process.env.RAFT_SEED);
const seeds = only !== undefined ? [only] : Array.from({ length: seedCount }, (_, i) => i + 1);

test(`${seeds.length} seeded runs keep every invariant and a linearizable history`, async (t) => {
  let ops = 0;
  let longest = 0;
  let completed = 0;
  let crashes = 0;
  let elections = 0;
  let snapshots = 0;
  const failures: string[] = [];
  for (const seed of seeds) {
    const r = await runRaftSim(configFor(seed));
    if (r.violations.length > 0 || !r.check.ok) failures.push(explain(r));
    // Every run must do real work under faults, or the check proves little.
    else if (r.stats.completed < 900) failures.push(`seed ${seed}: only ${r.stats.completed} of ${r.history.length} operations completed`);
    ops += r.history.length;
    completed += r.stats.completed;
    crashes += r.stats.crashes;
    elections += r.stats.elections;
    snapshots += r.stats.snapshotsInstalled;
    longest = Math.max(longest, r.check.longestKeyHistory);
  }
  assert.deepEqual(failures, []);
  t.diagnostic(`seeds ${seeds.length}, operations ${ops} (completed ${completed}), longest per-key history ${longest}, crashes ${crashes}, elections ${elections}, snapshots installed ${snapshots}`);
});

test('the same seed replays the same run (trace hash and history)', async () => {
  const a = await runRaftSim({ ...configFor(7), ops: 300 });
  const b = await runRaftSim({ ...configFor(7), ops: 300 });
  assert.equal(a.traceHash, b.traceHash);
  assert.deepEqual(a.history, b.history);
  const c = await runRaftSim({ ...configFor(8), ops: 300 });
  assert.notEqual(a.traceHash, c.traceHash);
});

/**
 * Positive controls: each deliberately unsafe variant must be caught within
 * the default seeds, proof that the checks can fail.
 */
for (const unsafe of ['local-reads', 'early-read-index', 'ack-before-durable'] as UnsafeVariant[]) {
  test(`positive control: the checks catch ${unsafe}`, async (t) => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = await runRaftSim({ ...configFor(seed), unsafe });
      if (r.violations.length > 0 || !r.check.ok) {
        t.diagnostic(`caught at seed ${seed}: ${r.violations[0] ?? `non-linearizable history on key ${r.check.violations[0]?.key}`}`);
        return;
      }
    }
    assert.fail(`${unsafe} was not caught in 200 seeds`);
  });
}
