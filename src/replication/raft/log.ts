import { assert } from '../../base/index.js';
import type { RaftStorage } from './storage.js';
import type { Entry, Snapshot } from './types.js';

/**
 * Entries (and at most one snapshot) the core has accepted but the driver
 * has not yet made durable. `entries[i].index === offset + i`.
 */
class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  constructor(public offset: number) {}

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    if (this.snapshot) return this.snapshot.meta.index;
    return undefined;
  }
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.meta.index + 1 : undefined;
  }
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.meta.index === i) return this.snapshot.meta.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]!.term;
  }
  /** The driver made entries up to (i, t) durable; forget them unless they were replaced meanwhile. */
  stableTo(i: number, t: number): void {
    const got = this.maybeTerm(i);
    if (got === undefined || i < this.offset) return;
    if (got === t) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = i + 1;
    }
  }
  stableSnapTo(i: number): void {
    if (this.snapshot && this.snapshot.meta.index === i) this.snapshot = undefined;
  }
  restore(s: Snapshot): void {
    this.offset = s.meta.index + 1;
    this.entries = [];
    this.snapshot = s;
  }
  truncateAndAppend(ents: readonly Entry[]): void {
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replaces every unstable entry (and, once durable, the stored ones from `after` on).
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset);
      for (const e of ents) this.entries.push(e);
    }
  }
  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offset && hi <= this.offset + this.entries.length, `unstable slice [${lo}, ${hi}) out of range`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

/** The Raft log as the core sees it: durable storage plus the unstable tail. */
export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;

  constructor(readonly storage: RaftStorage, applied: number) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    const hs = storage.initialState().hardState;
    if (hs.commit > this.committed) this.committed = Math.min(hs.commit, last);
    if (applied > this.applied) this.applied = Math.min(applied, this.committed);
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }
  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }
  /** Term of entry i, or undefined if it is compacted away or beyond the log. */
  term(i: number): number | undefined {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    return this.unstable.maybeTerm(i) ?? this.storage.term(i);
  }
  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }
  /** The last index known durable locally (0 when an unstable snapshot is pending). */
  stableLastIndex(): number {
    if (this.unstable.snapshot) return 0;
    if (this.unstable.entries.length > 0) return this.unstable.offset - 1;
    return this.storage.lastIndex();
  }

  /** Whether a log ending at (lastIdx, lastTerm) is at least as up to date as ours (§5.4.1). */
  isUpToDate(lastIdx: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIdx >= this.lastIndex());
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    assert(ents[0]!.index - 1 >= this.committed, `appending at ${ents[0]!.index} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * A follower's append: if our log holds (index, logTerm), append `ents`
   * (truncating at the first conflict), advance commit, and return the index
   * of the last new entry; undefined if the log does not match.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(ci - ents[0]!.index));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** First entry whose term differs from ours, or that we lack; 0 when all match. */
  private findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term`
   * (an entry there may match the other log; everything above cannot).
   */
  findConflictByTerm(index: number, term: number): number {
    for (let i = index; i >= this.firstIndex() - 1; i--) {
      const t = this.term(i);
      if (t === undefined) return i;
      if (t <= term) return i;
    }
    return 0;
  }

  commitTo(c: number): boolean {
    if (c <= this.committed) return false;
    assert(c <= this.lastIndex(), `commit ${c} beyond last index ${this.lastIndex()}`);
    this.committed = c;
    return true;
  }

  /** Commits `maxIndex` if it is of the current term (§5.4.2: never count older-term entries). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) return this.commitTo(maxIndex);
    return false;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(i <= this.committed && i >= this.applied, `applied ${i} outside [${this.applied}, ${this.committed}]`);
    this.applied = i;
  }

  /** Entries [lo, hi) up to maxBytes (at least one), from storage and the unstable tail. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) outside the log`);
    const off = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < off) {
      out = this.storage.entries(lo, Math.min(hi, off), maxBytes);
      if (out.length < Math.min(hi, off) - lo) return out;
    }
    if (hi > off) {
      const tail = this.unstable.slice(Math.max(lo, off), hi);
      let bytes = 0;
      for (const e of out) bytes += e.data.length;
      for (const e of tail) {
        bytes += e.data.length;
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  hasNextCommitted(): boolean {
    return Math.max(this.applied + 1, this.firstIndex()) <= this.committed;
  }

  /** Committed entries not yet handed to the application. */
  nextCommitted(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    const hi = this.committed + 1;
    return lo < hi ? this.slice(lo, hi, maxBytes) : [];
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }
}
