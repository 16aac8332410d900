/**
 * Entry point of the read helper thread (see read-helper.ts). It claims
 * queued block reads, preads them from the main thread's file descriptor,
 * checks the checksum, decompresses, and leaves the contents in the slot.
 * Anything unusual (short read, I/O error, bad checksum, a block too large
 * for a slot) is answered RESULT_FAILED: the main thread then reads the
 * block itself, which reports the error properly.
 *
 * Between bursts of requests it spins for a fraction of a millisecond (the
 * next burst of a reader issuing gets in batches comes within tens of
 * microseconds), then sleeps on the WAKE word.
 */
import * as nodeFs from 'node:fs';
import { workerData } from 'node:worker_threads';
import { snappy } from '../base/index.js';
import {
  CLAIMED,
  DONE,
  EXITING,
  QUEUED,
  readHelperViews,
  REQ_FD,
  REQ_FIELDS,
  REQ_OFFSET,
  REQ_SIZE,
  REQ_VERIFY,
  RESULT_FAILED,
  SLEEPING,
  SLOT_BYTES,
  SLOTS,
  WAKE,
} from './read-helper-layout.js';
import { BLOCK_TRAILER_SIZE, blockChecksumMatches, CompressionType } from './table/format.js';

const SPIN_MS = 0.25;

const v = readHelperViews(workerData.shared as SharedArrayBuffer);
const { ctl, state, req, result, data } = v;
const scratch = Buffer.allocUnsafeSlow(SLOT_BYTES);
const out = Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** The block's contents into slot `i`'s buffer; their length, or RESULT_FAILED. */
function serve(i: number): number {
  const fd = req[i * REQ_FIELDS + REQ_FD]!;
  const offset = req[i * REQ_FIELDS + REQ_OFFSET]!;
  const size = req[i * REQ_FIELDS + REQ_SIZE]!;
  const n = size + BLOCK_TRAILER_SIZE;
  if (n > SLOT_BYTES) return RESULT_FAILED;
  try {
    let got = 0;
    while (got < n) {
      const r = nodeFs.readSync(fd, scratch, got, n - got, offset + got);
      if (r === 0) return RESULT_FAILED;
      got += r;
    }
    if (req[i * REQ_FIELDS + REQ_VERIFY] === 1 && !blockChecksumMatches(scratch, size)) return RESULT_FAILED;
    const type = scratch[size];
    const at = i * SLOT_BYTES;
    if (type === CompressionType.NONE) {
      scratch.copy(out, at, 0, size);
      return size;
    }
    if (type !== CompressionType.SNAPPY) return RESULT_FAILED;
    const u = snappy.uncompressSync(scratch.subarray(0, size), { copyOutputData: true });
    if (!Buffer.isBuffer(u) || u.length > SLOT_BYTES) return RESULT_FAILED;
    u.copy(out, at);
    return u.length;
  } catch {
    return RESULT_FAILED;
  }
}

function anyQueued(): boolean {
  for (let i = 0; i < SLOTS; i++) if (Atomics.load(state, i) === QUEUED) return true;
  return false;
}

/** The thread ends once this long passes without a request (the next burst starts another; see ReadHelper.start). */
const IDLE_EXIT_MS = 1000;

// A thread that ended before this one left SLEEPING set.
Atomics.store(ctl, SLEEPING, 0);
let idleSince = performance.now();
for (;;) {
  let served = false;
  for (let i = 0; i < SLOTS; i++) {
    if (Atomics.load(state, i) !== QUEUED || Atomics.compareExchange(state, i, QUEUED, CLAIMED) !== QUEUED) continue;
    result[i] = serve(i);
    Atomics.store(state, i, DONE);
    // Wakes the event loop if it gave up spinning for this slot (ReadHelper.wait).
    Atomics.notify(state, i);
    served = true;
  }
  if (served) {
    idleSince = performance.now();
    continue;
  }
  if (performance.now() - idleSince < SPIN_MS) continue;
  // Read WAKE before the last look at the queue: a request queued after that look bumps it, and the wait returns at once.
  const seen = Atomics.load(ctl, WAKE);
  Atomics.store(ctl, SLEEPING, 1);
  if (!anyQueued() && Atomics.wait(ctl, WAKE, seen, IDLE_EXIT_MS) === 'timed-out') {
    // EXITING first, then the last look at the queue; a submitter queues first, then looks at
    // EXITING: at least one of the two sees the other, so no request is left to a thread that is gone.
    Atomics.store(ctl, EXITING, 1);
    if (!anyQueued()) break;
    Atomics.store(ctl, EXITING, 0);
  }
  Atomics.store(ctl, SLEEPING, 0);
  idleSince = performance.now();
}
// Leaving SLEEPING and EXITING set: requests queued from now on wake no one, and their submitters take them back.
