// Shard snapshots as engine checkpoints: log compaction checkpoints the
// engine (no copy of the data in memory), a checkpoint streams to another
// replica in checksummed chunks and resumes where an interrupted attempt
// stopped, bad input is refused, the throttle paces bytes, and installing a
// checkpoint survives a crash part way.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { ERROR_CODES, MemFs, StrataError, crc32c } from '../../src/base/index.js';
import type { Message } from '../../src/replication/index.js';
import { EntryType, MessageType } from '../../src/replication/index.js';
import { ShardStateMachine, encodeKvCommand } from '../../src/cluster/index.js';
import type { KvWrite } from '../../src/cluster/index.js';
import { decodeCheckpointDescriptor } from '../../src/cluster/shard-snapshot.js';
import { SnapshotSender, Throttle, serveSnapshotRequest } from '../../src/cluster/snapshot-transfer.js';

const CHUNK = 4096;

async function filled(fs: MemFs, dir: string, writes: number): Promise<ShardStateMachine> {
  const sm = await ShardStateMachine.open({ dir: `${dir}/engine`, fs, engine: { writeBufferSize: 64 * 1024, compactionWorker: false } });
  let index = 0;
  const batch = [];
  for (let i = 0; i < writes; i++) {
    // Values that do not compress, so tables are several chunks long.
    const value = Buffer.concat(Array.from({ length: 1 + (i % 10) }, (_, j) => createHash('sha256').update(`${dir} ${i} ${j}`).digest()));
    const write: KvWrite = { op: 'set', key: Buffer.from(`key${i % 700}`), value, options: {} };
    batch.push({ term: 1, index: ++index, type: EntryType.Normal, data: encodeKvCommand({ nowMs: 1000, client: '', seq: 0, write }) });
    if (batch.length === 100) await sm.apply(batch.splice(0));
  }
  if (batch.length > 0) await sm.apply(batch);
  return sm;
}

function snapMessage(descriptor: Uint8Array, index: number): Message {
  return {
    type: MessageType.Snap,
    from: 'a',
    to: 'b',
    term: 1,
    index: 0,
    logTerm: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    hintTerm: 0,
    context: undefined,
    snapshot: { meta: { index, term: 1, conf: { voters: ['a'], learners: ['b'] } }, offset: 0, total: descriptor.length, data: descriptor },
  };
}

test('a checkpoint streams in chunks, resumes after an interrupted attempt without resending, and installs on the receiver', async () => {
  const fs = new MemFs();
  const a = await filled(fs, '/a', 3000);
  const descriptor = await a.snapshotData();
  const info = decodeCheckpointDescriptor(descriptor);
  assert.equal(info.index, a.applied);
  const total = info.files.reduce((s, f) => s + f.size, 0);
  assert.ok(total > 8 * CHUNK, `a checkpoint of several chunks (${total} bytes)`);
  const b = await ShardStateMachine.open({ dir: '/b/engine', fs, engine: { compactionWorker: false } });

  let chunks = 0;
  let failAt = 5;
  const forwarded: Message[] = [];
  const settled: Array<() => void> = [];
  let now = 1_000_000;
  const sender = new SnapshotSender({
    fs,
    now: () => now,
    chunkBytes: CHUNK,
    throttle: new Throttle(0),
    request: async (_to, method, payload) => {
      if (method === 'snap.chunk' && ++chunks === failAt) throw new StrataError(ERROR_CODES.UNAVAILABLE, 'connection lost');
      return serveSnapshotRequest(method, payload, () => b.snapshots);
    },
    forward: (_to, _group, msg) => forwarded.push(msg),
    snapshotsOf: () => a.snapshots,
    onMissing: () => assert.fail('the checkpoint is there'),
    log: (level, msg) => {
      if (/interrupted|sent snapshot/.test(msg)) settled.shift()?.();
    },
  });
  const attempt = () => new Promise<void>((r) => settled.push(r));
  let done = attempt();
  sender.send('b', 'ks/0', snapMessage(descriptor, info.index));
  // The core resends while the files stream: held back, not forwarded.
  sender.send('b', 'ks/0', snapMessage(descriptor, info.index));
  await done;
  assert.equal(sender.progress()[0]!.state, 'failed');
  const sentFirst = sender.progress()[0]!.bytesSent;
  assert.ok(sentFirst > 0 && sentFirst < total);
  assert.equal(forwarded.length, 0, 'nothing forwarded before the files are there');

  failAt = -1;
  done = attempt();
  sender.send('b', 'ks/0', snapMessage(descriptor, info.index));
  await done;
  const p = sender.progress()[0]!;
  assert.equal(p.state, 'done');
  // The second attempt sent only what the receiver lacked.
  assert.equal(sentFirst + p.bytesSent, total);
  assert.equal(p.bytesDone, total);
  assert.equal(forwarded.length, 1);
  // Once done, a resend goes straight through for a while.
  sender.send('b', 'ks/0', snapMessage(descriptor, info.index));
  assert.equal(forwarded.length, 2);
  // Later the files are offered again (the receiver may have lost them); it still has them: nothing is resent.
  now += 11_000;
  done = attempt();
  sender.send('b', 'ks/0', snapMessage(descriptor, info.index));
  assert.equal(forwarded.length, 2);
  await done;
  assert.equal(sender.progress()[0]!.bytesSent, 0);
  assert.equal(forwarded.length, 3);

  await b.restore({ meta: { index: info.index, term: 1, conf: { voters: ['a'], learners: ['b'] } }, data: descriptor });
  assert.equal(b.applied, a.applied);
  for (const k of ['key0', 'key1', 'key699']) assert.deepEqual(await b.kv.get(Buffer.from(k)), await a.kv.get(Buffer.from(k)));
  // The installed engine is a working replica: it reopens with the same state.
  await b.close();
  const b2 = await ShardStateMachine.open({ dir: '/b/engine', fs, engine: { compactionWorker: false } });
  assert.equal(b2.applied, a.applied);
  assert.deepEqual(await b2.kv.get(Buffer.from('key5')), await a.kv.get(Buffer.from('key5')));
  await b2.close();
  await a.close();
});

