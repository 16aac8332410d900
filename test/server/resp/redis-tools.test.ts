// The real redis-cli and redis-benchmark (Debian redis-tools) against the
// RESP front end on 127.0.0.1: single commands, commands read from stdin
// (redis-cli's line mode, which also asks COMMAND DOCS), --scan, --pipe,
// and a short redis-benchmark run whose keys exist afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { encodeCommand, startHarness } from './harness.js';

/** Finds redis-cli, installing redis-tools when missing and we are root; undefined (with the reason) when it cannot. */
function ensureRedisTools(): string | undefined {
  const has = () => {
    try {
      execFileSync('which', ['redis-cli', 'redis-benchmark'], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };
  if (has()) return undefined;
  if (process.getuid?.() !== 0) return 'redis-cli/redis-benchmark are not installed and we are not root (apt-get install -y redis-tools)';
  try {
    execFileSync('apt-get', ['install', '-y', 'redis-tools'], { stdio: 'pipe', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (err) {
    return `apt-get install -y redis-tools failed: ${err instanceof Error ? err.message : String(err)}`;
  }
  return has() ? undefined : 'redis-tools installed but redis-cli is still missing';
}

const missing = ensureRedisTools();
if (missing !== undefined) console.log(`# skipping redis-tools tests: ${missing}`);

/** Runs a tool without blocking the event loop (the server lives in this process). */
function run(cmd: string, args: string[], stdin?: string | Buffer): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code: code ?? -1 }));
    child.stdin.end(stdin ?? '');
  });
}

test('redis-cli: commands, stdin line mode, --scan, --pipe', { skip: missing, timeout: 60_000 }, async () => {
  const h = await startHarness();
  const cli = (...args: string[]) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(h.port), ...args]);
  try {
    assert.equal((await cli('SET', 'greeting', 'hello world')).stdout, 'OK\n');
    assert.equal((await cli('GET', 'greeting')).stdout, 'hello world\n');
    assert.equal((await cli('INCR', 'visits')).stdout, '1\n');
    assert.equal((await cli('INCRBY', 'visits', '9')).stdout, '10\n');
    assert.equal((await cli('--no-raw', 'GET', 'missing')).stdout, '(nil)\n');
    const bad = await cli('GET');
    assert.match(bad.stdout, /ERR wrong number of arguments for 'get' command/);
    // Line mode: commands read from stdin, one per line.
    const piped = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(h.port)], 'SET a 1\nAPPEND a 23\nGET a\nDBSIZE\n');
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, 'OK\n3\n123\n3\n');
    for (let i = 0; i < 250; i++) await h.service.set(Buffer.from(`user:${i}`), Buffer.from('v'));
    const scan = await cli('--scan', '--pattern', 'user:*');
    assert.equal(scan.code, 0, scan.stderr);
    const scanned = scan.stdout.trim().split('\n');
    assert.equal(scanned.length, 250);
    assert.equal(new Set(scanned).size, 250);
    // --pipe: raw protocol on stdin, then redis-cli's ECHO marker.
    const proto = Buffer.concat(Array.from({ length: 1000 }, (_, i) => encodeCommand('SET', `piped:${i}`, `value ${i}`)));
    const pipe = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(h.port), '--pipe'], proto);
    assert.equal(pipe.code, 0, pipe.stderr);
    assert.match(pipe.stdout, /errors: 0, replies: 1000/);
    assert.deepEqual(await h.service.get(Buffer.from('piped:999')), Buffer.from('value 999'));
  } finally {
    await h.close();
  }
});

test('redis-benchmark -t set,get -n 2000 -c 10 -q completes without errors and its keys exist', { skip: missing, timeout: 60_000 }, async () => {
  const h = await startHarness();
  try {
    const bench = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile('redis-benchmark', ['-h', '127.0.0.1', '-p', String(h.port), '-t', 'set,get', '-n', '2000', '-c', '10', '-q'], (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr })));
    });
    const out = bench.stdout.replace(/\r/g, '\n');
    assert.match(out, /SET: [\d.]+ requests per second/);
    assert.match(out, /GET: [\d.]+ requests per second/);
    assert.doesNotMatch(out + bench.stderr, /error|ERR/i);
    assert.equal((await h.service.get(Buffer.from('key:__rand_int__')))?.length, 3, 'redis-benchmark writes 3-byte values to key:__rand_int__');
    assert.match(await h.metrics.text(), /strata_commands_total\{protocol="resp",command="set",status="ok"\} 2000/);
    assert.match(await h.metrics.text(), /strata_commands_total\{protocol="resp",command="config",status="ok"\} [1-9]/);
  } finally {
    await h.close();
  }
});
