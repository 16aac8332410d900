/**
 * The shared memory of the read helper (see read-helper.ts): a control
 * word pair, then per slot a state, a request and a result buffer. Both
 * threads build their views with `readHelperViews`.
 */

/** Block reads that can be outstanding at once. */
export const SLOTS = 32;
/** Largest stored block (with its trailer) and largest decompressed block a slot takes. */
export const SLOT_BYTES = 32 * 1024;

/** Slot states. Only the main thread moves a slot out of DONE or FREE; only a claim (CAS from QUEUED) takes a QUEUED one. */
export const FREE = 0;
export const QUEUED = 1;
/** Claimed by the helper thread: it reads, checks and decompresses the block. */
export const CLAIMED = 2;
export const DONE = 3;
/** Taken back by the main thread, which reads the block itself. */
export const STOLEN = 4;

/** ctl[WAKE]: bumped on every request; the helper sleeps on it. ctl[SLEEPING]: 1 while the helper is (about to be) asleep. */
export const WAKE = 0;
export const SLEEPING = 1;
/**
 * ctl[EXITING]: 1 once an idle helper has decided to end (it clears it again
 * if a request came in meanwhile). A request queued while it is set may be
 * missed: its submitter takes it back (ReadHelper.submit).
 */
export const EXITING = 2;

/** Request fields (Float64, per slot). */
export const REQ_FD = 0;
export const REQ_OFFSET = 1;
/** Stored block size, without the 5-byte trailer. */
export const REQ_SIZE = 2;
/** 1: verify the block checksum. */
export const REQ_VERIFY = 3;
export const REQ_FIELDS = 4;

/** Result (Int32, per slot): the block's length in the slot's buffer, or RESULT_FAILED. */
export const RESULT_FAILED = -1;

export interface ReadHelperViews {
  ctl: Int32Array;
  state: Int32Array;
  req: Float64Array;
  result: Int32Array;
  data: Uint8Array;
}

const CTL_BYTES = 16;
const STATE_OFF = CTL_BYTES;
const RESULT_OFF = STATE_OFF + 4 * SLOTS;
const REQ_OFF = RESULT_OFF + 4 * SLOTS;
const DATA_OFF = REQ_OFF + 8 * REQ_FIELDS * SLOTS;
export const SHARED_BYTES = DATA_OFF + SLOTS * SLOT_BYTES;

export function readHelperViews(sab: SharedArrayBuffer): ReadHelperViews {
  return {
    ctl: new Int32Array(sab, 0, 3),
    state: new Int32Array(sab, STATE_OFF, SLOTS),
    result: new Int32Array(sab, RESULT_OFF, SLOTS),
    req: new Float64Array(sab, REQ_OFF, REQ_FIELDS * SLOTS),
    data: new Uint8Array(sab, DATA_OFF, SLOTS * SLOT_BYTES),
  };
}
