/**
 * The load generator of `npm run bench:cluster`: one driver interface with
 * an etcd implementation (the npm `etcd3` client, gRPC) and a StrataDB one
 * (RESP through `ioredis`), a closed-loop phase runner (C workers, each
 * awaiting its op before issuing the next, so C ops are in flight), latency
 * percentiles, and CPU time of the client and server processes per phase.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import type { SeededRandom } from '../../src/base/index.js';

export interface KvDriver {
  readonly name: string;
  put(key: string, value: Buffer, worker: number): Promise<void>;
  /** A linearizable read. */
  get(key: string, worker: number): Promise<Buffer | null>;
  close(): Promise<void>;
}

/**
 * etcd through one `Etcd3` client over all member endpoints (etcd3 picks a
 * random endpoint per call; gRPC multiplexes every call of an endpoint on
 * one HTTP/2 connection). `get` is linearizable: etcd3 sends
 * serializable=false unless `.serializable(true)` is asked for. The client
 * keeps its default fault handling (3 retries, per-host circuit breaker).
 */
export class EtcdDriver implements KvDriver {
  readonly name = 'etcd';
  private readonly client: Etcd3;
  constructor(endpoints: string[]) {
    this.client = new Etcd3({ hosts: endpoints });
  }

  async put(key: string, value: Buffer): Promise<void> {
    await this.client.put(key).value(value).exec();
  }

