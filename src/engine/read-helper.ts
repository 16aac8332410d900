import { Worker } from 'node:worker_threads';
import {
  CLAIMED,
  DONE,
  EXITING,
  FREE,
  QUEUED,
  readHelperViews,
  REQ_FD,
  REQ_FIELDS,
  REQ_OFFSET,
  REQ_SIZE,
  REQ_VERIFY,
  RESULT_FAILED,
  SHARED_BYTES,
  SLEEPING,
  SLOT_BYTES,
  SLOTS,
  STOLEN,
  WAKE,
} from './read-helper-layout.js';
import type { ReadHelperViews } from './read-helper-layout.js';

/** How long the main thread waits for a read the helper has started before giving the helper up. */
const GIVE_UP_MS = 2000;
/** How long it spins before it sleeps instead (a block read takes the helper ~5-10 µs). */
const SPIN_MS = 0.05;

/**
 * A second thread for the block reads of concurrent point reads. A `get`
 * runs synchronously: when a caller issues several at once (Promise.all,
 * a server with many clients), each one that misses the block cache used to
 * pread, checksum and decompress its block on the event loop, one after the
 * other (about 7 µs of a 14 µs get here), while the machine's other cores
 * sat idle. LevelDB spreads such gets over the thread pool.
 *
 * The engine hands the helper the misses of a burst of gets after the first
 * (see DB.get): each is queued in a slot of shared memory; the helper
 * claims slots in order and leaves each block's contents in its slot. When
 * the burst is over (a microtask), the event loop takes back the requests
 * the helper has not started (from the last one down) and reads those
 * itself, so neither thread waits while the other has work; then it waits,
 * spinning, for the one or two the helper is finishing. No message passing
 * and no event-loop wake-ups: Atomics on the slot states. A single awaited
 * get never involves it.
 *
 * The helper preads the main thread's file descriptors (threads share
 * them): the engine pins a table's reader, which keeps its file open, for
 * as long as a slot reads it. One helper serves every database of the
 * process, started on first use.
 */
export class ReadHelper {
  private static shared: ReadHelper | undefined;

  /** The process's helper (see `start` for its thread's lifetime). */
  static get(): ReadHelper {
    return (ReadHelper.shared ??= new ReadHelper());
  }

  private worker: Worker | undefined;
  private readonly views: ReadHelperViews;
  /** Bit i set: slot i is in use (from submit to free). Only the main thread changes it. */
  private used = 0;
  /** Set when the thread failed or stopped answering: every read is then done on the event loop. */
  private broken = false;
  /** @internal False (tests only): the event loop never takes a read back, it waits for the helper. */
  takeBack = true;

  private constructor() {
    this.views = readHelperViews(new SharedArrayBuffer(SHARED_BYTES));
  }

  /** Largest stored block (without trailer) a slot takes. */
  static readonly MAX_BLOCK = SLOT_BYTES - 5;

  /**
   * Queues a read of the block at `offset` (`size` stored bytes and the
   * trailer) of file descriptor `fd`. Returns its slot, or -1 when the
   * helper cannot take it (every slot busy, or the helper is unusable):
   * the caller reads the block itself.
   */
  submit(fd: number, offset: number, size: number, verify: boolean): number {
    if (this.broken || size > ReadHelper.MAX_BLOCK || this.used === -1) return -1;
    this.start();
    const free = ~this.used;
    const i = 31 - Math.clz32(free & -free);
    this.used |= 1 << i;
    const { ctl, state, req } = this.views;
    const r = i * REQ_FIELDS;
    req[r + REQ_FD] = fd;
    req[r + REQ_OFFSET] = offset;
    req[r + REQ_SIZE] = size;
    req[r + REQ_VERIFY] = verify ? 1 : 0;
    Atomics.store(state, i, QUEUED);
    // An idle helper that is ending may have taken its last look at the queue before this
    // request: take it back unless the helper claimed it (see EXITING).
    if (Atomics.load(ctl, EXITING) === 1 && Atomics.compareExchange(state, i, QUEUED, FREE) === QUEUED) {
      this.used &= ~(1 << i);
      return -1;
    }
    Atomics.add(ctl, WAKE, 1);
    if (Atomics.load(ctl, SLEEPING) === 1) Atomics.notify(ctl, WAKE, 1);
    return i;
  }

  /** Takes slot `i`'s read back if the helper has not started it: true if so (the slot is then free, and the caller reads the block). */
  steal(i: number): boolean {
    if (!this.takeBack) return false;
    if (Atomics.compareExchange(this.views.state, i, QUEUED, STOLEN) !== QUEUED) return false;
    this.free(i);
    return true;
  }

  /** Whether the helper has finished slot `i`. */
  done(i: number): boolean {
    return Atomics.load(this.views.state, i) === DONE;
  }

  /**
   * Waits until the helper has finished slot `i` (it is reading it: a few
   * microseconds). Spins for SPIN_MS, then sleeps on the slot's state in
   * steps of 1 ms, so that a helper thread the scheduler has put aside
   * gets the core back. False if it has not finished after GIVE_UP_MS:
   * the helper is then given up for good, and the slot is never freed (its
   * file must stay pinned: the thread may still be reading it).
   */
  wait(i: number): boolean {
    const state = this.views.state;
    if (Atomics.load(state, i) === DONE) return true;
    const start = performance.now();
    for (let spins = 1; ; spins++) {
      if (Atomics.load(state, i) === DONE) return true;
      if ((spins & 63) !== 0) continue;
      // Given up while waiting for another slot: do not wait GIVE_UP_MS again for each of the others.
      if (this.broken) return false;
      const waited = performance.now() - start;
      if (waited > GIVE_UP_MS) {
        this.broken = true;
        return false;
      }
      if (waited > SPIN_MS) Atomics.wait(state, i, CLAIMED, 1);
    }
  }

  /** The contents the helper left in finished slot `i` (a view of shared memory, valid until `free`), or undefined if it could not read them. */
  result(i: number): Uint8Array | undefined {
    const n = this.views.result[i]!;
    if (n === RESULT_FAILED) return undefined;
    return this.views.data.subarray(i * SLOT_BYTES, i * SLOT_BYTES + n);
  }

  /** Gives finished (or stolen) slot `i` back. */
  free(i: number): void {
    Atomics.store(this.views.state, i, FREE);
    this.used &= ~(1 << i);
  }

  /**
   * Starts the thread if none runs. It is never stopped from here: it ends
   * itself after IDLE_EXIT_MS without a request (read-helper-worker.ts).
   * Terminating a worker while V8 compiles its code on a background thread
   * aborted the process (Node 20: "NodePlatform::ForIsolate ... Assertion
   * failed", a compile task scheduling work for the disposed isolate),
   * which a test that opened and closed databases in a row hit; a thread
   * that has been idle for a second has nothing being compiled.
   */
  private start(): void {
    if (this.worker !== undefined) return;
    // The thread before this one (if any) has ended: nothing reads the flag it left set.
    Atomics.store(this.views.ctl, EXITING, 0);
    const w = new Worker(new URL('./read-helper-worker.js', import.meta.url), { workerData: { shared: this.views.ctl.buffer } });
    w.on('error', () => {
      this.broken = true;
    });
    // Requests queued after the thread ended stay QUEUED, and the event loop takes them back.
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
    });
    w.unref();
    this.worker = w;
  }
}
