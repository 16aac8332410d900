/**
 * Reads and most writes complete synchronously, so a caller that awaits one
 * operation after another would run entirely on microtasks and starve the
 * event loop (timers, sockets, worker messages, the compaction results).
 * The gate lets an operation's promise settle on the next event-loop turn
 * after every `workPerTurn` units of work (operations, or entries for
 * batched calls); in between, completions stay immediate. It counts instead
 * of reading a clock, so the same calls interleave the same way on every run
 * (the simulated-crash tests depend on that); at a few microseconds per
 * operation, 256 of them hold the loop for about a millisecond or two.
 */
export class YieldGate {
  private work = 0;

  constructor(private readonly workPerTurn = 256) {}

  /**
   * True when the caller should defer its completion to the next event-loop
   * turn. `work` is how many entries or operations the call handled.
   */
  shouldYield(work = 1): boolean {
    this.work += work;
    if (this.work < this.workPerTurn) return false;
    this.work = 0;
    return true;
  }

  /** A promise of `v`: settled now, or on the next turn once enough work has gone by. */
  resolve<T>(v: T, work = 1): Promise<T> {
    if (!this.shouldYield(work)) return Promise.resolve(v);
    return new Promise<T>((r) => setImmediate(r, v));
  }
}
