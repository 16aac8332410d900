import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  crc32c,
  getVarint,
  maskCrc,
  MemFs,
  NodeFs,
  prefixSuccessor,
  putVarint,
  SeededRandom,
  unmaskCrc,
  varintLength,
} from '../../src/base/index.js';

test('varints round-trip up to 2^53 and reject truncation', () => {
  const buf = Buffer.alloc(16);
  for (const n of [0, 1, 127, 128, 300, 16383, 16384, 2 ** 31, 2 ** 32 + 5, 2 ** 49 + 3]) {
    const end = putVarint(buf, 0, n);
    assert.equal(end, varintLength(n));
    const cur = { pos: 0 };
    assert.equal(getVarint(buf, cur), n);
    assert.equal(cur.pos, end);
    if (end > 1) assert.equal(getVarint(buf, { pos: 0 }, end - 1), -1, 'truncated varint');
  }
});

test('crc32c matches the Castagnoli check value; masking round-trips', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.from('56789'), crc32c(Buffer.from('1234'))), 0xe3069283);
  for (const c of [0, 1, 0xffffffff, 0xe3069283]) {
    assert.notEqual(maskCrc(c), c);
    assert.equal(unmaskCrc(maskCrc(c)), c);
  }
});

test('prefixSuccessor', () => {
  assert.deepEqual(prefixSuccessor(Buffer.from('ab')), Buffer.from('ac'));
  assert.deepEqual(prefixSuccessor(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
  assert.equal(prefixSuccessor(Buffer.from([0xff, 0xff])), undefined);
});

test('SeededRandom is reproducible and in range', () => {
  const a = new SeededRandom(42);
  const b = new SeededRandom(42);
  for (let i = 0; i < 1000; i++) {
    const x = a.int(3, 9);
    assert.equal(x, b.int(3, 9));
    assert.ok(x >= 3 && x <= 9);
    const f = a.float();
    assert.equal(f, b.float());
    assert.ok(f >= 0 && f < 1);
  }
});

test('MemFs crash image keeps synced bytes and synced names only', async () => {
  const fs = new MemFs();
  fs.mkdir('/d');
  const a = fs.createWritable('/d/a');
  a.append(Buffer.from('hello'));
  await a.sync();
  a.append(Buffer.from(' world'));
  await fs.syncDir('/d');
  const b = fs.createWritable('/d/b');
  b.append(Buffer.from('unsynced name'));
  await b.sync();
  let img = fs.crashImage();
  assert.equal(img.readFile('/d/a').toString(), 'hello', 'unsynced tail lost');
  assert.equal(img.exists('/d/b'), false, 'file whose directory entry was never synced is lost');
  fs.rename('/d/a', '/d/c');
  img = fs.crashImage();
  assert.ok(img.exists('/d/a') && !img.exists('/d/c'), 'rename without syncDir is undone');
  await fs.syncDir('/d');
  img = fs.crashImage();
  assert.ok(!img.exists('/d/a') && img.exists('/d/c') && img.exists('/d/b'));
  const copy = fs.clone();
  copy.createWritable('/d/x').append(Buffer.from('only in the copy'));
  assert.ok(copy.exists('/d/x') && !fs.exists('/d/x'), 'clone is independent');
  assert.equal(copy.crashImage().readFile('/d/c').toString(), 'hello world', 'clone makes everything visible durable');
  const torn = fs.crashImage(() => 8);
  assert.equal(torn.readFile('/d/c').toString(), 'hello wo', 'tear keeps a prefix of the unsynced tail');
});

test('NodeFs lock: same process refused, dead owner taken over, live owner refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-lock-'));
  try {
    const fs = new NodeFs();
    const p = join(dir, 'LOCK');
    const l = fs.lock(p);
    assert.throws(() => fs.lock(p), (e: { code?: string }) => e.code === 'LOCKED');
    l.release();
    // A lock file left by a process that has exited is stale.
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    writeFileSync(p, `${dead.stdout.trim()}\n`);
    fs.lock(p).release();
    // A lock held by a live process (our parent, which is alive) is refused.
    writeFileSync(p, `${process.ppid}\n`);
    assert.throws(() => fs.lock(p), (e: { code?: string }) => e.code === 'LOCKED');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
