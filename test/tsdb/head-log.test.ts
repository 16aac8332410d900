// The head log: records come back in order after a crash (only synced bytes
// survive), a torn final append is dropped, damage elsewhere is CORRUPTION,
// full segments rotate and are deleted once every record in them is sealed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemFs, isStrataError } from '../../src/base/index.js';
import { FRAME_HEADER_BYTES, HeadLog } from '../../src/tsdb/head-log.js';

const payload = (i: number) => Buffer.from(`record-${i}-${'x'.repeat(i % 7)}`);

test('synced records survive a crash, unsynced ones may not, and a torn tail is dropped', async () => {
  const fs = new MemFs();
  const { log } = HeadLog.open(fs, '/d');
  for (let i = 1; i <= 10; i++) log.append(i, payload(i));
  await log.sync();
  log.append(11, payload(11));
  // Power loss, keeping a torn prefix of the unsynced append.
  const image = fs.crashImage((_p, synced, length) => synced + Math.floor((length - synced) / 2));
  const { records } = HeadLog.open(image, '/d');
  assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(records[4]!.payload, payload(5));
  await log.close();
});

test('concurrent syncs cover every record appended before each call', async () => {
  const fs = new MemFs();
  const { log } = HeadLog.open(fs, '/d');
  const syncs: Array<Promise<void>> = [];
  for (let i = 1; i <= 50; i++) {
    log.append(i, payload(i));
    syncs.push(log.sync());
  }
  await Promise.all(syncs);
  const { records } = HeadLog.open(fs.crashImage(), '/d');
  assert.equal(records.length, 50);
  await log.close();
});

test('a damaged record before the end is CORRUPTION naming the file', async () => {
  const fs = new MemFs();
  const { log } = HeadLog.open(fs, '/d');
  for (let i = 1; i <= 5; i++) log.append(i, payload(i));
  await log.close();
  const file = fs.list('/d').find((n) => n.startsWith('head-'))!;
  const bytes = Buffer.from(fs.readFile(`/d/${file}`));
  bytes[20] = bytes[20]! ^ 0xff;
  const w = fs.createWritable(`/d/${file}`);
  w.append(bytes);
  await w.sync();
  w.close();
  assert.throws(() => HeadLog.open(fs, '/d'), (e: unknown) => isStrataError(e, 'CORRUPTION') && (e as Error).message.includes(file));
});

test('full segments rotate; truncate deletes the ones wholly below the floor; reopen continues the numbering', async () => {
  const fs = new MemFs();
  const { log } = HeadLog.open(fs, '/d', { segmentBytes: 100 });
  for (let i = 1; i <= 40; i++) log.append(i, payload(i));
  await log.sync();
  const segments = () => fs.list('/d').filter((n) => n.startsWith('head-'));
  const before = segments().length;
  assert.ok(before >= 5, `${before} segments`);
  assert.ok(log.canTruncate(30));
  log.truncate(30);
  const after = segments().length;
  assert.ok(after < before && after >= 2, `${before} -> ${after}`);
  await log.close();
  const { log: again, records } = HeadLog.open(fs, '/d', { segmentBytes: 100 });
  // Every record from the first kept segment on is still there, in order, ending with 40.
  assert.equal(records[records.length - 1]!.seq, 40);
  assert.ok(records[0]!.seq <= 30);
  for (let i = 1; i < records.length; i++) assert.equal(records[i]!.seq, records[i - 1]!.seq + 1);
  assert.ok(segments().length === after + 1, 'a reopened log starts a new segment');
  await again.close();
});

test('a log whose every record is below the floor shrinks to one empty segment', async () => {
  const fs = new MemFs();
  const { log } = HeadLog.open(fs, '/d');
  for (let i = 1; i <= 10; i++) log.append(i, payload(i));
  await log.sync();
  assert.ok(log.canTruncate(11));
  log.truncate(11);
  const segments = fs.list('/d').filter((n) => n.startsWith('head-'));
  assert.equal(segments.length, 1);
  assert.equal(fs.fileSize(`/d/${segments[0]}`), 0);
  log.append(11, payload(11));
  await log.close();
  assert.deepEqual(HeadLog.open(fs, '/d').records.map((r) => r.seq), [11]);
});

test('appendFrame writes the same bytes as append, with the header in the record\'s headroom', async () => {
  const a = new MemFs();
  const b = new MemFs();
  const logA = HeadLog.open(a, '/d').log;
  const logB = HeadLog.open(b, '/d').log;
  for (let i = 1; i <= 20; i++) {
    logA.append(2 ** 33 + i, payload(i));
    const frame = Buffer.concat([Buffer.alloc(FRAME_HEADER_BYTES, 0xee), payload(i)]);
    logB.appendFrame(2 ** 33 + i, frame);
  }
  await Promise.all([logA.sync(), logB.sync()]);
  const files = a.list('/d');
  assert.deepEqual(b.list('/d'), files);
  for (const f of files) assert.ok(a.readFile(`/d/${f}`).equals(b.readFile(`/d/${f}`)), f);
  const { records } = HeadLog.open(b, '/d');
  assert.deepEqual(records.map((r) => r.seq - 2 ** 33), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.ok(records.every((r, i) => r.payload.equals(payload(i + 1))));
  await Promise.all([logA.close(), logB.close()]);
});
