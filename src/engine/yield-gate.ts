/**
 * Reads and most writes complete synchronously, so a caller that awaits one
 * operation after another would run entirely on microtasks and starve the
 * event loop (timers, sockets, worker messages, the compaction results).
 * The gate lets an operation's promise settle on the next event-loop turn
 * after every `workPerTurn` units of work (operations, or entries for
 * batched calls), or once `maxTurnMs` have passed on `nowMs` since the turn
 * began, whichever comes first; in between, completions stay immediate.
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
 * Once a turn is used up it stays used up until the event loop has turned:
 * every completion after the one that used it up is deferred as well. When
 * it was the budget that started over at the yield, each of several loops
 * awaiting the same database (a reader and a writer, many clients) had a
 * budget of its own in one turn: in a readwhilewriting run the first turns,
 * whose code was not yet compiled, held the event loop for 15-33 ms against
 * the 10 ms asked for.
 */
export class YieldGate {
  private work = 0;
  private turnStart: number;
  /** This turn is used up: set by the yield, cleared when the next turn starts. */
  private spent = false;
  private readonly startTurn = (): void => {
    this.spent = false;
    this.work = 0;
    if (this.nowMs !== undefined) this.turnStart = this.nowMs();
  };

  constructor(
    private readonly workPerTurn = 256,
    private readonly nowMs?: () => number,
    private readonly maxTurnMs = 10,
  ) {
    this.turnStart = nowMs?.() ?? 0;
  }

  /**
   * True when the caller should defer its completion to the next event-loop
   * turn. `work` is how many entries or operations the call handled.
   */
  shouldYield(work = 1): boolean {
    if (this.spent) return true;
    this.work += work;
    if (this.work < this.workPerTurn && !this.turnExpired()) return false;
    this.spent = true;
    setImmediate(this.startTurn);
    return true;
  }

  /** Whether this turn has used up its time (a long call may stop early and return what it has). */
  turnExpired(): boolean {
    return this.spent || (this.nowMs !== undefined && this.nowMs() - this.turnStart >= this.maxTurnMs);
  }

  /** Resolves on the next event-loop turn, which starts a fresh count and clock. */
  nextTurn(): Promise<void> {
    return new Promise<void>((r) =>
      setImmediate(() => {
        this.startTurn();
        r();
      }),
    );
  }

  /** A promise of `v`: settled now, or on the next turn once enough work has gone by. */
  resolve<T>(v: T, work = 1): Promise<T> {
    if (!this.shouldYield(work)) return Promise.resolve(v);
    return new Promise<T>((r) => setImmediate(r, v));
  }
}
