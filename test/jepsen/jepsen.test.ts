// The short Jepsen-style run of the default suite: a real 3-process cluster
// (4 shards, 3 replicas), 10 clients over ioredis, and a nemesis that kills
// (-9) and restarts a node, pauses one and cuts one off. The history must
// be linearizable and no acknowledged write may be lost. The positive
// control then runs on the same cluster (fresh keys) with READONLY (stale)
// reads during a partition: the checker must flag it, or it proves nothing.
// Last, on the same cluster, a membership change and a split: it grows 3 → 5
// nodes and shrinks back, and splits a shard in two, while the clients run,
// and the history must be linearizable.
// The long version is `npm run jepsen` (test/jepsen/run.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalCluster } from '../../src/cli/local-cluster.js';
import { checkLinearizable } from '../../src/sim/index.js';
import { historyOf, runJepsen, startJepsenCluster } from './harness.js';
import type { JepsenEvent, JepsenResult } from './harness.js';

const SEED = Number(process.env.JEPSEN_SEED ?? Date.now() % 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'strata-jepsen-test-'));
let cluster: LocalCluster | undefined;
/** Keep the temp dir (history, data directories) when a run found something. */
let keep = false;
const lines: string[] = [];
const log = (line: string) => lines.push(line);

/** What a failed assertion shows: the run's log and the checker's explanations. */
function explain(r: JepsenResult): string {
  return `seed ${SEED} (rerun with JEPSEN_SEED=${SEED})\n${lines.join('\n')}\n${r.reports.map((t) => t.split('\n').slice(0, 80).join('\n')).join('\n\n')}`;
}

before(async () => {
  cluster = await startJepsenCluster({ nodes: 3, baseDir: join(dir, 'cluster'), shards: 4 });
});