test('a receiver that restarts keeps whole files and begins the others again; bad chunks and names are refused', async () => {
  const fs = new MemFs();
  const a = await filled(fs, '/a', 2000);
  const info = decodeCheckpointDescriptor(await a.snapshotData());
  const big = info.files.filter((f) => f.size > 2 * CHUNK);
  assert.ok(big.length >= 1);
  const b = await ShardStateMachine.open({ dir: '/b/engine', fs, engine: { compactionWorker: false } });
  const have = b.snapshots.beginReceive(info);
  assert.deepEqual(have, {});
  const read = (name: string, off: number, len: number) => fs.readFile(a.snapshots.path(info.index, name)).subarray(off, off + len);
  // One whole file, and half of another.
  const [whole, half] = [info.files.find((f) => f.name === 'CURRENT')!, big[0]!];
  const wholeData = read(whole.name, 0, whole.size);
  assert.equal(b.snapshots.writeChunk(info.index, whole.name, 0, wholeData, crc32c(wholeData)), whole.size);
  await b.snapshots.finishFile(info.index, whole.name, crc32c(wholeData));
  const part = read(half.name, 0, CHUNK);
  assert.equal(b.snapshots.writeChunk(info.index, half.name, 0, part, crc32c(part)), CHUNK);
  // A chunk at the wrong offset is answered with the offset wanted; a bad checksum is corruption.
  assert.equal(b.snapshots.writeChunk(info.index, half.name, 3 * CHUNK, part, crc32c(part)), CHUNK);
  assert.throws(() => b.snapshots.writeChunk(info.index, half.name, CHUNK, part, crc32c(part) ^ 1), (e: unknown) => e instanceof StrataError && e.code === ERROR_CODES.CORRUPTION);
  // The same process resumes mid-file.
  assert.deepEqual(b.snapshots.beginReceive(info), { [whole.name]: whole.size, [half.name]: CHUNK });
  // A whole-file checksum that does not match drops the file.
  const rest = read(half.name, CHUNK, half.size - CHUNK);
  b.snapshots.writeChunk(info.index, half.name, CHUNK, rest, crc32c(rest));
  await assert.rejects(b.snapshots.finishFile(info.index, half.name, 12345), (e: unknown) => e instanceof StrataError && e.code === ERROR_CODES.CORRUPTION);
  b.snapshots.writeChunk(info.index, half.name, 0, part, crc32c(part));
  // A restart: the whole file is kept, the partial one begins again.
  await b.close();
  const b2 = await ShardStateMachine.open({ dir: '/b/engine', fs, engine: { compactionWorker: false } });
  assert.deepEqual(b2.snapshots.beginReceive(info), { [whole.name]: whole.size });
  await assert.rejects(b2.snapshots.finishReceive(info.index), /not complete/);
  // Names that are not engine files, or sizes out of range, are refused before anything is written.
  for (const bad of ['../../etc/passwd', 'LOCK', '000001.sst/x']) {
    assert.throws(() => b2.snapshots.beginReceive({ index: 9, files: [{ name: bad, size: 1 }, { name: 'CURRENT', size: 1 }] }), (e: unknown) => e instanceof StrataError && e.code === ERROR_CODES.INVALID_ARGUMENT);
  }
  await assert.rejects(serveSnapshotRequest('snap.chunk', new Uint8Array([1, 2]), () => b2.snapshots), (e: unknown) => e instanceof StrataError && e.code === ERROR_CODES.PROTOCOL);
  await assert.rejects(serveSnapshotRequest('snap.file', Buffer.from('{"group":"g","index":-1,"name":"CURRENT","crc":0}'), () => b2.snapshots), (e: unknown) => e instanceof StrataError && e.code === ERROR_CODES.PROTOCOL);
  await assert.rejects(serveSnapshotRequest('snap.begin', Buffer.from('{"group":"g"}'), () => undefined), (e: unknown) => e instanceof StrataError && e.code === ERROR_CODES.UNAVAILABLE);
  await b2.close();
  await a.close();
});

