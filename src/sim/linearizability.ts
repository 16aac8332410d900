/**
 * Linearizability checker for key-value histories.
 *
 * The model is one register per key: `read` returns the current value,
 * `write` sets it, and `cas` (compare-and-set) sets it only when the current
 * value equals the expected one (an `expected` of `undefined` matches an
 * absent key). A failed `cas` has no effect.
 *
 * The algorithm is Wing & Gong's search with Lowe's memoization ("WGL", as in
 * Porcupine and Knossos):
 *
 *  - Each op becomes a call event and a return event; the events are sorted by
 *    time into a doubly linked list.
 *  - The search walks the list from the head. At a call event it tries to
 *    linearize that op next: if the model accepts the op from the current
 *    state, and the resulting (set of linearized ops, state) configuration has
 *    not been seen before, the op's call and return events are "lifted" out of
 *    the list, the previous configuration is pushed on a stack, and the walk
 *    restarts at the head.
 *  - Reaching a return event means that op's deadline has passed without it
 *    being linearized, so the search backtracks: it pops the last linearized op,
 *    "unlifts" its events back into the list and continues after its call.
 *  - The memo cache of configurations guarantees every configuration is
 *    explored at most once, which is what keeps the search tractable.
 *
 * Keys are independent registers, so a history is linearizable iff each key's
 * sub-history is (P-compositionality); every key is checked separately, which
 * shrinks the search enormously.
 *
 * Ops whose outcome is unknown (`ret === undefined`: timeout, crash) may have
 * taken effect at any point after their call, or never. Since their output is
 * unknown the model accepts them from any state, so "never" is
 * indistinguishable from "after every completed op"; they therefore get no
 * return event (their deadline is +Infinity) and the search succeeds as soon as
 * every completed op is linearized. Pending reads have no effect at all and are
 * dropped up front.
 *
 * Pending ops without a deadline are what makes plain WGL blow up: each one
 * can be slotted in almost anywhere, and every subset of them yields a new
 * memo key. Three sound refinements keep the search tractable:
 *
 *  - Dominance in the memo: with the same completed ops linearized and the
 *    same state, a configuration that used a subset of the pending ops can do
 *    everything one that used more can. The memo therefore maps (completed
 *    set, state) to the pending sets explored with it, and skips any
 *    configuration whose pending set contains one of them.
 *  - Completed ops first: from each configuration the completed candidates are
 *    tried before the pending ones, so configurations tend to be reached with
 *    few pending ops first, and the dominance check prunes the rest.
 *  - Observed effects only: a pending op is linearized only if it changes the
 *    state and the op linearized right after it observes the change (see
 *    `worthTrying`); any linearization can be rewritten into that form.
 *
 * The checker's own tests cross-check all of this against a brute-force
 * enumeration of linearizations.
 *
 * Real-time order at equal timestamps: if op A returns at the very time op B is
 * called, A precedes B (return events sort before call events). The one
 * exception is two zero-duration ops (call === ret) at the same instant: each
 * would have to precede the other, so they are treated as concurrent instead.
 */

export type KvOpKind = 'read' | 'write' | 'cas';

export interface HistoryOp {
  /** Unique id within the history. */
  id: number;
  client: string;
  key: string;
  kind: KvOpKind;
  /** write / cas: the value written (a write of `undefined` deletes the key). */
  value?: string;
  /** cas: the value expected (undefined = the key must be absent). */
  expected?: string;
  /** Time the call was issued (any monotonic number: simulated ms). */
  call: number;
  /**
   * Time the response arrived; undefined = outcome unknown (timeout, crash):
   * the op may have taken effect at any time after `call`, or never.
   */
  ret?: number;
  /**
   * read: the value read (undefined = absent). cas: whether it succeeded.
   * Ignored when ret is undefined.
   */
  output?: string | boolean;
}

export interface CheckOptions {
  /** Search steps budget per key (default 5_000_000); exceeding yields result 'unknown' for that key. */
  maxStepsPerKey?: number;
  /** Initial values; keys not present start absent. */
  initial?: ReadonlyMap<string, string>;
}

export interface KeyResult {
  key: string;
  /** Number of ops on this key in the history (pending ones included). */
  ops: number;
  result: 'ok' | 'violation' | 'unknown';
  /** Search steps spent on this key (candidate ops examined plus backtracks). */
  steps: number;
  /**
   * On violation: op ids of the longest linearizable prefix the search found,
   * in linearization order (a debugging aid; see also `describeViolation`).
   */
  deepest?: number[];
}