after(async () => {
  await cluster?.stop();
  if (keep) console.log(`jepsen: history and data directories kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
});

test('jepsen harness: events become the checker history (ok complete, info pending, fail dropped)', () => {
  let index = 0;
  const ev = (op: number, type: JepsenEvent['type'], f: JepsenEvent['f'], time: number, extra: Partial<JepsenEvent> = {}): JepsenEvent => ({ index: index++, type, process: `c${op}`, f, key: 'k', time, node: 'n1', op, ...extra });
  const events: JepsenEvent[] = [
    ev(0, 'invoke', 'write', 0, { value: 'a' }),
    ev(0, 'ok', 'write', 1, { value: 'a' }),
    ev(1, 'invoke', 'write', 2, { value: 'b' }),
    ev(1, 'info', 'write', 3, { value: 'b', error: 'Command timed out' }),
    ev(2, 'invoke', 'read', 4),
    ev(2, 'fail', 'read', 5, { error: 'Command timed out' }),
    ev(3, 'invoke', 'cas', 6, { value: 'c', expected: 'x' }),
    ev(3, 'ok', 'cas', 7, { value: 'c', expected: 'x', result: false }),
    ev(4, 'invoke', 'read', 8),
    ev(4, 'ok', 'read', 9, { result: 'b' }),
  ];
  const h = historyOf(events);
  assert.deepEqual(
    h.map((o) => [o.id, o.kind, o.ret, o.output]),
    [
      [0, 'write', 1, undefined],
      [1, 'write', undefined, undefined],
      [3, 'cas', 7, false],
      [4, 'read', 9, 'b'],
    ],
  );
  // The timed-out write may have happened: reading it is linearizable.
  assert.ok(checkLinearizable(h).ok);
  // A read of the first value after the second was seen is not (a stale read).
  const stale = historyOf([...events, ev(5, 'invoke', 'read', 10), ev(5, 'ok', 'read', 11, { result: 'a' })]);
  assert.equal(checkLinearizable(stale).violations.length, 1);
  // An absent read after an acknowledged write is not either (a lost write).
  const lost = historyOf([events[0]!, events[1]!, ev(6, 'invoke', 'read', 12), ev(6, 'ok', 'read', 13, { result: null })]);
  assert.equal(checkLinearizable(lost).violations.length, 1);
});

test('jepsen: linearizable under kill -9 + restart, pause and partition; no acknowledged write lost', { timeout: 150_000 }, async () => {
  const r = await runJepsen({
    seed: SEED,
    nodes: 3,
    keys: 120,
    clients: 10,
    durationMs: 15_000,
    faults: ['kill', 'pause', 'partition'],
    faultMs: [1500, 2500],
    quietMs: [1000, 1800],
    baseDir: dir,
    cluster: cluster!,
    keyPrefix: 'n:',
    log,
    historyFile: join(dir, `history-${SEED}.jsonl`),
  });
  const s = r.stats;
  console.log(lines.join('\n'));
  if (!r.result.ok || s.lostWrites.length > 0) keep = true;
  assert.ok(s.faultCounts.kill >= 1 && s.faultCounts.pause >= 1 && s.faultCounts.partition >= 1, `every kind of fault injected: ${JSON.stringify(s.faultCounts)}`);
  assert.equal(s.anomalies.length, 0, `non-linearizable keys: ${JSON.stringify(s.anomalies)}\n${explain(r)}`);
  assert.equal(s.undecided.length, 0, `keys the checker could not decide: ${JSON.stringify(s.undecided)}`);
  assert.ok(r.result.ok);
  assert.deepEqual(s.lostWrites, [], `keys with an acknowledged write but no value at the end\n${explain(r)}`);
  assert.deepEqual(s.finalUnread, [], 'every key read at the end');
  // Work got done through the faults (the machine may be slow: a low floor).
  assert.ok(s.ok >= 500, `only ${s.ok} ok ops\n${explain(r)}`);
  assert.ok(s.byKind.write.ok + s.casApplied >= 100, 'writes acknowledged');
  assert.ok(s.byKind.read.ok >= 200, 'reads answered');
  // A linearizable read on the isolated node cannot be answered (it fails or times out) while the majority moves on.
  for (const p of s.probes) assert.equal(p.read, 'failed', `linearizable read on an isolated node answered ${JSON.stringify(p)}`);
});

test('jepsen positive control: READONLY (stale) reads during a partition are flagged', { timeout: 120_000 }, async () => {
  lines.length = 0;
  const r = await runJepsen({
    seed: SEED + 1,
    nodes: 3,
    keys: 60,
    clients: 6,
    durationMs: 6000,
    faults: ['partition'],
    faultMs: [2500, 3000],
    quietMs: [800, 1200],
    staleReads: true,
    baseDir: dir,
    cluster: cluster!,
    keyPrefix: 'c:',
    log,
  });
  console.log(lines.join('\n'));
  const s = r.stats;
  assert.ok(s.faultCounts.partition >= 1);
  // The probe wrote through the majority, was acknowledged, then read the old state on the isolated node.
  assert.ok(s.probes.length >= 1, `a probe completed\n${lines.join('\n')}`);
  assert.ok(s.probes.some((p) => p.read !== p.written && p.read !== 'failed'), `the isolated node served a stale read: ${JSON.stringify(s.probes)}`);
  assert.ok(s.anomalies.length > 0, `the checker flags the stale reads\n${lines.join('\n')}`);
  const probeKeys = new Set(s.probes.filter((p) => p.read !== p.written && p.read !== 'failed').map((p) => p.key));
  assert.ok(s.anomalies.some((a) => probeKeys.has(a.key)), `the probe's stale read is one of the anomalies: ${JSON.stringify(s.anomalies)}`);
  assert.ok(r.reports[0]!.includes('NOT linearizable'));
});

test('jepsen: linearizable while the cluster grows 3 → 5 nodes and shrinks back and a shard splits; no acknowledged write lost', { timeout: 300_000 }, async () => {
  lines.length = 0;
  const r = await runJepsen({
    seed: SEED + 2,
    nodes: 3,
    keys: 80,
    clients: 8,
    durationMs: 3000,
    faults: ['membership', 'split'],
    quietMs: [500, 800],
    baseDir: dir,
    cluster: cluster!,
    keyPrefix: 'm:',
    log,
  });
  console.log(lines.join('\n'));
  const s = r.stats;
  if (!r.result.ok || s.lostWrites.length > 0) keep = true;
  assert.equal(s.faultCounts.membership, 1);
  assert.equal(s.faultCounts.split, 1);
  assert.match(lines.join('\n'), /grew 3 → 5 nodes in \d+ ms, shrank back in \d+ ms; every shard kept 3 replicas/);
  assert.match(lines.join('\n'), /shard \d+ split in \d+ ms: shard 4 took the upper half of its range; 5 shards/);
  assert.equal(s.anomalies.length, 0, `non-linearizable keys: ${JSON.stringify(s.anomalies)}\n${explain(r)}`);
  assert.equal(s.undecided.length, 0);
  assert.deepEqual(s.lostWrites, [], `keys with an acknowledged write but no value at the end\n${explain(r)}`);
  assert.deepEqual(s.finalUnread, []);
  assert.ok(s.byKind.write.ok + s.casApplied >= 100, `writes acknowledged during the change\n${explain(r)}`);
});
