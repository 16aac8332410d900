/**
 * What a child process measures around one timed workload: disk writes
 * (/proc/self/io), peak RSS, event-loop delay, bytes on disk, plus the
 * progress line on stderr.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';

export interface IoCounters {
  writeBytes: number;
  cancelledWriteBytes: number;
  /** Bytes passed to write(2)-like calls, including ones the page cache absorbed. */
  wchar: number;
}

/**
 * This process's (all threads': /proc/<pid>/io sums the thread group) I/O
 * accounting. write_bytes counts pages dirtied for storage, so background
 * compaction threads, worker_threads and lmdb's write thread are included.
 * Linux only: elsewhere every field reads 0 and write amplification shows "n/a".
 */
export function readIo(): IoCounters {
  try {
    const text = readFileSync('/proc/self/io', 'latin1');
    const field = (name: string) => {
      const m = new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text);
      return m ? Number(m[1]) : 0;
    };
    return { writeBytes: field('write_bytes'), cancelledWriteBytes: field('cancelled_write_bytes'), wchar: field('wchar') };
  } catch {
    return { writeBytes: 0, cancelledWriteBytes: 0, wchar: 0 };
  }
}

export const ioAvailable = (): boolean => {
  try {
    readFileSync('/proc/self/io', 'latin1');
    return true;
  } catch {
    return false;
  }
};

/** Disk usage of a directory tree: allocated blocks (as du) and apparent sizes; a file with several hard links counts once. */
export function dirBytes(dir: string): { allocated: number; apparent: number } {
  let allocated = 0;
  let apparent = 0;
  const seen = new Set<string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        const inode = `${st.dev}:${st.ino}`;
        if (seen.has(inode)) continue;
        seen.add(inode);
        allocated += st.blocks * 512;
        apparent += st.size;
      }
    }
  };
  walk(dir);
  return { allocated, apparent };
}

export interface EventLoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export interface ProgressLabel {
  engine: string;
  workload: string;
  run: number;
  runs: number;
  total: number;
}

/**
 * 1234567 -> "1,234,567". Not toLocaleString: its first call in a process loads ICU's number
 * formatting, ~17 ms of the event loop, and the first progress line is drawn as a workload starts.
 */
const fmtInt = (n: number) => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/**
 * The meter of one timed region: RSS sampled every 50 ms (by a timer, and by
 * the op loop's tick() for loops that never yield to the event loop), the
 * event-loop delay histogram, and the progress line.
 */
export class Meter {
  peakRss = 0;
  private readonly eld: IntervalHistogram;
  private timer: NodeJS.Timeout | undefined;
  private lastSample = 0;
  private lastDraw = 0;
  private t0 = 0;
  private readonly tty: boolean;

  private lastYield = 0;

  /** `yieldMs` > 0: tick() asks the loop to yield to the event loop once that many ms have passed. */
  constructor(
    private readonly label: ProgressLabel,
    private readonly yieldMs = 0,
  ) {
    this.eld = monitorEventLoopDelay({ resolution: 1 });
    this.tty = process.stderr.isTTY === true;
  }

  /**
   * Starts sampling. The histogram only records the gap between two of its
   * timer callbacks, so the loop is let to turn a few times after enable():
   * otherwise a workload that never yields (every await resolved by a
   * microtask) would block the first callback and record nothing at all.
   */
  async start(): Promise<void> {
    this.sample();
    this.eld.reset();
    this.eld.enable();
    await new Promise<void>((r) => setTimeout(r, 5));
    this.timer = setInterval(() => this.sample(), 50);
    this.t0 = performance.now();
    this.lastSample = this.t0;
    this.lastDraw = this.t0;
    this.lastYield = this.t0;
    this.draw(0, true);
  }

  private sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peakRss) this.peakRss = rss;
  }

  /**
   * Called by op loops every 1,024 ops (cheap: one clock read unless 50 ms
   * passed). Returns true when the loop should yield to the event loop now
   * (only with --yield-ms).
   */
  tick(done: number): boolean {
    const now = performance.now();
    if (now - this.lastSample >= 50) {
      this.lastSample = now;
      this.sample();
      if (now - this.lastDraw >= (this.tty ? 200 : 10_000)) {
        this.lastDraw = now;
        this.draw(done, false);
      }
    }
    if (this.yieldMs > 0 && now - this.lastYield >= this.yieldMs) {
      this.lastYield = now;
      return true;
    }
    return false;
  }

  private draw(done: number, first: boolean): void {
    const l = this.label;
    const secs = ((performance.now() - this.t0) / 1000).toFixed(1);
    const line = `  ${l.engine.padEnd(7)} ${l.workload.padEnd(16)} run ${l.run}/${l.runs}  ${fmtInt(done).padStart(11)} / ${fmtInt(l.total)} ops  ${secs}s`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}`);
    else if (!first) process.stderr.write(`${line}\n`);
  }

  /** Ends the region: lets the loop turn once so a blocked loop's delay is recorded, then reads it. */
  async stop(): Promise<EventLoopDelay> {
    this.sample();
    await new Promise<void>((r) => setTimeout(r, 2));
    this.sample();
    if (this.timer) clearInterval(this.timer);
    this.eld.disable();
    if (this.tty) process.stderr.write('\r\x1b[2K');
    const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0);
    const h = this.eld;
    return { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), meanMs: ms(h.mean) };
  }
}

/** One turn of the event loop (timers, I/O callbacks, V8 foreground tasks). */
export const yieldToLoop = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

/**
 * Waits until this process has dirtied no page for `quietMs` (flushes and
 * background compactions done), at most `maxMs`. Engine-neutral: every
 * engine's background threads live in this process.
 */
export async function settle(quietMs: number, maxMs: number): Promise<number> {
  const t0 = performance.now();
  let last = readIo().writeBytes;
  let quietSince = performance.now();
  while (performance.now() - t0 < maxMs) {
    await new Promise<void>((r) => setTimeout(r, 100));
    const now = readIo().writeBytes;
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= quietMs) break;
  }
  return performance.now() - t0;
}