  get(key: string): Promise<Buffer | null> {
    return this.client.get(key).buffer();
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/**
 * StrataDB over RESP: `connections` ioredis connections, connection i to
 * node i mod N; worker w always uses connection w mod `connections`, so with
 * connections = concurrency (the default) each connection has one command
 * in flight, as redis-benchmark -c does. Any node serves any key (it routes
 * writes to the shard's leader; GETs are linearizable, ReadIndex, unless the
 * connection sent READONLY, which this never does).
 */
export class RespDriver implements KvDriver {
  readonly name = 'strata';
  private readonly conns: Redis[];
  private constructor(conns: Redis[]) {
    this.conns = conns;
  }

  static async open(ports: number[], connections: number, host = '127.0.0.1'): Promise<RespDriver> {
    const connect = async (port: number): Promise<Redis> => {
      for (let attempt = 1; ; attempt++) {
        const c = new Redis({ host, port, lazyConnect: true, enableAutoPipelining: false, maxRetriesPerRequest: 1 });
        try {
          await c.connect();
          return c;
        } catch (err) {
          c.disconnect();
          if (attempt >= 3) throw new Error(`RESP connection to ${host}:${port} failed 3 times: ${err instanceof Error ? err.message : String(err)}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    const conns = await Promise.all(Array.from({ length: connections }, (_, i) => connect(ports[i % ports.length]!)));
    return new RespDriver(conns);
  }

  async put(key: string, value: Buffer, worker: number): Promise<void> {
    await this.conns[worker % this.conns.length]!.set(key, value);
  }

  get(key: string, worker: number): Promise<Buffer | null> {
    return this.conns[worker % this.conns.length]!.getBuffer(key);
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.disconnect();
  }
}

// ------------------------------------------------------------------ CPU time

let clkTck: number | undefined;

/** utime + stime of a process in ms (0 if it is gone). */
export function procCpuMs(pid: number): number {
  clkTck ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      return 100;
    }
  })();
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5), counted from field 3 (state) here.
    return ((Number(f[11]) + Number(f[12])) * 1000) / clkTck;
  } catch {
    return 0;
  }
}

const clientCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// ------------------------------------------------------------------ progress

const tty = process.stderr.isTTY === true;

export function status(line: string): void {
  if (tty) process.stderr.write('\r\x1b[2K');
  process.stderr.write(`${line}\n`);
}

export const fmtCount = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)}k` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(Math.round(n)));

/**
 * A progress line: redrawn in place every 200 ms on a terminal, printed
 * every 10 s otherwise. `text()` gives the line; `stop()` ends it.
 */
export function progressTicker(text: () => string): { stop: () => void } {
  const timer = setInterval(() => {
    if (tty) process.stderr.write(`\r\x1b[2K${text()}`);
    else process.stderr.write(`${text()}\n`);
  }, tty ? 200 : 10_000);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      if (tty) process.stderr.write('\r\x1b[2K');
    },
  };
}

// ------------------------------------------------------------------ phases

export interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
}

/** Nearest-rank percentiles of the samples (sorted in place). */
export function summarizeLatency(samples: Float64Array): LatencySummary {
  samples.sort();
  const n = samples.length;
  const at = (p: number) => (n === 0 ? NaN : samples[Math.min(n, Math.max(1, Math.ceil((p / 100) * n))) - 1]!);
  let sum = 0;
  for (const x of samples) sum += x;
  return { p50Ms: at(50), p99Ms: at(99), meanMs: n === 0 ? NaN : sum / n, maxMs: n === 0 ? NaN : samples[n - 1]! };
}

export interface PhaseResult extends LatencySummary {
  kind: 'put' | 'get';
  /** Ops that succeeded (and, for gets, returned a value of the right size). */
  ops: number;
  errors: number;
  /** Gets that answered no value or one of the wrong size (counted in errors too). */
  misses: number;
  errorExamples: string[];
  elapsedMs: number;
  opsPerSec: number;
  /** CPU time of the bench process (the load generator) and of all server processes, per successful op, in µs. */
  clientCpuUsPerOp: number;
  serverCpuUsPerOp: number;
  /** Server CPU over the phase as a share of one core (1.0 = one core busy). */
  serverCores: number;
  clientCores: number;
}

export interface PhaseOptions {
  kind: 'put' | 'get';
  driver: KvDriver;
  keys: readonly string[];
  values: readonly Buffer[];
  concurrency: number;
  /** Stop after this long (when ops is 0)… */
  durationMs: number;
  /** …or after this many completed ops (> 0). */
  ops: number;
  rnd: SeededRandom;
  /** Server processes whose CPU time is measured. */
  serverPids: () => number[];
  label: string;
  quiet?: boolean;
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200);

/** Runs one closed-loop phase: `concurrency` workers, each picking a uniformly random key per op. */
export async function runPhase(o: PhaseOptions): Promise<PhaseResult> {
  const cap = o.ops > 0 ? o.ops + o.concurrency : 1 << 16;
  let lat = new Float64Array(cap);
  let n = 0;
  let errors = 0;
  let misses = 0;
  const examples = new Map<string, number>();
  const valueLen = o.values[0]!.length;
  const pids = o.serverPids();
  const srv0 = pids.reduce((a, p) => a + procCpuMs(p), 0);
  const cli0 = clientCpuMs();
  const t0 = performance.now();
  const deadline = o.ops > 0 ? Infinity : t0 + o.durationMs;
  let issued = 0;
  const ticker = o.quiet
    ? undefined
    : progressTicker(() => {
        const el = (performance.now() - t0) / 1000;
        const of = o.ops > 0 ? `${fmtCount(n)} / ${fmtCount(o.ops)} ops` : `${el.toFixed(0)} / ${(o.durationMs / 1000).toFixed(0)} s, ${fmtCount(n)} ops`;
        return `  ${o.label}: ${of}, ${fmtCount(n / Math.max(el, 1e-9))} ops/s${errors > 0 ? `, ${errors} errors` : ''}`;
      });
  const record = (ms: number) => {
    if (n === lat.length) {
      const bigger = new Float64Array(lat.length * 2);
      bigger.set(lat);
      lat = bigger;
    }
    lat[n++] = ms;
  };
  const fail = (msg: string) => {
    errors++;
    examples.set(msg, (examples.get(msg) ?? 0) + 1);
  };
  const worker = async (w: number): Promise<void> => {
    while (performance.now() < deadline && (o.ops === 0 || issued < o.ops)) {
      issued++;
      const k = o.keys[o.rnd.int(0, o.keys.length - 1)]!;
      const s = performance.now();
      try {
        if (o.kind === 'put') {
          await o.driver.put(k, o.values[(issued + w) % o.values.length]!, w);
          record(performance.now() - s);
        } else {
          const v = await o.driver.get(k, w);
          if (v === null || v.length !== valueLen) {
            misses++;
            fail(v === null ? 'get: no value' : `get: ${v.length} bytes, expected ${valueLen}`);
          } else {
            record(performance.now() - s);
          }
        }
      } catch (err) {
        fail(errText(err));
        // Do not spin on a failing server.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
  } finally {
    ticker?.stop();
  }
  const elapsedMs = performance.now() - t0;
  const srvMs = pids.reduce((a, p) => a + procCpuMs(p), 0) - srv0;
  const cliMs = clientCpuMs() - cli0;
  const lats = summarizeLatency(lat.subarray(0, n));
  return {
    kind: o.kind,
    ops: n,
    errors,
    misses,
    errorExamples: [...examples].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([m, c]) => `${c}× ${m}`),
    elapsedMs,
    opsPerSec: (n * 1000) / elapsedMs,
    ...lats,
    clientCpuUsPerOp: n > 0 ? (cliMs * 1000) / n : NaN,
    serverCpuUsPerOp: n > 0 ? (srvMs * 1000) / n : NaN,
    serverCores: srvMs / elapsedMs,
    clientCores: cliMs / elapsedMs,
  };
}

/** Writes every key once (key i gets value i mod pool), `concurrency` in flight; retries a failed put up to 5 times. */
export async function preload(driver: KvDriver, keys: readonly string[], values: readonly Buffer[], concurrency: number, label: string): Promise<{ ms: number }> {
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  const ticker = progressTicker(() => `  ${label}: ${fmtCount(done)} / ${fmtCount(keys.length)} keys`);
  const worker = async (w: number): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= keys.length) return;
      for (let attempt = 0; ; attempt++) {
        try {
          await driver.put(keys[i]!, values[i % values.length]!, w);
          break;
        } catch (err) {
          if (attempt >= 5) throw new Error(`${label}: put ${keys[i]} failed 6 times: ${errText(err)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      done++;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, (_, w) => worker(w)));
  } finally {
    ticker.stop();
  }
  return { ms: performance.now() - t0 };
}
