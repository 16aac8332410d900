/**
 * Reads and most writes complete synchronously, so a caller that awaits one
 * operation after another would run entirely on microtasks and starve the
 * event loop (timers, sockets, worker messages, the compaction results).
 * The gate lets an operation's promise settle on the next event-loop turn
 * after every `workPerTurn` units of work (operations, or entries for
 * batched calls), or once the event loop's turn has lasted `maxTurnMs` on
 * `nowMs`, whichever comes first; in between, completions stay immediate.
 *
 * The count keeps turns short when operations are fast (at a few
 * microseconds each, 256 of them hold the loop for a millisecond or two).
 * The clock bounds turns whose operations are slow for a while: reads that
 * go to disk instead of the page cache, or the first operations of a
 * process, which run before the JIT has compiled them (measured: the first
 * 256 reads held the loop for 50–80 ms). With a simulated clock, or none,
 * the same calls interleave the same way on every run (the simulated-crash
 * tests depend on that).
 *
 * The count is a caller's: a yield starts it over, so that several loops
 * awaiting one database (a reader and a writer, many clients) each get their
 * operations in every turn. The clock is the turn's: it starts at the
 * turn's first operation, and once the turn has used its time every
 * completion is deferred until the event loop has turned. When the clock
 * also started over at each yield, each loop had 10 ms of its own: the first
 * turns of an in-process readwhilewriting held the event loop for 15-33 ms.
 */
export class YieldGate {
  private work = 0;
  private turnStart = 0;
  /** The current turn's clock is running (set by its first operation, cleared when the loop turns). */
  private inTurn = false;
  /** The current turn has used its time: every completion waits for the next one. */
  private spent = false;
  private readonly endTurn = (): void => {
    this.inTurn = false;
    this.spent = false;
  };

  constructor(
    private readonly workPerTurn = 256,
    private readonly nowMs?: () => number,
    private readonly maxTurnMs = 10,
  ) {}

  /**
   * True when the caller should defer its completion to the next event-loop
   * turn. `work` is how many entries or operations the call handled.
   */
  shouldYield(work = 1): boolean {
    if (this.turnExpired()) return true;
    this.work += work;
    if (this.work < this.workPerTurn) return false;
    this.work = 0;
    return true;
  }

  /** Whether this turn has used up its time (a long call may stop early and return what it has). */
  turnExpired(): boolean {
    if (this.spent) return true;
    const nowMs = this.nowMs;
    if (nowMs === undefined) return false;
    if (!this.inTurn) {
      this.inTurn = true;
      this.turnStart = nowMs();
      setImmediate(this.endTurn);
      return false;
    }
    if (nowMs() - this.turnStart < this.maxTurnMs) return false;
    this.spent = true;
    return true;
  }

  /** Resolves on the next event-loop turn. */
  nextTurn(): Promise<void> {
    return new Promise<void>((r) => setImmediate(r));
  }

  /** A promise of `v`: settled now, or on the next turn once enough work has gone by. */
  resolve<T>(v: T, work = 1): Promise<T> {
    if (!this.shouldYield(work)) return Promise.resolve(v);
    return new Promise<T>((r) => setImmediate(r, v));
  }
}