export interface CheckResult {
  /** True iff no key is 'violation' and none is 'unknown'. */
  ok: boolean;
  /** One result per key, sorted by key. */
  keys: KeyResult[];
  violations: KeyResult[];
  unknown: KeyResult[];
  /** Largest number of ops on a single key. */
  longestKeyHistory: number;
  totalOps: number;
}

const DEFAULT_MAX_STEPS_PER_KEY = 5_000_000;

/** Checks that `history` is linearizable with respect to a per-key register. */
export function checkLinearizable(history: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  validateHistory(history);
  const maxSteps = options.maxStepsPerKey ?? DEFAULT_MAX_STEPS_PER_KEY;
  const byKey = groupByKey(history);
  const keys: KeyResult[] = [];
  let longestKeyHistory = 0;
  for (const [key, ops] of byKey) {
    longestKeyHistory = Math.max(longestKeyHistory, ops.length);
    const search = searchKey(ops, options.initial?.get(key), maxSteps);
    const result: KeyResult = { key, ops: ops.length, result: search.result, steps: search.steps };
    if (search.result === 'violation') result.deepest = search.deepest.map((op) => op.id);
    keys.push(result);
  }
  const violations = keys.filter((k) => k.result === 'violation');
  const unknown = keys.filter((k) => k.result === 'unknown');
  return {
    ok: violations.length === 0 && unknown.length === 0,
    keys,
    violations,
    unknown,
    longestKeyHistory,
    totalOps: history.length,
  };
}

/**
 * Human-readable explanation of a violation: the key's ops as a timeline and
 * the deepest partial linearization reached. `options` should be the ones the
 * history was checked with (initial values matter).
 */
