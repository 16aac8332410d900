import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemFs } from '../../src/base/mem-fs.js';
import { SeededRandom } from '../../src/base/random.js';
import { StrataError } from '../../src/base/errors.js';
import { FaultFs, SimulatedCrashError, isSimulatedCrash } from '../../src/sim/index.js';

function isCrash(err: unknown): boolean {
  assert.ok(err instanceof SimulatedCrashError, String(err));
  assert.equal(err.code, 'SIMULATED_CRASH');
  assert.ok(!(err instanceof StrataError));
  return true;
}

test('every Fs and file method call is one operation', async () => {
  const fs = new FaultFs();
  assert.equal(fs.opCount, 0);
  fs.mkdir('/db'); // 1
  const w = fs.createWritable('/db/a'); // 2
  w.append(Buffer.from('hello')); // 3
  assert.equal(w.size, 5); // property: not counted
  assert.equal(w.path, '/db/a');
  await w.sync(); // 4
  w.close(); // 5
  assert.equal(fs.opCount, 5);
  const r = fs.openRandomAccess('/db/a'); // 6
  assert.equal(r.size, 5);
  assert.equal(r.read(1, 3).toString(), 'ell'); // 7
  r.close(); // 8
  assert.equal(fs.readFile('/db/a').toString(), 'hello'); // 9
  assert.equal(fs.exists('/db/a'), true); // 10
  assert.deepEqual(fs.list('/db'), ['a']); // 11
  assert.equal(fs.fileSize('/db/a'), 5); // 12
  fs.rename('/db/a', '/db/b'); // 13
  await fs.syncDir('/db'); // 14
  const lock = fs.lock('/db/LOCK'); // 15
  lock.release(); // 16
  fs.remove('/db/b'); // 17
  assert.equal(fs.opCount, 17);
  assert.equal(fs.crashed, false);
  assert.ok(fs.inner instanceof MemFs);
  assert.equal(fs.inner.exists('/db/b'), false);
});

test('crashAfter(n): operation n+1 and every later one throws', async () => {
  for (let n = 0; n < 6; n++) {
    const fs = new FaultFs();
    fs.crashAfter(n);
    let done = 0;
    const steps: Array<() => unknown> = [
      () => fs.mkdir('/d'),
      () => fs.createWritable('/d/x').append(Buffer.from('1')),
      () => fs.list('/d'),
      () => fs.exists('/d/x'),
      () => fs.readFile('/d/x'),
      () => fs.fileSize('/d/x'),
      () => fs.remove('/d/x'),
    ];
    try {
      for (const s of steps) {
        s();
        done++;
      }
    } catch (err) {
      isCrash(err);
    }
    assert.equal(fs.crashed, true, `n=${n}`);
    // Steps before the crash point succeeded (step 1 is two operations).
    assert.equal(fs.opCount, n + 1);
    assert.ok(done <= n);
    assert.throws(() => fs.exists('/d'), isCrash);
    assert.throws(() => fs.mkdir('/e'), isCrash);
    await assert.rejects(fs.syncDir('/d'), isCrash);
    assert.equal(fs.opCount, n + 1, 'a dead process does no more operations');
  }
});

test('crash counts from when it is scheduled; open files die too', async () => {
  const fs = new FaultFs();
  fs.mkdir('/d');
  const w = fs.createWritable('/d/log');
  const r = (w.append(Buffer.from('abc')), fs.openRandomAccess('/d/log'));
  fs.crashAfter(2);
  w.append(Buffer.from('d'));
  await w.sync();
  assert.equal(fs.crashed, false);
  const pending = w.sync();
  assert.ok(pending instanceof Promise, 'sync rejects rather than throws');
  await assert.rejects(pending, isCrash);
  assert.equal(fs.crashed, true);
  assert.throws(() => w.append(Buffer.from('e')), isCrash);
  assert.throws(() => w.close(), isCrash);
  assert.throws(() => r.read(0, 1), isCrash);
  assert.equal(fs.inner.readFile('/d/log').toString(), 'abcd', 'the crashing operation had no effect');
  assert.ok(isSimulatedCrash(new SimulatedCrashError('x')));
});

