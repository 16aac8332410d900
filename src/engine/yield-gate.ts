/**
 * Reads and most writes complete synchronously, so a caller that awaits one
 * operation after another would run entirely on microtasks and starve the
 * event loop (timers, sockets, worker messages, the compaction results).
 * The gate lets an operation's promise settle on the next event-loop turn
 * once the loop has been held for `intervalMs`; in between, completions stay
 * immediate. Checking the clock only every `checkEvery` calls keeps the
 * cost per operation to a counter increment.
 */
export class YieldGate {
  private count = 0;
  private lastTurnMs = performance.now();

  constructor(
    private readonly intervalMs = 4,
    private readonly checkEvery = 32,
  ) {}

  /**
   * True when the caller should defer its completion to the next event-loop
   * turn. `work` is how many entries or operations the call handled.
   */
  shouldYield(work = 1): boolean {
    this.count += work;
    if (this.count < this.checkEvery) return false;
    this.count = 0;
    const now = performance.now();
    if (now - this.lastTurnMs < this.intervalMs) return false;
    this.lastTurnMs = now;
    return true;
  }

  /** A promise of `v`: settled now, or on the next turn when the loop has been held too long. */
  resolve<T>(v: T, work = 1): Promise<T> {
    if (!this.shouldYield(work)) return Promise.resolve(v);
    return new Promise<T>((r) => setImmediate(r, v));
  }
}