export function describeViolation(history: readonly HistoryOp[], key: string, options: CheckOptions = {}): string {
  validateHistory(history);
  const ops = history.filter((op) => op.key === key).sort(compareByCall);
  const initial = options.initial?.get(key);
  const search = searchKey(ops, initial, options.maxStepsPerKey ?? DEFAULT_MAX_STEPS_PER_KEY);
  const lines: string[] = [];
  const verdict =
    search.result === 'ok'
      ? 'linearizable (no violation)'
      : search.result === 'unknown'
        ? `undecided: search budget exhausted after ${search.steps} steps`
        : `NOT linearizable (${search.steps} search steps)`;
  lines.push(`key ${JSON.stringify(key)}: ${ops.length} ops, ${verdict}`);
  lines.push(`initial value: ${showValue(initial)}`);
  if (ops.length === 0) return lines.join('\n');

  lines.push('', 'timeline (sorted by call; [call, ret], ret "?" = outcome unknown):');
  lines.push(...renderTimeline(ops));

  if (search.result !== 'violation') return lines.join('\n');
  const completed = ops.filter((op) => op.ret !== undefined);
  const placed = new Set(search.deepest.map((op) => op.id));
  const placedCompleted = completed.filter((op) => placed.has(op.id)).length;
  lines.push(
    '',
    `deepest partial linearization (${search.deepest.length} ops, ${placedCompleted} of ${completed.length} completed):`,
  );
  let state = initial;
  for (const op of search.deepest) {
    state = applyOp(op, state).state;
    lines.push(`  #${op.id} ${describeOp(op)}  => ${showValue(state)}`);
  }
  if (search.deepest.length === 0) lines.push('  (none: no op can be linearized first)');
  lines.push('', `completed ops that could not be linearized after it (state ${showValue(state)}):`);
  for (const op of completed) {
    if (!placed.has(op.id)) lines.push(`  #${op.id} ${describeOp(op)}  [${op.call}, ${op.ret}]`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Validation and grouping

function validateHistory(history: readonly HistoryOp[]): void {
  const ids = new Set<number>();
  for (const op of history) {
    if (ids.has(op.id)) throw new RangeError(`duplicate op id ${op.id}`);
    ids.add(op.id);
    if (op.kind !== 'read' && op.kind !== 'write' && op.kind !== 'cas') {
      throw new RangeError(`op #${op.id}: unknown kind ${String(op.kind)}`);
    }
    if (!Number.isFinite(op.call)) throw new RangeError(`op #${op.id}: call time must be finite`);
    if (op.ret === undefined) continue;
    if (!Number.isFinite(op.ret) || op.ret < op.call) {
      throw new RangeError(`op #${op.id}: ret (${op.ret}) must be finite and >= call (${op.call})`);
    }
    if (op.kind === 'read' && op.output !== undefined && typeof op.output !== 'string') {
      throw new TypeError(`op #${op.id}: a completed read's output must be a string or undefined`);
    }
    if (op.kind === 'cas' && typeof op.output !== 'boolean') {
      throw new TypeError(`op #${op.id}: a completed cas's output must be a boolean`);
    }
  }
}

/** Ops grouped per key, keys in sorted order, each group sorted by call time. */
function groupByKey(history: readonly HistoryOp[]): Map<string, HistoryOp[]> {
  const groups = new Map<string, HistoryOp[]>();
  for (const op of history) {
    let group = groups.get(op.key);
    if (group === undefined) groups.set(op.key, (group = []));
    group.push(op);
  }
  const sorted = new Map<string, HistoryOp[]>();
  for (const key of [...groups.keys()].sort()) sorted.set(key, groups.get(key)!.sort(compareByCall));
  return sorted;
}

function compareByCall(a: HistoryOp, b: HistoryOp): number {
  return a.call - b.call || a.id - b.id;
}

// ---------------------------------------------------------------------------
// The register model

interface StepResult {
  /** Whether the op is consistent with being applied in this state. */
  ok: boolean;
  /** The state after the op (meaningful when ok). */
  state: string | undefined;
}

/**
 * Applies `op` to a register holding `state`. Completed ops must match their
 * recorded output; pending ones (outcome unknown) are accepted from any state
 * and behave as the register dictates.
 */
function applyOp(op: HistoryOp, state: string | undefined): StepResult {
  const pending = op.ret === undefined;
  switch (op.kind) {
    case 'read':
      return { ok: pending || op.output === state, state };
    case 'write':
      return { ok: true, state: op.value };
    case 'cas': {
      const matches = state === op.expected;
      if (pending) return { ok: true, state: matches ? op.value : state };
      return op.output === true ? { ok: matches, state: op.value } : { ok: !matches, state };
    }
  }
}

// ---------------------------------------------------------------------------
// The WGL search on one key

interface SearchResult {
  result: 'ok' | 'violation' | 'unknown';
  steps: number;
  /** Longest linearizable prefix found (filled on violation). */
  deepest: HistoryOp[];
}

/** Event ranks at equal timestamps; see the module comment. */
const RANK_RETURN = 0;
const RANK_INSTANT_CALL = 1;
const RANK_INSTANT_RETURN = 2;
const RANK_CALL = 3;

interface Event {
  time: number;
  rank: number;
  /** Index into the key's op array. */
  op: number;
  isReturn: boolean;
}

/** Sentinel "no node" link in the event lists. */
const NIL = -1;

/**
 * The restriction on the next op after a pending op was linearized: the
 * state `before` that pending op. See `worthTrying`.
 */
type Context = { restricted: false } | { restricted: true; before: string | undefined };

const NO_RESTRICTION: Context = { restricted: false };

/** Memo-key suffix of unrestricted configurations (value ids are never 0xffff:0xffff). */
const UNRESTRICTED = String.fromCharCode(0xffff, 0xffff);

/**
 * Whether linearizing `op` next, from `state` (where the model's verdict is
 * `here`), can lead anywhere that skipping it cannot. Besides the model
 * accepting `op`, this prunes two kinds
 * of useless moves with pending ops (which have no deadline, so they could
 * otherwise be slotted in everywhere and blow the search up):
 *
 *  - A pending op that leaves the state unchanged: dropping it gives the same
 *    configuration with one more op still available.
 *  - Right after a pending op p took the state from `context.before` to
 *    `state`, an op that does not observe p: one that `context.before` also
 *    accepts and either (a) ends in the same state either way (a blind write
 *    absorbing p: drop p) or (b) leaves either state unchanged (it commutes
 *    with p: linearize p after it). Any linearization can be rewritten this
 *    way until every pending op is directly followed by an op that observes
 *    it, so only such linearizations need to be searched.
 *
 * Restricted configurations explore fewer moves, so the memo keys them by
 * their context as well: only an unrestricted configuration, or one with the
 * same context, may stand in for them.
 */
function worthTrying(op: HistoryOp, state: string | undefined, here: StepResult, context: Context): boolean {
  if (!here.ok) return false;
  if (op.ret === undefined && here.state === state) return false;
  if (!context.restricted) return true;
  const before = context.before;
  const there = applyOp(op, before);
  if (!there.ok) return true;
  const absorbs = there.state === here.state;
  const commutes = there.state === before && here.state === state;
  return !absorbs && !commutes;
}

/** A set of small integers, as 32-bit words. */
class BitSet {
  readonly words: Uint32Array;
  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }
  set(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.words[i >>> 5]! &= ~(1 << (i & 31));
  }
  /** The set as a string of 16-bit characters, for use as a map key. */
  toKey(): string {
    let key = '';
    for (const word of this.words) key += String.fromCharCode(word & 0xffff, word >>> 16);
    return key;
  }
}

/** Whether bitset words `a` are a subset of `b` (same length). */
function isSubset(a: Uint32Array, b: Uint32Array): boolean {
  for (let w = 0; w < a.length; w++) if ((a[w]! & ~b[w]!) !== 0) return false;
  return true;
}

/**
 * Runs the search over one key's ops (sorted by call). See the module comment
 * for the algorithm; the data structures are:
 *
 *  - Two doubly linked lists threaded through typed arrays, in event-time
 *    order: the main list holds the completed ops' call and return events, the
 *    pending list holds the pending ops' call events (they have no return). A
 *    node's number grows with its event's position in the global order, so
 *    "pending call before return event R" is simply `node < R`.
 *  - A stack of linearized ops (their call nodes) with the state before each.
 *  - The memo: (completed set, state, restriction context) -> the pending
 *    sets already explored with it, kept as an antichain (a new set evicts
 *    its supersets).
 */
function searchKey(keyOps: readonly HistoryOp[], initial: string | undefined, maxSteps: number): SearchResult {
  // Pending reads can neither change the state nor fail: drop them.
  const ops = keyOps.filter((op) => !(op.kind === 'read' && op.ret === undefined));
  const n = ops.length;

  // Each op gets a slot in the completed or the pending bitset.
  const isPending = new Uint8Array(n);
  const slot = new Int32Array(n);
  let completedCount = 0;
  let pendingCount = 0;
  ops.forEach((op, i) => {
    isPending[i] = op.ret === undefined ? 1 : 0;
    slot[i] = op.ret === undefined ? pendingCount++ : completedCount++;
  });
  if (completedCount === 0) return { result: 'ok', steps: 0, deepest: [] };

  // Build and sort the events.
  const events: Event[] = [];
  ops.forEach((op, i) => {
    if (op.ret === undefined) {
      events.push({ time: op.call, rank: RANK_CALL, op: i, isReturn: false });
      return;
    }
    const instant = op.ret === op.call;
    events.push({ time: op.call, rank: instant ? RANK_INSTANT_CALL : RANK_CALL, op: i, isReturn: false });
    events.push({ time: op.ret, rank: instant ? RANK_INSTANT_RETURN : RANK_RETURN, op: i, isReturn: true });
  });
  events.sort((a, b) => a.time - b.time || a.rank - b.rank || a.op - b.op);

  // Nodes: event e is node e + 1; MAIN_HEAD and PENDING_HEAD are sentinels.
  const MAIN_HEAD = 0;
  const PENDING_HEAD = events.length + 1;
  const nodes = events.length + 2;
  const next = new Int32Array(nodes).fill(NIL);
  const prev = new Int32Array(nodes).fill(NIL);
  const nodeOp = new Int32Array(nodes);
  const isReturn = new Uint8Array(nodes);
  const partner = new Int32Array(nodes).fill(NIL); // call node -> return node
  const callNodeOf = new Int32Array(n);
  let mainTail = MAIN_HEAD;
  let pendingTail = PENDING_HEAD;
  events.forEach((event, e) => {
    const node = e + 1;
    nodeOp[node] = event.op;
    isReturn[node] = event.isReturn ? 1 : 0;
    if (event.isReturn) partner[callNodeOf[event.op]!] = node;
    else callNodeOf[event.op] = node;
    if (isPending[event.op]) {
      next[pendingTail] = node;
      prev[node] = pendingTail;
      pendingTail = node;
    } else {
      next[mainTail] = node;
      prev[node] = mainTail;
      mainTail = node;
    }
  });

  const unlink = (node: number): void => {
    const p = prev[node]!;
    const q = next[node]!;
    next[p] = q;
    if (q !== NIL) prev[q] = p;
  };
  const relink = (node: number): void => {
    const p = prev[node]!;
    const q = next[node]!;
    next[p] = node;
    if (q !== NIL) prev[q] = node;
  };
  /** Removes an op's call and return events from their list. */
  const lift = (callNode: number): void => {
    unlink(callNode);
    const ret = partner[callNode]!;
    if (ret !== NIL) unlink(ret);
  };
  /** Exact inverse of `lift` (dancing links: relink in reverse order). */
  const unlift = (callNode: number): void => {
    const ret = partner[callNode]!;
    if (ret !== NIL) relink(ret);
    relink(callNode);
  };

  // Register values are interned as small integers, for compact memo keys
  // and the observer counts below.
  const valueIds = new Map<string | undefined, number>([[undefined, 0]]);
  const valueId = (value: string | undefined): number => {
    let id = valueIds.get(value);
    if (id === undefined) valueIds.set(value, (id = valueIds.size));
    return id;
  };
  const valueKey = (value: string | undefined): string => {
    const id = valueId(value);
    return String.fromCharCode(id & 0xffff, id >>> 16);
  };

  // Among the ops not linearized yet, per value: `watchers` accept the state
  // only when it holds the value (reads returning it, successful or pending
  // cas expecting it); `refusers` only when it does not (failed cas expecting
  // it). A pending op taking the state from u to v is followed by an op that
  // observes it only if v has a watcher or u a refuser (see `worthTrying`);
  // otherwise linearizing it is a dead end not worth a configuration.
  for (const op of ops) {
    valueId(op.value);
    valueId(op.expected);
    if (op.kind === 'read') valueId(typeof op.output === 'string' ? op.output : undefined);
  }
  const watchers = new Int32Array(valueIds.size);
  const refusers = new Int32Array(valueIds.size);
  const countObserver = (op: HistoryOp, delta: number): void => {
    if (op.kind === 'read') watchers[valueId(typeof op.output === 'string' ? op.output : undefined)]! += delta;
    else if (op.kind === 'cas' && op.output === false && op.ret !== undefined) refusers[valueId(op.expected)]! += delta;
    else if (op.kind === 'cas') watchers[valueId(op.expected)]! += delta;
  };
  for (const op of ops) countObserver(op, 1);
  const observable = (from: string | undefined, to: string | undefined): boolean =>
    watchers[valueId(to)]! > 0 || refusers[valueId(from)]! > 0;

  const completed = new BitSet(completedCount);
  const pending = new BitSet(pendingCount);
  const memo = new Map<string, Uint32Array[]>();
  const noPending = new Uint32Array(pending.words.length); // shared, never mutated
  /** Whether an explored entry under `key` has a subset of the current pending ops. */
  const dominated = (key: string): boolean => {
    const explored = memo.get(key);
    if (explored === undefined) return false;
    for (const other of explored) if (isSubset(other, pending.words)) return true;
    return false;
  };
  /**
   * Records the configuration made of the current bitsets, `state` and the
   * restriction `context`, unless an explored configuration dominates it.
   * Returns whether it was recorded, i.e. is worth exploring.
   */
  const remember = (state: string | undefined, context: Context): boolean => {
    const base = completed.toKey() + valueKey(state);
    const unrestricted = base + UNRESTRICTED;
    const key = context.restricted ? base + valueKey(context.before) : unrestricted;
    if (dominated(unrestricted) || (context.restricted && dominated(key))) return false;
    const snapshot = pending.words.some((word) => word !== 0) ? pending.words.slice() : noPending;
    const explored = memo.get(key);
    if (explored === undefined) {
      memo.set(key, [snapshot]);
      return true;
    }
    // The new configuration dominates any explored superset: forget those.
    let kept = 0;
    for (const other of explored) if (!isSubset(snapshot, other)) explored[kept++] = other;
    explored.length = kept;
    explored.push(snapshot);
    return true;
  };
  const setBit = (i: number): void => (isPending[i] ? pending.set(slot[i]!) : completed.set(slot[i]!));
  const clearBit = (i: number): void => (isPending[i] ? pending.clear(slot[i]!) : completed.clear(slot[i]!));

  // The stack of linearized ops: call node, state before it, and (for
  // pending ops) the deadline that was in force.
  const stackNode: number[] = [];
  const stackState: (string | undefined)[] = [];
  const stackDeadline: number[] = [];
  let deepest: number[] = [];

  let state = initial;
  let context: Context = NO_RESTRICTION;
  remember(state, context);
  let linearizedCompleted = 0;
  let steps = 0;
  // Phase 1 walks the main list trying completed ops until the first return
  // event, the deadline; phase 2 then walks the pending list trying the
  // pending ops called before the deadline; past those, backtrack.
  let node = next[MAIN_HEAD]!;
  let inPendingPhase = false;
  let deadline = NIL;
  for (;;) {
    if (++steps > maxSteps) return { result: 'unknown', steps: steps - 1, deepest: [] };
    if (!inPendingPhase && node !== NIL && isReturn[node]) {
      inPendingPhase = true;
      deadline = node;
      node = next[PENDING_HEAD]!;
    }
    if (node === NIL) {
      // Unreachable in phase 1: while a completed op is unlinearized its
      // return event lies ahead of the cursor.
      if (!inPendingPhase) throw new Error('linearizability search ran off the event list');
    } else if (!inPendingPhase || node < deadline) {
      const i = nodeOp[node]!;
      const op = ops[i]!;
      const here = applyOp(op, state);
      const after = here.state;
      if (worthTrying(op, state, here, context) && (!isPending[i] || observable(state, after))) {
        setBit(i);
        const nextContext: Context = isPending[i] ? { restricted: true, before: state } : NO_RESTRICTION;
        if (remember(after, nextContext)) {
          stackNode.push(node);
          stackState.push(state);
          stackDeadline.push(deadline);
          state = after;
          context = nextContext;
          lift(node);
          countObserver(op, -1);
          if (!isPending[i] && ++linearizedCompleted === completedCount) {
            return { result: 'ok', steps, deepest: [] };
          }
          if (stackNode.length > deepest.length) deepest = stackNode.slice();
          node = next[MAIN_HEAD]!;
          inPendingPhase = false;
          continue;
        }
        clearBit(i);
      }
      node = next[node]!;
      continue;
    }
    // Every candidate was tried: backtrack.
    const top = stackNode.pop();
    if (top === undefined) {
      return { result: 'violation', steps, deepest: deepest.map((callNode) => ops[nodeOp[callNode]!]!) };
    }
    state = stackState.pop();
    deadline = stackDeadline.pop()!;
    const j = nodeOp[top]!;
    clearBit(j);
    if (!isPending[j]) linearizedCompleted--;
    unlift(top);
    countObserver(ops[j]!, 1);
    const below = stackNode.length - 1;
    context =
      below >= 0 && isPending[nodeOp[stackNode[below]!]!]
        ? { restricted: true, before: stackState[below] }
        : NO_RESTRICTION;
    inPendingPhase = isPending[j] === 1;
    node = next[top]!;
  }
}

// ---------------------------------------------------------------------------
// Rendering

const TIMELINE_WIDTH = 40;

function showValue(value: string | undefined): string {
  return value === undefined ? '(absent)' : JSON.stringify(value);
}

function describeOp(op: HistoryOp): string {
  const who = `${op.client}: `;
  const pending = op.ret === undefined;
  switch (op.kind) {
    case 'read':
      return `${who}read -> ${pending ? '?' : showValue(typeof op.output === 'string' ? op.output : undefined)}`;
    case 'write':
      return `${who}write ${showValue(op.value)}`;
    case 'cas':
      return `${who}cas ${showValue(op.expected)} -> ${showValue(op.value)} = ${pending ? '?' : String(op.output)}`;
  }
}

/** One line per op: a bar spanning its interval on a shared time axis. */
function renderTimeline(ops: readonly HistoryOp[]): string[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const op of ops) {
    lo = Math.min(lo, op.call);
    hi = Math.max(hi, op.ret ?? op.call);
  }
  const span = hi - lo || 1;
  const column = (t: number): number => Math.round(((t - lo) / span) * (TIMELINE_WIDTH - 1));
  const labels = ops.map((op) => `#${op.id} ${describeOp(op)}`);
  const labelWidth = Math.max(...labels.map((label) => label.length));
  return ops.map((op, k) => {
    const from = column(op.call);
    const to = op.ret === undefined ? TIMELINE_WIDTH - 1 : column(op.ret);
    const bar = [...' '.repeat(TIMELINE_WIDTH)];
    for (let c = from; c <= to; c++) bar[c] = '-';
    bar[from] = '[';
    if (op.ret === undefined) bar[to] = '?';
    else bar[to] = to === from ? '|' : ']';
    const interval = `[${op.call}, ${op.ret ?? '?'}]`;
    return `  ${labels[k]!.padEnd(labelWidth)}  ${bar.join('')}  ${interval}`;
  });
}