test('log compaction keeps the newest checkpoints only, and those a transfer is reading', async () => {
  const fs = new MemFs();
  const a = await filled(fs, '/a', 500);
  const first = decodeCheckpointDescriptor(await a.snapshotData()).index;
  a.snapshots.acquire(first);
  const more = async (n: number) => {
    const batch = [];
    for (let i = 0; i < n; i++) {
      batch.push({ term: 1, index: a.applied + i + 1, type: EntryType.Normal, data: encodeKvCommand({ nowMs: 1000, client: '', seq: 0, write: { op: 'set', key: Buffer.from(`m${i}`), value: Buffer.from('x'), options: {} } }) });
    }
    await a.apply(batch);
    return decodeCheckpointDescriptor(await a.snapshotData()).index;
  };
  const second = await more(10);
  const third = await more(10);
  const fourth = await more(10);
  const dirs = fs.list('/a/snap').map(Number);
  // The newest, the one before it (the log may not have made the newest durable yet), and the one in use.
  assert.deepEqual(dirs, [first, third, fourth]);
  assert.ok(second > first);
  a.snapshots.release(first);
  await more(10);
  assert.equal(fs.list('/a/snap').length, 2);
  await a.close();
});

test('an install interrupted by a crash is finished before the engine opens', async () => {
  const fs = new MemFs();
  const a = await filled(fs, '/a', 1500);
  const descriptor = await a.snapshotData();
  const info = decodeCheckpointDescriptor(descriptor);
  const want = await a.kv.get(Buffer.from('key42'));
  await a.close();
  // A replica whose snapshot directory holds the received checkpoint, and whose engine was half replaced when
  // the process died: the INSTALL marker is there, some old files are gone, some new ones linked.
  const b = await filled(fs, '/b', 50);
  b.snapshots.beginReceive(info);
  for (const f of info.files) {
    const data = fs.readFile(`/a/snap/${info.index}/${f.name}`);
    b.snapshots.writeChunk(info.index, f.name, 0, data, crc32c(data));
    await b.snapshots.finishFile(info.index, f.name, crc32c(data));
  }
  await b.snapshots.finishReceive(info.index);
  await b.close();
  const marker = fs.createWritable('/b/snap/INSTALL');
  marker.append(Buffer.from(String(info.index)));
  await marker.sync();
  marker.close();
  const old = fs.list('/b/engine');
  fs.remove(`/b/engine/${old.find((n) => n.startsWith('MANIFEST-'))!}`);
  fs.link(`/b/snap/${info.index}/CURRENT`, '/b/engine/CURRENT.new');
  const b2 = await ShardStateMachine.open({ dir: '/b/engine', fs, engine: { compactionWorker: false } });
  assert.equal(b2.applied, info.index);
  assert.deepEqual(await b2.kv.get(Buffer.from('key42')), want);
  assert.equal(fs.exists('/b/snap/INSTALL'), false);
  await b2.close();
});

test('the throttle paces bytes to the configured rate across transfers', async () => {
  let now = 0;
  const slept: number[] = [];
  const t = new Throttle(1024 * 1024, () => now, async (ms) => {
    slept.push(ms);
    now += ms;
  });
  for (let i = 0; i < 4; i++) await t.take(512 * 1024);
  // 2 MiB at 1 MiB/s: the first chunk goes at once, then one every 500 ms.
  assert.deepEqual(slept, [500, 500, 500]);
  assert.equal(now, 1500);
  const free = new Throttle(0, () => now, async () => assert.fail('unlimited never sleeps'));
  await free.take(1 << 30);
});