test('crash image keeps synced data and drops unsynced data', async () => {
  const fs = new FaultFs();
  fs.mkdir('/d');
  const w = fs.createWritable('/d/log');
  await fs.syncDir('/d');
  w.append(Buffer.from('durable'));
  await w.sync();
  w.append(Buffer.from('-lost'));
  fs.crashAfter(0);
  assert.throws(() => w.append(Buffer.from('x')), isCrash);
  const img = fs.crashImage();
  assert.equal(img.readFile('/d/log').toString(), 'durable');
  // The image is a fresh, working MemFs.
  const next = new FaultFs(img);
  assert.equal(next.readFile('/d/log').toString(), 'durable');
  const w2 = next.createWritable('/d/new');
  w2.append(Buffer.from('ok'));
  assert.equal(next.readFile('/d/new').toString(), 'ok');
});

test('unsynced directory entries are undone in the image', async () => {
  const fs = new FaultFs();
  fs.mkdir('/d');
  for (const name of ['keep', 'old', 'gone']) {
    const w = fs.createWritable(`/d/${name}`);
    w.append(Buffer.from(name));
    await w.sync();
  }
  await fs.syncDir('/d');
  const c = fs.createWritable('/d/created');
  c.append(Buffer.from('c'));
  await c.sync(); // data synced, directory entry not
  fs.rename('/d/old', '/d/renamed');
  fs.remove('/d/gone');
  assert.deepEqual(fs.list('/d'), ['created', 'keep', 'renamed']);
  const img = fs.crashImage();
  assert.deepEqual(img.list('/d'), ['gone', 'keep', 'old']);
  assert.equal(img.readFile('/d/old').toString(), 'old');
  assert.equal(img.readFile('/d/gone').toString(), 'gone');
  // After syncDir the changes survive.
  await fs.syncDir('/d');
  assert.deepEqual(fs.crashImage().list('/d'), ['created', 'keep', 'renamed']);
});

test('tear keeps a random prefix of the unsynced tail', async () => {
  const lengths = new Set<number>();
  for (let seed = 0; seed < 40; seed++) {
    const fs = new FaultFs(undefined, { random: new SeededRandom(seed) });
    fs.mkdir('/d');
    const w = fs.createWritable('/d/log');
    await fs.syncDir('/d');
    w.append(Buffer.from('0123456789'));
    await w.sync();
    w.append(Buffer.from('abcdefghij'));
    w.append(Buffer.from('klmnopqrst'));
    const img = fs.crashImage({ tear: true });
    const got = img.readFile('/d/log').toString();
    assert.ok(got.length >= 10 && got.length <= 30, got);
    assert.equal(got, '0123456789abcdefghijklmnopqrst'.slice(0, got.length));
    lengths.add(got.length);
    // Without tear: exactly the synced bytes. An explicit random overrides.
    assert.equal(fs.crashImage().readFile('/d/log').toString(), '0123456789');
    const again = fs.crashImage({ tear: true, random: new SeededRandom(seed) });
    assert.equal(again.readFile('/d/log').length, got.length, 'deterministic for a seed');
  }
  assert.ok(lengths.size > 5, 'prefix length varies with the seed');
});

test('failSyncAfter: one sync rejects with IO, then all is well', async () => {
  const fs = new FaultFs();
  fs.mkdir('/d');
  const w = fs.createWritable('/d/log');
  w.append(Buffer.from('a'));
  fs.failSyncAfter(1);
  w.append(Buffer.from('b')); // within the n operations
  await assert.rejects(w.sync(), (err: unknown) => err instanceof StrataError && err.code === 'IO');
  assert.equal(fs.crashed, false);
  assert.equal(fs.crashImage().exists('/d/log'), false);
  await fs.syncDir('/d');
  assert.equal(fs.crashImage().readFile('/d/log').length, 0, 'the failed sync made nothing durable');
  await w.sync();
  assert.equal(fs.crashImage().readFile('/d/log').toString(), 'ab');
  // syncDir fails the same way.
  fs.failSyncAfter(0);
  await assert.rejects(fs.syncDir('/d'), (err: unknown) => err instanceof StrataError && err.code === 'IO');
  await fs.syncDir('/d');
});

test('failSyncWhen: predicate picks the sync to fail, once', async () => {
  const fs = new FaultFs();
  fs.mkdir('/d');
  const a = fs.createWritable('/d/a');
  const b = fs.createWritable('/d/b');
  const seen: string[] = [];
  fs.failSyncWhen((info) => {
    seen.push(`${info.kind} ${info.path} ${info.op}`);
    return info.kind === 'sync' && info.path === '/d/b';
  });
  await a.sync();
  await fs.syncDir('/d');
  await assert.rejects(b.sync(), (err: unknown) => err instanceof StrataError && err.code === 'IO');
  await b.sync();
  assert.deepEqual(seen, ['sync /d/a 4', 'syncDir /d 5', 'sync /d/b 6']);
});
