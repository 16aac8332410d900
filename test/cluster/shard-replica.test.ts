// A shard replica's state machine over its own engine: commands apply with
// the leader's clock, client sessions make a retried command apply once,
// and the applied index commits atomically with the data (a reopen resumes
// after it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, MemFs } from '../../src/base/index.js';
import { EntryType } from '../../src/replication/index.js';
import { SESSION_TTL_MS, SYSTEM_PREFIX, ShardStateMachine, decodeWriteOutcome, encodeKvCommand } from '../../src/cluster/index.js';
import type { KvCommand, KvWrite } from '../../src/cluster/index.js';

let index = 0;
function entry(c: Partial<KvCommand> & { write: KvWrite }) {
  return { term: 1, index: ++index, type: EntryType.Normal, data: encodeKvCommand({ nowMs: 1000, client: '', seq: 0, ...c }) };
}
const b = (s: string) => Buffer.from(s);

test('applies writes, answers each entry, dedupes a retried session command, persists the applied index', async () => {
  index = 0;
  const fs = new MemFs();
  const clock = new ManualClock(1000);
  let sm = await ShardStateMachine.open({ dir: '/shard', fs, clock });
  assert.equal(sm.applied, 0);
  const out = await sm.apply([
    { term: 1, index: ++index, type: EntryType.ConfChange, data: new Uint8Array(0) },
    entry({ write: { op: 'set', key: b('a'), value: b('1'), options: {} } }),
    entry({ client: 'c1', seq: 1, write: { op: 'update', key: b('n'), mutation: { kind: 'incrBy', by: 5n } } }),
    // The same command again (a retry): answered from the session, not executed.
    entry({ client: 'c1', seq: 1, write: { op: 'update', key: b('n'), mutation: { kind: 'incrBy', by: 5n } } }),
    entry({ client: 'c1', seq: 2, write: { op: 'update', key: b('a'), mutation: { kind: 'incrBy', by: 1n } } }),
    entry({ write: { op: 'update', key: b('s'), mutation: { kind: 'append', data: b('x') } } }),
    entry({ write: { op: 'set', key: b('a'), value: b('2'), options: { ifEquals: b('nope') } } }),
    entry({ write: { op: 'set', key: Buffer.from([0xff, 0xff, 1]), value: b('x'), options: {} } }),
  ]);
  assert.equal(sm.applied, 8);
  const o = (i: number) => decodeWriteOutcome(out.get(i)!);
  assert.deepEqual(o(3), { ok: true, value: { op: 'update', result: { integer: 5n } } });
  assert.deepEqual(o(4), o(3));
  assert.deepEqual(o(5), { ok: true, value: { op: 'update', result: { integer: 2n } } });
  assert.deepEqual(o(7), { ok: true, value: { op: 'set', result: { written: false, previous: b('2') } } });
  const reserved = o(8);
  assert.equal(reserved.ok, false);
  assert.equal(reserved.ok === false && reserved.code, 'INVALID_ARGUMENT', 'client keys may not enter the system range');
  assert.equal((await sm.read({ op: 'get', key: b('n') })).op === 'get' && (await sm.service.get(b('n')))?.toString(), '5');
  // Whole-keyspace reads do not see the replica's own records.
  assert.equal((await sm.read({ op: 'keyspaceInfo' })).op === 'keyspaceInfo' && (await sm.service.count()), 3);
  const page = await sm.service.scan({ limit: 100 });
  assert.deepEqual(page.entries.map((e) => e.key.toString()), ['a', 'n', 's']);
  await sm.close();

  // Reopen: the applied index and the sessions came back with the data.
  sm = await ShardStateMachine.open({ dir: '/shard', fs, clock });
  assert.equal(sm.applied, 8);
  const again = await sm.apply([
    entry({ client: 'c1', seq: 2, write: { op: 'update', key: b('a'), mutation: { kind: 'incrBy', by: 1n } } }),
    entry({ client: 'c1', seq: 1, write: { op: 'set', key: b('z'), value: b('1'), options: {} } }),
  ]);
  assert.deepEqual(decodeWriteOutcome(again.get(9)!), { ok: true, value: { op: 'update', result: { integer: 2n } } });
  const stale = decodeWriteOutcome(again.get(10)!);
  assert.equal(stale.ok, false, 'an older command of a session is not executed');
  assert.equal(await sm.service.get(b('z')), undefined);
  // Entries at or below the applied index are skipped (a replay after restart).
  const replay = await sm.apply([{ term: 1, index: 9, type: EntryType.Normal, data: encodeKvCommand({ nowMs: 0, client: '', seq: 0, write: { op: 'set', key: b('a'), value: b('again'), options: {} } }) }]);
  assert.equal(replay.size, 0);
  assert.equal((await sm.service.get(b('a')))?.toString(), '2');
  await sm.close();
});

