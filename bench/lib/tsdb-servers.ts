/**
 * The two servers of `npm run bench:tsdb`, each a child process on a
 * loopback port with its own fresh data directory, stopped by PID
 * (SIGTERM, then SIGKILL after 30 s). Every child is tracked so the bench
 * can kill what is still running on an error or Ctrl-C.
 *
 * - VictoriaMetrics (single node): -retentionPeriod=100y (the data is from
 *   2016; the default 1 month would drop it), -search.disableCache (no
 *   rollup result cache, so repeated rounds do not hit a cache StrataDB
 *   does not have), errors-only logging. The port is a free one picked just
 *   before the start.
 * - StrataDB: `node dist/src/cli/main.js serve --data-dir <dir> --http-port 0
 *   --protocols http --log-level warn` with STRATA_PRINT_PORTS=1; the bound
 *   port is read from its `STRATA_PORTS {...}` line.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { dirBytes } from './measure.js';
import { HttpClient } from './tsdb-http.js';

const live = new Set<ChildProcess>();

/** Tracks a child process (a server, or a fork of the bench) so killAllChildren() stops it. */
export function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Kills every child still running (SIGKILL by PID); for the exit and SIGINT paths. */
export function killAllChildren(): void {
  for (const c of live) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  live.clear();
}

export interface ServerHandle {
  name: string;
  pid: number;
  dir: string;
  url: string;
  client: HttpClient;
  /** SIGTERM by PID and wait for the exit (SIGKILL after 30 s). */
  stop(): Promise<void>;
}

/** Keeps the last ~8 KB a child printed, for error messages. */
function tail(child: ChildProcess): () => string {
  let buf = '';
  const add = (c: Buffer) => {
    buf = (buf + c.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => buf.trim();
}

function stopper(child: ChildProcess, client: HttpClient): () => Promise<void> {
  return async () => {
    client.close();
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      live.delete(child);
      return;
    }
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }, 30_000);
    await exited;
    clearTimeout(timer);
    live.delete(child);
  };
}

/** A free loopback port (bound and released; the server binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ VictoriaMetrics

export function vmInstalled(bin: string): boolean {
  return existsSync(bin);
}

/** The Debian package version (the binary's -version prints nothing in this build). */
export function vmVersion(): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'victoria-metrics'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

export const VM_FLAGS = ['-retentionPeriod=100y', '-search.disableCache', '-loggerLevel=ERROR'];

export async function startVictoriaMetrics(bin: string, dir: string, maxSockets: number): Promise<ServerHandle> {
  const port = await freePort();
  const child = spawn(bin, [`-storageDataPath=${dir}`, `-httpListenAddr=127.0.0.1:${port}`, ...VM_FLAGS], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const out = tail(child);
  const url = `http://127.0.0.1:${port}`;
  const client = new HttpClient(url, maxSockets);
  const handle: ServerHandle = { name: 'VictoriaMetrics', pid: child.pid ?? -1, dir, url, client, stop: stopper(child, client) };
  const t0 = performance.now();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`VictoriaMetrics exited at start: ${out()}`);
    try {
      const r = await client.send('GET', '/health');
      if (r.status === 200) return handle;
    } catch {
      // Not listening yet.
    }
    if (performance.now() - t0 > 30_000) {
      await handle.stop();
      throw new Error(`VictoriaMetrics did not answer /health within 30 s: ${out()}`);
    }
    await delay(50);
  }
}

/** The sum of every sample of a metric family in VictoriaMetrics' /metrics text. */
function metricSum(text: string, name: string): number {
  let sum = 0;
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'gm');
  for (const m of text.matchAll(re)) sum += Number(m[1]);
  return sum;
}

export interface VmSettleResult {
  ms: number;
  polls: number;
}

/**
 * Makes VictoriaMetrics' data durable and fully merged: /internal/force_flush
 * (pending rows to parts), /internal/force_merge (all partitions; it starts
 * the merge in the background and answers at once), then polls /metrics
 * every 250 ms until no merge runs (vm_active_merges, vm_active_force_merges),
 * no row is pending (vm_pending_rows) and the directory size is the same on
 * two polls in a row.
 */
export async function vmFlushAndMerge(vm: ServerHandle, maxMs = 600_000): Promise<VmSettleResult> {
  const t0 = performance.now();
  const check = async (path: string) => {
    const r = await vm.client.send('GET', path);
    if (r.status !== 200 && r.status !== 204) throw new Error(`VictoriaMetrics ${path} answered ${r.status}: ${r.body.toString('utf8')}`);
  };
  await check('/internal/force_flush');
  await check('/internal/force_merge');
  let lastSize = -1;
  let stable = 0;
  let polls = 0;
  while (performance.now() - t0 < maxMs) {
    await delay(250);
    polls++;
    const text = (await vm.client.send('GET', '/metrics')).body.toString('utf8');
    const busy = metricSum(text, 'vm_active_merges') + metricSum(text, 'vm_active_force_merges') + metricSum(text, 'vm_pending_rows');
    const size = dirBytes(vm.dir).apparent;
    if (busy === 0 && size === lastSize) {
      if (++stable >= 2) return { ms: performance.now() - t0, polls };
    } else stable = 0;
    lastSize = size;
  }
  throw new Error(`VictoriaMetrics merges did not settle within ${maxMs / 1000} s`);
}

/** Bytes of VictoriaMetrics' storage dir: samples (data/), index (indexdb/) and everything. */
export function vmDiskBytes(dir: string): { data: number; index: number; total: number } {
  const part = (sub: string) => (existsSync(join(dir, sub)) ? dirBytes(join(dir, sub)).apparent : 0);
  return { data: part('data'), index: part('indexdb'), total: dirBytes(dir).apparent };
}

// ------------------------------------------------------------------ StrataDB

export async function startStrata(root: string, dir: string, maxSockets: number): Promise<ServerHandle> {
  const main = join(root, 'dist', 'src', 'cli', 'main.js');
  // BENCH_SERVER_NODE_ARGS: Node flags for the server, for diagnosis (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, main, 'serve', '--data-dir', dir, '--http-port', '0', '--protocols', 'http', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, STRATA_PRINT_PORTS: '1' },
  });
  live.add(child);
  const out = tail(child);
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`StrataDB printed no STRATA_PORTS line within 30 s: ${out()}`)), 30_000);
    const onData = (c: Buffer) => {
      buf += c.toString('utf8');
      const m = /STRATA_PORTS (\{[^\n]*\})/.exec(buf);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        const ports = JSON.parse(m[1]!) as { http?: number };
        if (ports.http === undefined) reject(new Error(`StrataDB started without HTTP: ${m[1]}`));
        else resolve(ports.http);
      }
      if (buf.length > 1 << 20) buf = buf.slice(-4096);
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`StrataDB exited at start (${signal ?? `code ${code}`}): ${out()}`));
    });
  }).catch(async (err: unknown) => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    live.delete(child);
    throw err;
  });
  const url = `http://127.0.0.1:${port}`;
  const client = new HttpClient(url, maxSockets);
  return { name: 'StrataDB', pid: child.pid ?? -1, dir, url, client, stop: stopper(child, client) };
}
