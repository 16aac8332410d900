import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '../..');

test('the README example runs and prints what it promises', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'strata-example-'));
  try {
    const out = execFileSync(process.execPath, [join(root, 'examples/embedded.mjs')], { cwd, encoding: 'utf8' });
    const lines = out.split('\n');
    assert.equal(lines[0], 'red');
    assert.equal(lines[1], 'red', 'snapshot read must see the old value');
    assert.equal(lines[2], 'fruit:apple = green');
    assert.equal(lines[3], 'fruit:cherry = dark red');
    assert.ok(!out.includes('banana'), 'the batch deleted banana');
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('the time-series example writes line protocol and reads per-minute maxima', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'strata-example-ts-'));
  try {
    const out = execFileSync(process.execPath, [join(root, 'examples/timeseries.mjs')], { cwd, encoding: 'utf8' });
    assert.deepEqual(out.trim().split('\n'), [
      '2025-01-01T00:00:00.000Z host=a max(usage) = 59.5',
      '2025-01-01T00:01:00.000Z host=a max(usage) = 59.5',
      '2025-01-01T00:02:00.000Z host=a max(usage) = 59.5',
      '2025-01-01T00:00:00.000Z host=b max(usage) = 119',
      '2025-01-01T00:01:00.000Z host=b max(usage) = 119',
      '2025-01-01T00:02:00.000Z host=b max(usage) = 119',
      'plan: raw',
    ]);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('the CLI demo writes, reads back and reports stats', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-cli-'));
  try {
    const cli = join(root, 'dist/src/cli/main.js');
    const out = execFileSync(process.execPath, [cli, 'demo', '-d', dir, '-n', '5000'], { encoding: 'utf8' });
    assert.match(out, /read 5000\/5000 random keys/);
    assert.match(out, /user:00000000 = \{"id":0,"name":"user 0"\}/);
    const stats = execFileSync(process.execPath, [cli, 'db', 'stats', '-d', dir], { encoding: 'utf8' });
    assert.match(stats, /memtable .* entries\), sequence 5000/);
    const compact = execFileSync(process.execPath, [cli, 'db', 'compact', '-d', dir], { encoding: 'utf8' });
    assert.match(compact, /compaction finished/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the Raft example elects a leader, replicates to all three, and replays its durable logs on restart', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'strata-raft-example-'));
  try {
    const run = () => execFileSync(process.execPath, [join(root, 'examples/raft.mjs')], { cwd, encoding: 'utf8' });
    const first = run();
    assert.match(first, /^leader: n[123]$/m);
    for (const id of ['n1', 'n2', 'n3']) assert.match(first, new RegExp(`^${id} applied: hello world$`, 'm'));
    const second = run();
    for (const id of ['n1', 'n2', 'n3']) assert.match(second, new RegExp(`^${id} applied: hello world hello world$`, 'm'));
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