test('expiry uses the clock carried in the entry, the same on every replica', async () => {
  index = 0;
  const fs = new MemFs();
  const clock = new ManualClock(10_000);
  const sm = await ShardStateMachine.open({ dir: '/s2', fs, clock });
  // The leader proposed at t=1000 with an expiry at 5000: written (the replica's own clock says 10 000).
  const out = await sm.apply([entry({ nowMs: 1000, write: { op: 'set', key: b('k'), value: b('v'), options: { expireAtMs: 5000 } } })]);
  assert.deepEqual(decodeWriteOutcome(out.get(1)!), { ok: true, value: { op: 'set', result: { written: true, previous: undefined } } });
  // Read with the replica's clock: expired.
  assert.equal(await sm.service.get(b('k')), undefined);
  clock.advance(-8000);
  assert.equal((await sm.service.get(b('k')))?.toString(), 'v');
  // Compaction judges expiry by the log's time (1000), not the wall clock (10 000 at open): the key survives it,
  // so an entry replayed late (here at 1500) sees it live on every replica, compacted or not.
  clock.advance(8000);
  await sm.kv.compact();
  const late = await sm.apply([entry({ nowMs: 1500, write: { op: 'update', key: b('k'), mutation: { kind: 'append', data: b('+') } } })]);
  assert.deepEqual(decodeWriteOutcome(late.get(2)!), { ok: true, value: { op: 'update', result: { length: 2 } } });
  clock.advance(-8000);
  // clear runs on its own and keeps the applied index moving.
  const cleared = await sm.apply([entry({ write: { op: 'set', key: b('x'), value: b('1'), options: {} } }), entry({ write: { op: 'clear' } }), entry({ write: { op: 'set', key: b('y'), value: b('1'), options: {} } })]);
  assert.deepEqual(decodeWriteOutcome(cleared.get(4)!), { ok: true, value: { op: 'clear', deleted: 2 } });
  assert.equal(sm.applied, 5);
  assert.deepEqual((await sm.service.scan({ limit: 10 })).entries.map((e) => e.key.toString()), ['y']);
  await sm.close();
});

test('client sessions expire by the log`s clock: a retry within the TTL is answered, after it applies as new; compaction drops the record', async () => {
  index = 0;
  const fs = new MemFs();
  const clock = new ManualClock(0);
  let sm = await ShardStateMachine.open({ dir: '/s3', fs, clock });
  const incr = (nowMs: number, seq = 1) => entry({ nowMs, client: 'c9', seq, write: { op: 'update', key: b('n'), mutation: { kind: 'incrBy', by: 1n } } });
  const t0 = 1_000_000;
  await sm.apply([incr(t0)]);
  // The same command again just inside the TTL: answered from the session, not applied.
  const within = await sm.apply([incr(t0 + SESSION_TTL_MS - 1)]);
  assert.deepEqual(decodeWriteOutcome(within.get(index)!), { ok: true, value: { op: 'update', result: { integer: 1n } } });
  await sm.close();
  // Reopened (the record comes from the engine, with its expiry), the session still answers inside the TTL
  // (a dedup answer does not extend it) ...
  sm = await ShardStateMachine.open({ dir: '/s3', fs, clock });
  const reopened = await sm.apply([incr(t0 + SESSION_TTL_MS - 1)]);
  assert.deepEqual(decodeWriteOutcome(reopened.get(index)!), { ok: true, value: { op: 'update', result: { integer: 1n } } });
  // ... and past it the session is gone on every replica alike: the command applies as a new one.
  const after = await sm.apply([incr(t0 + SESSION_TTL_MS)]);
  assert.deepEqual(decodeWriteOutcome(after.get(index)!), { ok: true, value: { op: 'update', result: { integer: 2n } } });
  // An unrelated entry moves the log's clock past the new record's expiry; compaction then drops it from the engine.
  await sm.apply([entry({ nowMs: t0 + 3 * SESSION_TTL_MS, write: { op: 'set', key: b('other'), value: b('1'), options: {} } })]);
  await sm.kv.compact();
  assert.equal(sm.kv.db.getSync(Buffer.concat([SYSTEM_PREFIX, Buffer.from('session/c9')])), undefined);
  // Older sequence numbers of a forgotten session are new commands too.
  const old = await sm.apply([incr(t0 + 3 * SESSION_TTL_MS, 1)]);
  assert.deepEqual(decodeWriteOutcome(old.get(index)!), { ok: true, value: { op: 'update', result: { integer: 3n } } });
  await sm.close();
});
